"""examples/chat.cpp, Eventlet's chat server: each client's green thread
reads its lines while the others' write to its stream (a reader task and a
writer task on one tcp_stream). A client that stops reading is dropped when
its outbox fills, and the others go on."""

import os
import signal
import socket
import subprocess
import time
import unittest

from weftproc import READY_TIMEOUT, SANITIZED, WEFT_BIN, memory_kib, read_line_within

BUILD_DIR = os.environ.get("WEFT_BUILD_DIR") or os.path.dirname(os.path.dirname(WEFT_BIN))
CHAT_BIN = os.path.join(BUILD_DIR, "bin", "example_chat")
TIMEOUT = 10.0


class Client:
    """One chat client: a socket and a buffered reader on it."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.lines = self.sock.makefile("rb")

    def say(self, line):
        self.sock.sendall(line)

    def hear(self):
        return self.lines.readline()

    def close(self):
        self.lines.close()
        self.sock.close()


class ChatExample(unittest.TestCase):
    def setUp(self):
        if not os.access(CHAT_BIN, os.X_OK):
            self.fail(f"{CHAT_BIN} not built")
        self.proc = subprocess.Popen([CHAT_BIN, "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        line = read_line_within(self.proc.stdout, READY_TIMEOUT)[0].decode()
        self.assertTrue(line.startswith("listening on 127.0.0.1:"), line)
        self.port = int(line.rsplit(":", 1)[1])
        self.clients = []

    def stop(self):
        # Stopped with its clients still in the room: the loop destroys their
        # green threads, reader and writer, frames and all (ASan builds).
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=TIMEOUT)
                self.fail("the chat server ignored SIGTERM")
        self.proc.stdout.close()
        for c in self.clients:
            c.close()
        self.assertEqual(self.proc.returncode, 0)

    def join(self):
        """A client in the room: the server's welcome says it has joined."""
        c = Client(self.port)
        self.clients.append(c)
        self.assertEqual(c.hear(), b"welcome\n")
        return c

    def test_a_line_reaches_every_other_client_and_not_its_sender(self):
        a, b, c = self.join(), self.join(), self.join()
        a.say(b"hello\n")
        self.assertEqual(b.hear(), b"hello\n")
        self.assertEqual(c.hear(), b"hello\n")
        b.say(b"hi a\n")
        self.assertEqual(a.hear(), b"hi a\n")
        self.assertEqual(c.hear(), b"hi a\n")

    def test_a_client_that_stops_reading_is_dropped_and_the_rest_go_on(self):
        a, b, slow = self.join(), self.join(), self.join()
        line = b"x" * 1000 + b"\n"
        # Far more than the slow client's socket buffers and outbox hold.
        for _ in range(20000):
            a.say(line)
            self.assertEqual(b.hear(), line)
        # The slow client was cut off, with a reset: a FIN after a line cut
        # short by the close made what it had heard look whole (found by
        # review: 1,047 lines and 665 bytes, then EOF).
        received = 0
        reset = False
        try:
            while chunk := slow.sock.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            reset = True
        self.assertTrue(reset, f"EOF after {received} bytes, not a reset")
        self.assertLess(received, 20000 * len(line))
        a.say(b"still here\n")
        self.assertEqual(b.hear(), b"still here\n")

    @unittest.skipIf(SANITIZED, "ASan's shadow memory and quarantine make RSS meaningless")
    def test_short_lines_fill_an_outbox_by_what_they_cost_not_their_bytes(self):
        # An empty line is one byte, and costs its shared string and a slot
        # in every outbox: counted by its bytes, 1 MiB of outbox held 8 MiB
        # of "\n" lines, and one client that stopped reading cost the server
        # 80 MiB (found by review).
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", self.port))
        self.addCleanup(slow.close)
        a = self.join()
        before = memory_kib(self.proc.pid, "VmHWM")
        for _ in range(64):
            a.say(b"\n" * 65536)
        a.say(b"done\n")
        b = self.join()  # hears what of the flood the server had still to read
        a.say(b"after\n")
        while (line := b.hear()) != b"after\n":
            self.assertIn(line, (b"\n", b"done\n"))
        grown = memory_kib(self.proc.pid, "VmHWM") - before
        self.assertLess(grown, 16 * 1024, f"{grown} KiB of peak RSS for one client that stopped reading")

    def test_clients_that_all_speak_at_once_are_all_heard_and_none_dropped(self):
        # Each reader passes on the lines it has in one loop turn, before
        # any writer runs: an outbox bounded at 256 lines dropped clients
        # that were keeping up, 6 of 10 here (found by review).
        clients = [self.join() for _ in range(10)]
        bursts = [b"".join(b"%d-%03d\n" % (i, n) for n in range(100)) for i in range(len(clients))]
        for c, burst in zip(clients, bursts):
            c.say(burst)
        for i, c in enumerate(clients):
            heard = [c.hear() for _ in range(100 * (len(clients) - 1))]
            for j, burst in enumerate(bursts):
                if j != i:  # each sender's lines whole and in order
                    self.assertEqual(b"".join(l for l in heard if l.startswith(b"%d-" % j)), burst)

    def test_a_client_leaving_does_not_disturb_the_others(self):
        a, b, c = self.join(), self.join(), self.join()
        a.close()
        self.clients.remove(a)
        b.say(b"anyone?\n")
        self.assertEqual(c.hear(), b"anyone?\n")

    def test_a_line_cut_short_by_a_hang_up_is_dropped(self):
        # It was sent on without its newline, and ran into the next line
        # everybody heard: "partialnext message" (found by review).
        # Three lines after the hang-up, the last well after it: the cut
        # line, if sent on, runs into one of them, whatever order the
        # server took the hang-up and the first lines in.
        a, b, c = self.join(), self.join(), self.join()
        a.say(b"partial, no newline")
        a.close()
        self.clients.remove(a)
        for line in (b"one\n", b"two\n"):
            c.say(line)
            self.assertEqual(b.hear(), line)
        time.sleep(0.2)
        c.say(b"three\n")
        self.assertEqual(b.hear(), b"three\n")


if __name__ == "__main__":
    unittest.main()
