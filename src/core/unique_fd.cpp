#include <weft/core/unique_fd.hpp>

#include "sys/linux/syscalls.hpp"

namespace weft {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) sys::close(fd_);
  fd_ = fd;
}

void unique_fd::close_now() noexcept {
  sys::close(fd_);
  fd_ = -1;
}

}  // namespace weft
