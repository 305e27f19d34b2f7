#pragma once
// with_timeout: bound any awaitable (a task, a read, a semaphore wait) in time.
//
//   auto line = co_await weft::with_timeout(5s, stream.read_until('\n', 4096));
//
// When the time runs out, the wrapped operation is cancelled, not just
// abandoned: the pending read loses its fd interest, the pending wait leaves
// its queue. The caller then gets std::system_error(std::errc::timed_out).
// If the operation finishes first, the timer is cancelled.
//
// within: the same, where a timeout is an ordinary end rather than an
// error: the operation's result, or std::nullopt when the time ran out
// (for an operation with no result, whether it ended in time). C++ allows
// no co_await in a catch block, so code that answers a timeout by waiting
// (a goodbye to a client gone quiet) is written with it:
//
//   auto line = co_await weft::within(5s, stream.read_until('\n', 4096));
//   if (!line) co_await stream.write_all("too slow\n");
//
// Only its own timeout is a result: the task's cancellation and the
// operation's own errors still throw.
// Threading: inside a green thread (spawned task), on its loop thread.

#include <weft/task/task.hpp>
#include <weft/task/wait.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
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
  // In a catch block: rethrows what is not this timeout's.
  void rethrow_unless_timed_out(const std::system_error& e) const {
    if (!timed_out() || e.code() != std::errc::operation_canceled) throw;
  }

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

inline task_context& context_for_timeout(task_context* ctx, const char* who) {
  if (ctx == nullptr) throw std::logic_error(std::string(who) + ": not inside a spawned task");
  return *ctx;
}

template <class A>
using within_result_t = std::conditional_t<std::is_void_v<await_result_t<A>>, bool,
                                           std::optional<std::remove_cvref_t<await_result_t<A>>>>;
}  // namespace detail

template <class A>
task<detail::await_result_t<A>> with_timeout(duration d, A op) {
  detail::timeout_guard guard(
      detail::context_for_timeout(co_await detail::this_context{}, "weft::with_timeout"), d);
  try {
    co_return co_await std::move(op);
  } catch (const std::system_error& e) {
    guard.rethrow_unless_timed_out(e);
  }
  throw std::system_error(std::make_error_code(std::errc::timed_out));
}

template <class A>
task<detail::within_result_t<A>> within(duration d, A op) {
  detail::timeout_guard guard(
      detail::context_for_timeout(co_await detail::this_context{}, "weft::within"), d);
  try {
    if constexpr (std::is_void_v<detail::await_result_t<A>>) {
      co_await std::move(op);
      co_return true;
    } else {
      co_return co_await std::move(op);
    }
  } catch (const std::system_error& e) {
    guard.rethrow_unless_timed_out(e);
  }
  co_return detail::within_result_t<A>{};  // false, or nullopt
}

}  // namespace weft
