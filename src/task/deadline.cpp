#include <weft/task/deadline.hpp>

namespace weft {

deadline::deadline(detail::task_context& ctx) noexcept : ctx_(ctx) {
  scope_.parent = ctx_.scope;
  ctx_.scope = &scope_;
}

deadline::~deadline() {
  ctx_.scope = scope_.parent;
  if (timer_ != no_timer) ctx_.owner->cancel(timer_);
}

void deadline::expires_at(time_point t) {
  at_ = t;
  expired_ = false;
  scope_.cancelled = false;
  if (timer_ != no_timer) {
    if (armed_at_ <= t) return;  // fires early, then re-arms for t
    ctx_.owner->cancel(timer_);
    timer_ = no_timer;
  }
  arm(t);
}

void deadline::clear() noexcept {
  // The timer stays armed, if it is: when it fires it finds no deadline.
  at_ = time_point::max();
  expired_ = false;
  scope_.cancelled = false;
}

void deadline::arm(time_point t) {
  armed_at_ = t;
  timer_ = ctx_.owner->run_after(time_until(t, clock::now()), [this] { on_timer(); });
}

void deadline::on_timer() noexcept {
  timer_ = no_timer;
  if (at_ == time_point::max()) return;
  if (clock::now() < at_) {
    try {
      arm(at_);
      return;
    } catch (...) {
      // No memory for the timer: expire now rather than never.
    }
  }
  expired_ = true;
  ctx_.cancel(scope_);
}

}  // namespace weft
