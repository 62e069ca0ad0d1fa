#!/usr/bin/python3
"""countymonth.py: issue 13's "county month" benchmark (docs/BENCHMARKS.md,
"County month (issue 13)"). `make bench-county-month` runs it.

    countymonth.py [--elders N] [--seed S] [--days D] [--out DIR] [--keep]
    (env COUNTY_MONTH_ELDERS 20000, COUNTY_MONTH_SEED 13, COUNTY_MONTH_DAYS 28,
     COUNTY_MONTH_TICK_MIN 15, COUNTY_MONTH_OUT)

The roster (seeded, the same on every run): N elders over max(3, N/2500)
districts 6-16 km around a county seat; ages 60-100 in the shares of
China's 2020 census (60-69 55.8 %, 70-79 30.6 %, 80+ 13.6 %: 80-89 11.6,
90-100 2.0); the special-difficulty categories of
../shared/policies/001_96a20b76e7fbf74d.txt §14 (the policies name them
but give no shares; these are our assumptions, see BENCHMARKS.md):
alone 7 %, empty_nest 8 %, left_behind 3 %, disabled 3 %,
severely_disabled 1.5 %, fp_special 0.5 %, and no_carer 2 % (half of them
also alone or disabled); ability levels following the disability
categories; 97 % assessed before (a date spread over the last year from 80,
the last two years below 80: 001 §2), 3 % never; love cards for 92 % (the
others' mandated visits go on no card, the fund pays); care plans for 6 %
of the card holders: a weekly bath on one weekday (4 %) or cleaning every
other week (2 %), topped up to pay for them. Caregivers per district from
the roster's expected hours of service per working day: 1.6 times the need
(plus one) in every district but the last, which gets 45 % of its need:
there the coverage must name the elders missed. One provider per district,
serving that district only (PUT /v1/providers/{p}/districts, 划片): without
zones dispatchd lets the neighbours' spare caregivers make up the shortage.

The month: February 2027 (Monday 1 to Sunday 28: four ISO weeks, W05-W08)
through the four real daemons (tests/system/harness.py, PostgreSQL with
fsync on) under libfaketime, whose clock this script sets (countyday.py's
Clock). Speed-ups, all flags or clock jumps: orderd runs with
--duty-interval-s 10 (900 in production) and --duty-poll-s 2 (10), and
--plan-interval-s 5 (60); the clock jumps over the nights (18:00 to 07:00)
and through the day in COUNTY_MONTH_TICK_MIN steps; otherwise it runs at
real speed. The roster is loaded the evening before (31 January, 20:00)
with an empty duty rule set in force, so the generator places nothing
from half-loaded records; then the default rule set is put back (a new
version, effective the same day) and its first run (the whole first week
for every elder) is measured. Each day: the clock jumps to 07:00; the
script waits for two generator runs (one begun after the jump) while the
caregivers' apps poll their visits (GET /v1/caregivers/{id}/visits) and
accept every offer; then the day from 08:00 to 18:00 in ticks: at each
tick every app polls and accepts, and works its accepted visits of the day
in ETA order (leaving at the ETA or as soon as the trip from the last
visit allows, straight line x 1.3 at 15 km/h), checking in (`at`: the
arrival) and out (`at`: arrival + the service's minutes; an assessment's
check-out carries a level and score) for all that fit before the tick.

At the end: GET /v1/coverage per district for the month and each week,
against the script's own record of the mandated visits its apps checked
out (the `visit` service; the elders due computed from the roster and the
rules in force): in the districts with enough caregivers every rate must be
1; in every district the missing list must equal, as a set, the elders
due without a visit in our record. Figures and verdicts go to
OUT/result.json and OUT/report.md (stdout too).
"""

import argparse
import datetime
import json
import math
import os
import random
import re
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(REPO, "tests", "system"))
sys.path.insert(0, os.path.join(REPO, "tools"))
import countyday as cd    # noqa: E402  (Http, Clock, metres, LIBFAKETIME)

TZ = cd.TZ
DAY = 86400
MONTH0 = datetime.date(2027, 2, 1)          # a Monday; February 2027 = W05..W08
SERVICE_MIN = cd.SERVICE_MIN
MONTHLY_CATS = ("alone", "empty_nest", "left_behind", "disabled", "severely_disabled",
                "fp_special")
ALL_CATS = MONTHLY_CATS + ("no_carer",)
CAT_SHARE = {"alone": 0.07, "empty_nest": 0.08, "left_behind": 0.03, "disabled": 0.03,
             "severely_disabled": 0.015, "fp_special": 0.005}
NO_CARER = 0.02
SHIFT = (8 * 3600, 17 * 3600)
TRAVEL_MIN = 15            # a visit's travel allowance when sizing the staff


def log(msg):
    print("countymonth: %s" % msg, file=sys.stderr, flush=True)


# ---- the roster ---------------------------------------------------------------
def id_number(rnd, region, birth, used):
    while True:
        seq = rnd.randrange(0, 1000)
        first17 = "%06d" % region + birth.strftime("%Y%m%d") + "%03d" % seq
        w = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        n = first17 + "10X98765432"[sum(int(c) * k for c, k in zip(first17, w)) % 11]
        if n not in used:
            used.add(n)
            return n


def gen(n, seed):
    rnd = random.Random(seed)
    ndist = max(3, int(round(n / 2500.0)))
    centres = []
    for d in range(ndist):
        ang = 2 * math.pi * d / ndist + rnd.uniform(-0.2, 0.2)
        km = rnd.uniform(6, 16)
        centres.append((cd.SEAT[0] + km / 111.2 * math.sin(ang),
                        cd.SEAT[1] + km / (111.2 * math.cos(math.radians(cd.SEAT[0])))
                        * math.cos(ang)))

    def place(c, radius_km=3.0):
        r = radius_km * math.sqrt(rnd.random()) * (0.4 + 0.6 * rnd.random())
        a = rnd.uniform(0, 2 * math.pi)
        return (round(c[0] + r / 111.2 * math.sin(a), 6),
                round(c[1] + r / (111.2 * math.cos(math.radians(c[0]))) * math.cos(a), 6))
    used = set()
    elders = []
    for i in range(n):
        d = 1 + i * ndist // n
        band = rnd.choices([(60, 69), (70, 79), (80, 89), (90, 100)],
                           [55.8, 30.6, 11.6, 2.0])[0]
        age = rnd.randint(*band)
        birth = MONTH0 - datetime.timedelta(days=int(age * 365.25) + rnd.randrange(365))
        cats = [c for c in MONTHLY_CATS if rnd.random() < CAT_SHARE[c]]
        if rnd.random() < NO_CARER:
            cats.append("no_carer")
        if "disabled" in cats or "severely_disabled" in cats:
            ability = rnd.choice(["severe", "total"]) if "severely_disabled" in cats \
                else rnd.choice(["moderate", "severe"])
        else:
            ability = rnd.choices(["intact", "mild", "moderate"], [65, 25, 10])[0]
        living = ("alone" if "alone" in cats else "empty_nest" if "empty_nest" in cats
                  else "left_behind" if "left_behind" in cats
                  else rnd.choices(["with_family", "empty_nest", "other"], [70, 25, 5])[0])
        span = 365 if age >= 80 else 730
        assessed = None if rnd.random() < 0.03 else \
            (MONTH0 - datetime.timedelta(days=rnd.randrange(1, span))).isoformat()
        card = rnd.random() < 0.92
        plan = None
        if card:
            x = rnd.random()
            day = rnd.choice(["MO", "TU", "WE", "TH", "FR"])
            if x < 0.04:
                ws = rnd.choice(["09:00", "14:00"])
                plan = {"service": "bath", "rrule": "FREQ=WEEKLY;BYDAY=" + day,
                        "window_start": ws, "window_end": "%02d:00" % (int(ws[:2]) + 2)}
            elif x < 0.06:
                plan = {"service": "cleaning", "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=" + day,
                        "window_start": "09:00", "window_end": "12:00"}
        elders.append({"i": i, "district": d, "home": place(centres[d - 1]),
                       "birth": birth.isoformat(), "age": age, "categories": cats,
                       "ability": ability, "living": living, "assessed_on": assessed,
                       "card": card, "plan": plan,
                       "id_number": id_number(rnd, 331000 + d * 10 + 1, birth, used)})
    # Caregivers from the expected hours of service per working day.
    need = {d: 0.0 for d in range(1, ndist + 1)}
    end = MONTH0 + datetime.timedelta(days=28)
    for e in elders:
        mins = 0.0
        if any(c in MONTHLY_CATS for c in e["categories"]):
            mins += SERVICE_MIN["visit"] + TRAVEL_MIN
        if "no_carer" in e["categories"]:
            mins += 4 * (SERVICE_MIN["visit"] + TRAVEL_MIN)
        due = None
        if e["assessed_on"] is None:
            due = MONTH0
        else:
            a = datetime.date.fromisoformat(e["assessed_on"])
            due = a.replace(year=a.year + (1 if e["age"] >= 80 else 2))
        if due < end + datetime.timedelta(days=30):   # placed up to 30 days before due
            mins += SERVICE_MIN["assessment"] + TRAVEL_MIN
        if e["plan"]:
            k = 4 if e["plan"]["service"] == "bath" else 2
            mins += k * (SERVICE_MIN[e["plan"]["service"]] + TRAVEL_MIN)
        need[e["district"]] += mins / 20.0 / 60.0           # hours per working day
    caregivers = []
    staff = {}
    for d in range(1, ndist + 1):
        per_day = need[d] / 8.0            # caregivers, 8 working hours each
        k = max(1, int(per_day * 0.45)) if d == ndist else int(math.ceil(per_day * 1.6)) + 1
        staff[d] = {"need": round(per_day, 2), "caregivers": k, "short": d == ndist}
        for j in range(k):
            caregivers.append({"district": d, "provider": "prov-%d" % d,
                               "home": place(centres[d - 1], 3.5),
                               "level": 3 if rnd.random() < 0.2 else 2})
    return {"elders": elders, "caregivers": caregivers, "districts": ndist, "staff": staff,
            "seed": seed}


# ---- the system ---------------------------------------------------------------
def start_system(workdir):
    import harness
    pg = harness.PgCluster(durable=True).start()
    pg.execute('CREATE DATABASE "countymonth"')
    with open(os.path.join(REPO, "tools", "pg_roles.sql")) as f:
        pg.execute(f.read(), dbname="countymonth")
    pg.migrate("countymonth", root=REPO)
    # The clock jumps: dispatchd resolves a deadline only once it has seen it
    # overdue for overdue_s of real (monotonic) time (cc_hold_ripe), 900 s by
    # default; a simulated day lasts a minute or so here. 30 s keeps a visit
    # nobody can take failing the same simulated day, as it would in life.
    pg.execute("UPDATE dispatchd.deadlines SET overdue_s = 30 WHERE service <> 'emergency'",
               dbname="countymonth")
    clockfile = os.path.join(workdir, "faketime")
    env = {"LD_PRELOAD": cd.LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": clockfile,
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    args = {"orderd": {"duty-interval-s": "10", "duty-poll-s": "2", "plan-interval-s": "5",
                       "log-level": "info"}}
    s = harness.System(pg, "countymonth", workdir=workdir, log_level="warn",
                       extra_args=args, extra_env={d: env for d in harness.DAEMONS})
    return pg, s, clockfile


class Clock(cd.Clock):
    """countyday's clock, its file written by one thread at a time (set()
    and the 50 ms writer share the temporary file's name)."""
    _wlock = threading.Lock()

    def _write(self):
        with self._wlock:
            cd.Clock._write(self)


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, TZ).isoformat(timespec="seconds")


class Month:
    def __init__(self, roster, s, clock, tick_min):
        import tokens
        self.r, self.s, self.clock, self.tick = roster, s, clock, tick_min * 60
        self.http = cd.Http({d: s.url(d) for d in ("orderd", "dispatchd", "billingd")})
        self.key = tokens.load_key(s.issuer_key_file)
        self.tokens = tokens
        self.mint_day(-1)
        import concurrent.futures
        self.pool = concurrent.futures.ThreadPoolExecutor(8)
        self.lock = threading.Lock()
        self.elder_id = {}        # roster index -> elder id
        self.ix_of = {}           # elder id -> roster index
        self.cg_id, self.cg_tok = [], []
        self.accepted = {}        # caregiver -> {visit_id: visit}
        self.done = set()         # visit ids finished or given up by the app
        self.served = []          # {elder, service, order_id, day, cg, start, end}
        self.errors = {}
        self.days = []
        self.accepts = 0

    def mint_day(self, day):
        t0 = self.clock.epoch(day * DAY - 4 * 3600)
        self.tok = {r: self.tokens.mint(self.key, r, None, ttl=40 * 3600,
                                        sub="countymonth-" + r, now=t0)
                    for r in ("operator", "admin")}
        self.t0 = t0
        if getattr(self, "cg_id", None):
            self.cg_tok = [self.tokens.mint(self.key, "caregiver", {"caregiver_id": c},
                                            ttl=40 * 3600, sub="countymonth-cg", now=t0)
                           for c in self.cg_id]

    def err(self, what, st, doc):
        k = "%s %s" % (what, st)
        with self.lock:
            self.errors[k] = self.errors.get(k, 0) + 1
            n = self.errors[k]
        if n <= 3:
            log("%s -> %s %s" % (what, st, str(doc)[:300]))

    def op(self, d, method, path, body=None, headers=None, role="operator"):
        return self.http.call(d, method, path, body, self.tok[role], headers)

    def metrics(self, d="orderd"):
        return self.s.metrics(d)

    # -- loading ----------------------------------------------------------------
    def load(self):
        R = self.r
        t = time.monotonic()

        def caregiver(c):
            st, doc = self.op("dispatchd", "POST", "/v1/caregivers", {
                "name": "Month Carer", "provider_id": c["provider"],
                "district_id": c["district"], "lat": c["home"][0], "lon": c["home"][1],
                "skills": ["visit", "assessment", "bath", "cleaning"], "level": c["level"],
                "first_aid": False, "shift_start": cd.hhmm(SHIFT[0]),
                "shift_end": cd.hhmm(SHIFT[1])}, role="admin")
            if st != 201:
                raise RuntimeError("POST /v1/caregivers -> %s %s" % (st, doc))
            return doc["caregiver_id"]
        self.cg_id = list(self.pool.map(caregiver, R["caregivers"]))
        # Zones (划片): each district's provider serves its own district only,
        # so a district's shortage is not made up by its neighbours' staff.
        for d in range(1, R["districts"] + 1):
            st, doc = self.op("dispatchd", "PUT", "/v1/providers/prov-%d/districts" % d,
                              {"district_ids": [d]}, role="admin")
            if st != 200:
                raise RuntimeError("PUT provider districts -> %s %s" % (st, doc))
        self.mint_day(-1)
        # The empty rule set, in force from today: nothing is generated from
        # records half-loaded (assessed_on is set after the import).
        st, doc = self.op("orderd", "GET", "/v1/rules/duties")
        if st != 200 or not doc.get("current"):
            raise RuntimeError("GET /v1/rules/duties -> %s %s" % (st, doc))
        self.rules = doc["current"]["rules"]
        today = (MONTH0 - datetime.timedelta(days=1)).isoformat()
        st, doc = self.op("orderd", "PUT", "/v1/rules/duties",
                          {"effective_from": today, "rules": []}, role="admin")
        if st != 201:
            raise RuntimeError("PUT empty rules -> %s %s" % (st, doc))
        # The roster through the bulk import.
        cols = ["name", "id_number", "phone", "address", "lat", "lon", "birth_date",
                "district_id", "ability_level", "household", "living", "categories"]
        rows = [",".join(cols)]
        for e in R["elders"]:
            rows.append(",".join(str(x) for x in (
                "Month Elder %d" % e["i"], e["id_number"], "139%08d" % e["i"],
                "No. %d village road" % e["i"], e["home"][0], e["home"][1], e["birth"],
                e["district"], e["ability"], "none", e["living"], ";".join(e["categories"]))))
        body = ("\n".join(rows) + "\n").encode()
        ti = time.monotonic()
        st, doc = self._post_raw("/v1/elders/import", body)
        if st != 202:
            raise RuntimeError("import -> %s %s" % (st, doc))
        imp = doc["import_id"]
        while True:
            st, doc = self.op("orderd", "GET", "/v1/elders/import/%s" % imp)
            if st == 200 and doc["state"] != "running":
                break
            time.sleep(1)
        self.import_s = time.monotonic() - ti
        self.import_doc = {k: doc.get(k) for k in ("state", "total", "created", "updated",
                                                   "unchanged", "rejected_rows")}
        log("import: %s in %.1f s" % (self.import_doc, self.import_s))
        if doc["state"] != "done" or doc["created"] != len(R["elders"]):
            raise RuntimeError("import: %s" % doc)

        def find(e):
            st, doc = self.op("orderd", "GET", "/v1/elders?id_number=%s" % e["id_number"])
            if st != 200 or len(doc["elders"]) != 1:
                raise RuntimeError("search -> %s %s" % (st, doc))
            return doc["elders"][0]["elder_id"]
        ids = list(self.pool.map(find, R["elders"]))
        self.elder_id = dict(enumerate(ids))
        self.ix_of = {v: k for k, v in self.elder_id.items()}
        # The last assessments: no API sets assessed_on but an assessment
        # (as tests/system/test_duties.py, in SQL; updated_at moves).
        pairs = [(self.elder_id[e["i"]], e["assessed_on"]) for e in R["elders"]
                 if e["assessed_on"]]
        for k in range(0, len(pairs), 5000):
            chunk = pairs[k:k + 5000]
            self.s.sql("orderd", "UPDATE orderd.elders e SET assessed_on = v.d::date, "
                       "updated_at = clock_timestamp() FROM unnest(%s::uuid[], %s::text[]) "
                       "AS v(id, d) WHERE e.id = v.id",
                       ([p[0] for p in chunk], [p[1] for p in chunk]))

        def card(e):
            st, doc = self.op("orderd", "POST", "/v1/cards", {"elder_id": self.elder_id[e["i"]]})
            if st != 201:
                raise RuntimeError("POST /v1/cards -> %s %s" % (st, doc))
            c = doc["card_id"]
            if e["plan"]:
                for _ in range(300):   # billingd learns of the card from orderd's log
                    st, doc = self.op("billingd", "POST", "/v1/cards/%s/topups" % c,
                                      {"amount_fen": 10000000, "source": "family",
                                       "reference": "countymonth"},
                                      headers={"Idempotency-Key": "cm-topup-" + c})
                    if st in (200, 201):
                        break
                    time.sleep(0.2)
                else:
                    raise RuntimeError("top-up -> %s %s" % (st, doc))
            return c
        with_card = [e for e in R["elders"] if e["card"]]
        self.card = dict(zip((e["i"] for e in with_card), self.pool.map(card, with_card)))
        tp = time.monotonic()

        def plan(e):
            p = dict(e["plan"])
            p.update(elder_id=self.elder_id[e["i"]], card_id=self.card[e["i"]],
                     starts_on=MONTH0.isoformat())
            st, doc = self.op("orderd", "POST", "/v1/plans", p)
            if st != 201:
                raise RuntimeError("POST /v1/plans -> %s %s" % (st, doc))
            return doc["plan_id"]
        planned = [e for e in R["elders"] if e["plan"]]
        self.plans = list(self.pool.map(plan, planned))
        self.plan_post_s = time.monotonic() - tp
        self.load_s = time.monotonic() - t
        log("loaded: %d elders (%d cards, %d plans), %d caregivers in %.0f s" % (
            len(ids), len(self.card), len(self.plans), len(self.cg_id), self.load_s))

    def _post_raw(self, path, body):
        import http.client
        import urllib.parse
        u = urllib.parse.urlparse(self.s.url("orderd"))
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        c.request("POST", path, body=body, headers={
            "Content-Type": "text/csv", "Authorization": "Bearer " + self.tok["operator"]})
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, json.loads(raw) if raw else None

    def put_rules(self):
        """The default rules back, a new version in force from today: the
        generator's first run places the first week for the whole county."""
        today = datetime.datetime.fromtimestamp(self.clock.epoch(), TZ).date().isoformat()
        st, doc = self.op("orderd", "PUT", "/v1/rules/duties",
                          {"effective_from": today, "rules": self.rules}, role="admin")
        if st != 201:
            raise RuntimeError("PUT rules -> %s %s" % (st, doc))

    # -- the caregivers' apps ------------------------------------------------------
    def poll(self, c):
        st, doc = self.http.call("dispatchd", "GET", "/v1/caregivers/%s/visits" % self.cg_id[c],
                                 token=self.cg_tok[c])
        if st != 200:
            self.err("GET visits", st, doc)
            return 0
        new = 0
        keep = {}
        for v in doc.get("visits", []):
            if v["visit_id"] in self.done:
                continue
            if v.get("state") == "assigned":
                st, d2 = self.http.call("dispatchd", "POST", "/v1/visits/%s/accept" %
                                        v["visit_id"], {}, self.cg_tok[c])
                if st not in (200, 201):
                    self.err("accept", st, d2)
                    continue
                v["state"] = "accepted"
                new += 1
                with self.lock:
                    self.accepts += 1
            if v.get("state") in ("accepted", "checked_in"):
                keep[v["visit_id"]] = v
        old = self.accepted.get(c, {})
        for vid, v in keep.items():      # our own progress on a visit wins
            if vid in old and old[vid].get("state") == "checked_in":
                keep[vid] = old[vid]
        self.accepted[c] = keep
        return new

    def poll_all(self):
        return sum(self.pool.map(self.poll, range(len(self.cg_id))))

    def step(self, c, v, what, at, extra=None):
        body = {"lat": v["location"]["lat"], "lon": v["location"]["lon"], "at": iso(at)}
        body.update(extra or {})
        st, doc = self.http.call("dispatchd", "POST", "/v1/visits/%s/%s" % (v["visit_id"], what),
                                 body, self.cg_tok[c])
        if st not in (200, 201, 202):
            self.err("POST %s" % what, st, doc)
            return False
        return True

    def work(self, c, day, now, rnd_seed):
        """Caregiver c's app: every accepted visit of the day that fits
        before now, in ETA order."""
        st = self.cstate[c]
        while True:
            if st.get("busy"):
                v, start, end = st["busy"]
                if end > now:
                    return
                extra = None
                if v["service"] == "assessment":
                    rnd = random.Random("%s-%s" % (rnd_seed, v["visit_id"]))
                    lvl = rnd.choices(["intact", "mild", "moderate", "severe", "total"],
                                      [45, 25, 15, 10, 5])[0]
                    extra = {"assessment": {"level": lvl, "score": rnd.randint(0, 100)}}
                ok = self.step(c, v, "check-out", end, extra)
                del st["busy"]
                self.done.add(v["visit_id"])
                self.accepted[c].pop(v["visit_id"], None)
                if ok:
                    with self.lock:
                        self.served.append({"elder": v.get("elder_id"), "service": v["service"],
                                            "district": self.r["caregivers"][c]["district"],
                                            "order_id": v["order_id"], "day": day, "cg": c,
                                            "start": start, "end": end})
                st["free"], st["pos"] = end, (v["location"]["lat"], v["location"]["lon"])
                continue
            lo, hi = self.clock.epoch(day * DAY), self.clock.epoch((day + 1) * DAY)
            todo = []
            for v in self.accepted.get(c, {}).values():
                t = cd_time(v.get("eta") or v["window_start"])
                if lo <= t < hi and v["visit_id"] not in self.done:
                    todo.append((t, v))
            if not todo:
                return
            t, v = min(todo, key=lambda x: x[0])
            loc = (v["location"]["lat"], v["location"]["lon"])
            trip = cd.metres(st["pos"], loc) / cd.SPEED_MPS
            arrive = max(t, st["free"] + trip)
            if arrive > now:
                return
            if self.step(c, v, "check-in", arrive):
                v["state"] = "checked_in"
                st["busy"] = (v, arrive, arrive + SERVICE_MIN[v["service"]] * 60)
            else:
                self.done.add(v["visit_id"])
                self.accepted[c].pop(v["visit_id"], None)

    # -- the month ------------------------------------------------------------------
    def wait_runs(self, k=2, timeout=900):
        """Until orderd's duty generator finished k more runs and the plan
        generator one, the apps accepting offers meanwhile."""
        m = self.metrics()
        d0 = m.get("orderd_duty_runs_total", 0)
        p0 = m.get("orderd_plan_generator_runs_total", 0)
        t = time.monotonic()
        while True:
            self.poll_all()
            m = self.metrics()
            if m.get("orderd_duty_runs_total", 0) >= d0 + k and \
                    m.get("orderd_plan_generator_runs_total", 0) >= p0 + 1:
                break
            if time.monotonic() - t > timeout:
                raise RuntimeError("the generators did not run in %d s" % timeout)
            time.sleep(0.5)
        return time.monotonic() - t

    def settle(self, quiet=3, limit=300):
        """Poll and accept until nothing new is offered `quiet` rounds in a row."""
        t, q, n = time.monotonic(), 0, 0
        while q < quiet and time.monotonic() - t < limit:
            k = self.poll_all()
            n += k
            q = q + 1 if k == 0 else 0
            time.sleep(0.5)
        return n

    def run_day(self, day):
        self.mint_day(day)
        t0 = time.monotonic()
        self.clock.set(day * DAY + 7 * 3600, 1.0)
        m0 = self.metrics()
        a0 = self.accepts
        wait_s = self.wait_runs(2)
        self.settle()
        m1 = self.metrics()
        gen_s = time.monotonic() - t0
        self.cstate = {c: {"free": self.clock.epoch(day * DAY + SHIFT[0]),
                           "pos": tuple(self.r["caregivers"][c]["home"])}
                       for c in range(len(self.cg_id))}
        served0 = len(self.served)
        t = SHIFT[0]
        while t <= 18 * 3600:
            self.clock.set(day * DAY + t, 1.0)
            self.poll_all()
            now = self.clock.epoch(day * DAY + t)
            list(self.pool.map(lambda c: self.work(c, day, now, self.r["seed"]),
                               range(len(self.cg_id))))
            t += self.tick
        left = sum(1 for c in range(len(self.cg_id)) for v in self.accepted.get(c, {}).values()
                   if self.clock.epoch(day * DAY) <= cd_time(v.get("eta") or v["window_start"])
                   < self.clock.epoch((day + 1) * DAY))
        rec = {"date": (MONTH0 + datetime.timedelta(days=day)).isoformat(),
               "gen_wait_s": round(wait_s, 1), "gen_and_accept_s": round(gen_s, 1),
               "day_s": round(time.monotonic() - t0 - gen_s, 1),
               "duty_created": m1.get('orderd_duty_orders_total{outcome="created"}', 0)
               - m0.get('orderd_duty_orders_total{outcome="created"}', 0),
               "plan_created": m1.get('orderd_plan_occurrences_total{outcome="created"}', 0)
               - m0.get('orderd_plan_occurrences_total{outcome="created"}', 0),
               "accepted_in_gen": self.accepts - a0, "served": len(self.served) - served0,
               "accepted_left": left}
        self.days.append(rec)
        log("%s: %s" % (rec["date"], rec))
        return rec


def cd_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def duty_runs(logtext):
    out = []
    for line in logtext.splitlines():
        if '"duty_run"' not in line and "duty_run " not in line:
            continue
        got = {}
        for k in ("created", "existing", "refused", "cardless", "ms"):
            m = re.search(r'"?%s"?[:=]\s*"?(\d+)' % k, line)
            if m:
                got[k] = int(m.group(1))
        if "ms" in got:
            out.append(got)
    return out


# ---- the check ------------------------------------------------------------------
def applies(rule, e, day):
    cats = rule.get("categories") or []
    if cats and not any(c in e["categories"] for c in cats):
        return False
    age = age_on(e["birth"], day)
    if rule.get("min_age") is not None and age < rule["min_age"]:
        return False
    if rule.get("max_age") is not None and age > rule["max_age"]:
        return False
    if rule.get("abilities") and e["ability"] not in rule["abilities"]:
        return False
    if rule.get("districts") and e["district"] not in rule["districts"]:
        return False
    return True


def age_on(birth, day):
    b = datetime.date.fromisoformat(birth)
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


def check(m, days, served=None):
    """Coverage per district (month, each full week) against our record
    (served: our check-outs, m.served by default)."""
    R = m.r
    visited = {}                     # elder id -> set of dates with a served mandated visit
    for x in m.served if served is None else served:
        if x["service"] == "visit":
            visited.setdefault(x["elder"], set()).add(
                MONTH0 + datetime.timedelta(days=x["day"]))
    periods = []
    if days >= 28:
        periods.append(("month", MONTH0 + datetime.timedelta(days=14), MONTH0,
                        MONTH0 + datetime.timedelta(days=27)))
    for w in range(days // 7):
        a = MONTH0 + datetime.timedelta(days=7 * w)
        periods.append(("week", a, a, a + datetime.timedelta(days=6)))
    out = []
    for kind, date, a, b in periods:
        for d in range(1, R["districts"] + 1):
            st, doc = m.op("orderd", "GET", "/v1/coverage?district_id=%d&period=%s&date=%s"
                           % (d, kind, date.isoformat()))
            if st != 200:
                raise RuntimeError("coverage -> %s %s" % (st, doc))
            rules = {r["id"]: r for r in m.rules}
            for duty in doc["duties"]:
                rule = rules.get(duty["duty"])
                due = {m.elder_id[e["i"]] for e in R["elders"]
                       if e["district"] == d and rule and applies(rule, e, date)}
                missed = {x for x in due if not any(a <= t <= b for t in visited.get(x, ()))}
                got = set(duty["missing"])
                out.append({"period": doc["period"], "kind": kind, "district": d,
                            "short": R["staff"][d]["short"], "duty": duty["duty"],
                            "due": duty["due"], "our_due": len(due),
                            "visited": duty["visited"], "rate": duty["rate"],
                            "missing": len(got), "our_missing": len(missed),
                            "only_coverage": sorted(got - missed)[:20],
                            "only_ours": sorted(missed - got)[:20],
                            "match": got == missed and duty["due"] == len(due)})
    return out


def report(res):
    L = ["| period | district | duty | due | visited | rate | missing (coverage) | missing (ours) | sets equal |",
         "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for c in res["coverage"]:
        L.append("| %s | %d%s | %s | %d | %d | %.3f | %d | %d | %s |" % (
            c["period"], c["district"], " (short)" if c["short"] else "", c["duty"], c["due"],
            c["visited"], c["rate"], c["missing"], c["our_missing"],
            "yes" if c["match"] else "**no**"))
    g = res["generation"]
    L.append("")
    L.append("First duty run (the first week, whole county): %s orders in %.1f s wall "
             "(%.0f orders/s); orderd's own timing of that run: %s." % (
                 g["first_run_created"], g["first_run_wall_s"],
                 g["first_run_created"] / max(g["first_run_wall_s"], 1e-9), g["first_run_log"]))
    L.append("All duty runs: %d created in %.1f s of runs (orderd's `duty_run` ms), %.0f orders/s; "
             "plans: %d occurrences created, %.1f s in %d generator runs (%.0f orders/s)." % (
                 g["duty_created"], g["duty_run_s"], g["duty_created"] / max(g["duty_run_s"], 1e-9),
                 g["plan_created"], g["plan_s"], g["plan_runs"],
                 g["plan_created"] / max(g["plan_s"], 1e-9)))
    L.append("Verdict: %s (a planted difference in our record caught: %s)." % (
        res["verdict"], res.get("planted_caught")))
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--elders", type=int, default=int(os.environ.get("COUNTY_MONTH_ELDERS",
                                                                      20000)))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("COUNTY_MONTH_SEED", 13)))
    ap.add_argument("--days", type=int, default=int(os.environ.get("COUNTY_MONTH_DAYS", 28)))
    ap.add_argument("--tick-min", type=int,
                    default=int(os.environ.get("COUNTY_MONTH_TICK_MIN", 15)))
    ap.add_argument("--out", default=os.environ.get("COUNTY_MONTH_OUT"))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    import harness
    if cd.LIBFAKETIME is None:
        raise SystemExit("countymonth: libfaketime is not installed (apt-get install faketime)")
    out = a.out or os.path.join(REPO, "var", "bench", "countymonth-%d-%s" % (
        a.elders, time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    R = gen(a.elders, a.seed)
    cats = {c: sum(1 for e in R["elders"] if c in e["categories"]) for c in ALL_CATS}
    log("roster: %d elders in %d districts, %d caregivers %s; categories %s" % (
        len(R["elders"]), R["districts"], len(R["caregivers"]), R["staff"], cats))
    workdir = tempfile.mkdtemp(prefix="countymonth-", dir="/var/tmp")
    pg, s, clockfile = start_system(workdir)
    midnight = datetime.datetime(MONTH0.year, MONTH0.month, MONTH0.day, tzinfo=TZ).timestamp()
    clock = Clock(clockfile, midnight)
    clock.set(-4 * 3600, 1.0)               # 31 January, 20:00
    harness.give_to_daemon_user(clockfile)
    res = {"elders": a.elders, "seed": a.seed, "days": a.days, "tick_min": a.tick_min,
           "districts": R["districts"], "staff": R["staff"], "categories": cats,
           "cards": sum(e["card"] for e in R["elders"]),
           "plans": {k: sum(1 for e in R["elders"] if e["plan"] and e["plan"]["service"] == k)
                     for k in ("bath", "cleaning")},
           "age80": sum(1 for e in R["elders"] if e["age"] >= 80),
           "never_assessed": sum(1 for e in R["elders"] if e["assessed_on"] is None),
           "nproc": os.cpu_count(), "load_before": os.getloadavg()}
    t_all = time.monotonic()
    try:
        s.start(timeout=60)
        m = Month(R, s, clock, a.tick_min)
        m.load()
        res["import_s"], res["import"] = round(m.import_s, 1), m.import_doc
        res["load_s"] = round(m.load_s, 1)
        n0 = len(duty_runs(s.daemons["orderd"].log_text()))
        mb = m.metrics()
        t = time.monotonic()
        m.put_rules()                        # kicks the first run
        m.wait_runs(2)          # the kicked run, or one begun after a run in progress
        first_wall = time.monotonic() - t
        ma = m.metrics()
        runs = duty_runs(s.daemons["orderd"].log_text())[n0:]
        first_run = max(runs, key=lambda x: x.get("created", 0)) if runs else None
        first_created = ma.get('orderd_duty_orders_total{outcome="created"}', 0) - \
            mb.get('orderd_duty_orders_total{outcome="created"}', 0)
        log("first duty run: %d created in %.1f s (log: %s)" % (first_created, first_wall, runs))
        m.settle()
        for day in range(a.days):
            m.run_day(day)
            with open(os.path.join(out, "progress.json"), "w") as f:
                json.dump({"days": m.days, "served": len(m.served), "errors": m.errors}, f)
        # Let orderd apply the last check-outs before asking for coverage.
        time.sleep(3)
        for _ in range(120):
            mm = m.metrics()
            lag = sum(v for k, v in mm.items() if k.startswith("consumer_lag_events"))
            if lag == 0:
                break
            time.sleep(1)
        mz = m.metrics()
        runs = duty_runs(s.daemons["orderd"].log_text())
        res["coverage"] = check(m, a.days)
        # The comparison can fail: our record without one served visit in a
        # district with enough caregivers must disagree with the coverage.
        v = [x for x in m.served if x["service"] == "visit"
             and not R["staff"][x["district"]]["short"]]
        if v:
            planted = [x for x in m.served if x["elder"] != v[0]["elder"]]
            res["planted_caught"] = any(not c["match"] for c in check(m, a.days, planted))
        res["generation"] = {
            "first_run_created": int(first_created), "first_run_wall_s": round(first_wall, 1),
            "first_run_log": first_run,
            "duty_runs": len(runs),
            "duty_created": int(sum(x.get("created", 0) for x in runs)),
            "duty_run_s": sum(x["ms"] for x in runs) / 1000.0,
            # runs that placed something: their time is the generation's
            "duty_busy_runs": [(x.get("created", 0), x["ms"]) for x in runs
                               if x.get("created", 0) > 0],
            "duty_created_metric": mz.get('orderd_duty_orders_total{outcome="created"}', 0),
            "duty_cardless": mz.get("orderd_duty_cardless_total", 0),
            "duty_regen_cap": mz.get('orderd_duty_skipped_total{reason="regen_cap"}', 0),
            # capacity (docs/DUTIES.md "Capacity"): given a day by it, or
            # not placed by a run for want of room (counted per run)
            "duty_fitted": mz.get("orderd_duty_fitted_total", 0),
            "duty_deferred": mz.get('orderd_duty_deferred_total{reason="no_capacity"}', 0),
            "plan_created": int(mz.get('orderd_plan_occurrences_total{outcome="created"}', 0)),
            "plan_refused": int(mz.get('orderd_plan_occurrences_total{outcome="refused"}', 0)),
            "plan_s": mz.get("orderd_plan_generator_seconds_sum", 0.0),
            "plan_runs": int(mz.get("orderd_plan_generator_runs_total", 0)),
            "plan_created_at_load": int(mb.get(
                'orderd_plan_occurrences_total{outcome="created"}', 0)),
        }
        served = {}
        for x in m.served:
            served[x["service"]] = served.get(x["service"], 0) + 1
        res["served"] = served
        res["served_by_district"] = {}
        for x in m.served:
            k = str(x["district"])
            res["served_by_district"][k] = res["served_by_district"].get(k, 0) + 1
        res["accepts"] = m.accepts
        dm = m.metrics("dispatchd")
        res["dispatchd"] = {k: v for k, v in dm.items() if k.startswith((
            "dispatchd_assignments_total", "dispatchd_failures_total",
            "dispatchd_unmatched_total", "dispatchd_deadlines_resolved_total",
            "dispatchd_capacity_reported_total", "dispatchd_duty_bumped_total"))}
        res["days_log"] = m.days
        res["errors"] = m.errors
        res["wall_s"] = round(time.monotonic() - t_all, 1)
        res["load_after"] = os.getloadavg()
        bad = [c for c in res["coverage"] if not c["match"]
               or (not c["short"] and c["rate"] < 1)]
        res["verdict"] = "met" if not bad and res["coverage"] else \
            "NOT met: %d coverage rows fail (see result.json)" % len(bad)
        if res.get("planted_caught") is False:
            res["verdict"] += "; the planted difference was NOT caught"
        dead = [n for n, x in s.daemons.items() if not x.alive()]
        if dead:
            res["verdict"] += "; daemons died: %s" % dead
    finally:
        clock.stop = True
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump(res, f, indent=1, default=str)
        try:
            for n in harness.DAEMONS:
                with open(os.path.join(out, "%s.log.tail" % n), "w") as f:
                    f.write("\n".join(s.daemons[n].log_text().splitlines()[-400:]))
        except Exception:
            pass
        s.stop()
        pg.stop()
        if not a.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
    md = report(res)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    print(md)
    log("result in %s" % out)
    return 0 if res["verdict"] == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
