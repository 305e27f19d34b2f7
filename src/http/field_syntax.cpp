#include "http/field_syntax.hpp"

#include <cstring>

#include "http/char_tables.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace weft::http::detail {
namespace {

// The first CR or LF in [p, end), or end. SSE2 looks at 16 bytes per step;
// loads never pass `end`, so the scan is clean under ASan.
const char* find_cr_or_lf(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
  }
#endif
  while (p < end && *p != '\r' && *p != '\n') ++p;
  return p;
}

// The first byte in [p, end) that a field value may not hold (a control
// character other than HTAB, or DEL), or end. obs-text (0x80-0xff) is allowed.
const char* find_bad_value_byte(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i x1f = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, x1f), x1f);  // unsigned v <= 0x1f
    __m128i bad =
        _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
    int m = _mm_movemask_epi8(bad);
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
  }
#endif
  while (p < end && is(*p, field_byte)) ++p;
  return p;
}

// The first byte in [p, end) that may not appear in a request-target, or end.
const char* find_bad_target_byte(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  // Signed compares: 0x80-0xff are negative, so "> 0x20 and < 0x7f" is
  // exactly the visible ASCII range.
  const __m128i sp = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f), hash = _mm_set1_epi8('#');
  for (; end - p >= 16; p += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i good = _mm_and_si128(_mm_cmpgt_epi8(v, sp), _mm_cmplt_epi8(v, del));
    int m = _mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(v, hash), good)) ^ 0xffff;
    if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
  }
#endif
  while (p < end && is(*p, target_byte)) ++p;
  return p;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

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

bool scan_simple_field_line(std::string_view bytes, std::size_t line, std::size_t limit,
                            header_field& out, std::size_t& cr) noexcept {
  const char* p = bytes.data() + line;
  const char* end = bytes.data() + (limit < bytes.size() ? limit : bytes.size());
  std::size_t n = span_of(std::string_view(p, static_cast<std::size_t>(end - p)), tchar);
  if (n == 0 || p + n == end || p[n] != ':') return false;
  // The first byte that is not a field-value byte must be the CR of a CRLF:
  // a CR is a control character, so no CR or LF can come before it.
  const char* v = p + n + 1;
  const char* q = find_bad_value_byte(v, end);
  if (q == end || *q != '\r' || q + 1 == bytes.data() + bytes.size() || q[1] != '\n') return false;
  out.name = std::string_view(p, n);
  out.value = trim_ows(std::string_view(v, static_cast<std::size_t>(q - v)));
  cr = static_cast<std::size_t>(q - bytes.data());
  return true;
}

std::size_t target_span(std::string_view s) noexcept {
  return static_cast<std::size_t>(find_bad_target_byte(s.data(), s.data() + s.size()) - s.data());
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
