"""A dispatcher's operations (issue 12, "Dispatcher operations"), through the
four real daemons: manual assignment and release (recorded, an event, kept
over a restart), the rota (a day off keeps visits away, a sick call puts
the day's visits back in the queue and they are planned again), a
certificate's expiry, a provider's zone (划片), a visit failed on site
releasing the order's hold, and bad input naming its field.

Each test works in its own place (a degree of latitude apart: over an hour
of travel, beyond the matcher's limit) so that caregivers of one test are
never candidates in another; the rules are unit-tested in
services/dispatchd/dd_rules_test.c."""

import uuid

import harness
from test_journeys import at, new_card, new_elder, order, post, wait_state

BASE = (30.2741, 120.1551)


def place(n):
    return BASE[0] + n, BASE[1]


def caregiver(s, where, provider, skills=("cleaning",), near=0.0003, district=1, **extra):
    body = {"name": "护理员", "provider_id": provider, "district_id": district,
            "lat": where[0] + near, "lon": where[1], "skills": list(skills), "level": 1,
            "first_aid": False, "shift_start": "00:00", "shift_end": "23:59"}
    body.update(extra)
    return post(s, "dispatchd", "/v1/caregivers", body)["caregiver_id"]


def elder_card(s, where, district=1):
    e = new_elder(s, lat=where[0], lon=where[1], district_id=district)
    return new_card(s, e, topup_fen=100000)


def visit_of(s, oid, caregiver_id, timeout=20):
    """The order's visit once it is offered to caregiver_id."""
    def offered():
        o = s.http("GET", "orderd", "/v1/orders/%s" % oid)[1]
        return o.get("caregiver_id") == caregiver_id and o.get("visit_id")
    return harness.wait_until(offered, timeout=timeout,
                              what="order %s offered to %s" % (oid, caregiver_id))


def call(s, method, path, body=None, role="dispatcher", scope=None):
    if scope is None and role == "dispatcher":
        scope = {"district_ids": [1]}
    return s.http(method, "dispatchd", path, json=body, role=role, scope=scope)


def bad(s, method, path, body, field, role="dispatcher", scope=None, status=400):
    st, doc = call(s, method, path, body, role=role, scope=scope)
    assert st == status and doc["field"] == field, (path, body, st, doc)


def events(s, oid):
    return [r[0] for r in s.sql("postgres", "SELECT type FROM dispatchd.events WHERE key = %s"
                                " ORDER BY seq", (oid,))]


def test_manual_assign_and_release(system):
    s = system
    here = place(3)
    near = caregiver(s, here, "prov-ops")
    far = caregiver(s, here, "prov-ops", near=0.01)
    cant = caregiver(s, here, "prov-ops", skills=("bath",), near=0.0001)
    card = elder_card(s, here)
    oid = order(s, card, "cleaning")["order_id"]
    v = visit_of(s, oid, near)
    path = "/v1/visits/%s/assign" % v
    # Bad input names the field; the rules hold even for a dispatcher.
    bad(s, "POST", path, {"caregiver_id": far}, "reason")
    bad(s, "POST", path, {"caregiver_id": far, "reason": ""}, "reason")
    bad(s, "POST", path, {"caregiver_id": "nope", "reason": "x"}, "caregiver_id")
    bad(s, "POST", path, {"caregiver_id": far, "reason": "x", "force": "yes"}, "force")
    bad(s, "POST", path, {"caregiver_id": str(uuid.uuid4()), "reason": "x"}, "caregiver_id",
        status=422)
    bad(s, "POST", path, {"caregiver_id": cant, "reason": "x"}, "caregiver_id", status=422)
    bad(s, "POST", path, {"caregiver_id": near, "reason": "x"}, "caregiver_id", status=409)
    st, doc = call(s, "POST", path, {"caregiver_id": far, "reason": "x"},
                   scope={"district_ids": [2]})
    assert st == 403 and doc["field"] == "district_id", doc
    # Reassign to the farther one: recorded with its reason, two events.
    st, doc = call(s, "POST", path, {"caregiver_id": far, "reason": "家属要求"})
    assert st == 200, doc
    assert doc["caregiver_id"] == far and doc["from_caregiver_id"] == near and doc["manual"]
    visit_of(s, oid, far)
    rows = s.sql("postgres", "SELECT action, from_caregiver::text, to_caregiver::text, reason,"
                 " by_account <> '' FROM dispatchd.visit_assignments WHERE visit_id = %s", (v,))
    assert rows == [("assign", near, far, "家属要求", True)], rows
    assert events(s, oid)[-2:] == ["VisitDeclined", "VisitAssigned"], events(s, oid)
    # The pin is in the store: a restarted dispatchd still holds it.
    s.restart("dispatchd")
    st, got = call(s, "GET", "/v1/visits/%s" % v)
    assert st == 200 and got["manual"] is True and got["caregiver_id"] == far, got
    # Release: the visit stays, the pin goes; a second release is refused.
    bad(s, "POST", "/v1/visits/%s/release" % v, {}, "reason")
    st, doc = call(s, "POST", "/v1/visits/%s/release" % v, {"reason": "好了"})
    assert st == 200 and doc["manual"] is False, doc
    st, got = call(s, "GET", "/v1/visits/%s" % v)
    assert got["manual"] is False and got["caregiver_id"] == far, got
    bad(s, "POST", "/v1/visits/%s/release" % v, {"reason": "again"}, "visit_id", status=409)
    rows = s.sql("postgres", "SELECT action FROM dispatchd.visit_assignments WHERE visit_id = %s"
                 " ORDER BY at", (v,))
    assert [r[0] for r in rows] == ["assign", "release"], rows


def test_rota_day_off_and_sick_call(system):
    s = system
    here = place(4)
    prov = str(uuid.uuid4())
    admin = {"provider_id": prov}
    near = caregiver(s, here, prov)
    far = caregiver(s, here, prov, near=0.01)
    day = at(1)[:10]
    rota = "/v1/caregivers/%s/rota/%s"
    # Bad input names the field; another provider's admin is refused.
    for body, field in (({"off": "holiday"}, "off"),
                        ({"off": "sick", "shift_start": "08:00"}, "off"),
                        ({"shift_start": "25:00", "shift_end": "17:00"}, "shift_start"),
                        ({"shift_start": "08:00"}, "shift_end"),
                        ({"shift": "x"}, "shift")):
        bad(s, "PUT", rota % (near, day), body, field, role="provider_admin", scope=admin)
    bad(s, "PUT", rota % (near, "2026-13-01"), {"off": "sick"}, "date",
        role="provider_admin", scope=admin)
    st, doc = call(s, "PUT", rota % (near, day), {"off": "day_off"}, role="provider_admin",
                   scope={"provider_id": str(uuid.uuid4())})
    assert st == 403 and doc["field"] == "provider_id", doc
    # The nearer caregiver is off tomorrow: the visit goes to the farther one.
    st, doc = call(s, "PUT", rota % (near, day), {"off": "day_off"}, role="provider_admin",
                   scope=admin)
    assert st == 200 and doc["off"] == "day_off" and doc["unplanned"] == [], doc
    card = elder_card(s, here)
    oid = order(s, card, "cleaning")["order_id"]
    v = visit_of(s, oid, far)
    post(s, "dispatchd", "/v1/visits/%s/accept" % v, {"caregiver_id": far})
    # The farther one calls in sick (a dispatcher of the district enters it):
    # the accepted visit leaves their plan, nobody else works: it waits.
    st, doc = call(s, "PUT", rota % (far, day), {"off": "sick"})
    assert st == 200 and doc["unplanned"] == [v], doc
    wait_state(s, oid, "released")
    assert "VisitDeclined" in events(s, oid)
    st, got = call(s, "GET", "/v1/visits/%s" % v)
    assert got["state"] == "waiting", got
    # The nearer one works after all (a shift that day): planned again, to them.
    st, doc = call(s, "PUT", rota % (near, day), {"shift_start": "08:00", "shift_end": "18:00"},
                   role="provider_admin", scope=admin)
    assert st == 200 and doc["shift_start"] == "08:00" and doc["source"] == "rota", doc
    visit_of(s, oid, near)
    # A shorter shift that no longer holds the visit (09:00-12:00 window)
    # puts it back in the queue too; the day reads back as set.
    st, doc = call(s, "PUT", rota % (near, day), {"shift_start": "13:00", "shift_end": "18:00"},
                   role="provider_admin", scope=admin)
    assert st == 200 and doc["unplanned"] == [v], doc
    st, r = call(s, "GET", "/v1/caregivers/%s/rota?from=%s&to=%s" % (far, day, day),
                 role="caregiver", scope={"caregiver_id": far})
    assert st == 200 and r["days"] == [{"date": day, "source": "rota", "off": "sick",
                                        "shift_start": None, "shift_end": None}], r
    bad(s, "GET", "/v1/caregivers/%s/rota?from=2026-01-01&to=2026-12-31" % far, None, "to")
    st, _ = call(s, "GET", "/v1/caregivers/%s/rota" % far, role="caregiver",
                 scope={"caregiver_id": near})
    assert st == 403


def test_certificate_expiry_refuses(system):
    s = system
    here = place(5)
    prov = str(uuid.uuid4())
    admin = {"provider_id": prov}
    cg = caregiver(s, here, prov)
    path = "/v1/caregivers/%s/certificates" % cg
    for body, field in (({"kind": "juggling", "valid_from": at(-1), "valid_until": at(5)},
                         "kind"),
                        ({"kind": "cleaning", "level": 4, "valid_from": at(-1),
                          "valid_until": at(5)}, "level"),
                        ({"kind": "cleaning", "valid_from": at(2), "valid_until": at(1)},
                         "valid_until"),
                        ({"kind": "cleaning", "valid_until": at(1)}, "valid_from")):
        bad(s, "POST", path, body, field, role="provider_admin", scope=admin)
    # A cleaning certificate that expires today: tomorrow's visit is refused.
    st, c = call(s, "POST", path, {"kind": "cleaning", "valid_from": at(-30),
                                   "valid_until": at(0, 23, 0)},
                 role="provider_admin", scope=admin)
    assert st == 201, c
    card = elder_card(s, here)
    oid = order(s, card, "cleaning")["order_id"]
    wait_state(s, oid, "released")
    harness.wait_until(lambda: any(x["order_id"] == oid for x in call(
        s, "GET", "/v1/queue")[1]["visits"]), timeout=10, what="visit waiting")
    st, got = call(s, "GET", "/v1/caregivers/%s" % cg)
    assert got["planned_visits"] == 0 and got["certificates"][0]["kind"] == "cleaning", got
    # Renewed: the waiting visit is planned to them.
    st, c = call(s, "POST", path, {"kind": "cleaning", "level": 2, "valid_from": at(0, 22, 0),
                                   "valid_until": at(365)},
                 role="provider_admin", scope=admin)
    assert st == 201, c
    visit_of(s, oid, cg)


def test_provider_zone(system):
    s = system
    here = place(6)
    inside, outside = str(uuid.uuid4()), str(uuid.uuid4())
    near = caregiver(s, here, outside)
    far = caregiver(s, here, inside, near=0.01)
    zones = "/v1/providers/%s/districts"
    for body in ({}, {"district_ids": []}, {"district_ids": [0]}, {"district_ids": "1"}):
        bad(s, "PUT", zones % outside, body, "district_ids", role="admin")
    st, doc = call(s, "PUT", zones % outside, {"district_ids": [2, 3]}, role="admin")
    assert st == 200 and doc["district_ids"] == [2, 3] and doc["serves"] == "districts", doc
    st, doc = call(s, "GET", zones % inside, role="provider_admin",
                   scope={"provider_id": inside})
    assert st == 200 and doc["serves"] == "everywhere", doc
    st, _ = call(s, "GET", zones % inside, role="provider_admin",
                 scope={"provider_id": outside})
    assert st == 403
    # The nearer caregiver's provider does not serve district 1.
    card = elder_card(s, here)
    oid = order(s, card, "cleaning")["order_id"]
    visit_of(s, oid, far)
    # It does in district 2.
    card2 = elder_card(s, here, district=2)
    oid2 = order(s, card2, "cleaning")["order_id"]
    visit_of(s, oid2, near)


def test_failed_on_site_releases_hold(system):
    s = system
    here = place(7)
    cg = caregiver(s, here, "prov-ops")
    other = caregiver(s, place(8), "prov-ops")
    card = elder_card(s, here)
    oid = order(s, card, "cleaning")["order_id"]
    v = visit_of(s, oid, cg)
    held = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[1]["held_fen"]
    assert held > 0
    path = "/v1/visits/%s/fail" % v
    me = {"caregiver_id": cg}
    # Not yet accepted: nothing to fail on site.
    bad(s, "POST", path, {"reason": "refused"}, "state", role="caregiver", scope=me,
        status=409)
    post(s, "dispatchd", "/v1/visits/%s/accept" % v, {"caregiver_id": cg})
    bad(s, "POST", path, {"reason": "bored"}, "reason", role="caregiver", scope=me)
    bad(s, "POST", path, {}, "reason", role="caregiver", scope=me)
    bad(s, "POST", path, {"reason": "refused", "reschedule": True}, "reschedule",
        role="caregiver", scope=me, status=422)
    bad(s, "POST", path, {"reason": "refused"}, "caregiver_id", role="caregiver",
        scope={"caregiver_id": other}, status=403)
    st, doc = call(s, "POST", path, {"reason": "hospitalised"}, role="caregiver", scope=me)
    assert st == 200 and doc["state"] == "failed", doc
    o = wait_state(s, oid, "failed")
    assert o["reason"] == "hospitalised", o
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[1]
                       ["held_fen"] == 0, timeout=15, what="hold released")
    b = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[1]
    assert b["available_fen"] == 100000, b
    # A retry answers the same; the ledger still balances.
    st, doc = call(s, "POST", path, {"reason": "hospitalised"}, role="caregiver", scope=me)
    assert st == 200 and doc["state"] == "failed", doc
    st, chk = s.http("GET", "billingd", "/v1/ledger/check")
    assert st == 200 and chk.get("ok") is True, chk
