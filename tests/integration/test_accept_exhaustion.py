"""`weft echo` out of file descriptors.

With RLIMIT_NOFILE at 64 the server can hold only about 55 connections;
accept4 fails with EMFILE for the rest, which wait in the listen backlog.
The server must keep serving the connections it has, must not spin on the
listener that stays readable (it backs off, 10 ms doubling to 640 ms), and
must accept again as soon as descriptors free up.
"""

import selectors
import socket
import time
import unittest

from weftproc import start_weft

NOFILE_LIMIT = 64
CLIENTS = 100            # well past the limit
SETTLE = 1.0             # seconds with no new echo before the rest count as waiting
RECOVERY_DEADLINE = 3.0  # the back-off is at most 640 ms
MAX_IDLE_CPU = 0.20      # of one core, while it cannot accept


def hello(i):
    return b"hello from client %d\n" % i


def echoed_within(clients, timeout):
    """The indices of `clients` (index -> socket, each having sent hello(i))
    whose echo arrives before no echo has come for `timeout` seconds."""
    got = {i: b"" for i in clients}
    done = set()
    with selectors.DefaultSelector() as sel:
        for i, s in clients.items():
            sel.register(s, selectors.EVENT_READ, i)
        quiet_until = time.monotonic() + timeout
        while len(done) < len(clients):
            left = quiet_until - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(left):
                i = key.data
                chunk = key.fileobj.recv(4096)
                if not chunk:
                    raise AssertionError(f"client {i} was closed instead of served; got {got[i]!r}")
                got[i] += chunk
                if got[i] == hello(i):
                    done.add(i)
                    sel.unregister(key.fileobj)
                    quiet_until = time.monotonic() + timeout
                elif not hello(i).startswith(got[i]):
                    raise AssertionError(f"client {i} got {got[i]!r}")
    return done


class EchoOutOfDescriptors:
    server_args = ()

    def setUp(self):
        self.server = start_weft(self, "echo", *self.server_args, nofile_limit=NOFILE_LIMIT)
        self.clients = {}
        self.addCleanup(self.close_all)
        for i in range(CLIENTS):
            s = self.server.connect(timeout=5.0)  # completes in the kernel's backlog either way
            s.sendall(hello(i))
            self.clients[i] = s
        served = echoed_within(self.clients, SETTLE)
        self.served = {i: self.clients[i] for i in sorted(served)}
        self.waiting = {i: s for i, s in self.clients.items() if i not in served}
        self.assertTrue(self.waiting, f"all {CLIENTS} clients were served: the descriptor limit was never reached")
        self.assertGreater(len(self.served), NOFILE_LIMIT // 2,
                           f"only {len(self.served)} clients served under a limit of {NOFILE_LIMIT}; "
                           f"{self.server.describe()}")

    def close_all(self):
        for s in self.clients.values():
            s.close()

    def close_clients(self, which):
        for i in list(which):
            self.clients.pop(i).close()
            self.served.pop(i, None)
            self.waiting.pop(i, None)

    def test_connections_accepted_before_the_limit_keep_echoing(self):
        for round_no in range(3):
            for i, s in self.served.items():
                s.sendall(hello(i))
            self.assertEqual(echoed_within(self.served, 2.0), set(self.served),
                             f"round {round_no}: some accepted connections stopped echoing")

    def test_the_server_stays_nearly_idle_while_it_cannot_accept(self):
        wall0, cpu0 = time.monotonic(), self.server.cpu_seconds()
        time.sleep(1.0)
        wall1, cpu1 = time.monotonic(), self.server.cpu_seconds()
        share = (cpu1 - cpu0) / (wall1 - wall0)
        self.assertLess(share, MAX_IDLE_CPU,
                        f"the server used {share:.0%} of a core with connections it cannot accept")
        # Still unable to accept: the waiting clients are still waiting.
        self.assertEqual(echoed_within(dict(list(self.waiting.items())[:5]), 0.2), set())

    def test_waiting_and_new_connections_are_served_once_descriptors_free_up(self):
        freed = list(self.served)[:10]
        self.close_clients(freed)
        # Any waiting client will do, not the first ones by index: with two
        # loops each listener has its own accept queue, and the loop that
        # hit EMFILE later retries sooner and may take every freed
        # descriptor for its own queue. (Checking the first ten by index
        # failed about one run in five in CI while the server was right.)
        self.assertTrue(echoed_within(self.waiting, RECOVERY_DEADLINE),
                        f"none of the waiting clients was served within {RECOVERY_DEADLINE} s "
                        f"of {len(freed)} descriptors freeing up; {self.server.describe()}")

        self.close_clients(list(self.waiting))
        latecomer = self.server.connect(timeout=5.0)
        self.clients[-1] = latecomer
        latecomer.sendall(hello(-1))
        self.assertEqual(echoed_within({-1: latecomer}, RECOVERY_DEADLINE), {-1},
                         f"a new connection was not served within {RECOVERY_DEADLINE} s; {self.server.describe()}")


class EchoOutOfDescriptorsOneThread(EchoOutOfDescriptors, unittest.TestCase):
    server_args = ("--threads", "1")


class EchoOutOfDescriptorsTwoThreadsLevelTriggered(EchoOutOfDescriptors, unittest.TestCase):
    server_args = ("--threads", "2", "--trigger", "level")


class SoftLimitRaised(unittest.TestCase):
    """The soft RLIMIT_NOFILE is often 1024 while the hard one is far higher
    (systemd's 1024:524288): `weft` raises the soft one to the hard one at
    start, so it is not held to ~1,000 clients by a default."""

    def test_a_soft_limit_below_the_hard_one_does_not_cap_the_clients(self):
        server = start_weft(self, "echo", nofile_soft=NOFILE_LIMIT)
        clients = {}
        try:
            for i in range(CLIENTS * 2):
                s = server.connect(timeout=5.0)
                clients[i] = s
                s.sendall(hello(i))
            done = echoed_within(clients, SETTLE * 3)
            self.assertEqual(len(done), len(clients), "clients past the soft limit were not served")
        finally:
            for s in clients.values():
                s.close()


class HttpIdleConnectionsGiveWay(unittest.TestCase):
    """`weft hello` out of descriptors, every one held by an idle keep-alive
    client: those idle a while give way to new clients, as nginx drains its
    reusable connections. Each new client waited for an idle one's whole
    --idle-timeout to free a descriptor (found by review)."""

    def test_new_clients_are_served_while_idle_keep_alive_clients_hold_every_descriptor(self):
        # Idle for a quarter of --idle-timeout, a client gives way: 2 s, and
        # all are answered well before the 8 s after which the idle ones
        # would have gone anyway.
        server = start_weft(self, "hello", "--threads", "1", "--idle-timeout", "8", nofile_limit=NOFILE_LIMIT)
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        clients = []
        try:
            for _ in range(CLIENTS):
                s = server.connect(timeout=5.0)
                clients.append(s)
                s.sendall(request)
            # Each is answered, the later ones once earlier ones, idle after
            # their answer, have been closed to make room.
            deadline = time.monotonic() + 6.0
            for i, s in enumerate(clients):
                got = b""
                while b"Hello, world!" not in got:
                    s.settimeout(max(0.05, deadline - time.monotonic()))
                    try:
                        chunk = s.recv(4096)
                    except socket.timeout:
                        self.fail(f"client {i} of {CLIENTS} had no answer within 6 s: {got!r}")
                    self.assertTrue(chunk, f"client {i} was closed unanswered: {got!r}")
                    got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got)
        finally:
            for s in clients:
                s.close()


if __name__ == "__main__":
    unittest.main()
