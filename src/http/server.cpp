#include <weft/core/fd_io.hpp>
#include <weft/core/log.hpp>
#include <weft/http/chunked_decoder.hpp>
#include <weft/http/server.hpp>
#include <weft/net/errors.hpp>
#include <weft/task/deadline.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/timeout.hpp>

#include "http/access_log.hpp"
#include "http/body_bytes.hpp"
#include "http/connection_io.hpp"
#include "http/field_array.hpp"
#include "http/fixed_answer.hpp"
#include "http/plain_head.hpp"
#include "http/put_bytes.hpp"
#include "http/request_body.hpp"
#include "http/response_writes.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <optional>
#include <vector>

namespace weft::http {

namespace {
// "Date: <IMF-fixdate>\r\n", refreshed when the second changes; the loop's
// cached time makes the check free on most requests (DESIGN-NOTES §1):
// the clock is read at most every 100 ms of loop time.
struct date_cache {
  char text[48] = {};
  std::size_t size = 0;
  std::time_t shown = -1;
  time_point next_check = time_point::min();
};
thread_local date_cache dates;

[[gnu::noinline]] void refresh_date(time_point mono) noexcept {
  date_cache& d = dates;
  d.next_check = mono + std::chrono::milliseconds(100);
  std::time_t t = std::time(nullptr);
  if (t != d.shown) {
    d.shown = t;
    std::tm tm{};
    gmtime_r(&t, &tm);
    d.size = std::strftime(d.text, sizeof d.text, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
}

// The Date line as of `mono`, the loop's time (its now()).
std::string_view date_line(time_point mono) noexcept {
  date_cache& d = dates;
  if (mono >= d.next_check) [[unlikely]]
    refresh_date(mono);
  return {d.text, d.size};
}

std::string_view date_line() noexcept {
  loop* l = loop::current();
  return date_line(l ? l->now() : clock::now());
}
}  // namespace

std::string_view http_date() noexcept {
  std::string_view line = date_line();
  return line.substr(6, line.size() - 8);
}

std::int64_t http_date_seconds() noexcept {
  date_line();
  return static_cast<std::int64_t>(dates.shown);
}

namespace {

using detail::access_log;
using detail::field_array;
using detail::first_line;
using detail::flush_by;
using detail::has_content;
using detail::mark_idle;
using detail::read_before;
using detail::read_by;
using detail::read_outcome;
using detail::request_line;
using detail::send_produced_body;
using detail::send_rest;
using detail::streamed;
using detail::timed;

// An error answer's one-line body: "404 Not Found\n".
std::string status_body(int status) {
  return std::to_string(status) + " " + std::string(reason_phrase(status)) + "\n";
}

// An error answer: the status, a one-line body (none to HEAD: RFC 9110
// §9.3.2), and "Connection: close".
std::string error_response(int status, bool to_head) {
  std::string body = status_body(status);
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(reason_phrase(status)) + "\r\nDate: " + std::string(http_date()) +
                    "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\nConnection: close\r\n";
  if (status == 405) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!to_head) out += body;
  return out;
}

// Whether the bytes of a request that failed name HEAD as its method. The
// method is the first thing on the request line, so it is known even when
// what comes after it is malformed.
bool names_head(std::string_view bytes) noexcept {
  while (bytes.starts_with("\r\n")) bytes.remove_prefix(2);  // RFC 9112 §2.2
  return bytes.starts_with("HEAD ");
}

// "HTTP/1.1 200 OK\r\n": one copy instead of four small ones per response.
// The status is a final one, 200..599 (serve refuses others).
std::string_view status_line(int status) {
  struct table {
    std::array<std::string, 400> lines;
    table() {
      for (int st = 200; st < 600; ++st)
        lines[st - 200] =
            "HTTP/1.1 " + std::to_string(st) + " " + std::string(reason_phrase(st)) + "\r\n";
    }
  };
  static const table t;
  return t.lines[status - 200];
}

// The status line and the Date line together, kept for the status last
// sent and rebuilt when the status or the second changes: one copy per
// response instead of two (~20 instructions a request, callgrind). The
// rebuild is out of line, so that this stays small enough to inline.
struct status_date {
  char text[128];
  std::size_t size = 0;
  int for_status = 0;
  std::time_t for_second = -1;
};
thread_local status_date last_status_date;

[[gnu::noinline]] void rebuild_status_and_date(int status, std::string_view date) {
  status_date& sd = last_status_date;
  std::string_view line = status_line(status);  // at most 50 bytes, Date 37
  char* p = detail::put_bytes(detail::put_bytes(sd.text, line), date);
  sd.size = static_cast<std::size_t>(p - sd.text);
  sd.for_status = status;
  sd.for_second = dates.shown;
}

std::string_view status_and_date(int status) {
  std::string_view date = date_line();
  status_date& sd = last_status_date;
  if (status != sd.for_status || dates.shown != sd.for_second) [[unlikely]]
    rebuild_status_and_date(status, date);
  return {sd.text, sd.size};
}

// A response's first lines: its status line, then the server's Date line
// unless the response has a Date of its own (among its header lines).
std::string_view status_lines(int status, bool sets_date) {
  return sets_date ? status_line(status) : status_and_date(status);
}

// The length a Content-Length line gives: a file's, a sized producer's, or
// the string body's.
std::uint64_t content_length_of(const response& res) noexcept {
  if (res.file()) return res.file_length();
  if (auto n = res.stream_length()) return *n;
  return res.body().size();
}

// Builds the response head in place in the stream's output buffer, with the
// body when it is a small string. Returns the string body still to send.
// `close_delimited`: no Content-Length or Transfer-Encoding; the body ends
// when the connection does.
// Measured: building into a std::string and copying it cost 9% of the
// pipelined benchmark's CPU (perf, when b1fc05c made this change; the
// profile was not kept).
std::string_view put_response(tcp_stream& s, const request& req, const response& res,
                              bool keep_alive, bool close_delimited) {
  int status = res.status();
  std::string_view lines = res.header_block(), body;
  if (has_content(status) && req.method() != "HEAD" && !res.producer() && !res.file())
    body = res.body();
  bool copy_body = body.size() <= detail::copied_body_max;
  std::string_view status_text = status_lines(status, res.sets_date());
  // Fixed parts (status_text holds the Date): framing 38, Connection 24, CRLF 2.
  char* start =
      s.output_space(128 + status_text.size() + lines.size() + (copy_body ? body.size() : 0));
  char* p = detail::put_bytes(start, status_text);
  // Chunked is framing_of's decision, tested again here: passed in, it
  // cost 20-30 more instructions a keep-alive request (2,081 against
  // 2,040-2,061, DEPTH=1 BATCHES=400 bench/http/instructions.sh).
  if (!close_delimited) {
    if (has_content(status) && res.producer() && !res.stream_length())
      p = detail::put_bytes(p, "Transfer-Encoding: chunked\r\n");
    else
      p = detail::put_length_line(p, status, content_length_of(res));
  }
  p = detail::put_bytes(p, lines);
  if (!keep_alive)
    p = detail::put_bytes(p, "Connection: close\r\n");
  else if (req.version_minor() == 0)
    p = detail::put_bytes(p, "Connection: keep-alive\r\n");
  p = detail::put_bytes(p, "\r\n");
  if (copy_body) {
    p = detail::put_bytes(p, body);
    body = {};
  }
  s.commit_output(static_cast<std::size_t>(p - start));
  return body;
}

// A fixed answer whole, as a kept-alive HTTP/1.1 request gets it: status
// line, Date, fields, the final CRLF and the body, rebuilt when the second
// changes. One copy per response where answer_fixed made five: with the
// fast case inline and the Date checked against the stream's loop time,
// 851 -> 797 instructions a pipelined hello, 1,695 -> 1,656 kept alive
// (bench/http/instructions.sh). A few per thread, found by the answer's id,
// so that routes with fixed answers taken in turn do not rebuild each
// other's; an answer longer than `text` is written in pieces instead.
struct whole_answer {
  char text[512];
  std::size_t size = 0;
  std::uint64_t for_id = 0;
  std::time_t for_second = -1;
};
thread_local std::array<whole_answer, 4> whole_answers;

bool fits_whole(const detail::fixed_answer& a) noexcept {
  return a.most <= sizeof whole_answer::text;
}

[[gnu::noinline]] void rebuild_whole(const detail::fixed_answer& a, whole_answer& w) {
  std::string_view status_text = status_lines(a.status, a.sets_date);
  char* p = detail::put_bytes(detail::put_bytes(w.text, status_text), a.fields);
  p = detail::put_bytes(detail::put_bytes(p, "\r\n"), a.body);
  w.size = static_cast<std::size_t>(p - w.text);
  w.for_id = a.id;
  w.for_second = dates.shown;
}

// `a` whole (see whole_answer) as of `mono`, the loop's time; `a` fits_whole.
std::string_view whole(const detail::fixed_answer& a, time_point mono) {
  date_line(mono);  // moves dates.shown on when the second changes
  whole_answer& w = whole_answers[a.id % whole_answers.size()];
  if (w.for_id != a.id || w.for_second != dates.shown) [[unlikely]]
    rebuild_whole(a, w);
  return {w.text, w.size};
}

// answer_fixed's general case: the answer in pieces, a Connection line
// among them where the request needs one.
[[gnu::noinline]] void answer_fixed_in_pieces(tcp_stream& s, const request& req,
                                              const detail::fixed_answer& a, bool keep_alive,
                                              const access_log& log) {
  bool body = a.has_content && req.method() != "HEAD";
  std::string_view status_text = status_lines(a.status, a.sets_date);
  char* start = s.output_space(a.most);
  char* p = detail::put_bytes(detail::put_bytes(start, status_text), a.fields);
  if (!keep_alive)
    p = detail::put_bytes(p, "Connection: close\r\n");
  else if (req.version_minor() == 0)
    p = detail::put_bytes(p, "Connection: keep-alive\r\n");
  p = detail::put_bytes(p, "\r\n");
  if (body) p = detail::put_bytes(p, a.body);
  s.commit_output(static_cast<std::size_t>(p - start));
  if (log.file) log.write(request_line(req), a.status, body ? a.body.size() : 0);
}

// Writes a fixed answer (router::add with a response) as put_response
// writes the response it was made from, and logs it. Its head was joined
// when its route was added, so this is a copy or a few: a pipelined hello
// took 849 user-space instructions, where a plain handler's response (the
// call, its Content-Type's checks, put_response, its destruction) took
// 1,199 (bench/http/instructions.sh). The caller has checked
// that the output buffer takes it under flush_limit(), so it needs no
// send of its own. The usual case, a kept-alive HTTP/1.1 request, is
// inline: one copy of the whole answer, its body cut for HEAD (`body` is
// empty where the status has none).
void answer_fixed(tcp_stream& s, const request& req, const detail::fixed_answer& a, bool keep_alive,
                  const access_log& log) {
  if (!keep_alive || req.version_minor() != 1 || !fits_whole(a)) [[unlikely]]
    return answer_fixed_in_pieces(s, req, a, keep_alive, log);
  std::string_view w = whole(a, s.owner().now());
  bool head = req.method() == "HEAD";
  if (head) w.remove_suffix(a.body.size());
  detail::put_bytes(s.output_space(w.size()), w);
  s.commit_output(w.size());
  if (log.file) [[unlikely]]
    log.write(request_line(req), a.status, head ? 0 : a.body.size());
}

// What a request with a body keeps while it is served: its head, copied
// out of the stream's buffer (which may move as the body arrives), the
// fields parsed from that copy, the body's reader, and the body when the
// server reads it whole, with what it took from the servers' budget.
struct request_body {
  std::string head;
  detail::body_bytes body;  // in pages past 128 KiB: see body_bytes.hpp
  std::vector<header_field> fields;
  std::optional<detail::body_source> source;
  memory_budget::lease taken;
  // A refused body's bytes, and their share of the budget, go back before
  // the error answer's lingering close, not after it.
  void drop_body() noexcept {
    body.clear();
    taken = memory_budget::lease();
  }
};

// The head's views point into the stream's buffer, which may move as the
// body arrives, so a request with a body keeps a copy of its `size` bytes,
// parsed again into `head`, and they leave the stream. Made only for such
// a request: four empty containers built and destroyed per request cost
// ~50 instructions (bench/http/instructions.sh), an empty std::optional of
// them ~20.
std::unique_ptr<request_body> keep_head(tcp_stream& s, std::size_t size, const parse_limits& limits,
                                        request_head& head) {
  auto b = std::make_unique<request_body>();
  b->head.assign(s.buffered().substr(0, size));
  parse_state again;
  b->fields.resize(head.fields.size());
  (void)parse_request(b->head, limits, b->fields, head, again);
  s.consume(size);
  return b;
}

// Readies a request's body for its handler, once its route is known: read
// whole into b.body, or on a streaming route left to the handler's
// read_some. Returns 0, the status to refuse it with, or -1 (the client
// went). A body left unread ends the connection after the answer
// (head.keep_alive is cleared).
task<int> take_body(tcp_stream& s, deadline& dl, weft::detail::task_context& owner, request& req,
                    request_body& b, const route_handler* h, const server_options& opts) {
  const request_head& head = req.head_;
  std::uint64_t limit = opts.limits.max_body;
  duration timeout = opts.body_timeout;
  if (h) {
    if (h->options.max_body != 0) limit = h->options.max_body;
    if (h->options.body_timeout != duration::zero()) timeout = h->options.body_timeout;
  }
  // Nothing reads the body of a request no route takes (a 404, a 405), nor
  // a fixed answer's (router::add sets ignore_body for it): its length is
  // no reason to refuse it. A POST declaring more than the limit got 413
  // where the method was wrong, and hello answered a client that expected
  // 100-continue with a 100 and a wait for a body it would drop (found by
  // review).
  const bool unread = h == nullptr || h->options.ignore_body;
  if (!unread && head.body == body_kind::content_length && head.content_length > limit)
    co_return 413;
  // Against the budget, a declared length that could never be held is a
  // 413 too, not a 503 to try again; and a client that waits for a 100
  // Continue is not asked for a body there is no room for now (it was, and
  // got 503 after its first piece).
  if (const memory_budget* m = opts.body_budget;
      m && !unread && !h->options.stream_body && head.body == body_kind::content_length) {
    if (head.content_length > m->size()) co_return 413;
    if (head.expect_continue && head.content_length > m->size() - m->in_use()) co_return 503;
  }
  // Unread, a chunked body is bounded by what is dropped (below), not by a
  // limit: it got 413 where the same length framed by Content-Length got
  // its answer (found by review).
  if (unread) limit = UINT64_MAX;
  detail::body_source& body = b.source.emplace(s, dl, owner, head, opts, limit, timeout);
  if (h && h->options.stream_body) {
    req.source_ = &body;
    co_return 0;
  }
  // A body nothing reads: a small one is read and dropped, for keep-alive
  // (as Go's server drains 256 KiB); a larger one, or one a client that
  // expects 100-continue has not sent (RFC 9110 §10.1.1), is left as a
  // streamed route's handler that reads nothing leaves its body
  // (end_streamed_body): the answer goes at once, what is in is skipped,
  // and the connection closes. Read whole, it took memory up to the limit
  // for nothing (found by review).
  constexpr std::uint64_t dropped_max = std::uint64_t{256} * 1024;
  auto answer_at_once = [&] { req.source_ = &body; };
  if (h && h->options.ignore_body) req.body_read_ = request::body_read::ignored;
  if (unread && ((head.expect_continue && s.buffered().empty()) ||
                 (head.body == body_kind::content_length && head.content_length > dropped_max))) {
    answer_at_once();
    co_return 0;
  }
  std::uint64_t dropped = 0;
  // Not reserved from the declared length: the body grows as it arrives,
  // so a client pays in bytes sent for the memory it takes. Reserved, a
  // head declaring 1 TiB under a large limit cost 1 TiB (bad_alloc). The
  // pieces already in are taken in a plain loop, an await only for more.
  // What it holds is taken from the budget as it grows: past it, a 503.
  b.taken = memory_budget::lease(opts.body_budget);
  for (;;) {
    std::string_view piece = body.next_buffered();
    if (piece.empty()) {
      if (body.done()) break;
      if (body.failed() != 0) co_return body.failed();
      if (int st = co_await body.next(piece); st != 0) co_return st;
      if (piece.empty()) break;
    }
    if (!unread) {
      if (!b.taken.take(piece.size())) co_return 503;
      // No memory for it (pages that cannot be mapped: vm.max_map_count,
      // RLIMIT_AS) is refused as no budget is: the bad_alloc closed the
      // connection with no answer (found by review).
      try {
        b.body.append(piece);
      } catch (const std::bad_alloc&) {
        co_return 503;
      }
    } else if ((dropped += piece.size()) > dropped_max) {
      answer_at_once();
      co_return 0;
    }
  }
  req.body_ = b.body.view();
  req.trailers_ = body.trailers();
  co_return 0;
}

// Answers a request the server refuses, logs it (`request_line` as it
// came; "" when none came whole), and closes. A status of -1: the client
// left partway through its body, logged 499, as nginx logs a client gone
// (it left no line, found by review).
task<void> fail(tcp_stream& s, int status, bool to_head, const server_options& opts,
                const access_log& log, std::string_view request_line) {
  if (status < 0) log.write(request_line, 499, 0);
  if (status > 0) {
    std::string answer = error_response(status, to_head);
    log.write(request_line, status, to_head ? 0 : answer.size() - answer.find("\r\n\r\n") - 4);
    try {
      co_await with_timeout(opts.write_timeout, s.write_all(answer));
    } catch (const std::system_error&) {
      co_return;  // the client is not taking replies: just close
    }
  }
  co_await s.linger_close();
}

// The ways a connection ends that are the client's doing, or shutdown's:
// peer_lost (a reset, an unreachable peer), timeouts while writing,
// cancellation. Not worth a log line.
bool client_gone(std::error_code code) noexcept {
  return code == std::errc::operation_canceled || peer_lost(code);  // timed_out: ours or TCP's
}

// A handler's bug, logged as `why`: a 500 for this request.
response handler_bug(const std::string& why) {
  log_error("http handler " + why);
  return response::text("500 Internal Server Error\n", 500);
}

// The answer when a handler throws (anything: `throw 42` too). Called from
// a catch block.
response handler_error() {
  return handler_bug("failed: " + what_of(std::current_exception()));
}

// The answer when a handler returns a status that is not a final one (1xx)
// or not HTTP's at all.
[[gnu::noinline]] response bad_status_error(int status) {
  return handler_bug("returned status " + std::to_string(status));
}

// The answer when no route takes the request: 405 with Allow when the path
// has other methods, else 404.
response unrouted(const std::string& allow) {
  if (allow.empty()) return response::text("404 Not Found\n", 404);
  response r = response::text("405 Method Not Allowed\n", 405);
  r.header("Allow", allow);
  return r;
}

// Runs a plain handler; its response is returned without a move.
response run_plain(const plain_handler& h, request& req, bool& failed) {
  try {
    return h(req);
  } catch (...) {
    failed = true;
    return handler_error();
  }
}

// After a streaming route's handler. A body that failed under its reads
// is answered with its failure (a 400 for a bad chunk), whatever the
// handler made of it. What it left unread but is already in is skipped,
// as Go's server drains a small remainder, and the connection goes on; a
// body still to come, or one that fails in what was skipped (not the
// handler's to answer for), is never read as requests: the connection
// closes after the answer. False when the client went: nothing is
// answered. A plain function, never inlined, and the failure answered as a
// response, not through fail(): an await more in serve() made every
// request dearer, and so did this, inlined, once it grew (1,200 against
// 1,193 per pipelined request; with serve()'s other per-request work
// trimmed, streamed bodies cost 1,187 against 1,175 before them, where
// they first cost 1,201; bench/http/instructions.sh).
[[gnu::noinline]] bool end_streamed_body(request& req, response& res, bool& keep_alive) {
  detail::body_source& body = *req.source_;
  req.source_ = nullptr;
  int failed = body.failed();
  // Short of the end, a later read is refused, whether or not the rest was
  // already in and is skipped here: all in, the read returned an empty view,
  // "the end", and the body was lost without a word (found by review).
  if (!body.done()) req.body_read_ = request::body_read::cut;
  while (!body.next_buffered().empty()) {
  }
  if (!body.done()) keep_alive = false;
  if (failed > 0) res = response::text(status_body(failed), failed);
  return failed >= 0;
}

// Flush before wait (DESIGN-NOTES §1) for the answers already made when a
// coroutine handler runs: should the handler wait (a backend, a long
// poll), a timer of the next loop turn sends what the socket takes at once
// (one try_flush; the rest leaves at the next flush, as before). They waited in the
// buffer for as long as the next pipelined request's handler ran (found by
// review). A handler that finishes without waiting cancels it, so a
// pipeline's answers still leave in one write. Not armed for a route that
// streams its body, whose reads flush before they wait: a flush from here
// could come between a write of theirs and its completion.
class flush_if_it_waits {
 public:
  flush_if_it_waits(tcp_stream& s, bool arm)
      : s_(s),
        id_(arm ? s.owner().run_after(duration::zero(), [&s] { (void)s.try_flush(); }) : no_timer) {
  }
  flush_if_it_waits(const flush_if_it_waits&) = delete;
  flush_if_it_waits& operator=(const flush_if_it_waits&) = delete;
  ~flush_if_it_waits() {
    if (id_ != no_timer) s_.owner().cancel(id_);
  }

 private:
  tcp_stream& s_;
  timer_id id_;
};

// Cancels a coroutine handler whose client goes while it waits (a backend,
// a long poll), as Go cancels a request's context and nginx stops with a
// 499: otherwise the connection, the handler and all it holds lasted as
// long as the wait, to learn of it only by writing. The handler runs in a
// cancel scope of its own, which the client's end cancels; its pending
// operation fails with operation_canceled, and the connection ends after
// the answers owed before it (serve), with none of its own unless the
// handler caught the cancel and made one. Armed only while nothing reads
// the stream (not for a route that streams its body) and no next request
// is in: input that comes first is the next request, and ends the watch.
// A client that half-closes after its request is taken as gone, as Go and
// nginx take it. The access log says 499, as nginx's does.
class client_watch : tcp_stream::input_watch {
 public:
  // `spare_writes`: an end that comes while the task writes to this stream
  // is not taken as the client's going (see send_watched); one there
  // already is judged at the task's first wait, a turn of the loop later.
  client_watch(tcp_stream& s, weft::detail::task_context* ctx, bool arm, bool spare_writes = false)
      : ctx_(ctx), spare_writes_(spare_writes) {
    if (ctx_ == nullptr) return;
    on_input = &client_watch::input;
    stream = &s;
    if (arm) watching_ = s.watch_input(*this);  // before the push: it may throw
    if (arm && !watching_ && spare_writes_)
      later_ = s.owner().run_after(duration::zero(), [this] { decide(stream->peek_socket()); });
    scope_.parent = ctx_->scope;
    ctx_->scope = &scope_;
    if (arm && !watching_ && !spare_writes_)
      decide(s.peek_socket());  // gone already: its first wait fails
  }
  client_watch(const client_watch&) = delete;
  client_watch& operator=(const client_watch&) = delete;
  ~client_watch() {
    if (watching_) stream->stop_watching_input();
    if (later_ != no_timer) stream->owner().cancel(later_);
    if (ctx_) ctx_->scope = scope_.parent;
  }
  bool gone() const noexcept { return gone_; }
  const bool* gone_flag() const noexcept { return &gone_; }

 private:
  static void input(input_watch* self) {
    auto* w = static_cast<client_watch*>(self);
    tcp_stream& s = *w->stream;
    auto in = s.peek_socket();
    // Woken for nothing (an edge for bytes already read): watch on.
    w->watching_ = in == tcp_stream::socket_input::nothing && s.watch_input(*w);
    if (!w->watching_) w->decide(in == tcp_stream::socket_input::nothing ? s.peek_socket() : in);
  }
  void decide(tcp_stream::socket_input in) {
    later_ = no_timer;
    if (in != tcp_stream::socket_input::end) return;  // the next request, or nothing yet
    if (spare_writes_ && stream->writing()) return;
    gone_ = true;
    ctx_->cancel(scope_);
  }
  weft::detail::task_context* ctx_;
  weft::detail::cancel_scope scope_;
  timer_id later_ = no_timer;
  bool spare_writes_;
  bool watching_ = false;
  bool gone_ = false;
};

// Sends a streamed body while watching for its client's going: a producer
// may wait long between writes (events, a long poll), and one whose client
// had gone held the connection and all the producer held until its next
// write failed. The client's end cancels it, as it cancels a handler that
// waits (client_watch). Not while the producer writes: a client that
// half-closed after its request (printf ... | nc -N) still reads the body,
// which was then cut with a reset
// (test_bodies_followed_by_the_clients_eof_are_answered), and one that has
// really gone makes that write fail by itself (the watch ends there: a
// reset that comes only later is found at the next write, as all were
// before). Not armed when the next request is in already: input that comes
// is then its rest. In a frame of its own, so that a connection's frame
// does not carry the watch between requests.
task<streamed> send_watched(tcp_stream& s, const response& res, bool chunked,
                            detail::buffered_head head, const server_options& opts,
                            const access_log& log, std::string_view line,
                            const connection_tracker::entry* me) {
  client_watch client(s, me->ctx, s.buffered().empty(), /*spare_writes=*/true);
  co_return co_await detail::send_produced_body(s, res, chunked, head, opts.write_timeout, log,
                                                line, me->ctx, client.gone_flag());
}

// Logs a request whose client went before its answer as nginx logs it:
// 499, nothing sent.
void log_gone(const access_log& log, const server_options& opts, const request& req) {
  log.write(opts.access_log ? request_line(req) : std::string(), 499, 0);
}

// For a connection whose client went before its answer (log_gone): the
// answers owed before it still go, as a client that half-closed after a
// pipeline reads them (they were dropped, found by review).
task<void> send_owed(tcp_stream& s, deadline& dl, const server_options& opts) {
  if (s.buffered_output() > 0) {
    dl.expires_after(opts.write_timeout);
    co_await s.flush();
  }
}

// Nagle's algorithm would hold a response's small last segment until the
// client ACKs what went before, and a delayed ACK makes that 40 ms; nginx's
// tcp_nodelay turns it off for kept-alive connections too.
void no_nagle(tcp_stream& s) {
  try {
    s.set_nodelay(true);
  } catch (const std::system_error&) {
    // not TCP (a test's socket pair): there is no Nagle to turn off
  }
}

// How a response's body is delimited: chunked, by the connection's end,
// or else by its Content-Length. A 2xx answer to CONNECT makes the
// connection a tunnel after its head (RFC 9112 §6.3), and a client then
// ignores Content-Length. Sent close-delimited and then closed, its bytes
// read the same to a client that takes them as tunnel data and to one
// that takes them as HTTP, and nothing after the CONNECT is served as a
// request.
struct body_framing {
  bool chunked, close_delimited;
};
body_framing framing_of(const request& req, const response& res) noexcept {
  bool tunnel = req.method() == "CONNECT" && res.status() / 100 == 2;
  bool unsized = res.producer() && !res.stream_length();
  bool chunked = unsized && req.version_minor() >= 1 && !tunnel;
  return {chunked, tunnel || (unsized && !chunked)};
}

// Runs a coroutine handler. What it throws is a 500 for this request, and
// the connection closes after it (`keep_alive` cleared). Not when the
// connection was cancelled (a shutdown past its deadline): that is not the
// handler's failure, and it ends quietly, with no 500. Nor is a streamed
// body's failure, which end_streamed_body answers, nor one that follows
// its client's going (`gone` set: there is no one to answer). The answer
// goes to `res`: returned, it had a 440 B slot of its own in serve's frame,
// which every connection mid-request holds (a slow head, say).
task<void> run_coroutine(const route_handler& h, request& req, tcp_stream& s,
                         const connection_tracker::entry* me, bool next_in, bool& keep_alive,
                         bool& gone, response& res) {
  flush_if_it_waits flush(s, !h.options.stream_body && s.buffered_output() > 0);
  client_watch client(s, me->ctx, !h.options.stream_body && !next_in);
  try {
    res = co_await h.coroutine(req);
    // Answered all the same (it caught the cancel, or was done): a client
    // that only half-closed still gets it, and then the connection ends.
    if (client.gone()) keep_alive = false;
    co_return;
  } catch (...) {
    if (me->ctx && me->ctx->root_cancelled) throw;
    keep_alive = false;
    if (client.gone()) {
      gone = true;
      res = response();
      co_return;
    }
    if (!req.source_ || req.source_->failed() == 0) {
      res = handler_error();
      co_return;
    }
  }
  res = response();
}

// Empty lines before a request line are ignored (RFC 9112 §2.2): they
// neither start the head timeout nor extend the idle one, and they count
// towards the head's limit, as the parser counts them in one read. Skipped
// read after read, they once held a connection open for good; dropped from
// the count with each read, they made the answer depend on how the bytes
// arrived.
class blank_lines {
 public:
  explicit blank_lines(const parse_limits& head) noexcept : head_(&head), limits_(&head) {}
  blank_lines(const blank_lines&) = delete;
  blank_lines& operator=(const blank_lines&) = delete;
  // For the next request.
  void reset() noexcept {
    skipped_ = 0;
    limits_ = head_;
  }
  // The limits for the rest of the head: the head limits less the empty
  // lines skipped.
  const parse_limits& limits() const noexcept { return *limits_; }
  std::size_t skipped() const noexcept { return skipped_; }
  // Drops the empty lines that `state` found before the request line from
  // the stream, and readies `state` for the rest; false once they reach
  // the head's limit.
  bool skip(tcp_stream& s, parse_state& state) noexcept {
    skipped_ += state.line;
    s.consume(state.line);
    state = {};
    if (skipped_ >= head_->max_head) return false;
    less_ = *head_;
    less_.max_head -= skipped_;
    limits_ = &less_;
    return true;
  }

 private:
  const parse_limits* head_;
  const parse_limits* limits_;
  // Kept from request to request: built per request, its defaults cost 5
  // instructions a request (callgrind, bench/http/instructions.sh).
  parse_limits less_;
  std::size_t skipped_ = 0;
};

// How long a head may take: idle_timeout for its first byte, from when the
// connection first waits for it (for a connection's first request, the
// shorter of idle_timeout and head_timeout, from the accept: see
// serve_connection), then head_timeout for all of it.
struct head_deadlines {
  time_point idle = time_point::max(), head = time_point::max();

  time_point first_byte(const tcp_stream& s, const server_options& opts) noexcept {
    if (idle == time_point::max()) idle = saturating_add(s.owner().now(), opts.idle_timeout);
    return idle;
  }
  // In flight from its first byte: a drain's close_idle leaves it to
  // finish, where it once cut a head that had only partly arrived.
  time_point whole_head(const tcp_stream& s, const server_options& opts,
                        connection_tracker::entry* me) noexcept {
    if (head == time_point::max()) {
      head = saturating_add(s.owner().now(), opts.head_timeout);
      mark_idle(me, false, s.owner().now());
    }
    return head;
  }
};

// Whether a connection whose idle timeout has run out waits one more: its
// client has yet to acknowledge answers that the kernel took whole (with no
// wait, so no write timeout ran), and has taken some since `last`, what it
// had yet to at the last such look (SIZE_MAX at first; look_at_intake).
// One that took none is reset: closed with a FIN, the kernel went on sending them alone
// (FIN_WAIT1) for minutes, up to tcp_wmem's 4 MiB a connection (found by
// review). So a client still taking them over a slow path is not cut, and
// one that stopped reading is reset one to two idle timeouts after its
// answers left.
bool still_taking_answers(tcp_stream& s, std::size_t& last) noexcept {
  peer_intake seen = look_at_intake(s.native_handle(), last);
  if (seen == peer_intake::stalled) s.abort();
  return seen == peer_intake::taking;
}

// Whether a connection may close as soon as its last answer has left, with
// no lingering close: its client asked for the close (Connection: close,
// or HTTP/1.0 without keep-alive), so it sends nothing more (RFC 9112
// §9.6), and nothing of it is left unread: none buffered, the read that
// took the request found the socket drained, and a peek finds it so still
// (bytes may have come while the handler ran), as nginx's lingering_close
// judges. Lingering cost each such connection a shutdown, an epoll
// registration, a wake-up, a read and an unregistration, where the peek is
// one syscall: with it, wrk's Connection: close load ran at 0.80x nginx
// per core. A close the server chose (--max-requests, a drain, an error)
// still lingers, and so does a close-delimited body (a 2xx to CONNECT is a
// tunnel, whose client goes on sending): that client may have sent more,
// and a reset for its unread bytes can destroy the answers it has yet to
// read.
bool asked_to_close(tcp_stream& s, const request_head& head, bool close_delimited) noexcept {
  return !head.keep_alive && head.body == body_kind::none && !close_delimited &&
         s.buffered().empty() && s.read_to_last_byte() &&
         s.peek_socket() != tcp_stream::socket_input::bytes;
}

// How much a read for a head takes: a head, request line included, is
// refused once its bytes pass max_head, so reading further is never needed.
std::size_t head_read_cap(const server_options& opts) noexcept {
  return opts.limits.max_head + 1024;
}

// server_options::max_requests as the connection counts: to 2^32 - 1.
std::size_t max_requests(const server_options& opts) noexcept {
  return std::min<std::size_t>(opts.max_requests, UINT32_MAX);
}

// What a connection keeps between its bursts of requests (see serve), in
// the small frame that an idle connection holds.
struct between_bursts {
  // When the first byte of the request awaited is due: for the first, set
  // at the accept; for a later one, once handed back.
  time_point idle_by = time_point::max();
  std::unique_ptr<const access_log> log;  // while it logs
  std::uint32_t served = 0;  // requests answered, for --max-requests, held at its largest
  // What the client had yet to acknowledge when an idle timeout last ran
  // out since its last request (see still_taking_answers).
  std::size_t unacked = SIZE_MAX;
  bool nodelay = false;  // Nagle is off (see no_nagle)
  bool idle = false;     // handed back, waiting for a request's first byte

  void count_one() noexcept {
    if (served != UINT32_MAX) ++served;
  }
  const access_log& logs() const noexcept {
    // Never destroyed: a loop destroyed during static destruction may
    // still log its connections' ends (found by review).
    alignas(access_log) static unsigned char storage[sizeof(access_log)];
    static const access_log& none = *::new (storage) access_log;
    return log ? *log : none;
  }
};

// How long a connection waits for its next request in serve's frame before
// it hands the frame back (see serve). A kept-alive client under load sends
// its next request within a millisecond or two, so the frame stays for it:
// handed back after every answer, it cost 330 more instructions a
// keep-alive request, 1,931 against 1,592 (DEPTH=1 BATCHES=400
// bench/http/instructions.sh), mostly the frame's making and unmaking; it
// costs 1,630 with 10 ms (the lazily re-armed timer fires every 10 ms of
// a busy connection), 1,615 with 25 and 1,612 with 100. Longer, more
// frames are held, and freed, at once: 10,000 connections opened in 0.8 s
// and then idle measured 770 B each with 10 ms, 812 with 25, 1,044 with
// 100 (their freed frames' memory stays the process's), 686 with none.
constexpr duration hand_back_after = std::chrono::milliseconds(10);

// Serves the requests of a connection until it ends, or until it has waited
// hand_back_after for a request's first byte with its answers all sent: it
// returns then with `conn.idle` set, and the connection waits on in
// serve_connection's frame, with nothing of its next request in. This
// frame is 1.8 KiB in GCC, which gives each local and each co_await's
// temporaries slots of their own: held while idle (2.3 KiB then), it made an idle
// kept-alive connection cost 2,973 B of RSS, nginx's 526 (bench/memory/
// idle_conns.py --keep-alive). The first byte of the first request
// awaited is due by `conn.idle_by`.
task<void> serve(tcp_stream& s, const router& routes, const server_options& opts,
                 connection_tracker::entry* me, deadline& dl, between_bursts& conn) {
  const access_log& log = conn.logs();
  field_array fields;
  std::size_t cap = head_read_cap(opts);
  int since_yield = 0;
  // Reused from request to request: parse_request leaves `state` ready for
  // the next one and overwrites all of the head. Fresh ones per request
  // cost three 120-byte clears, 4% of the pipelined benchmark's CPU.
  request req;
  req.stream_ = &s;
  request_head& head = req.head_;
  parse_state state;
  // A head's Content-Length is read before its route is known, and only
  // its route can say whether it is too long (take_body): a 404, a 405 or
  // a fixed answer reads no body at all.
  parse_limits head_limits = opts.limits;
  head_limits.max_body = UINT64_MAX;
  blank_lines blank(head_limits);
  // A 405's Allow list, kept rather than made per request (with the inline
  // connection_tracker::set_idle, 785 -> 771 instructions a pipelined
  // request, bench/http/instructions.sh).
  std::string allow;
  for (;; conn.count_one()) {
    // 1. The head: wait idle for its first byte, then head_timeout for all of it.
    parse_result pr;
    head_deadlines until;
    until.idle = std::exchange(conn.idle_by, time_point::max());
    blank.reset();
    for (;;) {
      std::string_view bytes = s.buffered();
      if (!bytes.empty()) {
        pr = detail::parse_head(bytes, blank.limits(), fields.get(opts.limits.max_fields), head,
                                state);
        if (pr.state == parse_result::error && pr.status == 431 &&
            fields.grow(opts.limits.max_fields))  // more fields than a small array holds
          pr = detail::parse_head(bytes, blank.limits(), fields.get(opts.limits.max_fields), head,
                                  state);
        if (pr.state != parse_result::incomplete) break;
        if (state.first_field == 0 && state.line > 0) {
          if (!blank.skip(s, state)) co_return co_await fail(s, 431, false, opts, log, {});
          bytes = s.buffered();
        }
      }
      bool idle = bytes.empty() || bytes == "\r";
      if (idle) fields.release();  // idle: hold no field array
      // Output still unsent after one try goes out under the write timeout.
      // The connection is idle once it has left (see mark_idle), and the
      // idle timeout runs from then: a client still taking a pipeline's
      // answers is not idle, and it found the connection closed as it sent
      // its next request (found by review).
      bool flushed = s.try_flush();
      if (idle && !flushed) {
        if (co_await flush_by(s, dl, opts) != read_outcome::ok) co_return;
        flushed = true;
      }
      if (idle) mark_idle(me, true, s.owner().now());
      time_point by = idle ? until.first_byte(s, opts) : until.whole_head(s, opts, me);
      // Nothing of the next request in: the frame may go back meanwhile.
      bool may_hand_back = bytes.empty() && blank.skipped() == 0;
      time_point wait_by =
          may_hand_back ? std::min(by, saturating_add(s.owner().now(), hand_back_after)) : by;
      auto r = flushed ? co_await read_by(s, dl, wait_by, cap)
                       : co_await read_before(s, dl, wait_by, cap, opts);
      if (r == read_outcome::eof) co_return;  // a partial head at EOF is dropped
      if (r == read_outcome::timeout && wait_by < by) {
        conn.idle_by = by;
        conn.idle = true;
        co_return;
      }
      if (r == read_outcome::timeout) {
        if (idle && still_taking_answers(s, conn.unacked)) {
          until.idle = saturating_add(s.owner().now(), opts.idle_timeout);
          continue;
        }
        // A 408 is for a client that stopped sending, not one that stopped
        // reading: it would wait behind the answers the timeout cut.
        if (!idle && !s.write_cancelled())
          co_await fail(s, 408, names_head(s.buffered()), opts, log, first_line(s.buffered()));
        co_return;
      }
    }
    mark_idle(me, false, s.owner().now());
    conn.unacked = SIZE_MAX;
    if (pr.state == parse_result::error)
      co_return co_await fail(s, pr.status, names_head(s.buffered()), opts, log,
                              first_line(s.buffered()));

    // 2. The route, then the body (see keep_head).
    std::unique_ptr<request_body> with_body;
    req.body_ = {};
    req.trailers_ = {};
    // Per request: a streamed body's handler that left it unread marks it
    // cut, and the next request's read_some threw "read after its handler
    // returned" (found by an audit).
    req.body_read_ = request::body_read::whole;
    if (head.body != body_kind::none) with_body = keep_head(s, pr.consumed, blank.limits(), head);
    req.params_.clear();
    allow.clear();
    const route_handler* h = routes.match(req, allow);
    if (with_body) {
      int st = co_await take_body(s, dl, *me->ctx, req, *with_body, h, opts);
      if (st != 0) {
        with_body->drop_body();
        co_return co_await fail(s, st, req.method() == "HEAD", opts, log,
                                first_line(with_body->head));
      }
    }

    // 3. The answer. A fixed one (router::add with a response) whose request
    // has no body, and which the output buffer takes without a send, is
    // written at once (answer_fixed); the rest run the route's handler.
    bool keep_alive = head.keep_alive && std::size_t{conn.served} + 1 < max_requests(opts);
    bool close_delimited = false;  // the answer's body ends with the connection
    if (h && h->fixed && !with_body && s.buffered_output() + h->fixed->most < s.flush_limit()) {
      if (h->fixed->closes || (me->tracker && me->tracker->draining())) keep_alive = false;
      if (!conn.nodelay && keep_alive) {
        conn.nodelay = true;
        no_nagle(s);
      }
      answer_fixed(s, req, *h->fixed, keep_alive, log);
      s.consume(pr.consumed);
    } else {
      // The handler. An exception is a 500 for this request, not a crash.
      // A plain handler's response is built in place (moving one in cost
      // ~120 instructions a request, 5% of weft's own in the pipelined bench).
      bool handler_failed = false;
      response res = !h         ? unrouted(allow)
                     : h->plain ? run_plain(h->plain, req, handler_failed)
                                : response();  // filled by the coroutine below
      keep_alive = keep_alive && !handler_failed;
      if (h && !h->plain) {
        // The next request's bytes already in: its head follows this one's
        // unless a body took this one's out of the buffer.
        std::size_t own = head.body == body_kind::none ? pr.consumed : 0;
        bool gone = false;
        co_await run_coroutine(*h, req, s, me, s.buffered().size() > own, keep_alive, gone, res);
        if (gone) {
          log_gone(log, opts, req);
          // The body, and its share of the budget, need not wait out the
          // owed answers (up to the write timeout; found by review).
          if (with_body) with_body->drop_body();
          co_return co_await send_owed(s, dl, opts);
        }
      }
      if (req.source_ && !end_streamed_body(req, res, keep_alive)) {
        // The client left partway through its body. It left no line
        // (found by review).
        log_gone(log, opts, req);
        co_return;
      }
      if (res.status() < 200 || res.status() > 599) {
        res = bad_status_error(res.status());
        keep_alive = false;
      }
      if (res.closes() || (me->tracker && me->tracker->draining())) keep_alive = false;
      auto [chunked, delimited_by_close] = framing_of(req, res);
      close_delimited = delimited_by_close;
      if (close_delimited) keep_alive = false;

      // Nagle off once a connection is kept alive or streams (see no_nagle);
      // one that closes after one response (its FIN pushes everything out)
      // is spared the setsockopt.
      if (!conn.nodelay && (keep_alive || res.producer())) {
        conn.nodelay = true;
        no_nagle(s);
      }

      // 4. The response joins the output buffer; it leaves with whatever else
      // is ready when the loop next waits for input, or once the buffer is full.
      // A streamed one's head waits there for its producer's first write (to
      // be withdrawn for a 500): what is owed before it goes first, as far as
      // the socket takes it now. A producer that waited before writing (an
      // event stream) held those answers back too (found by review).
      if (res.producer() && s.buffered_output() > 0) (void)s.try_flush();
      std::size_t head_from = s.buffered_output();
      std::string_view rest = put_response(s, req, res, keep_alive, close_delimited);
      std::size_t head_to = s.buffered_output();
      bool sent_body = req.method() != "HEAD" && has_content(res.status());
      std::string line = opts.access_log ? request_line(req) : std::string();
      if (head.body == body_kind::none) s.consume(pr.consumed);
      // Each answer is logged once its body has left (see send_rest).
      if (sent_body && res.producer()) {
        streamed end =
            co_await send_watched(s, res, chunked, {head_from, head_to}, opts, log, line, me);
        // The producer is done with the body: it goes before the last
        // write, as above.
        if (with_body && (end == streamed::unsent || end == streamed::gone)) with_body->drop_body();
        if (end == streamed::unsent) co_return co_await fail(s, 500, false, opts, log, line);
        if (end == streamed::gone) {
          log.write(line, 499, 0);  // `line`: req's views may name consumed input by now
          co_return co_await send_owed(s, dl, opts);
        }
        if (end == streamed::cut) co_return;
      } else if ((sent_body && res.file()) || !rest.empty() ||
                 s.buffered_output() >= s.flush_limit()) {
        co_await send_rest(s, dl, res, rest, sent_body, opts.write_timeout, log, line);
      } else {
        log.write(line, res.status(), sent_body ? res.body().size() : 0);
      }
    }
    // A long pipeline is served without ever waiting; give the loop a turn
    // now and then (fairness, and bounded stacks at -O0: see yield_now).
    if (++since_yield == 32) {
      since_yield = 0;
      // Output past half a pooled block goes before the turn. Held across
      // turns, a long pipeline's answers grew the buffer to 128 KiB in
      // every connection that had one: 400 clients flooding `weft hello`
      // took 75 KiB each (bench/memory/unread_answers.py --load
      // hello-pipelined). A pipeline of a few requests never gets here
      // with that much: its answers leave when the loop next waits for input.
      if (s.buffered_output() >= weft::detail::pool_block_size / 2) (void)s.try_flush();
      co_await yield_now();
    }
    if (!keep_alive) {
      // The answer has gone into the buffer or the socket: the body, and
      // its share of the budget, need not wait out the flush and the
      // lingering close (up to the write timeout and 2 s more).
      if (with_body) with_body->drop_body();
      dl.expires_after(opts.write_timeout);
      co_await s.flush();
      dl.clear();
      if (!asked_to_close(s, head, close_delimited)) co_return co_await s.linger_close();
      s.close();
      co_return;
    }
  }
}

}  // namespace

task<void> serve_connection(tcp_stream s, const router& r, const server_options& opts,
                            connection_tracker* tracker) {
  connection_tracker::entry me;
  me.ctx = co_await weft::detail::this_context{};
  me.fd = s.native_handle();
  if (tracker) tracker->add(&me, s.owner().now());
  try {
    deadline dl(*me.ctx);
    between_bursts conn;
    if (opts.access_log) conn.log = std::make_unique<const access_log>(opts.access_log, s);
    // The first request's first byte is due within the head timeout too,
    // from the accept, as nginx's client_header_timeout counts it: the idle
    // timeout (60 s by default) held a connection that never sent a byte
    // where --header-timeout said 10 (found by an audit).
    conn.idle_by = saturating_add(s.owner().now(), std::min(opts.idle_timeout, opts.head_timeout));
    // One call of serve, not two: each has slots of its own in this frame.
    for (;;) {
      co_await serve(s, r, opts, &me, dl, conn);
      if (!conn.idle) break;
      // Still marked idle (a drain may close it), under the same idle timeout.
      read_outcome got;
      while ((got = co_await read_by(s, dl, conn.idle_by, head_read_cap(opts))) ==
                 read_outcome::timeout &&
             still_taking_answers(s, conn.unacked))
        conn.idle_by = saturating_add(s.owner().now(), opts.idle_timeout);
      if (got != read_outcome::ok) break;
      conn.idle = false;
    }
  } catch (const std::system_error& e) {
    // The connection ends, nothing else does.
    if (!client_gone(e.code())) log_warn({"http connection: ", e.what()});
  } catch (...) {
    // Nothing escapes (a handler's and a producer's failures are caught in
    // serve; this is for what is left, bad_alloc say).
    log_error({"http connection: "}, std::current_exception());
  }
  // A client cut at the write timeout, taking no more of its answer, gets a
  // reset: see tcp_stream::write_cancelled. (At a shutdown's deadline the
  // loop destroys the frame instead, and the close is a FIN, but for a
  // body not chunked cut mid-way, which reset_if_cut resets.)
  if (s.write_cancelled()) s.abort();
  // `me` leaves the tracker as it goes, however the frame ends.
}

}  // namespace weft::http
