#!/usr/bin/env bash
# Installs the Debian packages a make target needs, or prints the command to run.
# Usage: scripts/deps.sh build|test|bench|fuzz|tidy
# Why a script and not a README step: the brief promises that `make run` and
# `make test` work on a fresh Debian 12 machine with no manual step.
set -euo pipefail
# python3: the tests' CMake file needs it at configure time, which `make
# run` does too (a Debian 12 image without it stopped there).
build=(cmake ninja-build g++ make python3 libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libasio-dev libhttp-parser-dev nlohmann-json3-dev pkg-config)
test=("${build[@]}" curl python3-eventlet wrk nghttp2-client chromium)
bench=("${build[@]}" python3-eventlet wrk libhttp-parser-dev nginx-light h2o nghttp2-client valgrind)
# libFuzzer and the sanitizer runtimes for clang-14 are in libclang-rt-14-dev.
fuzz=("${build[@]}" clang-14 libclang-rt-14-dev)
tidy=("${build[@]}" clang-tidy-14 git)  # git: scripts/tidy.sh lists the files
case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test) want=("${test[@]}") ;;
  bench) want=("${bench[@]}") ;;
  fuzz) want=("${fuzz[@]}") ;;
  tidy) want=("${tidy[@]}") ;;
  *) echo "usage: $0 build|test|bench|fuzz|tidy" >&2; exit 2 ;;
esac
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || true
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps: missing Debian packages. Run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
