#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy) over the .cpp files of src/ and
# apps/, with the flags recorded in BUILD_DIR/compile_commands.json.
# Usage: scripts/tidy.sh BUILD_DIR [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: $0 BUILD_DIR [JOBS]}
jobs=${2:-$(nproc)}
tidy=$(command -v clang-tidy-14 || command -v clang-tidy)
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json" >&2; exit 2; }
# One clang-tidy per file, $jobs at a time; xargs fails if any of them does.
# Its "N warnings generated" count (system headers, all filtered) is dropped.
git ls-files 'src/*.cpp' 'apps/*.cpp' |
  xargs -P "$jobs" -n 1 "$tidy" -p "$build" --quiet 2> >(grep -v 'warnings generated\.$' >&2)
