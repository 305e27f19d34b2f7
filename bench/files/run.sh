#!/usr/bin/env bash
# The static file comparison (issue 4): `weft files` against nginx (one
# worker, sendfile on, open_file_cache on, access_log off) and
# `python3 -m http.server`.
#
# Each server runs pinned to CPU 0 with one worker/thread, the load (wrk -t1,
# drain.py) pinned to CPU 1; server CPU comes from /proc/PID/stat as in
# bench/http/run.sh. Loads:
#   small   1 KiB and 16 KiB files, wrk -c100 keep-alive: requests/s
#   large   1 MiB and 100 MiB files, wrk -c8: MB/s and server CPU seconds per GB
#   mixed   1 KiB files, wrk -c100, alone and while one client (drain.py)
#           pulls a 1 GiB file over and over: the small requests' p99 both
#           ways, and the download's MB/s
# The large files are sparse (their pages come from the page cache as zeros,
# which is all sendfile sees anyway).
#
# Installs nothing: missing peers (nginx-light, wrk; scripts/deps.sh
# bench) are skipped with a note.
#
# Usage: bench/files/run.sh          (after `make build` or a cmake build)
# Environment:
#   BUILD_DIR        build tree with bin/ (default: build)
#   BENCH_SECONDS    seconds per load run (default 5)
#   BENCH_RUNS       runs per configuration (default 3)
#   BENCH_LOADS      subset of: small large mixed
#   BENCH_SERVERS    subset of: weft nginx python
#   BENCH_OUT        results directory (default BUILD_DIR/bench-files)
#   BENCH_DOWNLOAD_CPU  CPU for the mixed load's downloader (default 1, with
#                    wrk; 0 puts it on the server's core instead)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
[[ $build = /* ]] || build=$root/$build
bin=$build/bin
seconds=${BENCH_SECONDS:-5}
runs=${BENCH_RUNS:-3}
loads=${BENCH_LOADS:-small large mixed}
servers=${BENCH_SERVERS:-weft nginx python}
out=${BENCH_OUT:-$build/bench-files}
py=/usr/bin/python3
server_cpu=0
client_cpu=1
hz=$(getconf CLK_TCK)

# have, free_port, nginx_bin, cpu_ticks, to_ms
# shellcheck source=../lib/common.sh
source "$root/bench/lib/common.sh"

mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench-files.XXXXXX")
site=$tmp/site
results=$out/results.tsv
downloads=$out/downloads.tsv
: > "$results"
: > "$downloads"

note() { echo "files bench: $*" >&2; }

# The files: 1 KiB and 16 KiB of random bytes; 1 MiB, 100 MiB and 1 GiB sparse.
mkdir -p "$site"
head -c 1024 /dev/urandom > "$site/1k.bin"
head -c 16384 /dev/urandom > "$site/16k.bin"
truncate -s 1M "$site/1m.bin"
truncate -s 100M "$site/100m.bin"
truncate -s 1G "$site/1g.bin"
chmod -R a+rX "$tmp"
# Into the page cache before anyone is measured: the first reader of a
# sparse file pays for zero-filling its pages (a profile of weft, measured
# first, showed 59% of its CPU in the kernel's memset), a cost no later
# server would see.
cat "$site"/*.bin > /dev/null

available() {
  case $1 in
    weft) [[ -x $bin/weft ]] ;;
    nginx) have nginx || [[ -x /usr/sbin/nginx ]] ;;
    python) [[ -x $py ]] ;;
  esac
}

# nginx accepts as weft does (deferred, the whole queue per wake-up), as in
# bench/http/run.sh.
nginx_conf() {  # dir port
  mkdir -p "$1"
  cat > "$1/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $1/body;
  keepalive_requests 1000000;
  sendfile on;
  tcp_nopush on;
  open_file_cache max=1000 inactive=20s;
  open_file_cache_valid 1s;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$2 backlog=4096 deferred;
    root $site;
  }
}
CONF
}

declare -A spid port

# Starts server $1 pinned to CPU 0; records its PID and port.
start_server() {
  local s=$1 log=$out/$1.log p="" cmd
  case $s in
    # --max-requests as nginx's keepalive_requests.
    weft) cmd=("$bin/weft" files --root "$site" --port 0 --threads 1 --max-requests 1000000) ;;
    nginx)
      p=$(free_port)
      nginx_conf "$tmp/nginx" "$p"
      cmd=("$(nginx_bin)" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf") ;;
    python)
      p=$(free_port)
      cmd=("$py" -m http.server --bind 127.0.0.1 --directory "$site" "$p") ;;
  esac
  taskset -c "$server_cpu" "${cmd[@]}" > "$log" 2>&1 &
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
  cat "$log" "$tmp/nginx/error.log" >&2 2> /dev/null || true
  unset "spid[$s]"
  return 1
}

stop_server() {
  kill -TERM "${spid[$1]}" 2> /dev/null || true
  wait "${spid[$1]}" 2> /dev/null || true
  unset "spid[$1]"
}

bg_pid=""
stop_all() {
  local s
  [[ -n $bg_pid ]] && kill "$bg_pid" 2> /dev/null || true
  for s in "${!spid[@]}"; do stop_server "$s"; done
  rm -rf "$tmp"
}
trap stop_all EXIT

# wrk's "1.21GB read" as bytes.
to_bytes() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /KB$/) n *= 1024; else if (v ~ /MB$/) n *= 1048576;
    else if (v ~ /GB$/) n *= 1073741824; else if (v ~ /TB$/) n *= 1099511627776; printf "%.0f", n }'
}
# wrk's errors in its output: every socket error (connect, read, write,
# timeout) and every non-2xx/3xx answer, which wrk counts in its rate as
# well. (Counting the lines that name them said 0, 1 or 2 for any number.)
wrk_errors() {
  awk '/Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) n += $i + 0 }
       /Non-2xx or 3xx responses:/ { n += $NF } END { print n + 0 }'
}


# One measured wrk run; appends
# "load file server run rps MB/s p50_ms p99_ms cpu_share cpu_s_per_GB errors".
measure() {  # load file server run conns
  local l=$1 f=$2 s=$3 r=$4 c=$5 t0 t1 c0 c1 txt rps p50 p99 cpu bytes mbs per_gb err
  c0=$(cpu_ticks "${spid[$s]}"); t0=$(date +%s.%N)
  # --timeout: wrk's default of 2 s counts a 100 MiB download on a busy
  # machine as a timeout error.
  txt=$(taskset -c "$client_cpu" wrk -t1 -c"$c" -d"${seconds}s" --timeout 30s --latency "http://127.0.0.1:${port[$s]}/$f" 2>&1) || true
  c1=$(cpu_ticks "${spid[$s]}"); t1=$(date +%s.%N)
  echo "$txt" > "$out/$l.$f.$s.$r.txt"
  cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN { printf "%.3f", (b - a) / hz }')
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$txt")
  bytes=$(to_bytes "$(awk '/ requests in / { print $5 }' <<< "$txt")")
  mbs=$(awk -v b="$bytes" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", b / 1e6 / (t1 - t0) }')
  per_gb=$(awk -v b="$bytes" -v c="$cpu" 'BEGIN { printf "%.3f", (b > 0 ? c / (b / 1e9) : 0) }')
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<< "$txt")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<< "$txt")")
  err=$(wrk_errors <<< "$txt")
  cpu=$(awk -v c="$cpu" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f", c / (t1 - t0) }')
  # No rate: no row, rather than a 0 that the medians would count.
  [[ -n $rps ]] || { note "$l $f $s run $r: no rate in wrk's output; run left out"; return; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$l" "$f" "$s" "$r" "$rps" "$mbs" "$p50" "$p99" \
    "$cpu" "$per_gb" "${err:-0}" >> "$results"
}

# One client pulling the 1 GiB file over and over (drain.py: it discards
# the body in the kernel, so that it leaves CPU 1 to wrk).
start_big_download() {  # server run
  taskset -c "${BENCH_DOWNLOAD_CPU:-$client_cpu}" "$py" "$root/bench/files/drain.py" 127.0.0.1 "${port[$1]}" /1g.bin \
    > "$out/download.$1.$2.txt" 2>&1 &
  bg_pid=$!
  sleep 0.5
}
stop_big_download() {  # server run: appends "server run MB/s" to downloads.tsv
  kill -TERM "$bg_pid" 2> /dev/null || true
  wait "$bg_pid" 2> /dev/null || true
  bg_pid=""
  printf '%s\t%s\t%s\n' "$1" "$2" "$(tail -n 1 "$out/download.$1.$2.txt")" >> "$downloads"
}

active=()
for s in $servers; do
  if available "$s"; then active+=("$s"); else note "skipping $s (not built or not installed)"; fi
done
have wrk || { note "wrk missing (Debian wrk): nothing to measure"; exit 0; }

{
  echo "# files bench, $(date -u '+%Y-%m-%d %H:%M UTC'), weft $(git -C "$root" describe --always --dirty 2> /dev/null || echo '?')"
  echo "# $(nproc) CPUs, kernel $(uname -r); server on CPU $server_cpu, load on CPU $client_cpu"
  echo "# ${seconds}s per run, $runs runs; nginx $( (nginx_bin > /dev/null && $(nginx_bin) -v 2>&1) | sed 's/.*\///'), $($py --version), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
} | tee "$out/header.txt" >&2

started=()
for s in "${active[@]}"; do
  start_server "$s" && started+=("$s") || note "skipping $s"
done
for r in $(seq "$runs"); do
  for s in "${started[@]}"; do
    if [[ " $loads " = *" small "* ]]; then
      for f in 1k.bin 16k.bin; do note "run $r, small $f, $s"; measure small "$f" "$s" "$r" 100; done
    fi
    if [[ " $loads " = *" large "* ]]; then
      for f in 1m.bin 100m.bin; do note "run $r, large $f, $s"; measure large "$f" "$s" "$r" 8; done
    fi
    if [[ " $loads " = *" mixed "* ]]; then
      note "run $r, mixed, $s"
      measure alone 1k.bin "$s" "$r" 100
      start_big_download "$s" "$r"
      measure mixed 1k.bin "$s" "$r" 100
      stop_big_download "$s" "$r"
    fi
  done
done
for s in "${started[@]}"; do stop_server "$s"; done

cat "$out/header.txt"
echo
$py - "$results" "$downloads" << 'PY' | tee "$out/report.md"
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
# Requests/s per server core (column 12), as bench/http reports it: where
# wrk saturates CPU 1, raw rates cannot separate the servers.
for r in rows:
    r.append(f"{float(r[4]) / float(r[8]):.0f}" if float(r[8] or 0) > 0 else "0")
# The big download's rate during each mixed run (column 13).
dl = {(s, r): v for s, r, v in (l.split("\t") for l in open(sys.argv[2]).read().split("\n") if l.count("\t") == 2)}
for r in rows:
    r.append(dl.get((r[2], r[3]), "0").strip() or "0")
med = {}
def table(load, f, title, cols):
    sel = [r for r in rows if r[0] == load and r[1] == f]
    if not sel: return
    print(f"\n### {title}\n")
    print("| server | " + " | ".join(c[0] for c in cols) + " | errors |")
    print("|---|" + "---:|" * len(cols) + "---:|")
    for s in dict.fromkeys(r[2] for r in sel):
        rs = [r for r in sel if r[2] == s]
        vals = {name: st.median(float(r[i]) for r in rs) for name, i, _ in cols}
        med[(load, f, s)] = vals
        errs = sum(int(r[10] or 0) for r in rs)
        print(f"| {s} | " + " | ".join(fmt.format(vals[name]) for name, _, fmt in cols) + f" | {errs} |")
small_cols = [("req/s", 4, "{:,.0f}"), ("p50 ms", 6, "{:.2f}"), ("p99 ms", 7, "{:.2f}"), ("server CPU", 8, "{:.2f}"),
              ("req/s per core", 11, "{:,.0f}")]
mixed_cols = small_cols + [("download MB/s", 12, "{:,.0f}")]
large_cols = [("MB/s", 5, "{:,.0f}"), ("p99 ms", 7, "{:.1f}"), ("server CPU", 8, "{:.2f}"), ("CPU s per GB", 9, "{:.3f}")]
table("small", "1k.bin", "1 KiB file, wrk -t1 -c100 keep-alive", small_cols)
table("small", "16k.bin", "16 KiB file, wrk -t1 -c100 keep-alive", small_cols)
table("large", "1m.bin", "1 MiB file, wrk -t1 -c8", large_cols)
table("large", "100m.bin", "100 MiB file, wrk -t1 -c8", large_cols)
table("alone", "1k.bin", "1 KiB file, wrk -c100, alone", small_cols)
table("mixed", "1k.bin", "1 KiB file, wrk -c100, while one client pulls a 1 GiB file (drain.py)", mixed_cols)

print("\n### Targets (medians)\n")
print("| target | ratio | met |\n|---|---:|---|")
def row(name, a, b, key, ok):
    if a in med and b in med and med[b][key]:
        v = med[a][key] / med[b][key]
        print(f"| {name} | {v:.2f} | {'met' if ok(v) else 'NOT met'} |")
    else:
        print(f"| {name} | n/a | not measured |")
for f in ("1k.bin", "16k.bin"):
    row(f"small {f}: req/s >= 1.3x nginx", ("small", f, "weft"), ("small", f, "nginx"), "req/s", lambda v: v >= 1.3)
    row(f"small {f}: req/s per server core >= 1.3x nginx", ("small", f, "weft"), ("small", f, "nginx"),
        "req/s per core", lambda v: v >= 1.3)
for f in ("1m.bin", "100m.bin"):
    row(f"large {f}: MB/s >= 0.95x nginx", ("large", f, "weft"), ("large", f, "nginx"), "MB/s", lambda v: v >= 0.95)
row("mixed: weft p99 with / without the big download <= 2", ("mixed", "1k.bin", "weft"), ("alone", "1k.bin", "weft"),
    "p99 ms", lambda v: v <= 2)
row("mixed, for comparison: nginx p99 with / without", ("mixed", "1k.bin", "nginx"), ("alone", "1k.bin", "nginx"),
    "p99 ms", lambda v: v <= 2)
PY
