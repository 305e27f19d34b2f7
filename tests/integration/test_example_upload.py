"""examples/upload.cpp, a streamed request body: PUT /count reads an upload
of up to 1 GiB piece by piece (request::read_some on a stream_body route)
and answers with its size and CRC-32. Uploaded with curl (Content-Length,
and chunked from a pipe) and http.client (chunked), the body arrives whole
and in order, and the server never holds more than a piece of it."""

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import unittest
import zlib

from weftproc import READY_TIMEOUT, SANITIZED, WEFT_BIN, memory_kib, read_line_within, recv_until_closed

BUILD_DIR = os.environ.get("WEFT_BUILD_DIR") or os.path.dirname(os.path.dirname(WEFT_BIN))
UPLOAD_BIN = os.path.join(BUILD_DIR, "bin", "example_upload")
TIMEOUT = 60.0
SIZE = 48 << 20  # six times the server's default body limit


class UploadExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(UPLOAD_BIN, os.X_OK):
            raise AssertionError(f"{UPLOAD_BIN} not built")
        cls.dir = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.dir.name, "upload.bin")
        cls.data = os.urandom(SIZE)
        with open(cls.path, "wb") as f:
            f.write(cls.data)
        cls.want = {"bytes": SIZE, "crc32": zlib.crc32(cls.data)}

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def setUp(self):
        self.proc = subprocess.Popen([UPLOAD_BIN, "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop)
        line = read_line_within(self.proc.stdout, READY_TIMEOUT)[0].decode()
        self.assertTrue(line.startswith("listening on 127.0.0.1:"), line)
        self.port = int(line.rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}/count"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self.fail("the upload example ignored SIGTERM")
        self.proc.stdout.close()
        self.assertEqual(self.proc.returncode, 0)

    def curl(self, *args, stdin=None):
        out = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), *args, self.url],
                             stdin=stdin, capture_output=True, timeout=TIMEOUT + 5)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_curl_uploads_with_a_content_length_arrive_whole(self):
        # Over 1 MiB, curl asks for 100-continue first: the handler's first
        # read sends it.
        self.assertEqual(self.curl("-T", self.path), self.want)

    def test_curl_chunked_uploads_from_a_pipe_arrive_whole(self):
        with open(self.path, "rb") as f:
            self.assertEqual(self.curl("-T", "-", stdin=f), self.want)

    def test_http_client_chunked_uploads_arrive_whole(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        pieces = (self.data[i:i + 1000003] for i in range(0, SIZE, 1000003))
        conn.request("PUT", "/count", body=pieces, encode_chunked=True)
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.read()), self.want)
        # The connection stays open for the next request.
        conn.request("PUT", "/count", body=b"abc")
        resp = conn.getresponse()
        self.assertEqual(json.loads(resp.read()), {"bytes": 3, "crc32": zlib.crc32(b"abc")})
        conn.close()

    @unittest.skipIf(SANITIZED, "ASan's shadow memory and quarantine make RSS meaningless")
    def test_the_server_holds_a_piece_of_an_upload_not_all_of_it(self):
        self.curl("-T", self.path)
        with open(self.path, "rb") as f:
            self.curl("-T", "-", stdin=f)
        # 96 MiB went through; the process peaked far below one upload.
        self.assertLess(memory_kib(self.proc.pid, "VmHWM"), 24 * 1024)

    def test_a_declared_length_past_the_routes_limit_is_refused_unread(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"PUT /count HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 1073741825\r\n\r\n")  # the route's 1 GiB, and one
            s.shutdown(socket.SHUT_WR)
            reply = recv_until_closed(s)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413 "), reply[:100])

    def test_an_expected_body_with_no_route_is_refused_without_a_100(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"PUT /elsewhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: 1000000\r\n\r\n")
            head = s.recv(4096)
        self.assertTrue(head.startswith(b"HTTP/1.1 404 "), head[:100])


if __name__ == "__main__":
    unittest.main()
