#include <weft/net/idle_clock.hpp>
#include <weft/net/tcp_stream.hpp>

namespace weft {

idle_clock::idle_clock(loop& l, duration timeout) noexcept
    : loop_(l), timeout_(timeout > duration::zero() ? timeout : duration(1)) {
  order_.prev = order_.next = &order_;
}

idle_clock::~idle_clock() {
  if (timer_ != no_timer) loop_.cancel(timer_);
  // Entries that outlive the clock (against the rule) find themselves
  // unlinked, instead of writing into a ring that is gone.
  while (!empty()) as_entry(order_.next).unlink();
}

idle_clock::entry::entry(idle_clock& c, tcp_stream& s) : stream_(&s), last_(c.loop_.now()) {
  c.push_front(*this);
}

void idle_clock::arm_for(entry& e) {
  try {
    arm(e.last_);
  } catch (...) {
    e.unlink();
    throw;
  }
}

void idle_clock::arm(time_point last) {
  duration in = time_until(saturating_add(last, timeout_), clock::now());
  timer_ = loop_.run_after(in, [this] { on_timer(); });
}

void idle_clock::on_timer() noexcept {
  timer_ = no_timer;
  time_point now = loop_.now();
  while (!empty()) {
    entry& e = as_entry(order_.prev);
    if (saturating_add(e.last_, timeout_) > now) break;
    e.unlink();
    if (e.stream_->waiting()) {
      e.expired_ = true;
      e.stream_->cancel();
    } else {
      // Its task is about to run (its wait ended this turn): not idle.
      e.last_ = now;
      link_front(e);
    }
  }
  if (empty()) return;
  try {
    arm(as_entry(order_.prev).last_);
  } catch (...) {
    // No memory for the timer: the next touch() arms it again.
  }
}

void idle_clock::cancel_all() noexcept {
  for (link* l = order_.next; l != &order_; l = l->next) {
    tcp_stream& s = *as_entry(l).stream_;
    if (s.waiting()) s.cancel();
  }
}

std::size_t idle_clock::size() const noexcept {
  std::size_t n = 0;
  for (const link* l = order_.next; l != &order_; l = l->next) ++n;
  return n;
}

}  // namespace weft
