// A request body as a handler reads it: whole before the handler runs, or,
// on a route added with stream_body, piece by piece as it arrives
// (request::read_some). Each test drives one connection over a socket pair
// a few bytes at a time, so that it can say what the server has done by
// each point: which pieces the handler saw, whether a 100 Continue went.
#include <weft/http/server.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

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
  void turns() {
    for (int i = 0; i < 4; ++i) l.run_once(5ms);
  }
  void send(std::string_view bytes) {
    ASSERT_EQ(::write(client.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
    turns();
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
  c.routes.post("/up",
                [&](http::request& r) -> task<http::response> {
                  while (!may_read) co_await yield_now();
                  co_return co_await read_all(r, &s);
                },
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
