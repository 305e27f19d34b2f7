#pragma once
// router: maps a method and a path to a handler. Patterns are literal
// segments and ":name" parameters ("/users/:id/posts"); a final "*" matches
// the rest (elsewhere "*" is a literal segment). Segments are compared
// percent-decoded, on both sides ("/%75sers" is "/users"; an encoded slash
// stays inside its segment), and parameters are bound decoded. HEAD goes to
// the path's GET route unless it has a HEAD route of its own. A path that
// matches with another method gets 405 with Allow.
//
//   router r;
//   r.get("/users/:id", [](request& req) -> task<response> { ... });
//   r.post("/users", [](request& req) { return response::json("{}", 201); });
//
// Threading: build it before serving; then read-only, so loops may share it.

#include <weft/http/message.hpp>
#include <weft/task/task.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http {

using handler = std::function<task<response>(request&)>;
using plain_handler = std::function<response(request&)>;

// What a route runs: a coroutine, or a plain function that the server calls
// directly, without a coroutine frame per request. Exactly one is set.
struct route_handler {
  handler coroutine;
  plain_handler plain;
};

class router {
 public:
  router& add(std::string method, std::string_view pattern, handler h);
  router& add(std::string method, std::string_view pattern, plain_handler h);
  template <class H>
  router& get(std::string pattern, H h) {
    return add("GET", std::move(pattern), std::move(h));
  }
  template <class H>
  router& post(std::string pattern, H h) {
    return add("POST", std::move(pattern), std::move(h));
  }
  template <class H>
  router& put(std::string pattern, H h) {
    return add("PUT", std::move(pattern), std::move(h));
  }
  template <class H>
  router& del(std::string pattern, H h) {
    return add("DELETE", std::move(pattern), std::move(h));
  }
  // Requests for a path no route has (a path routed for other methods
  // still gets 405).
  router& fallback(handler h) {
    fallback_ = {std::move(h), {}};
    return *this;
  }
  router& fallback(plain_handler h) {
    fallback_ = {{}, std::move(h)};
    return *this;
  }

  // The handler for req (binding its params), or nullptr. On nullptr,
  // `allow` lists the methods the path has (empty: 404; else 405).
  const route_handler* match(request& req, std::string& allow) const;

  // A pattern's segment: a literal (percent-decoded), a ":name" parameter
  // (`text` is the name), or a final "*" (the rest of the path).
  struct segment {
    enum kind : std::uint8_t { literal, param, rest };
    kind what = literal;
    std::string text;
  };

 private:
  struct route {
    std::string method;
    std::vector<segment> segments;
    route_handler h;
    bool any_path = false;  // the pattern is "/*": no need to look at the path
  };
  std::vector<route> routes_;
  route_handler fallback_;
};

// Wraps a plain function as a coroutine handler.
handler make_handler(plain_handler h);

}  // namespace weft::http
