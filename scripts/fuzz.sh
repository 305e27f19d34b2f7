#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14 into build-fuzz, runs
# each for FUZZ_SECONDS, two at a time, and prints a table of executions per
# second and coverage. Fails if any target crashes; its input is left under
# build-fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/).
# Usage: FUZZ_SECONDS=60 FUZZ_PARALLEL=2 JOBS=1 scripts/fuzz.sh [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
parallel=${FUZZ_PARALLEL:-2}
out=build-fuzz
scripts/deps.sh fuzz
cmake -S fuzz -B "$out" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out" -j "${JOBS:-$(nproc)}"

if [ $# -gt 0 ]; then targets=("$@"); else
  # The list lives in fuzz/targets.cmake; read it rather than repeat it.
  # shellcheck disable=SC2207
  targets=($(sed -n '/^set(WEFT_FUZZ_TARGETS/,/)/p' fuzz/targets.cmake | tr -d '()' |
    sed 's/set//; s/WEFT_FUZZ_TARGETS//'))
fi

run_one() {
  local t=$1 seconds=$2 out=$3
  # The first corpus directory is the one libFuzzer writes new inputs to: a
  # scratch copy in build-fuzz, so the checked-in seeds stay small.
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs"
  local dirs=("$out/corpus/$t" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  # Past the limits these targets enforce (a path's 4,095 bytes, a
  # question's 4,096), which 4,096 bytes of input could never reach.
  local max_len=4096
  case $t in static_path | qa_question) max_len=9000 ;; esac
  "$out/bin/$t" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1 \
    -dict="fuzz/dict/$t.dict" -artifact_prefix="$out/artifacts/$t/" "${dirs[@]}" \
    >"$out/logs/$t.log" 2>&1
  echo $? >"$out/logs/$t.rc"
}
export -f run_one
printf '%s\n' "${targets[@]}" | xargs -P "$parallel" -I{} bash -c "run_one {} $seconds $out" || true

status=0
printf '%-16s %10s %12s %8s %8s  %s\n' target exec/s runs cov ft result
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  # libFuzzer's last status line: "#N DONE cov: C ft: F corp: ... exec/s: E".
  last=$(grep -E "^#[0-9]+" "$log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  result=ok
  if [ "$(cat "$out/logs/$t.rc")" != 0 ]; then
    result="FAILED (see $log, input in $out/artifacts/$t/)"
    status=1
    # The crash's report and libFuzzer's base64 of the input, for a CI
    # log whose build-fuzz is gone with its machine.
    tail -40 "$log" >&2
  fi
  printf '%-16s %10s %12s %8s %8s  %s\n' "$t" "${eps:--}" "${runs:--}" "${cov:--}" "${ft:--}" "$result"
done
exit $status
