#pragma once
// The HTTP/1.1 server: one green thread per connection, running
// serve_connection over a router.
//
// Keep-alive is the default for HTTP/1.1; HTTP/1.0 closes unless it asks
// for keep-alive. Pipelined requests are answered in order, and responses
// that are ready together leave in one send (the stream flushes only before
// it waits for input). Every limit and timeout below is enforced; a
// malformed request gets its error status and the connection closes.
//
// A coroutine handler whose client goes (a FIN or a reset) while it waits
// on something else, a backend or a long poll, is cancelled: its pending
// operation throws std::system_error(operation_canceled), and the
// connection ends after the answers owed before it, without one of its
// own (one it makes all the same, having caught the cancel, is sent), and
// the access log says 499, as nginx's does (Go cancels the request's
// context likewise). A client that half-closes after
// its request counts as gone, as there. Input that comes first is the next
// request, not a departure; a route that streams its body, whose handler
// reads the stream itself, learns of it by its reads. So is a streamed
// body's producer that waits between writes (events): the body is cut,
// with no error logged, or, if none of it had left, its head is withdrawn,
// the log says 499 and the answers owed before it still go. An end that
// comes while the producer writes is a half-close whose client still
// reads, and the body goes on. Work that must go on regardless belongs in
// a green thread of its own (spawn).
//
// Threading: one loop thread per connection; the options and the router
// are shared read-only, by reference (see serve_connection).

#include <weft/core/time.hpp>
#include <weft/http/memory_budget.hpp>
#include <weft/http/router.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/net/tcp_stream.hpp>
#include <weft/task/task_group.hpp>

#include <cstdio>
#include <functional>
#include <string>

namespace weft::http {

// Each timeout may be duration::max(): never.
struct server_options {
  parse_limits limits;                                // 414 / 431 / 413
  duration head_timeout = std::chrono::seconds(10);   // whole head, from its first byte (slowloris)
  duration body_timeout = std::chrono::seconds(30);   // whole body
  duration idle_timeout = std::chrono::seconds(60);   // keep-alive wait for the next request
  duration write_timeout = std::chrono::seconds(30);  // a client that stops reading
  // Per connection; then "Connection: close". Counted to 2^32 - 1: more
  // is taken as that.
  std::size_t max_requests = 10000;
  std::FILE* access_log = nullptr;  // Common Log Format, or none
  // What the bodies read whole (not a stream_body route's) take from as
  // they arrive, shared with every server pointing at the same budget; a
  // body that would take it past its size is refused with 503, and its
  // connection closes. nullptr: unbounded, each body bounded by its limit
  // alone. The default is the process's own (1 GiB), shared.
  memory_budget* body_budget = &memory_budget::process_default();
};

// Opens an access log for server_options::access_log: `where` is a file,
// appended to, or "-" for stdout. Throws std::system_error when it cannot
// be opened. Whatever the FILE, lines go to its descriptor without ever
// waiting: a reader that stops reading (a full pipe, a paused terminal, a
// socket) costs log lines, dropped and counted on stderr (a warning when
// drops begin, the count when a later line goes or at close_access_log;
// at most one warning a second), never a loop, and a reader that has gone
// costs no SIGPIPE. A line holds at most 4 KiB (a pipe takes that whole),
// the request's start when longer.
std::FILE* open_access_log(const std::string& where);

// Opens `where` again for an access log from open_access_log, in place of
// the file it had, as nginx does on SIGUSR1: logrotate renames the file,
// then signals, and the lines go on in a new file of the old name (`weft`
// does so on SIGUSR1). Safe while servers write to the log, from any
// thread. Nothing to do for stdout ("-"). False, with the old file kept
// and a warning on stderr, when `where` cannot be opened.
bool reopen_access_log(std::FILE* log, const std::string& where) noexcept;

// Closes an access log from open_access_log once no server writes to it
// (stdout is flushed, not closed), and says on stderr how many lines were
// dropped that no later line's success has counted: with a reader that
// never read again, they were never counted at all.
void close_access_log(std::FILE* log) noexcept;

// What a streamed body's producer writes to. Each write is one chunk (of a
// sized stream, the next bytes), and it is sent before write() returns, so
// a producer may wait (on a timer, a channel) between chunks without
// holding one back; batch small pieces into one write. `data` must stay
// alive until the write is awaited. The end of the body is sent when the
// producer returns. The write timeout bounds each 256 KiB piece of a
// write, so a large one that keeps moving is never cut. `limit` is the
// most bytes the body may hold (a sized stream's length): a write past it
// throws std::length_error and sends nothing. Loop thread of the
// connection.
class body_writer {
 public:
  body_writer(tcp_stream& s, bool chunked, duration write_timeout,
              std::uint64_t limit = UINT64_MAX) noexcept
      : s_(&s), chunked_(chunked), timeout_(write_timeout), limit_(limit) {}
  task<void> write(std::string_view data);
  std::uint64_t bytes_written() const noexcept { return bytes_; }
  // A write failed (the client went, or stopped reading): the connection
  // is done, whatever the producer does with the exception. Later writes
  // throw at once, and the body is never ended as if whole.
  bool broken() const noexcept { return broken_; }

 private:
  tcp_stream* s_;
  bool chunked_;
  bool broken_ = false;
  duration timeout_;
  std::uint64_t limit_;
  std::uint64_t bytes_ = 0;
};

// The connections of one loop, for graceful shutdown: stop_keep_alive()
// makes every connection close after the next response it makes, which
// says so ("Connection: close"; one whose head had left when it came, a
// body still streaming, says so in the response after), close_idle()
// cancels those idle between requests (with their answers all sent:
// serve_connection marks them so), and drain() does both at once, so a
// connection whose answer was leaving is closed once it has left. Closing
// one at its answer's end instead, unannounced, cost a kept-alive client
// its next request in a takeover under load (tests/faults/
// test_graceful_restart.py). Loop thread only.
//
// A tracker and its connections may end in either order: a connection that
// ends (or is destroyed with its loop) leaves the tracker, and a tracker
// destroyed first detaches the connections, which then go on untracked.
class connection_tracker {
 public:
  // One connection's membership, in its frame.
  struct entry {
    weft::detail::task_context* ctx = nullptr;
    connection_tracker* tracker = nullptr;  // null once either side has gone
    bool idle = true;
    int fd = -1;              // its socket, where close_now looks for a request already come
    time_point idle_since{};  // when it last became idle (or joined)
    entry* prev = nullptr;
    entry* next = nullptr;
    entry() = default;
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;
    ~entry() {
      if (tracker) tracker->remove(this);
    }
  };
  connection_tracker() = default;
  connection_tracker(const connection_tracker&) = delete;
  connection_tracker& operator=(const connection_tracker&) = delete;
  ~connection_tracker();

  void add(entry* e, time_point now) noexcept;
  void remove(entry* e) noexcept;
  // Inline: the server marks each connection busy once a request (see
  // mark_idle), which as a call cost ~10 instructions a request.
  void set_idle(entry* e, bool idle, time_point now) noexcept {
    if (idle && !e->idle) e->idle_since = now;
    e->idle = idle;
    if (idle && closing_idle_) close_now(e);
  }
  void stop_keep_alive() noexcept { draining_ = true; }
  // From now on, a connection that becomes idle is closed too.
  void close_idle() noexcept;
  // Closes up to `most` keep-alive connections idle since `idle_by` or
  // before, the longest-known first (of the 32 × `most` longest-known),
  // and says how many: for a server out
  // of descriptors, whose idle clients would hold them until their
  // --idle-timeout while new ones wait (nginx drains its reusable
  // connections so). A keep-alive connection may be closed at any time
  // between requests (RFC 9112 §9.6); one idle only a moment is likely
  // about to send its next request, and is left.
  std::size_t close_some_idle(std::size_t most, time_point idle_by) noexcept;
  void drain() noexcept;
  bool draining() const noexcept { return draining_; }

 private:
  bool close_now(entry* e) noexcept;  // false: nothing to close, or a request came
  entry* head_ = nullptr;             // the newest
  entry* tail_ = nullptr;             // the oldest
  bool draining_ = false;
  bool closing_idle_ = false;
};

// Serves HTTP on one connection until it closes. Never throws. The router
// and the options are shared by reference and must outlive the connection,
// as the loop must (a temporary of either does not compile), unchanged
// while it lasts (its access log is taken as it starts). Copied, the
// options were 80 of the 766 bytes an idle kept-alive connection held
// (bench/memory/idle_conns.py --keep-alive).
task<void> serve_connection(tcp_stream s, const router& r, const server_options& opts,
                            connection_tracker* tracker = nullptr);
task<void> serve_connection(tcp_stream s, const router&& r, const server_options& opts,
                            connection_tracker* tracker = nullptr) = delete;
task<void> serve_connection(tcp_stream s, const router& r, const server_options&& opts,
                            connection_tracker* tracker = nullptr) = delete;

// One loop's HTTP server: it accepts from `listener` and serves each
// connection with serve_connection, in a green thread of its own, until
// shutdown() stops it as `weft hello` stops at SIGTERM.
//
//   loop l;
//   http::server srv(l, tcp_listener::bind(*endpoint::parse("127.0.0.1:8080")), routes, opts);
//   l.on_signals({SIGINT, SIGTERM}, [&](int) { srv.shutdown(5s, [&] { l.stop(); }); });
//   l.run();
//
// For several cores, make one on each loop of a loop_group, each with a
// listener of its own on the same port (bind_reuseport, loop_group.hpp), as
// `weft --threads N` does. Out of descriptors, it closes some keep-alive
// connections idle for a quarter of their idle timeout (5 s at most), the
// longest idle first, so that new clients are not kept waiting for a whole
// --idle-timeout (connection_tracker::close_some_idle). A connection whose
// green thread cannot be had (std::bad_alloc) is closed, with a warning
// while that lasts, and the accepts go on.
//
// The router and the options are shared by reference and must outlive the
// server and its connections. Threading: its loop's thread (or, once that
// thread has ended, the one that joined it). Destroy it before its loop
// (it cancels its timers and forgets its listener there), and only once
// shutdown's `done` has run or its loop has stopped and destroyed its
// green threads (loop::destroy_green_threads, which loop_group does as
// each loop's run() returns): its green threads refer to it.
class server {
 public:
  server(loop& l, tcp_listener listener, const router& routes, const server_options& opts);
  server(loop& l, tcp_listener listener, const router&& routes,
         const server_options& opts) = delete;
  server(loop& l, tcp_listener listener, const router& routes,
         const server_options&& opts) = delete;
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Stops accepting: the connections already in the listener's queue are
  // still served, and the listener closes. Every connection closes after
  // its next answer, which says "Connection: close"; one idle between
  // requests is closed after idle_grace, as a kept-alive client may have
  // its next request on the wire (closing under it would fail that
  // request). Requests in flight finish; what is left `grace` after the
  // call is cancelled, and a connection the drain accepts after that is
  // closed (duration::max(): never). `done` runs on the loop once no
  // connection is left, and may destroy the server; if the loop stops
  // first, it never runs. Only the first call counts: a later one's
  // `done` is dropped uncalled (a program that wants a second signal to
  // cut the wait stops its loop, as `weft` and the examples do). Throws
  // std::bad_alloc, having changed nothing, when it cannot arm its timers.
  void shutdown(duration grace, std::function<void()> done);
  static constexpr duration idle_grace = std::chrono::milliseconds(500);

  std::size_t connections() const noexcept { return connections_.size(); }
  // The listener's address, while it is open (it closes as shutdown
  // drains its queue; then this throws std::system_error).
  endpoint local_endpoint() const { return listener_.local_endpoint(); }

 private:
  static task<void> accept_loop(server* self);
  static task<void> wait_then(server* self, std::function<void()> done);
  void serve_accept_queue();
  void serve(tcp_stream s) noexcept;
  void cancel_timers() noexcept;  // the idle grace's and the cut's, if armed

  loop& loop_;
  tcp_listener listener_;
  const router& routes_;
  const server_options& opts_;
  connection_tracker tracker_;
  task_group accepting_;
  task_group connections_;
  timer_id close_idle_ = no_timer;
  timer_id cut_ = no_timer;
  bool stopping_ = false;
  bool cut_passed_ = false;  // the grace has run out
  bool dropping_ = false;    // out of memory for a connection: said so
};

// The Date header value, cached and refreshed at most once a second.
std::string_view http_date() noexcept;
// The second that http_date() shows, as seconds since the epoch: the clock
// for whatever a response compares with its Date. Last-Modified must never
// be later (RFC 9110 §8.8.2.1), and the wall clock can be a second ahead of
// the cached Date.
std::int64_t http_date_seconds() noexcept;

}  // namespace weft::http
