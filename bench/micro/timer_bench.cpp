// Timer benchmarks: starting and cancelling a timer while N others are live
// in the heap, refreshing a live timer (a connection's idle timeout), and
// firing timers through a loop turn.
//
// The live timers get deadlines spread at random over 1-61 s, and so do the
// timers under test, so inserts and removals land at random heap depths
// instead of always at the cheap end of the heap.

#include "bench_support.hpp"

#include <weft/core/loop.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <random>
#include <vector>

namespace {

using namespace std::chrono_literals;

constexpr std::size_t delay_count = 4096;  // a power of two, for the index mask

std::array<weft::duration, delay_count> random_delays(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> ms(1'000, 61'000);
  std::array<weft::duration, delay_count> delays;
  for (auto& d : delays) d = std::chrono::milliseconds(ms(rng));
  return delays;
}

std::vector<weft::timer_id> add_live_timers(weft::loop& l, std::size_t n, int* sink) {
  auto delays = random_delays(1);
  std::vector<weft::timer_id> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    ids.push_back(l.run_after(delays[i % delay_count], [sink] { ++*sink; }));
  return ids;
}

// One run_after plus one cancel of that same timer, with range(0) live timers.
void BM_timer_add_cancel(benchmark::State& state) {
  weft::loop l;
  int fired = 0;
  auto live = add_live_timers(l, static_cast<std::size_t>(state.range(0)), &fired);
  auto delays = random_delays(2);
  std::size_t i = 0;
  for (auto _ : state) {
    weft::timer_id id = l.run_after(delays[i++ & (delay_count - 1)], [&fired] { ++fired; });
    benchmark::DoNotOptimize(l.cancel(id));
  }
  weft::bench::report_rate(state, "add_cancel", state.iterations());
}
BENCHMARK(BM_timer_add_cancel)->Arg(0)->Arg(1'000)->Arg(100'000);

// Cancels one of range(0) live timers and starts its replacement: what a
// server does when a connection's idle timeout is pushed back.
void BM_timer_reset(benchmark::State& state) {
  weft::loop l;
  int fired = 0;
  auto live = add_live_timers(l, static_cast<std::size_t>(state.range(0)), &fired);
  auto delays = random_delays(3);
  std::size_t i = 0;
  for (auto _ : state) {
    weft::timer_id& id = live[i % live.size()];
    l.cancel(id);
    id = l.run_after(delays[i & (delay_count - 1)], [&fired] { ++fired; });
    ++i;
  }
  weft::bench::report_rate(state, "resets", state.iterations());
}
BENCHMARK(BM_timer_reset)->Arg(1'000)->Arg(100'000);

// Starts range(0) timers that are due at once, then runs one loop turn that
// fires them, with range(1) far-off timers also in the heap. The turn's
// epoll_wait(0) is shared by the batch.
void BM_timer_fire(benchmark::State& state) {
  weft::loop l;
  int far_fired = 0;
  auto live = add_live_timers(l, static_cast<std::size_t>(state.range(1)), &far_fired);
  const int64_t batch = state.range(0);
  uint64_t fired = 0;
  for (auto _ : state) {
    for (int64_t k = 0; k < batch; ++k) l.run_after(0ns, [&fired] { ++fired; });
    l.run_once(0ns);
  }
  if (fired != static_cast<uint64_t>(batch) * state.iterations())
    state.SkipWithError("a due timer did not fire in its turn");
  weft::bench::report_rate(state, "timers", fired);
}
BENCHMARK(BM_timer_fire)->Args({1, 0})->Args({256, 0})->Args({256, 10'000});

// The floor under BM_timer_fire: the same turn running range(0) deferred
// raw callbacks, the cheapest work a loop turn can do.
void BM_defer_run(benchmark::State& state) {
  weft::loop l;
  const int64_t batch = state.range(0);
  uint64_t ran = 0;
  for (auto _ : state) {
    for (int64_t k = 0; k < batch; ++k)
      l.defer([](void* p) { ++*static_cast<uint64_t*>(p); }, &ran);
    l.run_once(0ns);
  }
  weft::bench::report_rate(state, "callbacks", ran);
}
BENCHMARK(BM_defer_run)->Arg(1)->Arg(256);

}  // namespace
