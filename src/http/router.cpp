#include <weft/http/router.hpp>

#include "http/char_tables.hpp"
#include "http/fixed_answer.hpp"
#include "http/response_lines.hpp"
#include "http/route_match.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace weft::http {
namespace {
// A coroutine with no captures (STYLE: a capturing coroutine lambda dangles
// once the lambda object goes). The plain handler lives in the router.
task<response> call_plain(const plain_handler* h, request* req) {
  co_return (*h)(*req);
}
}  // namespace

handler make_handler(plain_handler h) {
  auto fn = std::make_shared<plain_handler>(std::move(h));
  return [fn](request& req) { return call_plain(fn.get(), &req); };
}

namespace {
bool matches_any_path(const std::vector<router::segment>& segments) {
  return segments.size() == 1 && segments[0].what == router::segment::rest;
}
}  // namespace

router& router::add(std::string method, std::string_view pattern, handler h, route_options o) {
  return add_route(std::move(method), pattern, {std::move(h), {}, o, {}});
}

router& router::add(std::string method, std::string_view pattern, plain_handler h,
                    route_options o) {
  return add_route(std::move(method), pattern, {{}, std::move(h), o, {}});
}

router& router::add(std::string method, std::string_view pattern, response answer,
                    route_options o) {
  // Past copied_body_max (fixed_answer.hpp), the plain function answers,
  // as it does for CONNECT, whose 2xx answer makes a tunnel (framing_of in
  // server.cpp).
  auto fixed = detail::make_fixed_answer(answer);
  if (method == "CONNECT") fixed = nullptr;
  // It never reads its request, so nothing reads the body, however large
  // the answer: past copied_body_max the body was read whole, from the
  // shared budget, a long one got 413 and an expected one a 100 Continue
  // (found by review). take_body goes by this alone.
  o.stream_body = false;
  o.ignore_body = true;
  // Its copies share one body: an owned one was copied per request.
  if (!answer.body().empty())
    answer.body(std::make_shared<const std::string>(answer.body()), 0, std::string::npos);
  auto kept = std::make_shared<const response>(std::move(answer));
  plain_handler copy = [kept](request&) {
    return weft::detail::response_lines::copy_string_response(*kept);
  };
  return add_route(std::move(method), pattern, {{}, std::move(copy), o, std::move(fixed)});
}

namespace {
void check_options(const route_options& o) {
  if (o.stream_body && o.ignore_body)
    throw std::invalid_argument("router: a route cannot both stream its body and ignore it");
}

// Every parameter can be read: it has a name, and no other has it (two
// ":id" bound two segments, and param("id") gave only the first).
void check_parameters(const std::vector<router::segment>& segments) {
  for (auto at = segments.begin(); at != segments.end(); ++at) {
    if (at->what != router::segment::param) continue;
    if (at->text.empty())
      throw std::invalid_argument("router::add: a parameter without a name (\":\")");
    for (auto later = at + 1; later != segments.end(); ++later)
      if (later->what == router::segment::param && later->text == at->text)
        throw std::invalid_argument("router::add: the parameter \":" + at->text +
                                    "\" is named twice");
  }
}
}  // namespace

router& router::set_fallback(route_handler h) {
  check_options(h.options);
  fallback_ = std::move(h);
  return *this;
}

router& router::add_route(std::string method, std::string_view pattern, route_handler h) {
  check_options(h.options);
  // A token (RFC 9110 §9.1), as the Allow line that names it must be: one
  // with a space or a control byte could not be put in it, and a request
  // for the path with another method lost its connection unanswered.
  if (method.empty() || detail::span_of(method, detail::tchar) != method.size())
    throw std::invalid_argument("router::add: the method is not a token");
  auto segments = detail::split_pattern(pattern);
  check_parameters(segments);
  bool any = matches_any_path(segments);
  routes_.push_back({std::move(method), std::move(segments), std::move(h), any});
  return *this;
}

namespace {
// Adds `method` to an Allow list unless it is there already, as a whole name.
void allow_method(std::string& allow, std::string_view method) {
  for (std::string_view rest = allow; !rest.empty();) {
    auto comma = rest.find(", ");
    if (rest.substr(0, comma) == method) return;
    rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 2);
  }
  if (!allow.empty()) allow += ", ";
  allow += method;
}
}  // namespace

// The usual case, a route for any path ("/*") that comes before every other
// route of the request's method, is found here without the walk's
// bookkeeping (its path, HEAD's GET route, the Allow list). As the walk
// itself, this took ~68 instructions a request for weft hello's one route,
// most of them saving and restoring registers: 771 -> 745 in all
// (bench/http/instructions.sh). Anything else is match_walk's.
const route_handler* router::match(request& req, std::string& allow) const {
  for (const route& r : routes_) {
    if (!detail::same_bytes(r.method, req.method())) continue;
    if (!r.any_path) break;
    req.params_.clear();
    return &r.h;
  }
  return match_walk(req, allow);
}

[[gnu::noinline]] const route_handler* router::match_walk(request& req, std::string& allow) const {
  // The path is found only for a route that looks at it: a catch-all "/*"
  // (weft hello) does not, nor does a router with only a fallback (weft
  // files). Finding the path and walking "/*" cost ~90 of the ~1,830
  // instructions of a pipelined request (bench/http/instructions.sh).
  std::string_view path;
  bool have_path = false;
  auto path_now = [&] {
    if (!have_path) path = req.path(), have_path = true;
    return path;
  };
  // HEAD is served by the GET route of the path, unless the path has a HEAD
  // route of its own, wherever that comes in the list.
  const bool head = detail::same_bytes(req.method(), "HEAD");
  const route* get_for_head = nullptr;
  for (const route& r : routes_) {
    // The method first: one walk of the path for the route that is taken.
    if (detail::same_bytes(r.method, req.method())) {
      req.params_.clear();
      if (r.any_path) return &r.h;
      if (detail::match_path(r.segments, path_now(), &req.params_)) {
        detail::decode_params(req.params_, req.param_bytes_);
        return &r.h;
      }
      req.params_.clear();
      continue;
    }
    if (!r.any_path && !detail::match_path(r.segments, path_now(), nullptr)) continue;
    if (head && get_for_head == nullptr && detail::same_bytes(r.method, "GET")) get_for_head = &r;
    allow_method(allow, r.method);
    if (r.method == "GET") allow_method(allow, "HEAD");
  }
  if (get_for_head != nullptr) {
    req.params_.clear();
    if (!get_for_head->any_path) {
      detail::match_path(get_for_head->segments, path_now(), &req.params_);
      detail::decode_params(req.params_, req.param_bytes_);
    }
    allow.clear();
    return &get_for_head->h;
  }
  // A path routed for other methods is a 405 with Allow, fallback or not:
  // the fallback cannot see the Allow list.
  if (allow.empty() && (fallback_.coroutine || fallback_.plain)) return &fallback_;
  return nullptr;
}

}  // namespace weft::http
