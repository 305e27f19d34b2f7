"""Headless Chromium for the browser tests, always bounded: one run that
prints what it was asked for (run_chromium), or one driven over the DevTools
protocol (DevTools). A Chromium that overstays its timeout is killed with
its whole process group, helpers (zygote, GPU, renderers) and all.

Chromium comes from Debian's `chromium` package (scripts/deps.sh test
installs it).
"""

import fcntl
import json
import os
import select
import signal
import subprocess
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
# A cold start on a loaded 2-core machine takes seconds; three runs at this
# bound stay inside a test file's 240 s ctest timeout (at 90 they did not,
# and a ctest kill skips the killpg below).
CHROMIUM_TIMEOUT = 60


def require_chromium():
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError(f"{CHROMIUM} is missing: scripts/deps.sh test installs Debian's chromium package")


def chromium_argv(profile, *args):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", *args]


def end_group(proc):
    """Kills the process group that `proc` (started with
    start_new_session) leads: its helpers may outlive the browser. Nothing
    else is touched."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_chromium(*args):
    """Runs headless Chromium with a fresh profile; returns its stdout."""
    with tempfile.TemporaryDirectory(prefix="weft-chromium-") as profile:
        proc = subprocess.Popen(chromium_argv(profile, *args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            end_group(proc)
            proc.communicate()
            raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT} s")
        finally:
            end_group(proc)
        if proc.returncode != 0:
            raise AssertionError(f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
        return out.decode("utf-8", errors="replace")


class DevTools:
    """Headless Chromium driven over --remote-debugging-pipe: the browser
    reads commands on its fd 3 and writes answers and events on fd 4, each a
    JSON message ended by a NUL. Only the standard library is needed. Every
    read is bounded by one deadline, CHROMIUM_TIMEOUT from the start."""

    def __init__(self, test):
        self.profile = tempfile.TemporaryDirectory(prefix="weft-chromium-")
        test.addCleanup(self.profile.cleanup)
        self.deadline = time.monotonic() + CHROMIUM_TIMEOUT
        self.next_id, self.pending, self.events, self.proc = 0, b"", [], None
        # Each end sits above fd 4, so that placing the browser's ends at 3
        # and 4 moves nothing it needs.
        def high(fd):
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return moved
        commands_r, self.commands = map(high, os.pipe())
        self.answers, answers_w = map(high, os.pipe())
        self.fds = [commands_r, self.commands, self.answers, answers_w]
        test.addCleanup(self.close)

        def browser_ends():
            # dup2 clears close-on-exec on 3 and 4. Not close_fds=True: it
            # runs after this and would close them again (pass_fds names
            # descriptors of this process, which 3 and 4 need not be). The
            # descriptors Python opens are close-on-exec (PEP 446), so
            # Chromium gets 3 and 4 and only what this process inherited
            # open.
            os.dup2(commands_r, 3)
            os.dup2(answers_w, 4)
        self.proc = subprocess.Popen(chromium_argv(self.profile.name, "--remote-debugging-pipe", "about:blank"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=browser_ends, close_fds=False,
                                     start_new_session=True)
        for fd in (commands_r, answers_w):
            os.close(fd)
            self.fds.remove(fd)

    def read_message(self, why):
        """The next message from the browser, waiting at most until the
        deadline."""
        while b"\0" not in self.pending:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT} s ({why})")
            chunk = os.read(self.answers, 65536)
            if not chunk:
                raise AssertionError(f"chromium closed its pipe ({why})")
            self.pending += chunk
        raw, _, self.pending = self.pending.partition(b"\0")
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        """Sends one command; returns its result, keeping the events that
        came before it in self.events."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.read_message(method)
            if reply.get("id") != self.next_id:
                self.events.append(reply)
            elif "error" in reply:
                raise AssertionError(f"{method}: {reply['error']}")
            else:
                return reply["result"]

    def wait_for_events(self, done, why):
        """Reads events into self.events until done(self.events) holds."""
        while not done(self.events):
            self.events.append(self.read_message(why))

    def open(self, url):
        """A new page at `url`, its network events recorded; the session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Network.enable", {}, session)
        self.call("Page.navigate", {"url": url}, session)
        return session

    def value(self, session, expression):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                         session)["result"].get("value")

    def close(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=5)  # the closed pipe ends the browser
        except subprocess.TimeoutExpired:
            pass
        end_group(self.proc)
        self.proc.wait()
