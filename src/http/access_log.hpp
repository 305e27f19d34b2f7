#pragma once
// One connection's access log, in Common Log Format (`--access-log`), and
// the request lines it records. Loop thread of the connection.

#include <weft/http/message.hpp>
#include <weft/net/tcp_stream.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace weft::http::detail {

// The access log of one connection: its file, null when there is none,
// and the client's address, looked up once when the connection starts. It
// was looked up as each line was written, and a client that had gone by
// then (a reset, an abandoned download) was logged as "-" (found by review);
// so it was when looked up again as each burst of requests began, after
// an idle wait (found by review). The connection holds one only while it
// logs (serve_connection): its 40 B were in the frame of every idle one.
struct access_log {
  std::FILE* file = nullptr;
  std::string client = "-";

  access_log() = default;  // no log
  access_log(std::FILE* f, const tcp_stream& s) : file(f) {
    if (!f) return;
    try {
      client = s.peer().host();
    } catch (const std::system_error&) {
      // gone before it was served at all: "-", as before
    }
  }
  // One Common Log Format line; `request_line` empty when none came whole.
  void write(std::string_view request_line, int status, std::uint64_t bytes) const {
    if (file) write_line(request_line, status, bytes);
  }

 private:
  void write_line(std::string_view request_line, int status, std::uint64_t bytes) const;
};

// Writes one line to an access log, after what its FILE buffers, on its
// descriptor, without ever waiting or raising SIGPIPE (sys::write_sink). A
// line the destination does not take now (full, or its reader gone) is
// dropped, and the drops are reported on stderr. A FILE without a
// descriptor (open_memstream) is written as it is. Safe from any thread.
void write_log_line(std::FILE* file, std::string_view line);

// The request line of a request served, for the access log.
std::string request_line(const request& req);

// The request line of a refused request, for the access log: the first
// line of its bytes, or "" when none came whole. At most 4 KiB of it: a
// refused line may be as long as the head limit.
std::string_view first_line(std::string_view bytes) noexcept;

}  // namespace weft::http::detail
