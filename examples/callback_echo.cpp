// The echo server with callbacks, as the epoll write-ups' Loop and Server
// classes do it: a tcp_acceptor hands over each new socket, and an
// io_watcher calls its connection's handler when the socket is ready.
// Level-triggered, so a read that leaves bytes behind is called again.
// What the client cannot take yet waits in the connection's buffer, and
// reading pauses while that holds 1 MiB: a client that sends but never
// reads cannot make it grow without end. A connection that moves no byte
// either way for the idle timeout (60 s, or the second argument) is closed:
// without one, a client that stopped reading held its 1 MiB for good.
// Run: build/bin/example_callback_echo 7001, then: nc 127.0.0.1 7001
#include <weft/core/fd_io.hpp>
#include <weft/core/io_watcher.hpp>
#include <weft/net/tcp_acceptor.hpp>

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "example_main.hpp"

using namespace weft;

class connection {
 public:
  connection(loop& l, unique_fd fd, std::function<void(connection*)> closed)
      : loop_(l),
        fd_(std::move(fd)),
        closed_(std::move(closed)),
        watcher_(l, fd_.get(), io::readable, [this](std::uint32_t events) { on_ready(events); }),
        moved_(l.now()) {}

  // Closes it if no byte has moved since `t`, unless the client is taking
  // what the kernel holds for it (its socket shows room only once a third
  // of its buffer is free): with a reset if echoes are owed, so that the
  // client does not take what it had for all of them.
  void close_if_idle_since(time_point t) {
    if (!fd_ || moved_ >= t) return;
    peer_intake seen = look_at_intake(fd_.get(), unacked_);
    if (seen == peer_intake::taking) {
      moved_ = loop_.now();
      return;
    }
    if (!owed_.empty() || seen == peer_intake::stalled) reset_when_closed(fd_.get());
    close();
  }

 private:
  static constexpr std::size_t max_owed = 1 << 20;

  void on_ready(std::uint32_t events) {
    if (events & io::readable) read();
    if (fd_) write();
  }
  void read() {
    char buf[16 * 1024];
    io_result r = read_some(fd_.get(), buf, sizeof buf);
    if (r.would_block()) return;
    if (r.failed()) return close();  // a reset: the client is gone
    moved_ = loop_.now();
    if (r.eof())
      hung_up_ = true;  // what is owed still goes, then the close
    else
      owed_.append(buf, r.bytes);
  }
  void write() {
    while (!owed_.empty()) {
      io_result r = write_some(fd_.get(), owed_.data(), owed_.size());
      if (r.would_block()) break;
      if (r.failed()) return close();
      moved_ = loop_.now();
      owed_.erase(0, r.bytes);
    }
    if (hung_up_ && owed_.empty()) return close();
    // Interest as it is now: writability only while something is owed (a
    // level-triggered socket is nearly always writable), input only while
    // the buffer has room.
    bool room = !hung_up_ && owed_.size() < max_owed;
    watcher_.set_events((room ? io::readable : 0u) | (owed_.empty() ? 0u : io::writable));
  }
  void close() {
    watcher_.stop();
    fd_.reset();
    closed_(this);
  }

  loop& loop_;
  unique_fd fd_;
  std::function<void(connection*)> closed_;
  io_watcher watcher_;
  std::string owed_;
  time_point moved_;                // when a byte last came or went
  std::size_t unacked_ = SIZE_MAX;  // what the kernel held for the client at the last look
  bool hung_up_ = false;
};

class echo_server {
 public:
  echo_server(loop& l, tcp_listener listener, duration idle)
      : loop_(l),
        acceptor_(l, std::move(listener), [this](unique_fd fd) { add(std::move(fd)); }),
        // One timer for them all, as muduo's idle connections share a wheel:
        // a connection is closed one to one and a quarter timeouts after it
        // last moved a byte.
        sweep_(l.run_every(idle / 4, [this, idle] {
          for (auto& [key, c] : connections_) c->close_if_idle_since(loop_.now() - idle);
        })) {}
  ~echo_server() { loop_.cancel(sweep_); }

 private:
  void add(unique_fd fd) {
    auto c = std::make_unique<connection>(loop_, std::move(fd), [this](connection* gone) {
      // Freed later, on the loop's ready phase, never inside its own callback.
      loop_.defer([this, gone] { connections_.erase(gone); });
    });
    connection* key = c.get();
    connections_.emplace(key, std::move(c));
  }

  loop& loop_;
  std::unordered_map<connection*, std::unique_ptr<connection>> connections_;
  tcp_acceptor acceptor_;
  timer_id sweep_;
};

int main(int argc, char** argv) {
  return example::run_main([&] {
    loop l;
    l.on_signals({SIGINT, SIGTERM}, [&](int) { l.stop(); });
    duration idle = example::seconds_arg(argc, argv, 2, 60);  // the idle timeout
    echo_server server(l, example::listen_on_port_arg(argc, argv, 7001), idle);
    run_until_stopped(l);
  });
}
