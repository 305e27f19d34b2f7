// body_bytes: a body read whole, in a string while small and in pages of
// its own past 128 KiB, every byte kept in order however it arrives.
#include "http/body_bytes.hpp"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
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

namespace {
// The VmFlags line of /proc/self/smaps for the mapping that holds `p`.
std::string vm_flags_of(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t from = 0, to = 0;
    // A mapping's first line starts "from-to "; its fields, "Name: value".
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &from, &to) == 2)
      inside = from <= at && at < to;
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}
}  // namespace

// Where transparent huge pages are `always`, a write into an aligned 2 MiB
// of the mapping faults a whole huge page, up to 2 MiB the body has not
// sent yet, past the budget that counts its bytes; on a grown mapping
// khugepaged may collapse the rest. The pages are marked for small pages
// ("nh"), and a remap keeps the mark.
TEST(body_bytes, its_pages_are_never_huge_pages) {
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"))
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  body_bytes b;
  b.append(pattern(0, std::size_t{3} << 20));
  ASSERT_TRUE(b.mapped());
  EXPECT_NE(vm_flags_of(b.view().data()).find(" nh"), std::string::npos)
      << vm_flags_of(b.view().data());
  b.append(pattern(3, std::size_t{9} << 20));  // remapped, perhaps moved
  EXPECT_NE(vm_flags_of(b.view().data()).find(" nh"), std::string::npos)
      << vm_flags_of(b.view().data());
}
