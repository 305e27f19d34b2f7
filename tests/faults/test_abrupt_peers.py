"""Abrupt peers: 100,000 requests at `weft hello`, `inspect` and `files`, where
a random 20% of the clients end badly: they reset (SO_LINGER 0, then
close) or vanish (plain close) in the middle of a request, or reset in the
middle of the response. The servers must not crash, must give back every
descriptor, and their RSS must come back to where it was after a warm-up.
"""

import asyncio
import os
import random
import socket
import struct
import tempfile
import time
import unittest

from faultlib import figure, memory_kib, open_conn, raise_nofile, read_response, start_weft

TOTAL = 100_000
WARM_UP = 20_000
WORKERS = 64
ABRUPT_SHARE = 0.2
SETTLE = 1.0  # for the servers to see the last closes
BODY = b"x" * (8 << 10)  # inspect echoes it as JSON: a response long enough to cut

REQUESTS = {
    "hello": b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
    "files": b"GET /page.bin HTTP/1.1\r\nHost: x\r\n\r\n",  # sendfile, cut by resets
    "inspect": b"POST /inspect HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
}


def reset(writer):
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def client(server, raw, rng, counts):
    """One connection: a few requests, then maybe an abrupt end."""
    reader, writer = await open_conn(server)
    counts["clients"] += 1
    try:
        abrupt = rng.random() < ABRUPT_SHARE
        for _ in range(rng.randint(1, 4)):
            burst = rng.randint(1, 8)  # pipelined: the load is the server's, not Python's
            writer.write(raw * burst)
            for _ in range(burst):
                status, _, _ = await asyncio.wait_for(read_response(reader), 10)
                counts["sent"] += 1
                if status != 200:
                    counts["errors"] += 1
        if not abrupt:
            return
        counts["sent"] += 1
        how = rng.choice(("reset mid-request", "vanish mid-request", "reset mid-response"))
        counts[how] = counts.get(how, 0) + 1
        if how == "reset mid-response":
            writer.write(raw)
            await asyncio.wait_for(reader.read(rng.randint(1, len(BODY) // 2)), 10)
            reset(writer)
        else:
            writer.write(raw[:rng.randint(1, len(raw) - 1)])
            await writer.drain()
            reset(writer) if how.startswith("reset") else writer.close()
    finally:
        writer.transport.abort()


async def load(servers, n, seed):
    rng = random.Random(seed)
    counts = {"sent": 0, "errors": 0, "clients": 0}
    names = list(servers)

    async def worker():
        while counts["sent"] < n:
            name = rng.choice(names)
            try:
                await client(servers[name], REQUESTS[name], rng, counts)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                counts["errors"] += 1
                counts.setdefault("examples", []).append(repr(e))

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return counts


def snapshot(servers):
    return {name: (s.open_fd_count(), memory_kib(s.pid, "VmRSS")) for name, s in servers.items()}


class AbruptPeers(unittest.TestCase):
    def test_resets_and_vanishing_clients_leak_nothing(self):
        raise_nofile(4 * WORKERS + 256)
        root = tempfile.TemporaryDirectory()
        self.addCleanup(root.cleanup)
        with open(os.path.join(root.name, "page.bin"), "wb") as f:
            f.write(os.urandom(64 << 10))
        servers = {name: start_weft(self, name, "--max-body", str(1 << 20)) for name in ("hello", "inspect")}
        # No file cache: every request opens and closes its file, and the
        # descriptor count is exact (a cache would keep some open).
        servers["files"] = start_weft(self, "files", "--root", root.name, "--no-file-cache")
        asyncio.run(load(servers, WARM_UP, seed=1))
        time.sleep(SETTLE)
        before = snapshot(servers)
        t0 = time.monotonic()
        counts = asyncio.run(load(servers, TOTAL, seed=2))
        took = time.monotonic() - t0
        time.sleep(SETTLE)
        after = snapshot(servers)
        alive = all(s.running() for s in servers.values())
        abrupt = sum(v for k, v in counts.items() if k.startswith(("reset", "vanish")))
        parts = []
        for name in servers:
            (fd0, rss0), (fd1, rss1) = before[name], after[name]
            parts.append(f"{name} fds {fd0}->{fd1}, RSS {rss0 / 1024:.1f}->{rss1 / 1024:.1f} MiB "
                         f"({(rss1 - rss0) / rss0:+.1%})")
        figure("abrupt-peers", f"{counts['sent']} requests in {took:.0f} s, {abrupt} of {counts['clients']} clients "
                               f"({abrupt / max(1, counts['clients']):.0%}) ended abruptly; "
                               f"{'0 crashes' if alive else 'CRASHED'}; " + "; ".join(parts))
        self.assertTrue(alive, "a server died")
        self.assertEqual(counts["errors"], 0, counts.get("examples", [])[:5])
        self.assertGreaterEqual(counts["sent"], TOTAL)
        for name in servers:
            (fd0, rss0), (fd1, rss1) = before[name], after[name]
            self.assertEqual(fd1, fd0, f"{name} leaked descriptors")
            self.assertLessEqual(abs(rss1 - rss0) / rss0, 0.05, f"{name} RSS {rss0} -> {rss1} KiB")


if __name__ == "__main__":
    unittest.main()
