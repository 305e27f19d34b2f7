#pragma once
// Helpers shared by the unit tests: run a loop until a condition holds (with
// a deadline, so no test can hang) and make connected socket pairs.

#include <weft/core/loop.hpp>
#include <weft/core/unique_fd.hpp>

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <utility>

namespace weft::test {

// Runs turns of `l` until done() or the deadline; returns done().
inline bool run_until(loop& l, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    l.run_once(std::chrono::milliseconds(10));
  }
  return true;
}

// A connected, non-blocking AF_UNIX stream pair.
inline std::pair<unique_fd, unique_fd> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

}  // namespace weft::test
