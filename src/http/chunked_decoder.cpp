#include <weft/http/chunked_decoder.hpp>

#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"

namespace weft::http {

using detail::is;
using detail::is_ows;
using detail::line_status;

namespace {

chunk_result result(chunk_result::outcome state, std::size_t consumed,
                    std::string_view data = {}) noexcept {
  chunk_result r;
  r.state = state;
  r.consumed = consumed;
  r.data = data;
  return r;
}

}  // namespace

chunk_result chunked_decoder::decode(std::string_view in,
                                     std::span<header_field> storage) noexcept {
  if (state_ == state::done) return result(chunk_result::complete, 0);
  if (state_ == state::failed) return failure();
  std::size_t i = 0;
  while (i < in.size()) {
    if (state_ == state::data) {
      std::size_t n =
          in.size() - i < remaining_ ? in.size() - i : static_cast<std::size_t>(remaining_);
      remaining_ -= n;
      decoded_ += n;
      if (remaining_ == 0) state_ = state::data_cr;
      return result(chunk_result::body, i + n, in.substr(i, n));
    }
    if (state_ == state::trailer) return trailer(in, i, storage);
    if (!framing_byte(in[i++])) return failure();
  }
  if (state_ == state::trailer) return trailer(in, i, storage);
  return result(chunk_result::incomplete, i);
}

// One byte of framing outside the data and the trailer section.
bool chunked_decoder::framing_byte(char c) noexcept {
  switch (state_) {
    case state::size_lf:
      if (c != '\n') return fail(400, "bare CR in chunk framing");
      state_ = remaining_ == 0 ? state::trailer : state::data;
      return true;
    case state::data_cr:
      if (c != '\r') return fail(400, "chunk data not followed by CRLF");
      state_ = state::data_lf;
      return true;
    case state::data_lf:
      if (c != '\n') return fail(400, "chunk data not followed by CRLF");
      state_ = state::size;
      digits_ = 0;
      return true;
    default:
      break;
  }
  if (c == '\n') return fail(400, "bare LF in chunk framing");
  if (state_ == state::size && is(c, detail::hexdig)) {
    // 1*HEXDIG (RFC 9112 §7.1): leading zeros are digits like any other.
    // A size with any of its top four bits set cannot take another digit,
    // so overflow is refused by value. Digits past 16 can only be leading
    // zeros; they count towards the extensions' budget, which bounds the
    // framing bytes a body carries besides its data.
    if (remaining_ >> 60 != 0) return fail(400, "chunk size too long");
    if (digits_ < 16) {
      ++digits_;
    } else if (++ext_bytes_ > extension_budget()) {
      return fail(400, "chunk size too long");
    }
    remaining_ = remaining_ << 4 | static_cast<std::uint64_t>(detail::hex_digit(c));
    return true;
  }
  if (state_ == state::size) {
    if (digits_ == 0) return fail(400, "chunk size is not hex");
    // decoded_ never exceeds max_body, so the subtraction cannot wrap.
    if (remaining_ > limits_.max_body - decoded_) return fail(413, "chunked body too large");
  }
  state next = chunk_line_byte(c);
  if (next == state::failed) {
    return fail(
        400, state_ == state::size ? "invalid byte after chunk size" : "invalid chunk extension");
  }
  if (next != state::size_lf && ++ext_bytes_ > extension_budget())
    return fail(400, "chunk extensions too long");
  state_ = next;
  return true;
}

// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )
// then CRLF. Whitespace after the size is BWS and must lead to a ';': "5 \r\n"
// and "5 5" are errors. Returns the next state, or failed.
chunked_decoder::state chunked_decoder::chunk_line_byte(char c) noexcept {
  const bool tok = is(c, detail::tchar);
  switch (state_) {
    case state::size:
    case state::ext_value_end:
      if (c == '\r') return state::size_lf;
      if (c == ';') return state::ext_name_start;
      if (is_ows(c)) return state::size_bws;
      return state::failed;
    case state::size_bws:
      if (is_ows(c)) return state::size_bws;
      return c == ';' ? state::ext_name_start : state::failed;
    case state::ext_name_start:
      if (is_ows(c)) return state::ext_name_start;
      return tok ? state::ext_name : state::failed;
    case state::ext_name:
      if (tok) return state::ext_name;
      if (c == '\r') return state::size_lf;
      [[fallthrough]];
    case state::ext_name_bws:
      if (is_ows(c)) return state::ext_name_bws;
      if (c == ';') return state::ext_name_start;
      return c == '=' ? state::ext_value_start : state::failed;
    case state::ext_value_start:
      if (is_ows(c)) return state::ext_value_start;
      if (c == '"') return state::ext_quoted;
      return tok ? state::ext_token : state::failed;
    case state::ext_token:
      if (tok) return state::ext_token;
      if (c == '\r') return state::size_lf;
      if (is_ows(c)) return state::size_bws;
      return c == ';' ? state::ext_name_start : state::failed;
    case state::ext_quoted:
      if (c == '"') return state::ext_value_end;
      if (c == '\\') return state::ext_quoted_pair;
      return is(c, detail::qdtext) ? state::ext_quoted : state::failed;
    case state::ext_quoted_pair:
      return is(c, detail::field_byte) ? state::ext_quoted : state::failed;
    default:
      return state::failed;
  }
}

// trailer-section = *( field-line CRLF ) CRLF, starting at in[base]. It stays
// unconsumed until complete, so it is scanned with a resume point, like the
// request head.
chunk_result chunked_decoder::trailer(std::string_view in, std::size_t base,
                                      std::span<header_field> storage) noexcept {
  std::string_view section = in.substr(base);
  const std::size_t fields_before = t_fields_;
  const std::size_t max_fields =
      limits_.max_trailer_fields < storage.size() ? limits_.max_trailer_fields : storage.size();
  for (;;) {
    auto le = detail::find_line_end(section, t_scan_, limits_.max_trailer);
    if (le.status == line_status::incomplete) return result(chunk_result::incomplete, base);
    if (le.status == line_status::too_long ||
        (le.status == line_status::found && le.cr + 2 > limits_.max_trailer)) {
      fail(431, "trailer section too large");
      return failure();
    }
    if (le.status != line_status::found) {
      fail(400, le.status == line_status::bare_lf ? "bare LF in trailer" : "bare CR in trailer");
      return failure();
    }
    if (le.cr == t_line_) {
      detail::repoint_fields(section, storage.first(fields_before));
      state_ = state::done;
      chunk_result r = result(chunk_result::complete, base + le.cr + 2);
      r.trailers = storage.first(t_fields_);
      return r;
    }
    if (t_fields_ == max_fields) {
      fail(431, "too many trailer fields");
      return failure();
    }
    std::string_view line = section.substr(t_line_, le.cr - t_line_);
    if (const char* why = detail::parse_field_line(line, storage[t_fields_])) {
      fail(400, why);
      return failure();
    }
    ++t_fields_;
    t_line_ = t_scan_ = le.cr + 2;
  }
}

bool chunked_decoder::fail(int status, const char* reason) noexcept {
  state_ = state::failed;
  status_ = status;
  reason_ = reason;
  return false;
}

chunk_result chunked_decoder::failure() const noexcept {
  chunk_result r = result(chunk_result::error, 0);
  r.status = status_;
  r.reason = reason_;
  return r;
}

}  // namespace weft::http
