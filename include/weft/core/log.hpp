#pragma once
// Minimal logging to stderr. Each message is written with one write(2), so
// lines from different loop threads never interleave. Safe from any thread.

#include <string_view>

namespace weft {

enum class log_level { debug, info, warn, error };

void log(log_level level, std::string_view message) noexcept;
inline void log_error(std::string_view m) noexcept {
  log(log_level::error, m);
}
inline void log_warn(std::string_view m) noexcept {
  log(log_level::warn, m);
}

// Messages below this level are dropped. Default: info. Not synchronized:
// set it once at start-up, before loops run.
void set_log_level(log_level level) noexcept;

}  // namespace weft
