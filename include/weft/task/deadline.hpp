#pragma once
// deadline: a green thread's time limit that moves cheaply and often.
//
//   detail::task_context* me = co_await detail::this_context{};
//   deadline dl(*me);
//   dl.expires_after(idle_timeout);
//   std::size_t n = co_await stream.read_more(cap);  // canceled once the deadline passes
//
// with_timeout arms a timer and cancels it on every call. A server that
// moves its limit on every request (idle wait, head, body, write) would pay
// a timer-heap insert and erase each time, plus a coroutine frame. deadline
// keeps one loop timer and moves it lazily: a later deadline is only
// recorded; the timer fires at the earlier time, sees that the deadline
// moved, and re-arms for it. Only a deadline earlier than the armed timer
// re-arms at once. A keep-alive connection so touches the timer heap about
// once per timeout period instead of twice per request (bench/http/README.md).
//
// When the deadline passes, the operation the green thread is waiting in
// (or the next one it starts) fails with std::errc::operation_canceled, and
// expired() is true. Setting a new deadline, or clear(), forgets an expiry
// not yet observed. While clear, operations are not bounded by it.
//
// Threading: inside one green thread, on its loop thread. Not movable: the
// timer refers to it. Deadlines and with_timeout nest like scopes (LIFO).

#include <weft/core/loop.hpp>
#include <weft/core/time.hpp>
#include <weft/task/context.hpp>

namespace weft {

class deadline {
 public:
  explicit deadline(detail::task_context& ctx) noexcept;
  ~deadline();
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  // From the loop's cached time (read once per loop iteration).
  void expires_after(duration d) { expires_at(saturating_add(ctx_.owner->now(), d)); }
  void expires_at(time_point t);
  void clear() noexcept;
  bool expired() const noexcept { return expired_; }

 private:
  void arm(time_point t);
  void on_timer() noexcept;

  detail::task_context& ctx_;
  detail::cancel_scope scope_;
  time_point at_ = time_point::max();  // max: no deadline
  time_point armed_at_{};              // when the timer fires, if armed
  timer_id timer_ = no_timer;
  bool expired_ = false;
};

}  // namespace weft
