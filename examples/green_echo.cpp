// A complete echo server in green threads: one loop, one task per client.
// Run: build/bin/example_green_echo 7000, then: nc 127.0.0.1 7000
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <csignal>
#include <cstdio>
#include <string>

using namespace weft;

// Parameters by value: the stream lives in this green thread's frame.
task<void> serve(tcp_stream client) {
  for (;;) {
    std::string_view line = co_await client.read_until('\n', 64 * 1024);
    if (line.empty()) co_return;  // the client hung up
    co_await client.write(line);  // batched: flushed before the next read waits
  }
}

task<void> accept_loop(loop& l, tcp_listener listener) {
  for (;;) spawn_n(l, serve(co_await listener.accept()), "client");
}

int main(int argc, char** argv) {
  uint16_t port = argc > 1 ? static_cast<uint16_t>(std::stoi(argv[1])) : 7000;
  loop l;
  l.on_signals({SIGINT, SIGTERM}, [&](int) { l.stop(); });
  auto listener = tcp_listener::bind(endpoint::loopback_v4(port));
  std::printf("listening on %s\n", listener.local_endpoint().to_string().c_str());
  std::fflush(stdout);
  spawn(l, accept_loop(l, std::move(listener)), "accept");
  l.run();
}
