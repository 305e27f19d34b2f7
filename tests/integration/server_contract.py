"""What every `weft` server promises as a process, whatever it serves:
the readiness line, --help, flag checking, IPv6, and a graceful stop on
SIGINT, SIGTERM or SIGHUP with exit status 0 while clients are connected.

test_echo.py and test_qa.py each run these against their subcommand by
mixing ProcessContract into a unittest.TestCase and saying how one
request/reply round trip looks.
"""

import os
import resource
import select
import signal
import socket
import subprocess
import threading
import time

from weftproc import (READY_TIMEOUT, SANITIZED, STOP_TIMEOUT, WEFT_BIN, BackgroundSender, WeftProcess, WeftStartError,
                      ipv6_loopback_available, recv_exactly, reset_on_close, start_weft, wait_until_blocked, weft_cli)

COMMON_FLAGS = ("--host", "--port", "--threads", "--backlog", "--trigger", "--shutdown-timeout", "--help")


class BusyClient:
    """Round trips back to back on its own thread until the server goes away."""

    def __init__(self, server, request, reply):
        self.round_trips = 0
        self.failure = None
        self._stop = threading.Event()
        self._sock = server.connect(timeout=3.0)
        self._request, self._reply = request, reply
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                self._sock.sendall(self._request)
                got = self._sock.recv(len(self._reply))
                if not got:
                    return  # the server closed it: expected at stop
                got += recv_exactly(self._sock, len(self._reply) - len(got))
                if got != self._reply:
                    # HTTP: a draining server answers with Connection: close
                    # and then closes; that reply is the last one.
                    closing = getattr(self._reply, "closing", None)
                    if closing is not None and len(closing) > len(got):
                        got += recv_exactly(self._sock, len(closing) - len(got))
                        if got == closing:
                            return
                    self.failure = f"wrong reply {got[:80]!r}"
                    return
                self.round_trips += 1
        except AssertionError:
            return  # closed mid-reply: the server is stopping
        except OSError:
            return  # reset, EPIPE or timeout after the server went away

    def wait_until_busy(self, round_trips=20, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.round_trips < round_trips:
            if self.failure or not self._thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"busy client stalled after {self.round_trips} round trips: {self.failure}")
            time.sleep(0.005)

    def finish(self):
        self._stop.set()
        self._thread.join(STOP_TIMEOUT)
        self._sock.close()
        if self._thread.is_alive():
            raise AssertionError("busy client still blocked after the server stopped")
        if self.failure:
            raise AssertionError(self.failure)


def descriptor_links(pid):
    """What each of a process's descriptors names, as far as it still does
    once listed (one may close meanwhile)."""
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            pass
    return links


def wait_until_waiting_in_poll(pid, timeout=5.0):
    """Waits until the process's main thread sleeps in poll(2), as
    write_unless_signalled does for room in a full pipe (a fixed 0.3 s
    passed whether or not it had got there). Where the kernel does not say
    (/proc/PID/wchan reads "0"), 0.3 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read()
        if wchan == "0":
            time.sleep(0.3)
            return
        if "poll" in wchan and not wchan.startswith("ep_"):  # not epoll_wait's ep_poll: the loop's
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never waited in poll (wchan {wchan!r})")


def wait_until_stopped(pid, timeout=5.0):
    """Waits until a SIGSTOP has taken effect: kill() returns before it has,
    and the process, running on another core, went on meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "T":
                return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never stopped")


class ProcessContract:
    subcommand = None     # "echo" or "qa"
    request = None        # one complete request
    reply = None          # the reply to it
    partial_request = None  # the start of a request, without its end

    def round_trip(self, sock):
        sock.sendall(self.request)
        self.assertEqual(recv_exactly(sock, len(self.reply)), self.reply)

    # --- readiness -------------------------------------------------------

    def test_prints_exactly_one_readiness_line_with_the_real_port(self):
        server = WeftProcess(self.subcommand)
        try:
            self.assertRegex(server.ready_line.decode(),
                             rf"\Aweft {self.subcommand} listening on 127\.0\.0\.1:[1-9][0-9]*\n\Z")
            self.assertNotEqual(server.port, 0, "the line must show the port actually bound")
            with server.connect() as s:
                self.round_trip(s)
            self.assertEqual(server.stop(), 0, server.describe())
            self.assertEqual(server.later_stdout, b"", "nothing else may follow the readiness line on stdout")
        finally:
            server.kill()

    def test_the_readiness_line_shows_an_ipv6_host_in_brackets(self):
        if not ipv6_loopback_available():
            self.skipTest("::1 is not available here")
        # As printed, in brackets, --host takes it too: it was refused.
        for host in ("::1", "[::1]"):
            server = start_weft(self, self.subcommand, host=host)
            self.assertEqual(server.ready_line.decode(), f"weft {self.subcommand} listening on [::1]:{server.port}\n")
            with server.connect() as s:
                self.assertEqual(s.family, socket.AF_INET6)
                self.round_trip(s)
            self.assertEqual(server.stop(), 0, server.describe())

    # --- the command line ------------------------------------------------

    def test_help_exits_zero_and_lists_the_common_flags(self):
        result = weft_cli(self.subcommand, "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for flag in COMMON_FLAGS:
            self.assertIn(flag, result.stdout.decode())

    def test_usage_errors_exit_2_and_say_why_on_stderr(self):
        # CLI11's own codes (105, 106, 109, 114...) differed by kind of
        # mistake; 2 is the usage-error status of getopt-era tools, and of
        # --host's own check (found by an audit of the README's contract).
        for args in (("--no-such-flag",), ("--port", "abc"), ("--port",), ("--threads", "1.5"),
                     ("--port", "0", "stray")):
            with self.subTest(args=args):
                result = weft_cli(self.subcommand, *args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertNotIn(b"listening", result.stdout)
                self.assertTrue(result.stderr.strip(), "the refusal should say why on stderr")

    def test_an_unknown_trigger_mode_is_refused_with_a_nonzero_exit(self):
        result = weft_cli(self.subcommand, "--port", "0", "--trigger", "sideways")
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn(b"listening", result.stdout)
        self.assertTrue(result.stderr.strip(), "the refusal should say why on stderr")

    def test_a_shutdown_timeout_that_is_not_a_finite_number_of_seconds_is_refused(self):
        # NaN passes a range check: --shutdown-timeout nan was taken, and the
        # grace became an undefined conversion, none in practice (found by
        # review).
        for value in ("nan", "-nan", "inf", "-1", "86401", "soon"):
            with self.subTest(value):
                result = weft_cli(self.subcommand, "--port", "0", "--shutdown-timeout", value)
                self.assertNotEqual(result.returncode, 0)
                self.assertNotIn(b"listening", result.stdout)

    def test_an_invalid_host_is_refused_with_a_nonzero_exit(self):
        result = weft_cli(self.subcommand, "--port", "0", "--host", "not an address")
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn(b"listening", result.stdout)

    def test_threads_that_cannot_be_made_are_refused_with_exit_1(self):
        # Each loop's thread takes a stack of address space: under a 1 GiB
        # limit, 200 of them cannot all start (as under a pids limit). The
        # threads already running are stopped before the servers they use
        # go; they ran on and used them freed (ASan: a use-after-free, found
        # by review).
        if SANITIZED:
            self.skipTest("the sanitizers reserve far more address space than the limit")

        def limit_address_space():
            # A thread's stack is RLIMIT_STACK's size (2 MiB when that is
            # unlimited): 8 MiB each, whatever the caller's shell set.
            _, hard = resource.getrlimit(resource.RLIMIT_STACK)
            stack = 8 << 20 if hard == resource.RLIM_INFINITY else min(8 << 20, hard)
            resource.setrlimit(resource.RLIMIT_STACK, (stack, hard))
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

        self.assert_threads_cannot_start(limit_address_space)

    def assert_threads_cannot_start(self, limit, threads=200):
        """`--threads N` under the limit `limit` sets: refused, exit 1,
        no readiness line, one line on stderr."""
        result = subprocess.run([WEFT_BIN, self.subcommand, "--port", "0", "--threads", str(threads)],
                                preexec_fn=limit, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=READY_TIMEOUT)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn(b"listening", result.stdout)
        self.assertRegex(result.stderr, rb"\Aweft \w+: cannot start %d threads: .+\n\Z" % threads)

    def test_threads_that_the_descriptor_limit_cannot_hold_are_refused_as_cannot_start(self):
        # Each loop needs descriptors of its own (epoll, eventfd): under a
        # low RLIMIT_NOFILE the loops could not be made, and the message was
        # "weft: epoll_create1: Too many open files", not the README's
        # (found by review).
        if SANITIZED:
            # UBSan's vptr check opens descriptors of its own, and at the
            # limit reports "invalid vptr" on a live exception instead.
            self.skipTest("UBSan needs descriptors of its own at the limit")

        def limit_descriptors():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

        self.assert_threads_cannot_start(limit_descriptors)
        # Loops it can make, but not their listeners (20 loops take about
        # 40 descriptors, and their listeners 20 more): "weft echo: socket:
        # Too many open files" (found by review).
        for nofile in (50, 56, 62):
            with self.subTest(nofile=nofile):
                self.assert_threads_cannot_start(
                    lambda n=nofile: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)), threads=20)

    def test_a_server_out_of_memory_closes_what_it_cannot_serve_and_serves_again(self):
        # Under an address-space limit (RLIMIT_AS; a cgroup's memory.max is
        # alike), clients holding long partial requests run the server out
        # of memory. What it cannot serve it closes; it stays up, and serves
        # again once they have gone. A std::bad_alloc in a noexcept read,
        # and in the log line of a loop's failed callback, ended the process
        # (std::terminate); one out of the spawn of a connection's green
        # thread ended the accept loop, and the server, still up, served no
        # one (found by review).
        if SANITIZED:
            self.skipTest("the sanitizers reserve far more address space than the limit")
        server = start_weft(self, self.subcommand, "--threads", "1")
        # No more address space than it has now: what its loop thread's
        # malloc arena holds in reserve (64 MiB with glibc) is all it has,
        # and 2,000 clients of 60 kB each need more.
        with open(f"/proc/{server.pid}/status") as status:
            size = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
        resource.prlimit(server.pid, resource.RLIMIT_AS, (size, size))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2500:
            if hard < 2500:
                self.skipTest(f"2,000 clients need more descriptors than {hard}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (2500, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        hoard = self.partial_request + b"p" * 60000
        clients = []

        def connect_and_hoard(n):
            for _ in range(n):
                try:
                    s = socket.create_connection(("127.0.0.1", server.port), timeout=2)
                    clients.append(s)
                    s.sendall(hoard)
                except OSError:
                    pass  # refused or cut: out of memory
                self.assertIsNone(server.proc.poll(), server.describe())

        try:
            connect_and_hoard(1500)
            # Until the server has closed one it could not serve.
            watch = select.poll()
            for s in clients:
                watch.register(s, select.POLLIN)
            deadline = time.monotonic() + 5
            while not watch.poll(100):
                self.assertLess(time.monotonic(), deadline, "no client was closed: memory never ran out")
            connect_and_hoard(500)  # accepted with no memory left
            time.sleep(0.5)
            self.assertIsNone(server.proc.poll(), server.describe())
        finally:
            for s in clients:
                s.close()
        deadline = time.monotonic() + 5
        while True:
            try:
                with server.connect() as s:
                    self.round_trip(s)
                break
            except (OSError, AssertionError):
                # The closes reach the server over a few turns.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.assertIsNone(server.proc.poll(), server.describe())

    def test_a_port_already_served_by_another_weft_is_refused(self):
        # With several loops each binds its own SO_REUSEPORT listener; that
        # must not let a second process quietly take half the connections.
        for threads in ("1", "2"):
            with self.subTest(threads=threads):
                first = start_weft(self, self.subcommand, "--threads", threads)
                try:
                    second = WeftProcess(self.subcommand, "--threads", threads, port=first.port, ready_timeout=2.0)
                except WeftStartError as refused:
                    self.assertIn("exited with", str(refused))
                else:
                    second.kill()
                    self.fail(f"a second server also listens on port {first.port}: {second.ready_line!r}")

    def test_with_reuse_port_on_both_a_second_server_shares_the_port(self):
        # The opt-in for restarts: both serve, and the first still stops cleanly.
        for threads in ("1", "2"):
            with self.subTest(threads=threads):
                first = start_weft(self, self.subcommand, "--threads", threads, "--reuse-port")
                second = start_weft(self, self.subcommand, "--threads", threads, "--reuse-port", port=first.port)
                self.assertEqual(second.port, first.port)
                self.assertEqual(first.stop(), 0)
                with second.connect() as s:
                    self.round_trip(s)

    def test_reuse_port_does_not_join_a_single_loop_server_that_did_not_opt_in(self):
        # (With several loops a server sets SO_REUSEPORT itself, and only
        # the bind probe, which --reuse-port skips, guards its port.)
        first = start_weft(self, self.subcommand, "--threads", "1")
        result = weft_cli(self.subcommand, "--port", str(first.port), "--reuse-port")
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn(b"listening", result.stdout)

    def test_the_help_says_reuse_port_loosens_a_default(self):
        help_text = weft_cli(self.subcommand, "--help").stdout
        self.assertIn(b"--reuse-port", help_text)
        self.assertIn(b"LOOSENS SAFETY", help_text)

    def test_the_backlog_and_threads_flags_are_accepted(self):
        server = start_weft(self, self.subcommand, "--backlog", "16", "--threads", "3")
        with server.connect() as s:
            self.round_trip(s)

    # --- connections ending -------------------------------------------------

    def test_clients_that_close_or_reset_release_their_descriptors(self):
        server = start_weft(self, self.subcommand, "--threads", "1")
        baseline = server.open_fd_count()
        for i in range(300):
            with server.connect() as s:
                self.round_trip(s)
                if i % 2:
                    reset_on_close(s)
        self.assertFdCountReturnsTo(server, baseline)

    def test_a_client_resetting_with_replies_unread_harms_no_one_else(self):
        server = start_weft(self, self.subcommand, "--threads", "1")
        baseline = server.open_fd_count()
        with server.connect() as bystander:
            self.round_trip(bystander)
            for _ in range(3):
                rude = server.connect()
                sender = BackgroundSender(rude, self.request * (4 * 2**20 // len(self.request)))
                wait_until_blocked(rude)
                reset_on_close(rude)
                rude.close()
                sender.join()
            self.round_trip(bystander)
        self.assertTrue(server.running(), server.describe())
        self.assertFdCountReturnsTo(server, baseline)

    def assertFdCountReturnsTo(self, server, baseline, within=3.0):
        deadline = time.monotonic() + within
        while server.open_fd_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertLessEqual(server.open_fd_count(), baseline,
                             f"the server still holds {server.open_fd_count() - baseline} descriptors "
                             f"for connections its clients ended {within} s ago")

    # --- stopping --------------------------------------------------------

    def stop_with_clients_connected(self, sig):
        server = start_weft(self, self.subcommand)
        idle = server.connect()
        self.round_trip(idle)
        half_sent = server.connect()
        half_sent.sendall(self.partial_request)
        busy = [BusyClient(server, self.request, self.reply) for _ in range(3)]
        try:
            for b in busy:
                b.wait_until_busy()
            server.send_signal(sig)
            status = server.wait()
        finally:
            for b in busy:
                b.finish()
            idle.close()
            half_sent.close()
        self.assertEqual(status, 0, f"exit status after {sig.name} (None: hung, killed); {server.describe()}")

    def test_sigterm_while_a_client_has_stopped_reading_exits_zero(self):
        # Replies pile up unread until the server cannot send; the stop must
        # not wait for this client for ever, nor crash over it.
        server = start_weft(self, self.subcommand)
        stalled = server.connect(timeout=STOP_TIMEOUT)
        sender = BackgroundSender(stalled, self.request * (8 * 2**20 // len(self.request)))
        with server.connect() as healthy:
            self.round_trip(healthy)
            wait_until_blocked(stalled)
            server.send_signal(signal.SIGTERM)
            status = server.wait()
        stalled.close()
        sender.join()
        self.assertEqual(status, 0, f"exit status (None: hung, killed); {server.describe()}")

    def stop_with_a_request_half_sent(self, *flags, second_signal=False):
        """Seconds from SIGTERM to exit while a client that sent half a
        request holds work in flight (a server that drains waits for it up
        to its header timeout), and the exit status."""
        server = start_weft(self, self.subcommand, *flags)
        with server.connect() as half_sent:
            half_sent.sendall(self.partial_request)
            with server.connect() as healthy:
                self.round_trip(healthy)
            started = time.monotonic()
            server.send_signal(signal.SIGTERM)
            if second_signal:
                time.sleep(0.3)
                server.send_signal(signal.SIGINT)
            status = server.wait()
            return time.monotonic() - started, status, server.describe()

    def test_the_shutdown_timeout_bounds_how_long_work_in_flight_may_take(self):
        took, status, describe = self.stop_with_a_request_half_sent("--shutdown-timeout", "0.5")
        self.assertEqual(status, 0, f"exit status (None: hung, killed); {describe}")
        self.assertLess(took, 3.0, describe)

    def test_a_second_signal_stops_at_once_without_waiting_for_work_in_flight(self):
        took, status, describe = self.stop_with_a_request_half_sent("--shutdown-timeout", "60",
                                                                    second_signal=True)
        self.assertEqual(status, 0, f"exit status (None: hung, killed); {describe}")
        self.assertLess(took, 3.0, describe)

    def test_sigterm_with_idle_and_busy_clients_connected_exits_zero(self):
        self.stop_with_clients_connected(signal.SIGTERM)

    def test_sigint_with_idle_and_busy_clients_connected_exits_zero(self):
        self.stop_with_clients_connected(signal.SIGINT)

    def test_sighup_stops_it_as_sigterm_does(self):
        # The terminal closing under a server in the foreground: its default
        # action cut the connections owed answers, with a signal's status
        # (found by review).
        self.stop_with_clients_connected(signal.SIGHUP)

    def test_sigterm_with_no_clients_exits_zero_at_once(self):
        server = start_weft(self, self.subcommand)
        started = time.monotonic()
        self.assertEqual(server.stop(signal.SIGTERM), 0, server.describe())
        self.assertLess(time.monotonic() - started, 3.0)

    def wait_until_it_listens(self, proc):
        """For a server whose readiness line cannot be read: until it holds a socket."""
        deadline = time.monotonic() + READY_TIMEOUT
        while not any(link.startswith("socket:") for link in descriptor_links(proc.pid)):
            self.assertLess(time.monotonic(), deadline, "never listened")
            self.assertIsNone(proc.poll(), "exited")
            time.sleep(0.02)

    def test_a_stop_signal_is_heard_while_the_readiness_line_waits_on_a_full_pipe(self):
        """Its stdout a pipe that no one drains (one shared with an old
        server's `--access-log -` in a takeover), the server waited in the
        readiness line's write with its stop signals blocked: SIGTERM, and a
        second one, did nothing, and only SIGKILL ended it (found by review)."""
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b"z" * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        proc = subprocess.Popen([WEFT_BIN, self.subcommand, "--port", "0", "--threads", "2"],
                                stdin=subprocess.DEVNULL, stdout=w, stderr=subprocess.DEVNULL)
        os.close(w)
        try:
            self.wait_until_it_listens(proc)
            wait_until_waiting_in_poll(proc.pid)  # the readiness line's write waits for room
            proc.send_signal(signal.SIGTERM)
            try:
                status = proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                status = None
            self.assertEqual(status, 0, "exit status after SIGTERM (None: still running)")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            os.close(r)

    def test_started_with_stdout_closed_it_keeps_descriptor_1_for_dev_null(self):
        """Started with stdout closed, the server took descriptor 1 for its
        own (an epoll instance, then perhaps a client's socket), and what it
        printed there, the readiness line or `--access-log -`, went into it
        (found by review)."""
        proc = subprocess.Popen([WEFT_BIN, self.subcommand, "--port", "0", "--threads", "1"],
                                stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=lambda: os.close(1))
        try:
            self.wait_until_it_listens(proc)
            self.assertEqual(os.readlink(f"/proc/{proc.pid}/fd/1"), "/dev/null")
        finally:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)

    def test_a_request_that_came_before_the_stop_is_answered(self):
        """A stop answers what its clients asked before it. Paused (SIGSTOP)
        while clients connect and ask, and while the signal comes, the
        server accepts them in the same turn as it begins to stop: qa then
        read their questions only to discard them, and closed with a FIN
        and no answer (found by review). A client may instead be refused
        with a reset, still queued when the listener closed: it then knows."""
        server = start_weft(self, self.subcommand, "--threads", "1")
        clients = []
        os.kill(server.pid, signal.SIGSTOP)
        try:
            wait_until_stopped(server.pid)
            for _ in range(32):
                clients.append(server.connect(timeout=STOP_TIMEOUT))
                clients[-1].sendall(self.request)
            server.send_signal(signal.SIGTERM)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        answered = 0
        for i, c in enumerate(clients):
            with c:
                got, reset = b"", False
                try:
                    while chunk := c.recv(1 << 16):
                        got += chunk
                except ConnectionResetError:
                    reset = True
                if not reset:
                    self.assertTrue(got.startswith(bytes(self.reply)[:12]),
                                    f"client {i}: {got[:80]!r}, then a clean close")
                    answered += 1
        # The HTTP subcommands serve their accept queue at the stop, so there
        # every client reset passed too (found by an audit). echo and qa
        # reset what they had yet to accept, which may be every one of them.
        if self.subcommand in ("hello", "inspect", "files"):
            self.assertEqual(answered, len(clients), "a client in the accept queue was reset")
        self.assertEqual(server.wait(), 0, server.describe())

    def test_the_port_is_released_after_a_graceful_stop(self):
        server = start_weft(self, self.subcommand)
        self.assertEqual(server.stop(signal.SIGINT), 0, server.describe())
        with socket.socket() as s:
            s.settimeout(2.0)
            with self.assertRaises(ConnectionRefusedError):
                s.connect((server.host, server.port))


class IdleTimeoutContract:
    """--idle-timeout, for the line servers (echo, qa): a connection on
    which nothing moves for that long (no request from the client, no reply
    taken by it) is closed, so a vanished peer, one whose FIN never came,
    cannot hold its descriptor and buffers for good (found by an audit:
    there was no timeout at all). A client still owed replies it does not
    take is reset, so that it knows it was cut. Mixed into a TestCase with
    subcommand, request and reply as in ProcessContract."""

    IDLE = 0.5

    def start(self):
        return start_weft(self, self.subcommand, "--idle-timeout", str(self.IDLE))

    def test_the_help_gives_the_idle_timeout_and_its_default(self):
        out = weft_cli(self.subcommand, "--help").stdout.decode()
        self.assertRegex(out, r"--idle-timeout[^\n]*=300")

    def test_a_connection_on_which_nothing_moves_is_closed(self):
        server = self.start()
        with server.connect(timeout=5.0) as s:
            started = time.monotonic()
            self.assertEqual(s.recv(1), b"", "closed with a FIN")
            self.assertGreater(time.monotonic() - started, self.IDLE * 0.8)

    def test_a_client_that_keeps_asking_is_not_closed(self):
        server = self.start()
        with server.connect(timeout=5.0) as s:
            for _ in range(int(4 * self.IDLE / 0.2)):
                self.round_trip(s)
                time.sleep(0.2)
            self.round_trip(s)

    def test_a_client_that_takes_its_replies_slowly_is_not_cut(self):
        """Taking replies is progress, however slowly. The client takes
        1 KiB every 50 ms, through a receive buffer of a few KiB, for six
        timeouts: the server waits for room all that while (the kernel
        wakes a writer only once a third of its send buffer is free, here
        hundreds of KiB), and was cut at the first timeout, the progress
        the kernel's queue showed not counting (found by review)."""
        server = self.start()
        count = 8 * 2**20 // len(self.request)
        s = socket.socket(server.family, socket.SOCK_STREAM)
        with s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
            s.settimeout(10.0)
            s.connect((server.host, server.port))
            sender = BackgroundSender(s, self.request * count, shutdown=True)
            wait_until_blocked(s)
            got = 0
            slow_until = time.monotonic() + 6 * self.IDLE
            while time.monotonic() < slow_until:
                got += len(s.recv(1024))
                time.sleep(0.05)
            while chunk := s.recv(1 << 16):
                got += len(chunk)
            sender.join()
        self.assertIsNone(sender.error)
        self.assertEqual(got, count * len(self.reply))

    def test_a_client_that_stops_taking_its_replies_is_reset(self):
        server = self.start()
        with server.connect(timeout=10.0) as s:
            sender = BackgroundSender(s, self.request * (8 * 2**20 // len(self.request)))
            wait_until_blocked(s)
            # Taking nothing (reading would be progress). Cut between one
            # and two timeouts after the last progress, plus qa's sweep.
            time.sleep(4 * self.IDLE)
            reset = False
            try:
                while s.recv(1 << 16):
                    pass
            except ConnectionResetError:
                reset = True
            sender.join()
        # The socket reports a reset once, to whichever call comes first:
        # here the receiver's, or the sender's still blocked in sendall.
        self.assertTrue(reset or isinstance(sender.error, ConnectionResetError),
                        f"ended without a reset (sender: {sender.error!r})")
