#pragma once
// The service behind `weft hello`, `weft inspect` and `weft files`: HTTP on
// one loop, with the flags they share.

#include "server.hpp"

#include <weft/http/server.hpp>

#include <memory>

namespace weft::app {

struct http_flags {
  std::uint64_t max_body = 8u << 20;
  std::uint64_t max_body_memory = http::default_body_budget;  // all bodies held at once
  std::size_t max_request_line = 8192;
  std::size_t max_head = 65536;
  std::size_t max_fields = 100;
  double head_timeout = 10, body_timeout = 30, idle_timeout = 60, write_timeout = 30;
  std::size_t max_requests = 10000;
  std::string access_log;  // FILE or "-"; empty: none
};

// Opens the access log; the options refer to the returned FILE.
std::shared_ptr<http::server_options> make_http_options(const http_flags& f);

// `log_path` is the access log's (--access-log), which SIGUSR1 reopens.
int run_http(const std::string& name, const common_options& opts,
             std::shared_ptr<const http::router> routes,
             std::shared_ptr<const http::server_options> http, const std::string& log_path);

}  // namespace weft::app
