// saturating_add and time_until: deadlines at the clock's ends.
#include <weft/core/time.hpp>

#include <gtest/gtest.h>

using namespace weft;

TEST(saturating_add, adds_in_range_and_holds_at_the_clock_ends) {
  constexpr time_point t0{duration(1000)};
  static_assert(saturating_add(t0, duration(5)) == time_point{duration(1005)});
  static_assert(saturating_add(t0, duration(-5)) == time_point{duration(995)});
  static_assert(saturating_add(t0, duration::max()) == time_point::max());
  static_assert(saturating_add(time_point{duration(-1000)}, duration::min()) == time_point::min());
  static_assert(saturating_add(time_point::max(), duration(1)) == time_point::max());
  static_assert(saturating_add(time_point::max(), duration::zero()) == time_point::max());
  static_assert(saturating_add(time_point::min(), duration(-1)) == time_point::min());
  // Opposite signs never overflow.
  static_assert(saturating_add(time_point::max(), duration::min()) == time_point{duration(-1)});
  time_point now = clock::now();
  EXPECT_EQ(saturating_add(now, duration::max()), time_point::max());
  EXPECT_EQ(saturating_add(now, std::chrono::seconds(1)) - now, std::chrono::seconds(1));
}

TEST(time_until, is_zero_once_the_time_has_passed) {
  constexpr time_point now{duration(0)};
  static_assert(time_until(time_point{duration(7)}, now) == duration(7));
  static_assert(time_until(time_point::min(), now) == duration::zero());
  static_assert(time_until(now, now) == duration::zero());
}
