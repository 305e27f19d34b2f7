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
  // A copy of a response with a string body (the body is shared, not
  // copied, when it is shared in `r`): a fixed answer's, for each request
  // that the server's fast path does not take (router::add). A response
  // with a file cannot be copied, nor one with a producer, which is not
  // copied here: it may hold state for the one body it makes.
  static http::response copy_string_response(const http::response& r) {
    http::response c(r.status_);
    c.close_ = r.close_;
    c.sets_date_ = r.sets_date_;
    c.typed_ = r.typed_;
    c.headers_.append_lines(r.headers_.view());
    c.body_ = r.body_;
    c.shared_ = r.shared_;
    c.shared_view_ = r.shared_view_;
    return c;
  }
};

}  // namespace weft::detail
