#include <weft/core/fd_io.hpp>

#include "sys/linux/syscalls.hpp"

namespace weft {

io_result read_some(int fd, void* buf, std::size_t len) noexcept {
  auto r = sys::read(fd, buf, len);
  return {r.value, r.err};
}

io_result write_some(int fd, const void* buf, std::size_t len) noexcept {
  auto r = sys::send(fd, buf, len);
  return {r.value, r.err};
}

void shutdown_write(int fd) noexcept {
  (void)sys::shutdown(fd, SHUT_WR);
}

void reset_when_closed(int fd) noexcept {
  (void)sys::set_linger_zero(fd);
}

bool all_sent_acknowledged(int fd) noexcept {
  return unacknowledged_bytes(fd) == std::size_t{0};
}

std::optional<std::size_t> unacknowledged_bytes(int fd) noexcept {
  auto r = sys::unacked_bytes(fd);
  if (!r.ok() || r.value < 0) return std::nullopt;
  return static_cast<std::size_t>(r.value);
}

peer_intake look_at_intake(int fd, std::size_t& last) noexcept {
  std::size_t left = unacknowledged_bytes(fd).value_or(0);
  if (left == 0) return peer_intake::nothing_owed;
  if (left >= last) return peer_intake::stalled;
  last = left;
  return peer_intake::taking;
}

}  // namespace weft
