#!/usr/bin/env bash
# Runs every benchmark suite that has a run.sh under bench/: bench/echo/run.sh
# (the echo comparison against peers), bench/files/run.sh (static files) and
# bench/http/run.sh (HTTP). The micro-benchmarks (bench/micro) and the parser
# benchmark (bench/http/parser) have none; their READMEs say how to run them.
# `make bench` calls this after building.
# Environment: BUILD_DIR (default: build), plus each suite's own settings.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
status=0
for suite in "$here"/*/run.sh; do
  echo "== bench: $(basename "$(dirname "$suite")")" >&2
  "$suite" || status=$?
done
exit $status
