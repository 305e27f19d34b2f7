#include <weft/core/log.hpp>
#include <weft/net/tcp_acceptor.hpp>

#include <algorithm>

namespace weft {

tcp_acceptor::tcp_acceptor(loop& l, tcp_listener listener, handler on_connection)
    : loop_(l),
      listener_(std::move(listener)),
      on_connection_(std::make_unique<handler>(std::move(on_connection))) {
  watcher_ = std::make_unique<io_watcher>(loop_, listener_.native_handle(), io::readable,
                                          [this](uint32_t) { on_ready(); });
}

tcp_acceptor::~tcp_acceptor() {
  if (running_) {
    running_->alive = false;
    running_->orphan = std::move(on_connection_);
  }
  close();
}

void tcp_acceptor::close() noexcept {
  if (retry_ != no_timer) loop_.cancel(std::exchange(retry_, no_timer));
  watcher_.reset();
  listener_.close();
}

void tcp_acceptor::on_ready() {
  // The handler may close us, or destroy us: then stop at once, touching
  // nothing (a handler that took one connection and reset its acceptor
  // made this loop read freed members, ASan's heap-use-after-free), and
  // keep the handler itself until it returns (one that used its captures
  // after the reset read freed memory too).
  call c;
  running_ = &c;
  try {
    accept_batch(c);
  } catch (...) {
    // A handler threw; the loop goes on, and so may we. The pointer to this
    // frame was left behind, and the destructor wrote through it long after.
    // (Not a shared flag: copying a shared_ptr here made UBSan's vptr check
    // fail when out of descriptors, the very case pause() is for.)
    if (c.alive) running_ = nullptr;
    throw;
  }
  if (c.alive) running_ = nullptr;
}

void tcp_acceptor::accept_batch(const call& c) {
  for (int i = 0; i < batch; ++i) {
    int err = 0;
    unique_fd fd = listener_.try_accept(err);
    if (fd) {
      backoff_ = std::chrono::milliseconds(10);
      (*on_connection_)(std::move(fd));
      if (!c.alive) return;  // the handler destroyed us
      if (!watcher_) break;  // the handler closed us
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (is_transient_accept_error(err)) continue;
    if (!is_resource_exhaustion(err))
      log_error("accept: " + std::error_code(err, std::system_category()).message());
    pause();
    break;
  }
}

void tcp_acceptor::pause() {
  if (!logged_) {
    log_warn("accept: out of descriptors or memory; pausing accepts");
    logged_ = true;
  }
  // Disarm: a level-triggered listener that cannot accept would spin.
  watcher_->set_events(0);
  retry_ = loop_.run_after(backoff_, [this] {
    retry_ = no_timer;
    if (watcher_) watcher_->set_events(io::readable);
  });
  backoff_ = std::min<duration>(backoff_ * 2, std::chrono::milliseconds(640));
}

}  // namespace weft
