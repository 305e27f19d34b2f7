"""HTTP/1.1 on raw sockets, for the weft hello / inspect integration tests.

A request builder, a deliberately strict minimal response reader (framing by
Content-Length only, which is all the server sends), and the checks the tests
share: that a connection was closed after a response, and that nothing more
arrives.

    s = server.connect()
    s.sendall(request("GET", "/a") * 3)   # pipelined
    reader = ResponseReader(s)
    for _ in range(3):
        r = reader.read_response()
        assert r.status == 200 and r.body == b"Hello, world!"

Every read is bounded by the socket's timeout; a timeout, an EOF inside a
response or a reset is an AssertionError that shows what had arrived.
"""

import email.utils
import json
import re
import socket
import time

from weftproc import start_weft

HEAD_LIMIT = 64 * 1024  # the server's response heads are far smaller

STATUS_LINE = re.compile(rb"^HTTP/1\.1 ([1-5][0-9][0-9]) ([\x20-\x7e]*)$")
# What the server writes: "Name: value", no trailing whitespace.
FIELD_LINE = re.compile(rb"^([!#$%&'*+.^_`|~0-9A-Za-z-]+): ?((?:[\x21-\x7e\x80-\xff](?:[\x20\x21-\x7e\x80-\xff]*"
                        rb"[\x21-\x7e\x80-\xff])?)?)$")
IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                         r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT$")


def request(method="GET", target="/", headers=None, body=None, version="HTTP/1.1", host="x"):
    """The bytes of one request. `headers` is a list of (name, value) pairs
    (str or bytes), sent in order after Host (unless host is None); a body
    gets a Content-Length unless the headers already frame it."""
    def b(v):
        return v if isinstance(v, bytes) else v.encode("latin-1")

    lines = [b(method) + b" " + b(target) + b" " + b(version)]
    if host is not None:
        lines.append(b"Host: " + b(host))
    headers = list(headers or [])
    names = {b(n).lower() for n, _ in headers}
    if body is not None and b"content-length" not in names and b"transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    for n, v in headers:
        lines.append(b(n) + b": " + b(v))
    return b"\r\n".join(lines) + b"\r\n\r\n" + (b(body) if body is not None else b"")


def chunked(*parts, trailers=(), ext=b""):
    """A chunked body: one chunk per part, the last chunk and trailers."""
    out = b""
    for p in parts:
        if p:
            out += b"%x%s\r\n%s\r\n" % (len(p), ext, p)
    out += b"0\r\n"
    for n, v in trailers:
        out += n + b": " + v + b"\r\n"
    return out + b"\r\n"


class Response:
    def __init__(self, status, reason, headers, body, head):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] as str (Latin-1), in order
        self.body = body
        self.head = head        # the raw head, through its empty line

    def header(self, name):
        """The only value of field `name` (None if absent); two is a failure."""
        values = self.header_all(name)
        if len(values) > 1:
            raise AssertionError(f"{name} appears {len(values)} times: {self.head!r}")
        return values[0] if values else None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def connection_tokens(self):
        return {t.strip().lower() for v in self.header_all("Connection") for t in v.split(",") if t.strip()}

    def closes(self):
        return "close" in self.connection_tokens()

    def json(self):
        """The body as JSON; strict: raw control characters in strings fail."""
        ctype = self.header("Content-Type")
        if ctype != "application/json":
            raise AssertionError(f"Content-Type {ctype!r}, not application/json")
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<Response {self.status} {self.reason} {self.headers} body {self.body[:120]!r}>"


class ResponseReader:
    """Reads responses off one socket, keeping what arrives beyond them."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self, what):
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise AssertionError(f"timed out after {self.sock.gettimeout()} s waiting for {what}; "
                                 f"have {self.buf[:300]!r}") from None
        except ConnectionResetError:
            raise AssertionError(f"connection reset while waiting for {what}; have {self.buf[:300]!r}") from None
        if not chunk:
            raise AssertionError(f"connection closed while waiting for {what}; have {self.buf[:300]!r}")
        self.buf += chunk

    def read_head(self):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head, self.buf = self.buf[:end + 4], self.buf[end + 4:]
                return head
            if len(self.buf) > HEAD_LIMIT:
                raise AssertionError(f"no end of a response head in {len(self.buf)} bytes: {self.buf[:300]!r}")
            self._fill("a response head")

    def read_response(self, head_request=False, interim=False):
        """One response. Its body is framed by Content-Length (required on
        every response that has one); a HEAD response and 1xx/204/304 have
        none. With interim=False, 1xx responses are a failure."""
        head = self.read_head()
        lines = head[:-4].split(b"\r\n")
        m = STATUS_LINE.match(lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0]!r} in {head!r}")
        status = int(m.group(1))
        headers = []
        for line in lines[1:]:
            f = FIELD_LINE.match(line)
            if not f:
                raise AssertionError(f"bad header line {line!r} in {head!r}")
            headers.append((f.group(1).decode("latin-1"), f.group(2).decode("latin-1")))
        r = Response(status, m.group(2).decode("latin-1"), headers, b"", head)
        if 100 <= status < 200:
            if not interim:
                raise AssertionError(f"unexpected interim response {head!r}")
            if r.header("Content-Length") is not None:
                raise AssertionError(f"an interim response with Content-Length: {head!r}")
            return r
        if r.header_all("Transfer-Encoding"):
            raise AssertionError(f"the server is not expected to send Transfer-Encoding: {head!r}")
        cl = r.header("Content-Length")
        if status in (204, 304):
            length = 0
        elif cl is None or not re.fullmatch(r"[0-9]+", cl):
            raise AssertionError(f"missing or bad Content-Length in {head!r}")
        else:
            length = 0 if head_request else int(cl)
        while len(self.buf) < length:
            self._fill(f"{length} body bytes")
        r.body, self.buf = self.buf[:length], self.buf[length:]
        return r

    def try_read_response(self, head_request=False):
        """The next response, or None when the connection ended (EOF or
        reset) before its first byte. Ending inside it is still a failure."""
        if not self.buf:
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                return None
            except socket.timeout:
                raise AssertionError(f"no response within {self.sock.gettimeout()} s") from None
            if not chunk:
                return None
            self.buf = chunk
        return self.read_response(head_request=head_request)

    def read_final_response(self, head_request=False):
        """(interim responses, the final response)."""
        interims = []
        while True:
            r = self.read_response(head_request=head_request, interim=True)
            if r.status >= 200:
                return interims, r
            interims.append(r)

    def assert_closed(self):
        """Nothing beyond the responses read so far, then EOF (not a reset,
        not a timeout)."""
        if self.buf:
            raise AssertionError(f"unexpected bytes after the last response: {self.buf[:300]!r}")
        try:
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            raise AssertionError(f"the connection was not closed within {self.sock.gettimeout()} s") from None
        except ConnectionResetError:
            raise AssertionError("the connection was reset instead of closed") from None
        if chunk:
            raise AssertionError(f"unexpected bytes instead of EOF: {chunk[:300]!r}")

    def assert_nothing_more(self, wait=0.2):
        """No byte and no EOF within `wait` seconds."""
        if self.buf:
            raise AssertionError(f"unexpected bytes: {self.buf[:300]!r}")
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(old)
        raise AssertionError("the connection was closed" if not chunk else f"unexpected bytes: {chunk!r}")


def exchange(sock, raw, head_request=False):
    """Sends one request and reads one (final) response."""
    sock.sendall(raw)
    return ResponseReader(sock).read_response(head_request=head_request)


def check_date(testcase, response, tolerance=30.0):
    date = response.header("Date")
    testcase.assertIsNotNone(date, f"no Date header: {response.head!r}")
    testcase.assertRegex(date, IMF_FIXDATE)
    shown = email.utils.parsedate_to_datetime(date).timestamp()
    testcase.assertLess(abs(shown - time.time()), tolerance, f"Date {date!r} is off")


class DateMaskedReply(bytes):
    """An expected response for server_contract.ProcessContract, which
    compares replies byte for byte: equal to a response that differs only in
    the Date value and in the order of header fields. (A subclass's
    __eq__ wins on either side of ==, so `got == reply` lands here.)"""

    @staticmethod
    def _normal(raw):
        raw = bytes(raw)
        head, sep, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        fields = sorted(re.sub(rb"^(?i:date): .*$", b"Date: *", f) for f in lines[1:])
        return lines[0], fields, sep, body

    def __eq__(self, other):
        if not isinstance(other, (bytes, bytearray)):
            return NotImplemented
        return len(other) == len(self) and self._normal(self) == self._normal(other)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = bytes.__hash__

    @property
    def closing(self):
        """The same reply as a stopping server sends it: with Connection: close."""
        head, sep, body = bytes(self).partition(b"\r\n\r\n")
        return DateMaskedReply(head + b"\r\nConnection: close" + sep + body)


def assert_alive(server):
    """A crashed server must fail the test that crashed it: weftproc's
    cleanup only checks the exit status of a server it still had to stop."""
    if not server.running():
        server.wait(timeout=1.0)
        raise AssertionError(f"weft is no longer running (exit status {server.returncode}); {server.describe()}")


def start_http(test, subcommand, *args, **kw):
    """start_weft, plus a check at cleanup (before the stop) that the
    server is still running."""
    server = start_weft(test, subcommand, *args, **kw)
    test.addCleanup(assert_alive, server)
    return server
