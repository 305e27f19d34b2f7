#include <weft/core/unique_fd.hpp>

#include "sys/linux/syscalls.hpp"

namespace weft {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) sys::close(fd_);
  fd_ = fd;
}

}  // namespace weft
