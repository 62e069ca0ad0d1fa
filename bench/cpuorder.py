#!/usr/bin/python3
"""cpuorder.py: CPU microseconds per order, from a bench/compare.sh run.

    bench/cpuorder.py var/bench/compare-<time>

compare.sh leaves, per round, revision and benchmark, the bench/cpu.py
figures of each measured run (intake: <tag>-<mode>.cpu, e2e: cpu.txt) and
wrk's result (<tag>-<mode>.json, wrk.json). This divides each process
group's CPU seconds by the orders the run accepted (2xx) and prints, per
benchmark and mode, the median over the rounds for each revision, and the
last revision over the first. Unlike orders/s, these figures hardly move
when other users take the cores, but they do fall as batches grow (a busier
writer commits more orders per transaction), so compare revisions at
similar rates (the orders/s column).

Groups: each daemon with the PostgreSQL backends it is connected to, the
PostgreSQL helpers (pg:other: walwriter, checkpointer, ...), and "ours":
all of them (the benchmark's shell and wrk not included).
"""
import glob
import json
import os
import re
import statistics
import sys

DAEMONS = ("orderd", "billingd", "dispatchd", "meald")
ROWS = ["orderd", "pg:orderd", "billingd", "pg:billingd", "dispatchd", "pg:dispatchd",
        "meald", "pg:meald", "pg:other", "ours"]


def read_cpu(path):
    """{process group: cpu seconds} of a bench/cpu.py diff."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\S+(?: \(\S+\))?(?: \(not ours\))?)\s+([0-9.]+)\s+[0-9.]+", line)
            if m:
                out[m.group(1)] = float(m.group(2))
    return out


def per_order(cpu, orders, seconds):
    g = {k: cpu.get(k, 0.0) for k in ROWS if k != "ours"}
    g["pg:other"] = cpu.get("pg:other", 0.0) + cpu.get("pg:exited", 0.0)
    g["ours"] = sum(g.values())
    r = {k: v / orders * 1e6 for k, v in g.items()}
    r["orders/s"] = orders / seconds if seconds else 0.0
    r["other users"] = cpu.get("other (not ours)", 0.0) / orders * 1e6
    return r


def runs(top):
    """(round, what, mode, rev, figures) of every measured run."""
    for d in sorted(glob.glob(os.path.join(top, "*-*-*"))):
        if not os.path.isdir(d):
            continue
        rnd, what, rev = os.path.basename(d).split("-", 2)
        if what == "intake":
            for cpu in glob.glob(os.path.join(d, "i*-*.cpu")):
                mode = cpu[:-4].rsplit("-", 1)[1]
                with open(cpu[:-4] + ".json") as f:
                    w = json.load(f)
                if w.get("accepted"):
                    yield rnd, what, mode, rev, per_order(read_cpu(cpu), w["accepted"],
                                                          w.get("seconds", 0))
        elif what == "e2e" and os.path.exists(os.path.join(d, "cpu.txt")):
            with open(os.path.join(d, "wrk.json")) as f:
                w = json.load(f)
            if w.get("accepted"):
                yield rnd, what, "system", rev, per_order(read_cpu(os.path.join(d, "cpu.txt")),
                                                          w["accepted"], w.get("seconds", 0))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    table = {}
    revs = []
    for rnd, what, mode, rev, fig in runs(sys.argv[1]):
        table.setdefault((what, mode), {}).setdefault(rev, []).append(fig)
        if rev not in revs:
            revs.append(rev)
    # compare.sh's order of revisions is its BENCH_REVS; the directory
    # names do not keep it, so take it from rounds.tsv when there.
    tsv = os.path.join(sys.argv[1], "rounds.tsv")
    if os.path.exists(tsv):
        order = []
        with open(tsv) as f:
            for line in f.readlines()[1:]:
                r = line.split("\t")[1]
                if r not in order:
                    order.append(r)
        full = {r: next((x for x in revs if x.startswith(r) or r.startswith(x[:7])), None)
                for r in order}
        if all(full.values()) and len(full) == len(revs):
            revs = [full[r] for r in order]
    for (what, mode), by_rev in sorted(table.items()):
        n = min(len(v) for v in by_rev.values())
        print("%s, %s: CPU us per order, median of %d rounds" % (what, mode, n))
        print("%-14s" % "" + "".join("%14s" % r[:12] for r in revs) + "%12s" % "last/first")
        for k in ["orders/s"] + ROWS + ["other users"]:
            meds = [statistics.median(f[k] for f in by_rev[r]) if r in by_rev else 0.0
                    for r in revs]
            ratio = meds[-1] / meds[0] if meds[0] else 0.0
            print("%-14s" % k + "".join("%14.1f" % m for m in meds) + "%12.3f" % ratio)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
