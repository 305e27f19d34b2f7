"""The Eventlet echo peer (bench/peers/eventlet_echo.py) answers every line.

Regression test for the Python 3 porting trap: the write-ups' Eventlet echo
wraps the socket with makefile('rw'). In Python 3 that is a text file, and
TextIOWrapper.write() discards what readline() decoded ahead, so lines that
arrive in one packet are lost after the first. The peer opens the file in
binary mode; its --text-mode flag keeps the broken variant for the last test
here, which shows the loss.

The peer runs under Debian's /usr/bin/python3 (python3-eventlet); the tests
skip when eventlet is not importable there.
"""

import os
import select
import signal
import socket
import subprocess
import time
import unittest
from pathlib import Path

PYTHON = "/usr/bin/python3"
PEER = Path(__file__).resolve().parents[2] / "bench" / "peers" / "eventlet_echo.py"


def eventlet_available():
    try:
        return subprocess.run([PYTHON, "-c", "import eventlet"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class eventlet_peer:
    """Runs the peer on a free port; stops it with SIGTERM."""

    def __init__(self, *extra):
        # A failure, not a skip: the test command installs python3-eventlet,
        # and a skip hid the check wherever it was missing (found by an audit).
        if not eventlet_available():
            raise AssertionError(f"eventlet is not importable by {PYTHON} (scripts/deps.sh test installs python3-eventlet)")
        self.proc = subprocess.Popen([PYTHON, str(PEER), "--port", "0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"eventlet peer did not start: {line!r} {self.proc.stderr.read()!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()


def lines(n, prefix=b"line"):
    return [b"%s %06d %s\n" % (prefix, i, b"x" * (i % 50)) for i in range(n)]


def read_exactly(sock, size):
    got = bytearray()
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def read_for(sock, seconds):
    """Everything that arrives within `seconds`."""
    got = bytearray()
    deadline = time.monotonic() + seconds
    sock.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
    return bytes(got)


class eventlet_peer_binary_mode(unittest.TestCase):
    def setUp(self):
        self.peer = eventlet_peer()

    def tearDown(self):
        self.assertEqual(self.peer.stop(), 0, "the peer exits with status 0 on SIGTERM")

    def test_echoes_every_line_of_one_packet(self):
        payload = b"".join(lines(20))
        with self.peer.connect() as s:
            s.sendall(payload)  # one small send: one packet on loopback
            self.assertEqual(read_exactly(s, len(payload)), payload)

    def test_echoes_a_large_burst_of_lines_in_order(self):
        payload = b"".join(lines(5000))  # about 250 KB: many packets, many lines each
        with self.peer.connect() as s:
            s.sendall(payload)
            self.assertEqual(read_exactly(s, len(payload)), payload)

    def test_joins_a_line_split_across_packets(self):
        with self.peer.connect() as s:
            s.sendall(b"first half")
            time.sleep(0.05)
            s.sendall(b", second half\nnext\n")
            expected = b"first half, second half\nnext\n"
            self.assertEqual(read_exactly(s, len(expected)), expected)

    def test_serves_connections_concurrently(self):
        socks = [self.peer.connect() for _ in range(20)]
        try:
            for i, s in enumerate(socks):
                s.sendall(b"".join(lines(50, b"conn%02d" % i)))
            for i, s in enumerate(socks):
                expected = b"".join(lines(50, b"conn%02d" % i))
                self.assertEqual(read_exactly(s, len(expected)), expected)
        finally:
            for s in socks:
                s.close()

    def test_bytes_that_are_not_utf8_come_back_unchanged(self):
        payload = bytes(range(256)).replace(b"\n", b"") + b"\n" + b"\xff\xfe\n"
        with self.peer.connect() as s:
            s.sendall(payload)
            self.assertEqual(read_exactly(s, len(payload)), payload)

    def test_closes_after_the_client_closes(self):
        with self.peer.connect() as s:
            s.sendall(b"bye\n")
            self.assertEqual(read_exactly(s, 4), b"bye\n")
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            self.assertEqual(s.recv(1), b"", "the peer closes its side after EOF")


class eventlet_peer_text_mode_trap(unittest.TestCase):
    """Documents why the peer must not use makefile('rw')."""

    def test_text_mode_loses_lines_that_arrive_together(self):
        peer = eventlet_peer("--text-mode")
        try:
            sent = lines(10)
            with peer.connect() as s:
                s.sendall(b"".join(sent))
                got = read_for(s, 1.0)
            self.assertEqual(got, sent[0],
                             "text mode echoes the first line; write() drops the decoded read-ahead")
        finally:
            self.assertEqual(peer.stop(), 0)


if __name__ == "__main__":
    unittest.main()
