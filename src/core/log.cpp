#include <weft/core/log.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "sys/linux/syscalls.hpp"

namespace weft {
namespace {
std::atomic<log_level> min_level{log_level::info};
constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
}  // namespace

std::string_view what_of(const std::exception_ptr& e) noexcept {
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
  log(level, {message});
}

void log(log_level level, std::initializer_list<std::string_view> parts) noexcept {
  if (level < min_level.load(std::memory_order_relaxed)) return;
  // On the stack: a log line is often written because memory ran out.
  char line[2048];
  std::size_t n = 0;
  auto put = [&](std::string_view s) {
    std::size_t k = std::min(s.size(), sizeof line - 1 - n);  // room for the '\n'
    std::memcpy(line + n, s.data(), k);
    n += k;
  };
  put("weft: ");
  put(names[static_cast<int>(level)]);
  put(": ");
  for (std::string_view part : parts) put(part);
  line[n++] = '\n';
  // stderr is unbuffered and shared; one write keeps the line whole.
  sys::write_stderr(line, n);
}

}  // namespace weft
