#include "http/access_log.hpp"

#include "sys/linux/syscalls.hpp"

#include <weft/core/log.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>
#include <string>
#include <system_error>

namespace weft::http::detail {
namespace {

// Appends `text` for a quoted log field: '"', '\\' and bytes outside
// printable ASCII as \\xHH, as nginx writes them. A target may hold '"'
// (browsers send it), and written as it came it ended the field early and
// let a request forge what a reader of the log saw after it.
void append_log_escaped(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7F || ch == '"' || ch == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += ch;
    }
  }
}

// Lines are whole whichever loop thread writes them, and the count of
// dropped lines is shared.
std::mutex log_mutex;
struct log_state {
  std::uint64_t dropped = 0;  // lines dropped and not yet said
  bool dropping = false;      // the last line was dropped
  bool announced = false;     // ... and that lines are dropped has been said since
  bool torn = false;          // the last line went in part: the next starts on a line of its own
  // When a warning was last said: at most one a second. A reader slower
  // than the lines come made a run of drops, and a pair of warnings, every
  // few milliseconds (1,912 lines in 3 s, found by review).
  std::chrono::steady_clock::time_point said{};
  bool time_to_say(std::chrono::steady_clock::time_point now) {
    if (now - said < std::chrono::seconds(1)) return false;
    said = now;
    return true;
  }
};
log_state state;  // guarded by log_mutex

// A pipe takes a write of up to PIPE_BUF bytes whole or not at all, so no
// line goes in part, to be merged with the next. (A socket or a terminal
// may take part of one: see write_log_line.)
constexpr std::size_t max_log_line = 4096;

}  // namespace

void access_log::write_line(std::string_view request_line, int status, std::uint64_t bytes) const {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[40];
  std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  std::string line = client + " - - [" + when + "] \"";
  if (request_line.empty())
    line += '-';
  else
    append_log_escaped(line, request_line);
  std::string tail = "\" " + std::to_string(status) + " " + std::to_string(bytes) + "\n";
  if (line.size() + tail.size() > max_log_line) {  // a request line of kilobytes: its start
    // Between escapes, not inside one: every backslash in the line begins
    // one, four bytes long (the request's own are written \x5C).
    std::size_t cut = max_log_line - tail.size() - 3;
    std::size_t escape = line.rfind('\\', cut - 1);
    if (escape != std::string::npos && escape + 4 > cut) cut = escape;
    line.resize(cut);
    line += "...";
  }
  write_log_line(file, line + tail);
}

void write_log_line(std::FILE* file, std::string_view line) {
  int fd = fileno(file);
  if (fd < 0) {  // a FILE of the program's own (open_memstream, a cookie): as it is
    std::fwrite(line.data(), 1, line.size(), file);
    std::fflush(file);
    return;
  }
  std::uint64_t dropped = 0;
  bool went = true;
  bool say = false;
  {
    std::lock_guard lock(log_mutex);
    std::fflush(file);  // what the FILE's own buffer holds goes first
    // Looked up per line: a descriptor number may come to name another file.
    sys::sink_kind kind = sys::sink_kind_of(fd);
    std::string after_torn;
    if (state.torn) line = after_torn.append("\n").append(line);
    // Never a wait: a line the destination does not take now is dropped. A
    // file, a socket or a terminal may take part of one; the rest is tried
    // at once, and what is left of it is dropped, torn.
    std::size_t sent = 0;
    while (went && sent < line.size()) {
      auto r = sys::write_sink(fd, kind, line.data() + sent, line.size() - sent);
      went = r.ok() && r.value > 0;
      sent += r.value;
    }
    if (sent > 0) state.torn = !went;
    // That lines are dropped is said once a run of drops, and the count
    // once lines go again, each at the first line that finds a second
    // gone since the last warning: the count may wait for a later line or
    // the close (close_access_log); the run's warning, for a later drop
    // (tried only at a run's first drop, it went unsaid for good when
    // that came within the second, found by review).
    if (!went && !state.dropping) state.announced = false;
    state.dropping = !went;
    state.dropped += went ? 0 : 1;
    bool owed = went ? state.dropped != 0 : !state.announced;
    if (owed && state.time_to_say(std::chrono::steady_clock::now())) {
      say = true;
      if (went)
        std::swap(dropped, state.dropped);
      else
        state.announced = true;
    }
  }
  if (!say) return;
  // Said outside the lock: stderr may be the same destination.
  if (!went)
    log_warn(
        "access log: its destination takes no more (full, or its reader has gone); lines "
        "are dropped until it does");
  else
    log_warn("access log: " + std::to_string(dropped) + " lines were dropped");
}

std::string request_line(const request& req) {
  return std::string(req.method()) + " " + std::string(req.target()) + " " +
         std::string(req.version());
}

std::string_view first_line(std::string_view bytes) noexcept {
  while (bytes.starts_with("\r\n")) bytes.remove_prefix(2);  // RFC 9112 §2.2
  auto end = bytes.find("\r\n");
  if (end == std::string_view::npos) return {};
  return bytes.substr(0, std::min<std::size_t>(end, 4096));
}

}  // namespace weft::http::detail

namespace weft::http {

void close_access_log(std::FILE* log) noexcept {
  if (log == nullptr) return;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(detail::log_mutex);
    std::swap(dropped, detail::state.dropped);
  }
  try {
    if (dropped != 0) log_warn("access log: " + std::to_string(dropped) + " lines were dropped");
  } catch (const std::bad_alloc&) {
    // the count goes unsaid; the log is closed all the same
  }
  if (log == stdout)
    std::fflush(log);
  else
    std::fclose(log);
}

bool reopen_access_log(std::FILE* log, const std::string& where) noexcept {
  if (log == nullptr || log == stdout || where == "-") return true;
  int fd = fileno(log);
  if (fd < 0) return true;  // a FILE of the program's own: nothing to reopen
  // Opened without the lock, and without waiting: a FIFO with no reader
  // made the open wait, the lock held, and every loop's next line with it.
  auto opened = sys::open_append(where.c_str());
  sys::status reopened{opened.err};
  if (opened.ok()) {
    {
      // Under the lock every line is written under: none goes half to
      // each file, and what the FILE buffers goes to the old one.
      std::lock_guard lock(detail::log_mutex);
      std::fflush(log);
      reopened = sys::dup_over(opened.value, fd);
    }
    sys::close(opened.value);
  }
  if (reopened.ok()) return true;
  log_warn({"access log: cannot reopen ", where, " (", std::strerror(reopened.err),
            "); the lines go on to the file it had"});
  return false;
}

std::FILE* open_access_log(const std::string& where) {
  if (where == "-") return stdout;
  // Without waiting, as reopen_access_log opens it: fopen waited for a
  // FIFO's reader, before the readiness line and with the stop signals
  // still unhandled (found by review). A FIFO no one reads is ENXIO.
  auto opened = sys::open_append(where.c_str());
  int err = opened.err;
  if (opened.ok()) {
    if (std::FILE* f = ::fdopen(opened.value, "a")) return f;
    err = errno;
    sys::close(opened.value);
  }
  throw std::system_error(err, std::system_category(), "cannot open access log " + where);
}

}  // namespace weft::http
