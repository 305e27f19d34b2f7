#include <weft/http/request_parser.hpp>

#include <algorithm>

#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"
#include "http/plain_head.hpp"
#include "http/request_rules.hpp"

namespace weft::http {
namespace {

using detail::line_status;
using detail::verdict;

parse_result fail(verdict v) noexcept {
  return {parse_result::error, 0, v.status, v.reason};
}

// find_line_end from the state's scan, which it advances (32 bits there:
// see parse_state).
detail::line_end find_line_end(std::string_view in, parse_state& st, std::size_t bound) noexcept {
  std::size_t scan = st.scan;
  detail::line_end le = detail::find_line_end(in, scan, bound);
  st.scan = static_cast<std::uint32_t>(scan);
  return le;
}

// Bytes that end a line in error, whatever the line is.
verdict line_error(line_status s) noexcept {
  // Bare LF is rejected, not read as a line end. RFC 9112 §2.2 lets a
  // recipient accept it, but a server that does while a proxy in front does
  // not (or the reverse) sees different lines in the same bytes: a classic
  // smuggling setup. No client we must serve sends bare LF.
  if (s == line_status::bare_lf) return {400, "bare LF"};
  return {400, "bare CR"};
}

// Skips empty lines before the request line (RFC 9112 §2.2 says a server
// SHOULD ignore at least one). They count towards max_head, which bounds
// how many a client can send. Returns false when more bytes are needed.
bool skip_empty_lines(std::string_view in, const parse_limits& limits, parse_state& st,
                      verdict& v) noexcept {
  while (st.line + 1 < in.size() && in[st.line] == '\r' && in[st.line + 1] == '\n') st.line += 2;
  if (st.line >= limits.max_head)
    v = {431, "request head too large"};
  else if (st.line < in.size() && in[st.line] == '\n')
    v = {400, "bare LF"};
  else if (st.line + 1 < in.size() && in[st.line] == '\r')
    v = {400, "bare CR"};
  if (st.scan < st.line) st.scan = st.line;
  return st.line + 1 < in.size() || (st.line < in.size() && in[st.line] != '\r');
}

parse_result incomplete() noexcept {
  return {parse_result::incomplete, 0, 0, nullptr};
}

// Fills `out` from the state, now that the whole head has been read.
parse_result finish(std::string_view in, std::size_t end, const parse_limits& limits,
                    std::span<header_field> storage, std::size_t fields_before, request_head& out,
                    parse_state& st) noexcept {
  if (verdict v = detail::decide_framing(limits, st); v.status != 0) return fail(v);
  // Fields stored by earlier calls point into the buffer as it was then.
  if (fields_before != 0)  // the call alone cost ~20 instructions a request
    detail::repoint_fields(in.substr(st.first_field), storage.first(fields_before));
  detail::fill_head(in, storage, out, st);
  return {parse_result::complete, end, 0, nullptr};
}

parse_result parse(std::string_view in, const parse_limits& limits, std::span<header_field> storage,
                   request_head& out, parse_state& st) noexcept {
  const std::size_t fields_before = st.fields;
  const std::size_t max_fields =
      limits.max_fields < storage.size() ? limits.max_fields : storage.size();
  if (st.first_field == 0) {
    verdict v;
    bool have_byte = skip_empty_lines(in, limits, st, v);
    if (v.status != 0) return fail(v);
    if (!have_byte) return incomplete();
    // The fast path ends its line within both limits: the CR at most
    // max_request_line bytes in, the CRLF within max_head.
    std::size_t cr = 0;
    bool fast = limits.max_head >= 2 &&
                detail::parse_simple_request_line(
                    in, st.line, std::min(st.line + limits.max_request_line, limits.max_head - 2),
                    cr, v, st);
    if (!fast) {
      // The line ends within both limits, so both bound the search: one
      // longer than what is left of the head is 431 before its CR comes.
      std::size_t line_limit = st.line + limits.max_request_line + 1;
      bool head_bound = limits.max_head < line_limit;
      std::size_t bound = head_bound ? limits.max_head : line_limit;
      if (v = detail::check_method_so_far(in, st.line, bound); v.status != 0) return fail(v);
      auto le = find_line_end(in, st, bound);
      if (le.status == line_status::incomplete) return incomplete();
      if (le.status == line_status::too_long)
        return fail(head_bound ? verdict{431, "request head too large"}
                               : verdict{414, "request line too long"});
      if (le.status != line_status::found) return fail(line_error(le.status));
      if (le.cr + 2 > limits.max_head) return fail({431, "request head too large"});
      v = detail::parse_request_line(in, st.line, le.cr, st);
      cr = le.cr;
    }
    if (v.status != 0) return fail(v);
    st.line = st.scan = st.first_field = cr + 2;
  }
  for (;;) {
    header_field f;
    std::size_t cr = 0;
    // The empty line that ends the head, found without a scan.
    if (st.scan == st.line && st.line + 1 < in.size() && in[st.line] == '\r' &&
        in[st.line + 1] == '\n') {
      if (st.line + 2 > limits.max_head) return fail({431, "request head too large"});
      return finish(in, st.line + 2, limits, storage, fields_before, out, st);
    }
    bool parsed =
        st.scan == st.line && detail::scan_simple_field_line(in, st.line, limits.max_head, f, cr);
    if (!parsed) {
      auto le = find_line_end(in, st, limits.max_head);
      if (le.status == line_status::incomplete) return incomplete();
      if (le.status == line_status::too_long) return fail({431, "request head too large"});
      if (le.status != line_status::found) return fail(line_error(le.status));
      cr = le.cr;
    }
    if (cr + 2 > limits.max_head) return fail({431, "request head too large"});
    if (cr == st.line) return finish(in, cr + 2, limits, storage, fields_before, out, st);
    if (st.fields == max_fields) return fail({431, "too many header fields"});
    if (!parsed) {
      if (const char* why = detail::parse_field_line(in.substr(st.line, cr - st.line), f))
        return fail({400, why});
    }
    if (verdict v = detail::apply_field(in, f, st); v.status != 0) return fail(v);
    storage[st.fields++] = f;
    st.line = st.scan = cr + 2;
  }
}

}  // namespace

namespace detail {
// parse_request after its fast path: a head in several reads, or one that
// is not plain (see plain_head.hpp).
parse_result parse_rest(std::string_view bytes, const parse_limits& limits,
                        std::span<header_field> storage, request_head& out,
                        parse_state& state) noexcept {
  bytes = within_state_offsets(bytes);
  // Offsets past the end mean the caller did not pass this request's bytes
  // again (a bug, or a new connection reusing the state): start over.
  if (state.line > bytes.size() || state.scan > bytes.size()) state = {};
  parse_result r = parse(bytes, limits, storage, out, state);
  if (r.state != parse_result::incomplete) state = {};
  return r;
}
}  // namespace detail

parse_result parse_request(std::string_view bytes, const parse_limits& limits,
                           std::span<header_field> storage, request_head& out,
                           parse_state& state) noexcept {
  return detail::parse_head(bytes, limits, storage, out, state);
}

}  // namespace weft::http
