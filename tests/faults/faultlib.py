"""Shared by the fault tests: the integration helpers (weftproc starts the
binary by path and cleans up by PID), plus what every fault test needs on
top: many sockets from one asyncio loop, /proc figures of the server, and
the one-line FIGURE the README table quotes.
"""

import asyncio
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from weftproc import memory_kib, start_weft  # noqa: E402,F401  (re-exported for the tests)

# One request and its well-known answers.
HELLO_GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
HELLO_BODY = b"Hello, world!"


def raise_nofile(want):
    """Many client sockets live in this one process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def figure(name, text):
    """The test's figure: one line, printed where ctest shows it."""
    line = f"FIGURE {name}: {text}"
    print(line, flush=True)
    return line


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


async def read_response(reader):
    """(status, headers dict lower-cased, body) of one Content-Length response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def open_conn(server, limit=1 << 20):
    return await asyncio.open_connection(server.host, server.port, limit=limit)


async def exchange(reader, writer, raw):
    """One keep-alive round trip; the reply's (status, headers, body)."""
    writer.write(raw)
    return await read_response(reader)


def close_quietly(writer):
    try:
        writer.transport.abort()
    except Exception:
        pass


class Meter:
    """Counts and times well-formed requests of the clients that must keep
    being served while a fault runs."""

    def __init__(self):
        self.ok = 0
        self.errors = []
        self.latencies = []
        self.started = []  # when each measured request began (monotonic)

    async def keep_alive_client(self, server, raw, expect_body, stop_at, pause=0.0):
        reader = writer = None
        while time.monotonic() < stop_at:
            try:
                if writer is None:
                    reader, writer = await open_conn(server)
                t0 = time.perf_counter()
                status, headers, body = await asyncio.wait_for(exchange(reader, writer, raw), 10)
                self.latencies.append(time.perf_counter() - t0)
                self.started.append(time.monotonic())
                if status != 200 or (expect_body is not None and body != expect_body):
                    self.errors.append(f"status {status} body {body[:60]!r}")
                else:
                    self.ok += 1
                if headers.get("connection", "").lower() == "close":
                    close_quietly(writer)
                    writer = None
            except Exception as e:  # any failure of a well-formed client counts
                self.errors.append(repr(e))
                if writer is not None:
                    close_quietly(writer)
                writer = None
            if pause:
                await asyncio.sleep(pause)
        if writer is not None:
            close_quietly(writer)

    def worst_by_second(self, since):
        """The slowest request of each second after `since`, in ms: where a
        p99 comes from."""
        worst = {}
        for t, lat in zip(self.started, self.latencies):
            k = int(t - since)
            worst[k] = max(worst.get(k, 0.0), lat * 1000.0)
        return [round(worst[k], 1) for k in sorted(worst)]

    def p99_ms(self):
        return percentile(self.latencies, 99) * 1000.0


class _Address:
    def __init__(self, server):
        self.host, self.port = server.host, server.port


def _meter_child(address, raw, expect_body, seconds, clients, pause, conn):
    async def main():
        meter = Meter()
        stop_at = time.monotonic() + seconds
        await asyncio.gather(*(meter.keep_alive_client(address, raw, expect_body, stop_at, pause)
                               for _ in range(clients)))
        return meter

    meter = asyncio.run(main())
    conn.send((meter.ok, meter.errors[:20], len(meter.errors), meter.latencies, meter.started))
    conn.close()


class MeterProcess:
    """A Meter in a process of its own: the attack's Python work (thousands
    of sockets in the test's loop) must not show up as server latency."""

    def __init__(self, server, raw, expect_body, seconds, clients, pause=0.0):
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_meter_child,
                                 args=(_Address(server), raw, expect_body, seconds, clients, pause, send),
                                 daemon=True)
        self._proc.start()
        self._timeout = seconds + 30

    def result(self):
        """A Meter with the child's counts; the child is killed by PID if late."""
        meter = Meter()
        try:
            if not self._recv.poll(self._timeout):
                raise AssertionError("the meter process sent nothing")
            meter.ok, meter.errors, n_errors, meter.latencies, meter.started = self._recv.recv()
            meter.errors += ["..."] * (n_errors - len(meter.errors))
        finally:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
        return meter


def socket_count(pid):
    """Open sockets of a process: its connections plus its listeners (other
    descriptors, such as files a cache keeps open, are not counted)."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed while we looked
    return n
