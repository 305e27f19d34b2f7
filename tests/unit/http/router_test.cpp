// The router as a specification: which handler a method and a path reach,
// the parameters bound on the way, and the Allow list when none is reached.
#include <weft/http/router.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <utility>

using namespace weft::http;

namespace {

// A router whose handlers answer with a status that names them.
router numbered() {
  router r;
  r.get("/", [](request&) { return response(201); });
  r.get("/users/:id", [](request&) { return response(202); });
  r.post("/users/:id", [](request&) { return response(203); });
  r.get("/users/:id/posts/:post", [](request&) { return response(204); });
  r.del("/files/*", [](request&) { return response(205); });
  return r;
}

struct routed {
  int status = 0;  // the handler's, or 0 when none was reached
  std::string allow;
  request req;
};

routed route(const router& r, std::string_view method, std::string_view target) {
  routed o;
  o.req.head_.method = method;
  o.req.head_.target = target;
  if (const route_handler* h = r.match(o.req, o.allow)) o.status = h->plain(o.req).status();
  return o;
}

}  // namespace

TEST(router, a_method_and_path_reach_their_handler) {
  router r = numbered();
  EXPECT_EQ(route(r, "GET", "/").status, 201);
  EXPECT_EQ(route(r, "GET", "/users/7").status, 202);
  EXPECT_EQ(route(r, "POST", "/users/7").status, 203);
  EXPECT_EQ(route(r, "GET", "/users/7/posts/9").status, 204);
  EXPECT_EQ(route(r, "GET", "/users/7?full=1").status, 202);  // the query is not the path
  EXPECT_EQ(route(r, "GET", "//users//7/").status, 202);      // empty segments do not count
}

// A parameter is percent-decoded once, as a query parameter is (Express's
// req.params, Go's PathValue): "/users/John%20Doe" binds "John Doe", and an
// encoded slash is part of the value, not a separator. '+' is a plus in a
// path. A '%' not followed by two hex digits stays as it is (WHATWG URL
// percent-decode).
TEST(router, parameters_are_percent_decoded_once) {
  router r = numbered();
  routed o = route(r, "GET", "/users/John%20Doe/posts/a%2Fb%252F");
  EXPECT_EQ(o.status, 204);
  EXPECT_EQ(o.req.param("id"), "John Doe");
  EXPECT_EQ(o.req.param("post"), "a/b%2F");
  EXPECT_EQ(route(r, "GET", "/users/a+b").req.param("id"), "a+b");
  EXPECT_EQ(route(r, "GET", "/users/%zz%4").req.param("id"), "%zz%4");
  EXPECT_EQ(route(r, "GET", "/users/%C3%A9t%C3%A9").req.param("id"), "\xC3\xA9t\xC3\xA9");
}

// Literal segments are compared decoded, on both sides, as Go's ServeMux
// does: "%75" and "u" are the same URI (RFC 3986 §6.2.2), and a route with
// a non-ASCII segment is reachable, where raw bytes above 0x7F are refused
// in a target. They were compared as sent, so "/%75sers/7" missed
// "/users/:id" (found by review). An encoded slash stays inside its segment.
TEST(router, literal_segments_are_compared_percent_decoded) {
  router r = numbered();
  r.get("/caf\xC3\xA9", [](request&) { return response(206); });
  r.get("/na%C3%AFve", [](request&) { return response(207); });
  r.get("/a%2Fb", [](request&) { return response(208); });
  EXPECT_EQ(route(r, "GET", "/%75sers/7").status, 202);
  EXPECT_EQ(route(r, "GET", "/%75%73%65%72%73/7").status, 202);
  EXPECT_EQ(route(r, "GET", "/caf%C3%A9").status, 206);
  EXPECT_EQ(route(r, "GET", "/caf%c3%a9").status, 206);  // hex digits in either case
  EXPECT_EQ(route(r, "GET", "/na%C3%AFve").status, 207);
  EXPECT_EQ(route(r, "GET", "/na%c3%afve").status, 207);
  EXPECT_EQ(route(r, "GET", "/a%2Fb").status, 208);
  EXPECT_EQ(route(r, "GET", "/a/b").status, 0);        // a slash is not an encoded slash
  EXPECT_EQ(route(r, "GET", "/users%2F7").status, 0);  // nor the reverse
  EXPECT_EQ(route(r, "GET", "/caf%C3%A").status, 0);   // a short escape is not decoded
  EXPECT_EQ(route(r, "GET", "/caf%C3%A9x").status, 0);
  EXPECT_EQ(route(r, "GET", "/ca").status, 0);
}

TEST(router, parameters_bind_to_the_segments_they_name) {
  router r = numbered();
  routed o = route(r, "GET", "/users/ada/posts/42");
  EXPECT_EQ(o.req.param("id"), "ada");
  EXPECT_EQ(o.req.param("post"), "42");
  EXPECT_EQ(o.req.param("missing"), "");
  // A route that is tried and fails leaves no parameters behind.
  routed p = route(r, "GET", "/users/ada/comments");
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.req.param("id"), "");
}

TEST(router, a_final_star_matches_the_rest_of_the_path) {
  router r = numbered();
  EXPECT_EQ(route(r, "DELETE", "/files/a/b/c").status, 205);
  EXPECT_EQ(route(r, "DELETE", "/files/").status, 205);
  EXPECT_EQ(route(r, "DELETE", "/filesx").status, 0);
}

// Empty segments are skipped on both sides, as nginx's merge_slashes does
// (router.hpp says so; found undocumented by review).
TEST(router, empty_segments_are_skipped_as_merged_slashes) {
  router r = numbered();
  EXPECT_EQ(route(r, "GET", "//users//42/").status, 202);
  EXPECT_EQ(route(r, "GET", "//users//42/").req.param("id"), "42");
  EXPECT_EQ(route(r, "DELETE", "/files").status, 205);
  EXPECT_EQ(route(r, "GET", "//").status, 201);
}

TEST(router, head_is_served_by_the_get_route) {
  router r = numbered();
  EXPECT_EQ(route(r, "HEAD", "/users/1").status, 202);
  EXPECT_EQ(route(r, "HEAD", "/users/1").req.param("id"), "1");
}

// A HEAD route of its own wins over the GET route, whichever was added
// first; it was unreachable behind an earlier GET. Allow names each method
// once: "HEAD, GET, HEAD" came from a HEAD route added before the GET
// (found by review).
TEST(router, an_explicit_head_route_wins_and_allow_names_each_method_once) {
  for (bool head_first : {false, true}) {
    SCOPED_TRACE(head_first ? "HEAD added first" : "GET added first");
    router r;
    auto add_head = [&] {
      r.add("HEAD", "/g/:x", plain_handler([](request&) { return response(221); }));
    };
    if (head_first) add_head();
    r.get("/g/:x", [](request&) { return response(220); });
    if (!head_first) add_head();
    routed h = route(r, "HEAD", "/g/7");
    EXPECT_EQ(h.status, 221);
    EXPECT_EQ(h.req.param("x"), "7");
    EXPECT_EQ(route(r, "GET", "/g/7").status, 220);
    EXPECT_EQ(route(r, "POST", "/g/7").allow, head_first ? "HEAD, GET" : "GET, HEAD");
  }
}

// What a segment of a pattern is (parameter, final "*", literal) is read
// from the pattern as written; decoding applies to literals only. Decoding
// first made "/files/%2A" a catch-all and "/a/%3Aid" a parameter, and a
// request segment was also compared raw with the decoded pattern, so
// "/x/a%41" (that is "/x/aA") reached "/x/a%2541" (a literal "a%41")
// (found by review).
TEST(router, encoded_stars_and_colons_are_literal_segments) {
  router r;
  r.get("/files/%2A", [](request&) { return response(240); });
  r.get("/a/%3Aid", [](request&) { return response(241); });
  r.get("/x/a%2541", [](request&) { return response(242); });
  EXPECT_EQ(route(r, "GET", "/files/secret/x").status, 0);
  EXPECT_EQ(route(r, "GET", "/files/*").status, 240);
  EXPECT_EQ(route(r, "GET", "/files/%2a").status, 240);
  EXPECT_EQ(route(r, "GET", "/a/whatever").status, 0);
  EXPECT_EQ(route(r, "GET", "/a/:id").status, 241);
  EXPECT_EQ(route(r, "GET", "/x/a%41").status, 0);
  EXPECT_EQ(route(r, "GET", "/x/a%2541").status, 242);
  router any;
  any.get("/%2A", [](request&) { return response(243); });
  EXPECT_EQ(route(any, "GET", "/anything/else").status, 0);
  EXPECT_EQ(route(any, "GET", "/*").status, 243);
}

// Only a final "*" matches the rest of the path; anywhere else it is the
// literal segment "*". "/a/*/b" matched "/a/x/y/z" (found by review).
TEST(router, a_star_before_the_end_is_a_literal_segment) {
  router r;
  r.get("/a/*/b", [](request&) { return response(230); });
  EXPECT_EQ(route(r, "GET", "/a/*/b").status, 230);
  EXPECT_EQ(route(r, "GET", "/a/x/b").status, 0);
  EXPECT_EQ(route(r, "GET", "/a/x/y/z").status, 0);
}

TEST(router, a_path_with_other_methods_lists_them_in_allow) {
  router r = numbered();
  routed o = route(r, "PUT", "/users/1");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.allow, "GET, HEAD, POST");
  EXPECT_EQ(route(r, "PUT", "/nowhere").allow, "");    // 404, not 405
  EXPECT_EQ(route(r, "get", "/").allow, "GET, HEAD");  // methods are case-sensitive
}

TEST(router, the_fallback_takes_what_no_route_does) {
  router r = numbered();
  r.fallback(plain_handler([](request&) { return response(299); }));
  EXPECT_EQ(route(r, "PUT", "/nowhere").status, 299);
  EXPECT_EQ(route(r, "GET", "/users/1").status, 202);
}

// The fallback is for paths no route has: a path routed for other methods
// still gets 405 with Allow, as without a fallback. It went to the
// fallback, which cannot see the Allow list.
TEST(router, with_a_fallback_a_path_routed_for_other_methods_still_gets_405) {
  router r = numbered();
  r.fallback(plain_handler([](request&) { return response(299); }));
  auto got = route(r, "DELETE", "/users/1");
  EXPECT_EQ(got.status, 0);
  EXPECT_FALSE(got.allow.empty());
}

// A catch-all "/*" takes every path of its method, whatever the target's
// form, and lists its method in Allow for every path.
TEST(router, a_catch_all_takes_every_path_and_every_target_form) {
  router r;
  r.get("/*", [](request&) { return response(210); });
  r.post("/forms/:id", [](request&) { return response(211); });
  for (std::string_view target :
       {"/", "/a/b?c=d", "//x", "*", "example.com:443", "http://h/p?q", "http://h"}) {
    EXPECT_EQ(route(r, "GET", target).status, 210) << target;
    EXPECT_EQ(route(r, "HEAD", target).status, 210) << target;
  }
  routed o = route(r, "PUT", "/anything");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.allow, "GET, HEAD");
  routed f = route(r, "PUT", "/forms/1");
  EXPECT_EQ(f.allow, "GET, HEAD, POST");
  EXPECT_EQ(route(r, "POST", "/forms/1").req.param("id"), "1");
}

// Routes are tried in the order added, for a catch-all as for any route: a
// route of the same method before it wins where its path matches, routes of
// other methods before it do not stand in its way, and one after it is
// never reached.
TEST(router, a_catch_all_is_taken_in_its_place_among_the_routes) {
  router r;
  r.post("/*", [](request&) { return response(220); });
  r.get("/health", [](request&) { return response(221); });
  r.get("/*", [](request&) { return response(222); });
  r.get("/after", [](request&) { return response(223); });
  EXPECT_EQ(route(r, "POST", "/health").status, 220);
  EXPECT_EQ(route(r, "GET", "/health").status, 221);
  EXPECT_EQ(route(r, "HEAD", "/health").status, 221);
  EXPECT_EQ(route(r, "GET", "/after").status, 222);
  EXPECT_EQ(route(r, "GET", "/x").status, 222);
  EXPECT_EQ(route(r, "HEAD", "/x").status, 222);
  routed o = route(r, "PUT", "/health");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.allow, "POST, GET, HEAD");
}

// Parameters left by the caller do not survive a catch-all's match.
TEST(router, a_catch_all_match_binds_no_parameters) {
  router r;
  r.get("/*", [](request&) { return response(210); });
  routed o;
  o.req.head_.method = "GET";
  o.req.head_.target = "/x";
  o.req.params_.emplace_back("id", "stale");
  ASSERT_NE(r.match(o.req, o.allow), nullptr);
  EXPECT_EQ(o.req.param("id"), "");
}

// A fixed answer: its route answers every request with a copy of it, and
// carries it built for the server's fast path.
TEST(router, a_fixed_answer_is_given_to_every_request_it_takes) {
  router r;
  r.get("/health", response::text("ok\n").header("X-A", "1"));
  for (int i = 0; i < 2; ++i) {
    routed o = route(r, "GET", "/health");
    ASSERT_EQ(o.status, 200);
    const route_handler* h = r.match(o.req, o.allow);
    ASSERT_NE(h, nullptr);
    EXPECT_NE(h->fixed, nullptr);
    response res = h->plain(o.req);
    EXPECT_EQ(res.body(), "ok\n");
    EXPECT_EQ(res.header("X-A"), "1");
    EXPECT_EQ(res.header("Content-Type"), "text/plain; charset=utf-8");
  }
  EXPECT_EQ(route(r, "HEAD", "/health").status, 200);
  EXPECT_EQ(route(r, "POST", "/health").allow, "GET, HEAD");
}

TEST(router, a_fixed_answer_that_cannot_be_sent_twice_or_is_no_answer_is_refused) {
  router r;
  EXPECT_THROW(r.get("/", response().stream([](body_writer&) -> weft::task<void> { co_return; })),
               std::invalid_argument);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[1]);
  EXPECT_THROW(r.get("/", response().file(weft::unique_fd(fds[0]), 0, 0)), std::invalid_argument);
  EXPECT_THROW(r.get("/", response(101)), std::invalid_argument);
  EXPECT_THROW(r.get("/", response(199)), std::invalid_argument);
  EXPECT_THROW(r.get("/", response(600)), std::invalid_argument);
  EXPECT_EQ(route(r, "GET", "/").status, 0) << "nothing refused was added";
  r.get("/first", response(200));
  r.get("/last", response(599));
  EXPECT_EQ(route(r, "GET", "/first").status, 200);
  EXPECT_EQ(route(r, "GET", "/last").status, 599);
}

// A method is a token (RFC 9110 §9.1). One with a space or a control byte
// was taken, and the Allow line that names it could not be made: every
// request for that path with another method lost its connection with no
// answer (found by review). An empty one wrote "GET, " into Allow.
TEST(router, a_method_that_is_not_a_token_is_refused) {
  router r;
  auto h = [](request&) { return response(200); };
  for (const char* bad : {"", "G ET", "GET\r\n", "GE\x01T", "GET,POST", "G\"T"})
    EXPECT_THROW(r.add(bad, "/x", plain_handler(h)), std::invalid_argument) << bad;
  EXPECT_THROW(r.add("", "/x", response(200)), std::invalid_argument);
  EXPECT_EQ(route(r, "DELETE", "/x").allow, "") << "nothing refused was added";
  r.add("M-SEARCH", "/x", plain_handler(h));
  r.add("get", "/x", plain_handler(h));  // methods are case-sensitive, and a token
  EXPECT_EQ(route(r, "M-SEARCH", "/x").status, 200);
}

// The server copies a fixed answer whole into its output; a large body, and
// a CONNECT's answer (a tunnel when it is a 2xx), go the plain way.
TEST(router, a_large_or_connect_fixed_answer_is_answered_by_its_copy) {
  router r;
  r.get("/large", response::text(std::string(std::size_t{64} * 1024, 'x')));
  r.add("CONNECT", "/*", response(200));
  for (auto [method, target] : {std::pair{"GET", "/large"}, std::pair{"CONNECT", "/x"}}) {
    routed o = route(r, method, target);
    EXPECT_EQ(o.status, 200);
    const route_handler* h = r.match(o.req, o.allow);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->fixed, nullptr) << method;
  }
  routed o = route(r, "GET", "/large");
  EXPECT_EQ(r.match(o.req, o.allow)->plain(o.req).body().size(), 64u * 1024);
}

TEST(router, a_route_cannot_both_stream_its_body_and_ignore_it) {
  router r;
  auto plain = [](request&) { return response(200); };
  EXPECT_THROW(r.post("/", plain, {.stream_body = true, .ignore_body = true}),
               std::invalid_argument);
  EXPECT_THROW(r.fallback(plain_handler(plain), {.stream_body = true, .ignore_body = true}),
               std::invalid_argument);
  EXPECT_EQ(route(r, "POST", "/").status, 0) << "nothing refused was added";
  r.get("/", plain, {.ignore_body = true});
  EXPECT_EQ(route(r, "GET", "/").status, 200);
}

// A parameter needs a name, and one name binds one segment: with two
// ":id", param("id") gave the first and the second could not be reached,
// and ":" bound a segment no name could read; both were taken silently
// (found by an API review).
TEST(router, a_pattern_whose_parameters_cannot_all_be_read_is_refused) {
  router r;
  auto h = [](request&) { return response(200); };
  for (const char* bad : {"/dup/:id/x/:id", "/:", "/a/:/b", "/:a/:a"})
    EXPECT_THROW(r.get(bad, h), std::invalid_argument) << bad;
  EXPECT_EQ(route(r, "GET", "/dup/1/x/2").status, 0) << "nothing refused was added";
  r.get("/:a/:b", h);
  EXPECT_EQ(route(r, "GET", "/1/2").status, 200);
}
