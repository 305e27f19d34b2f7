#include "sys/linux/syscalls.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

namespace weft::sys {
namespace {
template <class T>
result<T> from(T value, bool failed) {
  return failed ? result<T>{T{}, errno} : result<T>{value, 0};
}
status from_rc(int rc) {
  return {rc < 0 ? errno : 0};
}

// glibc's read, send, sendmsg and epoll_wait are pthread cancellation
// points: each call switches the thread's cancel state with two atomic
// operations. weft never cancels threads, and in the keep-alive HTTP
// benchmark those atomics took 1.6% of the server's CPU (perf record, in
// commit 0cf9231). syscall(2) makes the same system call without them.
// Every argument travels as a long, as the kernel reads it (an int through
// varargs would leave the register's upper half undefined).
template <class T>
long as_arg(T v) noexcept {
  if constexpr (std::is_null_pointer_v<T>)
    return 0;
  else if constexpr (std::is_pointer_v<T>)
    return reinterpret_cast<long>(v);
  else
    return static_cast<long>(v);
}
template <class... A>
ssize_t direct(long number, A... args) noexcept {
  return static_cast<ssize_t>(::syscall(number, as_arg(args)...));
}
}  // namespace

result<int> epoll_create() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  return from(fd, fd < 0);
}

status epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = data;
  return from_rc(::epoll_ctl(epfd, op, fd, &ev));
}

result<int> epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms) {
  // epoll_pwait with no mask is epoll_wait, and exists on every architecture.
  int n = static_cast<int>(direct(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, 0));
  return from(n, n < 0);
}

result<int> eventfd_create() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return from(fd, fd < 0);
}

status eventfd_signal(int fd) {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: the loop is already woken.
  ssize_t n = ::write(fd, &one, sizeof one);
  return {n < 0 && errno != EAGAIN ? errno : 0};
}

void eventfd_drain(int fd) {
  // One read returns and resets the whole counter; a second would only
  // say EAGAIN.
  uint64_t value;
  [[maybe_unused]] ssize_t n = ::read(fd, &value, sizeof value);
}

status block_signals(const sigset_t& set) {
  return {::pthread_sigmask(SIG_BLOCK, &set, nullptr)};
}

status unblock_signals(const sigset_t& set) {
  return {::pthread_sigmask(SIG_UNBLOCK, &set, nullptr)};
}

int take_pending_signal(const sigset_t& set) noexcept {
  const timespec now{0, 0};
  int sig;
  do sig = ::sigtimedwait(&set, nullptr, &now);
  while (sig < 0 && errno == EINTR);
  return sig > 0 ? sig : 0;  // EAGAIN: none
}

bool any_signal_pending(const sigset_t& set) noexcept {
  sigset_t pending;
  sigemptyset(&pending);
  if (::sigpending(&pending) != 0) return false;
  for (int s = 1; s < NSIG; ++s)
    if (sigismember(&set, s) == 1 && sigismember(&pending, s) == 1) return true;
  return false;
}

sigset_t blocked_signals() noexcept {
  sigset_t now;
  sigemptyset(&now);
  (void)::pthread_sigmask(SIG_SETMASK, nullptr, &now);
  return now;
}

result<int> signalfd_create(const sigset_t& set) {
  int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  return from(fd, fd < 0);
}

result<int> signalfd_read(int fd) {
  signalfd_siginfo info{};
  ssize_t n = ::read(fd, &info, sizeof info);
  if (n != static_cast<ssize_t>(sizeof info)) return {0, n < 0 ? errno : EAGAIN};
  return {static_cast<int>(info.ssi_signo), 0};
}

result<int> socket_tcp(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return from(fd, fd < 0);
}

status set_int_option(int fd, int level, int name, int value) {
  return from_rc(::setsockopt(fd, level, name, &value, sizeof value));
}

result<int> unacked_bytes(int fd) {
  // Only for a stream socket: SIOCOUTQ is TIOCOUTQ, which a terminal
  // answers with its output queue (found by review).
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return {0, errno};
  if (type != SOCK_STREAM) return {0, ENOTSOCK};
  int n = 0;
  int rc = ::ioctl(fd, SIOCOUTQ, &n);
  return from(n, rc < 0);
}

status set_linger_zero(int fd) {
  linger l{1, 0};
  return from_rc(::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l));
}

result<int> get_int_option(int fd, int level, int name) {
  int value = 0;
  socklen_t len = sizeof value;
  int rc = ::getsockopt(fd, level, name, &value, &len);
  return from(value, rc < 0);
}

status bind(int fd, const sockaddr* addr, socklen_t len) {
  return from_rc(::bind(fd, addr, len));
}
status listen(int fd, int backlog) {
  return from_rc(::listen(fd, backlog));
}

result<int> accept(int fd) {
  int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return from(c, c < 0);
}

status connect(int fd, const sockaddr* addr, socklen_t len) {
  int rc;
  do rc = ::connect(fd, addr, len);
  while (rc < 0 && errno == EINTR);
  return from_rc(rc);
}

status local_address(int fd, sockaddr_storage& out, socklen_t& len) {
  len = sizeof out;
  return from_rc(::getsockname(fd, reinterpret_cast<sockaddr*>(&out), &len));
}

status peer_address(int fd, sockaddr_storage& out, socklen_t& len) {
  len = sizeof out;
  return from_rc(::getpeername(fd, reinterpret_cast<sockaddr*>(&out), &len));
}

result<size_t> read(int fd, void* buf, size_t len) {
  ssize_t n;
  do n = direct(SYS_read, fd, buf, len);
  while (n < 0 && errno == EINTR);
  return from(static_cast<size_t>(n), n < 0);
}

result<size_t> peek(int fd, void* buf, size_t len) {
  ssize_t n;
  do n = ::recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return from(static_cast<size_t>(n), n < 0);
}

result<size_t> send(int fd, const void* buf, size_t len, bool more) {
  ssize_t n;
  int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
  do n = direct(SYS_sendto, fd, buf, len, flags, nullptr, 0);
  while (n < 0 && errno == EINTR);
  return from(static_cast<size_t>(n), n < 0);
}

result<size_t> sendv(int fd, const iovec* iov, int count) {
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(iov);
  msg.msg_iovlen = static_cast<size_t>(count);
  ssize_t n;
  do n = direct(SYS_sendmsg, fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return from(static_cast<size_t>(n), n < 0);
}

// sendfile(2) and write(2) have no MSG_NOSIGNAL: a socket whose peer is
// gone, or a pipe whose reader is, makes them fail with EPIPE and raise
// SIGPIPE, whose default action kills the process (a vanished download
// client took a whole `weft files` down with exit 141, and so did an
// access log piped into `head -1`). A library must not change the
// process's disposition, so SIGPIPE is blocked for this thread around the
// call, and one it raised is taken back with a zero-timeout sigtimedwait
// before the mask is restored.
//
// The kernel moves a file in 64 KiB batches; when the peer's reset lands
// between two of them, sendfile raises SIGPIPE and still returns the bytes
// moved so far. strace of `weft files` dying under wrk showed
// `sendfile(16, 12, [0] => [65536], 524288) = 65536` then SIGPIPE on the
// unblock. So every short or failed call is checked, not only EPIPE. A call
// that moved everything met no error and raised nothing. The cost is two
// or three cheap syscalls per call (a slice of up to 512 KiB, a log line).
namespace {
// Set once the program has SIGPIPE ignored (weft::ignore_sigpipe): a call
// then needs no mask. Relaxed: it is set before the loops' threads start.
std::atomic<bool> sigpipe_ignored{false};

template <class F>
ssize_t without_sigpipe(size_t count, F call) {
  if (sigpipe_ignored.load(std::memory_order_relaxed)) {
    ssize_t n;
    do n = call();
    while (n < 0 && errno == EINTR);
    return n;
  }
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n;
  do n = call();
  while (n < 0 && errno == EINTR);
  int err = errno;
  // Only when SIGPIPE was ours to block: a caller that blocks it may have
  // one pending of its own, which is not ours to take, and one we raised
  // then stays pending and blocked, which is what that caller asked for.
  if (!sigismember(&old, SIGPIPE) && (n < 0 || static_cast<size_t>(n) < count)) {
    const timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  if (!sigismember(&old, SIGPIPE)) pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}
}  // namespace

bool ignore_sigpipe() noexcept {
  struct ::sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (::sigaction(SIGPIPE, &ignore, nullptr) != 0) return false;
  sigpipe_ignored.store(true, std::memory_order_relaxed);
  return true;
}

bool open_standard_descriptors() noexcept {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    // open(2) takes the lowest free number, this one. Inherited on
    // purpose (no O_CLOEXEC): they are the standard descriptors.
    int got = ::open("/dev/null", O_RDWR);  // NOLINT(android-cloexec-open)
    if (got != fd) {
      if (got >= 0) ::close(got);
      return false;
    }
  }
  return true;
}

result<size_t> sendfile(int out_fd, int in_fd, uint64_t* offset, size_t count) {
  off_t off = static_cast<off_t>(*offset);
  ssize_t n = without_sigpipe(count, [&] { return ::sendfile(out_fd, in_fd, &off, count); });
  if (n > 0) *offset = static_cast<uint64_t>(off);
  return from(static_cast<size_t>(n), n < 0);
}

namespace {
// write(2) that never raises SIGPIPE: a pipe or FIFO whose reader has gone
// fails with EPIPE instead, as a socket does under MSG_NOSIGNAL.
result<size_t> write_nosignal(int fd, const void* buf, size_t len) {
  ssize_t n = without_sigpipe(len, [&] { return ::write(fd, buf, len); });
  return from(static_cast<size_t>(n), n < 0);
}

// RWF_NOWAIT makes the one write not wait (pipes since Linux 5.x); an
// older kernel refuses it (EOPNOTSUPP), and poll with no timeout stands
// in: a pipe that polls writable has a free slot, which a write of up to
// PIPE_BUF bytes fits. A terminal comes here only where it cannot be
// written otherwise (write_terminal_nowait), and may then wait.
result<size_t> write_pipe_nowait(int fd, const void* buf, size_t len) {
  iovec iov{const_cast<void*>(buf), len};
  ssize_t n = without_sigpipe(len, [&] { return ::pwritev2(fd, &iov, 1, -1, RWF_NOWAIT); });
  if (n >= 0 || (errno != EOPNOTSUPP && errno != EINVAL))
    return from(static_cast<size_t>(n), n < 0);
  pollfd p{fd, POLLOUT, 0};
  int ready;
  do ready = ::poll(&p, 1, 0);
  while (ready < 0 && errno == EINTR);
  if (ready < 0) return from(size_t{0}, true);
  if (ready == 0) return {0, EAGAIN};
  return write_nosignal(fd, buf, len);  // room, or an error (a reader gone) the write reports
}

// A terminal refuses RWF_NOWAIT, and poll says it is writable at one byte
// of room, so a longer write waited for its reader: a terminal nobody read
// (a stalled ssh session) held the loop until SIGKILL (found by review).
// It is written through a description of its own, opened non-blocking
// through /proc/self/fd (as libuv's uv_tty_init reopens a tty), so the
// shared one keeps its mode; one per terminal, kept open for the process's
// life (a terminal's reader sees no end of file that it could delay). Where
// that open fails (no /proc), as a pipe.
result<size_t> write_terminal_nowait(int fd, const void* buf, size_t len) {
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) return from(size_t{0}, true);
  static std::mutex opened_mutex;
  static std::array<std::pair<dev_t, int>, 4> opened{};  // a terminal, its own descriptor
  static std::size_t count = 0;
  int own = -1;
  {
    std::lock_guard lock(opened_mutex);
    for (std::size_t i = 0; i < count && own < 0; ++i)
      if (opened[i].first == st.st_rdev) own = opened[i].second;
    if (own < 0 && count < opened.size()) {
      auto r = reopen(fd, O_WRONLY | O_NONBLOCK | O_NOCTTY);
      struct ::stat again {};
      if (r.ok() && ::fstat(r.value, &again) == 0 && again.st_rdev == st.st_rdev)
        opened[count++] = {st.st_rdev, own = r.value};
      else if (r.ok())
        ::close(r.value);
    }
  }
  return own < 0 ? write_pipe_nowait(fd, buf, len) : write_nosignal(own, buf, len);
}
}  // namespace

sink_kind sink_kind_of(int fd) noexcept {
  struct ::stat st {};
  if (::fstat(fd, &st) != 0) return sink_kind::file;  // a bad fd: the write will say so
  if (S_ISSOCK(st.st_mode)) return sink_kind::socket;
  if (S_ISCHR(st.st_mode) && ::isatty(fd) == 1) return sink_kind::terminal;
  return S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) ? sink_kind::pipe : sink_kind::file;
}

result<size_t> write_sink(int fd, sink_kind kind, const void* buf, size_t len) {
  ssize_t n;
  switch (kind) {
    case sink_kind::socket:
      do n = ::send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
      while (n < 0 && errno == EINTR);
      return from(static_cast<size_t>(n), n < 0);
    case sink_kind::pipe:
      return write_pipe_nowait(fd, buf, len);
    case sink_kind::terminal:
      return write_terminal_nowait(fd, buf, len);
    case sink_kind::file:
      break;
  }
  do n = ::write(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return from(static_cast<size_t>(n), n < 0);
}

bool wait_writable(int fd, int timeout_ms) noexcept {
  pollfd p{fd, POLLOUT, 0};
  int ready = ::poll(&p, 1, timeout_ms);
  return ready != 0;  // an EINTR says nothing: the caller looks again
}

result<int> openat_beneath(int dirfd, const char* path, int flags, bool no_symlinks) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0);
  ssize_t fd;
  do fd = direct(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return from(static_cast<int>(fd), fd < 0);
}

result<int> openat(int dirfd, const char* path, int flags) {
  int fd;
  do fd = ::openat(dirfd, path, flags | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return from(fd, fd < 0);
}

namespace {
// "/proc/self/fd/N": the name the kernel gives an open descriptor (a magic
// link to its file, followed without a second lookup of the file's name).
struct proc_fd_name {
  char text[32];
  explicit proc_fd_name(int fd) noexcept {
    std::snprintf(text, sizeof text, "/proc/self/fd/%d", fd);
  }
};
}  // namespace

result<int> reopen(int fd, int flags) {
  return openat(AT_FDCWD, proc_fd_name(fd).text, flags);
}

result<int> open_append(const char* path) {
  int fd;
  do fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0666);
  while (fd < 0 && errno == EINTR);
  return from(fd, fd < 0);
}

status dup_over(int from, int to) {
  int rc;
  do rc = ::dup3(from, to, O_CLOEXEC);
  while (rc < 0 && errno == EINTR);
  return from_rc(rc);
}

result<size_t> readlinkat(int dirfd, const char* path, char* buf, size_t len) {
  ssize_t n = ::readlinkat(dirfd, path, buf, len);
  return from(static_cast<size_t>(n), n < 0);
}

result<size_t> fd_path(int fd, char* buf, size_t len) {
  return readlinkat(AT_FDCWD, proc_fd_name(fd).text, buf, len);
}

status fstat(int fd, struct ::stat& st) {
  return from_rc(::fstat(fd, &st));
}

status fstatat(int dirfd, const char* path, struct ::stat& st, int flags) {
  return from_rc(::fstatat(dirfd, path, &st, flags));
}

result<size_t> pread(int fd, void* buf, size_t len, uint64_t offset) {
  ssize_t n;
  do n = ::pread(fd, buf, len, static_cast<off_t>(offset));
  while (n < 0 && errno == EINTR);
  return from(static_cast<size_t>(n), n < 0);
}

result<size_t> getdents(int fd, void* buf, size_t len) {
  ssize_t n = direct(SYS_getdents64, fd, buf, len);
  return from(static_cast<size_t>(n), n < 0);
}

status shutdown(int fd, int how) {
  return from_rc(::shutdown(fd, how));
}

// close(2) on Linux releases the descriptor even when it reports EINTR, so
// retrying would risk closing a descriptor another thread just received.
void close(int fd) {
  ::close(fd);
}

result<void*> map_pages(size_t len) {
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  // EINVAL where the kernel has no transparent huge pages: nothing to undo.
  if (p != MAP_FAILED) ::madvise(p, len, MADV_NOHUGEPAGE);
  return from(p, p == MAP_FAILED);
}

result<void*> remap_pages(void* p, size_t old_len, size_t new_len) {
  void* q = ::mremap(p, old_len, new_len, MREMAP_MAYMOVE);
  return from(q, q == MAP_FAILED);
}

void unmap_pages(void* p, size_t len) noexcept {
  ::munmap(p, len);
}

// A message never waits for stderr's reader, nor raises SIGPIPE: stderr is
// often where the access log goes too (2>&1, a terminal, journald), and a
// reader that stopped would stop the loop that warns, signals and all.
// What it does not take now is dropped. Nothing is kept between messages
// (no descriptor, no lock): fd 2 may be pointed elsewhere at any time, or
// the process forked. A message that went in part (a terminal) is ended
// by the next one, which starts on a line of its own.
void write_stderr(const char* data, size_t len) noexcept {
  static std::atomic<bool> torn{false};
  sink_kind kind = sink_kind_of(2);
  if (torn.exchange(false, std::memory_order_relaxed)) [[maybe_unused]]
    auto nl = write_sink(2, kind, "\n", 1);
  auto r = write_sink(2, kind, data, len);
  if (r.ok() && r.value > 0 && r.value < len) torn.store(true, std::memory_order_relaxed);
}

int somaxconn() {
  int value = 4096;
  if (FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "re")) {
    if (std::fscanf(f, "%d", &value) != 1) value = 4096;
    std::fclose(f);
  }
  return value;
}

std::uint64_t raise_nofile_limit() noexcept {
  ::rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    ::rlimit raised{lim.rlim_max, lim.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur;
}

std::uint64_t nofile_limit() noexcept {
  ::rlimit lim{};
  return ::getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : 1024;
}

int cpu_count() {
  // The CPUs this process may run on: under `taskset -c 0`, one, where
  // hardware_concurrency() counts the machine's.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace weft::sys
