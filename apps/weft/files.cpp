// `weft files`: the write-ups' file server, done right: the server to run
// instead of `python3 -m http.server`. Nothing outside --root is served;
// see include/weft/http/static_files.hpp for what a request gets.

#include "commands.hpp"

#include <weft/http/message.hpp>

namespace weft::app {

std::shared_ptr<const http::router> files_routes(const files_options& o) {
  http::static_files_options files = o.files;
  files.file_cache = !o.no_file_cache;
  auto served = std::make_shared<http::static_files>(o.root, files);
  auto routes = std::make_shared<http::router>();
  // Every method reaches the file handler, which answers 405 with
  // "Allow: GET, HEAD" in its own HTML. It never reads a body: read
  // whole, a GET carrying 8 MiB held that much until it was all in,
  // and 50 such clients took 439 MB (found by review).
  routes->fallback([served](http::request& req) { return served->serve(req); },
                   {.ignore_body = true});
  return routes;
}

}  // namespace weft::app
