#pragma once
// Helpers shared by the loop micro-benchmarks.
//
// The benchmarks call a few syscalls directly (socketpair, and the bare
// epoll loop that is the baseline): that is the point of a baseline, and
// the house rule "raw syscalls only in src/sys/linux" is about the library.

#include <weft/core/unique_fd.hpp>

#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>
#include <utility>

namespace weft::bench {

// A connected, non-blocking AF_UNIX stream pair: the two ends of every
// ping-pong. Unix sockets keep the network stack out of the figures, so
// what is left is the loop's own cost next to read, write and epoll_wait.
inline std::pair<unique_fd, unique_fd> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

// Reports `count` things done during the timed loop as a rate (per second),
// next to Google Benchmark's time per iteration.
inline void report_rate(benchmark::State& state, const char* name, uint64_t count) {
  state.counters[name] =
      benchmark::Counter(static_cast<double>(count), benchmark::Counter::kIsRate);
}

}  // namespace weft::bench
