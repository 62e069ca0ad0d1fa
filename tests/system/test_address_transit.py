"""The elder's address in transit (docs/SECURITY.md, "Personal data"), with
the four real daemons.

orderd seals the elder's address for dispatchd (VisitReleased.address_sealed)
and for meald (MealReleased.address_sealed) with their transit keys, bound to
the consumer and the order (services/common/cc_seal.h). Shown here:
- the address reaches dispatchd and meald only sealed: orderd's event log,
  dispatchd's and meald's own tables and logs hold no byte of it in clear;
- a role that goes there reads it in clear (a dispatcher, the visit's own
  caregiver, in GET /v1/visits/{id} and the caregiver's day; the meal point
  in GET /v1/meals/{order_id}); a role the route admits but that does not go
  there gets the record without it; other roles get 403;
- a blob that does not open (tampered, sealed under another daemon's key,
  or moved from another order) is refused at receipt, logged and counted
  (dispatchd_address_rejected_total, meald_address_rejected_total), and the
  visit or meal goes on without it. The same injection with a well-sealed
  blob opens (the control: the refusals are the blobs', not the path's)."""

import hashlib
import os
import uuid

import pytest

import harness
from test_journeys import at, new_card, new_elder, order, wait_state

nacl_bindings = pytest.importorskip("nacl.bindings")

ADDRESS = "杭州市拱墅区湖墅南路canary-addr-7c3e号"
NEEDLES = (ADDRESS.encode(), b"canary-addr-7c3e", "湖墅南路".encode())


def _clear(blob):
    """The needles found in blob (bytes): none expected anywhere sealed."""
    return [n for n in NEEDLES if n in bytes(blob)]


@pytest.fixture(scope="module")
def s(need_daemons, pg, db):
    sysm = harness.System(pg, db)
    try:
        sysm.start()
        yield sysm
    finally:
        sysm.cleanup()


@pytest.fixture(scope="module")
def placed(s):
    """One visit and one meal for an elder with the canary address."""
    elder = new_elder(s, address=ADDRESS)
    card = new_card(s, elder, topup_fen=200000)
    provider = str(uuid.uuid4())   # a provider_admin's scope names a UUID
    cg = harness_post(s, "dispatchd", "/v1/caregivers", {
        "name": "护理员", "provider_id": provider, "district_id": 1, "lat": 30.2742,
        "lon": 120.1552, "skills": ["bath"], "level": 2, "first_aid": False,
        "shift_start": "00:00", "shift_end": "23:59"})["caregiver_id"]
    point = harness_post(s, "meald", "/v1/meal-points", {
        "name": "canteen", "district_id": 1, "lat": 30.2745, "lon": 120.1560,
        "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]})["meal_point_id"]
    visit_order = order(s, card, "bath")["order_id"]
    o = wait_state(s, visit_order, "assigned")
    assert o["caregiver_id"] == cg
    meal_order = order(s, card, "meal", start=at(1, 11, 30), end=at(1, 12, 30))["order_id"]
    wait_state(s, meal_order, "assigned")
    return {"elder": elder, "cg": cg, "provider": provider, "point": point, "visit_order": visit_order,
            "visit": o["visit_id"], "meal_order": meal_order}


def harness_post(s, daemon, path, body):
    st, out = s.http("POST", daemon, path, json=body)
    assert st in (200, 201), (daemon, path, st, out)
    return out


def _released(s, type_, order_id):
    rows = s.sql("postgres", "SELECT payload FROM orderd.events WHERE type = %s AND key = %s",
                 (type_, order_id))
    assert len(rows) == 1, (type_, order_id, rows)
    return bytes(rows[0][0])


def test_address_reaches_consumers_only_sealed(s, placed):
    # orderd's log: each release ends with its sealed blob (field 14 of
    # VisitReleased, 8 of MealReleased: tag, one-byte length, address + 45
    # bytes), and no event holds the address in clear.
    blob_len = len(ADDRESS.encode()) + 45
    assert blob_len < 128
    for type_, key, tag in (("VisitReleased", placed["visit_order"], 0x72),
                            ("MealReleased", placed["meal_order"], 0x42)):
        p = _released(s, type_, key)
        assert p[-blob_len - 2:-blob_len] == bytes([tag, blob_len]), type_
        assert not _clear(p)
    for schema in ("orderd", "dispatchd", "meald", "billingd"):
        for (payload,) in s.sql("postgres", "SELECT payload FROM %s.events" % schema):
            assert not _clear(payload), schema
    # The consumers' own copies: sealed as they came, each for its reader
    # (opened here with the keys: the bytes are the address, not a stand-in).
    (v,) = s.sql("postgres", "SELECT address_sealed FROM dispatchd.visits WHERE order_id = %s",
                 (placed["visit_order"],))
    (m,) = s.sql("postgres", "SELECT address_sealed FROM meald.meals WHERE order_id = %s::uuid",
                 (placed["meal_order"],))
    v, m = bytes(v[0]), bytes(m[0])
    assert not _clear(v) and not _clear(m)
    dkey, mkey = _key(s, "dispatchd-address"), _key(s, "meald-address")
    assert _open(dkey, "dispatchd", placed["visit_order"], v) == ADDRESS.encode()
    assert _open(mkey, "meald", placed["meal_order"], m) == ADDRESS.encode()
    assert _open(mkey, "meald", placed["meal_order"], v) is None   # not meald's to open
    # Reading the address through the API logs nothing of it either.
    st, doc = s.http("GET", "dispatchd", "/v1/visits/%s" % placed["visit"], role="dispatcher",
                     scope={"district_ids": [1]})
    assert st == 200 and doc["address"] == ADDRESS
    for name, text in s.logs(tail=100000).items():
        assert not _clear(text.encode()), name
    # The search finds the address where it is in clear (planted).
    assert _clear(b"\x00" + doc["address"].encode() + b"\xff") == list(NEEDLES)


def test_who_reads_the_address(s, placed):
    visit, cg, point = placed["visit"], placed["cg"], placed["point"]
    path = "/v1/visits/%s" % visit

    def get(daemon, p, role, scope):
        return s.http("GET", daemon, p, role=role, scope=scope)

    # dispatchd: the dispatcher of the district and the visit's caregiver.
    for role, scope in (("dispatcher", {"district_ids": [1]}), ("caregiver", {"caregiver_id": cg})):
        st, doc = get("dispatchd", path, role, scope)
        assert st == 200 and doc.get("address") == ADDRESS, (role, st, doc)
    day = at(1)[:10]
    st, doc = get("dispatchd", "/v1/caregivers/%s/day?date=%s" % (cg, day), "caregiver",
                  {"caregiver_id": cg})
    assert st == 200, (st, doc)
    stops = [x for x in doc["stops"] if x.get("visit_id") == visit]
    assert len(stops) == 1 and stops[0].get("address") == ADDRESS, doc
    # Admitted by the route, does not go there: the record without it.
    st, doc = get("dispatchd", path, "provider_admin", {"provider_id": placed["provider"]})
    assert st == 200 and "address" not in doc, doc
    st, doc = get("dispatchd", "/v1/caregivers/%s/day?date=%s" % (cg, day), "provider_admin",
                  {"provider_id": placed["provider"]})
    assert st == 200 and all("address" not in x for x in doc["stops"]), doc
    # Another caregiver, another district, and roles the route does not admit.
    for role, scope in (("caregiver", {"caregiver_id": str(uuid.uuid4())}),
                        ("dispatcher", {"district_ids": [2]}), ("operator", None),
                        ("meal_point", {"meal_point_id": point}), ("auditor", None)):
        st, doc = get("dispatchd", path, role, scope)
        assert st == 403 and "address" not in str(doc), (role, st, doc)
    # meald: the meal point that delivers it.
    mpath = "/v1/meals/%s" % placed["meal_order"]
    st, doc = get("meald", mpath, "meal_point", {"meal_point_id": point})
    assert st == 200 and doc.get("address") == ADDRESS, doc
    st, doc = get("meald", mpath, "operator", None)
    assert st == 200 and "address" not in doc, doc
    for role, scope in (("meal_point", {"meal_point_id": str(uuid.uuid4())}),
                        ("dispatcher", {"district_ids": [1]}),
                        ("caregiver", {"caregiver_id": cg})):
        st, doc = get("meald", mpath, role, scope)
        assert st == 403 and "address" not in str(doc), (role, st, doc)
    # No token at all: 401.
    st, _ = s.http("GET", "dispatchd", path, token=None)
    assert st == 401


# ---- blobs that do not open -------------------------------------------------------
def _key(s, name):
    with open(os.path.join(s.keydir, name + ".key"), "rb") as f:
        k = f.read()
    assert len(k) == 32
    return k


def _seal(key, consumer, order_id, plain):
    """cc_seal_address in Python: version 1 | key id | nonce | ciphertext+tag,
    the header and "address\\0<consumer>\\0<order>" as associated data."""
    kid = hashlib.blake2b(b"eldercare-pii-key-id" + key, digest_size=16).digest()[:4]
    head = b"\x01" + kid
    nonce = os.urandom(24)
    ad = head + b"address\x00" + consumer.encode() + b"\x00" + order_id.encode()
    return head + nonce + nacl_bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plain, ad, nonce, key)


def _open(key, consumer, order_id, blob):
    """cc_seal_address_open in Python: the plaintext, or None."""
    kid = hashlib.blake2b(b"eldercare-pii-key-id" + key, digest_size=16).digest()[:4]
    if blob[:5] != b"\x01" + kid:
        return None
    ad = blob[:5] + b"address\x00" + consumer.encode() + b"\x00" + order_id.encode()
    try:
        return nacl_bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            blob[29:], ad, blob[5:29], key)
    except Exception:
        return None


def _inject(s, type_, template, old_order, blob_for):
    """A copy of the release template (orderd's real payload for old_order)
    for a new order, its address blob replaced by blob_for(new_order),
    appended to orderd's log as orderd appends: the consumers take it as
    any release. The new order id."""
    new = str(uuid.uuid4())
    p = template.replace(old_order.encode(), new.encode())
    blob = blob_for(new)
    assert len(blob) == len(ADDRESS.encode()) + 45
    p = p[:-len(blob)] + blob
    s.sql("orderd", "SELECT cc_append(%s, %s, %s, 1, %s)", (type_, str(uuid.uuid4()), new, p))
    return new


def test_blob_that_does_not_open_is_refused_and_counted(s, placed):
    plain = ADDRESS.encode()
    dkey, mkey = _key(s, "dispatchd-address"), _key(s, "meald-address")
    vt = _released(s, "VisitReleased", placed["visit_order"])
    mt = _released(s, "MealReleased", placed["meal_order"])
    real_visit_blob = vt[-(len(plain) + 45):]

    def flipped(b):
        return b[:-1] + bytes([b[-1] ^ 1])

    d0 = s.metrics("dispatchd").get("dispatchd_address_rejected_total", 0)
    m0 = s.metrics("meald").get("meald_address_rejected_total", 0)
    cases = {
        "good": lambda o: _seal(dkey, "dispatchd", o, plain),
        "tampered": lambda o: flipped(_seal(dkey, "dispatchd", o, plain)),
        "meald_key": lambda o: _seal(mkey, "dispatchd", o, plain),
        "for_meald": lambda o: _seal(dkey, "meald", o, plain),
        "moved": lambda o: real_visit_blob,   # sealed for another order
    }
    orders = {k: _inject(s, "VisitReleased", vt, placed["visit_order"], f)
              for k, f in cases.items()}
    meals = {
        "good": _inject(s, "MealReleased", mt, placed["meal_order"],
                        lambda o: _seal(mkey, "meald", o, plain)),
        "tampered": _inject(s, "MealReleased", mt, placed["meal_order"],
                            lambda o: flipped(_seal(mkey, "meald", o, plain))),
        "dispatchd_key": _inject(s, "MealReleased", mt, placed["meal_order"],
                                 lambda o: _seal(dkey, "meald", o, plain)),
    }

    def visit_rows():
        return dict(s.sql("postgres", "SELECT order_id, address_sealed FROM dispatchd.visits "
                          "WHERE order_id = ANY(%s)", (list(orders.values()),)))

    def meal_rows():
        return dict(s.sql("postgres", "SELECT order_id::text, address_sealed FROM meald.meals "
                          "WHERE order_id = ANY(%s::uuid[])", (list(meals.values()),)))

    harness.wait_until(lambda: len(visit_rows()) == len(orders), timeout=20,
                       what="dispatchd took every injected release")
    harness.wait_until(lambda: len(meal_rows()) == len(meals), timeout=20,
                       what="meald took every injected release")
    assert s.daemons["dispatchd"].alive() and s.daemons["meald"].alive()
    # Refused: kept without the address, counted once each; the good one kept.
    vr, mr = visit_rows(), meal_rows()
    for k, o in orders.items():
        assert (vr[o] is None) == (k != "good"), k
    for k, o in meals.items():
        assert (mr[o] is None) == (k != "good"), k
    assert s.metrics("dispatchd")["dispatchd_address_rejected_total"] - d0 == len(orders) - 1
    assert s.metrics("meald")["meald_address_rejected_total"] - m0 == len(meals) - 1
    logs = s.logs(tail=100000)
    for k, o in orders.items():
        assert ('"address_rejected","order_id":"%s"' % o in logs["dispatchd"]) == (k != "good")
    for k, o in meals.items():
        assert ('"address_rejected","order_id":"%s"' % o in logs["meald"]) == (k != "good")
    # The good one opens for the dispatcher; a refused one reads without it.
    vid = {o: v for o, v in s.sql("postgres", "SELECT order_id, id::text FROM dispatchd.visits "
                                  "WHERE order_id = ANY(%s)", (list(orders.values()),))}
    for k in ("good", "tampered"):
        st, doc = s.http("GET", "dispatchd", "/v1/visits/%s" % vid[orders[k]],
                         role="dispatcher", scope={"district_ids": [1]})
        assert st == 200 and (doc.get("address") == ADDRESS) == (k == "good"), (k, doc)
    point = {"meal_point_id": placed["point"]}
    for k in ("good", "tampered"):
        st, doc = s.http("GET", "meald", "/v1/meals/%s" % meals[k], role="meal_point",
                         scope=point)
        assert st == 200 and (doc.get("address") == ADDRESS) == (k == "good"), (k, doc)


# ---- a daemon never runs without its transit key -----------------------------------
@pytest.mark.parametrize("daemon,key,case", [
    ("orderd", "meald-address", "missing"),
    ("dispatchd", "dispatchd-address", "missing"),
    ("meald", "meald-address", "mode_0644"),
])
def test_transit_key_missing_or_open_exits_2(need_daemons, pg, fresh_db, daemon, key, case):
    sysm = harness.System(pg, fresh_db, names=(daemon,))
    try:
        path = os.path.join(sysm.keydir, key + ".key")
        if case == "missing":
            os.unlink(path)
        else:
            os.chmod(path, 0o644)
        d = sysm.daemons[daemon]
        d.start()
        d.proc.wait(timeout=20)
        log = d.log_text()
        assert d.proc.returncode == 2, log[-2000:]
        assert "address transit key" in log and path in log, log[-2000:]
    finally:
        sysm.cleanup()
