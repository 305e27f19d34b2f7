#include "http/field_syntax.hpp"

#include <cstring>

#include "http/byte_scans.hpp"
#include "http/char_tables.hpp"

namespace weft::http::detail {

line_end find_line_end(std::string_view bytes, std::size_t& scan, std::size_t limit) noexcept {
  const char* base = bytes.data();
  std::size_t window = limit < bytes.size() ? limit : bytes.size();
  if (scan < window)
    scan = static_cast<std::size_t>(find_cr_or_lf(base + scan, base + window) - base);
  if (scan >= window)
    return {bytes.size() >= limit ? line_status::too_long : line_status::incomplete};
  if (bytes[scan] == '\n') return {line_status::bare_lf};
  // A CR: only a CRLF ends a line. We may look one byte past the limit here:
  // the CR itself was within it, and the caller checks the line's full size.
  if (scan + 1 == bytes.size()) return {line_status::incomplete};
  if (bytes[scan + 1] != '\n') return {line_status::bare_cr};
  return {line_status::found, scan};
}

const char* parse_field_line(std::string_view line, header_field& out) noexcept {
  if (is_ows(line.front())) return "obs-fold or whitespace before a field name";
  std::size_t n = span_of(line, tchar);
  if (n == line.size()) return "field line without a colon";
  if (line[n] != ':') {
    return is_ows(line[n]) ? "whitespace between field name and colon"
                           : "invalid byte in field name";
  }
  if (n == 0) return "empty field name";
  const char* v = line.data() + n + 1;
  const char* end = line.data() + line.size();
  if (find_bad_value_byte(v, end) != end) return "control character in field value";
  out.name = line.substr(0, n);
  out.value = trim_ows(std::string_view(v, static_cast<std::size_t>(end - v)));
  return nullptr;
}

void repoint_fields(std::string_view block, std::span<header_field> fields) noexcept {
  for (auto& f : fields) {
    // Accepted lines hold no CR or LF, so the first LF ends this one.
    const void* lf = std::memchr(block.data(), '\n', block.size());
    std::size_t len = static_cast<std::size_t>(static_cast<const char*>(lf) - block.data());
    std::string_view line = block.substr(0, len - 1);
    std::size_t colon = line.find(':');
    f.name = line.substr(0, colon);
    f.value = trim_ows(line.substr(colon + 1));
    block.remove_prefix(len + 1);
  }
}

// The slow path of parse_decimal: empty, or long enough to overflow.
bool parse_decimal_checked(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    // Overflow checks without a division per digit.
    if (__builtin_mul_overflow(v, 10u, &v) ||
        __builtin_add_overflow(v, static_cast<std::uint64_t>(c - '0'), &v))
      return false;
  }
  out = v;
  return true;
}

}  // namespace weft::http::detail
