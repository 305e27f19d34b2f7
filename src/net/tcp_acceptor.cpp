#include <weft/core/log.hpp>
#include <weft/net/tcp_acceptor.hpp>

#include <algorithm>

namespace weft {

tcp_acceptor::tcp_acceptor(loop& l, tcp_listener listener, handler on_connection)
    : loop_(l), listener_(std::move(listener)), on_connection_(std::move(on_connection)) {
  watcher_ = std::make_unique<io_watcher>(loop_, listener_.native_handle(), io::readable,
                                          [this](uint32_t) { on_ready(); });
}

tcp_acceptor::~tcp_acceptor() {
  close();
}

void tcp_acceptor::close() noexcept {
  if (retry_ != no_timer) loop_.cancel(std::exchange(retry_, no_timer));
  watcher_.reset();
  listener_.close();
}

void tcp_acceptor::on_ready() {
  for (int i = 0; i < batch; ++i) {
    int err = 0;
    unique_fd c = listener_.try_accept(err);
    if (c) {
      backoff_ = std::chrono::milliseconds(10);
      on_connection_(std::move(c));
      if (!watcher_) return;  // the handler closed us
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) return;
    if (is_resource_exhaustion(err)) return pause();
    if (is_transient_accept_error(err)) continue;
    log_error("accept: " + std::error_code(err, std::system_category()).message());
    return pause();
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
