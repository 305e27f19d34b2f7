#!/usr/bin/python3
"""Server memory held per client that sends and never reads.

Starts `weft SUBCOMMAND --port 0 --threads 1` itself (--weft, default
build/bin/weft), opens --conns connections with a 4 KiB receive buffer,
and has each send its load without reading a byte; once the server's VmRSS
has settled (two looks 0.5 s apart within 1%), prints one JSON line:

  {"kind": "held", "load": ..., "conns": 300, "rss_before_kb": ..., "rss_after_kb": ..., "kib_per_conn": ...}

Loads (the figures in README.md, "Reliability"):
  inspect-escaped  weft inspect: POSTs of 98 header fields of 640 bytes 0xFF
                   and an 11,000-byte body of 0xFF, 12 pipelined (a 75 KB
                   request whose JSON escapes each byte as six)
  inspect-bodies   weft inspect: one 8 MiB body, all but its last byte sent
                   (the body budget's case)
  inspect-part-bodies  weft inspect: an 8 MiB body of which 2.2 MiB is sent
                   (a body still arriving: run it with transparent huge
                   pages `always` too, /sys/kernel/mm/transparent_hugepage)
  files-get-body   weft files --root .: a GET of README.md carrying an 8 MiB
                   body, all but its last byte sent
  qa               weft qa: "What is your quest?" 300,000 times
  hello-pipelined  weft hello: 200,000 pipelined GETs
  files-pipelined  weft files --root .: 100,000 pipelined GETs of a small
                   file (examples/site/index.html, sent from memory)

Run from the repository root, e.g.
  bench/memory/unread_answers.py --load inspect-escaped --conns 300
"""

import argparse
import json
import resource
import socket
import subprocess
import threading
import time

BODY = 8 << 20
BODY_POST = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BODY


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settled_kb(pid, timeout=30.0):
    deadline, last = time.monotonic() + timeout, vm_rss_kb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = vm_rss_kb(pid)
        if abs(now - last) <= max(64, last // 100):
            return now
        last = now
    return last


LOADS = {
    "inspect-escaped": (["inspect"], (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11000\r\n"
                                      + b"".join(b"X-%02d: " % i + b"\xff" * 640 + b"\r\n" for i in range(98))
                                      + b"\r\n" + b"\xff" * 11000) * 12),
    "inspect-bodies": (["inspect"], BODY_POST + b"a" * (BODY - 1)),
    # 2.2 MiB: past one 2 MiB boundary, so that a huge page there is
    # faulted in with a tenth of it written.
    "inspect-part-bodies": (["inspect"], BODY_POST + b"a" * (BODY * 11 // 40)),
    "files-get-body": (["files", "--root", "."], b"GET /README.md HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                       % BODY + b"a" * (BODY - 1)),
    "qa": (["qa"], b"What is your quest?" * 300000),
    "hello-pipelined": (["hello"], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 200000),
    "files-pipelined": (["files", "--root", "."], b"GET /examples/site/index.html HTTP/1.1\r\nHost: x\r\n\r\n" * 100000),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--load", choices=sorted(LOADS), required=True)
    ap.add_argument("--conns", type=int, default=300)
    ap.add_argument("--weft", default="build/bin/weft")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    argv, data = LOADS[args.load]
    server = subprocess.Popen([args.weft, *argv, "--port", "0", "--threads", "1"], stdout=subprocess.PIPE)
    try:
        port = int(server.stdout.readline().decode().rsplit(":", 1)[1])
        time.sleep(0.3)
        before = vm_rss_kb(server.pid)
        socks = []
        for _ in range(args.conns):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # takes little of the answers
            s.connect(("127.0.0.1", port))
            socks.append(s)

        def send(s):
            try:
                s.sendall(data)
            except OSError:
                pass  # cut by the server, or by us below

        senders = [threading.Thread(target=send, args=(s,), daemon=True) for s in socks]
        for t in senders:
            t.start()
        after = settled_kb(server.pid)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)  # ends a sender blocked in sendall
            except OSError:
                pass  # the server has closed it already
            s.close()
        print(json.dumps({"kind": "held", "load": args.load, "conns": args.conns, "rss_before_kb": before,
                          "rss_after_kb": after, "kib_per_conn": round((after - before) / args.conns, 1)}))
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
