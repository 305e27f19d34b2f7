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
#include <limits>
#include <list>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "example_main.hpp"

using namespace weft;

using line_ptr = std::shared_ptr<const std::string>;  // one copy, however many hear it

// The outbox is bounded by the bytes it holds, not by its lines: each
// reader passes on the lines it has in one loop turn, before any writer
// runs, so 600 clients saying one line each at once put 599 in every
// outbox, and a bound of 256 lines dropped clients that kept up (found by
// review). A client that holds 1 MiB unwritten is one that stopped reading.
// A line costs its bytes and what holds it: its shared string's block and
// its slot in the outbox (counted by bytes alone, 1 MiB of outbox held 8
// MiB of empty lines, found by review).
constexpr std::size_t outbox_bytes = std::size_t{1} << 20;
constexpr std::size_t line_overhead = 96;
std::size_t cost(const line_ptr& line) {
  return line->size() + line_overhead;
}

struct participant {
  tcp_stream stream;
  channel<line_ptr> outbox{std::numeric_limits<std::size_t>::max()};
  std::size_t queued = 0;  // cost of the lines in the outbox and in the write under way
};
std::list<participant*> room;  // loop thread only

task<void> deliver(participant* p) {
  try {
    while (auto line = co_await p->outbox.receive()) {
      // With every line that came meanwhile, in one write. Made anew each
      // time: kept, it held the 64 KiB of its largest batch for good.
      std::string batch = **line;
      std::size_t costs = cost(*line);
      while (batch.size() < 64 * 1024)
        if (auto more = p->outbox.try_receive()) {
          batch += **more;
          costs += cost(*more);
        } else {
          break;
        }
      co_await p->stream.write_all(batch);
      p->queued -= costs;
    }
  } catch (const std::system_error&) {  // the client is gone, or we closed it
  }
}

task<void> serve(loop& l, tcp_stream client) {
  participant me{std::move(client)};
  task_group writer;  // in this frame, and waited for: it uses `me`
  writer.spawn(l, deliver(&me), "deliver");
  auto place = room.insert(room.end(), &me);
  static const line_ptr welcome = std::make_shared<const std::string>("welcome\n");
  me.queued = cost(welcome);
  me.outbox.try_send(welcome);  // through the writer: one write at a time
  try {
    for (;;) {
      std::string_view line = co_await me.stream.read_until('\n', 4096);
      // A line cut short by the hang-up is dropped: sent on, it ran into
      // the next one everybody heard (found by review).
      if (line.empty() || line.back() != '\n') break;
      // One too slow for its outbox is dropped with a reset: a FIN after
      // the line its writer was cut off in made what it had look whole.
      auto shared = std::make_shared<const std::string>(line);
      for (participant* p : room) {
        if (p == &me) continue;
        if (p->queued + cost(shared) > outbox_bytes) {
          p->stream.abort();
        } else if (p->outbox.try_send(shared)) {
          p->queued += cost(shared);
        }
      }
    }
  } catch (...) {
    // A reset, a line too long, dropped as too slow, or out of memory: this
    // client goes, and the others stay. Only after leaving the room and
    // waiting for the writer may the frame go: they point at `me` (a
    // bad_alloc let it go first, and the next line was written into it).
  }
  room.erase(place);
  me.stream.close();  // ends a write in progress
  me.outbox.close();
  co_await writer.wait();
}

task<void> accept_loop(loop& l, tcp_listener listener) {
  for (;;) {
    tcp_stream client = co_await listener.accept();
    try {
      spawn_n(l, serve(l, std::move(client)), "client");
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
    spawn_n(l, accept_loop(l, example::listen_on_port_arg(argc, argv, 7001)), "accept");
    run_until_stopped(l);
  });
}
