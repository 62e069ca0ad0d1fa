"""meald's couriers and rounds (issue 12, "meald: couriers and rounds"), end
to end through the four real daemons: meal orders placed on orderd with a
hold on billingd, couriers on meald, the rounds planned at the slot's
cut-off with libvrp, then each courier path: delivered (billed), failed
absent or refused (the hold released), a late change after the cut-off
(planned again), eaten in (no round, counted apart), and a meal too far for
the hot-food limit (reported with its reason, not planned late).

The cut-off is tomorrow 10:00. meald alone runs under libfaketime: its wall
clock is moved once, after every order is scheduled, to tomorrow 10:00:05,
so the plan is made as it would be at the cut-off without waiting for it.
Tokens for meald are minted at its clock (they would be expired otherwise).
The rounds are re-checked here with travel computed apart (haversine x 1.3
at the courier's speed), not read from meald's own numbers."""

import datetime
import math
import os
import time
import uuid

import pytest

import harness
from test_clock_step import LIBFAKETIME
from test_journeys import TZ, new_card, new_elder, order, post, wait_state

HOME = (30.3100, 120.2000)   # the kitchen; the elders around it
HOT_MIN = 40
WINDOW = (11, 0), (12, 0)


def _tomorrow(h, m=0, s=0):
    d = (datetime.datetime.now(TZ) + datetime.timedelta(days=1)).date()
    return datetime.datetime.combine(d, datetime.time(h, m, s), TZ)


def _metres(a, b):
    """Street metres: haversine x 1.3, apart from libvrp's chord."""
    r, d = 6371000.0, math.pi / 180
    x = math.sin((b[0] - a[0]) * d / 2) ** 2 + (
        math.cos(a[0] * d) * math.cos(b[0] * d) * math.sin((b[1] - a[1]) * d / 2) ** 2)
    return 2 * r * math.asin(math.sqrt(x)) * 1.3


def _ts(text):
    return datetime.datetime.fromisoformat(text)


class World:
    pass


@pytest.fixture(scope="module")
def rw(need_daemons, pg, db):
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian package libfaketime)")
    now = datetime.datetime.now(TZ)
    if now.hour == 23 and now.minute >= 50:
        pytest.skip("too close to midnight: 'tomorrow' would move under the test")
    s = harness.System(pg, db)
    offset_file = os.path.join(s.workdir, "faketime")
    with open(offset_file, "w") as f:
        f.write("+0\n")
    os.chmod(offset_file, 0o644)
    s.extra_env = {"meald": {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": offset_file,
                             "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}}
    try:
        s.start()
        yield _world(s, offset_file)
    finally:
        s.cleanup()


def _world(s, offset_file):
    w = World()
    w.s = s
    w.clock = 0.0      # meald's offset from true time, seconds
    w.point = post(s, "meald", "/v1/meal-points", {
        "name": "食堂", "provider_id": "kitchen-r", "district_id": 1, "lat": HOME[0],
        "lon": HOME[1], "hot_limit_min": HOT_MIN,
        "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]})["meal_point_id"]
    w.couriers = {}
    for name, vehicle, cap, start, end in (("骑手", "e_bike", 3, "10:00", "14:00"),
                                           ("司机", "car", 4, "09:00", "13:00")):
        w.couriers[post(s, "meald", "/v1/couriers", {
            "meal_point_id": w.point, "name": name, "vehicle": vehicle, "capacity": cap,
            "shift_start": start, "shift_end": end})["courier_id"]] = (vehicle, cap)
    # Elders 1-2 km around the kitchen, one eating in, one 30 km away.
    spots = {"del1": (0.010, 0.0), "del2": (0.0, 0.012), "del3": (-0.009, 0.004),
             "fail": (0.006, -0.010), "refuse": (-0.004, -0.012), "eat": (0.002, 0.002),
             "far": (0.27, 0.0)}
    w.place, w.card, w.oid = {}, {}, {}
    start, end = (_tomorrow(*WINDOW[0]).isoformat(), _tomorrow(*WINDOW[1]).isoformat())
    for k, (dlat, dlon) in spots.items():
        w.place[k] = (HOME[0] + dlat, HOME[1] + dlon)
        extra = {"diet": "soft"} if k in ("del1", "fail") else {}
        elder = new_elder(s, lat=w.place[k][0], lon=w.place[k][1], **extra)
        w.card[k] = new_card(s, elder, topup_fen=50000)
        body = {"card_id": w.card[k], "service": "meal", "window_start": start,
                "window_end": end}
        if k == "eat":
            body["meal_mode"] = "eat_in"
        w.oid[k] = post(s, "orderd", "/v1/orders", body, key=str(uuid.uuid4()))["order_id"]
    for k, oid in w.oid.items():
        o = wait_state(s, oid, "assigned")
        assert o["meal_point_id"] == w.point, (k, o)
    w.held = {k: s.http("GET", "billingd", "/v1/cards/%s/balance" % w.card[k])[1]["held_fen"]
              for k in w.oid}
    assert all(h > 0 for h in w.held.values()), w.held
    # meald's clock to just past the cut-off (true time for everyone else).
    w.clock = (_tomorrow(10, 0, 5) - datetime.datetime.now(TZ)).total_seconds()
    tmp = offset_file + ".new"
    with open(tmp, "w") as f:
        f.write("+%d\n" % int(w.clock))
    os.chmod(tmp, 0o644)
    os.rename(tmp, offset_file)
    w.date = _tomorrow(0).date().isoformat()
    return w


def mhttp(w, method, path, json=None, role="meal_point", scope=None):
    """A call to meald with a token minted at meald's clock."""
    if scope is None and role == "meal_point":
        scope = {"meal_point_id": w.point}
    tok = w.s.token(role, scope, now=time.time() + w.clock)
    return w.s.http(method, "meald", path, json=json, token=tok)


def rounds(w, version=None, timeout=20):
    box = {}

    def planned():
        st, doc = mhttp(w, "GET", "/v1/meal-points/%s/rounds?date=%s&slot=lunch"
                        % (w.point, w.date))
        assert st == 200, (st, doc)
        box["doc"] = doc
        return doc["planned"] and not doc["replanning"] and (
            version is None or doc["version"] >= version)
    harness.wait_until(planned, timeout=timeout, what=lambda: "rounds %r" % box.get("doc"))
    return box["doc"]


def stops(plan):
    """order_id -> (courier, round, stop)."""
    out = {}
    for c in plan["couriers"]:
        for r in c["rounds"]:
            for st in r["stops"]:
                assert st["order_id"] not in out, ("twice", st)
                out[st["order_id"]] = (c, r, st)
    return out


def check_plan(w, plan):
    """Every planned stop against the rules, by travel computed here: the
    box, the window, the hot-food ride, the shift, rounds one after another.
    Returns the worst ride in seconds."""
    oid_key = {v: k for k, v in w.oid.items()}
    start, end = _tomorrow(*WINDOW[0]), _tomorrow(*WINDOW[1])
    worst = 0.0
    for c in plan["couriers"]:
        kmh = c["speed_kmh"]
        prev_return = None
        for r in c["rounds"]:
            assert r["load"] == len(r["stops"]) <= c["capacity"], r
            dep, ret = _ts(r["depart_at"]), _ts(r["return_at"])
            assert dep >= _tomorrow(10, 0), r                  # nothing leaves before cut-off
            assert prev_return is None or dep >= prev_return, c
            prev_return = ret
            t, here = dep, HOME
            for st in r["stops"]:
                there = w.place[oid_key[st["order_id"]]]
                t = t + datetime.timedelta(seconds=_metres(here, there) / (kmh / 3.6))
                eta = _ts(st["eta"])
                assert eta >= t - datetime.timedelta(seconds=2), ("too soon", st)
                assert start <= eta <= end, ("window", st)
                ride = (t - dep).total_seconds()
                assert ride <= HOT_MIN * 60 + 2, ("hot-food limit", st, ride)
                worst = max(worst, ride)
                t = max(t, eta) + datetime.timedelta(seconds=60)
                here = there
    return worst


# ---- the plan at the cut-off ------------------------------------------------------
def test_rounds_at_cutoff(rw):
    w = rw
    plan = rounds(w)
    at = stops(plan)
    delivery = {"del1", "del2", "del3", "fail", "refuse"}
    assert {w.oid[k] for k in delivery} == set(at), plan
    assert plan["version"] == 1 and plan["deliveries"] == 6 and plan["served"] == 5
    check_plan(w, plan)
    assert {c["courier_id"] for c in plan["couriers"]} == set(w.couriers)
    # The kitchen's count to load: per round and per diet.
    for c in plan["couriers"]:
        for r in c["rounds"]:
            assert sum(r["by_diet"].values()) == r["load"]
    assert at[w.oid["del1"]][2]["diet"] == "soft"
    assert all(st["status"] == "scheduled" for _, _, st in at.values())
    # The door for the point that delivers; not for a dispatcher, never stored.
    assert all(st["address"] == "某街道1号" for _, _, st in at.values()), at
    st, other = mhttp(w, "GET", "/v1/meal-points/%s/rounds?date=%s&slot=lunch"
                      % (w.point, w.date), role="dispatcher", scope={"district_ids": [1]})
    assert st == 200 and "address" not in str(other), other
    assert not w.s.sql("meald", "SELECT 1 FROM round_plans WHERE plan::text LIKE %s",
                       ("%某街道%",))
    # The far meal is reported with its reason, not planned late.
    assert plan["unserved"] == [{"order_id": w.oid["far"], "reason": "hot_food_limit"}]
    m = w.s.metrics("meald")
    assert m['meald_meals_unserved_total{reason="hot_food_limit"}'] == 1
    assert "meal_unserved" in w.s.logs()["meald"]
    # Eaten in: no stop, not unserved, counted apart on the kitchen list.
    assert w.oid["eat"] not in at
    st, kl = mhttp(w, "GET", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                   % (w.point, w.date))
    assert st == 200 and (kl["count"], kl["eat_in"], kl["delivery"]) == (7, 1, 6), kl
    modes = {o["order_id"]: o["mode"] for o in kl["orders"]}
    assert modes[w.oid["eat"]] == "eat_in" and modes[w.oid["del1"]] == "delivery"
    # The stored plan (meald's own table) is what GET shows.
    (ver, unserved), = w.s.sql("meald", "SELECT version, unserved FROM round_plans "
                               "WHERE meal_point_id = %s", (w.point,))
    assert (ver, unserved) == (1, 1)


def test_plan_check_catches_a_planted_violation(rw):
    """The check above fails on a plan that breaks the window or the limit."""
    w = rw
    plan = rounds(w)
    c = next(c for c in plan["couriers"] if c["rounds"])
    st = c["rounds"][0]["stops"][0]
    keep = st["eta"]
    st["eta"] = _tomorrow(12, 30).isoformat()
    with pytest.raises(AssertionError, match="window"):
        check_plan(w, plan)
    st["eta"] = keep
    c["speed_kmh"] = 1.0      # the same stops at walking pace of a slow walker
    with pytest.raises(AssertionError):
        check_plan(w, plan)


# ---- a late change: planned again ---------------------------------------------------
def test_late_change_replans(rw):
    w = rw
    before = rounds(w)
    post(w.s, "orderd", "/v1/orders/%s/cancel" % w.oid["del3"], {"reason": "in hospital"})
    wait_state(w.s, w.oid["del3"], "cancelled")
    after = rounds(w, version=before["version"] + 1)
    at = stops(after)
    assert w.oid["del3"] not in at
    assert {w.oid[k] for k in ("del1", "del2", "fail", "refuse")} == set(at)
    assert after["deliveries"] == 5 and after["served"] == 4
    check_plan(w, after)
    # Reported once: the far meal was unserved already.
    assert w.s.metrics("meald")['meald_meals_unserved_total{reason="hot_food_limit"}'] == 1
    harness.wait_until(lambda: w.s.http("GET", "billingd", "/v1/cards/%s/balance"
                                        % w.card["del3"])[1]["held_fen"] == 0,
                       timeout=15, what="hold of the cancelled meal released")


# ---- the courier's paths ------------------------------------------------------------
def test_delivered(rw):
    w = rw
    st, doc = mhttp(w, "POST", "/v1/meals/%s/delivered" % w.oid["del1"], json={})
    assert st == 200 and doc["status"] == "delivered", (st, doc)
    o = wait_state(w.s, w.oid["del1"], "billed")
    assert o["charged_fen"] == o["held_fen"] == w.held["del1"]
    at = stops(rounds(w))
    assert at[w.oid["del1"]][2]["status"] == "delivered"
    # Failing a delivered meal is a conflict.
    st, doc = mhttp(w, "POST", "/v1/meals/%s/failed" % w.oid["del1"], json={"reason": "absent"})
    assert st == 409 and doc["field"] == "order_id", (st, doc)


@pytest.mark.parametrize("key,reason", [("fail", "absent"), ("refuse", "refused")])
def test_failed_releases_the_hold(rw, key, reason):
    w = rw
    oid = w.oid[key]
    st, doc = mhttp(w, "POST", "/v1/meals/%s/failed" % oid, json={"reason": reason})
    assert st == 200 and (doc["status"], doc["reason"]) == ("failed", reason), (st, doc)
    # Again: the stored failure, nothing appended.
    st, again = mhttp(w, "POST", "/v1/meals/%s/failed" % oid, json={"reason": "refused"})
    assert st == 200 and again["reason"] == reason
    o = wait_state(w.s, oid, "failed")
    assert not o["charged_fen"], o

    def released():
        b = w.s.http("GET", "billingd", "/v1/cards/%s/balance" % w.card[key])[1]
        return b["held_fen"] == 0 and b["available_fen"] == 50000
    harness.wait_until(released, timeout=15, what="hold released, nothing charged")
    at = stops(rounds(w))
    assert (at[oid][2]["status"], at[oid][2]["reason"]) == ("failed", reason)
    types = [t for (t,) in w.s.sql("meald", "SELECT type FROM events WHERE key = %s "
                                   "ORDER BY seq", (oid,))]
    assert types == ["MealScheduled", "MealRefused"]


def test_failed_bad_input(rw):
    w = rw
    oid = w.oid["del2"]
    for body, error, field in (({}, "missing_field", "reason"),
                               ({"reason": "lost"}, "invalid_value", "reason"),
                               ({"reason": 5}, "wrong_type", "reason"),
                               ([1], "not_an_object", "")):
        st, doc = mhttp(w, "POST", "/v1/meals/%s/failed" % oid, json=body)
        assert st == 400 and (doc["error"], doc["field"] or "") == (error, field), (body, doc)
    st, doc = mhttp(w, "GET", "/v1/meals/%s" % oid)
    assert st == 200 and doc["status"] == "scheduled"


# ---- couriers: reads and bad input ----------------------------------------------------
def test_list_couriers(rw):
    w = rw
    st, doc = mhttp(w, "GET", "/v1/couriers?meal_point_id=%s" % w.point)
    assert st == 200
    got = {c["courier_id"]: (c["vehicle"], c["capacity"], c["speed_kmh"])
           for c in doc["couriers"]}
    assert got == {k: (v, cap, {"e_bike": 15.0, "car": 25.0}[v])
                   for k, (v, cap) in w.couriers.items()}
    for q, error, field in (("", "missing_field", "meal_point_id"),
                            ("?meal_point_id=x", "invalid_value", "meal_point_id")):
        st, doc = mhttp(w, "GET", "/v1/couriers" + q)
        assert st == 400 and (doc["error"], doc["field"]) == (error, field), doc


GOOD_COURIER = {"name": "张", "vehicle": "foot", "capacity": 4, "shift_start": "10:00",
                "shift_end": "13:00"}
BAD_COURIERS = [
    ({}, "missing_field", "meal_point_id"),
    ({"meal_point_id": "nope"}, "invalid_value", "meal_point_id"),
    ({"name": 5}, "wrong_type", "name"),
    ({"name": ""}, "invalid_value", "name"),
    ({"name": None}, "missing_field", "name"),
    ({"vehicle": "bicycle"}, "invalid_value", "vehicle"),
    ({"vehicle": None}, "missing_field", "vehicle"),
    ({"speed_kmh": 0}, "invalid_value", "speed_kmh"),
    ({"speed_kmh": "fast"}, "wrong_type", "speed_kmh"),
    ({"capacity": 0}, "invalid_value", "capacity"),
    ({"capacity": 2.5}, "wrong_type", "capacity"),
    ({"capacity": None}, "missing_field", "capacity"),
    ({"shift_start": "25:00"}, "invalid_value", "shift_start"),
    ({"shift_end": "09:00"}, "invalid_value", "shift_end"),
    ({"provider_id": ""}, "invalid_value", "provider_id"),
]


def test_create_courier_bad_input(rw):
    w = rw
    before = w.s.sql("meald", "SELECT count(*) FROM couriers")[0][0]
    for patch, error, field in BAD_COURIERS:
        body = dict(GOOD_COURIER, meal_point_id=w.point)
        body.update(patch)
        body = {k: v for k, v in body.items() if v is not None}
        if patch == {}:
            body.pop("meal_point_id")
        st, doc = mhttp(w, "POST", "/v1/couriers", json=body)
        assert st == 400 and (doc["error"], doc["field"]) == (error, field), (patch, st, doc)
        assert doc["message"]
    st, doc = mhttp(w, "POST", "/v1/couriers",
                    json=dict(GOOD_COURIER, meal_point_id=str(uuid.uuid4())), role="admin")
    assert st == 422 and doc["field"] == "meal_point_id", doc
    assert w.s.sql("meald", "SELECT count(*) FROM couriers")[0][0] == before
    assert w.s.daemons["meald"].alive()


def test_courier_added_after_cutoff_replans(rw):
    w = rw
    before = rounds(w)
    cid = mhttp(w, "POST", "/v1/couriers", json=dict(GOOD_COURIER, meal_point_id=w.point))[1][
        "courier_id"]
    after = rounds(w, version=before["version"] + 1)
    assert cid in {c["courier_id"] for c in after["couriers"]}
    check_plan(w, after)
    # Only what is still to deliver is planned; the far meal stays unserved, reported once.
    assert set(stops(after)) == {w.oid["del2"]}
    assert after["unserved"] == [{"order_id": w.oid["far"], "reason": "hot_food_limit"}]
    assert w.s.metrics("meald")['meald_meals_unserved_total{reason="hot_food_limit"}'] == 1
