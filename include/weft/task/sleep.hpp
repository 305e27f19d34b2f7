#pragma once
// Awaitables for time and fd readiness.
//
//   co_await weft::sleep(100ms);
//   co_await weft::readable(fd);      // level-triggered by default
//
// Both are cancellable: cancelling removes the timer or the fd interest,
// and the task resumes with std::errc::operation_canceled.
// Threading: loop thread of the awaiting task.

#include <weft/task/wait.hpp>

namespace weft {

namespace detail {
struct sleep_awaiter : wait_base {
  duration delay;
  timer_id timer = no_timer;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> caller) {
    if (!begin(caller, &on_cancel)) return false;
    try {
      timer = owner->run_after(delay, [this] { wake_now(); });
    } catch (...) {
      finish();  // not waiting after all: nothing is left to cancel
      throw;
    }
    return true;
  }
  void await_resume() const { throw_if_canceled(); }

  static void on_cancel(cancel_hook* self) noexcept {
    auto* s = static_cast<sleep_awaiter*>(self);
    s->owner->cancel(s->timer);
    s->canceled = true;
    resume_later(*s->owner, s->h);
  }
};

struct fd_awaiter : wait_base, io_waiter {
  int fd;
  uint32_t direction;
  trigger trig;
  uint32_t events = 0;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> caller) {
    if (!begin(caller, &on_cancel)) return false;
    on_ready = [](io_waiter* w, uint32_t ev) {
      auto* s = static_cast<fd_awaiter*>(w);
      s->events = ev;
      s->wake_now();
    };
    bool waits;
    try {
      // An edge kept from before gives its events, or the task would learn
      // of no readiness at all (found by review).
      waits = owner->io_wait(fd, direction, trig, this, &events);
    } catch (...) {
      // epoll refused the fd (a regular file, a closed fd): not waiting, so
      // nothing is left to cancel. Left pending, a later cancel ran this
      // dead awaiter's hook and resumed the task twice (found by review).
      finish();
      throw;
    }
    if (waits) return true;
    finish();  // an edge already arrived: no need to suspend
    return false;
  }
  // The epoll events that woke the task.
  uint32_t await_resume() const {
    throw_if_canceled();
    return events;
  }

  // Only this wait is let go: the fd's owner may have gone (a listener
  // destroyed under its accept) and its number be another's, waited on,
  // whose wait a cancel once dropped (it never woke).
  static void on_cancel(cancel_hook* self) noexcept {
    auto* s = static_cast<fd_awaiter*>(self);
    s->owner->io_unwait(s->fd, s->direction, s);
    s->canceled = true;
    resume_later(*s->owner, s->h);
  }
};
}  // namespace detail

// Gives the loop a turn: the task resumes on the next ready phase, after
// other ready tasks and a non-blocking poll. A task that keeps finding work
// without waiting (a long pipeline) yields now and then, for fairness, and
// so that a chain of synchronously completing awaits cannot deepen the
// stack in builds where symmetric transfer is not a tail call (-O0).
// A cancelled task's yield fails at once, as its other operations do.
struct yield_awaiter {
  bool canceled = false;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    detail::task_context* ctx = detail::context_of(h);
    if (ctx != nullptr && ctx->cancelled()) return canceled = true, false;
    detail::resume_later(detail::loop_for(ctx), h, ctx);
    return true;
  }
  void await_resume() const {
    if (canceled) throw std::system_error(detail::canceled_error());
  }
};
inline yield_awaiter yield_now() noexcept {
  return {};
}

// Suspends for `d` (at least one loop turn, even for zero).
inline detail::sleep_awaiter sleep(duration d) noexcept {
  detail::sleep_awaiter a;
  a.delay = d;
  return a;
}

// Suspends until fd is readable/writable. The fd must not be registered in
// watch mode (io_watcher) at the same time. Call loop::io_forget(fd) before
// closing an fd that was waited on. Throws std::logic_error for an fd an
// io_watcher holds, or one another green thread already waits on in the
// same direction; std::system_error when epoll refuses the fd (a regular
// file, or out of memory).
inline detail::fd_awaiter readable(int fd, trigger t = trigger::level) noexcept {
  detail::fd_awaiter a;
  a.fd = fd;
  a.direction = io::readable;
  a.trig = t;
  return a;
}
inline detail::fd_awaiter writable(int fd, trigger t = trigger::level) noexcept {
  detail::fd_awaiter a;
  a.fd = fd;
  a.direction = io::writable;
  a.trig = t;
  return a;
}

}  // namespace weft
