#pragma once
// put_bytes: appends a short string to a buffer the caller has sized.
//
// A response is assembled from a handful of short pieces per request (the
// status line, Date, each header line, a small body). glibc's memcpy spends
// ~40 instructions choosing a strategy before it copies a byte, which was
// 90 of the ~2,040 instructions weft spent per pipelined request (callgrind,
// bench/http/instructions.sh). Up to 64 bytes are copied here with a few
// fixed-size moves instead, each of which the compiler emits as one or two
// instructions; longer strings still go to memcpy.

#include <cstddef>
#include <cstring>
#include <string_view>

namespace weft::http::detail {

// Copies v to p and returns the end of the copy. The ranges must not
// overlap, and p must have room for v.size() bytes; nothing past them is
// written (the fixed-size moves overlap each other, not the ends).
inline char* put_bytes(char* p, std::string_view v) noexcept {
  const char* s = v.data();
  std::size_t n = v.size();
  if (n > 64) {
    std::memcpy(p, s, n);
  } else if (n >= 16) {
    for (std::size_t i = 0; i + 16 < n; i += 16) std::memcpy(p + i, s + i, 16);
    std::memcpy(p + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(p, s, 8);
    std::memcpy(p + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(p, s, 4);
    std::memcpy(p + n - 4, s + n - 4, 4);
  } else if (n > 0) {  // an empty view may hold a null pointer: not read
    p[0] = s[0];
    p[n / 2] = s[n / 2];
    p[n - 1] = s[n - 1];
  }
  return p + n;
}

}  // namespace weft::http::detail
