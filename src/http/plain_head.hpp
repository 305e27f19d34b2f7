#pragma once
// The request parser's fast path: a whole head, every line of it plain, in
// one pass. It only ever succeeds: for anything else it gives up and
// parse_request's general path decides, exactly as if it had not been tried.

#include <weft/http/request_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace weft::http::detail {

// The part of `bytes` a parse_state's 32-bit offsets can name: a head is
// looked for in its first 4 GiB (the server's buffer holds at most 2).
inline std::string_view within_state_offsets(std::string_view bytes) noexcept {
  constexpr std::size_t most = UINT32_MAX;
  return bytes.size() > most ? bytes.substr(0, most) : bytes;
}

// Parses the head at the start of `in` when all of it is there and it holds
// nothing unusual: no empty lines before the request line, no line or field
// count at a limit, every field line "name:value" ending in CRLF, and no
// error. Fills `out` and puts its fields in `storage`, as the general path
// would, and returns its size through the final CRLF; returns 0 otherwise,
// when `out` and `storage` hold nothing of use.
std::size_t parse_plain_head(std::string_view in, const parse_limits& limits,
                             std::span<header_field> storage, request_head& out) noexcept;

// parse_request after its fast path: a head in several reads, or one that
// is not plain. Out of line (request_parser.cpp).
parse_result parse_rest(std::string_view bytes, const parse_limits& limits,
                        std::span<header_field> storage, request_head& out,
                        parse_state& state) noexcept;

// parse_request, inline for the server, which calls it once a request: as a
// call of its own it saved and restored registers the fast path does not
// use. Inline, 735 -> 697 instructions a pipelined request, 1,592 -> 1,552
// kept alive (bench/http/instructions.sh).
// A fresh state means the first call for this request. A call that returns
// incomplete moves `scan` past what it looked at (all but a lone CR, on
// which the fast path gives up at once), so a head that arrives in many
// reads costs the fast path one try, not one per read.
inline parse_result parse_head(std::string_view bytes, const parse_limits& limits,
                               std::span<header_field> storage, request_head& out,
                               parse_state& state) noexcept {
  if (state.scan == 0 && state.first_field == 0) [[likely]] {
    if (std::size_t end = parse_plain_head(bytes, limits, storage, out); end != 0)
      return {parse_result::complete, end, 0, nullptr};
  }
  return parse_rest(bytes, limits, storage, out, state);
}

}  // namespace weft::http::detail
