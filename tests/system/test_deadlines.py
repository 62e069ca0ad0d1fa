"""Deadlines for every open state (issue 11; docs/ARCHITECTURE.md "Deadlines"),
with the four real daemons and PostgreSQL.

Each open state is driven past its deadline, made short per service through
the tables dispatchd.deadlines and meald.deadlines: unaccepted (escort),
not checked in (cleaning), not checked out and then confirmed or rejected by
a dispatcher (bath) or left to time out (medical escort), and a meal not
delivered. Each is seen overdue first (the dispatcher's queue, meald's
overdue list), then resolved, and orderd and billingd follow.

The invariant, checked from the stored times by SQL of its own (not the
daemons' code): no hold outlives its order's final deadline. It is shown to
fail while dispatchd and meald are down (kill -9), and to hold again once
they restart and resolve what expired meanwhile (overdue_s after their
start: a restart sees every deadline afresh, docs/ARCHITECTURE.md)."""

import datetime
import threading
import time
import uuid

import pytest

import harness
from test_journeys import TZ, new_card, new_elder, post, wait_state

HOME = (30.2741, 120.1551)
SLACK_S = 8   # a resolution's way through dispatchd/meald -> orderd -> billingd

# Short deadlines per service and slot: the data the daemons read.
# Each overdue stage lasts a few seconds; a watcher polls the boards.
DEADLINES = [
    "UPDATE dispatchd.deadlines SET offer_s = 1, assign_s = 1, overdue_s = 2"
    " WHERE service = 'escort'",
    "UPDATE dispatchd.deadlines SET checkin_s = 0, overdue_s = 2 WHERE service = 'cleaning'",
    "UPDATE dispatchd.deadlines SET checkout_s = 0, overdue_s = 2, confirm_s = 600"
    " WHERE service = 'bath'",
    "UPDATE dispatchd.deadlines SET checkout_s = 0, overdue_s = 1, confirm_s = 2"
    " WHERE service = 'medical_escort'",
    "UPDATE meald.deadlines SET deliver_s = 0, overdue_s = 2",
]

# The final deadline of every order that has a visit or a meal, from the
# stored times and the tables (dd_deadline.h, md_domain.h), and the orders
# whose hold is still held `slack` seconds after it.
HELD_PAST_DEADLINE = """
WITH minutes(service, m) AS (VALUES ('bath', 60), ('cleaning', 90), ('escort', 60),
        ('medical_escort', 180), ('emergency', 60), ('visit', 45), ('assessment', 60)),
final AS (
    SELECT v.order_id,
           CASE WHEN v.unconfirmed_at IS NOT NULL
                    THEN v.unconfirmed_at + d.confirm_s * interval '1 s'
                WHEN v.checked_in_at IS NOT NULL
                    THEN v.checked_in_at
                         + (mi.m * 60 + d.checkout_s + d.overdue_s + d.confirm_s)
                           * interval '1 s'
                WHEN v.accepted_at IS NOT NULL
                    THEN v.window_end + (d.checkin_s + d.overdue_s) * interval '1 s'
                ELSE least(v.created_at + d.assign_s * interval '1 s', v.window_end)
                     + d.overdue_s * interval '1 s'
           END AS at
      FROM dispatchd.visits v
      JOIN dispatchd.deadlines d ON d.service = v.service
      JOIN minutes mi ON mi.service = v.service
    UNION ALL
    SELECT m.order_id::text, m.window_end + (d.deliver_s + d.overdue_s) * interval '1 s'
      FROM meald.meals m JOIN meald.deadlines d ON d.slot = m.slot
)
SELECT f.order_id, f.at
  FROM final f JOIN billingd.holds h ON h.order_id::text = f.order_id
 WHERE h.state = 'held' AND f.at + %s * interval '1 s' < now() AND f.order_id = ANY(%s)
 ORDER BY f.order_id
"""


def held_past_deadline(s, orders, slack=SLACK_S):
    return [r[0] for r in s.sql("postgres", HELD_PAST_DEADLINE, (slack, list(orders)))]


def hold_state(s, oid):
    rows = s.sql("postgres", "SELECT state FROM billingd.holds WHERE order_id = %s", (oid,))
    return rows[0][0] if rows else None


@pytest.fixture(scope="module")
def dl(need_daemons, pg, db):
    s = harness.System(pg, db, extra_args={"dispatchd": {"retry-interval-s": "1"}})
    for q in DEADLINES:
        s.sql("postgres", q)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def iso(dt):
    return dt.isoformat()


def now_local():
    return datetime.datetime.now(TZ)


def caregiver(s, skill):
    """A caregiver at the elder's door, on a 24-hour shift that began an hour
    ago (no visit of the test crosses its end)."""
    start = (now_local() - datetime.timedelta(hours=1)).strftime("%H:%M")
    return post(s, "dispatchd", "/v1/caregivers", {
        "name": "护理员", "provider_id": "prov-1", "district_id": 1, "lat": HOME[0] + 0.00001,
        "lon": HOME[1], "skills": [skill], "level": 2, "first_aid": True,
        "shift_start": start, "shift_end": start})["caregiver_id"]


def place(s, card, service, start, end):
    return post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": service, "window_start": iso(start),
        "window_end": iso(end), "notes": ""}, key=str(uuid.uuid4()))["order_id"]


def queue(s):
    st, q = s.http("GET", "dispatchd", "/v1/queue")
    assert st == 200, (st, q)
    return q


def visit_of(s, oid):
    """The visit of an order, once dispatchd has stored it."""
    q = "SELECT id::text FROM dispatchd.visits WHERE order_id = %s"
    harness.wait_until(lambda: s.sql("postgres", q, (oid,)), timeout=15,
                       what="visit of order %s" % oid)
    return s.sql("postgres", q, (oid,))[0][0]


def get_visit(s, vid):
    st, v = s.http("GET", "dispatchd", "/v1/visits/%s" % vid)
    assert st == 200, (st, v)
    return v


def wait_visit(s, vid, state, timeout=20):
    box = {}

    def ok():
        box["v"] = get_visit(s, vid)
        return box["v"]["state"] == state
    harness.wait_until(ok, timeout=timeout, what=lambda: "visit %s %s: %r" % (
        vid, state, box.get("v")))
    return box["v"]


class Watch(threading.Thread):
    """Polls the dispatcher's board and meald's overdue list while the test
    drives the orders: records what it saw overdue, as (visit id, stage)
    and (order id, "not_delivered"), and any board whose overdue visits do
    not all come first."""

    def __init__(self, s, point):
        super().__init__(daemon=True)
        self.s, self.point, self.seen, self.errors = s, point, set(), []
        self.done = threading.Event()

    def meals(self, role, scope):
        st, lst = self.s.http("GET", "meald", "/v1/meals/overdue", role=role, scope=scope)
        assert st == 200, lst
        return {m["order_id"] for m in lst["meals"] if m["deadline"]["overdue"]}

    def run(self):
        while not self.done.is_set():
            try:
                q = queue(self.s)
                flags = [v["deadline"]["overdue"] for v in q["visits"]]
                if flags != sorted(flags, reverse=True) or q["overdue"] != sum(flags):
                    self.errors.append(q)
                self.seen |= {(v["visit_id"], v["deadline"]["stage"]) for v in q["visits"]
                              if v["deadline"]["overdue"]}
                meals = self.meals("operator", None)
                self.seen |= {(m, "not_delivered") for m in meals}
                if meals:
                    # Scope: the meal point and the district's dispatcher see
                    # them, another meal point and district do not.
                    mine = [self.meals("meal_point", {"meal_point_id": self.point}),
                            self.meals("dispatcher", {"district_ids": [1]})]
                    theirs = [self.meals("meal_point", {"meal_point_id": str(uuid.uuid4())}),
                              self.meals("dispatcher", {"district_ids": [2]})]
                    # Only meals still overdue after the scoped reads count:
                    # one may be resolved (failed) between the reads.
                    still = meals & self.meals("operator", None)
                    if any(not still <= x for x in mine) or any(theirs):
                        self.errors.append(("scope", still, mine, theirs))
                    self.seen.add(("scoped", "checked"))
            except Exception as e:   # reported by the test
                self.errors.append(repr(e))
            time.sleep(0.05)

    def stop(self):
        self.done.set()
        self.join(10)


def step(s, vid, name, cg, expect=200, **extra):
    body = dict({"caregiver_id": cg}, **extra)
    st, out = s.http("POST", "dispatchd", "/v1/visits/%s/%s" % (vid, name), json=body)
    assert st == expect, (name, st, out)
    return out


def decide(s, vid, what, expect=200):
    st, out = s.http("POST", "dispatchd", "/v1/visits/%s/%s" % (vid, what), json={})
    assert st == expect, (what, st, out)
    return out


def wait_before_midnight():
    """Meals book the slot of their window's local date before its 23:59
    cut-off: keep clear of the last minutes of a day."""
    n = now_local()
    if n.hour == 23 and n.minute >= 58:
        time.sleep(((24 * 60 - (n.hour * 60 + n.minute)) * 60) - n.second + 2)


def test_every_open_state_resolves_and_no_hold_outlives_its_deadline(dl):
    s = dl
    wait_before_midnight()
    elder = new_elder(s, lat=HOME[0], lon=HOME[1])
    card = new_card(s, elder, topup_fen=200000)
    cgs = {k: caregiver(s, k) for k in ("escort", "cleaning", "bath", "medical_escort")}
    cgs["bath2"] = caregiver(s, "bath")
    point = post(s, "meald", "/v1/meal-points", {
        "name": "食堂", "provider_id": "kitchen-1", "district_id": 1, "lat": HOME[0] + 0.0005,
        "lon": HOME[1], "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "23:59"},
                                  {"slot": "dinner", "capacity": 50, "cutoff": "23:59"}]})

    watch = Watch(s, point["meal_point_id"])
    watch.start()
    t0 = now_local()
    ago = lambda **kw: t0 - datetime.timedelta(**kw)       # noqa: E731
    ahead = lambda **kw: t0 + datetime.timedelta(**kw)     # noqa: E731
    o = {
        "cleaning": place(s, card, "cleaning", ago(minutes=30), ahead(seconds=8)),
        "bath1": place(s, card, "bath", ago(minutes=30), ahead(hours=1)),
        "bath2": place(s, card, "bath", ago(minutes=30), ahead(hours=1)),
        "medical": place(s, card, "medical_escort", ago(minutes=30), ahead(hours=1)),
        "meal": place(s, card, "meal", ago(minutes=1), ahead(seconds=8)),
        "meal_ok": place(s, card, "meal", ago(minutes=1), ahead(seconds=8)),
    }
    for oid in o.values():
        wait_state(s, oid, "assigned")
    v = {k: visit_of(s, o[k]) for k in ("cleaning", "bath1", "bath2", "medical")}
    # Every visit on time shows its deadline; the caregivers act.
    d = get_visit(s, v["cleaning"])["deadline"]
    assert d["stage"] == "unaccepted" and d["overdue"] is False, d
    for k in v:
        step(s, v[k], "accept", get_visit(s, v[k])["caregiver_id"])
    d = get_visit(s, v["cleaning"])["deadline"]
    assert d["stage"] == "not_checked_in" and d["resolution"] == "failed", d
    post(s, "meald", "/v1/meals/%s/delivered" % o["meal_ok"], {})
    # Checked in a service time ago (bath 60 min, medical escort 180), no
    # check-out: overdue, then an exception awaiting a dispatcher.
    for k, mins in {"bath1": 60, "bath2": 60, "medical": 180}.items():
        step(s, v[k], "check-in", get_visit(s, v[k])["caregiver_id"], lat=HOME[0], lon=HOME[1],
             at=iso(now_local() - datetime.timedelta(minutes=mins)))
    # Unaccepted: offered, the offer times out, nobody else can come.
    o["escort"] = place(s, card, "escort", ago(minutes=10), ahead(hours=1))
    v["escort"] = visit_of(s, o["escort"])
    for k in ("bath1", "bath2"):
        x = wait_visit(s, v[k], "unconfirmed")
        assert x["unconfirmed_at"] and x["deadline"]["stage"] == "unconfirmed", x
        assert x["deadline"]["overdue"] is True, x
    # The exception is the dispatcher's, not the app's.
    step(s, v["bath1"], "check-out", get_visit(s, v["bath1"])["caregiver_id"], expect=409,
         lat=HOME[0], lon=HOME[1])
    assert decide(s, v["bath1"], "confirm")["state"] == "completed"
    assert decide(s, v["bath1"], "confirm")["state"] == "completed"   # a repeat
    decide(s, v["bath1"], "reject", expect=409)
    assert decide(s, v["bath2"], "reject")["state"] == "failed"
    decide(s, v["bath2"], "confirm", expect=409)
    decide(s, v["escort"], "confirm", expect=409)   # not an exception

    # Resolutions, and orderd and billingd follow.
    want = {"escort": ("failed", "no_caregiver"), "cleaning": ("failed", "no_check_in"),
            "bath1": ("billed", None), "bath2": ("failed", "rejected"),
            "medical": ("failed", "unconfirmed"), "meal": ("failed", "not_delivered"),
            "meal_ok": ("billed", None)}
    for k, (state, reason) in want.items():
        got = wait_state(s, o[k], state, timeout=30)
        if reason:
            assert got["reason"] == reason, (k, got)
            assert hold_state(s, o[k]) in ("held", "released")
            harness.wait_until(lambda: hold_state(s, o[k]) == "released", timeout=15,
                               what="hold of %s released" % k)
        else:
            assert hold_state(s, o[k]) == "captured", k
    # Each was overdue first, on a board that lists overdue visits first.
    watch.stop()
    assert watch.errors == [], watch.errors[:3]
    for k, stage in (("escort", "unaccepted"), ("cleaning", "not_checked_in"),
                     ("bath1", "not_checked_out"), ("bath2", "not_checked_out"),
                     ("medical", "not_checked_out"), ("medical", "unconfirmed")):
        assert (v[k], stage) in watch.seen, (k, stage, watch.seen)
    assert (o["meal"], "not_delivered") in watch.seen, watch.seen
    assert (o["meal_ok"], "not_delivered") not in watch.seen
    assert ("scoped", "checked") in watch.seen
    assert get_visit(s, v["escort"])["fail_reason"] == "no_caregiver"
    st, meal = s.http("GET", "meald", "/v1/meals/%s" % o["meal"])
    assert st == 200 and meal["status"] == "undelivered" and meal["deadline"] is None, meal
    st, err = s.http("POST", "meald", "/v1/meals/%s/delivered" % o["meal"], json={})
    assert st == 409, (st, err)
    # A confirmed visit carries no check-out evidence; billingd recorded it.
    b1 = get_visit(s, v["bath1"])
    assert b1["state"] == "completed" and b1["check_out"] is None and b1["deadline"] is None
    rows = s.sql("postgres", "SELECT resolved_by FROM dispatchd.visits WHERE id = %s",
                 (v["bath1"],))
    assert rows[0][0], rows   # who confirmed it
    harness.wait_until(lambda: s.sql(
        "postgres", "SELECT distance_m FROM billingd.deliveries WHERE order_id = %s",
        (o["bath1"],)) == [(None,)], timeout=15, what="delivery of bath1 without distance")
    m = s.metrics("dispatchd")
    for stage in ("unaccepted", "not_checked_in", "not_checked_out", "unconfirmed"):
        assert m.get('dispatchd_deadlines_resolved_total{stage="%s"}' % stage, 0) >= 1, m
    assert m.get('dispatchd_exceptions_total{decision="confirm"}') == 1, m
    assert s.metrics("meald").get("meald_meals_undelivered_total") == 1

    # The invariant holds: no hold outlives its order's final deadline.
    assert held_past_deadline(s, o.values(), slack=0) == []


def test_no_hold_outlives_its_deadline_across_kill9(dl):
    """The check fails while nobody resolves deadlines (dispatchd and meald
    killed), and holds again once they restart: deadlines come from stored
    times, so what expired while they were down is resolved once each has
    been seen overdue for overdue_s (2 s here) after the start."""
    s = dl
    wait_before_midnight()
    elder = new_elder(s, lat=HOME[0], lon=HOME[1])
    card = new_card(s, elder, topup_fen=100000)
    t0 = now_local()
    o = {
        "escort": place(s, card, "escort", t0 - datetime.timedelta(minutes=10),
                        t0 + datetime.timedelta(hours=1)),
        "meal": place(s, card, "meal", t0 - datetime.timedelta(minutes=1),
                      t0 + datetime.timedelta(seconds=3)),
    }
    for oid in o.values():
        wait_state(s, oid, ("assigned", "released"))
    s.kill9("dispatchd")
    s.kill9("meald")
    try:
        # Final deadlines: escort created + 1 s + 2 s, meal window end + 2 s.
        harness.wait_until(lambda: held_past_deadline(s, o.values(), slack=0)
                           == sorted(o.values()), timeout=20,
                           what="holds past their deadline while nobody resolves them")
        # ... and they stay held: nobody resolves them while the daemons
        # that own the deadlines are down.
        time.sleep(2)
        assert held_past_deadline(s, o.values(), slack=2) == sorted(o.values())
        for oid in o.values():
            assert get_order_state(s, oid) in ("assigned", "released")
    finally:
        s.restart("dispatchd")
        s.restart("meald")
    assert wait_state(s, o["escort"], "failed", timeout=30)["reason"] == "no_caregiver"
    assert wait_state(s, o["meal"], "failed", timeout=30)["reason"] == "not_delivered"
    harness.wait_until(lambda: all(hold_state(s, x) == "released" for x in o.values()),
                       timeout=15, what="holds released")
    assert held_past_deadline(s, o.values(), slack=0) == []


def get_order_state(s, oid):
    st, got = s.http("GET", "orderd", "/v1/orders/%s" % oid)
    assert st == 200, (st, got)
    return got["state"]
