"""Safe defaults, said out loud: every `weft` flag that can loosen a default
(a bigger limit, a longer timeout, dotfiles, a non-loopback address) says
so in its --help text, and the defaults --help shows are the ones that
docs/security.md lists.
"""

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from weftproc import READY_TIMEOUT, STOP_TIMEOUT, WEFT_BIN, read_line_within, weft_cli

COMMON = ("--host",)
HTTP = COMMON + ("--max-body", "--max-body-memory", "--max-request-line", "--max-header-bytes", "--max-headers",
                 "--header-timeout", "--body-timeout", "--idle-timeout", "--write-timeout",
                 "--max-requests")
LOOSENING = {
    "hello": HTTP,
    "inspect": HTTP,
    "files": HTTP + ("--dotfiles",),
    "echo": COMMON + ("--max-line",),
    "qa": COMMON,
}

# The defaults docs/security.md gives, as --help prints them.
DEFAULTS = {
    "--max-body": "8388608", "--max-body-memory": "1073741824", "--max-request-line": "8192", "--max-header-bytes": "65536",
    "--max-headers": "100", "--header-timeout": "10", "--body-timeout": "30",
    "--idle-timeout": "60", "--write-timeout": "30", "--max-requests": "10000",
    "--max-line": "65536", "--host": "127.0.0.1",
}


def option_help(subcommand):
    """Maps each long flag to its whole help entry (CLI11 may wrap it)."""
    out = weft_cli(subcommand, "--help")
    assert out.returncode == 0, out
    entries, current = {}, None
    for line in out.stdout.decode().splitlines():
        m = re.match(r"\s+(?:-\w, )?(--[\w-]+)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current and line.startswith(" "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


class UsageErrors(unittest.TestCase):
    def test_an_unknown_or_missing_subcommand_is_named_with_the_known_ones(self):
        # "weft bogus" said only "A subcommand is required" (found by an audit).
        for args, says in ((("bogus",), b"unknown subcommand 'bogus'"), ((), b"a subcommand is required")):
            with self.subTest(args=args):
                result = weft_cli(*args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(says, result.stderr)
                for name in (b"hello", b"echo", b"qa", b"files", b"inspect"):
                    self.assertIn(name, result.stderr)


    def test_a_flag_before_the_subcommand_is_said_to_go_after_it(self):
        # "weft --bogus" said "A subcommand is required", and "weft --port 0
        # hello" "The following arguments were not expected: 0 --port".
        for args in (("--bogus",), ("--port", "0", "hello")):
            with self.subTest(args=args):
                result = weft_cli(*args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(b"'" + args[0].encode() + b"'", result.stderr)
                self.assertIn(b"after the subcommand", result.stderr)
        self.assertEqual(weft_cli("--help").returncode, 0)

    def test_a_bad_host_is_a_usage_error_found_before_anything_is_done(self):
        # It was looked at once the flags' own work was done: --access-log's
        # file was made, and files' bad --root or qa's bad --answers said
        # first, with exit 1 (found by review).
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "access.log")
            for args in (("hello", "--access-log", log), ("files", "--root", os.path.join(tmp, "none")),
                         ("qa", "--answers", os.path.join(tmp, "none")), ("echo",), ("inspect",)):
                for host in ("1.2.3", "999.1.1.1", "example.invalid", ""):
                    with self.subTest(args=args, host=host):
                        result = weft_cli(*args, "--port", "0", "--host", host)
                        self.assertEqual(result.returncode, 2, result.stderr)
                        self.assertIn(b"--host", result.stderr)
                        self.assertFalse(os.path.exists(log), "the access log was made")
                        if os.path.exists(log):
                            os.unlink(log)

    def test_localhost_is_read_as_any_case_spells_it(self):
        for host in ("LOCALHOST", "LocalHost"):
            with self.subTest(host=host):
                proc = subprocess.Popen([WEFT_BIN, "echo", "--port", "0", "--host", host],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    line = read_line_within(proc.stdout, READY_TIMEOUT)[0]
                    self.assertRegex(line, rb"^weft echo listening on 127\.0\.0\.1:\d+\n$")
                finally:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT)
                    proc.stdout.close()
                    proc.stderr.close()


# Every flag that takes seconds, by subcommand.
SECONDS_FLAGS = {
    "hello": ("--shutdown-timeout", "--header-timeout", "--body-timeout", "--idle-timeout", "--write-timeout"),
    "echo": ("--shutdown-timeout", "--idle-timeout"),
    "qa": ("--shutdown-timeout", "--idle-timeout"),
}


class SecondsAreDecimal(unittest.TestCase):
    def test_a_seconds_flag_takes_decimal_digits_and_a_point_only(self):
        # std::stod read "0x10" as 16 s, "0x1p1" as 2 and " 5" as 5, where a
        # whole-number flag refuses such spellings (found by review).
        for subcommand, flags in SECONDS_FLAGS.items():
            for flag in flags:
                for value in ("0x10", "0x1p1", " 5", "5 ", "1e1", "+5", "5.", "1.2.3", ""):
                    with self.subTest(subcommand=subcommand, flag=flag, value=value):
                        result = weft_cli(subcommand, "--port", "0", flag + "=" + value, "--help")
                        self.assertEqual(result.returncode, 2, result.stderr)
                        self.assertIn(flag.encode(), result.stderr)
                for value in ("5", "0.5", ".5", "05.50"):
                    with self.subTest(subcommand=subcommand, flag=flag, value=value):
                        self.assertEqual(weft_cli(subcommand, flag + "=" + value, "--help").returncode, 0)


class SignalsDuringStart(unittest.TestCase):
    """A signal that comes while the server starts waits for it: logrotate's
    SIGUSR1 is taken as it is once started, and a stop signal stops it
    gracefully. Their default actions killed the server while it made its
    loops (100-200 ms with --threads 1024; found by review)."""

    def start_and_signal(self, subcommand, sig):
        proc = subprocess.Popen([WEFT_BIN, subcommand, "--port", "0", "--threads", "200"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(STOP_TIMEOUT)))
        # Past its first few descriptors it is making its loops (an epoll and
        # an eventfd each): main() has begun, and no loop is listening yet.
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if len(os.listdir(f"/proc/{proc.pid}/fd")) >= 20:
                    break
            except FileNotFoundError:
                pass
            if proc.poll() is not None:
                self.fail(f"it exited with {proc.returncode}: {proc.stderr.read()!r}")
            self.assertLess(time.monotonic(), deadline, "it never began to make its loops")
            time.sleep(0.0005)
        proc.send_signal(sig)
        return proc

    def test_sigusr1_while_starting_is_not_the_end_of_it(self):
        for subcommand in ("hello", "echo"):
            with self.subTest(subcommand):
                proc = self.start_and_signal(subcommand, signal.SIGUSR1)
                line, _ = read_line_within(proc.stdout, READY_TIMEOUT)
                self.assertIn(b"listening on", line, f"exit {proc.poll()}")
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(STOP_TIMEOUT), 0)

    def test_a_stop_signal_ends_it_while_it_waits_to_read_its_answers_file(self):
        # Held from main's first line, SIGINT and SIGTERM did nothing while
        # qa waited for a writer to its --answers FIFO (found by review).
        with tempfile.TemporaryDirectory() as tmp:
            fifo = os.path.join(tmp, "answers")
            os.mkfifo(fifo)
            proc = subprocess.Popen([WEFT_BIN, "qa", "--port", "0", "--answers", fifo],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(STOP_TIMEOUT)))
            start = time.monotonic()
            while True:  # in open(2), waiting for a writer
                with open(f"/proc/{proc.pid}/wchan") as f:
                    wchan = f.read()
                if wchan == "wait_for_partner" or "fifo" in wchan:
                    break
                if wchan == "0" and time.monotonic() - start > 0.5:
                    break  # the kernel does not say where it waits: half a second is plenty
                self.assertLess(time.monotonic() - start, READY_TIMEOUT, f"never waited for a writer ({wchan!r})")
                time.sleep(0.01)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(STOP_TIMEOUT), -signal.SIGTERM)

    def test_a_stop_signal_while_starting_stops_it_gracefully(self):
        for subcommand, sig in (("hello", signal.SIGTERM), ("qa", signal.SIGINT), ("files", signal.SIGHUP)):
            with self.subTest(subcommand=subcommand, sig=sig):
                proc = self.start_and_signal(subcommand, sig)
                self.assertEqual(proc.wait(STOP_TIMEOUT), 0)


# Every whole-number flag, by subcommand.
WHOLE_NUMBERS = ("--port", "--threads", "--backlog")
HTTP_WHOLE_NUMBERS = WHOLE_NUMBERS + ("--max-body", "--max-body-memory", "--max-request-line", "--max-header-bytes",
                                      "--max-headers", "--max-requests")
WHOLE_NUMBER_FLAGS = {
    "hello": HTTP_WHOLE_NUMBERS,
    "inspect": HTTP_WHOLE_NUMBERS,
    "files": HTTP_WHOLE_NUMBERS,
    "echo": WHOLE_NUMBERS + ("--max-line",),
    "qa": WHOLE_NUMBERS,
}


class NumbersAreDecimal(unittest.TestCase):
    def test_a_whole_number_flag_takes_decimal_digits_only(self):
        # CLI11 converts with strtoll's base 0: "0x10" was 16 and an unsigned
        # flag took "-18446744073709551615" as 1, past its range check, and
        # "-18446742974197923840" as the loosest limit, 1 TiB (found by review).
        for subcommand, flags in WHOLE_NUMBER_FLAGS.items():
            for flag in flags:
                for value in ("0x10", "-18446744073709551615", "+5", " 5", "5 ", "1e3", ""):
                    with self.subTest(subcommand=subcommand, flag=flag, value=value):
                        port = () if flag == "--port" else ("--port", "0")
                        result = weft_cli(subcommand, *port, flag + "=" + value, timeout=10)
                        self.assertEqual(result.returncode, 2, result.stderr)
                        self.assertNotIn(b"listening", result.stdout)
                        self.assertIn(flag.encode(), result.stderr)

    def test_a_body_limit_past_the_body_memory_is_refused(self):
        # No such body could ever be held: each would get 503.
        for subcommand in ("hello", "inspect", "files"):
            with self.subTest(subcommand):
                result = weft_cli(subcommand, "--port", "0", "--max-body", "2000",
                                  "--max-body-memory", "1999", timeout=10)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertNotIn(b"listening", result.stdout)
                self.assertIn(b"--max-body-memory", result.stderr)

    def test_an_empty_access_log_path_is_refused_not_taken_for_no_log(self):
        # --access-log "$LOG" with LOG unset turned the log off unnoticed.
        for subcommand in ("hello", "inspect", "files"):
            with self.subTest(subcommand):
                result = weft_cli(subcommand, "--port", "0", "--access-log=", timeout=10)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertNotIn(b"listening", result.stdout)
                self.assertIn(b"--access-log", result.stderr)


class LooseningFlagsSaySo(unittest.TestCase):
    def test_every_loosening_flag_warns_in_its_help(self):
        for subcommand, flags in LOOSENING.items():
            entries = option_help(subcommand)
            for flag in flags:
                with self.subTest(subcommand=subcommand, flag=flag):
                    self.assertIn(flag, entries)
                    self.assertRegex(entries[flag], r"(?i)loosen")

    def test_the_defaults_shown_are_the_documented_safe_ones(self):
        for subcommand, flags in LOOSENING.items():
            entries = option_help(subcommand)
            for flag in flags:
                if flag not in DEFAULTS:
                    continue
                with self.subTest(subcommand=subcommand, flag=flag):
                    self.assertRegex(entries[flag], r"=%s(\.0+)?\s" % re.escape(DEFAULTS[flag]))

    def test_dotfiles_are_off_unless_asked_for(self):
        self.assertNotRegex(option_help("files")["--dotfiles"], r"--dotfiles\S*=")


if __name__ == "__main__":
    unittest.main()
