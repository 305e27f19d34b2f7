"""Garbage: 10 MB of random bytes and crash-class inputs (request
smuggling, malformed framing, other protocols) thrown over 50 connections
at `weft hello`, `inspect`, `echo` and `qa`, while well-formed clients of
each keep being served. No server may crash, and no well-formed request
may fail.

The fuzz corpora and regressions under fuzz/ are replayed too.
"""

import asyncio
import glob
import os
import random
import unittest

from faultlib import figure, open_conn, raise_nofile, read_response, start_weft

RANDOM_BYTES = 10 << 20
CONNECTIONS = 50
WELL_FORMED_CLIENTS = 4  # per server
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

CRASH_CLASS = [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"e" * 100000 + b"\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",  # obs-fold
    b"GET / HTTP/1.1\nHost: x\n\n",  # bare LF
    b"GET / HTTP/1.1\rHost: x\r\r",  # bare CR
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHo\x00st: x\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1111111111111111111\r\n\r\n",
    b"G\xc3\xa9T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET " + b"/a" * 100000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 10000 + b"\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"y" * 200000 + b"\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
    bytes.fromhex("16030100a5010000a10303") + os.urandom(160),  # a TLS ClientHello
    b"\r\n" * 10000,
    b"?" * 10000,
    b"\n" * 10000,
    b"\x00" * 10000,
    b"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n",
    b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://x:99999999/ HTTP/1.1\r\nHost: x\r\n\r\n",
]


def corpus_inputs():
    """The fuzz targets' seed corpora and found crashes (fuzz/corpus/,
    fuzz/regressions/), when the tree has them."""
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "fuzz", "**", "*"), recursive=True)):
        kept = os.sep + "corpus" + os.sep in path or os.sep + "regressions" + os.sep in path
        if kept and os.path.isfile(path) and os.path.getsize(path) < (1 << 20):
            with open(path, "rb") as f:
                out.append(f.read())
    return out


class Servers:
    """The four servers and what a well-formed client of each sends and gets."""

    def __init__(self, test):
        self.http = {name: start_weft(test, name) for name in ("hello", "inspect")}
        self.echo = start_weft(test, "echo")
        self.qa = start_weft(test, "qa")

    def all(self):
        return [*self.http.values(), self.echo, self.qa]


async def http_client(server, stop, counts):
    while not stop.is_set():
        try:
            reader, writer = await open_conn(server)
            for _ in range(20):
                writer.write(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
                status, _, _ = await asyncio.wait_for(read_response(reader), 5)
                counts["ok" if status == 200 else "errors"] += 1
            writer.transport.abort()
        except Exception as e:
            counts["errors"] += 1
            counts.setdefault("examples", []).append(f"{server.subcommand}: {e!r}")
        await asyncio.sleep(0.01)


async def line_client(server, ask, expect, stop, counts):
    while not stop.is_set():
        try:
            reader, writer = await open_conn(server)
            for _ in range(20):
                writer.write(ask)
                got = await asyncio.wait_for(reader.readexactly(len(expect)), 5)
                counts["ok" if got == expect else "errors"] += 1
            writer.transport.abort()
        except Exception as e:
            counts["errors"] += 1
            counts.setdefault("examples", []).append(f"{server.subcommand}: {e!r}")
        await asyncio.sleep(0.01)


async def read_all(reader):
    while await reader.read(1 << 16):
        pass


async def thrower(servers, queue, counts):
    """Takes inputs off the queue and sends each to a random server on a
    fresh connection, reading whatever comes back, until it closes."""
    rng = random.Random()
    while True:
        data = await queue.get()
        if data is None:
            return
        server = rng.choice(servers)
        writer = None
        try:
            reader, writer = await open_conn(server)
            replies = asyncio.ensure_future(read_all(reader))
            # In a few writes, so the parsers also see it split at random.
            cuts = sorted(rng.randint(0, len(data)) for _ in range(rng.randint(0, 3)))
            for a, b in zip([0, *cuts], [*cuts, len(data)]):
                writer.write(data[a:b])
                await asyncio.wait_for(writer.drain(), 5)
                await asyncio.sleep(0)
            await asyncio.wait_for(replies, 0.5)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass  # refused, reset, or still open: the server decides
        finally:
            if writer is not None:
                writer.transport.abort()
        counts["thrown"] += len(data)
        counts["connections"] += 1


async def scenario(servers):
    stop = asyncio.Event()
    counts = {"ok": 0, "errors": 0, "thrown": 0, "connections": 0}
    good = []
    for s in servers.http.values():
        good += [http_client(s, stop, counts) for _ in range(WELL_FORMED_CLIENTS)]
    good += [line_client(servers.echo, b"ping\n", b"ping\n", stop, counts) for _ in range(WELL_FORMED_CLIENTS)]
    good += [line_client(servers.qa, b"What is your quest?", b"To seek the Holy Grail.", stop, counts)
             for _ in range(WELL_FORMED_CLIENTS)]
    good = [asyncio.ensure_future(g) for g in good]

    queue = asyncio.Queue(maxsize=CONNECTIONS * 2)
    throwers = [asyncio.ensure_future(thrower(servers.all(), queue, counts)) for _ in range(CONNECTIONS)]
    rng = random.Random(5)
    inputs = CRASH_CLASS + corpus_inputs()
    for data in inputs:
        await queue.put(data)
    left = RANDOM_BYTES
    while left > 0:
        n = min(left, rng.randint(1, 16 << 10))
        await queue.put(rng.randbytes(n))
        left -= n
    for _ in throwers:
        await queue.put(None)
    await asyncio.gather(*throwers)
    stop.set()
    await asyncio.gather(*good)
    return counts, len(inputs)


class Garbage(unittest.TestCase):
    def test_random_and_malformed_bytes_crash_nothing_and_harm_no_one(self):
        raise_nofile(1024)
        servers = Servers(self)
        counts, crash_class = asyncio.run(scenario(servers))
        alive = all(s.running() for s in servers.all())
        figure("garbage", f"{counts['thrown'] / 1e6:.1f} MB (random plus {crash_class} crash-class and fuzz corpus inputs) "
                          f"over {CONNECTIONS} concurrent connections ({counts['connections']} in all) at hello, inspect, echo, qa: "
                          f"{'0 crashes' if alive else 'CRASHED'}; well-formed clients {counts['ok']} served, "
                          f"{counts['errors']} errors")
        self.assertTrue(alive, [s.describe() for s in servers.all() if not s.running()])
        self.assertEqual(counts["errors"], 0, counts.get("examples", [])[:5])
        self.assertGreater(counts["ok"], 0)


if __name__ == "__main__":
    unittest.main()
