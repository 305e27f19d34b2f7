#pragma once
// The request parser's fast path: a whole head, every line of it plain, in
// one pass. It only ever succeeds: for anything else it gives up and
// parse_request's general path decides, exactly as if it had not been tried.

#include <weft/http/request_parser.hpp>

#include <cstddef>
#include <span>
#include <string_view>

namespace weft::http::detail {

// Parses the head at the start of `in` when all of it is there and it holds
// nothing unusual: no empty lines before the request line, no line or field
// count at a limit, every field line "name:value" ending in CRLF, and no
// error. Fills `out` and puts its fields in `storage`, as the general path
// would, and returns its size through the final CRLF; returns 0 otherwise,
// when `out` and `storage` hold nothing of use.
std::size_t parse_plain_head(std::string_view in, const parse_limits& limits,
                             std::span<header_field> storage, request_head& out) noexcept;

}  // namespace weft::http::detail
