#pragma once
// header_field: one field line of a request head or a chunked trailer, as
// views into the bytes that were parsed. Plain values; any thread.

#include <cstddef>
#include <span>
#include <string_view>

namespace weft::http {

struct header_field {
  std::string_view name;   // 1*tchar, exactly as received (case preserved)
  std::string_view value;  // leading and trailing SP/HTAB removed
};

// ASCII case-insensitive equality, for field names and tokens.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (static_cast<unsigned>(x - 'A') < 26u) x += 32;
    if (static_cast<unsigned>(y - 'A') < 26u) y += 32;
    if (x != y) return false;
  }
  return true;
}

// The first field named `name` (case-insensitive), or nullptr.
inline const header_field* find_field(std::span<const header_field> fields,
                                      std::string_view name) noexcept {
  for (const auto& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

}  // namespace weft::http
