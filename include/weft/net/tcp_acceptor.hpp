#pragma once
// tcp_acceptor: the callback API's server (the write-ups' `Server` class).
// It watches a listener and calls on_connection with each new socket.
//
//   weft::tcp_acceptor acc(loop, std::move(listener), [&](weft::unique_fd fd) { ... });
//
// Per readiness event it accepts at most `batch` connections, so a storm of
// connects cannot starve existing clients. Out of descriptors or memory
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) it disarms the listener, logs once, and
// re-arms on a back-off timer (10 ms to 640 ms). A failure of one
// connection (ECONNABORTED, a pending network error) is skipped; any other
// error (EPERM from a security policy, say), which a callback has no one to
// throw to, is logged, once per cause, and paused on the same back-off.
//
// Threading: belongs to its loop's thread; not movable.

#include <weft/core/io_watcher.hpp>
#include <weft/net/tcp_listener.hpp>

#include <functional>
#include <memory>

namespace weft {

class tcp_acceptor {
 public:
  using handler = std::function<void(unique_fd)>;
  static constexpr int batch = tcp_listener::batch;  // one budget for both ways to accept

  tcp_acceptor(loop& l, tcp_listener listener, handler on_connection);
  ~tcp_acceptor();
  tcp_acceptor(const tcp_acceptor&) = delete;
  tcp_acceptor& operator=(const tcp_acceptor&) = delete;

  // Stops accepting and closes the listening socket.
  void close() noexcept;
  const tcp_listener& listener() const noexcept { return listener_; }
  bool paused() const noexcept { return retry_ != no_timer; }

 private:
  // `on_connection` is the watcher's handler's capture, which io_watcher
  // keeps alive through a call that destroys the watcher (and us with it).
  void on_ready(const handler& on_connection);
  // on_ready's loop; `alive` goes false if the handler destroys us.
  void accept_batch(const bool& alive, const handler& on_connection);
  void pause(int err);

  loop& loop_;
  tcp_listener listener_;
  std::unique_ptr<io_watcher> watcher_;
  timer_id retry_ = no_timer;
  duration backoff_ = std::chrono::milliseconds(10);
  int logged_ = 0;         // the errno of the last pause logged: once per cause
  bool* alive_ = nullptr;  // on_ready's, while it runs: the handler may destroy us
};

}  // namespace weft
