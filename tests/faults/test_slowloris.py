"""Slowloris: 1,000 connections each send one byte of a request head per
second while 50 keep-alive clients use `weft hello`. The slow ones must be
cut at the head timeout (counted from each one's first byte), and the
normal ones must not notice.
"""

import asyncio
import time
import unittest

from faultlib import HELLO_BODY, HELLO_GET, MeterProcess, figure, open_conn, raise_nofile, start_weft

SLOW, NORMAL = 1000, 50
HEAD_TIMEOUT = 3.0
SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 64  # never ends


async def slow_client(server, cut_after, failures):
    try:
        reader, writer = await open_conn(server)
    except OSError as e:
        failures.append(f"slow connect: {e!r}")
        return
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


async def scenario(server):
    cut_after, failures = [], []
    slow = [asyncio.ensure_future(slow_client(server, cut_after, failures)) for _ in range(SLOW)]
    await asyncio.wait_for(asyncio.gather(*slow), 60)
    return cut_after, failures


class Slowloris(unittest.TestCase):
    def test_slow_heads_are_cut_at_the_head_timeout_and_normal_clients_are_unharmed(self):
        raise_nofile(4 * (SLOW + NORMAL))
        server = start_weft(self, "hello", "--header-timeout", str(HEAD_TIMEOUT), "--backlog", "2048")
        t0 = time.monotonic()
        normal = MeterProcess(server, HELLO_GET, HELLO_BODY, HEAD_TIMEOUT + 4.0, NORMAL, pause=0.02)
        cut_after, failures = asyncio.run(scenario(server))
        meter = normal.result()
        print("worst normal latency per second (ms):", meter.worst_by_second(t0))
        self.assertEqual(failures, [])
        latest = max(cut_after)
        figure("slowloris", f"normal p99 {meter.p99_ms():.1f} ms over {meter.ok} requests, "
                            f"{len(meter.errors)} errors; {len(cut_after)} slow conns all cut by {latest:.2f} s "
                            f"(head timeout {HEAD_TIMEOUT:g} s)")
        self.assertEqual(meter.errors, [])
        self.assertGreater(meter.ok, 0)
        self.assertLess(meter.p99_ms(), 20.0)
        self.assertEqual(len(cut_after), SLOW)
        # Cut at the head timeout, not before (a cut at 0 would be a refusal).
        self.assertGreaterEqual(min(cut_after), HEAD_TIMEOUT - 0.05)
        self.assertLessEqual(latest, HEAD_TIMEOUT + 1.0)


if __name__ == "__main__":
    unittest.main()
