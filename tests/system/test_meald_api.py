"""meald system tests: the real meald (and the real orderd serving its event
log) on a throwaway PostgreSQL.

Meal orders reach meald as OrderReleased events in orderd's log. To control
the window, place and diet exactly, these tests append the events to
orderd's log themselves (orderd.cc_append as the orderd role, protobuf
encoded here by hand: fields of proto/events.proto); orderd's log ROUTER
serves them to meald like any other. billingd and dispatchd are not needed:
orderd runs without those consumers (empty --billingd-log/--dispatchd-log).
Each test works in its own area of the map and meald runs with
--max-distance-m=5000, so tests do not see each other's meal points.
"""

import datetime
import os
import struct
import uuid

import pytest

import harness
from harness import wait_until

TZ = datetime.timezone(datetime.timedelta(hours=8))
MEAL = 1            # cc.Service.MEAL
BATH = 2


# ---- protobuf by hand (proto/events.proto) -------------------------------------
def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _str(no, s):
    b = s.encode()
    return _varint(no << 3 | 2) + _varint(len(b)) + b


def _int(no, v):
    return _varint(no << 3) + _varint(v)


def _dbl(no, v):
    return _varint(no << 3 | 1) + struct.pack("<d", v)


def order_released(order_id, start, end, district, lat, lon, diet="", service=MEAL):
    us = lambda t: int(t.timestamp() * 1_000_000)
    return (_str(1, order_id) + _int(3, service) + _int(4, us(start)) + _int(5, us(end))
            + _int(6, district) + _dbl(7, lat) + _dbl(8, lon) + _str(12, diet))


def order_cancelled(order_id):
    return _str(1, order_id) + _str(2, "caller_cancelled")


def _read_varint(b, i):
    shift = n = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def decode(b):
    """Protobuf bytes -> {field number: value} (strings as str, varints as int)."""
    out, i = {}, 0
    while i < len(b):
        key, i = _read_varint(b, i)
        no, wt = key >> 3, key & 7
        if wt == 0:
            out[no], i = _read_varint(b, i)
        elif wt == 2:
            n, i = _read_varint(b, i)
            out[no] = bytes(b[i:i + n]).decode()
            i += n
        elif wt == 1:
            out[no] = struct.unpack("<d", bytes(b[i:i + 8]))[0]
            i += 8
        else:
            raise ValueError("wire type %d" % wt)
    return out


# ---- fixtures -----------------------------------------------------------------
@pytest.fixture(scope="module")
def msys(pg, db):
    missing = [n for n in ("orderd", "meald") if not os.path.exists(harness.binary(n))]
    if missing:
        pytest.skip("daemon binaries not built yet: %s" % ", ".join(missing))
    s = harness.System(pg, db, names=("orderd", "meald"), extra_args={
        "orderd": {"billingd-log": "", "dispatchd-log": ""},
        "meald": {"max-distance-m": "5000"},
    })
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


_area = [0]


def area():
    """A fresh spot on the map (about 20 km from any other test's)."""
    _area[0] += 1
    return 25.0 + 0.2 * _area[0], 110.0


def local_day(offset_days):
    return (datetime.datetime.now(TZ) + datetime.timedelta(days=offset_days)).date()


def at(day, hh, mm=0):
    return datetime.datetime.combine(day, datetime.time(hh, mm), TZ)


def release(s, lat, lon, start, diet="", district=7, service=MEAL, order_id=None):
    order_id = order_id or str(uuid.uuid4())
    payload = order_released(order_id, start, start + datetime.timedelta(hours=1), district,
                             lat, lon, diet, service)
    s.sql("orderd", "SELECT cc_append('OrderReleased', %s, %s, %s, %s)",
          (str(uuid.uuid4()), order_id, district, payload))
    return order_id


def cancel(s, order_id):
    s.sql("orderd", "SELECT cc_append('OrderCancelled', %s, %s, 7, %s)",
          (str(uuid.uuid4()), order_id, order_cancelled(order_id)))


def meal(s, order_id, timeout=10):
    """Wait until meald has decided on order_id; its GET /v1/meals document."""
    def got():
        st, doc = s.http("GET", "meald", "/v1/meals/%s" % order_id)
        return doc if st == 200 else None
    return wait_until(got, timeout, what="meald decision on %s" % order_id)


def new_point(s, lat, lon, slots, name="canteen", **extra):
    body = {"name": name, "district_id": 7, "lat": lat, "lon": lon, "slots": slots}
    body.update(extra)
    st, doc = s.http("POST", "meald", "/v1/meal-points", json=body)
    assert st == 201, (st, doc)
    return doc["meal_point_id"]


def meald_events(s, order_id):
    return [(t, decode(bytes(p))) for t, p in s.sql(
        "meald", "SELECT type, payload FROM events WHERE key = %s ORDER BY seq", (order_id,))]


def count_rows(s, table):
    return s.sql("meald", "SELECT count(*) FROM %s" % table)[0][0]


LUNCH = [{"slot": "lunch", "capacity": 2, "cutoff": "10:00"}]


# ---- meal points ---------------------------------------------------------------
def test_create_list_get_point(msys):
    lat, lon = area()
    pid = new_point(msys, lat, lon, [{"slot": "lunch", "capacity": 40, "cutoff": "10:00"},
                                     {"slot": "dinner", "capacity": 20, "cutoff": "15:30"}],
                    name="North canteen", provider_id="prov-9")
    st, doc = msys.http("GET", "meald", "/v1/meal-points/%s" % pid)
    assert st == 200
    assert doc["name"] == "North canteen" and doc["provider_id"] == "prov-9"
    assert doc["district_id"] == 7
    assert {s["slot"]: (s["capacity"], s["cutoff"]) for s in doc["slots"]} == {
        "lunch": (40, "10:00"), "dinner": (20, "15:30")}
    st, doc = msys.http("GET", "meald", "/v1/meal-points?district_id=7")
    assert st == 200 and pid in [p["meal_point_id"] for p in doc["meal_points"]]
    st, doc = msys.http("GET", "meald", "/v1/meal-points?district_id=8")
    assert st == 200 and pid not in [p["meal_point_id"] for p in doc["meal_points"]]
    # Without provider_id the point is its own provider.
    pid2 = new_point(msys, lat, lon, LUNCH)
    st, doc = msys.http("GET", "meald", "/v1/meal-points/%s" % pid2)
    assert doc["provider_id"] == pid2


def test_create_point_idempotency_key(msys):
    lat, lon = area()
    body = {"name": "k", "district_id": 7, "lat": lat, "lon": lon, "slots": LUNCH}
    h = {"Idempotency-Key": "point-%s" % uuid.uuid4()}
    before = count_rows(msys, "meal_points")
    st1, d1 = msys.http("POST", "meald", "/v1/meal-points", json=body, headers=h)
    st2, d2 = msys.http("POST", "meald", "/v1/meal-points", json=body, headers=h)
    assert (st1, st2) == (201, 201) and d1 == d2
    assert count_rows(msys, "meal_points") == before + 1
    body["name"] = "other"
    st, doc = msys.http("POST", "meald", "/v1/meal-points", json=body, headers=h)
    assert st == 409 and doc["error"] == "idempotency_conflict"
    assert count_rows(msys, "meal_points") == before + 1


BAD_POINTS = [
    ('{"name": "x",', "invalid_json", None),
    ("[]", "not_an_object", None),
    ({"district_id": 1, "lat": 1, "lon": 1, "slots": LUNCH}, "missing_field", "name"),
    ({"name": 5, "district_id": 1, "lat": 1, "lon": 1, "slots": LUNCH}, "wrong_type", "name"),
    ({"name": "x", "lat": 1, "lon": 1, "slots": LUNCH}, "missing_field", "district_id"),
    ({"name": "x", "district_id": "1", "lat": 1, "lon": 1, "slots": LUNCH},
     "wrong_type", "district_id"),
    ({"name": "x", "district_id": 1, "lat": "1", "lon": 1, "slots": LUNCH}, "wrong_type", "lat"),
    ({"name": "x", "district_id": 1, "lat": 100, "lon": 1, "slots": LUNCH},
     "invalid_value", "lat"),
    ({"name": "x", "district_id": 1, "lat": 1, "slots": LUNCH}, "missing_field", "lon"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1}, "missing_field", "slots"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1, "slots": "lunch"},
     "wrong_type", "slots"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1, "slots": []}, "invalid_value", "slots"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "breakfast", "capacity": 1, "cutoff": "10:00"}]},
     "invalid_value", "slots[0].slot"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": 0, "cutoff": "10:00"}]},
     "invalid_value", "slots[0].capacity"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": 5, "cutoff": "10:00"},
                {"slot": "dinner", "capacity": -1, "cutoff": "16:00"}]},
     "invalid_value", "slots[1].capacity"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": "5", "cutoff": "10:00"}]},
     "wrong_type", "slots[0].capacity"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": 5, "cutoff": "24:00"}]},
     "invalid_value", "slots[0].cutoff"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": 5, "cutoff": "10.30"}]},
     "invalid_value", "slots[0].cutoff"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": 5}]}, "missing_field", "slots[0].cutoff"),
    ({"name": "x", "district_id": 1, "lat": 1, "lon": 1,
      "slots": [{"slot": "lunch", "capacity": 5, "cutoff": "10:00"},
                {"slot": "lunch", "capacity": 5, "cutoff": "10:00"}]},
     "invalid_value", "slots[1].slot"),
]


@pytest.mark.parametrize("body,error,field", BAD_POINTS)
def test_create_point_bad_input(msys, body, error, field):
    before = (count_rows(msys, "meal_points"), count_rows(msys, "meal_slots"))
    if isinstance(body, str):
        st, doc = msys.http("POST", "meald", "/v1/meal-points", body=body,
                            headers={"Content-Type": "application/json"})
    else:
        st, doc = msys.http("POST", "meald", "/v1/meal-points", json=body)
    assert st == 400, (st, doc)
    assert doc["error"] == error and doc["field"] == field, doc
    assert doc["message"]
    assert (count_rows(msys, "meal_points"), count_rows(msys, "meal_slots")) == before
    assert msys.daemons["meald"].alive()


def test_unknown_ids_paths_and_oversize(msys):
    for path in ("/v1/meal-points/%s" % uuid.uuid4(), "/v1/meal-points/not-a-uuid",
                 "/v1/meal-points/%s/kitchen-list?date=2026-11-26&slot=lunch" % uuid.uuid4(),
                 "/v1/meals/%s" % uuid.uuid4(), "/v1/nothing-here"):
        st, doc = msys.http("GET", "meald", path)
        assert st == 404 and doc["error"], (path, st, doc)
    st, doc = msys.http("POST", "meald", "/v1/meals/%s/delivered" % uuid.uuid4(), json={})
    assert st == 404 and doc["error"] == "unknown_order"
    st, doc = msys.http("DELETE", "meald", "/v1/meal-points")
    assert st == 405
    st, doc = msys.http("POST", "meald", "/v1/meal-points",
                        body='{"name": "%s"}' % ("x" * 200_000),
                        headers={"Content-Type": "application/json"})
    assert st == 413
    assert msys.daemons["meald"].alive()


# ---- scheduling, kitchen list, delivery ----------------------------------------
def test_schedule_nearest_capacity_and_kitchen_list(msys):
    lat, lon = area()
    tomorrow = local_day(1)
    near = new_point(msys, lat + 0.01, lon, LUNCH, name="near")        # ~1.1 km
    far = new_point(msys, lat + 0.03, lon, [{"slot": "lunch", "capacity": 1, "cutoff": "10:00"},
                                            {"slot": "dinner", "capacity": 5,
                                             "cutoff": "16:00"}], name="far")  # ~3.3 km
    o1 = release(msys, lat, lon, at(tomorrow, 11, 30), diet="soft")
    o2 = release(msys, lat, lon, at(tomorrow, 11, 45), diet="low-salt")
    o3 = release(msys, lat, lon, at(tomorrow, 12, 0), diet="soft")
    o4 = release(msys, lat, lon, at(tomorrow, 12, 0))
    o5 = release(msys, lat, lon, at(tomorrow, 17, 30), diet="diabetic")   # dinner
    m1, m2, m3, m4, m5 = (meal(msys, o) for o in (o1, o2, o3, o4, o5))
    assert (m1["status"], m1["meal_point_id"], m1["slot"]) == ("scheduled", near, "lunch")
    assert m1["date"] == tomorrow.isoformat()
    assert m2["meal_point_id"] == near
    assert (m3["status"], m3["meal_point_id"]) == ("scheduled", far)   # near is full
    assert (m4["status"], m4["reason"]) == ("refused", "no_capacity")
    assert (m5["status"], m5["meal_point_id"], m5["slot"]) == ("scheduled", far, "dinner")

    st, kl = msys.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                       % (near, tomorrow.isoformat()))
    assert st == 200
    assert (kl["count"], kl["capacity"], kl["slot"], kl["date"]) == (
        2, 2, "lunch", tomorrow.isoformat())
    assert kl["by_diet"] == {"soft": 1, "low-salt": 1}
    assert [o["order_id"] for o in kl["orders"]] == [o1, o2]
    assert kl["cutoff"] == "%sT10:00:00+08:00" % tomorrow.isoformat()
    assert kl["closed"] is False
    text = str(kl)
    assert "lat" not in text and "name" not in text
    st, kl = msys.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=dinner"
                       % (far, tomorrow.isoformat()))
    assert st == 200 and kl["count"] == 1 and kl["by_diet"] == {"diabetic": 1}

    # The events meald appended, one per decision, with the contract's fields.
    (t1, e1), = meald_events(msys, o1)
    assert t1 == "MealScheduled"
    assert e1 == {1: o1, 2: near, 3: "lunch", 4: tomorrow.isoformat(), 5: near}
    (t4, e4), = meald_events(msys, o4)
    assert t4 == "MealRefused" and e4 == {1: o4, 2: "no_capacity"}
    # The store holds the line too.
    used = msys.sql("meald", "SELECT used, capacity FROM slot_counts WHERE meal_point_id = %s"
                    " AND slot = 'lunch'", (near,))
    assert used == [(2, 2)]


def test_cutoff_and_no_meal_point(msys):
    lat, lon = area()
    pid = new_point(msys, lat, lon, [{"slot": "lunch", "capacity": 5, "cutoff": "10:00"}])
    yesterday, tomorrow = local_day(-1), local_day(1)
    past = release(msys, lat, lon, at(yesterday, 11, 0))
    ok = release(msys, lat, lon, at(tomorrow, 11, 0))
    dinner = release(msys, lat, lon, at(tomorrow, 18, 0))          # nobody serves dinner here
    faraway = release(msys, lat, lon + 1.0, at(tomorrow, 11, 0))   # ~100 km: out of reach
    assert meal(msys, past)["reason"] == "past_cutoff"
    st, kl = msys.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                       % (pid, yesterday.isoformat()))
    assert st == 200 and kl["closed"] is True and kl["count"] == 0
    assert meal(msys, ok)["meal_point_id"] == pid
    assert meal(msys, dinner)["reason"] == "no_meal_point"
    assert meal(msys, faraway)["reason"] == "no_meal_point"
    # A 14:59 window is lunch, 15:00 is dinner (local time).
    l = release(msys, lat, lon, at(tomorrow, 14, 59))
    d = release(msys, lat, lon, at(tomorrow, 15, 0))
    assert (meal(msys, l)["slot"], meal(msys, l)["status"]) == ("lunch", "scheduled")
    assert (meal(msys, d)["slot"], meal(msys, d)["status"]) == ("dinner", "refused")


def test_other_services_are_ignored(msys):
    lat, lon = area()
    new_point(msys, lat, lon, LUNCH)
    bath = release(msys, lat, lon, at(local_day(1), 11, 0), service=BATH)
    marker = release(msys, lat, lon, at(local_day(1), 11, 0))
    meal(msys, marker)   # events are applied in order: the bath was seen before
    st, _ = msys.http("GET", "meald", "/v1/meals/%s" % bath)
    assert st == 404
    assert meald_events(msys, bath) == []


def test_cancel_frees_the_place(msys):
    lat, lon = area()
    tomorrow = local_day(1)
    pid = new_point(msys, lat, lon, [{"slot": "lunch", "capacity": 1, "cutoff": "10:00"}])
    o1 = release(msys, lat, lon, at(tomorrow, 11, 0))
    assert meal(msys, o1)["status"] == "scheduled"
    o2 = release(msys, lat, lon, at(tomorrow, 11, 0))
    assert meal(msys, o2)["reason"] == "no_capacity"
    cancel(msys, o1)
    wait_until(lambda: meal(msys, o1)["status"] == "cancelled", 10, what="cancel applied")
    o3 = release(msys, lat, lon, at(tomorrow, 11, 0))
    assert (meal(msys, o3)["status"], meal(msys, o3)["meal_point_id"]) == ("scheduled", pid)
    st, kl = msys.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                       % (pid, tomorrow.isoformat()))
    assert [o["order_id"] for o in kl["orders"]] == [o3]
    # A cancelled meal cannot be delivered; cancelling again or a refused one changes nothing.
    st, doc = msys.http("POST", "meald", "/v1/meals/%s/delivered" % o1, json={})
    assert st == 409 and doc["error"] == "cancelled"
    cancel(msys, o1)
    cancel(msys, o2)
    marker = release(msys, lat, lon, at(tomorrow, 11, 0))
    meal(msys, marker)
    assert msys.sql("meald", "SELECT used FROM slot_counts WHERE meal_point_id = %s",
                    (pid,)) == [(1,)]


def test_delivered_once(msys):
    lat, lon = area()
    tomorrow = local_day(1)
    pid = new_point(msys, lat, lon, LUNCH)
    o = release(msys, lat, lon, at(tomorrow, 11, 0), diet="soft")
    meal(msys, o)
    t = (datetime.datetime.now(TZ) - datetime.timedelta(minutes=3)).replace(microsecond=0)
    st, d1 = msys.http("POST", "meald", "/v1/meals/%s/delivered" % o,
                       json={"courier_id": "courier-1", "at": t.isoformat()})
    assert st == 200, d1
    assert (d1["status"], d1["courier_id"], d1["meal_point_id"]) == (
        "delivered", "courier-1", pid)
    assert d1["delivered_at"] == t.isoformat()
    # Again, even with other data: the stored delivery, nothing appended.
    st, d2 = msys.http("POST", "meald", "/v1/meals/%s/delivered" % o,
                       json={"courier_id": "courier-2"})
    assert st == 200 and d2 == d1
    types = [t for t, _ in meald_events(msys, o)]
    assert types == ["MealScheduled", "MealDelivered"]
    _, ev = meald_events(msys, o)[1]
    assert ev[1] == o and ev[2] == pid and ev[4] == int(t.timestamp() * 1_000_000)
    # Delivered keeps its place in the kitchen list and cannot be cancelled.
    cancel(msys, o)
    marker = release(msys, lat, lon, at(tomorrow, 11, 0))
    meal(msys, marker)
    st, kl = msys.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                       % (pid, tomorrow.isoformat()))
    assert kl["count"] == 2 and kl["delivered"] == 1
    assert meal(msys, o)["status"] == "delivered"


def test_delivered_bad_input(msys):
    lat, lon = area()
    new_point(msys, lat, lon, LUNCH)
    o = release(msys, lat, lon, at(local_day(1), 11, 0))
    refused = release(msys, lat, lon, at(local_day(-1), 11, 0))
    meal(msys, o)
    assert meal(msys, refused)["status"] == "refused"
    future = (datetime.datetime.now(TZ) + datetime.timedelta(hours=1)).isoformat()
    for body, error, field in (('{"at":', "invalid_json", None),
                               ('[1]', "not_an_object", None),
                               ({"at": "noon"}, "invalid_value", "at"),
                               ({"at": 12}, "wrong_type", "at"),
                               ({"at": future}, "invalid_value", "at"),
                               ({"courier_id": 7}, "wrong_type", "courier_id")):
        if isinstance(body, str):
            st, doc = msys.http("POST", "meald", "/v1/meals/%s/delivered" % o, body=body)
        else:
            st, doc = msys.http("POST", "meald", "/v1/meals/%s/delivered" % o, json=body)
        assert st == 400 and (doc["error"], doc["field"]) == (error, field), (body, doc)
    assert meal(msys, o)["status"] == "scheduled"
    # A refused meal is no meal point's: none may mark it delivered.
    st, doc = msys.http("POST", "meald", "/v1/meals/%s/delivered" % refused, json={})
    assert st == 403 and doc["field"] == "meal_point_id", (st, doc)
    assert [t for t, _ in meald_events(msys, o)] == ["MealScheduled"]


def test_kitchen_list_bad_query(msys):
    lat, lon = area()
    pid = new_point(msys, lat, lon, LUNCH)
    base = "/v1/meal-points/%s/kitchen-list" % pid
    for query, error, field in (("?slot=lunch", "missing_field", "date"),
                                ("?date=2026-02-30&slot=lunch", "invalid_value", "date"),
                                ("?date=26-11-2026&slot=lunch", "invalid_value", "date"),
                                ("?date=2026-11-26", "missing_field", "slot"),
                                ("?date=2026-11-26&slot=supper", "invalid_value", "slot"),
                                ("?date=2026-11-26&slot=dinner", "invalid_value", "slot")):
        st, doc = msys.http("GET", "meald", base + query)
        assert st == 400 and (doc["error"], doc["field"]) == (error, field), (query, doc)
    st, kl = msys.http("GET", "meald", base + "?date=2030-01-01&slot=lunch")
    assert st == 200 and kl["count"] == 0 and kl["orders"] == [] and kl["by_diet"] == {}


def test_state_survives_kill9(msys):
    lat, lon = area()
    tomorrow = local_day(1)
    pid = new_point(msys, lat, lon, LUNCH)
    o1 = release(msys, lat, lon, at(tomorrow, 11, 0), diet="soft")
    meal(msys, o1)
    msys.kill9("meald")
    # Released while meald is down: applied once after the restart.
    o2 = release(msys, lat, lon, at(tomorrow, 11, 0))
    msys.restart("meald")
    assert meal(msys, o2)["meal_point_id"] == pid
    o3 = release(msys, lat, lon, at(tomorrow, 11, 0))
    assert meal(msys, o3)["reason"] == "no_capacity"   # the reloaded count is right
    st, kl = msys.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                       % (pid, tomorrow.isoformat()))
    assert [o["order_id"] for o in kl["orders"]] == [o1, o2]
    for o in (o1, o2, o3):
        assert len(meald_events(msys, o)) == 1
    m = msys.metrics("meald")
    assert m["meald_meals_open"] >= 2
    assert m["meald_meal_points"] >= 1


def test_one_batch_never_overbooks(msys):
    """Events fetched in one batch are decided before any of them commits:
    the places they take must count for the next ones."""
    lat, lon = area()
    tomorrow = local_day(1)
    pid = new_point(msys, lat, lon, [{"slot": "lunch", "capacity": 3, "cutoff": "10:00"}])
    ids = [str(uuid.uuid4()) for _ in range(8)]
    start = at(tomorrow, 11, 30)
    values = ", ".join(["(%s, %s, %s)"] * len(ids))
    params = []
    for oid in ids:
        params += [str(uuid.uuid4()), oid,
                   order_released(oid, start, start + datetime.timedelta(hours=1), 7, lat, lon)]
    # One transaction: orderd's log serves them together.
    msys.sql("orderd", "SELECT cc_append('OrderReleased', e::uuid, k, 7, p)"
             " FROM (VALUES %s) AS v (e, k, p)" % values, params)
    meals = [meal(msys, oid) for oid in ids]
    assert [m["status"] for m in meals] == ["scheduled"] * 3 + ["refused"] * 5
    assert all(m["reason"] == "no_capacity" for m in meals[3:])
    # The count row may commit in a later writer batch than the meals.
    harness.wait_until(lambda: msys.sql("meald", "SELECT used FROM slot_counts "
                                        "WHERE meal_point_id = %s", (pid,)) == [(3,)],
                       what="slot_counts used = 3")
