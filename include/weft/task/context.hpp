#pragma once
// The per-green-thread context that cancellation and timeouts work through.
// Users rarely touch this; awaitables do.
//
// Every spawned task has one context, allocated beside its root frame by
// spawn. Each task<T> awaited inside it inherits a pointer to it. At most one operation of a
// green thread is suspended at a time, so the context records that one
// operation's cancel hook. Cancelling calls the hook, which really stops the
// operation (removes the fd interest, the timer, or the queue entry) and
// resumes the task with std::errc::operation_canceled.
//
// Threading: a context belongs to its task's loop thread.

#include <weft/core/loop.hpp>

#include <coroutine>
#include <exception>
#include <system_error>

namespace weft {
class task_group;
}

namespace weft::detail {

struct cancel_hook {
  void (*cancel)(cancel_hook* self) noexcept = nullptr;
};

// Scopes nest: with_timeout pushes one. A cancelled scope fails every
// operation started inside it, at once, without suspending (a ready stream
// operation: see green_thread::cancel).
struct cancel_scope {
  cancel_scope* parent = nullptr;
  bool cancelled = false;
  // This scope or one around it is cancelled (not one inside it).
  bool in_effect() const noexcept {
    for (const cancel_scope* s = this; s != nullptr; s = s->parent)
      if (s->cancelled) return true;
    return false;
  }
};

struct root_state;

// 72 bytes, so that with malloc's header it takes an 80-byte chunk: it is
// part of what every idle connection costs (bench/README.md).
struct task_context {
  loop* owner = nullptr;
  cancel_hook* pending = nullptr;  // the suspended operation, if cancellable
  cancel_scope* scope = nullptr;   // innermost with_timeout scope, if any
  // A green thread spawned with a handle keeps its name in the handles'
  // shared state (one reference); one without keeps the literal. Sharing
  // the slot keeps the context at 72 bytes.
  union {
    const char* name = "task";
    root_state* handle;
  };
  task_group* group = nullptr;  // the group it belongs to, if any
  // Links in the owner loop's list of green threads (green_threads), in
  // which a group's members lie together.
  task_context* prev = nullptr;
  task_context* next = nullptr;
  void* root = nullptr;         // the outermost frame, destroyed with the loop
  bool root_cancelled = false;  // green_thread::cancel or task_group::cancel_all
  bool has_handle = false;      // `handle`, not `name`, is set
  // Its loop is destroying it: cancelled, it will never resume, so an
  // operation need keep nothing for it to read.
  bool destroying = false;

  bool cancelled() const noexcept {
    return root_cancelled || (scope != nullptr && scope->in_effect());
  }
  // Cancels the innermost suspended operation, marking `s` cancelled first.
  void cancel(cancel_scope& s) noexcept {
    s.cancelled = true;
    cancel_pending();
  }
  // Cancels the whole green thread.
  void cancel_root() noexcept {
    root_cancelled = true;
    cancel_pending();
  }
  void cancel_pending() noexcept {
    if (cancel_hook* h = pending) {
      pending = nullptr;
      h->cancel(h);
    }
  }
};

// Called by the outermost task's final suspend: logs an escaped exception,
// frees the frame and the context. Defined in spawn.cpp.
void finish_green_thread(task_context* ctx, const std::exception_ptr& error) noexcept;

// Finds the context of the coroutine awaiting, if it is a weft task.
template <class Promise>
task_context* context_of(std::coroutine_handle<Promise> h) noexcept {
  if constexpr (requires { h.promise().ctx; }) {
    return h.promise().ctx;
  } else {
    return nullptr;
  }
}

inline std::error_code canceled_error() noexcept {
  return std::make_error_code(std::errc::operation_canceled);
}

// Resumes a coroutine from the loop's ready phase, not from inside whoever
// triggered it: a semaphore release must not run the waiter's code on the
// releaser's stack. `ctx` is the coroutine's task context: a green thread's
// resumption is one the loop drops if it destroys its green threads, and
// another coroutine's (ctx null) is kept. A cancel hook runs only for a
// green thread, so it needs no ctx.
inline void resume_later(loop& l, std::coroutine_handle<> h, const task_context* ctx) {
  l.defer_resume(h, ctx != nullptr ? loop::resumption::green_thread : loop::resumption::other);
}
inline void resume_later(loop& l, std::coroutine_handle<> h) {
  l.defer_resume(h);
}

}  // namespace weft::detail
