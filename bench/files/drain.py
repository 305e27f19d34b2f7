#!/usr/bin/env python3
"""The mixed load's big download: GET one URL over and over, as fast as the
server sends it, and throw the body away inside the kernel.

Usage: drain.py HOST PORT PATH
On SIGTERM it prints the average download rate in MB/s and exits.

Why not curl: on the 2-CPU machine the downloader shares CPU 1 with wrk.
curl copies every byte to user space; at about 800 MB/s that left CPU 1
saturated while the server's CPU 0 was half idle (weft: 274 of 582 ticks
idle in one 5 s run), so the small requests' p99 measured CPU 1's
scheduler rather than the server. recv(MSG_TRUNC) on TCP consumes the
bytes without copying them (tcp(7)), so this client costs CPU 1 about a
quarter of a core at 2 GB/s and the download runs at the server's pace.
Each body is still counted against its Content-Length.

Why SO_RCVLOWAT: by default the client wakes for every few segments, and
each wake-up takes CPU 1 from wrk just when wrk has replies to time. With
the low-water mark at 256 KiB it wakes once per 256 KiB. In the mixed load
(2 runs each, weft, 2026-12-02) the small requests' p99 with the download
running went from 4.94 ms to 3.14 ms, and their rate from 35k to 51k/s,
while the download kept 720-900 MB/s. The mark is set after the head is
read: a peek for the head would otherwise wait for 256 KiB.
"""
import signal
import socket
import sys
import time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
scratch = bytearray(1 << 20)
total = 0
start = time.monotonic()


def report(*_):
    print(f"{total / (time.monotonic() - start) / 1e6:.0f}", flush=True)
    sys.exit(0)


def read_head(s):
    """Reads exactly the response head, leaving the body in the socket."""
    head = b""
    while True:
        peek = s.recv(4096, socket.MSG_PEEK)
        if not peek:
            sys.exit("drain: the server closed before the response head")
        end = (head + peek).find(b"\r\n\r\n")
        head += s.recv(len(peek) if end < 0 else end + 4 - len(head))
        if end >= 0:
            return head


def content_length(head):
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status:
        sys.exit(f"drain: {status!r}")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    sys.exit("drain: no Content-Length")


signal.signal(signal.SIGTERM, report)
request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
while True:
    with socket.create_connection((host, port)) as s:
        s.sendall(request)
        left = content_length(read_head(s))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 256 << 10)
        while left > 0:
            n = s.recv_into(scratch, min(len(scratch), left), socket.MSG_TRUNC)
            if n == 0:
                sys.exit(f"drain: the body ended {left} bytes short")
            left -= n
            total += n
