"""The journeys of issue 4, end to end through the four real daemons:
bath, meal, emergency, cancel, denied, and idempotent retries (same key
twice, concurrent, after an orderd restart) making one order and one hold."""

import datetime
import itertools
import random
import socket
import threading
import uuid

import pytest

import harness

TZ = datetime.timezone(datetime.timedelta(hours=8))
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


_seq = itertools.count(random.randint(0, 999))


def id_number(born="19400101"):
    """A valid 18-character PRC resident ID (checksum per GB 11643), unique
    within a run: the area code and sequence digits come from a counter."""
    n = next(_seq)
    body = "%06d" % (110101 + (n // 1000) % 800000) + born + "%03d" % (n % 1000)
    s = sum(int(c) * w for c, w in zip(body, _W))
    return body + "10X98765432"[s % 11]


def at(days=1, hour=10, minute=0):
    d = datetime.datetime.now(TZ) + datetime.timedelta(days=days)
    return d.replace(hour=hour, minute=minute, second=0, microsecond=0).isoformat()


def post(s, daemon, path, body, key=None, expect=(200, 201, 202)):
    headers = {"Idempotency-Key": key} if key else None
    st, out = s.http("POST", daemon, path, json=body, headers=headers)
    assert st in expect, "%s %s -> %s %r" % (daemon, path, st, out)
    return out


def new_elder(s, ability="mild", lat=30.2741, lon=120.1551, born="19400101", **extra):
    body = {"name": "测试老人", "id_number": id_number(born), "phone": "1380000%04d"
            % random.randint(0, 9999), "address": "某街道1号", "district_id": 1,
            "lat": lat, "lon": lon, "birth_date": born[:4] + "-" + born[4:6] + "-" + born[6:],
            "ability_level": ability, "household": "none", "living": "alone"}
    body.update(extra)
    return post(s, "orderd", "/v1/elders", body)["elder_id"]


def new_card(s, elder_id, topup_fen=0):
    card = post(s, "orderd", "/v1/cards", {"elder_id": elder_id})["card_id"]
    # billingd learns of the card from orderd's log.
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[0]
                       == 200, timeout=15, what="billingd knows card")
    if topup_fen:
        post(s, "billingd", "/v1/cards/%s/topups" % card,
             {"amount_fen": topup_fen, "source": "family", "reference": "test"},
             key=str(uuid.uuid4()))
    return card


def new_caregiver(s, skills, level=1, first_aid=False, lat=30.2745, lon=120.1555):
    return post(s, "dispatchd", "/v1/caregivers", {
        "name": "护理员", "provider_id": "prov-1", "district_id": 1, "lat": lat, "lon": lon,
        "skills": skills, "level": level, "first_aid": first_aid,
        "shift_start": "00:00", "shift_end": "23:59"})["caregiver_id"]


def order(s, card, service, key=None, start=None, end=None, notes=""):
    body = {"card_id": card, "service": service, "window_start": start or at(1, 9),
            "window_end": end or at(1, 12), "notes": notes}
    return post(s, "orderd", "/v1/orders", body, key=key or str(uuid.uuid4()))


def get_order(s, oid):
    st, o = s.http("GET", "orderd", "/v1/orders/%s" % oid)
    assert st == 200, (st, o)
    return o


def wait_state(s, oid, states, timeout=20):
    if isinstance(states, str):
        states = (states,)
    box = {}

    def reached():
        box["o"] = get_order(s, oid)
        return box["o"]["state"] in states
    harness.wait_until(reached, timeout=timeout,
                       what=lambda: "order %s in %s, is %r" % (oid, states, box.get("o")))
    return box["o"]


def balance(s, card):
    st, b = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)
    assert st == 200, (st, b)
    return b


def visit_step(s, visit, step, caregiver, **extra):
    body = {"caregiver_id": caregiver}
    body.update(extra)
    return post(s, "dispatchd", "/v1/visits/%s/%s" % (visit, step), body)


def ledger_ok(s):
    st, chk = s.http("GET", "billingd", "/v1/ledger/check")
    assert st == 200 and chk.get("ok") is True, chk


def test_bath_journey(system):
    s = system
    elder = new_elder(s, ability="severe")
    card = new_card(s, elder, topup_fen=100000)
    # Closer but level 1: may not bathe an elder with severe loss of ability.
    new_caregiver(s, ["bath"], level=1, lat=30.2742, lon=120.1552)
    level2 = new_caregiver(s, ["bath", "cleaning"], level=2, lat=30.2800, lon=120.1600)
    oid = order(s, card, "bath")["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["caregiver_id"] == level2
    assert o["held_fen"] > 0 and o["price_fen"] >= o["held_fen"]
    b = balance(s, card)
    assert b["held_fen"] == o["held_fen"]
    visit = o["visit_id"]
    visit_step(s, visit, "accept", level2)
    visit_step(s, visit, "check-in", level2, lat=30.2741, lon=120.1551)
    wait_state(s, oid, "in_progress")
    visit_step(s, visit, "check-out", level2, lat=30.2741, lon=120.1551)
    o = wait_state(s, oid, "billed")
    assert o["charged_fen"] == o["held_fen"]
    b = balance(s, card)
    assert b["held_fen"] == 0
    assert b["available_fen"] == 100000 - o["charged_fen"]
    states = [h.get("state") for h in o["history"]]
    for st in ("placed", "funds_held", "released", "assigned", "in_progress", "completed",
               "billed"):
        assert st in states, (st, o["history"])
    ledger_ok(s)


def test_meal_journey(system):
    s = system
    elder = new_elder(s, diet="low-salt")
    card = new_card(s, elder, topup_fen=50000)
    far = post(s, "meald", "/v1/meal-points", {
        "name": "远食堂", "provider_id": "kitchen-2", "district_id": 1, "lat": 30.40,
        "lon": 120.30, "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]})
    near = post(s, "meald", "/v1/meal-points", {
        "name": "近食堂", "provider_id": "kitchen-1", "district_id": 1, "lat": 30.2750,
        "lon": 120.1560, "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"},
                                   {"slot": "dinner", "capacity": 50, "cutoff": "16:00"}]})
    assert far["meal_point_id"] != near["meal_point_id"]
    oid = order(s, card, "meal", start=at(1, 11, 30), end=at(1, 12, 30))["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["meal_point_id"] == near["meal_point_id"]
    date = at(1)[:10]
    st, kl = s.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                    % (near["meal_point_id"], date))
    assert st == 200 and kl["count"] == 1, (st, kl)
    post(s, "meald", "/v1/meals/%s/delivered" % oid, {})
    o = wait_state(s, oid, "billed")
    assert o["charged_fen"] == o["held_fen"] > 0
    assert balance(s, card)["available_fen"] == 50000 - o["charged_fen"]
    ledger_ok(s)


def test_emergency_is_never_refused_for_money(system):
    s = system
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=0)
    new_caregiver(s, ["emergency"], level=1, first_aid=False, lat=30.2742, lon=120.1552)
    medic = new_caregiver(s, ["emergency"], level=1, first_aid=True)
    oid = order(s, card, "emergency", start=at(0, 0), end=at(1, 0))["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["caregiver_id"] == medic
    visit = o["visit_id"]
    for step in ("accept", "check-in", "check-out"):
        visit_step(s, visit, step, medic, lat=30.2741, lon=120.1551)
    o = wait_state(s, oid, "billed")
    b = balance(s, card)
    assert b["arrears_fen"] == o["charged_fen"] > 0, (b, o)
    assert b["available_fen"] == 0 and b["held_fen"] == 0
    # A top-up pays the arrears first.
    post(s, "billingd", "/v1/cards/%s/topups" % card,
         {"amount_fen": 100000, "source": "family", "reference": "repay"},
         key=str(uuid.uuid4()))
    b = balance(s, card)
    assert b["arrears_fen"] == 0 and b["available_fen"] == 100000 - o["charged_fen"]
    ledger_ok(s)


def test_cancel_releases_the_hold(system):
    s = system
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=100000)
    cg = new_caregiver(s, ["cleaning"], level=1)
    oid = order(s, card, "cleaning")["order_id"]
    o = wait_state(s, oid, "assigned")
    assert o["caregiver_id"] == cg
    assert balance(s, card)["held_fen"] > 0
    post(s, "orderd", "/v1/orders/%s/cancel" % oid, {"reason": "family came"})
    wait_state(s, oid, "cancelled")
    harness.wait_until(lambda: balance(s, card)["held_fen"] == 0, timeout=15,
                       what="hold released")
    assert balance(s, card)["available_fen"] == 100000
    # The visit left the caregiver's list.
    st, visits = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % cg)
    assert st == 200
    items = visits if isinstance(visits, list) else visits.get("visits", [])
    assert all(v.get("order_id") != oid for v in items), items
    # Cancelling twice, or after the fact, is a conflict, not a crash.
    st, _ = s.http("POST", "orderd", "/v1/orders/%s/cancel" % oid, json={})
    assert st == 409
    ledger_ok(s)


def test_card_with_too_little_money_is_denied(system):
    s = system
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=100)
    oid = order(s, card, "bath")["order_id"]
    o = wait_state(s, oid, "denied")
    assert o.get("reason")
    b = balance(s, card)
    assert b["available_fen"] == 100 and b["held_fen"] == 0
    ledger_ok(s)


def _count_orders_and_holds(s, key):
    n = s.sql("orderd", "SELECT count(*) FROM orderd.orders WHERE idem_key = %s", (key,))
    return n[0][0]


def test_idempotent_retries_make_one_order_and_one_hold(system):
    s = system
    elder = new_elder(s)
    card = new_card(s, elder, topup_fen=100000)
    new_caregiver(s, ["escort"], level=1)
    key = str(uuid.uuid4())
    body = {"card_id": card, "service": "escort", "window_start": at(2, 9),
            "window_end": at(2, 11), "notes": ""}
    first = post(s, "orderd", "/v1/orders", body, key=key)
    again = post(s, "orderd", "/v1/orders", body, key=key)
    assert first["order_id"] == again["order_id"]
    # Same key, different body: 409 naming the key.
    other = dict(body, notes="different")
    st, err = s.http("POST", "orderd", "/v1/orders", json=other,
                     headers={"Idempotency-Key": key})
    assert st == 409, (st, err)

    # Concurrent duplicates of a new key.
    key2 = str(uuid.uuid4())
    body2 = dict(body, window_start=at(3, 9), window_end=at(3, 11))
    ids, errors = [], []

    def place():
        try:
            st, out = s.http("POST", "orderd", "/v1/orders", json=body2,
                             headers={"Idempotency-Key": key2})
            ids.append((st, out.get("order_id") if isinstance(out, dict) else None))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=place) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(st in (200, 201, 202) for st, _ in ids), ids
    assert len({oid for _, oid in ids}) == 1, ids

    # After an orderd restart the key still maps to the same order.
    s.restart("orderd")
    after = post(s, "orderd", "/v1/orders", body2, key=key2)
    assert after["order_id"] == ids[0][1]
    assert _count_orders_and_holds(s, key) == 1
    assert _count_orders_and_holds(s, key2) == 1

    # One hold each: billing holds exactly two prices on the card.
    o1 = wait_state(s, first["order_id"], ("assigned", "released", "funds_held"))
    o2 = wait_state(s, after["order_id"], ("assigned", "released", "funds_held"))
    harness.wait_until(lambda: balance(s, card)["held_fen"] == o1["held_fen"] + o2["held_fen"],
                       timeout=10, what="two holds")
    holds = s.sql("billingd", "SELECT count(*) FROM billingd.holds WHERE order_id IN (%s, %s)",
                  (first["order_id"], after["order_id"]))
    assert holds[0][0] == 2
    ledger_ok(s)


def oversize_status(s, daemon, path, size=2 * 1024 * 1024):
    """POST a body over the cap. The server may answer 413 and close before
    the body is all sent; returns the status read, or None if the connection
    was closed first (then only the daemon's health tells)."""
    port = s.daemons[daemon].http_port
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n"
                      % (path, uuid.uuid4(), size)).encode())
        try:
            chunk = b"x" * 65536
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass
        try:
            head = sock.recv(200).decode(errors="replace")
        except OSError:
            return None
        return int(head.split()[1]) if head.startswith("HTTP/") else None
    finally:
        sock.close()


@pytest.mark.parametrize("daemon", harness.DAEMONS)
def test_daemon_survives_bad_http(system, daemon):
    s = system
    path = {"orderd": "/v1/orders", "billingd": "/v1/cards/%s/topups" % uuid.uuid4(),
            "dispatchd": "/v1/caregivers", "meald": "/v1/meal-points"}[daemon]
    hdr = {"Idempotency-Key": str(uuid.uuid4())}
    st, body = s.http("POST", daemon, path, body=b"{not json", headers=hdr)
    assert 400 <= st < 500 and isinstance(body, dict) and body.get("error"), (st, body)
    assert oversize_status(s, daemon, path) in (413, None)
    st, body = s.http("POST", daemon, path, json=[1, 2, 3], headers=hdr)
    assert 400 <= st < 500 and isinstance(body, dict), (st, body)
    st, body = s.http("POST", daemon, path, json={"amount_fen": "ten", "name": 5}, headers=hdr)
    assert 400 <= st < 500 and isinstance(body, dict) and body.get("field"), (st, body)
    st, _ = s.http("GET", daemon, "/healthz")
    assert st == 200
