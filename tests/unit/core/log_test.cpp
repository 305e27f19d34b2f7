// what_of: what a caught exception says, for a log line.
#include <weft/core/log.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <system_error>

namespace weft {
namespace {

TEST(what_of, a_standard_exception_says_its_what) {
  auto e = std::make_exception_ptr(std::runtime_error("disk on fire"));
  EXPECT_EQ(what_of(e), "disk on fire");
  auto sys = std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::timed_out)));
  EXPECT_EQ(what_of(sys), std::system_error(std::make_error_code(std::errc::timed_out)).what());
}

TEST(what_of, anything_else_thrown_is_named_as_such) {
  EXPECT_EQ(what_of(std::make_exception_ptr(42)), "an exception not derived from std::exception");
}

}  // namespace
}  // namespace weft
