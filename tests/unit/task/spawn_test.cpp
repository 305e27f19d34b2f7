#include <weft/core/fd_io.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

#include "test_util.hpp"

using namespace weft;

namespace {
task<void> fail_after_owning([[maybe_unused]] tcp_stream s, bool* reached) {
  co_await sleep(1ms);
  *reached = true;
  throw std::runtime_error("handler bug");
}

task<void> count_to(int n, int* counter) {
  for (int i = 0; i < n; ++i) {
    co_await sleep(1ms);
    ++*counter;
  }
}

task<void> wait_forever(int fd) {
  co_await readable(fd);
}
task<void> sleep_long() {
  co_await sleep(1h);
}
}  // namespace

TEST(spawn, runs_the_task_on_the_loop_not_inside_spawn) {
  loop l;
  int counter = 0;
  green_thread g = spawn(l, count_to(1, &counter), "one");
  EXPECT_EQ(counter, 0);
  EXPECT_FALSE(g.done());
  ASSERT_TRUE(test::run_until(l, [&] { return g.done(); }));
  EXPECT_EQ(counter, 1);
  EXPECT_EQ(g.name(), "one");
}

TEST(spawn, exception_ends_only_that_task_and_closes_its_sockets) {
  loop l;
  auto [mine, peer] = test::socket_pair();
  bool reached = false;
  int counter = 0;
  testing::internal::CaptureStderr();
  green_thread bad = spawn(l, fail_after_owning(tcp_stream(l, std::move(mine)), &reached), "buggy");
  green_thread good = spawn(l, count_to(20, &counter), "healthy");
  ASSERT_TRUE(test::run_until(l, [&] { return bad.done() && good.done(); }));
  std::string log = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(reached);
  EXPECT_EQ(counter, 20);  // the other task and the loop went on
  EXPECT_NE(log.find("task 'buggy' ended by exception: handler bug"), std::string::npos) << log;
  // The stream in the failed task's frame was closed: the peer reads EOF.
  char c;
  EXPECT_TRUE(read_some(peer.get(), &c, 1).eof());
}

TEST(spawn, cancel_stops_a_task_waiting_on_io) {
  loop l;
  auto [a, b] = test::socket_pair();
  green_thread g = spawn(l, wait_forever(b.get()), "waiter");
  l.run_once(0ms);
  EXPECT_FALSE(g.done());
  testing::internal::CaptureStderr();
  g.cancel();
  ASSERT_TRUE(test::run_until(l, [&] { return g.done(); }));
  // Ending by the cancellation it was asked for is not logged as a failure.
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  // The fd interest is gone: data arriving now resumes nothing.
  ASSERT_EQ(write_some(a.get(), "x", 1).bytes, 1u);
  l.run_once(10ms);
}

TEST(spawn, cancel_after_the_task_ended_is_harmless) {
  loop l;
  int counter = 0;
  green_thread g = spawn(l, count_to(1, &counter));
  ASSERT_TRUE(test::run_until(l, [&] { return g.done(); }));
  g.cancel();
  SUCCEED();
}

TEST(spawn, no_os_thread_per_task) {
  loop l;
  int counters[1000] = {};
  for (int& c : counters) spawn_n(l, count_to(3, &c), "many");
  ASSERT_TRUE(test::run_until(l, [&] {
    for (int c : counters)
      if (c != 3) return false;
    return true;
  }));
}

TEST(task_group, cancel_all_ends_every_member_and_wait_resumes) {
  loop l;
  task_group group;
  for (int i = 0; i < 10; ++i) group.spawn(l, sleep_long(), "member");
  l.run_once(0ms);
  EXPECT_EQ(group.size(), 10u);
  bool waited = false;
  auto waiter = [](task_group* g, bool* w) -> task<void> {
    co_await g->wait();
    *w = true;
  };
  spawn(l, waiter(&group, &waited));
  group.cancel_all();
  ASSERT_TRUE(test::run_until(l, [&] { return waited; }));
  EXPECT_EQ(group.size(), 0u);
}
