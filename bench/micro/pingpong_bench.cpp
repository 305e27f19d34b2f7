// Socketpair ping-pong: a message bounces between the two ends of an AF_UNIX
// stream socketpair, and one thread serves both ends through epoll, as one
// event loop serves a client and a server. One benchmark iteration is one
// round trip: the ping is written on `a`, read on `b`, echoed on `b`, read
// on `a`, and the next ping goes out at once. range(0) is the message size.
//
// Four ways to drive it, the first being the baseline for the others:
//   bare          epoll_wait + read/write written here, level-triggered;
//                 send:1 writes with send(MSG_NOSIGNAL), the call weft makes
//   loop_watcher  weft::loop with two io_watcher callbacks
//   green_raw     two green threads: co_await readable(fd), then read/write
//   green_stream  two green threads on weft::tcp_stream (read_some and
//                 write_all), edge- or level-triggered (range(1): 1 = edge)
// Every variant reads into a 4 KiB buffer, as a server would, and waits for
// readiness before reading, so each half of a round trip is one epoll_wait,
// one read and one write. Compare round_trips/s to the bare figure.

#include "bench_support.hpp"

#include <weft/core/fd_io.hpp>
#include <weft/core/io_watcher.hpp>
#include <weft/core/loop.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;

constexpr std::size_t read_buffer_size = 4096;

struct pingpong_stats {
  uint64_t round_trips = 0;
  bool over = false;  // a call failed, or a side ended
};

// Marks the ping-pong over when a green thread leaves by any path (a failed
// call, EOF, an exception, or the cancel at the end), so that the driving
// loop checks one flag per turn instead of asking both green threads.
struct end_marker {
  pingpong_stats* stats;
  ~end_marker() { stats->over = true; }
};

std::string message(const benchmark::State& state) {
  return std::string(static_cast<std::size_t>(state.range(0)), 'p');
}

// ---- bare: the baseline ----

// The smallest honest event loop: level-triggered interest in both ends,
// one read per readiness report, the echo or the next ping written straight
// back. No timers, no posted work, no generation checks.
void BM_pingpong_bare(benchmark::State& state) {
  const std::string msg = message(state);
  auto fds = weft::bench::socket_pair();
  const int a = fds.first.get();
  const int b = fds.second.get();
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  for (int fd : {a, b}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  // write(2), or send(2) with MSG_NOSIGNAL as weft does (range(1) = 1).
  const bool use_send = state.range(1) != 0;
  auto put = [use_send](int fd, const void* data, std::size_t len) {
    ssize_t n = use_send ? ::send(fd, data, len, MSG_NOSIGNAL) : ::write(fd, data, len);
    return n == static_cast<ssize_t>(len);
  };
  char buf[read_buffer_size];
  std::size_t pending = 0;  // bytes of the pong still to arrive on `a`
  pingpong_stats stats;
  auto ping = [&] {
    pending = msg.size();
    if (!put(a, msg.data(), msg.size())) stats.over = true;
  };
  auto on_readable = [&](int fd) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EAGAIN) return;
    if (got <= 0) {
      stats.over = true;
    } else if (fd == b) {
      if (!put(b, buf, static_cast<std::size_t>(got))) stats.over = true;
    } else if ((pending -= static_cast<std::size_t>(got)) == 0) {
      ++stats.round_trips;
      ping();
    }
  };

  ping();
  epoll_event events[64];
  for (auto _ : state) {
    const uint64_t target = stats.round_trips + 1;
    while (stats.round_trips < target && !stats.over) {
      int n = ::epoll_wait(ep, events, 64, -1);
      for (int i = 0; i < n; ++i) on_readable(events[i].data.fd);
    }
    if (stats.over) {
      state.SkipWithError("bare ping-pong: a read or write failed");
      break;
    }
  }
  ::close(ep);
  weft::bench::report_rate(state, "round_trips", state.iterations());
}
BENCHMARK(BM_pingpong_bare)
    ->ArgNames({"bytes", "send"})
    ->Args({1, 0})
    ->Args({64, 0})
    ->Args({64, 1});

// ---- weft's loop with io_watcher callbacks ----

void BM_pingpong_loop_watcher(benchmark::State& state) {
  const std::string msg = message(state);
  weft::loop l;
  auto fds = weft::bench::socket_pair();
  const int a = fds.first.get();
  const int b = fds.second.get();
  char buf[read_buffer_size];
  std::size_t pending = 0;
  pingpong_stats stats;
  auto ping = [&] {
    pending = msg.size();
    if (weft::write_some(a, msg.data(), msg.size()).bytes != msg.size()) stats.over = true;
  };
  // Declared after the fds, so they stop (io_forget) before the fds close.
  weft::io_watcher echo(l, b, weft::io::readable, [&](uint32_t) {
    auto r = weft::read_some(b, buf, sizeof buf);
    if (r.would_block()) return;
    if (r.failed() || r.eof() || weft::write_some(b, buf, r.bytes).bytes != r.bytes)
      stats.over = true;
  });
  weft::io_watcher client(l, a, weft::io::readable, [&](uint32_t) {
    auto r = weft::read_some(a, buf, sizeof buf);
    if (r.would_block()) return;
    if (r.failed() || r.eof()) {
      stats.over = true;
    } else if ((pending -= r.bytes) == 0) {
      ++stats.round_trips;
      ping();
    }
  });

  ping();
  for (auto _ : state) {
    const uint64_t target = stats.round_trips + 1;
    while (stats.round_trips < target && !stats.over) l.run_once(1h);
    if (stats.over) {
      state.SkipWithError("watcher ping-pong: a read or write failed");
      break;
    }
  }
  weft::bench::report_rate(state, "round_trips", state.iterations());
}
BENCHMARK(BM_pingpong_loop_watcher)->ArgName("bytes")->Arg(1)->Arg(64);

// ---- green threads ----

// Runs the loop one round trip per iteration while both green threads live;
// then cancels them and runs the loop until they have ended.
void drive_green(benchmark::State& state, weft::loop& l, const pingpong_stats& stats,
                 weft::green_thread client, weft::green_thread server) {
  for (auto _ : state) {
    const uint64_t target = stats.round_trips + 1;
    while (stats.round_trips < target && !stats.over) l.run_once(1h);
    if (stats.round_trips < target) {
      state.SkipWithError("green ping-pong: a task failed or ended");
      break;
    }
  }
  client.cancel();
  server.cancel();
  while (!client.done() || !server.done()) l.run_once(0ns);
  weft::bench::report_rate(state, "round_trips", state.iterations());
}

// Raw: wait for readiness, then one read and one write, as the bare loop.
weft::task<void> echo_raw(int fd, pingpong_stats* stats) {
  end_marker ended{stats};
  char buf[read_buffer_size];
  for (;;) {
    co_await weft::readable(fd);
    auto r = weft::read_some(fd, buf, sizeof buf);
    if (r.would_block()) continue;
    if (r.failed() || r.eof() || weft::write_some(fd, buf, r.bytes).bytes != r.bytes) co_return;
  }
}

weft::task<void> ping_raw(int fd, std::string msg, pingpong_stats* stats) {
  end_marker ended{stats};
  char buf[read_buffer_size];
  for (;;) {
    if (weft::write_some(fd, msg.data(), msg.size()).bytes != msg.size()) co_return;
    for (std::size_t pending = msg.size(); pending > 0;) {
      co_await weft::readable(fd);
      auto r = weft::read_some(fd, buf, sizeof buf);
      if (r.would_block()) continue;
      if (r.failed() || r.eof()) co_return;
      pending -= r.bytes;
    }
    ++stats->round_trips;
  }
}

void BM_pingpong_green_raw(benchmark::State& state) {
  weft::loop l;
  auto fds = weft::bench::socket_pair();
  const int a = fds.first.get();
  const int b = fds.second.get();
  pingpong_stats stats;
  auto server = weft::spawn(l, echo_raw(b, &stats), "echo");
  auto client = weft::spawn(l, ping_raw(a, message(state), &stats), "ping");
  drive_green(state, l, stats, client, server);
  l.io_forget(a);  // the fds close after this, when `fds` goes
  l.io_forget(b);
}
BENCHMARK(BM_pingpong_green_raw)->ArgName("bytes")->Arg(1)->Arg(64);

// tcp_stream: the API an application uses. read_some tries the read first
// and waits on EAGAIN, but a short read tells it the socket is drained, so
// in a ping-pong it waits first, as the others do.
weft::task<void> echo_stream(weft::tcp_stream s, pingpong_stats* stats) {
  end_marker ended{stats};
  char buf[read_buffer_size];
  for (;;) {
    std::size_t n = co_await s.read_some(buf);
    if (n == 0) co_return;
    co_await s.write_all(std::string_view(buf, n));
  }
}

weft::task<void> ping_stream(weft::tcp_stream s, std::string msg, pingpong_stats* stats) {
  end_marker ended{stats};
  char buf[read_buffer_size];
  for (;;) {
    co_await s.write_all(msg);
    for (std::size_t pending = msg.size(); pending > 0;) {
      std::size_t n = co_await s.read_some(buf);
      if (n == 0) co_return;
      pending -= n;
    }
    ++stats->round_trips;
  }
}

void BM_pingpong_green_stream(benchmark::State& state) {
  weft::loop l;
  auto fds = weft::bench::socket_pair();
  const weft::trigger trig = state.range(1) != 0 ? weft::trigger::edge : weft::trigger::level;
  pingpong_stats stats;
  auto server =
      weft::spawn(l, echo_stream(weft::tcp_stream(l, std::move(fds.second), trig), &stats), "echo");
  auto client = weft::spawn(
      l, ping_stream(weft::tcp_stream(l, std::move(fds.first), trig), message(state), &stats),
      "ping");
  drive_green(state, l, stats, client, server);
}
BENCHMARK(BM_pingpong_green_stream)
    ->ArgNames({"bytes", "edge"})
    ->Args({1, 1})
    ->Args({64, 1})
    ->Args({64, 0});

}  // namespace
