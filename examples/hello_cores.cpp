// "Hello, world!" on every core, shared-nothing: a loop per thread, each
// with a SO_REUSEPORT listener of its own on the one port and an
// http::server of its own, as `weft hello --threads N` runs. SIGINT or
// SIGTERM stops every loop gracefully; a second signal stops them at once.
// Run: build/bin/example_hello_cores 8080 [THREADS] (default: one per core)
#include <weft/http/server.hpp>
#include <weft/net/loop_group.hpp>

#include <atomic>
#include <csignal>
#include <optional>
#include <utility>
#include <vector>

#include "example_main.hpp"

using namespace weft;

int main(int argc, char** argv) {
  return example::run_main([&] {
    std::uint16_t port = example::port_arg(argc, argv, 8080);
    int threads = example::int_arg(argc, argv, 2, 0, 0, 256, "[THREADS]: threads are");
    http::router routes;
    routes.get("/*", http::response::text("Hello, world!\n"));  // built once, as nginx's `return`
    const http::server_options opts;
    loop control;  // this thread's: it takes the signals
    loop_group group(static_cast<std::size_t>(threads));
    auto listeners = bind_reuseport(endpoint::loopback_v4(port), group.size(), {});
    endpoint at = listeners.front().local_endpoint();  // port 0: the one the kernel picked
    // After the group: each server goes before its loop, once join() has
    // destroyed that loop's green threads on its thread.
    std::vector<std::optional<http::server>> servers(group.size());
    std::atomic<std::size_t> running{group.size()};
    bool signalled = false;
    // Before start(), so that the loops' threads inherit the blocked signals.
    control.on_signals({SIGINT, SIGTERM}, [&](int) {
      if (std::exchange(signalled, true)) return control.stop();
      for (std::size_t i = 0; i < group.size(); ++i)
        group.at(i).post([&, i] {
          servers[i]->shutdown(std::chrono::seconds(5), [&] {
            if (--running == 0) control.post([&] { control.stop(); });
          });
        });
    });
    group.start(
        [&](loop& l, std::size_t i) {
          servers[i].emplace(l, std::move(listeners[i]), routes, opts);
        },
        [&] { example::say_listening(at); });
    run_until_stopped(control);  // throws nothing: servers go after the join
    group.stop();
    group.join();
  });
}
