#!/usr/bin/python3
"""Server memory per idle connection.

Opens --conns connections to an echo server, sends one 64-byte line on each
and reads its echo (so every connection has been used once), then holds them
all idle. With --keep-alive, to an HTTP server instead: each connection
sends one GET, reads its whole answer and stays open between requests, as
a browser's kept-alive connection does. With --partial-head, to an HTTP
server: each connection sends the start of a request head and holds it
unfinished (a slowloris). Reads the server's VmRSS from /proc/PID/status before the first
connection and after the last one has settled, and prints one JSON line:

  {"kind": "memory", "label": ..., "conns": 10000, "rss_before_kb": ..., "rss_after_kb": ..., "bytes_per_conn": ...}

Before measuring the baseline it opens, uses and closes one connection, so
one-time costs (first buffer pool block, lazily created state) are not
charged to the idle connections. RSS is user-space memory only: kernel
socket buffers and thread structures are not in it.
"""

import argparse
import json
import resource
import socket
import sys
import time


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def use_once(host, port, n):
    s = socket.create_connection((host, port), timeout=10)
    line = b"%016x " % n + bytes(b"idle-connection-check-" * 3)[:46] + b"\n"
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        chunk = s.recv(len(line) - len(got))
        if not chunk:
            raise RuntimeError(f"connection {n}: closed before the echo")
        got += chunk
    if got != line:
        raise RuntimeError(f"connection {n}: echo differs")
    return s


# --partial-head: a slow HTTP client's connection instead, the request line
# and part of a field sent and the rest never (weft hello, weft inspect).
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a"


def open_partial(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(PARTIAL_HEAD)
    return s


def use_kept_alive(host, port):
    """One GET answered with a Content-Length body, the connection left open."""
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("closed before the answer's head")
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    if length is None or b"connection: close" in head.lower():
        raise RuntimeError("the answer does not keep the connection alive")
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("closed before the answer's body")
        body += chunk
    return s


def use_http_once(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()


def main():
    p = argparse.ArgumentParser(description="server RSS growth per idle connection")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="server process to measure")
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--label", default="server", help="server name for the report")
    p.add_argument("--settle", type=float, default=1.0, help="seconds idle before measuring")
    p.add_argument("--keep-alive", action="store_true",
                   help="an HTTP server: each connection is used for one GET and kept alive")
    p.add_argument("--partial-head", action="store_true",
                   help="an HTTP server: each connection sends part of a request head and waits")
    args = p.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.conns + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.conns + 64), hard))

    # How each connection is opened (n: its number, 0 for the first, which
    # is closed again), and the report's kind.
    if args.partial_head:
        kind, open_one = "memory-partial-head", lambda n: open_partial(args.host, args.port)
    elif args.keep_alive:
        kind, open_one = "memory-keep-alive", lambda n: use_kept_alive(args.host, args.port)
    else:
        kind, open_one = "memory", lambda n: use_once(args.host, args.port, n)

    if args.partial_head:
        use_http_once(args.host, args.port)  # a whole request: its one-time costs
    else:
        open_one(0).close()
    time.sleep(args.settle)
    before = vm_rss_kb(args.pid)
    socks = []
    t0 = time.monotonic()
    for i in range(args.conns):
        socks.append(open_one(i + 1))
    opened = time.monotonic() - t0
    time.sleep(args.settle)
    after = vm_rss_kb(args.pid)
    for s in socks:
        s.close()
    print(json.dumps({
        "kind": kind,
        "label": args.label,
        "conns": args.conns,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "bytes_per_conn": round((after - before) * 1024 / args.conns),
        "open_seconds": round(opened, 2),
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
