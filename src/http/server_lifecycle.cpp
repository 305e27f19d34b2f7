// http::server (server.hpp): one loop's accept loop, its connections'
// green threads, and the graceful stop that `weft hello` makes at SIGTERM.
// Moved here from apps/weft so that a program on the library stops the
// same way (the examples' servers were stopped by loop::stop, which cut
// the requests in flight).

#include <weft/core/log.hpp>
#include <weft/http/server.hpp>
#include <weft/task/spawn.hpp>

#include <algorithm>
#include <new>
#include <utility>

namespace weft::http {
namespace {

// Out of descriptors, keep-alive clients idle this long give way to new
// ones, a batch per pause of the accepts (10 ms at first): each new client
// waited for an idle one's whole --idle-timeout (found by review). One idle
// a moment is likely to send its next request any time, and is left.
constexpr std::size_t idle_given_way = 32;  // nginx drains 32 at a time
duration give_way_after(const server_options& opts) {
  return std::min<duration>(std::chrono::seconds(5), opts.idle_timeout / 4);
}

}  // namespace

server::server(loop& l, tcp_listener listener, const router& routes, const server_options& opts)
    : loop_(l), listener_(std::move(listener)), routes_(routes), opts_(opts) {
  listener_.on_shortage(
      [this] { tracker_.close_some_idle(idle_given_way, loop_.now() - give_way_after(opts_)); });
  accepting_.spawn(loop_, accept_loop(this), "http-accept");
}

server::~server() {
  cancel_timers();
}

void server::cancel_timers() noexcept {
  loop_.cancel(std::exchange(close_idle_, no_timer));
  loop_.cancel(std::exchange(cut_, no_timer));
}

void server::shutdown(duration grace, std::function<void()> done) {
  if (stopping_) return;
  // What may fail (std::bad_alloc) comes first, so that a failed call
  // leaves the server serving, and a later call may try again.
  try {
    close_idle_ = loop_.run_after(idle_grace, [this] {
      close_idle_ = no_timer;
      tracker_.close_idle();
    });
    if (grace != duration::max())
      cut_ = loop_.run_after(grace, [this] {
        cut_ = no_timer;
        cut_passed_ = true;
        connections_.cancel_all();
      });
    spawn_n(loop_, wait_then(this, std::move(done)), "http-shutdown");
  } catch (...) {
    cancel_timers();
    throw;
  }
  stopping_ = true;
  accepting_.cancel_all();
  tracker_.stop_keep_alive();
}

task<void> server::accept_loop(server* self) {
  for (;;) {
    tcp_stream s = co_await self->listener_.accept();
    // Accepted as the stop began: that client connected in time, and is
    // served like the rest of the accept queue.
    self->serve(std::move(s));
    if (self->stopping_) co_return;
  }
}

task<void> server::wait_then(server* self, std::function<void()> done) {
  co_await self->accepting_.wait();
  self->serve_accept_queue();
  self->listener_.close();
  co_await self->connections_.wait();
  self->cancel_timers();
  if (done) done();
}

// Closing a listener resets the connections in its accept queue (unless
// net.ipv4.tcp_migrate_req moves them to another listener of the port).
// Those clients connected before the stop, so they are served: accept until
// the queue is empty, in the same loop turn as the close. What the kernel
// queues between that last accept4 and close(2), and handshakes still in
// flight, are reset all the same unless tcp_migrate_req is on; see
// tests/faults/README.md (graceful restart). So is a connection whose
// accept is deferred (nothing sent yet; listen_options::defer_accept_seconds).
// At most as many tries as the queue can hold (the backlog as somaxconn
// caps it, and one), failed ones too: unbounded, clients that came as fast as
// they were taken, or an accept4 that failed every time with an error
// taken for one connection's, kept this loop turn going for good, and the
// stop with it (found by review).
void server::serve_accept_queue() {
  auto tries = static_cast<std::size_t>(effective_backlog(listener_.options().backlog)) + 1;
  for (; tries > 0; --tries) {
    int err = 0;
    unique_fd c = listener_.try_accept(err);
    if (!c) {
      if (is_transient_accept_error(err)) continue;
      return;  // empty (EAGAIN), or out of descriptors: nothing more to do
    }
    serve(tcp_stream(loop_, std::move(c), listener_.options().accepted_trigger));
  }
}

// One green thread per connection, in the group that shutdown waits for.
// Without memory for its frame, the connection is closed (the stream goes
// with this call) and the accepts go on: thrown on, it ended the accept
// loop, and the server, still up, served no one again (found by review,
// under RLIMIT_AS).
void server::serve(tcp_stream s) noexcept {
  // Past the grace nothing new starts: the connections the drain takes
  // from the accept queue after it (a grace shorter than a loop turn) are
  // closed, where cancel_all, which reaches only the group's members of
  // the moment, left them to run on (found by review).
  if (cut_passed_) return;
  try {
    connections_.spawn(loop_, serve_connection(std::move(s), routes_, opts_, &tracker_), "http");
    dropping_ = false;
  } catch (const std::bad_alloc&) {
    if (!std::exchange(dropping_, true))
      log_warn("http: out of memory; closing new connections until there is room");
  }
}

}  // namespace weft::http
