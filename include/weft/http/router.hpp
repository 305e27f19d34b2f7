#pragma once
// router: maps a method and a path to a handler. Patterns are literal
// segments and ":name" parameters ("/users/:id/posts"); a final "*" matches
// the rest (elsewhere "*" is a literal segment). Segments are compared
// percent-decoded, on both sides ("/%75sers" is "/users"; an encoded slash
// stays inside its segment), and parameters are bound decoded. HEAD goes to
// the path's GET route unless it has a HEAD route of its own. A path that
// matches with another method gets 405 with Allow. Empty segments are
// skipped on both sides, as nginx's merge_slashes does: "//users//42/"
// matches "/users/:id", and "/files" matches "/files/*" (with an empty
// rest). A handler that must tell them apart reads request::target().
// The rest that "*" matches is bound to no parameter: the handler reads it
// from request::path(), still percent-encoded (weft files resolves it with
// resolve_static_path, which decodes each segment once).
//
//   router r;
//   r.get("/users/:id", [](request& req) -> task<response> { ... });
//   r.post("/users", [](request& req) { return response::json("{}", 201); });
//   r.put("/uploads/:name", store, {.stream_body = true, .max_body = 1ull << 30});
//   r.get("/healthz", response::text("ok\n"));  // a fixed answer
//
// Threading: build it before serving; then read-only, so loops may share it.

#include <weft/core/time.hpp>
#include <weft/http/message.hpp>
#include <weft/task/task.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http {

namespace detail {
struct fixed_answer;
}

using handler = std::function<task<response>(request&)>;
using plain_handler = std::function<response(request&)>;

// How a route takes its request's body.
struct route_options {
  // The handler runs once the head is in, and reads the body itself as it
  // arrives, with request::read_some(): for a body too large to hold, or
  // one to refuse before the client sends it (a 100 Continue goes only when
  // the handler first reads). Without it, the server reads the whole body
  // first, and request::body() holds it. A plain handler may take it too,
  // to answer from the head alone (a 401, a 403) with the body unread.
  bool stream_body = false;
  // The handler never looks at a body (a file server's GET): it is
  // dropped as an unrouted request's is, up to 256 KiB read for
  // keep-alive, past that left unread and the connection closed after the
  // answer; request::body() is empty, read_some() gives nothing, and the
  // body limit does not apply.
  // Read whole, a client could make the server hold max_body for nothing.
  // Not with stream_body (router::add throws std::invalid_argument).
  bool ignore_body = false;
  // This route's body limit in bytes, above or below the server's
  // (parse_limits::max_body); 0: the server's. Past it: 413.
  std::uint64_t max_body = 0;
  // The time the whole body may take, from the first read (the handler's,
  // when it streams); zero: the server's (server_options::body_timeout).
  // Past it: 408. A route for large uploads needs more than the default.
  duration body_timeout{};
};

// What a route runs: a coroutine, or a plain function that the server calls
// directly, without a coroutine frame per request. Exactly one is set. A
// fixed answer's route has a plain function that returns a copy of it, and
// `fixed`, the answer built once, which the server sends in its place when
// it can (see router::add).
struct route_handler {
  handler coroutine;
  plain_handler plain;
  route_options options;
  std::shared_ptr<const detail::fixed_answer> fixed;
};

// Routes are tried in the order they were added: the first whose method
// and pattern match wins, so add "/users/me" before "/users/:id".
class router {
 public:
  // `method` is matched case-sensitively, as RFC 9110 §9.1 says; one that
  // is not a token (empty, a space, a control byte) throws
  // std::invalid_argument, as does a pattern with a parameter that has no
  // name (":") or a name used twice.
  router& add(std::string method, std::string_view pattern, handler h, route_options o = {});
  router& add(std::string method, std::string_view pattern, plain_handler h, route_options o = {});
  // A fixed answer: every request the route takes gets `answer`, as with
  // nginx's `return 200 "text"`. Its head, all but the Date and Connection
  // lines, is built here, once, not per request. A body that streams or
  // comes from a file cannot be sent twice, and a status outside 200..599
  // is no answer: both throw std::invalid_argument. Nothing reads the
  // request's body: the route ignores it (route_options::ignore_body),
  // whatever `o` says of bodies.
  router& add(std::string method, std::string_view pattern, response answer, route_options o = {});
  template <class H>
  router& get(std::string pattern, H h, route_options o = {}) {
    return add("GET", std::move(pattern), std::move(h), o);
  }
  template <class H>
  router& post(std::string pattern, H h, route_options o = {}) {
    return add("POST", std::move(pattern), std::move(h), o);
  }
  template <class H>
  router& put(std::string pattern, H h, route_options o = {}) {
    return add("PUT", std::move(pattern), std::move(h), o);
  }
  template <class H>
  router& del(std::string pattern, H h, route_options o = {}) {
    return add("DELETE", std::move(pattern), std::move(h), o);
  }
  // Requests for a path no route has (a path routed for other methods
  // still gets 405).
  router& fallback(handler h, route_options o = {}) {
    return set_fallback({std::move(h), {}, o, {}});
  }
  router& fallback(plain_handler h, route_options o = {}) {
    return set_fallback({{}, std::move(h), o, {}});
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
  router& add_route(std::string method, std::string_view pattern, route_handler h);
  router& set_fallback(route_handler h);
  const route_handler* match_walk(request& req, std::string& allow) const;
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
