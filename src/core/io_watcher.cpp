#include <weft/core/io_watcher.hpp>

namespace weft {

io_watcher::io_watcher(loop& l, int fd, uint32_t events, handler h, trigger t)
    : loop_(&l), fd_(fd), events_(events), handler_(std::make_unique<handler>(std::move(h))) {
  on_ready = &io_watcher::fire;
  loop_->io_watch(fd_, events_, t, this);
}

io_watcher::~io_watcher() {
  stop();
  if (firing_) *firing_ = std::move(handler_);  // freed once the handler returns
}

void io_watcher::set_events(uint32_t events) {
  if (fd_ < 0) return;
  loop_->io_modify(fd_, events);  // refused, it throws, and the events stay (found by review)
  events_ = events;
}

void io_watcher::stop() noexcept {
  if (fd_ < 0) return;
  loop_->io_forget(fd_);
  fd_ = -1;
}

// The handler may destroy this watcher, and with it the handler that is
// running: a handler that used its captures after that read freed memory
// (ASan, found by an audit). So ~io_watcher hands the handler to the
// call's `orphan`, freed after the handler returns or throws, and nothing
// here touches the watcher again unless `orphan` shows that it still
// lives. A handler that runs the loop, and so its own watcher's handler
// again, is covered too: the outermost call keeps the slot.
void io_watcher::fire(detail::io_waiter* self, uint32_t events) {
  struct call {
    io_watcher* w;
    bool outermost;
    std::unique_ptr<handler> orphan;
    ~call() {
      if (outermost && !orphan) w->firing_ = nullptr;
    }
  };
  auto* w = static_cast<io_watcher*>(self);
  call c{w, w->firing_ == nullptr, nullptr};
  if (c.outermost) w->firing_ = &c.orphan;
  (*w->handler_)(events);
}

}  // namespace weft
