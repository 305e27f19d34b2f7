#pragma once
// weft measures time on the monotonic clock only.
//
// Threading: types and pure functions; safe from any thread.
#include <chrono>

namespace weft {
using clock = std::chrono::steady_clock;
using duration = clock::duration;
using time_point = clock::time_point;
using namespace std::chrono_literals;

// t + d, held at the clock's ends instead of overflowing: duration::max()
// is the usual "forever", and now() + duration::max() wrapped into the past.
constexpr time_point saturating_add(time_point t, duration d) noexcept {
  if (d > duration::zero() && t > time_point::max() - d) return time_point::max();
  if (d < duration::zero() && t < time_point::min() - d) return time_point::min();
  return t + d;
}
// How long from `now` until `t`: zero once it has passed. t - now alone
// overflows for a t far in the past (now + duration::min()).
constexpr duration time_until(time_point t, time_point now) noexcept {
  return t <= now ? duration::zero() : t - now;
}
}  // namespace weft
