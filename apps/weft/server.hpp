#pragma once
// What every `weft` subcommand shares: its common options, binding one
// SO_REUSEPORT listener per loop, the readiness line, and graceful stop on
// SIGINT, SIGTERM or SIGHUP with exit status 0.

#include <weft/net/loop_group.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/task_group.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>

namespace weft::app {

struct common_options {
  std::string host = "127.0.0.1";
  int port = 0;
  int threads = 0;  // 0: one loop per core
  int backlog = 4096;
  std::string trigger = "edge";
  double shutdown_grace = 5.0;  // seconds for in-flight work at stop
  bool reuse_port = false;      // join a port another process serves
  // listen_options::defer_accept_seconds: 1 for the HTTP subcommands, whose
  // clients speak first; no flag sets it.
  int defer_accept_seconds = 0;

  weft::trigger trigger_mode() const { return trigger == "level" ? trigger::level : trigger::edge; }
};

// A flag's seconds (checked by main.cpp's seconds(min, max)) as a duration.
duration seconds(double s);

// The other half of that clock: whether a client owed replies has taken
// any since the last look. Its own reads show only when the socket has
// room again, a third of its send buffer (hundreds of KiB on loopback), so
// a client reading steadily but slowly was cut as idle (found by review).
// Asked only once the clock has run out, as a syscall per reply would cost:
// a client still owed replies that stops taking them is cut one to two
// timeouts after it last took any. One owed none is idle from its last
// request, whenever it took its last reply (the close is then a FIN, and
// nothing is lost). One connection's, on its loop thread.
class reply_progress {
 public:
  // `n` more bytes of replies, handed to the kernel or to a buffer.
  void wrote(std::size_t n) noexcept { written_ += n; }
  // Whether the client has taken replies since the last call: bytes
  // written that have left both `buffered` (still ours) and the kernel's
  // queue (SIOCOUTQ). False when nothing is owed.
  bool moved(int fd, std::size_t buffered) noexcept;

 private:
  std::uint64_t written_ = 0;
  std::uint64_t taken_ = 0;  // at the last call
};

// A server running on one loop. begin_shutdown stops accepting, lets work in
// flight finish, and calls done (on its loop) when nothing is left.
class service {
 public:
  virtual ~service() = default;
  virtual void begin_shutdown(std::function<void()> done) = 0;
};

void connection_spawned() noexcept;
void connection_dropped(const char* name) noexcept;

// Spawns a connection's green thread, the task that make() returns, in
// `group`. One that cannot have it (std::bad_alloc: its frame) is closed,
// with a warning while that lasts, and the accept loop goes on: thrown on,
// it ended the accept loop, and the server, still up, served no one again
// (found by review, under RLIMIT_AS).
template <class MakeTask>
void spawn_connection(loop& l, task_group& group, const char* name, MakeTask&& make) noexcept {
  try {
    group.spawn(l, make(), name);
    connection_spawned();
  } catch (const std::bad_alloc&) {
    connection_dropped(name);
  }
}
using service_factory = std::function<std::unique_ptr<service>(loop&, tcp_listener)>;

// Binds, prints "weft <name> listening on <host>:<port>", runs until a
// signal, shuts down gracefully. Returns the process exit status. SIGUSR1
// calls `reopen`, if any, on the controlling thread (the HTTP subcommands
// reopen their access log, as nginx does), and is otherwise ignored.
int run_server(const std::string& name, const common_options& opts, service_factory make,
               std::function<void()> reopen = {});

}  // namespace weft::app
