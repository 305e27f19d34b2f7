// put_bytes copies short strings with overlapping fixed-size moves: every
// length is copied exactly, and nothing before or after the copy changes.
#include "http/put_bytes.hpp"

#include <gtest/gtest.h>

#include <string>

namespace weft::http::detail {
namespace {

TEST(put_bytes, copies_every_length_exactly_and_writes_nothing_outside_the_copy) {
  std::string source(200, '\0');
  for (std::size_t i = 0; i < source.size(); ++i) source[i] = static_cast<char>('A' + i % 50);
  for (std::size_t n = 0; n <= 150; ++n) {
    std::string buffer(n + 32, '#');
    char* end = put_bytes(buffer.data() + 16, std::string_view(source).substr(1, n));
    EXPECT_EQ(end, buffer.data() + 16 + n) << n;
    EXPECT_EQ(buffer.substr(0, 16), std::string(16, '#')) << n;
    EXPECT_EQ(buffer.substr(16, n), source.substr(1, n)) << n;
    EXPECT_EQ(buffer.substr(16 + n), std::string(16, '#')) << n;
  }
}

TEST(put_bytes, takes_an_empty_view_with_a_null_pointer) {
  char c = '#';
  EXPECT_EQ(put_bytes(&c, std::string_view()), &c);
  EXPECT_EQ(c, '#');
}

}  // namespace
}  // namespace weft::http::detail
