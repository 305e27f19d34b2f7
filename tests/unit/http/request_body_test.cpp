// A request body as a handler reads it: whole before the handler runs, or,
// on a route added with stream_body, piece by piece as it arrives
// (request::read_some). Each test drives one connection over a socket pair
// a few bytes at a time, so that it can say what the server has done by
// each point: which pieces the handler saw, whether a 100 Continue went.
#include <weft/http/server.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>
#include <weft/task/timeout.hpp>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "alloc_failure.hpp"
#include "test_util.hpp"

using namespace weft;
using namespace std::chrono_literals;

namespace {

// What a streaming handler saw.
struct seen {
  std::vector<std::string> pieces;
  std::vector<std::pair<std::string, std::string>> trailers;
  int error = -1;  // a body_error's status, or -1 when none
  bool returned = false;
};

// Reads the whole body piece by piece and answers with its size. A
// body_error is noted and answered 200, which the server must overrule.
task<http::response> read_all(http::request& req, seen* s) {
  std::size_t total = 0;
  try {
    for (;;) {
      std::string_view piece = co_await req.read_some();
      if (piece.empty()) break;
      s->pieces.emplace_back(piece);
      total += piece.size();
    }
  } catch (const http::body_error& e) {
    s->error = e.status();
  }
  for (const auto& f : req.trailers()) s->trailers.emplace_back(f.name, f.value);
  s->returned = true;
  co_return http::response::text(std::to_string(total));
}

// Reads one piece, then answers without the rest.
task<http::response> read_one(http::request& req, seen* s) {
  s->pieces.emplace_back(co_await req.read_some());
  s->returned = true;
  co_return http::response::text("enough", 200);
}

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Reads the body once `*may_read` is set.
task<http::response> read_all_when(http::request& req, const bool* may_read, seen* s) {
  while (!*may_read) co_await yield_now();
  co_return co_await read_all(req, s);
}

// Works before reading (an authorization check, say).
task<http::response> read_all_after(http::request& req, duration first, seen* s) {
  co_await sleep(first);
  co_return co_await read_all(req, s);
}

task<void> read_elsewhere(http::request* req, bool* refused) {
  try {
    (void)co_await req->read_some();
  } catch (const std::logic_error&) {
    *refused = true;
  }
}

// Leaves the reading to another green thread, of its own group.
task<http::response> read_in_another_task(http::request& req, bool* refused) {
  task_group g;
  g.spawn(*loop::current(), read_elsewhere(&req, refused), "reader");
  co_await g.wait();
  co_return http::response::text("done");
}

task<void> echo_a_piece(http::request* req, http::body_writer* w) {
  std::string_view piece = co_await req->read_some();
  co_await w->write(piece);
}

// One served connection over a socket pair; the test is its client.
struct connection {
  loop l;
  http::router routes;
  http::server_options opts;
  unique_fd client;
  green_thread g;

  void start() {
    auto [server, peer] = test::socket_pair();
    client = std::move(peer);
    g = spawn(l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts), "conn");
    turns();
  }
  // Another connection to the same server, served on the same loop by
  // `other`; its client end.
  unique_fd another(green_thread& other) {
    auto [server, peer] = test::socket_pair();
    other =
        spawn(l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts), "conn");
    turns();
    return std::move(peer);
  }
  // Ends the client side of `other`'s connection, `peer`, once `last` is
  // sent; what the server answered before it closed.
  std::string last_on(int peer, green_thread& other, std::string_view last) {
    EXPECT_EQ(::write(peer, last.data(), last.size()), static_cast<ssize_t>(last.size()));
    ::shutdown(peer, SHUT_WR);
    EXPECT_TRUE(test::run_until(l, [&] { return other.done(); }));
    char buf[1024];
    ssize_t n = ::recv(peer, buf, sizeof buf, MSG_DONTWAIT);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  }
  void turns() {
    for (int i = 0; i < 4; ++i) l.run_once(5ms);
  }
  void send(std::string_view bytes) {
    ASSERT_EQ(::write(client.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
    turns();
  }
  // For more than the socket holds: written as the server takes it.
  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(client.get(), bytes.data(), bytes.size());
      if (n > 0) bytes.remove_prefix(static_cast<std::size_t>(n));
      turns();
    }
  }
  // What the server has sent so far.
  std::string received() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(client.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
      out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  // Everything the server sends before it closes the connection. Once an
  // answer is in, the client ends its side, as a client that has its answer
  // does, so that the server's lingering close ends at once.
  std::string until_closed() {
    std::string out;
    EXPECT_TRUE(test::run_until(l, [&] {
      out += received();
      if (has(out, "\r\n\r\n")) ::shutdown(client.get(), SHUT_WR);
      return g.done();
    }));
    return out + received();
  }
};

// A connection whose server's bodies read whole take from a budget of
// `size` bytes, made before the loop: it outlives every frame that holds
// a share of it.
struct budget_first {
  explicit budget_first(std::uint64_t size) : budget(size) {}
  http::memory_budget budget;
};
struct budgeted : budget_first, connection {
  explicit budgeted(std::uint64_t size) : budget_first(size) { opts.body_budget = &budget; }
};

}  // namespace

TEST(request_body, a_streamed_body_reaches_the_handler_piece_by_piece_as_it_arrives) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
  c.routes.get("/next", [](http::request&) { return http::response::text("next"); });
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nabc");
  EXPECT_EQ(s.pieces, std::vector<std::string>{"abc"});
  EXPECT_FALSE(s.returned);
  EXPECT_EQ(c.received(), "");
  c.send("defgh");
  EXPECT_EQ(s.pieces, (std::vector<std::string>{"abc", "defgh"}));
  std::string reply = c.received();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply;
  EXPECT_TRUE(reply.ends_with("\r\n8")) << reply;
  EXPECT_FALSE(has(reply, "Connection: close")) << reply;
  // Read to its end, the body leaves the connection ready for the next request.
  c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(c.received().ends_with("next"));
}

TEST(request_body, a_streamed_chunked_body_is_decoded_and_its_trailers_follow_its_end) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  EXPECT_EQ(s.pieces, std::vector<std::string>{"abc"});
  c.send("2;ext=1\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n");
  EXPECT_EQ(s.pieces, (std::vector<std::string>{"abc", "de"}));
  EXPECT_EQ(s.trailers, (std::vector<std::pair<std::string, std::string>>{{"X-Sum", "5"}}));
  EXPECT_TRUE(c.received().ends_with("\r\n5"));
}

TEST(request_body, read_some_on_a_buffered_route_returns_the_body_whole_then_nothing) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); });
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nabc");
  EXPECT_FALSE(s.returned);  // not called until the whole body is in
  c.send("defgh");
  EXPECT_EQ(s.pieces, std::vector<std::string>{"abcdefgh"});
  EXPECT_TRUE(c.received().ends_with("\r\n8"));
}

// RFC 9110 §10.1.1: a client that expects 100-continue waits before sending
// its body; a server that will not read the body answers without the 100.
TEST(request_body, a_100_continue_is_sent_only_when_the_handler_first_reads) {
  connection c;
  seen s;
  bool may_read = false;
  c.routes.post("/up", [&](http::request& r) { return read_all_when(r, &may_read, &s); },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(c.received(), "");  // the handler has not read yet
  may_read = true;
  c.turns();
  EXPECT_EQ(c.received(), "HTTP/1.1 100 Continue\r\n\r\n");
  c.send("ok");
  EXPECT_TRUE(c.received().ends_with("\r\n2"));
}

TEST(request_body, a_handler_that_refuses_an_expected_body_answers_without_a_100) {
  connection c;
  c.routes.post("/up", [](http::request&) { return http::response::text("no", 401); },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 401 ")) << reply;
  EXPECT_TRUE(has(reply, "Connection: close\r\n")) << reply;  // the body was never read
}

TEST(request_body, an_unrouted_request_that_expects_100_continue_is_answered_without_reading) {
  connection c;
  c.routes.post("/up", [](http::request&) { return http::response(200); });
  c.start();
  c.send("PUT /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 404 ")) << reply;
  EXPECT_TRUE(has(reply, "Connection: close\r\n")) << reply;
}

// No route will read the body of an unrouted request. Past 256 KiB the
// 404 or 405 goes at once, what is already in is skipped, and a body still
// to come closes the connection. The server read it whole into memory
// first, up to its limit (8 MiB by default), for nothing: 5 MB uploaded to
// a missing path took 2.4 s before its 404 (found by review).
TEST(request_body, a_large_unrouted_body_is_not_read) {
  connection c;
  c.routes.post("/up", [](http::request&) { return http::response(200); });
  c.start();
  c.send("PUT /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nfirst bytes");
  std::string reply = c.received();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 404 ")) << reply;
  EXPECT_TRUE(has(reply, "Connection: close\r\n")) << reply;
}

// A small one is read and dropped, so the connection goes on, whether it
// came with its head or after it (Python's http.client sends the body
// after the head).
TEST(request_body, a_small_unrouted_body_is_dropped_and_the_connection_kept) {
  const std::string head = "GET /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
  const std::string next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  for (bool apart : {false, true}) {
    connection c;
    c.routes.post("/up", [](http::request&) { return http::response(200); });
    c.routes.get("/next", [](http::request&) { return http::response::text("next"); });
    c.start();
    if (apart) {
      c.send(head);
      c.send("hello");
      c.send(next);
    } else {
      c.send(head + "hello" + next);
    }
    std::string reply = c.received();
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 405 ")) << apart << reply;
    EXPECT_FALSE(has(reply, "Connection: close")) << apart << reply;
    EXPECT_TRUE(reply.ends_with("next")) << apart << reply;
  }
}

// The rest of the body is never read as requests: here it holds one.
TEST(request_body, a_handler_that_stops_reading_gets_its_answer_sent_and_the_connection_closed) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_one(r, &s); }, {.stream_body = true});
  c.routes.get("/smuggled", [](http::request&) { return http::response::text("smuggled"); });
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\nab");
  c.send("GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_EQ(s.pieces, std::vector<std::string>{"ab"});
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply;
  EXPECT_TRUE(has(reply, "Connection: close\r\n")) << reply;
  EXPECT_TRUE(reply.ends_with("enough")) << reply;
}

TEST(request_body, a_malformed_chunk_is_answered_400_whatever_the_handler_returns) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n");
  std::string reply = c.until_closed();
  EXPECT_EQ(s.error, 400);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400 ")) << reply;
}

TEST(request_body, a_stalled_streamed_body_ends_at_the_body_timeout_with_408) {
  connection c;
  seen s;
  c.opts.body_timeout = 100ms;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab");
  std::string reply = c.until_closed();
  EXPECT_EQ(s.error, 408);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 408 ")) << reply;
}

TEST(request_body, a_client_gone_mid_body_is_a_body_error_and_no_answer) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab");
  ::shutdown(c.client.get(), SHUT_WR);
  EXPECT_EQ(c.until_closed(), "");
  EXPECT_EQ(s.error, 0);
  EXPECT_EQ(s.pieces, std::vector<std::string>{"ab"});
}

TEST(request_body, a_declared_length_past_the_routes_limit_is_refused_before_the_handler) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); },
                {.stream_body = true, .max_body = 10});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
  EXPECT_FALSE(s.returned);
}

TEST(request_body, a_chunked_body_past_the_routes_limit_is_a_413) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); },
                {.stream_body = true, .max_body = 10});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n");
  c.send("8\r\n12345678\r\n");
  std::string reply = c.until_closed();
  EXPECT_EQ(s.error, 413);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
}

// A route's max_body is its own, above or below the server's.
TEST(request_body, a_route_may_take_a_larger_body_than_the_servers_limit) {
  connection c;
  seen s;
  c.opts.limits.max_body = 4;
  c.routes.post("/big", [&s](http::request& r) { return read_all(r, &s); }, {.max_body = 100});
  c.routes.post("/small", [](http::request&) { return http::response(200); });
  c.start();
  c.send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n01234567890123456789");
  EXPECT_EQ(s.pieces, std::vector<std::string>{"01234567890123456789"});
  EXPECT_TRUE(c.received().ends_with("\r\n20"));
  c.send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413 ")) << reply;
}

// Chunks that are all in the buffer are handed out without waiting, and
// without a suspension each such read nested deeper at -O0: 12,000
// one-byte chunks, one buffer's worth, overflowed the stack of an ASan
// build (found by review). Both ways of taking a body are bounded.
TEST(request_body, thousands_of_buffered_chunks_take_a_bounded_stack) {
  for (bool stream : {false, true}) {
    connection c;
    seen s;
    c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); },
                  {.stream_body = stream});
    c.start();
    std::string body;
    for (int i = 0; i < 30000; ++i) body += "1\r\nx\r\n";
    c.send_all("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body +
               "0\r\n\r\n");
    std::string reply;
    EXPECT_TRUE(test::run_until(c.l,
                                [&] {
                                  reply += c.received();
                                  return reply.ends_with("\r\n30000");
                                }))
        << stream << ": " << reply;
  }
}

// A handler may bound its own reads; the timeout is its own, and so is the
// answer. The read's cancellation was taken for the client's leaving, and
// the connection ended with nothing sent (found by review).
TEST(request_body, a_handler_that_times_out_its_own_read_answers_for_itself) {
  connection c;
  c.routes.post("/up",
                [](http::request& r) -> task<http::response> {
                  try {
                    (void)co_await r.read_some();  // "ab"
                    (void)co_await with_timeout(50ms, r.read_some());
                  } catch (const std::system_error&) {
                    co_return http::response::text("too slow", 503);
                  }
                  co_return http::response(200);
                },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 503 ")) << reply;
  EXPECT_TRUE(has(reply, "Connection: close\r\n")) << reply;
}

// Its cancellation also left the connection's body deadline armed, to
// cancel whatever the handler awaited next.
TEST(request_body, a_read_cancelled_by_the_handler_leaves_no_deadline_behind) {
  connection c;
  c.opts.body_timeout = 100ms;
  c.routes.post("/up",
                [](http::request& r) -> task<http::response> {
                  try {
                    (void)co_await with_timeout(20ms, r.read_some());
                  } catch (const std::system_error&) {
                  }
                  co_await sleep(300ms);  // past the body's deadline
                  co_return http::response::text("slept");
                },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.ends_with("slept")) << reply;
}

// The body is read under the connection's deadline, which only its own
// green thread's waits obey. Read from another, the body timeout cancelled
// the handler's wait instead, the reader waited for good, and freeing the
// body with the request left it a dangling reader (ASan, found by review).
TEST(request_body, a_read_from_another_green_thread_is_refused) {
  connection c;
  bool refused = false;
  c.routes.post("/up", [&](http::request& r) { return read_in_another_task(r, &refused); },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab");
  std::string reply = c.until_closed();
  EXPECT_TRUE(refused);
  EXPECT_TRUE(reply.ends_with("done")) << reply;
}

// A handler may work before it reads (an authorization check): the body
// timeout, and the client's wait for the 100 Continue, start at its first
// read. Started at the head, a slow check got "100 Continue" and a 408 at
// once (found by review).
TEST(request_body, the_body_timeout_starts_at_the_handlers_first_read) {
  connection c;
  seen s;
  c.opts.body_timeout = 100ms;
  c.routes.post("/up", [&s](http::request& r) { return read_all_after(r, 200ms, &s); },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  std::string got;
  ASSERT_TRUE(test::run_until(c.l, [&] {
    got += c.received();
    return !got.empty();
  }));
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
  c.turns();  // the client takes a moment to start sending
  EXPECT_EQ(c.received(), "");
  c.send("ok");
  EXPECT_TRUE(c.received().ends_with("\r\n2"));
}

// A route for large uploads may allow more time than the server's default.
TEST(request_body, a_route_may_set_its_own_body_timeout) {
  connection c;
  seen s;
  c.opts.body_timeout = 50ms;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); },
                {.stream_body = true, .body_timeout = 5s});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
  for (int i = 0; i < 20; ++i) c.turns();  // ~400 ms
  c.send("cd");
  EXPECT_TRUE(c.received().ends_with("\r\n4"));
}

// A route whose handler returns at once, with a producer that reads the
// body: after the handler, which it may not.
void route_a_late_reader(connection& c) {
  c.routes.post("/up",
                [](http::request& r) {
                  http::response res;
                  res.stream([&r](http::body_writer& w) { return echo_a_piece(&r, &w); });
                  return res;
                },
                {.stream_body = true});
}

// The body belongs to the handler: once it has returned, what it left
// unread is refused, where read_some returned an empty view, "the end",
// and cut the body short without a word (found by review).
TEST(request_body, a_read_after_the_handler_returned_is_refused) {
  connection c;
  route_a_late_reader(c);
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 500 ")) << reply;
}

// The same with all of the body already in: the server skipped it as the
// handler returned, and the read returned an empty view, "the end", so a
// producer that echoed the body sent an empty one with a 200 (found by
// review).
TEST(request_body, a_read_after_the_handler_returned_is_refused_with_the_body_all_in) {
  connection c;
  route_a_late_reader(c);
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 500 ")) << reply;
}

// A failure in bytes the handler never read is not its to answer for:
// found only after it returned, when the server looks past its last piece,
// it once replaced the handler's 401 with a 400 (found by review).
TEST(request_body, a_failure_the_handler_never_read_leaves_its_answer) {
  connection c;
  c.routes.post("/up", [](http::request&) { return http::response::text("no", 401); },
                {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 401 ")) << reply;
  EXPECT_TRUE(has(reply, "Connection: close\r\n")) << reply;
}

// What a handler left unread but is already in is skipped, and the
// connection kept, as Go's server drains a small remainder; only a body
// that is still to come closes it.
TEST(request_body, an_unread_body_that_is_all_in_is_skipped_and_the_connection_kept) {
  connection c;
  c.routes.post("/up", [](http::request&) { return http::response::text("no", 403); },
                {.stream_body = true});
  c.routes.get("/next", [](http::request&) { return http::response::text("next"); });
  c.start();
  c.send(
      "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string reply = c.received();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 403 ")) << reply;
  EXPECT_FALSE(has(reply, "Connection: close")) << reply;
  EXPECT_TRUE(reply.ends_with("next")) << reply;
}

namespace {
// Answers with the size of what read_some gives: the body whole, on a
// route that does not stream it.
task<http::response> size_of_first_read(http::request& req) {
  std::string_view piece = co_await req.read_some();
  co_return http::response::text("read " + std::to_string(piece.size()));
}
}  // namespace

// The request after one whose streamed body its handler left unread (all
// in, so skipped and the connection kept) reads its own body: the first
// one's "cut" state carried over, and the read threw "read after its
// handler returned", a 500 (found by an audit).
TEST(request_body, the_request_after_a_body_left_unread_reads_its_own) {
  connection c;
  c.routes.post("/up", [](http::request&) { return http::response::text("no", 403); },
                {.stream_body = true});
  c.routes.get("/next", size_of_first_read);
  c.start();
  c.send(
      "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string reply = c.received();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 403 ")) << reply;
  EXPECT_TRUE(reply.ends_with("read 0")) << reply;
}

// The end of a streamed body and the next request, in one read: the body's
// bytes go to the handler and the request's to the parser, for either
// framing (the desync case).
TEST(request_body, a_streamed_body_and_the_request_after_it_in_one_read_are_told_apart) {
  for (const std::string& body :
       {std::string("Content-Length: 3\r\n\r\nabc"),
        std::string("Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")}) {
    connection c;
    seen s;
    c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
    c.routes.get("/next", [](http::request&) { return http::response::text("next"); });
    c.start();
    c.send("POST /up HTTP/1.1\r\nHost: x\r\n" + body + "GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(s.pieces, std::vector<std::string>{"abc"}) << body;
    std::string reply = c.received();
    EXPECT_NE(reply.find("\r\n3HTTP/1.1 200 "), std::string::npos) << reply;
    EXPECT_TRUE(reply.ends_with("next")) << reply;
  }
}

// A client that leaves partway through its body is logged, 499 as nginx
// says for a client gone: read whole or streamed to a handler that has
// run (and perhaps stored part of an upload), it left no line at all
// (found by review).
TEST(request_body, a_client_that_leaves_partway_through_its_body_is_logged_499) {
  for (bool streamed : {false, true}) {
    SCOPED_TRACE(streamed ? "streamed" : "read whole");
    connection c;
    seen s;
    if (streamed)
      c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); },
                    {.stream_body = true});
    else
      c.routes.post("/up", [](http::request&) { return http::response::text("ok"); });
    std::FILE* log = std::tmpfile();
    ASSERT_NE(log, nullptr);
    c.opts.access_log = log;
    c.start();
    c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    ::shutdown(c.client.get(), SHUT_WR);
    ASSERT_TRUE(test::run_until(c.l, [&] { return c.g.done(); }));
    std::rewind(log);
    char line[512] = {};
    std::string lines;
    while (std::fgets(line, sizeof line, log)) lines += line;
    std::fclose(log);
    EXPECT_TRUE(has(lines, "\"POST /up HTTP/1.1\" 499 0")) << lines;
  }
}

// A route whose handler never looks at a body (a file server's) has it
// dropped as an unrouted request's is: past 256 KiB the answer goes at
// once and the connection closes; a small one is read and dropped, and
// the connection kept. Read whole, a GET carrying 8 MiB to weft files held
// 8 MiB until it was all in, on every connection that sent one: 50 such
// clients took 439 MB (found by review).
TEST(request_body, a_route_that_ignores_bodies_holds_none) {
  struct {
    const char* sent;
    bool closes;
  } cases[] = {
      {"GET /file HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nfirst bytes", true},
      {"GET /file HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
       "GET /file HTTP/1.1\r\nHost: x\r\n\r\n",
       false},
  };
  for (const auto& one : cases) {
    SCOPED_TRACE(one.sent);
    connection c;
    std::vector<std::size_t> seen_sizes;
    c.routes.get("/file",
                 [&](http::request& r) {
                   seen_sizes.push_back(r.body().size());
                   return http::response::text("file");
                 },
                 {.ignore_body = true});
    c.start();
    c.send(one.sent);
    std::string reply = c.received();
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply;
    EXPECT_EQ(has(reply, "Connection: close\r\n"), one.closes) << reply;
    EXPECT_TRUE(reply.ends_with("file")) << reply;
    EXPECT_EQ(seen_sizes, std::vector<std::size_t>(one.closes ? 1 : 2, 0));
  }
}

// A route that answers with a fixed response never reads its request, so
// nothing reads the body, whatever the answer's size: past 4 KiB (where the
// answer is no longer copied whole, fixed_answer.hpp) the body was read
// whole, from the shared budget, a declared length past the limit got 413
// and a client that expected 100-continue got a 100 (found by review).
TEST(request_body, a_fixed_answer_of_any_size_reads_no_body) {
  for (std::size_t size :
       {std::size_t{16}, std::size_t{4096}, std::size_t{4097}, std::size_t{100000}}) {
    SCOPED_TRACE(size);
    budgeted c(1 << 20);
    c.opts.limits.max_body = 1024;
    c.routes.post("/*", http::response::text(std::string(size, 'z')));
    c.start();
    c.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2048\r\n\r\n");
    std::string reply = c.until_closed();
    EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply.substr(0, 200);  // no 100 either
    EXPECT_TRUE(has(reply, "Connection: close\r\n"))
        << reply.substr(0, 200);  // the body never came
    EXPECT_EQ(c.budget.in_use(), 0u);
  }
}

// Bodies read whole take from the servers' shared budget as they arrive:
// one that would take it past its size is refused with 503 and its
// connection closes, and a body's bytes go back once its request is done.
// Without it every connection held up to max_body (8 MiB): 100 clients
// sending bodies to weft inspect took 864 MB, 3,000 would take 24 GB
// (found by review).
TEST(request_body, bodies_read_whole_share_one_memory_budget) {
  budgeted c(100);
  http::memory_budget& budget = c.budget;
  c.routes.post("/up", [](http::request& r) {
    return http::response::text(std::to_string(r.body().size()));
  });
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 80\r\n\r\n" + std::string(60, 'a'));
  EXPECT_EQ(budget.in_use(), 60u);

  green_thread g2;
  unique_fd second = c.another(g2);
  // Its first 30 bytes fit, and are given back when the next 20 do not.
  std::string first =
      "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + std::string(30, 'b');
  ASSERT_EQ(::write(second.get(), first.data(), first.size()), static_cast<ssize_t>(first.size()));
  c.turns();
  EXPECT_EQ(budget.in_use(), 90u);
  std::string refused = c.last_on(second.get(), g2, std::string(20, 'b'));
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 ")) << refused;
  EXPECT_TRUE(has(refused, "Connection: close\r\n")) << refused;
  EXPECT_EQ(budget.in_use(), 60u);

  // One that could never be held is refused at once, for good: 413.
  green_thread g3;
  unique_fd third = c.another(g3);
  std::string huge = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n";
  EXPECT_TRUE(c.last_on(third.get(), g3, huge).starts_with("HTTP/1.1 413 "));

  c.send(std::string(20, 'a'));
  std::string reply = c.received();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply;
  EXPECT_TRUE(reply.ends_with("80")) << reply;
  EXPECT_EQ(budget.in_use(), 0u);
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n\r\n" + std::string(90, 'c'));
  EXPECT_TRUE(c.received().ends_with("90"));
  EXPECT_EQ(budget.in_use(), 0u);
}

// A streamed body is the handler's to keep or not: it takes nothing.
TEST(request_body, a_streamed_body_takes_nothing_from_the_budget) {
  budgeted c(10);
  http::memory_budget& budget = c.budget;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.stream_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n" + std::string(50, 'a'));
  EXPECT_TRUE(c.received().ends_with("50"));
  EXPECT_EQ(budget.in_use(), 0u);
}

// A client that waits for a 100 Continue is not asked for a body there is
// no room for now: it was, and got 503 after its first piece.
TEST(request_body, no_100_continue_is_sent_for_a_body_the_budget_has_no_room_for) {
  budgeted c(100);
  http::memory_budget& budget = c.budget;
  c.routes.post("/up", [](http::request&) { return http::response::text("ok"); });
  ASSERT_TRUE(budget.try_take(60));  // another connection's body
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 50\r\n\r\n");
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 503 ")) << reply;
  EXPECT_EQ(budget.in_use(), 60u);
  budget.give_back(60);
}

// What a body held is given back once its answer has gone, not after the
// lingering close that may follow (up to the write timeout and 2 s more).
TEST(request_body, a_body_is_given_back_before_its_connections_lingering_close) {
  budgeted c(100);
  http::memory_budget& budget = c.budget;
  c.routes.post("/up", [](http::request&) { return http::response::text("ok").close(); });
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_TRUE(c.received().ends_with("ok"));
  EXPECT_FALSE(c.g.done()) << "lingering: the client has not closed";
  EXPECT_EQ(budget.in_use(), 0u);
}

// So when its client goes while the handler waits: the answers owed to the
// requests before it still go (send_owed), up to the write timeout, and the
// body's share went back only after them, or at that timeout (found by
// review). Here they wait on a client that half-closed and reads nothing.
TEST(request_body, a_body_is_given_back_before_the_answers_owed_to_a_client_gone) {
  budgeted c(1 << 20);
  c.routes.get("/a", http::response::text(std::string(1000, 'a')));
  c.routes.post("/wait", [](http::request&) -> task<http::response> {
    co_await sleep(1h);
    co_return http::response(200);
  });
  auto [server, peer] = test::socket_pair();
  int small = 4096;  // the owed answers cannot all leave
  ASSERT_EQ(::setsockopt(server.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  c.client = std::move(peer);
  c.g = spawn(c.l, http::serve_connection(tcp_stream(c.l, std::move(server)), c.routes, c.opts));
  std::string pipeline;
  for (int i = 0; i < 20; ++i) pipeline += "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  c.send(pipeline + "POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
         std::string(1000, 'b'));
  ASSERT_GT(c.budget.in_use(), 0u) << "the body is read whole before the handler waits";
  ::shutdown(c.client.get(), SHUT_WR);  // gone, as far as the server can tell
  c.turns();
  EXPECT_FALSE(c.g.done()) << "the owed answers still wait on the client";
  EXPECT_EQ(c.budget.in_use(), 0u);
  std::string got;
  EXPECT_TRUE(test::run_until(c.l, [&] {
    got += c.received();
    return c.g.done();
  }));
}

// A coroutine handler of a route that ignores bodies reads nothing: read
// through the dropped body's source, a large one had no limit at all.
TEST(request_body, read_some_on_a_route_that_ignores_bodies_gives_nothing) {
  connection c;
  seen s;
  c.routes.post("/up", [&s](http::request& r) { return read_all(r, &s); }, {.ignore_body = true});
  c.start();
  c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\nfirst bytes");
  std::string reply = c.received();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply;
  EXPECT_TRUE(reply.ends_with("0")) << reply;
  EXPECT_TRUE(s.pieces.empty());
}

// A body read whole moves to pages of its own past 128 KiB (body_bytes):
// framed either way, every byte reaches the handler, in order, across the
// move and the remaps that follow it.
TEST(request_body, a_large_body_read_whole_reaches_the_handler_byte_for_byte) {
  connection c;
  c.opts.limits.max_body = std::size_t{3} << 20;
  std::string body((std::size_t{2} << 20) + 7, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 131 % 251);
  std::string got;
  int served = 0;
  c.routes.post("/whole", [&](http::request& r) {
    got = r.body();
    ++served;
    return http::response(200);
  });
  c.start();
  c.send_all("POST /whole HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body);
  ASSERT_TRUE(test::run_until(c.l, [&] { return served == 1; }));
  EXPECT_TRUE(got == body) << got.size();
  std::string chunked = "POST /whole HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (std::size_t at = 0, n = 1; at < body.size(); at += n, n = n * 5 % 70001 + 1) {
    n = std::min(n, body.size() - at);
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    chunked.append(size).append(body, at, n).append("\r\n");
  }
  c.send_all(chunked + "0\r\n\r\n");
  ASSERT_TRUE(test::run_until(c.l, [&] { return served == 2; }));
  EXPECT_TRUE(got == body) << got.size();
}

// A body that cannot be held for want of memory (no pages to map, a
// string that cannot grow) is a 503, as one past the budget is: the
// bad_alloc closed the connection with no answer at all (found by review).
TEST(request_body, a_body_there_is_no_memory_for_is_refused_with_503) {
  connection c;
  c.routes.post("/whole",
                [](http::request& r) { return http::response::text(std::string(r.body())); });
  c.start();
  c.send("POST /whole HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
  const std::string body(1000, 'b');
  test::fail_allocation(1);  // the body's first piece is the next thing to need memory
  c.send(body);
  bool failed = test::allocation_failed();
  test::fail_allocation(0);
  ASSERT_TRUE(failed);
  std::string reply = c.until_closed();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 503 ")) << reply;
}
