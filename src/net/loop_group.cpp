#include <weft/net/loop_group.hpp>

#include "sys/linux/syscalls.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

namespace weft {

std::size_t loop_group::cores() noexcept {
  return static_cast<std::size_t>(sys::cpu_count());
}

loop_group::loop_group(std::size_t n) {
  if (n == 0) n = cores();
  for (std::size_t i = 0; i < n; ++i) loops_.push_back(std::make_unique<loop>());
}

loop_group::~loop_group() {
  stop();
  join();
}

namespace {
// What start() waits for: every loop's setup, and the first that threw;
// and what the loops wait for before they run: start() letting them go.
struct setups {
  std::mutex m;
  std::condition_variable all_done;
  std::condition_variable go;
  std::size_t pending;
  std::exception_ptr failed;
  bool released = false;

  explicit setups(std::size_t n) : pending(n) {}
  void done(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(m);
    if (e && !failed) failed = std::move(e);
    if (--pending == 0) all_done.notify_one();
  }
  // The first setup that threw, or null, once all have run.
  std::exception_ptr wait() {
    std::unique_lock<std::mutex> lock(m);
    all_done.wait(lock, [this] { return pending == 0; });
    return failed;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(m);
      released = true;
    }
    go.notify_all();
  }
  void wait_for_release() {
    std::unique_lock<std::mutex> lock(m);
    go.wait(lock, [this] { return released; });
  }
};

// A loop that cannot be set up has nothing to serve: its thread ends, and
// start() throws what its setup threw.
bool set_up(loop& l, std::size_t i, const std::function<void(loop&, std::size_t)>& setup,
            setups& all) {
  try {
    setup(l, i);
  } catch (...) {
    all.done(std::current_exception());
    return false;
  }
  all.done(nullptr);
  return true;
}

}  // namespace

void loop_group::start(const std::function<void(loop&, std::size_t)>& setup,
                       const std::function<void()>& ready) {
  // Threads still held: each loop would get a second thread running it.
  if (!threads_.empty())
    throw std::logic_error("weft::loop_group: start() again before stop() and join()");
  // Shared with the threads, which hold it until they end.
  auto all = std::make_shared<setups>(loops_.size());
  // A thread that cannot be made (no memory, a pids limit), or a setup
  // that throws, makes start() throw, once the threads already running are
  // stopped and joined: the caller may free what they use as it unwinds.
  // Left running, they served with `weft hello`'s freed servers, and a
  // loop whose setup failed went unnoticed (found by review).
  std::exception_ptr failed;
  std::size_t made = 0;
  try {
    for (; made < loops_.size(); ++made) {
      threads_.emplace_back([this, i = made, setup, all] {
        loop& l = *loops_[i];
        if (set_up(l, i, setup, *all)) {
          all->wait_for_release();
          run_until_stopped(l);  // returns at once if start() failed: stopped
        }
        // Here, on the thread that made them, and before join() returns:
        // so before the objects they use (a server's, destroyed after join).
        l.destroy_green_threads();
      });
    }
  } catch (...) {
    failed = std::current_exception();
    // The setups that will never run count as done.
    for (std::size_t i = made; i < loops_.size(); ++i) all->done(nullptr);
  }
  if (std::exception_ptr setup_failed = all->wait(); !failed) failed = setup_failed;
  if (!failed && ready) {
    try {
      ready();
    } catch (...) {
      failed = std::current_exception();
    }
  }
  // Stopped first, if start() failed: let go, they find the stop and end.
  if (failed) stop();
  all->release();
  if (failed) {
    join();
    std::rethrow_exception(failed);
  }
}

void loop_group::stop() noexcept {
  for (auto& l : loops_) l->stop();
}

void loop_group::join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
  // A loop whose setup threw never ran, so no run() consumed its stop():
  // started again, it returned at once and served nothing.
  for (auto& l : loops_) l->restart();
}

std::vector<tcp_listener> bind_reuseport(const endpoint& at, std::size_t n, listen_options opts,
                                         bool share_port) {
  std::vector<tcp_listener> out;
  if (n > 1 && at.port() != 0 && !share_port) {
    // SO_REUSEPORT would let a second server silently join a port that is
    // already served and take part of its connections. A plain bind first
    // fails with EADDRINUSE if anyone is listening there. (A deliberate
    // takeover for restarts is share_port, an explicit opt-in.)
    listen_options probe = opts;
    probe.reuse_port = false;
    (void)tcp_listener::bind(at, probe);
  }
  if (n > 1 || share_port) opts.reuse_port = true;
  endpoint where = at;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(tcp_listener::bind(where, opts));
    if (i == 0) where.set_port(out.front().local_endpoint().port());
  }
  return out;
}

}  // namespace weft
