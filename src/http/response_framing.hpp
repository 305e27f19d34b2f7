#pragma once
// How a response with a string, file or sized body is framed, shared by
// put_response (each response) and make_fixed_answer (a fixed answer's
// head, built once), so that the two cannot frame one response two ways.

#include <weft/net/buffer.hpp>

#include <charconv>
#include <cstddef>
#include <cstdint>

#include "http/put_bytes.hpp"

namespace weft::http::detail {

// A string body up to this size is copied behind the head, so that a batch
// of responses leaves in one send; a larger one is sent from the response
// (tcp_stream::write_all does not copy it either).
inline constexpr std::size_t copied_body_max = weft::detail::pool_block_size / 4;

// Whether a final response with this status carries content: 204 and 304
// never do, nor 205 (RFC 9110 §15.3.6), which HTTP/1.1 framing does not
// know as bodiless, so it says Content-Length: 0.
constexpr bool has_content(int status) noexcept {
  return status != 204 && status != 205 && status != 304;
}

// Writes the framing line of a response whose content is `length` bytes:
// none for 204 and 304, "Content-Length: 0" for 205, else its length. At
// most 38 bytes; returns the end.
inline char* put_length_line(char* p, int status, std::uint64_t length) noexcept {
  if (status == 204 || status == 304) return p;
  p = put_bytes(p, "Content-Length: ");
  p = std::to_chars(p, p + 20, status == 205 ? 0 : length).ptr;
  return put_bytes(p, "\r\n");
}

}  // namespace weft::http::detail
