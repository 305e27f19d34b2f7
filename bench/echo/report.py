#!/usr/bin/python3
"""Turns bench/echo/run.sh's JSON lines into markdown tables.

Each throughput figure is the median of the runs of one (server, conns,
depth) configuration, taken per column. "Per core" is lines/s divided by the
server's CPU share over the measured window (utime+stime from
/proc/PID/stat), the figure that compares servers on this 2-core machine.
"ksoftirqd CPU" is the median share of a core that the two cores' ksoftirqd
threads used (network work the kernel deferred; charged to neither process).
"other CPU" is the largest, over the runs, share of a core that the two
pinned cores spent on none of these (other processes on this shared machine;
run.sh repeats runs where it is high).
"""

import json
import statistics
import sys
from collections import OrderedDict

ORDER = ["weft", "asio-per-read", "asio-per-line", "eventlet", "thread-per-conn"]


def rank(name):
    return ORDER.index(name) if name in ORDER else len(ORDER)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def fmt_int(v):
    return f"{v:,.0f}"


def throughput_table(rows):
    groups = OrderedDict()
    for r in rows:
        groups.setdefault((r["label"], r["conns"], r["depth"]), []).append(r)
    keys = sorted(groups, key=lambda k: (k[1], k[2], rank(k[0])))
    out = ["| server | conns | depth | lines/s per server core | lines/s | p50 µs | p99 µs "
           "| server CPU | client CPU | ksoftirqd CPU | other CPU | runs | errors |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    medians = {}
    for k in keys:
        g = groups[k]
        med = {f: statistics.median(r[f] for r in g)
               for f in ("per_core", "lines_per_s", "p50_us", "p99_us", "server_cpu", "client_cpu")}
        errors = sum(r["errors"] for r in g)
        other = max(r.get("other_cpu", -1) for r in g)
        softirqd = [r["softirqd_cpu"] for r in g if "softirqd_cpu" in r]
        softirqd = f"{statistics.median(softirqd):.2f}" if softirqd else "—"
        medians[k] = med
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | {fmt_int(med['per_core'])} | {fmt_int(med['lines_per_s'])} "
                   f"| {med['p50_us']:.0f} | {med['p99_us']:.0f} | {med['server_cpu']:.2f} "
                   f"| {med['client_cpu']:.2f} | {softirqd} | {other:.2f} | {len(g)} | {errors} |")
    return "\n".join(out), medians


def targets_table(medians, conns):
    def per_core(label, depth):
        m = medians.get((label, conns, depth))
        return m["per_core"] if m else None

    out = ["| comparison (per server core) | ratio | target | met |", "|---|---:|---:|---|"]
    for peer, depth, target in (("asio-per-read", 16, 0.9), ("asio-per-line", 1, 1.0),
                                ("asio-per-line", 16, None), ("asio-per-read", 1, None),
                                ("eventlet", 1, None), ("thread-per-conn", 1, None),
                                ("thread-per-conn", 16, None)):
        w, p = per_core("weft", depth), per_core(peer, depth)
        if not w or not p:
            continue
        ratio = w / p
        if target is None:
            out.append(f"| weft / {peer}, depth {depth} | {ratio:.2f}× | — | |")
        else:
            out.append(f"| weft / {peer}, depth {depth} | {ratio:.2f}× | ≥ {target:.1f}× "
                       f"| {'yes' if ratio >= target else 'NO'} |")
    return "\n".join(out)


def memory_table(rows):
    out = ["| server | idle connections | RSS before (KiB) | RSS after (KiB) | bytes per connection |",
           "|---|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (rank(r["label"]), r["conns"])):
        out.append(f"| {r['label']} | {r['conns']:,} | {r['rss_before_kb']:,} | {r['rss_after_kb']:,} "
                   f"| {r['bytes_per_conn']:,} |")
    return "\n".join(out)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: report.py RESULTS.jsonl...  (several files are merged)")
    rows = [r for path in sys.argv[1:] for r in load(path)]
    load_rows = [r for r in rows if r.get("kind", "load") == "load"]
    mem_rows = [r for r in rows if r.get("kind") == "memory"]
    if load_rows:
        table, medians = throughput_table(load_rows)
        print("### Echo throughput (median of runs)\n")
        print(table)
        base = [k for k in medians if k[0] == "weft"]
        if base:
            conns = min(k[1] for k in base)
            print(f"\n### weft against the peers ({conns} connections)\n")
            print(targets_table(medians, conns))
    if mem_rows:
        print("\n### Memory per idle connection (each used once, then idle)\n")
        print(memory_table(mem_rows))


if __name__ == "__main__":
    main()
