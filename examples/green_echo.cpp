// A complete echo server in green threads: one loop, one task per client.
// Run: build/bin/example_green_echo 7000, then: nc 127.0.0.1 7000
#include <weft/net/errors.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <csignal>
#include <cstdio>
#include <new>
#include <string>
#include <utility>

#include "example_main.hpp"

using namespace weft;

// Parameters by value: the stream lives in this green thread's frame.
task<void> serve(tcp_stream client) {
  try {
    for (;;) {
      std::string_view line = co_await client.read_until('\n', 64 * 1024);
      if (line.empty()) co_return;  // the client hung up
      co_await client.write(line);  // batched: flushed before the next read waits
    }
  } catch (const std::system_error& e) {
    if (e.code() != net_errc::line_too_long) co_return;  // a reset: the client is gone
  }
  // A word before the close. linger_close sends it, reads what the client
  // still sends, and never throws: closed with unread bytes, the socket sent
  // a reset that could destroy the word before it was read.
  co_await client.write("error: line too long\n");
  co_await client.linger_close();
}

task<void> accept_loop(loop& l, tcp_listener listener) {
  for (;;) {
    tcp_stream client = co_await listener.accept();
    try {
      spawn_n(l, serve(std::move(client)), "client");
    } catch (const std::bad_alloc&) {
      // No memory for its frame: that client goes, and the accepting goes
      // on (thrown on, it ended this task, whose frame holds the listener).
    }
  }
}

int main(int argc, char** argv) {
  return example::run_main([&] {
    loop l;
    l.on_signals({SIGINT, SIGTERM}, [&](int) { l.stop(); });
    spawn(l, accept_loop(l, example::listen_on_port_arg(argc, argv, 7000)), "accept");
    run_until_stopped(l);
  });
}
