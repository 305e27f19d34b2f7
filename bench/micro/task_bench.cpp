// Green-thread spawn and completion: spawn range(0) trivial tasks, then run
// one loop turn in which each starts, finishes and frees its frames.
//
// Two floors put the figure in context: the same task<void> created, resumed
// and destroyed by hand (the coroutine alone: one frame allocation, no
// loop), and BM_defer_run in timer_bench.cpp (the loop turn alone).

#include "bench_support.hpp"

#include <weft/core/loop.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task.hpp>

#include <chrono>
#include <cstdint>

namespace {

using namespace std::chrono_literals;

weft::task<void> trivial(uint64_t* done) {
  ++*done;
  co_return;
}

template <class Spawn>
void spawn_batches(benchmark::State& state, Spawn&& spawn_one) {
  weft::loop l;
  const int64_t batch = state.range(0);
  uint64_t done = 0;
  for (auto _ : state) {
    for (int64_t k = 0; k < batch; ++k) spawn_one(l, trivial(&done));
    l.run_once(0ns);
  }
  if (done != static_cast<uint64_t>(batch) * state.iterations())
    state.SkipWithError("a spawned task did not finish in its turn");
  if (weft::task_frame_count() != 0) state.SkipWithError("task frames were left behind");
  weft::bench::report_rate(state, "tasks", done);
}

// spawn_n: detached, no handle. What a server does per connection.
void BM_spawn_n(benchmark::State& state) {
  spawn_batches(state,
                [](weft::loop& l, weft::task<void> t) { weft::spawn_n(l, std::move(t), "t"); });
}
BENCHMARK(BM_spawn_n)->Arg(1)->Arg(256);

// spawn: also builds the green_thread handle's shared state.
void BM_spawn_handle(benchmark::State& state) {
  spawn_batches(state, [](weft::loop& l, weft::task<void> t) {
    benchmark::DoNotOptimize(weft::spawn(l, std::move(t), "t"));
  });
}
BENCHMARK(BM_spawn_handle)->Arg(1)->Arg(256);

// The coroutine alone: create, run to completion and destroy one task frame.
void BM_task_inline(benchmark::State& state) {
  uint64_t done = 0;
  for (auto _ : state) {
    auto h = trivial(&done).release();
    h.resume();
    h.destroy();
  }
  weft::bench::report_rate(state, "tasks", done);
}
BENCHMARK(BM_task_inline);

}  // namespace
