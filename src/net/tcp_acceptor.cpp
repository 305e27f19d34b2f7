#include <weft/net/tcp_acceptor.hpp>

#include <algorithm>
#include <system_error>

namespace weft {

tcp_acceptor::tcp_acceptor(loop& l, tcp_listener listener, handler on_connection)
    : loop_(l), listener_(std::move(listener)) {
  // The handler lives in the watcher's: a handler that destroys us destroys
  // the watcher in its own call, and io_watcher then keeps its captures
  // until it returns (one that used them after the reset read freed memory).
  watcher_ =
      std::make_unique<io_watcher>(loop_, listener_.native_handle(), io::readable,
                                   [this, h = std::move(on_connection)](uint32_t) { on_ready(h); });
}

tcp_acceptor::~tcp_acceptor() {
  if (alive_) *alive_ = false;
  close();
}

void tcp_acceptor::close() noexcept {
  if (retry_ != no_timer) loop_.cancel(std::exchange(retry_, no_timer));
  watcher_.reset();
  listener_.close();
}

void tcp_acceptor::on_ready(const handler& on_connection) {
  // The handler may close us, or destroy us: then stop at once, touching
  // nothing (a handler that took one connection and reset its acceptor
  // made this loop read freed members, ASan's heap-use-after-free).
  bool alive = true;
  alive_ = &alive;
  try {
    accept_batch(alive, on_connection);
  } catch (...) {
    // A handler threw; the loop goes on, and so may we. The pointer to this
    // frame was left behind, and the destructor wrote through it long after.
    // (Not a shared flag: copying a shared_ptr here made UBSan's vptr check
    // fail when out of descriptors, the very case pause() is for.)
    if (alive) alive_ = nullptr;
    throw;
  }
  if (alive) alive_ = nullptr;
}

void tcp_acceptor::accept_batch(const bool& alive, const handler& on_connection) {
  for (int i = 0; i < batch; ++i) {
    int err = 0;
    unique_fd c = listener_.try_accept(err);
    if (c) {
      backoff_ = std::chrono::milliseconds(10);
      on_connection(std::move(c));
      if (!alive) return;    // the handler destroyed us
      if (!watcher_) break;  // the handler closed us
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (is_transient_accept_error(err)) continue;
    pause(err);
    break;
  }
}

void tcp_acceptor::pause(int err) {
  // Once per cause: a policy's EPERM comes back on every retry, and was
  // logged each time, with "out of descriptors or memory" too (found by
  // review).
  if (logged_ != err) {
    log_accept_pause(err);
    logged_ = err;
  }
  // Disarm: a level-triggered listener that cannot accept would spin.
  watcher_->set_events(0);
  retry_ = loop_.run_after(backoff_, [this] {
    retry_ = no_timer;
    if (!watcher_) return;
    try {
      watcher_->set_events(io::readable);
    } catch (const std::system_error& e) {
      // Back into epoll failed (ENOMEM, or past max_user_watches): the
      // shortage goes on, so look again later. Thrown on, it ended the
      // callback, and nothing ever looked again (found by review).
      pause(e.code().value());
    }
  });
  backoff_ = std::min<duration>(backoff_ * 2, std::chrono::milliseconds(640));
}

}  // namespace weft
