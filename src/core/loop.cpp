#include <weft/core/log.hpp>
#include <weft/core/loop.hpp>

#include <cassert>
#include <csignal>
#include <cstddef>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "core/signal_fanout.hpp"
#include "core/timer_heap.hpp"
#include "sys/linux/syscalls.hpp"

namespace weft {

static_assert(io::readable == EPOLLIN && io::writable == EPOLLOUT && io::error == EPOLLERR &&
              io::hangup == EPOLLHUP && io::peer_closed == EPOLLRDHUP);

namespace {
thread_local loop* current_loop = nullptr;

// Measured with the echo benchmark: 256 events per epoll_wait reached the
// same throughput as 1024 with 100 connections, and keeps the array on stack.
constexpr int max_events = 256;

[[noreturn]] void fail(const char* what, int err) {
  throw std::system_error(err, std::system_category(), what);
}

// epoll data: the fd in the low half, its registration generation in the high half.
uint64_t pack(int fd, uint32_t gen) {
  return (uint64_t{gen} << 32) | static_cast<uint32_t>(fd);
}

void run_and_delete_function(void* p) {
  std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(p));
  (*fn)();
}

// Two functions with one body: their addresses tell a green thread's
// resumption (dropped with it) from another coroutine's.
void resume_green_thread(void* frame) {
  std::coroutine_handle<>::from_address(frame).resume();
}
void resume_other(void* frame) {
  resume_green_thread(frame);
}

void do_nothing(void*) noexcept {}
}  // namespace

loop::loop()
    : timers_(std::make_unique<detail::timer_heap>([] { return clock::now(); })),
      now_(clock::now()) {
  // A constructor that throws runs no destructor: what it made is closed
  // here (an epoll descriptor was kept with each failed try, found by
  // review).
  struct close_unless_made {
    loop& l;
    bool made = false;
    ~close_unless_made() {
      if (made) return;
      if (l.wakefd_ >= 0) sys::close(l.wakefd_);
      if (l.epfd_ >= 0) sys::close(l.epfd_);
    }
  } guard{*this};
  auto ep = sys::epoll_create();
  if (!ep.ok()) fail("epoll_create1", ep.err);
  epfd_ = ep.value;
  auto ev = sys::eventfd_create();
  if (!ev.ok()) fail("eventfd", ev.err);
  wakefd_ = ev.value;
  wake_waiter_.self = this;
  wake_waiter_.on_ready = [](detail::io_waiter* w, uint32_t) {
    auto* self = static_cast<internal_waiter*>(w)->self;
    sys::eventfd_drain(self->wakefd_);
    self->wake_pending_.store(false, std::memory_order_release);
    // Posted work runs in its own phase; without this flag every turn would
    // take the post mutex just to find the queue empty.
    self->posted_waiting_ = true;
  };
  thread_.store(std::this_thread::get_id());
  // Room for the rest of a batch whose handler threw, with what is left of
  // the one before it: only a nested turn's throw needs more.
  io_left_.reserve(std::size_t{2} * max_events);
  io_watch(wakefd_, io::readable, trigger::level, &wake_waiter_);
  guard.made = true;
}

loop::~loop() {
  // A stop() or post() from another thread that has begun is done with the
  // loop once this lock is ours (both hold it to the end).
  { std::lock_guard wait_for_them(post_mu_); }
  // First: no other loop may post a signal to this one from here on.
  if (signals_wanted_ != 0) detail::signal_fanout::want(*this, 0);
  // While every member is whole: the frames' destructors close streams and
  // cancel timers through this loop. The resumptions they queue never run.
  destroy_green_threads();
  // Timers' callbacks too, and the functions still queued: their captures'
  // destructors may cancel timers, queue work or watch descriptors, which
  // a half-destroyed loop made a use of freed memory (found by review).
  // Posted functions that never ran as well: destroyed as a member, after
  // the descriptors had closed, a capture that posted went into the queue
  // being destroyed (found by review). Each kind may queue the others, and
  // spawn a green thread, which goes unstarted: it leaked, frame, context
  // and group membership, once the loop had destroyed its green threads
  // only before this (found by review).
  on_signal_ = nullptr;  // its captures too (found by review): they may post
  for (bool more = true; more;) {
    timers_->clear();
    std::vector<std::function<void()>> posted;
    {
      std::lock_guard lock(post_mu_);
      posted.swap(posted_);
    }
    posted.clear();
    posted_rest_.clear();
    destroy_green_threads();  // drops their starts from ready_
    for (std::vector<deferred>* q : {&ready_rest_, &ready_}) {
      std::vector<deferred> queued;
      queued.swap(*q);
      for (deferred& d : queued)
        if (d.fn == &run_and_delete_function) delete static_cast<std::function<void()>*>(d.ctx);
    }
    std::lock_guard lock(post_mu_);
    more = timers_->size() != 0 || !ready_.empty() || !ready_rest_.empty() || !posted_.empty() ||
           !posted_rest_.empty() || green_threads_ != nullptr;
  }
  if (sigfd_ >= 0) sys::close(sigfd_);
  sys::close(wakefd_);
  sys::close(epfd_);
}

loop* loop::current() noexcept {
  return current_loop;
}

bool loop::in_loop_thread() const noexcept {
  return thread_.load(std::memory_order_relaxed) == std::this_thread::get_id();
}

namespace {
// current() is this loop while it runs, and the outer one again after,
// however it ends (an exception from a callback left it dangling).
struct current_scope {
  loop* outer;
  explicit current_scope(loop* l) noexcept : outer(std::exchange(current_loop, l)) {}
  ~current_scope() { current_loop = outer; }
  current_scope(const current_scope&) = delete;
  current_scope& operator=(const current_scope&) = delete;
};
}  // namespace

void loop::run() {
  current_scope scope(this);
  while (!stop_.load(std::memory_order_acquire)) run_once(std::chrono::hours(1));
  stop_.store(false, std::memory_order_relaxed);
}

void loop::run_once(duration max_wait) {
  // The loop is the running thread's: run() runs on through here, and so
  // may a caller that drives the loop by hand. A relaxed store, no fence.
  thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  current_scope scope(this);
  poll(max_wait);  // sets now_: one clock read per turn
  if (timers_->size() != 0) timers_->run_expired(now_);
  if (posted_waiting_) {
    posted_waiting_ = false;
    run_posted();
  }
  run_ready();
}

void loop::stop() noexcept {
  // Under the post lock, which ~loop takes first: once a loop sees the
  // flag it may return from run() and be destroyed, and a wake() after
  // the store wrote to freed memory and to a descriptor number that might
  // name a client's socket by then (found by review).
  std::lock_guard lock(post_mu_);
  stop_.store(true, std::memory_order_release);
  // Always woken, even from what looks like the loop's own thread: a stop()
  // racing a run() just starting on another thread could read the old
  // thread id (the constructor's) while run() read the old flag (a store
  // then a load on each side, which release/acquire does not order), and
  // the loop then slept in epoll_wait for up to an hour. Found by review,
  // from reading; a race of a few nanoseconds that no test can force. One
  // eventfd write per stop costs nothing.
  wake();
}

void loop::poll(duration max_wait) {
  epoll_event events[max_events];
  int n = 0;
  if (!io_left_.empty()) {
    // The rest of a batch whose handler threw is this turn's batch, taken
    // without a wait. Stale entries are skipped by dispatch's generation
    // check. At most a batch: a throw that left a nested turn (a handler
    // that runs the loop) and then its outer one leaves the rest of both,
    // and copied whole they ran past `events` (found by review).
    n = static_cast<int>(std::min<std::size_t>(io_left_.size(), max_events));
    for (int k = 0; k < n; ++k) {
      events[k].data.u64 = io_left_[k].data;
      events[k].events = io_left_[k].events;
    }
    io_left_.erase(io_left_.begin(), io_left_.begin() + n);
    now_ = clock::now();
  } else {
    int timeout_ms;
    // Posted work left by a callback that threw is due now too: its wake-up
    // was read already, and a wait here held it until some other event.
    if (!ready_.empty() || !ready_rest_.empty() || posted_waiting_) {
      timeout_ms = 0;
    } else {
      duration wait = max_wait;
      if (timers_->size() != 0)
        wait = std::min(wait, time_until(*timers_->next_deadline(), clock::now()));
      // Round up, so a timer is never woken for early and then polled in a spin.
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
      timeout_ms = ms <= 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 3'600'000));
    }
    auto r = sys::epoll_wait(epfd_, events, max_events, timeout_ms);
    now_ = clock::now();
    if (!r.ok()) {
      if (r.err == EINTR) return;
      fail("epoll_wait", r.err);
    }
    n = r.value;
  }
  int i = 0;
  try {
    for (; i < n; ++i) dispatch(events[i].data.u64, events[i].events);
  } catch (...) {
    // The handler that threw is done; the rest of its batch runs on the
    // next turn, as the rest of a timer or posted batch does (loop.hpp).
    // Before what is left of an earlier one: in the order they came. Into
    // room kept for it (see the constructor), not through a vector of its
    // own: a handler out of memory made those allocations fail too, and
    // lost the rest (found by review).
    auto rest = static_cast<std::size_t>(n - i - 1);
    io_left_.insert(io_left_.begin(), rest, io_event{});
    for (std::size_t k = 0; k < rest; ++k) {
      const epoll_event& ev = events[static_cast<std::size_t>(i) + 1 + k];
      io_left_[k] = {ev.data.u64, ev.events};
    }
    throw;
  }
}

void loop::dispatch(uint64_t data, uint32_t events) {
  const int fd = static_cast<int>(data & 0xffffffffu);
  const uint32_t gen = static_cast<uint32_t>(data >> 32);
  // The generation check is what makes removal during dispatch safe: a
  // callback earlier in this batch may have forgotten this fd (and a new
  // connection may even have reused the number).
  if (static_cast<size_t>(fd) >= fds_.size() || fds_[fd].gen != gen || !fds_[fd].registered) return;
  fd_entry& e = fds_[fd];
  constexpr uint32_t failure = io::error | io::hangup;
  if (e.watch_mode) {
    // Only what the watcher asks for now, as libuv and Redis's ae mask: a
    // handler earlier in the batch may have narrowed it (found by review).
    // epoll reports a failure whatever the mask.
    if (uint32_t wanted = events & (e.mask | failure)) e.reader->on_ready(e.reader, wanted);
    return;
  }
  const bool rd = events & (io::readable | io::peer_end);
  const bool wr = events & (io::writable | failure);
  uint32_t unwanted = 0;
  if (rd) {
    if (auto* w = std::exchange(e.reader, nullptr)) {
      w->on_ready(w, events);
    } else if (e.trig == trigger::edge) {
      // Remember the edge, which will not be repeated, and the peer's end
      // with it: a reader that took the edge later without it waited for
      // one more, after its short read of the last bytes (found by review).
      e.ready |= io::readable | (events & io::peer_end);
    } else if (events & io::readable) {
      unwanted |= io::readable;
    }
  }
  // Re-check: the reader may have forgotten the fd, or handed it to a
  // watcher, and fds_ may have grown.
  if (wr && fds_[fd].gen == gen && fds_[fd].registered && !fds_[fd].watch_mode) {
    fd_entry& again = fds_[fd];
    if (auto* w = std::exchange(again.writer, nullptr)) {
      w->on_ready(w, events);
    } else if (again.trig == trigger::edge) {
      again.ready |= io::writable;
    } else if (events & io::writable) {
      unwanted |= io::writable;
    }
  }
  // Level-triggered interest is dropped lazily, only when it fires with no
  // one waiting: a connection that reads, writes and reads again never pays
  // an epoll_ctl in between. A task resumed above may have handed the fd to
  // a watcher (io_watch takes over one no one waits on): its mask is the
  // watcher's, and this read the watcher as a waiting reader and added read
  // interest to a watcher of writability (found by review).
  if (fds_[fd].gen != gen || fds_[fd].trig != trigger::level || !fds_[fd].registered ||
      fds_[fd].watch_mode)
    return;
  fd_entry& again = fds_[fd];
  if ((events & failure) && !again.reader && !again.writer) {
    // epoll reports a hangup or an error whatever the mask, so dropping
    // interest cannot silence one: with no one waiting it came back from
    // every epoll_wait, a spin at 100% of a core (a task sleeping after a
    // peer's reset). The fd leaves epoll with both directions ready; the
    // next wait returns at once and its read or write meets the error.
    (void)sys::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, 0, 0);
    again.registered = false;
    again.mask = 0;
    again.ready = io::readable | io::writable;
    return;
  }
  if (unwanted) {
    uint32_t keep = again.mask & ~unwanted;
    if (again.reader) keep |= io::readable;
    if (again.writer) keep |= io::writable;
    if (keep != again.mask) set_mask(fd, again, keep);
  }
}

loop::fd_entry& loop::entry(int fd) {
  if (fd < 0) throw std::invalid_argument("weft::loop: negative fd");
  if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(static_cast<size_t>(fd) + 64);
  return fds_[fd];
}

void loop::set_mask(int fd, fd_entry& e, uint32_t mask) {
  if (mask == 0 && e.watch_mode) {
    // A watcher with no interest leaves epoll until interest returns: epoll
    // reports a hangup or an error whatever the mask, and its handler, which
    // runs for every event, was called on every turn after a peer's reset,
    // 79,009 times in 200 ms (io_watcher_test).
    if (e.registered) (void)sys::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, 0, 0);
    e.mask = 0;
    e.registered = false;
    return;
  }
  // A waited-on fd with no interest stays registered with 0 events: removing
  // and re-adding would cost two syscalls when interest returns.
  uint32_t epoll_events = mask == 0 ? 0 : mask | (e.trig == trigger::edge ? EPOLLET : 0u);
  int op = e.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  auto st = sys::epoll_ctl(epfd_, op, fd, epoll_events, pack(fd, e.gen));
  if (!st.ok()) fail("epoll_ctl", st.err);
  e.mask = mask;
  e.registered = true;
}

void loop::io_watch(int fd, uint32_t events, trigger t, detail::io_waiter* w) {
  fd_entry& e = entry(fd);
  // A paused watcher (no events, out of epoll) still holds its fd. One
  // that green threads waited on, and none waits on now, is taken over: it
  // stays registered between waits to spare an epoll_ctl per wait, and was
  // refused here though no one used it any more (found by an audit). The
  // MOD re-arms it, so an edge watcher still hears of input already there.
  bool waited_on = e.registered && !e.watch_mode;
  if ((e.registered && !(waited_on && !e.reader && !e.writer)) || e.watched())
    throw std::logic_error("weft::loop: fd " + std::to_string(fd) + " is already registered");
  const fd_entry before = e;
  e.trig = t;
  e.watch_mode = true;  // set_mask reads it
  e.ready = 0;          // a wait's cached edges: the MOD reports what is there
  e.reader = e.writer = nullptr;
  try {
    set_mask(fd, e, events);
  } catch (...) {
    // Refused (EPOLLEXCLUSIVE, which a MOD does not take): the fd stays as
    // the waits left it. It stayed a watcher's with no watcher, and its
    // next event called through a null pointer (found by review).
    fds_[fd] = before;
    throw;
  }
  // Held only once epoll took the fd: refused (a regular file, ENOMEM), the
  // number stays free. Held before, it refused every later fd given it.
  e.reader = w;
}

void loop::io_modify(int fd, uint32_t events) {
  fd_entry& e = entry(fd);
  if (!e.registered || e.mask != events) set_mask(fd, e, events);
}

bool loop::io_wait(int fd, uint32_t direction, trigger t, detail::io_waiter* w, uint32_t* came) {
  fd_entry& e = entry(fd);
  if (e.watched())
    throw std::logic_error("weft::loop: fd " + std::to_string(fd) + " is watched by an io_watcher");
  if (!e.registered) {
    // `ready` is kept: 0 for an fd new to the loop (io_forget clears it),
    // both directions for one that left epoll on a hangup (dispatch).
    e.trig = t;
    e.watch_mode = false;
  }
  if (e.ready & direction) {
    uint32_t taken =
        direction == io::readable ? e.ready & (io::readable | io::peer_end) : direction;
    e.ready &= ~taken;
    if (came) *came = taken;
    return false;
  }
  // One waiter per direction, as with a stream (and Eventlet's "second
  // simultaneous read"): a second one took the first's place, which was
  // then never woken.
  detail::io_waiter*& slot = direction == io::readable ? e.reader : e.writer;
  if (slot != nullptr && slot != w)
    throw std::logic_error("weft: a second task waits on an fd in the same direction");
  // Edge-triggered: register both directions once, and never touch epoll
  // again for this fd. Level-triggered: add the direction when first needed.
  uint32_t want = e.trig == trigger::edge ? (io::readable | io::writable | io::peer_closed)
                                          : (e.mask | direction);
  if (!e.registered || (e.mask & want) != want) set_mask(fd, e, want);
  slot = w;  // only once epoll took the fd, as in io_watch
  return true;
}

void loop::io_unwait(int fd, uint32_t direction) noexcept {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return;
  fd_entry& e = fds_[fd];
  if (direction & io::readable) e.reader = nullptr;
  if (direction & io::writable) e.writer = nullptr;
}

void loop::io_unwait(int fd, uint32_t direction, const detail::io_waiter* w) noexcept {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return;
  fd_entry& e = fds_[fd];
  if ((direction & io::readable) && e.reader == w) e.reader = nullptr;
  if ((direction & io::writable) && e.writer == w) e.writer = nullptr;
}

void loop::io_forget(int fd) noexcept {
  if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return;
  fd_entry& e = fds_[fd];
  if (e.registered) {
    // DEL before close keeps epoll's view exact even if the fd was dup()ed.
    (void)sys::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, 0, 0);
  }
  e.reader = e.writer = nullptr;
  e.mask = 0;
  e.ready = 0;
  e.registered = false;
  e.watch_mode = false;
  ++e.gen;
}

void loop::post(std::function<void()> fn) {
  // The wake-up too under the lock, which ~loop takes first: a loop that
  // ran the function, and so might return and go, before the poster woke
  // it was written to when freed (found by review).
  std::lock_guard lock(post_mu_);
  posted_.push_back(std::move(fn));
  wake();
}

void loop::wake() noexcept {
  // One eventfd write per batch of posts: later posters see the flag set.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) (void)sys::eventfd_signal(wakefd_);
}

void loop::run_posted() {
  // First what a throw left of an earlier batch: it was posted before
  // anything in posted_.
  if (!posted_rest_.empty()) {
    std::vector<std::function<void()>> rest;
    rest.swap(posted_rest_);
    run_posted_batch(rest);
  }
  // The batch in this frame, not in a member: a posted function that runs
  // the loop swapped the member out from under the batch running, which
  // then ran again (found by review). posted_spare_ keeps its capacity.
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(post_mu_);
    if (posted_.empty()) return;
    batch.swap(posted_spare_);
    batch.swap(posted_);  // posted_ takes the spare's capacity
  }
  run_posted_batch(batch);
  batch.clear();
  posted_spare_.swap(batch);
}

void loop::run_posted_batch(std::vector<std::function<void()>>& batch) {
  std::size_t i = 0;
  try {
    for (; i < batch.size(); ++i) batch[i]();
  } catch (...) {
    // The rest of the batch runs next turn, ahead of later posts; the one
    // that threw does not run again. It is kept in its own storage, moved
    // into posted_rest_: inserted ahead of posted_, it was a reallocation,
    // and a function that threw std::bad_alloc made that throw too, losing
    // the rest (found by review; a lost post may be a shutdown). Only a
    // nested turn's rest, already there and taken after this one, makes
    // it allocate.
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    if (!posted_rest_.empty())
      batch.insert(batch.end(), std::make_move_iterator(posted_rest_.begin()),
                   std::make_move_iterator(posted_rest_.end()));
    posted_rest_.swap(batch);
    posted_waiting_ = true;
    throw;
  }
}

void loop::defer(void (*fn)(void*), void* ctx) {
  ready_.push_back({fn, ctx});
}

void loop::defer(std::function<void()> fn) {
  auto* p = new std::function<void()>(std::move(fn));
  ready_.push_back({&run_and_delete_function, p});
}

void loop::defer_resume(std::coroutine_handle<> h, resumption r) {
  ready_.push_back(
      {r == resumption::green_thread ? &resume_green_thread : &resume_other, h.address()});
}

void loop::drop_deferred(void (*fn)(void*), const void* ctx, bool any_ctx) noexcept {
  // The batches now running too: one may hold it, after the entry that
  // runs this. Their entries that already ran are done with, so rewriting
  // them is harmless.
  auto drop = [&](std::vector<deferred>& queue) {
    for (deferred& d : queue)
      if (d.fn == fn && (any_ctx || d.ctx == ctx)) d = {&do_nothing, nullptr};
  };
  drop(ready_);
  drop(ready_rest_);
  for (ready_batch* b = running_; b != nullptr; b = b->outer) drop(b->entries);
}

void loop::undefer(void (*fn)(void*), void* ctx) noexcept {
  drop_deferred(fn, ctx, false);
}

void loop::undefer_resume(std::coroutine_handle<> h) noexcept {
  drop_deferred(&resume_green_thread, h.address(), false);
  drop_deferred(&resume_other, h.address(), false);
}

void loop::destroy_green_threads() noexcept {
  if (destroy_green_threads_ == nullptr) return;
  destroy_green_threads_(*this);
  // Every green thread is gone: a start, a wake-up or a cancellation
  // queued for one would resume a freed frame. Other deferred work stays,
  // other coroutines' wake-ups included.
  drop_deferred(&resume_green_thread, nullptr, true);
}

void loop::run_ready() {
  // First what a throw left of an earlier batch: it was deferred before
  // anything in ready_.
  if (!ready_rest_.empty()) {
    ready_batch rest{{}, running_};
    rest.entries.swap(ready_rest_);
    run_ready_batch(rest);
  }
  // Work deferred while running this batch waits for the next turn, after a
  // non-blocking poll: a task that keeps yielding cannot starve I/O. The
  // batch lives in this frame (see ready_batch); ready_spare_ keeps its
  // capacity between turns.
  if (ready_.empty()) return;  // most turns: nothing deferred
  ready_batch batch{std::move(ready_spare_), running_};
  ready_spare_.clear();
  batch.entries.swap(ready_);  // ready_ takes the spare's capacity
  run_ready_batch(batch);
  batch.entries.clear();
  ready_spare_.swap(batch.entries);
}

void loop::run_ready_batch(ready_batch& batch) {
  running_ = &batch;
  std::size_t i = 0;
  try {
    for (; i < batch.entries.size(); ++i) batch.entries[i].fn(batch.entries[i].ctx);
  } catch (...) {
    // The rest of the batch runs next turn, ahead of what was deferred
    // meanwhile; the entry that threw has run (and freed its function).
    // It stays in the batch's storage (see ready_rest_): only a nested
    // turn's rest, already there and taken after this one, makes it
    // allocate.
    running_ = batch.outer;
    std::vector<deferred>& rest = batch.entries;
    rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    if (!ready_rest_.empty()) rest.insert(rest.end(), ready_rest_.begin(), ready_rest_.end());
    ready_rest_.swap(rest);
    throw;
  }
  running_ = batch.outer;
}

timer_id loop::run_after(duration delay, std::function<void()> fn) {
  return timers_->add(saturating_add(clock::now(), delay), std::move(fn));
}

timer_id loop::run_every(duration interval, std::function<void()> fn) {
  if (interval <= duration::zero())
    throw std::invalid_argument("weft::loop::run_every: interval must be positive");
  return timers_->add(saturating_add(clock::now(), interval), std::move(fn), interval);
}

bool loop::cancel(timer_id id) noexcept {
  return timers_->cancel(id);
}
size_t loop::timer_count() const noexcept {
  return timers_->size();
}

void loop::on_signals(std::initializer_list<int> signals, std::function<void(int)> fn) {
  sigset_t set;
  sigemptyset(&set);
  // Refused before anything changes: a signalfd never delivers these, and
  // the handler would wait for them in vain.
  for (int s : signals)
    if (s == SIGKILL || s == SIGSTOP || sigaddset(&set, s) != 0)
      throw std::invalid_argument("weft::loop::on_signals: signal " + std::to_string(s) +
                                  " cannot be caught");
  // The signals of an earlier call that this one drops, and that were the
  // thread's own before it, become so again.
  // One that another loop of this thread still asks for stays blocked, and
  // becomes that loop's to unblock (signal_fanout::hand_over).
  sigset_t before = sys::blocked_signals(), drop;
  sigemptyset(&drop);
  uint64_t ours = 0, wanted_bits = 0, dropped = 0;
  for (int s = 1; s <= 64; ++s) {
    uint64_t bit = detail::signal_bit(s);
    bool wanted = sigismember(&set, s) == 1;
    if (wanted) wanted_bits |= bit;
    if (wanted && ((signals_we_blocked_ & bit) != 0 || sigismember(&before, s) != 1)) ours |= bit;
    if (!wanted && (signals_we_blocked_ & bit) != 0) dropped |= bit;
  }
  dropped = detail::signal_fanout::hand_over(*this, dropped);
  for (int s = 1; s <= 64; ++s)
    if ((dropped & detail::signal_bit(s)) != 0) sigaddset(&drop, s);
  if (auto st = sys::block_signals(set); !st.ok()) fail("pthread_sigmask", st.err);
  // One of them that came and was not read yet was this loop's: unblocked
  // pending, its default action ran, and SIGUSR2's or SIGHUP's ended the
  // process (found by review). Taken now, it goes to the loops of other
  // threads that ask for it, as a read would hand it on; this one no
  // longer hears it, as after this call.
  while (int sig = sys::take_pending_signal(drop)) detail::signal_fanout::spread(*this, sig);
  if (auto st = sys::unblock_signals(drop); !st.ok()) fail("pthread_sigmask", st.err);
  signals_we_blocked_ = ours;
  // The new descriptor before the old one goes: a failure left sigfd_
  // naming a closed number, which the destructor closed again, whoever
  // had it by then (found by review).
  auto fd = sys::signalfd_create(set);
  if (!fd.ok()) fail("signalfd", fd.err);
  if (sigfd_ >= 0) {
    io_forget(sigfd_);
    sys::close(sigfd_);
  }
  sigfd_ = fd.value;
  on_signal_ = std::move(fn);
  signal_waiter_.self = this;
  // The first signalfd read takes a signal from every loop: the one that
  // reads it hands it to the others that asked (core/signal_fanout.hpp).
  signal_waiter_.on_ready = [](detail::io_waiter* w, uint32_t) {
    auto* self = static_cast<internal_waiter*>(w)->self;
    for (;;) {
      auto sig = sys::signalfd_read(self->sigfd_);
      if (!sig.ok()) break;
      detail::signal_fanout::spread(*self, sig.value);
      detail::signal_fanout::deliver(*self, sig.value);
    }
  };
  io_watch(sigfd_, io::readable, trigger::level, &signal_waiter_);
  signals_wanted_ = wanted_bits;
  detail::signal_fanout::want(*this, wanted_bits);
}

// A callback that throws leaves run(), and the loop stays usable: it is
// logged and the loop goes on until stop(). Ending a loop_group's thread
// there ended every later post, timer and connection of the loop, and an
// example that ran its loop once ended every client's server at one's
// bad_alloc (found by reviews).
void run_until_stopped(loop& l) noexcept {
  for (;;) {
    try {
      l.run();
      return;
    } catch (...) {
      // Allocation-free: out of memory is the likeliest failure here, and
      // a line built on the heap threw out of a thread's function, which
      // std::terminate ended (found by review).
      log_error({"loop callback failed, the loop goes on: "}, std::current_exception());
    }
  }
}

}  // namespace weft
