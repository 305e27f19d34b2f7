// asio_responder: a standalone-Asio C++20 coroutine HTTP responder, written
// the naive way (bench/http/run.sh): one coroutine per connection reads into a
// buffer, looks for "\r\n\r\n" and, for each read that holds at least one
// (or completes one split across reads), writes one canned response. It does
// not count requests: under pipelining it answers a batch with one response,
// so it only takes part in the keep-alive load and h2load. Never closes a
// connection itself. One single-threaded io_context.
//
// Prints "asio responder listening on 127.0.0.1:PORT" when ready (--port 0
// picks a free port). SIGINT/SIGTERM stop it with status 0.

#include "canned_response.hpp"

#include <asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

// weft hello's bytes (canned_response.hpp), formatted once at start.
const std::string kResponse = canned_response();

awaitable<void> respond(tcp::socket s) {
  char data[4096];
  std::string carry;  // the last 3 bytes of the previous read, for split terminators
  try {
    for (;;) {
      std::size_t n = co_await s.async_read_some(asio::buffer(data), use_awaitable);
      carry.append(data, n);
      if (carry.find("\r\n\r\n") != std::string::npos) {
        carry.clear();
        co_await asio::async_write(s, asio::buffer(kResponse), use_awaitable);
      } else if (carry.size() > 3) {
        carry.erase(0, carry.size() - 3);
      }
    }
  } catch (const std::exception&) {
    // EOF or reset: the socket closes with the frame.
  }
}

awaitable<void> listen(tcp::acceptor acceptor) {
  for (;;) {
    tcp::socket s = co_await acceptor.async_accept(use_awaitable);
    s.set_option(tcp::no_delay(true));
    auto ex = s.get_executor();
    asio::co_spawn(ex, respond(std::move(s)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--port"))
      port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--host"))
      host = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: %s [--host H] [--port P]\n", argv[0]);
      return 2;
    }
  }
  try {
    asio::io_context ctx(1);
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address(host), port));
    acceptor.listen(4096);
    auto bound = acceptor.local_endpoint();
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { ctx.stop(); });
    asio::co_spawn(ctx, listen(std::move(acceptor)), asio::detached);
    std::printf("asio responder listening on %s:%u\n", bound.address().to_string().c_str(),
                static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    ctx.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_responder: %s\n", e.what());
    return 1;
  }
  return 0;
}
