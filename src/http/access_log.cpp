#include "http/access_log.hpp"

#include <algorithm>
#include <ctime>
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
  std::fwrite(line.data(), 1, line.size(), file);
  std::fflush(file);
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
