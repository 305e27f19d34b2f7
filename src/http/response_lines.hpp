#pragma once
// Header lines that weft's own handlers build, added without the checks of
// response::header: a name that is a token written in the source, and a
// value weft formatted (an ETag, an HTTP date, a table's Content-Type) or
// checked once at start-up (static_files' Cache-Control). A file response
// sets four or five lines; taking four of them past header's checks took a
// 1 KiB file response from 4,392 to 3,948 instructions, ~110 a line
// (SERVER=files DEPTH=1 bench/http/instructions.sh). Private: user code
// keeps the checks.

#include <weft/http/message.hpp>

#include <string_view>

namespace weft::detail {

struct response_lines {
  static void add(http::response& r, std::string_view name, std::string_view value) {
    r.headers_.append(name, value);
  }
  // Whole lines, each ending in CRLF: a cached file's, built once.
  static void add_lines(http::response& r, std::string_view lines) {
    r.headers_.append_lines(lines);
  }
};

}  // namespace weft::detail
