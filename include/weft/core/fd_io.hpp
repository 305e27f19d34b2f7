#pragma once
// Non-blocking reads and writes for the callback API, as values: no
// exceptions, EAGAIN is an ordinary outcome. Safe from any thread.
//
//   auto r = weft::read_some(fd, buf, sizeof buf);
//   if (r.would_block()) ...; else if (r.failed()) ...; else if (r.eof()) ...

#include <cerrno>
#include <cstddef>
#include <optional>
#include <system_error>

namespace weft {

struct io_result {
  std::size_t bytes = 0;
  int err = 0;  // errno; 0 on success
  bool would_block() const noexcept { return err == EAGAIN || err == EWOULDBLOCK; }
  bool failed() const noexcept { return err != 0 && !would_block(); }
  bool eof() const noexcept { return err == 0 && bytes == 0; }  // reads only
  std::error_code error() const noexcept { return {err, std::system_category()}; }
};

io_result read_some(int fd, void* buf, std::size_t len) noexcept;
// send(2) with MSG_NOSIGNAL: a vanished peer is an EPIPE, not a SIGPIPE.
// Sockets only: on a pipe or a file it fails with ENOTSOCK.
io_result write_some(int fd, const void* buf, std::size_t len) noexcept;
// shutdown(fd, SHUT_WR): the peer reads EOF after what was sent.
void shutdown_write(int fd) noexcept;
// SO_LINGER with a zero timeout: the close that follows sends a reset, not
// a FIN, and drops what was not sent. For a peer cut short, which a FIN
// would tell that it had everything.
void reset_when_closed(int fd) noexcept;
// Whether everything written to stream socket `fd` has reached the peer
// (its acknowledgement in, SIOCOUTQ). A close with unread input sends a
// reset, which destroys what has not: false for a descriptor that is not
// a socket.
bool all_sent_acknowledged(int fd) noexcept;
// How many bytes written to stream socket `fd` the peer has yet to
// acknowledge: in flight, or still queued in the kernel (SIOCOUTQ). As they
// fall, the peer is taking what it is sent, before the socket has room
// enough to say so (a third of its send buffer). Nothing for a descriptor
// that is not a socket.
std::optional<std::size_t> unacknowledged_bytes(int fd) noexcept;

// Whether the peer of stream socket `fd` is taking what the kernel holds
// for it, judged from one look to the next: `last` is what it had yet to
// acknowledge at the look before (SIZE_MAX before the first), and is set
// to what it has now when that is less. nothing_owed: all acknowledged
// (or not a socket); taking: less than at the look before, as any bytes
// owed are at the first look; stalled: none taken since. For a close that
// gives a peer one more period, and resets one that stopped reading rather
// than leave the kernel sending to it alone for minutes (FIN_WAIT1).
enum class peer_intake { nothing_owed, taking, stalled };
peer_intake look_at_intake(int fd, std::size_t& last) noexcept;

}  // namespace weft
