#pragma once
// with_timeout: bound any awaitable (a task, a read, a semaphore wait) in time.
//
//   auto line = co_await weft::with_timeout(5s, stream.read_until('\n', 4096));
//
// When the time runs out, the wrapped operation is cancelled, not just
// abandoned: the pending read loses its fd interest, the pending wait leaves
// its queue. The caller then gets std::system_error(std::errc::timed_out).
// If the operation finishes first, the timer is cancelled.
// Threading: inside a green thread (spawned task), on its loop thread.

#include <weft/task/task.hpp>
#include <weft/task/wait.hpp>

#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}
template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

// Pushes a cancel scope and arms a timer that cancels it.
class timeout_guard {
 public:
  // The timer is armed before the scope is pushed: if arming throws
  // (bad_alloc), no scope is left behind in a frame about to be freed.
  timeout_guard(task_context& ctx, duration d) : ctx_(ctx) {
    timer_ = ctx_.owner->run_after(d, [this] {
      timer_ = no_timer;
      // The limit has passed: what this scope's code waits in, now or from
      // now on, is cancelled. A cancel that came first (the task's, or a
      // scope's around this one) in the same timer pass ended the operation,
      // and is the one reported while it holds (timed_out()). It may not
      // hold: code that handles a deadline's cancel and moves the deadline
      // on is still bounded here; left uncancelled, it ran on with no limit
      // (found by review). A scope inside this one does not count: its code
      // may handle its own timeout and go on, and this limit still holds (an
      // inner deadline due in the same timer pass once hid it for good).
      ours_ = !outer_cancelled();
      fired_ = true;
      ctx_.cancel(scope_);
    });
    scope_.parent = ctx_.scope;
    ctx_.scope = &scope_;
  }
  ~timeout_guard() {
    ctx_.scope = scope_.parent;
    if (timer_ != no_timer) ctx_.owner->cancel(timer_);
  }
  timeout_guard(const timeout_guard&) = delete;
  timeout_guard& operator=(const timeout_guard&) = delete;
  // Whether an operation_canceled that ends the scope's operation is this
  // timeout's: it fired, and no cancel of the task or around this scope
  // came before it and still holds.
  bool timed_out() const noexcept { return fired_ && (ours_ || !outer_cancelled()); }

 private:
  bool outer_cancelled() const noexcept {
    return ctx_.root_cancelled || (scope_.parent != nullptr && scope_.parent->in_effect());
  }

  task_context& ctx_;
  cancel_scope scope_;
  timer_id timer_ = no_timer;
  bool fired_ = false;
  bool ours_ = false;  // nothing around it was cancelled when it fired
};
}  // namespace detail

template <class A>
task<detail::await_result_t<A>> with_timeout(duration d, A op) {
  detail::task_context* ctx = co_await detail::this_context{};
  if (ctx == nullptr) throw std::logic_error("weft::with_timeout: not inside a spawned task");
  detail::timeout_guard guard(*ctx, d);
  try {
    co_return co_await std::move(op);
  } catch (const std::system_error& e) {
    if (!guard.timed_out() || e.code() != std::errc::operation_canceled) throw;
  }
  throw std::system_error(std::make_error_code(std::errc::timed_out));
}

}  // namespace weft
