#include <weft/core/log.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "sys/linux/syscalls.hpp"

namespace weft {
namespace {
std::atomic<log_level> min_level{log_level::info};
constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
}  // namespace

namespace {
// what_of's text, valid while `e` holds the exception.
std::string_view what_text(const std::exception_ptr& e) noexcept {
  // Rethrowing a null one is undefined (log_error({...},
  // std::current_exception()) outside a catch; found by review).
  if (!e) return "no exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

void write_line(log_level level, std::initializer_list<std::string_view> parts,
                std::string_view last) noexcept {
  if (level < min_level.load(std::memory_order_relaxed)) return;
  // On the stack: a log line is often written because memory ran out.
  char line[2048];
  constexpr std::size_t room = sizeof line - 1;  // and the '\n'
  std::size_t n = 0;
  bool cut = false;
  auto put = [&](std::string_view s) {
    std::size_t k = std::min(s.size(), room - n);
    cut = cut || k < s.size();
    if (k == 0) return;  // an empty view's data() may be null, which memcpy may not take
    std::memcpy(line + n, s.data(), k);
    n += k;
  };
  put("weft: ");
  put(names[static_cast<int>(level)]);
  put(": ");
  for (std::string_view part : parts) put(part);
  put(last);
  if (cut) line[room - 3] = line[room - 2] = line[room - 1] = '.';
  line[n++] = '\n';
  // stderr is unbuffered and shared; one write keeps the line whole.
  sys::write_stderr(line, n);
}
}  // namespace

std::string what_of(const std::exception_ptr& e) {
  return std::string(what_text(e));
}

void set_log_level(log_level level) noexcept {
  min_level.store(level, std::memory_order_relaxed);
}

void log(log_level level, std::string_view message) noexcept {
  write_line(level, {}, message);
}

void log(log_level level, std::initializer_list<std::string_view> parts) noexcept {
  write_line(level, parts, {});
}

void log(log_level level, std::initializer_list<std::string_view> parts,
         const std::exception_ptr& e) noexcept {
  write_line(level, parts, what_text(e));
}

}  // namespace weft
