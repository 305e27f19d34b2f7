"""`weft files`: a static file server that never serves outside its root,
with the HTTP a browser relies on: Content-Type, ETag / Last-Modified and
304, byte ranges, index.html and listings, 301 to the slash form, 405.

Every test talks to the real binary over loopback, most through raw sockets
so the target arrives exactly as written.
"""

import email.utils
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

from files_tree import HUGE_MARK, HUGE_MARK_AT, HUGE_SIZE, MIB, Tree, get, raw_get, stream_sha256
from httpwire import DateMaskedReply, ResponseReader, assert_alive, start_http
from server_contract import ProcessContract
from weftproc import SANITIZED, WeftProcess, flood_kib_per_connection, start_weft, start_weft_for_class, weft_cli

CURL_TIMEOUT = 20

NOT_FOUND_PAGE = (b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>404 Not Found</title>"
                  b"</head><body><h1>404 Not Found</h1></body></html>\n")


class FilesProcess(ProcessContract, unittest.TestCase):
    """The process contract every subcommand keeps, on a 404 exchange (the
    server runs in this directory)."""
    subcommand = "files"
    request = b"GET /no-such-file HTTP/1.1\r\nHost: x\r\n\r\n"
    reply = DateMaskedReply(b"HTTP/1.1 404 Not Found\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                            b"Content-Length: %d\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                            % len(NOT_FOUND_PAGE) + NOT_FOUND_PAGE)
    partial_request = b"GET / HTTP/1.1\r\nHost: x\r\n"


class FilesCommandLine(unittest.TestCase):
    def test_help_lists_the_files_flags_and_warns_about_dotfiles(self):
        out = weft_cli("files", "--help")
        self.assertEqual(out.returncode, 0)
        text = out.stdout.decode()
        for flag in ("--root", "--dotfiles", "--cache-control", "--no-file-cache", "--threads", "--write-timeout"):
            self.assertIn(flag, text)
        self.assertRegex(text, r"--dotfiles[^\n]*\n?[^\n]*LOOSENS SAFETY")

    def test_a_missing_root_is_refused_with_a_nonzero_exit(self):
        out = weft_cli("files", "--port", "0", "--root", "/no/such/dir")
        self.assertNotEqual(out.returncode, 0)

    def test_a_cache_control_with_a_control_byte_is_refused_as_a_usage_error(self):
        # Checked once when the server starts, then sent unchecked: a bad
        # value must stop it, not turn every file request into a 500. A bad
        # value is a usage error, 2, as the README says (it exited 1, found
        # by review).
        out = weft_cli("files", "--port", "0", "--root", ".", "--cache-control", "max-age=1\r\nSet-Cookie: x")
        self.assertEqual(out.returncode, 2)
        self.assertIn(b"--cache-control", out.stderr)
        self.assertIn(b"control byte", out.stderr)
        self.assertNotIn(b"listening", out.stdout)

    def test_an_empty_or_padded_cache_control_is_refused_as_a_usage_error(self):
        # `--cache-control "$UNSET"` sent none without a word, as
        # `--access-log ""` no longer does; " x " was sent with its spaces,
        # which no field value has (RFC 9110 §5.5). Found by review.
        for bad in ("", " max-age=60", "max-age=60 ", "\tno-cache"):
            with self.subTest(value=bad):
                out = weft_cli("files", "--port", "0", "--root", ".", "--cache-control", bad)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertIn(b"--cache-control", out.stderr)
                self.assertNotIn(b"listening", out.stdout)

    def test_the_default_port_is_8000(self):
        self.assertIn("8000", weft_cli("files", "--help").stdout.decode())


class FilesFixture(unittest.TestCase):
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tree = Tree()
        cls.addClassCleanup(cls.tree.remove)
        cls.server = start_weft_for_class(cls, "files", "--root", cls.tree.root, "--threads", "2",
                                          *cls.server_args)

    def tearDown(self):
        assert_alive(self.server)

    def assertNoSecret(self, response, what):
        self.assertNotIn(self.tree.secret, response.body, what)
        self.assertNotIn(self.tree.top.encode(), response.body, what)
        self.assertNotIn(self.tree.top.encode(), response.head, what)


# Hostile targets: each must be refused (400, 403 or 404), and the secret
# outside the root must never come back.
TRAVERSAL = [
    b"/../secret.txt", b"/../../secret.txt", b"/./../secret.txt", b"/sub/../../secret.txt",
    b"/sub/../sub/../../secret.txt", b"/..", b"/../", b"/sub/..%2f..%2fsecret.txt",
    b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt", b"/%2e%2e%2fsecret.txt", b"/.%2e/secret.txt",
    b"/%2e./secret.txt", b"/sub/%2e%2e/%2e%2e/secret.txt", b"/%252e%252e/secret.txt",
    b"/..%2fsecret.txt", b"/..%2Fsecret.txt", b"/%2f..%2fsecret.txt", b"/sub%2f..%2f..%2fsecret.txt",
    b"/..%5csecret.txt", b"/..%5Csecret.txt", b"/..\\secret.txt", b"/sub\\..\\..\\secret.txt",
    b"/%c0%ae%c0%ae/secret.txt", b"/%c0%ae%c0%ae%c0%afsecret.txt", b"/%e0%80%ae%e0%80%ae/secret.txt",
    b"/%f0%80%80%ae%f0%80%80%ae/secret.txt", b"/%c1%9c..%c1%9csecret.txt", b"/..%c0%afsecret.txt",
    b"/..%00/secret.txt", b"/one.bin%00.html", b"/%00", b"/sub/%0a", b"/%0d%0a", b"/%7f",
    b"/link_out", b"/link_abs", b"/link_up/secret.txt", b"/link_up/root/one.bin", b"/link_up",
    b"/link_dir/../../secret.txt", b"/sub/../link_out", b"/.hidden", b"/.git/config", b"/%2ehidden",
    b"/%2egit/config", b"/sub/.%2e/.%2e/secret.txt", b"http://x/../secret.txt", b"http://x/%2e%2e/secret.txt",
    b"//../secret.txt", b"///..//..//secret.txt", b"/%", b"/%zz", b"/%2", b"/fifo",
]


class Traversal(FilesFixture):
    def test_the_corpus_is_large(self):
        self.assertGreaterEqual(len(TRAVERSAL), 40)

    def test_no_hostile_target_escapes_the_root(self):
        for target in TRAVERSAL:
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertIn(r.status, (400, 403, 404), r)
                self.assertNoSecret(r, target)

    def test_dot_segments_within_the_root_are_applied(self):
        # The path is normalized (RFC 3986 §5.2.4), as nginx does: a ".."
        # that stays beneath the root names what it resolves to. Only one
        # that would climb above the root is refused (the corpus above).
        inner = b"inner"  # files_tree.py
        for target, body in ((b"/sub/deeper/../inner.txt", inner), (b"/sub/%2e%2e/one.bin", b"x"),
                             (b"/link_dir/../sub/./inner.txt", inner), (b"/x/../one.bin", b"x")):
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertEqual((r.status, r.body), (200, body))
        # A final ".." names a directory through the redirect to the slash
        # form: a listing served at "/sub/deeper/.." would resolve its links
        # against "/sub/deeper/". The redirect names the path served, as
        # nginx's does; at "/sub/deeper/../" links resolve to "/sub/" too.
        moved = raw_get(self.server, b"/sub/deeper/..")
        self.assertEqual((moved.status, moved.header("Location")), (301, "/sub/"))
        listing = raw_get(self.server, b"/sub/deeper/../")
        self.assertEqual(listing.status, 200)
        self.assertIn(b'href="inner.txt"', listing.body)

    def test_error_pages_are_small_html_without_paths_or_errno_text(self):
        for target, status in ((b"/missing", 404), (b"/link_out", 403), (b"/fifo", 403), (b"/%2e%2e/x", 400),
                               (b"/" + b"a" * 256, 404)):  # longer than any file name
            with self.subTest(target=target):
                r = raw_get(self.server, target)
                self.assertEqual(r.status, status)
                self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
                self.assertLess(len(r.body), 300)
                self.assertRegex(r.body, rb"<h1>%d " % status)
                for leak in (b"/tmp", b"root", b"No such file", b"Permission denied", b"errno"):
                    self.assertNotIn(leak, r.body)

    def test_symlinks_inside_the_root_are_followed(self):
        self.assertEqual(get(self.server, "/link_in").body, b"x")
        self.assertEqual(get(self.server, "/link_dir/inner.txt").body, b"inner")
        # An absolute link into the root, as os.symlink(os.path.join(root, ...)) makes.
        self.assertEqual(get(self.server, "/link_abs_in").body, b"inner")

    def test_symlinks_leaving_the_root_are_refused(self):
        for target in (b"/link_out", b"/link_abs", b"/link_up/secret.txt"):
            r = raw_get(self.server, target)
            self.assertEqual(r.status, 403, target)
            self.assertNoSecret(r, target)

    def test_a_fifo_is_refused_without_blocking_the_server(self):
        self.assertEqual(get(self.server, "/fifo").status, 403)
        self.assertEqual(get(self.server, "/one.bin").status, 200)


class Files(FilesFixture):
    def test_sizes_round_trip_by_sha256(self):
        for name in ("empty.bin", "one.bin", "mib.bin", "big100.bin"):
            with self.subTest(name=name):
                head, n, digest = stream_sha256(self.server, b"/" + name.encode())
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                self.assertEqual(n, os.path.getsize(self.tree.path(name)))
                self.assertEqual(digest, self.tree.sha256(name))

    def test_a_directory_whose_path_leaves_no_room_for_index_html_is_listed_unless_it_has_one(self):
        # 4,090 bytes beneath the root: its index.html's path passes PATH_MAX,
        # and that lookup's ENAMETOOLONG answered 404 where the 301 to the
        # slash form had led (found by review).
        parts = ["deep"] + ["d" * 200] * 20
        parts.append("e" * (4090 - len("/".join(parts)) - 1))
        rel = "/".join(parts)
        self.assertEqual(len(rel), 4090)
        self.addCleanup(shutil.rmtree, os.path.join(self.tree.root, "deep"))
        fd = os.open(self.tree.root, os.O_RDONLY | os.O_DIRECTORY)
        for part in parts:  # each step relative: the whole path is past PATH_MAX
            os.mkdir(part, dir_fd=fd)
            fd, parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
            os.close(parent)
        self.addCleanup(os.close, fd)

        def put(name, data):
            with open(os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                f.write(data)

        put("f", b"in")
        self.assertEqual(get(self.server, "/" + rel).status, 301)
        listing = get(self.server, "/" + rel + "/")
        self.assertEqual(listing.status, 200, listing.head)
        self.assertIn(b">f</a>", listing.body)
        self.assertEqual(get(self.server, "/" + rel + "/f").body, b"in")
        # An index.html there still hides the listing, though no path can
        # name it (the first fix listed it, and the files beside it).
        put("index.html", b"<p>index</p>")
        hidden = get(self.server, "/" + rel + "/")
        self.assertEqual(hidden.status, 404, hidden.head)
        self.assertNotIn(b">f</a>", hidden.body)

    def test_a_body_sent_with_a_get_is_dropped_not_held(self):
        # A file needs no body. Read whole, a GET carrying 8 MiB held that
        # much until it was all in: 50 such clients took 439 MB (found by
        # review). Past 256 KiB the file comes at once and the connection
        # closes; a small body is read and dropped, and the connection kept.
        with self.server.connect(timeout=5.0) as s:
            s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 8000000\r\n\r\nxyz")
            reader = ResponseReader(s)
            r = reader.read_response()
            self.assertEqual((r.status, r.body), (200, b"x"), r.head)
            self.assertTrue(r.closes(), r.head)
        with self.server.connect(timeout=5.0) as s:
            s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                      b"GET /one.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            reader = ResponseReader(s)
            for _ in range(2):
                r = reader.read_response()
                self.assertEqual((r.status, r.body), (200, b"x"), r.head)
                self.assertFalse(r.closes(), r.head)

    def test_unicode_and_space_names(self):
        self.assertEqual(get(self.server, "/with%20space.txt").body, b"spaced")
        self.assertEqual(get(self.server, "/caf%C3%A9%20%E2%98%95.txt").body, "unicode \u2615".encode())
        # Raw UTF-8 in the target is not valid HTTP (the parser refuses it).
        self.assertEqual(raw_get(self.server, "/caf\u00e9 \u2615.txt".encode()).status, 400)

    def test_content_types(self):
        want = {"page.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8",
                "app.js": "text/javascript; charset=utf-8", "data.json": "application/json",
                "logo.svg": "image/svg+xml", "notes.md": "text/markdown; charset=utf-8",
                "blob.xyz": "application/octet-stream", "mib.bin": "application/octet-stream"}
        for name, ctype in want.items():
            self.assertEqual(get(self.server, "/" + name).header("Content-Type"), ctype, name)

    def test_head_has_the_get_headers_and_no_body(self):
        g = get(self.server, "/mib.bin")
        h = get(self.server, "/mib.bin", method="HEAD")
        self.assertEqual(h.status, 200)
        self.assertEqual(h.body, b"")
        for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"):
            self.assertEqual(h.header(name), g.header(name), name)

    def test_validators(self):
        r = get(self.server, "/one.bin")
        self.assertRegex(r.header("ETag"), r'^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$')
        mtime = int(os.stat(self.tree.path("one.bin")).st_mtime)
        self.assertEqual(email.utils.parsedate_to_datetime(r.header("Last-Modified")).timestamp(), mtime)
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertIsNone(r.header("Cache-Control"))

    def test_files_over_4_gib(self):
        h = get(self.server, "/huge.bin", method="HEAD")
        self.assertEqual(int(h.header("Content-Length")), HUGE_SIZE)
        r = get(self.server, "/huge.bin", headers=[("Range", f"bytes={HUGE_MARK_AT}-{HUGE_MARK_AT + len(HUGE_MARK) - 1}")])
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, HUGE_MARK)
        self.assertEqual(r.header("Content-Range"),
                         f"bytes {HUGE_MARK_AT}-{HUGE_MARK_AT + len(HUGE_MARK) - 1}/{HUGE_SIZE}")
        r = get(self.server, "/huge.bin", headers=[("Range", "bytes=-4")])
        self.assertEqual((r.status, r.body), (206, b"last"))

    def test_ranges_at_the_edges(self):
        with open(self.tree.path("mib.bin"), "rb") as f:
            data = f.read()
        size = len(data)
        cases = [("bytes=0-0", 0, 0), ("bytes=0-", 0, size - 1), (f"bytes={size - 1}-", size - 1, size - 1),
                 ("bytes=-1", size - 1, size - 1), (f"bytes=-{size}", 0, size - 1),
                 (f"bytes=-{size + 10}", 0, size - 1), (f"bytes=10-{size + 10}", 10, size - 1),
                 ("bytes=100-199", 100, 199)]
        for spec, first, last in cases:
            with self.subTest(spec=spec):
                r = get(self.server, "/mib.bin", headers=[("Range", spec)])
                self.assertEqual(r.status, 206)
                self.assertEqual(r.header("Content-Range"), f"bytes {first}-{last}/{size}")
                self.assertEqual(r.body, data[first:last + 1])
        for spec in (f"bytes={size}-", f"bytes={size}-{size + 5}", "bytes=-0"):
            with self.subTest(spec=spec):
                r = get(self.server, "/mib.bin", headers=[("Range", spec)])
                self.assertEqual(r.status, 416)
                self.assertEqual(r.header("Content-Range"), f"bytes */{size}")
        r = get(self.server, "/empty.bin", headers=[("Range", "bytes=0-")])
        self.assertEqual((r.status, r.header("Content-Range")), (416, "bytes */0"))
        for spec in ("bytes=0-1,5-6", "bytes=5-1", "lines=1-2", "bytes=x"):
            with self.subTest(spec=spec):
                r = get(self.server, "/one.bin", headers=[("Range", spec)])
                self.assertEqual((r.status, r.body), (200, b"x"))

    def test_if_range(self):
        # A Last-Modified names one version only once its second has passed
        # (RFC 9110 §8.8.2.2): this file's is a minute old.
        self.tree.write("ranged.bin", os.urandom(100))
        past = time.time() - 60
        os.utime(self.tree.path("ranged.bin"), (past, past))
        g = get(self.server, "/ranged.bin")
        rng = ("Range", "bytes=0-9")
        self.assertEqual(get(self.server, "/ranged.bin", headers=[rng, ("If-Range", g.header("ETag"))]).status, 206)
        self.assertEqual(get(self.server, "/ranged.bin", headers=[rng, ("If-Range", g.header("Last-Modified"))]).status, 206)
        self.assertEqual(get(self.server, "/ranged.bin", headers=[rng, ("If-Range", '"stale"')]).status, 200)
        self.assertEqual(get(self.server, "/ranged.bin", headers=[rng, ("If-Range", "W/" + g.header("ETag"))]).status, 200)

    def test_large_numerals_and_empty_files_in_ranges(self):
        # RFC 9110 §14.1.1: positions past 64 bits are large, not malformed;
        # a suffix range of an empty file is all of it: the whole, a 200.
        cases = [("/page.html", "bytes=0-99999999999999999999999", 206),
                 ("/page.html", "bytes=-99999999999999999999999", 206),
                 ("/page.html", "bytes=99999999999999999999999-", 416),
                 ("/empty.bin", "bytes=-5", 200)]
        for path, spec, status in cases:
            with self.subTest(spec=spec):
                self.assertEqual(get(self.server, path, headers=[("Range", spec)]).status, status)

    def test_304_flows_with_curl(self):
        url = f"http://{self.server.host}:{self.server.port}/page.html"
        head = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", url], capture_output=True,
                              timeout=CURL_TIMEOUT, check=True).stdout.decode()
        etag = re.search(r"(?im)^etag: (.*)\r$", head).group(1)
        last_modified = re.search(r"(?im)^last-modified: (.*)\r$", head).group(1)

        def code(*args):
            out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args, url],
                                 capture_output=True, timeout=CURL_TIMEOUT, check=True)
            return out.stdout.decode()

        self.assertEqual(code("-H", f"If-None-Match: {etag}"), "304")
        self.assertEqual(code("-H", f'If-None-Match: "other", W/{etag}'), "304")
        self.assertEqual(code("-H", "If-None-Match: *"), "304")
        self.assertEqual(code("-H", 'If-None-Match: "other"'), "200")
        self.assertEqual(code("-H", f"If-Modified-Since: {last_modified}"), "304")
        self.assertEqual(code("-H", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT"), "200")
        # If-None-Match wins: a stale tag means 200 whatever the date says.
        self.assertEqual(code("-H", 'If-None-Match: "other"', "-H", f"If-Modified-Since: {last_modified}"), "200")
        # curl's own conditional GET: -z FILE sends If-Modified-Since from its mtime.
        self.assertEqual(code("-z", self.tree.path("page.html")), "304")
        r = get(self.server, "/page.html", headers=[("If-None-Match", etag)])
        self.assertEqual((r.status, r.body, r.header("ETag")), (304, b"", etag))

    def test_if_match_and_if_unmodified_since_give_412_when_false(self):
        # RFC 9110 §13.1.1, §13.1.4, §13.2.2: evaluated before the method; a
        # client resuming a download sends If-Match so as not to stitch
        # together two versions of a file.
        g = get(self.server, "/page.html")
        etag, last_modified = g.header("ETag"), g.header("Last-Modified")
        rng = ("Range", "bytes=0-3")
        cases = [
            ([("If-Match", etag)], 200),
            ([("If-Match", '"other", ' + etag)], 200),
            ([("If-Match", "*")], 200),
            ([("If-Match", '"other"')], 412),
            ([("If-Match", "W/" + etag)], 412),  # strong comparison
            ([("If-Match", '"other"'), rng], 412),
            ([("If-Match", etag), rng], 206),
            ([("If-Unmodified-Since", last_modified)], 200),
            ([("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")], 412),
            ([("If-Unmodified-Since", "garbage")], 200),
            ([("If-Match", etag), ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")], 200),
        ]
        for headers, status in cases:
            with self.subTest(headers=headers):
                self.assertEqual(get(self.server, "/page.html", headers=headers).status, status)
        r = get(self.server, "/page.html", headers=[("If-Match", '"other"')], method="HEAD")
        self.assertEqual((r.status, r.body), (412, b""))

    def test_if_none_match_over_several_field_lines_is_one_list(self):
        # RFC 9110 §5.3: repeated list field lines combine, in order.
        etag = get(self.server, "/page.html").header("ETag")
        r = get(self.server, "/page.html", headers=[("If-None-Match", '"other"'), ("If-None-Match", etag)])
        self.assertEqual(r.status, 304)

    def test_a_socket_under_the_root_is_refused_not_an_error(self):
        # open(2) on a socket fails with ENXIO: a file type, not a fault.
        path = self.tree.path("a.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        self.addCleanup(os.unlink, path)
        sock.bind(path)
        self.assertEqual(get(self.server, "/a.sock").status, 403)

    def test_a_directory_without_its_slash_is_redirected(self):
        r = get(self.server, "/sub")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/sub/")
        r = get(self.server, "/sub/deeper?x=1&y=%20")
        self.assertEqual((r.status, r.header("Location")), (301, "/sub/deeper/?x=1&y=%20"))

    def test_the_slash_redirect_never_leaves_the_site(self):
        # "//sub" names the directory sub; a Location of "//sub/" would be
        # scheme-relative: a browser would go to the host "sub". "/sub/.."
        # names the root, which is "/", not "//" (a URL with no host).
        for target, location in (("//sub", "/sub/"), ("///sub/deeper", "/sub/deeper/"),
                                 ("/sub/..", "/"), ("/sub/%2e%2e?//evil.example/",
                                                    "/?//evil.example/")):
            with self.subTest(target=target):
                r = get(self.server, target)
                self.assertEqual((r.status, r.header("Location")), (301, location))

    def test_a_file_with_a_trailing_slash_is_not_found(self):
        self.assertEqual(get(self.server, "/one.bin/").status, 404)

    def test_index_html_is_served_for_its_directory(self):
        r = get(self.server, "/site/")
        self.assertEqual(r.status, 200)
        self.assertIn(b"site index", r.body)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")

    def test_listing_is_sorted_escaped_and_hides_dotfiles(self):
        r = get(self.server, "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        body = r.body.decode()
        self.assertNotIn(".hidden", body)
        self.assertNotIn(".git", body)
        self.assertNotIn('href="../"', body)  # the root has no parent
        self.assertIn('href="with%20space.txt"', body)
        self.assertIn('href="caf%C3%A9%20%E2%98%95.txt"', body)
        self.assertIn("caf\u00e9 \u2615.txt", body)
        self.assertLess(body.index('href="site/"'), body.index('href="sub/"'))  # directories first
        self.assertLess(body.index('href="sub/"'), body.index('href="app.js"'))
        self.assertLess(body.index('href="app.js"'), body.index('href="blob.xyz"'))
        self.assertIn("1.0 MiB", body)
        # Links as what they lead to; none that would get a 403.
        self.assertIn('href="link_dir/"', body)
        self.assertIn('href="link_in"', body)
        self.assertNotIn("link_out", body)
        self.assertNotIn('href="fifo"', body)
        sub = get(self.server, "/sub/").body.decode()
        self.assertIn('href="../"', sub)
        self.assertIn("&lt;b&gt;&amp;&quot;tag&#39;.txt", sub)
        self.assertIn('href="%3Cb%3E%26%22tag%27.txt"', sub)
        self.assertNotIn("<b>", sub)
        # The escaped href leads back to the file.
        self.assertEqual(get(self.server, "/sub/%3Cb%3E%26%22tag%27.txt").body, b"escaped name")

    def test_other_methods_get_405_with_allow(self):
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            with self.subTest(method=method):
                r = get(self.server, "/one.bin", method=method)
                self.assertEqual(r.status, 405)
                self.assertEqual(r.header("Allow"), "GET, HEAD")
                self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")

    def test_a_replaced_file_is_served_fresh_within_one_second(self):
        self.tree.write("fresh.txt", b"old")
        self.assertEqual(get(self.server, "/fresh.txt").body, b"old")
        # Replaced by rename (a new inode), as editors and deploy tools do.
        tmp = self.tree.path("fresh.tmp")
        with open(tmp, "wb") as f:
            f.write(b"new content")
        os.replace(tmp, self.tree.path("fresh.txt"))
        changed_at = time.monotonic()
        while get(self.server, "/fresh.txt").body != b"new content":
            self.assertLess(time.monotonic() - changed_at, 1.0, "stale content after 1 s")
            time.sleep(0.02)
        # Rewritten in place, same size.
        with open(self.tree.path("fresh.txt"), "r+b") as f:
            f.write(b"NEW")
        changed_at = time.monotonic()
        while get(self.server, "/fresh.txt").body != b"NEW content":
            self.assertLess(time.monotonic() - changed_at, 1.0, "stale content after 1 s")
            time.sleep(0.02)

    def test_small_requests_are_served_while_a_large_download_runs(self):
        # On one loop, and counted only while the download still runs: with
        # the class's two loops, and a first request that could wait for the
        # download's end, a loop held by it passed (found by an audit).
        server = start_weft(self, "files", "--root", self.tree.root, "--threads", "1")
        done = threading.Event()
        result = {}

        def download():
            try:
                result["sha"] = stream_sha256(server, b"/big100.bin")[2]
            finally:
                done.set()

        t = threading.Thread(target=download, daemon=True)
        t.start()
        served_during = 0
        while not done.is_set() and served_during < 200:
            self.assertEqual(get(server, "/one.bin").body, b"x")
            served_during += 0 if done.is_set() else 1
        t.join(60)
        self.assertEqual(result.get("sha"), self.tree.sha256("big100.bin"))
        self.assertGreaterEqual(served_during, 3, "small requests waited for the download")


    def test_clients_vanishing_mid_download_leave_the_server_up(self):
        # sendfile(2) raises SIGPIPE on a vanished peer; it once killed the
        # server with exit 141. Close after the first bytes, with and without
        # a reset, many times, so some sendfile lands after the peer is gone.
        for i in range(40):
            s = socket.create_connection((self.server.host, self.server.port), timeout=10)
            s.sendall(b"GET /big100.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(65536)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
        time.sleep(0.2)
        assert_alive(self.server)
        self.assertEqual(get(self.server, "/one.bin").body, b"x")

class SlowReader(unittest.TestCase):
    """A client that stops reading is cut at the write timeout."""

    def test_a_client_that_stops_reading_is_cut(self):
        tree = Tree()
        self.addCleanup(tree.remove)
        server = start_http(self, "files", "--root", tree.root, "--threads", "1", "--write-timeout", "1")
        s = socket.create_connection((server.host, server.port), timeout=10)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /big100.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(3)  # reads nothing for three write timeouts
        got = 0
        try:
            while chunk := s.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
        self.assertLess(got, 100 * MIB, "the whole file arrived: the server never gave up")
        # And the server is still fine.
        self.assertEqual(get(server, "/one.bin").body, b"x")

    def download_cut_at_the_shutdown_timeout(self, tree, rcvbuf, *args):
        """A 100 MiB download under way, taken through a small receive
        buffer, when SIGTERM comes; the server, `--shutdown-timeout 0.5`,
        must exit 0. Returns the client's socket."""
        server = start_weft(self, "files", "--root", tree.root, "--threads", "1",
                            "--shutdown-timeout", "0.5", *args)
        s = socket.create_connection((server.host, server.port), timeout=10)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.sendall(b"GET /big100.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1024)  # under way
        server.send_signal(signal.SIGTERM)
        self.assertEqual(server.wait(), 0)
        return s

    def test_a_download_cut_at_the_shutdown_timeout_is_logged(self):
        # Every answer is logged once its body has left, or it was cut: one
        # cut at the shutdown deadline, its frame destroyed with no catch
        # run, went unlogged (found by an audit).
        tree = Tree()
        self.addCleanup(tree.remove)
        log = os.path.join(tree.root, "..", "access.log")
        self.addCleanup(lambda: os.path.exists(log) and os.remove(log))
        self.download_cut_at_the_shutdown_timeout(tree, 8192, "--access-log", log)
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertTrue(any('"GET /big100.bin HTTP/1.1" 200 ' in line for line in lines), lines)

    def test_a_download_cut_at_the_shutdown_timeout_ends_with_a_reset(self):
        # As at the write timeout: a FIN would wait behind what the client
        # has not taken, the kernel sending it on after the server exited,
        # and the short body would end as if whole (found by review: "EOF
        # after 4128768" of a 50 MB file).
        tree = Tree()
        self.addCleanup(tree.remove)
        s = self.download_cut_at_the_shutdown_timeout(tree, 4096)
        got = 0
        until = time.monotonic() + 10  # a FIN's trickle through a 4 KiB window took 100 s
        with self.assertRaises(ConnectionResetError, msg="a FIN, not a reset"):
            while time.monotonic() < until and (chunk := s.recv(1 << 20)):
                got += len(chunk)
        self.assertLess(got, 100 * MIB)


@unittest.skipIf(SANITIZED, "ASan's shadow memory and quarantine make RSS meaningless")
class FloodMemory(unittest.TestCase):
    """Clients that pipeline requests for a small file without end and never
    read cost the server about two pooled blocks each: 200 took 69-145 KiB
    each, now 37 (bench/memory/unread_answers.py --load files-pipelined)."""

    def test_a_flood_of_pipelined_requests_never_read_costs_little_a_connection(self):
        tree = Tree()
        self.addCleanup(tree.remove)
        server = start_http(self, "files", "--root", tree.root, "--threads", "1", "--max-requests", "100000000")
        each = flood_kib_per_connection(server, b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertLess(each, 52, f"{each} KiB a connection")


class DescriptorLimit(unittest.TestCase):
    """A loop's file cache holds a descriptor per large file (up to 256). Under
    a low RLIMIT_NOFILE it once filled the table and kept it full: every new
    file got a 500 until the server restarted."""

    def test_many_large_files_under_a_low_descriptor_limit_are_all_served(self):
        tree = Tree(large=False)
        self.addCleanup(tree.remove)
        size = 70 * 1024  # over the 8 KiB held in memory: the cache keeps the fd
        os.mkdir(tree.path("large"))
        for i in range(80):
            tree.sparse("large/%02d.bin" % i, size, {0: b"%02d" % i})
        server = start_http(self, "files", "--root", tree.root, "--threads", "1", nofile_limit=48)
        for i in range(80):
            r = get(server, "/large/%02d.bin" % i)
            self.assertEqual((r.status, len(r.body), r.body[:2]), (200, size, b"%02d" % i), f"file {i}")
        self.assertEqual(get(server, "/one.bin").body, b"x")


def fds_naming(pid, path):
    """How many of the process's descriptors name `path` (also "... (deleted)")."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith(path)
        except OSError:
            pass
    return n


class LargeFileCache(unittest.TestCase):
    """A large file (over the 8 KiB held in memory) is served by sendfile
    from a descriptor the loop's cache keeps for up to 0.5 s. From a review:
    a file rewritten in place was served in that window with its old size
    (a Content-Length that lied, or a new file cut to the old length under
    the old ETag), and a deleted one stayed open, its disk space pinned, on
    a loop that got no more requests; with --no-file-cache too."""

    def setUp(self):
        self.tree = Tree(large=False)
        self.addCleanup(self.tree.remove)
        self.tree.write("f.bin", b"a" * 200_000)

    def test_a_file_rewritten_in_place_is_served_whole_at_once(self):
        server = start_http(self, "files", "--root", self.tree.root, "--threads", "1")
        self.assertEqual(len(get(server, "/f.bin").body), 200_000)
        for size, byte in ((150_000, b"b"), (300_000, b"c")):
            with open(self.tree.path("f.bin"), "r+b") as f:  # same inode
                f.truncate(0)
                f.write(byte * size)
            r = get(server, "/f.bin")
            self.assertEqual((r.status, r.header("Content-Length"), r.body), (200, str(size), byte * size))

    def check_released_on_an_idle_loop(self, *flags):
        server = start_http(self, "files", "--root", self.tree.root, "--threads", "1", *flags)
        self.assertEqual(len(get(server, "/f.bin").body), 200_000)
        os.unlink(self.tree.path("f.bin"))
        deadline = time.monotonic() + 3
        while fds_naming(server.pid, self.tree.path("f.bin")) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(fds_naming(server.pid, self.tree.path("f.bin")), 0, "the deleted file is held open")

    def test_a_deleted_file_is_closed_though_no_request_comes(self):
        self.check_released_on_an_idle_loop()

    def test_without_the_cache_nothing_stays_open(self):
        self.check_released_on_an_idle_loop("--no-file-cache")


class RootReplaced(unittest.TestCase):
    """A site deployed by swapping the root (a symlink to the release, or
    the directory made anew) is served within a second, as a file replaced
    beneath it is. The root was opened once, at start: the old release was
    served for good, and a directory made anew got 404 for everything
    (found by review)."""

    def setUp(self):
        import tempfile
        self.dir = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.dir]))

    def write(self, path, data):
        path = os.path.join(self.dir, path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def served_within(self, server, path, body, seconds=1.5):
        deadline = time.monotonic() + seconds
        while True:
            got = get(server, path)
            if got.status == 200 and got.body == body or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def test_a_symlinked_root_swapped_to_a_new_release_is_served_within_a_second(self):
        self.write("rel/v1/app.txt", b"v1")
        self.write("rel/v2/app.txt", b"v2")
        current = os.path.join(self.dir, "current")
        os.symlink("rel/v1", current)
        for threads in ("1", "2"):
            with self.subTest(threads=threads):
                os.replace(self._link("rel/v1"), current)
                server = start_http(self, "files", "--root", current, "--threads", threads)
                self.assertEqual(get(server, "/app.txt").body, b"v1")
                os.replace(self._link("rel/v2"), current)
                got = self.served_within(server, "/app.txt", b"v2")
                self.assertEqual((got.status, got.body), (200, b"v2"))

    def _link(self, target):
        tmp = os.path.join(self.dir, "current.tmp")
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(target, tmp)
        return tmp

    def test_a_root_made_anew_is_served_within_a_second(self):
        self.write("public/index.html", b"old")
        root = os.path.join(self.dir, "public")
        server = start_http(self, "files", "--root", root)
        self.assertEqual(get(server, "/").body, b"old")
        subprocess.run(["rm", "-rf", root], check=True)
        self.write("public/index.html", b"new")
        got = self.served_within(server, "/", b"new")
        self.assertEqual((got.status, got.body), (200, b"new"))


class Options(unittest.TestCase):
    def setUp(self):
        self.tree = Tree(large=False)
        self.addCleanup(self.tree.remove)
        self.tree.write(".well-known/x", b"known")
        self.tree.write("a.txt", b"a")

    def test_dotfiles_flag_serves_and_lists_dotfiles(self):
        server = start_http(self, "files", "--root", self.tree.root, "--dotfiles")
        self.assertEqual(get(server, "/.hidden").body, b"hidden")
        self.assertEqual(get(server, "/.well-known/x").body, b"known")
        self.assertIn(b'href=".hidden"', get(server, "/").body)
        # Still no way out.
        self.assertEqual(get(server, "/%2e%2e/").status, 400)

    def test_a_link_to_a_dotfile_is_hidden_as_the_dotfile_is(self):
        # Hiding went by the name asked for: a link with a plain name led
        # to .git and .env all the same (found by review).
        self.tree.write(".env", b"API_KEY=1")
        os.symlink(".env", os.path.join(self.tree.root, "settings"))
        os.symlink(".git", os.path.join(self.tree.root, "repo"))
        os.symlink(os.path.join(self.tree.root, ".git"), os.path.join(self.tree.root, "repo_abs"))
        os.symlink(".well-known/x", os.path.join(self.tree.root, "known"))
        hidden = start_http(self, "files", "--root", self.tree.root)
        for path in ("/settings", "/repo/config", "/repo/", "/repo_abs/config", "/known"):
            with self.subTest(path=path):
                self.assertEqual(get(hidden, path).status, 404)
        listing = get(hidden, "/").body
        for name in (b"settings", b"repo", b"known"):
            self.assertNotIn(b'href="' + name, listing)
        shown = start_http(self, "files", "--root", self.tree.root, "--dotfiles")
        self.assertEqual(get(shown, "/settings").body, b"API_KEY=1")
        self.assertEqual(get(shown, "/repo_abs/config").status, 200)
        self.assertEqual(get(shown, "/known").body, b"known")
        self.assertIn(b'href="settings"', get(shown, "/").body)

    def test_cache_control_flag(self):
        server = start_http(self, "files", "--root", self.tree.root, "--cache-control", "public, max-age=60")
        self.assertEqual(get(server, "/a.txt").header("Cache-Control"), "public, max-age=60")

    def test_without_the_file_cache_a_change_shows_at_once(self):
        server = start_http(self, "files", "--root", self.tree.root, "--no-file-cache")
        self.assertEqual(get(server, "/a.txt").body, b"a")
        self.tree.write("a.txt", b"b")
        self.assertEqual(get(server, "/a.txt").body, b"b")


if __name__ == "__main__":
    unittest.main()
