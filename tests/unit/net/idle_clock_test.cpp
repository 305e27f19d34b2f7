#include <weft/core/fd_io.hpp>
#include <weft/net/idle_clock.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/spawn.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace weft;

namespace {
struct reader {
  bool done = false;
  bool expired = false;
  int lines = 0;
  std::error_code error;
  time_point ended{};
};

// Reads lines, touching the clock before each, until EOF or an error.
task<void> read_lines(idle_clock* clock, tcp_stream* s, reader* out) {
  idle_clock::entry idle(*clock, *s);
  try {
    for (;;) {
      clock->touch(idle);
      std::string_view line = co_await s->read_until('\n', 100);
      if (line.empty()) break;
      ++out->lines;
    }
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->expired = idle.expired();
  out->ended = clock::now();
  out->done = true;
}

struct connection {
  unique_fd peer;
  std::unique_ptr<tcp_stream> stream;
  reader out;
};
}  // namespace

TEST(idle_clock, a_connection_with_nothing_moving_has_its_wait_cancelled_at_the_timeout) {
  loop l;
  idle_clock clock(l, 40ms);
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  reader out;
  time_point start = clock::now();
  spawn(l, read_lines(&clock, &s, &out));
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_EQ(out.error, std::errc::operation_canceled);
  EXPECT_TRUE(out.expired);
  EXPECT_GE(out.ended - start, 40ms);
  EXPECT_TRUE(s.is_open());  // the task decides; the clock closes nothing
  EXPECT_EQ(clock.size(), 0u);
}

TEST(idle_clock, lines_that_keep_coming_keep_a_connection_alive) {
  loop l;
  idle_clock clock(l, 60ms);
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  reader out;
  spawn(l, read_lines(&clock, &s, &out));
  // A line every 20 ms for 200 ms: never 60 ms idle.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(write_some(a.get(), "x\n", 2).bytes, 2u);
    time_point until = clock::now() + 20ms;
    test::run_until(l, [&] { return clock::now() >= until; });
  }
  EXPECT_FALSE(out.done);
  EXPECT_EQ(out.lines, 10);
  ASSERT_TRUE(test::run_until(l, [&] { return out.done; }));
  EXPECT_TRUE(out.expired);
}

TEST(idle_clock, one_timer_serves_every_connection_and_each_expires_on_its_own_time) {
  loop l;
  idle_clock clock(l, 80ms);
  std::size_t timers_before = l.timer_count();
  std::vector<std::unique_ptr<connection>> conns;
  for (int i = 0; i < 20; ++i) {
    auto c = std::make_unique<connection>();
    auto [a, b] = test::socket_pair();
    c->peer = std::move(a);
    c->stream = std::make_unique<tcp_stream>(l, std::move(b));
    spawn(l, read_lines(&clock, c->stream.get(), &c->out));
    conns.push_back(std::move(c));
  }
  l.run_once(0ms);
  EXPECT_EQ(l.timer_count(), timers_before + 1);
  EXPECT_EQ(clock.size(), 20u);
  // Half of them stay busy a while longer.
  for (int round = 0; round < 4; ++round) {
    time_point until = clock::now() + 40ms;
    test::run_until(l, [&] { return clock::now() >= until; });
    for (int i = 0; i < 20; i += 2) ASSERT_EQ(write_some(conns[i]->peer.get(), "x\n", 2).bytes, 2u);
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(conns[i]->out.done, i % 2 == 1) << "connection " << i;
  }
  ASSERT_TRUE(test::run_until(l, [&] {
    for (auto& c : conns)
      if (!c->out.done) return false;
    return true;
  }));
  for (auto& c : conns) EXPECT_TRUE(c->out.expired);
  EXPECT_EQ(l.timer_count(), timers_before);  // no one left on the clock: no timer
}

TEST(idle_clock, cancel_all_ends_every_wait_and_expires_none) {
  loop l;
  idle_clock clock(l, 1h);
  auto [a1, b1] = test::socket_pair();
  auto [a2, b2] = test::socket_pair();
  tcp_stream s1(l, std::move(b1)), s2(l, std::move(b2));
  reader r1, r2;
  spawn(l, read_lines(&clock, &s1, &r1));
  spawn(l, read_lines(&clock, &s2, &r2));
  l.run_once(0ms);
  clock.cancel_all();
  ASSERT_TRUE(test::run_until(l, [&] { return r1.done && r2.done; }));
  EXPECT_EQ(r1.error, std::errc::operation_canceled);
  EXPECT_EQ(r2.error, std::errc::operation_canceled);
  EXPECT_FALSE(r1.expired);
  EXPECT_FALSE(r2.expired);
}

TEST(idle_clock, an_entry_that_goes_leaves_the_clock) {
  loop l;
  idle_clock clock(l, 30ms);
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  {
    idle_clock::entry e(clock, s);
    EXPECT_EQ(clock.size(), 1u);
  }
  EXPECT_EQ(clock.size(), 0u);
  // Its timer, still armed, fires and finds no one.
  time_point until = clock::now() + 60ms;
  test::run_until(l, [&] { return clock::now() >= until; });
  EXPECT_TRUE(s.is_open());
}

namespace {
task<void> read_one(tcp_stream* s, reader* out) {
  try {
    std::string_view line = co_await s->read_until('\n', 100);
    out->lines += line.empty() ? 0 : 1;
  } catch (const std::system_error& e) {
    out->error = e.code();
  }
  out->done = true;
}
}  // namespace

// tcp_stream::cancel is Asio's socket::cancel: the wait ends, the stream
// stays, and what had come of a line is kept for the next read.
TEST(tcp_stream, cancel_ends_the_wait_and_keeps_the_partial_line) {
  loop l;
  auto [a, b] = test::socket_pair();
  tcp_stream s(l, std::move(b));
  EXPECT_FALSE(s.waiting());
  reader first;
  spawn(l, read_one(&s, &first));
  ASSERT_EQ(write_some(a.get(), "par", 3).bytes, 3u);
  l.run_once(10ms);
  ASSERT_TRUE(s.waiting());
  s.cancel();
  EXPECT_FALSE(s.waiting());
  ASSERT_TRUE(test::run_until(l, [&] { return first.done; }));
  EXPECT_EQ(first.error, std::errc::operation_canceled);
  EXPECT_TRUE(s.is_open());
  s.cancel();  // nothing waits: nothing happens
  reader second;
  spawn(l, read_one(&s, &second));
  ASSERT_EQ(write_some(a.get(), "tial\n", 5).bytes, 5u);
  ASSERT_TRUE(test::run_until(l, [&] { return second.done; }));
  EXPECT_FALSE(second.error);
  EXPECT_EQ(second.lines, 1);
  EXPECT_EQ(s.buffered(), "");
}
