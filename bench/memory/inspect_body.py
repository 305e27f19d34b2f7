#!/usr/bin/python3
"""Peak memory of `weft inspect` for large request bodies.

Starts `weft inspect --threads 1`, then for each count in --conns sends that
many concurrent POSTs, each carrying a body of --body-mib MiB of 0xff bytes
(each byte becomes the six bytes \\u00ff in the JSON answer), and reads every
answer whole. Prints one JSON line per count with the growth of the
server's peak RSS (VmHWM) since it started:

  {"kind": "inspect-memory", "conns": 1, "body_mib": 8, "peak_growth_mib": ...}

The counts run in order on one server, so a later count's peak includes
the earlier ones' (VmHWM never falls); list them in rising order.
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "integration"))
from weftproc import memory_kib  # noqa: E402


def serve(weft):
    p = subprocess.Popen([weft, "inspect", "--port", "0", "--threads", "1"], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        raise SystemExit(f"no readiness line: {line!r}")
    return p, int(m.group(1))


def post_and_read(port, body):
    """Sends one POST of `body` and reads its answer to the end of the JSON."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    sender = threading.Thread(target=s.sendall, args=(head + body,))
    sender.start()
    buf = bytearray(1 << 20)
    while s.recv_into(buf) > 0:
        pass
    sender.join()
    s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weft", default="build/bin/weft")
    ap.add_argument("--body-mib", type=int, default=8)
    ap.add_argument("--conns", type=int, nargs="+", default=[1, 4])
    args = ap.parse_args()
    server, port = serve(args.weft)
    try:
        start = memory_kib(server.pid, "VmHWM")
        body = b"\xff" * (args.body_mib << 20)
        for conns in args.conns:
            clients = [threading.Thread(target=post_and_read, args=(port, body)) for _ in range(conns)]
            for c in clients:
                c.start()
            for c in clients:
                c.join()
            growth = (memory_kib(server.pid, "VmHWM") - start) / 1024
            print(json.dumps({"kind": "inspect-memory", "conns": conns, "body_mib": args.body_mib,
                              "peak_growth_mib": round(growth, 1)}), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
