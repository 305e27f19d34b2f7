#pragma once
// Lenient percent-decoding (WHATWG URL "percent-decode"): "%XX" with two hex
// digits becomes that byte, and any other '%' stays as it is. For values a
// handler reads (query and path parameters), where refusing a stray '%'
// would help no one. Paths that name files use static_path's strict decoder.

#include <string_view>

#include "http/char_tables.hpp"

namespace weft::http::detail {

// Appends the decoded bytes of `s` to `out` (anything with push_back(char)).
// With `plus_is_space`, '+' is a space (application/x-www-form-urlencoded).
template <class Out>
void append_percent_decoded(std::string_view s, bool plus_is_space, Out& out) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      c = static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    out.push_back(c);
  }
}

}  // namespace weft::http::detail
