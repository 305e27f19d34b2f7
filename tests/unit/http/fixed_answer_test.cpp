// A fixed answer (router::add with a response) as a specification: the
// server sends it byte for byte as it sends the same response returned by
// a plain handler, however the request asks (HEAD, HTTP/1.0, pipelined,
// Connection: close, a body, the last request a connection may make, a
// drain), and logs it the same. Only the Date value may differ.
#include <weft/http/router.hpp>
#include <weft/http/server.hpp>
#include <weft/task/spawn.hpp>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace weft;

namespace {

using make_response = std::function<http::response()>;

// The answers under test, each built afresh per use (a response is move-only).
std::vector<std::pair<std::string, make_response>> answers() {
  return {
      {"text", [] { return http::response::text("Hello, world!"); }},
      {"no content", [] { return http::response(204).header("X-A", "1"); }},
      {"reset content", [] { return http::response(205).body("dropped"); }},
      {"not modified", [] { return http::response(304).header("ETag", "\"v1\""); }},
      {"closing", [] { return http::response(404).body("gone").close(); }},
      {"own date",
       [] {
         return http::response(200).header("Date", "Mon, 01 Jan 2024 00:00:00 GMT").body("dated");
       }},
      {"shared body",
       [] { return http::response().body(std::make_shared<const std::string>("abcdef"), 1, 3); }},
      {"large body", [] { return http::response::text(std::string(5000, 'z')); }},
  };
}

// The request sequences, each sent at once and followed by the client's
// half-close.
const std::vector<std::string> sequences = {
    std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n") +
        "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD / HTTP/1.0\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n") +
        "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "PUT / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
};

struct served_output {
  std::string reply, log;
};

// What the server writes, and logs, for `requests` on one connection.
served_output serve(const http::router& routes, const std::string& requests,
                    std::size_t max_requests, bool draining) {
  loop l;
  http::connection_tracker tracker;
  if (draining) tracker.stop_keep_alive();
  http::server_options opts;
  opts.max_requests = max_requests;
  std::FILE* log = std::tmpfile();
  opts.access_log = log;
  auto [server, client] = test::socket_pair();
  EXPECT_EQ(::write(client.get(), requests.data(), requests.size()),
            static_cast<ssize_t>(requests.size()));
  ::shutdown(client.get(), SHUT_WR);
  green_thread g = spawn(
      l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts, &tracker), "conn");
  EXPECT_TRUE(test::run_until(l, [&] { return g.done(); }));
  served_output out;
  char buf[65536];
  for (ssize_t n; (n = ::read(client.get(), buf, sizeof buf)) > 0;)
    out.reply.append(buf, static_cast<std::size_t>(n));
  std::rewind(log);
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, log)) > 0;) out.log.append(buf, n);
  std::fclose(log);
  // The server's Date and the log's times are the clock's, not the answer's.
  out.reply = std::regex_replace(out.reply, std::regex("Date: (?!Mon, 01 Jan 2024)[^\r]*\r\n"),
                                 "Date: -\r\n");
  out.log = std::regex_replace(out.log, std::regex("\\[[^\\]]*\\]"), "[-]");
  return out;
}

// GET and POST routes for every path, answered by `make` as a fixed answer
// or by a plain handler.
http::router routes_for(const make_response& make, bool fixed) {
  http::router r;
  for (const char* method : {"GET", "POST"}) {
    if (fixed)
      r.add(method, "/*", make());
    else
      r.add(method, "/*", http::plain_handler([make](http::request&) { return make(); }));
  }
  return r;
}

}  // namespace

TEST(fixed_answer, is_sent_and_logged_as_a_plain_handler_sends_the_same_response) {
  for (const auto& [name, make] : answers()) {
    http::router fixed = routes_for(make, true), plain = routes_for(make, false);
    for (const std::string& requests : sequences) {
      for (std::size_t max_requests : {std::size_t{10}, std::size_t{2}}) {
        for (bool draining : {false, true}) {
          std::string trace = name;
          trace += ", max_requests " + std::to_string(max_requests);
          trace += draining ? ", draining: " : ": ";
          SCOPED_TRACE(trace += requests);
          served_output want = serve(plain, requests, max_requests, draining);
          served_output got = serve(fixed, requests, max_requests, draining);
          ASSERT_FALSE(want.reply.empty());
          EXPECT_EQ(got.reply, want.reply);
          EXPECT_EQ(got.log, want.log);
        }
      }
    }
  }
}

// A fixed answer's Date is the server's, refreshed as the second changes,
// unless the response set its own (compared above, as "dated").
TEST(fixed_answer, carries_the_servers_date) {
  http::router r;
  r.get("/", http::response::text("x"));
  served_output out = serve(r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 10, false);
  EXPECT_TRUE(out.reply.starts_with("HTTP/1.1 200 OK\r\nDate: -\r\n")) << out.reply;
}
