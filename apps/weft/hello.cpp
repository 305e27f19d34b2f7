// `weft hello`: the write-ups' "Hello, world!" server, done right: HTTP/1.1
// keep-alive and pipelining, 405 with Allow for methods other than GET/HEAD.

#include "commands.hpp"
#include "http_service.hpp"

namespace weft::app {

void add_hello_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("hello", "HTTP Hello, world! server, default port 8080");
  auto opts = std::make_shared<common_options>();
  auto flags = std::make_shared<http_flags>();
  add_common_flags(*cmd, *opts, 8080);
  add_http_flags(*cmd, *flags);
  cmd->callback([&run, opts, flags] {
    run = [opts, flags] {
      auto routes = std::make_shared<http::router>();
      routes->get("/*", [](http::request&) {
        http::response r(200);
        r.content_type("text/plain");
        r.body("Hello, world!");
        return r;
      });
      return run_http("hello", *opts, routes, make_http_options(*flags));
    };
  });
}

}  // namespace weft::app
