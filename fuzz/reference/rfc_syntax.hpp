#pragma once
// The character classes and the field line of RFC 9110, as the reference
// decoders (request_reference.cpp, chunked_reference.cpp) read them: plain
// and slow, written from the RFC, sharing nothing with weft.

#include <string_view>

namespace weft::fuzz::rfc {

// tchar (RFC 9110 §5.6.2).
inline bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool is_ws(char c) {
  return c == ' ' || c == '\t';
}
// VCHAR or obs-text (RFC 9110 §5.5, §5.6.4): what a field value or a
// quoted-string may hold besides SP and HTAB.
inline bool is_visible(char c) {
  return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
}

// Without the OWS around it (RFC 9110 §5.6.3).
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5, RFC 9110
// §5.1, §5.5): the name a token right up to the colon, so a line starting
// with whitespace (obs-fold) or whitespace before the colon is invalid;
// each value byte SP, HTAB, VCHAR or obs-text (no NUL, other CTL or DEL).
// The value is given without its OWS.
inline bool field_line(std::string_view line, std::string_view& name, std::string_view& value) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return false;
  std::string_view raw = line.substr(colon + 1);
  for (char c : raw)
    if (!is_ws(c) && !is_visible(c)) return false;
  name = line.substr(0, colon);
  value = trim(raw);
  return true;
}

}  // namespace weft::fuzz::rfc
