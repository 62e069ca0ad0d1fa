"""Alarms (issue 13, docs/ALARMS.md) on the four real daemons: an alarm
makes an emergency order at once (an elder with no card: the fund pays; a
blocked card: still an emergency, arrears); the elder's contacts are
notified through the outbox to an SMS gateway, here a REAL local HTTP
server (http.server in a thread) that answers what each test plans;
retries, receipts, escalation; one alarm per device and time over HTTP and
ZeroMQ; bad alarms refused naming the field, or counted on ZeroMQ."""

import http.server
import json
import threading
import time
import uuid

import pytest
import zmq

import harness
from test_journeys import (balance, get_order, ledger_ok, new_card, new_elder, post,
                           visit_step, wait_state)

ESCALATE_S = 3


# ---- the SMS gateway: a real HTTP server ------------------------------------------
class Gateway:
    """Records every POST; answers the statuses planned for a phone number
    (in order), then 200 with a message id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.plan = {}
        gw = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                with gw.lock:
                    gw.requests.append((self.path, body))
                    todo = gw.plan.get(body.get("to"), [])
                    status = todo.pop(0) if todo else 200
                out = json.dumps({"message_id": "m-%s" % body.get("notification_id")}
                                 if status == 200 else {"error": "busy"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, phone):
        with self.lock:
            return [b for _, b in self.requests if b.get("to") == phone]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def gw():
    g = Gateway()
    yield g
    g.close()


@pytest.fixture(scope="module")
def s(need_daemons, pg, db, gw):
    ep = "tcp://127.0.0.1:%d" % harness.free_port()
    sysm = harness.System(pg, db, extra_args={"orderd": {
        "alarm-endpoint": ep, "alarm-clients": "telephony",
        "notify-url": "http://127.0.0.1:%d/sms" % gw.port,
        "alarm-escalate-s": str(ESCALATE_S), "notify-backoff-ms": "200",
        "notify-timeout-s": "2"}})
    sysm.alarm_endpoint = ep
    try:
        sysm.start()
        yield sysm
    finally:
        sysm.cleanup()


# ---- contacts, through the elder's PATCH (services/orderd/od_elders.c) -----------------
def add_contact(s, elder, priority, relation="child"):
    """One more contact for the elder, as an operator sets it (the list is
    replaced whole); its id and its phone, unique in the run."""
    st, e = s.http("GET", "orderd", "/v1/elders/%s" % elder, role="operator")
    assert st == 200, (st, e)
    phone = "1390%07d" % (uuid.uuid4().int % 10000000)
    keep = [{k: c[k] for k in ("priority", "relation", "name", "phone")}
            for c in e.get("contacts", [])]
    keep.append({"priority": priority, "relation": relation, "name": "联系人", "phone": phone})
    st, e = s.http("PATCH", "orderd", "/v1/elders/%s" % elder, role="operator",
                   json={"contacts": keep})
    assert st == 200, (st, e)
    st, e = s.http("GET", "orderd", "/v1/elders/%s" % elder, role="operator")
    cid = [c["contact_id"] for c in e["contacts"] if c["phone"] == phone][0]
    return cid, phone


def now_iso(offset_s=0.0):
    import datetime
    t = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    return (t + datetime.timedelta(seconds=offset_s)).isoformat(timespec="microseconds")


def alarm(s, elder, device=None, kind="fall", at=None, expect=(201,), role="service"):
    body = {"device_id": device or "dev-%s" % uuid.uuid4().hex[:12], "elder_id": elder,
            "kind": kind, "at": at or now_iso()}
    st, out = s.http("POST", "orderd", "/v1/alarms", json=body, role=role)
    assert st in expect, (st, out)
    return out


def get_alarm(s, aid):
    st, a = s.http("GET", "orderd", "/v1/alarms/%s" % aid)
    assert st == 200, (st, a)
    return a


def complete(s, oid):
    """Serve an emergency order to the end (a medic nearby), then billed."""
    start, end = harness.all_day_shift()   # an alarm at 23:00 is served too
    post(s, "dispatchd", "/v1/caregivers", {
        "name": "急救员", "provider_id": "prov-1", "district_id": 1, "lat": 30.2745,
        "lon": 120.1555, "skills": ["emergency"], "level": 1, "first_aid": True,
        "shift_start": start, "shift_end": end})
    o = wait_state(s, oid, "assigned")
    for step in ("accept", "check-in", "check-out"):
        visit_step(s, o["visit_id"], step, o["caregiver_id"], lat=30.2741, lon=120.1551)
    return wait_state(s, oid, "billed")


def hold(s, oid):
    rows = s.sql("billingd", "SELECT card_id, state, price_fen, subsidy_fen, held_fen, "
                 "arrears_fen FROM billingd.holds WHERE order_id = %s", (oid,))
    return dict(zip(("card_id", "state", "price_fen", "subsidy_fen", "held_fen",
                     "arrears_fen"), rows[0])) if rows else None


def metric(s, name):
    return s.metrics("orderd").get(name, 0)


# ---- the tests --------------------------------------------------------------------------
def test_alarm_for_elder_without_card_is_billed_to_the_fund(s, gw):
    elder = new_elder(s)
    _, phone = add_contact(s, elder, 1)
    a = alarm(s, elder, kind="fall")
    o = get_order(s, a["order_id"])
    assert o["card_id"] is None and o["service"] == "emergency" and o["emergency"]
    # The fund pays the whole price: a hold on no card, nothing held anywhere.
    harness.wait_until(lambda: hold(s, a["order_id"]), timeout=15, what="billingd decided")
    h = hold(s, a["order_id"])
    assert h["card_id"] == "" and h["state"] == "held", h
    assert h["subsidy_fen"] == h["price_fen"] > 0 and h["held_fen"] == 0, h
    o = complete(s, a["order_id"])
    assert o["charged_fen"] == 0
    h = hold(s, a["order_id"])
    assert h["state"] == "captured"
    fund = s.sql("billingd", "SELECT sum(p.amount) FROM billingd.postings p "
                 "JOIN billingd.transfers t USING (transfer_id) "
                 "WHERE t.order_id = %s AND p.account = 'subsidy_fund'", (a["order_id"],))
    assert fund[0][0] == -h["price_fen"]
    ledger_ok(s)
    # The contact was told (the gateway got the phone; orderd's log did not).
    harness.wait_until(lambda: gw.to(phone), timeout=10, what="notification sent")
    sent = gw.to(phone)[0]
    assert sent["alarm_id"] == a["alarm_id"] and sent["kind"] == "fall"
    assert phone not in s.daemons["orderd"].log_text()


def test_a_card_less_order_survives_an_orderd_crash(s):
    """orderd loads an open order without a card at start (its elder's)
    and still moves it along the saga to billed."""
    elder = new_elder(s)
    a = alarm(s, elder, kind="other")
    harness.wait_until(lambda: hold(s, a["order_id"]), timeout=15, what="billingd decided")
    s.kill9("orderd")
    s.restart("orderd")
    o = complete(s, a["order_id"])
    assert o["card_id"] is None and hold(s, a["order_id"])["state"] == "captured"
    ledger_ok(s)


def test_operator_emergency_for_an_elder_without_card(s):
    """The call centre places an emergency for an elder with no card by
    elder_id: the same saga, the fund pays; other services need a card."""
    elder = new_elder(s)
    key = str(uuid.uuid4())
    body = {"elder_id": elder, "service": "emergency", "window_start": now_iso(),
            "window_end": now_iso(3600)}
    o = post(s, "orderd", "/v1/orders", body, key=key, expect=(202,))
    again = post(s, "orderd", "/v1/orders", body, key=key, expect=(200,))
    assert again["order_id"] == o["order_id"]
    st, doc = s.http("POST", "orderd", "/v1/orders", json={"elder_id": elder, "service": "bath"},
                     headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 422 and doc["error"] == "no_card" and doc["field"] == "card_id", (st, doc)
    st, doc = s.http("POST", "orderd", "/v1/orders", json={"elder_id": str(uuid.uuid4()),
                     "service": "emergency"}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 422 and doc["field"] == "elder_id", (st, doc)
    assert get_order(s, o["order_id"])["card_id"] is None
    o = complete(s, o["order_id"])
    h = hold(s, o["order_id"])
    assert h["card_id"] == "" and h["state"] == "captured" and h["subsidy_fen"] > 0, h
    ledger_ok(s)


def test_a_card_less_order_that_is_no_emergency_is_denied(s):
    """The control of the fund rule: billingd denies no_card for an order
    without a card that is neither an emergency nor mandated (planted in
    orderd's log as an OrderPlaced orderd itself never writes)."""
    elder = new_elder(s)
    oid = str(uuid.uuid4())
    # An OrderPlaced with card_id "" for a bath, hand-encoded (proto/events.proto).
    placed = (_pb_str(1, oid) + _pb_str(2, "") + _pb_str(3, elder) + _pb_int(4, 2)
              + _pb_int(5, int(time.time() * 1e6) + 3600 * 10**6)
              + _pb_int(6, int(time.time() * 1e6) + 7200 * 10**6) + _pb_int(7, 1)
              + _pb_str(10, "none") + _pb_int(11, 80))
    s.sql("orderd", "SELECT cc_append('OrderPlaced', %s, %s, 1, %s)",
          (str(uuid.uuid4()), oid, placed))
    harness.wait_until(lambda: hold(s, oid), timeout=15, what="billingd decided")
    h = hold(s, oid)
    assert h["state"] == "denied" and h["card_id"] == "", h
    reason = s.sql("billingd", "SELECT reason FROM billingd.holds WHERE order_id = %s", (oid,))
    assert reason[0][0] == "no_card"


def test_alarm_for_a_blocked_card_is_still_an_emergency(s):
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=0)
    post(s, "orderd", "/v1/cards/%s/status" % card, {"status": "blocked"})
    harness.wait_until(lambda: s.sql("billingd", "SELECT status FROM billingd.cards WHERE "
                                      "card_id = %s", (card,))[0][0] == "blocked",
                       timeout=15, what="billingd knows the card is blocked")
    # An ordinary order on it is refused; the alarm is not.
    st, doc = s.http("POST", "orderd", "/v1/orders", json={
        "card_id": card, "service": "emergency"}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st == 422 and doc["field"] == "card_id", (st, doc)
    a = alarm(s, elder, kind="sos")
    o = get_order(s, a["order_id"])
    assert o["card_id"] == card
    harness.wait_until(lambda: hold(s, a["order_id"]), timeout=15, what="billingd decided")
    h = hold(s, a["order_id"])
    assert h["state"] == "held" and h["card_id"] == card, h
    assert h["arrears_fen"] == h["held_fen"] > 0, h   # an empty card: all of it is debt
    o = complete(s, a["order_id"])
    assert balance(s, card)["arrears_fen"] == o["charged_fen"] > 0
    ledger_ok(s)


def test_notification_retried_after_500s_then_receipt(s, gw):
    elder = new_elder(s)
    _, phone = add_contact(s, elder, 1, relation="spouse")
    with gw.lock:
        gw.plan[phone] = [500, 500]
    retries = metric(s, 'orderd_notifications_total{outcome="retry"}')
    a = alarm(s, elder, kind="smoke")
    harness.wait_until(lambda: len(gw.to(phone)) >= 3, timeout=15, what="three attempts")
    got = gw.to(phone)
    assert [g["attempt"] for g in got] == [1, 2, 3], got

    def sent():
        n = get_alarm(s, a["alarm_id"])["notifications"]
        return n[0] if n and n[0]["state"] == "sent" else None
    n = harness.wait_until(sent, timeout=10, what="marked sent")
    assert n["attempts"] == 3 and n["message_id"] == "m-%s" % n["id"]
    assert n["relation"] == "spouse" and "to" not in n and phone not in json.dumps(n)
    assert metric(s, 'orderd_notifications_total{outcome="retry"}') >= retries + 2
    # A receipt before it is known is refused; the gateway's receipt marks it.
    st, doc = s.http("POST", "orderd", "/v1/notifications/%s/receipt" % uuid.uuid4(),
                     json={"status": "delivered"}, role="service")
    assert st == 404 and doc["field"] == "id"
    st, doc = s.http("POST", "orderd", got[-1]["receipt_path"],
                     json={"status": "delivered", "message_id": n["message_id"]},
                     role="service")
    assert st == 200 and doc["state"] == "delivered", (st, doc)
    assert get_alarm(s, a["alarm_id"])["notifications"][0]["state"] == "delivered"
    assert len(gw.to(phone)) == 3   # nothing sent after success
    assert phone not in s.daemons["orderd"].log_text()


def test_escalation_only_when_nobody_acknowledges(s, gw):
    elder = new_elder(s)
    add_contact(s, elder, 1)
    esc = metric(s, "orderd_alarms_escalated_total")
    left = alarm(s, elder, kind="gas")
    acked = alarm(s, elder, kind="fall")
    st, doc = s.http("POST", "orderd", "/v1/alarms/%s/ack" % acked["alarm_id"],
                     json={"via": "contact"}, role="operator")
    assert st == 200 and doc["state"] == "acknowledged", (st, doc)

    def queued():
        st, q = s.http("GET", "orderd", "/v1/alarms?state=escalated&limit=500")
        return st == 200 and {x["alarm_id"] for x in q["alarms"]}
    ids = harness.wait_until(lambda: left["alarm_id"] in (queued() or ()),
                             timeout=ESCALATE_S + 10, what="escalated")
    assert ids
    assert acked["alarm_id"] not in queued()
    a = get_alarm(s, acked["alarm_id"])
    assert a["state"] == "acknowledged" and a["acknowledged_by"].endswith("(contact)")
    assert metric(s, "orderd_alarms_escalated_total") >= esc + 1
    # The call centre acknowledges the escalated one: it leaves the queue.
    st, _ = s.http("POST", "orderd", "/v1/alarms/%s/ack" % left["alarm_id"], role="operator")
    assert st == 200 and left["alarm_id"] not in queued()
    st, doc = s.http("POST", "orderd", "/v1/alarms/%s/ack" % uuid.uuid4(), role="operator")
    assert st == 404


# ---- ZeroMQ -------------------------------------------------------------------------------
def _varint(v):
    out = b""
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _pb_str(field, text):
    b = text.encode() if isinstance(text, str) else text
    return _varint((field << 3) | 2) + _varint(len(b)) + b


def _pb_int(field, v):
    return _varint(field << 3) + _varint(v)


def _pb_fields(data):
    """Minimal protobuf decoding: {field: value} (varint or bytes)."""
    out, i = {}, 0
    while i < len(data):
        key, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        field, wt = key >> 3, key & 7
        v, shift = 0, 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if wt == 2:
            out[field] = data[i:i + v]
            i += v
        else:
            out[field] = v
    return out


def raise_request(device, elder, kind, at_us, type_="RaiseAlarm"):
    ra = _pb_str(1, device) + _pb_str(2, elder) + _pb_str(3, kind) + _pb_int(4, at_us)
    return _pb_str(1, type_) + _pb_str(2, str(uuid.uuid4())) + _pb_str(7, ra)


def zmq_call(sock, frame, timeout_ms=5000):
    sock.send(frame)
    assert sock.poll(timeout_ms, zmq.POLLIN), "no reply"
    env = _pb_fields(sock.recv())
    assert env[1] == b"RaiseAlarmReply"
    r = _pb_fields(env.get(7, b""))
    return {"status": r.get(1, 0), "alarm_id": r.get(2, b"").decode(),
            "order_id": r.get(3, b"").decode(), "error": r.get(4, b"").decode(),
            "field": r.get(5, b"").decode()}


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def test_gateway_retries_make_one_alarm_and_one_order(s, ctx):
    elder = new_elder(s)
    sock = s.zmq_socket(ctx, zmq.DEALER, "orderd", me="telephony")
    sock.connect(s.alarm_endpoint)
    device = "gw-%s" % uuid.uuid4().hex[:10]
    at_us = int(time.time() * 1e6)
    first = zmq_call(sock, raise_request(device, elder, "sos", at_us))
    assert first["status"] == 201 and first["alarm_id"], first
    again = zmq_call(sock, raise_request(device, elder, "sos", at_us))
    assert again["status"] == 200 and again["alarm_id"] == first["alarm_id"]
    assert again["order_id"] == first["order_id"]
    # The same alarm over HTTP too (a gateway that fell back to it).
    import datetime
    at = datetime.datetime.fromtimestamp(at_us / 1e6, datetime.timezone.utc).isoformat(
        timespec="microseconds")
    h = alarm(s, elder, device=device, kind="sos", at=at, expect=(200,))
    assert h["alarm_id"] == first["alarm_id"] and h["order_id"] == first["order_id"]
    n = s.sql("orderd", "SELECT count(*) FROM orderd.alarms WHERE device_id = %s", (device,))
    assert n[0][0] == 1
    n = s.sql("orderd", "SELECT count(*) FROM orderd.orders WHERE idem_key LIKE %s",
              ("alarm:%s:%%" % device,))
    assert n[0][0] == 1
    harness.wait_until(lambda: hold(s, first["order_id"]), timeout=15, what="one hold")
    # The same device and time naming another kind: a conflict, nothing made.
    r = zmq_call(sock, raise_request(device, elder, "fall", at_us))
    assert r["status"] == 409 and r["field"] == "at", r
    # A later alarm of the same device is another alarm.
    later = zmq_call(sock, raise_request(device, elder, "sos", at_us + 1))
    assert later["status"] == 201 and later["alarm_id"] != first["alarm_id"]
    sock.close()


@pytest.mark.parametrize("body,status,field", [
    ({"elder_id": "E", "kind": "fall", "at": "NOW"}, 400, "device_id"),
    ({"device_id": "d 1", "elder_id": "E", "kind": "fall", "at": "NOW"}, 400, "device_id"),
    ({"device_id": "d1", "elder_id": "not-a-uuid", "kind": "fall", "at": "NOW"}, 400,
     "elder_id"),
    ({"device_id": "d1", "elder_id": "E", "kind": "flood", "at": "NOW"}, 400, "kind"),
    ({"device_id": "d1", "elder_id": "E", "kind": "fall"}, 400, "at"),
    ({"device_id": "d1", "elder_id": "E", "kind": "fall", "at": "yesterday"}, 400, "at"),
    ({"device_id": "d1", "elder_id": "E", "kind": "fall", "at": "OLD"}, 422, "at"),
    ({"device_id": "d1", "elder_id": "E", "kind": "fall", "at": "NOW", "x": 1}, 400, "x"),
    ({"device_id": "d1", "elder_id": "UNKNOWN", "kind": "fall", "at": "NOW"}, 422, "elder_id"),
])
def test_bad_alarms_over_http_name_the_field(s, body, status, field):
    elder = s.__dict__.setdefault("_bad_elder", new_elder(s))
    subst = {"E": elder, "NOW": now_iso(), "OLD": now_iso(-7200),
             "UNKNOWN": str(uuid.uuid4())}
    body = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    before = s.sql("orderd", "SELECT count(*) FROM orderd.alarms")[0][0]
    st, doc = s.http("POST", "orderd", "/v1/alarms", json=body, role="service")
    assert st == status and doc["field"] == field, (st, doc)
    assert s.sql("orderd", "SELECT count(*) FROM orderd.alarms")[0][0] == before


def test_bad_alarms_over_zmq_are_counted_and_orderd_lives(s, ctx):
    elder = new_elder(s)
    sock = s.zmq_socket(ctx, zmq.DEALER, "orderd", me="telephony")
    sock.connect(s.alarm_endpoint)
    key = 'zmq_rejected_total{socket="orderd-alarms",reason="%s"}'
    before = {r: metric(s, key % r) for r in ("garbage", "wrong_type", "invalid")}
    sock.send(b"\xff\x00garbage")
    r = zmq_call(sock, raise_request("d1", elder, "fall", int(time.time() * 1e6),
                                     type_="PlaceOrder"))
    assert r["status"] == 400 and r["field"] == "type"
    r = zmq_call(sock, raise_request("d1", elder, "flood", int(time.time() * 1e6)))
    assert r["status"] == 400 and r["field"] == "kind", r
    r = zmq_call(sock, raise_request("d1", "nope", "fall", int(time.time() * 1e6)))
    assert r["status"] == 400 and r["field"] == "elder_id", r
    r = zmq_call(sock, raise_request("d1", elder, "fall", 0))
    assert r["status"] == 422 and r["field"] == "at", r
    harness.wait_until(lambda: metric(s, key % "garbage") >= before["garbage"] + 1,
                       timeout=5, what="garbage counted")
    assert metric(s, key % "wrong_type") >= before["wrong_type"] + 1
    assert metric(s, key % "invalid") >= before["invalid"] + 3
    assert "zmq_rejected" in s.daemons["orderd"].log_text()
    # Alive, and a good alarm still goes through.
    assert s.http("GET", "orderd", "/healthz", token=None)[0] == 200
    ok = zmq_call(sock, raise_request("d-ok-%s" % uuid.uuid4().hex[:6], elder, "other",
                                      int(time.time() * 1e6)))
    assert ok["status"] == 201, ok
    sock.close()
