// `weft files`: the write-ups' file server, done right: the server to run
// instead of `python3 -m http.server`. Nothing outside --root is served;
// see include/weft/http/static_files.hpp for what a request gets.

#include "commands.hpp"
#include "http_service.hpp"

#include <weft/http/message.hpp>
#include <weft/http/static_files.hpp>

#include <stdexcept>

namespace weft::app {

void add_files_command(CLI::App& app, std::function<int()>& run) {
  struct files_flags {
    std::string root = ".";
    http::static_files_options files;
    bool no_file_cache = false;
  };
  auto flags = std::make_shared<files_flags>();
  CLI::App* cmd = add_http_command(
      app, run, "files", "Static file server for --root, default port 8000",
      [flags] {
        http::static_files_options o = flags->files;
        o.file_cache = !flags->no_file_cache;
        auto files = std::make_shared<http::static_files>(flags->root, o);
        auto routes = std::make_shared<http::router>();
        // Every method reaches the file handler, which answers 405 with
        // "Allow: GET, HEAD" in its own HTML. It never reads a body: read
        // whole, a GET carrying 8 MiB held that much until it was all in,
        // and 50 such clients took 439 MB (found by review).
        routes->fallback([files](http::request& req) { return files->serve(req); },
                         {.ignore_body = true});
        return routes;
      },
      8000);
  cmd->add_option("--root", flags->root, "Directory to serve")->capture_default_str();
  cmd->add_flag("--dotfiles", flags->files.dotfiles,
                "LOOSENS SAFETY: also serve and list names starting with '.' (such as .git "
                "or .env), which are hidden by default");
  // A usage error, exit 2, as any bad value is: refused when the server
  // started, it exited 1, as a server that cannot start does (found by
  // review). The response's own check of a field value, the one
  // static_files makes again for the library's callers.
  cmd->add_option("--cache-control", flags->files.cache_control,
                  "Cache-Control value sent with files (none by default)")
      ->check(CLI::Validator(
          [](const std::string& v) -> std::string {
            try {
              http::response().header("Cache-Control", v);
              return {};
            } catch (const std::invalid_argument&) {
              return "a control byte (CR, LF, NUL...) in the value";
            }
          },
          "FIELD-VALUE"));
  cmd->add_flag("--no-file-cache", flags->no_file_cache,
                "Open and stat every file on every request (by default each loop keeps open "
                "files and small files' bytes for up to 0.5 s)");
}

}  // namespace weft::app
