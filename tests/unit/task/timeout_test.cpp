#include <weft/core/fd_io.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/sync.hpp>
#include <weft/task/timeout.hpp>

#include <gtest/gtest.h>

#include <thread>

#include "test_util.hpp"

using namespace weft;

namespace {
struct outcome {
  bool done = false;
  std::error_code error;
  std::string value;
};

task<void> read_line_within(tcp_stream* s, duration limit, outcome* out) {
  try {
    std::string_view line = co_await with_timeout(limit, s->read_until('\n', 100));
    out->value = line;
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->done = true;
}

task<int> slow_value() {
  co_await sleep(1ms);
  co_return 7;
}

task<void> value_within(duration limit, outcome* out) {
  int v = co_await with_timeout(limit, slow_value());
  out->value = std::to_string(v);
  out->done = true;
}
}  // namespace

TEST(with_timeout, times_out_a_pending_read_and_cancels_it) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  outcome out;
  spawn(l, read_line_within(&s, 20ms, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.error, std::errc::timed_out);
  // The read was really cancelled: its fd interest is gone, so data that
  // arrives now wakes nothing and stays for the next read.
  ASSERT_EQ(write_some(a.get(), "late\n", 5).bytes, 5u);
  l.run_once(20ms);
  outcome again;
  spawn(l, read_line_within(&s, 1s, &again));
  ASSERT_TRUE(test::run_until(l, [&] { return again.done; }));
  EXPECT_FALSE(again.error);
  EXPECT_EQ(again.value, "late\n");
}

TEST(with_timeout, returns_the_value_when_the_operation_wins) {
  loop l;
  outcome out;
  spawn(l, value_within(1s, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.value, "7");
  EXPECT_EQ(l.timer_count(), 0u);  // the timeout's timer was cancelled
}

TEST(with_timeout, cancels_a_semaphore_wait_which_leaves_the_queue) {
  loop l;
  semaphore sem(0);
  std::error_code code;
  bool done = false;
  auto waiter = [](semaphore* s, std::error_code* c, bool* d) -> task<void> {
    try {
      co_await with_timeout(10ms, s->acquire());
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  };
  spawn(l, waiter(&sem, &code, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, std::errc::timed_out);
  sem.release();
  EXPECT_EQ(sem.available(), 1u);  // no ghost waiter took the permit
}

TEST(with_timeout, nested_timeouts_report_the_one_that_fired) {
  loop l;
  std::error_code inner_code;
  bool done = false;
  auto body = [](std::error_code* c, bool* d) -> task<void> {
    try {
      co_await with_timeout(1s, with_timeout(5ms, sleep(1h)));
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    // The inner scope ended: sleeping again is not cancelled.
    co_await sleep(1ms);
    *d = true;
  };
  spawn(l, body(&inner_code, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(inner_code, std::errc::timed_out);
}

// duration::max() means "no limit": the deadline saturates instead of
// overflowing into the past (which fired at once, or froze the loop's
// timers), and the operation finishes on its own.
namespace {
task<void> acquire_within(semaphore* s, duration d, std::error_code* code, bool* done) {
  try {
    co_await with_timeout(d, s->acquire());
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}
}  // namespace

// A task cancelled while its timeout is due, but before the timer phase
// runs, was cancelled, not timed out: the cancel ended the wait. The timer
// then fired and turned that into timed_out (and a task that did not catch
// it was logged as failed). Found by review.
TEST(with_timeout, a_cancel_that_comes_first_is_reported_as_a_cancel) {
  loop l;
  semaphore sem(0);
  std::error_code code;
  bool done = false;
  green_thread g = spawn(l, acquire_within(&sem, 20ms, &code, &done), "acquirer");
  l.run_once(0ms);                    // queued on the semaphore
  std::this_thread::sleep_for(40ms);  // the timeout is due now
  g.cancel();
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, std::errc::operation_canceled);
}

TEST(with_timeout, duration_max_is_no_limit) {
  loop l;
  outcome out;
  spawn(l, value_within(duration::max(), &out));
  ASSERT_TRUE(test::run_until(
      l, [&] { return out.done; }, std::chrono::seconds(2)));
  EXPECT_EQ(out.value, "7");
}

namespace {
task<void> sleep_forever_then_flag(bool* woke) {
  co_await sleep(duration::max());
  *woke = true;
}
}  // namespace

TEST(sleep, duration_max_sleeps_without_holding_up_other_timers) {
  loop l;
  bool woke = false, soon = false;
  green_thread g = spawn(l, sleep_forever_then_flag(&woke));
  l.run_after(std::chrono::milliseconds(20), [&] { soon = true; });
  ASSERT_TRUE(test::run_until(
      l, [&] { return soon; }, std::chrono::seconds(2)));
  EXPECT_FALSE(woke);
  g.cancel();  // a loop destroyed under a suspended task would leak its frame
  ASSERT_TRUE(test::run_until(l, [&] { return g.done(); }));
}
