"""Soak: SOAK_SECONDS (default 60; SOAK_SECONDS=600 is the 10-minute run)
of mixed load at `weft hello`, `inspect` (with bodies), `files`, `echo` and
`qa`, with clients that disconnect at random (plain close or reset, between
requests). Every request must succeed, and no server's RSS may drift more
than 5% between the end of the warm-up and the end.
"""

import asyncio
import os
import random
import socket
import struct
import tempfile
import unittest

from faultlib import figure, memory_kib, open_conn, raise_nofile, read_response, start_weft

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
WARM_UP = min(15.0, SOAK_SECONDS / 4)
CLIENTS_PER_SERVER = 8
MAX_DRIFT = 0.05


def http_case(raw, check):
    async def one(reader, writer):
        writer.write(raw)
        status, _, body = await asyncio.wait_for(read_response(reader), 10)
        return status == 200 and check(body)
    return one


def line_case(ask, expect):
    async def one(reader, writer):
        writer.write(ask)
        return await asyncio.wait_for(reader.readexactly(len(expect)), 10) == expect
    return one


def cases(rng_body):
    body = rng_body
    return {
        "hello": http_case(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", lambda b: b == b"Hello, world!"),
        "inspect": http_case(b"POST /soak HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
                             lambda b: body in b),
        "files": http_case(b"GET /page.bin HTTP/1.1\r\nHost: x\r\n\r\n", lambda b: len(b) == 100 << 10),
        "echo": line_case(b"soak line\n", b"soak line\n"),
        "qa": line_case(b"What is your name?", b"My name is Sir Lancelot of Camelot."),
    }


async def client(server, one, stop, counts, rng):
    while not stop.is_set():
        writer = None
        try:
            reader, writer = await open_conn(server)
            for _ in range(rng.randint(1, 50)):  # then a random disconnect
                if stop.is_set():
                    break
                if await one(reader, writer):
                    counts["served"] += 1
                else:
                    counts["errors"] += 1
                    counts.setdefault("examples", []).append(f"{server.subcommand}: wrong reply")
            if rng.random() < 0.5:
                writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                           struct.pack("ii", 1, 0))
        except Exception as e:
            counts["errors"] += 1
            counts.setdefault("examples", []).append(f"{server.subcommand}: {e!r}")
        finally:
            if writer is not None:
                writer.transport.abort()
        await asyncio.sleep(0.002)


async def scenario(servers, on_warm):
    stop = asyncio.Event()
    counts = {"served": 0, "errors": 0}
    rng = random.Random(7)
    # Printable, so it shows verbatim in inspect's JSON.
    one = cases(bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .,-") for _ in range(2000)))
    tasks = [asyncio.ensure_future(client(servers[name], one[name], stop, counts, random.Random(rng.random())))
             for name in servers for _ in range(CLIENTS_PER_SERVER)]
    await asyncio.sleep(WARM_UP)
    warm = on_warm()
    await asyncio.sleep(SOAK_SECONDS - WARM_UP)
    end = on_warm()
    stop.set()
    await asyncio.gather(*tasks)
    return counts, warm, end


class Soak(unittest.TestCase):
    def test_mixed_load_with_random_disconnects_serves_everything_without_drift(self):
        raise_nofile(1024)
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        with open(os.path.join(root.name, "page.bin"), "wb") as f:
            f.write(os.urandom(100 << 10))
        servers = {name: start_weft(self, name) for name in ("hello", "inspect", "echo", "qa")}
        servers["files"] = start_weft(self, "files", "--root", root.name)

        def rss():
            return {name: memory_kib(s.pid, "VmRSS") for name, s in servers.items()}

        counts, warm, end = asyncio.run(scenario(servers, rss))
        alive = all(s.running() for s in servers.values())
        drift = {name: (end[name] - warm[name]) / warm[name] for name in servers}
        figure("soak", f"{SOAK_SECONDS:g} s: {counts['served']} requests served, {counts['errors']} errors, "
                       f"{'0 crashes' if alive else 'CRASHED'}; RSS drift after {WARM_UP:g} s warm-up: " +
                       ", ".join(f"{n} {warm[n] / 1024:.1f}->{end[n] / 1024:.1f} MiB ({d:+.1%})"
                                 for n, d in drift.items()))
        self.assertTrue(alive)
        self.assertEqual(counts["errors"], 0, counts.get("examples", [])[:5])
        for name, d in drift.items():
            self.assertLess(abs(d), MAX_DRIFT, f"{name} RSS {warm[name]} -> {end[name]} KiB")


if __name__ == "__main__":
    unittest.main()
