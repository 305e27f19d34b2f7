#include <weft/core/process.hpp>

#include "sys/linux/syscalls.hpp"

#include <cerrno>
#include <csignal>

namespace weft {
namespace {
sigset_t set_of(std::initializer_list<int> signals) noexcept {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  return set;
}
}  // namespace

std::uint64_t raise_open_file_limit() noexcept {
  return sys::raise_nofile_limit();
}

bool ignore_sigpipe() noexcept {
  return sys::ignore_sigpipe();
}

bool open_standard_descriptors() noexcept {
  return sys::open_standard_descriptors();
}

bool hold_signals(std::initializer_list<int> signals) noexcept {
  return sys::block_signals(set_of(signals)).ok();
}

bool write_unless_signalled(int fd, std::string_view text,
                            std::initializer_list<int> stop) noexcept {
  const sigset_t set = set_of(stop);
  const sys::sink_kind kind = sys::sink_kind_of(fd);
  while (!text.empty()) {
    auto r = sys::write_sink(fd, kind, text.data(), text.size());
    if (r.ok()) {
      text.remove_prefix(r.value);
      continue;
    }
    if (r.err != EAGAIN && r.err != EINTR) return false;  // a reader gone, a bad fd
    if (sys::any_signal_pending(set)) return false;
    // A signal comes without waking poll (it is blocked): look every 50 ms.
    (void)sys::wait_writable(fd, 50);
  }
  return true;
}

}  // namespace weft
