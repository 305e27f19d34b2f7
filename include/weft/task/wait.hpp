#pragma once
// Building blocks for awaitables that suspend a green thread and can be
// cancelled. Every weft awaitable that suspends derives from wait_base.
// Threading: loop thread of the waiting task.

#include <weft/task/context.hpp>

#include <coroutine>
#include <stdexcept>
#include <system_error>

namespace weft::detail {

// The loop that an operation awaited from `ctx` runs on: its green
// thread's, or, outside one (ctx null), the loop running now. Outside both
// there is no loop to resume the waiter: std::logic_error.
inline loop& loop_for(task_context* ctx) {
  loop* l = ctx ? ctx->owner : loop::current();
  if (l == nullptr) throw std::logic_error("weft: awaited outside a running loop");
  return *l;
}

struct wait_base : cancel_hook {
  task_context* ctx = nullptr;
  loop* owner = nullptr;
  std::coroutine_handle<> h;
  bool canceled = false;
  bool queue_gone = false;  // queued_wait: its queue was destroyed under it

  // Records the waiter. Returns false, without suspending, if the task is
  // already cancelled: the operation then fails at once.
  template <class P>
  bool begin(std::coroutine_handle<P> caller, void (*on_cancel)(cancel_hook*) noexcept) {
    h = caller;
    ctx = context_of(caller);
    owner = &loop_for(ctx);
    if (ctx && ctx->cancelled()) {
      canceled = true;
      return false;
    }
    cancel = on_cancel;
    if (ctx) ctx->pending = this;
    return true;
  }
  // The operation completed: it can no longer be cancelled.
  void finish() noexcept {
    if (ctx && ctx->pending == this) ctx->pending = nullptr;
  }
  void wake_now() noexcept {
    finish();
    h.resume();
  }
  void wake_later() noexcept {
    finish();
    resume_later(*owner, h, ctx);
  }
  void throw_if_canceled() const {
    if (canceled) throw std::system_error(canceled_error());
  }
};

// Whether the awaiting green thread is cancelled. An operation that could
// finish without waiting asks too, in await_suspend, since await_ready
// cannot see its caller: a cancelled task fails every operation at once
// (context.hpp), or one that always found a permit, an item or room ran on
// for good after its cancel (a worker took ~560,000 more jobs in 500 ms).
template <class P>
bool caller_cancelled(std::coroutine_handle<P> caller) noexcept {
  const task_context* c = context_of(caller);
  return c != nullptr && c->cancelled();
}

// An intrusive FIFO of waiters: no allocation to wait.
struct queued_wait : wait_base {
  queued_wait* next = nullptr;
  queued_wait* prev = nullptr;
};

// A queue destroyed under its waiters (an event that goes before the loop
// whose green threads wait on it) detaches them: cancelling one then leaves
// the dead queue alone, which the loop's teardown relies on. The waiters
// themselves are never resumed.
class wait_queue {
 public:
  wait_queue() = default;
  wait_queue(const wait_queue&) = delete;
  wait_queue& operator=(const wait_queue&) = delete;
  ~wait_queue() {
    for (queued_wait* w = head_; w != nullptr; w = w->next) w->queue_gone = true;
  }
  bool empty() const noexcept { return head_ == nullptr; }
  void push_back(queued_wait* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    (tail_ ? tail_->next : head_) = w;
    tail_ = w;
  }
  queued_wait* front() const noexcept { return head_; }
  queued_wait* pop_front() noexcept {
    queued_wait* w = head_;
    if (w) remove(w);
    return w;
  }
  void remove(queued_wait* w) noexcept {
    (w->prev ? w->prev->next : head_) = w->next;
    (w->next ? w->next->prev : tail_) = w->prev;
    w->next = w->prev = nullptr;
  }

 private:
  queued_wait* head_ = nullptr;
  queued_wait* tail_ = nullptr;
};

// The task context of the awaiting coroutine, without suspending.
struct this_context {
  task_context* ctx = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    ctx = context_of(h);
    return false;
  }
  task_context* await_resume() const noexcept { return ctx; }
};

}  // namespace weft::detail
