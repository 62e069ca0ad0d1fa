#!/usr/bin/python3
"""genweek.py: issue 13's "a week of duties and plans for 100,000 elders in
under a minute" (docs/BENCHMARKS.md, "Generating a week (issue 13)").

    bench/genweek.py [--elders 100000] [--tree NAME=DIR ...] [--runs 1]
                     [--arg NAME:DAEMON:FLAG=VALUE ...]
                     [--out build/bench/genweek.json]

Seed (once, not timed): PostgreSQL with fsync on and the four daemons of the
first tree (tests/system/harness.py). The duty rules are turned off while
seeding (a PUT of an empty set in force today), so nothing is generated yet.
Elders by the bulk import (POST /v1/elders/import, CSV chunks of 25,000),
with the special-difficulty categories in the shares of SHARES below; a love
card for CARD_SHARE of them (POST /v1/cards) with a top-up (billingd POST
/v1/cards/{id}/topups), over HTTP_THREADS keep-alive connections; 40 meal
points (meald). Then orderd is stopped and, through SQL (the seed only): care
plans for PLAN_SHARE of the carded elders (70 % lunch Monday to Friday at a
meal point, 30 % a bath on Tuesdays), and the default rules (migration 017)
put in force again from today. The seeded database is the template of every
run.

Each run (trees interleaved, --runs times): a copy of the template, the four
daemons of the tree started on it; the clock starts when orderd is ready (its
generators start then: the duty run at start, the plans' catch-up). Done
when both generators have nothing left to place: the duty run finished
(orderd_duty_run_seconds set) and no active plan is generated short of the
horizon's last day (generated_through moves only after its placements
committed). Meanwhile a probe thread plays the call centre: GET of an elder
and POST /v1/orders on a funded card, 10 a second each, timed. Reported per
run: orders created (plan, mandated), seconds, orders/s, CPU seconds of each
daemon and of PostgreSQL, the probe's p50/p99, the duty run's own split
(load, planning: the pure od_duty_plan, placing) where the tree reports it,
and how long until the saga had moved every generated order out of `placed`
(billingd's hold answered).
"""

import argparse
import datetime
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, "tests", "system"))
sys.path.insert(0, os.path.join(REPO, "tools"))
import harness  # noqa: E402

SH = datetime.timezone(datetime.timedelta(hours=8))
# Special-difficulty categories (../shared/policies/001 §14; docs/DUTIES.md):
# independent shares of all elders, an assumption for a Zhejiang county
# (about 4 in 10 elders live alone or as an empty nest; disability a few %).
SHARES = [("alone", 0.12), ("empty_nest", 0.22), ("left_behind", 0.05), ("disabled", 0.06),
          ("severely_disabled", 0.02), ("fp_special", 0.01), ("no_carer", 0.02)]
CARD_SHARE = 0.9
PLAN_SHARE = 0.10
NEVER_ASSESSED = 0.10
HTTP_THREADS = 16
CHUNK = 25000
MEAL_POINTS = 40
DISTRICTS = 20
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def log(msg):
    print("genweek: %s" % msg, file=sys.stderr, flush=True)


def id_number(n, born):
    body = "%06d" % (110101 + n // 1000) + born + "%03d" % (n % 1000)
    s = sum(int(c) * w for c, w in zip(body, _W))
    return body + "10X98765432"[s % 11]


class Http:
    """One keep-alive connection per thread and daemon."""

    def __init__(self, system):
        self.s, self.local, self.tokens, self.who = system, threading.local(), {}, {}

    def token(self, method, daemon, path):
        """The route's natural caller (harness.auto_caller), minted once."""
        segs = path.split("?")[0].split("/")
        k = (method, daemon, "/".join(segs[:3] + segs[4:]) + ("/import" in path) * "/import")
        if k not in self.who:
            self.who[k] = self.s.auto_caller(method, daemon, path)
        who = self.who[k]
        if who not in self.tokens:
            self.tokens[who] = self.s.token(*who, ttl=7200)
        return self.tokens[who]

    def call(self, daemon, method, path, body=None, headers=None, raw=None, ctype=None):
        conns = self.local.__dict__.setdefault("conns", {})
        h = {"Authorization": "Bearer " + self.token(method, daemon, path)}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        if data is not None:
            h["Content-Type"] = ctype or "application/json"
        for attempt in range(5):
            c = conns.get(daemon)
            if c is None:
                c = conns[daemon] = http.client.HTTPConnection(
                    "127.0.0.1", self.s.daemons[daemon].http_port, timeout=60)
            try:
                c.request(method, path, body=data, headers=h)
                r = c.getresponse()
                out = r.read()
                if r.status == 503:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                return r.status, (json.loads(out) if out else None)
            except (OSError, http.client.HTTPException):
                c.close()
                conns.pop(daemon, None)
                time.sleep(0.2)
        raise RuntimeError("%s %s %s: no answer" % (daemon, method, path))


def parallel(fn, items, threads=HTTP_THREADS):
    it = iter(enumerate(items))
    lock = threading.Lock()
    out = [None] * len(items)
    err = []

    def work():
        while not err:
            with lock:
                try:
                    i, x = next(it)
                except StopIteration:
                    return
            try:
                out[i] = fn(x)
            except Exception as e:   # noqa: BLE001 (reported below)
                err.append(e)
    ts = [threading.Thread(target=work) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if err:
        raise err[0]
    return out


def gen_elders(n, rng, today):
    rows = []
    for i in range(n):
        age = min(100, 60 + int(rng.expovariate(1 / 12.0)))
        born = datetime.date(today.year - age, rng.randint(1, 12), rng.randint(1, 28))
        cats = [c for c, p in SHARES if rng.random() < p]
        rows.append({
            "name": "老人%d" % i, "id_number": id_number(i, born.strftime("%Y%m%d")),
            "phone": "139%08d" % i, "address": "某镇某村%d号" % i,
            "lat": "%.5f" % (30.0 + rng.random() * 0.3), "lon": "%.5f" % (119.8 + rng.random() * 0.3),
            "birth_date": born.isoformat(), "district_id": str(1 + i % DISTRICTS),
            "ability_level": rng.choices(["intact", "mild", "moderate", "severe", "total"],
                                         [20, 35, 25, 15, 5])[0],
            "household": rng.choices(["none", "dibao", "dibao_edge", "tekun"], [85, 8, 5, 2])[0],
            "living": "alone" if "alone" in cats else (
                "empty_nest" if "empty_nest" in cats else (
                    "left_behind" if "left_behind" in cats else "with_family")),
            "categories": ";".join(cats), "age": age})
    return rows


COLS = ["name", "id_number", "phone", "address", "lat", "lon", "birth_date", "district_id",
        "ability_level", "household", "living", "categories"]


def csv_of(rows):
    lines = [",".join(COLS)]
    for r in rows:
        lines.append(",".join(r[c] for c in COLS))
    return ("\n".join(lines) + "\n").encode()


def seed(s, http, n, rng):
    today = datetime.datetime.now(SH).date()
    t0 = time.monotonic()
    st, out = http.call("orderd", "PUT", "/v1/rules/duties",
                        {"effective_from": today.isoformat(), "rules": []})
    assert st == 201, (st, out)
    rows = gen_elders(n, rng, today)
    for k in range(0, n, CHUNK):
        st, out = http.call("orderd", "POST", "/v1/elders/import", raw=csv_of(rows[k:k + CHUNK]),
                            ctype="text/csv")
        assert st == 202, (st, out)
        iid = out["import_id"]
        while True:
            st, r = http.call("orderd", "GET", "/v1/elders/import/%s" % iid)
            if r["state"] != "running":
                break
            time.sleep(0.5)
        assert r["state"] == "done" and r["rejected_rows"] == 0, {
            k: r[k] for k in ("state", "rejected_rows", "created")}
        log("imported %d elders (%.0f s)" % (k + len(rows[k:k + CHUNK]), time.monotonic() - t0))
    t_import = time.monotonic() - t0
    ids = [x[0] for x in s.sql("orderd", "SELECT id::text FROM elders ORDER BY id")]
    # Assessments: 10 % never, the others on a day of the last two years.
    s.sql("orderd", "UPDATE elders SET assessed_on = CASE WHEN random() < %s THEN NULL ELSE "
          "current_date - (random() * 729)::int END", (NEVER_ASSESSED,))
    carded = [e for e in ids if rng.random() < CARD_SHARE]

    def card(e):
        st, out = http.call("orderd", "POST", "/v1/cards", {"elder_id": e})
        assert st == 201, (st, out)
        return out["card_id"]
    t1 = time.monotonic()
    cards = parallel(card, carded)
    log("issued %d cards (%.0f s)" % (len(cards), time.monotonic() - t1))

    def topup(c):
        for _ in range(100):
            st, out = http.call("billingd", "POST", "/v1/cards/%s/topups" % c,
                                {"amount_fen": 200000, "source": "family", "reference": "seed"},
                                headers={"Idempotency-Key": "seed-" + c})
            if st in (200, 201, 202):
                return
            time.sleep(0.2)   # billingd has not read CardIssued yet
        raise RuntimeError("topup %s: %s %r" % (c, st, out))
    t2 = time.monotonic()
    parallel(topup, cards)
    log("topped up %d cards (%.0f s)" % (len(cards), time.monotonic() - t2))
    slots = [{"slot": "lunch", "capacity": 2000, "cutoff": "10:00"}]
    points = []
    for i in range(MEAL_POINTS):
        st, out = http.call("meald", "POST", "/v1/meal-points", {
            "name": "食堂%d" % i, "provider_id": "kitchen-%d" % i, "district_id": 1 + i % DISTRICTS,
            "lat": 30.0 + rng.random() * 0.3, "lon": 119.8 + rng.random() * 0.3, "slots": slots})
        assert st == 201, (st, out)
        points.append(out["meal_point_id"])
    return today, carded, points, t_import, time.monotonic() - t0


def seed_sql(s, today, carded, points, rng):
    """With orderd stopped: plans, and the default rules in force from today."""
    plans = []
    for e in carded:
        if rng.random() >= PLAN_SHARE:
            continue
        if rng.random() < 0.7:
            plans.append((str(uuid.uuid4()), e, "meal", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                          690, 750, rng.choice(points), "delivery"))
        else:
            plans.append((str(uuid.uuid4()), e, "bath", "FREQ=WEEKLY;BYDAY=TU", 540, 660,
                          None, None))
    conn = s.pg.connect(s.dbname, "orderd", autocommit=False)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO plans (id, elder_id, service, rrule, window_start_min, window_end_min, "
            "starts_on, meal_point_id, meal_mode) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [p[:6] + (today,) + p[6:] for p in plans])
        cur.execute("INSERT INTO duty_rule_versions (version, effective_from, rules, created_by) "
                    "SELECT (SELECT max(version) + 1 FROM duty_rule_versions), %s, rules, "
                    "'genweek' FROM duty_rule_versions WHERE version = 1", (today,))
    conn.commit()
    conn.close()
    return len(plans)


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12]) + int(v[13]) + int(v[14])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def pg_cpu(pg):
    """The cluster's CPU: the postmaster, its live children, and (cutime)
    those that exited."""
    pm = pg.postmaster_pid()
    tot = cpu_s(pm)
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    v = f.read().rsplit(")", 1)[1].split()
                if int(v[1]) == pm:
                    tot += cpu_s(int(d))
            except OSError:
                pass
    return tot


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Probe:
    """The call centre meanwhile: GET an elder and POST an order, each in its
    own thread at 10 a second (a slow answer delays only its own kind)."""

    def __init__(self, http, elder, card):
        self.http, self.elder, self.card = http, elder, card
        self.stop = threading.Event()
        self.lat = {"get": [], "post": []}
        self.errors = 0
        self.threads = [threading.Thread(target=self.run, args=(k,), daemon=True)
                        for k in ("get", "post")]

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join()

    def run(self, kind):
        nxt = time.monotonic()
        day = datetime.datetime.now(SH).date() + datetime.timedelta(days=20)
        i = 0
        while not self.stop.is_set():
            t = time.monotonic()
            if kind == "get":
                st, _ = self.http.call("orderd", "GET", "/v1/elders/%s" % self.elder)
            else:
                i += 1
                ws = datetime.datetime(day.year, day.month, day.day, 9, tzinfo=SH)
                st, _ = self.http.call("orderd", "POST", "/v1/orders", {
                    "card_id": self.card, "service": "visit",
                    "window_start": (ws + datetime.timedelta(minutes=i % 400)).isoformat(),
                    "window_end": (ws + datetime.timedelta(hours=8)).isoformat()},
                    headers={"Idempotency-Key": str(uuid.uuid4())})
            if st in (200, 201, 202):
                self.lat[kind].append((time.monotonic() - t) * 1000)
            else:
                self.errors += 1
            nxt += 0.1
            time.sleep(max(0.0, nxt - time.monotonic()))

    def summary(self):
        out = {"errors": self.errors}
        for k, v in self.lat.items():
            v = sorted(v)
            q = (lambda f: round(v[min(len(v) - 1, int(f * len(v)))], 1)) if v else (lambda f: None)
            out[k] = {"n": len(v), "p50": q(0.5), "p99": q(0.99), "max": q(1.0)}
        return out


def pgss_top(pg, dbname, n=30):
    rows = pg.execute(
        "SELECT r.rolname, s.calls, round(s.total_exec_time::numeric, 0), "
        "round((s.total_exec_time / greatest(s.calls, 1) * 1000)::numeric, 1), "
        "left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) "
        "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s "
        "ORDER BY s.total_exec_time DESC LIMIT %s", dbname=dbname, params=(dbname, n))
    return [list(map(str, r)) for r in rows]


def one_run(pg, s, template, tree, dbname, probe_ids, timeout, pgss=False, args=None):
    harness.BIN_DIR = os.path.join(tree, "build", "bin")
    s.extra_args = args or {}
    harness._help_cache.clear()
    harness._routes_cache.clear()
    pg.execute('CREATE DATABASE "%s" TEMPLATE "%s"' % (dbname, template))
    s.dbname = dbname
    if pgss:
        pg.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dbname=dbname)
        pg.execute("SELECT pg_stat_statements_reset()", dbname=dbname)
    load0 = loadavg()
    # The clock from orderd's start: its generators start once its working
    # set is loaded, which is counted in (a conservative figure). CPU from
    # the daemons' start too.
    cpu0 = {n: 0.0 for n in harness.DAEMONS}
    cpu0["postgres"] = pg_cpu(pg)
    t0 = time.monotonic()
    for n in harness.DAEMONS:
        s.daemons[n].start()
    s.wait_ready("orderd", 300)
    t_ready = time.monotonic()
    pids = {n: s.daemons[n].proc.pid for n in harness.DAEMONS}
    http = Http(s)
    for n in ("billingd", "dispatchd", "meald"):
        s.wait_ready(n, 120)
    probe = Probe(http, *probe_ids)
    probe.start()
    last = (datetime.datetime.now(SH).date() + datetime.timedelta(days=6)).isoformat()
    t_duty = t_plan = None
    loads = []
    while time.monotonic() - t0 < timeout:
        now = time.monotonic()
        if t_duty is None:
            m = s.metrics("orderd")
            if m.get("orderd_duty_run_seconds", 0) > 0:
                t_duty = now
        if t_plan is None:
            left = s.sql("orderd", "SELECT count(*) FROM plans WHERE status = 'active' AND "
                         "(generated_through IS NULL OR generated_through < %s)", (last,))[0][0]
            if left == 0:
                t_plan = now
        loads.append(loadavg())
        if t_duty and t_plan:
            break
        time.sleep(0.25)
    t_done = time.monotonic()
    cpu1 = {n: cpu_s(p) for n, p in pids.items()}
    cpu1["postgres"] = pg_cpu(pg)
    probe.stop.set()
    probe.join()
    m = s.metrics("orderd")
    counts = dict(s.sql("orderd", "SELECT source, count(*) FROM orders WHERE source IN "
                        "('plan', 'mandated') GROUP BY source"))
    created = sum(counts.values())
    # The saga downstream: until no generated order is still `placed`.
    t_saga = None
    while time.monotonic() - t0 < timeout + 120:
        left = s.sql("orderd", "SELECT count(*) FROM orders WHERE source IN ('plan', 'mandated') "
                     "AND state = 'placed'")[0][0]
        if left == 0:
            t_saga = time.monotonic()
            break
        time.sleep(0.5)
    res = {
        "orders": created, "by_source": counts,
        "ready_s": round(t_ready - t0, 2),
        "seconds": round(t_done - t0, 2) if t_duty and t_plan else None,
        "duties_s": round(t_duty - t0, 2) if t_duty else None,
        "plans_s": round(t_plan - t0, 2) if t_plan else None,
        "saga_drained_s": round(t_saga - t0, 2) if t_saga else None,
        "cpu_s": {n: round(cpu1[n] - cpu0[n], 1) for n in cpu1},
        "duty_split_s": {k: m.get("orderd_duty_%s_seconds" % k)
                         for k in ("load", "plan", "run")},
        "probe_ms": probe.summary(),
        "loadavg": {"before": load0, "median": statistics.median(loads) if loads else None},
    }
    res["orders_per_s"] = round(created / res["seconds"], 1) if res["seconds"] else None
    # orderd's connections: statements, batches, mean queue-to-commit ms.
    res["db"] = {}
    for k, v in sorted(m.items()):
        if k.startswith("db_statement_seconds_count{"):
            db = k.split('"')[1]
            tot = m.get(k.replace("_count{", "_sum{"), 0.0)
            res["db"][db] = {"statements": int(v),
                             "batches": int(m.get('db_batches_total{db="%s"}' % db, 0)),
                             "mean_ms": round(tot / v * 1000, 1) if v else None}
    if pgss:
        res["pgss"] = pgss_top(pg, dbname)
        for r in res["pgss"]:
            log("  " + " | ".join(r))
    for n in harness.DAEMONS:
        s.daemons[n].stop(timeout=60)
    pg.execute('DROP DATABASE "%s"' % dbname)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--elders", type=int, default=100000)
    ap.add_argument("--tree", action="append", default=[],
                    help="NAME=DIR: a built tree (its build/bin); default this one")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--arg", action="append", default=[],
                    help="NAME:DAEMON:FLAG=VALUE: a flag for tree NAME's daemon (repeatable; "
                         "one tree directory may run as several names)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--pgss", action="store_true",
                    help="pg_stat_statements (track=all): each run's top statements by time")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "bench", "genweek.json"))
    a = ap.parse_args()
    trees = [t.split("=", 1) for t in a.tree] or [["this", REPO]]
    tree_args = {}
    for x in a.arg:
        name, daemon, kv = x.split(":", 2)
        flag, value = kv.split("=", 1)
        tree_args.setdefault(name, {}).setdefault(daemon, {})[flag] = value
    rng = random.Random(a.seed)
    harness.BIN_DIR = os.path.join(trees[0][1], "build", "bin")
    pg = harness.PgCluster(durable=True)
    if a.pgss:
        pg.durable_opts += (" -c shared_preload_libraries=pg_stat_statements"
                            " -c pg_stat_statements.track=all")
    pg.start()
    results = {name: [] for name, _ in trees}
    try:
        pg.create_db("genweek_seed")
        pg.migrate("genweek_seed")
        s = harness.System(pg, "genweek_seed", log_level="warn",
                           extra_args={"orderd": {"duty-poll-s": "60"}})
        s.start(timeout=60)
        http = Http(s)
        today, carded, points, t_imp, t_seed = seed(s, http, a.elders, rng)
        s.stop()
        nplans = seed_sql(s, today, carded, points, rng)
        log("seeded %d elders, %d cards, %d plans in %.0f s (import %.0f s)"
            % (a.elders, len(carded), nplans, t_seed, t_imp))
        # The probe's elder and card: one funded card's.
        e, c = s.sql("orderd", "SELECT elder_id::text, id::text FROM cards LIMIT 1")[0]
        s.extra_args = {}
        k = 0
        for r in range(a.runs):
            for name, tree in trees:
                k += 1
                out = one_run(pg, s, "genweek_seed", tree, "genweek_%d" % k, (e, c), a.timeout,
                              a.pgss, tree_args.get(name))
                out["tree"] = name
                log("run %d %s: %s" % (r + 1, name, json.dumps(out)))
                results[name].append(out)
        summary = {"nproc": os.cpu_count(), "elders": a.elders, "cards": len(carded),
                   "plans": nplans, "seed_s": round(t_seed), "import_s": round(t_imp),
                   "runs": results, "median": {}}
        for name, rs in results.items():
            secs = [x["seconds"] for x in rs if x["seconds"]]
            summary["median"][name] = {
                "seconds": statistics.median(secs) if secs else None,
                "orders": statistics.median([x["orders"] for x in rs]),
                "orders_per_s": statistics.median([x["orders_per_s"] for x in rs
                                                   if x["orders_per_s"]] or [0]),
                "probe_post_p99_ms": statistics.median([x["probe_ms"]["post"]["p99"] or 0
                                                        for x in rs]),
                "probe_get_p99_ms": statistics.median([x["probe_ms"]["get"]["p99"] or 0
                                                       for x in rs]),
            }
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(summary, f, indent=1)
        print(json.dumps(summary["median"], indent=1))
    finally:
        try:
            s.cleanup()
        except Exception:   # noqa: BLE001
            pass
        pg.stop()


if __name__ == "__main__":
    main()
