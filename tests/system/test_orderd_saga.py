"""orderd as the saga's conductor, with the four real daemons: continuity of
care, decline and re-dispatch, no caregiver in time, events after a final
state, and an orderd kill -9 in the middle of a visit (nothing lost, nothing
applied twice). The plain journeys are in test_journeys.py."""

import os
import subprocess
import sys
import tempfile
import uuid

import pytest

import harness
from test_journeys import (at, balance, get_order, new_card, new_caregiver, new_elder,
                           order, post, visit_step, wait_state, ledger_ok)


@pytest.fixture(scope="module")
def saga(need_daemons, pg, db):
    s = harness.System(pg, db, extra_args={
        "dispatchd": {"assign-deadline-s": "3", "retry-interval-s": "1"}})
    # No overdue stage: failed at the deadline (table deadlines: test_deadlines.py).
    s.sql("dispatchd", "UPDATE dispatchd.deadlines SET overdue_s = 0")
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def ev():
    out = tempfile.mkdtemp(prefix="od-pb-")
    proto = os.path.join(harness.ROOT, "proto")
    files = [os.path.join(proto, f) for f in os.listdir(proto) if f.endswith(".proto")]
    try:
        subprocess.run(["protoc", "--python_out=" + out, "-I" + proto] + files, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip("protoc unavailable: %s" % e)
    sys.path.insert(0, out)
    import events_pb2
    return events_pb2


def released_payload(s, ev, oid):
    rows = s.sql("orderd", "SELECT payload FROM events WHERE key = %s AND type = "
                 "'VisitReleased'", (oid,))
    assert len(rows) == 1, rows
    m = ev.VisitReleased()
    m.ParseFromString(bytes(rows[0][0]))
    return m


def run_visit(s, oid):
    o = wait_state(s, oid, "assigned")
    cg, visit = o["caregiver_id"], o["visit_id"]
    visit_step(s, visit, "accept", cg)
    visit_step(s, visit, "check-in", cg, lat=30.2741, lon=120.1551)
    visit_step(s, visit, "check-out", cg, lat=30.2741, lon=120.1551)
    return wait_state(s, oid, "billed")


def history(o, key="event"):
    return [h[key] for h in o["history"]]


def test_continuity_of_care(saga, ev):
    s = saga
    elder = new_elder(s, ability="mild", diet="soft")
    card = new_card(s, elder, topup_fen=500000)
    first_cg = new_caregiver(s, ["cleaning"], level=1)
    o1 = order(s, card, "cleaning")["order_id"]
    wait_state(s, o1, ("released", "assigned"))       # VisitReleased follows FundsHeld
    assert released_payload(s, ev, o1).preferred_caregiver_id == ""
    done = run_visit(s, o1)
    assert done["caregiver_id"] == first_cg
    # The next cleaning prefers the caregiver the elder knows; other services
    # and other elders do not.
    o2 = order(s, card, "cleaning")["order_id"]
    wait_state(s, o2, ("released", "assigned"))
    r2 = released_payload(s, ev, o2)
    assert r2.preferred_caregiver_id == first_cg
    assert "diet" not in r2.DESCRIPTOR.fields_by_name  # diet is meald's only
    o3 = order(s, card, "escort")["order_id"]
    wait_state(s, o3, ("released", "assigned", "failed"))
    assert released_payload(s, ev, o3).preferred_caregiver_id == ""
    # It survives a restart: loaded from the store.
    s.restart("orderd")
    o4 = order(s, card, "cleaning")["order_id"]
    wait_state(s, o4, ("released", "assigned"))
    assert released_payload(s, ev, o4).preferred_caregiver_id == first_cg


def test_decline_goes_back_to_released_and_is_redispatched(saga):
    s = saga
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=500000)
    a = new_caregiver(s, ["medical_escort"], level=2, lat=30.2742, lon=120.1552)
    b = new_caregiver(s, ["medical_escort"], level=2, lat=30.2900, lon=120.1700)
    oid = order(s, card, "medical_escort")["order_id"]
    o = wait_state(s, oid, "assigned")
    first = o["caregiver_id"]
    assert first in (a, b)
    post(s, "dispatchd", "/v1/visits/%s/decline" % o["visit_id"], {"caregiver_id": first})

    def reassigned():
        cur = get_order(s, oid)
        return cur["state"] == "assigned" and cur["caregiver_id"] not in (None, first) and cur
    o = harness.wait_until(reassigned, timeout=20, what="re-dispatch to the other caregiver")
    assert o["caregiver_id"] == ({a, b} - {first}).pop()
    states = [(h["event"], h["state"]) for h in o["history"]]
    i = states.index(("VisitDeclined", "released"))
    assert ("VisitAssigned", "assigned") in states[i + 1:], states
    declined = [h for h in o["history"] if h["event"] == "VisitDeclined"][0]
    assert first in declined["detail"]


def test_no_caregiver_in_time_fails_and_releases_the_hold(saga, ev):
    s = saga
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=500000)
    oid = order(s, card, "assessment", start=at(0, 0), end=at(1, 0))["order_id"]
    o = wait_state(s, oid, "failed", timeout=30)
    assert o["reason"] == "no_caregiver"
    rows = s.sql("orderd", "SELECT type, payload FROM events WHERE key = %s ORDER BY seq", (oid,))
    assert [r[0] for r in rows] == ["OrderPlaced", "VisitReleased", "OrderFailed"]
    f = ev.OrderFailed()
    f.ParseFromString(bytes(rows[2][1]))
    assert (f.order_id, f.card_id, f.reason) == (oid, card, "no_caregiver")
    harness.wait_until(lambda: balance(s, card)["held_fen"] == 0, timeout=15,
                       what="hold released")
    o = harness.wait_until(lambda: "HoldReleased" in history(get_order(s, oid)) and
                           get_order(s, oid), timeout=15, what="HoldReleased in history")
    assert o["state"] == "failed"
    assert balance(s, card)["available_fen"] == 500000
    ledger_ok(s)


def test_events_after_a_final_state_are_history_only(saga):
    s = saga
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=500000)
    new_caregiver(s, ["escort"], level=1)
    oid = order(s, card, "escort")["order_id"]
    wait_state(s, oid, "assigned")
    post(s, "orderd", "/v1/orders/%s/cancel" % oid, {"reason": "changed plans"})
    o = harness.wait_until(lambda: "HoldReleased" in history(get_order(s, oid)) and
                           get_order(s, oid), timeout=15, what="HoldReleased in history")
    i = history(o).index("Cancel")
    assert i > 0 and all(h["state"] == "cancelled" for h in o["history"][i:]), o["history"]
    assert o["state"] == "cancelled" and o["reason"] == "changed plans"
    n = s.sql("orderd", "SELECT count(*) FROM events WHERE key = %s AND type = "
              "'OrderCancelled'", (oid,))[0][0]
    assert n == 1


def test_malformed_inbound_events_are_counted_and_skipped(saga, ev):
    """Events in billingd's log that orderd cannot apply (a payload that is
    not a FundsHeld, one naming no valid order) are counted and skipped;
    one naming an order orderd does not have changes nothing; the log goes
    on and the next order completes."""
    s = saga
    name = 'consumer_rejected_total{consumer="orderd",log="billingd"}'
    before = s.metrics("orderd").get(name, 0.0)
    bad_id = ev.FundsHeld(order_id="not-a-uuid", price_fen=100).SerializeToString()
    stranger = str(uuid.uuid4())
    unknown = ev.FundsHeld(order_id=stranger, price_fen=100, held_fen=100).SerializeToString()
    for payload in (b"\xff\xff\xff not protobuf", bad_id, unknown):
        s.sql("billingd", "SELECT cc_append('FundsHeld', gen_random_uuid(), 'x', 1, %s)",
              (payload,))
    harness.wait_until(lambda: s.metrics("orderd").get(name, 0.0) >= before + 2, timeout=10,
                       what="malformed events counted")
    assert s.sql("orderd", "SELECT count(*) FROM orders WHERE id = %s", (stranger,)) == [(0,)]
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=500000)
    new_caregiver(s, ["cleaning"], level=1)
    oid = order(s, card, "cleaning")["order_id"]
    run_visit(s, oid)
    assert s.metrics("orderd").get(name, 0.0) == before + 2
    assert s.sql("orderd", "SELECT count(*) FROM events WHERE key = %s AND type = "
                 "'VisitReleased'", (oid,)) == [(1,)]


def test_orderd_kill9_mid_visit_loses_nothing(saga):
    s = saga
    elder = new_elder(s, ability="moderate")
    card = new_card(s, elder, topup_fen=500000)
    new_caregiver(s, ["bath"], level=2)
    oid = order(s, card, "bath")["order_id"]
    o = wait_state(s, oid, "assigned")
    cg, visit = o["caregiver_id"], o["visit_id"]
    s.kill9("orderd")
    # The visit goes on while orderd is down; dispatchd's log keeps it.
    visit_step(s, visit, "accept", cg)
    visit_step(s, visit, "check-in", cg, lat=30.2741, lon=120.1551)
    visit_step(s, visit, "check-out", cg, lat=30.2741, lon=120.1551)
    s.daemons["orderd"].start()
    s.wait_ready("orderd")
    o = wait_state(s, oid, "billed", timeout=30)
    ev = history(o)
    for e in ("VisitAssigned", "VisitAccepted", "VisitCheckedIn", "VisitCompleted",
              "HoldCaptured"):
        assert ev.count(e) == 1, (e, o["history"])
    assert [h["state"] for h in o["history"]][-3:] == ["in_progress", "completed", "billed"]
    n = s.sql("orderd", "SELECT count(*) FROM events WHERE key = %s AND type = "
              "'OrderCompleted'", (oid,))[0][0]
    assert n == 1
    assert o["charged_fen"] == o["held_fen"] > 0
    # Caught up with every log: no lag left.
    def no_lag():
        m = s.metrics("orderd")
        return all(m.get('consumer_lag_events{consumer="orderd",log="%s"}' % p, 1) == 0
                   for p in ("billingd", "dispatchd", "meald"))
    harness.wait_until(no_lag, timeout=15, what="orderd consumer lag 0")
    ledger_ok(s)


def test_order_gauges_match_the_store(saga):
    s = saga
    states = ("placed", "funds_held", "released", "assigned", "in_progress", "completed",
              "billed", "denied", "cancelled", "failed")
    box = {}

    def same():
        # Orders may still be moving: compare until a quiet moment.
        m = s.metrics("orderd")
        rows = dict(s.sql("orderd", "SELECT state, count(*) FROM orders GROUP BY state"))
        box["diff"] = {st: (m['orderd_orders{state="%s"}' % st], rows.get(st, 0))
                       for st in states if m['orderd_orders{state="%s"}' % st] != rows.get(st, 0)}
        return not box["diff"]
    harness.wait_until(same, timeout=10, what=lambda: "gauges = store: %r" % box.get("diff"))
    assert sum(m for st, m in s.metrics("orderd").items() if st.startswith("orderd_orders{")) > 0
