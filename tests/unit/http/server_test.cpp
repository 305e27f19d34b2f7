#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "test_util.hpp"

using namespace weft;

namespace {

task<void> accept_one(tcp_listener* l, const http::router* r, const http::server_options* o) {
  tcp_stream s = co_await l->accept();
  co_await http::serve_connection(std::move(s), *r, *o);
}

task<void> three_chunks(http::body_writer* w) {
  co_await w->write("one,");
  co_await w->write("");  // ignored: an empty chunk would end the body
  co_await w->write("two,");
  co_await w->write(std::string(70000, 'x'));  // past the flush threshold
}

// Sends `request` on a blocking socket and reads until the server closes.
std::string round_trip(const endpoint& at, const std::string& request) {
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(c, at.data(), at.size()) != 0) return "connect failed";
  (void)::send(c, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::recv(c, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(c);
  return out;
}

struct fixture {
  loop l;
  http::router routes;
  http::server_options opts;
  std::string file_path;

  fixture() {
    char path[] = "/tmp/weft_server_test_XXXXXX";
    int fd = ::mkstemp(path);
    file_path = path;
    std::string content;
    for (int i = 0; i < 300000; ++i) content += static_cast<char>('a' + i % 26);
    EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ::close(fd);
    routes.get("/stream", [](http::request&) {
      http::response r;
      r.content_type("text/plain");
      r.stream([](http::body_writer& w) { return three_chunks(&w); });
      return r;
    });
    routes.get("/file", [this](http::request&) {
      http::response r;
      r.file(unique_fd(::open(file_path.c_str(), O_RDONLY | O_CLOEXEC)), 1000, 250000);
      return r;
    });
  }
  ~fixture() { ::unlink(file_path.c_str()); }

  void answer(std::string path, http::response (*make)()) {
    routes.get(std::move(path), [make](http::request&) { return make(); });
  }

  std::string run(const std::string& request) {
    auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
    endpoint at = listener.local_endpoint();
    green_thread g = spawn(l, accept_one(&listener, &routes, &opts), "server");
    std::string reply;
    std::atomic<bool> done{false};
    std::thread client([&] {
      reply = round_trip(at, request);
      done = true;
    });
    EXPECT_TRUE(test::run_until(
        l, [&] { return done.load() && g.done(); }, std::chrono::seconds(10)));
    client.join();
    return reply;
  }
};

std::string body_of(const std::string& reply) {
  return reply.substr(reply.find("\r\n\r\n") + 4);
}

}  // namespace

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
