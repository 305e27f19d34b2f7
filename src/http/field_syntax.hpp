#pragma once
// Line framing and field lines, shared by the request parser and the chunked
// decoder's trailer section (RFC 9112 §2.2, §5; RFC 9110 §5.5).

#include <weft/http/header_field.hpp>

#include "http/byte_scans.hpp"
#include "http/char_tables.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace weft::http::detail {

enum class line_status : std::uint8_t { found, incomplete, too_long, bare_cr, bare_lf };

struct line_end {
  line_status status;
  std::size_t cr = 0;  // found: the index of the CR of the line's CRLF
};

// Looks for the CRLF that ends the line whose unscanned part starts at
// `scan`; bytes before `scan` are known to hold no CR or LF, and `scan` is
// advanced so the next call does not look at them again. A CR or LF that is
// not part of a CRLF is an error. Returns too_long when no CR or LF occurs
// before index `limit` and the bytes reach it. The result depends only on the
// bytes up to the point where it is decided, so it is the same however the
// input was split.
line_end find_line_end(std::string_view bytes, std::size_t& scan, std::size_t limit) noexcept;

// Validates one field line (field-name ":" OWS field-value OWS, without its
// CRLF) and splits it. Returns nullptr, or the reason it is invalid.
const char* parse_field_line(std::string_view line, header_field& out) noexcept;

// s without leading and trailing SP and HTAB (a field value's OWS).
inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// The fast path for the usual case: a complete, valid field line at `line`
// whose CRLF lies before `limit`. It finds the line's end and checks the
// value in one pass over the bytes. On success it fills `out` and `cr`;
// otherwise it changes nothing, and the slow path (find_line_end, then
// parse_field_line) decides exactly as if it had never been tried.
// Inline: both the general parser and the whole-head fast path
// (plain_head.cpp) run it once per field line.
inline bool scan_simple_field_line(std::string_view bytes, std::size_t line, std::size_t limit,
                                   header_field& out, std::size_t& cr) noexcept {
  const char* p = bytes.data() + line;
  const char* end = bytes.data() + (limit < bytes.size() ? limit : bytes.size());
  // A field name and its colon are field bytes as well, so the line's first
  // byte that a value may not hold must be the CR of its CRLF.
  const char* q = find_bad_value_byte(p, end);
  if (q == end || *q != '\r' || q + 1 == bytes.data() + bytes.size() || q[1] != '\n') return false;
  const char* colon = skip_run(p, tchar);  // the CR at q stops it at the latest
  if (colon == p || *colon != ':') return false;
  out.name = std::string_view(p, static_cast<std::size_t>(colon - p));
  out.value = trim_ows(std::string_view(colon + 1, static_cast<std::size_t>(q - colon - 1)));
  cr = static_cast<std::size_t>(q - bytes.data());
  return true;
}

// The length of the run of request-target bytes (visible ASCII but '#') at
// the start of s.
inline std::size_t target_span(std::string_view s) noexcept {
  return static_cast<std::size_t>(find_bad_target_byte(s.data(), s.data() + s.size()) - s.data());
}

// Re-points fields[0..n) at `block`, which starts with n field lines that
// parse_field_line already accepted. A block parsed over several calls may
// have moved since; its offsets have not.
void repoint_fields(std::string_view block, std::span<header_field> fields) noexcept;

bool parse_decimal_checked(std::string_view s, std::uint64_t& out) noexcept;

// Parses an unsigned decimal of 1 or more digits that fits in 64 bits.
// Inline: a Host's port and a Content-Length are parsed per request, and
// the call cost more than the digits (callgrind: 73 instructions for a
// 5-digit port out of line, bench/http/instructions.sh).
inline bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 19) return parse_decimal_checked(s, out);
  std::uint64_t v = 0;  // 19 digits cannot overflow 64 bits: no checks per digit
  for (char c : s) {
    auto d = static_cast<unsigned char>(c - '0');
    if (d > 9) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace weft::http::detail
