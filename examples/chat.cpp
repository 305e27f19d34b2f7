// Eventlet's chat server in green threads: each client's task reads its
// lines and hands them to the others. A second task per client writes what
// the others said, on the same stream, so a slow reader holds up no one: its
// outbox is bounded, and a client whose outbox is full is dropped.
// Run: build/bin/example_chat 7001, then in several terminals: nc 127.0.0.1 7001
#include <weft/net/tcp_listener.hpp>
#include <weft/task/channel.hpp>
#include <weft/task/spawn.hpp>
#include <weft/task/task_group.hpp>

#include <csignal>
#include <cstdio>
#include <list>
#include <string>

using namespace weft;

struct participant {
  tcp_stream stream;
  channel<std::string> outbox{256};
};
std::list<participant*> room;  // loop thread only

task<void> deliver(participant* p) {
  try {
    while (auto line = co_await p->outbox.receive()) co_await p->stream.write_all(*line);
  } catch (const std::system_error&) {  // the client is gone, or we closed it
  }
}

task<void> serve(loop& l, tcp_stream client) {
  participant me{std::move(client)};
  task_group writer;  // in this frame, and waited for: it uses `me`
  writer.spawn(l, deliver(&me), "deliver");
  auto place = room.insert(room.end(), &me);
  me.outbox.try_send("welcome\n");  // through the writer: one write at a time
  try {
    for (;;) {
      std::string_view line = co_await me.stream.read_until('\n', 4096);
      if (line.empty()) break;  // the client hung up
      for (participant* p : room)
        if (p != &me && !p->outbox.try_send(std::string(line))) p->stream.close();
    }
  } catch (const std::system_error&) {  // reset, a line too long, or dropped as too slow
  }
  room.erase(place);
  me.stream.close();  // ends a write in progress
  me.outbox.close();
  co_await writer.wait();
}

task<void> accept_loop(loop& l, tcp_listener listener) {
  for (;;) spawn_n(l, serve(l, co_await listener.accept()), "client");
}

int main(int argc, char** argv) {
  uint16_t port = argc > 1 ? static_cast<uint16_t>(std::stoi(argv[1])) : 7001;
  loop l;
  l.on_signals({SIGINT, SIGTERM}, [&](int) { l.stop(); });
  auto listener = tcp_listener::bind(endpoint::loopback_v4(port));
  std::printf("listening on %s\n", listener.local_endpoint().to_string().c_str());
  std::fflush(stdout);
  spawn_n(l, accept_loop(l, std::move(listener)), "accept");
  l.run();
}
