#pragma once
// The rules of RFC 9112 for a request head, line by line: the request line,
// the fields that decide framing, and the final framing decision. The request
// parser drives them; they only read bytes and update the parse_state.

#include <weft/http/request_parser.hpp>

#include <cstddef>
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

// The fast path for the usual request line, "method SP target SP HTTP/1.x"
// and its CRLF, complete in `in` with the CR before index `limit`: sets `cr`
// and `v` and records the line as parse_request_line would. Returns false,
// having changed nothing, for any other bytes; the slow path (find_line_end,
// then parse_request_line) then decides. Measured: finding the line's end
// first and then scanning it again cost ~80 of the ~1,900 instructions of a
// pipelined request (bench/http/instructions.sh).
bool parse_simple_request_line(std::string_view in, std::size_t start, std::size_t limit,
                               std::size_t& cr, verdict& v, parse_state& st) noexcept;

// Checks the request target against its method and records the host of an
// absolute- or authority-form target. RFC 9112 §3.2: origin-form for most
// methods, authority-form only for CONNECT, asterisk-form only for OPTIONS,
// and absolute-form with an http or https scheme. userinfo ("user@host") is
// refused, as RFC 9110 §4.2.4 advises.
verdict check_target(std::string_view in, std::string_view method, std::string_view target,
                     parse_state& st) noexcept;

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

// uri-host [":" port] (RFC 3986 §3.2.2-3), as in Host and authority-form.
bool valid_host(std::string_view host, bool require_port) noexcept;

}  // namespace weft::http::detail
