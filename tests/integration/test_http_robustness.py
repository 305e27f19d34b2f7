"""The HTTP server against clients that misbehave: too slow to send a head
(--header-timeout) or a body (--body-timeout), silent on a keep-alive
connection (--idle-timeout), not reading what it is sent (--write-timeout),
sending garbage; and a graceful stop (SIGTERM) in the middle of traffic.

Timeouts are set to 0.5 s so each case takes about a second; the bounds on
how late a cut may come are loose (a loaded 2-core machine), the bounds on
how early are not.
"""

import random
import select
import signal
import socket
import threading
import time
import unittest

from httpwire import ResponseReader, assert_alive, chunked, exchange, request, start_http
from weftproc import (BackgroundSender, WeftProcess, WeftStartError, recv_until_closed, recv_until_closed_or_reset,
                      server_side_states, start_weft)

T = 0.5      # the timeout under test
LATE = 1.5   # a cut must come before T + LATE
EARLY = 0.4  # ... and not before this (T minus timer slack)
# A connection that sends nothing reaches the server about this long after
# it connected: the HTTP listeners defer accept (TCP_DEFER_ACCEPT, 1 s).
DEFERRED = 1.0
HELLO = b"Hello, world!"
ERROR_OR_OK = {200, 400, 405, 408, 413, 414, 431, 501, 505}


def wait_readable(sock, limit):
    """Seconds until sock has a byte or EOF to read; None if not within limit."""
    start = time.monotonic()
    r, _, _ = select.select([sock], [], [], limit)
    return time.monotonic() - start if r else None


class Timeouts(unittest.TestCase):

    def start(self, subcommand, *args):
        self.server = start_http(self, subcommand, *args)
        return self.server

    def connect(self, timeout=5.0):
        s = self.server.connect(timeout=timeout)
        self.addCleanup(s.close)
        return s

    def assertClosedSilentlyWithNoRequest(self, *flags):
        """`weft hello` with `flags` closes a connection that sends nothing,
        with no reply, T after the server has it: about DEFERRED after
        connect."""
        self.start("hello", *flags)
        s = self.connect()
        start = time.monotonic()
        self.assertEqual(recv_until_closed(s), b"")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, DEFERRED + EARLY)
        self.assertLess(elapsed, DEFERRED + T + LATE)

    def assertCutWith408(self, s, elapsed):
        self.assertGreaterEqual(elapsed, EARLY, "cut before the timeout")
        self.assertLess(elapsed, T + LATE, "cut too late")
        reader = ResponseReader(s)
        r = reader.read_response()
        self.assertEqual(r.status, 408, r)
        self.assertTrue(r.closes(), r.head)
        reader.assert_closed()

    # --- --header-timeout ---------------------------------------------------

    def test_slowloris_sending_a_byte_every_fifth_of_a_second_gets_408(self):
        self.start("hello", "--header-timeout", str(T))
        s = self.connect()
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100  # never ends within the test
        start = time.monotonic()
        for byte in head:
            s.sendall(bytes([byte]))
            if wait_readable(s, 0.2) is not None:
                break
        else:
            self.fail("a head trickling in for 20 s was never cut")
        self.assertCutWith408(s, time.monotonic() - start)

    def test_a_head_that_stalls_halfway_gets_408(self):
        self.start("inspect", "--header-timeout", str(T))
        s = self.connect()
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()
        waited = wait_readable(s, T + LATE)
        self.assertIsNotNone(waited, "a stalled head was not cut")
        self.assertCutWith408(s, time.monotonic() - start)

    def test_the_head_timeout_does_not_run_between_requests(self):
        self.start("hello", "--header-timeout", str(T))
        s = self.connect()
        self.assertEqual(exchange(s, request()).body, HELLO)
        time.sleep(T + 0.3)  # idle between requests: the idle timeout's business
        self.assertEqual(exchange(s, request()).body, HELLO)

    def test_a_new_connection_that_sends_nothing_is_closed_at_the_head_timeout(self):
        # Its first request's head is due from the accept, as nginx's
        # client_header_timeout and Apache's RequestReadTimeout count it:
        # the idle timeout (60 s by default) held it where --header-timeout
        # said 0.5 (found by an audit of issue 3's contract). Counted from
        # when the server has it, about DEFERRED after connect; closed
        # silently, as an idle connection is, for there was no request.
        self.assertClosedSilentlyWithNoRequest("--header-timeout", str(T))

    def test_empty_lines_after_a_request_leave_the_connection_idle(self):
        # RFC 9112 §2.2: a server ignores empty lines before a request line.
        # Some clients send a stray CRLF after a POST body; that must not
        # start the head timeout on an otherwise idle connection.
        self.start("hello", "--header-timeout", str(T))
        s = self.connect()
        s.sendall(request() + b"\r\n\r\n")
        self.assertEqual(ResponseReader(s).read_response().body, HELLO)
        time.sleep(T + 0.3)
        self.assertEqual(exchange(s, request()).body, HELLO)

    def test_a_head_finished_within_the_timeout_in_pieces_is_served(self):
        self.start("hello", "--header-timeout", str(T))
        s = self.connect()
        raw = request("GET", "/", [("X-Pad", "p" * 40)])
        for i in range(0, len(raw), 10):
            s.sendall(raw[i:i + 10])
            time.sleep(0.02)
        self.assertEqual(ResponseReader(s).read_response().body, HELLO)

    # --- --idle-timeout -------------------------------------------------------

    def test_an_idle_keep_alive_connection_is_closed_silently(self):
        self.start("hello", "--idle-timeout", str(T))
        s = self.connect()
        self.assertEqual(exchange(s, request()).body, HELLO)
        start = time.monotonic()
        self.assertEqual(recv_until_closed(s), b"", "an idle close sends nothing")
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, EARLY)
        self.assertLess(elapsed, T + LATE)

    def test_a_connection_that_never_sends_is_closed_after_the_idle_timeout(self):
        self.assertClosedSilentlyWithNoRequest("--idle-timeout", str(T))

    def test_requests_spaced_below_the_idle_timeout_keep_the_connection(self):
        self.start("hello", "--idle-timeout", str(T))
        s = self.connect()
        for _ in range(5):
            self.assertEqual(exchange(s, request()).body, HELLO)
            time.sleep(T * 0.3)  # 0.35 s to spare for a slow turn (ASan, a busy core)
        ResponseReader(s).assert_nothing_more(0.05)

    def test_empty_lines_do_not_keep_an_idle_connection_open(self):
        # They are ignored (RFC 9112 §2.2), so they are not activity either:
        # a CRLF every 0.15 s once restarted the idle timeout each time, and
        # held the connection for as long as the client liked.
        self.start("hello", "--idle-timeout", str(T), "--header-timeout", str(T))
        s = self.connect()
        start = time.monotonic()
        while time.monotonic() - start < T + LATE:
            try:
                s.sendall(b"\r\n")
            except OSError:
                break  # closed, and the peer reset
            if wait_readable(s, 0.15) is not None:
                break
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, T + LATE, "empty lines held the connection open")
        self.assertGreaterEqual(elapsed, EARLY)
        try:
            self.assertEqual(recv_until_closed(s), b"", "an idle close sends nothing")
        except ConnectionResetError:
            pass

    def test_more_empty_lines_than_a_head_may_hold_get_431(self):
        # They count towards the head's limit (64 KiB): 200 KB of them before
        # a request line were once skipped, read after read, without bound.
        self.start("inspect")
        s = self.connect()
        BackgroundSender(s, b"\r\n" * 100_000 + request())
        reader = ResponseReader(s)
        r = reader.read_response()
        self.assertEqual(r.status, 431, r)
        self.assertTrue(r.closes(), r.head)

    def test_empty_lines_count_towards_the_head_limit_however_they_arrive(self):
        # 998 bytes of empty lines and a 28-byte head pass a 1000-byte limit.
        # Sent in one piece they got 431; in several reads each read's empty
        # lines were dropped and the count began again, so the same bytes
        # got 200 (or 400 where the lines alone were too many). Found by review.
        self.start("inspect", "--max-header-bytes", "1000")
        raw = b"\r\n" * 499 + request()
        for name, pieces in (("whole", [raw]), ("in five reads", [raw[i:i + 200] for i in range(0, len(raw), 200)])):
            with self.subTest(name):
                s = self.connect()
                for piece in pieces:
                    s.sendall(piece)
                    time.sleep(0.05)
                r = ResponseReader(s).read_response()
                self.assertEqual(r.status, 431, r)
                self.assertTrue(r.closes(), r.head)

    # --- --body-timeout ---------------------------------------------------------

    def test_a_body_that_stops_halfway_gets_408(self):
        self.start("inspect", "--body-timeout", str(T))
        for name, raw in (("Content-Length", request("POST", "/", [("Content-Length", "100")]) + b"x" * 10),
                          ("chunked", request("POST", "/", [("Transfer-Encoding", "chunked")]) + b"64\r\n" + b"x" * 10),
                          ("chunked, in the trailer", request("POST", "/", [("Transfer-Encoding", "chunked")]) +
                           b"1\r\nx\r\n0\r\nX-Trailer: unfinished"),
                          ("no body byte at all", request("POST", "/", [("Content-Length", "5")]))):
            with self.subTest(name):
                s = self.connect()
                s.sendall(raw)
                start = time.monotonic()
                self.assertIsNotNone(wait_readable(s, T + LATE), "a stalled body was not cut")
                self.assertCutWith408(s, time.monotonic() - start)

    def test_a_body_trickling_in_is_cut_when_the_whole_body_is_late(self):
        self.start("inspect", "--body-timeout", str(T))
        s = self.connect()
        s.sendall(request("POST", "/", [("Content-Length", "100")]))
        start = time.monotonic()
        for _ in range(100):
            s.sendall(b"y")
            if wait_readable(s, 0.1) is not None:
                break
        else:
            self.fail("a body trickling in for 10 s was never cut")
        self.assertCutWith408(s, time.monotonic() - start)

    # --- --write-timeout ----------------------------------------------------------

    def test_a_client_that_never_reads_is_disconnected(self):
        # 20 pipelined POSTs of 1 MiB, each echoed back as ~1 MiB of JSON:
        # far more than the socket buffers hold, and the client reads nothing.
        server = self.start("inspect", "--write-timeout", str(T), "--threads", "1")
        baseline = server.open_fd_count()
        stalled = self.connect(timeout=15.0)
        body = b"w" * (1 << 20)
        sender = BackgroundSender(stalled, request("POST", "/", body=body) * 20)
        # Meanwhile the same loop keeps serving others.
        with server.connect() as other:
            for _ in range(3):
                self.assertEqual(exchange(other, request()).status, 200)
        sender.join(timeout=15.0)
        self.assertIsInstance(sender.error, (BrokenPipeError, ConnectionResetError),
                              "the sender was not cut off; it sent all 20 MiB to a client that reads nothing?")
        assert_alive(server)  # cut, not crashed
        deadline = time.monotonic() + 3.0
        while server.open_fd_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertLessEqual(server.open_fd_count(), baseline, "the cut connection's descriptor is still open")
        with server.connect() as after:
            self.assertEqual(exchange(after, request()).status, 200)

    def test_clients_that_never_read_small_responses_are_disconnected(self):
        # Responses under 64 KiB collect in the output buffer, and the
        # write that flushes it must be bounded too. Whether a connection
        # stalls in that write or in the (bounded) flush before a read
        # depends on timing, so several clients try. --max-requests is
        # raised so that a cut cannot come from the request limit.
        server = self.start("inspect", "--write-timeout", str(T), "--threads", "1", "--max-requests", "10000000")
        flood = request() * 500000  # 13.5 MB of requests, ~100 MB of replies
        stalled = [self.connect(timeout=10.0) for _ in range(4)]
        senders = [BackgroundSender(s, flood) for s in stalled]
        # The cut comes once every socket buffer is full (the kernel takes
        # megabytes first: tcp_wmem) and the write timeout has run: 0.6 s
        # in the release build, 2.5-3 s in the ASan one (it failed 3 of 3
        # runs with 3 s there, one core busy). What this guards against is
        # a write never cut, so the bound is generous.
        deadline = time.monotonic() + 20.0
        uncut = 0
        for s, sender in zip(stalled, senders):
            try:
                sender.join(timeout=max(0.1, deadline - time.monotonic()))
            except AssertionError:
                uncut += 1
                # Wake the blocked sender, then close with replies unread (a
                # reset), so that the server is not left blocked at its stop.
                s.shutdown(socket.SHUT_RDWR)
                sender.join()
                s.close()
                continue
            self.assertIsInstance(sender.error, (BrokenPipeError, ConnectionResetError))
        assert_alive(server)  # cut, not crashed
        self.assertEqual(uncut, 0, f"{uncut} of 4 clients that read nothing were not cut within 20 s, "
                                   f"however short --write-timeout is")

    def assertAnswersUnreadAreNotLeftToTheKernel(self, s, within):
        """The server's side of `s`, whose client has read nothing of what
        the kernel took for it, ends in a reset within `within` seconds: a
        FIN left the kernel sending the answers on its own (FIN_WAIT1, 04)
        for minutes, to a client that takes none of them."""
        port = s.getsockname()[1]
        deadline = time.monotonic() + within
        # FIN_WAIT1 comes at once with a shutdown, while a lingering close
        # waits for the client's EOF.
        while server_side_states(self.server.port, port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(server_side_states(self.server.port, port), [],
                         "closed with a FIN and its answers still unread (04: FIN_WAIT1), or never closed (01)")

    def unread_answers(self, count):
        """A client that pipelines `count` requests and reads none of the
        answers, which the kernel takes whole (the server never waits to
        write them, so the write timeout never runs)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(5.0)
        s.connect(("127.0.0.1", self.server.port))
        s.sendall(request() * count)
        return s

    def test_answers_left_unread_at_the_idle_timeout_are_reset_not_held(self):
        # 5,000 answers, ~540 KB, sat in FIN_WAIT1 for 100-120 s after an
        # idle close (found by review). Reset at the second timeout: the
        # first finds answers not taken, the second none taken since.
        self.start("hello", "--idle-timeout", str(T), "--threads", "1")
        s = self.unread_answers(5000)
        self.assertAnswersUnreadAreNotLeftToTheKernel(s, 2 * T + LATE)

    def test_a_client_still_taking_its_answers_at_the_idle_timeout_gets_them_all(self):
        # ... but one that takes them slowly is not cut: the kernel's queue
        # shrinks from one timeout to the next.
        self.start("hello", "--idle-timeout", str(T), "--threads", "1")
        s = self.unread_answers(5000)
        reader = ResponseReader(s)
        for i in range(5000):
            if i % 1000 == 999:
                # A cut takes a whole timeout with nothing taken: 0.25 s to
                # spare (with T * 0.8 it was 0.1, thin on a busy core).
                time.sleep(T * 0.5)
            self.assertEqual(reader.read_response().body, HELLO, f"answer {i}")
        self.assertEqual(recv_until_closed(s), b"", "the idle close after it")

    def test_answers_left_unread_at_a_lingering_close_are_reset_not_held(self):
        # Past --max-requests the server closes, lingering for the rest of
        # the pipeline; 1.1 MB of answers then sat in FIN_WAIT1 (found by
        # review).
        self.start("hello", "--max-requests", "5000", "--threads", "1")
        s = self.unread_answers(6000)
        # The discard's 1 s, then 1 s more to see that none were taken.
        self.assertAnswersUnreadAreNotLeftToTheKernel(s, 2 * 1.0 + LATE)

    def test_a_reader_that_pauses_less_than_the_timeout_is_not_cut(self):
        # 6 MiB of replies, more than the socket buffers hold: the server
        # waits on this client again and again, each time for less than
        # the timeout, and must not take that for a client that stopped.
        # A longer timeout than the other tests: with 0.5 s, a loaded ASan
        # run stalled this Python reader past the 0.3 s of slack.
        t = 4 * T
        self.start("inspect", "--write-timeout", str(t))
        s = self.server.connect(timeout=5.0)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        body = b"r" * (1 << 20)
        sender = BackgroundSender(s, request("POST", "/", body=body) * 6)
        reader = ResponseReader(s)
        for i in range(6):
            time.sleep(t * 0.4)
            r = reader.read_response()
            self.assertEqual(r.status, 200, f"response {i}")
            self.assertEqual(len(r.json()["body"]), len(body))
        sender.join()
        reader.assert_nothing_more(0.05)


class TimeoutFlags(unittest.TestCase):
    """A timeout flag given a value that cannot work (zero, negative, NaN)
    or one too large for the clock (inf, 1e30) must be refused at start,
    or else not cut a prompt client. A request sent in pieces 0.1 s apart
    meets the idle, head and body timeouts in turn."""

    def serves_a_prompt_client_or_refuses_to_start(self, flag, value):
        try:
            server = WeftProcess("inspect", flag, value, ready_timeout=3.0)
        except WeftStartError as refused:
            self.assertIn("exited with", str(refused))
            return
        try:
            with server.connect(timeout=3.0) as s:
                raw = request("POST", "/", body=b"0123456789")
                try:
                    for piece in (raw[:10], raw[10:-5], raw[-5:]):
                        time.sleep(0.1)
                        s.sendall(piece)
                    r = ResponseReader(s).try_read_response()
                except (BrokenPipeError, ConnectionResetError) as e:
                    r = None
                    self.fail(f"{flag} {value}: the connection was closed before the request was sent ({e!r})")
                self.assertIsNotNone(r, f"{flag} {value}: the connection was closed without a response")
                self.assertEqual(r.status, 200, f"{flag} {value}: {r}")
        finally:
            self.assertEqual(server.stop(), 0, server.describe())

    def test_zero_negative_or_nan_timeouts_are_refused_or_harmless(self):
        for flag in ("--idle-timeout", "--header-timeout", "--body-timeout"):
            for value in ("0", "-1", "nan"):
                with self.subTest(flag=flag, value=value):
                    self.serves_a_prompt_client_or_refuses_to_start(flag, value)

    def test_huge_timeouts_are_refused_or_mean_no_cut(self):
        for flag in ("--idle-timeout", "--header-timeout", "--body-timeout"):
            for value in ("inf", "1e30"):
                with self.subTest(flag=flag, value=value):
                    self.serves_a_prompt_client_or_refuses_to_start(flag, value)

    def test_a_large_but_representable_timeout_works(self):
        for flag in ("--idle-timeout", "--header-timeout", "--body-timeout", "--write-timeout"):
            with self.subTest(flag=flag):
                self.serves_a_prompt_client_or_refuses_to_start(flag, "100000000")


class Garbage(unittest.TestCase):
    SEED = 20240917
    CLIENTS = 30

    def garbage(self, rng, i):
        kind = i % 5
        if kind == 0:  # random bytes
            return rng.randbytes(rng.randrange(1, 8192))
        if kind == 1:  # a plausible request line, then random bytes
            return b"GET /" + rng.randbytes(rng.randrange(1, 200)) + b" HTTP/1.1\r\n" + rng.randbytes(4000)
        if kind == 2:  # printable lines, mostly CRLF-terminated
            lines = [bytes(rng.choice(b"abcXYZ:; -\t/") for _ in range(rng.randrange(60)))
                     for _ in range(rng.randrange(1, 80))]
            return b"\r\n".join(lines) + rng.choice([b"\r\n\r\n", b"\n", b"\r\n"])
        if kind == 3:  # a good chunked head, then a random body
            return (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                    rng.randbytes(rng.randrange(1, 4000)))
        # a good head, then random bytes as a pipelined next request
        return b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + rng.randbytes(rng.randrange(1, 4000))

    def test_garbage_connections_do_not_disturb_a_well_formed_client(self):
        server = start_http(self, "hello", "--header-timeout", "1", "--body-timeout", "1")
        baseline = server.open_fd_count()
        rng = random.Random(self.SEED)
        payloads = [self.garbage(rng, i) for i in range(self.CLIENTS)]
        problems = []

        def garbage_client(i):
            try:
                with server.connect(timeout=5.0) as s:
                    try:
                        s.sendall(payloads[i])
                        s.shutdown(socket.SHUT_WR)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the server refused it before the end: fine
                    got = recv_until_closed_or_reset(s)
                    # Whatever came back is whole responses: at most a 200
                    # for a good request in front, then an error status.
                    reader = ResponseReader(s)
                    reader.buf = got
                    statuses = []
                    while reader.buf:
                        statuses.append(reader.read_response().status)
                    if statuses[:-1] not in ([], [200]) or (statuses and statuses[-1] not in ERROR_OR_OK):
                        problems.append(f"client {i}: statuses {statuses}")
            except Exception as e:  # noqa: BLE001 - reported with the seed below
                problems.append(f"client {i}: {e!r}")

        threads = [threading.Thread(target=garbage_client, args=(i,), daemon=True) for i in range(self.CLIENTS)]
        with server.connect() as good:
            for t in threads:
                t.start()
            served = 0
            while any(t.is_alive() for t in threads) or served < 20:
                r = exchange(good, request("GET", f"/{served}"))
                self.assertEqual((r.status, r.body), (200, HELLO))
                served += 1
                self.assertLess(served, 100000)
            for t in threads:
                t.join(10.0)
        self.assertFalse(any(t.is_alive() for t in threads), "a garbage client hung")
        self.assertEqual(problems, [], f"seed {self.SEED}")
        self.assertTrue(server.running(), server.describe())
        deadline = time.monotonic() + 3.0
        while server.open_fd_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertLessEqual(server.open_fd_count(), baseline)


    def test_a_tls_client_hello_on_the_plain_port_gets_400_at_once(self):
        # Someone tries https:// against the plain port. The record's first
        # byte (0x16) cannot start a method, so the answer comes now, not a
        # 408 after the 10 s head timeout while the client waits for a
        # ServerHello.
        server = start_http(self, "inspect")
        with server.connect(timeout=5.0) as s:
            s.sendall(bytes.fromhex("160301020001000001fc0303") + bytes(range(0x80, 0xa0)))  # no CR or LF
            waited = wait_readable(s, 3.0)
            self.assertIsNotNone(waited, "no answer within 3 s")
            reader = ResponseReader(s)
            r = reader.read_response()
            self.assertEqual(r.status, 400, r)
            self.assertTrue(r.closes(), r.head)
            reader.assert_closed()


class LoadClient:
    """Keep-alive requests in a loop until the server goes away. Every
    response that starts must arrive whole; the connection may end only
    between responses."""

    def __init__(self, server, raw, check):
        self.sock = server.connect(timeout=5.0)
        self.raw, self.check = raw, check
        self.responses = 0
        self.failure = None
        self.saw_close = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        reader = ResponseReader(self.sock)
        try:
            while True:
                try:
                    self.sock.sendall(self.raw)
                except (BrokenPipeError, ConnectionResetError):
                    return
                r = reader.try_read_response()
                if r is None:
                    return
                self.check(r)
                self.responses += 1
                if r.closes():
                    self.saw_close = True
                    reader.assert_closed()
                    return
        except Exception as e:  # noqa: BLE001 - re-raised by the test
            self.failure = e

    def finish(self):
        self.thread.join(5.0)
        self.sock.close()
        if self.thread.is_alive():
            raise AssertionError("a load client was still running after the server stopped")
        if self.failure:
            raise AssertionError(f"after {self.responses} responses: {self.failure!r}") from self.failure


class GracefulStop(unittest.TestCase):

    def stop_under_load(self, subcommand, raw, check, clients=4):
        server = start_weft(self, subcommand)
        load = [LoadClient(server, raw, check) for _ in range(clients)]
        try:
            deadline = time.monotonic() + 10.0
            while sum(c.responses for c in load) < 400:
                self.assertLess(time.monotonic(), deadline, "the load never got going")
                self.assertFalse([c.failure for c in load if c.failure])
                time.sleep(0.01)
            start = time.monotonic()
            server.send_signal(signal.SIGTERM)
            status = server.wait(timeout=5.0)
            elapsed = time.monotonic() - start
        finally:
            for c in load:
                c.thread.join(5.0)
        for c in load:
            c.finish()
        self.assertEqual(status, 0, f"exit status (None: still running after 5 s); {server.describe()}")
        self.assertLess(elapsed, 3.0)
        with socket.socket(server.family) as s:
            s.settimeout(2.0)
            with self.assertRaises(ConnectionRefusedError):
                s.connect((server.host, server.port))

    def test_sigterm_during_keep_alive_gets_requests_exits_zero_quickly(self):
        def check(r):
            if (r.status, r.body) != (200, HELLO):
                raise AssertionError(f"wrong response {r}")
        self.stop_under_load("hello", request("GET", "/load"), check)

    def test_sigterm_during_uploads_exits_zero_quickly(self):
        body = bytes(range(256)) * 128  # 32 KiB

        def check(r):
            if r.status != 200 or r.json()["body"] != body.decode("latin-1"):
                raise AssertionError(f"wrong response {r}")
        self.stop_under_load("inspect", request("POST", "/load", body=body), check)

    def start_request_in_flight(self, server, framing):
        """A POST whose head the server has certainly read (it answered the
        100-continue) and whose body has not all arrived."""
        busy = server.connect()
        self.addCleanup(busy.close)
        busy.sendall(request("POST", "/", [("Expect", "100-continue"), framing]))
        reader = ResponseReader(busy)
        self.assertEqual(reader.read_response(interim=True).status, 100)
        return busy, reader

    def finish_after_sigterm(self, server, busy, reader, rest):
        time.sleep(0.2)
        busy.sendall(rest)
        r = reader.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["body"], "first-last")
        self.assertTrue(r.closes(), "the last response before the stop should say Connection: close")
        reader.assert_closed()
        self.assertEqual(server.wait(timeout=3.0), 0, server.describe())

    def test_a_request_in_flight_at_sigterm_is_finished_and_idle_ones_closed(self):
        server = start_weft(self, "inspect")
        with server.connect(timeout=2.0) as idle:
            self.assertEqual(exchange(idle, request()).status, 200)
            busy, reader = self.start_request_in_flight(server, ("Content-Length", "10"))
            busy.sendall(b"first")
            server.send_signal(signal.SIGTERM)
            # The idle keep-alive connection is closed silently after its
            # 0.5 s last call.
            start = time.monotonic()
            self.assertEqual(recv_until_closed(idle), b"")
            self.assertLess(time.monotonic() - start, 2.0)
            self.finish_after_sigterm(server, busy, reader, b"-last")

    def test_a_request_that_never_finishes_holds_the_stop_for_the_grace_only(self):
        # Its body never comes. After the 5 s grace the loops stop and are
        # destroyed with the connection's green thread still suspended: its
        # frame is destroyed too (the socket closes), after the service that
        # tracked it. Under ASan that teardown was a use after free, exit 1.
        server = start_weft(self, "inspect")
        busy, _ = self.start_request_in_flight(server, ("Content-Length", "10"))
        busy.sendall(b"first")
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        self.assertEqual(server.wait(timeout=15.0), 0, server.describe())
        self.assertGreater(time.monotonic() - started, 4.0, "the grace is 5 s")
        self.assertEqual(recv_until_closed(busy), b"")

    def test_an_idle_connection_asking_within_the_last_call_gets_its_answer_with_connection_close(self):
        # Regression: at SIGTERM idle keep-alive connections were closed at
        # once, failing the next request a client (wrk) had already sent.
        server = start_weft(self, "hello")
        with server.connect(timeout=2.0) as idle:
            reader = ResponseReader(idle)
            idle.sendall(request("GET", "/"))
            self.assertFalse(reader.read_response().closes())
            server.send_signal(signal.SIGTERM)
            time.sleep(0.1)
            idle.sendall(request("GET", "/"))
            r = reader.read_response()
            self.assertEqual((r.status, r.body), (200, HELLO))
            self.assertTrue(r.closes(), "the answer during the drain should say Connection: close")
            reader.assert_closed()
        self.assertEqual(server.wait(timeout=3.0), 0, server.describe())

    def test_a_chunked_upload_in_flight_at_sigterm_is_finished(self):
        server = start_weft(self, "inspect")
        busy, reader = self.start_request_in_flight(server, ("Transfer-Encoding", "chunked"))
        busy.sendall(b"5\r\nfirst\r\n")
        server.send_signal(signal.SIGTERM)
        self.finish_after_sigterm(server, busy, reader, chunked(b"-last"))


if __name__ == "__main__":
    unittest.main()
