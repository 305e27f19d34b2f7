// `weft echo`: the Eventlet echo server, written as green threads.
// Each LF-terminated line goes back byte for byte; a partial line before EOF
// is echoed, then the connection closes. A line over --max-line bytes gets
// "error: line too long\n" and the connection closes.

#include "commands.hpp"
#include "server.hpp"

#include <weft/core/fd_io.hpp>
#include <weft/net/errors.hpp>
#include <weft/task/deadline.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>

#include <algorithm>

namespace weft::app {
namespace {

class echo_service;

struct echo_options {
  std::size_t max_line = 65536;
  double idle_timeout = 300;  // seconds: see add_idle_timeout_flag
};

task<void> serve_echo(echo_service& svc, tcp_stream s, const echo_options& o);

class echo_service final : public service {
 public:
  echo_service(loop& l, tcp_listener listener, echo_options o)
      : loop_(l), listener_(std::move(listener)), opts_(o) {
    accepting_.spawn(loop_, accept_loop(this), "echo-accept");
  }
  ~echo_service() override = default;

  // Stops accepting, and ends each connection's wait: it answers the bytes
  // it has read and closes (see serve_echo). Cancelling the connections
  // instead closed them over unread input, and the reset destroyed echoes
  // already sent, still queued for the client (found by an audit).
  void begin_shutdown(std::function<void()> done) override {
    stopping_ = true;
    accepting_.cancel_all();
    for (member* m = members_; m != nullptr; m = m->next_) m->dl_->expires_at(loop_.now());
    spawn(loop_, wait_then(this, std::move(done)), "echo-shutdown");
  }
  bool stopping() const noexcept { return stopping_; }

  // A connection's place in the service's list while it runs: what a
  // graceful stop reaches, its deadline, to end the wait it is in without
  // ending the task.
  class member {
   public:
    member(echo_service& svc, deadline& dl) noexcept : svc_(svc), dl_(&dl), next_(svc.members_) {
      if (next_ != nullptr) next_->prev_ = this;
      svc.members_ = this;
    }
    ~member() {
      (prev_ != nullptr ? prev_->next_ : svc_.members_) = next_;
      if (next_ != nullptr) next_->prev_ = prev_;
    }
    member(const member&) = delete;
    member& operator=(const member&) = delete;

   private:
    friend class echo_service;
    echo_service& svc_;
    deadline* dl_;
    member* prev_ = nullptr;
    member* next_;
  };

 private:
  static task<void> accept_loop(echo_service* self) {
    for (;;) {
      tcp_stream s = co_await self->listener_.accept();
      if (self->stopping_) co_return;  // accepted just as shutdown began
      spawn_connection(self->loop_, self->connections_, "echo",
                       [&] { return serve_echo(*self, std::move(s), self->opts_); });
    }
  }
  static task<void> wait_then(echo_service* self, std::function<void()> done) {
    co_await self->accepting_.wait();
    // New clients are refused from here, as qa's are: the listener stayed
    // open until the last connection had gone, and its queue took clients
    // in for the exit to reset them (a restart over --reuse-port reset 8
    // of 20, found by review).
    self->listener_.close();
    co_await self->connections_.wait();
    done();
  }

  loop& loop_;
  tcp_listener listener_;
  echo_options opts_;
  bool stopping_ = false;
  member* members_ = nullptr;
  task_group accepting_;
  task_group connections_;
};

// Whether the client has yet to take echoes: still buffered, or sent and
// not acknowledged.
bool owes_echoes(const tcp_stream& s) noexcept {
  return s.buffered_output() > 0 || !all_sent_acknowledged(s.native_handle());
}

// Destroyed before its end (a shutdown's deadline destroys the green
// threads still running), a connection still owed echoes is reset, as qa's
// is: a FIN made the echoes the kernel held look like all of them (found
// by review).
class reset_if_owing {
 public:
  explicit reset_if_owing(tcp_stream& s) noexcept : s_(s) {}
  reset_if_owing(const reset_if_owing&) = delete;
  reset_if_owing& operator=(const reset_if_owing&) = delete;
  ~reset_if_owing() {
    if (armed_ && s_.is_open() && owes_echoes(s_)) s_.abort();
  }
  void dismiss() noexcept { armed_ = false; }

 private:
  tcp_stream& s_;
  bool armed_ = true;
};

// At a graceful stop, takes in the bytes the kernel holds, up to `limit`
// of them, without waiting for more: they came before the stop (or just
// after), and its lingering close discarded them. A connection accepted in
// the same turn as the stop began got a FIN and no echo (found by review).
// Bounded, as qa's one read budget is: a client that keeps sending cannot
// make a stopping server read on.
task<void> read_what_came(tcp_stream& s, std::size_t limit) {
  try {
    for (std::size_t took = 0; took < limit;) {
      if (s.peek_socket() != tcp_stream::socket_input::bytes) break;
      std::size_t n = co_await s.read_more(s.buffered().size() + (limit - took));
      if (n == 0) break;
      took += n;
    }
  } catch (const std::system_error&) {
    // Reset meanwhile: what was read is still echoed, to no one.
  }
}

task<void> refuse_long_line(tcp_stream& s) {
  co_await s.write("error: line too long\n");
  co_await s.linger_close();
}

// A graceful stop: what had come is echoed, a partial line too, as at EOF;
// then a lingering close, so that input left unread cannot turn the close
// into a reset that destroys those echoes. The server's shutdown timeout
// bounds it all.
task<void> echo_what_came(tcp_stream& s, std::size_t max_line) {
  co_await read_what_came(s, std::min<std::size_t>(max_line, std::size_t{64} * 1024));
  std::string_view rest = s.buffered();
  co_await s.write(rest);
  s.consume(rest.size());
  co_await s.flush();
  co_await s.linger_close();
}

// By value: the stream lives in this green thread's frame and closes when
// the task ends, however it ends.
task<void> serve_echo(echo_service& svc, tcp_stream s, const echo_options& o) {
  const duration idle = seconds(o.idle_timeout);
  deadline dl(*co_await weft::detail::this_context{});
  echo_service::member me(svc, dl);
  reset_if_owing cut(s);
  reply_progress progress;
  bool too_long = false;
  for (bool again = true; again;) {
    again = false;
    try {
      while (!svc.stopping()) {
        // A line, and the flush of the echoes before it, within the idle
        // timeout (moved lazily: no timer per line, see deadline.hpp).
        dl.expires_after(idle);
        std::string_view line = co_await s.read_until('\n', o.max_line);
        if (line.empty()) break;  // EOF
        progress.wrote(line.size());
        co_await s.write(line);  // buffered; flushed before the next wait
      }
    } catch (const std::system_error& e) {
      // A client that resets or vanishes mid-reply is ordinary: end quietly.
      if (e.code() == std::errc::connection_reset || e.code() == std::errc::broken_pipe) co_return;
      if (e.code() == net_errc::line_too_long) {
        too_long = true;
      } else if (!dl.expired() && !(svc.stopping() && e.code() == std::errc::operation_canceled)) {
        // (A stop that came in the turn the idle clock ran out moved the
        // deadline again, so expired() is false: that cancel is the stop's.)
        throw;
      } else {
        // Out of time, but still taking its echoes: go on. The echoes
        // wait in the buffer (a cancelled write keeps them), a partial
        // line in the stream, for the next wait to send and read on.
        again = !svc.stopping() && progress.moved(s.native_handle(), s.buffered_output());
      }
    }
  }
  // The ends that wait are coroutines of their own: awaited here, their
  // awaiters and temporaries took room in this frame, which every idle
  // connection holds (664 bytes, 862 B of RSS a connection against 512).
  if (too_long) {
    co_await refuse_long_line(s);
  } else if (svc.stopping()) {
    dl.clear();
    co_await echo_what_came(s, o.max_line);
  } else if (dl.expired()) {
    // Idle: nothing came, or the client took none of its echoes. Then a
    // reset, so that it knows it was cut: a FIN would wait behind them.
    // (write_cancelled() alone missed echoes held up in a read's flush.)
    if (owes_echoes(s)) s.abort();
  } else {
    co_await s.flush();
  }
  cut.dismiss();  // ended as above
}

}  // namespace

void add_echo_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("echo", "Line echo server (green threads), default port 6000");
  auto opts = std::make_shared<common_options>();
  auto eo = std::make_shared<echo_options>();
  add_common_flags(*cmd, *opts, 6000);
  cmd->add_option("--max-line", eo->max_line,
                  "Longest line in bytes before the error reply; raising it loosens a safe default")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  add_idle_timeout_flag(*cmd, eo->idle_timeout, "no line from its client and no echo taken");
  cmd->callback([&run, opts, eo] {
    run = [opts, eo] {
      return run_server("echo", *opts, [eo](loop& l, tcp_listener li) {
        return std::make_unique<echo_service>(l, std::move(li), *eo);
      });
    };
  });
}

}  // namespace weft::app
