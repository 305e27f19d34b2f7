#pragma once
// task_group: green threads that end together. A server spawns each
// connection into a group; at shutdown it cancels the group and waits for it
// to empty (Seastar's gate plus a way to cancel, Trio's nursery).
//
//   group.spawn(loop, serve(std::move(stream)), "echo");
//   ...
//   group.cancel_all();
//   co_await group.wait();
//
// Threading: one loop thread; every member runs on that loop.

#include <weft/task/sync.hpp>
#include <weft/task/task.hpp>

#include <string>

namespace weft {

class task_group {
 public:
  task_group() noexcept { idle_.set(); }
  // Members still running are detached, not cancelled: they go on alone
  // (and are destroyed with their loop, if it goes first).
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  void spawn(loop& l, task<void> t, const char* name = "task");  // name: a literal
  // Cancels every member's current operation (see green_thread::cancel).
  // Members spawned later are not cancelled.
  void cancel_all() noexcept;
  std::size_t size() const noexcept { return size_; }
  // Resumes when the group has no members, none at all when it does: a
  // member spawned between the last one's end and the waiter's turn (an
  // accept loop in the same batch) once found it resuming on a busy group.
  // It looks at the group as it resumes: the group must outlive the wait.
  task<void> wait();

  // For the runtime: membership bookkeeping. add links a new member into
  // its loop's list of green threads.
  void add(loop& l, detail::task_context* ctx) noexcept;
  void remove(detail::task_context* ctx) noexcept;

 private:
  // The members lie together in their loop's list of green threads, from
  // this one on, so the group is walked without walking the loop's others.
  detail::task_context* first_ = nullptr;
  std::size_t size_ = 0;
  event idle_;
};

}  // namespace weft
