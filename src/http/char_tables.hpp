#pragma once
// One 256-entry table of byte classes for the HTTP/1.1 grammar (RFC 9110
// §5.6, RFC 9112, RFC 3986). A lookup and a bit test replace the chains of
// comparisons a hand-written predicate would branch through.

#include <array>
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

// The length of the run of bytes of class `cls` at the start of s.
constexpr std::size_t span_of(std::string_view s, char_class cls) noexcept {
  std::size_t i = 0;
  while (i < s.size() && is(s[i], cls)) ++i;
  return i;
}

}  // namespace weft::http::detail
