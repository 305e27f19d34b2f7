// The `weft` command: the write-ups' servers, done properly. Its command
// line, every subcommand's flags and their checks, is all here: the one
// file that includes CLI11 (see commands.hpp).
#include "commands.hpp"
#include "http_service.hpp"

#include <CLI/CLI.hpp>

#include <weft/core/process.hpp>
#include <weft/http/message.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace weft::app {
namespace {

// A flag's check: a finite number of seconds in [min, max]. CLI::Range is
// not enough, as NaN passes any range check ("--shutdown-timeout nan" was
// taken, and converting it to a duration is undefined).
CLI::Validator seconds(double min, double max) {
  std::string why = "must be a number of seconds in [" + CLI::detail::to_string(min) + ", " +
                    CLI::detail::to_string(max) + "]";
  return CLI::Validator(
      [min, max, why](std::string& text) -> std::string {
        // Decimal digits with at most one point between or before them, as
        // a whole-number flag takes decimal digits only: std::stod alone
        // read "0x10" as 16 s, "0x1p1" as 2 and " 5" as 5 (found by review).
        const std::size_t point = text.find('.');
        const bool digits_only = text.find_first_not_of("0123456789.") == std::string::npos;
        const bool one_point =
            point == std::string::npos || text.find('.', point + 1) == std::string::npos;
        if (!digits_only || !one_point || text.empty() || text.back() == '.') return why;
        try {
          double v = std::stod(text);
          if (std::isfinite(v) && v >= min && v <= max) return {};
        } catch (const std::exception&) {
        }
        return why;
      },
      "SECONDS");
}

// A whole-number flag's transform, run before its range check: decimal
// digits only, leading zeros dropped. CLI11 converts with strtoll's base 0,
// so "010" was 8 and "0x10" 16, and an unsigned flag took
// "-18446744073709551615" as 1, past its range check (found by review).
CLI::Validator decimal() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::size_t digits = text.find_first_not_of("0123456789");
        if (text.empty() || digits != std::string::npos) return "must be a decimal number";
        text.erase(0, std::min(text.find_first_not_of('0'), text.size() - 1));
        return {};
      },
      "");
}

// --idle-timeout for the line servers (echo, qa): how long a connection
// may go with nothing moving, no request read and no reply taken, before
// it is closed; `what` says what moves. A peer that vanished (its FIN lost
// with its network) holds a connection with no timeout for good, its
// descriptor and buffers with it; nginx's stream module closes one after
// 10 min (proxy_timeout), its HTTP after 75 s. A line server's client may
// think between requests, so minutes.
void add_idle_timeout_flag(CLI::App& cmd, double& secs, const std::string& what) {
  secs = 300;
  cmd.add_option("--idle-timeout", secs,
                 "Seconds a connection may go with " + what +
                     " before it is closed (reset if replies are still owed); raising it "
                     "loosens a safe default")
      ->capture_default_str()
      ->check(seconds(0.001, 86400));
}

// --host, --port (default_port by default), --threads, --backlog,
// --trigger, --shutdown-timeout and --reuse-port.
void add_common_flags(CLI::App& cmd, common_options& opts, int default_port) {
  opts.port = default_port;
  // Checked with the other flags: looked at only once the server was to
  // start, it came after --access-log had made its file, and after a bad
  // --root or --answers was said with exit 1 (found by review).
  cmd.add_option("--host", opts.host,
                 "Address to listen on: an IPv4 or IPv6 address, or localhost (127.0.0.1); no "
                 "DNS, and :: is IPv6 only. One beyond loopback loosens a safe default")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            if (endpoint::from_host(text, 0)) return {};
            return "must be an IPv4 or IPv6 address, or localhost (weft looks up no names)";
          },
          "ADDRESS"));
  cmd.add_option("--port", opts.port, "Port; 0 picks a free one")
      ->capture_default_str()
      ->transform(decimal())
      ->check(CLI::Range(0, 65535));
  cmd.add_option("--threads", opts.threads,
                 "Loops (threads); 0 = one per core. More than one listen on the port with "
                 "SO_REUSEPORT, which another process of the same user can join")
      ->capture_default_str()
      ->transform(decimal())
      ->check(CLI::Range(0, 1024));
  cmd.add_option("--backlog", opts.backlog, "Listen backlog, capped at somaxconn")
      ->capture_default_str()
      ->transform(decimal())
      ->check(CLI::Range(1, 1 << 20));
  cmd.add_option("--trigger", opts.trigger, "epoll mode for connections: level or edge")
      ->capture_default_str()
      ->check(CLI::IsMember({"level", "edge"}));
  cmd.add_option(
         "--shutdown-timeout", opts.shutdown_grace,
         "Seconds that work in flight may take after SIGINT, SIGTERM or SIGHUP before it is cut; "
         "a second signal cuts it at once")
      ->capture_default_str()
      ->check(seconds(0, 86400));
  cmd.add_flag("--reuse-port", opts.reuse_port,
               "LOOSENS SAFETY: share the port with another process (SO_REUSEPORT, same user) "
               "instead of refusing a port that is already served; for a restart where the new "
               "server starts before the old one stops. The kernel splits new connections "
               "between them");
}

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

// Registers an HTTP subcommand: the common and HTTP flags, the default
// port, and a server built from the router that make_routes returns (called
// once the flags are parsed). Returns the subcommand, for its own flags.
CLI::App* add_http_command(CLI::App& app, std::function<int()>& run, const std::string& name,
                           const std::string& help,
                           std::function<std::shared_ptr<const http::router>()> make_routes,
                           int default_port = 8080) {
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

void add_echo_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("echo", "Line echo server (green threads), default port 6000");
  auto opts = std::make_shared<common_options>();
  auto eo = std::make_shared<echo_options>();
  add_common_flags(*cmd, *opts, 6000);
  cmd->add_option("--max-line", eo->max_line,
                  "Longest line in bytes before the error reply; raising it loosens a safe default")
      ->capture_default_str()
      ->transform(decimal())
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  add_idle_timeout_flag(*cmd, eo->idle_timeout, "no line from its client and no echo taken");
  cmd->callback([&run, opts, eo] { run = [opts, eo] { return run_echo(*opts, *eo); }; });
}

void add_qa_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("qa", "Question/answer server (callback API), default port 1060");
  auto opts = std::make_shared<common_options>();
  auto qo = std::make_shared<qa_options>();
  auto answers_file = std::make_shared<std::string>();
  add_common_flags(*cmd, *opts, 1060);
  CLI::Option* answers = cmd->add_option(
      "--answers", *answers_file, "File of question<TAB>answer lines replacing the built-in table");
  add_idle_timeout_flag(*cmd, qo->idle_timeout, "no question read and no answer taken");
  cmd->callback([&run, opts, qo, answers_file, answers] {
    // Given, even empty, it names the file: `--answers "$UNSET"` served the
    // built-in table without a word (found by review).
    if (answers->count() > 0) qo->answers_file = *answers_file;
    run = [opts, qo] { return run_qa(*opts, *qo); };
  });
}

void add_files_command(CLI::App& app, std::function<int()>& run) {
  auto flags = std::make_shared<files_options>();
  CLI::App* cmd = add_http_command(
      app, run, "files", "Static file server for --root, default port 8000",
      [flags] { return files_routes(*flags); }, 8000);
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
            // Empty is an unset variable's ("$UNSET"): it sent none without
            // a word. Spaces around a field value are none of its (RFC 9110
            // §5.5). Found by review.
            if (v.empty()) return "an empty value; leave the flag out to send none";
            if (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t')
              return "spaces around the value";
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

}  // namespace
}  // namespace weft::app

namespace {

// A usage error's status: 2, as getopt-era tools and --host's own check
// give; CLI11's codes (105, 106, 109, 114...) differed by kind of mistake.
constexpr int usage_error = 2;

// "hello, echo, ..." in the order they were added; whether `name` is one.
std::string subcommand_list(CLI::App& app, const char* name, bool& known) {
  std::string list;
  known = false;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (!list.empty()) list += ", ";
    list += sub->get_name();
    known = known || (name != nullptr && sub->get_name() == name);
  }
  return list;
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything takes descriptor 1 for its own: see process.hpp.
  weft::open_standard_descriptors();
  CLI::App app{"weft: event-driven network servers on one epoll loop per core"};
  app.require_subcommand(1);
  std::function<int()> run;
  weft::app::add_echo_command(app, run);
  weft::app::add_qa_command(app, run);
  weft::app::add_http_command(app, run, "hello", "HTTP Hello, world! server, default port 8080",
                              weft::app::hello_routes);
  weft::app::add_http_command(app, run, "inspect",
                              "HTTP request inspector (JSON), default port 8080",
                              weft::app::inspect_routes);
  weft::app::add_files_command(app, run);
  // Said plainly, with the names: CLI11 says only "A subcommand is
  // required", also for a misspelt one.
  bool known = false;
  std::string list = subcommand_list(app, argc > 1 ? argv[1] : nullptr, known);
  if (argc < 2) {
    std::fprintf(stderr, "weft: a subcommand is required: %s (weft --help)\n", list.c_str());
    return usage_error;
  }
  if (argv[1][0] != '-' && !known) {
    std::fprintf(stderr, "weft: unknown subcommand '%s': %s (weft --help)\n", argv[1],
                 list.c_str());
    return usage_error;
  }
  // A flag before the subcommand: CLI11 said "A subcommand is required"
  // for `weft --bogus`, and "not expected: 0 --port" for `weft --port 0
  // hello`.
  if (const std::string_view first = argv[1];
      first.starts_with('-') && first != "-h" && first != "--help") {
    std::fprintf(stderr,
                 "weft: '%s' comes before the subcommand; flags go after the subcommand: "
                 "weft SUBCOMMAND [flags], where SUBCOMMAND is one of %s (weft --help)\n",
                 argv[1], list.c_str());
    return usage_error;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : usage_error;  // --help: its text, and 0
  }
  try {
    return run ? run() : usage_error;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft: %s\n", e.what());
    return 1;
  }
}
