#!/usr/bin/python3
"""cpu.py: where the CPU went during a benchmark run.

    cpu.py snap FILE [NAME=PID ...]    CPU ticks so far of the benchmark's
                                       processes and of the whole machine
    cpu.py diff BEFORE AFTER           CPU seconds and cores used in between

Processes: the four daemons (var/bench/root/var/run/<daemon>.pid), the
bench PostgreSQL's processes grouped by role (pg:orderd is the backends
orderd is connected to, as orderd_rt or orderd, pg:postgres pgbench's or psql's, pg:other walwriter,
checkpointer, ...),
any NAME=PID given (wrk, pgbench: their ticks are read at the second snap, so
pass the same pid to both), and "other": everything else on the machine
(/proc/stat busy time minus ours), i.e. what other users of this machine took
while we measured.
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHADOW = os.path.join(ROOT, "var", "bench", "root")
DAEMONS = ("orderd", "billingd", "dispatchd", "meald")
HZ = os.sysconf("SC_CLK_TCK")


def ticks(pid):
    """utime + stime of a process (and its waited-for children), in ticks."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    except (OSError, IndexError, ValueError):
        return 0


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if int(rest[1]) == ppid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def s_pg_group(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            title = f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return "pg:other"
    words = title.split()
    # The daemons log in as <daemon>_rt since issue 10, as <daemon> before.
    role = words[1][:-3] if len(words) >= 3 and words[1].endswith("_rt") else \
        words[1] if len(words) >= 2 else ""
    if len(words) >= 3 and words[0] == "postgres:" and role in (
            "orderd", "billingd", "dispatchd", "meald", "postgres"):
        return "pg:" + role
    return "pg:other"


def snap(extra):
    s = {"t": time.monotonic()}
    for d in DAEMONS:
        pid = read_pid(os.path.join(SHADOW, "var", "run", d + ".pid"))
        s[d] = ticks(pid) if pid else 0
    pm = read_pid(os.path.join(SHADOW, "var", "pg", "data", "postmaster.pid"))
    # PostgreSQL by process title: "postgres: orderd eldercare 127.0.0.1(...)"
    # is a backend of role orderd (pg:orderd), "postgres: walwriter" a helper
    # (pg:other). Backends come and go (pgbench connects anew each run): the
    # postmaster's own ticks include its exited children (pg:exited).
    if pm:
        s["pg:exited"] = ticks(pm)
        for c in children(pm):
            s.setdefault(s_pg_group(c), 0)
            s[s_pg_group(c)] += ticks(c)
    for kv in extra:
        name, pid = kv.split("=", 1)
        s[name] = ticks(int(pid))
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    s["machine_busy"] = sum(cpu) - cpu[3] - cpu[4]   # minus idle and iowait
    s["machine_all"] = sum(cpu)
    return s


def diff(a, b):
    wall = b["t"] - a["t"]
    rows = []
    ours = pg = 0
    for k in sorted(b, key=lambda k: (k.startswith("pg:"), k)):
        if k in ("t", "machine_busy", "machine_all"):
            continue
        d = max(0, b[k] - a.get(k, 0)) / HZ
        ours += d
        if k.startswith("pg:"):
            pg += d
        rows.append((k, d))
    rows.append(("postgres (all)", pg))
    busy = (b["machine_busy"] - a["machine_busy"]) / HZ
    rows.append(("ours (all)", ours))
    rows.append(("other (not ours)", max(0.0, busy - ours)))
    print("%-18s %8s %7s" % ("process", "cpu s", "cores"))
    for k, d in rows:
        print("%-18s %8.1f %7.2f" % (k, d, d / wall))
    print("%-18s %8.1f %7.2f   (of %d, over %.1f s)" % ("machine busy", busy, busy / wall,
                                                        os.cpu_count(), wall))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "snap":
        with open(sys.argv[2], "w") as f:
            json.dump(snap(sys.argv[3:]), f)
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "diff":
        with open(sys.argv[2]) as f:
            a = json.load(f)
        with open(sys.argv[3]) as f:
            b = json.load(f)
        diff(a, b)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
