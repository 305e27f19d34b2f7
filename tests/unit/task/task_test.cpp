#include <weft/net/address.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task.hpp>

#include <gtest/gtest.h>

#include <coroutine>
#include <exception>
#include <stdexcept>

#include <sys/socket.h>

#include "test_util.hpp"

using namespace weft;

namespace {
task<int> forty_two(bool* started) {
  *started = true;
  co_return 42;
}

task<int> add_one(task<int> inner) {
  co_return co_await std::move(inner) + 1;
}

task<void> thrower() {
  throw std::runtime_error("boom");
  co_return;
}

task<int> depth(int n) {
  if (n == 0) co_return 0;
  co_return co_await depth(n - 1) + 1;
}

// Drives a task to completion on a loop, as a green thread.
template <class T>
T run(loop& l, task<T> t) {
  std::optional<T> out;
  std::exception_ptr error;
  auto driver = [](task<T> inner, std::optional<T>* o, std::exception_ptr* e) -> task<void> {
    try {
      o->emplace(co_await std::move(inner));
    } catch (...) {
      *e = std::current_exception();
    }
  };
  spawn(l, driver(std::move(t), &out, &error));
  EXPECT_TRUE(test::run_until(l, [&] { return out.has_value() || error; }));
  if (error) std::rethrow_exception(error);
  return *out;
}
}  // namespace

TEST(task, does_not_start_until_awaited) {
  bool started = false;
  task<int> t = forty_two(&started);
  EXPECT_FALSE(started);
  loop l;
  EXPECT_EQ(run(l, std::move(t)), 42);
  EXPECT_TRUE(started);
}

TEST(task, result_flows_to_the_awaiter) {
  loop l;
  bool started = false;
  EXPECT_EQ(run(l, add_one(forty_two(&started))), 43);
}

TEST(task, exception_propagates_to_the_awaiter) {
  loop l;
  auto wrap = [](task<void> t) -> task<int> {
    co_await std::move(t);
    co_return 1;
  };
  EXPECT_THROW(run(l, wrap(thrower())), std::runtime_error);
}

// A task with no frame (default-made, moved from) once read a promise
// through a null handle when awaited. Found by an adversarial review.
TEST(task, awaiting_an_empty_task_throws_logic_error) {
  loop l;
  task<int> moved = add_one(task<int>());  // awaits an empty task inside
  EXPECT_THROW(run(l, std::move(moved)), std::logic_error);
}

TEST(task, deep_chains_do_not_grow_the_stack) {
  // Symmetric transfer: 100k nested awaits complete without overflow. The
  // transfer is a tail call only when the compiler makes it one: GCC does at
  // -O2, not in the -O0 sanitizer build, where each hop costs a stack frame.
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
  constexpr int n = 1000;
#else
  constexpr int n = 100000;
#endif
  loop l;
  EXPECT_EQ(run(l, depth(n)), n);
}

TEST(task, destroying_an_unstarted_task_frees_its_frame) {
  std::size_t before = task_frame_count();
  {
    bool started = false;
    task<int> t = forty_two(&started);
    // Seen to escape: clang may otherwise put a frame that never leaves this
    // scope in the caller's own (coroutine elision), with no allocation.
    asm volatile("" : : "r"(&t) : "memory");
    EXPECT_EQ(task_frame_count(), before + 1);
  }
  EXPECT_EQ(task_frame_count(), before);
}

TEST(task, is_move_only) {
  static_assert(!std::is_copy_constructible_v<task<int>>);
  static_assert(std::is_nothrow_move_constructible_v<task<int>>);
  bool started = false;
  task<int> a = forty_two(&started);
  task<int> b = std::move(a);
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(b.valid());
}

// What waits for the loop, awaited outside any green thread and running
// loop, throws std::logic_error: there is no loop to resume it. yield_now()
// and tcp_stream::connect followed a null loop instead. Found by a review
// of the task module.
namespace {
// A coroutine that is no weft task, run at once on the caller's stack,
// keeping what it threw.
struct bare_coroutine {
  struct promise_type {
    std::exception_ptr* error;
    template <class... Args>
    explicit promise_type(std::exception_ptr* e, Args&&...) noexcept : error(e) {}
    bare_coroutine get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { *error = std::current_exception(); }
  };
};

template <class A>
bare_coroutine await_outside_any_loop([[maybe_unused]] std::exception_ptr* error, A op) {
  co_await std::move(op);
}

bool is_logic_error(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const std::logic_error&) {
    return true;
  } catch (...) {
  }
  return false;
}
}  // namespace

TEST(task, awaiting_outside_any_running_loop_throws_logic_error) {
  std::exception_ptr slept, yielded, connected;
  await_outside_any_loop(&slept, sleep(1ms));
  await_outside_any_loop(&yielded, yield_now());
  await_outside_any_loop(&connected,
                         tcp_stream::connect(*endpoint::parse("127.0.0.1:9"), 1s, trigger::edge));
  // A listener with a connection waiting: accept found it at once, and made
  // its stream on a null loop (found by a review of these fixes).
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  unique_fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  endpoint at = listener.local_endpoint();
  ASSERT_EQ(::connect(client.get(), at.data(), at.size()), 0);
  std::exception_ptr accepted;
  await_outside_any_loop(&accepted, listener.accept());
  EXPECT_TRUE(is_logic_error(slept));
  EXPECT_TRUE(is_logic_error(yielded));
  EXPECT_TRUE(is_logic_error(connected));
  EXPECT_TRUE(is_logic_error(accepted));
}
