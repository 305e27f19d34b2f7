// asio_echo: the standalone-Asio C++20 coroutine echo that weft is compared
// with. One single-threaded io_context; one coroutine per connection, as in
// Asio's own examples/cpp20/coroutines/echo_server.cpp.
//
//   --mode per-read   read_some, then write exactly what was read: one write
//                     per read, whatever the framing. This is in effect the
//                     syscall floor for echo (epoll_wait + read + write per
//                     batch), and it does not look at lines at all.
//   --mode per-line   async_read_until('\n'), then one async_write per line:
//                     what straightforward line-framed code does.
//
// Prints "asio echo listening on 127.0.0.1:PORT" when ready (port 0 picks a
// free port). SIGINT/SIGTERM stop the io_context; exit status 0.
//
// Build: header-only Debian libasio-dev (standalone Asio, ASIO_STANDALONE).

#include <asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

struct options {
  std::string mode = "per-read";
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::size_t buf = 1024;  // per-read buffer; Asio's example uses 1024
  std::size_t max_line = 65536;
};

// Same as Asio's example, except that the buffer size is a flag. The buffer
// lives as long as the connection (in the example it is in the frame), which
// is why an idle connection costs about 2 KB here.
awaitable<void> echo_per_read(tcp::socket s, std::size_t buf_size) {
  std::unique_ptr<char[]> data(new char[buf_size]);
  try {
    for (;;) {
      std::size_t n = co_await s.async_read_some(asio::buffer(data.get(), buf_size), use_awaitable);
      co_await asio::async_write(s, asio::buffer(data.get(), n), use_awaitable);
    }
  } catch (const std::exception&) {
    // EOF or reset: the connection ends; the socket closes with the frame.
  }
}

// read_until keeps any bytes after the delimiter in `pending`, so lines that
// arrive together are all answered, each with its own write.
awaitable<void> echo_per_line(tcp::socket s, std::size_t max_line) {
  std::string pending;
  try {
    for (;;) {
      std::size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(pending, max_line),
                                                      '\n', use_awaitable);
      co_await asio::async_write(s, asio::buffer(pending.data(), n), use_awaitable);
      pending.erase(0, n);
    }
  } catch (const std::exception&) {
  }
}

awaitable<void> listen(tcp::acceptor acceptor, options opts) {
  bool per_line = opts.mode == "per-line";
  for (;;) {
    tcp::socket s = co_await acceptor.async_accept(use_awaitable);
    auto ex = s.get_executor();
    if (per_line)
      asio::co_spawn(ex, echo_per_line(std::move(s), opts.max_line), asio::detached);
    else
      asio::co_spawn(ex, echo_per_read(std::move(s), opts.buf), asio::detached);
  }
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--mode per-line|per-read] [--host H] [--port P] [--buf BYTES]\n",
               argv0);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    const char* v = argv[++i];
    if (a == "--mode")
      o.mode = v;
    else if (a == "--host")
      o.host = v;
    else if (a == "--port")
      o.port = static_cast<unsigned short>(std::atoi(v));
    else if (a == "--buf")
      o.buf = static_cast<std::size_t>(std::atol(v));
    else
      usage(argv[0]);
  }
  if ((o.mode != "per-line" && o.mode != "per-read") || o.buf == 0) usage(argv[0]);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  options opts = parse(argc, argv);
  try {
    // Concurrency hint 1: one thread runs this io_context, so Asio may
    // skip its internal locking.
    asio::io_context ctx(1);
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::make_address(opts.host), opts.port));
    acceptor.listen(4096);
    auto bound = acceptor.local_endpoint();

    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](auto, auto) { ctx.stop(); });
    asio::co_spawn(ctx, listen(std::move(acceptor), opts), asio::detached);

    std::printf("asio echo listening on %s:%u\n", bound.address().to_string().c_str(),
                static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    ctx.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
