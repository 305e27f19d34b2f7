// `weft hello`: the write-ups' "Hello, world!" server, done right: HTTP/1.1
// keep-alive and pipelining, 405 with Allow for methods other than GET/HEAD.

#include "commands.hpp"
#include "http_service.hpp"

namespace weft::app {

void add_hello_command(CLI::App& app, std::function<int()>& run) {
  add_http_command(app, run, "hello", "HTTP Hello, world! server, default port 8080", [] {
    auto routes = std::make_shared<http::router>();
    // A fixed answer, as nginx's `return 200 "Hello, world!"`: its head is
    // built once (router::add).
    routes->get("/*", http::response(200).content_type("text/plain").body("Hello, world!"));
    return routes;
  });
}

}  // namespace weft::app
