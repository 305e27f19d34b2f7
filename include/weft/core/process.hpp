#pragma once
// Process-wide settings a server makes once, at start-up.
//
//   int main() {
//     weft::open_standard_descriptors();  // first: before anything opens one
//     weft::raise_open_file_limit();  // before the loops start accepting
//     weft::ignore_sigpipe();
//     ...
//   }
//
// Threading: call the settings from main, before other threads start;
// write_unless_signalled from any thread (it looks at that thread's own
// blocked and pending signals).

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace weft {

// Raises the soft limit on open descriptors (RLIMIT_NOFILE) to the hard
// limit, and returns the soft limit now in force. A server holds one
// descriptor per connection, and the usual soft limit (1024, systemd's
// default, with a hard limit of 524288) would stop it near a thousand
// clients on a machine that allows far more. Go's runtime does the same at
// start since Go 1.19. The library never calls it: a program decides.
std::uint64_t raise_open_file_limit() noexcept;

// Sets SIGPIPE's disposition to ignored for the whole process, as nginx and
// Redis do at start, and tells weft so. Every socket send passes
// MSG_NOSIGNAL, but sendfile(2) and write(2) to a pipe have no such flag:
// without this, weft blocks SIGPIPE in the thread around each such call and
// restores the mask after (two rt_sigprocmask a call, ~4% of the core that
// serves 16 KiB files with sendfile, perf). With it, they are plain calls,
// and a vanished reader is an EPIPE. The library never calls it: the
// disposition is the program's. Do not set SIGPIPE's disposition back
// afterwards; weft would no longer hold it off. Programs it execs inherit
// the disposition, as under nginx. Whether it took (sigaction
// can only fail on a bad argument).
bool ignore_sigpipe() noexcept;

// Opens /dev/null on each of descriptors 0, 1 and 2 that is closed, as
// OpenSSH's daemon and BSD daemon(3) do. Started with stdout closed
// (`weft hello --access-log - >&-`), a program gets its first descriptor
// (an epoll instance, a client's socket) as number 1, and what it prints
// to stdout goes into that: log lines into a client's connection. Call it
// first in main, before anything opens a descriptor. Whether all three are
// open afterwards.
bool open_standard_descriptors() noexcept;

// Blocks `signals` in the calling thread, and so in every thread it makes
// from then on, until a loop's on_signals reads them: one that comes while
// the program makes its loops and listeners waits for the loop, where its
// default action ended the process (a SIGTERM, or logrotate's SIGUSR1,
// during `weft hello --threads 1024`'s 100-200 ms start killed it; found by
// review). Call it just before that work, with the very set that
// on_signals will take: on_signals leaves a signal that was blocked before
// it as it found it, so one held here and not asked for there stays
// blocked, with nothing to read it. Not before work that may block for
// long (a read from a FIFO): nothing reads them until the loop runs, and
// the process cannot be stopped meanwhile. Programs it execs inherit the
// mask. Whether it took.
bool hold_signals(std::initializer_list<int> signals) noexcept;

// Writes `text` whole to descriptor `fd`, waiting for room as a blocking
// write would, but only until one of `stop`, signals this thread blocks
// (loop::on_signals), is pending: it then gives up, leaving the signal for
// the loop to read. For a readiness line on a stdout pipe that no one
// drains: written with printf, a server stuck on it took no SIGTERM at all,
// and only SIGKILL ended it (found by review). Never raises SIGPIPE.
// Whether all of it was written.
bool write_unless_signalled(int fd, std::string_view text,
                            std::initializer_list<int> stop) noexcept;

}  // namespace weft
