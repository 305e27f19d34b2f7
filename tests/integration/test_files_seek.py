"""Seeking in a video in a real browser (issue 4: "Range must work for
video seeking in a browser"): headless Chromium, driven over the DevTools
protocol (chromium.py), seeks a <video> element near the end of a 23 MB
file that `weft files` serves, and the test reads from the browser's
network events that it got the bytes there with a Range request, answered
206 with a matching Content-Range.

A <video> element loads every media file the same way; this one is a WAV of
silence, which needs no encoder to make.
"""

import os
import struct
import tempfile
import time
import unittest

from chromium import DevTools, require_chromium
from httpwire import start_http

WAV_RATE, WAV_CHANNELS = 48000, 2
WAV_BYTES_PER_SECOND = WAV_RATE * WAV_CHANNELS * 2  # 16-bit samples
SECONDS, SEEK_TO = 120, 100


def write_silence_wav(path, seconds):
    """A PCM WAV of `seconds` of silence, sparse on disk. Returns its size."""
    data = WAV_BYTES_PER_SECOND * seconds
    head = (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, WAV_CHANNELS, WAV_RATE, WAV_BYTES_PER_SECOND, WAV_CHANNELS * 2, 16)
            + b"data" + struct.pack("<I", data))
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + data)
    return len(head) + data


# preload="metadata": the browser reads the start of the file, not all of
# it, so the bytes at SEEK_TO are not there until it asks for them.
SEEK_PAGE = f"""<!doctype html><title>seek</title>
<video id="v" preload="metadata" src="long.wav"></video><p id="out">not seeked</p>
<script>
const v = document.getElementById("v"), out = document.getElementById("out");
v.addEventListener("loadedmetadata", () => {{ v.currentTime = {SEEK_TO}; }});
v.addEventListener("seeked", () => {{
  out.textContent = `seeked to ${{v.currentTime.toFixed(1)}} of ${{v.duration.toFixed(1)}}, readyState ${{v.readyState}}`;
}});
v.addEventListener("error", () => {{ out.textContent = `media error ${{v.error && v.error.code}}`; }});
</script>
"""


def lower_keys(headers):
    return {k.lower(): v for k, v in (headers or {}).items()}


def range_start(value):
    """The first byte of a "bytes=N-" or "bytes=N-M" Range."""
    return int(value.removeprefix("bytes=").split("-")[0])


class BrowserSeeks(unittest.TestCase):
    def setUp(self):
        require_chromium()
        site = tempfile.TemporaryDirectory(prefix="weft-seek-")
        self.addCleanup(site.cleanup)
        self.size = write_silence_wav(os.path.join(site.name, "long.wav"), SECONDS)
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
        self.assertTrue(shown.startswith(f"seeked to {SEEK_TO}.0 of {SECONDS}.0"), shown)
        self.assertGreaterEqual(int(shown.rsplit(" ", 1)[1]), 2, "no data at the new position")  # HAVE_CURRENT_DATA

        # The requests for the second half of the file (the browser starts a
        # little before the bytes at SEEK_TO): each Range from the request
        # the browser sent, each answer as its media player got it. An
        # answer may come after the page saw the seek, so read on until
        # every such request has one.
        def seeks(events):
            asked, answered = {}, {}
            for event in events:
                method, params = event.get("method"), event.get("params", {})
                if method == "Network.requestWillBeSent" and params["request"]["url"].endswith("/long.wav"):
                    wanted = lower_keys(params["request"].get("headers")).get("range", "")
                    if wanted.startswith("bytes=") and range_start(wanted) >= self.size // 2:
                        asked[params["requestId"]] = range_start(wanted)
                elif method == "Network.responseReceived":
                    response = params["response"]
                    answered[params["requestId"]] = (response["status"],
                                                     lower_keys(response.get("headers")).get("content-range", ""))
            return asked, answered

        def all_answered(events):
            asked, answered = seeks(events)
            return asked and asked.keys() <= answered.keys()
        browser.wait_for_events(all_answered, "a Range request for the second half of the file, and its answer")
        asked, answered = seeks(browser.events)
        for request, start in asked.items():
            status, content_range = answered[request]
            self.assertEqual(status, 206, (start, answered[request]))
            self.assertEqual(content_range.split("-")[0], f"bytes {start}", (start, answered[request]))
            self.assertTrue(content_range.endswith(f"/{self.size}"), (start, answered[request]))


if __name__ == "__main__":
    unittest.main()
