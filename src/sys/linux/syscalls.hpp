#pragma once
// The syscall edge. Every raw Linux syscall weft makes is declared here and
// defined in syscalls.cpp; nothing else in the tree calls the kernel directly.
// Results are values: `err` holds the errno (0 on success). EAGAIN is an
// ordinary outcome here, because non-blocking code meets it all the time.
//
// Thread-safety: these are free functions over fds; safe from any thread.

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace weft::sys {

template <class T>
struct [[nodiscard]] result {
  T value{};
  int err = 0;
  bool ok() const { return err == 0; }
  bool would_block() const { return err == EAGAIN || err == EWOULDBLOCK; }
  std::error_code error() const { return {err, std::system_category()}; }
};

struct [[nodiscard]] status {
  int err = 0;
  bool ok() const { return err == 0; }
  std::error_code error() const { return {err, std::system_category()}; }
};

// epoll
result<int> epoll_create();
status epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
result<int> epoll_wait(int epfd, epoll_event* events, int max, int timeout_ms);

// eventfd: the loop's cross-thread doorbell.
result<int> eventfd_create();
status eventfd_signal(int fd);
void eventfd_drain(int fd);

// signalfd: signals become readable events instead of async handlers.
status block_signals(const sigset_t& set);
status unblock_signals(const sigset_t& set);
// Takes one signal of `set` pending for the calling thread (or its
// process) without acting on it, and returns its number; 0 when none is:
// for signals about to be unblocked, whose default action would otherwise
// run at once.
int take_pending_signal(const sigset_t& set) noexcept;
// Whether one of `set` is pending for the calling thread (or its process).
bool any_signal_pending(const sigset_t& set) noexcept;
sigset_t blocked_signals() noexcept;  // the calling thread's mask
result<int> signalfd_create(const sigset_t& set);
result<int> signalfd_read(int fd);  // value: the signal number

// sockets
result<int> socket_tcp(int family);
status set_int_option(int fd, int level, int name, int value);
result<int> get_int_option(int fd, int level, int name);
// Bytes of a stream socket's sending side that the peer has not
// acknowledged yet (SIOCOUTQ): sent but unacked, and still queued.
result<int> unacked_bytes(int fd);
// SO_LINGER on with a zero timeout: close(2) then sends a reset, not a FIN.
status set_linger_zero(int fd);
status bind(int fd, const sockaddr* addr, socklen_t len);
status listen(int fd, int backlog);
result<int> accept(int fd);  // accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)
status connect(int fd, const sockaddr* addr, socklen_t len);  // EINPROGRESS is normal
status local_address(int fd, sockaddr_storage& out, socklen_t& len);
status peer_address(int fd, sockaddr_storage& out, socklen_t& len);
result<size_t> read(int fd, void* buf, size_t len);  // value 0 means EOF
// recv(MSG_PEEK | MSG_DONTWAIT): what a read would return, left to be read.
result<size_t> peek(int fd, void* buf, size_t len);  // value 0 means EOF
result<size_t> send(int fd, const void* buf, size_t len,
                    bool more = false);                     // never raises SIGPIPE
result<size_t> sendv(int fd, const iovec* iov, int count);  // never raises SIGPIPE
// sendfile(2) from `in_fd` at `*offset`, advancing it; value 0 means the
// file ended.
result<size_t> sendfile(int out_fd, int in_fd, uint64_t* offset, size_t count);
status shutdown(int fd, int how);
void close(int fd);

// files, for serving them beneath a root directory
// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS: `path` (relative)
// resolves only inside `dirfd`, symlinks included; an escape fails with
// EXDEV. ENOSYS on kernels before 5.6 (and under some seccomp filters).
// `no_symlinks` adds RESOLVE_NO_SYMLINKS: ELOOP at the first symlink.
result<int> openat_beneath(int dirfd, const char* path, int flags, bool no_symlinks = false);
result<int> openat(int dirfd, const char* path, int flags);  // O_CLOEXEC added
// Opens again, with `flags`, the very file `fd` (an O_PATH handle) refers
// to, through /proc/self/fd/N: no name is looked up again, so no file
// renamed over it since is opened. ENOENT where /proc is not mounted.
result<int> reopen(int fd, int flags);  // O_CLOEXEC added
result<size_t> readlinkat(int dirfd, const char* path, char* buf, size_t len);
// Opens `path` for appending (created 0666 less the umask, as fopen's
// "a"), without waiting: a FIFO with no reader fails with ENXIO, where a
// plain open waited for one (found by review).
result<int> open_append(const char* path);
// Puts descriptor `from` in place of `to` at once (dup3, O_CLOEXEC): a
// log reopened after logrotate renamed it keeps its descriptor number.
status dup_over(int from, int to);
// The path the kernel has for `fd` now (readlink of /proc/self/fd/N): not
// NUL-terminated; ENOENT and the like where /proc is not mounted.
result<size_t> fd_path(int fd, char* buf, size_t len);
status fstat(int fd, struct ::stat& st);
status fstatat(int dirfd, const char* path, struct ::stat& st, int flags);
result<size_t> pread(int fd, void* buf, size_t len, uint64_t offset);  // 0: end of file
// One batch of linux_dirent64 records (getdents64(2)); value 0: no more.
result<size_t> getdents(int fd, void* buf, size_t len);

// memory: pages mapped for one large buffer (a request body read whole),
// which grows by remapping (the kernel moves page tables; nothing is
// copied) and goes back to the kernel whole when unmapped. Lengths are
// rounded up to pages by the kernel; pass the same length to each call.
// Anonymous, private, read and write, in small pages only (MADV_NOHUGEPAGE,
// which a remap keeps): the buffer is written from its start, and where
// transparent huge pages are `always` a write faults in a whole 2 MiB page,
// up to 2 MiB of it not yet written.
result<void*> map_pages(size_t len);
result<void*> remap_pages(void* p, size_t old_len, size_t new_len);  // may move
void unmap_pages(void* p, size_t len) noexcept;

// logs
// What a write to `fd` may do besides writing: a pipe, FIFO or terminal
// may wait for its reader, and a pipe raises SIGPIPE once the reader has
// gone; a socket may wait too; a file (a regular one, /dev/null, a block
// device) does neither.
enum class sink_kind : std::uint8_t { file, pipe, socket, terminal };
sink_kind sink_kind_of(int fd) noexcept;
// Writes without waiting and without raising SIGPIPE, whatever the
// descriptor's own mode, which is shared with every process that holds it
// and so is not weft's to change: a socket through send(MSG_DONTWAIT); a
// pipe through pwritev2(RWF_NOWAIT), or where the kernel has no such
// write, only once poll says there is room (a write of up to PIPE_BUF
// bytes then fits whole); a terminal through a non-blocking description of
// its own (what it has room for; as a pipe where none opens); a file
// through write(2). EAGAIN when it would wait.
result<size_t> write_sink(int fd, sink_kind kind, const void* buf, size_t len);
// Waits up to `timeout_ms` for room to write to `fd` (poll); false on a
// timeout. An error or a hangup counts as room: the write reports it.
bool wait_writable(int fd, int timeout_ms) noexcept;

// process
void write_stderr(const char* data, size_t len) noexcept;  // never waits: see write_sink
int somaxconn();  // /proc/sys/net/core/somaxconn, or 4096 when unreadable
int cpu_count();
// Sets the soft RLIMIT_NOFILE to the hard one; returns the soft limit in
// force afterwards (the old one if setrlimit failed).
std::uint64_t raise_nofile_limit() noexcept;
std::uint64_t nofile_limit() noexcept;  // the soft RLIMIT_NOFILE (1024 if unreadable)
// SIGPIPE ignored for the process (weft::ignore_sigpipe); from then on
// sendfile and the pipe writes below call straight through, with no mask.
bool ignore_sigpipe() noexcept;
// /dev/null on each of 0-2 that is closed (weft::open_standard_descriptors).
bool open_standard_descriptors() noexcept;

}  // namespace weft::sys
