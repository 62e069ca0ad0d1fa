"""billingd in the whole system (four real daemons): a bath is held, done and
captured exactly once, the provider is owed the price (card part plus the
subsidy fund's part), dispatchd's VisitCompleted is recorded as delivery
evidence and reconciliation agrees; a meal-less, visit-less failure releases."""

import datetime
import os
import random
import uuid

import pytest

import harness

TZ = datetime.timezone(datetime.timedelta(hours=8))
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_seq = iter(range(1, 10**6))


def id_number(born="19400101"):
    n = next(_seq) + random.randint(0, 99) * 10000
    body = "36%04d" % (n // 1000 % 10000) + born + "%03d" % (n % 1000)
    s = sum(int(c) * w for c, w in zip(body, _W))
    return body + "10X98765432"[s % 11]


def at(days=1, hour=10):
    d = datetime.datetime.now(TZ) + datetime.timedelta(days=days)
    return d.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


def post(s, daemon, path, body, key=None):
    st, out = s.http("POST", daemon, path, json=body,
                     headers={"Idempotency-Key": key} if key else None)
    assert st in (200, 201, 202), (daemon, path, st, out)
    return out


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """proto/events.proto compiled for Python (protoc), to decode payloads."""
    import importlib
    import shutil
    import subprocess
    import sys
    if not shutil.which("protoc"):
        pytest.skip("protoc not installed")
    out = tmp_path_factory.mktemp("pb")
    proto = os.path.join(harness.ROOT, "proto")
    subprocess.run(["protoc", "-I", proto, "--python_out", str(out),
                    os.path.join(proto, "events.proto")], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("events_pb2")
    finally:
        sys.path.remove(str(out))


def test_bath_is_captured_once_with_delivery_evidence(system, pb):
    s = system
    elder = post(s, "orderd", "/v1/elders", {
        "name": "测试老人", "id_number": id_number(), "phone": "1391111%04d"
        % random.randint(0, 9999), "address": "某街道9号", "district_id": 2,
        "lat": 30.2741, "lon": 120.1551, "birth_date": "1940-01-01",
        "ability_level": "mild", "household": "dibao", "living": "alone"})["elder_id"]
    card = post(s, "orderd", "/v1/cards", {"elder_id": elder})["card_id"]
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[0]
                       == 200, 15, what="billingd knows the card")
    post(s, "billingd", "/v1/cards/%s/topups" % card,
         {"amount_fen": 10000, "source": "family"}, key=str(uuid.uuid4()))
    cg = post(s, "dispatchd", "/v1/caregivers", {
        "name": "护理员", "provider_id": "prov-bd", "district_id": 2, "lat": 30.2745,
        "lon": 120.1555, "skills": ["bath"], "level": 2, "first_aid": True,
        "shift_start": "00:00", "shift_end": "23:59"})["caregiver_id"]
    oid = post(s, "orderd", "/v1/orders", {"card_id": card, "service": "bath",
                                           "window_start": at(1, 9), "window_end": at(1, 12),
                                           "notes": ""}, key=str(uuid.uuid4()))["order_id"]

    def order():
        st, o = s.http("GET", "orderd", "/v1/orders/%s" % oid)
        assert st == 200, (st, o)
        return o
    o = harness.wait_until(lambda: order()["state"] == "assigned" and order(), 20,
                           what="order assigned")
    # dibao: half of 6000 from the subsidy fund, half held on the card.
    st, h = s.http("GET", "billingd", "/v1/holds/%s" % oid)
    assert (h["state"], h["subsidy_fen"], h["held_fen"]) == ("held", 3000, 3000), h
    visit = o["visit_id"]
    post(s, "dispatchd", "/v1/visits/%s/accept" % visit, {"caregiver_id": cg})
    post(s, "dispatchd", "/v1/visits/%s/check-in" % visit,
         {"caregiver_id": cg, "lat": 30.2741, "lon": 120.1551})
    post(s, "dispatchd", "/v1/visits/%s/check-out" % visit,
         {"caregiver_id": cg, "lat": 30.2741, "lon": 120.1551})
    harness.wait_until(lambda: order()["state"] == "billed", 20, what="order billed")

    def captured_with_delivery():
        st, h = s.http("GET", "billingd", "/v1/holds/%s" % oid)
        return st == 200 and h["state"] == "captured" and h["delivery"] and h
    h = harness.wait_until(captured_with_delivery, 20, what="capture and delivery evidence")
    assert h["provider_id"] == "prov-bd"
    assert h["delivery"]["producer"] == "dispatchd"
    assert h["delivery"]["provider_id"] == "prov-bd"
    assert h["delivery"]["distance_m"] is not None and h["delivery"]["distance_m"] < 200
    st, b = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)
    assert (b["available_fen"], b["held_fen"], b["arrears_fen"]) == (7000, 0, 0), b
    # Exactly one capture transfer for the order; the provider got 6000.
    rows = s.sql("postgres", "SELECT t.kind, p.account, p.amount FROM billingd.transfers t "
                 "JOIN billingd.postings p USING (transfer_id) WHERE t.order_id = %s "
                 "AND t.kind = 'capture' ORDER BY p.account", (oid,))
    assert sorted((r[1], r[2]) for r in rows) == sorted([
        ("card:%s:held" % card, -3000), ("provider:prov-bd", 6000), ("subsidy_fund", -3000)])
    rows = s.sql("postgres", "SELECT type, payload FROM billingd.events WHERE key = %s "
                 "ORDER BY seq", (oid,))
    assert [r[0] for r in rows] == ["FundsHeld", "HoldCaptured"]
    hc = pb.HoldCaptured.FromString(bytes(rows[1][1]))
    assert (hc.order_id, hc.card_id, hc.charged_fen, hc.subsidy_fen, hc.provider_id) == \
        (oid, card, 3000, 3000, "prov-bd")
    st, r = s.http("GET", "billingd", "/v1/reconciliation?grace_s=0")
    assert st == 200, r
    mine = [x for x in r["captured_undelivered"] + r["delivered_uncaptured"]
            + r["provider_mismatch"] if x.get("order_id") == oid]
    assert mine == [], r
    st, chk = s.http("GET", "billingd", "/v1/ledger/check")
    assert st == 200 and chk["ok"] is True, chk


def test_reconciliation_bad_input(system):
    for bad in ("-1", "x", "86401", ""):
        st, e = system.http("GET", "billingd", "/v1/reconciliation?grace_s=%s" % bad)
        assert st == 400 and e["field"] == "grace_s", (bad, st, e)
