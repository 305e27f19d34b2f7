// run_server: the process around the `weft` subcommands' services.
#include "server.hpp"

#include <weft/core/loop.hpp>
#include <weft/core/process.hpp>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace weft::app {
namespace {

// The loop threads still running: each counts itself out as it ends.
std::atomic<int> loop_threads{0};
struct counted_out {
  ~counted_out() { --loop_threads; }
};

// Made on its loop's thread; counts the services destroyed while any loop
// thread still ran.
struct watched_service : service {
  explicit watched_service(std::atomic<int>& early) : early_(early) {
    thread_local counted_out at_exit;
    ++loop_threads;
  }
  ~watched_service() override {
    if (loop_threads != 0) ++early_;
  }
  void begin_shutdown(std::function<void()> done) override { done(); }
  std::atomic<int>& early_;
};

// A throw out of the controlling loop (here SIGUSR1's reopen; a
// std::bad_alloc in the signal handler's posts) unwinds run_server: its
// services were destroyed on that thread while their loops still ran
// them, and only then were the loops stopped (found by review).
TEST(run_server, a_throw_from_the_control_loop_stops_the_loops_before_the_services_go) {
  EXPECT_EXIT(
      {
        hold_signals({SIGINT, SIGTERM, SIGHUP, SIGUSR1});  // the kicker inherits the mask
        std::atomic<int> early{0};
        std::atomic<int> made{0};
        std::thread kicker([] {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          ::kill(::getpid(), SIGUSR1);
        });
        common_options opts;
        opts.threads = 2;
        bool thrown = false;
        try {
          run_server(
              "test", opts,
              [&](loop&, tcp_listener) {
                ++made;
                return std::make_unique<watched_service>(early);
              },
              [] { throw std::runtime_error("reopen failed"); });
        } catch (const std::runtime_error& e) {
          thrown = std::string_view(e.what()) == "reopen failed";
        }
        kicker.join();
        std::_Exit(!thrown ? 2 : made != 2 ? 3 : early == 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace weft::app
