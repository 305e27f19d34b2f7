// The few syscall wrappers whose behaviour is more than the call itself.
#include "sys/linux/syscalls.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>

namespace weft::sys {
namespace {

// sendfile of a 4 KiB file to a socket whose peer is gone (EPIPE, and a
// SIGPIPE raised). The setup's failures are the test's.
result<size_t> sendfile_to_a_gone_peer() {
  char path[] = "/tmp/weft_sendfile_test_XXXXXX";
  int file = ::mkstemp(path);
  if (file < 0) {
    ADD_FAILURE() << "mkstemp";
    return {0, errno};
  }
  ::unlink(path);
  std::string bytes(4096, 'x');
  EXPECT_EQ(::write(file, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    ADD_FAILURE() << "socketpair";
    ::close(file);
    return {0, errno};
  }
  ::close(pair[1]);  // the peer is gone
  uint64_t offset = 0;
  auto r = sendfile(pair[0], file, &offset, bytes.size());
  ::close(pair[0]);
  ::close(file);
  return r;
}

bool sigpipe_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

// sendfile raises SIGPIPE on a socket whose peer is gone; it takes back
// the one it raised, so the process is not killed. A SIGPIPE the caller had
// blocked and left pending is the caller's: it was taken too (found by
// review).
TEST(sendfile, leaves_a_sigpipe_the_caller_had_pending) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &pipe_only, &old), 0);
  ASSERT_EQ(::raise(SIGPIPE), 0);
  ASSERT_TRUE(sigpipe_pending());

  auto r = sendfile_to_a_gone_peer();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.err, EPIPE);
  EXPECT_TRUE(sigpipe_pending()) << "the caller's pending SIGPIPE was taken";

  // Clean up: take the pending signal, restore the mask.
  const timespec zero{};
  while (sigtimedwait(&pipe_only, nullptr, &zero) > 0) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// With SIGPIPE not blocked by the caller, the one sendfile raises is taken
// back: nothing is left pending to kill the process when it is unblocked.
TEST(sendfile, takes_back_the_sigpipe_it_raised) {
  auto r = sendfile_to_a_gone_peer();  // would kill us if it leaked
  EXPECT_EQ(r.err, EPIPE);
  EXPECT_FALSE(sigpipe_pending());
}

// A program that has SIGPIPE ignored (weft::ignore_sigpipe) gets plain
// calls with no mask around them: a reader gone is an EPIPE, and nothing is
// left pending. In a child: the disposition is the whole process's.
TEST(sendfile, with_sigpipe_ignored_a_gone_peer_is_an_epipe) {
  EXPECT_EXIT(
      {
        if (!ignore_sigpipe()) std::_Exit(3);
        struct ::sigaction now {};
        ::sigaction(SIGPIPE, nullptr, &now);
        if (now.sa_handler != SIG_IGN) std::_Exit(4);
        auto r = sendfile_to_a_gone_peer();
        std::_Exit(r.err == EPIPE && !sigpipe_pending() ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

// fd_path names a directory by the path it has now, which open_beneath
// compares an absolute symlink's target with: a rename is seen.
TEST(fd_path, names_a_directory_by_its_path_now) {
  char tmpl[] = "/tmp/weft_fd_path_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  int dir = ::open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  char buf[4096];
  auto r = fd_path(dir, buf, sizeof buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(buf, r.value), tmpl);
  std::string moved = std::string(tmpl) + "_moved";
  ASSERT_EQ(::rename(tmpl, moved.c_str()), 0);
  r = fd_path(dir, buf, sizeof buf);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(buf, r.value), moved);
  ::close(dir);
  EXPECT_EQ(::rmdir(moved.c_str()), 0);
  EXPECT_FALSE(fd_path(-1, buf, sizeof buf).ok());
}

}  // namespace
}  // namespace weft::sys
