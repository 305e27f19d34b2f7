// The byte classes and the scans built on them. printable_ascii is a fast
// pre-check, so it is compared with the plain definition at every length
// and every position of a byte on either side of each boundary.
#include "http/char_tables.hpp"

#include <gtest/gtest.h>

#include <string>

namespace weft::http::detail {
namespace {

bool printable_reference(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

TEST(char_tables, printable_ascii_matches_its_definition_at_every_length_and_position) {
  const unsigned char probes[] = {0x00, 0x09, 0x0a, 0x0d, 0x1f, 0x20,
                                  0x21, 0x7e, 0x7f, 0x80, 0xa0, 0xff};
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string s(n, 'x');
    EXPECT_EQ(printable_ascii(s), true) << n;
    for (std::size_t at = 0; at < n; ++at) {
      for (unsigned char b : probes) {
        std::string t = s;
        t[at] = static_cast<char>(b);
        EXPECT_EQ(printable_ascii(t), printable_reference(t)) << n << " " << at << " " << int(b);
      }
    }
  }
}

TEST(char_tables, printable_ascii_is_not_fooled_by_a_borrow_between_bytes) {
  // Bytes just above a boundary next to one below it: a subtraction that
  // borrows across bytes must not hide or invent a bad byte.
  EXPECT_TRUE(printable_ascii(std::string("\x20\x20\x20\x20\x20\x20\x20\x20\x20", 9)));
  EXPECT_FALSE(printable_ascii(std::string("\x20\x1f\x20\x20\x20\x20\x20\x20\x20", 9)));
  EXPECT_FALSE(printable_ascii(std::string("\x7e\x7e\x7e\x7e\x7e\x7e\x7e\x7f", 8)));
  EXPECT_TRUE(printable_ascii(std::string("\x7e\x7e\x7e\x7e\x7e\x7e\x7e\x7e", 8)));
}

TEST(char_tables, span_of_stops_at_the_first_byte_outside_the_class_at_any_offset) {
  for (std::size_t n = 0; n <= 12; ++n) {
    for (std::size_t at = 0; at <= n; ++at) {
      std::string s(n, 'a');
      if (at < n) s[at] = ' ';
      EXPECT_EQ(span_of(s, tchar), at) << n << " " << at;
    }
  }
}

TEST(char_tables, reg_name_is_host_byte_without_the_percent_sign) {
  for (int c = 0; c < 256; ++c) {
    char ch = static_cast<char>(c);
    EXPECT_EQ(is(ch, reg_name), c != '%' && is(ch, host_byte)) << c;
  }
}

}  // namespace
}  // namespace weft::http::detail
