#include <weft/core/process.hpp>

#include "sys/linux/syscalls.hpp"

namespace weft {

std::uint64_t raise_open_file_limit() noexcept {
  return sys::raise_nofile_limit();
}

bool ignore_sigpipe() noexcept {
  return sys::ignore_sigpipe();
}

bool open_standard_descriptors() noexcept {
  return sys::open_standard_descriptors();
}

}  // namespace weft
