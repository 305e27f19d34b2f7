// `weft echo`: the Eventlet echo server, written as green threads.
// Each LF-terminated line goes back byte for byte; a partial line before EOF
// is echoed, then the connection closes. A line over --max-line bytes gets
// "error: line too long\n" and the connection closes.

#include "commands.hpp"

#include <weft/core/fd_io.hpp>
#include <weft/net/errors.hpp>
#include <weft/net/idle_clock.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>

#include <algorithm>
#include <cstdint>

namespace weft::app {
namespace {

class echo_service;

task<void> serve_echo(echo_service& svc, tcp_stream s);

class echo_service final : public service {
 public:
  echo_service(loop& l, tcp_listener listener, echo_options o)
      : loop_(l), listener_(std::move(listener)), opts_(o), clock_(l, seconds(o.idle_timeout)) {
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
    clock_.cancel_all();
    spawn(loop_, wait_then(this, std::move(done)), "echo-shutdown");
  }
  bool stopping() const noexcept { return stopping_; }
  // The connections' idle timeouts, on one timer: a deadline each cost an
  // idle connection 136 B of its 718 (bench/memory/idle_conns.py).
  idle_clock& clock() noexcept { return clock_; }
  std::size_t max_line() const noexcept { return opts_.max_line; }

 private:
  static task<void> accept_loop(echo_service* self) {
    for (;;) {
      tcp_stream s = co_await self->listener_.accept();
      if (self->stopping_) co_return;  // accepted just as shutdown began
      spawn_connection(self->loop_, self->connections_, "echo",
                       [&] { return serve_echo(*self, std::move(s)); });
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
  idle_clock clock_;  // before the groups: it outlives the connections' entries
  task_group accepting_;
  task_group connections_;
};

// Whether the client has yet to take echoes: still buffered, or sent and
// not acknowledged.
bool owes_echoes(const tcp_stream& s) noexcept {
  return s.buffered_output() > 0 || !all_sent_acknowledged(s.native_handle());
}

// A connection's place on its service's idle clock, and how it ends.
// Destroyed before its end (a shutdown's deadline destroys the green
// threads still running), a connection still owed echoes is reset, as qa's
// is: a FIN made the echoes the kernel held look like all of them (found
// by review).
class echo_entry : public idle_clock::entry {
 public:
  enum class ending : std::uint8_t {
    eof,       // or the stop: the loop of lines ended, nothing failed
    vanished,  // peer_lost (a reset, a broken pipe...): nothing to save
    too_long,  // a line over --max-line
    idle,      // the idle clock ran out, and the client took no echo
  };
  using entry::entry;
  echo_entry(const echo_entry&) = delete;
  echo_entry& operator=(const echo_entry&) = delete;
  ~echo_entry() {
    if (!ended && stream().is_open() && owes_echoes(stream())) stream().abort();
  }
  ending how = ending::eof;
  bool ended = false;  // ended as `how` says: no reset
};
// Its members lie in the entry's padding (Itanium ABI): every idle
// connection's frame holds one.
static_assert(sizeof(echo_entry) == sizeof(idle_clock::entry));

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

// A graceful stop: what had come is echoed, a partial line too, as at EOF;
// then a lingering close, so that input left unread cannot turn the close
// into a reset that destroys those echoes. The server's shutdown timeout
// bounds it all, not the idle clock.
task<void> echo_what_came(tcp_stream& s, std::size_t max_line) {
  co_await read_what_came(s, std::min<std::size_t>(max_line, std::size_t{64} * 1024));
  std::string_view rest = s.buffered();
  co_await s.write(rest);
  s.consume(rest.size());
  co_await s.flush();
  co_await s.linger_close();
}

// In serve_echo's catch block: whether the exception in flight ends the
// connection's lines (true, `me.how` set), or was the idle clock's with
// the client still taking its echoes (false: read on; the echoes wait in
// the buffer, as a cancelled write keeps them, and a partial line in the
// stream). Rethrows what is neither. A plain function: in the coroutine,
// the catch's reference took a slot in every connection's frame.
bool lines_end(const echo_service& svc, echo_entry& me, reply_progress& progress) {
  using ending = echo_entry::ending;
  try {
    throw;
  } catch (const std::system_error& e) {
    // A client gone mid-reply (echo has no with_timeout, so a timed_out is
    // TCP's): an ordinary end, quietly, here or in the ending's writes.
    if (peer_lost(e.code())) {
      me.how = ending::vanished;
      return true;
    }
    if (e.code() == net_errc::line_too_long) {
      me.how = ending::too_long;
      return true;
    }
    // (The stop's cancel of a connection the clock also expired in that
    // turn is the stop's: the stop is asked first, below and in the end.)
    if (!me.expired() && !(svc.stopping() && e.code() == std::errc::operation_canceled)) throw;
    if (svc.stopping()) return true;
    tcp_stream& s = me.stream();
    if (progress.moved(s.native_handle(), s.buffered_output())) return false;
    me.how = ending::idle;
    return true;
  }
}

// How a connection ends once its lines are over. Its waits are a coroutine
// of their own: awaited in serve_echo, their awaiters and temporaries took
// room in that frame, which every idle connection holds.
task<void> end_echo(echo_service& svc, echo_entry& me) {
  using ending = echo_entry::ending;
  tcp_stream& s = me.stream();
  try {
    if (me.how == ending::vanished) co_return;  // reset if owed (~echo_entry)
    if (me.how == ending::too_long) {
      co_await s.write("error: line too long\n");
      co_await s.linger_close();
    } else if (svc.stopping()) {
      svc.clock().clear(me);
      co_await echo_what_came(s, svc.max_line());
    } else if (me.how == ending::idle) {
      // Idle: nothing came, or the client took none of its echoes. Then a
      // reset, so that it knows it was cut (~echo_entry): a FIN would wait
      // behind them. (write_cancelled() alone missed echoes held up in a
      // read's flush.)
      co_return;
    } else {
      co_await s.flush();  // at EOF; the idle clock bounds it
    }
  } catch (const std::system_error& e) {
    // Gone meanwhile, or idle in the flush: reset if still owed.
    if (peer_lost(e.code()) || me.expired()) co_return;
    throw;
  }
  me.ended = true;
}

// By value: the stream lives in this green thread's frame and closes when
// the task ends, however it ends. What the frame holds, every idle
// connection holds (bench/memory/idle_conns.py, tests/faults/
// test_idle_memory.py: 512 B in all): the ending is a coroutine of its own,
// the catch block's work a plain function, and the options are read
// through the service.
task<void> serve_echo(echo_service& svc, tcp_stream s) {
  echo_entry me(svc.clock(), s);
  reply_progress progress;
  for (;;) {
    try {
      while (!svc.stopping()) {
        // A line, and the flush of the echoes before it, within the idle
        // timeout (a store, and a move to the front once a turn).
        svc.clock().touch(me);
        std::string_view line = co_await s.read_until('\n', svc.max_line());
        if (line.empty()) break;  // EOF
        progress.wrote(line.size());
        // Buffered; flushed before the next wait. Named, as the awaiter
        // of a call's result held a copy of its argument in the frame.
        tcp_stream::write_op echo = s.write(line);
        co_await echo;
      }
      break;
    } catch (...) {
      if (lines_end(svc, me, progress)) break;
    }
  }
  co_await end_echo(svc, me);
}

}  // namespace

int run_echo(const common_options& opts, const echo_options& echo) {
  return run_server("echo", opts, [&echo](loop& l, tcp_listener li) {
    return std::make_unique<echo_service>(l, std::move(li), echo);
  });
}

}  // namespace weft::app
