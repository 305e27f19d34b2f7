#pragma once
// One 256-entry table of byte classes for the HTTP/1.1 grammar (RFC 9110
// §5.6, RFC 9112, RFC 3986). A lookup and a bit test replace the chains of
// comparisons a hand-written predicate would branch through.

#include <array>
#include <bit>
#include <cstdint>
#include <string_view>

namespace weft::http::detail {

enum char_class : std::uint8_t {
  tchar = 1,        // token characters
  field_byte = 2,   // field-vchar, SP, HTAB: what a field value may hold
  target_byte = 4,  // request-target: visible ASCII except '#'
  hexdig = 8,
  host_byte = 16,  // reg-name: unreserved, sub-delims and '%'
  qdtext = 32,     // inside a quoted-string, besides a quoted-pair
  reg_name = 64,   // host_byte but '%': a reg-name outside its pct-encoded octets
};

constexpr std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> t{};
  auto add = [&t](std::string_view chars, std::uint8_t cls) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = 0; c < 256; ++c) {
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    bool digit = c >= '0' && c <= '9';
    if (alpha || digit) t[c] |= tchar | host_byte;
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) t[c] |= field_byte;
    if (c >= 0x21 && c <= 0x7e && c != '#') t[c] |= target_byte;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) t[c] |= hexdig;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x7e && c != '\\') || c >= 0x80)
      t[c] |= qdtext;
  }
  add("!#$%&'*+-.^_`|~", tchar);
  add("-._~!$&'()*+,;=%", host_byte);
  for (int c = 0; c < 256; ++c)
    if ((t[c] & host_byte) != 0 && c != '%') t[c] |= reg_name;
  return t;
}

inline constexpr std::array<std::uint8_t, 256> char_classes = make_char_classes();

constexpr bool is(char c, char_class cls) noexcept {
  return (char_classes[static_cast<unsigned char>(c)] & cls) != 0;
}
constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}
constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// The index of the first `c` in s, or npos. A short string is walked byte
// by byte: a memchr call costs ~40 instructions before it looks at a byte
// (callgrind), more than a walk over a target such as "/" or a Host.
inline std::size_t find_byte(std::string_view s, char c) noexcept {
  if (s.size() >= 32) return s.find(c);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == c) return i;
  return std::string_view::npos;
}

// Whether a and b hold the same bytes, without a call to memcmp, which
// cost more than a method's or a path segment's few bytes (callgrind,
// bench/http/instructions.sh).
inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

// Loads of 4 and 8 bytes the caller knows are there, and string literals
// as the little-endian word such a load gives: a token such as "GET " or
// " HTTP/1." is compared in one instruction.
static_assert(std::endian::native == std::endian::little, "words are compared as loaded");
inline std::uint32_t load4(const char* p) noexcept {
  std::uint32_t x;
  __builtin_memcpy(&x, p, 4);
  return x;
}
inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t x;
  __builtin_memcpy(&x, p, 8);
  return x;
}
template <std::size_t N>
constexpr std::uint64_t word(const char (&s)[N]) noexcept {
  std::uint64_t w = 0;
  for (std::size_t i = N - 1; i-- > 0;) w = w << 8 | static_cast<unsigned char>(s[i]);
  return w;
}

// Whether every byte of s is SP or visible ASCII (0x20-0x7e), eight bytes a
// step. It settles the usual field value (a Content-Type, a Cache-Control)
// in a few instructions where span_of(field_byte) took ~6 a byte; false
// means only "look closer", since HTAB and obs-text are field bytes too.
inline bool printable_ascii(std::string_view s) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
  // Nonzero when some byte of x is 0x80 or above, below 0x20, or 0x7f. The
  // "below" tests borrow only from a byte that is itself below, so they
  // answer "any" exactly.
  auto bad = [](std::uint64_t x) {
    std::uint64_t del = x ^ (ones * 0x7f);
    return (x | ((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs;
  };
  std::size_t n = s.size();
  if (n < 8) {
    for (char c : s)
      if (c < 0x20 || c == 0x7f) return false;  // char is signed: >= 0x80 is below 0
    return true;
  }
  std::uint64_t acc = bad(load8(s.data()));  // with the last eight: up to 16 bytes, no loop
  for (std::size_t i = 8; i + 8 < n; i += 8) acc |= bad(load8(s.data() + i));
  return (acc | bad(load8(s.data() + n - 8))) == 0;
}

// The length of the run of bytes of class `cls` at the start of s.
// Four bytes a turn: the loop's own compare and branch cost as much as the
// lookup, and most runs scanned per request (a method, a field name, a
// Content-Type) are a few bytes to a few dozen.
constexpr std::size_t span_of(std::string_view s, char_class cls) noexcept {
  std::size_t i = 0;
  for (; i + 4 <= s.size(); i += 4) {
    if (!is(s[i], cls)) return i;
    if (!is(s[i + 1], cls)) return i + 1;
    if (!is(s[i + 2], cls)) return i + 2;
    if (!is(s[i + 3], cls)) return i + 3;
  }
  while (i < s.size() && is(s[i], cls)) ++i;
  return i;
}

// span_of without bounds: the first byte at or after p that is not of
// class `cls`. The caller knows that such a byte comes before the end of
// the buffer (the CR of a line already found), so the loops test no end.
inline const char* skip_run(const char* p, char_class cls) noexcept {
  while (is(p[0], cls) && is(p[1], cls) && is(p[2], cls) && is(p[3], cls)) p += 4;
  while (is(*p, cls)) ++p;
  return p;
}

// The value of a hex digit, or -1 for any other byte.
constexpr int hex_digit(char c) noexcept {
  if (!is(c, hexdig)) return -1;
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

}  // namespace weft::http::detail
