// thread_echo: the model the green-thread write-ups argue against. One
// blocking accept loop; every connection gets its own detached thread doing
// blocking read() then write() until EOF (Apache's prefork/worker model,
// without a pool cap).
//
// Threads are created with pthread_create so the stack size can be set:
// --stack-kib 64 by default (glibc's default is 8 MiB of address space; RSS
// counts only the pages a thread touches, so the smaller stack mostly saves
// address space, not RSS). --stack-kib 0 keeps glibc's default.
//
// Prints "thread echo listening on 127.0.0.1:PORT" when ready. SIGINT and
// SIGTERM end the process with status 0.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr std::size_t buf_size = 4096;

// Echoes what each read returns with blocking writes: one write per read.
void* serve(void* arg) {
  int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
  char buf[buf_size];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = ::write(fd, buf + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) goto done;
      off += w;
    }
  }
done:
  ::close(fd);
  return nullptr;
}

extern "C" void on_stop(int) {
  _exit(0);
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--host H] [--port P] [--stack-kib K]\n", argv0);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  long stack_kib = 64;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(argv[0]);
    const char* v = argv[++i];
    if (a == "--host")
      host = v;
    else if (a == "--port")
      port = std::atoi(v);
    else if (a == "--stack-kib")
      stack_kib = std::atol(v);
    else
      usage(argv[0]);
  }

  std::signal(SIGINT, on_stop);
  std::signal(SIGTERM, on_stop);
  std::signal(SIGPIPE, SIG_IGN);

  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) usage(argv[0]);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(lfd, 4096) != 0) {
    std::perror("thread_echo: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (stack_kib > 0) pthread_attr_setstacksize(&attr, static_cast<std::size_t>(stack_kib) * 1024);

  std::printf("thread echo listening on %s:%u\n", host.c_str(),
              static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);

  bool warned = false;
  for (;;) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::perror("thread_echo: accept");
      ::usleep(10000);  // EMFILE and friends: do not spin
      continue;
    }
    pthread_t t;
    int rc =
        pthread_create(&t, &attr, serve, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
    if (rc != 0) {
      if (!warned) std::fprintf(stderr, "thread_echo: pthread_create: %s\n", std::strerror(rc));
      warned = true;
      ::close(fd);
    }
  }
}
