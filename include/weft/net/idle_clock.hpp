#pragma once
// idle_clock: the idle timeouts of many connections on one timer.
//
//   idle_clock clock(loop, 300s);            // a server's, one per loop
//
//   task<void> serve(idle_clock& clock, tcp_stream s) {
//     idle_clock::entry idle(clock, s);     // in the frame; idle from now
//     for (;;) {
//       clock.touch(idle);                   // a line came: idle from now
//       auto line = co_await s.read_until('\n', 4096);  // cancelled once idle 300 s
//       ...
//     }
//   }
//
// A deadline per connection costs every idle connection a timer-heap node
// (80 B) and the deadline in its frame (56 B): `weft echo` spent 136 of its
// 718 B a connection on them, against a target of 512 (bench/memory). An
// entry is 40 B, and the clock has one timer. Entries are kept in the order
// of their last activity, the latest first: touch() moves one to the front,
// at most once a turn of the loop (it reads the turn's cached time), and
// the timer is armed for the last one. It fires lazily, as a deadline's
// does: an entry touched since was only moved, and the timer re-arms for
// the new last one.
//
// An entry idle for the timeout has what its stream waits in cancelled
// (tcp_stream::cancel: std::errc::operation_canceled), expired() turns
// true, and it leaves the order until the next touch(). One whose stream
// is not waiting then (its task is about to run) is not idle: it gets the
// timeout again from that moment: the clock times a connection's waits on
// its stream, and a task that waits on something else (a channel, a
// sleep) is never cut by it. An expired entry's task is not cancelled as
// a whole: it decides, from expired(), whether to close or go on.
//
// Threading: a clock and its entries belong to one loop's thread. The clock
// must outlive its entries, and a stream its entry. An entry follows the
// stream object it was made with: moved into another object (a task taking
// it by value), the stream no longer waits where the entry looks, and the
// timeout silently stops; make the entry where the stream will stay.

#include <weft/core/loop.hpp>
#include <weft/core/time.hpp>

namespace weft {

class tcp_stream;

class idle_clock {
  struct link {
    link* prev = nullptr;
    link* next = nullptr;
  };

 public:
  // A timeout of zero or less is taken as 1 ns: an entry is idle at the
  // first turn after its last touch.
  idle_clock(loop& l, duration timeout) noexcept;
  ~idle_clock();
  idle_clock(const idle_clock&) = delete;
  idle_clock& operator=(const idle_clock&) = delete;

  // One stream's place on the clock. Not movable: the order links it.
  class entry : private link {
   public:
    // Idle from now. Throws only if the clock's timer cannot be armed
    // (std::bad_alloc), and is then not on the clock.
    entry(idle_clock& c, tcp_stream& s);
    ~entry() { unlink(); }
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

    bool expired() const noexcept { return expired_; }
    tcp_stream& stream() const noexcept { return *stream_; }

   private:
    friend class idle_clock;
    void unlink() noexcept {
      if (prev == nullptr) return;
      prev->next = next;
      next->prev = prev;
      prev = next = nullptr;
    }

    tcp_stream* stream_;
    time_point last_;
    bool expired_ = false;  // a derived class's members may share its padding
  };

  // Something moved on `e`'s connection: it is idle from now. An expired
  // entry is back on the clock. Inline: once per request or line.
  void touch(entry& e) {
    time_point now = loop_.now();
    if (e.last_ == now && e.prev != nullptr) return;
    e.last_ = now;
    e.expired_ = false;
    e.unlink();
    push_front(e);
  }

  // Takes `e` off the clock until its next touch(), as deadline::clear()
  // does: for a connection's ending, which the idle timeout must not cut.
  void clear(entry& e) noexcept { e.unlink(); }

  // Cancels what every entry's stream waits in, expiring none: a graceful
  // stop's way to end its connections' idle waits at once.
  void cancel_all() noexcept;

  duration timeout() const noexcept { return timeout_; }
  // Entries on the clock (not expired). O(n): for tests.
  std::size_t size() const noexcept;

 private:
  void push_front(entry& e) {
    link_front(e);
    if (timer_ == no_timer) arm_for(e);
  }
  void link_front(entry& e) noexcept {
    e.prev = &order_;
    e.next = order_.next;
    order_.next->prev = &e;
    order_.next = &e;
  }
  bool empty() const noexcept { return order_.next == &order_; }
  static entry& as_entry(link* l) noexcept { return *static_cast<entry*>(l); }
  // Arms the timer for `e`, the only entry or the longest idle; throwing,
  // takes `e` off the clock.
  void arm_for(entry& e);
  void arm(time_point last);
  void on_timer() noexcept;

  loop& loop_;
  duration timeout_;
  link order_;  // a ring: order_.next is the latest active, order_.prev the longest idle
  timer_id timer_ = no_timer;
};

}  // namespace weft
