#pragma once
// task<T>: a lazy, move-only coroutine that yields one T.
//
// A task starts when awaited, and on completion transfers control straight
// back to its awaiter (symmetric transfer, so deep chains of tasks never grow
// the stack, where the compiler makes that transfer a tail call: GCC at -O2
// and clang do; GCC at -O0 or -Og, and with ASan, do not, and a loop that
// awaits a million tasks that complete at once can overflow the stack
// there; docs/design.md). Exceptions propagate to the awaiter. Run a task detached with
// weft::spawn. Threading: a task runs on the loop thread of its green thread.
//
//   weft::task<int> answer() { co_return 42; }
//   weft::task<void> f() { int x = co_await answer(); }

#include <weft/task/context.hpp>

#include <cassert>
#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

namespace weft {

template <class T = void>
class task;

namespace detail {

// Frame accounting, for the memory figures in bench/README.md: every task
// frame is allocated through these, so tests can measure frame sizes.
void* allocate_frame(std::size_t size);
void free_frame(void* p, std::size_t size) noexcept;

struct promise_base {
  task_context* ctx = nullptr;
  std::coroutine_handle<> continuation;
  std::exception_ptr error;

  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      promise_base& p = h.promise();
      if (p.continuation) return p.continuation;
      // A task with a context but no awaiter is the outermost task of a
      // green thread: its end ends the green thread. There is no separate
      // root coroutine: it would cost a frame per connection.
      if (p.ctx != nullptr) finish_green_thread(p.ctx, p.error);
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };

  std::suspend_always initial_suspend() noexcept { return {}; }
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* p, std::size_t size) noexcept { free_frame(p, size); }
};

template <class T>
struct promise : promise_base {
  std::optional<T> value;
  task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (error) std::rethrow_exception(error);
    return std::move(*value);
  }
};

template <>
struct promise<void> : promise_base {
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::promise<T>;
  using handle = std::coroutine_handle<promise_type>;

  task() noexcept = default;
  explicit task(handle h) noexcept : h_(h) {}
  task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (h_) h_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return !h_ || h_.done(); }

  struct awaiter {
    handle h;
    bool await_ready() const noexcept { return !h || h.done(); }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
      h.promise().continuation = caller;
      h.promise().ctx = detail::context_of(caller);
      return h;
    }
    T await_resume() {
      if (!h) [[unlikely]]
        throw_empty();
      return h.promise().take();
    }
  };
  awaiter operator co_await() && noexcept { return awaiter{h_}; }
  // A task with no frame (default-made, or moved from) throws
  // std::logic_error when awaited.
  [[noreturn]] static void throw_empty() {
    throw std::logic_error("weft: awaited a task with no coroutine (moved from?)");
  }

  // For the runtime: give up ownership of the frame.
  handle release() noexcept { return std::exchange(h_, {}); }

 private:
  handle h_;
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<promise<T>>::from_promise(*this));
}
inline task<void> promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<promise<void>>::from_promise(*this));
}
}  // namespace detail

// Bytes of task frames, and how many frames, that the calling thread made
// and has not freed: counted per thread, so that counting costs no atomic
// traffic between loops. A frame made on one thread and freed on another
// leaves the first's figures too high and the second's too low (they
// wrap). For measuring what an idle green thread costs.
std::size_t task_frame_bytes() noexcept;
std::size_t task_frame_count() noexcept;

}  // namespace weft
