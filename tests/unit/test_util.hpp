#pragma once
// Helpers shared by the unit tests: run a loop until a condition holds (with
// a deadline, so no test can hang), make connected socket pairs, and give a
// test that blocks signals its thread's mask back.

#include <weft/core/loop.hpp>
#include <weft/core/unique_fd.hpp>

#include <signal.h>
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

// Gives the calling thread its signal mask back when it goes. on_signals
// leaves its signals blocked on purpose (loop.hpp), so a test that calls it
// would hand that mask to every test after it in the same process (found
// with --gtest_shuffle --gtest_random_seed=2: a_signal_handler_may_replace_
// itself ran first and left SIGWINCH blocked). A signal still pending is
// taken first, so that unblocking it cannot kill the test binary.
class signal_mask_guard {
 public:
  signal_mask_guard() { ::pthread_sigmask(SIG_SETMASK, nullptr, &saved_); }
  ~signal_mask_guard() {
    sigset_t now, unblocking;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
    sigemptyset(&unblocking);
    for (int s = 1; s < NSIG; ++s)
      if (sigismember(&now, s) == 1 && sigismember(&saved_, s) != 1) sigaddset(&unblocking, s);
    const timespec none{};
    while (::sigtimedwait(&unblocking, nullptr, &none) > 0) {
    }
    ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  signal_mask_guard(const signal_mask_guard&) = delete;
  signal_mask_guard& operator=(const signal_mask_guard&) = delete;

 private:
  sigset_t saved_{};
};

}  // namespace weft::test
