#!/usr/bin/env python3
"""Runs the ping-pong benchmarks and prints each variant's round trips/s as
a fraction of the bare epoll loop's, for the same message size.

    bench/micro/pingpong_ratio.py build/bin/weft_micro_bench [extra benchmark flags]

Repetitions are interleaved at random, so that load which comes and goes on
a shared machine falls on every variant alike. The rates are per CPU second
of the benchmark thread (Google Benchmark's default), which time stolen by
other processes does not inflate. Both the median and the best repetition
are shown: the best is the least disturbed by other processes.
"""
import json
import re
import statistics
import subprocess
import sys


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = [sys.argv[1], "--benchmark_filter=pingpong", "--benchmark_format=json",
           "--benchmark_repetitions=20", "--benchmark_min_time=0.1",
           "--benchmark_enable_random_interleaving=true"] + sys.argv[2:]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rates: dict[str, list[float]] = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type") == "iteration" and "round_trips" in b:
            rates.setdefault(b["run_name"], []).append(b["round_trips"])

    def size(name: str) -> str:
        return re.search(r"bytes:(\d+)", name).group(1)

    # The reference is the bare loop with read/write (send:0), per size.
    bare = {size(n): r for n, r in rates.items() if "_bare/" in n and "send:0" in n}
    print(f"{'benchmark':44} {'median rt/s':>12} {'best rt/s':>10} {'median/bare':>11} {'best/bare':>9}")
    for name, r in sorted(rates.items(), key=lambda kv: (int(size(kv[0])), kv[0])):
        base = bare[size(name)]
        med, best = statistics.median(r), max(r)
        print(f"{name:44} {med:12,.0f} {best:10,.0f} "
              f"{med / statistics.median(base):11.1%} {best / max(base):9.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
