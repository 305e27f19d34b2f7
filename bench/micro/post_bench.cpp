// Cross-thread post: the benchmark thread posts functions to a loop running
// on another thread, and waits until the loop has run them. range(0) is the
// batch posted before waiting: 1 measures one post's round trip (eventfd
// wake-up included), larger batches measure throughput, where the loop's
// wake-up is shared by every post that finds it already signalled.
//
// The baseline is the same hand-off written bare: a mutex-guarded vector of
// std::function, an eventfd doorbell rung once per batch, and a thread that
// blocks in epoll_wait on it.

#include "bench_support.hpp"

#include <weft/core/loop.hpp>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace {

// Producer side of every post benchmark: posts a batch, the last function
// of which publishes the batch number; then waits (futex) until it has.
template <class Post>
void post_batches(benchmark::State& state, Post&& post) {
  const int64_t batch = state.range(0);
  std::atomic<uint32_t> batches_done{0};
  uint64_t ran = 0;  // touched by the consumer thread only
  uint32_t posted = 0;
  auto run_batch = [&] {
    for (int64_t k = 1; k < batch; ++k) post([&ran] { ++ran; });
    const uint32_t number = ++posted;
    post([&ran, &batches_done, number] {
      ++ran;
      batches_done.store(number, std::memory_order_release);
      batches_done.notify_one();
    });
    for (uint32_t seen; (seen = batches_done.load(std::memory_order_acquire)) != number;)
      batches_done.wait(seen, std::memory_order_acquire);
  };
  run_batch();  // untimed: the consumer thread is up and its vectors have grown
  for (auto _ : state) run_batch();
  weft::bench::report_rate(state, "posts", static_cast<uint64_t>(batch) * state.iterations());
}

void BM_post_weft(benchmark::State& state) {
  weft::loop l;
  std::thread runner([&l] { l.run(); });
  post_batches(state, [&l](std::function<void()> fn) { l.post(std::move(fn)); });
  l.stop();
  runner.join();
}
BENCHMARK(BM_post_weft)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

// The bare hand-off. Two vectors swap, so neither side allocates once the
// vectors have grown.
class bare_post_queue {
 public:
  bare_post_queue() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wakefd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  }
  ~bare_post_queue() {
    ::close(wakefd_);
    ::close(epfd_);
  }

  void post(std::function<void()> fn) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(fn));
    }
    ring();
  }
  void stop() {
    stop_.store(true, std::memory_order_release);
    ring();
  }
  void run() {
    std::vector<std::function<void()>> batch;
    while (!stop_.load(std::memory_order_acquire)) {
      epoll_event ev;
      if (::epoll_wait(epfd_, &ev, 1, -1) <= 0) continue;
      uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wakefd_, &count, sizeof count);
      wake_pending_.store(false, std::memory_order_release);
      {
        std::lock_guard lock(mu_);
        batch.swap(queue_);
      }
      for (auto& fn : batch) fn();
      batch.clear();
    }
  }

 private:
  void ring() {
    if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
      uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(wakefd_, &one, sizeof one);
    }
  }

  int epfd_ = -1;
  int wakefd_ = -1;
  std::mutex mu_;
  std::vector<std::function<void()>> queue_;
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_{false};
};

void BM_post_bare(benchmark::State& state) {
  bare_post_queue q;
  std::thread runner([&q] { q.run(); });
  post_batches(state, [&q](std::function<void()> fn) { q.post(std::move(fn)); });
  q.stop();
  runner.join();
}
BENCHMARK(BM_post_bare)->Arg(1)->Arg(64)->Arg(1024)->UseRealTime();

}  // namespace
