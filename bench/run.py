#!/usr/bin/python3
"""bench/run.py: the system benchmarks of issue 4 (`make bench` runs it).

1. Intake: orders/s accepted durably over HTTP (POST /v1/orders, 202 after
   COMMIT) at 32 connections with wrk (bench/intake.lua), p50/p99; then, in
   the same run and on the same PostgreSQL (fsync on), `pgbench -c 32 -j 2`
   running a transaction of two INSERTs (an order row and an event row, into
   copies of orderd's tables). Goal: ratio >= 1.5.
2. End to end: orders placed for 60 s at 32 connections; orders/s from placed
   to assigned sustained over the run and p50/p99 of that latency, from
   orderd's order history. Goal: >= 2,000 orders/s on 2 cores.

Writes var/bench/results.json and the results section of docs/BENCHMARKS.md
(between the bench:results markers). Environment: BENCH_INTAKE_S (20),
BENCH_E2E_S (60), BENCH_CONNECTIONS (32), BENCH_CAREGIVERS (600).
"""

import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import harness  # noqa: E402
import demo     # noqa: E402

INTAKE_S = int(os.environ.get("BENCH_INTAKE_S", "20"))
E2E_S = int(os.environ.get("BENCH_E2E_S", "60"))
CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
CAREGIVERS = int(os.environ.get("BENCH_CAREGIVERS", "600"))
ELDERS = int(os.environ.get("BENCH_ELDERS", "300"))
PG_BIN = harness.PG_BIN


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def setup_county(system, workdir):
    """Elders with well-funded cards, caregivers everywhere, meal points."""
    for d in harness.DAEMONS:
        demo.URL[d] = system.url(d)
    today = demo.now().date()
    cards = []
    for i in range(ELDERS):
        dist = 1 + i % 3
        birth = datetime.date(today.year - 65 - i % 30, 1 + i % 12, 1 + i % 28)
        lat, lon = demo.near(dist, ((i * 37) % 200 - 100) / 10000.0,
                             ((i * 53) % 200 - 100) / 10000.0)
        for _ in range(5):
            st, doc = demo.call("orderd", "POST", "/v1/elders", {
                "name": "Bench Elder %d" % i, "id_number": demo.id_number(birth, i % 2 == 0),
                "phone": "1370000%04d" % i, "address": "No. %d" % i, "district_id": dist,
                "lat": lat, "lon": lon, "birth_date": birth.isoformat(),
                "ability_level": "mild", "household": "none", "living": "alone"}, ok=None)
            if st == 201:
                break
        _, card = demo.call("orderd", "POST", "/v1/cards", {"elder_id": doc["elder_id"]})
        cards.append(card["card_id"])
    for c in cards:
        demo.retry(lambda: demo.call("billingd", "POST", "/v1/cards/%s/topups" % c,
                                     {"amount_fen": 1000000000, "source": "family",
                                      "reference": "bench"},
                                     headers={"Idempotency-Key": "bench-topup-" + c}),
                   "top-up", timeout=60)
    for i in range(CAREGIVERS):
        dist = 1 + i % 3
        lat, lon = demo.near(dist, ((i * 41) % 200 - 100) / 10000.0,
                             ((i * 29) % 200 - 100) / 10000.0)
        demo.call("dispatchd", "POST", "/v1/caregivers", {
            "name": "Bench Carer %d" % i, "provider_id": "provider-%d" % (i % 5),
            "district_id": dist, "lat": lat, "lon": lon,
            "skills": ["bath", "cleaning", "escort", "medical_escort", "emergency"],
            "level": 3, "first_aid": True, "shift_start": "00:00", "shift_end": "23:59"})
    for dist in (1, 2, 3):
        lat, lon = demo.near(dist, 0.0, 0.0)
        demo.call("meald", "POST", "/v1/meal-points", {
            "name": "Bench kitchen %d" % dist, "district_id": dist, "lat": lat, "lon": lon,
            "slots": [{"slot": "lunch", "capacity": 1000000, "cutoff": "09:30"},
                      {"slot": "dinner", "capacity": 1000000, "cutoff": "15:30"}]})
    path = os.path.join(workdir, "cards.txt")
    with open(path, "w") as f:
        f.write("\n".join(cards) + "\n")
    log("county: %d cards, %d caregivers, 3 meal points" % (len(cards), CAREGIVERS))
    return path


def run_wrk(system, cards_path, seconds, services, tag):
    t = demo.now()
    env = dict(os.environ, BENCH_CARDS=cards_path, BENCH_SERVICES=services, BENCH_RUN=tag,
               BENCH_WINDOW_START=demo.rfc3339(t + datetime.timedelta(minutes=30)),
               BENCH_WINDOW_END=demo.rfc3339(t + datetime.timedelta(hours=4)))
    cmd = ["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % seconds, "--timeout", "10s",
           "-s", os.path.join(HERE, "intake.lua"), system.url("orderd")]
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^BENCH (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError("wrk gave no result:\n" + out)
    return json.loads(m.group(1))


PGBENCH_SQL = """\\set n random(1, 1000000000)
BEGIN;
INSERT INTO bench.orders (id, idem_key, card_id, elder_id, district_id, service, state,
    window_start, window_end, notes, price_fen)
VALUES (gen_random_uuid(), 'pgb-' || :client_id || '-' || :n || '-' || random(),
    '00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002',
    1 + :n % 3, 'cleaning', 'placed', now() + interval '30 minutes',
    now() + interval '4 hours', 'bench', 4000);
INSERT INTO bench.events (seq, id, type, key, district_id, payload)
VALUES (nextval('bench.seq'), gen_random_uuid(), 'OrderPlaced', :n::text, 1 + :n % 3,
    '\\x0a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20'::bytea);
END;
"""


def run_pgbench(pg, dbname, seconds, workdir):
    """pgbench -c 32 -j 2: order row + event row per transaction, on copies
    of orderd's tables (same columns, indexes and defaults; no foreign keys)."""
    pg.execute("CREATE SCHEMA IF NOT EXISTS bench; "
               "CREATE TABLE bench.orders (LIKE orderd.orders INCLUDING ALL); "
               "CREATE TABLE bench.events (LIKE orderd.events INCLUDING ALL); "
               "CREATE SEQUENCE bench.seq", dbname=dbname)
    script = os.path.join(workdir, "pgbench.sql")
    with open(script, "w") as f:
        f.write(PGBENCH_SQL)
    logdir = tempfile.mkdtemp(prefix="pgbench-", dir=workdir)
    cmd = [os.path.join(PG_BIN, "pgbench"), "-n", "-c", str(CONNS), "-j", "2",
           "-T", str(seconds), "-M", "prepared", "-f", script, "-l",
           "--log-prefix", os.path.join(logdir, "tx"),
           "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", dbname]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"tps = ([0-9.]+)", out)
    if r.returncode != 0 or not m:
        raise RuntimeError("pgbench failed:\n" + out)
    lat = []
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    lat.append(int(parts[2]) / 1000.0)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] if lat else None
    shutil.rmtree(logdir, ignore_errors=True)
    return {"tps": float(m.group(1)), "transactions": len(lat), "p50_ms": pct(50),
            "p99_ms": pct(99), "seconds": seconds}


def e2e_stats(system, t0, seconds):
    """From orderd's tables: orders created in [t0, t0+seconds], when each
    first reached 'assigned'."""
    rows = system.sql("postgres", """
        WITH o AS (
            SELECT o.id, o.created_at,
                   (SELECT min(h.at) FROM orderd.order_history h
                     WHERE h.order_id = o.id AND h.state = 'assigned') AS assigned_at
              FROM orderd.orders o
             WHERE o.notes = 'bench' AND o.created_at >= to_timestamp(%s)
        )
        SELECT count(*),
               count(assigned_at),
               count(*) FILTER (WHERE assigned_at <= to_timestamp(%s)),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY
                   extract(epoch FROM assigned_at - created_at) * 1000),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY
                   extract(epoch FROM assigned_at - created_at) * 1000)
          FROM o""", (t0, t0 + seconds))
    placed, assigned, in_window, p50, p99 = rows[0]
    states = dict(system.sql("postgres", "SELECT state, count(*) FROM orderd.orders "
                             "WHERE notes = 'bench' AND created_at >= to_timestamp(%s) "
                             "GROUP BY state", (t0,)))
    return {"placed": placed, "assigned": assigned, "assigned_in_window": in_window,
            "assigned_per_s": in_window / float(seconds),
            "p50_ms": float(p50) if p50 is not None else None,
            "p99_ms": float(p99) if p99 is not None else None, "states": states}


def wait_drained(system, t0, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = system.sql("postgres", "SELECT count(*) FROM orderd.orders WHERE notes = 'bench' "
                       "AND created_at >= to_timestamp(%s) AND state IN "
                       "('placed', 'funds_held', 'released')", (t0,))[0][0]
        if n == 0:
            return True
        time.sleep(1)
    return False


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def write_results(res):
    os.makedirs(os.path.join(ROOT, "var", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "var", "bench", "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    i, p, e = res["intake"], res["pgbench"], res["e2e"]
    ratio = i["accepted_per_s"] / p["tps"] if p["tps"] else 0
    md = [
        "<!-- bench:results:begin (written by bench/run.py; do not edit by hand) -->",
        "### Latest run: %s" % res["when"],
        "",
        "Machine: %s, %d cores; PostgreSQL 15 with fsync on (%s); %d connections." % (
            res["machine"], res["cores"], res["pg_data"], CONNS),
        "",
        "| benchmark | rate | p50 | p99 | goal |",
        "|---|---|---|---|---|",
        "| intake: POST /v1/orders accepted (202 after COMMIT), %d s | %s orders/s | %s ms | "
        "%s ms | |" % (i["seconds"], fmt(i["accepted_per_s"]), fmt(i["p50_ms"], "%.2f"),
                       fmt(i["p99_ms"], "%.2f")),
        "| pgbench -c %d -j 2: order + event INSERT per transaction, %d s | %s tx/s | %s ms | "
        "%s ms | |" % (CONNS, p["seconds"], fmt(p["tps"]), fmt(p["p50_ms"], "%.2f"),
                       fmt(p["p99_ms"], "%.2f")),
        "| intake / pgbench | **%.2f** | | | >= 1.5 %s |" % (ratio, "met" if ratio >= 1.5
                                                             else "**not met**"),
        "| end to end: placed -> assigned, sustained over %d s | %s orders/s | %s ms | %s ms | "
        ">= 2000 %s |" % (e["seconds"], fmt(e["assigned_per_s"]), fmt(e["p50_ms"]),
                          fmt(e["p99_ms"]), "met" if e["assigned_per_s"] >= 2000
                          else "**not met**"),
        "",
        "Intake HTTP statuses: `%s`. End to end: %d placed, %d assigned (%d within the run), "
        "final states `%s`." % (json.dumps(i["statuses"]), e["placed"], e["assigned"],
                                e["assigned_in_window"], json.dumps(e["states"])),
        "<!-- bench:results:end -->",
    ]
    block = "\n".join(md)
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if "<!-- bench:results:begin" in text:
        text = re.sub(r"<!-- bench:results:begin.*?<!-- bench:results:end -->", lambda _: block,
                      text, flags=re.S)
    else:
        if not text:
            text = ("# Benchmarks\n\n`make bench` runs them; bench/run.py rewrites the "
                    "results section below.\n")
        text = text.rstrip("\n") + "\n\n## System benchmarks (bench/run.py)\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
    print(block)


def main():
    missing = harness.missing_binaries()
    if missing:
        print("bench: daemon binaries missing: %s (run make first)" % ", ".join(missing))
        return 2
    if not shutil.which("wrk"):
        print("bench: wrk is not installed (tools/bootstrap.sh installs it)")
        return 2
    workdir = tempfile.mkdtemp(prefix="eldercare-bench-")
    pg = harness.PgCluster(durable=True).start()
    res = {"when": demo.now().strftime("%Y-%m-%d %H:%M %z"), "machine": platform.machine(),
           "cores": os.cpu_count(), "pg_data": os.path.dirname(pg.base)}
    systems = []
    try:
        pg.create_db("bench_tpl")
        pg.migrate("bench_tpl")

        # -- 1. intake, then pgbench on the same cluster ---------------------
        pg.create_db("bench_intake", template="bench_tpl")
        s = harness.System(pg, "bench_intake", log_level="warn").start()
        systems.append(s)
        cards = setup_county(s, workdir)
        log("intake: wrk %d connections, %d s" % (CONNS, INTAKE_S))
        res["intake"] = run_wrk(s, cards, INTAKE_S, "cleaning", "intake%d" % time.time())
        log("intake: %s" % res["intake"])
        s.stop()
        log("pgbench: -c %d -j 2, %d s" % (CONNS, INTAKE_S))
        res["pgbench"] = run_pgbench(pg, "bench_intake", INTAKE_S, workdir)
        log("pgbench: %s" % res["pgbench"])

        # -- 2. end to end on a fresh database --------------------------------
        pg.create_db("bench_e2e", template="bench_tpl")
        s = harness.System(pg, "bench_e2e", log_level="warn").start()
        systems.append(s)
        cards = setup_county(s, workdir)
        log("end to end: wrk %d connections, %d s" % (CONNS, E2E_S))
        t0 = time.time()
        w = run_wrk(s, cards, E2E_S, "cleaning,bath,escort", "e2e%d" % t0)
        wait_drained(s, t0, 60)
        res["e2e"] = e2e_stats(s, t0, E2E_S)
        res["e2e"]["seconds"] = E2E_S
        res["e2e"]["intake"] = w
        log("end to end: %s" % res["e2e"])
        write_results(res)
        return 0
    finally:
        for s in systems:
            s.cleanup()
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
