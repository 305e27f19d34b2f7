"""A temporary tree for the `weft files` integration tests, and raw-socket
helpers that send a target exactly as written (no client normalizes it).

    top/secret.txt                 the file that must never be served
    top/root/                      what weft serves
        empty.bin, one.bin, mib.bin, big100.bin (sparse), huge.bin (5 GiB, sparse)
        page.html, style.css, app.js, data.json, logo.svg, notes.md, blob.xyz
        "with space.txt", "café ☕.txt"
        site/index.html, sub/inner.txt, sub/deeper/
        .hidden, .git/config
        link_in -> one.bin, link_dir -> sub
        link_out -> ../secret.txt, link_abs -> /abs/top/secret.txt, link_up -> ..
"""

import hashlib
import os
import secrets
import shutil
import socket
import tempfile

from httpwire import ResponseReader

MIB = 1 << 20
HUGE_SIZE = 5 * (1 << 30)
HUGE_MARK_AT = (1 << 32) + 12345  # beyond 4 GiB
HUGE_MARK = b"beyond-four-gib"


class Tree:
    def __init__(self, large=True):
        self.top = tempfile.mkdtemp(prefix="weft-files-")
        self.root = os.path.join(self.top, "root")
        self.secret = ("TOPSECRET-" + secrets.token_hex(8)).encode()
        self.write_top("secret.txt", self.secret + b"\n")
        os.mkdir(self.root)
        self.write("empty.bin", b"")
        self.write("one.bin", b"x")
        if large:
            self.write("mib.bin", os.urandom(MIB))
            self.sparse("big100.bin", 100 * MIB, {0: b"start", 50 * MIB: os.urandom(4096), 100 * MIB - 3: b"end"})
            self.sparse("huge.bin", HUGE_SIZE, {HUGE_MARK_AT: HUGE_MARK, HUGE_SIZE - 4: b"last"})
        self.write("page.html", b"<!doctype html><title>page</title>")
        self.write("style.css", b"body{}")
        self.write("app.js", b"console.log(1)")
        self.write("data.json", b"{}")
        self.write("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>")
        self.write("notes.md", b"# notes")
        self.write("blob.xyz", b"?")
        self.write("with space.txt", b"spaced")
        self.write("caf\u00e9 \u2615.txt", "unicode \u2615".encode())
        self.write("site/index.html", b"<!doctype html><title>site index</title>")
        self.write("sub/inner.txt", b"inner")
        self.write("sub/<b>&\"tag'.txt", b"escaped name")
        os.mkdir(os.path.join(self.root, "sub", "deeper"))
        self.write(".hidden", b"hidden")
        self.write(".git/config", b"[core]")
        os.symlink("one.bin", os.path.join(self.root, "link_in"))
        os.symlink("sub", os.path.join(self.root, "link_dir"))
        os.symlink("../secret.txt", os.path.join(self.root, "link_out"))
        os.symlink(os.path.join(self.top, "secret.txt"), os.path.join(self.root, "link_abs"))
        os.symlink("..", os.path.join(self.root, "link_up"))
        os.symlink(os.path.join(self.root, "sub", "inner.txt"), os.path.join(self.root, "link_abs_in"))
        os.mkfifo(os.path.join(self.root, "fifo"))

    def path(self, rel):
        return os.path.join(self.root, rel)

    def write_top(self, rel, data):
        with open(os.path.join(self.top, rel), "wb") as f:
            f.write(data)

    def write(self, rel, data):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def sparse(self, rel, size, pieces):
        with open(self.path(rel), "wb") as f:
            f.truncate(size)
            for at, data in pieces.items():
                f.seek(at)
                f.write(data)

    def sha256(self, rel):
        h = hashlib.sha256()
        with open(self.path(rel), "rb") as f:
            while chunk := f.read(MIB):
                h.update(chunk)
        return h.hexdigest()

    def remove(self):
        shutil.rmtree(self.top, ignore_errors=True)


def raw_get(server, target, method="GET", headers=(), timeout=10.0):
    """One request with `target` sent byte for byte; the response (body
    read whole, so keep it small)."""
    with server.connect(timeout=timeout) as s:
        head = b"%s %s HTTP/1.1\r\nHost: x\r\n" % (method.encode(), target)
        for name, value in headers:
            head += b"%s: %s\r\n" % (name.encode(), value.encode("latin-1"))
        s.sendall(head + b"Connection: close\r\n\r\n")
        return ResponseReader(s).read_response(head_request=(method == "HEAD"))


def get(server, path, **kw):
    return raw_get(server, path.encode("latin-1") if isinstance(path, str) else path, **kw)


def stream_sha256(server, target, headers=(), timeout=60.0):
    """GETs a possibly huge body; returns (response head, byte count, sha256)."""
    with server.connect(timeout=timeout) as s:
        head = b"GET %s HTTP/1.1\r\nHost: x\r\n" % target
        for name, value in headers:
            head += b"%s: %s\r\n" % (name.encode(), value.encode())
        s.sendall(head + b"\r\n")
        reader = ResponseReader(s)
        head_bytes = reader.read_head()
        fields = dict(
            (k.lower(), v) for k, _, v in (line.decode("latin-1").partition(": ") for line in head_bytes.split(b"\r\n")[1:] if line))
        length = int(fields["content-length"])
        h = hashlib.sha256()
        got = len(reader.buf)
        h.update(reader.buf)
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        while got < length:
            n = s.recv_into(view, min(len(buf), length - got))
            if n == 0:
                raise AssertionError(f"EOF after {got} of {length} body bytes")
            h.update(view[:n])
            got += n
        return head_bytes, got, h.hexdigest()
