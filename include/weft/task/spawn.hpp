#pragma once
// spawn: run a task<void> as a green thread on a loop (Eventlet's spawn).
//
//   weft::spawn(loop, serve(std::move(stream)), "echo");
//
// The green thread owns its frames and frees them when it ends. An uncaught
// exception ends that green thread alone: it is logged with the name, the
// frame unwinds (so sockets it owns close), and the loop and every other
// task go on. No OS thread is created.
//
// The returned handle may be ignored (spawn_n style). It stays safe to use
// after the task ends: cancel() then does nothing.
//
// Threading: call spawn on the loop's thread (post() to reach it from others).
// The task first runs on the loop's next ready phase, not inside spawn().
//
// Pass what the task needs as its arguments, not as a lambda's captures:
// `spawn(l, [&]() -> task<void> {...}(), "x")` keeps the captures in the
// lambda object, a temporary gone before the task first runs; a
// coroutine's parameters are copied into its frame. ASan may report it as
// stack-use-after-scope, and may not: the task can read the dead stack
// while it still holds the values, and seem to work (an API review's
// program did, at -O1 under ASan), so do not count on the sanitizer.

#include <weft/task/task.hpp>

#include <string>
#include <utility>

namespace weft {

namespace detail {
struct root_state;
}

class green_thread {
 public:
  green_thread() = default;
  green_thread(const green_thread& o) noexcept;
  green_thread& operator=(const green_thread& o) noexcept;
  green_thread(green_thread&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
  green_thread& operator=(green_thread&& o) noexcept {
    std::swap(state_, o.state_);
    return *this;
  }
  ~green_thread();
  // Cancels the task's current operation; it resumes with
  // std::errc::operation_canceled (a std::system_error), and every later
  // operation fails the same way, one that could finish at once too (a
  // free permit, a queued item, yield_now). The exception: a tcp_stream
  // read or write whose bytes or room are ready learns of the cancel only
  // when it would wait, after at most 64 such in a row (ready_budget).
  // A cancel is for good: a task that catches it should clean up without
  // waiting and end, since retrying spins without ever suspending.
  // Loop thread.
  void cancel() noexcept;
  bool done() const noexcept;
  const std::string& name() const noexcept;

 private:
  friend green_thread spawn(loop&, task<void>, const char*);
  explicit green_thread(detail::root_state* s) noexcept : state_(s) {}
  detail::root_state* state_ = nullptr;  // reference-counted; loop thread only
};

// `name` appears in logs. spawn copies it into the handle's shared state;
// spawn_n and task_group::spawn keep the pointer, so theirs must outlive
// the task: pass a string literal. (A std::string per green thread would
// cost 32 bytes per idle connection.)
green_thread spawn(loop& l, task<void> t, const char* name = "task");
// Detached, with no handle: saves the handle's shared state (the Eventlet
// spawn_n). Used for one green thread per connection.
void spawn_n(loop& l, task<void> t, const char* name = "task");

}  // namespace weft
