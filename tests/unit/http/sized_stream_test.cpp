// A produced body of known length (response::stream(producer, length)):
// framed by Content-Length, never chunked, and cut when the producer does
// not write exactly that many bytes.
#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "http/server_fixture.hpp"

using namespace weft;
using namespace weft::server_test;

namespace {

// Answers `path` with a sized stream of `length` that writes `pieces`.
void sized(fixture& f, const std::string& path, std::uint64_t length,
           const std::vector<std::string>& pieces) {
  f.routes.get(path, [length, pieces](http::request&) {
    http::response r;
    r.stream(
        [pieces](http::body_writer& w) -> task<void> {
          for (const std::string& p : pieces) co_await w.write(p);
        },
        length);
    return r;
  });
}

std::size_t count_of(const std::string& s, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(sized_stream, is_sent_with_its_content_length_and_the_connection_kept) {
  fixture f;
  sized(f, "/sized", 8, {"one,", "two,"});
  std::string reply = f.run(
      "GET /sized HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(count_of(reply, "HTTP/1.1 200 OK\r\n"), 2u) << reply;
  EXPECT_EQ(count_of(reply, "Content-Length: 8\r\n"), 2u) << reply;
  EXPECT_EQ(count_of(reply, "\r\n\r\none,two,"), 2u) << reply;
  EXPECT_EQ(reply.find("chunked"), std::string::npos) << reply;
}

// A chunked stream to an HTTP/1.0 client ends the connection; a sized one
// keeps a connection that asked to be kept.
TEST(sized_stream, keeps_an_http10_connection_that_asks) {
  fixture f;
  sized(f, "/sized", 4, {"one,"});
  std::string reply = f.run(
      "GET /sized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
      "GET /sized HTTP/1.0\r\n\r\n");
  EXPECT_EQ(count_of(reply, "HTTP/1.1 200 OK\r\n"), 2u) << reply;
  EXPECT_EQ(count_of(reply, "Content-Length: 4\r\n"), 2u) << reply;
  EXPECT_NE(reply.find("Connection: keep-alive\r\n"), std::string::npos) << reply;
}

TEST(sized_stream, head_gets_the_length_and_runs_no_producer) {
  fixture f;
  static bool ran;
  ran = false;
  f.routes.get("/sized", [](http::request&) {
    http::response r;
    r.stream(
        [](http::body_writer& w) -> task<void> {
          ran = true;
          co_await w.write("12345");
        },
        5);
    return r;
  });
  std::string reply = f.run("HEAD /sized HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(reply.find("Content-Length: 5\r\n"), std::string::npos) << reply;
  EXPECT_EQ(body_of(reply), "");
  EXPECT_FALSE(ran);
}

// Short of its length, the body would leave the client waiting for bytes
// that never come, or read the next answer as its tail: the connection is
// cut, and the request pipelined after it is not answered.
TEST(sized_stream, that_ends_short_cuts_the_connection) {
  fixture f;
  sized(f, "/short", 8, {"one,"});
  std::string reply = f.run(
      "GET /short HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(count_of(reply, "HTTP/1.1"), 1u) << reply;
  EXPECT_NE(reply.find("Content-Length: 8\r\n"), std::string::npos) << reply;
  EXPECT_EQ(body_of(reply), "one,");
}

// Nothing written at all: the head is withdrawn for a 500, as for a
// producer that throws before writing.
TEST(sized_stream, that_writes_nothing_of_its_length_gets_a_500) {
  fixture f;
  sized(f, "/none", 8, {});
  std::string reply = f.run("GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << reply;
  EXPECT_EQ(reply.find("Content-Length: 8"), std::string::npos) << reply;
}

// A write past the length is refused whole, before any of it leaves, so a
// producer that catches it can still end the body as declared.
TEST(sized_stream, a_write_past_the_length_throws_and_sends_nothing) {
  fixture f;
  static std::string caught;
  caught.clear();
  f.routes.get("/over", [](http::request&) {
    http::response r;
    r.stream(
        [](http::body_writer& w) -> task<void> {
          co_await w.write("one,");
          try {
            co_await w.write("two,three");
          } catch (const std::length_error& e) {
            caught = e.what();
          }
          co_await w.write("two,");
        },
        8);
    return r;
  });
  std::string reply = f.run(
      "GET /over HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /over HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(caught.find("Content-Length"), std::string::npos) << caught;
  EXPECT_EQ(count_of(reply, "\r\n\r\none,two,"), 2u) << reply;
  EXPECT_EQ(reply.find("three"), std::string::npos) << reply;
}

// The request's body outlives its handler until the answer has been sent,
// so a producer streams it without a copy (under ASan, a use after free
// otherwise).
TEST(sized_stream, a_producer_may_send_from_the_request_body) {
  fixture f;
  f.routes.post("/echo", [](http::request& req) {
    std::string_view body = req.body();
    http::response r;
    r.stream(
        [body](http::body_writer& w) -> task<void> {
          co_await w.write(body.substr(0, 3));
          co_await w.write(body.substr(3));
        },
        body.size());
    return r;
  });
  std::string reply = f.run(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n5\r\nabcde\r\n0\r\n\r\n");
  EXPECT_NE(reply.find("Content-Length: 11\r\n\r\nhello world"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Content-Length: 5\r\nConnection: close\r\n\r\nabcde"), std::string::npos)
      << reply;
}

// Without a producer there is nothing to send the length's bytes: the head
// said Content-Length: 5 and was followed by the next answer (found by
// review). Refused, as file() refuses a missing descriptor.
TEST(sized_stream, needs_a_producer) {
  http::response r = http::response::text("kept");
  EXPECT_THROW(r.stream(nullptr, 5), std::invalid_argument);
  EXPECT_FALSE(r.stream_length());
  EXPECT_EQ(r.body(), "kept");
  r.stream([](http::body_writer& w) { return w.write("12345"); }, 5);
  EXPECT_EQ(r.stream_length(), 5u);
  r.body("abc");  // another body replaces the stream and its length
  EXPECT_FALSE(r.stream_length());
}

// A client that resets mid-body is the connection's end, not the
// producer's failure, also when the producer catches its failed write:
// logged as "wrote 4194304 of its 67108864 bytes" (found by review), where
// a chunked stream is cut without a word.
TEST(sized_stream, a_client_that_leaves_is_no_producer_failure) {
  fixture f;
  f.routes.get("/big", [](http::request&) {
    http::response r;
    r.stream(
        [](http::body_writer& w) -> task<void> {
          std::string block(std::size_t{1} << 20, 'x');
          try {
            for (int i = 0; i < 64; ++i) co_await w.write(block);
          } catch (const std::exception&) {
          }
        },
        std::uint64_t{64} << 20);
    return r;
  });
  testing::internal::CaptureStderr();
  EXPECT_TRUE(f.request_then_reset("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("producer failed"), std::string::npos) << err;
}
