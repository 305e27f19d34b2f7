// what_of: what a caught exception says, for a log line; and the log line itself.
#include <weft/core/log.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>

namespace weft {
namespace {

TEST(what_of, a_standard_exception_says_its_what) {
  auto e = std::make_exception_ptr(std::runtime_error("disk on fire"));
  EXPECT_EQ(what_of(e), "disk on fire");
  auto sys = std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::timed_out)));
  EXPECT_EQ(what_of(sys), std::system_error(std::make_error_code(std::errc::timed_out)).what());
}

TEST(what_of, anything_else_thrown_is_named_as_such) {
  EXPECT_EQ(what_of(std::make_exception_ptr(42)), "an exception not derived from std::exception");
}

// Runs `body` with fd 2 pointed at the write end of a fresh pipe, and
// returns the read end; fd 2 is restored before it returns.
int with_stderr_on_a_pipe(const std::function<void()>& body) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  int saved = ::dup(2);
  ::dup2(p[1], 2);
  ::close(p[1]);
  body();
  ::dup2(saved, 2);
  ::close(saved);
  return p[0];
}

// A message never waits for stderr's reader: one that stopped reading (2>&1
// into a pipe, a paused terminal) would stop the loop that logs, and its
// signals with it. What does not fit is dropped.
// In a child bounded by alarm(2): a message that waited made the test hang
// (found by an audit), and what reached the pipe is whole lines, fewer
// than were logged.
TEST(log, a_full_stderr_drops_messages_rather_than_wait) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(5);
    ::dup2(p[1], 2);
    std::string big(1000, 'x');
    for (int i = 0; i < 200; ++i) log_warn(big);  // 200 KB: three full pipes
    ::_exit(0);
  }
  ::close(p[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status) << " (SIGALRM: a wait)";
  std::string got;
  char buf[65536];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;)
    got.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  const std::size_t line = std::string("weft: warn: ").size() + 1000 + 1;
  EXPECT_EQ(got.size() % line, 0u) << "a message was torn";
  EXPECT_GT(got.size(), 0u);
  EXPECT_LT(got.size() / line, 200u) << "every message went: the pipe never filled";
}

// weft keeps no descriptor of stderr's pipe: one it reopened to write
// without waiting held the pipe open after the program pointed fd 2
// elsewhere (daemon(3)), so its reader never saw the end (found by review).
TEST(log, no_descriptor_of_stderr_outlives_the_message) {
  int reader = with_stderr_on_a_pipe([] { log_warn("one message"); });
  ASSERT_GE(reader, 0);
  ::fcntl(reader, F_SETFL, O_NONBLOCK);
  char buf[256];
  ssize_t n = ::read(reader, buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "weft: warn: one message\n");
  EXPECT_EQ(::read(reader, buf, sizeof buf), 0) << "another writer still holds the pipe";
  ::close(reader);
}

// What a log line is made of, read back from stderr.
std::string logged(const std::function<void()>& body) {
  int reader = with_stderr_on_a_pipe(body);
  if (reader < 0) return "(no pipe)";
  std::string out(8192, '\0');
  ssize_t n = ::read(reader, out.data(), out.size());
  ::close(reader);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

// The parts of a message and what an exception says are one line, built
// without allocating (a catch block's line, under std::bad_alloc, threw
// again: see loop_group's test); a line over 2 KiB is cut, and says so.
TEST(log, parts_and_an_exception_make_one_line_cut_at_2_kib) {
  auto e = std::make_exception_ptr(std::runtime_error("disk on fire"));
  EXPECT_EQ(logged([&] {
              log_error({"task '", "copy", "' ended by exception: "}, e);
            }),
            "weft: error: task 'copy' ended by exception: disk on fire\n");
  std::string line = logged([] { log_warn(std::string(3000, 'x')); });
  ASSERT_EQ(line.size(), 2048u);
  EXPECT_EQ(line.substr(0, 12), "weft: warn: ");
  EXPECT_EQ(line.substr(2044), "...\n");
}

// A null exception_ptr (log_error's called outside a catch, with
// std::current_exception()) is no exception: said so, not rethrown, which
// is undefined behaviour (SIGSEGV). Found by a review of the core loop.
TEST(what_of, a_null_exception_ptr_is_said_to_be_none) {
  EXPECT_EQ(what_of(std::exception_ptr()), "no exception");
  EXPECT_EQ(logged([] { log_error({"x: "}, std::current_exception()); }),
            "weft: error: x: no exception\n");
}

}  // namespace
}  // namespace weft
