// What one idle green thread costs: a bare echo task, without `weft echo`'s
// idle timeout and stop state (bench/memory/idle_conns.py measures the
// server). The figure is printed so that bench/README.md can quote it; the
// assertion guards the green thread's share of the 512-byte budget per idle
// connection (DESIGN-NOTES §2).
#include <weft/net/tcp_stream.hpp>
#include <weft/task/spawn.hpp>

#include <gtest/gtest.h>

#include <cstdio>

#include "test_util.hpp"

using namespace weft;

namespace {
// The same shape as `weft echo`'s connection task.
task<void> echo_like(tcp_stream s) {
  for (;;) {
    std::string_view line = co_await s.read_until('\n', 65536);
    if (line.empty()) break;
    co_await s.write(line);
  }
  co_await s.flush();
}
}  // namespace

TEST(green_thread_memory, idle_task_waiting_on_a_socket_is_small) {
  loop l;
  constexpr int n = 100;
  std::vector<unique_fd> peers;
  std::size_t before = task_frame_bytes();
  for (int i = 0; i < n; ++i) {
    auto [mine, peer] = test::socket_pair();
    peers.push_back(std::move(peer));
    spawn_n(l, echo_like(tcp_stream(l, std::move(mine))), "idle");
  }
  l.run_once(0ms);
  l.run_once(0ms);
  std::size_t per_task = (task_frame_bytes() - before) / n;
  std::printf("[ figure ] idle green thread (echo task frame + context): %zu bytes of frames\n",
              per_task);
  EXPECT_LE(per_task, 512u);
  peers.clear();  // EOF ends every task
  ASSERT_TRUE(test::run_until(l, [&] { return task_frame_bytes() == before; }));
}
