#include <weft/core/fd_io.hpp>
#include <weft/net/errors.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/timeout.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "alloc_failure.hpp"
#include "test_util.hpp"

using namespace weft;

namespace {

// A connected loopback TCP pair: (server side as stream, client fd).
struct tcp_pair {
  tcp_stream server;
  unique_fd client;
};

task<void> make_pair(tcp_listener* l, tcp_pair* out, bool* done) {
  out->server = co_await l->accept();
  *done = true;
}

tcp_pair connect_pair(loop& lp, trigger t = trigger::edge) {
  listen_options opts;
  opts.accepted_trigger = t;
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0), opts);
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  endpoint at = listener.local_endpoint();
  EXPECT_EQ(::connect(c, at.data(), at.size()), 0);
  tcp_pair p;
  p.client.reset(c);
  bool done = false;
  spawn(lp, make_pair(&listener, &p, &done));
  EXPECT_TRUE(test::run_until(lp, [&] { return done; }));
  return p;
}

std::string read_all_blocking(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct result {
  bool done = false;
  std::error_code error;
  std::vector<std::string> lines;
};

task<void> read_lines(tcp_stream* s, std::size_t max, result* r) {
  try {
    for (;;) {
      std::string_view line = co_await s->read_until('\n', max);
      if (line.empty()) break;
      r->lines.emplace_back(line);
    }
  } catch (const std::system_error& e) {
    r->error = e.code();
  }
  r->done = true;
}

task<void> write_then_close(tcp_stream* s, std::string data, result* r) {
  try {
    co_await s->write_all(data);
  } catch (const std::system_error& e) {
    r->error = e.code();
  }
  s->close();
  r->done = true;
}

}  // namespace

class tcp_stream_modes : public testing::TestWithParam<trigger> {};

TEST_P(tcp_stream_modes, reads_lines_sent_together_and_split) {
  loop l;
  auto p = connect_pair(l, GetParam());
  result r;
  spawn(l, read_lines(&p.server, 100, &r));
  std::string text = "one\ntwo\nthr";
  ASSERT_EQ(::send(p.client.get(), text.data(), text.size(), 0), 11);
  l.run_once(20ms);
  ASSERT_EQ(::send(p.client.get(), "ee\n", 3, 0), 3);
  l.run_once(20ms);
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
  EXPECT_EQ(r.lines, (std::vector<std::string>{"one\n", "two\n", "three\n"}));
}

TEST_P(tcp_stream_modes, eof_mid_line_returns_the_partial_line_then_eof) {
  loop l;
  auto p = connect_pair(l, GetParam());
  result r;
  spawn(l, read_lines(&p.server, 100, &r));
  ASSERT_EQ(::send(p.client.get(), "full\npart", 9, 0), 9);
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"full\n", "part"}));
}

// Sends `bytes` and the FIN in one segment (TCP_CORK): one edge for both.
bool send_with_fin(int fd, std::string_view bytes) {
  int one = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0 &&
         ::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()) &&
         ::shutdown(fd, SHUT_WR) == 0;
}

TEST_P(tcp_stream_modes, eof_arriving_with_the_data_is_seen_by_a_waiting_reader) {
  // Regression: with edge triggering, a short read was taken to mean "socket
  // drained" and the next read skipped; but data and FIN can share one edge,
  // and no edge follows for the EOF.
  loop l;
  auto p = connect_pair(l, GetParam());
  result r;
  spawn(l, read_lines(&p.server, 100, &r));
  l.run_once(10ms);  // the reader is now waiting
  ASSERT_TRUE(send_with_fin(p.client.get(), "no terminator"));
  ASSERT_TRUE(test::run_until(
      l, [&] { return r.done; }, std::chrono::seconds(2)));
  EXPECT_EQ(r.lines, (std::vector<std::string>{"no terminator"}));
}

// The same, with the edge coming while the reader does something else: the
// loop kept the edge for the next read, but not that the peer had closed,
// so the short read of the last bytes was taken for "drained" and the read
// after it waited for an edge that had come (found by review: `weft echo`
// lost a client's partial last line, and its close, until the idle timeout).
task<void> read_line_pause_then_read_lines(tcp_stream* s, result* r) {
  std::string_view first = co_await s->read_until('\n', 100);
  r->lines.emplace_back(first);
  co_await weft::sleep(100ms);  // the bytes and the FIN come meanwhile
  co_await read_lines(s, 100, r);
}

TEST_P(tcp_stream_modes, eof_arriving_with_the_data_while_no_one_reads_is_seen) {
  loop l;
  auto p = connect_pair(l, GetParam());
  result r;
  spawn(l, read_line_pause_then_read_lines(&p.server, &r));
  l.run_once(10ms);  // the reader waits: the stream is in epoll from here on
  ASSERT_EQ(::send(p.client.get(), "a\n", 2, 0), 2);
  ASSERT_TRUE(test::run_until(
      l, [&] { return r.lines.size() == 1; }, std::chrono::seconds(2)));
  ASSERT_TRUE(send_with_fin(p.client.get(), "b"));
  ASSERT_TRUE(test::run_until(
      l, [&] { return r.done; }, std::chrono::seconds(2)));
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a\n", "b"}));
}

TEST_P(tcp_stream_modes, line_over_the_limit_fails_clearly) {
  loop l;
  auto p = connect_pair(l, GetParam());
  result r;
  spawn(l, read_lines(&p.server, 10, &r));
  std::string ok = std::string(10, 'a') + "\n";  // exactly at the limit
  std::string bad = std::string(11, 'b') + "\n";
  std::string both = ok + bad;
  ASSERT_EQ(::send(p.client.get(), both.data(), both.size(), 0), static_cast<ssize_t>(both.size()));
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
  EXPECT_EQ(r.lines, (std::vector<std::string>{ok}));
  EXPECT_EQ(r.error, net_errc::line_too_long);
}

TEST_P(tcp_stream_modes, long_line_without_delimiter_fails_without_unbounded_buffering) {
  loop l;
  auto p = connect_pair(l, GetParam());
  result r;
  spawn(l, read_lines(&p.server, 100000, &r));
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 4 && !r.done; ++i) {
    (void)::send(p.client.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    l.run_once(10ms);
  }
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
  EXPECT_EQ(r.error, net_errc::line_too_long);
}

TEST_P(tcp_stream_modes, write_all_survives_partial_writes_with_a_tiny_send_buffer) {
  loop l;
  auto p = connect_pair(l, GetParam());
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  std::string data(1024 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 251);
  result r;
  spawn(l, write_then_close(&p.server, data, &r));
  std::string got;
  std::thread reader([&] { got = read_all_blocking(p.client.get()); });
  ASSERT_TRUE(test::run_until(
      l, [&] { return r.done; }, std::chrono::seconds(20)));
  reader.join();
  EXPECT_FALSE(r.error);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST_P(tcp_stream_modes, peer_reset_mid_write_is_an_error_not_a_crash) {
  loop l;
  auto p = connect_pair(l, GetParam());
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  result r;
  spawn(l, write_then_close(&p.server, std::string(8 * 1024 * 1024, 'r'), &r));
  l.run_once(10ms);
  EXPECT_FALSE(r.done);  // blocked on a full socket
  // Reset: SO_LINGER 0 then close sends RST. No SIGPIPE may kill us.
  linger lg{1, 0};
  ASSERT_EQ(::setsockopt(p.client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  p.client.reset();
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
  EXPECT_TRUE(r.error == std::errc::connection_reset || r.error == std::errc::broken_pipe)
      << r.error.message();
}

INSTANTIATE_TEST_SUITE_P(both, tcp_stream_modes, testing::Values(trigger::level, trigger::edge),
                         [](const auto& param_info) {
                           return param_info.param == trigger::edge ? "edge" : "level";
                         });

TEST(tcp_stream, buffered_writes_leave_together_before_the_next_read_waits) {
  loop l;
  auto p = connect_pair(l);
  auto replier = [](tcp_stream* s) -> task<void> {
    for (int i = 0; i < 3; ++i) co_await s->write("reply\n");  // buffered, not sent
    EXPECT_EQ(s->buffered_output(), 18u);
    char c;
    co_await s->read_some({&c, 1});  // would wait: flushes first
  };
  spawn(l, replier(&p.server));
  l.run_once(20ms);
  char buf[64];
  ssize_t n = ::recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT);
  EXPECT_EQ(n, 18);
  ::send(p.client.get(), "x", 1, 0);
  l.run_once(20ms);
}

namespace {
task<void> echo_lines(tcp_stream* s, std::size_t* lines) {
  for (;;) {
    std::string_view line = co_await s->read_until('\n', 100);
    if (line.empty()) break;
    co_await s->write(line);
    ++*lines;
  }
  co_await s->flush();
}

task<void> note_lines(const std::size_t* lines, std::size_t* seen) {
  *seen = *lines;
  co_return;
}
}  // namespace

// A stream whose input is always there and whose output always has room
// never needs to wait, so its task never gave the loop back: under a flood,
// `weft echo` answered nothing else on that loop for seconds, and a SIGTERM
// posted to it was never seen. After a run of operations that completed at
// once, the next one yields to the loop first.
TEST(tcp_stream, a_stream_that_never_waits_still_lets_the_loop_run) {
  loop l;
  auto p = connect_pair(l);
  std::string flood;
  for (int i = 0; i < 10000; ++i) flood += "a\n";
  ASSERT_EQ(::send(p.client.get(), flood.data(), flood.size(), 0),
            static_cast<ssize_t>(flood.size()));
  std::size_t lines = 0, seen = 0;
  spawn(l, echo_lines(&p.server, &lines));
  spawn(l, note_lines(&lines, &seen));  // runs when the echo first lets go
  ASSERT_TRUE(test::run_until(l, [&] { return lines == 10000; }));
  EXPECT_GT(seen, 0u);
  EXPECT_LT(seen, 1000u) << "the other task waited for the whole flood";
  ::shutdown(p.client.get(), SHUT_WR);
  l.run_once(10ms);
}

// A wait that cannot be registered (epoll_ctl: ENOSPC past
// fs.epoll.max_user_watches, ENOMEM) fails its operation, as when the task
// first suspends. Met in the loop's callback instead, the first wait after
// a yield (64 operations that needed none, or a sendfile slice), it threw
// out of a noexcept function, and std::terminate ended the whole server
// (found by review, epoll_ctl failing through LD_PRELOAD). Here the
// loop's table has no room yet for the descriptor's number, and that
// allocation fails.
TEST(tcp_stream, a_wait_that_cannot_be_registered_after_a_yield_fails_its_operation) {
  loop l;
  auto [mine, peer] = test::socket_pair();
  int high = ::fcntl(mine.get(), F_DUPFD_CLOEXEC, 900);  // past the loop's table
  ASSERT_GE(high, 900);
  mine.reset();
  std::error_code code;
  bool suspended = false, done = false;
  auto task_fn = [](tcp_stream s, bool* susp, std::error_code* c, bool* d) -> task<void> {
    for (int i = 0; i < 64; ++i) co_await s.write("x");  // none waits
    *susp = true;
    char buf[8];
    try {
      co_await s.read_some(buf);  // yields a turn, then must wait
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  };
  spawn(l, task_fn(tcp_stream(l, unique_fd(high)), &suspended, &code, &done));
  l.run_once(0ms);
  ASSERT_TRUE(suspended);
  ASSERT_FALSE(done);
  test::fail_allocation(1);
  l.run_once(0ms);
  test::fail_allocation(0);
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, std::errc::not_enough_memory) << code.message();
}

// A read whose buffer cannot grow (std::bad_alloc: a server near its
// RLIMIT_AS, or with overcommit off) fails that read with ENOMEM, and the
// loop goes on. The buffer grew inside fill(), which is noexcept, and the
// throw ended the whole process through std::terminate: `weft echo` and
// `weft hello` died on clients sending long lines or heads (found by review).
TEST(tcp_stream, a_read_whose_buffer_cannot_grow_fails_with_enomem) {
  loop l;
  auto [mine, peer] = test::socket_pair();
  std::error_code code;
  bool first = false, done = false;
  auto reader = [](tcp_stream s, bool* f, std::error_code* c, bool* d) -> task<void> {
    co_await s.read_until('\n', 100);  // a line: the loop's tables and pool are warm
    *f = true;
    try {
      co_await s.read_until('\n', 65536);  // past a pooled block: the buffer grows
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  };
  spawn(l, reader(tcp_stream(l, std::move(mine)), &first, &code, &done));
  ASSERT_EQ(::send(peer.get(), "a\n", 2, 0), 2);
  ASSERT_TRUE(test::run_until(l, [&] { return first; }));
  l.run_once(0ms);  // the second read waits
  std::string long_line(detail::pool_block_size + 4096, 'x');
  ASSERT_EQ(::send(peer.get(), long_line.data(), long_line.size(), 0),
            static_cast<ssize_t>(long_line.size()));
  test::fail_allocation(1);
  l.run_once(100ms);
  bool failed = test::allocation_failed();
  test::fail_allocation(0);
  // ASan's operator new[], which the buffer uses, does not go through the
  // replaced operator new that fails on demand.
  if (!failed) GTEST_SKIP() << "this build's operator new[] cannot be made to fail";
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, std::errc::not_enough_memory) << code.message();
}

namespace {
// The README's echo: no flush before it returns on EOF.
task<void> echo_until_eof(tcp_stream s, bool* done) {
  for (;;) {
    std::string_view line = co_await s.read_until('\n', 100);
    if (line.empty()) break;
    co_await s.write(line);
  }
  *done = true;
}

task<void> echo_bytes_until_eof(tcp_stream s, bool* done) {
  char buf[64];
  for (;;) {
    std::size_t n = co_await s.read_some({buf, sizeof buf});
    if (n == 0) break;
    co_await s.write({buf, n});
  }
  *done = true;
}
}  // namespace

// A read that reports the end of the input first sends what was written
// before it: the usual task ends on that read, and its stream then closed
// with the last replies still buffered. The README's echo lost "three".
TEST(tcp_stream, the_end_of_input_sends_what_was_written_before_it) {
  for (int variant = 0; variant < 2; ++variant) {
    loop l;
    auto p = connect_pair(l);
    bool done = false;
    spawn(l, variant == 0 ? echo_until_eof(std::move(p.server), &done)
                          : echo_bytes_until_eof(std::move(p.server), &done));
    ASSERT_EQ(::send(p.client.get(), "one\ntwo\nthree", 13, 0), 13);
    ::shutdown(p.client.get(), SHUT_WR);
    ASSERT_TRUE(test::run_until(l, [&] { return done; }));
    l.run_once(10ms);
    std::string got;
    char buf[64];
    for (ssize_t n; (n = ::recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(got, "one\ntwo\nthree") << "variant " << variant;
  }
}

namespace {
task<void> read_and_note(tcp_stream* s, std::error_code* code, bool* done) {
  try {
    char c;
    co_await s->read_some({&c, 1});
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}

// A green thread suspended in a read of a connected stream.
struct waiting_reader {
  loop l;
  tcp_pair p = connect_pair(l);
  std::error_code code;
  bool done = false;
  waiting_reader() {
    spawn(l, read_and_note(&p.server, &code, &done));
    l.run_once(10ms);
  }
};
}  // namespace

// Closing a stream ends the operation another green thread is suspended in,
// cancelled, as Asio ends it with operation_aborted. It stayed suspended
// for good: its wait was dropped with the fd.
TEST(tcp_stream, closing_a_stream_ends_the_read_another_task_waits_in) {
  waiting_reader r;
  ASSERT_FALSE(r.done);
  r.p.server.close();
  ASSERT_TRUE(test::run_until(
      r.l, [&] { return r.done; }, 1s));
  EXPECT_EQ(r.code, std::errc::operation_canceled);
}

// A stream outlives the green threads that used it: closing it after they
// ended must not look at their freed contexts (ASan: close() read the last
// one to check whether it still waited).
TEST(tcp_stream, closing_a_stream_after_its_reader_ended_touches_nothing_of_it) {
  waiting_reader r;
  ASSERT_EQ(::send(r.p.client.get(), "x", 1, 0), 1);
  ASSERT_TRUE(test::run_until(
      r.l, [&] { return r.done; }, 1s));
  r.l.run_once(0ms);  // the reader's context is gone
  r.p.server.close();
  EXPECT_FALSE(r.p.server.is_open());
}

// One read at a time per stream. A second green thread that starts a read
// while another waits in one gets a clear error, and the waiting read is
// untouched: before, the second operation overwrote the waiting one's
// state, and the reader woke with the other's result. (A reader and a
// writer may share a stream: tcp_stream_duplex_test.)
TEST(tcp_stream, starting_a_read_while_another_task_waits_in_one_is_an_error) {
  waiting_reader r;
  bool refused = false;
  auto second_reader = [](tcp_stream* s, bool* out) -> task<void> {
    try {
      char c;
      co_await s->read_some({&c, 1});
    } catch (const std::logic_error&) {
      *out = true;
    }
  };
  spawn(r.l, second_reader(&r.p.server, &refused));
  ASSERT_TRUE(test::run_until(
      r.l, [&] { return refused; }, 1s));
  EXPECT_FALSE(r.done);
  ASSERT_EQ(::send(r.p.client.get(), "x", 1, 0), 1);
  ASSERT_TRUE(test::run_until(
      r.l, [&] { return r.done; }, 1s));
  EXPECT_FALSE(r.code) << r.code.message();
}

namespace {
task<void> cancel_then_read(green_thread* reader, tcp_stream* s) {
  reader->cancel();
  try {
    char c;
    co_await s->read_some({&c, 1});
  } catch (const std::logic_error&) {
  }
}
task<void> read_65(tcp_stream* s, int* reads) {
  char c;
  for (int i = 0; i < 65; ++i) {
    co_await s->read_some({&c, 1});
    ++*reads;
  }
}
task<void> cancel_and_read_when_yielding(green_thread* reader, tcp_stream* s, int* reads) {
  if (*reads != 64) co_return;
  reader->cancel();
  try {
    char c;
    co_await s->read_some({&c, 1});
  } catch (const std::logic_error&) {
  }
}
}  // namespace

// A cancelled operation stays the stream's until its task has resumed and
// seen the cancellation: another task's read in between is refused.
// Before, it reset the cancelled one, which woke with the other's result (a
// read returned 0, as at EOF) or, if it was yielding, was resumed twice
// (ASan; found by review).
TEST(tcp_stream, a_cancelled_operation_stays_the_streams_until_its_task_resumes) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(a));
  std::error_code code;
  bool done = false;
  green_thread reader = spawn(l, read_and_note(&s, &code, &done));
  l.run_once(10ms);
  spawn(l, cancel_then_read(&reader, &s));
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 1s));
  EXPECT_EQ(code, std::errc::operation_canceled);

  auto [c, d] = test::socket_pair();
  std::string bytes(200, 'a');
  ASSERT_EQ(::send(d.get(), bytes.data(), bytes.size(), 0), 200);
  tcp_stream t(l, std::move(c));
  int reads = 0;
  green_thread yielding = spawn(l, read_65(&t, &reads));
  spawn(l, cancel_and_read_when_yielding(&yielding, &t, &reads));
  ASSERT_TRUE(test::run_until(
      l, [&] { return yielding.done(); }, 1s));
  EXPECT_EQ(reads, 64);
}

namespace {
// Reads one byte at a time until `reads` reaches 64, when its next read
// yields to the loop (ready_budget), and notes where it got.
task<void> read_until_it_yields(tcp_stream* s, int* reads) {
  char c;
  for (;;) {
    co_await s->read_some({&c, 1});
    ++*reads;
  }
}
struct yielding_reader {
  loop l;
  std::unique_ptr<tcp_stream> s;
  unique_fd peer;
  int reads = 0;
  yielding_reader() {
    auto [a, b] = test::socket_pair();
    peer = std::move(b);
    std::string bytes(200, 'a');
    EXPECT_EQ(::send(peer.get(), bytes.data(), bytes.size(), 0), 200);
    s = std::make_unique<tcp_stream>(l, std::move(a));
    spawn_n(l, read_until_it_yields(s.get(), &reads));
    l.run_once(0ms);  // 64 reads, then the 65th waits for its turn
    EXPECT_EQ(reads, 64);
  }
};
}  // namespace

// A stream may outlive a green thread its loop destroyed while it waited
// in an operation: the stream is free for the next one. Before, it
// refused every operation for good (found by review).
TEST(tcp_stream, a_stream_is_free_again_after_its_loop_destroyed_the_waiting_task) {
  {
    waiting_reader r;
    r.l.destroy_green_threads();
    EXPECT_NO_THROW((void)r.p.server.write("x"));
  }
  yielding_reader y;
  y.l.destroy_green_threads();
  bool done = false;
  spawn_n(y.l, [](tcp_stream* s, bool* out) -> task<void> {
    char c;
    co_await s->read_some({&c, 1});
    *out = true;
  }(y.s.get(), &done));
  ASSERT_TRUE(test::run_until(
      y.l, [&] { return done; }, 1s));
  EXPECT_EQ(y.reads, 64);
}

// Destroying a stream while its reader yields (its next step queued for
// the loop's next turn) drops that step: it ran on the freed stream (ASan).
// The reader stays suspended, as the header says, until its loop goes.
TEST(tcp_stream, destroying_a_stream_while_its_reader_yields_drops_the_queued_step) {
  yielding_reader y;
  y.s.reset();
  y.l.run_once(0ms);
  y.l.run_once(0ms);
  EXPECT_EQ(y.reads, 64);
}

// The same for a reader cancelled, its resumption queued, when its stream
// goes: the resumption is dropped, as it would read the freed stream's op.
TEST(tcp_stream, destroying_a_stream_while_its_cancelled_reader_is_queued_drops_the_resumption) {
  loop l;
  auto [a, b] = test::socket_pair();
  auto s = std::make_unique<tcp_stream>(l, std::move(a));
  std::error_code code;
  bool done = false;
  green_thread reader = spawn(l, read_and_note(s.get(), &code, &done));
  l.run_once(0ms);
  reader.cancel();
  s.reset();
  l.run_once(0ms);
  l.run_once(0ms);
  EXPECT_FALSE(done);
}

// The same for a read cancelled just before the teardown (by its task's
// cancel, a timeout, or close() from another task): its task is destroyed
// instead of resuming to see the cancellation, and the stream is free
// (found by review: the op stayed busy, and the stream refused every read).
TEST(tcp_stream, a_stream_is_free_after_teardown_even_if_its_read_was_cancelled_just_before) {
  loop l;
  auto [a, peer] = test::socket_pair();
  tcp_stream s(l, std::move(a));
  std::error_code first_code;
  bool first_done = false;
  green_thread reader = spawn(l, read_and_note(&s, &first_code, &first_done));
  l.run_once(0ms);  // the read waits for input
  ASSERT_FALSE(first_done);
  reader.cancel();  // its resumption is queued; the op stays busy until it runs
  l.destroy_green_threads();
  ASSERT_FALSE(first_done);

  // The loop runs again, with a new task reading the surviving stream.
  std::error_code code;
  bool done = false;
  bool refused = false;
  spawn_n(l, [](tcp_stream* st, std::error_code* c, bool* d, bool* r) -> task<void> {
    try {
      co_await read_and_note(st, c, d);
    } catch (const std::logic_error&) {
      *r = true;
      *d = true;
    }
  }(&s, &code, &done, &refused));
  ASSERT_EQ(::send(peer.get(), "x", 1, 0), 1);
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 1s));
  EXPECT_FALSE(refused) << "the stream refuses reads for good: its op is stuck busy";
  EXPECT_FALSE(code) << code.message();
}

// A read after another task closed the stream, between the reader's
// operations, fails with EBADF. Before, the line the last read_until
// returned was handed back to the emptied buffer, whose size wrapped, and
// read_some copied from a null pointer (ASan: SEGV; found by review).
TEST(tcp_stream, a_read_after_another_task_closed_the_stream_between_reads_fails_cleanly) {
  loop l;
  auto [a, peer] = test::socket_pair();
  tcp_stream s(l, std::move(a));
  ASSERT_EQ(::send(peer.get(), "line\nrest", 9, 0), 9);
  bool got_line = false, done = false;
  std::error_code code;
  std::size_t n = 0;
  spawn_n(l,
          [](tcp_stream* st, bool* line_seen, std::error_code* c, std::size_t* got,
             bool* d) -> task<void> {
            std::string_view line = co_await st->read_until('\n', 100);
            *line_seen = line == "line\n";
            co_await sleep(5ms);  // awaits something else; meanwhile the stream is closed
            try {
              char buf[16];
              *got = co_await st->read_some(buf);
            } catch (const std::system_error& e) {
              *c = e.code();
            }
            *d = true;
          }(&s, &got_line, &code, &n, &done));
  l.run_once(0ms);
  ASSERT_TRUE(got_line);
  s.close();  // another task closes it (here, the test)
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 1s));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(code) << "a read of a closed stream must fail";
}

// While the peer is behind (a send came back short, and none has sent all
// since), write() buffers only a few KiB before it sends: a client that
// pipelines and never reads held 64 KiB of answers a connection. Once a
// send takes all, the usual batches come back.
TEST(tcp_stream, a_stream_whose_peer_is_behind_flushes_at_a_few_kib) {
  loop l;
  auto pair = test::socket_pair();
  tcp_stream s(l, std::move(pair.first));
  unique_fd peer = std::move(pair.second);
  EXPECT_EQ(s.flush_limit(), tcp_stream::flush_threshold);
  const std::string chunk(std::size_t{64} << 10, 'x');
  bool all_sent = true;
  for (int i = 0; i < 1000 && all_sent; ++i) {
    std::memcpy(s.output_space(chunk.size()), chunk.data(), chunk.size());
    s.commit_output(chunk.size());
    all_sent = s.try_flush();
  }
  ASSERT_FALSE(all_sent) << "the socket never filled";
  EXPECT_EQ(s.flush_limit(), tcp_stream::backed_up_threshold);
  char sink[65536];
  for (int i = 0; i < 10000 && !s.try_flush(); ++i)
    while (::recv(peer.get(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
  EXPECT_EQ(s.buffered_output(), 0u);
  EXPECT_EQ(s.flush_limit(), tcp_stream::flush_threshold);
}

// A write to a closed stream fails with EBADF and keeps nothing: before,
// a buffered write() succeeded and its bytes stayed in the output buffer
// until the stream was destroyed (found by review).
TEST(tcp_stream, a_write_to_a_closed_stream_fails_and_keeps_nothing) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(a));
  s.close();
  std::error_code code;
  bool done = false;
  spawn_n(l, [](tcp_stream* st, std::error_code* c, bool* d) -> task<void> {
    try {
      co_await st->write("x");
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  }(&s, &code, &done));
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 1s));
  EXPECT_EQ(code, std::errc::bad_file_descriptor);
  EXPECT_EQ(s.buffered_output(), 0u);
}

TEST(tcp_stream, try_flush_sends_without_waiting_and_says_whether_anything_is_left) {
  loop l;
  auto p = connect_pair(l);
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  auto writer = [](tcp_stream* s, std::size_t n, bool* left) -> task<void> {
    co_await s->write(std::string(n, 'w'));  // buffered, not sent
    *left = !s->try_flush();
  };
  bool left = true;
  spawn(l, writer(&p.server, 100, &left));
  l.run_once(10ms);
  EXPECT_FALSE(left);
  EXPECT_EQ(p.server.buffered_output(), 0u);
  char buf[128];
  EXPECT_EQ(::recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT), 100);

  // A peer that does not read: what the socket cannot take stays buffered,
  // and the call returns instead of waiting.
  spawn(l, writer(&p.server, 60000, &left));
  l.run_once(10ms);
  EXPECT_TRUE(left);
  EXPECT_GT(p.server.buffered_output(), 0u);
  EXPECT_LT(p.server.buffered_output(), 60000u);

  // A reset peer: false, and the flush that follows reports the error.
  linger lg{1, 0};
  ASSERT_EQ(::setsockopt(p.client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
  p.client.reset();
  l.run_once(10ms);
  EXPECT_FALSE(p.server.try_flush());
  std::error_code code;
  bool done = false;
  auto flusher = [](tcp_stream* s, std::error_code* c, bool* d) -> task<void> {
    try {
      co_await s->flush();
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  };
  spawn(l, flusher(&p.server, &code, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_TRUE(code == std::errc::connection_reset || code == std::errc::broken_pipe)
      << code.message();
}

TEST(tcp_stream, read_exact_fails_on_early_eof) {
  loop l;
  auto p = connect_pair(l);
  std::error_code code;
  bool done = false;
  auto reader = [](tcp_stream* s, std::error_code* c, bool* d) -> task<void> {
    char buf[10];
    try {
      co_await s->read_exact(buf);
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  };
  spawn(l, reader(&p.server, &code, &done));
  ::send(p.client.get(), "12345", 5, 0);
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, net_errc::unexpected_eof);
}

// As every read that reports the end: what was written before it goes out
// first. read_exact met an end an earlier read had seen, failed at once,
// and the reply still buffered was dropped when the stream closed; the
// client got a FIN and no reply (found by review).
TEST(tcp_stream, read_exact_at_an_end_already_seen_still_sends_what_was_written) {
  loop l;
  auto p = connect_pair(l);
  std::error_code code;
  bool done = false;
  auto task_fn = [](tcp_stream s, std::error_code* c, bool* d) -> task<void> {
    std::string_view partial = co_await s.read_until('\n', 100);  // "abc", at the end
    co_await s.write(std::string(partial) + " reply\n");          // buffered
    char buf[4];
    try {
      co_await s.read_exact(buf);
    } catch (const std::system_error& e) {
      *c = e.code();
    }
    *d = true;
  };
  ::send(p.client.get(), "abc", 3, 0);
  ::shutdown(p.client.get(), SHUT_WR);
  spawn(l, task_fn(std::move(p.server), &code, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(code, net_errc::unexpected_eof);
  EXPECT_EQ(read_all_blocking(p.client.get()), "abc reply\n");
}

TEST(tcp_stream, idle_connection_holds_no_buffer) {
  loop l;
  auto p = connect_pair(l);
  result r;
  spawn(l, read_lines(&p.server, 100, &r));
  ::send(p.client.get(), "hi\n", 3, 0);
  ASSERT_TRUE(test::run_until(l, [&] { return r.lines.size() == 1; }));
  l.run_once(10ms);
  std::size_t pooled = detail::pool_free_blocks();
  EXPECT_GE(pooled, 1u);  // the read buffer went back to the pool while waiting
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
}

// Waiting on the rest of a line (or of an HTTP head), a few bytes wait in a
// block of their own size: the pooled 16 KiB one goes back. A slowloris
// connection, a byte in at a time, held a whole block each. The bytes stay,
// and the next read takes a pooled block again.
TEST(tcp_stream, a_partial_line_waits_without_a_pooled_block) {
  loop l;
  auto p = connect_pair(l);
  detail::pool_release(detail::pool_acquire());  // one block is there to take
  std::size_t pooled = detail::pool_free_blocks();
  result r;
  spawn(l, read_lines(&p.server, 100, &r));
  for (const char* piece : {"he", "l"}) {
    ::send(p.client.get(), piece, std::strlen(piece), 0);
    l.run_once(10ms);
    l.run_once(10ms);
    EXPECT_EQ(detail::pool_free_blocks(), pooled) << "a partial line holds a pooled block";
  }
  ::send(p.client.get(), "lo\nworld\n", 9, 0);
  ASSERT_TRUE(test::run_until(l, [&] { return r.lines.size() == 2; }));
  EXPECT_EQ(r.lines[0], "hello\n");
  EXPECT_EQ(r.lines[1], "world\n");
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
}

namespace {
// A read_more that times out while a few bytes wait in their own small block
// (above), those bytes consumed, then a read_more of what came meanwhile.
task<void> consume_after_a_timed_out_wait(tcp_stream* s, std::size_t* got, bool* done) {
  (void)co_await s->read_more(4096);  // "abc"
  try {
    (void)co_await with_timeout(30ms, s->read_more(4096));
  } catch (const std::system_error&) {
  }
  co_await sleep(200ms);  // more comes meanwhile, and is there for the next read
  s->consume(s->buffered().size());
  *got = co_await s->read_more(4096);
  *done = true;
}
}  // namespace

// The small block was kept once emptied, and every later read took no more
// than it had held: 3 bytes a read here (found by review).
TEST(tcp_stream, a_read_after_a_small_block_was_emptied_takes_a_whole_block) {
  loop l;
  auto p = connect_pair(l);
  std::size_t got = 0;
  bool done = false;
  ASSERT_EQ(::send(p.client.get(), "abc", 3, 0), 3);
  spawn(l, consume_after_a_timed_out_wait(&p.server, &got, &done));
  for (int i = 0; i < 10; ++i) l.run_once(10ms);  // the second read times out
  std::string more(1000, 'x');                    // sent while the task sleeps
  ASSERT_EQ(::send(p.client.get(), more.data(), more.size(), 0), 1000);
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(got, 1000u);
}

// Idle in read_some after a line read with read_until: the block that held
// the line goes back too. read_some's waits kept it (16 KiB per idle
// connection; found by review).
task<void> line_then_some(tcp_stream* s, int* stage) {
  (void)co_await s->read_until('\n', 1024);
  *stage = 1;
  char buf[64];
  (void)co_await s->read_some(buf);
  *stage = 2;
}

TEST(tcp_stream, idle_in_read_some_after_a_line_holds_no_buffer) {
  loop l;
  auto p = connect_pair(l);
  int stage = 0;
  spawn(l, line_then_some(&p.server, &stage));
  std::size_t before = detail::pool_free_blocks();
  ::send(p.client.get(), "hi\n", 3, 0);
  ASSERT_TRUE(test::run_until(l, [&] { return stage == 1; }));
  l.run_once(10ms);
  EXPECT_EQ(stage, 1);
  EXPECT_GE(detail::pool_free_blocks(), before) << "the idle stream still holds its block";
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return stage == 2; }));
}

// linger_close's limit bounds the whole linger, not each read: a client
// sending a byte every 50 ms kept a closing connection open for as long as
// it liked under a 200 ms limit (echo's "line too long", HTTP's 400 and
// 408 paths; found by review).
task<void> linger_then_flag(tcp_stream* s, bool* closed) {
  co_await s->linger_close(200ms);
  *closed = true;
}

TEST(tcp_stream, linger_close_ends_within_its_limit_however_the_peer_trickles) {
  loop l;
  auto p = connect_pair(l);
  bool closed = false;
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (int i = 0; i < 100 && !stop; ++i) {
      if (::send(p.client.get(), "x", 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(50ms);
    }
  });
  spawn(l, linger_then_flag(&p.server, &closed));
  bool ended = test::run_until(
      l, [&] { return closed; }, 3s);
  stop = true;
  trickle.join();
  EXPECT_TRUE(ended) << "still lingering after 3 s under a 200 ms limit";
}

// A linger_close whose flush times out (a peer that stopped reading) ends
// with a reset, as write_cancelled() says a stream so cut should: it closed
// with a FIN, and the kernel went on holding the bytes, and sending them to
// a peer that took them at last. Found by a review of the net module.
namespace {
task<void> fill_then_linger(tcp_stream* s, bool* closed) {
  constexpr std::size_t n = std::size_t{16} << 20;  // more than the sockets hold
  std::memset(s->output_space(n), 'b', n);
  s->commit_output(n);
  co_await s->linger_close(100ms);
  *closed = true;
}
}  // namespace

TEST(tcp_stream, linger_close_resets_a_peer_that_stopped_reading) {
  loop l;
  auto p = connect_pair(l);
  bool closed = false;
  spawn(l, fill_then_linger(&p.server, &closed));
  ASSERT_TRUE(test::run_until(
      l, [&] { return closed; }, 3s));
  EXPECT_TRUE(p.server.write_cancelled());
  // The peer, reading now, meets the reset before all it was sent.
  char buf[65536];
  std::size_t got = 0;
  int error = 0;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    ssize_t r = ::recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (r > 0) got += static_cast<std::size_t>(r);
    if (r == 0) break;
    if (r < 0 && errno != EAGAIN) {
      error = errno;
      break;
    }
    if (r < 0) std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(error, ECONNRESET) << got << " bytes, then " << (error ? "an error" : "a FIN");
}

TEST(tcp_stream, socket_options_switch) {
  loop l;
  auto p = connect_pair(l);
  p.server.set_nodelay(true);
  p.server.set_cork(true);
  int v = 0;
  socklen_t len = sizeof v;
  ::getsockopt(p.server.native_handle(), IPPROTO_TCP, TCP_CORK, &v, &len);
  EXPECT_EQ(v, 1);
  p.server.set_cork(false);
  ::getsockopt(p.server.native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
  EXPECT_EQ(v, 1);
}

TEST(tcp_stream, read_more_appends_to_the_buffer_for_in_place_parsing) {
  loop l;
  auto p = connect_pair(l);
  std::vector<std::size_t> got;
  std::string seen;
  bool done = false;
  auto reader = [](tcp_stream* s, std::vector<std::size_t>* g, std::string* out,
                   bool* d) -> task<void> {
    for (;;) {
      std::size_t n = co_await s->read_more(1 << 20);
      g->push_back(n);
      if (n == 0) break;
    }
    *out = s->buffered();
    s->consume(3);
    EXPECT_EQ(s->buffered(), "lo world");
    *d = true;
  };
  spawn(l, reader(&p.server, &got, &seen, &done));
  ::send(p.client.get(), "hello", 5, 0);
  l.run_once(20ms);
  ::send(p.client.get(), " world", 6, 0);
  l.run_once(20ms);
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(seen, "hello world");
  EXPECT_EQ(got.back(), 0u);
}

namespace {

// An unlinked temporary file of `size` bytes, all a hole: sendfile reads
// zeros from the page cache. Invalid if it could not be made.
unique_fd sparse_temp_file(std::uint64_t size) {
  char path[] = "/tmp/weft-sendfile-XXXXXX";
  unique_fd file(::mkstemp(path));
  if (!file) return file;
  ::unlink(path);
  if (::ftruncate(file.get(), static_cast<off_t>(size)) != 0) file.reset();
  return file;
}

// True also when sigpending fails: a test must not pass for want of looking.
bool sigpipe_pending() {
  sigset_t pending;
  return ::sigpending(&pending) != 0 || ::sigismember(&pending, SIGPIPE) == 1;
}

// Sends the file again after each failure, as a careless caller would: after
// the peer's reset, the first call reports ECONNRESET and the next EPIPE.
task<void> send_file_until_broken(tcp_stream* s, int file_fd, std::uint64_t n, result* r) {
  for (int i = 0; i < 3; ++i) {
    try {
      co_await s->send_file(file_fd, 0, n);
    } catch (const std::system_error& e) {
      r->error = e.code();
    }
  }
  s->close();
  r->done = true;
}

}  // namespace

// sendfile(2) has no MSG_NOSIGNAL: a peer that vanished mid-download used to
// raise SIGPIPE, whose default action killed the whole server (exit 141).
TEST(tcp_stream, send_file_to_a_closed_connection_is_an_error_not_sigpipe) {
  ASSERT_NE(::signal(SIGPIPE, SIG_DFL), SIG_ERR);  // what a plain server has
  const std::uint64_t size = 16 * 1024 * 1024;
  unique_fd file = sparse_temp_file(size);
  ASSERT_TRUE(file);
  loop l;
  auto p = connect_pair(l);
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  result r;
  spawn(l, send_file_until_broken(&p.server, file.get(), size, &r));
  l.run_once(10ms);
  EXPECT_FALSE(r.done);  // blocked on a full socket
  p.client.reset();
  ASSERT_TRUE(test::run_until(l, [&] { return r.done; }));
  EXPECT_TRUE(r.error == std::errc::connection_reset || r.error == std::errc::broken_pipe)
      << r.error.message();
  EXPECT_FALSE(sigpipe_pending());  // nothing left to fire later
}

// The reset can also land between two of the kernel's 64 KiB batches inside
// one sendfile(2) call: the call raises SIGPIPE and still returns the bytes
// it moved. Only checking for SIGPIPE after an EPIPE result missed that;
// `weft files` died with exit 141 under wrk about once a minute (strace in
// src/sys/linux/syscalls.cpp). The race is rare, so this cannot fail on
// demand: eight readers drain as fast as they can and reset at varying
// points, 100 rounds, to give it many chances and to keep the EPIPE and
// ECONNRESET paths under load.
TEST(tcp_stream, a_reset_during_one_send_file_call_raises_no_sigpipe) {
  ASSERT_NE(::signal(SIGPIPE, SIG_DFL), SIG_ERR);
  const std::uint64_t size = 256 * 1024 * 1024;
  unique_fd file = sparse_temp_file(size);
  ASSERT_TRUE(file);
  constexpr int conns = 8;
  for (int round = 0; round < 100; ++round) {
    loop l;
    std::vector<tcp_pair> pairs;
    std::vector<std::thread> readers;
    std::vector<result> results(conns);
    for (int c = 0; c < conns; ++c) pairs.push_back(connect_pair(l));
    for (int c = 0; c < conns; ++c) {
      std::size_t read_before_reset = (256 * 1024) << ((round + c) % 6);
      readers.emplace_back([fd = pairs[c].client.release(), read_before_reset] {
        std::vector<char> buf(64 * 1024);
        std::size_t got = 0;
        while (got < read_before_reset) {
          ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
          if (n <= 0) break;
          got += static_cast<std::size_t>(n);
        }
        linger lg{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        ::close(fd);
      });
      spawn(l, send_file_until_broken(&pairs[c].server, file.get(), size, &results[c]));
    }
    bool done = test::run_until(l, [&] {
      for (auto& r : results)
        if (!r.done) return false;
      return true;
    });
    for (auto& t : readers) t.join();
    ASSERT_TRUE(done) << "round " << round;
  }
  EXPECT_FALSE(sigpipe_pending());
}

// ---- found by the review of the stream layer ----

namespace {
task<void> timed_out_line_then_other_delimiter(tcp_stream* s, std::string* got, bool* done) {
  try {
    (void)co_await with_timeout(50ms, s->read_until('\n', 1024));
  } catch (const std::system_error&) {
  }
  *got = std::string(co_await s->read_until(';', 1024));
  *done = true;
}
}  // namespace

// A read_until that ended early (timed out here) leaves nothing behind for
// the next one: its note of how far it had looked for '\n' made a
// read_until(';') start past the ';' and return "a;bc;" (found by review).
TEST(tcp_stream, a_read_until_after_one_that_timed_out_finds_its_own_delimiter) {
  loop l;
  auto p = connect_pair(l);
  std::string got;
  bool done = false;
  ASSERT_EQ(::send(p.client.get(), "a;b", 3, 0), 3);
  spawn(l, timed_out_line_then_other_delimiter(&p.server, &got, &done));
  for (int i = 0; i < 10; ++i) l.run_once(10ms);  // the first read times out
  ASSERT_EQ(::send(p.client.get(), "c;d", 3, 0), 3);
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_EQ(got, "a;");
}

namespace {
task<void> reply_after_eof(tcp_stream* s, bool* done) {
  (void)co_await s->read_more(1024);  // EOF
  co_await s->write("reply\n");
  (void)co_await s->read_more(1024);  // EOF again: what was written goes first
  *done = true;
}
}  // namespace

// read_more, like the other reads, sends what was written before it
// reports the end of the input (tcp_stream.hpp); a second EOF returned at
// once, and the reply never left (found by review).
TEST(tcp_stream, read_more_flushes_before_it_reports_eof_again) {
  loop l;
  auto p = connect_pair(l);
  bool done = false;
  ::shutdown(p.client.get(), SHUT_WR);
  spawn(l, reply_after_eof(&p.server, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  char buf[16];
  ssize_t n = ::recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), "reply\n");
}

// The limit bounds what the buffer holds, even under the size of one pooled
// block: read_more(100) took 16 KiB when that much was waiting.
TEST(tcp_stream, read_more_never_buffers_past_its_limit) {
  loop l;
  auto p = connect_pair(l);
  std::string waiting(10000, 'x');
  ASSERT_EQ(::send(p.client.get(), waiting.data(), waiting.size(), 0), 10000);
  std::vector<std::size_t> sizes;
  auto reader = [](tcp_stream* s, std::vector<std::size_t>* out) -> task<void> {
    out->push_back(co_await s->read_more(100));
    out->push_back(s->buffered().size());
    s->consume(40);
    out->push_back(co_await s->read_more(100));  // room for 40 more
    out->push_back(s->buffered().size());
  };
  spawn(l, reader(&p.server, &sizes));
  ASSERT_TRUE(test::run_until(l, [&] { return sizes.size() == 4; }));
  EXPECT_EQ(sizes, (std::vector<std::size_t>{100, 100, 40, 100}));
}

namespace {
task<void> write_all_under_timeout(tcp_stream* s, std::errc* code) {
  std::string big(std::size_t{8} << 20, 'f');  // more than the peer will take
  try {
    co_await with_timeout(100ms, s->write_all(big));
  } catch (const std::system_error&) {
  }
  co_await s->write("A");  // buffered behind a full socket
  try {
    co_await with_timeout(100ms, s->write_all("MSG"));
  } catch (const std::system_error& e) {
    *code = static_cast<std::errc>(e.code().value());
  }
}
}  // namespace

// A server ends with a reset, not a FIN, once its peer stopped taking what
// it is sent: the stream says when a write was cancelled with bytes left.
TEST(tcp_stream, says_when_a_write_was_cancelled_with_bytes_left) {
  loop l;
  auto p = connect_pair(l);
  // A write that leaves at once, then one larger than both sockets'
  // buffers hold, which times out waiting for the peer to read.
  std::size_t step = 0;
  auto writes = [](tcp_stream* s, std::size_t* at) -> task<void> {
    co_await s->write_all("taken at once");
    *at = 1;
    co_await sleep(10ms);
    std::string big(std::size_t{32} << 20, 'b');
    try {
      co_await with_timeout(100ms, s->write_all(big));
    } catch (const std::system_error&) {
      *at = 2;
    }
    while (*at == 2) co_await sleep(1ms);
    co_await s->write_all("taken once the peer reads");
    *at = 4;
  };
  spawn(l, writes(&p.server, &step));
  ASSERT_TRUE(test::run_until(l, [&] { return step == 1; }));
  EXPECT_FALSE(p.server.write_cancelled());
  ASSERT_TRUE(test::run_until(l, [&] { return step == 2; }));
  EXPECT_TRUE(p.server.write_cancelled());
  // The connection goes on, and the peer takes what it is sent: a cancelled
  // write it survived no longer decides how it ends. Left set, a stream
  // body's handler that timed out its own read (whose flush of the answers
  // owed was cancelled) had the connection reset at its end, over answers
  // already written (found by review).
  step = 3;
  char buf[65536];
  ASSERT_TRUE(test::run_until(l, [&] {
    while (::recv(p.client.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    return step == 4;
  }));
  EXPECT_FALSE(p.server.write_cancelled());
}

// A read flushes what was written before it waits for input: cancelled
// while that flush waits for room, the peer has stopped taking its bytes
// as surely as when a write waits. The flag stayed false, and a server
// that followed the header closed with a FIN that waited behind them
// (found by a review of the API; echo counted the bytes itself).
TEST(tcp_stream, a_read_cancelled_while_its_flush_waits_for_room_says_so) {
  loop l;
  auto p = connect_pair(l);
  bool done = false;
  auto reads = [](tcp_stream* s, bool* d) -> task<void> {
    // Built in place, so nothing is sent yet: more than the sockets hold.
    constexpr std::size_t n = std::size_t{16} << 20;
    std::memset(s->output_space(n), 'b', n);
    s->commit_output(n);
    try {
      co_await with_timeout(100ms, s->read_until('\n', 100));
    } catch (const std::system_error&) {
    }
    *d = true;
  };
  spawn(l, reads(&p.server, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_GT(p.server.buffered_output(), 0u);
  EXPECT_TRUE(p.server.write_cancelled());
}

// A task cancelled before it writes (its server's shutdown grace ran out
// while it waited on something else) has a write that fills the socket and
// cannot wait: the peer is not taking its bytes as surely as when the
// cancel comes during the wait. The flag stayed false, so a server that
// followed the header closed with a FIN queued behind the unsent bytes
// (found by a review of the write paths).
namespace {
task<void> cancelled_then_writes(tcp_stream* s, bool* done) {
  try {
    co_await sleep(10s);  // the cancel comes here
  } catch (const std::system_error&) {
  }
  try {
    std::string big(std::size_t{16} << 20, 'w');  // more than the sockets hold
    co_await s->write_all(big);
  } catch (const std::system_error&) {
  }
  *done = true;
}
}  // namespace

TEST(tcp_stream, a_write_that_fills_the_socket_after_its_task_was_cancelled_says_so) {
  loop l;
  auto p = connect_pair(l);
  bool done = false;
  green_thread g = spawn(l, cancelled_then_writes(&p.server, &done));
  l.run_once(0ms);
  g.cancel();
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  EXPECT_TRUE(p.server.write_cancelled());
}

// write_cancelled() says the peer stopped taking its bytes, so only a
// write that waited for room sets it. One cancelled in the turn of the loop
// it yields after 64 operations that needed no wait set it too, and a
// server that then ended with abort(), as the header advises, reset a
// client that was reading (found by review). Its bytes joined the buffer
// when it was called, and leave with the next flush.
TEST(tcp_stream, a_write_cancelled_in_its_turn_of_the_loop_says_nothing_of_the_peer) {
  loop l;
  auto p = connect_pair(l);
  bool timed_out = false, done = false;
  auto writes = [](tcp_stream* s, bool* t, bool* d) -> task<void> {
    for (int i = 0; i < 64; ++i) co_await s->write("a");  // none waits
    try {
      co_await with_timeout(0ms, s->write("x"));  // yields a turn: the timer comes first
    } catch (const std::system_error&) {
      *t = true;
    }
    *d = true;
  };
  spawn(l, writes(&p.server, &timed_out, &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  ASSERT_TRUE(timed_out) << "the turn of the loop was not taken";
  EXPECT_FALSE(p.server.write_cancelled());
}

// A write_all that timed out is gone (DESIGN-NOTES §3): its bytes were
// copied behind the buffered output and went out later with it, though the
// caller was told they had not (found by review).
TEST(tcp_stream, a_write_all_that_timed_out_sends_nothing_later) {
  loop l;
  auto p = connect_pair(l);
  int small = 4096;
  ASSERT_EQ(::setsockopt(p.server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(::setsockopt(p.client.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  std::errc code{};
  spawn(l, write_all_under_timeout(&p.server, &code));
  ASSERT_TRUE(test::run_until(l, [&] { return code != std::errc{}; }));
  EXPECT_EQ(code, std::errc::timed_out);
  // Everything still buffered goes out now, and the peer reads to the end.
  bool flushed = false;
  auto drain = [](tcp_stream* s, bool* f) -> task<void> {
    co_await s->flush();
    s->close();
    *f = true;
  };
  spawn(l, drain(&p.server, &flushed));
  std::string received;
  std::thread reader([&] { received = read_all_blocking(p.client.get()); });
  ASSERT_TRUE(test::run_until(l, [&] { return flushed; }));
  reader.join();
  EXPECT_EQ(received.find("MSG"), std::string::npos) << "the timed-out bytes were sent";
  EXPECT_TRUE(received.ends_with("A"));
}

namespace {
task<void> send_whole_file(tcp_stream* s, int fd, std::uint64_t n, bool* done) {
  co_await s->send_file(fd, 0, n);
  *done = true;
}
task<void> count_turns(const bool* until, int* turns) {
  while (!*until) {
    ++*turns;
    co_await yield_now();
  }
}
}  // namespace

// One send_file of a large file gives the loop a turn between its slices,
// as a read or write that never waits does (ready_budget): with a reader
// that kept up it sent the whole file in one step, 4 GiB holding the loop
// for 3 s (found by review).
TEST(tcp_stream, a_large_send_file_gives_the_loop_turns) {
  const std::uint64_t size = 8 * 1024 * 1024;  // 16 slices of 512 KiB
  unique_fd file = sparse_temp_file(size);
  ASSERT_TRUE(file);
  loop l;
  auto p = connect_pair(l);
  bool done = false;
  int turns = 0;
  std::thread reader([&] { (void)read_all_blocking(p.client.get()); });
  spawn(l, send_whole_file(&p.server, file.get(), size, &done));
  spawn(l, count_turns(&done, &turns));
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 10s));
  p.server.close();
  reader.join();
  EXPECT_GE(turns, 15);
}

// A buffer cannot hold 4 GiB (its sizes are 32-bit): asking for more is an
// error. It wrapped, and output_space(4 GiB + 16) then commit_output left
// 16 bytes buffered and lost the rest without a word (found by review).
TEST(tcp_stream, output_past_the_buffers_range_is_refused) {
  loop l;
  auto p = connect_pair(l);
  std::size_t four_gib_and_more = (std::size_t{1} << 32) + 16;
  EXPECT_THROW((void)p.server.output_space(four_gib_and_more), std::length_error);
  EXPECT_EQ(p.server.buffered_output(), 0u);
}

namespace {
task<void> head_then_empty_file(tcp_stream* s, int fd, bool* done) {
  co_await s->write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  co_await s->send_file(fd, 0, 0);
  *done = true;
  char buf[16];
  (void)co_await s->read_some(buf);  // waits, as a keep-alive connection does
}
}  // namespace

// A send_file with no bytes to send does not hold the buffered head back:
// it was flushed with MSG_MORE, and with no file bytes after it the kernel
// kept it about 200 ms (found by review).
TEST(tcp_stream, a_send_file_of_nothing_does_not_hold_the_head_back) {
  unique_fd file = sparse_temp_file(4096);
  ASSERT_TRUE(file);
  loop l;
  auto p = connect_pair(l);
  bool done = false;
  spawn(l, head_then_empty_file(&p.server, file.get(), &done));
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
  pollfd pfd{p.client.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 100), 1) << "the head was still held back after 100 ms";
  ::shutdown(p.client.get(), SHUT_WR);
  l.run_once(10ms);
}

namespace {
task<void> read_long_line(tcp_stream* s, std::size_t* length, bool* done) {
  std::string_view line = co_await s->read_until('\n', std::size_t{64} << 20);
  *length = line.size();
  *done = true;
}
}  // namespace

// A long line from a client that keeps up is read in steps of at most
// 512 KiB, with a loop turn between: it was read until EAGAIN in one step,
// holding the loop for as long as the client kept sending (found by review).
TEST(tcp_stream, a_long_line_gives_the_loop_turns) {
  loop l;
  auto p = connect_pair(l);
  const std::size_t size = std::size_t{8} << 20;
  std::thread writer([&] {
    std::string line(size - 1, 'x');
    line += '\n';
    (void)::send(p.client.get(), line.data(), line.size(), MSG_NOSIGNAL);
  });
  std::size_t length = 0;
  bool done = false;
  int turns = 0;
  spawn(l, read_long_line(&p.server, &length, &done));
  spawn(l, count_turns(&done, &turns));
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 10s));
  writer.join();
  EXPECT_EQ(length, size);
  EXPECT_GE(turns, 15);
}

namespace {
struct noted_input : tcp_stream::input_watch {
  int calls = 0;
};
void note_input(tcp_stream::input_watch* w) {
  ++static_cast<noted_input*>(w)->calls;
}

task<void> read_one_some(tcp_stream* s, std::string* out, bool* done) {
  char buf[64];
  std::size_t n = co_await s->read_some(buf);
  out->assign(buf, n);
  *done = true;
}
}  // namespace

// A stream nothing reads can still learn that its peer has gone (a server
// whose handler waits on a backend): the watch wakes once for input or the
// peer's end, and peek_socket() tells them apart without reading. The
// bytes stay for the next read, which finds them though the watch took the
// edge that announced them.
TEST(tcp_stream, an_input_watch_tells_bytes_from_the_peers_end) {
  for (trigger t : {trigger::edge, trigger::level}) {
    loop l;
    auto p = connect_pair(l, t);
    noted_input w;
    w.on_input = &note_input;
    ASSERT_TRUE(p.server.watch_input(w));
    EXPECT_EQ(p.server.peek_socket(), tcp_stream::socket_input::nothing);
    ASSERT_EQ(::send(p.client.get(), "x", 1, 0), 1);
    ASSERT_TRUE(test::run_until(l, [&] { return w.calls == 1; }));
    EXPECT_EQ(p.server.peek_socket(), tcp_stream::socket_input::bytes);
    p.server.stop_watching_input();
    std::string got;
    bool done = false;
    spawn(l, read_one_some(&p.server, &got, &done));
    ASSERT_TRUE(test::run_until(l, [&] { return done; }));
    EXPECT_EQ(got, "x");

    ASSERT_TRUE(p.server.watch_input(w));
    ::shutdown(p.client.get(), SHUT_WR);
    ASSERT_TRUE(test::run_until(l, [&] { return w.calls == 2; }));
    EXPECT_EQ(p.server.peek_socket(), tcp_stream::socket_input::end);
    p.server.stop_watching_input();
    // Watched again, the end is known at once, or (level-triggered) it is
    // reported again at once.
    if (p.server.watch_input(w)) {
      ASSERT_TRUE(test::run_until(l, [&] { return w.calls == 3; }));
      p.server.stop_watching_input();
    }
    EXPECT_EQ(p.server.peek_socket(), tcp_stream::socket_input::end);
  }
}

// watch_input() watches nothing, and says so, when input is already
// there: so too for bytes a read that filled its buffer left in the socket,
// whose edge that read's wait took. It said it watched, and an
// edge-triggered watch waited for an edge that had come (no call in
// 300 ms). Found by a review of the net module.
namespace {
task<void> read_four(tcp_stream* s, std::size_t* n, bool* done) {
  char buf[4];
  *n = co_await s->read_some(buf);
  *done = true;
}
}  // namespace

TEST(tcp_stream, an_input_watch_is_refused_for_bytes_a_full_read_left_in_the_socket) {
  for (trigger t : {trigger::edge, trigger::level}) {
    loop l;
    auto p = connect_pair(l, t);
    std::size_t n = 0;
    bool done = false;
    spawn(l, read_four(&p.server, &n, &done));
    l.run_once(0ms);  // the read waits: the fd is registered
    ASSERT_EQ(::send(p.client.get(), "0123456789ABCDEF", 16, 0), 16);
    ASSERT_TRUE(test::run_until(l, [&] { return done; }));
    ASSERT_EQ(n, 4u);
    ASSERT_EQ(p.server.peek_socket(), tcp_stream::socket_input::bytes);
    noted_input w;
    w.on_input = &note_input;
    if (p.server.watch_input(w)) {  // only if it then hears of them
      EXPECT_TRUE(test::run_until(
          l, [&] { return w.calls == 1; }, 300ms))
          << "trigger " << int(t);
      p.server.stop_watching_input();
    }
  }
}

// Bytes and the peer's FIN in one edge, taken by a watch: a later short
// read must not be taken for one that drained the socket, or the read
// after it waits for an edge that already came, and the end is never seen.
TEST(tcp_stream, a_read_after_a_watch_took_data_and_the_fin_sees_the_end) {
  loop l;
  auto p = connect_pair(l);
  noted_input w;
  w.on_input = &note_input;
  ASSERT_TRUE(p.server.watch_input(w));
  ASSERT_EQ(::send(p.client.get(), "x", 1, 0), 1);
  ::shutdown(p.client.get(), SHUT_WR);
  ASSERT_TRUE(test::run_until(l, [&] { return w.calls == 1; }));
  p.server.stop_watching_input();
  std::string first, second = "unread";
  bool one = false, two = false;
  spawn(l, read_one_some(&p.server, &first, &one));
  ASSERT_TRUE(test::run_until(l, [&] { return one; }));
  EXPECT_EQ(first, "x");
  spawn(l, read_one_some(&p.server, &second, &two));
  ASSERT_TRUE(test::run_until(
      l, [&] { return two; }, std::chrono::seconds(2)));
  EXPECT_EQ(second, "") << "EOF";
}

// A range that ends past what an off_t holds is refused at the call: its
// end wrapped (an offset of 1 and a count of UINT64_MAX, the "to the end"
// idiom, ended at 0), and the send completed at once, the head sent and no
// byte of the file, as if all had gone (found by review).
TEST(tcp_stream, a_send_file_whose_range_ends_past_the_largest_offset_is_refused) {
  unique_fd file = sparse_temp_file(4096);
  ASSERT_TRUE(file);
  loop l;
  auto p = connect_pair(l);
  constexpr auto off_max = static_cast<std::uint64_t>(INT64_MAX);
  EXPECT_THROW((void)p.server.send_file(file.get(), 1, UINT64_MAX), std::invalid_argument);
  EXPECT_THROW((void)p.server.send_file(file.get(), off_max + 1, 0), std::invalid_argument);
  EXPECT_THROW((void)p.server.send_file(file.get(), off_max, 1), std::invalid_argument);
  bool done = false;
  spawn(l, head_then_empty_file(&p.server, file.get(), &done));  // the stream is still usable
  ASSERT_TRUE(test::run_until(l, [&] { return done; }));
}
