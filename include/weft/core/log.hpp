#pragma once
// Minimal logging to stderr. Each message is written with one write(2), so
// lines from different loop threads never interleave. Safe from any thread.

#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>

namespace weft {

enum class log_level { debug, info, warn, error };

void log(log_level level, std::string_view message) noexcept;
// The parts of one message, joined without allocating (a line is cut at
// 2 KiB): for a catch block, where building a std::string may throw
// std::bad_alloc again.
void log(log_level level, std::initializer_list<std::string_view> parts) noexcept;
inline void log_error(std::string_view m) noexcept {
  log(log_level::error, m);
}
inline void log_warn(std::string_view m) noexcept {
  log(log_level::warn, m);
}
inline void log_error(std::initializer_list<std::string_view> parts) noexcept {
  log(log_level::error, parts);
}
inline void log_warn(std::initializer_list<std::string_view> parts) noexcept {
  log(log_level::warn, parts);
}

// What a caught exception says, for a log line: its what(), or that it is
// not a std::exception at all (anything may be thrown: `throw 42`). Valid
// while `e` holds the exception; allocates nothing.
std::string_view what_of(const std::exception_ptr& e) noexcept;

// Messages below this level are dropped. Default: info. Safe from any
// thread, like log() (the level is a relaxed atomic).
void set_log_level(log_level level) noexcept;

}  // namespace weft
