#pragma once
// One function per subcommand: each registers itself on the CLI11 app and,
// when chosen, sets `run` to the function that serves.
#include <CLI/CLI.hpp>

#include <functional>

namespace weft::app {
void add_echo_command(CLI::App& app, std::function<int()>& run);
void add_qa_command(CLI::App& app, std::function<int()>& run);
void add_hello_command(CLI::App& app, std::function<int()>& run);
void add_inspect_command(CLI::App& app, std::function<int()>& run);
void add_files_command(CLI::App& app, std::function<int()>& run);
}  // namespace weft::app
