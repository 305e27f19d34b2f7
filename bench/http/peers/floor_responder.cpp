// floor_responder: the floor for `weft hello` (bench/http/run.sh). A bare
// single-threaded epoll loop that does no HTTP parsing at all: for each read it
// counts the "\r\n\r\n" sequences (a terminator split across two reads still
// counts once) and answers with that many canned responses in one write. It
// never closes a connection itself, so it only takes part in the keep-alive
// and pipelined loads. No weft code.
//
// Prints "floor listening on 127.0.0.1:PORT" when ready (--port 0 picks a free
// port). SIGINT/SIGTERM end it with status 0.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "canned_response.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t stop = 0;
void on_signal(int) {
  stop = 1;
}

struct conn {
  int match = 0;        // how much of "\r\n\r\n" the previous read ended with
  std::string pending;  // responses a short write left unsent
};

// Counts "\r\n\r\n" in data, continuing the partial match `state`.
std::size_t count_terminators(const char* p, std::size_t n, int& state) {
  static constexpr char pat[] = "\r\n\r\n";
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c == pat[state]) {
      if (++state == 4) {
        ++count;
        state = 0;
      }
    } else {
      state = c == '\r' ? 1 : 0;
    }
  }
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  const char* host = "127.0.0.1";
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
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 ||
      bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 4096) != 0) {
    std::perror("floor_responder: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

  const std::string response = canned_response();
  std::vector<conn> conns(1024);
  std::vector<char> buf(64 * 1024);
  std::string out;
  epoll_event events[256];

  std::printf("floor listening on %s:%u\n", host, static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);

  auto close_conn = [&](int fd) {
    conns[static_cast<std::size_t>(fd)] = conn{};
    close(fd);  // also removes it from the epoll set
  };

  while (!stop) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("floor_responder: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (static_cast<std::size_t>(c) >= conns.size())
            conns.resize(static_cast<std::size_t>(c) * 2);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      conn& c = conns[static_cast<std::size_t>(fd)];
      if (events[i].events & EPOLLOUT) {  // finishing a short write
        ssize_t w = write(fd, c.pending.data(), c.pending.size());
        if (w < 0 && errno != EAGAIN) {
          close_conn(fd);
          continue;
        }
        if (w > 0) c.pending.erase(0, static_cast<std::size_t>(w));
        if (c.pending.empty()) {
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = fd;
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf.data(), buf.size());
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        close_conn(fd);
        continue;
      }
      std::size_t k = count_terminators(buf.data(), static_cast<std::size_t>(r), c.match);
      if (k == 0) continue;
      out.clear();
      for (std::size_t j = 0; j < k; ++j) out += response;
      if (!c.pending.empty()) {  // still blocked: queue behind what is left
        c.pending += out;
        continue;
      }
      ssize_t w = write(fd, out.data(), out.size());
      if (w < 0 && errno != EAGAIN) {
        close_conn(fd);
        continue;
      }
      std::size_t done = w > 0 ? static_cast<std::size_t>(w) : 0;
      if (done < out.size()) {
        c.pending.assign(out, done, std::string::npos);
        epoll_event cev{};
        cev.events = EPOLLOUT;
        cev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
  return 0;
}
