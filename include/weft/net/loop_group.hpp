#pragma once
// loop_group: one loop per thread, shared-nothing (Seastar's model). Each
// loop gets its own SO_REUSEPORT listener (see bind_reuseport), so the
// kernel spreads connections across loops and no lock is ever taken.
//
// Threading: construct, start, stop and join from one controlling thread.
// stop() is also safe from any thread. Block signals (loop::on_signals)
// before start(), so the workers inherit the blocked mask.

#include <weft/core/loop.hpp>
#include <weft/net/tcp_listener.hpp>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace weft {

class loop_group {
 public:
  // n == 0 means one loop per CPU core. Each loop holds descriptors of its
  // own (epoll, eventfd): one that cannot be made throws std::system_error.
  explicit loop_group(std::size_t n = 0);
  // The CPU cores this process may use: the loops of loop_group(0).
  static std::size_t cores() noexcept;
  ~loop_group();
  loop_group(const loop_group&) = delete;
  loop_group& operator=(const loop_group&) = delete;

  std::size_t size() const noexcept { return loops_.size(); }
  loop& at(std::size_t i) noexcept { return *loops_[i]; }

  // Starts one thread per loop; each runs setup(loop, index) on its own
  // thread and then the loop until stop(). start() returns once every
  // setup has run, so a setup must not wait for the calling thread.
  // `ready`, if given, runs on the calling thread after every setup and
  // before any loop runs: what it writes (a server's readiness line) comes
  // before anything a loop does (found by review: access-log lines of
  // requests already served came first on a shared stdout). A `ready` that
  // throws fails start() as a setup that throws does; what the setups
  // queued on their loops (posts, timers) then stays queued, to run if the
  // group is started again, so a caller that frees what they use should
  // destroy the group instead. The
  // green threads still suspended at stop() are destroyed on their loop's
  // thread, before join() returns. A group may be started again after
  // stop() and join(); before them, start() throws std::logic_error. A
  // setup that throws, or a thread that cannot be made (std::system_error,
  // std::bad_alloc), makes start() throw that, once every thread it
  // started is stopped and joined.
  void start(const std::function<void(loop&, std::size_t)>& setup,
             const std::function<void()>& ready = {});
  void stop() noexcept;
  void join();

 private:
  std::vector<std::unique_ptr<loop>> loops_;
  std::vector<std::thread> threads_;
};

// Binds n listeners to one address with SO_REUSEPORT (n > 1), resolving
// port 0 once so that all of them share the port the kernel picked. A port
// that another socket already serves is refused (EADDRINUSE), unless
// share_port: then SO_REUSEPORT is set even for n == 1 and the listeners
// join the other process's (same user's) group, as a restart that takes
// over a port needs.
std::vector<tcp_listener> bind_reuseport(const endpoint& at, std::size_t n, listen_options opts,
                                         bool share_port = false);

}  // namespace weft
