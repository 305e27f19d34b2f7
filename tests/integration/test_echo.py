"""`weft echo`: each LF-terminated line goes back byte for byte, terminator
included. A partial line before EOF is echoed, then the connection closes.
A line longer than --max-line bytes (not counting its LF) gets
"error: line too long\\n" and the connection closes, lingering so the
client reads the error even if it sent more.

The line behaviour is checked under every --trigger mode and under one and
two loop threads; the process behaviour (readiness line, signals, flags)
once, in EchoProcess.
"""

import random
import signal
import socket
import time
import unittest

from server_contract import IdleTimeoutContract, ProcessContract
from weftproc import (BackgroundSender, nothing_more_arrives, recv_exactly, recv_until_closed, run_clients,
                      send_in_two, send_with_eof, split_points, start_weft, start_weft_for_class, wait_until_blocked,
                      weft_cli)

TOO_LONG = b"error: line too long\n"
DEFAULT_MAX_LINE = 65536
NOT_LF = bytes(b for b in range(256) if b != 0x0A)
EOF_TIMEOUT = 2.0  # a correct server closes in milliseconds


def line_of(n, fill=b"x"):
    """A line with exactly n bytes before its LF."""
    return (fill * n)[:n] + b"\n"


def random_line(rng, max_len):
    """Random bytes, any value but LF, then LF."""
    return rng.randbytes(rng.randrange(max_len)).replace(b"\n", b"\x0b") + b"\n"


class EchoLines:
    """The line behaviour, against one server per class started with server_args."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = start_weft_for_class(cls, "echo", *cls.server_args)

    def connect(self):
        s = self.server.connect()
        self.addCleanup(s.close)
        return s

    def assertEchoed(self, sent, sock=None):
        """Sends `sent` (from a thread) and expects exactly it back."""
        s = sock or self.connect()
        sender = BackgroundSender(s, sent)
        got = recv_exactly(s, len(sent))
        sender.join()
        self.assertEqual(got, sent)
        return s

    # --- lines -----------------------------------------------------------

    def test_a_line_comes_back_byte_for_byte_with_its_terminator(self):
        s = self.assertEchoed(b"hello, world\n")
        self.assertTrue(nothing_more_arrives(s), "nothing beyond the line itself")

    def test_a_crlf_line_comes_back_with_both_bytes(self):
        self.assertEchoed(b"windows line\r\n")

    def test_lines_pipelined_in_one_send_come_back_in_order(self):
        self.assertEchoed(b"one\ntwo\n\nthree has spaces\nfour\n")

    def test_one_connection_carries_many_exchanges(self):
        s = self.connect()
        for i in range(50):
            self.assertEchoed(b"exchange %d\n" % i, sock=s)

    def test_empty_lines_come_back_as_empty_lines(self):
        self.assertEchoed(b"\n")
        self.assertEchoed(b"\n\n\n\n")
        self.assertEchoed(b"a\n\nb\n\n")

    def test_every_byte_value_except_lf_survives_inside_a_line(self):
        self.assertEchoed(NOT_LF + b"\n")
        self.assertEchoed(bytes(reversed(NOT_LF)) * 3 + b"\n")
        self.assertEchoed(b"\x00\n\xff\n\r\n")

    def test_a_message_split_at_every_byte_position_comes_back_whole(self):
        message = b"hello\nworld\n\nline three\n"
        for k in split_points(message):
            with self.subTest(split=k):
                with self.server.connect() as s:
                    send_in_two(s, message, k)
                    self.assertEqual(recv_exactly(s, len(message)), message)

    def test_a_line_dribbled_one_byte_per_packet_comes_back_whole(self):
        s = self.connect()
        line = b"one byte at a time\n"
        for b in line[:-1]:
            s.sendall(bytes([b]))
        self.assertTrue(nothing_more_arrives(s, 0.05), "no echo before the LF")
        s.sendall(b"\n")
        self.assertEqual(recv_exactly(s, len(line)), line)

    def test_a_megabyte_of_lines_streams_through_while_the_client_reads(self):
        rng = random.Random(7)
        lines = []
        size = 0
        while size < 1 << 20:
            lines.append(random_line(rng, 3000))
            size += len(lines[-1])
        self.assertEchoed(b"".join(lines))

    def test_a_client_that_stops_reading_for_a_while_still_gets_every_byte(self):
        lines = b"".join(line_of(n % 500, b"slow reader ") for n in range(20_000))  # 5 MB
        s = self.connect()
        sender = BackgroundSender(s, lines)
        wait_until_blocked(s)  # the server has had to stop sending, and reading
        self.assertEqual(recv_exactly(s, len(lines)), lines)
        sender.join()

    # --- end of input ----------------------------------------------------
    # A correct server answers these in milliseconds; a short timeout keeps
    # a server that never notices the EOF from stalling the suite.

    def connect_for_eof(self):
        s = self.server.connect(timeout=EOF_TIMEOUT)
        self.addCleanup(s.close)
        time.sleep(0.01)  # the server has accepted and waits to read
        return s

    def test_a_partial_line_before_eof_is_echoed_then_the_connection_closes(self):
        s = self.connect_for_eof()
        s.sendall(b"no terminator")
        time.sleep(0.01)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_until_closed(s), b"no terminator")

    def test_a_partial_line_and_eof_in_the_same_packet_are_echoed_then_closed(self):
        s = self.connect_for_eof()
        send_with_eof(s, b"no terminator")
        self.assertEqual(recv_until_closed(s), b"no terminator")

    def test_complete_lines_and_eof_in_the_same_packet_are_echoed_then_closed(self):
        s = self.connect_for_eof()
        send_with_eof(s, b"first\nsecond\n")
        self.assertEqual(recv_until_closed(s), b"first\nsecond\n")

    def test_complete_lines_then_a_partial_line_before_eof_all_come_back(self):
        s = self.connect_for_eof()
        s.sendall(b"first\nsecond\nthird, unfinished")
        time.sleep(0.01)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_until_closed(s), b"first\nsecond\nthird, unfinished")

    def test_eof_without_any_data_just_closes(self):
        s = self.connect_for_eof()
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_until_closed(s), b"")

    # --- the default line limit ------------------------------------------

    def test_a_line_of_exactly_the_default_limit_is_echoed(self):
        self.assertEchoed(line_of(DEFAULT_MAX_LINE, b"0123456789"))

    def test_a_line_one_byte_over_the_default_limit_gets_the_error_then_close(self):
        s = self.connect()
        sender = BackgroundSender(s, line_of(DEFAULT_MAX_LINE + 1), shutdown=True)
        self.assertEqual(recv_until_closed(s), TOO_LONG)
        sender.join()

    def test_the_error_arrives_even_when_the_client_keeps_sending(self):
        s = self.connect()
        more = b"".join(line_of(1000) for _ in range(300))  # 300 kB after the bad line
        sender = BackgroundSender(s, line_of(DEFAULT_MAX_LINE + 1) + more, shutdown=True)
        self.assertEqual(recv_until_closed(s), TOO_LONG)
        sender.join()

    def test_lines_before_an_overlong_line_are_echoed_before_the_error(self):
        s = self.connect()
        sender = BackgroundSender(s, b"fine\n\nalso fine\n" + line_of(DEFAULT_MAX_LINE + 100) + b"never\n",
                                  shutdown=True)
        self.assertEqual(recv_until_closed(s), b"fine\n\nalso fine\n" + TOO_LONG)
        sender.join()

    # --- many clients ----------------------------------------------------

    def test_200_concurrent_clients_each_get_exactly_their_own_bytes(self):
        server = self.server

        def client(i, barrier):
            rng = random.Random(i)
            with server.connect() as s:
                barrier.wait()  # all 200 are connected before anyone talks
                for round_no in range(5):
                    batch = b"client %d round %d\n" % (i, round_no)
                    batch += b"".join(random_line(rng, 400) for _ in range(rng.randrange(1, 6)))
                    s.sendall(batch)
                    got = recv_exactly(s, len(batch))
                    if got != batch:
                        raise AssertionError(f"client {i} round {round_no}: sent {batch[:60]!r}, got {got[:60]!r}")
                # And one line split across two packets.
                s.sendall(b"client %d splits " % i)
                s.sendall(b"this line\n")
                expected = b"client %d splits this line\n" % i
                if recv_exactly(s, len(expected)) != expected:
                    raise AssertionError(f"client {i}: split line came back wrong")

        run_clients(200, client)


class EchoEdgeTriggeredOneThread(EchoLines, unittest.TestCase):
    server_args = ("--trigger", "edge", "--threads", "1")


class EchoEdgeTriggeredTwoThreads(EchoLines, unittest.TestCase):
    server_args = ("--trigger", "edge", "--threads", "2")


class EchoLevelTriggeredOneThread(EchoLines, unittest.TestCase):
    server_args = ("--trigger", "level", "--threads", "1")


class EchoLevelTriggeredTwoThreads(EchoLines, unittest.TestCase):
    server_args = ("--trigger", "level", "--threads", "2")


class EchoWithSmallMaxLine(unittest.TestCase):
    """--max-line 8: the limit counts the bytes before the LF."""

    @classmethod
    def setUpClass(cls):
        cls.server = start_weft_for_class(cls, "echo", "--max-line", "8")

    def connect(self):
        s = self.server.connect()
        self.addCleanup(s.close)
        return s

    def test_a_line_of_exactly_max_line_bytes_is_echoed(self):
        s = self.connect()
        s.sendall(b"12345678\n")
        self.assertEqual(recv_exactly(s, 9), b"12345678\n")

    def test_a_line_one_byte_over_max_line_gets_the_error_then_close(self):
        s = self.connect()
        s.sendall(b"123456789\n")
        self.assertEqual(recv_until_closed(s), TOO_LONG)

    def test_a_carriage_return_counts_toward_the_limit(self):
        s = self.connect()
        s.sendall(b"1234567\r\n")
        self.assertEqual(recv_exactly(s, 9), b"1234567\r\n")
        s.sendall(b"12345678\r\n")
        self.assertEqual(recv_until_closed(s), TOO_LONG)

    def test_short_lines_still_work_and_an_overlong_one_ends_the_connection(self):
        s = self.connect()
        s.sendall(b"a\n\n12345678\n")
        self.assertEqual(recv_exactly(s, 12), b"a\n\n12345678\n")
        s.sendall(b"far too long for eight\nand this is never echoed\n")
        self.assertEqual(recv_until_closed(s), TOO_LONG)

    def test_an_overlong_line_is_refused_before_its_lf_arrives(self):
        s = self.connect()
        s.sendall(b"123456789")
        self.assertEqual(recv_until_closed(s), TOO_LONG)

    def test_an_overlong_line_split_at_every_byte_position_gets_the_error(self):
        message = b"ok\n123456789\n"
        for k in split_points(message):
            with self.subTest(split=k):
                with self.server.connect() as s:
                    send_in_two(s, message, k)
                    self.assertEqual(recv_until_closed(s), b"ok\n" + TOO_LONG)

    def test_the_error_arrives_even_when_the_client_keeps_sending(self):
        s = self.connect()
        sender = BackgroundSender(s, b"123456789\n" + b"more input\n" * 50000, shutdown=True)
        self.assertEqual(recv_until_closed(s), TOO_LONG)
        sender.join()

    def test_a_max_line_of_zero_is_refused(self):
        result = weft_cli("echo", "--port", "0", "--max-line", "0")
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn(b"listening", result.stdout)


class EchoShutdown(unittest.TestCase):
    """A graceful stop (SIGTERM) ends each connection as its input ending
    would: what the server has read is echoed, a partial line too, and the
    connection closes with a FIN, lingering so that input the client sent
    meanwhile cannot turn the close into a reset. The stop cancelled every
    connection at once, and the close over unread input reset the client,
    destroying echoes already on their way (found by an audit)."""

    def read_all(self, sock):
        """Everything until the server's EOF; fails on a reset."""
        chunks = []
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                self.fail(f"reset after {sum(map(len, chunks))} bytes")
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def test_a_client_that_had_stopped_reading_gets_its_echoes_then_a_clean_close(self):
        server = start_weft(self, "echo")
        sent = b"".join(line_of(99, str(i % 10).encode()) for i in range(80_000))  # 8 MB
        with server.connect(timeout=10.0) as sock:
            sender = BackgroundSender(sock, sent)
            wait_until_blocked(sock)
            server.send_signal(signal.SIGTERM)
            got = self.read_all(sock)
            sender.join()
        self.assertGreater(len(got), 0)
        self.assertEqual(got, sent[:len(got)], "the echoes are the lines sent, in order")
        self.assertEqual(server.wait(), 0, server.describe())

    def test_a_partial_line_read_before_the_stop_is_echoed_then_closed(self):
        server = start_weft(self, "echo")
        with server.connect(timeout=EOF_TIMEOUT) as sock:
            sock.sendall(b"one\nhalf a li")
            self.assertEqual(recv_exactly(sock, 4), b"one\n")  # the server has read it all
            server.send_signal(signal.SIGTERM)
            self.assertEqual(self.read_all(sock), b"half a li")
        self.assertEqual(server.wait(), 0, server.describe())


class EchoShutdownEdges(unittest.TestCase):
    """What a graceful stop does to those it cannot serve: a client that
    comes after it began, and one still owed echoes at its deadline."""

    def stall_in_shutdown(self, server, sock):
        """Fills `sock`'s path with echoes it does not read, then stops the
        server: its shutdown waits on this client. Returns the sender."""
        sent = b"".join(line_of(99, str(i % 10).encode()) for i in range(30_000))  # 3 MB
        sender = BackgroundSender(sock, sent)
        wait_until_blocked(sock)
        server.send_signal(signal.SIGTERM)
        return sender

    def test_a_client_that_comes_once_the_stop_has_begun_is_refused(self):
        # The listener stayed open until the last connection had gone: the
        # kernel took new clients into its queue for the exit to reset them
        # (a restart over --reuse-port reset 8 of 20, found by review).
        server = start_weft(self, "echo", "--shutdown-timeout", "5")
        with server.connect(timeout=10.0) as sock:
            sender = self.stall_in_shutdown(server, sock)
            # A loop turn after the signal closes the listener; the stalled
            # client holds the stop open for 5 s, so the refusal is looked
            # for within 4 (a single look at 0.3 s was a race on a busy core).
            deadline = time.monotonic() + 4.0
            while True:
                try:
                    socket.create_connection(("127.0.0.1", server.port), timeout=1.0).close()
                except ConnectionRefusedError:
                    break
                except ConnectionResetError:
                    # The handshake met the listener's close (1 run in ~20
                    # with the unit tests on the other core): look again.
                    pass
                self.assertLess(time.monotonic(), deadline, "still accepting 4 s into the stop")
                time.sleep(0.05)
            while sock.recv(1 << 16):
                pass
            sender.join()
        self.assertEqual(server.wait(), 0, server.describe())

    def test_a_client_still_owed_echoes_at_the_deadline_is_reset(self):
        # At the deadline the connection was closed with a FIN: the kernel
        # went on sending what it held, and the client read its echoes short
        # of what it sent, then a clean end, as if that was all (found by
        # review; the server must have read all of it, so that its close is
        # not a reset anyway: one run in three here). qa resets such a
        # client; so does echo now.
        server = start_weft(self, "echo", "--shutdown-timeout", "1")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10.0)
        sock.connect(("127.0.0.1", server.port))
        with sock:
            # All of it read, the echoes held up: the server's input is
            # empty, so its close is a FIN unless it chooses a reset.
            sent = b"".join(line_of(99, str(i % 10).encode()) for i in range(30_000))  # 3 MB
            sender = BackgroundSender(sock, sent)
            sender.join(timeout=10.0)
            time.sleep(0.2)
            server.send_signal(signal.SIGTERM)
            self.assertEqual(server.wait(), 0, server.describe())
            got = 0
            try:
                while chunk := sock.recv(1 << 16):
                    got += len(chunk)
            except ConnectionResetError:
                return  # cut, and told so
            self.assertEqual(got, len(sent), "a clean end short of the echoes owed")


class EchoProcess(ProcessContract, unittest.TestCase):
    subcommand = "echo"
    request = b"ping " * 200 + b"\n"
    reply = request
    partial_request = b"half a li"


class EchoIdleTimeout(IdleTimeoutContract, unittest.TestCase):
    subcommand = "echo"
    request = b"ping " * 200 + b"\n"
    reply = request

    def round_trip(self, sock):
        EchoProcess.round_trip(self, sock)


if __name__ == "__main__":
    unittest.main()
