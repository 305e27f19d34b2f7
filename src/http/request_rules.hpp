#pragma once
// The rules of RFC 9112 for a request head, line by line: the request line,
// the fields that decide framing, and the final framing decision. The request
// parser drives them; they only read bytes and update the parse_state.

#include <weft/http/request_parser.hpp>

#include "http/char_tables.hpp"
#include "http/field_syntax.hpp"

#include <cstddef>
#include <span>
#include <string_view>

namespace weft::http::detail {

// A status of 0 means the bytes are acceptable so far.
struct verdict {
  int status = 0;
  const char* reason = nullptr;
};

// The request line is in[start, cr). Records method, target, version and,
// for absolute- and authority-form targets, the host.
verdict parse_request_line(std::string_view in, std::size_t start, std::size_t cr,
                           parse_state& st) noexcept;

// Records `host`, a view into `in`, as the request's host.
inline void set_host(std::string_view in, std::string_view host, parse_state& st) noexcept {
  st.host_off = static_cast<std::size_t>(host.data() - in.data());
  st.host_len = host.size();
}

// Checks the request target against its method and records the host of an
// absolute- or authority-form target. RFC 9112 §3.2: origin-form for most
// methods, authority-form only for CONNECT, asterisk-form only for OPTIONS,
// and absolute-form with an http or https scheme. userinfo ("user@host") is
// refused, as RFC 9110 §4.2.4 advises.
verdict check_target_form(std::string_view in, std::string_view method, std::string_view target,
                          parse_state& st) noexcept;

// check_target_form, with the usual case inline: an origin-form target
// without pct-encoded octets needs nothing more (the call cost ~40
// instructions a request, bench/http/instructions.sh).
inline verdict check_target(std::string_view in, std::string_view method, std::string_view target,
                            parse_state& st) noexcept {
  if (target[0] == '/' && find_byte(target, '%') == std::string_view::npos && method != "CONNECT")
    return {};
  return check_target_form(in, method, target, st);
}

// The start of a request line that has not ended yet, in[start, limit):
// 400 when its method already holds a byte that is neither a token byte nor
// the SP, CR or LF that may end it, as a TLS ClientHello's first byte (0x16)
// does. Only the first 32 bytes are looked at, which hold any method in use,
// so a line that arrives a byte at a time is not scanned again and again.
// `limit` is where the line is too long: a byte past it is never seen, so
// the answer does not depend on how the bytes arrived.
verdict check_method_so_far(std::string_view in, std::size_t start, std::size_t limit) noexcept;

// Records the request line's method and target, found by a scan of `in`
// from `start`: a method of m bytes, SP, a target of t bytes.
inline verdict record_request_line(std::string_view in, std::size_t start, std::size_t m,
                                   std::size_t t, parse_state& st) noexcept {
  st.method_off = start;
  st.method_len = m;
  st.target_off = start + m + 1;
  st.target_len = t;
  return check_target(in, in.substr(start, m), in.substr(start + m + 1, t), st);
}

// The fast path for the usual request line, "method SP target SP HTTP/1.x"
// and its CRLF, complete in `in` with the CR before index `limit`: sets `cr`
// and `v` and records the line as parse_request_line would. Returns false,
// having changed nothing, for any other bytes; the slow path (find_line_end,
// then parse_request_line) then decides. Measured: finding the line's end
// first and then scanning it again cost ~80 of the ~1,900 instructions of a
// pipelined request (bench/http/instructions.sh).
// Inline: the general parser and the whole-head fast path (plain_head.cpp)
// both run it once a request.
[[gnu::always_inline]] inline bool parse_simple_request_line(std::string_view in, std::size_t start,
                                                             std::size_t limit, std::size_t& cr,
                                                             verdict& v, parse_state& st) noexcept {
  std::string_view rest = in.substr(start);
  std::size_t m = rest.size() >= 4 && load4(rest.data()) == word("GET ") ? 3 : span_of(rest, tchar);
  if (m == 0 || m == rest.size() || rest[m] != ' ') return false;
  std::size_t t = target_span(rest.substr(m + 1));
  // " HTTP/1.0" or " HTTP/1.1", then CRLF: a method and a target hold no
  // CR or LF, so this CRLF is the line's first, as find_line_end would see.
  // Tested here as bytes, not by check_version (25 instructions more per
  // request, callgrind): any other version goes to the slow path, which
  // decides it by check_version, so the two cannot disagree.
  std::string_view version = rest.substr(m + 1 + t);
  std::size_t end = start + m + 1 + t + 9;
  if (t == 0 || version.size() < 11 || load8(version.data()) != word(" HTTP/1.") ||
      (version[8] != '0' && version[8] != '1') || version[9] != '\r' || version[10] != '\n' ||
      end > limit)
    return false;
  st.version_minor = static_cast<std::uint8_t>(version[8] - '0');
  cr = end;
  v = record_request_line(in, start, m, t, st);
  return true;
}

// Applies one accepted field line (views into `in`) to the framing state:
// Host, Content-Length, Transfer-Encoding, Connection and Expect.
verdict apply_field(std::string_view in, const header_field& f, parse_state& st) noexcept;

// Whether apply_field may act on a field so named: the names it knows
// differ in length, so any other field is passed over without a call.
constexpr bool field_may_matter(std::string_view name) noexcept {
  switch (name.size()) {
    case 4:   // Host
    case 6:   // Expect
    case 10:  // Connection
    case 14:  // Content-Length
    case 17:  // Transfer-Encoding
      return true;
    default:
      return false;
  }
}

// Decides, once the head is complete, whether its framing is acceptable.
verdict decide_framing(const parse_limits& limits, const parse_state& st) noexcept;

// Fills `out` from the state of a complete, accepted head in `in`, whose
// fields are the first st.fields of `storage`.
inline void fill_head(std::string_view in, std::span<header_field> storage, request_head& out,
                      const parse_state& st) noexcept {
  // Offsets the parser recorded lie inside `in`: views without substr's checks.
  const char* base = in.data();
  out.method = {base + st.method_off, st.method_len};
  out.target = {base + st.target_off, st.target_len};
  out.version_minor = st.version_minor;
  out.fields = storage.first(st.fields);
  out.body = st.has_te   ? body_kind::chunked
             : st.has_cl ? body_kind::content_length
                         : body_kind::none;
  out.content_length = st.has_cl ? st.content_length : 0;
  out.keep_alive = !st.conn_close && (st.version_minor == 1 || st.conn_keep_alive);
  out.expect_continue = st.expect_continue && st.version_minor == 1;
  out.host = {base + st.host_off, st.host_len};
}

// uri-host [":" port] (RFC 3986 §3.2.2-3), as in Host and authority-form.
bool valid_host(std::string_view host, bool require_port) noexcept;

}  // namespace weft::http::detail
