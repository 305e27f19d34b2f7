// `weft hello`: the write-ups' "Hello, world!" server, done right: HTTP/1.1
// keep-alive and pipelining, 405 with Allow for methods other than GET/HEAD.

#include "commands.hpp"
#include "http_service.hpp"

namespace weft::app {
using namespace std::string_literals;

void add_hello_command(CLI::App& app, std::function<int()>& run) {
  add_http_command(app, run, "hello", "HTTP Hello, world! server, default port 8080", [] {
    auto routes = std::make_shared<http::router>();
    routes->get("/*", [](http::request&) {
      http::response r(200);
      r.content_type("text/plain");
      r.body("Hello, world!"s);  // its length known when compiled
      return r;
    });
    return routes;
  });
}

}  // namespace weft::app
