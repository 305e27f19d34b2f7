#include "http_service.hpp"

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
