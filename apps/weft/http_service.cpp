#include "http_service.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace weft::app {
namespace {

// The library's http::server, stopped by run_server's signal: it keeps no
// deadline of its own, as run_server stops the loops at --shutdown-timeout
// (or at a second signal).
class http_service final : public service {
 public:
  http_service(loop& l, tcp_listener listener, std::shared_ptr<const http::router> routes,
               std::shared_ptr<const http::server_options> opts)
      : routes_(std::move(routes)),
        opts_(std::move(opts)),
        server_(l, std::move(listener), *routes_, *opts_) {}

  void begin_shutdown(std::function<void()> done) override {
    server_.shutdown(duration::max(), std::move(done));
  }

 private:
  std::shared_ptr<const http::router> routes_;
  std::shared_ptr<const http::server_options> opts_;
  http::server server_;
};

}  // namespace

void add_http_flags(CLI::App& cmd, http_flags& f) {
  // Sizes are decimal, bounded below by 1 and above by 1 TiB; negative
  // input is refused rather than wrapped into "no limit".
  const auto size = CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40);
  // Timeouts: positive and finite, at most a day (a larger value would
  // overflow the clock's duration).
  const CLI::Validator secs = seconds(0.001, 86400);
  // The defaults are the safe ones; --help says which way loosens them.
  const std::string loosens = "; raising it loosens a safe default";
  cmd.add_option("--max-body", f.max_body, "Largest request body in bytes (413 beyond)" + loosens)
      ->capture_default_str()
      ->transform(decimal())
      ->check(size);
  // Bodies read whole (weft inspect's) take from one budget, so what many
  // clients can make the process hold is bounded: 100 clients sending
  // 8 MiB bodies held 864 MB, 3,000 would take 24 GB (found by review).
  cmd.add_option("--max-body-memory", f.max_body_memory,
                 "Most bytes of request bodies held at once, all connections and threads "
                 "together (503 beyond)" +
                     loosens)
      ->capture_default_str()
      ->transform(decimal())
      ->check(size);
  cmd.add_option("--max-request-line", f.max_request_line,
                 "Longest request line (414 beyond)" + loosens)
      ->capture_default_str()
      ->transform(decimal())
      ->check(size);
  cmd.add_option("--max-header-bytes", f.max_head, "Largest request head (431 beyond)" + loosens)
      ->capture_default_str()
      ->transform(decimal())
      ->check(size);
  cmd.add_option("--max-headers", f.max_fields, "Most header fields (431 beyond)" + loosens)
      ->capture_default_str()
      ->transform(decimal())
      ->check(CLI::Range(1, 256));
  cmd.add_option("--header-timeout", f.head_timeout,
                 "Seconds for a whole request head (slowloris)" + loosens)
      ->capture_default_str()
      ->check(secs);
  cmd.add_option("--body-timeout", f.body_timeout, "Seconds for a whole request body" + loosens)
      ->capture_default_str()
      ->check(secs);
  cmd.add_option("--idle-timeout", f.idle_timeout,
                 "Seconds a keep-alive connection may idle" + loosens)
      ->capture_default_str()
      ->check(secs);
  cmd.add_option("--write-timeout", f.write_timeout,
                 "Seconds for a client to take a response" + loosens)
      ->capture_default_str()
      ->check(secs);
  cmd.add_option("--max-requests", f.max_requests,
                 "Requests per connection before it closes" + loosens)
      ->capture_default_str()
      ->transform(decimal())
      ->check(size);
  // An empty path, as from "--access-log $LOG" with LOG unset, turned the
  // log off unnoticed (found by review).
  cmd.add_option("--access-log", f.access_log, "Common Log Format to FILE, or - for stdout")
      ->check(CLI::Validator(
          [](std::string& path) -> std::string {
            return path.empty() ? "must name a file, or - for stdout" : "";
          },
          "FILE"));
}

std::shared_ptr<http::server_options> make_http_options(const http_flags& f) {
  // The budget lives as long as the options that point at it.
  struct options_and_budget {
    explicit options_and_budget(std::uint64_t bytes) : budget(bytes) {}
    http::memory_budget budget;
    http::server_options options;
  };
  auto both = std::make_shared<options_and_budget>(f.max_body_memory);
  std::shared_ptr<http::server_options> o(both, &both->options);
  o->body_budget = &both->budget;
  o->limits.max_body = f.max_body;
  o->limits.max_request_line = f.max_request_line;
  o->limits.max_head = f.max_head;
  o->limits.max_fields = f.max_fields;
  o->head_timeout = seconds(f.head_timeout);
  o->body_timeout = seconds(f.body_timeout);
  o->idle_timeout = seconds(f.idle_timeout);
  o->write_timeout = seconds(f.write_timeout);
  o->max_requests = f.max_requests;
  if (!f.access_log.empty()) o->access_log = http::open_access_log(f.access_log);
  return o;
}

CLI::App* add_http_command(CLI::App& app, std::function<int()>& run, const std::string& name,
                           const std::string& help,
                           std::function<std::shared_ptr<const http::router>()> make_routes,
                           int default_port) {
  auto* cmd = app.add_subcommand(name, help);
  auto opts = std::make_shared<common_options>();
  // A connection is accepted with its request in: the first read finds it
  // (see listen_options). One that stays silent is accepted about a second
  // later, and the first-byte timeout runs from there.
  opts->defer_accept_seconds = 1;
  auto flags = std::make_shared<http_flags>();
  add_common_flags(*cmd, *opts, default_port);
  add_http_flags(*cmd, *flags);
  cmd->callback([&run, name, opts, flags, make_routes = std::move(make_routes)] {
    // A body over the budget could never be held: every one would get 503.
    if (flags->max_body > flags->max_body_memory)
      throw CLI::ValidationError("--max-body",
                                 "is more than --max-body-memory: no such body could be held");
    run = [name, opts, flags, make_routes] {
      return run_http(name, *opts, make_routes(), make_http_options(*flags), flags->access_log);
    };
  });
  return cmd;
}

int run_http(const std::string& name, const common_options& opts,
             std::shared_ptr<const http::router> routes,
             std::shared_ptr<const http::server_options> http, const std::string& log_path) {
  std::FILE* log = http->access_log;
  int status = run_server(
      name, opts,
      [routes = std::move(routes), http = std::move(http)](loop& l, tcp_listener li) {
        return std::make_unique<http_service>(l, std::move(li), routes, http);
      },
      [log, &log_path] { http::reopen_access_log(log, log_path); });
  // Every loop has stopped, so nothing writes to the log now: its drops
  // not yet counted are said (a reader that never read again).
  http::close_access_log(log);
  return status;
}

}  // namespace weft::app
