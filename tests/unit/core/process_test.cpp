// Process-wide settings: raise_open_file_limit lifts the soft descriptor
// limit to the hard one, and never lowers anything; ignore_sigpipe;
// open_standard_descriptors.
#include <weft/core/process.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <string_view>

namespace weft {
namespace {

TEST(raise_open_file_limit, lifts_the_soft_limit_to_the_hard_one) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  if (old.rlim_max <= 64) GTEST_SKIP() << "the hard limit leaves no room to test";
  rlimit low{64, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::uint64_t now = raise_open_file_limit();
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_EQ(after.rlim_cur, old.rlim_max);
  EXPECT_EQ(after.rlim_max, old.rlim_max);
  EXPECT_EQ(now, old.rlim_max);
}

TEST(raise_open_file_limit, at_the_hard_limit_changes_nothing) {
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit full{old.rlim_max, old.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &full), 0);
  EXPECT_EQ(raise_open_file_limit(), old.rlim_max);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
}

// After ignore_sigpipe a SIGPIPE (a write to a pipe whose reader has gone)
// no longer ends the program. In a child: it is the whole process's.
TEST(ignore_sigpipe, a_sigpipe_no_longer_ends_the_program) {
  EXPECT_EXIT(
      {
        if (!ignore_sigpipe()) std::_Exit(3);
        int p[2];
        if (::pipe(p) != 0) std::_Exit(4);
        ::close(p[0]);
        bool epipe = ::write(p[1], "x", 1) < 0 && errno == EPIPE;
        std::_Exit(epipe ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        int p[2];
        if (::pipe(p) != 0) std::_Exit(4);
        ::close(p[0]);
        (void)::write(p[1], "x", 1);
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGPIPE), "")
      << "without it, the same write ends the program";
}

// Started with stdout closed, a server got its epoll instance, or a
// client's socket, as descriptor 1, and what it printed there (the access
// log on "-") went into it (found by review). In a child: the descriptors
// are the whole process's.
TEST(open_standard_descriptors, puts_dev_null_where_one_is_closed) {
  EXPECT_EXIT(
      {
        ::close(1);
        ::close(2);
        if (!open_standard_descriptors()) std::_Exit(3);
        char where[64] = {};
        for (int fd : {1, 2}) {
          std::string link = "/proc/self/fd/" + std::to_string(fd);
          ssize_t n = ::readlink(link.c_str(), where, sizeof where - 1);
          if (n < 0 || std::string_view(where, static_cast<std::size_t>(n)) != "/dev/null")
            std::_Exit(4);
        }
        std::_Exit(::fcntl(0, F_GETFD) >= 0 ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(open_standard_descriptors, leaves_open_ones_alone) {
  struct ::stat before {};
  ASSERT_EQ(::fstat(1, &before), 0);
  EXPECT_TRUE(open_standard_descriptors());
  struct ::stat after {};
  ASSERT_EQ(::fstat(1, &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(before.st_dev, after.st_dev);
}

// A readiness line on a pipe with room goes out whole; on one that no one
// drains, it gives way once a stop signal (blocked, as on_signals leaves
// it) is pending, and leaves the signal for the loop.
TEST(write_unless_signalled, writes_whole_where_there_is_room) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  EXPECT_TRUE(write_unless_signalled(p[1], "weft x listening on 127.0.0.1:1\n", {SIGTERM}));
  char buf[64] = {};
  EXPECT_EQ(::read(p[0], buf, sizeof buf), 32);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(write_unless_signalled, gives_way_to_a_pending_stop_signal_on_a_full_pipe) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  std::string block(4096, 'z');
  while (::write(p[1], block.data(), block.size()) > 0) {
  }
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGUSR2);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  ::pthread_kill(::pthread_self(), SIGUSR2);
  EXPECT_FALSE(write_unless_signalled(p[1], "weft x listening on 127.0.0.1:1\n", {SIGUSR2}));
  sigset_t pending;
  ::sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1) << "left for the loop";
  const timespec now{0, 0};
  ::sigtimedwait(&term, nullptr, &now);  // taken, before the mask is restored
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(p[0]);
  ::close(p[1]);
}

}  // namespace
}  // namespace weft
