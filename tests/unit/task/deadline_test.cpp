#include <weft/core/fd_io.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/deadline.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/timeout.hpp>

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace weft;

namespace {
struct deadline_read {
  bool done = false;
  bool expired = false;
  std::error_code error;
  std::string value;
  duration waited{};
};

// Reads a line under a deadline `first` from now, after moving it once to
// `moved` (if nonzero) before waiting.
task<void> read_line_by(tcp_stream* s, duration first, duration moved, deadline_read* out) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  dl.expires_after(first);
  if (moved != duration::zero()) dl.expires_after(moved);
  time_point start = clock::now();
  try {
    out->value = co_await s->read_until('\n', 100);
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->waited = clock::now() - start;
  out->expired = dl.expired();
  out->done = true;
}

// Sleeps `naps` times for `nap`, moving the deadline `limit` ahead each time:
// a deadline that keeps moving never expires.
task<void> keep_moving(duration limit, duration nap, int naps, deadline_read* out) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  try {
    for (int i = 0; i < naps; ++i) {
      dl.expires_after(limit);
      co_await sleep(nap);
    }
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->expired = dl.expired();
  out->done = true;
}

task<void> cleared_then_sleep(deadline_read* out) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  dl.expires_after(10ms);
  dl.clear();
  co_await sleep(40ms);
  out->done = true;
}

task<void> inner_timeout_under_deadline(deadline_read* out) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  dl.expires_after(1s);
  try {
    co_await with_timeout(10ms, sleep(1s));
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->expired = dl.expired();
  co_await sleep(1ms);  // the deadline's scope is not cancelled by the inner one
  out->done = true;
}
}  // namespace

namespace {
task<void> sleep_under_deadline_in(duration d, deadline_read* out) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  dl.expires_after(d);
  try {
    co_await sleep(1h);
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->done = true;
}
task<void> sleep_for(duration d, deadline_read* out) {
  co_await sleep(d);
  out->done = true;
}
}  // namespace

// A deadline or a sleep of duration::min() is past at once. now + min is
// far in the past, and arming its timer computed deadline - now, which
// overflowed (UBSan; wrapped, it waited out the poll). Found by review.
TEST(deadline, one_of_duration_min_has_passed_already) {
  loop l;
  deadline_read dl, slept;
  spawn(l, sleep_under_deadline_in(duration::min(), &dl));
  spawn(l, sleep_for(duration::min(), &slept));
  ASSERT_TRUE(test::run_until(
      l, [&] { return dl.done && slept.done; }, 2s));
  EXPECT_EQ(dl.error, std::errc::operation_canceled);
}

TEST(deadline, cancels_a_pending_read_when_it_passes) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  deadline_read out;
  spawn(l, read_line_by(&s, 20ms, {}, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.error, std::errc::operation_canceled);
  EXPECT_TRUE(out.expired);
  // Really cancelled: data that arrives now stays for the next read.
  ASSERT_EQ(write_some(a.get(), "late\n", 5).bytes, 5u);
  l.run_once(20ms);
  deadline_read again;
  spawn(l, read_line_by(&s, 1s, {}, &again));
  ASSERT_TRUE(test::run_until(l, [&] { return again.done; }));
  EXPECT_FALSE(again.error);
  EXPECT_EQ(again.value, "late\n");
}

TEST(deadline, moved_later_it_does_not_fire_at_the_old_time) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  deadline_read out;
  spawn(l, read_line_by(&s, 10ms, 80ms, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_TRUE(out.expired);
  EXPECT_GE(out.waited, 70ms);
}

TEST(deadline, moved_earlier_it_fires_at_the_new_time) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  deadline_read out;
  spawn(l, read_line_by(&s, 10s, 10ms, &out));
  ASSERT_TRUE(test::run_until(
      l, [&] { return out.done; }, 2s));
  EXPECT_TRUE(out.expired);
  EXPECT_EQ(out.error, std::errc::operation_canceled);
}

TEST(deadline, a_read_that_completes_in_time_is_untouched) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  ASSERT_EQ(write_some(a.get(), "hi\n", 3).bytes, 3u);
  deadline_read out;
  spawn(l, read_line_by(&s, 1s, {}, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_FALSE(out.error);
  EXPECT_FALSE(out.expired);
  EXPECT_EQ(out.value, "hi\n");
}

TEST(deadline, one_that_keeps_moving_ahead_never_expires) {
  loop l;
  deadline_read out;
  spawn(l, keep_moving(30ms, 10ms, 10, &out));  // 100 ms in all, never 30 ms late
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_FALSE(out.error);
  EXPECT_FALSE(out.expired);
}

TEST(deadline, cleared_it_bounds_nothing) {
  loop l;
  deadline_read out;
  spawn(l, cleared_then_sleep(&out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
}

TEST(deadline, with_timeout_nests_inside_it) {
  loop l;
  deadline_read out;
  spawn(l, inner_timeout_under_deadline(&out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.error, std::errc::timed_out);
  EXPECT_FALSE(out.expired);
}

TEST(deadline, its_timer_is_gone_when_the_task_ends) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  ASSERT_EQ(write_some(a.get(), "hi\n", 3).bytes, 3u);
  deadline_read out;
  spawn(l, read_line_by(&s, 10s, {}, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  l.run_once(0ms);
  EXPECT_EQ(l.timer_count(), 0u);
}
