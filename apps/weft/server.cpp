#include "server.hpp"

#include <weft/core/fd_io.hpp>
#include <weft/core/log.hpp>
#include <weft/core/process.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace weft::app {

duration seconds(double s) {
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(s));
}

bool reply_progress::moved(int fd, std::size_t buffered) noexcept {
  std::optional<std::size_t> unacked = unacknowledged_bytes(fd);
  if (!unacked) return false;
  std::uint64_t owed = buffered + *unacked;
  std::uint64_t taken = written_ > owed ? written_ - owed : 0;
  bool more = owed > 0 && taken > taken_;
  taken_ = taken;
  return more;
}

namespace {
// Per loop thread: one warning per spell of dropped connections.
thread_local bool dropping = false;
}  // namespace

void connection_spawned() noexcept {
  dropping = false;
}

void connection_dropped(const char* name) noexcept {
  if (std::exchange(dropping, true)) return;
  log_warn({name, ": out of memory; closing new connections until there is room"});
}

namespace {
// What the controlling loop takes: SIGINT, SIGTERM and SIGHUP stop the
// server, SIGUSR1 reopens its log.
constexpr std::initializer_list<int> served_signals = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
}  // namespace

int run_server(const std::string& name, const common_options& opts, service_factory make,
               std::function<void()> reopen) {
  // Held before the loops and listeners are made, so that a signal that
  // comes meanwhile waits for the loop: its default action killed the
  // server in those 100-200 ms of --threads 1024's start (found by review).
  // Not from main's first line: held while qa read --answers from a FIFO
  // with no writer, SIGINT and SIGTERM did nothing (found by review).
  hold_signals(served_signals);
  auto at = endpoint::from_host(opts.host, static_cast<uint16_t>(opts.port));
  if (!at) {
    std::fprintf(stderr, "weft %s: invalid --host '%s'\n", name.c_str(), opts.host.c_str());
    return 2;
  }
  // One descriptor per connection: the usual soft limit (1024) would stop
  // the server near a thousand clients where the hard one allows more.
  raise_open_file_limit();
  // As nginx does: a file's sendfile then needs no SIGPIPE mask around it.
  ignore_sigpipe();
  // The controlling loop owns the signals; block them before any worker
  // thread exists so every worker inherits the mask.
  loop control;
  std::atomic<bool> signalled{false};
  std::vector<tcp_listener> listeners;
  auto threads = static_cast<std::size_t>(opts.threads > 0 ? opts.threads : 0);
  auto cannot_start = [&](const std::exception_ptr& e) {
    std::fprintf(stderr, "weft %s: cannot start %zu threads: %s\n", name.c_str(),
                 threads != 0 ? threads : loop_group::cores(), what_of(e).c_str());
    return 1;
  };
  // A loop that cannot be made (each holds an epoll and an eventfd: a low
  // descriptor limit), or its listener, is refused as a thread that cannot
  // be made is: it said "weft: epoll_create1: Too many open files", or
  // "socket: ..." (found by review).
  std::optional<loop_group> loops;
  try {
    loops.emplace(threads);
  } catch (...) {
    return cannot_start(std::current_exception());
  }
  loop_group& group = *loops;
  listen_options lo;
  lo.backlog = opts.backlog;
  lo.accepted_trigger = opts.trigger_mode();
  // Not for a server that another will take over (--reuse-port): its accept
  // queue is served before its listener closes, but a connection still
  // deferred (connected, nothing sent) is outside that queue and would be
  // reset, where a restart is to lose nothing.
  lo.defer_accept_seconds = opts.reuse_port ? 0 : opts.defer_accept_seconds;
  try {
    listeners = bind_reuseport(*at, group.size(), lo, opts.reuse_port);
  } catch (const std::system_error& e) {
    // The loops' listeners past the descriptor limit: as for the loops.
    if (e.code() == std::errc::too_many_files_open ||
        e.code() == std::errc::too_many_files_open_in_system)
      return cannot_start(std::current_exception());
    std::fprintf(stderr, "weft %s: %s\n", name.c_str(), e.what());
    return 1;
  }
  endpoint bound = listeners.front().local_endpoint();

  std::vector<std::unique_ptr<service>> services(group.size());
  std::atomic<std::size_t> remaining{group.size()};
  auto all_done = [&] {
    if (--remaining == 0) control.post([&] { control.stop(); });
  };
  // SIGHUP (the terminal closing under a server in the foreground) stops
  // it as SIGTERM does: its default action cut the connections owed
  // answers (found by review).
  control.on_signals(served_signals, [&](int sig) {
    // logrotate's signal, as nginx takes it: by default it ended the server.
    if (sig == SIGUSR1) {
      if (reopen) reopen();
      return;
    }
    // A second signal is an operator who will not wait for the grace:
    // everything stops now, as at its deadline.
    if (signalled.exchange(true)) {
      control.stop();
      return;
    }
    for (std::size_t i = 0; i < group.size(); ++i)
      group.at(i).post([&, i] { services[i]->begin_shutdown(all_done); });
    // In-flight work gets a deadline, then everything stops regardless.
    control.run_after(
        std::chrono::duration_cast<duration>(std::chrono::duration<double>(opts.shutdown_grace)),
        [&] { control.stop(); });
  });
  // The readiness line once every loop is set up, and before any serves:
  // printed after, it came after the access-log lines of requests served
  // meanwhile (a --reuse-port takeover under load), and, held up by a
  // stdout pipe full of them, it kept stdout's lock, which every loop's
  // next log line then waited for: the server stopped, and SIGTERM with it
  // (found by review). Clients that come meanwhile wait in the backlog.
  // Held up by a stdout pipe that no one drains, it gives way to SIGINT or
  // SIGTERM, which control.run() then takes: the signals were blocked, and
  // a printf waiting for room stopped the server from hearing them.
  auto announce = [&] {
    std::fflush(stdout);  // nothing of stdio's may follow the line
    std::string line = "weft " + name + " listening on " + bound.to_string() + "\n";
    (void)write_unless_signalled(STDOUT_FILENO, line, {SIGINT, SIGTERM, SIGHUP});
  };
  try {
    group.start([&](loop& l, std::size_t i) { services[i] = make(l, std::move(listeners[i])); },
                announce);
  } catch (...) {
    // A thread that cannot be made (a pids limit, the address space for
    // its stack), or a loop that cannot be set up: start() has stopped
    // the others. The readiness line comes only once every loop is set up.
    return cannot_start(std::current_exception());
  }

  // Services are destroyed on this thread, after their loops stopped, also
  // when the controlling loop throws (a std::bad_alloc in the signal
  // handler's posts): unwound, they went first, while their loops still ran
  // them (found by review).
  auto stop_then_destroy = [&] {
    group.stop();
    group.join();
    services.clear();
  };
  try {
    control.run();
  } catch (...) {
    stop_then_destroy();
    throw;
  }
  stop_then_destroy();
  return 0;
}

}  // namespace weft::app
