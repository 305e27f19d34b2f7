"""Runs the `weft` binary for integration tests, and talks to it over
loopback sockets.

Every wait here is bounded: the readiness line, each socket operation and
the stop all have timeouts, and a process that ignores SIGTERM is killed.
No process outlives the test run (see _reap_everything).

    server = start_weft(self, "echo", "--trigger", "level")
    with server.connect() as s:
        s.sendall(b"hi\\n")
        self.assertEqual(recv_exactly(s, 3), b"hi\\n")
    # cleanup: SIGTERM by PID, bounded wait, then assert exit status 0
"""

import atexit
import fcntl
import os
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WEFT_BIN = os.environ.get("WEFT_BIN") or os.path.normpath(os.path.join(HERE, "..", "..", "build", "bin", "weft"))
# tests/CMakeLists.txt passes the sanitizer list ("address,undefined"), empty
# in a plain build. A test that measures memory skips itself when it is set:
# ASan's shadow memory and quarantine make RSS mean nothing.
SANITIZED = bool(os.environ.get("WEFT_SANITIZED"))

# Generous for a loaded 2-core machine; a healthy server needs milliseconds.
READY_TIMEOUT = 10.0
SOCKET_TIMEOUT = 10.0
# The server gives work in flight 5 s at stop, then stops regardless.
STOP_TIMEOUT = 10.0

READY_LINE = re.compile(rb"^weft (?P<sub>[a-z]+) listening on (?P<host>\[[0-9a-fA-F:.]+\]|[^\s:]+):(?P<port>[0-9]+)\n$")

_live = set()


def _reap_everything():
    """Last resort: no weft process survives the interpreter."""
    for proc in list(_live):
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


atexit.register(_reap_everything)


class WeftStartError(AssertionError):
    pass


class WeftProcess:
    """One running `weft <subcommand>`, on --port 0 unless told otherwise."""

    def __init__(self, subcommand, *args, host=None, port=0, nofile_limit=None, nofile_soft=None,
                 ready_timeout=READY_TIMEOUT):
        if not os.access(WEFT_BIN, os.X_OK):
            raise WeftStartError(f"weft binary not found at {WEFT_BIN}; build it or set WEFT_BIN")
        self.subcommand = subcommand
        argv = [WEFT_BIN, subcommand, "--port", str(port)]
        if host is not None:
            argv += ["--host", host]
        argv += list(args)
        self.argv = argv
        # stderr goes to a file: a pipe nobody drains could block the server.
        self._stderr = tempfile.TemporaryFile()
        preexec = None
        if nofile_limit is not None or nofile_soft is not None:
            def preexec():
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1] if nofile_limit is None else nofile_limit
                soft = hard if nofile_soft is None else nofile_soft
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, preexec_fn=preexec)
        _live.add(self.proc)
        self.pid = self.proc.pid
        self.returncode = None
        self.waited = False  # whether the test (or its cleanup) waited for the exit
        self.later_stdout = None  # what stdout held after the readiness line
        try:
            self.ready_line = self._read_ready_line(ready_timeout)
        except BaseException:
            self.kill()
            raise
        m = READY_LINE.match(self.ready_line)
        if not m:
            self.kill()
            raise WeftStartError(f"bad readiness line {self.ready_line!r}; stderr: {self.stderr()!r}")
        self.listen_host = m.group("host").decode()
        self.port = int(m.group("port"))
        self.host = self.listen_host.strip("[]")
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def _read_ready_line(self, timeout):
        line, ended = read_line_within(self.proc.stdout, timeout)
        if ended:
            self.proc.wait(timeout=STOP_TIMEOUT)
            raise WeftStartError(f"weft exited with {self.proc.returncode} before it was ready "
                                 f"(got {line!r}); stderr: {self.stderr()!r}")
        if not line.endswith(b"\n"):
            raise WeftStartError(f"no readiness line within {timeout} s (got {line!r}); "
                                 f"argv {self.argv}; stderr: {self.stderr()!r}")
        return line

    # --- talking to it -------------------------------------------------

    def connect(self, timeout=SOCKET_TIMEOUT, nodelay=True):
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if nodelay:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect((self.host, self.port))
        except BaseException:
            s.close()
            raise
        return s

    def stderr(self):
        if self._stderr.closed:
            return self._stderr_text
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def cpu_seconds(self):
        """User plus system CPU time of the whole process (all threads)."""
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        # The command name may hold spaces; fields are counted after its ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
        return (utime + stime) / os.sysconf("SC_CLK_TCK")

    def open_fd_count(self):
        # A process that has ended, not yet reaped, lists no descriptors: a
        # count of 0 then read as every descriptor released.
        if self.proc.poll() is not None:
            raise AssertionError(f"weft has exited (status {self.proc.returncode}); {self.describe()}")
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    # --- stopping it ---------------------------------------------------

    def running(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """The exit status; kills the process if it is still running after
        `timeout` and returns None, so a hang reads as a failure."""
        self.waited = True
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.returncode = None
        self._collect_stdout()
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc.poll() is None:
            self.send_signal(sig)
        return self.wait(timeout)

    def kill(self):
        self.waited = True
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT)
        self._collect_stdout()

    def _collect_stdout(self):
        if self.later_stdout is None and self.proc.poll() is not None:
            # A test may have closed our end, as a reader that goes does.
            self.later_stdout = b"" if self.proc.stdout.closed else self.proc.stdout.read()
            self.proc.stdout.close()
            self._stderr_text = self.stderr()
            self._stderr.close()
            _live.discard(self.proc)

    def describe(self):
        return f"`{' '.join(self.argv)}` (pid {self.pid}); stderr: {self.stderr()!r}"


def _stop_and_check(server, expect_clean_exit, fail):
    was_running = server.running()
    waited = server.waited
    rc = server.stop()
    # Ended on its own, and the test never looked at how: a crash in the
    # test's last exchange went unseen (found by review).
    if not was_running and not waited and rc != 0:
        fail(f"weft ended during the test with exit status {rc}; {server.describe()}")
    if expect_clean_exit and was_running and rc != 0:
        fail(f"weft did not stop cleanly on SIGTERM: exit status {rc} "
             f"(None = still running after {STOP_TIMEOUT} s, killed); {server.describe()}")


def start_weft(test, subcommand, *args, expect_clean_exit=True, **kw):
    """Starts weft for one test; cleanup stops it with SIGTERM and, unless
    told otherwise, fails the test if the exit status is not 0."""
    server = WeftProcess(subcommand, *args, **kw)
    test.addCleanup(_stop_and_check, server, expect_clean_exit, test.fail)
    return server


def start_weft_for_class(cls, subcommand, *args, **kw):
    """The same, shared by every test of a class (from setUpClass)."""
    server = WeftProcess(subcommand, *args, **kw)

    def fail(msg):
        raise AssertionError(msg)

    cls.addClassCleanup(_stop_and_check, server, True, fail)
    return server


def weft_cli(*args, timeout=READY_TIMEOUT):
    """Runs a weft command that should end by itself (e.g. --help)."""
    if not os.access(WEFT_BIN, os.X_OK):
        raise WeftStartError(f"weft binary not found at {WEFT_BIN}; build it or set WEFT_BIN")
    return subprocess.run([WEFT_BIN, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# --- socket helpers --------------------------------------------------------

def recv_exactly(sock, n):
    """Exactly n bytes; fails on EOF, times out by the socket's timeout."""
    chunks = []
    got = 0
    while got < n:
        try:
            chunk = sock.recv(min(n - got, 1 << 16))
        except socket.timeout:
            raise AssertionError(f"only {got} of {n} bytes within {sock.gettimeout()} s: "
                                 f"{b''.join(chunks)[-200:]!r}") from None
        if not chunk:
            raise AssertionError(f"connection closed after {got} of {n} bytes: {b''.join(chunks)[-200:]!r}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv_until_closed(sock, limit=1 << 22):
    """Everything until the peer's EOF. A reset is a failure: it means the
    server's close destroyed bytes it had sent."""
    chunks = []
    got = 0
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            raise AssertionError(f"connection reset instead of closed, after {b''.join(chunks)[:200]!r}") from None
        except socket.timeout:
            raise AssertionError(f"not closed within {sock.gettimeout()} s; "
                                 f"received {b''.join(chunks)[:200]!r}") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        got += len(chunk)
        if got > limit:
            raise AssertionError(f"more than {limit} bytes and still not closed")


def recv_until_closed_or_reset(sock):
    """Everything until the peer's EOF or a reset, for a client that was
    still sending when the server closed: its close then resets, after what
    it sent has arrived."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def send_with_eof(sock, data):
    """Sends data and the FIN in one TCP segment: corked, the data waits in
    the send queue and the FIN is set on its last segment. The server then
    sees the bytes and the end of input in a single readiness event."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def nothing_more_arrives(sock, wait=0.2):
    """True when no byte arrives within `wait` seconds (and no EOF either)."""
    old = sock.gettimeout()
    sock.settimeout(wait)
    try:
        sock.recv(1)
        return False
    except socket.timeout:
        return True
    finally:
        sock.settimeout(old)


class BackgroundSender:
    """Sends bytes from a thread, so the test can read at the same time and
    neither side's buffers can deadlock the exchange. Errors after the server
    has closed (EPIPE, reset) are recorded, not raised."""

    def __init__(self, sock, data, chunk=1 << 16, shutdown=False):
        self.error = None
        self._sock, self._data, self._chunk, self._shutdown = sock, data, chunk, shutdown
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            view = memoryview(self._data)
            for i in range(0, len(view), self._chunk):
                self._sock.sendall(view[i:i + self._chunk])
            if self._shutdown:
                self._sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e

    def join(self, timeout=SOCKET_TIMEOUT):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"sender still blocked after {timeout} s")


def run_clients(n, client, timeout=30.0):
    """Runs client(i) for i in range(n) on n threads at once (they all
    connect before any of them talks, by a barrier) and re-raises the first
    failure. client receives (i, barrier)."""
    barrier = threading.Barrier(n, timeout=timeout)
    errors = [None] * n

    def body(i):
        try:
            client(i, barrier)
        except BaseException as e:  # reported below, with the client number
            errors[i] = e
            barrier.abort()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        raise AssertionError(f"{stuck} of {n} clients still running after {timeout} s")
    failed = [(i, e) for i, e in enumerate(errors) if e is not None and not isinstance(e, threading.BrokenBarrierError)]
    if failed:
        i, e = failed[0]
        raise AssertionError(f"{len(failed)} of {n} clients failed; client {i}: {e!r}") from e
    if any(errors):
        raise AssertionError("clients failed at the barrier")


def wait_until_blocked(sock, timeout=5.0):
    """Waits until both directions of a connection have filled up: the
    client's receive queue stops growing because the server can send no
    more (it blocks on a client that does not read)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        queued = unread_bytes(sock)
        if queued == last and queued > 0:
            return
        last = queued
        time.sleep(0.1)
    raise AssertionError(f"the connection never filled up ({last} bytes unread)")


def reset_on_close(sock):
    """Makes close() send RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def unread_bytes(sock):
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, "little")


def server_side_states(server_port, client_port):
    """The TCP states (hex, as /proc/net/tcp has them: 01 established, 03
    SYN_RECV, 04 FIN_WAIT1) of the server's side of the loopback connection
    from client_port."""
    states = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, remote, state = line.split()[1:4]
            if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
                states.append(state)
    return states


def tcp_queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the IPv4 socket local_port -> remote_port,
    from /proc/net/tcp: bytes sent but not acknowledged, and bytes received
    but not read by the owning process."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == remote_port:
                tx, rx = queues.split(":")
                return int(tx, 16), int(rx, 16)
    raise KeyError(f"no socket {local_port} -> {remote_port}")


def split_points(message):
    """Each k in 1..len-1: the message is sent as message[:k], message[k:]."""
    return range(1, len(message))


PAUSE_BETWEEN_SPLITS = 0.003  # long enough that the two halves arrive apart


def send_in_two(sock, message, k):
    sock.sendall(message[:k])
    time.sleep(PAUSE_BETWEEN_SPLITS)
    sock.sendall(message[k:])



EXAMPLES_DIR = os.path.join(os.environ.get("WEFT_BUILD_DIR") or os.path.dirname(os.path.dirname(WEFT_BIN)), "bin")


def start_example(test, name, *args):
    """Starts build/bin/example_<name> with `args` (its port first; "0" for
    any) and returns (process, port, stderr) once it prints `listening on
    127.0.0.1:PORT`; stderr is a file, read with stderr_of. At cleanup the
    process gets SIGTERM and must exit 0."""
    path = os.path.join(EXAMPLES_DIR, f"example_{name}")
    if not os.access(path, os.X_OK):
        test.fail(f"{path} not built")
    err = tempfile.TemporaryFile()
    proc = subprocess.Popen([path, *args], stdout=subprocess.PIPE, stderr=err)

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=READY_TIMEOUT)
        proc.stdout.close()
        test.assertEqual(proc.returncode, 0, stderr_of(err))
        err.close()

    test.addCleanup(stop)
    line = read_line_within(proc.stdout, READY_TIMEOUT)[0].decode()
    test.assertTrue(line.startswith("listening on 127.0.0.1:"), line + stderr_of(err).decode(errors="replace"))
    return proc, int(line.rsplit(":", 1)[1]), err


def read_line_within(pipe, timeout):
    """One line from a child's stdout `pipe` within `timeout` seconds:
    (the bytes read, whether the pipe ended first). Byte by byte, so later
    output stays in the pipe; short of a newline when the time ran out. A
    plain readline() waited for a hung child until ctest's timeout."""
    fd = pipe.fileno()
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return line, False
            chunk = os.read(fd, 1)
            if not chunk:
                return line, True
            line += chunk
    return line, False


def stderr_of(err):
    err.seek(0)
    return err.read()


def settled_memory_kib(pid, timeout=10.0):
    """VmRSS in KiB once it has stopped growing (two looks 0.5 s apart
    within 1%): a server still taking in its clients' bytes is measured
    when it has, however slow the machine."""
    deadline = time.monotonic() + timeout
    last = memory_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = memory_kib(pid)
        if abs(now - last) <= max(64, last // 100):
            return now
        last = now
    raise AssertionError(f"memory still moving after {timeout} s: {last} KiB")


def flood_kib_per_connection(server, request_bytes, conns=100, count=100000):
    """What `conns` clients that each pipeline `request_bytes` `count` times
    and never read cost the server, in KiB of RSS each once its memory has
    settled. Each client's receive buffer is 4 KiB, so it takes little of
    the answers, and its requests are more than the kernel holds."""
    before = memory_kib(server.pid)
    flood = request_bytes * count
    senders = []
    try:
        for _ in range(conns):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", server.port))
            senders.append((s, BackgroundSender(s, flood)))
        return (settled_memory_kib(server.pid) - before) / conns
    finally:
        for s, sender in senders:
            s.shutdown(socket.SHUT_RDWR)  # ends the sender's blocked sendall
            sender.join()
            s.close()


def memory_kib(pid, field="VmRSS"):
    """A process's memory from /proc/PID/status in KiB: VmRSS (resident
    now) or VmHWM (the peak resident so far)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")
