// The `weft` command: the write-ups' servers, done properly.
#include "commands.hpp"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  CLI::App app{"weft: event-driven network servers on one epoll loop per core"};
  app.require_subcommand(1);
  std::function<int()> run;
  weft::app::add_echo_command(app, run);
  weft::app::add_qa_command(app, run);
  weft::app::add_hello_command(app, run);
  weft::app::add_inspect_command(app, run);
  weft::app::add_files_command(app, run);
  CLI11_PARSE(app, argc, argv);
  try {
    return run ? run() : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft: %s\n", e.what());
    return 1;
  }
}
