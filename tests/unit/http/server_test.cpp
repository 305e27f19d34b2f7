// The HTTP server on one connection: framing of each kind of body,
// handler failures, logging, Nagle, trackers. Writes that fail or stall,
// and deadlines, are in server_writes_test.cpp.
#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/timeout.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <tuple>

#include "http/server_fixture.hpp"
#include "test_util.hpp"

using namespace weft;
using namespace weft::server_test;

TEST(http_server, streamed_body_is_sent_in_chunks_and_ended) {
  fixture f;
  std::string reply = f.run("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(reply.find("Transfer-Encoding: chunked\r\n"), std::string::npos)
      << reply.substr(0, 200);
  EXPECT_EQ(reply.find("Content-Length"), std::string::npos);
  std::string expected =
      "4\r\none,\r\n4\r\ntwo,\r\n11170\r\n" + std::string(70000, 'x') + "\r\n0\r\n\r\n";
  EXPECT_TRUE(body_of(reply) == expected) << body_of(reply).size();
}

TEST(http_server, streamed_body_to_http10_is_close_delimited) {
  fixture f;
  std::string reply = f.run("GET /stream HTTP/1.0\r\n\r\n");
  EXPECT_EQ(reply.find("Transfer-Encoding"), std::string::npos);
  EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(body_of(reply) == "one,two," + std::string(70000, 'x'));
}

TEST(http_server, file_body_is_sent_with_sendfile_from_its_offset) {
  fixture f;
  std::string reply = f.run("GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(reply.find("Content-Length: 250000\r\n"), std::string::npos);
  std::string body = body_of(reply);
  ASSERT_EQ(body.size(), 250000u);
  for (size_t i = 0; i < body.size(); i += 997)
    ASSERT_EQ(body[i], static_cast<char>('a' + (i + 1000) % 26)) << i;
}

TEST(http_server, head_of_a_file_sends_its_length_and_no_body) {
  fixture f;
  std::string reply = f.run("HEAD /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(reply.find("Content-Length: 250000\r\n"), std::string::npos);
  EXPECT_EQ(body_of(reply), "");
}

TEST(http_server, a_handler_status_that_is_not_final_is_a_500) {
  for (int status : {99, 100, 103, 600, 1000, -1}) {
    fixture f;
    static int chosen;
    chosen = status;
    f.answer("/odd", [] { return http::response(chosen); });
    std::string reply = f.run("GET /odd HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << status << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos);
  }
}

TEST(http_server, a_large_string_body_follows_its_head_whole) {
  fixture f;
  f.answer("/big", [] { return http::response::text(std::string(100000, 'b')); });
  std::string reply = f.run("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(reply.find("Content-Length: 100000\r\n"), std::string::npos);
  EXPECT_TRUE(body_of(reply) == std::string(100000, 'b')) << body_of(reply).size();
}

// A producer whose writes the socket always takes at once never waits, so
// it never let the loop run: weft inspect's 48 MB JSON answers held the
// other connections on their loop for ~100 ms each (found by a chaos run
// under ASan). The body writer gives the loop a turn every 256 KiB, as a
// file body does between its slices.
namespace {
bool producing = false;
int turns = 0;
task<void> count_turns_while_producing() {
  while (!producing) co_await yield_now();
  while (producing) {
    ++turns;
    co_await yield_now();
  }
}
}  // namespace

TEST(http_server, a_producer_that_never_waits_lets_the_loop_run_every_256_kib) {
  fixture f;
  static int stretches_without_a_turn;
  stretches_without_a_turn = 0;
  turns = 0;
  f.routes.get("/big", [](http::request&) {
    http::response r;
    r.stream([](http::body_writer& w) -> task<void> {
      producing = true;
      std::string piece(16 * 1024, 'p');
      int seen = turns;
      for (int i = 1; i <= 256; ++i) {  // 4 MiB
        co_await w.write(piece);
        if (i % 16 != 0) continue;  // each 256 KiB
        if (turns == seen) ++stretches_without_a_turn;
        seen = turns;
      }
      producing = false;
    });
    return r;
  });
  spawn(f.l, count_turns_while_producing());
  std::string reply = f.run("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(stretches_without_a_turn, 0) << "of 16 stretches of 256 KiB";
  EXPECT_NE(reply.find("\r\n0\r\n\r\n"), std::string::npos) << reply.size();
}

// A streamed body is for data that is not ready at once (progress, events),
// so each write reaches the client before the handler waits for the next:
// "one," must arrive while the producer still waits for the client to
// confirm it. Without the flush, the producer gives up after 5 s and the
// client sees both chunks together.
TEST(http_server, each_streamed_chunk_reaches_the_client_before_the_producer_waits) {
  fixture f;
  static std::atomic<bool> client_saw_one;
  client_saw_one = false;
  f.routes.get("/wait", [](http::request&) {
    http::response r;
    r.stream([](http::body_writer& w) -> task<void> {
      co_await w.write("one,");
      for (int i = 0; i < 1000 && !client_saw_one; ++i)
        co_await sleep(std::chrono::milliseconds(5));
      co_await w.write("two,");
    });
    return r;
  });
  std::string seen_first;
  std::string reply = f.run("GET /wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                            accept_one, [&](const std::string& so_far) {
                              if (!client_saw_one && so_far.find("one,\r\n") != std::string::npos) {
                                seen_first = so_far;
                                client_saw_one = true;
                              }
                            });
  EXPECT_NE(seen_first.find("4\r\none,\r\n"), std::string::npos) << seen_first;
  EXPECT_EQ(seen_first.find("two,"), std::string::npos) << seen_first;
  EXPECT_NE(reply.find("4\r\ntwo,\r\n0\r\n\r\n"), std::string::npos) << reply;
}

// Nagle's algorithm holds a small segment while earlier data is unacked,
// and the client's delayed ACK can then stall the tail of a response for
// 40 ms. A connection turns it off once it is kept alive or streams (as
// nginx's tcp_nodelay does for keep-alive); a connection that closes after
// one fixed response never needs the setsockopt.
TEST(http_server, kept_alive_and_streaming_connections_send_without_nagle_delays) {
  fixture f;
  f.routes.get("/nodelay",
               [](http::request&) { return http::response::text(nodelay_of_served_fd()); });
  f.routes.get("/nodelay-streamed", [](http::request&) {
    http::response r;
    r.stream([](http::body_writer& w) -> task<void> {
      std::string value = nodelay_of_served_fd();  // lives across the write
      co_await w.write(value);
    });
    return r;
  });
  auto serve = [&](const std::string& request) { return f.run(request, accept_one_noting_fd); };
  std::string once = serve("GET /nodelay HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(body_of(once), "0");
  std::string twice = serve(
      "GET /nodelay HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nodelay HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(twice.rfind("\r\n\r\n1"), std::string::npos) << twice;
  std::string streamed =
      serve("GET /nodelay-streamed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(streamed.find("1\r\n1\r\n0\r\n\r\n"), std::string::npos) << streamed;
}

// RFC 9110 §9.3.2: a response to HEAD carries no content, and an error
// answer is no exception. The method is read from the request line even
// when a later part of the request is what failed.
TEST(http_server, an_error_answer_to_head_has_no_body) {
  for (const char* request :
       {"HEAD / HTTP/1.1\r\n\r\n",                          // no Host: 400
        "\r\nHEAD / HTTP/1.1\r\nHost: x\r\nX : 1\r\n\r\n",  // space before colon
        "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"}) {
    fixture f;
    std::string reply = f.run(request);
    EXPECT_EQ(reply.rfind("HTTP/1.1 ", 0), 0u) << request;
    EXPECT_EQ(reply.find("HTTP/1.1 200"), std::string::npos) << request;
    EXPECT_NE(reply.find("\r\n\r\n"), std::string::npos) << request;
    EXPECT_EQ(body_of(reply), "") << request;
  }
  fixture f;  // the same request as GET keeps its one-line body
  EXPECT_EQ(body_of(f.run("GET / HTTP/1.1\r\n\r\n")), "400 Bad Request\n");
}

// RFC 9112 §6.3: a 2xx answer to CONNECT makes the connection a tunnel
// right after the header section, and a client ignores any Content-Length
// in it (RFC 9110 §9.3.6 forbids sending one). Framing the body by length
// and serving the next request as HTTP would have the client and the
// server read the same bytes differently. So the body is close-delimited,
// with no framing header, and the connection ends after it: a client that
// reads a tunnel and one that reads HTTP then see the same bytes.
TEST(http_server, a_2xx_answer_to_connect_is_close_delimited_and_ends_the_connection) {
  fixture f;
  f.routes.fallback(http::plain_handler(
      [](http::request& req) { return http::response::text("to " + std::string(req.target())); }));
  std::string reply = f.run(
      "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n"
      "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  std::string head = reply.substr(0, reply.find("\r\n\r\n") + 4);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos) << reply;
  EXPECT_EQ(head.find("Transfer-Encoding"), std::string::npos) << reply;
  EXPECT_EQ(body_of(reply), "to x:443") << reply;  // and no answer to GET /after
}

void wait_for_flag(const std::atomic<bool>& flag) {  // set by the loop's thread; 5 s at most
  for (int i = 0; i < 1000 && !flag.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// A client that sends its request and goes once its handler waits (`waits`,
// set by the handler, or 5 s): gone sooner, its FIN came right behind the
// request, a half-close, and the handler was rightly not cancelled (a fixed
// 50 ms was a race on a busy machine). With `reset`, it goes with a RST.
void ask_and_go(const endpoint& at, const std::string& request, bool reset,
                const std::atomic<bool>& waits) {
  int c = client_to(at);
  ASSERT_EQ(::send(c, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  wait_for_flag(waits);
  if (reset) {
    linger off{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &off, sizeof off);
  }
  ::close(c);
}

// GET /poll waits 30 s (setting `waits` as it begins), and notes whether it
// was cancelled instead.
void add_long_poll(fixture& f, bool& cancelled, std::atomic<bool>& waits) {
  f.routes.get("/poll", [&cancelled, &waits](http::request&) -> task<http::response> {
    waits = true;
    try {
      co_await sleep(std::chrono::seconds(30));
    } catch (const std::system_error& e) {
      cancelled = e.code() == std::errc::operation_canceled;
      throw;
    }
    co_return http::response::text("late\n");
  });
}

// A coroutine handler that waits on something else (a backend, a long
// poll) is cancelled when its client goes, as Go's request context is and
// as nginx stops (499): the connection, its handler and what it holds went
// on for as long as the wait, to find out only by writing.
TEST(http_server, a_waiting_handler_is_cancelled_when_its_client_goes) {
  for (bool reset : {false, true}) {
    fixture f;
    bool cancelled = false;
    std::atomic<bool> waits{false};
    add_long_poll(f, cancelled, waits);
    serve_threw = false;
    f.run_client(
        [reset, &waits](const endpoint& at) {
          ask_and_go(at, "GET /poll HTTP/1.1\r\nHost: x\r\n\r\n", reset, waits);
        },
        accept_one_noting_throw, std::chrono::seconds(5));
    EXPECT_TRUE(cancelled) << "reset " << reset;
    EXPECT_FALSE(serve_threw);
  }
}

// GET `path` answers with a chunked body from `produce`.
void add_stream(fixture& f, std::string path, http::body_producer produce) {
  f.routes.get(std::move(path), [produce](http::request&) {
    http::response r;
    r.stream(produce);
    return r;
  });
}

// So is a streamed body's producer that waits between writes (events, a
// long poll): it went on until its next write failed, holding the
// connection and all it held. Before its first write (the head still
// waiting in the buffer) and after it, chunked and sized; the body is cut
// quietly, with no 500 and no producer failure logged.
TEST(http_server, a_waiting_producer_is_cancelled_when_its_client_goes) {
  for (bool written_first : {false, true}) {
    for (bool sized : {false, true}) {
      fixture f;
      bool cancelled = false;
      std::atomic<bool> waits{false};
      f.routes.get("/events", [&cancelled, &waits, written_first, sized](http::request&) {
        http::body_producer p = [&cancelled, &waits,
                                 written_first](http::body_writer& w) -> task<void> {
          if (written_first) co_await w.write("first\n");
          waits = true;
          try {
            co_await sleep(std::chrono::seconds(30));
          } catch (const std::system_error& e) {
            cancelled = e.code() == std::errc::operation_canceled;
            throw;
          }
          co_await w.write("late\n");
        };
        http::response r;
        if (sized) {
          r.stream(std::move(p), 11);
        } else {
          r.stream(std::move(p));
        }
        return r;
      });
      serve_threw = false;
      testing::internal::CaptureStderr();
      f.run_client(
          [&waits](const endpoint& at) {
            ask_and_go(at, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", false, waits);
          },
          accept_one_noting_throw, std::chrono::seconds(5));
      std::string errors = testing::internal::GetCapturedStderr();
      EXPECT_TRUE(cancelled) << "written first " << written_first << ", sized " << sized;
      EXPECT_FALSE(serve_threw);
      EXPECT_EQ(errors.find("producer failed"), std::string::npos) << errors;
    }
  }
}

// A client that half-closes after a pipeline whose last producer waits
// before its first write: that answer's head is withdrawn and logged 499,
// and the answers owed before it still go. A reset dropped them, and the
// log said 200 for a head never sent (found by review).
TEST(http_server, answers_owed_before_a_producer_cancelled_for_a_gone_client_still_go) {
  fixture f;
  add_stream(f, "/events", [](http::body_writer& w) -> task<void> {
    co_await sleep(std::chrono::seconds(30));
    co_await w.write("late\n");
  });
  f.answer("/fast", [] { return http::response::text("fast\n"); });
  std::FILE* log = f.log_to_temp_file();
  std::string reply;
  f.run_client([&reply](const endpoint& at) {
    int c = client_to(at);
    std::string both =
        "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(c, both.data(), both.size(), MSG_NOSIGNAL);
    ::shutdown(c, SHUT_WR);
    reply = read_to_end(c);
  });
  EXPECT_NE(reply.find("\r\n\r\nfast\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("Transfer-Encoding"), std::string::npos) << reply;
  std::fflush(log);
  std::rewind(log);
  std::string lines;
  char line[512];
  while (std::fgets(line, sizeof line, log)) lines += line;
  EXPECT_NE(lines.find("\"GET /fast HTTP/1.1\" 200 5"), std::string::npos) << lines;
  EXPECT_NE(lines.find("\"GET /events HTTP/1.1\" 499 0"), std::string::npos) << lines;
}

// Answers owed before a streamed one leave before its producer runs: a
// producer that waits before its first write (an event stream, a long
// poll) held them in the buffer, the head it keeps back for a 500 keeping
// them back too, until its first event (found by review).
TEST(http_server, answers_owed_before_a_producer_that_waits_leave_before_it_writes) {
  fixture f;
  add_stream(f, "/events", [](http::body_writer& w) -> task<void> {
    co_await sleep(std::chrono::seconds(30));
    co_await w.write("late\n");
  });
  f.answer("/fast", [] { return http::response::text("fast\n"); });
  std::string got;
  f.run_client([&got](const endpoint& at) {
    int c = client_to(at);
    timeval tv{2, 0};  // far less than the producer's wait
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string both =
        "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(c, both.data(), both.size(), MSG_NOSIGNAL);
    char buf[4096];
    for (ssize_t n;
         got.find("fast\n") == std::string::npos && (n = ::recv(c, buf, sizeof buf, 0)) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    linger reset{1, 0};  // gone: the producer is cancelled
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(c);
  });
  EXPECT_NE(got.find("\r\n\r\nfast\n"), std::string::npos) << got;
}

// A producer that catches the cancel and writes on has its write fail (its
// scope stays cancelled), and one that catches it and returns cannot be
// told from one done: either way the body is cut with a reset. The first
// ended with a plain close, which makes a close-delimited (HTTP/1.0) body
// look whole to a client that half-closed and reads on, and the second
// with the last chunk (found by review).
TEST(http_server, a_producer_that_catches_its_cancel_is_cut_with_a_reset) {
  for (bool writes_on : {true, false}) {
    fixture f;
    add_stream(f, "/events", [writes_on](http::body_writer& w) -> task<void> {
      co_await w.write("first\n");
      try {
        co_await sleep(std::chrono::seconds(30));
      } catch (const std::system_error&) {
        if (!writes_on) co_return;  // as a producer that ends on any error might
      }
      co_await w.write(std::string(8 << 20, 'x'));  // more than the socket takes: it waits
    });
    std::string reply;
    int read_error = 0;
    f.run_client([&reply, &read_error, writes_on](const endpoint& at) {
      int c = client_to(at, 4096);
      std::string req =
          writes_on ? "GET /events HTTP/1.0\r\n\r\n" : "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
      (void)::send(c, req.data(), req.size(), MSG_NOSIGNAL);
      char buf[65536];
      ssize_t n;
      while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) {
        reply.append(buf, static_cast<std::size_t>(n));
        if (reply.find("first\n") != std::string::npos) break;  // the producer sleeps now
      }
      ::shutdown(c, SHUT_WR);
      while ((n = ::recv(c, buf, sizeof buf, 0)) > 0)
        reply.append(buf, static_cast<std::size_t>(n));
      read_error = n < 0 ? errno : 0;
      ::close(c);
    });
    EXPECT_NE(reply.find("first\n"), std::string::npos) << reply.substr(0, 200);
    EXPECT_EQ(read_error, ECONNRESET)
        << "writes on " << writes_on << ": the body ended as if whole, " << reply.size()
        << " bytes";
    EXPECT_EQ(reply.find("\r\n0\r\n\r\n"), std::string::npos) << "writes on " << writes_on;
  }
}

// A client that half-closes after its request (printf ... | nc -N) and
// reads the answer gets all of it, though the producer's writes wait for
// room: only a producer that waits on something else is cancelled. The
// body was cut with a reset once its end had been seen, whether before the
// producer's first write or during one (test_http_inspect's
// test_bodies_followed_by_the_clients_eof_are_answered, one run in two).
TEST(http_server, a_producer_writing_to_a_client_that_half_closed_sends_it_all) {
  constexpr std::size_t piece = 64 * 1024, pieces = 64;  // 4 MiB: the writes wait
  fixture f;
  f.routes.get("/big", [](http::request&) {
    http::response r;
    r.stream(
        [](http::body_writer& w) -> task<void> {
          std::string bytes(piece, 'b');
          for (std::size_t i = 0; i < pieces; ++i) co_await w.write(bytes);
        },
        piece* pieces);
    return r;
  });
  std::string reply;
  f.run_client([&reply](const endpoint& at) {
    int c = client_to(at, 4096);  // the server's writes fill the socket and wait
    std::string req = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    (void)::send(c, req.data(), req.size(), MSG_NOSIGNAL);
    ::shutdown(c, SHUT_WR);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // writes wait for room
    reply = read_to_end(c);
  });
  ASSERT_NE(reply.find("\r\n\r\n"), std::string::npos) << reply.substr(0, 200);
  EXPECT_EQ(body_of(reply).size(), piece * pieces);
}

// Input while a producer waits is the next request, not the client's end:
// the watch ends, the body goes on whole, and the request is served.
TEST(http_server, a_request_sent_while_a_producer_waits_is_served_after_it) {
  fixture f;
  add_stream(f, "/events", [](http::body_writer& w) -> task<void> {
    co_await w.write("first\n");
    co_await sleep(std::chrono::milliseconds(100));
    co_await w.write("late\n");
  });
  f.answer("/after", [] { return http::response::text("after\n").close(); });
  std::string reply;
  f.run_client([&reply](const endpoint& at) {
    int c = client_to(at);
    std::string first = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string after = "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(c, first.data(), first.size(), MSG_NOSIGNAL);
    char buf[4096];
    bool asked = false;
    for (ssize_t n; (n = ::recv(c, buf, sizeof buf, 0)) > 0;) {
      reply.append(buf, static_cast<std::size_t>(n));
      if (!asked && reply.find("first\n") != std::string::npos) {
        asked = true;  // the producer sleeps now
        (void)::send(c, after.data(), after.size(), MSG_NOSIGNAL);
      }
    }
    ::close(c);
  });
  EXPECT_NE(reply.find("first\n\r\n5\r\nlate\n\r\n0\r\n\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("\r\n\r\nafter\n"), std::string::npos) << reply;
}

// A client that half-closes after a pipeline (printf ... | nc -N) has gone
// by the time its last handler waits, which is cancelled; the answers owed
// before it still go out. They were dropped with the connection, and the
// access log said 200 for an answer never sent (found by review).
TEST(http_server, answers_owed_before_a_handler_cancelled_for_a_gone_client_still_go) {
  fixture f;
  f.routes.get("/poll", [](http::request&) -> task<http::response> {
    co_await sleep(std::chrono::seconds(30));
    co_return http::response::text("late\n");
  });
  f.answer("/fast", [] { return http::response::text("fast\n"); });
  auto served = f.serve_one();
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(c, served->at.data(), served->at.size()), 0);
  // A first exchange, so that the server waits for the rest: the loop then
  // reports the pipeline and its FIN in one event, before /poll's handler.
  std::string first = "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(c, first.data(), first.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(first.size()));
  char buf[4096];
  ASSERT_TRUE(test::run_until(
      f.l, [&] { return ::recv(c, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) > 0; },
      std::chrono::seconds(5)));
  for (int i = 0; i < 3; ++i) f.l.run_once(std::chrono::milliseconds(5));  // it waits by now
  while (::recv(c, buf, sizeof buf, MSG_DONTWAIT) > 0) {
  }
  std::string both = "GET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /poll HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(c, both.data(), both.size(), MSG_NOSIGNAL), static_cast<ssize_t>(both.size()));
  ::shutdown(c, SHUT_WR);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(test::run_until(
      f.l, [&] { return served->server.done(); }, std::chrono::seconds(5)));
  std::string reply;
  for (ssize_t n; (n = ::recv(c, buf, sizeof buf, MSG_DONTWAIT)) > 0;)
    reply.append(buf, static_cast<std::size_t>(n));
  ::close(c);
  EXPECT_NE(reply.find("\r\n\r\nfast\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("late"), std::string::npos) << reply;
}

// A request that came in two pieces while the handler before it waited left
// the loop an edge for bytes already read: its own handler's watch took
// that edge for input, found none, and never watched, so the client's
// going was missed and the handler waited on (found by review).
TEST(http_server, a_client_is_watched_after_a_request_that_came_in_pieces) {
  fixture f;
  // Each side waits for the other rather than for a clock: the pieces are
  // sent while /slow waits, and the client goes once /poll waits (closed
  // before, its FIN was a half-close behind a request, not a client gone).
  std::atomic<bool> slow_waits{false}, pieces_sent{false}, poll_waits{false};
  bool cancelled = false;
  f.routes.get("/slow", [&](http::request&) -> task<http::response> {
    slow_waits = true;
    for (int i = 0; i < 1000 && !pieces_sent.load(); ++i)
      co_await sleep(std::chrono::milliseconds(5));
    co_return http::response::text("slow\n");
  });
  add_long_poll(f, cancelled, poll_waits);
  f.run_client(
      [&](const endpoint& at) {
        int c = client_to(at, 65536);
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto say = [c](const std::string& bytes) {
          (void)::send(c, bytes.data(), bytes.size(), MSG_NOSIGNAL);
          std::this_thread::sleep_for(std::chrono::milliseconds(40));
        };
        say("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
        wait_for_flag(slow_waits);
        say("GET /poll HTTP/1.1\r\n");
        say("Host: x\r\n\r\n");
        pieces_sent = true;
        wait_for_flag(poll_waits);
        ::close(c);
      },
      accept_one, std::chrono::seconds(15));
  EXPECT_TRUE(poll_waits.load());
  EXPECT_TRUE(cancelled);
}

// Input that comes while a handler waits is the next request, not a sign
// that the client went, even with the client's FIN right behind it (a
// client that half-closes after its last request): the handler finishes,
// and both answers go out in order.
TEST(http_server, a_request_that_comes_while_a_handler_waits_is_served_after_it) {
  fixture f;
  f.routes.get("/slow", [](http::request&) -> task<http::response> {
    co_await sleep(std::chrono::milliseconds(200));
    co_return http::response::text("slow\n");
  });
  f.answer("/fast", [] { return http::response::text("fast\n"); });
  std::string reply;
  f.run_client([&](const endpoint& at) {
    int c = client_to(at);
    std::string one = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string two = "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n";
    (void)::send(c, one.data(), one.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)::send(c, two.data(), two.size(), MSG_NOSIGNAL);
    ::shutdown(c, SHUT_WR);
    reply = read_to_end(c);
  });
  auto slow = reply.find("\r\n\r\nslow\n"), fast = reply.find("\r\n\r\nfast\n");
  EXPECT_NE(slow, std::string::npos) << reply;
  EXPECT_NE(fast, std::string::npos) << reply;
  EXPECT_LT(slow, fast);
}

// An exception from a handler, plain or coroutine, is a 500 for that
// request and ends its connection; it is not a crash.
TEST(http_server, a_handler_that_throws_gets_a_500_and_the_connection_closes) {
  fixture f;
  f.routes.get("/plain", [](http::request&) -> http::response {
    throw std::runtime_error("plain handler failed");
  });
  f.routes.get("/coroutine", [](http::request&) -> task<http::response> {
    co_await yield_now();
    throw std::runtime_error("coroutine handler failed");
  });
  for (const char* path : {"/plain", "/coroutine"}) {
    std::string reply = f.run("GET " + std::string(path) +
                              " HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << path << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << path;
    EXPECT_EQ(reply.find("HTTP/1.1", 1), std::string::npos) << path;  // one answer only
  }
}

// Not every exception derives from std::exception: `throw 42` from a
// handler is a 500 too. It ended the connection with no answer at all.
TEST(http_server, a_handler_that_throws_a_non_standard_exception_gets_a_500) {
  fixture f;
  f.routes.get("/plain", [](http::request&) -> http::response { throw 42; });
  f.routes.get("/coroutine", [](http::request&) -> task<http::response> {
    co_await yield_now();
    throw 42;
  });
  for (const char* path : {"/plain", "/coroutine"}) {
    serve_threw = false;
    std::string reply =
        f.run("GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n\r\n", accept_one_noting_throw);
    EXPECT_EQ(reply.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << path << reply;
    EXPECT_NE(reply.find("Connection: close\r\n"), std::string::npos) << path;
    EXPECT_FALSE(serve_threw) << path;
  }
}

// serve_connection never throws: a body producer that fails after its head
// went out ends the connection (the body is cut short, without its last
// chunk, so the client sees it incomplete). The exception escaped to the
// caller's task.
TEST(http_server, a_body_producer_that_throws_ends_the_connection_not_the_caller) {
  fixture f;
  serve_threw = false;
  std::string reply = f.run("GET /broken HTTP/1.1\r\nHost: x\r\n\r\n", accept_one_noting_throw);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("4\r\npart\r\n"), std::string::npos) << reply;
  EXPECT_EQ(reply.find("0\r\n\r\n"), std::string::npos) << "a failed body must not look complete";
  EXPECT_FALSE(serve_threw);
}

// A producer that fails before its first byte leaves the head unsent: the
// client gets a 500, after the answers owed before it. The connection was
// closed with nothing sent, losing the pipelined 200 too (an API review).
TEST(http_server, a_body_producer_that_throws_before_writing_gets_a_500) {
  fixture f;
  f.answer("/ok", [] { return http::response::text("ok"); });
  f.routes.get("/boom", [](http::request&) {
    http::response r;
    r.stream([](http::body_writer&) -> task<void> {
      co_await yield_now();
      throw std::runtime_error("backend down");
    });
    return r;
  });
  serve_threw = false;
  std::string reply =
      f.run("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /boom HTTP/1.1\r\nHost: x\r\n\r\n",
            accept_one_noting_throw);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  std::size_t second = reply.find("HTTP/1.1", 1);
  ASSERT_NE(second, std::string::npos) << reply;
  EXPECT_EQ(reply.substr(second).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Connection: close\r\n", second), std::string::npos) << reply;
  EXPECT_EQ(reply.find("chunked"), std::string::npos) << reply;
  EXPECT_FALSE(serve_threw);
}

// The producer's own errors are its failures, whatever their code: a
// timeout or a reset from a backend it proxies is not the client leaving.
// Taken by its code for the client's, it ended the connection with nothing
// sent, as in the test above (a review of the fix).
TEST(http_server, a_producers_own_timeout_before_writing_gets_a_500) {
  fixture f;
  f.routes.get("/backend", [](http::request&) {
    http::response r;
    r.stream([](http::body_writer&) -> task<void> {
      co_await yield_now();
      throw std::system_error(std::make_error_code(std::errc::timed_out), "backend");
    });
    return r;
  });
  std::string reply = f.run("GET /backend HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << reply;
}

// A streamed response is logged when it ends, the client's leaving
// included: a client reset mid-stream left no access-log line at all.
TEST(http_server, a_streamed_response_the_client_abandons_is_still_logged) {
  fixture f;
  f.routes.get("/endless", [](http::request&) {
    http::response r;
    r.stream([](http::body_writer& w) -> task<void> {
      std::string block(65536, 'x');
      for (;;) co_await w.write(block);
    });
    return r;
  });
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  f.opts.access_log = log;
  EXPECT_TRUE(f.request_then_reset("GET /endless HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::fflush(log);
  std::rewind(log);
  char line[512] = {};
  EXPECT_NE(std::fgets(line, sizeof line, log), nullptr) << "no access-log line";
  EXPECT_NE(std::string(line).find("\"GET /endless HTTP/1.1\" 200 "), std::string::npos) << line;
  std::fclose(log);
}

// A close-delimited body (HTTP/1.0) cut short by its producer ends in a
// reset: a FIN would make the part sent look like the whole body.
TEST(http_server, a_close_delimited_body_cut_short_ends_in_a_reset) {
  fixture f;
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  endpoint at = listener.local_endpoint();
  green_thread g = spawn(f.l, accept_one(&listener, &f.routes, &f.opts), "server");
  std::string reply;
  int last_errno = 0;
  std::atomic<bool> done{false};
  std::thread client([&] {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(c, at.data(), at.size()) == 0) {
      std::string_view get = "GET /broken HTTP/1.0\r\n\r\n";
      (void)::send(c, get.data(), get.size(), MSG_NOSIGNAL);
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
      last_errno = n < 0 ? errno : 0;
    }
    ::close(c);
    done = true;
  });
  EXPECT_TRUE(test::run_until(
      f.l, [&] { return done.load() && g.done(); }, std::chrono::seconds(10)));
  client.join();
  EXPECT_NE(reply.find("part"), std::string::npos) << reply;
  EXPECT_EQ(last_errno, ECONNRESET) << "a clean EOF: the cut body looks complete";
}

// The router and the options are shared by reference, and a temporary of
// either does not compile. Options held by reference in the lazy coroutine
// once dangled when a caller passed `server_options{}` (glibc aborted on a
// freed access_log: an API review); then they were copied, 80 of the 766
// bytes of each idle kept-alive connection.
template <class Router, class Options>
concept serves_with = requires(tcp_stream s, Router&& r, Options&& o) {
  http::serve_connection(std::move(s), std::forward<Router>(r), std::forward<Options>(o));
};
static_assert(serves_with<const http::router&, const http::server_options&>);
static_assert(serves_with<http::router&, http::server_options&>);
static_assert(!serves_with<http::router, const http::server_options&>);
static_assert(!serves_with<const http::router&, http::server_options>);
static_assert(!serves_with<http::router, http::server_options>);

// A kept-alive connection idle between requests holds only its own small
// frame: the 1.8 KiB frame its requests are served in goes back once it
// has waited 10 ms (http::serve), and comes again with the next request's
// bytes. It was held all along: 2,973 B of RSS an idle connection, where
// nginx spends 526 (bench/memory/idle_conns.py --keep-alive). What carries
// over keeps counting: --max-requests' count, here 2, ends the second
// answer with Connection: close.
TEST(http_server, a_connection_idle_between_requests_gives_back_its_request_frame) {
  loop l;
  http::router routes;
  routes.get("/", [](http::request&) { return http::response::text("hi"); });
  http::server_options opts;
  opts.max_requests = 2;
  auto server_client = test::socket_pair();  // named: clang before 16 cannot capture bindings
  unique_fd& server = server_client.first;
  unique_fd& client = server_client.second;
  std::size_t before = task_frame_bytes();
  green_thread g =
      spawn(l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts), "conn");
  std::string got;
  auto answer = [&](std::string_view request) {
    EXPECT_EQ(::write(client.get(), request.data(), request.size()),
              static_cast<ssize_t>(request.size()));
    got.clear();
    EXPECT_TRUE(test::run_until(l, [&] {
      char buf[4096];
      for (ssize_t n; (n = ::recv(client.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0;)
        got.append(buf, static_cast<std::size_t>(n));
      return got.ends_with("\r\n\r\nhi");
    })) << got;
  };
  std::string_view get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  answer(get);
  std::size_t busy = task_frame_bytes() - before;
  for (int i = 0; i < 5; ++i) l.run_once(10ms);
  std::size_t idle = task_frame_bytes() - before;
  std::printf("[ figure ] kept-alive HTTP connection: %zu bytes of frames busy, %zu idle\n", busy,
              idle);
  EXPECT_GT(busy, idle + 1024);  // the request frame: 1.8 KiB from g++ 12, 1.3 from clang 14
  EXPECT_LT(idle, 768u);
  EXPECT_EQ(got.find("Connection: close"), std::string::npos) << got;
  answer(get);
  EXPECT_NE(got.find("Connection: close\r\n"), std::string::npos) << got;
  client.reset();  // the close lingers until the client's end
  EXPECT_TRUE(test::run_until(l, [&] { return g.done(); }));
}

// A connection cancelled while its handler waits (a shutdown past its
// deadline) just ends: the cancellation is not the handler's failure, so no
// 500 and no error in the log. It wrote "500 Internal Server Error".
TEST(http_server, a_connection_cancelled_in_its_handler_ends_without_a_500) {
  loop l;
  http::router routes;
  routes.get("/", [](http::request&) -> task<http::response> {
    co_await sleep(1h);
    co_return http::response::text("late");
  });
  auto [server, client] = test::socket_pair();
  const http::server_options opts;
  green_thread g =
      spawn(l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts), "conn");
  std::string_view get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(client.get(), get.data(), get.size()), static_cast<ssize_t>(get.size()));
  l.run_once(10ms);
  l.run_once(10ms);
  g.cancel();
  ASSERT_TRUE(test::run_until(
      l, [&] { return g.done(); }, std::chrono::seconds(5)));
  char buf[256];
  EXPECT_EQ(::recv(client.get(), buf, sizeof buf, MSG_DONTWAIT), 0) << "an answer, not the end";
}

// RFC 9110 §15.3.6: a 205 has no content. Unlike 204 it is not bodiless to
// HTTP/1.1 framing, so it says Content-Length: 0. It sent the handler's body.
TEST(http_server, a_205_carries_no_body_and_says_so) {
  fixture f;
  f.answer("/reset", [] { return http::response::text("BODYBODY", 205); });
  std::string reply = f.run("GET /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 205 Reset Content\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("Content-Length: 0\r\n"), std::string::npos) << reply;
  EXPECT_EQ(body_of(reply), "") << reply;
}

namespace {
// Connections served with a tracker, from socket pairs: one idle, one busy
// in a handler that waits.
struct tracked_connections {
  std::unique_ptr<loop> l = std::make_unique<loop>();
  std::unique_ptr<http::connection_tracker> tracker = std::make_unique<http::connection_tracker>();
  http::router routes;
  http::server_options opts;
  std::pair<unique_fd, unique_fd> idle = test::socket_pair(), busy = test::socket_pair();

  tracked_connections() {
    routes.get("/*", [](http::request&) -> task<http::response> {
      co_await sleep(1h);
      co_return http::response::text("late");
    });
    for (auto* p : {&idle, &busy})
      spawn_n(
          *l,
          http::serve_connection(tcp_stream(*l, std::move(p->first)), routes, opts, tracker.get()),
          "conn");
    std::string_view get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(::write(busy.second.get(), get.data(), get.size()), static_cast<ssize_t>(get.size()));
    l->run_once(10ms);
    l->run_once(10ms);
  }
};
}  // namespace

// A tracker and the connections it tracks may end in either order: one
// destroyed first detaches its entries, and a connection destroyed first
// (with its loop) leaves the tracker. Before, either order was a use after
// free (ASan): the server's tracker went before its loop in `weft hello`.
TEST(http_server, a_tracker_and_its_connections_may_end_in_either_order) {
  {
    tracked_connections c;
    c.tracker.reset();
    c.l.reset();  // destroys the connections' frames
  }
  {
    tracked_connections c;
    c.l.reset();
    c.tracker->drain();  // walks what it still tracks: nothing
    EXPECT_EQ(c.tracker->close_some_idle(10, time_point::max()), 0u)
        << "a connection still tracked";
  }
}

// A body is kept as it arrives, never reserved whole from its declared
// length: a head declaring 1 TiB under a 2 TiB limit made the server ask
// for 1 TiB before any of the body came, so the connection ended in
// bad_alloc without an answer (and, under ASan, the whole process). Found by
// review. Here the body stalls and gets its 408.
TEST(http_server, a_declared_length_reserves_nothing_before_the_body_arrives) {
  fixture f;
  f.opts.limits.max_body = std::uint64_t{1} << 41;
  f.opts.body_budget = nullptr;  // with one, a length past it is a 413 at once
  f.opts.body_timeout = std::chrono::milliseconds(200);
  f.routes.post("/", [](http::request&) { return http::response(200); });
  std::string reply =
      f.run("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\nabc");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 408 ")) << reply;
}

namespace {
// Answers of 3,000 bytes each, which fill a send buffer made small.
void add_small_answers(http::router& routes) {
  routes.get("/small", [](http::request&) {
    int small = 4096;
    ::setsockopt(served_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    return http::response::text(std::string(3000, 'x'));  // copied into the output
  });
}

// Sends 20 GET /small, pipelined (their answers less than the 64 KiB that
// is sent at once), then a POST /e that expects a 100 Continue, from a
// client that reads nothing; says whether the connection ended within 5 s.
bool ends_while_the_client_reads_nothing(fixture& f) {
  std::string request;
  for (int i = 0; i < 20; ++i) request += "GET /small HTTP/1.1\r\nHost: x\r\n\r\n";
  request += "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
  endpoint at = listener.local_endpoint();
  green_thread g = spawn(f.l, accept_one_noting_fd(&listener, &f.routes, &f.opts), "server");
  unique_fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int tiny = 1024;
  ::setsockopt(c.get(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny);
  bool sent = ::connect(c.get(), at.data(), at.size()) == 0 &&
              ::send(c.get(), request.data(), request.size(), MSG_NOSIGNAL) ==
                  static_cast<ssize_t>(request.size());
  bool ended = sent && test::run_until(
                           f.l, [&] { return g.done(); }, std::chrono::seconds(5));
  c.reset();
  if (!g.done()) {
    g.cancel();
    test::run_until(f.l, [&] { return g.done(); });
  }
  return ended;
}
}  // namespace

// The write timeout holds for "100 Continue" too. Sent with write_all, it
// also pushed out the pipelined answers before it, and a client that had
// stopped reading held the connection for good (found by review). The
// server's send buffer is made small so that those answers fill it.
TEST(http_server, a_client_that_stops_reading_is_cut_even_while_owed_a_100_continue) {
  fixture f;
  f.opts.write_timeout = std::chrono::milliseconds(300);
  f.opts.body_timeout = std::chrono::seconds(30);
  add_small_answers(f.routes);
  f.routes.post("/e", [](http::request&) { return http::response(200); });
  // The client reads nothing: the connection must end one write timeout on.
  EXPECT_TRUE(ends_while_the_client_reads_nothing(f));
}

// A handler's own timeout that cuts the "100 Continue" while it waits for
// room may leave part of it sent: the connection's framing is then torn,
// and nothing more may follow on it. The handler's answer was written
// after it (and waited its whole write timeout for a client that had
// stopped reading; found by review). The connection now ends at once.
TEST(http_server, a_100_continue_cut_by_the_handlers_timeout_ends_the_connection) {
  fixture f;
  f.opts.write_timeout = std::chrono::seconds(30);
  f.opts.body_timeout = std::chrono::seconds(30);
  add_small_answers(f.routes);
  f.routes.post("/e",
                [](http::request& r) -> task<http::response> {
                  try {
                    (void)co_await with_timeout(std::chrono::milliseconds(200), r.read_some());
                  } catch (const std::system_error&) {
                    co_return http::response::text("late", 503);
                  }
                  co_return http::response(200);
                },
                {.stream_body = true});
  EXPECT_TRUE(ends_while_the_client_reads_nothing(f))
      << "the handler's answer waited behind a torn 100 Continue";
}

// A request whose head has only partly arrived is in flight, not idle: a
// drain lets it finish. It counted as idle until its head was whole, so the
// shutdown's close_idle cut it without an answer (found by review).
// One connection served with a tracker, its answers "done", from a socket
// pair: `client` is the test's end; start() serves `server`.
struct tracked_connection {
  loop l;
  http::connection_tracker tracker;
  http::router routes;
  http::server_options opts;
  unique_fd server, client;
  green_thread g;
  tracked_connection() {
    routes.get("/*", [](http::request&) { return http::response::text("done"); });
    std::tie(server, client) = test::socket_pair();
  }
  void start() {
    g = spawn(l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts, &tracker),
              "conn");
  }
};

TEST(http_server, a_drain_lets_a_request_whose_head_is_partly_in_finish) {
  tracked_connection c;
  c.start();
  // Named, not bound: clang before 16 cannot capture structured bindings.
  loop& l = c.l;
  auto& tracker = c.tracker;
  unique_fd& client = c.client;
  green_thread& g = c.g;
  auto send = [&](std::string_view bytes) {
    EXPECT_EQ(::write(client.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
    for (int i = 0; i < 3; ++i) l.run_once(10ms);
  };
  send("GET /in-flight HTTP/1.1\r\nHost: x\r\n");
  tracker.drain();
  send("\r\n");
  ASSERT_TRUE(test::run_until(l, [&] { return g.done(); }));
  std::string reply(4096, '\0');
  ssize_t n = ::read(client.get(), reply.data(), reply.size());
  reply.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 200 ")) << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  EXPECT_TRUE(reply.ends_with("done")) << reply;
}

// A drain closes a connection whose body was still leaving when it came,
// once that body has left: stop_keep_alive() alone would keep it for its
// next request, whose answer says "Connection: close", as a client that
// pipelines expects (connection_tracker; a review found the header's
// wording promised more).
namespace {
task<void> two_ticks(http::body_writer* w, bool* first_written) {
  co_await w->write("tick\n");
  *first_written = true;
  co_await sleep(30ms);
  co_await w->write("tick\n");
}
}  // namespace

TEST(http_server, a_drain_closes_a_connection_whose_body_was_leaving_once_it_has_left) {
  tracked_connection c;
  bool first_written = false;
  // Its own method: tracked_connection's GET "/*" comes first.
  c.routes.add("TICK", "/ticks", http::plain_handler([&](http::request&) {
                 http::response r;
                 r.stream([&](http::body_writer& w) { return two_ticks(&w, &first_written); });
                 return r;
               }));
  c.start();
  std::string_view request = "TICK /ticks HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(c.client.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(test::run_until(c.l, [&] { return first_written; }));
  c.tracker.drain();  // while the body leaves
  EXPECT_TRUE(test::run_until(
      c.l, [&] { return c.g.done(); }, 2s))
      << "kept alive after its answer";
  std::string reply(4096, '\0');
  ssize_t n = ::read(c.client.get(), reply.data(), reply.size());
  reply.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  EXPECT_TRUE(reply.ends_with("tick\n\r\n5\r\ntick\n\r\n0\r\n\r\n")) << reply;  // whole
}

// Out of descriptors, a server lets idle keep-alive connections go, the
// longest-known first, only those idle since a given time, and never one
// with a request in flight
// (close_some_idle: `weft hello`'s accepts call it when they find no
// descriptor, see test_accept_exhaustion.py).
TEST(http_server, close_some_idle_closes_the_oldest_idle_connections_and_no_busy_one) {
  loop l;
  http::connection_tracker tracker;
  http::router routes;
  routes.get("/*", [](http::request&) { return http::response::text("done"); });
  http::server_options opts;
  struct conn {
    unique_fd client;
    green_thread g;
  };
  std::vector<conn> cs(3);
  for (conn& c : cs) {
    auto [server, client] = test::socket_pair();
    c.client = std::move(client);
    c.g = spawn(l, http::serve_connection(tcp_stream(l, std::move(server)), routes, opts, &tracker),
                "conn");
    l.run_once(0ms);  // each joins the tracker in turn: the first is the oldest
  }
  auto send = [&](conn& c, std::string_view bytes) {
    EXPECT_EQ(::write(c.client.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
    for (int i = 0; i < 3; ++i) l.run_once(10ms);
  };
  send(cs[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // answered, then idle
  time_point first_idle = l.now();
  send(cs[1], "GET / HTTP/1.1\r\nHost: x\r\n");      // in flight
  send(cs[2], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");  // answered, then idle, later
  ASSERT_GT(l.now(), first_idle);
  EXPECT_EQ(tracker.close_some_idle(1, l.now()), 1u);
  ASSERT_TRUE(test::run_until(l, [&] { return cs[0].g.done(); }));
  EXPECT_FALSE(cs[1].g.done());
  EXPECT_FALSE(cs[2].g.done());
  EXPECT_EQ(tracker.close_some_idle(5, first_idle), 0u) << "idle only since after it";
  EXPECT_EQ(tracker.close_some_idle(5, l.now()), 1u);
  ASSERT_TRUE(test::run_until(l, [&] { return cs[2].g.done(); }));
  EXPECT_FALSE(cs[1].g.done());
  send(cs[1], "\r\n");
  std::string reply(4096, '\0');
  ssize_t n = ::read(cs[1].client.get(), reply.data(), reply.size());
  reply.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  EXPECT_TRUE(reply.ends_with("done")) << reply;
  cs[1].client.reset();
  ASSERT_TRUE(test::run_until(l, [&] { return cs[1].g.done(); }));
}

// A connection whose answers are still leaving is busy, not idle, though it
// waits for its next request: a drain lets them all out. It counted as idle
// once its last answer was made, so the shutdown's close_idle closed it with
// answers still in its buffer (found by review: a pipelining client reading
// slowly got a reset after 34 answers of 40,000).
TEST(http_server, a_drain_lets_answers_still_leaving_go_out) {
  tracked_connection c;
  int small = 4096;  // the answers wait in the server's buffer
  ASSERT_EQ(::setsockopt(c.server.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  c.start();
  // Named, not bound: clang before 16 cannot capture structured bindings.
  loop& l = c.l;
  auto& tracker = c.tracker;
  unique_fd& client = c.client;
  green_thread& g = c.g;
  std::string pipeline;
  for (int i = 0; i < 200; ++i) pipeline += "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(client.get(), pipeline.data(), pipeline.size()),
            static_cast<ssize_t>(pipeline.size()));
  for (int i = 0; i < 5; ++i) l.run_once(10ms);
  tracker.drain();
  std::string got;
  char buf[65536];
  ASSERT_TRUE(test::run_until(l, [&] {
    ssize_t n = ::read(client.get(), buf, sizeof buf);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return n == 0 || (n < 0 && errno != EAGAIN);
  }));
  // Every answer made before the drain, and one more, the first that the
  // drain saw made, which closes the connection: each of them whole.
  auto count = [&](std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = 0; (at = got.find(what, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  std::size_t answers = count("HTTP/1.1 200 "), bodies = count("\r\n\r\ndone");
  std::string tail = got.substr(got.size() > 200 ? got.size() - 200 : 0);
  EXPECT_GT(answers, 100u) << tail;  // made before the drain: the socket took ~a tenth
  EXPECT_EQ(bodies, answers) << tail;
  EXPECT_TRUE(got.ends_with("Connection: close\r\n\r\ndone")) << tail;
  EXPECT_TRUE(test::run_until(l, [&] { return g.done(); }));
}

// A head's fields start in a small array (src/http/field_array.hpp); one
// with more grows it and is parsed again, whole or in pieces, and keeps
// every field in order. Past the limit it is still a 431.
TEST(http_server, a_head_with_more_fields_than_the_first_array_keeps_them_all) {
  fixture f;
  f.routes.get("/count", [](http::request& req) {
    auto h = req.headers();
    return http::response::text(std::to_string(h.size()) + " " + std::string(h.back().name) + "=" +
                                std::string(h.back().value) + "\n");
  });
  auto head = [](int fields, int from = 0) {
    std::string s;
    for (int i = from; i < from + fields; ++i)
      s += "X-" + std::to_string(i) + ": v" + std::to_string(i) + "\r\n";
    return s;
  };
  const std::string line = "GET /count HTTP/1.1\r\nHost: x\r\n";
  std::string whole = f.run(line + head(70) + "\r\n" + line + "Connection: close\r\n\r\n");
  EXPECT_NE(whole.find("71 X-69=v69\n"), std::string::npos) << whole;
  EXPECT_NE(whole.find("2 Connection=close\n"), std::string::npos) << whole;

  std::string pieces;
  f.run_client([&](const endpoint& at) {
    int c = client_to(at);  // a receive timeout: a server that never answers fails, not hangs
    for (const std::string& piece : {line + head(40), head(58, 40) + "Connection: close\r\n\r\n"}) {
      (void)::send(c, piece.data(), piece.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    pieces = read_to_end(c);
  });
  EXPECT_NE(pieces.find("100 Connection=close\n"), std::string::npos) << pieces;

  std::string over = f.run(line + head(100) + "\r\n");
  EXPECT_EQ(over.rfind("HTTP/1.1 431 ", 0), 0u) << over;
}

// Serves `requests` on one connection whose client keeps its end open;
// whether the server is done with it within `limit`. `client_end`, when
// given, is set to the client's descriptor, for a handler that sends more.
bool closed_without_the_clients_end(fixture& f, const std::string& requests,
                                    std::chrono::milliseconds limit, int* client_end = nullptr) {
  auto [server, client] = test::socket_pair();
  if (client_end) *client_end = client.get();
  EXPECT_EQ(::write(client.get(), requests.data(), requests.size()),
            static_cast<ssize_t>(requests.size()));
  green_thread g = spawn(
      f.l, http::serve_connection(tcp_stream(f.l, std::move(server)), f.routes, f.opts), "conn");
  bool done = test::run_until(
      f.l, [&] { return g.done(); }, limit);
  ::shutdown(client.get(), SHUT_WR);  // the client's end: any linger stops
  EXPECT_TRUE(test::run_until(
      f.l, [&] { return g.done(); }, std::chrono::seconds(3)));
  return done;
}

// A client that asked for the close (Connection: close, or HTTP/1.0
// without keep-alive) sends nothing after its request (RFC 9112 §9.6), so
// once its answer has left the connection is closed, as nginx closes it.
// A lingering close (shutdown, wait for the client's end, read it) cost
// each such connection an epoll registration, a wake-up and three syscalls
// more: wrk's Connection: close load ran at 0.80x nginx per core.
TEST(http_server, a_client_that_asked_for_the_close_is_not_waited_for) {
  for (const char* request :
       {"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /x HTTP/1.0\r\n\r\n"}) {
    fixture f;
    f.answer("/x", [] { return http::response::text("x"); });
    f.routes.add("GET", "/fixed", http::response::text("fixed"));
    EXPECT_TRUE(closed_without_the_clients_end(f, request, std::chrono::milliseconds(800)))
        << request;
    std::string fixed = std::string(request).replace(4, 2, "/fixed");
    EXPECT_TRUE(closed_without_the_clients_end(f, fixed, std::chrono::milliseconds(800))) << fixed;
  }
}

// A close the client did not ask for, or one with more of its bytes in,
// lingers as before: a client that pipelined past the close would get a
// reset, which can destroy the answers it has not read yet.
TEST(http_server, a_close_the_client_did_not_ask_for_waits_for_the_clients_end) {
  fixture f;
  f.answer("/x", [] { return http::response::text("x"); });
  f.opts.max_requests = 1;
  EXPECT_FALSE(closed_without_the_clients_end(f, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n",
                                              std::chrono::milliseconds(300)));
  f.opts.max_requests = 100;
  EXPECT_FALSE(closed_without_the_clients_end(
      f,
      "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n",
      std::chrono::milliseconds(300)));
  EXPECT_FALSE(closed_without_the_clients_end(f, "GET /nowhere HTTP/1.1\r\nHost: x\r\nbad\r\n\r\n",
                                              std::chrono::milliseconds(300)));
  // A 2xx to CONNECT opens a tunnel: that client goes on sending (found by
  // review: an HTTP/1.0 CONNECT had asked for the close).
  f.routes.fallback(http::plain_handler([](http::request&) { return http::response::text("in"); }));
  EXPECT_FALSE(closed_without_the_clients_end(f, "CONNECT x:443 HTTP/1.0\r\n\r\n",
                                              std::chrono::milliseconds(300)));
}

// Bytes that come after the request was read, while its handler ran, are
// unread input though the read that took the request found the socket
// drained: the close lingers (found by review, which saw the evidence of
// that read go stale).
TEST(http_server, a_client_that_sends_more_after_asking_for_the_close_is_waited_for) {
  fixture f;
  int client_end = -1;
  f.routes.get("/x", http::plain_handler([&client_end](http::request&) {
                 EXPECT_EQ(::write(client_end, "more", 4), 4);
                 return http::response::text("x");
               }));
  EXPECT_FALSE(
      closed_without_the_clients_end(f, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                     std::chrono::milliseconds(300), &client_end));
}

// A handler knows its client's address (rate limits, logs of its own), as
// the access log does: there was no way to ask for it (found by an API
// review). A request made off a connection, as in a test, has none.
TEST(http_server, a_handler_knows_its_clients_address) {
  fixture f;
  f.routes.get("/who", [](http::request& req) {
    std::optional<endpoint> peer = req.peer();
    return http::response::text(peer ? peer->host() : "none");
  });
  std::string reply = f.run("GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(reply.ends_with("\r\n\r\n127.0.0.1")) << reply;
  EXPECT_FALSE(http::request().peer());
}
