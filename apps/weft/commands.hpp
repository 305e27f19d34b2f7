#pragma once
// What each subcommand serves, run from flags that the command line
// (main.cpp) has parsed and checked. CLI11 stays in that one file: every
// subcommand's file included it, and each paid ~9 s of compile for it and
// ~20 s of clang-tidy, most of `make tidy`'s time for apps/ (measured on
// 2026-12-07: 25 s of clang-tidy for hello.cpp's 19 lines, 5.6 s without).

#include "server.hpp"

#include <weft/http/router.hpp>
#include <weft/http/static_files.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace weft::app {

struct echo_options {
  std::size_t max_line = 65536;
  double idle_timeout = 300;  // seconds: see add_idle_timeout_flag
};
// `weft echo`: serves until a signal; returns the exit status.
int run_echo(const common_options& opts, const echo_options& echo);

struct qa_options {
  std::optional<std::string> answers_file;  // none: the built-in table
  double idle_timeout = 300;                // seconds: see add_idle_timeout_flag
};
// `weft qa`: loads its table (throws std::runtime_error for a bad one),
// then serves until a signal; returns the exit status.
int run_qa(const common_options& opts, const qa_options& qa);

// The HTTP subcommands' routes (run_http serves them).
std::shared_ptr<const http::router> hello_routes();
std::shared_ptr<const http::router> inspect_routes();

struct files_options {
  std::string root = ".";
  http::static_files_options files;
  bool no_file_cache = false;
};
// Throws as http::static_files does for a root it cannot open.
std::shared_ptr<const http::router> files_routes(const files_options& o);

}  // namespace weft::app
