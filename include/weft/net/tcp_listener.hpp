#pragma once
// tcp_listener: a bound, listening, non-blocking TCP socket.
//
//   auto l = tcp_listener::bind(*endpoint::parse("127.0.0.1:0"), {});
//   for (;;) spawn(loop, serve(co_await l.accept()));   // green threads
//
// Or with callbacks, see tcp_acceptor. accept4 returns non-blocking,
// close-on-exec sockets. When the process runs out of descriptors or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), or a security policy refuses
// accept4 (EPERM), accepting pauses with a growing back-off (10 ms to
// 640 ms) and logs once per cause, while existing connections are served;
// it never spins (DESIGN-NOTES §4).
//
// Threading: bind anywhere; accept on one loop's green threads, and close or
// destroy it on that loop's thread (running or not): the listener remembers
// the loop its accepts waited on and drops its fd from that loop.

#include <weft/core/unique_fd.hpp>
#include <weft/net/address.hpp>
#include <weft/net/tcp_stream.hpp>

#include <functional>
#include <utility>

namespace weft {

struct listen_options {
  int backlog = 4096;                        // capped at /proc/sys/net/core/somaxconn
  bool reuse_address = true;                 // SO_REUSEADDR
  bool reuse_port = false;                   // SO_REUSEPORT: one listener per loop
  trigger accepted_trigger = trigger::edge;  // for the accepted streams
  // TCP_DEFER_ACCEPT, in seconds (0: off): a connection reaches accept()
  // once its first bytes have come, or, with none, after about this long.
  // For protocols whose client speaks first (HTTP): the first read then
  // finds the request, where a connection accepted bare cost an empty
  // read, an epoll registration and a wake-up more (h2o sets 1 s; nginx
  // has `listen ... deferred`). A connection still silent when the
  // listener closes is reset, as the kernel holds it outside the queue. Set
  // where the kernel allows it; ignored where it does not.
  int defer_accept_seconds = 0;
};

class tcp_listener {
 public:
  tcp_listener() = default;
  tcp_listener(tcp_listener&& o) noexcept;
  tcp_listener& operator=(tcp_listener&& o) noexcept;
  // No wake-up here, as for a stream: a listener destroyed under a pending
  // accept() goes with the frame that awaited it.
  ~tcp_listener() { release(); }
  // Throws std::system_error (e.g. address in use). An IPv6 address takes
  // IPv6 clients only ([::]: bind 0.0.0.0 too for both), but for an
  // IPv4-mapped one ([::ffff:127.0.0.1]), which takes IPv4 clients.
  static tcp_listener bind(const endpoint& at, const listen_options& opts = {});

  // The bound address, with the real port when bound to port 0.
  endpoint local_endpoint() const;
  int native_handle() const noexcept { return fd_.get(); }
  const listen_options& options() const noexcept { return opts_; }

  // The next connection. Cancellable; never spins on EMFILE. One at a
  // time: accept() while another green thread waits in one throws
  // std::logic_error. After `batch` accepts in a row that found a
  // connection waiting, the next first gives the loop a turn, so a storm of
  // connects cannot starve the rest of it. The listener may be moved while
  // an accept() waits: the accept goes on with the moved-to listener. A
  // failure of one connection (ECONNABORTED, a pending network error) is
  // skipped, and counts towards `batch` too; any other error but a shortage
  // or EPERM (a listener closed under it) throws std::system_error.
  static constexpr int batch = 64;
  task<tcp_stream> accept();
  // One accept4 attempt: a connected fd, or an empty one with errno in err.
  unique_fd try_accept(int& err) noexcept;
  // Called each time an accept() finds the process out of descriptors or
  // memory, before it pauses: a server may let go of what it can spare
  // (HTTP's idle keep-alive connections). Empty: nothing is called. One
  // that throws is logged, and the accepts go on.
  void on_shortage(std::function<void()> f) { on_shortage_ = std::move(f); }
  // An accept() another green thread waits in ends with
  // std::errc::operation_canceled (Asio's operation_aborted).
  void close() noexcept;
  bool is_open() const noexcept { return static_cast<bool>(fd_); }

 private:
  struct accept_wait;  // lives in accept()'s frame; it and the listener unlink each other
  void release() noexcept;

  unique_fd fd_;
  listen_options opts_;
  loop* owner_ = nullptr;             // the loop accept() waited on, which knows our fd
  accept_wait* accepting_ = nullptr;  // the accept() in progress, if any
  int burst_ = 0;                     // accepts in a row that did not wait
  int warned_ = 0;                    // the errno of the last pause said, once per cause
  std::function<void()> on_shortage_;
};

// The effective backlog for a requested one (somaxconn caps it).
int effective_backlog(int requested) noexcept;
// True for the errors that mean "out of descriptors or memory": pause
// accepting rather than fail.
bool is_resource_exhaustion(int err) noexcept;
// True for accept errors that concern one connection only (it was aborted,
// or brought a network error: accept(2)): skip it and accept the next.
bool is_transient_accept_error(int err) noexcept;
// Says why accepting pauses on `err`: a shortage, a policy's EPERM, or
// another error. Allocates nothing. tcp_listener and tcp_acceptor call it
// once per cause.
void log_accept_pause(int err) noexcept;

}  // namespace weft
