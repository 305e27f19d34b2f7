// The `weft` command: the write-ups' servers, done properly.
#include "commands.hpp"

#include <weft/core/process.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

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
  weft::app::add_hello_command(app, run);
  weft::app::add_inspect_command(app, run);
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
