// Process-wide settings: raise_open_file_limit lifts the soft descriptor
// limit to the hard one, and never lowers anything.
#include <weft/core/process.hpp>

#include <gtest/gtest.h>

#include <sys/resource.h>

namespace weft {
namespace {

TEST(raise_open_file_limit, lifts_the_soft_limit_to_the_hard_one) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  if (old.rlim_max <= 64) GTEST_SKIP() << "the hard limit leaves no room to test";
  rlimit low{64, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::uint64_t now = raise_open_file_limit();
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(after.rlim_cur, old.rlim_max);
  EXPECT_EQ(after.rlim_max, old.rlim_max);
  EXPECT_EQ(now, old.rlim_max);
}

TEST(raise_open_file_limit, at_the_hard_limit_changes_nothing) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit full{old.rlim_max, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &full), 0);
  EXPECT_EQ(raise_open_file_limit(), old.rlim_max);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
}

}  // namespace
}  // namespace weft
