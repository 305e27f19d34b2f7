#include <weft/core/fd_io.hpp>
#include <weft/core/unique_fd.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

namespace weft {
namespace {

// A connected pair of TCP sockets over 127.0.0.1: the client blocking, the
// server not.
std::pair<unique_fd, unique_fd> tcp_pair() {
  unique_fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  EXPECT_EQ(::listen(listener.get(), 1), 0);
  EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  unique_fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  unique_fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  return {std::move(client), std::move(server)};
}

// Writes to non-blocking `fd` until its send queue is full, and the peer's
// receive buffer with it: what waits behind them is unacknowledged. The
// bytes written.
std::size_t fill_send_queue(int fd) {
  std::vector<char> bytes(1 << 20, 'x');
  std::size_t sent = 0;
  for (;;) {
    io_result r = write_some(fd, bytes.data(), bytes.size());
    if (r.would_block()) return sent;
    EXPECT_FALSE(r.failed());
    if (r.failed()) return sent;
    sent += r.bytes;
    if (sent >= std::size_t{1} << 30) {
      ADD_FAILURE() << "the send queue took 1 GiB without filling";
      return sent;
    }
  }
}

bool acknowledged_within(int fd, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!all_sent_acknowledged(fd)) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(all_sent_acknowledged, holds_for_a_socket_that_has_sent_nothing) {
  auto [client, server] = tcp_pair();
  EXPECT_TRUE(all_sent_acknowledged(server.get()));
}

// What linger_close waits for before it closes over unread input: the
// reset that close sends then destroys nothing the peer has not received.
TEST(all_sent_acknowledged, is_false_while_the_peer_has_not_taken_what_was_sent) {
  auto [client, server] = tcp_pair();
  std::size_t sent = fill_send_queue(server.get());
  EXPECT_FALSE(all_sent_acknowledged(server.get()));
  std::thread reader([fd = client.get(), sent] {
    std::vector<char> sink(1 << 16);
    for (std::size_t got = 0; got < sent;) {
      ssize_t n = ::read(fd, sink.data(), sink.size());
      if (n <= 0) return;
      got += static_cast<std::size_t>(n);
    }
  });
  reader.join();
  EXPECT_TRUE(acknowledged_within(server.get(), std::chrono::seconds(5)));
}

// The line servers' idle clock counts what the peer takes as progress:
// the count falls as it reads, long before the socket has room enough to
// wake a writer.
TEST(unacknowledged_bytes, falls_as_the_peer_reads_what_was_sent) {
  auto [client, server] = tcp_pair();
  EXPECT_EQ(unacknowledged_bytes(server.get()), std::size_t{0});
  fill_send_queue(server.get());
  std::optional<std::size_t> full = unacknowledged_bytes(server.get());
  ASSERT_TRUE(full.has_value());
  ASSERT_GT(*full, 0u);
  // Read a little at a time until the count falls (the peer's window
  // opens once it has read enough); a count gone (nullopt) fails below.
  std::vector<char> sink(4096);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (unacknowledged_bytes(server.get()).value_or(0) >= *full) {
    ASSERT_LT(std::chrono::steady_clock::now(), until);
    ASSERT_GT(::read(client.get(), sink.data(), sink.size()), 0);
  }
  EXPECT_TRUE(unacknowledged_bytes(server.get()).has_value());
}

// The lingering and idle closes' test of a peer that stopped reading:
// bytes owed are "taking" at the first look, "stalled" at the next while
// the peer reads none, "taking" again once it reads, and "nothing_owed"
// once it has them all.
TEST(look_at_intake, tells_a_peer_that_reads_from_one_that_stopped) {
  auto [client, server] = tcp_pair();
  std::size_t last = SIZE_MAX;
  EXPECT_EQ(look_at_intake(server.get(), last), peer_intake::nothing_owed);
  std::size_t sent = fill_send_queue(server.get());
  ASSERT_EQ(look_at_intake(server.get(), last), peer_intake::taking);
  std::size_t first = last;
  EXPECT_EQ(look_at_intake(server.get(), last), peer_intake::stalled);
  EXPECT_EQ(last, first) << "a stalled look keeps the count it compares with";
  std::vector<char> sink(4096);
  std::size_t got = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  peer_intake seen = peer_intake::stalled;
  while (seen == peer_intake::stalled) {  // its window opens once it has read enough
    ASSERT_LT(std::chrono::steady_clock::now(), until);
    ssize_t n = ::read(client.get(), sink.data(), sink.size());
    ASSERT_GT(n, 0);
    got += static_cast<std::size_t>(n);
    seen = look_at_intake(server.get(), last);
  }
  EXPECT_EQ(seen, peer_intake::taking);
  EXPECT_LT(last, first);
  while (got < sent) {
    ssize_t n = ::read(client.get(), sink.data(), sink.size());
    ASSERT_GT(n, 0);
    got += static_cast<std::size_t>(n);
  }
  ASSERT_TRUE(acknowledged_within(server.get(), std::chrono::seconds(5)));
  EXPECT_EQ(look_at_intake(server.get(), last), peer_intake::nothing_owed);
}

TEST(unacknowledged_bytes, is_nothing_for_a_descriptor_that_is_not_a_socket) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd r(p[0]), w(p[1]);
  EXPECT_EQ(unacknowledged_bytes(w.get()), std::nullopt);
}

// Nor for a terminal, whose output queue the same ioctl reads (SIOCOUTQ is
// TIOCOUTQ): a pty's was taken for a socket's, all acknowledged. Found by a
// review of the core loop.
TEST(unacknowledged_bytes, is_nothing_for_a_terminal) {
  unique_fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master);
  EXPECT_EQ(unacknowledged_bytes(master.get()), std::nullopt);
  EXPECT_FALSE(all_sent_acknowledged(master.get()));
}

// A peer cut short is told so: its next read fails with ECONNRESET where,
// after a FIN, it would read the end of what it was sent.
TEST(reset_when_closed, makes_the_close_a_reset) {
  auto [client, server] = tcp_pair();
  ASSERT_EQ(write_some(server.get(), "partial", 7).bytes, 7u);
  reset_when_closed(server.get());
  server.reset();
  char buf[16];
  ssize_t n = 0;
  do {
    n = ::read(client.get(), buf, sizeof buf);  // the bytes sent, if they are kept
  } while (n > 0);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, ECONNRESET);
}

TEST(all_sent_acknowledged, is_false_for_a_descriptor_that_is_not_a_socket) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  unique_fd r(p[0]), w(p[1]);
  EXPECT_FALSE(all_sent_acknowledged(w.get()));
}

}  // namespace
}  // namespace weft
