"""Every caller is someone (issue 10): the route x role matrix, cell by cell,
on the four real daemons; scope (another district, provider, caregiver's
visit, meal point, elder) is 403; bad tokens are 401; browser rules (415,
Host, Origin); the key set is re-read when its file changes.

The matrix comes from the daemons' own tables (`<binary> --routes`), the
same data docs/API.md is generated from (tools/route_matrix.py)."""

import datetime
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

import harness
from test_journeys import at, id_number, new_elder, order, post, wait_state

ROLES = ("operator", "dispatcher", "caregiver", "provider_admin", "meal_point", "family",
         "auditor", "admin", "service")
P1, P2 = str(uuid.uuid4()), str(uuid.uuid4())   # providers (UUIDs: a token's scope)
HOME = (30.2741, 120.1551)


@pytest.fixture(scope="module")
def w(system):
    """A small world: elders in districts 1 and 2, their cards, a caregiver
    of each provider, a visit assigned to cg1, two meal points and a meal at
    mp1."""
    s = system
    x = {"s": s}
    phone = "13900%06d" % (uuid.uuid4().int % 1000000)
    x["e1"] = new_elder(s, phone=phone, district_id=1, lat=HOME[0], lon=HOME[1])
    x["phone"] = phone
    x["e2"] = new_elder(s, district_id=2, lat=HOME[0] + 1, lon=HOME[1])
    for n, e in (("c1", "e1"), ("c2", "e2")):
        x[n] = post(s, "orderd", "/v1/cards", {"elder_id": x[e]})["card_id"]
        harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % x[n])[0]
                           == 200, timeout=15, what="billingd knows the card")
        post(s, "billingd", "/v1/cards/%s/topups" % x[n],
             {"amount_fen": 100000, "source": "family"}, key=str(uuid.uuid4()))
    cg = {"name": "护理员", "district_id": 1, "lat": HOME[0] + 0.0003, "lon": HOME[1],
          "skills": ["cleaning"], "level": 2, "first_aid": True,
          "shift_start": "00:00", "shift_end": "23:59"}
    x["cg1"] = post(s, "dispatchd", "/v1/caregivers", dict(cg, provider_id=P1))["caregiver_id"]
    x["cg2"] = post(s, "dispatchd", "/v1/caregivers",
                    dict(cg, provider_id=P2, district_id=2, lat=HOME[0] + 1.0003))["caregiver_id"]
    x["o1"] = order(s, x["c1"], "cleaning")["order_id"]
    wait_state(s, x["o1"], "assigned")

    def visit():
        st, q = s.http("GET", "dispatchd", "/v1/caregivers/%s/visits" % x["cg1"])
        return st == 200 and q["visits"] and q["visits"][0]["visit_id"]
    x["v1"] = harness.wait_until(visit, timeout=15, what="visit of o1")
    slots = [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]
    x["mp1"] = post(s, "meald", "/v1/meal-points", {
        "name": "食堂一", "provider_id": P1, "district_id": 1, "lat": HOME[0] + 0.001,
        "lon": HOME[1], "slots": slots})["meal_point_id"]
    x["mp2"] = post(s, "meald", "/v1/meal-points", {
        "name": "食堂二", "provider_id": "kitchen-2", "district_id": 2, "lat": HOME[0] + 1,
        "lon": HOME[1], "slots": slots})["meal_point_id"]
    x["om"] = order(s, x["c1"], "meal", start=at(1, 11, 30), end=at(1, 12, 30))["order_id"]
    wait_state(s, x["om"], "assigned")
    x["date"] = at(1)[:10]
    # An elder import (od_elders): a header-only file is refused, so one row.
    st, imp = s.http("POST", "orderd", "/v1/elders/import", body=CSV_ONE_ROW.encode(),
                     headers={"Content-Type": "text/csv"})
    assert st == 202, (st, imp)
    x["imp"] = imp["import_id"]
    # An alarm (test_alarms.py), for an elder of its own without a card.
    st, a = s.http("POST", "orderd", "/v1/alarms", role="service", json={
        "device_id": "roles-%s" % uuid.uuid4().hex[:8], "kind": "sos",
        "elder_id": new_elder(s, district_id=1, lat=HOME[0], lon=HOME[1]),
        "at": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    assert st == 201, (st, a)
    x["a1"] = a["alarm_id"]
    # A care plan of e1 (test_plans.py): the routes' {id}.
    x["pl1"] = post(s, "orderd", "/v1/plans", {
        "elder_id": x["e1"], "service": "cleaning", "rrule": "FREQ=MONTHLY;BYDAY=1MO",
        "window_start": "09:00", "window_end": "10:00", "starts_on": x["date"]})["plan_id"]
    return x


CSV_ONE_ROW = ("name,id_number,phone,address,lat,lon,birth_date,district_id,ability_level,"
               "household,living\n老人,%s,13800000000,某街,30.27,120.15,1940-01-01,1,mild,"
               "none,alone\n" % id_number())
# Routes taking CSV (CC_ROUTE_CSV): the matrix sends them a file with no
# data row, which every allowed role is refused with 400.
CSV_ROUTES = {("orderd", "/v1/elders/import")}


def in_scope(w, role):
    """The scope claims under which the world's first resources are the caller's."""
    return {"dispatcher": {"district_ids": [1]}, "caregiver": {"caregiver_id": w["cg1"]},
            "provider_admin": {"provider_id": P1}, "meal_point": {"meal_point_id": w["mp1"]},
            "family": {"elder_id": w["e1"]}}.get(role)


def fill(w, daemon, route):
    """A concrete path for a route pattern with the world's ids and queries."""
    p = route["pattern"]
    p = p.replace("/v1/elders/import/{id}", "/v1/elders/import/" + w["imp"])
    ids = {("orderd", "/v1/elders/{id}"): w["e1"], ("orderd", "/v1/cards/{id}"): w["c1"],
           ("orderd", "/v1/alarms/{id}"): w["a1"],
           ("orderd", "/v1/notifications/{id}"): str(uuid.uuid4()),
           ("meald", "/v1/meal-points/{id}"): w["mp1"], ("orderd", "/v1/plans/{id}"): w["pl1"]}
    for pat, v in ids.items():
        if daemon == pat[0] and p.startswith(pat[1]):
            p = p.replace("{id}", v)
    p = p.replace("/v1/orders/{id}", "/v1/orders/" + w["o1"])
    p = p.replace("{card_id}", w["c1"]).replace("{caregiver_id}", w["cg1"])
    p = p.replace("{visit_id}", w["v1"]).replace("{service}", "cleaning")
    p = p.replace("{date}", w["date"]).replace("{provider}", P1)
    p = p.replace("/v1/holds/{order_id}", "/v1/holds/" + w["o1"])
    p = p.replace("/v1/meals/{order_id}", "/v1/meals/" + w["om"])
    query = {("orderd", "/v1/elders"): "phone=" + w["phone"],
             ("orderd", "/v1/orders"): "card_id=" + w["c1"],
             ("orderd", "/v1/plans"): "elder_id=" + w["e1"],
             ("orderd", "/v1/coverage"): "district_id=1&period=week",
             ("meald", "/v1/meal-points/{id}/kitchen-list"): "date=%s&slot=lunch" % w["date"],
             ("meald", "/v1/meal-points/{id}/rounds"): "date=%s&slot=lunch" % w["date"],
             ("meald", "/v1/couriers"): "meal_point_id=" + w["mp1"]}
    q = query.get((daemon, route["pattern"]))
    return p + ("?" + q if q else "")


# A body that every write refuses as invalid (400/422) after the role and
# scope checks, so that the matrix changes nothing.
BAD_BODY = {"reason": 5, "caregiver_id": 5, "courier_id": 5, "amount_fen": -1, "price_fen": -1}


# orderd's account routes: past the guard, their handlers refuse a minted
# token (it names no account of the issuer: 403 field sub) or an unknown
# account (404); tests/system/test_auth.py tests them with real accounts.
ACCOUNT_ROUTES = {("orderd", "/v1/auth/logout"), ("orderd", "/v1/accounts"),
                  ("orderd", "/v1/accounts/{id}/disable"), ("orderd", "/v1/auth/password"),
                  ("orderd", "/v1/accounts/{id}/password")}
# Routes without a token (CC_ROUTE_PUBLIC): how one gets a token.
PUBLIC_ROUTES = {("orderd", "POST", "/v1/auth/login"), ("orderd", "POST", "/v1/auth/refresh")}


def _public(daemon, route):
    return "public" in route["flags"]


def cells():
    for d in harness.DAEMONS:
        if harness.missing_binaries():
            return
        for r in harness.route_table(d):
            if _public(d, r):
                continue
            for role in ROLES:
                yield pytest.param(d, r, role, id="%s-%s-%s-%s" % (d, r["method"],
                                                                  r["pattern"], role))


@pytest.mark.parametrize("daemon,route,role", list(cells()))
def test_matrix_cell(w, daemon, route, role):
    s = w["s"]
    path = fill(w, daemon, route)
    write = route["method"] != "GET"
    headers = {"Idempotency-Key": str(uuid.uuid4())} if write else None
    if (daemon, route["pattern"]) in CSV_ROUTES:
        st, doc = s.http(route["method"], daemon, path, body=b"name\n",
                         headers={"Content-Type": "text/csv"}, role=role,
                         scope=in_scope(w, role))
    else:
        st, doc = s.http(route["method"], daemon, path, json=BAD_BODY if write else None,
                         headers=headers, role=role, scope=in_scope(w, role))
    if role in route["roles"] and (daemon, route["pattern"]) in ACCOUNT_ROUTES:
        assert st not in (401, 415) and not (st == 403 and doc["field"] == "role"), (st, doc)
    elif role in route["roles"]:
        if write:
            assert st in (400, 409, 422), (st, doc)
        else:
            assert 200 <= st < 300, (st, doc)
    else:
        assert st == 403 and doc["error"] == "forbidden" and doc["field"] == "role", (st, doc)


@pytest.mark.parametrize("daemon", harness.DAEMONS)
def test_every_route_needs_a_token(w, daemon):
    s = w["s"]
    public = {(daemon, r["method"], r["pattern"]) for r in harness.route_table(daemon)
              if _public(daemon, r)}
    assert public == {p for p in PUBLIC_ROUTES if p[0] == daemon}
    for r in harness.route_table(daemon):
        if _public(daemon, r):
            continue
        st, doc = s.http(r["method"], daemon, fill(w, daemon, r), json={}, token=None)
        assert st == 401 and doc["error"] == "unauthorized", (r, st, doc)
        assert doc["field"] == "Authorization"
        assert s.last_headers.get("WWW-Authenticate", "").startswith("Bearer"), s.last_headers
    for path in harness.PUBLIC_PATHS:
        st, _ = s.http("GET", daemon, path, token=None)
        assert st == 200, (path, st)


def test_bad_tokens_are_401(w):
    s = w["s"]
    tokens = harness._tokens()
    other = {"kty": "OKP", "crv": "Ed25519", "kid": s.issuer_key["kid"]}
    import nacl.signing
    sk = nacl.signing.SigningKey.generate()
    other["d"] = tokens.b64url(bytes(sk))
    other["x"] = tokens.b64url(bytes(sk.verify_key))
    good = tokens.claims_for("operator")
    head_none = tokens.b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = tokens.b64url(json.dumps(good).encode())
    bad = {
        "bad signature": tokens.sign(other, good),
        "alg none": "%s.%s." % (head_none, body),
        "alg HS256": tokens.sign(s.issuer_key, good, header={"alg": "HS256"}),
        "expired": s.token("operator", now=time.time() - 3600, ttl=600),
        "not yet": tokens.sign(s.issuer_key, dict(good, nbf=int(time.time()) + 3600)),
        "wrong audience": s.token("operator", aud="someone-else"),
        "wrong issuer": s.token("operator", iss="https://evil.example"),
        "unknown kid": tokens.sign(s.issuer_key, good, header={"kid": "nope"}),
        "garbage": "abc.def.ghi",
        "dispatcher without districts": s.token("dispatcher"),
    }
    for daemon, path in (("orderd", "/v1/orders?card_id=" + w["c1"]),
                         ("billingd", "/v1/prices"), ("dispatchd", "/v1/queue"),
                         ("meald", "/v1/meal-points")):
        for what, t in bad.items():
            st, doc = s.http("GET", daemon, path, token=t)
            assert st == 401 and doc["error"] == "unauthorized", (daemon, what, st, doc)
            assert doc["field"] == "Authorization", doc
        st, doc = s.http("GET", daemon, path,
                         headers={"Authorization": "Basic b3BlcmF0b3I6eA=="})
        assert st == 401, (daemon, st, doc)
    # Within the clock skew (60 s) an expired token still passes.
    st, _ = s.http("GET", "orderd", "/v1/orders",
                   token=s.token("operator", now=time.time() - 630, ttl=600))
    assert st == 200


def test_wrong_scope_is_403(w):
    s = w["s"]

    def call(method, daemon, path, role, scope, body=None, field=None):
        st, doc = s.http(method, daemon, path, json=body, role=role, scope=scope,
                         headers={"Idempotency-Key": str(uuid.uuid4())})
        assert st == 403 and doc["error"] == "forbidden", (method, path, role, st, doc)
        if field:
            assert doc["field"] == field, (path, doc)
        return doc
    d2 = {"district_ids": [2]}
    # Another district.
    call("GET", "dispatchd", "/v1/visits/%s" % w["v1"], "dispatcher", d2, field="district_id")
    call("GET", "dispatchd", "/v1/caregivers/%s" % w["cg1"], "dispatcher", d2,
         field="district_id")
    call("GET", "dispatchd", "/v1/queue?district_id=1", "dispatcher", d2, field="district_id")
    call("GET", "dispatchd", "/v1/caregivers?district_id=1", "dispatcher", d2,
         field="district_id")
    for what in ("confirm", "reject"):   # a dispatcher decides their districts' visits
        call("POST", "dispatchd", "/v1/visits/%s/%s" % (w["v1"], what), "dispatcher", d2,
             body={}, field="district_id")
    # A dispatcher's operations (dd_ops) on district 1's visit and caregiver.
    call("POST", "dispatchd", "/v1/visits/%s/assign" % w["v1"], "dispatcher", d2,
         body={"caregiver_id": w["cg2"], "reason": "x"}, field="district_id")
    call("POST", "dispatchd", "/v1/visits/%s/release" % w["v1"], "dispatcher", d2,
         body={"reason": "x"}, field="district_id")
    call("POST", "dispatchd", "/v1/visits/%s/fail" % w["v1"], "dispatcher", d2,
         body={"reason": "refused"}, field="district_id")
    call("PUT", "dispatchd", "/v1/caregivers/%s/rota/%s" % (w["cg1"], w["date"]), "dispatcher",
         d2, body={"off": "sick"}, field="district_id")
    call("GET", "dispatchd", "/v1/caregivers/%s/rota" % w["cg1"], "dispatcher", d2,
         field="district_id")
    st, q = s.http("GET", "dispatchd", "/v1/queue", role="dispatcher", scope=d2)
    assert st == 200 and all(v["district_id"] == 2 for v in q["visits"]), q
    st, cgs = s.http("GET", "dispatchd", "/v1/caregivers", role="dispatcher", scope=d2)
    assert st == 200 and [c["caregiver_id"] for c in cgs["caregivers"]] == [w["cg2"]], cgs
    # Another caregiver's visit: not even its state is told.
    other = {"caregiver_id": w["cg2"]}
    call("GET", "dispatchd", "/v1/visits/%s" % w["v1"], "caregiver", other)
    call("GET", "dispatchd", "/v1/caregivers/%s/visits" % w["cg1"], "caregiver", other)
    call("GET", "dispatchd", "/v1/caregivers/%s/day" % w["cg1"], "caregiver", other)
    call("GET", "dispatchd", "/v1/caregivers/%s/day" % w["cg1"], "dispatcher", d2,
         field="district_id")
    for step in ("accept", "decline", "check-in", "check-out"):
        call("POST", "dispatchd", "/v1/visits/%s/%s" % (w["v1"], step), "caregiver", other,
             body={"lat": HOME[0], "lon": HOME[1]}, field="caregiver_id")
        # Naming the right caregiver in the body does not help.
        call("POST", "dispatchd", "/v1/visits/%s/%s" % (w["v1"], step), "caregiver", other,
             body={"caregiver_id": w["cg1"], "lat": HOME[0], "lon": HOME[1]},
             field="caregiver_id")
    call("POST", "dispatchd", "/v1/visits/%s/fail" % w["v1"], "caregiver", other,
         body={"reason": "refused"}, field="caregiver_id")
    call("GET", "dispatchd", "/v1/caregivers/%s/rota" % w["cg1"], "caregiver", other)
    st, v = s.http("GET", "dispatchd", "/v1/visits/%s" % w["v1"], role="caregiver",
                   scope={"caregiver_id": w["cg1"]})
    assert st == 200 and v["state"] == "assigned", v
    # Another provider.
    p2 = {"provider_id": P2}
    call("GET", "dispatchd", "/v1/caregivers/%s" % w["cg1"], "provider_admin", p2,
         field="provider_id")
    call("POST", "dispatchd", "/v1/caregivers", "provider_admin", p2, field="provider_id",
         body={"name": "x", "provider_id": P1, "district_id": 1, "lat": 30, "lon": 120,
               "skills": ["bath"], "level": 1, "shift_start": "08:00", "shift_end": "17:00"})
    call("PUT", "dispatchd", "/v1/caregivers/%s/rota/%s" % (w["cg1"], w["date"]),
         "provider_admin", p2, body={"off": "leave"}, field="provider_id")
    call("POST", "dispatchd", "/v1/caregivers/%s/certificates" % w["cg1"], "provider_admin",
         p2, body={"kind": "cleaning", "valid_from": "2026-01-01T00:00:00+08:00",
                   "valid_until": "2030-01-01T00:00:00+08:00"}, field="provider_id")
    call("GET", "dispatchd", "/v1/providers/%s/districts" % P1, "provider_admin", p2,
         field="provider_id")
    st, cgs = s.http("GET", "dispatchd", "/v1/caregivers", role="provider_admin", scope=p2)
    assert [c["caregiver_id"] for c in cgs["caregivers"]] == [w["cg2"]], cgs
    # Another meal point.
    m2 = {"meal_point_id": w["mp2"]}
    call("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
         % (w["mp1"], w["date"]), "meal_point", m2, field="meal_point_id")
    call("GET", "meald", "/v1/meals/%s" % w["om"], "meal_point", m2, field="meal_point_id")
    call("POST", "meald", "/v1/meals/%s/delivered" % w["om"], "meal_point", m2, body={},
         field="meal_point_id")
    call("POST", "meald", "/v1/meals/%s/failed" % w["om"], "meal_point", m2,
         body={"reason": "absent"}, field="meal_point_id")
    # Couriers and rounds: the point's own, its provider's, its district's.
    courier = {"meal_point_id": w["mp1"], "name": "x", "vehicle": "foot", "capacity": 2,
               "shift_start": "10:00", "shift_end": "13:00"}
    rounds = "/v1/meal-points/%s/rounds?date=%s&slot=lunch" % (w["mp1"], w["date"])
    for role, scope, field in (("meal_point", m2, "meal_point_id"),
                               ("provider_admin", p2, "provider_id"),
                               ("dispatcher", d2, "district_id")):
        if role != "dispatcher":
            call("POST", "meald", "/v1/couriers", role, scope, body=courier, field=field)
        call("GET", "meald", "/v1/couriers?meal_point_id=%s" % w["mp1"], role, scope,
             field=field)
        call("GET", "meald", rounds, role, scope, field=field)
    st, pts = s.http("GET", "meald", "/v1/meal-points", role="meal_point", scope=m2)
    assert [p["meal_point_id"] for p in pts["meal_points"]] == [w["mp2"]], pts
    # Another elder.
    f2 = {"elder_id": w["e2"]}
    call("GET", "orderd", "/v1/cards/%s" % w["c1"], "family", f2, field="elder_id")
    call("GET", "orderd", "/v1/orders?card_id=%s" % w["c1"], "family", f2, field="elder_id")
    call("GET", "orderd", "/v1/orders", "family", f2, field="elder_id")
    call("GET", "orderd", "/v1/orders/%s" % w["o1"], "family", f2, field="elder_id")
    call("GET", "orderd", "/v1/plans?elder_id=%s" % w["e1"], "family", f2, field="elder_id")
    call("GET", "orderd", "/v1/plans/%s" % w["pl1"], "family", f2, field="elder_id")
    call("GET", "billingd", "/v1/cards/%s/balance" % w["c1"], "family", f2, field="elder_id")
    call("GET", "billingd", "/v1/cards/%s/transactions" % w["c1"], "family", f2,
         field="elder_id")
    # Money from the subsidy fund: an admin's, not the counter's.
    body = {"amount_fen": 100, "source": "subsidy", "reference": "t"}
    call("POST", "billingd", "/v1/cards/%s/topups" % w["c1"], "operator", None, body=body,
         field="source")
    st, doc = s.http("POST", "billingd", "/v1/cards/%s/topups" % w["c1"], json=body,
                     role="admin", headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st in (200, 201), (st, doc)
    st, doc = s.http("POST", "billingd", "/v1/cards/%s/topups" % w["c1"],
                     json=dict(body, source="family"), role="operator",
                     headers={"Idempotency-Key": str(uuid.uuid4())})
    assert st in (200, 201), (st, doc)


def test_browser_rules(w):
    s = w["s"]
    body = {"elder_id": w["e1"]}
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        st, doc = s.http("POST", "orderd", "/v1/cards", json=body, role="operator",
                         headers={"Content-Type": ctype})
        assert st == 415 and doc["field"] == "Content-Type", (ctype, st, doc)
    # Even a write without a body (a cancel) needs it.
    st, doc = s.http("POST", "orderd", "/v1/orders/%s/cancel" % w["o1"], role="operator",
                     headers={"Content-Type": "text/plain"})
    assert st == 415, (st, doc)
    port = s.daemons["orderd"].http_port
    for origin in ("http://evil.example", "null", "http://localhost:%d.evil.example" % port):
        st, doc = s.http("GET", "orderd", "/v1/cards/%s" % w["c1"], role="operator",
                         headers={"Origin": origin})
        assert st == 403 and doc["field"] == "Origin", (origin, st, doc)
    st, _ = s.http("GET", "orderd", "/v1/cards/%s" % w["c1"], role="operator",
                   headers={"Origin": "http://localhost:%d" % port})
    assert st == 200
    st, doc = s.http("GET", "orderd", "/v1/cards/%s" % w["c1"], role="operator",
                     headers={"Host": "evil.example:%d" % port})
    assert st == 421 and doc["field"] == "Host", (st, doc)


def test_docs_matrix_is_generated_from_the_tables(need_daemons):
    r = subprocess.run([sys.executable, os.path.join(harness.ROOT, "tools", "route_matrix.py"),
                        "--check"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, EC_BIN_DIR=harness.BIN_DIR))
    assert r.returncode == 0, r.stderr


def test_key_set_is_reloaded(need_daemons, pg, fresh_db):
    # orderd alone, reading no other log (as test_orderd_api does).
    s = harness.System(pg, fresh_db, names=("orderd",), extra_args={"orderd": {
        "billingd-log": "", "dispatchd-log": "", "meald-log": ""}})
    try:
        s.start()
        tokens = harness._tokens()
        old = s.issuer_key
        import nacl.signing
        sk = nacl.signing.SigningKey.generate()
        new = {"kty": "OKP", "crv": "Ed25519", "kid": "issuer-2",
               "x": tokens.b64url(bytes(sk.verify_key)), "d": tokens.b64url(bytes(sk))}
        t_new = tokens.sign(new, tokens.claims_for("operator"))
        assert s.http("GET", "orderd", "/v1/orders", token=t_new)[0] == 401

        def write(text):
            tmp = s.jwks_file + ".new"
            with open(tmp, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, s.jwks_file)
        pub = lambda k: {"kty": "OKP", "crv": "Ed25519", "kid": k["kid"], "x": k["x"],
                         "use": "sig", "alg": "EdDSA"}
        # Rotation: the new key next to the old one, picked up without a restart.
        write(json.dumps({"keys": [pub(old), pub(new)]}))
        harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders", token=t_new)[0]
                           == 200, timeout=10, what="new key accepted")
        # A broken file keeps the keys in use.
        write("{not json")
        time.sleep(3)
        assert s.http("GET", "orderd", "/v1/orders", token=t_new)[0] == 200
        assert "jwks_reload_failed" in s.daemons["orderd"].log_text()
        # SIGHUP re-reads too: the old key dropped.
        write(json.dumps({"keys": [pub(new)]}))
        s.daemons["orderd"].signal(1)
        harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders",
                                          role="operator")[0] == 401, timeout=10,
                           what="old key refused")
        assert s.http("GET", "orderd", "/v1/orders", token=t_new)[0] == 200
    finally:
        s.cleanup()


def test_missing_key_set_exits_2(need_daemons):
    import shutil
    import tempfile
    top = tempfile.mkdtemp(prefix="ec-jwks-")   # reachable by the daemon user
    keydir = os.path.join(top, "keys")
    harness.make_keys(keydir)
    harness.give_to_daemon_user(top)
    harness.give_to_daemon_user(keydir, tree=True)
    for jwks in (os.path.join(keydir, "none.json"), os.path.join(keydir, "orderd.pub")):
        r = subprocess.run([harness.binary("meald"), "--curve-keys-dir=" + keydir,
                            "--jwks-file=" + jwks, "--http-port=0",
                            "--log-endpoint=tcp://127.0.0.1:0",
                            "--db=host=127.0.0.1 port=1 dbname=x"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20,
                           **harness.as_daemon_user())
        out = r.stdout.decode(errors="replace")
        assert r.returncode == 2 and "--jwks-file" in out, out
    shutil.rmtree(top, ignore_errors=True)
