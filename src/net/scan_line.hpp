#pragma once
// The line framing of tcp_stream::read_until (and so of `weft echo`), as a
// pure function of bytes, so it can be table-tested and fuzzed apart from
// the coroutine that does the I/O.
//
// Threading: none; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace weft::detail {

struct line_scan {
  enum outcome : unsigned char { line, need_more, too_long };
  outcome what = need_more;
  std::size_t len = 0;      // line: bytes through the delimiter
  std::size_t scanned = 0;  // need_more: bytes known to hold no delimiter
};

// Looks for the first `delim` in `buf`. Bytes before `scanned` are known to
// hold none (a previous call said so), so a line that arrives one byte per
// read costs O(n) in total. A line whose delimiter comes after more than
// `max` bytes, or more than `max` bytes with no delimiter, is too long.
// Inline: it is on echo's per-line path.
inline line_scan scan_line(std::string_view buf, std::size_t scanned, char delim,
                           std::size_t max) noexcept {
  if (buf.size() > scanned) {
    const void* hit = std::memchr(buf.data() + scanned, delim, buf.size() - scanned);
    if (hit != nullptr) {
      std::size_t len = static_cast<std::size_t>(static_cast<const char*>(hit) - buf.data()) + 1;
      if (len - 1 > max) return {line_scan::too_long};
      return {line_scan::line, len, 0};
    }
    scanned = buf.size();
  }
  if (buf.size() > max) return {line_scan::too_long};
  return {line_scan::need_more, 0, scanned};
}

// The longest line read_until accepts when asked for `max` bytes: `max`,
// or one byte less than the most an io_buffer holds (its sizes are 32-bit,
// with room to spare), whatever the caller allowed. `max` may be SIZE_MAX
// ("no limit"). Past that, the buffer could only grow a byte at a time.
inline std::size_t longest_line(std::size_t max) noexcept {
  constexpr std::size_t most = UINT32_MAX / 2;
  return max < most ? max : most - 1;
}

// How far read_until's buffer may grow for a line of at most `max` bytes:
// the longest line and one byte more, to see that it is too long.
inline std::uint32_t line_capacity(std::size_t max) noexcept {
  return static_cast<std::uint32_t>(longest_line(max) + 1);
}

}  // namespace weft::detail
