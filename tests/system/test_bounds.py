"""Bounds at the edge (issue 11), through the four real daemons.

Each limit has one definition, services/common/cc_limits.h, read here too.
1. orderd's ZeroMQ intake: windows whose span overflows int64, or that end
   at INT64_MAX, used to pass the checks and make PostgreSQL raise "out of
   range", which stopped orderd. They must get a 4xx reply naming the field,
   counted as zmq_rejected_total{reason="invalid"}, and orderd stays up.
2. A window further ahead than CC_ORDER_HORIZON_US was accepted (202): it is
   refused, over HTTP and ZeroMQ, naming window_start.
3. Every id and text field at its maximum length, through to `billed` (bath
   visit and meal, hold captured); one byte more is refused at the edge with
   a 400 naming the field. The provider_id of CC_PROVIDER_ID_MAX bytes is the
   meal that once ended `completed` with its hold kept for ever (meald took
   64 bytes, billingd 63).
4. Times, amounts, districts and coordinates outside their absolute ranges
   are refused by every daemon's HTTP routes (never an abort on an event
   that fails its own schema).
"""

import datetime
import os
import re
import time
import uuid

import pytest

import harness
from test_journeys import (TZ, at, balance, get_order, id_number, ledger_ok, post,
                           visit_step, wait_state)
from test_orderd_api import Intake, pb, place_order  # noqa: F401 (pb is a fixture)

US = 10**6
HOUR_US = 3600 * US
INT64_MAX = 2**63 - 1


def _limits():
    """{NAME: value} of the integer #defines in cc_limits.h (and cc_time.h,
    which it builds on)."""
    env = {}
    for f in ("cc_time.h", "cc_limits.h"):
        with open(os.path.join(harness.ROOT, "services", "common", f)) as fh:
            for line in fh:
                m = re.match(r"#define (CC_[A-Z0-9_]+)\s+(.+?)\s*(/\*.*)?$", line)
                if not m:
                    continue
                expr = re.sub(r"INT64_C\((-?\d+)\)", r"\1", m.group(2))
                expr = re.sub(r"(\d+)LL\b", r"\1", expr)
                try:
                    env[m.group(1)] = int(eval(expr, {"__builtins__": {}}, env))
                except Exception:
                    pass
    return env


L = _limits()


def max_key():
    """A fresh Idempotency-Key of the maximum length."""
    k = str(uuid.uuid4())
    return k + "k" * (L["CC_IDEM_KEY_MAX"] - len(k))


def iso(us):
    return datetime.datetime.fromtimestamp(us / US, TZ).isoformat()


def alive(s):
    return all(d.alive() for d in s.daemons.values())


def expect_400(s, daemon, path, body, field, key=None, status=(400,), method="POST"):
    headers = {"Idempotency-Key": key} if key else None
    st, out = s.http(method, daemon, path, json=body, headers=headers)
    assert st in status and isinstance(out, dict) and out.get("field") == field, \
        (daemon, path, field, st, out)
    return out


def elder_body(**over):
    b = {"name": "老人", "id_number": id_number(), "phone": "13800001111", "address": "某路1号",
         "district_id": 1, "lat": 30.2741, "lon": 120.1551, "birth_date": "1940-01-01",
         "ability_level": "severe", "household": "none", "living": "alone"}
    b.update(over)
    return b


def new_card(s, topup_fen, **elder):
    e = post(s, "orderd", "/v1/elders", elder_body(**elder))["elder_id"]
    card = post(s, "orderd", "/v1/cards", {"elder_id": e})["card_id"]
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[0]
                       == 200, timeout=15, what="billingd knows card")
    if topup_fen:
        post(s, "billingd", "/v1/cards/%s/topups" % card,
             {"amount_fen": topup_fen, "source": "family", "reference": "R" * L["CC_REFERENCE_MAX"]},
             key=max_key())
    return card


# ---- 1 and 2: windows on the ZeroMQ intake --------------------------------------

def test_intake_refuses_windows_out_of_range_and_stays_up(system, pb):
    s = system
    card = new_card(s, 0)
    name = 'zmq_rejected_total{socket="orderd-intake",reason="invalid"}'
    before_invalid = s.metrics("orderd").get(name, 0)
    orders_before = s.sql("orderd", "SELECT count(*) FROM orders")[0][0]
    now = int(time.time()) * US
    cases = [
        # The span overflows int64 (the message).
        (dict(window_start_us=-5 * 10**18, window_end_us=5 * 10**18), "window_start"),
        # Ends at INT64_MAX: past any timestamptz.
        (dict(window_start_us=INT64_MAX - HOUR_US, window_end_us=INT64_MAX), "window_start"),
        (dict(window_start_us=now + HOUR_US, window_end_us=INT64_MAX), "window_end"),
        # Beyond the horizon, within every absolute range.
        (dict(window_start_us=now + 400 * 86400 * US,
              window_end_us=now + 400 * 86400 * US + 2 * HOUR_US), "window_start"),
        (dict(window_start_us=L["CC_TIME_MIN_US"] - 1, window_end_us=now + HOUR_US),
         "window_start"),
    ]
    z = Intake(s, pb)
    try:
        for over, field in cases:
            z.send(place_order(pb, card, str(uuid.uuid4()), **over))
            _, r = z.recv()
            assert 400 <= r.status < 500 and r.field == field and not r.order_id, (over, r)
            assert s.daemons["orderd"].alive(), over
        # The same socket still places a good order.
        z.send(place_order(pb, card, str(uuid.uuid4())))
        _, r = z.recv()
        assert r.status == 202, r
    finally:
        z.close()
    assert alive(s)
    assert s.metrics("orderd").get(name, 0) == before_invalid + len(cases)
    # Logged, naming the field (never its value).
    rejected = [ln for ln in s.daemons["orderd"].log_lines() if ln.get("event") == "zmq_rejected"
                and ln.get("reason") == "invalid"]
    assert {ln.get("field") for ln in rejected} >= {"window_start", "window_end"}, rejected
    assert s.sql("orderd", "SELECT count(*) FROM orders")[0][0] == orders_before + 1


def test_http_window_horizon_and_range(system):
    s = system
    card = new_card(s, 0)
    now = int(time.time()) * US
    horizon = L["CC_ORDER_HORIZON_US"]

    def body(start_us, end_us):
        return {"card_id": card, "service": "bath", "window_start": iso(start_us),
                "window_end": iso(end_us)}
    # 400 days ahead: refused, naming window_start.
    start = now + 400 * 86400 * US
    expect_400(s, "orderd", "/v1/orders", body(start, start + 2 * HOUR_US), "window_start",
               key=str(uuid.uuid4()), status=(422,))
    # Just past the horizon: refused; just inside: placed.
    start = (now // US // 60 + 1) * 60 * US + horizon
    expect_400(s, "orderd", "/v1/orders", body(start + 60 * US, start + HOUR_US),
               "window_start", key=str(uuid.uuid4()), status=(422,))
    post(s, "orderd", "/v1/orders", body(start - 10 * 60 * US, start + HOUR_US),
         key=str(uuid.uuid4()))
    # Text times before 2000 or in year 9999+ are out of the absolute range.
    for start_s, field in (("1999-12-31T23:59:59+08:00", "window_start"),
                           ("0001-01-01T00:00:00Z", "window_start")):
        expect_400(s, "orderd", "/v1/orders", dict(body(now, now + HOUR_US),
                                                    window_start=start_s), field,
                   key=str(uuid.uuid4()))
    # A span longer than a week, far in the future: refused (no overflow).
    expect_400(s, "orderd", "/v1/orders", body(now + HOUR_US,
                                               now + HOUR_US + L["CC_WINDOW_SPAN_MAX_US"] + US),
               "window_end", key=str(uuid.uuid4()), status=(422,))
    assert alive(s)


# ---- 3: every id and text field at its maximum, through to billed ---------------

def _max_caregiver(s, provider):
    return post(s, "dispatchd", "/v1/caregivers", {
        "name": "N" * L["CC_NAME_MAX"], "provider_id": provider, "district_id": 1,
        "lat": 30.2745, "lon": 120.1555, "skills": ["bath"], "level": 3, "first_aid": True,
        "shift_start": "00:00", "shift_end": "23:59"},
        key=max_key())["caregiver_id"]


def test_every_field_at_its_maximum_reaches_billed(system):
    s = system
    # Elder at every maximum (the phone and id number have fixed shapes).
    card = new_card(s, 100000, name="E" * L["CC_NAME_MAX"], address="A" * L["CC_ADDRESS_MAX"],
                    diet="D" * L["CC_TEXT_MAX"], phone="1" * L["CC_PHONE_MAX"])
    # Bath: caregiver with the longest provider id, order with the longest notes and key.
    prov_visit = "v" * (L["CC_PROVIDER_ID_MAX"] - 1) + "1"
    cg = _max_caregiver(s, prov_visit)
    oid = post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "bath", "window_start": at(1, 9), "window_end": at(1, 12),
        "notes": "n" * L["CC_NOTES_MAX"]}, key=max_key())["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["caregiver_id"] == cg
    visit = o["visit_id"]
    visit_step(s, visit, "accept", cg)
    visit_step(s, visit, "check-in", cg, lat=30.2741, lon=120.1551)
    visit_step(s, visit, "check-out", cg, lat=30.2741, lon=120.1551)
    o = wait_state(s, oid, "billed")
    assert o["charged_fen"] == o["held_fen"] > 0
    st, hold = s.http("GET", "billingd", "/v1/holds/%s" % oid)
    assert st == 200 and hold["state"] == "captured" and hold["provider_id"] == prov_visit, hold

    # Meal: a meal point whose provider id has CC_PROVIDER_ID_MAX bytes.
    prov_meal = "m" * L["CC_PROVIDER_ID_MAX"]
    point = post(s, "meald", "/v1/meal-points", {
        "name": "P" * L["CC_NAME_MAX"], "provider_id": prov_meal, "district_id": 1,
        "lat": 30.2750, "lon": 120.1560,
        "slots": [{"slot": "lunch", "capacity": L["CC_CAPACITY_MAX"], "cutoff": "10:00"}]},
        key=max_key())["meal_point_id"]
    oid = post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "meal", "window_start": at(1, 11, 30),
        "window_end": at(1, 12, 30), "notes": "n" * L["CC_NOTES_MAX"]},
        key=str(uuid.uuid4()))["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["meal_point_id"] == point
    post(s, "meald", "/v1/meals/%s/delivered" % oid, {"courier_id": "c" * L["CC_COURIER_ID_MAX"]})
    o = wait_state(s, oid, "billed")
    assert o["charged_fen"] == o["held_fen"] > 0
    st, hold = s.http("GET", "billingd", "/v1/holds/%s" % oid)
    assert st == 200 and hold["state"] == "captured" and hold["provider_id"] == prov_meal, hold
    assert balance(s, card)["held_fen"] == 0

    # A cancel with the longest reason releases the hold.
    oid = post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "bath", "window_start": at(2, 9), "window_end": at(2, 12)},
        key=str(uuid.uuid4()))["order_id"]
    wait_state(s, oid, ("funds_held", "released", "assigned"))
    post(s, "orderd", "/v1/orders/%s/cancel" % oid, {"reason": "r" * L["CC_TEXT_MAX"]})
    wait_state(s, oid, "cancelled")
    harness.wait_until(lambda: balance(s, card)["held_fen"] == 0, timeout=15,
                       what="hold released")
    ledger_ok(s)
    assert alive(s)


def test_one_byte_more_is_refused_at_the_edge(system):
    s = system
    card = new_card(s, 0)
    k = lambda: str(uuid.uuid4())   # noqa: E731
    big = lambda name: "x" * (L[name] + 1)   # noqa: E731
    # orderd: elders, orders, cancel.
    for field, value in (("name", big("CC_NAME_MAX")), ("address", big("CC_ADDRESS_MAX")),
                         ("diet", big("CC_TEXT_MAX")), ("phone", "1" * (L["CC_PHONE_MAX"] + 1)),
                         ("district_id", L["CC_DISTRICT_MAX"] + 1),
                         ("district_id", L["CC_DISTRICT_MIN"] - 1),
                         ("lat", L["CC_LAT_MAX"] + 0.001), ("lon", -L["CC_LON_MAX"] - 0.001)):
        expect_400(s, "orderd", "/v1/elders", elder_body(**{field: value}), field)
    order = {"card_id": card, "service": "bath", "window_start": at(1, 9),
             "window_end": at(1, 12)}
    expect_400(s, "orderd", "/v1/orders", dict(order, notes=big("CC_NOTES_MAX")), "notes",
               key=k())
    expect_400(s, "orderd", "/v1/orders", order, "Idempotency-Key", key=big("CC_IDEM_KEY_MAX"))
    oid = post(s, "orderd", "/v1/orders", order, key=k())["order_id"]
    expect_400(s, "orderd", "/v1/orders/%s/cancel" % oid, {"reason": big("CC_TEXT_MAX")},
               "reason")
    # dispatchd: caregivers.
    cg = {"name": "n", "provider_id": "p", "district_id": 1, "lat": 30.0, "lon": 120.0,
          "skills": ["bath"], "level": 1, "shift_start": "00:00", "shift_end": "23:59"}
    for field, value in (("name", big("CC_NAME_MAX")), ("provider_id", big("CC_PROVIDER_ID_MAX")),
                         ("district_id", L["CC_DISTRICT_MAX"] + 1), ("district_id", 0),
                         ("lat", -L["CC_LAT_MAX"] - 0.001), ("lon", L["CC_LON_MAX"] + 0.001)):
        expect_400(s, "dispatchd", "/v1/caregivers", dict(cg, **{field: value}), field)
    # meald: meal points.
    mp = {"name": "n", "provider_id": "p", "district_id": 1, "lat": 30.0, "lon": 120.0,
          "slots": [{"slot": "lunch", "capacity": 1, "cutoff": "10:00"}]}
    for field, value in (("name", big("CC_NAME_MAX")), ("provider_id", big("CC_PROVIDER_ID_MAX")),
                         ("district_id", L["CC_DISTRICT_MAX"] + 1), ("district_id", 0),
                         ("lat", L["CC_LAT_MAX"] + 0.001), ("lon", -L["CC_LON_MAX"] - 0.001)):
        expect_400(s, "meald", "/v1/meal-points", dict(mp, **{field: value}), field)
    expect_400(s, "meald", "/v1/meal-points",
               dict(mp, slots=[{"slot": "lunch", "capacity": L["CC_CAPACITY_MAX"] + 1,
                                "cutoff": "10:00"}]), "slots[0].capacity")
    # billingd: top-ups.
    path = "/v1/cards/%s/topups" % card
    top = {"amount_fen": 100, "source": "family"}
    expect_400(s, "billingd", path, dict(top, reference=big("CC_REFERENCE_MAX")), "reference",
               key=k())
    expect_400(s, "billingd", path, dict(top, amount_fen=0), "amount_fen", key=k())
    expect_400(s, "billingd", path, dict(top, amount_fen=L["CC_FEN_TOPUP_MAX"] + 1), "amount_fen",
               key=k())
    expect_400(s, "billingd", "/v1/prices/bath", {"price_fen": L["CC_FEN_PRICE_MAX"] + 1},
               "price_fen", method="PUT")
    assert alive(s)


# ---- 4: times out of range on the other daemons' routes -------------------------

def test_times_out_of_range_are_refused_not_fatal(system):
    """A delivery or check-in time before CC_TIME_MIN_US used to pass the
    route's checks and fail the event's own schema (an abort in
    cc_event_pack)."""
    s = system
    card = new_card(s, 100000)
    cg = post(s, "dispatchd", "/v1/caregivers", {
        "name": "n", "provider_id": "p-old", "district_id": 1, "lat": 30.2745, "lon": 120.1555,
        "skills": ["cleaning"], "level": 3, "shift_start": "00:00", "shift_end": "23:59"}
    )["caregiver_id"]
    oid = post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "cleaning", "window_start": at(1, 9),
        "window_end": at(1, 12)}, key=str(uuid.uuid4()))["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["caregiver_id"] == cg
    visit = o["visit_id"]
    visit_step(s, visit, "accept", cg)
    for when in ("1999-12-31T23:59:59+08:00", "0001-01-01T00:00:00Z"):
        st, out = s.http("POST", "dispatchd", "/v1/visits/%s/check-in" % visit,
                         json={"caregiver_id": cg, "lat": 30.2741, "lon": 120.1551, "at": when})
        assert st == 400 and out["field"] == "at", (when, st, out)
    assert alive(s)

    st, pt = s.http("POST", "meald", "/v1/meal-points", json={
        "name": "n", "provider_id": "p-old", "district_id": 1, "lat": 30.2750, "lon": 120.1560,
        "slots": [{"slot": "lunch", "capacity": 5, "cutoff": "10:00"}]})
    assert st in (200, 201), pt
    oid = post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "meal", "window_start": at(1, 11, 30),
        "window_end": at(1, 12, 30)}, key=str(uuid.uuid4()))["order_id"]
    wait_state(s, oid, "assigned")
    for when in ("1999-12-31T23:59:59+08:00", "0001-01-01T00:00:00Z"):
        st, out = s.http("POST", "meald", "/v1/meals/%s/delivered" % oid, json={"at": when})
        assert st == 400 and out["field"] == "at", (when, st, out)
    assert alive(s)
    assert get_order(s, oid)["state"] == "assigned"
