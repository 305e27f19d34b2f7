"""Slowloris: 1,000 connections each send one byte of a request head per
second while 50 keep-alive clients use `weft hello`. The slow ones must be
cut at the head timeout (counted from each one's first byte), and the
normal ones must not notice.
"""

import asyncio
import time
import unittest

from faultlib import HELLO_BODY, HELLO_GET, MeterProcess, figure, raise_nofile, start_weft

SLOW, NORMAL = 1000, 50
HEAD_TIMEOUT = 3.0
P99_TARGET_MS = 20.0
ATTEMPTS = 3
SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64  # never ends


async def slow_client(sock, cut_after, phase):
    # Each at its own phase of the second, as an attacker's clients would
    # be; in lockstep they would measure this process's bursts instead.
    await asyncio.sleep(phase)
    reader, writer = await asyncio.open_connection(sock=sock)
    start = None
    try:
        for i in range(len(SLOW_HEAD)):
            writer.write(SLOW_HEAD[i:i + 1])
            if start is None:
                start = time.monotonic()
            # Wait a second for the next byte, or for the server to cut us.
            try:
                data = await asyncio.wait_for(reader.read(4096), 1.0)
            except asyncio.TimeoutError:
                continue
            while data:  # a 408, then the close
                data = await reader.read(4096)
            break
    except (ConnectionError, OSError):
        pass  # a reset is a cut too
    finally:
        writer.transport.abort()
    cut_after.append(time.monotonic() - start if start is not None else float("inf"))


async def scenario(socks):
    cut_after = []
    slow = [asyncio.ensure_future(slow_client(sock, cut_after, i / SLOW)) for i, sock in enumerate(socks)]
    await asyncio.wait_for(asyncio.gather(*slow), 60)
    return cut_after


class Slowloris(unittest.TestCase):
    def attack(self, server):
        """One measured attack; the figure line."""
        # The same clients with no attack: what this machine gives anyway.
        baseline = MeterProcess(server, HELLO_GET, HELLO_BODY, 2.0, NORMAL, pause=0.05).result()
        # The slow connections open first (a connection flood is another
        # test: descriptor exhaustion); the normal clients are measured
        # while the slow heads trickle in and while they are cut.
        socks = [server.connect() for _ in range(SLOW)]
        t0 = time.monotonic()
        normal = MeterProcess(server, HELLO_GET, HELLO_BODY, HEAD_TIMEOUT + 3.0, NORMAL, pause=0.05)
        cut_after = asyncio.run(scenario(socks))
        meter = normal.result()
        print("worst normal latency per second (ms):", meter.worst_by_second(t0))
        latest = max(cut_after)
        figure("slowloris", f"normal p99 {meter.p99_ms():.1f} ms (no attack: {baseline.p99_ms():.1f} ms) "
                            f"over {meter.ok} requests, {len(meter.errors)} errors; {len(cut_after)} slow "
                            f"conns cut {min(cut_after):.2f}-{latest:.2f} s after their first byte "
                            f"(head timeout {HEAD_TIMEOUT:g} s)")
        # These hold in every attempt.
        self.assertEqual(meter.errors, [])
        self.assertGreater(meter.ok, 0)
        self.assertEqual(len(cut_after), SLOW)
        # Cut at the head timeout, not before (a cut at 0 would be a refusal).
        self.assertGreaterEqual(min(cut_after), HEAD_TIMEOUT - 0.05)
        self.assertLessEqual(latest, HEAD_TIMEOUT + 1.0)
        return meter.p99_ms()

    def test_slow_heads_are_cut_at_the_head_timeout_and_normal_clients_are_unharmed(self):
        raise_nofile(4 * (SLOW + NORMAL))
        server = start_weft(self, "hello", "--header-timeout", str(HEAD_TIMEOUT), "--backlog", "2048")
        # A latency target on a 2-core machine shared with builds and
        # fuzzers: another process's burst can spoil one attempt (the
        # no-attack p99 in the figure shows when). Three attempts; the
        # target must be met in one of them, and every other target in all.
        p99s = []
        for _ in range(ATTEMPTS):
            p99s.append(self.attack(server))
            if p99s[-1] < P99_TARGET_MS:
                break
        self.assertLess(min(p99s), P99_TARGET_MS, f"normal clients' p99 in each attempt (ms): {p99s}")


if __name__ == "__main__":
    unittest.main()
