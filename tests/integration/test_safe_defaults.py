"""Safe defaults, said out loud: every `weft` flag that can loosen a default
(a bigger limit, a longer timeout, dotfiles, a non-loopback address) says
so in its --help text, and the defaults --help shows are the ones that
docs/security.md lists.
"""

import re
import unittest

from weftproc import weft_cli

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
