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
// One add and a test of its overflow flag: it is on the server's path
// once per keep-alive request.
constexpr time_point saturating_add(time_point t, duration d) noexcept {
  duration::rep sum = 0;
  if (__builtin_add_overflow(t.time_since_epoch().count(), d.count(), &sum))
    return d > duration::zero() ? time_point::max() : time_point::min();
  return time_point(duration(sum));
}
// How long from `now` until `t`: zero once it has passed. t - now alone
// overflows for a t far in the past (now + duration::min()).
constexpr duration time_until(time_point t, time_point now) noexcept {
  return t <= now ? duration::zero() : t - now;
}
}  // namespace weft
