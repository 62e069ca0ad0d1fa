"""dispatchd through its API with the real daemons and PostgreSQL: caregivers
(create, idempotency, bad input), the caregiver app's visit steps and their
illegal transitions, decline and accept-timeout re-dispatch (never back to a
decliner), the queue, VisitFailed when nobody can come, and a kill -9.

Visits come from real orders: emergencies, which orderd releases at once
(DESIGN.md: never refused for money), so no card needs money."""

import datetime
import uuid

import pytest

import harness
from test_journeys import at, new_card, new_elder, post

ELDER = (30.2741, 120.1551)


def caregiver_body(**over):
    start, end = harness.all_day_shift()
    b = {"name": "护理员甲", "provider_id": "prov-1", "district_id": 1, "lat": 30.2745,
         "lon": 120.1555, "skills": ["emergency", "bath"], "level": 2, "first_aid": True,
         "shift_start": start, "shift_end": end}
    b.update(over)
    return b


def new_cg(s, **over):
    return post(s, "dispatchd", "/v1/caregivers", caregiver_body(**over))["caregiver_id"]


def emergency(s, card):
    # Help from now, for six hours: a window ending at midnight leaves a
    # test run at 22:00 too little of it for three visits in a row.
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    return post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "emergency", "window_start": now.isoformat(),
        "window_end": (now + datetime.timedelta(hours=6)).isoformat(), "notes": ""},
        key=str(uuid.uuid4()))["order_id"]


def queue_entry(s, order_id, district=None):
    path = "/v1/queue" + ("?district_id=%d" % district if district else "")
    st, q = s.http("GET", "dispatchd", path)
    assert st == 200, (st, q)
    for v in q["visits"]:
        if v["order_id"] == order_id:
            return v
    return None


def visit_of(s, order_id, timeout=15):
    """The visit for an order, once dispatchd has it (assigned or waiting)."""
    box = {}

    def seen():
        st, rows = s.http("GET", "dispatchd", "/v1/queue")
        for v in rows["visits"]:
            if v["order_id"] == order_id:
                box["v"] = v
                return True
        return False
    harness.wait_until(seen, timeout=timeout, what="visit of order %s" % order_id)
    return box["v"]


def get_visit(s, vid):
    st, v = s.http("GET", "dispatchd", "/v1/visits/%s" % vid)
    assert st == 200, (st, v)
    return v


def wait_visit(s, vid, pred, what, timeout=15):
    box = {}

    def ok():
        box["v"] = get_visit(s, vid)
        return pred(box["v"])
    harness.wait_until(ok, timeout=timeout, what=lambda: "%s: %r" % (what, box.get("v")))
    return box["v"]


def step(s, vid, name, body, expect=200):
    st, out = s.http("POST", "dispatchd", "/v1/visits/%s/%s" % (vid, name), json=body)
    assert st == expect, (name, st, out)
    return out


def caregiver_count(s):
    return s.sql("dispatchd", "SELECT count(*) FROM dispatchd.caregivers")[0][0]


def events(s, order_id):
    rows = s.sql("dispatchd", "SELECT type FROM dispatchd.events WHERE key = %s ORDER BY seq",
                 (order_id,))
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def dsys(need_daemons, pg, db):
    """The four daemons; dispatchd with a short accept timeout only where a
    test starts its own system (see below)."""
    s = harness.System(pg, db)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


# ---- caregivers ---------------------------------------------------------------

def test_create_and_get_caregiver(dsys):
    s = dsys
    cid = new_cg(s, skills=["visit", "bath", "cleaning"], level=3, first_aid=False,
                 shift_start="22:00", shift_end="06:00")
    st, c = s.http("GET", "dispatchd", "/v1/caregivers/%s" % cid)
    assert st == 200, (st, c)
    assert c["caregiver_id"] == cid and c["provider_id"] == "prov-1"
    assert c["district_id"] == 1 and c["level"] == 3 and c["first_aid"] is False
    assert sorted(c["skills"]) == ["bath", "cleaning", "visit"]
    assert (c["shift_start"], c["shift_end"]) == ("22:00", "06:00")
    st, vs = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % cid)
    assert st == 200 and vs == {"caregiver_id": cid, "visits": []}, (st, vs)
    other = new_cg(s, district_id=2)
    st, lst = s.http("GET", "dispatchd", "/v1/caregivers?district_id=2")
    assert st == 200 and [c["caregiver_id"] for c in lst["caregivers"]] == [other], lst
    st, lst = s.http("GET", "dispatchd", "/v1/caregivers")
    ids = [c["caregiver_id"] for c in lst["caregivers"]]
    assert cid in ids and other in ids, lst
    st, err = s.http("GET", "dispatchd", "/v1/caregivers?district_id=x")
    assert st == 400 and err["field"] == "district_id", (st, err)


def test_caregiver_idempotency_key(dsys):
    s = dsys
    key = str(uuid.uuid4())
    body = caregiver_body(name="幂等")
    h = {"Idempotency-Key": key}
    st1, a = s.http("POST", "dispatchd", "/v1/caregivers", json=body, headers=h)
    st2, b = s.http("POST", "dispatchd", "/v1/caregivers", json=body, headers=h)
    assert st1 == 201 and st2 == 201 and a == b, (st1, a, st2, b)
    n = caregiver_count(s)
    st, err = s.http("POST", "dispatchd", "/v1/caregivers", json=dict(body, level=1), headers=h)
    assert st == 409 and err["field"] == "Idempotency-Key", (st, err)
    assert caregiver_count(s) == n


BAD_CAREGIVERS = [
    ("name", {"name": None}, "missing_field"),
    ("name", {"name": 5}, "wrong_type"),
    ("provider_id", {"provider_id": ""}, "invalid_value"),
    ("district_id", {"district_id": "1"}, "wrong_type"),
    ("district_id", {"district_id": 0}, "invalid_value"),
    ("lat", {"lat": 91}, "invalid_value"),
    ("lon", {"lon": "120"}, "wrong_type"),
    ("skills", {"skills": "bath"}, "wrong_type"),
    ("skills", {"skills": []}, "invalid_value"),
    ("skills", {"skills": ["bath", "meal"]}, "invalid_value"),
    ("skills", {"skills": ["bath", 3]}, "wrong_type"),
    ("level", {"level": 4}, "invalid_value"),
    ("level", {"level": "2"}, "wrong_type"),
    ("first_aid", {"first_aid": "yes"}, "wrong_type"),
    ("shift_start", {"shift_start": "25:00"}, "invalid_value"),
    ("shift_start", {"shift_start": "noon"}, "invalid_value"),
    ("shift_end", {"shift_end": "12:60"}, "invalid_value"),
    ("shift_end", {"shift_end": 1200}, "wrong_type"),
    ("shift_end", {"shift_end": None}, "missing_field"),
]


@pytest.mark.parametrize("field,over,code", BAD_CAREGIVERS,
                         ids=["%s-%s" % (f, c) for f, _, c in BAD_CAREGIVERS])
def test_caregiver_bad_input(dsys, field, over, code):
    s = dsys
    n = caregiver_count(s)
    body = caregiver_body()
    for k, v in over.items():
        if v is None:
            body.pop(k)
        else:
            body[k] = v
    st, err = s.http("POST", "dispatchd", "/v1/caregivers", json=body)
    assert st == 400, (st, err)
    assert err["field"] == field and err["error"] == code and err["message"], err
    assert caregiver_count(s) == n, "a rejected caregiver was stored"


def test_malformed_bodies_and_unknown_ids(dsys):
    s = dsys
    for raw in (b"{not json", b"[1,2]", b"", b"\"text\""):
        st, err = s.http("POST", "dispatchd", "/v1/caregivers", body=raw,
                         headers={"Content-Type": "application/json"})
        assert st == 400 and isinstance(err, dict) and err.get("error"), (raw, st, err)
    unknown = str(uuid.uuid4())
    for path in ("/v1/caregivers/%s" % unknown, "/v1/caregivers/%s/visits" % unknown,
                 "/v1/visits/%s" % unknown, "/v1/visits/not-a-uuid"):
        st, err = s.http("GET", "dispatchd", path)
        assert st == 404 and err["error"] == "not_found", (path, st, err)
    for name in ("accept", "decline", "check-in", "check-out"):
        st, err = s.http("POST", "dispatchd", "/v1/visits/%s/%s" % (unknown, name),
                         json={"caregiver_id": unknown, "lat": 30, "lon": 120})
        assert st == 404 and err["field"] == "visit_id", (name, st, err)
    for q in ("abc", "-1", "0", "1x", ""):
        st, err = s.http("GET", "dispatchd", "/v1/queue?district_id=%s" % q)
        assert st == 400 and err["field"] == "district_id", (q, st, err)
    for q in ("0", "10001", "x"):
        st, err = s.http("GET", "dispatchd", "/v1/queue?limit=%s" % q)
        assert st == 400 and err["field"] == "limit", (q, st, err)
    st, err = s.http("DELETE", "dispatchd", "/v1/caregivers")
    assert st == 405, (st, err)


# ---- the caregiver app --------------------------------------------------------

def test_visit_steps_and_illegal_transitions(dsys):
    s = dsys
    elder = new_elder(s, lat=ELDER[0], lon=ELDER[1])
    card = new_card(s, elder)
    near = new_cg(s, lat=ELDER[0] + 0.0003, lon=ELDER[1])
    other = new_cg(s, lat=ELDER[0] + 0.05, lon=ELDER[1])
    oid = emergency(s, card)
    v = visit_of(s, oid)
    vid = v["visit_id"]
    assert v["state"] == "assigned" and v["caregiver_id"] == near, v
    assert v["emergency"] is True and v["service"] == "emergency"
    assert v["location"] == {"lat": ELDER[0], "lon": ELDER[1]}
    # The caregiver app's list has it, with the elder's place and window.
    st, mine = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % near)
    assert [x["visit_id"] for x in mine["visits"]] == [vid], mine
    assert mine["visits"][0]["eta"] and mine["visits"][0]["window_end"].endswith("+08:00")

    # Out of order: 409 naming the state.
    err = step(s, vid, "check-in", {"caregiver_id": near, "lat": ELDER[0], "lon": ELDER[1]},
               expect=409)
    assert err["error"] == "illegal_transition" and "assigned" in err["message"], err
    err = step(s, vid, "check-out", {"caregiver_id": near, "lat": ELDER[0], "lon": ELDER[1]},
               expect=409)
    assert "assigned" in err["message"], err
    # Someone else's visit: 403 naming caregiver_id; bad bodies: 400 naming the field.
    err = step(s, vid, "accept", {"caregiver_id": other}, expect=403)
    assert err["field"] == "caregiver_id", err
    # Who acts is the token's caregiver (no caregiver_id needed in the body);
    # a body naming another caregiver than the caller is refused.
    for body in ({}, {"caregiver_id": near}):
        st, err = s.http("POST", "dispatchd", "/v1/visits/%s/accept" % vid, json=body,
                         role="caregiver", scope={"caregiver_id": other})
        assert st == 403 and err["field"] == "caregiver_id", (body, st, err)
    assert step(s, vid, "accept", {"caregiver_id": 7}, expect=400)["error"] == "wrong_type"

    assert step(s, vid, "accept", {"caregiver_id": near})["state"] == "accepted"
    # A retried accept (lost reply) is answered as done, with no second event.
    assert step(s, vid, "accept", {"caregiver_id": near})["state"] == "accepted"
    err = step(s, vid, "check-out", {"caregiver_id": near, "lat": ELDER[0], "lon": ELDER[1]},
               expect=409)
    assert "accepted" in err["message"], err
    bad = [({"caregiver_id": near, "lon": ELDER[1]}, "lat", "missing_field"),
           ({"caregiver_id": near, "lat": "x", "lon": ELDER[1]}, "lat", "wrong_type"),
           ({"caregiver_id": near, "lat": 30, "lon": 181}, "lon", "invalid_value"),
           ({"caregiver_id": near, "lat": 30, "lon": 120, "at": "yesterday"}, "at",
            "invalid_value"),
           ({"caregiver_id": near, "lat": 30, "lon": 120, "at": "2999-01-01T00:00:00+08:00"},
            "at", "invalid_value")]
    for body, field, code in bad:
        err = step(s, vid, "check-in", body, expect=400)
        assert err["field"] == field and err["error"] == code, (body, err)
    assert get_visit(s, vid)["state"] == "accepted"

    # Check in ~33 m north of the door: the distance is the evidence.
    out = step(s, vid, "check-in", {"caregiver_id": near, "lat": ELDER[0] + 0.0003,
                                    "lon": ELDER[1]})
    assert out["state"] == "checked_in" and 25 <= out["distance_m"] <= 40, out
    err = step(s, vid, "check-out", {"caregiver_id": near, "lat": ELDER[0], "lon": ELDER[1],
                                     "at": at(-1, 0)}, expect=400)
    assert err["field"] == "at", err
    out = step(s, vid, "check-out", {"caregiver_id": near, "lat": ELDER[0], "lon": ELDER[1]})
    assert out["state"] == "completed" and out["distance_m"] == 0, out
    v = get_visit(s, vid)
    assert v["check_in"]["distance_m"] == 33 or 25 <= v["check_in"]["distance_m"] <= 40, v
    assert v["check_out"]["distance_m"] == 0
    err = step(s, vid, "decline", {"caregiver_id": near}, expect=409)
    assert "completed" in err["message"], err
    assert events(s, oid) == ["VisitAssigned", "VisitAccepted", "VisitCheckedIn",
                              "VisitCompleted"]
    # Off the caregiver's list once done; orderd saw it through.
    st, mine = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % near)
    assert mine["visits"] == []
    harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders/%s" % oid)[1]["state"]
                       in ("completed", "billed"), timeout=15, what="order completed")


def test_decline_redispatches_never_back_to_a_decliner(dsys):
    s = dsys
    # Its own corner of the map: beyond --max-travel-s (1 h) of the others.
    elder = new_elder(s, lat=ELDER[0] + 1, lon=ELDER[1])
    card = new_card(s, elder)
    base = (ELDER[0] + 1, ELDER[1])
    a = new_cg(s, lat=base[0] + 0.001, lon=base[1])
    b = new_cg(s, lat=base[0] + 0.02, lon=base[1])
    oid = emergency(s, card)
    v = visit_of(s, oid)
    vid = v["visit_id"]
    assert v["caregiver_id"] == a, v
    out = step(s, vid, "decline", {"caregiver_id": a, "reason": "ill today"})
    assert out["state"] == "assigned" and out["next_caregiver_assigned"] is True, out
    # The app retries the decline (lost reply): answered, nothing appended.
    assert step(s, vid, "decline", {"caregiver_id": a})["state"] == "assigned"
    v = get_visit(s, vid)
    assert v["caregiver_id"] == b and v["declined_count"] == 1, v
    # a may no longer act on it
    assert step(s, vid, "accept", {"caregiver_id": a}, expect=403)["field"] == "caregiver_id"
    out = step(s, vid, "decline", {"caregiver_id": b})
    assert out["state"] == "waiting" and out["next_caregiver_assigned"] is False, out
    # Nobody else qualifies: it waits in the queue, most urgent first.
    q = queue_entry(s, oid, district=1)
    assert q and q["state"] == "waiting" and q["caregiver_id"] is None, q
    assert q["declined_count"] == 2
    st, board = s.http("GET", "dispatchd", "/v1/queue?district_id=1&limit=1")
    assert st == 200 and len(board["visits"]) == 1 and board["depth"] >= 1, board
    # A non-first-aider does not qualify for an emergency; a new first-aider does.
    new_cg(s, lat=base[0], lon=base[1], first_aid=False)
    c = new_cg(s, lat=base[0] + 0.03, lon=base[1])
    v = wait_visit(s, vid, lambda v: v["state"] == "assigned", "re-offered to the newcomer")
    assert v["caregiver_id"] == c, v
    assert events(s, oid) == ["VisitAssigned", "VisitDeclined", "VisitAssigned",
                              "VisitDeclined", "VisitAssigned"]
    m = s.metrics("dispatchd")
    assert m.get("dispatchd_declines_total", 0) >= 2, m


def test_cancel_drops_the_visit(dsys):
    s = dsys
    elder = new_elder(s, lat=ELDER[0] + 2, lon=ELDER[1])
    card = new_card(s, elder)
    cg = new_cg(s, lat=ELDER[0] + 2, lon=ELDER[1] + 0.001)
    oid = emergency(s, card)
    vid = visit_of(s, oid)["visit_id"]
    post(s, "orderd", "/v1/orders/%s/cancel" % oid, {"reason": "false alarm"})
    wait_visit(s, vid, lambda v: v["state"] == "cancelled", "visit cancelled")
    assert queue_entry(s, oid) is None
    st, mine = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % cg)
    assert all(v["order_id"] != oid for v in mine["visits"]), mine
    err = step(s, vid, "accept", {"caregiver_id": cg}, expect=409)
    assert "cancelled" in err["message"], err


def test_kill9_keeps_visits_and_caregivers(dsys):
    s = dsys
    elder = new_elder(s, lat=ELDER[0] + 3, lon=ELDER[1])
    card = new_card(s, elder)
    cg = new_cg(s, lat=ELDER[0] + 3, lon=ELDER[1] + 0.001)
    oid = emergency(s, card)
    vid = visit_of(s, oid)["visit_id"]
    step(s, vid, "accept", {"caregiver_id": cg})
    s.kill9("dispatchd")
    s.restart("dispatchd")
    v = get_visit(s, vid)
    assert v["state"] == "accepted" and v["caregiver_id"] == cg, v
    st, c = s.http("GET", "dispatchd", "/v1/caregivers/%s" % cg)
    assert st == 200 and c["planned_visits"] == 1, c
    step(s, vid, "check-in", {"caregiver_id": cg, "lat": ELDER[0] + 3, "lon": ELDER[1]})
    # orderd's log is not applied twice after the restart.
    assert events(s, oid) == ["VisitAssigned", "VisitAccepted", "VisitCheckedIn"]
    n = s.sql("dispatchd", "SELECT count(*) FROM dispatchd.visits WHERE order_id = %s",
              (oid,))[0][0]
    assert n == 1


# ---- timeouts and deadlines (own system: short timers) -----------------------

def test_accept_timeout_redispatches_then_fails(need_daemons, pg, fresh_db):
    s = harness.System(pg, fresh_db, extra_args={"dispatchd": {
        "accept-timeout-s": "1", "assign-deadline-s": "6", "retry-interval-s": "1",
        "keep-finished-s": "0"}})
    # Overdue for a second, then failed (table deadlines: test_deadlines.py).
    s.sql("dispatchd", "UPDATE dispatchd.deadlines SET overdue_s = 1")
    try:
        s.start()
        elder = new_elder(s, lat=ELDER[0], lon=ELDER[1])
        card = new_card(s, elder)
        a = new_cg(s, lat=ELDER[0] + 0.001, lon=ELDER[1])
        b = new_cg(s, lat=ELDER[0] + 0.01, lon=ELDER[1])
        oid = emergency(s, card)
        vid = visit_of(s, oid)["visit_id"]
        # Nobody accepts: a, then b, time out; never back to a; then it waits
        # until the deadline and fails, and orderd fails the order.
        v = wait_visit(s, vid, lambda v: v["state"] == "failed", "visit failed", timeout=20)
        assert v["fail_reason"] == "no_caregiver" and v["declined_count"] == 2, v
        ev = events(s, oid)
        assert ev == ["VisitAssigned", "VisitDeclined", "VisitAssigned", "VisitDeclined",
                      "VisitFailed"], ev
        offered = s.sql("dispatchd", "SELECT declined::text[] FROM dispatchd.visits "
                        "WHERE id = %s", (vid,))[0][0]
        assert offered == [a, b], offered
        m = s.metrics("dispatchd")
        assert m.get("dispatchd_accept_timeouts_total", 0) >= 2, m
        assert m.get("dispatchd_failures_total", 0) >= 1, m
        harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders/%s" % oid)[1]["state"]
                           == "failed", timeout=15, what="order failed")
        # Finished visits leave memory (--keep-finished-s=0 at the reload) and
        # are then read from the store.
        s.restart("dispatchd")
        v2 = get_visit(s, vid)
        assert v2["state"] == "failed" and v2["order_id"] == oid, v2
        assert v2["declined_count"] == 2 and v2["fail_reason"] == "no_caregiver", v2
        st, err = s.http("GET", "dispatchd", "/v1/visits/%s" % uuid.uuid4())
        assert st == 404, (st, err)
    finally:
        s.cleanup()


def test_continuity_prefers_the_known_caregiver(dsys):
    s = dsys
    base = (ELDER[0] + 4, ELDER[1])
    elder = new_elder(s, lat=base[0], lon=base[1])
    card = new_card(s, elder, topup_fen=100000)
    known = new_cg(s, lat=base[0] + 0.02, lon=base[1])
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))

    def bath(start_min):
        return post(s, "orderd", "/v1/orders", {
            "card_id": card, "service": "bath",
            "window_start": (now + datetime.timedelta(minutes=start_min)).isoformat(),
            "window_end": (now + datetime.timedelta(hours=3)).isoformat(), "notes": ""},
            key=str(uuid.uuid4()))["order_id"]

    # The known caregiver serves the elder once per service: orderd keeps the
    # last caregiver per service and passes it as preferred_caregiver_id.
    for first in (emergency(s, card), bath(0)):
        vid = visit_of(s, first)["visit_id"]
        for name, body in (("accept", {}), ("check-in", {"lat": base[0], "lon": base[1]}),
                           ("check-out", {"lat": base[0], "lon": base[1]})):
            step(s, vid, name, dict(body, caregiver_id=known))
        harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders/%s" % first)[1]["state"]
                           in ("completed", "billed"), timeout=15, what="first order completed")
    # Someone nearer joins (35 s away; the known caregiver is 12 min away).
    # Continuity is a cost (dd_model.h): the elder's next routine visit still
    # goes to the caregiver they know, 23 min of travel there and back
    # against 1 min plus the 30 min continuity cost.
    nearer = new_cg(s, lat=base[0] + 0.001, lon=base[1])
    v = visit_of(s, bath(30))
    assert v["preferred_caregiver_id"] == known, v
    assert v["caregiver_id"] == known and v["caregiver_id"] != nearer, v
    # An emergency is help soonest: the nearer first-aider, 11 min sooner,
    # although the elder knows the other one.
    v = visit_of(s, emergency(s, card))
    assert v["preferred_caregiver_id"] == known, v
    assert v["caregiver_id"] == nearer, v


def test_emergency_takes_an_unaccepted_routine_slot(dsys):
    import datetime
    s = dsys
    base = (ELDER[0] + 5, ELDER[1])
    elder = new_elder(s, lat=base[0], lon=base[1])
    card = new_card(s, elder, topup_fen=100000)
    only = new_cg(s, lat=base[0] + 0.001, lon=base[1], skills=["emergency", "cleaning"])
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    routine = post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "cleaning",
        "window_start": (now + datetime.timedelta(minutes=1)).isoformat(),
        "window_end": (now + datetime.timedelta(hours=3)).isoformat(), "notes": ""},
        key=str(uuid.uuid4()))["order_id"]
    rv = visit_of(s, routine)
    assert rv["caregiver_id"] == only and rv["state"] == "assigned", rv
    # The only first-aider is offered a 90-minute cleaning starting now; an
    # emergency comes in: it takes the slot, the cleaning goes back to the
    # queue and is offered again after the emergency.
    urgent = emergency(s, card)
    ev = visit_of(s, urgent)
    assert ev["caregiver_id"] == only and ev["state"] == "assigned", ev
    rv2 = wait_visit(s, rv["visit_id"], lambda v: v["state"] == "assigned"
                     and v["eta"] > ev["eta"], "cleaning re-offered after the emergency")
    assert rv2["caregiver_id"] == only and rv2["declined_count"] == 0, rv2
    assert events(s, routine) == ["VisitAssigned", "VisitDeclined", "VisitAssigned"]
    assert s.metrics("dispatchd").get("dispatchd_preemptions_total", 0) >= 1
    # An accepted visit is never taken away.
    step(s, ev["visit_id"], "accept", {"caregiver_id": only})
    step(s, rv["visit_id"], "accept", {"caregiver_id": only})
    third = emergency(s, card)
    tv = visit_of(s, third)
    # ... so the next emergency waits its turn after them.
    assert tv["state"] == "assigned" and tv["eta"] >= rv2["planned_end"], (tv, rv2)
    assert events(s, routine)[-1] == "VisitAccepted"
    assert events(s, urgent)[-1] == "VisitAccepted"


def test_reoptimisation_moves_an_unaccepted_visit_to_a_newcomer(dsys):
    """Re-optimisation (dd_reopt.h): a cleaning offered to the only
    caregiver, 40 min away, moves to one who registers next door; the move
    is VisitDeclined{replanned} + VisitAssigned, orderd follows, and an
    accepted visit in the same situation never moves."""
    s = dsys
    # Two elders 20 min apart; the caregiver lives 20 min beyond the first.
    base = (ELDER[0] + 6, ELDER[1])
    other = (base[0] - 0.035, base[1])
    cards = {p: new_card(s, new_elder(s, lat=p[0], lon=p[1]), topup_fen=100000)
             for p in (base, other)}
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    # A shift from an hour ago to 8 hours on (overnight when it must), so
    # the visits below lie in the shift running now at any time of day:
    # re-optimisation kicked by a newcomer plans the shifts running now.
    shift = {"shift_start": (now - datetime.timedelta(hours=1)).strftime("%H:%M"),
             "shift_end": (now + datetime.timedelta(hours=8)).strftime("%H:%M")}
    far = new_cg(s, lat=base[0] + 0.035, lon=base[1], skills=["cleaning"], **shift)

    def cleaning(card):
        return post(s, "orderd", "/v1/orders", {
            "card_id": card, "service": "cleaning",
            "window_start": (now + datetime.timedelta(hours=1)).isoformat(),
            "window_end": (now + datetime.timedelta(hours=4)).isoformat(), "notes": ""},
            key=str(uuid.uuid4()))["order_id"]

    kept, moved = cleaning(cards[base]), cleaning(cards[other])
    kv, mv = visit_of(s, kept), visit_of(s, moved)
    assert kv["caregiver_id"] == far and mv["caregiver_id"] == far, (kv, mv)
    step(s, kv["visit_id"], "accept", {"caregiver_id": far})
    before = s.metrics("dispatchd").get('dispatchd_reopt_total{outcome="applied"}', 0)
    near = new_cg(s, lat=other[0] - 0.001, lon=other[1], skills=["cleaning"], **shift)
    v = wait_visit(s, mv["visit_id"], lambda v: v["caregiver_id"] == near,
                   "unaccepted cleaning moved to the newcomer", timeout=20)
    assert v["state"] == "assigned", v
    assert events(s, moved) == ["VisitAssigned", "VisitDeclined", "VisitAssigned"]
    harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders/%s" % moved)[1]
                       .get("caregiver_id") == near, timeout=15, what="orderd follows")
    m = s.metrics("dispatchd")
    assert m.get('dispatchd_reopt_total{outcome="applied"}', 0) > before
    # the loop's share of each step is timed (docs/DISPATCH.md): built in slices
    for phase in ("snapshot", "apply"):
        assert m.get('dispatchd_reopt_loop_seconds_count{phase="%s"}' % phase, 0) >= 1, phase
    # every outcome is exported from the start (a dashboard needs the zero)
    for outcome in ("applied", "stale", "kept", "void"):
        assert 'dispatchd_reopt_total{outcome="%s"}' % outcome in m, outcome
    # the accepted one stays with its caregiver
    st, k = s.http("GET", "dispatchd", "/v1/visits/%s" % kv["visit_id"])
    assert st == 200 and k["caregiver_id"] == far and k["state"] == "accepted", k
    assert events(s, kept) == ["VisitAssigned", "VisitAccepted"]


def test_caregiver_day_lists_stops_in_order_with_travel(dsys):
    """GET /v1/caregivers/{id}/day: the caregiver's app sees their day as
    ordered stops with ETA and travel from the stop before (home first)."""
    s = dsys
    base = (ELDER[0] + 7, ELDER[1])
    other = (base[0] - 0.01, base[1])
    cards = [new_card(s, new_elder(s, lat=p[0], lon=p[1]), topup_fen=100000)
             for p in (base, other)]
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    # A shift running from an hour ago to 8 hours on: the visits fit at any hour.
    cg = new_cg(s, lat=base[0] + 0.01, lon=base[1], skills=["cleaning"],
                shift_start=(now - datetime.timedelta(hours=1)).strftime("%H:%M"),
                shift_end=(now + datetime.timedelta(hours=8)).strftime("%H:%M"))
    vids = []
    for card, (a, b) in zip(cards, ((150, 200), (40, 90))):
        order = post(s, "orderd", "/v1/orders", {
            "card_id": card, "service": "cleaning",
            "window_start": (now + datetime.timedelta(minutes=a)).isoformat(),
            "window_end": (now + datetime.timedelta(minutes=b)).isoformat(), "notes": ""},
            key=str(uuid.uuid4()))["order_id"]
        v = visit_of(s, order)
        assert v["caregiver_id"] == cg, v
        vids.append(v)
    date = vids[1]["eta"][:10]
    me = {"caregiver_id": cg}
    st, day = s.http("GET", "dispatchd", "/v1/caregivers/%s/day?date=%s" % (cg, date),
                     role="caregiver", scope=me)
    assert st == 200 and day["date"] == date, (st, day)
    want = sorted((v for v in vids if v["eta"][:10] == date), key=lambda v: v["eta"])
    assert [x["visit_id"] for x in day["stops"]] == [v["visit_id"] for v in want], day
    assert all(x["travel_from_previous_s"] >= 0 for x in day["stops"])
    if len(want) == 2:
        # home -> the other elder (first in time) -> base elder -> home
        assert day["stops"][0]["visit_id"] == vids[1]["visit_id"]
        assert abs(day["stops"][0]["travel_from_previous_s"] - 2 * 347) <= 3, day
        assert abs(day["stops"][1]["travel_from_previous_s"] - 347) <= 3, day
        assert abs(day["travel_home_s"] - 347) <= 3, day
    assert day["total_travel_s"] == (sum(x["travel_from_previous_s"] for x in day["stops"])
                                     + day["travel_home_s"])
    # Today by default; another day is empty; a bad date names the field.
    st, today = s.http("GET", "dispatchd", "/v1/caregivers/%s/day" % cg, role="caregiver",
                       scope=me)
    assert st == 200 and len(today["date"]) == 10, today
    st, empty = s.http("GET", "dispatchd", "/v1/caregivers/%s/day?date=2020-01-01" % cg,
                       role="caregiver", scope=me)
    assert st == 200 and empty["stops"] == [], empty
    for bad in ("2026-13-01", "tomorrow", "2026-1-1", ""):
        st, err = s.http("GET", "dispatchd", "/v1/caregivers/%s/day?date=%s" % (cg, bad),
                         role="caregiver", scope=me)
        assert st == 400 and err["field"] == "date", (bad, st, err)


def test_caregiver_day_starts_where_the_last_visit_ended(dsys):
    """After a check-out the day view measures the next trip from that door,
    as dispatch plans it, not from home (far away here)."""
    s = dsys
    a = (ELDER[0] + 8, ELDER[1])
    b = (a[0] - 0.001, a[1])          # ~111 m from a
    home = (a[0] + 0.05, a[1])        # ~5.6 km from both
    cards = [new_card(s, new_elder(s, lat=p[0], lon=p[1]), topup_fen=100000) for p in (a, b)]
    now = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    cg = new_cg(s, lat=home[0], lon=home[1], skills=["cleaning"],
                shift_start=(now - datetime.timedelta(hours=1)).strftime("%H:%M"),
                shift_end=(now + datetime.timedelta(hours=8)).strftime("%H:%M"))
    vids = []
    for card, (w0, w1) in zip(cards, ((45, 120), (200, 260))):
        order = post(s, "orderd", "/v1/orders", {
            "card_id": card, "service": "cleaning",
            "window_start": (now + datetime.timedelta(minutes=w0)).isoformat(),
            "window_end": (now + datetime.timedelta(minutes=w1)).isoformat(), "notes": ""},
            key=str(uuid.uuid4()))["order_id"]
        v = visit_of(s, order)
        assert v["caregiver_id"] == cg, v
        vids.append(v["visit_id"])
    today = now.strftime("%Y-%m-%d")
    if any(get_visit(s, v)["eta"][:10] != today for v in vids):
        pytest.skip("a visit falls after midnight (Shanghai): the day view is today's")
    me = {"caregiver_id": cg}

    def day():
        st, d = s.http("GET", "dispatchd", "/v1/caregivers/%s/day" % cg, role="caregiver",
                       scope=me)
        assert st == 200, (st, d)
        return d
    before = day()
    assert before["starts_from"] == "home", before
    assert [x["visit_id"] for x in before["stops"]] == vids, before
    assert before["stops"][0]["travel_from_previous_s"] > 1000, before   # from home
    step(s, vids[0], "accept", {"caregiver_id": cg})
    step(s, vids[0], "check-in", {"caregiver_id": cg, "lat": a[0], "lon": a[1]})
    step(s, vids[0], "check-out", {"caregiver_id": cg, "lat": a[0], "lon": a[1]})
    after = day()
    assert after["starts_from"] == "last_visit", after
    assert [x["visit_id"] for x in after["stops"]] == vids[1:], after
    assert after["stops"][0]["travel_from_previous_s"] < 60, after      # from a's door
