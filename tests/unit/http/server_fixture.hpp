#pragma once
// The HTTP server's unit-test bench: a loop, a router and options, a
// listener that serves one connection, and blocking clients on a thread.
// Shared by server_test.cpp and server_writes_test.cpp.

#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/sleep.hpp>
#include <weft/task/spawn.hpp>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "test_util.hpp"

namespace weft::server_test {

inline task<void> accept_one(tcp_listener* l, const http::router* r,
                             const http::server_options* o) {
  tcp_stream s = co_await l->accept();
  co_await http::serve_connection(std::move(s), *r, *o);
}

// As accept_one, noting the served connection's fd for the handler to inspect.
inline int served_fd = -1;
inline task<void> accept_one_noting_fd(tcp_listener* l, const http::router* r,
                                       const http::server_options* o) {
  tcp_stream s = co_await l->accept();
  served_fd = s.native_handle();
  co_await http::serve_connection(std::move(s), *r, *o);
}

// As accept_one, noting whether serve_connection let an exception out.
inline bool serve_threw = false;
inline task<void> accept_one_noting_throw(tcp_listener* l, const http::router* r,
                                          const http::server_options* o) {
  tcp_stream s = co_await l->accept();
  try {
    co_await http::serve_connection(std::move(s), *r, *o);
  } catch (...) {
    serve_threw = true;
  }
}

inline std::string nodelay_of_served_fd() {
  int v = -1;
  socklen_t len = sizeof v;
  ::getsockopt(served_fd, IPPROTO_TCP, TCP_NODELAY, &v, &len);
  return std::to_string(v);
}

inline task<void> three_chunks(http::body_writer* w) {
  co_await w->write("one,");
  co_await w->write("");  // ignored: an empty chunk would end the body
  co_await w->write("two,");
  co_await w->write(std::string(70000, 'x'));  // past the flush threshold
}

// A blocking client socket connected to `at`, its reads bounded by 5 s;
// with `rcvbuf`, a receive buffer that small (set before connecting, so
// that the window follows it; the kernel doubles it), for a server whose
// writes must stall while the client does not read.
inline int client_to(const endpoint& at, int rcvbuf = 0) {
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (rcvbuf > 0) ::setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  EXPECT_EQ(::connect(c, at.data(), at.size()), 0);
  return c;
}

// Reads what the server sends until it closes (or a read fails or times
// out), then closes `c`.
inline std::string read_to_end(int c) {
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::recv(c, buf, sizeof buf, 0)) > 0;) out.append(buf, std::size_t(n));
  ::close(c);
  return out;
}

// Sends `request` on a blocking socket and reads until the server closes.
// `on_read`, when set, sees the reply so far after each read.
using read_observer = std::function<void(const std::string&)>;
inline std::string round_trip(const endpoint& at, const std::string& request,
                              const read_observer& on_read = {}) {
  int c = client_to(at);
  (void)::send(c, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = ::recv(c, buf, sizeof buf, 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
    if (on_read) on_read(out);
  }
  ::close(c);
  return out;
}

struct fixture {
  loop l;
  http::router routes;
  http::server_options opts;
  // A 300,000-byte file, unlinked at once: a test killed at its timeout
  // left it in /tmp. Opened anew through /proc (open_file).
  unique_fd file;

  unique_fd open_file() const {
    std::string at = "/proc/self/fd/" + std::to_string(file.get());
    return unique_fd(::open(at.c_str(), O_RDONLY | O_CLOEXEC));
  }

  fixture() {
    char path[] = "/tmp/weft_server_test_XXXXXX";
    file = unique_fd(::mkstemp(path));
    ::unlink(path);
    std::string content;
    for (int i = 0; i < 300000; ++i) content += static_cast<char>('a' + i % 26);
    EXPECT_EQ(::write(file.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    routes.get("/stream", [](http::request&) {
      http::response r;
      r.content_type("text/plain");
      r.stream([](http::body_writer& w) { return three_chunks(&w); });
      return r;
    });
    routes.get("/broken", [](http::request&) {  // a producer that fails after its first write
      http::response r;
      r.stream([](http::body_writer& w) -> task<void> {
        co_await w.write("part");
        throw std::runtime_error("producer bug");
      });
      return r;
    });
    routes.get("/file", [this](http::request&) {
      http::response r;
      r.file(open_file(), 1000, 250000);
      return r;
    });
  }
  ~fixture() {
    if (log_file) std::fclose(log_file);
  }

  void answer(std::string path, http::response (*make)()) {
    routes.get(std::move(path), [make](http::request&) { return make(); });
  }

  using acceptor = task<void> (*)(tcp_listener*, const http::router*, const http::server_options*);
  // A listener whose first connection a green thread serves, for a test
  // that plays the client on the loop's own thread.
  struct one_connection {
    tcp_listener listener = tcp_listener::bind(endpoint::loopback_v4(0));
    endpoint at = listener.local_endpoint();
    green_thread server;
  };
  std::unique_ptr<one_connection> serve_one() {
    auto c = std::make_unique<one_connection>();
    c->server = spawn(l, accept_one(&c->listener, &routes, &opts), "server");
    return c;
  }

  // The access log, in a temporary file the fixture closes.
  std::FILE* log_to_temp_file() {
    log_file = std::tmpfile();
    EXPECT_NE(log_file, nullptr);
    opts.access_log = log_file;
    return log_file;
  }
  std::FILE* log_file = nullptr;

  // Serves one connection that sends `request`, takes a few loop turns of
  // the answer, then resets (SO_LINGER 0); true once the server's green
  // thread is done, within 5 s.
  bool request_then_reset(std::string_view request) {
    auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
    endpoint at = listener.local_endpoint();
    green_thread g = spawn(l, accept_one(&listener, &routes, &opts), "server");
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(c, at.data(), at.size()) != 0 ||
        ::send(c, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
      ::close(c);
      return false;
    }
    for (int i = 0; i < 5; ++i) l.run_once(std::chrono::milliseconds(10));
    linger reset{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(c);
    return test::run_until(
        l, [&] { return g.done(); }, std::chrono::seconds(5));
  }

  // Serves one connection while `client` runs on a thread with the
  // listener's address, until both are done (a failure after `limit`).
  void run_client(const std::function<void(const endpoint&)>& client, acceptor accept = accept_one,
                  std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto listener = tcp_listener::bind(endpoint::loopback_v4(0));
    endpoint at = listener.local_endpoint();
    green_thread g = spawn(l, accept(&listener, &routes, &opts), "server");
    std::atomic<bool> done{false};
    std::thread t([&] {
      client(at);
      done = true;
    });
    EXPECT_TRUE(test::run_until(
        l, [&] { return done.load() && g.done(); }, limit));
    t.join();
  }

  std::string run(const std::string& request, acceptor accept = accept_one,
                  const read_observer& on_read = {}) {
    std::string reply;
    run_client([&](const endpoint& at) { reply = round_trip(at, request, on_read); }, accept);
    return reply;
  }
};

inline std::string body_of(const std::string& reply) {
  return reply.substr(reply.find("\r\n\r\n") + 4);
}

}  // namespace weft::server_test
