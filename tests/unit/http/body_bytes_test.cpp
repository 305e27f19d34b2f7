// body_bytes: a body read whole, in a string while small and in pages of
// its own past 128 KiB, every byte kept in order however it arrives.
#include "http/body_bytes.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

using weft::http::detail::body_bytes;

namespace {
// Bytes that differ along the body, so a piece copied to the wrong place
// shows.
std::string pattern(std::size_t from, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((from + i) * 131 % 251);
  return s;
}
}  // namespace

TEST(body_bytes, a_small_body_stays_in_a_string) {
  body_bytes b;
  EXPECT_TRUE(b.view().empty());
  b.append("abc");
  b.append(pattern(3, body_bytes::mapped_from - 3));
  EXPECT_FALSE(b.mapped());
  EXPECT_EQ(b.view(), "abc" + pattern(3, body_bytes::mapped_from - 3));
}

TEST(body_bytes, a_body_past_128_KiB_moves_to_pages_and_keeps_every_byte) {
  body_bytes b;
  std::string expected;
  // Pieces of uneven sizes, as reads give them, across several remaps.
  for (std::size_t n = 1; expected.size() < (std::size_t{3} << 20); n = n * 7 % 65521 + 1) {
    std::string piece = pattern(expected.size(), n);
    b.append(piece);
    expected += piece;
    ASSERT_EQ(b.view().size(), expected.size());
  }
  EXPECT_TRUE(b.mapped());
  EXPECT_EQ(b.view(), expected);
}

TEST(body_bytes, one_piece_larger_than_the_doubling_is_taken_whole) {
  body_bytes b;
  b.append("x");
  std::string big = pattern(1, std::size_t{5} << 20);
  b.append(big);
  EXPECT_TRUE(b.mapped());
  EXPECT_EQ(b.view(), "x" + big);
}

TEST(body_bytes, cleared_it_holds_nothing_and_can_grow_again) {
  body_bytes b;
  b.append(pattern(0, std::size_t{1} << 20));
  b.clear();
  EXPECT_FALSE(b.mapped());
  EXPECT_TRUE(b.view().empty());
  b.append(pattern(7, std::size_t{300} << 10));
  EXPECT_EQ(b.view(), pattern(7, std::size_t{300} << 10));
}
