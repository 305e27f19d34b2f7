#pragma once
// A route's fixed answer (router::add with a response), as nginx's `return`
// directive gives one: what the server writes for it is built once, when
// the route is added, not per request. Read-only once built, so the loops
// that share a router share it.

#include <weft/http/message.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "http/response_framing.hpp"

namespace weft::http::detail {

struct fixed_answer {
  // Unique among the answers a process makes: the server's per-thread
  // copies of whole answers (server.cpp) are found by it, where an address
  // could be reused by a later router's answer.
  std::uint64_t id = 0;
  int status = 200;
  bool sets_date = false;    // `fields` holds the response's own Date
  bool closes = false;       // response::close(): the connection ends after it
  bool has_content = false;  // a body goes to any method but HEAD
  // The framing line (Content-Length, or none for 204 and 304) and the
  // response's header lines, each ending in CRLF: the head but for its
  // status line, Date and Connection lines and final CRLF.
  std::string fields;
  std::string body;
  // The most the whole answer takes: its status line, a Date line, the
  // longer Connection line, the final CRLF, and the above.
  std::size_t most = 0;
};

// `res` built for the server's fast path, or nullptr when that path would
// not take it: a body longer than copied_body_max. Throws
// std::invalid_argument for what cannot be one answer to many requests: a
// streamed or file body (each is sent once), or a status that is not a
// final one.
std::shared_ptr<const fixed_answer> make_fixed_answer(const response& res);

}  // namespace weft::http::detail
