#pragma once
// Loop-aware synchronization for green threads. None of these ever blocks
// the OS thread: a waiting task is suspended and the loop runs others.
// Waiters are woken in FIFO order on the loop's ready phase. Every wait is
// cancellable (it leaves the queue) and works under with_timeout.
//
// Threading: each object belongs to one loop thread; all of its waiters
// must be green threads on that loop. One destroyed while green threads
// wait on it leaves them suspended until they are cancelled or their loop
// goes (wait.hpp). What a wake hands over (a semaphore's permit, a
// channel's value) is the waiter's from then on: a green thread destroyed
// after it was woken and before it ran (loop::destroy_green_threads, or its
// loop's end) takes it with it, as a handler that Asio destroys takes what
// its completion carried; a wait cut by a cancel first takes nothing.

#include <weft/task/task.hpp>
#include <weft/task/wait.hpp>

#include <cstddef>
#include <utility>

namespace weft {

// A counting semaphore. Fair: release() hands the permit straight to the
// longest waiter, so a newcomer cannot barge past the queue.
class semaphore {
 public:
  explicit semaphore(std::size_t permits) noexcept : count_(permits) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  struct acquire_awaiter : detail::queued_wait {
    semaphore* sem;
    bool await_ready() const noexcept { return false; }  // see caller_cancelled
    template <class P>
    bool await_suspend(std::coroutine_handle<P> caller) {
      if (detail::caller_cancelled(caller)) return canceled = true, false;
      if (sem->try_acquire() || !begin(caller, &on_cancel)) return false;
      sem->waiters_.push_back(this);
      return true;
    }
    void await_resume() const { throw_if_canceled(); }
    static void on_cancel(detail::cancel_hook* self) noexcept;
  };

  acquire_awaiter acquire() noexcept {
    acquire_awaiter a;
    a.sem = this;
    return a;
  }
  bool try_acquire() noexcept;
  // Hands n permits to the waiters first, in arrival order, and counts the
  // rest (at most SIZE_MAX).
  void release(std::size_t n = 1) noexcept;
  std::size_t available() const noexcept { return count_; }

 private:
  std::size_t count_;
  detail::wait_queue waiters_;
};

// A one-shot flag that tasks wait for. set() wakes every waiter; reset()
// re-arms it.
class event {
 public:
  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  struct wait_awaiter : detail::queued_wait {
    event* ev;
    bool await_ready() const noexcept { return false; }  // see caller_cancelled
    template <class P>
    bool await_suspend(std::coroutine_handle<P> caller) {
      if (detail::caller_cancelled(caller)) return canceled = true, false;
      if (ev->set_ || !begin(caller, &on_cancel)) return false;
      ev->waiters_.push_back(this);
      return true;
    }
    void await_resume() const { throw_if_canceled(); }
    static void on_cancel(detail::cancel_hook* self) noexcept;
  };

  wait_awaiter wait() noexcept {
    wait_awaiter a;
    a.ev = this;
    return a;
  }
  void set() noexcept;
  void reset() noexcept { set_ = false; }
  bool is_set() const noexcept { return set_; }

 private:
  bool set_ = false;
  detail::wait_queue waiters_;
};

// A gate counts running tasks so that shutdown can wait for them (Seastar's
// gate, Go's WaitGroup). enter() fails once close() was called.
//
// A gate may go before the holders in green threads' frames (a server
// destroyed before its loop, which then destroys the frames): it detaches
// them, and they leave nothing.
class gate {
 public:
  gate() noexcept { idle_.set(); }
  ~gate();
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  // RAII: holds the gate open for one task. Movable, so it can be passed
  // by value into a connection's coroutine. Linked into its gate's list.
  class holder {
   public:
    holder() = default;
    holder(holder&& o) noexcept { take(o); }
    holder& operator=(holder&& o) noexcept {
      if (this != &o) {
        release();
        take(o);
      }
      return *this;
    }
    ~holder() { release(); }
    void release() noexcept;

   private:
    friend class gate;
    void take(holder& o) noexcept;  // o's place in the list, and its gate
    gate* g_ = nullptr;
    holder* prev_ = nullptr;
    holder* next_ = nullptr;
  };

  bool try_enter() noexcept;
  // Throws std::system_error(operation_canceled) if the gate is closed.
  holder enter();
  void leave() noexcept;
  // Stops new entries. Then wait for the count to reach zero with wait().
  void close() noexcept { closed_ = true; }
  bool closed() const noexcept { return closed_; }
  std::size_t count() const noexcept { return count_; }
  // Resumes when the count is zero, and only then: a task that enters
  // between the last leave and the waiter's turn makes it wait on (it once
  // resumed with the count at 1, found by review). It looks at the gate as
  // it resumes: the gate must outlive the wait.
  task<void> wait();

 private:
  std::size_t count_ = 0;
  bool closed_ = false;
  event idle_;  // set while count_ is zero
  holder* holders_ = nullptr;
};

}  // namespace weft
