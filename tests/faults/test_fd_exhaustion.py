"""Descriptor exhaustion: `weft hello` under RLIMIT_NOFILE 256 while 1,000
keep-alive clients connect. The server holds what it can; the rest wait in
the listen backlog. The connections it holds keep working, it does not spin
on the listener it cannot accept from (< 5% CPU), and once clients leave,
waiting and new clients are served.
"""

import asyncio
import time
import unittest

from faultlib import HELLO_BODY, HELLO_GET, exchange, figure, open_conn, raise_nofile, read_response, start_weft

NOFILE_LIMIT = 256
CLIENTS = 1000
SETTLE = 2.0          # seconds for the server to take what it can
CPU_WINDOW = 3.0      # seconds of measuring while it cannot accept
MAX_CPU = 0.05        # of one core
RECOVERY = 3.0        # the accept back-off is at most 640 ms


async def first_reply(conn, timeout):
    try:
        status, _, body = await asyncio.wait_for(exchange(*conn, HELLO_GET), timeout)
        return status == 200 and body == HELLO_BODY
    except asyncio.TimeoutError:
        return False


async def scenario(server):
    conns = [await open_conn(server) for _ in range(CLIENTS)]
    try:
        replied = await asyncio.gather(*(first_reply(c, SETTLE) for c in conns))
        served = [c for c, ok in zip(conns, replied) if ok]
        waiting = [c for c, ok in zip(conns, replied) if not ok]

        # The held connections keep working, three rounds each.
        held_errors = 0
        for _ in range(3):
            oks = await asyncio.gather(*(first_reply(c, 5.0) for c in served))
            held_errors += oks.count(False)

        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(CPU_WINDOW)
        cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - wall0)

        # Clients leave; those that waited in the backlog get their replies,
        # and a newcomer is served.
        for r, w in served:
            w.close()
        t0 = time.monotonic()
        late = await asyncio.gather(*(pending_reply(c, RECOVERY + 5) for c in waiting))
        recovered_in = time.monotonic() - t0
        newcomer = await open_conn(server)
        conns.append(newcomer)
        new_ok = await first_reply(newcomer, RECOVERY)
        return len(served), held_errors, cpu, late.count(True), len(waiting), recovered_in, new_ok
    finally:
        for _, w in conns:
            w.transport.abort()


async def pending_reply(conn, timeout):
    """The reply to the request a waiting client already sent; then it
    leaves, making room for the next."""
    try:
        status, _, body = await asyncio.wait_for(read_response(conn[0]), timeout)
        return status == 200 and body == HELLO_BODY
    except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
        return False
    finally:
        conn[1].transport.abort()


class DescriptorExhaustion(unittest.TestCase):
    def test_held_connections_work_the_server_idles_and_recovers(self):
        raise_nofile(4 * CLIENTS)
        server = start_weft(self, "hello", "--backlog", "2048", nofile_limit=NOFILE_LIMIT)
        held, held_errors, cpu, late_ok, waited, recovered_in, new_ok = asyncio.run(scenario(server))
        figure("fd-exhaustion", f"RLIMIT_NOFILE {NOFILE_LIMIT}, {CLIENTS} clients: {held} held, "
                                f"{held_errors} errors on them; {cpu:.1%} CPU while unable to accept; "
                                f"{late_ok}/{waited} waiting clients served {recovered_in:.2f} s after the "
                                f"others left; newcomer {'served' if new_ok else 'NOT served'}")
        self.assertGreater(held, NOFILE_LIMIT // 2)
        self.assertGreater(waited, 0, "the descriptor limit was never reached")
        self.assertEqual(held_errors, 0)
        self.assertLess(cpu, MAX_CPU)
        self.assertEqual(late_ok, waited)
        self.assertTrue(new_ok)
        self.assertTrue(server.running())


if __name__ == "__main__":
    unittest.main()
