"""A real browser against `weft files`: headless Chromium loads the demo
site (examples/site), runs its script (which fetches data.json and writes it
into the page) and loads its image; then it takes a screenshot of a
directory listing, saved under the build folder. And a <video> element
seeks to near the end of a 23 MB file, which the browser does with a Range
request (issue 4: "Range must work for video seeking in a browser"), watched
through the DevTools protocol.

Chromium comes from Debian's `chromium` package (scripts/deps.sh test
installs it). Every run is bounded: --virtual-time-budget lets the page's
fetch finish without waiting on the wall clock, and a Chromium that
overstays its timeout is killed with its whole process group.
"""

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

from httpwire import start_http

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "site"))
BUILD_DIR = os.environ.get("WEFT_BUILD_DIR") or os.path.normpath(os.path.join(HERE, "..", "..", "build"))
CHROMIUM = "/usr/bin/chromium"
# A cold start on a loaded 2-core machine takes seconds; three runs at this
# bound stay inside the test's 240 s ctest timeout (at 90 they did not, and a
# ctest kill skips the killpg below).
CHROMIUM_TIMEOUT = 60


def chromium_argv(profile, *args):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", *args]


def run_chromium(*args):
    """Runs headless Chromium with a fresh profile; returns its stdout."""
    with tempfile.TemporaryDirectory(prefix="weft-chromium-") as profile:
        argv = chromium_argv(profile, *args)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT} s")
        finally:
            # Helpers (zygote, GPU, renderers) may outlive the browser: end
            # the group that this run started, and nothing else.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc.returncode != 0:
            raise AssertionError(f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
        return out.decode("utf-8", errors="replace")


class DevTools:
    """Headless Chromium driven over --remote-debugging-pipe: the browser
    reads commands on its fd 3 and writes answers and events on fd 4, each a
    JSON message ended by a NUL. Only the standard library is needed."""

    def __init__(self, test):
        self.profile = tempfile.TemporaryDirectory(prefix="weft-chromium-")
        test.addCleanup(self.profile.cleanup)
        # Each end sits above fd 4, so that placing the browser's ends at 3
        # and 4 (which clears close-on-exec) moves nothing it needs.
        def high(fd):
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return moved
        commands_r, self.commands = map(high, os.pipe())
        self.answers, answers_w = map(high, os.pipe())

        def browser_ends():
            os.dup2(commands_r, 3)
            os.dup2(answers_w, 4)
        self.proc = subprocess.Popen(chromium_argv(self.profile.name, "--remote-debugging-pipe", "about:blank"),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=browser_ends, close_fds=False,
                                     start_new_session=True)
        os.close(commands_r)
        os.close(answers_w)
        test.addCleanup(self.close)
        self.deadline = time.monotonic() + CHROMIUM_TIMEOUT
        self.next_id, self.pending, self.events = 0, b"", []

    def call(self, method, params=None, session=None):
        """Sends one command; returns its result, keeping the events that
        came before it in self.events."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT} s")
                if select.select([self.answers], [], [], left)[0]:
                    chunk = os.read(self.answers, 65536)
                    if not chunk:
                        raise AssertionError(f"chromium closed its pipe during {method}")
                    self.pending += chunk
            raw, _, self.pending = self.pending.partition(b"\0")
            reply = json.loads(raw)
            if reply.get("id") != self.next_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise AssertionError(f"{method}: {reply['error']}")
            return reply["result"]

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
        for fd in (self.commands, self.answers):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)  # the closed pipe ends the browser
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


WAV_RATE, WAV_CHANNELS = 48000, 2
WAV_BYTES_PER_SECOND = WAV_RATE * WAV_CHANNELS * 2  # 16-bit samples


def write_silence_wav(path, seconds):
    """A PCM WAV of `seconds` of silence, sparse on disk. Returns the
    offset of its samples."""
    data = WAV_BYTES_PER_SECOND * seconds
    head = (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, WAV_CHANNELS, WAV_RATE, WAV_BYTES_PER_SECOND, WAV_CHANNELS * 2, 16)
            + b"data" + struct.pack("<I", data))
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + data)
    return len(head)


SEEK_PAGE = """<!doctype html><title>seek</title>
<video id="v" preload="metadata" src="long.wav"></video><p id="out">not seeked</p>
<script>
const v = document.getElementById("v"), out = document.getElementById("out");
v.addEventListener("loadedmetadata", () => { v.currentTime = 100; });
v.addEventListener("seeked", () => {
  out.textContent = `seeked to ${v.currentTime.toFixed(1)} of ${v.duration.toFixed(1)}, readyState ${v.readyState}`;
});
v.addEventListener("error", () => { out.textContent = `media error ${v.error && v.error.code}`; });
</script>
"""


def png_info(path):
    """(width, height, distinct scanlines) of a PNG, with zlib only."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
            bytes_per_pixel = {2: 3, 6: 4, 0: 1, 4: 2}[body[9]] * (body[8] // 8)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * bytes_per_pixel
    rows = {raw[i * stride + 1:(i + 1) * stride] for i in range(height)}
    return width, height, len(rows)


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError(f"{CHROMIUM} is missing: scripts/deps.sh test installs Debian's chromium package")

    def setUp(self):
        self.server = start_http(self, "files", "--root", SITE, "--threads", "1")
        self.base = f"http://{self.server.host}:{self.server.port}"

    def test_the_demo_page_runs_its_script_and_loads_its_image(self):
        dom = run_chromium("--virtual-time-budget=10000", "--dump-dom", self.base + "/")
        self.assertIn("weft files", dom)
        self.assertIn("script ran: 3 items from data.json", dom)
        self.assertIn("weft: the thread woven across them", dom)
        self.assertIn("image loaded: 24x24", dom)
        self.assertNotIn("script not run", dom)

    def test_the_listing_renders_and_is_saved_as_a_screenshot(self):
        dom = run_chromium("--virtual-time-budget=5000", "--dump-dom", self.base + "/docs/")
        self.assertIn("Index of /docs/", dom)
        self.assertIn('href="more%20files/"', dom)
        self.assertIn("notes.md", dom)
        shots = os.path.join(BUILD_DIR, "screenshots")
        os.makedirs(shots, exist_ok=True)
        path = os.path.join(shots, "listing.png")
        if os.path.exists(path):
            os.unlink(path)
        run_chromium("--virtual-time-budget=5000", "--hide-scrollbars", "--window-size=1024,640",
                     f"--screenshot={path}", self.base + "/docs/")
        self.assertTrue(os.path.exists(path), "no screenshot written")
        width, height, distinct_rows = png_info(path)
        self.assertEqual((width, height), (1024, 640))
        # A blank page has one distinct scanline; a rendered table, dozens.
        self.assertGreater(distinct_rows, 20, "the screenshot looks blank")



class BrowserSeeks(unittest.TestCase):
    """Seeking in a media element: the browser asks for the bytes at the
    new position with a Range request, and plays from what comes back. A
    <video> element loads every media file the same way; the file is a WAV
    of silence, which needs no encoder to make."""

    def setUp(self):
        if not os.access(CHROMIUM, os.X_OK):
            raise AssertionError(f"{CHROMIUM} is missing: scripts/deps.sh test installs Debian's chromium package")
        site = tempfile.TemporaryDirectory(prefix="weft-seek-")
        self.addCleanup(site.cleanup)
        self.samples_at = write_silence_wav(os.path.join(site.name, "long.wav"), 120)
        with open(os.path.join(site.name, "index.html"), "w") as f:
            f.write(SEEK_PAGE)
        self.server = start_http(self, "files", "--root", site.name, "--threads", "1")
        self.base = f"http://{self.server.host}:{self.server.port}"

    def test_a_video_element_seeks_near_the_end_by_a_range_request(self):
        browser = DevTools(self)
        page = browser.open(self.base + "/")
        shown = ""
        while not shown.startswith(("seeked", "media error")):
            time.sleep(0.05)
            shown = browser.value(page, "document.getElementById('out')?.textContent ?? ''")
        self.assertTrue(shown.startswith("seeked to 100.0 of 120.0"), shown)
        self.assertGreaterEqual(int(shown.rsplit(" ", 1)[1]), 2, "no data at the new position")  # HAVE_CURRENT_DATA

        # The second half of the file was asked for with a Range (the
        # browser starts a little before the bytes at 100 s), and came as a
        # 206 whose Content-Range starts where the Range did.
        at_100s = self.samples_at + 100 * WAV_BYTES_PER_SECOND
        asked, answered = {}, {}  # request id: (Range, conditional?); (status, Content-Range)
        for event in browser.events:
            params = event.get("params", {})
            headers = {k.lower(): v for k, v in params.get("headers", {}).items()}
            if event.get("method") == "Network.requestWillBeSentExtraInfo" and "range" in headers:
                revalidates = "if-none-match" in headers or "if-modified-since" in headers
                asked[params["requestId"]] = (headers["range"], revalidates)
            elif event.get("method") == "Network.responseReceivedExtraInfo":
                answered[params["requestId"]] = (params["statusCode"], headers.get("content-range", ""))
        seeks = []
        for request, (wanted, revalidates) in asked.items():
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= at_100s // 2 and request in answered:
                seeks.append((start, revalidates, *answered[request]))
        self.assertTrue(seeks, f"no Range request for the second half of the file: {asked}")
        self.assertIn(206, [status for _, _, status, _ in seeks], seeks)
        for start, revalidates, status, content_range in seeks:
            # Or the browser's cache asked whether bytes it holds are
            # still good (If-None-Match with the Range), and they are.
            if status == 304 and revalidates:
                continue
            self.assertEqual(status, 206, seeks)
            self.assertTrue(content_range.startswith(f"bytes {start}-"), seeks)
            self.assertTrue(content_range.endswith(f"/{self.samples_at + 120 * WAV_BYTES_PER_SECOND}"), seeks)


if __name__ == "__main__":
    unittest.main()
