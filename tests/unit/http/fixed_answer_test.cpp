// A fixed answer (router::add with a response) as a specification: the
// server sends it byte for byte as it sends the same response returned by
// a plain handler, however the request asks (HEAD, HTTP/1.0, pipelined past
// the output buffer's flush threshold, Connection: close, a body, the last
// request a connection may make, a drain), and logs it the same; only the
// Date value may differ.
#include <weft/http/router.hpp>
#include <weft/http/server.hpp>
#include <weft/task/spawn.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.hpp"

using namespace weft;

namespace {

using make_response = std::function<http::response()>;

// The answers under test, each built afresh per use (a response is
// move-only). Bodies of 4096 bytes and fewer take the server's fast path
// (copied_body_max); 4097 bytes is the first that does not.
std::vector<std::pair<std::string, make_response>> answers() {
  return {
      {"text", [] { return http::response::text("Hello, world!"); }},
      {"no content", [] { return http::response(204).header("X-A", "1"); }},
      {"reset content", [] { return http::response(205).body("dropped"); }},
      {"not modified", [] { return http::response(304).header("ETag", "\"v1\""); }},
      {"closing", [] { return http::response(404).body("gone").close(); }},
      {"longest status line", [] { return http::response(431).body("x"); }},
      {"own date",
       [] {
         return http::response(200).header("Date", "Mon, 01 Jan 2024 00:00:00 GMT").body("dated");
       }},
      {"shared body",
       [] { return http::response().body(std::make_shared<const std::string>("abcdef"), 1, 3); }},
      {"4096-byte body", [] { return http::response::text(std::string(4096, 'y')); }},
      {"4097-byte body", [] { return http::response::text(std::string(4097, 'z')); }},
  };
}

std::string repeated(std::string_view request, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += request;
  return out;
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
    "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "PUT / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    // Answers past the output buffer's flush threshold (64 KiB): the fast
    // path stops short of it, and the general path sends.
    repeated("GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
             1000),
};

struct served_output {
  std::string raw, reply, log;
};

// `raw` with each Date value but the "own date" answer's written as "-":
// the server's Date is the clock's, not the answer's. (std::regex took
// 30 s over these outputs under ASan, at -O0.)
std::string without_dates(std::string_view raw) {
  constexpr std::string_view field = "Date: ", own = "Mon, 01 Jan 2024";
  std::string out;
  std::size_t at = 0;
  for (std::size_t d, end; (d = raw.find(field, at)) != std::string_view::npos &&
                           (end = raw.find("\r\n", d)) != std::string_view::npos;
       at = end + 2) {
    std::size_t value = d + field.size();
    out.append(raw.substr(at, value - at));
    out.append(raw.substr(value).starts_with(own) ? raw.substr(value, end + 2 - value) : "-\r\n");
  }
  return out.append(raw.substr(at));
}

// `log` with each [time] written as [-].
std::string without_times(std::string_view log) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t open, close; (open = log.find('[', at)) != std::string_view::npos &&
                                (close = log.find(']', open)) != std::string_view::npos;
       at = close + 1)
    out.append(log.substr(at, open - at)).append("[-]");
  return out.append(log.substr(at));
}

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
  ::fcntl(client.get(), F_SETFL, O_NONBLOCK);
  green_thread g = spawn(
      l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts, &tracker), "conn");
  served_output out;
  char buf[65536];
  int from = client.get();  // a structured binding, which clang's lambdas cannot capture
  auto read_all = [&] {
    for (ssize_t n; (n = ::read(from, buf, sizeof buf)) > 0;)
      out.raw.append(buf, static_cast<std::size_t>(n));
  };
  EXPECT_TRUE(test::run_until(l, [&] {
    read_all();  // the answers may pass the socket's buffer
    return g.done();
  }));
  read_all();
  std::rewind(log);
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, log)) > 0;) out.log.append(buf, n);
  std::fclose(log);
  out.reply = without_dates(out.raw);
  out.log = without_times(out.log);
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
      for (std::size_t max_requests : {std::size_t{10000}, std::size_t{2}}) {
        for (bool draining : {false, true}) {
          std::string trace = name;
          trace += ", max_requests " + std::to_string(max_requests);
          trace += draining ? ", draining: " : ": ";
          SCOPED_TRACE(trace += requests.substr(0, 120));
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

// The server's own Date line, as it sends for any response.
TEST(fixed_answer, carries_the_servers_date) {
  http::router r;
  r.get("/", http::response::text("x"));
  std::string before(http::http_date());
  served_output out = serve(r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 10, false);
  std::string after(http::http_date());
  ASSERT_TRUE(out.raw.starts_with("HTTP/1.1 200 OK\r\nDate: ")) << out.raw;
  std::string date = out.raw.substr(23, out.raw.find('\r', 23) - 23);
  EXPECT_TRUE(date == before || date == after) << date;
}

// Which way a request goes, seen by giving the route's plain function (the
// general path's) an answer of its own: the usual request gets the fixed
// answer without it; one with a body, or one whose answer the output
// buffer cannot take under its flush threshold, goes through it.
TEST(fixed_answer, the_usual_request_takes_the_fast_path_and_the_rest_the_routes_copy) {
  http::router r;
  r.get("/*", http::response::text(std::string(4000, 'f')));
  {  // the route's plain function, which only the general path calls
    http::request req;
    req.head_.method = "GET";
    req.head_.target = "/";
    std::string allow;
    auto* h = const_cast<http::route_handler*>(r.match(req, allow));
    ASSERT_NE(h, nullptr);
    h->plain = [](http::request&) { return http::response(299).body(std::string(4000, 'g')); };
  }
  auto statuses = [&](const std::string& requests) {
    std::string raw = serve(r, requests, 10000, false).raw, out;
    for (std::size_t at = 0; (at = raw.find("HTTP/1.1 ", at)) != std::string::npos; at += 9)
      out += raw.substr(at + 9, 3) + " ";
    return out;
  };
  std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(statuses(get + get), "200 200 ");
  EXPECT_EQ(statuses("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx" + get), "299 200 ");
  // Fifteen answers of 4,119 bytes leave the 64 KiB buffer too little room
  // for the sixteenth: it goes the general way, which sends them all, and
  // the seventeenth finds room again.
  EXPECT_EQ(statuses(repeated(get, 17)), repeated("200 ", 15) + "299 200 ");
}

// Each thread keeps a few answers whole (server.cpp's whole_answer), found
// by the answer: six routes taken in turn, more than it keeps, each still
// sends its own bytes.
TEST(fixed_answer, routes_taken_in_turn_each_send_their_own_answer) {
  http::router fixed, plain;
  std::string requests;
  for (int i = 0; i < 6; ++i) {
    std::string n = std::to_string(i), path = "/", body = "answer ";
    path += n;
    body += n;
    fixed.get(path, http::response::text(body));
    plain.get(path,
              http::plain_handler([body](http::request&) { return http::response::text(body); }));
  }
  for (int round = 0; round < 3; ++round)
    for (int i : {0, 4, 1, 5, 2, 3, 0, 4}) {
      requests += i % 2 ? "HEAD /" : "GET /";
      requests += std::to_string(i);
      requests += " HTTP/1.1\r\nHost: x\r\n\r\n";
    }
  served_output want = serve(plain, requests, 10000, false);
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = want.reply.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at)
    ++answers;
  ASSERT_EQ(answers, 24u);
  EXPECT_EQ(serve(fixed, requests, 10000, false).reply, want.reply);
}

// A router made after another is gone may get its answers at the same
// addresses; it still sends its own.
TEST(fixed_answer, a_later_routers_answer_is_its_own) {
  for (int i = 0; i < 20; ++i) {
    auto r = std::make_unique<http::router>();
    r->get("/", http::response::text("router " + std::to_string(i)));
    std::string raw = serve(*r, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 10, false).raw;
    EXPECT_TRUE(raw.ends_with("\r\n\r\nrouter " + std::to_string(i))) << raw;
  }
}

// A kept answer carries the Date of the second it is sent in, not of the
// one it was first sent in.
TEST(fixed_answer, carries_the_next_seconds_date_once_the_clock_moves_on) {
  http::router r;
  r.get("/", http::response::text("x"));
  const std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string first = serve(r, get, 10, false).raw;
  std::string then(http::http_date());
  for (int i = 0; i < 40 && http::http_date() == then; ++i) ::usleep(50'000);  // at most 2 s
  std::string now(http::http_date());
  ASSERT_NE(now, then);
  std::string second = serve(r, get, 10, false).raw;
  std::string after(http::http_date());
  EXPECT_TRUE(second.find("Date: " + now + "\r\n") != std::string::npos ||
              second.find("Date: " + after + "\r\n") != std::string::npos)
      << first << "\n---\n"
      << second;
}
