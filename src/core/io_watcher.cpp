#include <weft/core/io_watcher.hpp>

namespace weft {

io_watcher::io_watcher(loop& l, int fd, uint32_t events, handler h, trigger t)
    : loop_(&l), fd_(fd), events_(events), handler_(std::move(h)) {
  on_ready = &io_watcher::fire;
  loop_->io_watch(fd_, events_, t, this);
}

io_watcher::~io_watcher() {
  stop();
}

void io_watcher::set_events(uint32_t events) {
  if (fd_ < 0) return;
  events_ = events;
  loop_->io_modify(fd_, events);
}

void io_watcher::stop() noexcept {
  if (fd_ < 0) return;
  loop_->io_forget(fd_);
  fd_ = -1;
}

void io_watcher::fire(detail::io_waiter* self, uint32_t events) {
  auto* w = static_cast<io_watcher*>(self);
  // The handler may destroy this watcher; nothing here touches it after.
  w->handler_(events);
}

}  // namespace weft
