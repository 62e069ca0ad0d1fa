#!/usr/bin/python3
"""soak.py: orders flow while every daemon is killed with SIGKILL in turn and
restarted; afterwards every acknowledged order must reach a final state,
nothing may have happened twice to an order in any daemon, money must
reconcile across the daemons, the ledger check
must pass and the event logs must have been pruned to what some reader
still needs.

    tests/soak.py [--orders 500] [--rounds 1] [--concurrency 8] [--timeout 300]
                  [--log-retention 0] [--log-prune-interval 1]

Duplicates are counted per order across sources the schema does not tie
together (duplicate_checks): what each producer appended to its log
(recorded by a trigger of the test's own, since pruning deletes the rows),
billingd's transfers against orderd's final states, and the client's
acknowledged Idempotency-Keys against orderd's orders. Table sizes are
sampled while the orders flow (size_checks).

Starts its own throwaway PostgreSQL and the four daemons (tests/system/harness.py).
Prints "N passed, N failed" over its checks; exit 1 when a check fails.
Used by `make soak` (tests/soak.sh) and by tests/system/test_crash.py.
"""

import argparse
import concurrent.futures
import datetime
import os
import random
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "system"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import harness    # noqa: E402
import reconcile  # noqa: E402
import demo       # noqa: E402

SERVICES = ["bath", "cleaning", "escort", "meal", "emergency", "medical_escort"]

# Events a producer appends at most once per order (envelope key = order id).
# Assignments may repeat (a decline or timeout re-dispatches), so they are
# not here. Each group: at most one event of any of its types per order.
ONCE_PER_ORDER = [
    ("orderd", ("OrderPlaced",)),
    ("orderd", ("OrderCompleted", "OrderCancelled", "OrderFailed")),
    ("billingd", ("FundsHeld", "FundsDenied")),
    ("billingd", ("HoldCaptured", "HoldReleased")),
    ("dispatchd", ("VisitCompleted",)),
    ("meald", ("MealDelivered",)),
]

WITNESS_SQL = """
CREATE SCHEMA IF NOT EXISTS soak_witness;
CREATE TABLE IF NOT EXISTS soak_witness.appended (
    producer text NOT NULL, seq bigint NOT NULL, id uuid NOT NULL, type text NOT NULL,
    key text NOT NULL);
CREATE OR REPLACE FUNCTION soak_witness.record() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO soak_witness.appended VALUES (TG_TABLE_SCHEMA, NEW.seq, NEW.id, NEW.type,
                                              NEW.key);
    RETURN NULL;
END $$;
"""


def install_witness(sql):
    """Record every event appended from now on, in a table of the test's own
    (the superuser's): the logs are pruned, this evidence is not."""
    sql("postgres", WITNESS_SQL)
    for d in harness.DAEMONS:
        sql("postgres", "DROP TRIGGER IF EXISTS soak_witness ON %s.events; "
            "CREATE TRIGGER soak_witness AFTER INSERT ON %s.events FOR EACH ROW "
            "EXECUTE FUNCTION soak_witness.record()" % (d, d))


def duplicate_checks(sql, acked):
    """[(name, ok, detail)]: nothing happened twice to an order, judged by
    evidence no key or constraint already guarantees. acked: {Idempotency-Key:
    order id} the client was answered with."""
    out = []
    # Each producer's log, everything it ever appended (the witness).
    for producer, types in ONCE_PER_ORDER:
        rows = sql("postgres", "SELECT key, count(*) FROM soak_witness.appended "
                   "WHERE producer = %s AND type = ANY (%s) GROUP BY key "
                   "HAVING count(*) > 1 ORDER BY key LIMIT 5", (producer, list(types)))
        out.append(("%s appended %s at most once per order" % (producer, "/".join(types)),
                    not rows, ", ".join("%s x%d" % (k[:8], n) for k, n in rows)))
    # Each producer's log: numbered without a gap or a repeat, whatever pruned.
    for d in harness.DAEMONS:
        cnt, distinct, lo, hi = sql("postgres", "SELECT count(*), count(DISTINCT id), "
                                    "coalesce(min(seq), 0), coalesce(max(seq), 0) "
                                    "FROM soak_witness.appended WHERE producer = %s", (d,))[0]
        out.append(("%s log numbered without gap or repeat" % d,
                    cnt == distinct and (cnt == 0 or hi - lo + 1 == cnt),
                    "appended %d, distinct ids %d, seq %d..%d" % (cnt, distinct, lo, hi)))
    # Money: billingd moves it once per order and kind, and its captures are
    # exactly orderd's billed orders (two daemons, two schemas, no key
    # between them).
    rows = sql("postgres", "SELECT order_id, kind, count(*) FROM billingd.transfers "
               "WHERE order_id IS NOT NULL GROUP BY order_id, kind HAVING count(*) > 1 "
               "LIMIT 5")
    out.append(("billingd: one hold, capture or release transfer per order and kind",
                not rows, ", ".join("%s %s x%d" % (str(o)[:8], k, n) for o, k, n in rows)))
    rows = sql("postgres", "SELECT order_id FROM billingd.transfers WHERE order_id IS NOT NULL "
               "GROUP BY order_id HAVING count(*) FILTER (WHERE kind = 'capture') > 0 "
               "AND count(*) FILTER (WHERE kind = 'release') > 0 LIMIT 5")
    out.append(("billingd: no order both captured and released", not rows,
                ", ".join(str(r[0])[:8] for r in rows)))
    rows = sql("postgres", "SELECT o.id, o.state, count(t.transfer_id) FROM orderd.orders o "
               "LEFT JOIN billingd.transfers t ON t.order_id = o.id AND t.kind = 'capture' "
               "GROUP BY o.id, o.state "
               "HAVING count(t.transfer_id) <> CASE WHEN o.state = 'billed' THEN 1 ELSE 0 END "
               "AND o.state IN ('billed', 'cancelled', 'denied', 'failed') LIMIT 5")
    out.append(("one capture per billed order, none for the others", not rows,
                ", ".join("%s %s x%d" % (str(i)[:8], st, n) for i, st, n in rows)))
    # The client's acknowledgements against orderd's store: each key
    # answered with the order stored under it, and no two keys one order.
    ids = list(acked.values())
    stored = dict(sql("postgres", "SELECT idem_key, id::text FROM orderd.orders "
                      "WHERE idem_key = ANY (%s)", (list(acked),)))
    wrong = [k for k, oid in acked.items() if stored.get(k) != oid]
    out.append(("each Idempotency-Key answered with the one order stored under it",
                not wrong and len(set(ids)) == len(ids),
                "%d keys answered otherwise, %d ids for %d keys"
                % (len(wrong), len(set(ids)), len(ids))))
    # orderd recorded each once-only step of an order once.
    dup = sql("postgres", "SELECT count(*) FROM (SELECT order_id, event "
              "FROM orderd.order_history WHERE event ~* "
              "'(placed|held|denied|captured|completed|delivered|billed)' "
              "GROUP BY order_id, event HAVING count(*) > 1) x")[0][0]
    out.append(("no order history entry recorded twice", dup == 0,
                "%d (order, event) pairs repeated" % dup))
    return out


SIZE_SQL = " UNION ALL ".join(
    "SELECT '%(d)s', (SELECT count(*) FROM %(d)s.events), (SELECT count(*) FROM %(d)s.inbox), "
    "pg_total_relation_size('%(d)s.events') + pg_total_relation_size('%(d)s.inbox')"
    % {"d": d} for d in harness.DAEMONS)


def log_sizes(sql):
    """{daemon: (events rows, inbox rows, bytes of both tables)}."""
    return {d: (e, i, b) for d, e, i, b in sql("postgres", SIZE_SQL)}


def log(msg):
    print("[soak %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Soak:
    def __init__(self, system, args, faults=None, supervise=False):
        """faults: [(seconds to wait, callable, label)] run in turn while
        orders flow, instead of the kills (the fault tests); supervise:
        restart a daemon that exits, as systemd's Restart= would."""
        self.s = system
        self.args = args
        self.faults = faults
        self.faults_done = []
        self.supervise = supervise
        self.restarts = {}
        self.statuses = {}
        self.meal_days_ahead = 1
        self.elders = []
        self.orders = []            # acknowledged demo.Order objects
        self.lock = threading.Lock()
        self.unacked = 0
        self.stop_flow = threading.Event()
        self.flow_done = threading.Event()
        self.checks = []            # (name, ok, detail)
        self.sizes = []             # (seconds into the run, log_sizes())
        self.t_flow = time.monotonic()
        # Placing takes as long as the kills (plus a little), unless told.
        self.place_s = getattr(args, "place_seconds", None) or (
            args.kill_every * len(harness.DAEMONS) * args.rounds + 2)

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))
        log("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""))

    def setup(self):
        for d in harness.DAEMONS:
            demo.URL[d] = self.s.url(d)
        demo.ISSUER_KEY = self.s.issuer_key_file   # its tokens: the System's issuer
        demo._token_cache.clear()   # none minted for an earlier System's issuer
        demo.say = lambda msg: None
        demo.PACE_S = 0
        today = demo.now().date()
        for i in range(self.args.elders):
            dist = 1 + i % 3
            birth = datetime.date(today.year - 70 - i % 25, 1 + i % 12, 1 + i % 28)
            lat, lon = demo.near(dist, random.uniform(-0.01, 0.01), random.uniform(-0.01, 0.01))
            st, doc = None, None
            for _ in range(5):
                st, doc = demo.call("orderd", "POST", "/v1/elders", {
                    "name": "Soak Elder %d" % i, "id_number": demo.id_number(birth, i % 2 == 0),
                    "phone": "1390000%04d" % i, "address": "No. %d" % i, "district_id": dist,
                    "lat": lat, "lon": lon, "birth_date": birth.isoformat(),
                    "ability_level": random.choice(["intact", "mild", "moderate", "severe"]),
                    "household": random.choice(["none", "dibao", "dibao_edge", "tekun"]),
                    "living": "alone"}, ok=None)
                if st == 201:
                    break
            if st != 201:
                raise demo.ApiError("elder: %s %s" % (st, doc))
            _, card = demo.call("orderd", "POST", "/v1/cards", {"elder_id": doc["elder_id"]})
            e = {"name": "Soak Elder %d" % i, "district_id": dist, "lat": lat, "lon": lon,
                 "elder_id": doc["elder_id"], "card_id": card["card_id"]}
            demo.retry(lambda: demo.call(
                "billingd", "POST", "/v1/cards/%s/topups" % e["card_id"],
                {"amount_fen": 10000000, "source": "family", "reference": "soak"},
                headers={"Idempotency-Key": "soak-topup-" + e["card_id"]}), "top-up")
            self.elders.append(e)
        # A 24 h shift that began two hours ago: every visit (window within
        # three hours of now, clock steps of an hour) ends inside it at any
        # hour of the day. "00:00"-"23:59" cannot take a 21:30 bath.
        shift = (demo.now() - datetime.timedelta(hours=2)).strftime("%H:%M")
        for i in range(self.args.caregivers):
            dist = 1 + i % 3
            lat, lon = demo.near(dist, random.uniform(-0.01, 0.01), random.uniform(-0.01, 0.01))
            demo.call("dispatchd", "POST", "/v1/caregivers", {
                "name": "Soak Carer %d" % i, "provider_id": "provider-%d" % (i % 3),
                "district_id": dist, "lat": lat, "lon": lon,
                "skills": ["bath", "cleaning", "escort", "medical_escort", "emergency",
                           "visit", "assessment"],
                "level": 3, "first_aid": True, "shift_start": shift, "shift_end": shift},
                role="admin")
        for dist in (1, 2, 3):
            lat, lon = demo.near(dist, 0.001, 0.001)
            demo.call("meald", "POST", "/v1/meal-points", {
                "name": "Soak kitchen %d" % dist, "district_id": dist, "lat": lat, "lon": lon,
                "slots": [{"slot": "lunch", "capacity": 100000, "cutoff": "09:30"},
                          {"slot": "dinner", "capacity": 100000, "cutoff": "15:30"}]},
                role="admin")
        log("set up %d elders, %d caregivers, 3 meal points"
            % (len(self.elders), self.args.caregivers))

    def place_one(self, n):
        # Spread placements over the whole kill sequence, so orders are
        # placed while each daemon in turn is down.
        due = self.t_flow + n * self.place_s / max(1, self.args.orders)
        while time.monotonic() < due and not self.stop_flow.is_set():
            time.sleep(max(0.0, min(0.05, due - time.monotonic())))
        e = random.choice(self.elders)
        service = SERVICES[n % len(SERVICES)]
        t = demo.now()
        if service == "meal":
            day = (t + datetime.timedelta(days=self.meal_days_ahead)).date()
            win = (datetime.datetime.combine(day, datetime.time(11, 0), demo.TZ),
                   datetime.datetime.combine(day, datetime.time(12, 30), demo.TZ))
        else:
            win = (t + datetime.timedelta(minutes=1), t + datetime.timedelta(hours=3))
        o = demo.Order("soak%d" % n, e, service, "billed", win)
        o.key = "soak-%d-%s" % (n, uuid.uuid4())
        deadline = time.monotonic() + 60
        # Retry the same key until acknowledged: orderd may be down right now.
        while time.monotonic() < deadline and not self.stop_flow.is_set():
            try:
                st, doc = demo.call("orderd", "POST", "/v1/orders", o.body(),
                                    headers={"Idempotency-Key": o.key}, ok=None)
                self.count_status(st)
                if st == 202 or st == 200 or st == 201:
                    o.id = doc["order_id"]
                    with self.lock:
                        self.orders.append(o)
                    return
                if st < 500 and st != 429:
                    log("order %d refused: %d %s" % (n, st, doc))
                    break
            except OSError:
                self.count_status("no_answer")
            time.sleep(0.2)
        with self.lock:
            self.unacked += 1

    def count_status(self, st):
        """Answers to placement attempts, by status (the fault tests' figure)."""
        with self.lock:
            self.statuses[st] = self.statuses.get(st, 0) + 1

    def place_safe(self, n):
        try:
            self.place_one(n)
        except Exception as e:  # a harness bug must not stall the run
            log("placing order %d: %r" % (n, e))
            with self.lock:
                self.unacked += 1

    def acked(self):
        """{Idempotency-Key: order id} as the client was answered."""
        with self.lock:
            return {o.key: o.id for o in self.orders}

    def flow(self):
        self.t_flow = time.monotonic()
        try:
            with concurrent.futures.ThreadPoolExecutor(self.args.concurrency) as ex:
                list(ex.map(self.place_safe, range(self.args.orders)))
        finally:
            self.flow_done.set()

    def drive_all(self, until):
        """Poll and drive every open order until all are final or `until`."""
        while time.monotonic() < until:
            with self.lock:
                open_orders = [o for o in self.orders if o.state not in demo.FINAL]
                flowing = not self.flow_done.is_set()
            if not open_orders and not flowing:
                return True
            for o in open_orders:
                try:
                    demo.poll(o)
                    o.next_step_at = 0
                    demo.drive(o)
                except (demo.ApiError, OSError):
                    pass
            time.sleep(0.1)
        return False

    def diagnose(self, order_ids):
        """Print where stuck orders stand in every daemon's store and log."""
        q = self.s.sql
        for d in harness.DAEMONS:
            log("%s positions: %s" % (d, q("postgres", "SELECT producer, seq FROM %s.positions "
                                          "ORDER BY 1" % d)))
        cols = q("postgres", "SELECT table_schema, table_name FROM information_schema.columns "
                 "WHERE column_name = 'order_id' AND table_schema IN "
                 "('orderd', 'billingd', 'dispatchd', 'meald') ORDER BY 1, 2")
        for oid in order_ids:
            log("stuck order %s:" % oid)
            for row in q("postgres", "SELECT at, state, event, detail FROM "
                         "orderd.order_history WHERE order_id = %s ORDER BY id", (oid,)):
                log("  orderd history %s" % (row,))
            for d in harness.DAEMONS:
                for row in q("postgres", "SELECT seq, type, time FROM %s.events WHERE key = %%s "
                             "ORDER BY seq" % d, (oid,)):
                    log("  %s event %s" % (d, row))
            for schema, table in cols:
                n = q("postgres", "SELECT count(*) FROM %s.%s WHERE order_id::text = %%s"
                      % (schema, table), (oid,))[0][0]
                log("  %s.%s rows: %d" % (schema, table, n))
            for d in harness.DAEMONS:
                for line in self.s.daemons[d].log_text().splitlines():
                    if oid in line or '"level":"error"' in line or '"level":"warn"' in line:
                        log("  %s log: %s" % (d, line[:300]))

    def injector(self):
        for wait, fn, label in self.faults:
            time.sleep(wait)
            log("fault: %s" % label)
            fn()
            self.faults_done.append(label)

    def supervisor(self):
        """Restart any daemon that exited (counted), until the run ends."""
        while not self.run_done.is_set():
            for name, d in self.s.daemons.items():
                if d.proc is not None and not d.alive():
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    log("%s exited with %s: restarting" % (name, d.proc.returncode))
                    try:
                        d.start()
                    except Exception as e:  # keep supervising the others
                        log("restart %s: %r" % (name, e))
            self.run_done.wait(0.5)

    def sampler(self):
        """Log table sizes every few seconds until the orders are final."""
        t0 = time.monotonic()
        while not self.stop_flow.is_set():
            try:
                self.sizes.append((time.monotonic() - t0, log_sizes(self.s.sql)))
            except Exception as e:  # a daemon restarting must not end the sampling
                log("size sample: %r" % e)
            self.stop_flow.wait(getattr(self.args, "sample_every", 2.0))

    def size_checks(self):
        """The logs were pruned: once the readers are past the head, each
        events table keeps only what is younger than the retention, at least
        its newest event, and each inbox one row per log it reads."""
        retention = getattr(self.args, "log_retention", None)
        interval = getattr(self.args, "log_prune_interval", None)
        if retention is None or retention > 0:
            log("size check skipped: a retention keeps rows (--log-retention > 0)")
            return
        appended = {d: self.s.sql("postgres", "SELECT coalesce(max(seq), 0) FROM %s.events"
                                  % d)[0][0] for d in harness.DAEMONS}

        def pruned():
            now = log_sizes(self.s.sql)
            return now if all(now[d][0] <= 1 and now[d][1] <= len(harness.CONSUMES[d])
                              for d in harness.DAEMONS) else None
        try:
            end = harness.wait_until(pruned, 5 * (interval or 1) + 10, 0.5, what="logs pruned")
        except AssertionError:
            end = log_sizes(self.s.sql)
        peak = {d: max((sz[d][0] for _, sz in self.sizes), default=0) for d in harness.DAEMONS}
        for d in harness.DAEMONS:
            e, i, b = end[d]
            log("%s: appended %d events; rows at the end: events %d, inbox %d (%d kB); "
                "peak events rows while flowing %d" % (d, appended[d], e, i, b // 1024, peak[d]))
        self.check("every events table pruned to its newest event",
                   all(end[d][0] <= 1 for d in harness.DAEMONS),
                   str({d: end[d][0] for d in harness.DAEMONS}))
        self.check("every inbox pruned to one row per log read",
                   all(end[d][1] <= len(harness.CONSUMES[d]) for d in harness.DAEMONS),
                   str({d: end[d][1] for d in harness.DAEMONS}))
        # Each producer knew its readers by their CURVE names (User-Id).
        readers = {d: sorted(r[0] for r in self.s.sql(
            "postgres", "SELECT reader FROM %s.log_readers" % d)) for d in harness.DAEMONS}
        want = {d: sorted(x for x in harness.DAEMONS if d in harness.CONSUMES[x])
                for d in harness.DAEMONS}
        self.check("every producer knows where each of its readers stands", readers == want,
                   "%s, expected %s" % (readers, want))
        # Bounded while flowing: never more than half of what was appended
        # held at once (without pruning every row appended stays: all of it).
        total = sum(appended.values())
        held = max((sum(v[0] for v in sz.values()) for _, sz in self.sizes), default=0)
        if self.sizes:
            half = len(self.sizes) // 2 or 1
            first = max(sum(v[0] + v[1] for v in sz.values()) for _, sz in self.sizes[:half])
            second = max((sum(v[0] + v[1] for v in sz.values()) for _, sz in self.sizes[half:]),
                         default=0)
            log("log rows (events + inbox, all daemons): peak %d in the first half of the "
                "run, %d in the second; %d samples" % (first, second, len(self.sizes)))
        self.check("events rows held at once stay below half of those appended",
                   total > 0 and held <= total // 2,
                   "peak %d rows held, %d appended" % (held, total))

    def killer(self):
        if self.faults is not None:
            return self.injector()
        names = list(harness.DAEMONS) * self.args.rounds
        for name in names:
            time.sleep(self.args.kill_every)
            log("kill -9 %s" % name)
            self.s.kill9(name)
            time.sleep(0.5)
            self.s.restart(name, timeout=60)
            log("%s restarted and ready" % name)

    def reconcile(self):
        """Every acknowledged order stored once under its key with the id
        the client was told; money agrees across the daemons
        (tests/system/reconcile.py). Prints the figure line."""
        acked = {o.key: o.id for o in self.orders}
        once, problems = reconcile.acknowledged_present_once(self.s.pg, self.s.dbname, acked)
        self.check("every acknowledged order present exactly once", not problems,
                   "; ".join(problems[:5]))
        rep = reconcile.reconcile(self.s.pg, self.s.dbname)
        self.check("money reconciles across the daemons", rep.ok, str(rep)[:2000])
        self.figure = {"placed": self.args.orders, "acknowledged": len(self.orders),
                       "present_once": once, "billed": rep.figures.get("billed"),
                       "charged_fen": rep.figures.get("charged_fen"),
                       "fen_lost": rep.fen_lost, "orders_lost": len(self.orders) - once}
        if self.faults is not None:
            self.figure["faults_survived"] = len(self.faults_done)
        if self.supervise:
            self.figure["daemon_restarts"] = sum(self.restarts.values())
        self.figure["answers"] = ",".join("%s:%d" % (k, v) for k, v in sorted(
            self.statuses.items(), key=lambda kv: str(kv[0])))
        print("FIGURE %s: %s" % (getattr(self, "name", "soak"), " ".join(
            "%s=%s" % kv for kv in self.figure.items())), flush=True)
        return rep

    def run(self):
        install_witness(self.s.sql)
        self.setup()
        t0 = time.monotonic()
        flow = threading.Thread(target=self.flow)
        kill = threading.Thread(target=self.killer)
        sample = threading.Thread(target=self.sampler)
        self.run_done = threading.Event()
        sup = threading.Thread(target=self.supervisor) if self.supervise else None
        if sup:
            sup.start()
        flow.start()
        kill.start()
        sample.start()
        try:
            done = self.drive_all(time.monotonic() + self.args.timeout)
            flow.join()
            kill.join()
            if not done:
                done = self.drive_all(time.monotonic() + 30)
        finally:
            self.stop_flow.set()
            sample.join()
            self.run_done.set()
            if sup:
                sup.join()
        elapsed = time.monotonic() - t0
        n = len(self.orders)
        states = {}
        for o in self.orders:
            states[o.state] = states.get(o.state, 0) + 1
        log("%d acknowledged, %d never acknowledged, %.1f s; final states %s"
            % (n, self.unacked, elapsed, states))
        self.check("every acknowledged order reached a final state", done and all(
            o.state in demo.FINAL for o in self.orders),
            ", ".join("%s:%s" % (o.id[:8], o.state) for o in self.orders
                      if o.state not in demo.FINAL)[:500])
        self.check("every order was acknowledged", self.unacked == 0,
                   "%d never acknowledged" % self.unacked)
        self.check("no acknowledged order denied or failed",
                   all(o.state in ("billed", "cancelled") for o in self.orders),
                   str(states))
        for name, ok, detail in duplicate_checks(self.s.sql, self.acked()):
            self.check(name, ok, detail)
        self.size_checks()
        st, chk = self.s.http("GET", "billingd", "/v1/ledger/check")
        self.check("ledger check passes", st == 200 and not (
            isinstance(chk, dict) and chk.get("ok") is False), "%s %s" % (st, chk))
        self.reconcile()
        stuck = [o.id for o in self.orders if o.state not in demo.FINAL]
        if stuck:
            self.diagnose(stuck[:3])
        failed = sum(1 for c in self.checks if not c[1])
        print("%d passed, %d failed" % (len(self.checks) - failed, failed), flush=True)
        return failed == 0


def prune_args(args):
    """extra_args for harness.System: every daemon prunes as args say."""
    flags = {"log-retention": str(args.log_retention),
             "log-prune-interval": str(args.log_prune_interval)}
    return {d: dict(flags) for d in harness.DAEMONS}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=1, help="times each daemon is killed")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--elders", type=int, default=40)
    ap.add_argument("--caregivers", type=int, default=60)
    ap.add_argument("--kill-every", type=float, default=2.0, help="seconds between kills")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--place-seconds", type=float, default=None,
                    help="spread placements over this long (default: the kill sequence)")
    ap.add_argument("--log-retention", type=int, default=0,
                    help="the daemons' --log-retention (seconds)")
    ap.add_argument("--log-prune-interval", type=int, default=1,
                    help="the daemons' --log-prune-interval (seconds; 0: no pruning)")
    ap.add_argument("--sample-every", type=float, default=2.0,
                    help="seconds between table size samples")
    args = ap.parse_args(argv)
    missing = harness.missing_binaries()
    if missing:
        print("soak: daemon binaries missing: %s (run make first)" % ", ".join(missing))
        return 2
    # As production runs PostgreSQL: fsync, synchronous_commit, full_page_writes.
    pg = harness.PgCluster(durable=True).start()
    s = None
    try:
        pg.create_db("soak")
        pg.migrate("soak")
        s = harness.System(pg, "soak", log_level="info",
                           extra_args=prune_args(args)).start()
        ok = Soak(s, args).run()
        if not ok:
            for name, text in s.logs(tail=40).items():
                print("--- %s (last 40 lines)\n%s" % (name, text))
        return 0 if ok else 1
    finally:
        if s:
            s.cleanup()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
