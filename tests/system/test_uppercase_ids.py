"""Ids in upper case, through the four real daemons.

`cc_uuid_valid` accepts upper case, but the daemons' in-memory maps are keyed
by the lower-case text the store hands back. An id in upper case must name
the same object as its lower-case form: same answer to a read, and a write
through it acts on that object exactly once.

1. The bug that started it: `POST /v1/orders/<ID>/cancel` misses the order in
   orderd's memory, the store cancels it anyway and appends an OrderCancelled
   with an empty payload, which every consumer skips as malformed: the hold,
   the visit and the meal are never released.
2. A table of every route that takes an id in its path or query (the
   cc_http_route registrations in services/*/*_http.c): reads are asked in
   both forms and must answer the same status and body.
3. A table of every write through a path id: two twin objects, one written
   through the lower-case id and one through the upper-case id, must get the
   same answer and the same effects in every daemon (events appended once,
   downstream state).
4. Ids inside request bodies (not path or query, but the same bug class).
"""

import datetime
import uuid

import pytest

import harness
from test_journeys import (TZ, at, balance, new_card, new_caregiver, new_elder, post,
                           wait_state)

SKILLS = ["cleaning", "bath", "escort"]
TOPUP = 100000
MEAL_START = (11, 30)


# ---- helpers -------------------------------------------------------------------------------
def up(i):
    return i.upper()


def place(s, card, service="cleaning", days=1):
    if service == "meal":
        start, end = at(days, *MEAL_START), at(days, 12, 30)
    else:
        start, end = at(days, 9), at(days, 12)
    return post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": service, "window_start": start, "window_end": end,
        "notes": ""}, key=str(uuid.uuid4()))["order_id"]


def events(s, daemon, type_, key):
    """(count, count with an empty payload) of `type_` events keyed by `key`."""
    rows = s.sql(daemon, "SELECT count(*), count(*) FILTER (WHERE length(payload) = 0) "
                 "FROM %s.events WHERE type = %%s AND lower(key) = lower(%%s)" % daemon,
                 (type_, key))
    return rows[0]


def get(s, daemon, path):
    st, body = s.http("GET", daemon, path)
    assert st == 200, (daemon, path, st, body)
    return body


def visit(s, vid):
    return get(s, "dispatchd", "/v1/visits/%s" % vid)


def meal(s, oid):
    return get(s, "meald", "/v1/meals/%s" % oid)


def hold(s, oid):
    return get(s, "billingd", "/v1/holds/%s" % oid)


def quiet(pred, timeout=5):
    """Wait for pred() like settle, but carry on when it never holds: the
    caller reports the state it finds."""
    try:
        harness.wait_until(pred, timeout=timeout)
    except AssertionError:
        pass


def order_state(s, oid):
    return get(s, "orderd", "/v1/orders/%s" % oid)["state"]


def now_iso(minutes=0):
    d = datetime.datetime.now(TZ) + datetime.timedelta(minutes=minutes)
    return d.replace(microsecond=0).isoformat()


def masked(value, ids):
    """value with each id of `ids` (lower-case form -> role) replaced by its
    role, so two twin objects' answers can be compared."""
    if isinstance(value, dict):
        return {k: masked(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, ids) for v in value]
    if isinstance(value, str) and value in ids:
        return "<%s>" % ids[value]
    return value


# Fields that change between two reads a moment apart.
VOLATILE = ("waiting_s",)


def stable(body):
    if isinstance(body, dict):
        return {k: stable(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [stable(v) for v in body]
    return body


# ---- objects ---------------------------------------------------------------------------------
class World:
    """Elders, cards, orders, visits, meals in a known, settled state."""

    def __init__(self, s):
        self.s = s
        self.day = 0
        self.meal_point = post(s, "meald", "/v1/meal-points", {
            "name": "食堂", "provider_id": "kitchen-1", "district_id": 1, "lat": 30.2750,
            "lon": 120.1560, "slots": [{"slot": "lunch", "capacity": 500,
                                        "cutoff": "10:00"}]})["meal_point_id"]

    def next_day(self):
        """Windows on days 1..6 in turn, so visits do not crowd one morning."""
        self.day = self.day % 6 + 1
        return self.day

    def card(self, topup=TOPUP):
        elder = new_elder(self.s)
        return elder, new_card(self.s, elder, topup_fen=topup)

    def assigned_visit(self):
        """A cleaning order held and assigned to a caregiver of its own."""
        _, card = self.card()
        new_caregiver(self.s, SKILLS)
        oid = place(self.s, card, "cleaning", self.next_day())
        o = wait_state(self.s, oid, "assigned")
        return {"order": oid, "card": card, "visit": o["visit_id"],
                "caregiver": o["caregiver_id"]}

    def accepted_visit(self):
        v = self.assigned_visit()
        post(self.s, "dispatchd", "/v1/visits/%s/accept" % v["visit"],
             {"caregiver_id": v["caregiver"]})
        return v

    def checked_in_visit(self):
        v = self.accepted_visit()
        post(self.s, "dispatchd", "/v1/visits/%s/check-in" % v["visit"],
             {"caregiver_id": v["caregiver"], "lat": 30.2741, "lon": 120.1551})
        wait_state(self.s, v["order"], "in_progress")
        return v

    def scheduled_meal(self):
        _, card = self.card()
        oid = place(self.s, card, "meal", 1)
        wait_state(self.s, oid, "assigned")
        return {"order": oid, "card": card, "meal_point": self.meal_point}


@pytest.fixture(scope="module")
def world(system):
    return World(system)


# ---- 1. the bug: cancel through an upper-case id ---------------------------------------------
@pytest.mark.parametrize("service", ["cleaning", "meal"])
def test_cancel_through_upper_case_id_releases_hold_visit_and_meal(system, world, service):
    s = system
    obj = world.scheduled_meal() if service == "meal" else world.assigned_visit()
    oid, card = obj["order"], obj["card"]
    held = balance(s, card)["held_fen"]
    assert held > 0 and balance(s, card)["available_fen"] == TOPUP - held

    st, out = s.http("POST", "orderd", "/v1/orders/%s/cancel" % up(oid), json={})
    assert st == 200, (st, out)

    # Give the consumers time to apply the OrderCancelled (billingd answers
    # with HoldReleased), then read the end state of every daemon at once.
    quiet(lambda: hold(s, oid)["state"] == "released", timeout=10)
    # meald and dispatchd apply the same OrderCancelled on their own.
    if service == "meal":
        quiet(lambda: meal(s, oid)["status"] == "cancelled", timeout=10)
    else:
        quiet(lambda: visit(s, obj["visit"])["state"] == "cancelled", timeout=10)
    b = balance(s, card)
    listed = []
    if service == "meal":
        dropped = ("meal", meal(s, oid)["status"])
    else:
        dropped = ("visit", visit(s, obj["visit"])["state"])
        listed = [v["order_id"] for v in get(s, "dispatchd", "/v1/caregivers/%s/visits"
                                                 % obj["caregiver"])["visits"]]
    end = {
        "orderd memory": get(s, "orderd", "/v1/orders/%s" % oid)["state"],
        "orderd store": s.sql("orderd", "SELECT state FROM orderd.orders WHERE id = %s",
                              (oid,))[0][0],
        # (events, of which with an empty payload)
        "OrderCancelled": tuple(events(s, "orderd", "OrderCancelled", oid)),
        "billingd hold": hold(s, oid)["state"],
        "HoldReleased": events(s, "billingd", "HoldReleased", oid)[0],
        "balance": (b["available_fen"], b["held_fen"]),
        "dropped": dropped,
        "on caregiver's list": oid in listed,
        "answer": out,
    }
    assert end == {
        "orderd memory": "cancelled",
        "orderd store": "cancelled",
        "OrderCancelled": (1, 0),
        "billingd hold": "released",
        "HoldReleased": 1,
        "balance": (TOPUP, 0),
        "dropped": ("meal", "cancelled") if service == "meal" else ("visit", "cancelled"),
        "on caregiver's list": False,
        "answer": {"order_id": oid, "state": "cancelled"},
    }


# ---- 2. reads: every route with an id in its path or query -----------------------------------
# (daemon, path template); {x} names an object of the `reads` fixture.
READS = [
    ("orderd", "/v1/elders/{elder}"),
    ("orderd", "/v1/cards/{card}"),
    ("orderd", "/v1/orders/{order}"),
    ("orderd", "/v1/orders?card_id={card}"),
    ("billingd", "/v1/cards/{card}/balance"),
    ("billingd", "/v1/cards/{card}/transactions"),
    ("billingd", "/v1/holds/{order}"),
    ("dispatchd", "/v1/caregivers/{caregiver}"),
    ("dispatchd", "/v1/caregivers/{caregiver}/visits"),
    ("dispatchd", "/v1/visits/{visit}"),
    ("meald", "/v1/meal-points/{meal_point}"),
    ("meald", "/v1/meal-points/{meal_point}/kitchen-list?date={date}&slot=lunch"),
    ("meald", "/v1/meals/{meal_order}"),
]


@pytest.fixture(scope="module")
def reads(system, world):
    """One of each object, settled: an accepted visit (no offer timer) and a
    scheduled meal."""
    v = world.accepted_visit()
    m = world.scheduled_meal()
    elder = get(system, "orderd", "/v1/cards/%s" % v["card"])["elder_id"]
    return {"elder": elder, "card": v["card"], "order": v["order"], "visit": v["visit"],
            "caregiver": v["caregiver"], "meal_point": m["meal_point"],
            "meal_order": m["order"], "date": at(1)[:10]}


@pytest.mark.parametrize("daemon,path", READS, ids=["%s %s" % r for r in READS])
def test_read_answers_the_same_for_upper_case_id(system, reads, daemon, path):
    lower = path.format(**reads)
    upper = path.format(**{k: (up(v) if k != "date" else v) for k, v in reads.items()})
    assert upper != lower
    st_l, body_l = system.http("GET", daemon, lower)
    assert st_l == 200, (lower, st_l, body_l)
    st_u, body_u = system.http("GET", daemon, upper)
    assert (st_u, stable(body_u)) == (st_l, stable(body_l)), upper


# ---- 3. writes through a path id -------------------------------------------------------------
# Each row: make a fresh object, the request, and its effects. Two twins are
# written, one through each case; answers (ids masked) and effects must match.
def _cancel_effects(s, o):
    oid = o["order"]
    quiet(lambda: hold(s, oid)["state"] != "held", timeout=10)
    quiet(lambda: visit(s, o["visit"])["state"] == "cancelled")
    return {"state": get(s, "orderd", "/v1/orders/%s" % oid)["state"],
            "OrderCancelled": events(s, "orderd", "OrderCancelled", oid),
            "hold": hold(s, oid)["state"], "balance": balance(s, o["card"]),
            "visit": visit(s, o["visit"])["state"]}


def _card(world):
    _, card = world.card(topup=0)
    return {"card": card}


def _card_status_effects(s, o):
    c = o["card"]
    quiet(lambda: balance(s, c)["status"] == "blocked")
    return {"status": get(s, "orderd", "/v1/cards/%s" % c)["status"],
            "CardStatusChanged": events(s, "orderd", "CardStatusChanged", c),
            "billingd": balance(s, c)["status"]}


def _topup_effects(s, o):
    c = o["card"]
    return {"balance": balance(s, c),
            "topups": s.sql("billingd", "SELECT count(*) FROM billingd.transfers "
                            "WHERE kind = 'topup' AND card_id = %s", (c,))[0][0]}


def _visit_effects(type_, want_order=None):
    def effects(s, o):
        if want_order:
            quiet(lambda: order_state(s, o["order"]) == want_order)
        v = visit(s, o["visit"])
        return {"state": v["state"], "declined_count": v["declined_count"],
                type_: events(s, "dispatchd", type_, o["order"]),
                "order": get(s, "orderd", "/v1/orders/%s" % o["order"])["state"]}
    return effects


def _delivered_effects(s, o):
    quiet(lambda: order_state(s, o["order"]) == "billed")
    m = meal(s, o["order"])
    return {"status": m["status"], "MealDelivered": events(s, "meald", "MealDelivered",
                                                           o["order"]),
            "order": order_state(s, o["order"]), "hold": hold(s, o["order"])["state"]}


AT = now_iso(-1)
WRITES = {
    # name: (daemon, path, id field, make, body, effects)
    "orderd cancel": ("orderd", "/v1/orders/{}/cancel", "order",
                      World.assigned_visit, lambda o: {}, _cancel_effects),
    "orderd card status": ("orderd", "/v1/cards/{}/status", "card",
                           _card, lambda o: {"status": "blocked"}, _card_status_effects),
    "billingd topup": ("billingd", "/v1/cards/{}/topups", "card",
                       _card, lambda o: {"amount_fen": 1234, "source": "family",
                                         "reference": "upper"}, _topup_effects),
    "dispatchd accept": ("dispatchd", "/v1/visits/{}/accept", "visit",
                         World.assigned_visit, lambda o: {"caregiver_id": o["caregiver"]},
                         _visit_effects("VisitAccepted")),
    "dispatchd decline": ("dispatchd", "/v1/visits/{}/decline", "visit",
                          World.assigned_visit, lambda o: {"caregiver_id": o["caregiver"]},
                          _visit_effects("VisitDeclined")),
    "dispatchd check-in": ("dispatchd", "/v1/visits/{}/check-in", "visit",
                           World.accepted_visit,
                           lambda o: {"caregiver_id": o["caregiver"], "lat": 30.2741,
                                      "lon": 120.1551, "at": AT},
                           _visit_effects("VisitCheckedIn", "in_progress")),
    "dispatchd check-out": ("dispatchd", "/v1/visits/{}/check-out", "visit",
                            World.checked_in_visit,
                            lambda o: {"caregiver_id": o["caregiver"], "lat": 30.2741,
                                       "lon": 120.1551},
                            _visit_effects("VisitCompleted", "billed")),
    "meald delivered": ("meald", "/v1/meals/{}/delivered", "order",
                        World.scheduled_meal, lambda o: {"courier_id": "c-7", "at": AT},
                        _delivered_effects),
}


def _write(s, daemon, path, obj, id_, body):
    headers = {"Idempotency-Key": str(uuid.uuid4())} if daemon == "billingd" else None
    st, out = s.http("POST", daemon, path.format(id_), json=body, headers=headers)
    if isinstance(out, dict):
        out.pop("topup_id", None)   # new for every top-up
    return st, masked(out, {v: k for k, v in obj.items() if isinstance(v, str)})


@pytest.mark.parametrize("name", list(WRITES))
def test_write_through_upper_case_id_acts_once_on_the_same_object(system, world, name):
    s = system
    daemon, path, field, make, body, effects = WRITES[name]
    twin_l, twin_u = make(world), make(world)
    ans_l = _write(s, daemon, path, twin_l, twin_l[field], body(twin_l))
    assert ans_l[0] in (200, 201), ans_l
    ans_u = _write(s, daemon, path, twin_u, up(twin_u[field]), body(twin_u))
    eff_l = masked(effects(s, twin_l), {v: k for k, v in twin_l.items()})
    eff_u = masked(effects(s, twin_u), {v: k for k, v in twin_u.items()})
    assert {"answer": ans_u, "effects": eff_u} == {"answer": ans_l, "effects": eff_l}


def test_topup_key_replayed_through_the_other_case_applies_once(system, world):
    """The same Idempotency-Key through the lower- and then the upper-case
    card id is one top-up, not two and not a conflict."""
    s = system
    card = _card(world)["card"]
    key = str(uuid.uuid4())
    body = {"amount_fen": 500, "source": "family", "reference": "twice"}
    first = s.http("POST", "billingd", "/v1/cards/%s/topups" % card, json=body,
                   headers={"Idempotency-Key": key})
    again = s.http("POST", "billingd", "/v1/cards/%s/topups" % up(card), json=body,
                   headers={"Idempotency-Key": key})
    assert first[0] == 201, first
    assert again == first
    assert balance(s, card)["available_fen"] == 500


# ---- 4. ids in request bodies ----------------------------------------------------------------
def test_card_for_upper_case_elder_id(system, world):
    elder, _ = world.card(topup=0)
    st, out = system.http("POST", "orderd", "/v1/cards", json={"elder_id": up(elder)})
    assert st == 201, (st, out)
    assert out["elder_id"] == elder, out


def test_order_for_upper_case_card_id_is_held(system, world):
    s = system
    _, card = world.card()
    new_caregiver(s, SKILLS)
    oid = place(s, up(card), "cleaning", world.next_day())
    o = wait_state(s, oid, ("assigned", "released", "denied"))
    assert o["card_id"] == card and o["state"] != "denied", o
    assert balance(s, card)["held_fen"] == o["held_fen"] > 0


def test_visit_step_with_upper_case_caregiver_id(system, world):
    v = world.assigned_visit()
    st, out = system.http("POST", "dispatchd", "/v1/visits/%s/accept" % v["visit"],
                          json={"caregiver_id": up(v["caregiver"])})
    assert st == 200, (st, out)
    assert visit(system, v["visit"])["state"] == "accepted"
