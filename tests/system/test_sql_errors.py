"""SQL errors on writes that are neither transient nor corruption (issue 11):
the store refuses one write (a trigger the superuser adds raises a
check_violation 23514 or a raise_exception P0001), and then lets it through.
For each daemon: it stays up (same pid), the request gets the documented
answer (422 naming the column for an integrity violation, else 500
internal; the ZeroMQ intake the same status; a consumer's effect is retried,
counted and shown as stuck, never skipped), memory equals the store
afterwards (the next read through the API returns what the table holds),
and once the fault is gone the same request (same Idempotency-Key) or the
same event is applied exactly once.

Before this change every one of these writes made its daemon exit 1."""

import contextlib
import uuid

import harness
from test_journeys import (at, balance, ledger_ok, new_card, new_caregiver, new_elder,
                           order, post, wait_state)
from test_orderd_api import Intake, pb, place_order  # noqa: F401 (pb: a fixture)


@contextlib.contextmanager
def fault(s, table, sqlstate, op="INSERT", when=None, column=None, constraint=None):
    """Until the block ends, every `op` on table (schema.table) whose row
    matches `when` fails with sqlstate (and the column/constraint a real
    constraint would report)."""
    schema, tbl = table.split(".")
    fn = "%s.fault_%s" % (schema, tbl)
    using = "ERRCODE = '%s'" % sqlstate
    if column:
        using += ", COLUMN = '%s'" % column
    if constraint:
        using += ", CONSTRAINT = '%s'" % constraint
    s.sql("postgres", "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS "
          "$$ BEGIN RAISE EXCEPTION 'injected fault' USING %s; END $$" % (fn, using))
    s.sql("postgres", "CREATE TRIGGER fault_%s BEFORE %s ON %s FOR EACH ROW %s "
          "EXECUTE FUNCTION %s()" % (tbl, op, table, "WHEN (%s)" % when if when else "", fn))
    try:
        yield
    finally:
        s.sql("postgres", "DROP TRIGGER fault_%s ON %s; DROP FUNCTION %s()" % (tbl, table, fn))


def pid(s, d):
    assert s.daemons[d].alive(), "%s died:\n%s" % (d, s.daemons[d].log_text()[-3000:])
    return s.daemons[d].proc.pid


def metric(s, d, prefix):
    return sum(v for k, v in s.metrics(d).items() if k.startswith(prefix))


def read(s, d, path, ok=(200, 404)):
    """A GET once the daemon answers it (503 reloading meanwhile)."""
    box = {}

    def answered():
        box["r"] = s.http("GET", d, path)
        return box["r"][0] in ok
    harness.wait_until(answered, timeout=15, interval=0.1,
                       what=lambda: "%s %s answers, got %r" % (d, path, box.get("r")))
    return box["r"]


def test_orderd_refused_placement_and_cancel(system, pb):
    """HTTP and ZeroMQ placements the store refuses with 23514: 422 naming
    the column, nothing kept (the same key is judged afresh), then placed
    once. A cancel refused with P0001: 500, the order as stored, then
    cancelled once and its hold released."""
    s = system
    p0 = pid(s, "orderd")
    card = new_card(s, new_elder(s), topup_fen=100000)
    body = {"card_id": card, "service": "cleaning", "window_start": at(2, 9),
            "window_end": at(2, 12), "notes": ""}
    key, zkey = str(uuid.uuid4()), str(uuid.uuid4())
    hdr = {"Idempotency-Key": key}
    z = Intake(s, pb)
    try:
        with fault(s, "orderd.orders", "23514", column="notes",
                   constraint="orders_notes_check"):
            for _ in range(2):      # the second finds no trace of the first
                st, out = s.http("POST", "orderd", "/v1/orders", json=body, headers=hdr)
                assert st == 422, (st, out)
                assert out["error"] == "invalid_value" and out["field"] == "notes", out
            z.send(place_order(pb, card, zkey, service=pb[1].CLEANING))
            _, r = z.recv()
            assert (r.status, r.error) == (422, "invalid_value"), r
        assert pid(s, "orderd") == p0
        assert s.sql("orderd", "SELECT count(*) FROM orders WHERE idem_key IN (%s, %s)",
                     (key, zkey))[0][0] == 0
        st, out = s.http("POST", "orderd", "/v1/orders", json=body, headers=hdr)
        assert st == 202, (st, out)
        oid = out["order_id"]
        st, again = s.http("POST", "orderd", "/v1/orders", json=body, headers=hdr)
        assert (st, again["order_id"]) == (200, oid), (st, again)
        for want in (202, 200):
            z.send(place_order(pb, card, zkey, service=pb[1].CLEANING))
            _, r = z.recv()
            assert r.status == want, r
    finally:
        z.close()
    assert s.sql("orderd", "SELECT count(*) FROM orders WHERE idem_key IN (%s, %s)",
                 (key, zkey))[0][0] == 2
    wait_state(s, oid, "released")          # no caregiver: it waits, money held
    held = balance(s, card)["held_fen"]
    assert held > 0

    with fault(s, "orderd.orders", "P0001", op="UPDATE", when="NEW.state = 'cancelled'"):
        st, out = s.http("POST", "orderd", "/v1/orders/%s/cancel" % oid)
        assert st == 500 and out["error"] == "internal", (st, out)
        st, o = s.http("GET", "orderd", "/v1/orders/%s" % oid)
        stored = s.sql("orderd", "SELECT state FROM orders WHERE id = %s", (oid,))[0][0]
        assert st == 200 and o["state"] == stored == "released", (o, stored)
    assert pid(s, "orderd") == p0
    st, out = s.http("POST", "orderd", "/v1/orders/%s/cancel" % oid)
    assert (st, out.get("state")) == (200, "cancelled"), (st, out)
    harness.wait_until(lambda: balance(s, card)["held_fen"] < held, timeout=15,
                       what="the cancelled order's hold released")
    assert s.sql("billingd", "SELECT count(*) FROM holds WHERE order_id = %s "
                 "AND state = 'released'", (oid,))[0][0] == 1
    assert metric(s, "orderd", 'db_write_errors_total{stmt="od_order_place"}') >= 3
    assert metric(s, "orderd", 'db_write_errors_total{stmt="od_order_cancel"}') >= 1


def test_dispatchd_refused_accept_reloads(system):
    """A caregiver's accept the store refuses (P0001): 500, dispatchd
    reloads its working set (memory had taken the accept), the visit reads
    as stored (assigned); accepted once after."""
    s = system
    cg = new_caregiver(s, ["cleaning"], lat=30.2744, lon=120.1554)
    card = new_card(s, new_elder(s), topup_fen=100000)
    oid = order(s, card, "cleaning", start=at(1, 14), end=at(1, 17))["order_id"]
    o = wait_state(s, oid, "assigned")
    visit, cg = o["visit_id"], o["caregiver_id"]
    p0 = pid(s, "dispatchd")
    reloads = metric(s, "dispatchd", "working_set_reloads_total")
    with fault(s, "dispatchd.visits", "P0001", op="UPDATE", when="NEW.state = 'accepted'"):
        st, out = s.http("POST", "dispatchd", "/v1/visits/%s/accept" % visit,
                         json={"caregiver_id": cg})
        assert st == 500 and out["error"] == "internal", (st, out)
        st, v = read(s, "dispatchd", "/v1/visits/%s" % visit)
        stored = s.sql("dispatchd", "SELECT state FROM visits WHERE id = %s", (visit,))[0][0]
        assert st == 200 and v["state"] == stored == "assigned", (v, stored)
    assert pid(s, "dispatchd") == p0
    assert metric(s, "dispatchd", "working_set_reloads_total") == reloads + 1
    st, out = s.http("POST", "dispatchd", "/v1/visits/%s/accept" % visit,
                     json={"caregiver_id": cg})
    assert (st, out.get("state")) == (200, "accepted"), (st, out)
    st, v = s.http("GET", "dispatchd", "/v1/visits/%s" % visit)
    assert v["state"] == "accepted"
    assert s.sql("dispatchd", "SELECT state FROM visits WHERE id = %s", (visit,))[0][0] \
        == "accepted"
    assert s.sql("dispatchd", "SELECT count(*) FROM events WHERE type = 'VisitAccepted' "
                 "AND key = %s", (oid,))[0][0] == 1


def test_meald_refused_effect_is_retried_never_skipped(system):
    """MealReleased's effect refused (23514 on meals): retried, counted,
    shown as stuck after 5 tries, the meal neither in memory nor stored;
    applied once when the fault goes, and the order goes on to billed. A
    delivery refused (P0001): 500, the meal as stored, delivered once after."""
    s = system
    post(s, "meald", "/v1/meal-points", {
        "name": "食堂", "provider_id": "kitchen-e", "district_id": 1, "lat": 30.2750,
        "lon": 120.1560, "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]})
    card = new_card(s, new_elder(s), topup_fen=50000)
    p0 = pid(s, "meald")
    stuck = 'consumer_stuck{consumer="meald",log="orderd"}'
    with fault(s, "meald.meals", "23514", column="diet"):
        oid = order(s, card, "meal", start=at(1, 11, 30), end=at(1, 12, 30))["order_id"]
        harness.wait_until(lambda: metric(s, "meald", stuck) == 1, timeout=20,
                           what="meald's consumer shown stuck")
        assert pid(s, "meald") == p0
        assert metric(s, "meald", 'db_write_errors_total{stmt="md_schedule"}') >= 5
        # Between retries memory holds no meal, as the store (one kept in
        # memory would be taken for a repeat and the event skipped).
        read(s, "meald", "/v1/meals/%s" % oid, ok=(404,))
        assert s.sql("meald", "SELECT count(*) FROM meals WHERE order_id = %s",
                     (oid,))[0][0] == 0
        assert wait_state(s, oid, "released")["state"] == "released"
    o = wait_state(s, oid, "assigned")
    assert metric(s, "meald", stuck) == 0
    st, m = s.http("GET", "meald", "/v1/meals/%s" % oid)
    assert st == 200 and m["status"] == "scheduled", (st, m)
    assert s.sql("meald", "SELECT count(*) FROM meals WHERE order_id = %s", (oid,))[0][0] == 1

    with fault(s, "meald.meals", "P0001", op="UPDATE", when="NEW.status = 'delivered'"):
        st, out = s.http("POST", "meald", "/v1/meals/%s/delivered" % oid, json={})
        assert st == 500 and out["error"] == "internal", (st, out)
        st, m = s.http("GET", "meald", "/v1/meals/%s" % oid)
        stored = s.sql("meald", "SELECT status FROM meals WHERE order_id = %s", (oid,))[0][0]
        assert st == 200 and m["status"] == stored == "scheduled", (m, stored)
    assert pid(s, "meald") == p0
    post(s, "meald", "/v1/meals/%s/delivered" % oid, {})
    o = wait_state(s, oid, "billed")
    assert o["charged_fen"] == o["held_fen"] > 0
    assert s.sql("billingd", "SELECT count(*) FROM holds WHERE order_id = %s",
                 (oid,))[0][0] == 1
    ledger_ok(s)


def test_billingd_refused_hold_reloads_and_topup_answers(system):
    """OrderPlaced's hold refused (P0001 on holds): billingd reloads (memory
    had taken the hold), the balance reads as stored and the ledger check
    finds memory equal to the store; the event is retried and held once
    when the fault goes. A top-up refused with 23514: 422 naming the
    column, the balance unchanged; the same key then tops up once."""
    s = system
    card = new_card(s, new_elder(s), topup_fen=100000)
    p0 = pid(s, "billingd")
    reloads = metric(s, "billingd", "working_set_reloads_total")
    with fault(s, "billingd.holds", "P0001"):
        oid = order(s, card, "cleaning", start=at(3, 9), end=at(3, 12))["order_id"]
        harness.wait_until(
            lambda: metric(s, "billingd", 'db_write_errors_total{stmt="bd_order_placed"}') >= 2
            and metric(s, "billingd", "working_set_reloads_total") >= reloads + 2,
            timeout=20, what="billingd refused the hold twice and reloaded")
        assert pid(s, "billingd") == p0
        # Each retry takes the hold into memory again until the store refuses
        # it; between retries memory is the store's: no hold, the money there.
        # (Kept in memory, as before the reload, it would never go.)
        box = {}

        def quiet_and_equal():
            st, b = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)
            st2, chk = s.http("GET", "billingd", "/v1/ledger/check")
            box["r"] = (st, b, st2, chk)
            return (st == 200 and b["held_fen"] == 0 and b["available_fen"] == 100000
                    and st2 == 200 and chk["memory_checked"] and chk["memory_mismatch"] == [])
        harness.wait_until(quiet_and_equal, timeout=15, interval=0.2,
                           what=lambda: "billingd's memory equals its store: %r" % (box,))
        assert s.sql("billingd", "SELECT count(*) FROM holds WHERE order_id = %s",
                     (oid,))[0][0] == 0
        assert get_state(s, oid) == "placed"
    o = wait_state(s, oid, ("released", "assigned"))
    assert s.sql("billingd", "SELECT count(*) FROM holds WHERE order_id = %s",
                 (oid,))[0][0] == 1
    b = balance(s, card)
    assert b["held_fen"] == o["held_fen"] > 0

    key = str(uuid.uuid4())
    path = "/v1/cards/%s/topups" % card
    body = {"amount_fen": 5000, "source": "family", "reference": "counter"}
    with fault(s, "billingd.topups", "23514", column="amount_fen"):
        st, out = s.http("POST", "billingd", path, json=body, headers={"Idempotency-Key": key})
        assert st == 422 and out["field"] == "amount_fen", (st, out)
        assert balance(s, card)["available_fen"] == b["available_fen"]
    assert pid(s, "billingd") == p0
    st, first = s.http("POST", "billingd", path, json=body, headers={"Idempotency-Key": key})
    assert st == 201, (st, first)
    st, again = s.http("POST", "billingd", path, json=body, headers={"Idempotency-Key": key})
    assert st == 201 and again["topup_id"] == first["topup_id"], (st, again)
    assert balance(s, card)["available_fen"] == b["available_fen"] + 5000
    assert s.sql("billingd", "SELECT count(*) FROM topups WHERE idempotency_key = %s",
                 (key,))[0][0] == 1
    ledger_ok(s)


def get_state(s, oid):
    st, o = s.http("GET", "orderd", "/v1/orders/%s" % oid)
    assert st == 200, (st, o)
    return o["state"]
