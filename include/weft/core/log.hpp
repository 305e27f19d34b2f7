#pragma once
// Minimal logging to stderr. Each message is written with one write(2), so
// lines from different loop threads never interleave, and never waited
// for: stderr is often a pipe or terminal that may stop taking, and a
// loop must not stop with it. A message it does not take is dropped, and
// one it takes part of is cut short (the next starts a line of its own).
// Safe from any thread.

#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>

namespace weft {

enum class log_level { debug, info, warn, error };

// Each message is one line; one longer than 2 KiB is cut, ending in "...".
void log(log_level level, std::string_view message) noexcept;
// The parts of one message, joined without allocating: for a catch block,
// where building a std::string may throw std::bad_alloc again.
void log(log_level level, std::initializer_list<std::string_view> parts) noexcept;
// The parts, then what the exception `e` says (as what_of), without
// allocating.
void log(log_level level, std::initializer_list<std::string_view> parts,
         const std::exception_ptr& e) noexcept;
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
inline void log_error(std::initializer_list<std::string_view> parts,
                      const std::exception_ptr& e) noexcept {
  log(log_level::error, parts, e);
}

// What a caught exception says, for a log line: its what(), or that it is
// not a std::exception at all (anything may be thrown: `throw 42`), or, for
// a null exception_ptr, "no exception".
std::string what_of(const std::exception_ptr& e);

// Messages below this level are dropped. Default: info. Safe from any
// thread, like log() (the level is a relaxed atomic).
void set_log_level(log_level level) noexcept;

}  // namespace weft
