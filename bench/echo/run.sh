#!/usr/bin/env bash
# The echo comparison: weft against Asio (one write per line, one write per
# read), Eventlet and a blocking thread-per-connection server.
#
# Every server runs pinned to CPU 0, every client to CPU 1 (taskset). The
# load generator (bench/loadgen/echo_load) reads the server's utime+stime
# from /proc/PID/stat at the edges of its measured window, so each run gives
# lines/s, the server's CPU share and lines/s per server core. Each
# configuration runs BENCH_RUNS times; the report shows medians. Then each
# server, restarted, holds BENCH_IDLE_CONNS idle connections, each used once,
# and the RSS growth per connection is reported (bench/memory/idle_conns.py).
#
# Usage: bench/echo/run.sh            (after `make build` or a cmake build)
# Environment:
#   BUILD_DIR          build tree with bin/ (default: build)
#   BENCH_SECONDS      measured seconds per run (default 5)
#   BENCH_WARMUP       unmeasured seconds before each run (default 1)
#   BENCH_RUNS         runs per configuration (default 3)
#   BENCH_CONNS        connections of the load (default 100)
#   BENCH_DEPTHS       lines in flight per connection (default "1 16")
#   BENCH_SERVERS      subset of: weft asio-per-read asio-per-line eventlet thread-per-conn
#   BENCH_MANY_CONNS   connection counts for weft and thread-per-conn at depth 1
#                      (default "1000 10000"; empty skips them)
#   BENCH_IDLE_CONNS   idle connections for the memory test (default 10000; 0 skips it)
#   BENCH_THREAD_IDLE  extra idle-connection counts for thread-per-conn (default 1000)
#   BENCH_MAX_OTHER    CPU share other processes may take from the two cores
#                      before a run is repeated (default 0.10)
#   BENCH_RETRIES      repeats of a disturbed run (default 6)
#   BENCH_OUT          results directory (default BUILD_DIR/bench-echo)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
runs=${BENCH_RUNS:-3}
conns=${BENCH_CONNS:-100}
depths=${BENCH_DEPTHS:-1 16}
servers=${BENCH_SERVERS:-weft asio-per-read asio-per-line eventlet thread-per-conn}
many_conns=${BENCH_MANY_CONNS-1000 10000}
idle_conns=${BENCH_IDLE_CONNS:-10000}
thread_idle=${BENCH_THREAD_IDLE-1000}
out=${BENCH_OUT:-$build/bench-echo}
max_other=${BENCH_MAX_OTHER:-0.10}
retries=${BENCH_RETRIES:-6}
retry_pause=10
py=/usr/bin/python3  # Debian's, with python3-eventlet; a pyenv python3 may lack it

server_cpu=0
client_cpu=1

mkdir -p "$out"
results=$out/results.jsonl
: > "$results"

server_cmd() {
  case $1 in
    weft) echo "$bin/weft echo --port 0 --threads 1" ;;
    asio-per-read) echo "$bin/asio_echo --mode per-read --port 0" ;;
    asio-per-line) echo "$bin/asio_echo --mode per-line --port 0" ;;
    eventlet) echo "$py $root/bench/peers/eventlet_echo.py --port 0" ;;
    thread-per-conn) echo "$bin/thread_echo --port 0" ;;
    *) echo "unknown server $1" >&2; return 1 ;;
  esac
}

available() {
  case $1 in
    weft) [[ -x $bin/weft ]] ;;
    asio-*) [[ -x $bin/asio_echo ]] ;;
    eventlet) $py -c 'import eventlet' 2>/dev/null ;;
    thread-per-conn) [[ -x $bin/thread_echo ]] ;;
  esac
}

declare -A spid port

# Starts server $1 pinned to CPU 0; records its PID and port. taskset execs
# the server, so $! is the server's own PID.
start_server() {
  local log=$out/$1.log p=
  # shellcheck disable=SC2046
  taskset -c "$server_cpu" $(server_cmd "$1") > "$log" 2>&1 &
  spid[$1]=$!
  for _ in $(seq 100); do
    p=$(sed -n 's/.* listening on .*:\([0-9]\+\)$/\1/p' "$log" | head -1)
    [[ -n $p ]] && port[$1]=$p && return 0
    kill -0 "${spid[$1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "echo bench: $1 did not start; its log:" >&2
  cat "$log" >&2
  return 1
}

stop_server() {
  local rc=0
  kill -TERM "${spid[$1]}" 2>/dev/null || true
  wait "${spid[$1]}" || rc=$?
  unset "spid[$1]"
  [[ $rc -eq 0 ]] || echo "echo bench: $1 exited with status $rc on SIGTERM" >&2
}

stop_all() {
  local s
  for s in "${!spid[@]}"; do stop_server "$s"; done
}
trap stop_all EXIT

# One measured run. The machine is shared: when other processes took more
# than max_other of a core during the window (echo_load's other_cpu), the
# run is discarded and repeated after a pause, at most `retries` times; the
# last attempt is kept either way, with its other_cpu in the results.
load() {  # label depth conns
  local attempt line other
  for attempt in $(seq 0 "$retries"); do
    line=$(taskset -c "$client_cpu" "$bin/echo_load" --port "${port[$1]}" --server-pid "${spid[$1]}" \
      --label "$1" --depth "$2" --conns "$3" --seconds "$seconds" --warmup "$warmup") ||
      echo "echo bench: $1 depth $2: the load generator reported errors: $line" >&2
    other=$(sed -n 's/.*"other_cpu":\([-0-9.]*\).*/\1/p' <<< "$line")
    if [[ -z $other ]] || awk -v o="$other" -v m="$max_other" 'BEGIN { exit !(o <= m) }'; then
      break
    fi
    [[ $attempt -lt $retries ]] &&
      echo "echo bench: other processes used $other of a core during the run; repeating it" >&2 &&
      sleep "$retry_pause"
  done
  echo "$line" >> "$results"
}

idle() {  # label conns
  taskset -c "$client_cpu" $py "$root/bench/memory/idle_conns.py" --port "${port[$1]}" --pid "${spid[$1]}" \
    --label "$1" --conns "$2" >> "$results" ||
    echo "echo bench: $1: idle-connection test failed" >&2
}

[[ -x $bin/echo_load ]] || { echo "echo bench: $bin/echo_load missing: build first (make build)" >&2; exit 1; }
active=()
for s in $servers; do
  if available "$s"; then active+=("$s"); else echo "echo bench: skipping $s (not built or not installed)" >&2; fi
done

{
  echo "# echo bench, $(date -u '+%Y-%m-%d %H:%M UTC'), weft $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')"
  echo "# $(nproc) CPUs, kernel $(uname -r); server on CPU $server_cpu, load on CPU $client_cpu"
  echo "# ${seconds}s measured + ${warmup}s warm-up, $runs runs, $conns connections, depths $depths"
} | tee "$out/header.txt" >&2

# All servers stay up (idle ones use no CPU) and the runs go round-robin:
# run 1 of every server, then run 2, ... so that a slow drift in the
# machine's speed (it is a shared VM) spreads over all servers alike.
for s in "${active[@]}"; do start_server "$s"; done
for r in $(seq "$runs"); do
  for d in $depths; do
    for s in "${active[@]}"; do
      echo "echo bench: run $r, depth $d, $s" >&2
      load "$s" "$d" "$conns"
    done
  done
done

# The thread-per-connection model against weft with many connections.
for c in $many_conns; do
  for r in $(seq "$runs"); do
    for s in "${active[@]}"; do
      [[ $s = weft || $s = thread-per-conn ]] || continue
      echo "echo bench: run $r, $c connections, depth 1, $s" >&2
      load "$s" 1 "$c"
    done
  done
done
stop_all

if [[ $idle_conns -gt 0 ]]; then
  for s in "${active[@]}"; do
    counts=$idle_conns
    if [[ $s = thread-per-conn ]]; then
      # shellcheck disable=SC2086  # a list of counts
      counts=$(printf '%s\n' $thread_idle "$idle_conns" | sort -nu | tr '\n' ' ')
    fi
    for n in $counts; do
      echo "echo bench: $s, $n idle connections" >&2
      start_server "$s"  # fresh, so earlier runs' buffers do not hide growth
      idle "$s" "$n"
      stop_server "$s"
    done
  done
fi

cat "$out/header.txt"
echo
$py "$root/bench/echo/report.py" "$results" | tee "$out/report.md"
