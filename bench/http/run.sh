#!/usr/bin/env bash
# The HTTP comparison (issue 3): `weft hello` against nginx, h2o, a naive Asio
# C++20 coroutine responder, the Python epoll tutorial's server and the floor
# (a bare epoll responder that does no parsing; bench/http/peers/).
#
# Every server runs pinned to CPU 0 with one worker/thread, the load (wrk -t1,
# h2load -t1) pinned to CPU 1. The server's CPU share comes from utime+stime
# in /proc/PID/stat (the process, its threads and its child processes) at the
# edges of the load run; requests/s per server core = requests/s / that share.
# Each configuration runs BENCH_RUNS times, round-robin over the servers; the
# report shows medians. Then `weft hello --threads 2` against nginx with 2
# workers, with nothing pinned (keep-alive load only).
#
# The `scaling` load (not in the default set; it needs a machine with more
# cores) runs `weft hello --threads N` and nginx with N workers for each N in
# BENCH_SCALING_THREADS, the server pinned to CPUs 0..N-1 and one wrk with
# the same threads and connections for every N pinned to BENCH_LOAD_CPUS, so
# that only the server's share of the machine changes.
#
# Installs nothing: peers that are missing (nginx, h2o, wrk, h2load; scripts/
# deps.sh bench installs them) are skipped with a note.
#
# Usage: bench/http/run.sh          (after `make build` or a cmake build)
# Environment:
#   BUILD_DIR        build tree with bin/ (default: build)
#   BENCH_SECONDS    seconds per load run (default 5)
#   BENCH_WARMUP     unmeasured seconds of load before each server's first run (default 1)
#   BENCH_RUNS       runs per configuration (default 3)
#   BENCH_LOADS      subset of: keepalive pipelined close h2load threads2 scaling
#   BENCH_SERVERS    subset of: weft floor nginx h2o asio pytut; and floor2,
#                    a second floor (the same binary), whose rate against the
#                    first's shows how far two runs of one server differ
#   BENCH_OUT        results directory (default BUILD_DIR/bench-http)
#   BENCH_PYTHON     the python3 to use (default /usr/bin/python3)
#   BENCH_SCALING_THREADS  server threads for `scaling` (default "1 2 4 8")
#   BENCH_SCALING_LOADS    loads for `scaling` (default "keepalive pipelined close")
#   BENCH_LOAD_CPUS  CPUs of the scaling load (default: the upper half)
#   BENCH_SCALING_CONNS    connections of the scaling load (default 400)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
seconds=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
runs=${BENCH_RUNS:-3}
loads=${BENCH_LOADS:-keepalive pipelined close h2load threads2}
servers=${BENCH_SERVERS:-weft floor nginx h2o asio pytut}
out=${BENCH_OUT:-$build/bench-http}
py=${BENCH_PYTHON:-/usr/bin/python3}
depth=16
server_cpu=0
client_cpu=1
hz=$(getconf CLK_TCK)
ncpu=$(nproc)
scaling_threads=${BENCH_SCALING_THREADS:-1 2 4 8}
scaling_loads=${BENCH_SCALING_LOADS:-keepalive pipelined close}
load_cpus=${BENCH_LOAD_CPUS:-$((ncpu / 2))-$((ncpu - 1))}
scaling_conns=${BENCH_SCALING_CONNS:-400}
# One wrk thread per load CPU: nproc counts the CPUs it may run on.
scaling_wrk_threads=$(taskset -c "$load_cpus" nproc)

mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-http.XXXXXX")
results=$out/results.tsv
: > "$results"

note() { echo "http bench: $*" >&2; }
# have, free_port, nginx_bin, cpu_ticks, user_ticks, to_ms
# shellcheck source=../lib/common.sh
source "$root/bench/lib/common.sh"

# Which loads a server takes part in. The floor and the Asio responder never
# close, so they sit out the Connection: close load; the Asio responder
# answers a whole pipelined batch with one response (it is naive by design),
# and the tutorial's server closes after every response.
loads_of() {
  case $1 in
    weft | nginx | h2o | weft2 | nginx2 | weft@* | nginx@*) echo "keepalive pipelined close h2load" ;;
    floor | floor2) echo "keepalive pipelined h2load" ;;
    asio) echo "keepalive h2load" ;;
    pytut) echo "close" ;;
  esac
}

available() {
  case $1 in
    weft | weft2 | weft@*) [[ -x $bin/weft ]] ;;
    floor | floor2) [[ -x $bin/floor_responder ]] ;;
    asio) [[ -x $bin/asio_responder ]] ;;
    nginx | nginx2 | nginx@*) have nginx || [[ -x /usr/sbin/nginx ]] ;;
    h2o) have h2o ;;
    pytut) [[ -x $py ]] ;;
  esac
}

# nginx with a generated config: one process (master_process off), or a
# master and `workers` workers; access_log off; return 200 "Hello, world!".
# It accepts as weft does: deferred (TCP_DEFER_ACCEPT: woken only when a
# request has come), the whole queue per wake-up (multi_accept), and a
# listener per worker (reuseport) where there are several. Without them,
# which a review of the bench found (2026-12-07), the Connection: close
# load compared nginx without deferred accept against weft with it: weft's
# own history put it at 0.94× nginx without, 1.41× with.
nginx_conf() {  # dir port workers
  local master=off reuseport=""
  [[ $3 -gt 1 ]] && master=on reuseport=" reuseport"
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<CONF
daemon off;
master_process $master;
worker_processes $3;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $1/body;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$2 backlog=4096 deferred$reuseport;
    location / {
      default_type text/plain;
      return 200 "Hello, world!";
    }
  }
}
CONF
}

# h2o with a generated config: num-threads 1, no access log, serving a
# 13-byte file "Hello, world!" as text/plain for every path.
h2o_conf() {  # dir port
  mkdir -p "$1"
  printf 'Hello, world!' > "$1/hello.txt"
  cat > "$1/h2o.conf" <<CONF
num-threads: 1
listen:
  host: 127.0.0.1
  port: $2
error-log: $1/error.log
$( [[ $(id -u) -eq 0 ]] && echo "user: nobody" )
hosts:
  default:
    paths:
      /:
        file.file: $1/hello.txt
CONF
  chmod a+x "$tmp"; chmod -R a+rwX "$1"  # h2o drops root for nobody
}

declare -A spid port

# Starts server $1 (pinned to CPU 0, or to the CPU list $2, or to none if $2
# is "unpinned"); records its PID and port. taskset execs the server, so $!
# is the server's own PID. weft@N and nginx@N run N threads or workers.
start_server() {
  local s=$1 log=$out/$1.log p="" pin=(taskset -c "${2:-$server_cpu}") cmd
  [[ ${2:-} = unpinned ]] && pin=()
  case $s in
    # --max-requests as nginx's keepalive_requests: weft's default of
    # 10,000 reconnected it hundreds of times a second pipelined.
    weft) cmd=("$bin/weft" hello --port 0 --threads 1 --max-requests 1000000) ;;
    weft2) cmd=("$bin/weft" hello --port 0 --threads 2 --max-requests 1000000) ;;
    weft@*) cmd=("$bin/weft" hello --port 0 --threads "${s#*@}" --max-requests 1000000) ;;
    floor | floor2) cmd=("$bin/floor_responder" --port 0) ;;
    asio) cmd=("$bin/asio_responder" --port 0) ;;
    pytut) cmd=("$py" "$root/bench/http/peers/epoll_tutorial.py" --port 0) ;;
    nginx | nginx2 | nginx@*)
      local workers=1
      [[ $s = nginx2 ]] && workers=2
      [[ $s = nginx@* ]] && workers=${s#*@}
      p=$(free_port)
      nginx_conf "$tmp/$s" "$p" "$workers"
      cmd=("$(nginx_bin)" -p "$tmp/$s" -c "$tmp/$s/nginx.conf") ;;
    h2o)
      p=$(free_port)
      h2o_conf "$tmp/$s" "$p"
      cmd=(h2o -c "$tmp/$s/h2o.conf") ;;
  esac
  "${pin[@]}" "${cmd[@]}" > "$log" 2>&1 &
  spid[$s]=$!
  for _ in $(seq 100); do
    if [[ -z $p ]]; then
      local q
      q=$(sed -n 's/.* listening on .*:\([0-9]\+\)$/\1/p' "$log" | head -1)
      [[ -n $q ]] && port[$s]=$q && return 0
    elif (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then
      port[$s]=$p && return 0
    fi
    kill -0 "${spid[$s]}" 2> /dev/null || break
    sleep 0.1
  done
  note "$s did not start; its log:"
  cat "$log" "$tmp/$s/error.log" >&2 2> /dev/null || true
  unset "spid[$s]"
  return 1
}

stop_server() {
  kill -TERM "${spid[$1]}" 2> /dev/null || true
  wait "${spid[$1]}" 2> /dev/null || true
  unset "spid[$1]"
}

stop_all() {
  local s
  for s in "${!spid[@]}"; do stop_server "$s"; done
  rm -rf "$tmp"
}
trap stop_all EXIT

pipeline_lua=$tmp/pipeline.lua
cat > "$pipeline_lua" <<LUA
-- $depth requests in flight per connection, sent as one batch.
init = function(args)
  local r = {}
  for i = 1, $depth do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
LUA

# Every request with Connection: close, so wrk opens a connection per
# request. A script, since the command line is split at spaces: the
# `-H Connection:close` it replaced, with no space after the colon, was
# dropped by wrk (it takes "Name: value" only), and the close load ran
# kept alive (51 connections opened in 2 s at 218k requests/s).
close_lua=$tmp/close.lua
cat > "$close_lua" <<LUA
wrk.headers["Connection"] = "close"
LUA

# The load command for a load name, a port, and seconds; the scaling loads
# (scale-keepalive, ...) use its wrk threads and connections.
load_cmd() {  # load port seconds
  local url=http://127.0.0.1:$2/ t=1 c=100 l=$1
  if [[ $l = scale-* ]]; then
    l=${l#scale-} t=$scaling_wrk_threads c=$scaling_conns
  elif [[ $l = close ]]; then
    c=50
  fi
  case $l in
    keepalive) echo "wrk -t$t -c$c -d${3}s --latency $url" ;;
    pipelined) echo "wrk -t$t -c$c -d${3}s --latency -s $pipeline_lua $url" ;;
    close) echo "wrk -t$t -c$c -d${3}s --latency -s $close_lua $url" ;;
    h2load) echo "h2load --h1 -t1 -c100 -m1 -D $3 $url" ;;
  esac
}

# wrk's errors in its output: every socket error (connect, read, write,
# timeout) and every non-2xx/3xx answer, which wrk counts in its rate as
# well. (Counting the lines that name them said 0, 1 or 2 for any number.)
wrk_errors() {
  awk '/Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 }
       /Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }'
}

# One measured run: appends "load server run rps p50_ms p99_ms cpu_share
# errors user_share" (user_share: the part of cpu_share spent in user space).
# The load runs on CPU 1, or on the CPU list $4, or anywhere if $4 is
# "unpinned".
measure() {  # load server run [cpus|unpinned]
  local l=$1 s=$2 r=$3 pin=(taskset -c "${4:-$client_cpu}") t0 t1 c0 c1 u0 u1 o0 o1 txt rps p50 p99 cpu user err lt=${1%2}
  [[ ${4:-} = unpinned ]] && pin=()
  # shellcheck disable=SC2046
  o0=$(passive_opens); c0=$(cpu_ticks "${spid[$s]}"); u0=$(user_ticks "${spid[$s]}"); t0=$(date +%s.%N)
  # shellcheck disable=SC2046
  txt=$("${pin[@]}" $(load_cmd "$lt" "${port[$s]}" "$seconds") 2>&1) || true
  c1=$(cpu_ticks "${spid[$s]}"); u1=$(user_ticks "${spid[$s]}"); t1=$(date +%s.%N); o1=$(passive_opens)
  echo "$txt" > "$out/$l.$s.$r.txt"
  if [[ ${lt#scale-} = close ]]; then
    # A close load that kept its connections alive measured the wrong thing
    # (as one did, unnoticed, for weeks): it counts for nothing.
    local reqs
    reqs=$(awk '/ requests in / { print $1 }' <<< "$txt")
    if (( o1 - o0 < ${reqs:-0} * 9 / 10 )); then
      note "$l $s run $r: $((o1 - o0)) connections for ${reqs:-0} requests: the load did not close; run discarded"
      return  # no row: a rate of 0 counted in the medians
    fi
  fi
  cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz / (t1 - t0) }')
  user=$(awk -v a="$u0" -v b="$u1" -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz / (t1 - t0) }')
  if [[ $lt = h2load ]]; then
    rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' <<< "$txt")
    p50=$(awk '/^time for request:/ { print $6 }' <<< "$txt")  # mean, not p50
    p50=$(to_ms "${p50:-0}")
    p99=NA
    # Failed requests (errored and timed out among them), and 4xx/5xx answers.
    err=$(awk '/^requests:/ { for (i = 2; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i }
               /^status codes:/ { for (i = 3; i < NF; i++) if ($(i + 1) ~ /^[45]xx/) n += $i }
               END { print n + 0 }' <<< "$txt")
  else
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$txt")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<< "$txt")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<< "$txt")")
    err=$(wrk_errors <<< "$txt")
  fi
  # No rate: no row, rather than a 0 that the medians would count.
  [[ -n $rps ]] || { note "$l $s run $r: no rate in the load's output (see $out/$l.$s.$r.txt); run left out"; return; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$l" "$s" "$r" "$rps" "$p50" "$p99" "$cpu" "${err:-0}" "$user" >> "$results"
}

active=()
for s in $servers; do
  if available "$s"; then active+=("$s"); else note "skipping $s (not built or not installed)"; fi
done
have wrk || note "wrk missing (Debian wrk): skipping the wrk loads"
have h2load || note "h2load missing (Debian nghttp2-client): skipping the h2load cross-check"
load_ok() {
  case $1 in
    h2load) have h2load ;;
    *) have wrk ;;
  esac
}

{
  echo "# http bench, $(date -u '+%Y-%m-%d %H:%M UTC'), weft ${WEFT_REV:-$(git -C "$root" describe --always --dirty 2> /dev/null || echo '?')}"
  echo "# $(nproc) CPUs, kernel $(uname -r); server on CPU $server_cpu, load on CPU $client_cpu"
  [[ " $loads " = *" scaling "* ]] && echo "# scaling: server on CPUs 0..N-1, wrk -t$scaling_wrk_threads -c$scaling_conns on CPUs $load_cpus"
  echo "# ${seconds}s per run, $runs runs; nginx $( (nginx_bin > /dev/null && $(nginx_bin) -v 2>&1) | sed 's/.*\///'), h2o $(h2o --version 2> /dev/null | head -1 | awk '{print $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
} | tee "$out/header.txt" >&2

started=()
for s in "${active[@]}"; do
  start_server "$s" && started+=("$s") || note "skipping $s"
done
for s in "${started[@]}"; do  # warm-up, unmeasured
  [[ $warmup -gt 0 ]] && have wrk && [[ $s != pytut ]] &&
    taskset -c "$client_cpu" wrk -t1 -c100 -d"${warmup}s" "http://127.0.0.1:${port[$s]}/" > /dev/null 2>&1 || true
done
for r in $(seq "$runs"); do
  for l in $loads; do
    [[ $l = threads2 || $l = scaling ]] && continue
    load_ok "$l" || continue
    for s in "${started[@]}"; do
      [[ " $(loads_of "$s") " = *" $l "* ]] || continue
      note "run $r, $l, $s"
      measure "$l" "$s" "$r"
    done
  done
done
for s in "${started[@]}"; do stop_server "$s"; done

# weft --threads 2 against nginx with 2 workers; nothing pinned.
if [[ " $loads " = *" threads2 "* ]] && have wrk; then
  two=()
  for s in weft2 nginx2; do
    available "$s" && start_server "$s" unpinned && two+=("$s") || note "skipping $s"
  done
  for r in $(seq "$runs"); do
    for s in "${two[@]}"; do
      note "run $r, keepalive (unpinned), $s"
      measure keepalive2 "$s" "$r" unpinned
    done
  done
  for s in "${two[@]}"; do stop_server "$s"; done
fi

# weft --threads N against nginx with N workers on CPUs 0..N-1; the same
# wrk on the load CPUs for every N. Both servers of one N run side by side,
# measured in turn (only the measured one has load).
if [[ " $loads " = *" scaling "* ]] && have wrk; then
  note "scaling: servers on CPUs 0..N-1 for N in $scaling_threads; wrk -t$scaling_wrk_threads -c$scaling_conns on CPUs $load_cpus"
  for n in $scaling_threads; do
    group=()
    for s0 in weft nginx; do
      [[ " $servers " = *" $s0 "* ]] || continue
      available "$s0@$n" && start_server "$s0@$n" "0-$((n - 1))" && group+=("$s0@$n") || note "skipping $s0@$n"
    done
    for s in "${group[@]}"; do  # warm-up, unmeasured
      # shellcheck disable=SC2046
      [[ $warmup -gt 0 ]] && taskset -c "$load_cpus" $(load_cmd scale-keepalive "${port[$s]}" "$warmup") > /dev/null 2>&1 || true
    done
    for r in $(seq "$runs"); do
      for l in $scaling_loads; do
        for s in "${group[@]}"; do
          note "run $r, scaling $l, $s"
          measure "scale-$l" "$s" "$r" "$load_cpus"
        done
      done
    done
    for s in "${group[@]}"; do stop_server "$s"; done
  done
fi

cat "$out/header.txt"
echo
$py - "$results" "$depth" << 'PY' | tee "$out/report.md"
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
depth = int(sys.argv[2])
conns = {"keepalive": 100, "pipelined": 100, "close": 50, "h2load": 100, "keepalive2": 100}
title = {"keepalive": "keep-alive, wrk -t1 -c100",
         "pipelined": f"pipelined x{depth}, wrk -t1 -c100 (p50 column: mean batch wait = conns x depth / rate)",
         "close": "Connection: close, wrk -t1 -c50",
         "h2load": "h2load --h1 -t1 -c100 (p50 column: mean time per request)",
         "keepalive2": "keep-alive, weft --threads 2 vs nginx 2 workers, nothing pinned"}
med = {}
for l in title:
    sel = [r for r in rows if r[0] == l]
    if not sel: continue
    print(f"\n### {title[l]}\n")
    print("| server | req/s | p50 ms | p99 ms | server CPU | req/s per server core | user ns/req | kernel ns/req | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in dict.fromkeys(r[1] for r in sel):
        rs = [r for r in sel if r[1] == s]
        rps = st.median(float(r[3]) for r in rs)
        cpu = st.median(float(r[6]) for r in rs)
        pc = st.median(float(r[3]) / float(r[6]) if float(r[6]) > 0 else 0 for r in rs)
        if l == "pipelined":
            p50 = st.median(conns[l] * depth / float(r[3]) * 1000 if float(r[3]) > 0 else 0 for r in rs)
            p99 = None
        else:
            p50 = st.median(float(r[4]) for r in rs)
            p99 = None if rs[0][5] == "NA" else st.median(float(r[5]) for r in rs)
        errs = sum(int(r[7] or 0) for r in rs)
        # CPU nanoseconds per request, split: user space and the kernel.
        per = lambda share, r: share / float(r[3]) * 1e9 if float(r[3]) > 0 else 0
        user_ns = st.median(per(float(r[8]), r) for r in rs) if len(rs[0]) > 8 else 0
        kern_ns = st.median(per(float(r[6]) - float(r[8]), r) for r in rs) if len(rs[0]) > 8 else 0
        med[(l, s)] = dict(rps=rps, cpu=cpu, pc=pc, p99=p99)
        p99s = "-" if p99 is None else f"{p99:.2f}"
        print(f"| {s} | {rps:,.0f} | {p50:.2f} | {p99s} | {cpu:.2f} | {pc:,.0f} | {user_ns:.0f} | {kern_ns:.0f} | {errs} |")

print("\n### Targets (weft --threads 1, per server core, medians)\n")
print("| target | ratio | met |\n|---|---:|---|")
def ratio(l, a, b, key="pc"):
    if (l, a) in med and (l, b) in med and med[(l, b)][key]:
        return med[(l, a)][key] / med[(l, b)][key]
    return None
def row(name, v, ok):
    if v is None: print(f"| {name} | n/a | not measured |")
    else: print(f"| {name} | {v:.2f} | {'met' if ok(v) else 'NOT met'} |")
row("keep-alive >= 0.95x floor", ratio("keepalive", "weft", "floor"), lambda v: v >= 0.95)
row("keep-alive >= 1.1x nginx", ratio("keepalive", "weft", "nginx"), lambda v: v >= 1.1)
pw, pn = med.get(("keepalive", "weft"), {}).get("p99"), med.get(("keepalive", "nginx"), {}).get("p99")
if pw is not None and pn is not None:
    print(f"| keep-alive p99 <= nginx's ({pw:.2f} vs {pn:.2f} ms) | {pw/pn:.2f} | {'met' if pw <= pn else 'NOT met'} |")
row("pipelined >= 0.9x floor", ratio("pipelined", "weft", "floor"), lambda v: v >= 0.9)
row("Connection: close >= 1.0x nginx", ratio("close", "weft", "nginx"), lambda v: v >= 1.0)
# The noise of one pass: a second floor, the same binary, against the first.
for l in ("keepalive", "pipelined"):
    v = ratio(l, "floor2", "floor")
    if v is not None: print(f"| calibration, {l}: floor2 / floor (the same server) | {v:.2f} | - |")
row("threads 2: weft / nginx 2 workers, per core", ratio("keepalive2", "weft2", "nginx2"), lambda v: v >= 1.0)

# Scaling: per N, each server's rate, cores used and rate per core; "x N=1"
# is the rate against the same server's rate at N=1 (N for perfect scaling).
for l in ("keepalive", "pipelined", "close"):
    sel = [r for r in rows if r[0] == "scale-" + l]
    if not sel: continue
    ns = sorted({int(r[1].split("@")[1]) for r in sel})
    def m(s, n, f):
        rs = [r for r in sel if r[1] == f"{s}@{n}"]
        return st.median(f(r) for r in rs) if rs else None
    rps = lambda r: float(r[3])
    cpu = lambda r: float(r[6])
    pc = lambda r: float(r[3]) / float(r[6]) if float(r[6]) > 0 else 0
    print(f"\n### Scaling, {l}: server on CPUs 0..N-1 (medians)\n")
    print("| N | weft req/s | x N=1 | cores | per core | nginx req/s | x N=1 | cores | per core | weft/nginx | per core |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    f = lambda v, fmt: "-" if v is None else format(v, fmt)
    for n in ns:
        cells = []
        for s in ("weft", "nginx"):
            r, r1 = m(s, n, rps), m(s, ns[0], rps)
            cells += [f(r, ",.0f"), f(r / r1 * ns[0] if r and r1 else None, ".2f"),
                      f(m(s, n, cpu), ".2f"), f(m(s, n, pc), ",.0f")]
        rw, rn, pw, pn = m("weft", n, rps), m("nginx", n, rps), m("weft", n, pc), m("nginx", n, pc)
        cells += [f(rw / rn if rw and rn else None, ".2f"), f(pw / pn if pw and pn else None, ".2f")]
        print(f"| {n} | " + " | ".join(cells) + " |")
PY
