#include <gtest/gtest.h>

#include "net/scan_line.hpp"

using weft::detail::line_scan;
using weft::detail::scan_line;

TEST(scan_line, finds_the_line_through_its_delimiter) {
  auto r = scan_line("ab\ncd\n", 0, '\n', 100);
  EXPECT_EQ(r.what, line_scan::line);
  EXPECT_EQ(r.len, 3u);
}

TEST(scan_line, without_a_delimiter_needs_more_and_remembers_how_far_it_looked) {
  auto r = scan_line("abc", 0, '\n', 100);
  EXPECT_EQ(r.what, line_scan::need_more);
  EXPECT_EQ(r.scanned, 3u);
  EXPECT_EQ(scan_line("", 0, '\n', 100).what, line_scan::need_more);
}

TEST(scan_line, resumes_after_the_bytes_already_scanned) {
  auto r = scan_line("abc\n", 3, '\n', 100);
  EXPECT_EQ(r.what, line_scan::line);
  EXPECT_EQ(r.len, 4u);
}

TEST(scan_line, a_line_of_exactly_max_bytes_is_accepted) {
  EXPECT_EQ(scan_line("abcd\n", 0, '\n', 4).what, line_scan::line);
  EXPECT_EQ(scan_line("abcd", 0, '\n', 4).what, line_scan::need_more);
}

TEST(scan_line, one_byte_over_max_is_too_long_with_or_without_the_delimiter) {
  EXPECT_EQ(scan_line("abcde\n", 0, '\n', 4).what, line_scan::too_long);
  EXPECT_EQ(scan_line("abcde", 0, '\n', 4).what, line_scan::too_long);
}

TEST(scan_line, an_empty_line_is_just_its_delimiter) {
  auto r = scan_line("\nx", 0, '\n', 0);
  EXPECT_EQ(r.what, line_scan::line);
  EXPECT_EQ(r.len, 1u);
}

// read_until's buffer may grow to a line of `max` bytes and one more (to see
// that it is too long), within what io_buffer's 32-bit sizes hold. With
// max = SIZE_MAX ("no limit"), max + 1 wrapped to 0: the buffer then grew
// one byte per read(2), and a 200 KB line took 183,648 reads and a minute
// (found by review).
TEST(line_capacity, is_the_line_and_one_byte_more_within_the_buffers_range) {
  EXPECT_EQ(weft::detail::line_capacity(10), 11u);
  EXPECT_EQ(weft::detail::line_capacity(0), 1u);
  constexpr std::size_t cap = UINT32_MAX / 2;
  EXPECT_EQ(weft::detail::line_capacity(cap - 1), cap);
  EXPECT_EQ(weft::detail::line_capacity(cap), cap);
  EXPECT_EQ(weft::detail::line_capacity(SIZE_MAX - 1), cap);
  EXPECT_EQ(weft::detail::line_capacity(SIZE_MAX), cap);
}

// Asked for more than the buffer holds, read_until takes the longest line
// that leaves it a byte to see a longer one: past 2 GiB without a
// delimiter, the buffer grew one byte per read(2), each a 2 GiB copy, in
// one step that held the loop (found by review).
TEST(longest_line, is_max_within_what_the_buffer_holds_with_a_byte_to_spare) {
  constexpr std::size_t cap = UINT32_MAX / 2;
  EXPECT_EQ(weft::detail::longest_line(10), 10u);
  EXPECT_EQ(weft::detail::longest_line(cap - 2), cap - 2);
  EXPECT_EQ(weft::detail::longest_line(cap - 1), cap - 1);
  EXPECT_EQ(weft::detail::longest_line(cap), cap - 1);
  EXPECT_EQ(weft::detail::longest_line(SIZE_MAX), cap - 1);
  EXPECT_EQ(weft::detail::line_capacity(SIZE_MAX), weft::detail::longest_line(SIZE_MAX) + 1);
}
