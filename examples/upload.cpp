// A streamed upload: PUT /count takes a body of up to 1 GiB (the server's
// default limit stays 8 MiB) and answers with its size and CRC-32, holding
// one piece of it at a time. Run: build/bin/example_upload 7081, then
//   head -c 100M /dev/urandom | curl -T - localhost:7081/count
#include <weft/http/server.hpp>
#include <weft/net/tcp_listener.hpp>
#include <weft/task/spawn.hpp>

#include <array>
#include <csignal>
#include <cstdio>

#include "example_main.hpp"

using namespace weft;

task<http::response> count(http::request& req) {
  static const auto table = [] {  // CRC-32 (IEEE), as zlib computes it
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint64_t size = 0;
  std::uint32_t crc = ~0u;
  while (true) {
    std::string_view piece = co_await req.read_some();  // empty at the end
    if (piece.empty()) break;
    size += piece.size();
    for (unsigned char c : piece) crc = table[(crc ^ c) & 0xFF] ^ (crc >> 8);
  }
  co_return http::response::json("{\"bytes\": " + std::to_string(size) +
                                 ", \"crc32\": " + std::to_string(~crc) + "}");
}

int main(int argc, char** argv) {
  http::router routes;
  // 1 GiB in 10 minutes is 1.7 MiB/s; the server's 30 s would want 34.
  routes.put(
      "/count", count,
      {.stream_body = true, .max_body = 1ull << 30, .body_timeout = std::chrono::minutes(10)});
  return example::serve_http(argc, argv, 7081, routes);
}
