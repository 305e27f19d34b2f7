#include <weft/core/fd_io.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/deadline.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/sync.hpp>
#include <weft/task/timeout.hpp>

#include <gtest/gtest.h>

#include <thread>

#include "alloc_failure.hpp"
#include "test_util.hpp"

using namespace weft;

namespace {
struct timed_read {
  bool done = false;
  std::error_code error;
  std::string value;
};

task<void> read_line_within(tcp_stream* s, duration limit, timed_read* out) {
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

task<void> value_within(duration limit, timed_read* out) {
  int v = co_await with_timeout(limit, slow_value());
  out->value = std::to_string(v);
  out->done = true;
}
}  // namespace

TEST(with_timeout, times_out_a_pending_read_and_cancels_it) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  timed_read out;
  spawn(l, read_line_within(&s, 20ms, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.error, std::errc::timed_out);
  // The read was really cancelled: its fd interest is gone, so data that
  // arrives now wakes nothing and stays for the next read.
  ASSERT_EQ(write_some(a.get(), "late\n", 5).bytes, 5u);
  l.run_once(20ms);
  timed_read again;
  spawn(l, read_line_within(&s, 1s, &again));
  ASSERT_TRUE(test::run_until(l, [&] { return again.done; }));
  EXPECT_FALSE(again.error);
  EXPECT_EQ(again.value, "late\n");
}

TEST(with_timeout, returns_the_value_when_the_operation_wins) {
  loop l;
  timed_read out;
  spawn(l, value_within(1s, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.value, "7");
  EXPECT_EQ(l.timer_count(), 0u);  // the timeout's timer was cancelled
}

namespace {
// A semaphore's acquire under with_timeout, or under within (as_result),
// noting the error that ended it.
task<void> acquire_within(semaphore* s, duration d, std::error_code* code, bool* done,
                          bool as_result = false) {
  try {
    if (as_result)
      (void)co_await within(d, s->acquire());
    else
      co_await with_timeout(d, s->acquire());
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}
}  // namespace

TEST(with_timeout, cancels_a_semaphore_wait_which_leaves_the_queue) {
  loop l;
  semaphore sem(0);
  std::error_code code;
  bool done = false;
  spawn(l, acquire_within(&sem, 10ms, &code, &done));
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
  timed_read out;
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

// An outer with_timeout whose timer ran in the same timer pass as an inner
// deadline's took the inner cancel for its own and never fired, so code
// inside that handled its own timeouts ran on past the outer limit for
// good. Found by an adversarial review of the task module.
namespace {
task<void> retry_each_10ms(int* attempts) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  for (;;) {
    ++*attempts;
    dl.expires_after(10ms);  // from the loop's cached time: due with the outer timer
    try {
      co_await sleep(1h);
    } catch (const std::system_error&) {
      if (!dl.expired()) throw;  // not this attempt's deadline: give up
    }
  }
}

task<void> retry_within(duration limit, int* attempts, std::error_code* code, bool* done) {
  try {
    co_await with_timeout(limit, retry_each_10ms(attempts));
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}
}  // namespace

TEST(with_timeout, fires_when_an_inner_deadline_expires_in_the_same_timer_pass) {
  loop l;
  int attempts = 0;
  std::error_code code;
  bool done = false;
  spawn(l, retry_within(10ms, &attempts, &code, &done));
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 2s))
      << attempts << " attempts";
  EXPECT_EQ(code, std::errc::timed_out);
  EXPECT_LE(attempts, 2);
}

// A with_timeout whose timer could not be armed (no memory) left its cancel
// scope on the task's context, inside a frame that was then freed: the next
// wait walked freed memory. Found by an adversarial review of the task module.
namespace {
task<void> timeout_without_memory(bool* threw, detail::cancel_scope** left, bool* done) {
  {
    task<void> op = with_timeout(1s, sleep(1h));  // its frame is made here
    test::fail_allocation(1);                     // arming its timer fails
    try {
      co_await std::move(op);
    } catch (const std::bad_alloc&) {
      *threw = test::allocation_failed();
    }
    test::fail_allocation(0);
  }
  detail::task_context* me = co_await detail::this_context{};
  *left = me->scope;
  if (*left == nullptr) co_await sleep(1ms);  // walks the scopes: nothing to walk
  *done = true;
}
}  // namespace

TEST(with_timeout, leaves_no_scope_behind_when_its_timer_cannot_be_armed) {
  loop l;
  bool threw = false, done = false;
  detail::cancel_scope* left = nullptr;
  spawn(l, timeout_without_memory(&threw, &left, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_TRUE(threw);
  EXPECT_EQ(left, nullptr);
}

// An outer deadline due in the same timer pass as a with_timeout inside it
// hid the with_timeout's limit for good: its timer, finding the deadline's
// cancel, stood aside, and once the code inside had handled that cancel and
// moved the deadline on (a connection's idle clock does), nothing bounded
// it. Found by a review of the task module.
namespace {
task<void> handle_the_outer_cancel(deadline* dl, bool* went_on) {
  try {
    co_await sleep(1h);
  } catch (const std::system_error&) {
    dl->expires_after(1h);  // handled: the outer deadline moves on
  }
  *went_on = true;
  co_await sleep(1h);  // past the with_timeout's limit already
}

task<void> within_an_outer_deadline(bool handle, std::error_code* code, bool* went_on, bool* done) {
  detail::task_context* me = co_await detail::this_context{};
  deadline dl(*me);
  dl.expires_after(10ms);
  try {
    if (handle)
      co_await with_timeout(15ms, handle_the_outer_cancel(&dl, went_on));
    else
      co_await with_timeout(15ms, sleep(1h));
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}

void run_with_both_due_in_one_pass(bool handle, std::error_code* code, bool* went_on) {
  loop l;
  bool done = false;
  spawn(l, within_an_outer_deadline(handle, code, went_on, &done));
  l.run_once(0ms);                    // both timers armed, the task asleep
  std::this_thread::sleep_for(30ms);  // a stall: both are due in one timer pass
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 2s));
}
}  // namespace

TEST(with_timeout, keeps_its_limit_when_an_outer_deadline_due_in_the_same_pass_moves_on) {
  std::error_code code;
  bool went_on = false;
  run_with_both_due_in_one_pass(true, &code, &went_on);
  EXPECT_TRUE(went_on);
  EXPECT_EQ(code, std::errc::timed_out);
}

// ... while the outer deadline's cancel, not handled, is still the one
// reported: it came first (see a_cancel_that_comes_first_is_reported_as_a_cancel).
TEST(with_timeout, reports_an_outer_deadline_due_first_in_the_same_pass_as_a_cancel) {
  std::error_code code;
  bool went_on = false;
  run_with_both_due_in_one_pass(false, &code, &went_on);
  EXPECT_EQ(code, std::errc::operation_canceled);
}

// within() is with_timeout for code to which a timeout is an ordinary end:
// no exception, so the code that handles it may wait (C++ allows no
// co_await in a catch block), as a goodbye to a client gone quiet does.
// Found wanting by an API review, where the natural code did not compile.
namespace {
task<void> greet_or_give_up(tcp_stream* s, bool* done) {
  std::optional<std::string_view> line = co_await within(20ms, s->read_until('\n', 100));
  if (!line) co_await s->write_all("too slow\n");  // waits, as no catch block may
  *done = true;
}
}  // namespace

TEST(within, a_timeout_is_an_empty_result_and_the_task_goes_on) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  bool done = false;
  spawn(l, greet_or_give_up(&s, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  char buf[32] = {};
  ASSERT_EQ(::recv(a.get(), buf, sizeof buf, MSG_DONTWAIT), 9);
  EXPECT_STREQ(buf, "too slow\n");
}

TEST(within, gives_the_value_or_for_a_void_operation_whether_it_ended) {
  loop l;
  std::optional<int> value;
  bool slept = false, cut = true, done = false;
  auto run = [](std::optional<int>* v, bool* s, bool* c, bool* d) -> task<void> {
    *v = co_await within(1s, slow_value());
    *s = co_await within(1s, sleep(1ms));
    *c = co_await within(1ms, sleep(1s));
    *d = true;
  };
  spawn(l, run(&value, &slept, &cut, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(value, 7);
  EXPECT_TRUE(slept);
  EXPECT_FALSE(cut);
  EXPECT_EQ(l.timer_count(), 0u);
}

// Only its own timeout is a result: the task's cancellation, and the
// operation's own failure, still throw.
TEST(within, a_cancel_of_the_task_still_throws) {
  loop l;
  semaphore sem(0);
  std::error_code code;
  bool done = false;
  green_thread g = spawn(l, acquire_within(&sem, 1s, &code, &done, /*as_result=*/true));
  l.run_once(0ms);
  g.cancel();
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, std::errc::operation_canceled);
}
