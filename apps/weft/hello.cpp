// `weft hello`: the write-ups' "Hello, world!" server, done right: HTTP/1.1
// keep-alive and pipelining, 405 with Allow for methods other than GET/HEAD.

#include "commands.hpp"

#include <weft/http/message.hpp>

namespace weft::app {

std::shared_ptr<const http::router> hello_routes() {
  auto routes = std::make_shared<http::router>();
  // A fixed answer, as nginx's `return 200 "Hello, world!"`: its head is
  // built once (router::add).
  routes->get("/*", http::response(200).content_type("text/plain").body("Hello, world!"));
  return routes;
}

}  // namespace weft::app
