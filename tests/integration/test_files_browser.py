"""A real browser against `weft files`: headless Chromium loads the demo
site (examples/site), runs its script (which fetches data.json and writes it
into the page) and loads its image; then it takes a screenshot of a
directory listing, saved under the build folder. (Seeking in a video is
test_files_seek.py.)

Every run is bounded: --virtual-time-budget lets the page's fetch finish
without waiting on the wall clock, and a Chromium that overstays its
timeout is killed with its whole process group (chromium.py).
"""

import os
import unittest
import zlib

from chromium import require_chromium, run_chromium
from httpwire import start_http

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "site"))
BUILD_DIR = os.environ.get("WEFT_BUILD_DIR") or os.path.normpath(os.path.join(HERE, "..", "..", "build"))


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
        require_chromium()

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


if __name__ == "__main__":
    unittest.main()
