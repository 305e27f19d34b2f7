#include "http/access_log.hpp"

#include "sys/linux/syscalls.hpp"

#include <weft/core/log.hpp>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <mutex>
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

// Lines are whole whichever loop thread writes them: a pipe takes a write
// of up to 4 KiB whole, a line may be longer, and the count of dropped
// lines is shared.
std::mutex log_mutex;
std::uint64_t dropped_lines = 0;  // since the last line that went; guarded by log_mutex

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
  line += "\" " + std::to_string(status) + " " + std::to_string(bytes) + "\n";
  write_log_line(file, line);
}

void write_log_line(std::FILE* file, std::string_view line) {
  std::lock_guard lock(log_mutex);
  std::fflush(file);  // what the FILE's own buffer holds goes first
  int fd = fileno(file);
  std::size_t sent = 0;
  while (sent < line.size()) {
    auto r = sys::write_nosignal(fd, line.data() + sent, line.size() - sent);
    if (r.ok()) {
      sent += r.value;
      continue;
    }
    // A line longer than a pipe's atomic write (4 KiB) can go in part: it
    // is finished if the reader makes room soon, not torn for the next.
    if (!r.would_block() || sent == 0 || !sys::wait_writable(fd, 100).ok()) break;
  }
  if (sent == line.size()) {
    if (dropped_lines != 0) {
      log_warn("access log: " + std::to_string(dropped_lines) + " lines were dropped");
      dropped_lines = 0;
    }
    return;
  }
  if (dropped_lines++ == 0)
    log_warn(
        "access log: its destination takes no more (full, or its reader has gone); lines "
        "are dropped until it does");
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

std::FILE* open_access_log(const std::string& where) {
  bool out = where == "-";
  std::FILE* f = out ? stdout : std::fopen(where.c_str(), "ae");
  if (!f) throw std::system_error(errno, std::system_category(), "cannot open access log " + where);
  auto again = sys::reopen_nonblocking(fileno(f));
  if (!again.ok()) return f;  // a file, which never waits on a reader (or a socket: as it is)
  if (!out) std::fclose(f);
  f = fdopen(again.value, "a");
  if (!f) {
    sys::close(again.value);
    throw std::system_error(errno, std::system_category(), "cannot open access log " + where);
  }
  return f;
}

}  // namespace weft::http
