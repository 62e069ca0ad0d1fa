"""dispatchd's offer horizon (docs/DISPATCH.md "Planned, then offered"): a
routine visit whose window opens beyond --offer-ahead-h is planned (a
caregiver and time, no offer, cannot be accepted), is offered at its
release, and one within the horizon is offered at once; an emergency is
never held. The real four daemons; dispatchd with --offer-ahead-h=1 so that
a release falls within the test."""

import datetime
import uuid

import pytest

import harness
from test_dispatchd_api import ELDER, events, get_visit, new_cg, step, visit_of, wait_visit
from test_journeys import new_card, new_elder, post

TZ = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture(scope="module")
def hsys(need_daemons, pg, db):
    s = harness.System(pg, db, extra_args={"dispatchd": {"offer-ahead-h": "1"}})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def book(s, card, start, hours=3):
    return post(s, "orderd", "/v1/orders", {
        "card_id": card, "service": "cleaning", "window_start": start.isoformat(),
        "window_end": (start + datetime.timedelta(hours=hours)).isoformat(), "notes": ""},
        key=str(uuid.uuid4()))["order_id"]


def test_planned_then_offered(hsys):
    s = hsys
    now = datetime.datetime.now(TZ)
    # A shift from an hour ago to 8 hours on, every day: the visits below
    # (today within hours, tomorrow at the same hours) lie in it at any time.
    shift = {"shift_start": (now - datetime.timedelta(hours=1)).strftime("%H:%M"),
             "shift_end": (now + datetime.timedelta(hours=8)).strftime("%H:%M")}
    cg = new_cg(s, lat=ELDER[0] + 0.001, lon=ELDER[1], skills=["cleaning"], **shift)
    card = new_card(s, new_elder(s, lat=ELDER[0], lon=ELDER[1]), topup_fen=100000)

    # Tomorrow: planned, not offered.
    later = book(s, card, now + datetime.timedelta(hours=25))
    lv = visit_of(s, later)
    v = wait_visit(s, lv["visit_id"], lambda v: v["state"] == "planned", "planned")
    assert v["caregiver_id"] == cg and v["eta"] and v["assigned_at"] is None, v
    offer_at = datetime.datetime.fromisoformat(v["offer_at"])
    want = datetime.datetime.fromisoformat(v["window_start"]) - datetime.timedelta(hours=1)
    assert abs((offer_at - want).total_seconds()) < 1, (v["offer_at"], v["window_start"])
    out = step(s, v["visit_id"], "accept", {"caregiver_id": cg}, expect=409)
    assert out["field"] == "state", out
    st, mine = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % cg)
    assert st == 200 and [x["state"] for x in mine["visits"]
                          if x["visit_id"] == v["visit_id"]] == ["planned"], mine
    assert events(s, later) == []   # no VisitAssigned: orderd and the phone hear nothing
    st, o = s.http("GET", "orderd", "/v1/orders/%s" % later)
    assert st == 200 and o["state"] == "released", o

    # Within the horizon: offered at once.
    soon = book(s, card, now + datetime.timedelta(minutes=30))
    sv = visit_of(s, soon)
    v = wait_visit(s, sv["visit_id"], lambda v: v["state"] == "assigned", "offered at once")
    assert v["caregiver_id"] == cg and v["offer_at"] is None, v
    assert events(s, soon) == ["VisitAssigned"]

    # Released 20 s from now (window in 1 h 20 s): planned, then offered by
    # the sweep to its planned caregiver, and orderd follows.
    edge = book(s, card, now + datetime.timedelta(hours=1, seconds=20))
    ev = visit_of(s, edge)
    assert get_visit(s, ev["visit_id"])["state"] == "planned"
    v = wait_visit(s, ev["visit_id"], lambda v: v["state"] == "assigned", "offered at release",
                   timeout=40)
    assert v["caregiver_id"] == cg and v["assigned_at"], v
    assert datetime.datetime.fromisoformat(v["assigned_at"]) >= now + datetime.timedelta(
        seconds=19), v
    assert events(s, edge) == ["VisitAssigned"]
    harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders/%s" % edge)[1]
                       .get("state") == "assigned", timeout=15, what="orderd hears the offer")
    step(s, v["visit_id"], "accept", {"caregiver_id": cg})
    # The planned one tomorrow is still a plan.
    assert get_visit(s, lv["visit_id"])["state"] == "planned"
