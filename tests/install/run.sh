#!/usr/bin/env bash
# Installs the built library into a scratch prefix, then builds and runs a
# consumer that finds it with find_package(weft), and the same consumer
# built with pkg-config's flags; and configures weft as a subproject.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A step's output is shown only when it fails (a compiler's errors go to
# stdout under ninja, and were dropped with it).
quiet() { local out; out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }; }
quiet cmake --install "$build" --prefix "$work/prefix"
quiet cmake -S "$src" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix"
quiet cmake --build "$work/consumer"
"$work/consumer/consumer"
echo "find_package(weft) consumer: ok"

# pkg-config: the .pc file names the library and its include path; the
# standard is the user's to choose, C++20 or later.
pc=$(find "$work/prefix" -name weft.pc)
[ -n "$pc" ] || { echo "no weft.pc installed" >&2; exit 1; }
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs weft)
c++ -std=c++20 "$src/consumer.cpp" $flags -o "$work/consumer_pc"
"$work/consumer_pc"
echo "pkg-config consumer: ok ($flags)"

quiet cmake -S "$src/subproject" -B "$work/subproject" -DWEFT_SOURCE_DIR="$src/../.."
echo "subproject: ok"
