// A reader task and a writer task on one stream, as Eventlet's chat server
// has them: each client's green thread reads its lines while the others'
// write to it. A stream has one read and one write in flight at most.

#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/timeout.hpp>

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "test_util.hpp"

using namespace weft;
using namespace std::chrono_literals;

namespace {

task<void> read_lines(tcp_stream* s, std::string* got) {
  for (;;) {
    std::string_view line = co_await s->read_until('\n', 1 << 20);
    if (line.empty()) break;
    got->append(line);
  }
}

task<void> write_buffered(tcp_stream* s, std::string bytes, bool* done) {
  co_await s->write(bytes);
  *done = true;
}

task<void> write_all(tcp_stream* s, std::string bytes, bool* done) {
  co_await s->write_all(bytes);
  *done = true;
}

task<void> write_all_noting_errors(tcp_stream* s, std::string bytes, bool* done) {
  try {
    co_await s->write_all(bytes);
  } catch (const std::system_error&) {
  }
  *done = true;
}

// Reads what the peer has now.
std::string drain(int fd) {
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

void shrink_buffers(int a, int b) {
  int small = 4096;
  ASSERT_EQ(::setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(::setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
}

// A stream whose peer reads nothing until told (small socket buffers, so a
// large write must wait for room), with a reader task on it.
struct duplex_fixture {
  loop l;
  unique_fd peer;
  tcp_stream s;
  std::string lines;
  bool read_done = false;
  explicit duplex_fixture(bool small_buffers = true) {
    auto [a, b] = test::socket_pair();
    if (small_buffers) shrink_buffers(a.get(), b.get());
    peer = std::move(b);
    s = tcp_stream(l, std::move(a));
  }
  void start_reader() {
    spawn_n(l, [](duplex_fixture* f) -> task<void> {
      co_await read_lines(&f->s, &f->lines);
      f->read_done = true;
    }(this));
    l.run_once(0ms);
  }
  // A writer task sending 1 MiB, which waits for room: the peer reads
  // nothing yet.
  const std::string big = std::string(1 << 20, 'b');
  bool written = false;
  void start_big_write() {
    spawn_n(l, write_all(&s, big, &written));
    l.run_once(0ms);
    EXPECT_FALSE(written) << "the peer reads nothing: the writer must wait";
  }
  // Runs the loop while the peer reads, until it has `n` bytes and *done.
  std::string receive(std::size_t n, const bool& done) {
    std::string got;
    EXPECT_TRUE(test::run_until(
        l,
        [&] {
          got += drain(peer.get());
          return done && got.size() >= n;
        },
        5s));
    return got;
  }
  void send(std::string_view bytes) {
    ASSERT_EQ(::send(peer.get(), bytes.data(), bytes.size(), 0),
              static_cast<ssize_t>(bytes.size()));
  }
  bool run_until_lines(std::string_view want) {
    return test::run_until(
        l, [&] { return lines == want; }, 1s);
  }
};

}  // namespace

// A write from another green thread while the reader waits for input goes
// out at once, even a buffered write(): no read of the reader's is coming
// to flush it. Before, it threw std::logic_error.
TEST(tcp_stream_duplex, a_writer_task_sends_while_the_reader_waits) {
  duplex_fixture f(/*small_buffers=*/false);
  f.start_reader();
  bool written = false;
  spawn_n(f.l, write_buffered(&f.s, "hello\n", &written));
  EXPECT_EQ(f.receive(6, written), "hello\n");
  f.send("ping\n");
  EXPECT_TRUE(f.run_until_lines("ping\n"));
}

// The reader goes on reading while the writer waits for room: the two wait
// in different directions.
TEST(tcp_stream_duplex, the_reader_reads_while_the_writer_waits_for_room) {
  duplex_fixture f;
  f.start_reader();
  f.start_big_write();
  f.send("one\n");
  ASSERT_TRUE(f.run_until_lines("one\n"));
  EXPECT_FALSE(f.written);
  EXPECT_EQ(f.receive(f.big.size(), f.written), f.big);
  f.send("two\n");
  EXPECT_TRUE(f.run_until_lines("one\ntwo\n"));
}

// The end of the input reaches the reader at once while the writer still
// waits for room, and the writer's bytes are not dropped: a read at EOF
// flushes only on a stream with no writer task.
TEST(tcp_stream_duplex, the_reader_sees_the_end_while_the_writer_waits) {
  duplex_fixture f;
  f.start_reader();
  f.start_big_write();
  f.send("last\n");
  ASSERT_EQ(::shutdown(f.peer.get(), SHUT_WR), 0);
  ASSERT_TRUE(test::run_until(
      f.l, [&] { return f.read_done; }, 1s));
  EXPECT_EQ(f.lines, "last\n");
  EXPECT_FALSE(f.written);
  EXPECT_EQ(f.receive(f.big.size(), f.written), f.big);
}

// A reader that waits for room to send its own buffered replies (the flush
// before it waits for input) hands them to a writer task that starts
// meanwhile, and waits for input instead: both wanting room would have
// claimed the fd's one writer slot in the loop.
TEST(tcp_stream_duplex, a_reader_waiting_to_flush_hands_its_output_to_the_writer) {
  duplex_fixture f;
  const std::string replies(60000, 'r');
  spawn_n(f.l, [](duplex_fixture* fx, const std::string* out) -> task<void> {
    co_await fx->s.write(*out);  // buffered: under flush_threshold
    co_await read_lines(&fx->s, &fx->lines);
  }(&f, &replies));
  f.l.run_once(0ms);
  ASSERT_GT(f.s.buffered_output(), 0u) << "the reader's flush must be waiting for room";
  bool written = false;
  spawn_n(f.l, write_all(&f.s, "tail", &written));
  f.l.run_once(0ms);
  f.send("in\n");
  ASSERT_TRUE(f.run_until_lines("in\n"));
  EXPECT_EQ(f.receive(replies.size() + 4, written), replies + "tail");
}

// A buffered write that is taking its turn of the loop (after ready_budget
// operations that did not wait) sends nothing when it steps: a read that
// started beside it meanwhile, and found the socket full as it flushed,
// left the rest of the output to it, and the output stayed in the buffer
// until the peer sent something (found by review).
TEST(tcp_stream_duplex, a_read_beside_a_buffered_write_taking_its_turn_still_sends_the_output) {
  duplex_fixture f;
  bool written = false;
  spawn_n(f.l, [](tcp_stream* s, bool* done) -> task<void> {
    const std::string chunk(1000, 'w');
    for (int i = 0; i < 65; ++i) co_await s->write(chunk);  // 65,000 bytes, buffered
    *done = true;
  }(&f.s, &written));
  f.start_reader();  // steps while the 65th write waits for its turn
  std::string got = f.receive(65000, written);
  EXPECT_EQ(got.size(), 65000u);
  EXPECT_EQ(got.find_first_not_of('w'), std::string::npos);
}

// One read and one write at a time: a second reader, or a second writer
// while the first waits for room, is refused, and the waiting one is left
// alone.
TEST(tcp_stream_duplex, a_second_reader_or_writer_is_an_error) {
  duplex_fixture f;
  f.start_reader();
  char c;
  EXPECT_THROW((void)f.s.read_some({&c, 1}), std::logic_error);
  f.start_big_write();
  EXPECT_THROW((void)f.s.write_all("x"), std::logic_error);
  EXPECT_THROW((void)f.s.read_some({&c, 1}), std::logic_error);
  EXPECT_EQ(f.receive(f.big.size(), f.written), f.big);
  f.send("z\n");
  EXPECT_TRUE(f.run_until_lines("z\n"));
}

namespace {
task<void> note_read_error(tcp_stream* s, std::error_code* code, bool* done) {
  try {
    (void)co_await s->read_until('\n', 100);
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}
task<void> note_write_error(tcp_stream* s, std::string bytes, std::error_code* code, bool* done) {
  try {
    co_await s->write_all(bytes);
  } catch (const std::system_error& e) {
    *code = e.code();
  }
  *done = true;
}
}  // namespace

// close() ends both waits, cancelled; destroying the stream under both (or
// its loop under both tasks) frees everything (ASan).
TEST(tcp_stream_duplex, close_ends_the_read_and_the_write) {
  for (int how = 0; how < 3; ++how) {
    loop l;
    auto [a, peer] = test::socket_pair();
    shrink_buffers(a.get(), peer.get());
    auto s = std::make_unique<tcp_stream>(l, std::move(a));
    std::error_code read_code, write_code;
    bool read_done = false, write_done = false;
    spawn_n(l, note_read_error(s.get(), &read_code, &read_done));
    l.run_once(0ms);
    spawn_n(l, note_write_error(s.get(), std::string(1 << 20, 'w'), &write_code, &write_done));
    l.run_once(0ms);
    ASSERT_FALSE(read_done || write_done);
    if (how == 0) {
      s->close();
      ASSERT_TRUE(test::run_until(
          l, [&] { return read_done && write_done; }, 1s));
      EXPECT_EQ(read_code, std::errc::operation_canceled);
      EXPECT_EQ(write_code, std::errc::operation_canceled);
    } else if (how == 1) {
      s.reset();
      l.run_once(0ms);
      EXPECT_FALSE(read_done || write_done);
    } else {
      l.destroy_green_threads();
      EXPECT_NO_THROW((void)s->write("x"));
    }
  }
}

// linger_close() never throws, and closes: called by the reader while
// the writer task waits for room, its flush would be a second write. It
// closes at once, and the writer's wait ends, cancelled. Before, the
// std::logic_error escaped and the stream stayed open (found by review).
TEST(tcp_stream_duplex, linger_close_never_throws_while_a_writer_task_waits_for_room) {
  loop l;
  auto [a, peer] = test::socket_pair();
  shrink_buffers(a.get(), peer.get());
  tcp_stream s(l, std::move(a));
  bool written = false;
  spawn_n(l, write_all_noting_errors(&s, std::string(1 << 20, 'w'), &written));
  l.run_once(0ms);
  ASSERT_FALSE(written) << "the peer reads nothing: the writer must wait";
  bool threw = false, done = false;
  spawn_n(l, [](tcp_stream* st, bool* t, bool* d) -> task<void> {
    try {
      co_await st->linger_close(50ms);
    } catch (const std::logic_error&) {
      *t = true;
    }
    *d = true;
  }(&s, &threw, &done));
  ASSERT_TRUE(test::run_until(
      l, [&] { return done; }, 2s));
  EXPECT_FALSE(threw) << "linger_close threw std::logic_error";
  EXPECT_FALSE(s.is_open()) << "linger_close must close the stream";
}

// A reader that handed its replies to a writer task which was then
// cancelled (a timeout, a slow client) sends them itself: reads wait for
// room whenever no write does. Before, they stayed in the buffer while the
// reader waited for input the peer would send only after them (found by
// review).
TEST(tcp_stream_duplex,
     a_readers_replies_are_sent_even_if_the_writer_it_handed_them_to_is_cancelled) {
  loop l;
  auto a_peer = test::socket_pair();  // named: clang before 16 cannot capture bindings
  unique_fd& a = a_peer.first;
  unique_fd& peer = a_peer.second;
  shrink_buffers(a.get(), peer.get());
  tcp_stream s(l, std::move(a));
  const std::string replies(60000, 'r');
  std::string lines;
  spawn_n(l, [](tcp_stream* st, const std::string* out, std::string* got) -> task<void> {
    co_await st->write(*out);  // buffered: under flush_threshold
    for (;;) {
      std::string_view line = co_await st->read_until('\n', 1 << 20);
      if (line.empty()) break;
      got->append(line);
    }
  }(&s, &replies, &lines));
  l.run_once(0ms);
  ASSERT_GT(s.buffered_output(), 0u) << "the reader's flush must be waiting for room";
  bool writer_done = false;
  spawn_n(l, [](tcp_stream* st, bool* d) -> task<void> {
    try {
      co_await with_timeout(20ms, st->write_all("tail"));
    } catch (const std::system_error&) {
    }
    *d = true;
  }(&s, &writer_done));
  ASSERT_TRUE(test::run_until(
      l, [&] { return writer_done; }, 1s));
  // Now the peer reads: the reader's replies must arrive.
  std::string got;
  test::run_until(
      l,
      [&] {
        got += drain(peer.get());
        return got.size() >= replies.size();
      },
      1s);
  EXPECT_GE(got.size(), replies.size())
      << "the reader's replies are stranded in its buffer (" << s.buffered_output() << " bytes)";
  EXPECT_EQ(got.substr(0, replies.size()), replies.substr(0, got.size()));
}

// A stream move-assigned a new connection starts simplex again, even when
// its reader and writer tasks both waited (their waits end, cancelled):
// write() buffers again. Before, the second op slot, still busy with the
// cancelled op, kept the stream duplex for good (found by review).
TEST(tcp_stream_duplex, a_new_connection_moved_in_starts_simplex) {
  duplex_fixture f;
  std::error_code read_code, write_code;
  bool read_done = false, write_done = false;
  spawn_n(f.l, note_read_error(&f.s, &read_code, &read_done));
  f.l.run_once(0ms);
  spawn_n(f.l, note_write_error(&f.s, f.big, &write_code, &write_done));
  f.l.run_once(0ms);
  ASSERT_FALSE(read_done || write_done);
  auto [a2, peer2] = test::socket_pair();
  f.s = tcp_stream(f.l, std::move(a2));
  ASSERT_TRUE(test::run_until(
      f.l, [&] { return read_done && write_done; }, 1s));
  EXPECT_EQ(read_code, std::errc::operation_canceled);
  EXPECT_EQ(write_code, std::errc::operation_canceled);
  bool written = false;
  spawn_n(f.l, write_buffered(&f.s, "x", &written));
  ASSERT_TRUE(test::run_until(
      f.l, [&] { return written; }, 1s));
  EXPECT_EQ(f.s.buffered_output(), 1u) << "still duplex: write() sent at once";
}
