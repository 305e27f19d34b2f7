#pragma once
// weft::loop: one epoll reactor, owned by and run on one thread.
//
// Threading: a loop belongs to the thread that runs it (run() or
// run_once()), and before that to the one that made it. Only post() and
// stop() may be called from other threads; everything else is loop-thread
// only (in_loop_thread() tells; nothing checks it for you). There is no
// hidden global loop: loop::current() is a thread-local convenience that is
// set while run() or run_once() executes.
//
// Phases of one turn (see docs/design.md for why in this order):
//   1. poll     epoll_wait, with a timeout from the nearest timer (0 when work is ready)
//   2. io       dispatch the fetched events; a watcher removed earlier in the
//               same batch never sees its event (generation check)
//   3. timers   run the expired timers in (deadline, start order)
//   4. posted   run functions post()ed from other threads
//   5. ready    run deferred work (resumed green threads) queued by 2-4

#include <weft/core/time.hpp>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace weft {

// Event bits, equal to the EPOLL* values so no translation is needed.
namespace io {
inline constexpr uint32_t readable = 0x001;
inline constexpr uint32_t writable = 0x004;
inline constexpr uint32_t error = 0x008;
inline constexpr uint32_t hangup = 0x010;
inline constexpr uint32_t peer_closed = 0x2000;  // EPOLLRDHUP
// The peer closed, reset, or the socket failed: a read short of its
// buffer no longer proves the next would say EAGAIN.
inline constexpr uint32_t peer_end = peer_closed | hangup | error;
}  // namespace io

// Level-triggered: the loop reports an fd while it stays ready.
// Edge-triggered: only when it becomes ready; the handler must drain until EAGAIN.
enum class trigger : uint8_t { level, edge };

using timer_id = uint64_t;
inline constexpr timer_id no_timer = 0;

namespace detail {
// Something waiting on an fd. The loop calls on_ready with the epoll events.
// Intrusive and allocation-free: green-thread operations embed one in the
// awaiter that lives in the coroutine frame.
struct io_waiter {
  void (*on_ready)(io_waiter* self, uint32_t events) = nullptr;
};
class timer_heap;
struct task_context;
struct green_threads;  // src/task/spawn.cpp: the list below, and its teardown
struct signal_fanout;  // src/core/signal_fanout.cpp: a signal for every loop that asks
}  // namespace detail

class loop {
 public:
  loop();
  // Green threads still suspended on the loop are destroyed first, frames
  // and all, as Asio's io_context destroys unfinished handlers: what they
  // own (sockets, timers, queue places) is released, and they never resume.
  ~loop();
  loop(const loop&) = delete;
  loop& operator=(const loop&) = delete;

  // The loop running on the calling thread, or nullptr.
  static loop* current() noexcept;

  // Runs until stop(). Loop thread. An exception from a callback leaves
  // run() (or run_once()) and the loop stays usable, as Asio's io_context
  // does: the callback that threw is done, and the rest of its batch runs
  // when the loop runs again.
  void run();
  // Runs one turn, waiting at most `max_wait` for events. For tests and embedding.
  void run_once(duration max_wait);
  // Makes run() return after the current turn. Safe from any thread (it
  // takes a lock: not from a signal handler, which signalfd replaces). A
  // stop() that no run() consumes (one before run(), or on a loop driven by
  // run_once()) makes the next run() return at once, as with Asio and
  // libuv; restart() forgets it.
  void stop() noexcept;
  // Forgets a stop() that no run() has consumed (Asio's restart()). Loop
  // thread, or the controlling thread while no run() is under way.
  void restart() noexcept { stop_.store(false, std::memory_order_relaxed); }
  bool stopping() const noexcept { return stop_.load(std::memory_order_relaxed); }

  // Runs fn on the loop thread on a later turn. Safe from any thread; wakes
  // the loop through its eventfd.
  void post(std::function<void()> fn);

  // Runs fn on this turn's ready phase (or the next turn's). Loop thread.
  // The raw form allocates nothing; green threads use it to resume.
  void defer(void (*fn)(void*), void* ctx);
  void defer(std::function<void()> fn);
  // Resumes a suspended coroutine on the ready phase: how green threads
  // wake. The loop knows these entries, so that destroy_green_threads()
  // drops a green thread's with the frame it points at, and keeps another
  // coroutine's.
  enum class resumption : uint8_t { green_thread, other };
  void defer_resume(std::coroutine_handle<> h, resumption r = resumption::green_thread);
  // Drops what is queued and has not run yet: every entry of defer(fn, ctx)
  // (or defer_resume(h), of either kind) with these arguments. For an
  // object that goes while its deferred step is queued. O(queued): teardown
  // paths only.
  void undefer(void (*fn)(void*), void* ctx) noexcept;
  void undefer_resume(std::coroutine_handle<> h) noexcept;

  // Timers. Loop thread. O(log n) add and cancel; equal deadlines fire in
  // the order they were started. cancel() returns false if the timer already
  // fired or was cancelled; cancelling a timer from its own callback is fine.
  // run_every keeps its beat: after a stall of a period or more it fires
  // once, then on its next beat after the stall (missed beats are skipped).
  timer_id run_after(duration delay, std::function<void()> fn);
  timer_id run_every(duration interval, std::function<void()> fn);
  bool cancel(timer_id id) noexcept;
  size_t timer_count() const noexcept;

  // The time cached at the start of this turn: reading the clock once per turn
  // is cheaper than once per timer. Loop thread.
  time_point now() const noexcept { return now_; }

  // Blocks the signals in the calling thread and delivers them through a
  // signalfd to fn on this loop. Call before starting other threads, so they
  // inherit the blocked mask. Loop thread. A second call replaces the set
  // and the function: a signal only the first set named, and that this call
  // blocked, is unblocked again (one of them that came and was not yet
  // read is not acted on: it goes to the loops of other threads that ask
  // for it, and this one no longer hears it). The signals stay blocked after the loop
  // goes, so that one arriving while a server exits cannot end it with a
  // signal's status instead of its own. Every loop that asks for a signal
  // hears it, on its own thread: the loop that reads it posts it to the
  // others (one signalfd read takes it from all of them). A program this
  // process starts inherits the blocked mask, and SIGTERM would not stop
  // it: unblock them for the child (posix_spawnattr_setsigmask, or
  // pthread_sigmask after fork), as libuv does when it spawns. A signal
  // that cannot be caught (SIGKILL, SIGSTOP, a number that is no signal,
  // glibc's own 32 and 33) throws std::invalid_argument, and nothing
  // changes.
  void on_signals(std::initializer_list<int> signals, std::function<void(int)> fn);

  // ---- fd registration, for weft's own layers (io_watcher, streams) ----
  // A registration is keyed by fd. Either one watcher gets every event
  // (watch mode), or a reader and a writer wait separately (wait mode; the
  // interest follows the waiters). io_forget() must come before close(),
  // also for a program's own fd that readable()/writable() waited on:
  // forgotten, a new fd of the same number was thought registered, and
  // its waits never woke (sleep.hpp).
  void io_watch(int fd, uint32_t events, trigger t, detail::io_waiter* w);
  void io_modify(int fd, uint32_t events);
  // Returns false, registering nothing, when an edge-triggered fd already
  // became ready in that direction while no one waited: the caller retries
  // its syscall instead of suspending (the edge will not come again). Then
  // `came`, when given, receives that edge's events: a reader learns the
  // peer had closed (io::peer_closed), which no later edge will say.
  [[nodiscard]] bool io_wait(int fd, uint32_t direction, trigger t, detail::io_waiter* w,
                             uint32_t* came = nullptr);
  void io_unwait(int fd, uint32_t direction) noexcept;
  // The same, only where `w` still waits: for a wait that may outlive the
  // owner of its fd, whose number may since wait for someone else.
  void io_unwait(int fd, uint32_t direction, const detail::io_waiter* w) noexcept;
  void io_forget(int fd) noexcept;

  bool in_loop_thread() const noexcept;

  // Destroys every green thread on this loop now, as ~loop does: pending
  // waits are cancelled, frames destroyed, and none resumes; the
  // resumptions queued for them are dropped. For a loop that has stopped,
  // on its own thread, so that the frames go before the objects they use
  // (loop_group does this when a loop's run() returns). The loop may run
  // again afterwards.
  void destroy_green_threads() noexcept;

 private:
  struct fd_entry {
    detail::io_waiter* reader = nullptr;  // in watch mode: the watcher
    detail::io_waiter* writer = nullptr;
    uint32_t gen = 0;   // bumped by io_forget: stale batch entries are skipped
    uint32_t mask = 0;  // events registered with epoll
    // Edge-triggered only: edges that came with no waiter; a readable one
    // with the peer_closed, hangup and error bits that came with it.
    uint32_t ready = 0;
    trigger trig = trigger::level;
    bool registered = false;  // added to epoll (possibly with no events)
    bool watch_mode = false;
    // Held by an io_watcher, in epoll or paused out of it (no events).
    bool watched() const noexcept { return watch_mode && reader != nullptr; }
  };
  struct deferred {
    void (*fn)(void*);
    void* ctx;
  };
  struct internal_waiter : detail::io_waiter {
    loop* self;
  };

  fd_entry& entry(int fd);
  void set_mask(int fd, fd_entry& e, uint32_t mask);
  void poll(duration max_wait);
  void dispatch(uint64_t data, uint32_t events);
  void run_posted();
  void run_posted_batch(std::vector<std::function<void()>>& batch);
  void run_ready();
  // Rewrites the queued entries that match (fn, and ctx unless any_ctx)
  // into no-ops, in ready_ and in the batch now running.
  void drop_deferred(void (*fn)(void*), const void* ctx, bool any_ctx) noexcept;
  void wake() noexcept;

  int epfd_ = -1;
  int wakefd_ = -1;
  int sigfd_ = -1;
  std::vector<fd_entry> fds_;
  std::unique_ptr<detail::timer_heap> timers_;
  std::vector<deferred> ready_;
  // The batches run_ready is running, innermost first: each lives in its
  // call's frame, as a callback may run the loop (a nested turn), which
  // once swapped a member batch out from under the one running.
  struct ready_batch {
    std::vector<deferred> entries;
    ready_batch* outer;
  };
  ready_batch* running_ = nullptr;
  void run_ready_batch(ready_batch& batch);
  std::vector<deferred> ready_spare_;  // a batch's capacity, kept between turns
  // What a throw left of a batch, run first on the next turn, in its own
  // storage: put back in front of ready_, it was a reallocation, which a
  // std::bad_alloc made throw again and lose it (found by review).
  std::vector<deferred> ready_rest_;
  // The rest of an epoll batch whose handler threw, dispatched first on the
  // next turn: an edge is reported once, so dropped it was lost for good.
  struct io_event {
    uint64_t data;
    uint32_t events;
  };
  std::vector<io_event> io_left_;
  time_point now_;
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> thread_{};
  internal_waiter wake_waiter_{}, signal_waiter_{};
  std::function<void(int)> on_signal_;
  uint64_t signals_wanted_ = 0;      // bit s-1: signal s, as on_signals named it
  uint64_t signals_we_blocked_ = 0;  // bit s-1: signal s was unblocked before on_signals
  friend struct detail::signal_fanout;

  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::function<void()>> posted_spare_;  // a batch's capacity; loop thread only
  std::vector<std::function<void()>>
      posted_rest_;              // what a throw left of a batch; loop thread only
  bool posted_waiting_ = false;  // loop thread only
  std::atomic<bool> wake_pending_{false};

  // Every green thread on this loop, an intrusive list through their
  // contexts; the core knows nothing of tasks but this hook to end them.
  friend struct detail::green_threads;
  detail::task_context* green_threads_ = nullptr;
  void (*destroy_green_threads_)(loop&) noexcept = nullptr;
};

// Runs `l` until stop(), as a loop_group's threads do: a callback that
// throws (one connection out of memory) is logged, and the loop goes on,
// as a green thread that throws ends only itself. Loop thread.
void run_until_stopped(loop& l) noexcept;

}  // namespace weft
