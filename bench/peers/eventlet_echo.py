#!/usr/bin/python3
"""The Eventlet echo server from the write-ups, ported to Python 3.

The original (Python 2) handler is:

    def handle(fd):
        while True:
            x = fd.readline()
            if not x: break
            fd.write(x)
            fd.flush()
    ...
    pool.spawn_n(handle, new_sock.makefile('rw'))

Ported literally, makefile('rw') is a *text* file in Python 3: a TextIOWrapper
over a buffered socket. readline() decodes a whole chunk (up to 8 KiB) ahead,
and TextIOWrapper.write() throws that decoded read-ahead away. So when several
lines arrive in one packet, the first is echoed and the rest are lost, and the
client waits forever. The port therefore opens the file in binary mode,
makefile('rwb'), where reads and writes have separate buffers.

--text-mode reproduces the trap on purpose, for the regression test
(tests/integration/test_eventlet_trap.py). Never benchmark with it.

Prints "eventlet echo listening on HOST:PORT" when ready; SIGINT and SIGTERM
end the process with status 0. Run it with Debian's /usr/bin/python3, which
has python3-eventlet.
"""

import argparse
import os
import signal
import sys

import eventlet


def handle(fd):
    while True:
        x = fd.readline()
        if not x:
            break
        fd.write(x)
        fd.flush()


def serve(sock, mode):
    # Closing the file alone leaves the socket open in Python 3 (Python 2
    # closed it when the last reference went): close both.
    fd = sock.makefile(mode)
    try:
        handle(fd)
    except OSError:
        pass  # reset by the peer: that connection ends
    finally:
        for f in (fd, sock):
            try:
                f.close()
            except OSError:
                pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=6000)
    p.add_argument("--backlog", type=int, default=4096)
    p.add_argument("--text-mode", action="store_true",
                   help="use makefile('rw') as a literal port would (loses lines)")
    args = p.parse_args()

    # os._exit: a SystemExit raised inside the hub would only end a greenlet.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os._exit(0))

    server = eventlet.listen((args.host, args.port), backlog=args.backlog)
    host, port = server.getsockname()[:2]
    print(f"eventlet echo listening on {host}:{port}", flush=True)
    mode = "rw" if args.text_mode else "rwb"
    pool = eventlet.GreenPool(size=1_000_000)
    while True:
        new_sock, _ = server.accept()
        pool.spawn_n(serve, new_sock, mode)
        del new_sock


if __name__ == "__main__":
    sys.exit(main())
