#include <weft/core/log.hpp>

#include <atomic>
#include <string>

#include "sys/linux/syscalls.hpp"

namespace weft {
namespace {
std::atomic<log_level> min_level{log_level::info};
constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
}  // namespace

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

void set_log_level(log_level level) noexcept {
  min_level.store(level, std::memory_order_relaxed);
}

void log(log_level level, std::string_view message) noexcept {
  if (level < min_level.load(std::memory_order_relaxed)) return;
  try {
    std::string line = "weft: ";
    line += names[static_cast<int>(level)];
    line += ": ";
    line += message;
    line += '\n';
    // stderr is unbuffered and shared; one write keeps the line whole.
    sys::write_stderr(line.data(), line.size());
  } catch (...) {
    // Out of memory while logging: nothing sensible is left to do.
  }
}

}  // namespace weft
