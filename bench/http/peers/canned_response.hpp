#pragma once
// The response the bench's own peers (the floor, the Asio responder) send:
// the bytes `weft hello` sends, Date line included (RFC 9110 §6.6.1: an
// origin server with a clock sends one), so that every one of them puts as
// many bytes into the socket and wrk parses as many per response: 115. The
// floor used to send 78, and the Asio responder did until a review of the
// bench found it (2026-12-07). The Date is formatted once, at start: its
// value is not these peers' concern, its size is. (The 37 bytes made no
// difference this VM's noise could show: the floor pipelined, 3 runs each on
// 2026-12-02, 1.56, 1.30 and 1.58M requests/s per core with them, 1.62, 1.23
// and 1.57M without.)

#include <ctime>
#include <string>

inline std::string canned_response() {
  char date[64];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  return std::string("HTTP/1.1 200 OK\r\n") + date +
         "Content-Length: 13\r\n"
         "Content-Type: text/plain\r\n"
         "\r\n"
         "Hello, world!";
}
