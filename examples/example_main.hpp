#pragma once
// What the examples' main() functions share: a listener on 127.0.0.1 at
// the port given as the first argument (0: any free one), its address
// printed when it is ready, and errors said plainly. A bad port argument
// exits 2; a failure to start (the port is taken) exits 1. Before, a bad
// argument ended in std::terminate, 70000 listened on 4464, and a port in
// use aborted (found by review).
#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace example {

// A bad command line: main() says so and exits 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Argument `index` as a whole number in [min, max] (decimal digits only),
// or `fallback` when it is not given; else a usage error that says `what`.
inline int int_arg(int argc, char** argv, int index, int fallback, int min, int max,
                   const std::string& what) {
  if (argc <= index) return fallback;
  std::string_view arg = argv[index];
  int n = 0;
  auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
  if (ec != std::errc{} || end != arg.data() + arg.size() || n < min || n > max)
    throw usage_error(std::string("usage: ") + argv[0] + ": " + what + " " + std::to_string(min) +
                      " to " + std::to_string(max) + ", not '" + argv[index] + "'");
  return n;
}

// The first argument, a port (0: any free one), or `fallback`.
inline std::uint16_t port_arg(int argc, char** argv, std::uint16_t fallback) {
  return static_cast<std::uint16_t>(
      int_arg(argc, argv, 1, fallback, 0, 65535, "[PORT]: a port is"));
}

// What the tests wait for before they connect.
inline void say_listening(const weft::endpoint& at) {
  std::printf("listening on %s\n", at.to_string().c_str());
  std::fflush(stdout);
}

inline weft::tcp_listener listen_on_port_arg(int argc, char** argv, std::uint16_t fallback) {
  auto listener =
      weft::tcp_listener::bind(weft::endpoint::loopback_v4(port_arg(argc, argv, fallback)));
  say_listening(listener.local_endpoint());
  return listener;
}

// Whole seconds, 1 to 86400, given as argument `index`, or `fallback`.
inline std::chrono::seconds seconds_arg(int argc, char** argv, int index, int fallback) {
  return std::chrono::seconds(int_arg(argc, argv, index, fallback, 1, 86400, "seconds are"));
}

// Runs `body`, main()'s work; what it throws is said, and the status is 2
// for a usage error, else 1.
template <class Body>
int run_main(Body body) {
  try {
    body();
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

// An HTTP server of `routes` on one loop until SIGINT or SIGTERM, at the
// port given as the first argument or `fallback`; main()'s status. The
// signal stops it gracefully (http::server::shutdown): requests in flight
// get 5 s to finish, and idle keep-alive connections are closed; a second
// signal stops it at once. The signals are taken before the `listening on`
// line, so a client that signals as soon as it reads it is heard.
inline int serve_http(int argc, char** argv, std::uint16_t fallback,
                      const weft::http::router& routes) {
  using namespace weft;
  return run_main([&] {
    const http::server_options defaults;  // shared by every connection, as the router is
    loop l;  // after them: ~loop destroys what green threads are left, before they go
    std::optional<http::server> srv;
    bool signalled = false;
    l.on_signals({SIGINT, SIGTERM}, [&](int) {
      if (std::exchange(signalled, true)) return l.stop();  // srv is made before l runs
      srv->shutdown(std::chrono::seconds(5), [&] { l.stop(); });
    });
    srv.emplace(l, listen_on_port_arg(argc, argv, fallback), routes, defaults);
    weft::run_until_stopped(l);
    l.destroy_green_threads();  // they refer to the server, which goes first
  });
}

}  // namespace example
