#!/usr/bin/env bash
# User-space instructions per request of `weft hello` (or `weft files`) under pipelining,
# counted by callgrind: a figure that, unlike requests/s on this VM, does
# not move with the machine's speed, so a change to the hot path can be
# measured to the percent. The client is deterministic: CONNS connections
# each send BATCHES batches of DEPTH pipelined requests (wrk's request line
# and Host) and read the DEPTH answers. DEPTH=1 is the keep-alive load: one
# request per read, so each request also pays for a wait for input. Two runs, with BATCHES and with none,
# cancel out start-up and shutdown.
#
# Usage: bench/http/instructions.sh     (needs valgrind: scripts/deps.sh bench)
# Environment: BUILD_DIR (default build), CONNS (10), BATCHES (100), DEPTH (16),
# SERVER (weft; floor: bench/http/peers/floor_responder, for comparison;
# files: `weft files` serving one file of FILE_BYTES random bytes, 1024 by
# default, from a cache that holds it: the small-file load of bench/files)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
[[ $build = /* ]] || build=$root/$build
conns=${CONNS:-10}
batches=${BATCHES:-100}
depth=${DEPTH:-16}
command -v valgrind > /dev/null || { echo "instructions: valgrind missing (scripts/deps.sh bench)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-instructions.XXXXXX")
target=/
case ${SERVER:-weft} in
  weft) server=("$build/bin/weft" hello --port 0 --threads 1) ;;
  floor) server=("$build/bin/floor_responder" --port 0) ;;
  files)
    mkdir "$tmp/site"
    head -c "${FILE_BYTES:-1024}" /dev/urandom > "$tmp/site/file.bin"
    server=("$build/bin/weft" files --root "$tmp/site" --port 0 --threads 1)
    target=/file.bin
    ;;
  *) echo "instructions: SERVER is weft, floor or files" >&2; exit 1 ;;
esac
pid=""
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2> /dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

cat > "$tmp/client.py" << 'PY'
import socket, sys
port, conns, batches, depth = (int(a) for a in sys.argv[1:5])
req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (sys.argv[5].encode(), port)
socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(conns)]
s = socks[0]
s.sendall(req)
reply = b""
while b"\r\n\r\n" not in reply:
    reply += s.recv(65536)
head, _, _ = reply.partition(b"\r\n\r\n")
length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
while len(reply) < len(head) + 4 + length:
    reply += s.recv(65536)
size = len(reply)  # every answer has the same size (one Date format)
for _ in range(batches):
    for s in socks:
        s.sendall(req * depth)
    for s in socks:
        left = depth * size
        while left:
            left -= len(s.recv(left))
PY

# Total instructions of one server run that serves `batches` batches.
count() {  # batches
  local log=$tmp/server.$1.log
  valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.$1" \
    "${server[@]}" > "$log" 2>&1 &
  pid=$!
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { cat "$log" >&2; exit 1; }
  python3 "$tmp/client.py" "$port" "$conns" "$1" "$depth" "$target"
  kill -TERM "$pid"
  wait "$pid" 2> /dev/null || true
  pid=""
  sed -n 's/^totals: *//p' "$tmp/callgrind.$1"
}

base=$(count 0)
loaded=$(count "$batches")
requests=$((conns * batches * depth))
echo "${SERVER:-weft} $(git -C "$root" describe --always --dirty 2> /dev/null || echo '?'): $(((loaded - base) / requests)) instructions per request at depth $depth ($requests requests, callgrind)"
