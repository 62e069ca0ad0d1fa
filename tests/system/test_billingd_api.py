"""billingd with a real orderd (cards and orders come from orderd's log) and
a real PostgreSQL: top-ups (idempotency, bad input with no stored change),
balances, holds / denials / releases / emergency arrears as orderd's events
arrive, statements, prices, the ledger check, and a kill -9 restart that
reloads the same balances.

dispatchd and meald are not started (orderd and billingd run with those
consumers off), so orders stop at funds_held / released; captures and
delivery evidence are exercised by test_billingd_journey.py with the whole
system."""

import datetime
import os
import random
import time
import uuid

import pytest

import harness

TZ = datetime.timezone(datetime.timedelta(hours=8))
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_seq = iter(range(1, 10**6))
NO_DISPATCH_MEAL = {"dispatchd-log": "", "meald-log": ""}


def id_number(born):
    """A valid resident ID number, unique in this run."""
    n = next(_seq) + random.randint(0, 99) * 10000
    body = "35%04d" % (n // 1000 % 10000) + born + "%03d" % (n % 1000)
    s = sum(int(c) * w for c, w in zip(body, _W))
    return body + "10X98765432"[s % 11]


def at(hours=3):
    d = datetime.datetime.now(TZ) + datetime.timedelta(hours=hours)
    return d.replace(microsecond=0).isoformat()


@pytest.fixture(scope="module")
def s(pg, db):
    for d in ("orderd", "billingd"):
        if not os.access(harness.binary(d), os.X_OK):
            pytest.skip("%s not built yet" % d)
    sysm = harness.System(pg, db, names=("orderd", "billingd"),
                          extra_args={"orderd": dict(NO_DISPATCH_MEAL),
                                      "billingd": dict(NO_DISPATCH_MEAL,
                                                       **{"recon-interval-s": "1"})})
    try:
        sysm.start()
        yield sysm
    finally:
        sysm.cleanup()


def new_card(s, household="none", age=75):
    born = datetime.date.today().replace(year=datetime.date.today().year - age - 1)
    body = {"name": "测试老人", "id_number": id_number(born.strftime("%Y%m%d")),
            "phone": "1380000%04d" % random.randint(0, 9999), "address": "某街道3号",
            "district_id": 4, "lat": 30.25, "lon": 120.17, "birth_date": born.isoformat(),
            "ability_level": "mild", "household": household, "living": "alone"}
    st, e = s.http("POST", "orderd", "/v1/elders", json=body)
    assert st == 201, (st, e)
    st, c = s.http("POST", "orderd", "/v1/cards", json={"elder_id": e["elder_id"]})
    assert st == 201, (st, c)
    card = c["card_id"]
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[0]
                       == 200, 10, what="billingd learns card from CardIssued")
    return card


def balance(s, card):
    st, b = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)
    assert st == 200, (st, b)
    return b


def topup(s, card, amount, key=None, source="family", reference=None, expect=201):
    body = {"amount_fen": amount, "source": source}
    if reference is not None:
        body["reference"] = reference
    st, t = s.http("POST", "billingd", "/v1/cards/%s/topups" % card, json=body,
                   headers={"Idempotency-Key": key or str(uuid.uuid4())})
    assert st == expect, (st, t)
    return t


def order(s, card, service):
    st, o = s.http("POST", "orderd", "/v1/orders",
                   json={"card_id": card, "service": service, "window_start": at(3),
                         "window_end": at(5), "notes": ""},
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 202, (st, o)
    return o["order_id"]


def hold(s, order_id, states=("held", "denied", "captured", "released")):
    def get():
        st, h = s.http("GET", "billingd", "/v1/holds/%s" % order_id)
        return h if st == 200 and h["state"] in states else None
    return harness.wait_until(get, 10, what="billingd decides on %s" % order_id)


def ledger_ok(s):
    st, chk = s.http("GET", "billingd", "/v1/ledger/check")
    assert st == 200, (st, chk)
    assert chk["ok"] is True, chk
    assert chk["memory_checked"] is True, chk
    return chk


def count(s, table):
    return s.sql("postgres", "SELECT count(*) FROM billingd.%s" % table)[0][0]


# ---- top-ups -------------------------------------------------------------------

def test_topup_and_balance(s):
    card = new_card(s)
    assert balance(s, card) == {"card_id": card, "status": "active", "available_fen": 0,
                                "held_fen": 0, "arrears_fen": 0}
    t = topup(s, card, 12345, key="k-%s" % card, reference="bank slip 1")
    assert t["available_fen"] == 12345 and t["amount_fen"] == 12345
    assert t["card_id"] == card and t["source"] == "family"
    assert uuid.UUID(t["topup_id"])
    assert balance(s, card)["available_fen"] == 12345
    topup(s, card, 655, source="allowance")
    assert balance(s, card)["available_fen"] == 13000
    ledger_ok(s)


def test_topup_same_key_same_body_same_result(s):
    card = new_card(s)
    key = "same-%s" % card
    first = topup(s, card, 5000, key=key, reference="r")
    topup(s, card, 100)   # another top-up in between must not change the replay
    again = topup(s, card, 5000, key=key, reference="r")
    assert again == first
    assert balance(s, card)["available_fen"] == 5100
    n = s.sql("postgres", "SELECT count(*) FROM billingd.topups WHERE idempotency_key = %s",
              (key,))[0][0]
    assert n == 1


@pytest.mark.parametrize("change", [{"amount_fen": 5001}, {"source": "subsidy"},
                                    {"reference": "other"}, {"card": True}])
def test_topup_same_key_other_body_409(s, change):
    card = new_card(s)
    key = "conflict-%s" % uuid.uuid4()
    topup(s, card, 5000, key=key, reference="r")
    body = {"amount_fen": 5000, "source": "family", "reference": "r"}
    target = card
    if change.pop("card", False):
        target = new_card(s)
    body.update(change)
    # As admin: a subsidy top-up is theirs to make (an operator's is 403).
    st, e = s.http("POST", "billingd", "/v1/cards/%s/topups" % target, json=body,
                   headers={"Idempotency-Key": key}, role="admin")
    assert st == 409, (st, e)
    assert e["error"] == "idempotency_conflict" and e["field"] == "Idempotency-Key"
    assert balance(s, card)["available_fen"] == 5000
    assert balance(s, target)["available_fen"] == (5000 if target == card else 0)


def test_concurrent_same_key_one_topup(s):
    import threading
    card = new_card(s)
    key = "race-%s" % card
    results = []

    def go():
        results.append(s.http("POST", "billingd", "/v1/cards/%s/topups" % card,
                              json={"amount_fen": 700, "source": "family"},
                              headers={"Idempotency-Key": key}))
    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(st == 201 for st, _ in results), results
    assert len({b["topup_id"] for _, b in results}) == 1, results
    assert balance(s, card)["available_fen"] == 700


BAD = [
    ("malformed json", b"{\"amount_fen\": 1,", {}, 400, "invalid_json", None),
    ("not an object", b"[1, 2]", {}, 400, "not_an_object", None),
    ("missing amount", {"source": "family"}, {}, 400, "missing_field", "amount_fen"),
    ("missing source", {"amount_fen": 100}, {}, 400, "missing_field", "source"),
    ("amount as text", {"amount_fen": "100", "source": "family"}, {}, 400, "wrong_type",
     "amount_fen"),
    ("amount as float", {"amount_fen": 10.5, "source": "family"}, {}, 400, "wrong_type",
     "amount_fen"),
    ("negative amount", {"amount_fen": -100, "source": "family"}, {}, 400, "invalid_value",
     "amount_fen"),
    ("zero amount", {"amount_fen": 0, "source": "family"}, {}, 400, "invalid_value",
     "amount_fen"),
    ("huge amount", {"amount_fen": 10**15, "source": "family"}, {}, 400, "invalid_value",
     "amount_fen"),
    ("unknown source", {"amount_fen": 100, "source": "lottery"}, {}, 400, "invalid_value",
     "source"),
    ("source wrong type", {"amount_fen": 100, "source": 1}, {}, 400, "wrong_type", "source"),
    ("reference wrong type", {"amount_fen": 100, "source": "family", "reference": 7}, {}, 400,
     "wrong_type", "reference"),
    ("reference too long", {"amount_fen": 100, "source": "family", "reference": "x" * 129}, {},
     400, "invalid_value", "reference"),
    ("unknown field", {"amount_fen": 100, "source": "family", "bonus": 5}, {}, 400,
     "unknown_field", "bonus"),
    ("no idempotency key", {"amount_fen": 100, "source": "family"}, {"Idempotency-Key": None},
     400, "missing_header", "Idempotency-Key"),
    ("bad idempotency key", {"amount_fen": 100, "source": "family"},
     {"Idempotency-Key": "has space"}, 400, "invalid_value", "Idempotency-Key"),
    ("oversize body", b"{\"reference\": \"" + b"x" * 100000 + b"\"}", {}, 413,
     "body_too_large", None),
]


@pytest.mark.parametrize("what,body,headers,status,error,field", BAD, ids=[b[0] for b in BAD])
def test_topup_bad_input_changes_nothing(s, what, body, headers, status, error, field):
    card = new_card(s)
    topup(s, card, 1000)
    before = (count(s, "topups"), count(s, "transfers"), count(s, "postings"))
    h = {"Idempotency-Key": "bad-%s" % uuid.uuid4(), "Content-Type": "application/json"}
    h.update(headers)
    h = {k: v for k, v in h.items() if v is not None}
    if isinstance(body, dict):
        st, e = s.http("POST", "billingd", "/v1/cards/%s/topups" % card, json=body, headers=h)
    else:
        st, e = s.http("POST", "billingd", "/v1/cards/%s/topups" % card, body=body, headers=h)
    assert st == status, (what, st, e)
    assert isinstance(e, dict) and "error" in e and "message" in e, (what, e)
    if error:
        assert e["error"] == error, (what, e)
    if field:
        assert e["field"] == field, (what, e)
    assert (count(s, "topups"), count(s, "transfers"), count(s, "postings")) == before, what
    assert balance(s, card)["available_fen"] == 1000
    st, _ = s.http("GET", "billingd", "/readyz")
    assert st == 200, "billingd must survive %s" % what


def test_far_oversize_body_refused(s):
    """Far beyond --max-body evhttp itself refuses from Content-Length (413,
    its own HTML: cc_http documents this); nothing is stored, billingd lives."""
    card = new_card(s)
    before = count(s, "topups")
    try:
        st, _ = s.http("POST", "billingd", "/v1/cards/%s/topups" % card,
                       body=b"{\"reference\": \"" + b"x" * 1000000 + b"\"}",
                       headers={"Idempotency-Key": str(uuid.uuid4())})
        assert st == 413
    except (BrokenPipeError, ConnectionResetError):
        pass   # refused and closed while we were still sending
    assert count(s, "topups") == before
    assert s.http("GET", "billingd", "/readyz")[0] == 200


# A UUID billing never learnt of is an unknown card; a path that is no UUID
# at all names nothing and is refused by the route guard (not_found), before
# any lookup. Either way: 404 naming card_id, nothing stored.
@pytest.mark.parametrize("card,error", [("00000000-0000-4000-8000-000000000000", "unknown_card"),
                                        ("not-a-card", "not_found"), ("%27%3B--", "not_found")])
def test_unknown_card_404(s, card, error):
    before = count(s, "topups")
    st, e = s.http("POST", "billingd", "/v1/cards/%s/topups" % card,
                   json={"amount_fen": 100, "source": "family"},
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 404 and e["error"] == error and e["field"] == "card_id", (st, e)
    for path in ("balance", "transactions"):
        st, e = s.http("GET", "billingd", "/v1/cards/%s/%s" % (card, path))
        assert st == 404 and e["error"] == error and e["field"] == "card_id", (path, st, e)
    assert count(s, "topups") == before


def test_hold_of_no_uuid_is_404(s):
    st, e = s.http("GET", "billingd", "/v1/holds/not-an-order")
    assert st == 404 and e["error"] == "not_found" and e["field"] == "order_id", (st, e)


def test_card_status_follows_orderd(s):
    card = new_card(s)
    topup(s, card, 500)

    def status(want):
        return lambda: balance(s, card)["status"] == want
    st, r = s.http("POST", "orderd", "/v1/cards/%s/status" % card, json={"status": "blocked"})
    assert st == 200, (st, r)
    harness.wait_until(status("blocked"), 10, what="billingd sees the card blocked")
    # A lost card keeps its money and may still be topped up.
    assert topup(s, card, 100)["available_fen"] == 600
    st, r = s.http("POST", "orderd", "/v1/cards/%s/status" % card, json={"status": "closed"})
    assert st == 200, (st, r)
    harness.wait_until(status("closed"), 10, what="billingd sees the card closed")
    before = count(s, "topups")
    st, e = s.http("POST", "billingd", "/v1/cards/%s/topups" % card,
                   json={"amount_fen": 100, "source": "family"},
                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 409 and e["error"] == "card_closed" and e["field"] == "card_id", (st, e)
    assert count(s, "topups") == before
    assert balance(s, card)["available_fen"] == 600
    assert s.sql("postgres", "SELECT status FROM billingd.cards WHERE card_id = %s",
                 (card,))[0][0] == "closed"


# ---- holds from orderd's events ---------------------------------------------------

def test_hold_then_cancel_releases(s):
    card = new_card(s)
    topup(s, card, 10000)
    oid = order(s, card, "bath")
    h = hold(s, oid)
    assert (h["state"], h["price_fen"], h["held_fen"], h["subsidy_fen"]) == \
        ("held", 6000, 6000, 0), h
    b = balance(s, card)
    assert (b["available_fen"], b["held_fen"]) == (4000, 6000)
    st, _ = s.http("POST", "orderd", "/v1/orders/%s/cancel" % oid, json={})
    assert st in (200, 202), st
    h = hold(s, oid, ("released",))
    b = balance(s, card)
    assert (b["available_fen"], b["held_fen"]) == (10000, 0)
    # One FundsHeld and one HoldReleased for the order, whatever was redelivered.
    rows = s.sql("postgres", "SELECT type FROM billingd.events WHERE key = %s ORDER BY seq",
                 (oid,))
    assert [r[0] for r in rows] == ["FundsHeld", "HoldReleased"]
    ledger_ok(s)


def test_too_little_money_is_denied(s):
    card = new_card(s)
    topup(s, card, 5999)
    oid = order(s, card, "bath")
    h = hold(s, oid)
    assert (h["state"], h["reason"]) == ("denied", "insufficient_funds"), h
    assert balance(s, card) == {"card_id": card, "status": "active", "available_fen": 5999,
                                "held_fen": 0, "arrears_fen": 0}

    def denied():
        st, o = s.http("GET", "orderd", "/v1/orders/%s" % oid)
        return st == 200 and o["state"] == "denied"
    harness.wait_until(denied, 20, what="orderd sees FundsDenied")


def test_subsidy_rules_apply(s):
    tekun = new_card(s, household="tekun")
    h = hold(s, order(s, tekun, "bath"))
    assert (h["state"], h["subsidy_fen"], h["held_fen"]) == ("held", 6000, 0), h
    dibao = new_card(s, household="dibao")
    topup(s, dibao, 3000)
    h = hold(s, order(s, dibao, "bath"))
    assert (h["state"], h["subsidy_fen"], h["held_fen"]) == ("held", 3000, 3000), h
    assert balance(s, dibao)["available_fen"] == 0
    ledger_ok(s)


def test_emergency_books_arrears_and_topup_pays_them(s):
    card = new_card(s)
    topup(s, card, 1000)
    oid = order(s, card, "emergency")
    h = hold(s, oid)
    assert (h["state"], h["held_fen"], h["arrears_fen"]) == ("held", 8000, 7000), h
    assert balance(s, card) == {"card_id": card, "status": "active", "available_fen": 0,
                                "held_fen": 8000, "arrears_fen": 7000}
    t = topup(s, card, 10000)
    assert t["available_fen"] == 3000
    b = balance(s, card)
    assert (b["available_fen"], b["arrears_fen"]) == (3000, 0)
    st, stmt = s.http("GET", "billingd", "/v1/cards/%s/transactions" % card)
    assert st == 200
    kinds = [l["kind"] for l in stmt["transactions"]]
    assert kinds == ["topup", "hold", "topup"], kinds
    newest = stmt["transactions"][0]
    assert (newest["arrears_fen"], newest["available_fen"]) == (-7000, 3000), newest
    assert newest["after"] == {"available_fen": 3000, "held_fen": 8000, "arrears_fen": 0}
    ledger_ok(s)


# ---- prices, statement, check, restart ----------------------------------------------

def test_prices(s):
    st, p = s.http("GET", "billingd", "/v1/prices")
    assert st == 200
    prices = {x["service"]: x["price_fen"] for x in p["prices"]}
    assert prices["bath"] == 6000 and prices["visit"] == 0 and len(prices) == 8
    st, e = s.http("PUT", "billingd", "/v1/prices/massage", json={"price_fen": 100})
    assert st == 404 and e["field"] == "service", (st, e)
    st, e = s.http("PUT", "billingd", "/v1/prices/cleaning", json={"price_fen": -1})
    assert st == 400 and e["field"] == "price_fen", (st, e)
    st, e = s.http("PUT", "billingd", "/v1/prices/cleaning", json={"price": 1})
    assert st == 400 and e["field"] == "price", (st, e)
    st, r = s.http("PUT", "billingd", "/v1/prices/cleaning", json={"price_fen": 4200})
    assert (st, r) == (200, {"service": "cleaning", "price_fen": 4200})
    card = new_card(s)
    topup(s, card, 5000)
    h = hold(s, order(s, card, "cleaning"))
    assert h["price_fen"] == 4200
    assert s.sql("postgres", "SELECT price_fen FROM billingd.prices WHERE service = "
                 "'cleaning'")[0][0] == 4200


def test_statement_limit(s):
    card = new_card(s)
    for i in range(5):
        topup(s, card, 100 + i)
    st, stmt = s.http("GET", "billingd", "/v1/cards/%s/transactions?limit=2" % card)
    assert st == 200 and len(stmt["transactions"]) == 2
    assert stmt["transactions"][0]["after"]["available_fen"] == 510
    for bad in ("0", "1001", "x", ""):
        st, e = s.http("GET", "billingd", "/v1/cards/%s/transactions?limit=%s" % (card, bad))
        assert st == 400 and e["field"] == "limit", (bad, st, e)


def test_kill9_restart_reloads_the_same_ledger(s):
    card = new_card(s)
    topup(s, card, 20000, key="restart-%s" % card)
    hold(s, order(s, card, "escort"))
    before = balance(s, card)
    chk = ledger_ok(s)
    s.kill9("billingd")
    s.restart("billingd")
    assert balance(s, card) == before
    after = ledger_ok(s)
    assert after["totals"] == chk["totals"]
    assert after["transfers"] == chk["transfers"]
    # The key is remembered across the restart.
    again = topup(s, card, 20000, key="restart-%s" % card)
    assert again["available_fen"] == 20000
    assert balance(s, card) == before
    # And billingd keeps applying orderd's events after it.
    h = hold(s, order(s, card, "escort"))
    assert h["state"] == "held"
    assert balance(s, card)["held_fen"] == 6000
    ledger_ok(s)


def test_metrics(s):
    card = new_card(s)
    hold(s, order(s, card, "meal"))   # an empty card: denied
    m = s.metrics("billingd")
    assert m.get("billingd_holds_total", 0) >= 1, m
    assert 'billingd_money_fen{kind="available"}' in m
    assert any(k.startswith("billingd_denials_total") for k in m), m


# ---- the events billingd appends, decoded, and its log socket under garbage -------

@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """proto/*.proto compiled for Python with protoc (Debian's protobuf-compiler)."""
    import importlib
    import shutil
    import subprocess
    import sys
    if not shutil.which("protoc"):
        pytest.skip("protoc not installed")
    out = tmp_path_factory.mktemp("pb")
    proto = os.path.join(harness.ROOT, "proto")
    subprocess.run(["protoc", "-I", proto, "--python_out", str(out),
                    os.path.join(proto, "envelope.proto"), os.path.join(proto, "events.proto")],
                   check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("events_pb2")
    finally:
        sys.path.remove(str(out))


def events_of(s, key):
    return s.sql("postgres", "SELECT type, payload, district_id FROM billingd.events "
                 "WHERE key = %s ORDER BY seq", (key,))


def test_event_payloads(s, pb):
    card = new_card(s, household="dibao")
    topup(s, card, 1000)
    emergency = order(s, card, "emergency")
    hold(s, emergency)
    denied = order(s, card, "bath")   # 3000 needed, 0 left
    hold(s, denied)
    (t, payload, district), = events_of(s, emergency)
    assert (t, district) == ("FundsHeld", 4)
    fh = pb.FundsHeld.FromString(bytes(payload))
    assert (fh.order_id, fh.card_id) == (emergency, card)
    assert (fh.price_fen, fh.subsidy_fen, fh.held_fen, fh.arrears_fen) == (8000, 4000, 4000, 3000)
    (t, payload, _), = events_of(s, denied)
    assert t == "FundsDenied"
    fd = pb.FundsDenied.FromString(bytes(payload))
    assert (fd.order_id, fd.price_fen, fd.available_fen, fd.reason) == \
        (denied, 6000, 0, "insufficient_funds")
    st, _ = s.http("POST", "orderd", "/v1/orders/%s/cancel" % emergency, json={})
    hold(s, emergency, ("released",))
    t, payload, _ = events_of(s, emergency)[-1]
    assert t == "HoldReleased"
    hr = pb.HoldReleased.FromString(bytes(payload))
    # 4000 comes back: 3000 pays the emergency's own arrears, 1000 is available.
    assert (hr.released_fen, hr.arrears_paid_fen) == (4000, 3000)
    assert balance(s, card) == {"card_id": card, "status": "active", "available_fen": 1000,
                                "held_fen": 0, "arrears_fen": 0}


def test_log_socket_survives_garbage(s):
    """Garbage, a wrong type and an oversize frame on billingd's event-log
    ROUTER are dropped; billingd keeps serving and applying."""
    zmq = pytest.importorskip("zmq")
    ctx = zmq.Context()
    try:
        # As a listed consumer (orderd's key): the garbage gets past CURVE.
        sock = s.zmq_socket(ctx, zmq.DEALER, "billingd", me="orderd")
        sock.connect(s.daemons["billingd"].log_endpoint)
        sock.send(b"\xff\x00garbage")
        sock.send_multipart([b"a", b"b", b"c"])
        sock.send(b"\x0a" + b"x" * 100)           # truncated protobuf field
        sock.send(b"y" * (200 * 1024))             # over the request cap
        time.sleep(0.3)
        sock.close()
    finally:
        ctx.term()
    assert s.http("GET", "billingd", "/readyz")[0] == 200
    card = new_card(s)
    topup(s, card, 3000)
    assert hold(s, order(s, card, "escort"))["state"] == "held"


def test_reconciliation_timer_flags_a_delivery_never_captured(s):
    """A delivery report with no capture (planted in the table: dispatchd is
    not running here) shows in /v1/reconciliation and in the timer's gauge."""
    card = new_card(s)
    topup(s, card, 5000)
    oid = order(s, card, "escort")
    hold(s, oid)
    key = 'billingd_reconciliation_items{kind="delivered_uncaptured"}'
    harness.wait_until(lambda: s.metrics("billingd").get(key) == 0, 10,
                       what="timer ran with nothing to report")
    s.sql("postgres", "INSERT INTO billingd.deliveries (order_id, producer, provider_id, "
          "completed_at, event_id, recorded_at) VALUES (%s, 'dispatchd', 'prov-x', now(), "
          "gen_random_uuid(), now() - interval '1 hour')", (oid,))
    st, r = s.http("GET", "billingd", "/v1/reconciliation?grace_s=0")
    assert st == 200 and r["ok"] is False, r
    assert [(x["order_id"], x["hold_state"]) for x in r["delivered_uncaptured"]] == \
        [(oid, "held")], r
    harness.wait_until(lambda: s.metrics("billingd").get(key) == 1, 10,
                       what="timer reports the mismatch")
    assert any(l.get("event") == "reconciliation_mismatch"
               for l in s.daemons["billingd"].log_lines())
    s.sql("postgres", "DELETE FROM billingd.deliveries WHERE order_id = %s", (oid,))
    harness.wait_until(lambda: s.metrics("billingd").get(key) == 0, 10,
                       what="timer clears the gauge")


def test_ledger_check_reports_planted_violations_by_kind(s):
    """GET /v1/ledger/check names each kind of violation planted under the
    running daemon (past the triggers, as the superuser), and is clean again
    once they are taken out."""
    card = new_card(s)
    topup(s, card, 9000)
    oid = order(s, card, "bath")
    hold(s, oid, ("held",))
    ledger_ok(s)
    avail, held = "card:%s:available" % card, "card:%s:held" % card
    unbal, ghost_t, ghost = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    plant = [
        # an unbalanced transfer
        "INSERT INTO transfers (transfer_id, kind, card_id) VALUES ('%s', 'topup', '%s')"
        % (unbal, card),
        "INSERT INTO postings VALUES ('%s', 'source:family', -10)" % unbal,
        # money held for an order billingd never opened, overdrawing the card
        "INSERT INTO transfers (transfer_id, kind, card_id, order_id) "
        "VALUES ('%s', 'hold', '%s', '%s')" % (ghost_t, card, ghost),
        "INSERT INTO postings VALUES ('%s', '%s', -5000), ('%s', '%s', 5000)"
        % (ghost_t, avail, ghost_t, held),
        # a stored balance that is not its postings' sum
        "UPDATE accounts SET balance = balance + 7 WHERE account = '%s'" % held,
        # an open hold whose amount is not what its order holds
        "UPDATE holds SET held_fen = held_fen + 1, price_fen = price_fen + 1 "
        "WHERE order_id = '%s'" % oid,
    ]
    s.sql("postgres", "SET search_path = billingd; SET session_replication_role = replica; "
          + "; ".join(plant))
    try:
        st, chk = s.http("GET", "billingd", "/v1/ledger/check")
        assert st == 200 and chk["ok"] is False, chk
        assert chk["unbalanced"] == [{"transfer_id": unbal, "sum_fen": -10}], chk
        assert {(n["account"], n["balance_fen"]) for n in chk["negative"]} == {
            (avail, 9000 - 6000 - 5000)}, chk
        assert {(x["account"], x["stored_fen"] - x["postings_fen"])
                for x in chk["stale_balances"]} == {
            (avail, 5000), (held, 7 - 5000), ("source:family", 10)}, chk
        assert [(x["order_id"], x["held_fen"], x["hold_state"])
                for x in chk["holds_without_order"]] == [(ghost, 5000, None)], chk
        assert [(x["order_id"], x["hold_fen"], x["held_account_fen"])
                for x in chk["hold_amount_mismatch"]] == [(oid, 6001, 6000)], chk
        assert chk["holds_mismatch"] == [{"card_id": card, "open_holds_fen": 6001,
                                          "held_account_fen": 11000}], chk
        # memory never saw the planted postings
        assert {x["account"] for x in chk["memory_mismatch"]} >= {avail, held}, chk
    finally:
        s.sql("postgres", "SET search_path = billingd; SET session_replication_role = replica; "
              "DELETE FROM postings WHERE transfer_id IN ('%s', '%s'); "
              "DELETE FROM transfers WHERE transfer_id IN ('%s', '%s'); "
              "UPDATE accounts SET balance = balance - 7 WHERE account = '%s'; "
              "UPDATE holds SET held_fen = held_fen - 1, price_fen = price_fen - 1 "
              "WHERE order_id = '%s'" % (unbal, ghost_t, unbal, ghost_t, held, oid))
    ledger_ok(s)
