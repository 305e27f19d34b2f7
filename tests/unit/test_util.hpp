#pragma once
// Helpers shared by the unit tests: run a loop until a condition holds (with
// a deadline, so no test can hang), make connected socket pairs and fds
// that epoll refuses, and give a test that blocks signals its thread's
// mask back.

#include <weft/core/loop.hpp>
#include <weft/core/unique_fd.hpp>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>

#include <chrono>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <utility>
#include <vector>

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

// A descriptor that epoll refuses (an unlinked regular file) whose number
// can then be handed to a socket: for the tests that a refused watch or
// wait leaves its fd number free for the next socket to get it.
class refused_fd {
 public:
  refused_fd() : file_(std::tmpfile()) {
    if (file_ == nullptr) throw std::runtime_error("tmpfile");
  }
  ~refused_fd() { std::fclose(file_); }
  refused_fd(const refused_fd&) = delete;
  refused_fd& operator=(const refused_fd&) = delete;
  int get() const noexcept { return fileno(file_); }
  // Puts one end of a new socket pair at this number, as accept() might;
  // returns the other end.
  unique_fd become_socket() {
    auto [a, b] = socket_pair();
    if (::dup2(b.get(), get()) != get()) throw std::runtime_error("dup2");
    return std::move(a);
  }

 private:
  std::FILE* file_;
};

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

// Tells when a handler's captures are destroyed: a copy of it, captured,
// sets `*gone` as it goes. A test reads the flag through a static, not
// through a capture, so that it never reads freed memory itself.
struct lifetime_token {
  bool* gone;
  explicit lifetime_token(bool* g) : gone(g) {}
  lifetime_token(const lifetime_token&) = default;
  lifetime_token& operator=(const lifetime_token&) = default;
  ~lifetime_token() { *gone = true; }
};

// Holds every descriptor below a lowered limit (64) while it lives, so that
// the next open or accept4 gets EMFILE; a descriptor closed meanwhile is
// the only one free.
class descriptors_used_up {
 public:
  descriptors_used_up() {
    ::getrlimit(RLIMIT_NOFILE, &old_);
    rlimit low = old_;
    low.rlim_cur = 64;
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::dup(0)) >= 0;) hogs_.emplace_back(fd);
  }
  ~descriptors_used_up() {
    hogs_.clear();
    ::setrlimit(RLIMIT_NOFILE, &old_);
  }
  descriptors_used_up(const descriptors_used_up&) = delete;
  descriptors_used_up& operator=(const descriptors_used_up&) = delete;

 private:
  rlimit old_{};
  std::vector<unique_fd> hogs_;
};

// Makes every later system call `nr` of this process fail with `err`, by a
// seccomp filter, as systemd's SystemCallFilter with SystemCallErrorNumber
// or a container's profile does. False where seccomp cannot be had. For a
// forked child: the filter binds the process for good.
inline bool refuse_syscall(long nr, int err) {
  sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(nr), 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | static_cast<unsigned>(err)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(f)), f};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace weft::test
