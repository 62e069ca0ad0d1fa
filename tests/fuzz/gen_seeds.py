#!/usr/bin/env python3
"""gen_seeds.py: write the seed corpus of every fuzz target into
tests/fuzz/<target>/seeds/ (committed; run again after a format change).

Seeds are small valid inputs of each surface, plus a few near misses, so
the fuzzer starts from the paths real clients take. Protobuf payloads are
built from proto/*.proto (protoc --python_out into a temp dir); tokens are
signed with the fuzz key of fuzz_key.h (Ed25519 seed bytes 1..32)."""
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NOW_US = 1748736000000000           # FZ_NOW_US: 2025-06-01T00:00:00Z
H = 3600 * 1000000
U = ["0b0e3c52-5a4e-4c6e-9d55-3a1f0c2b7e0%d" % i for i in range(10)]
CARD = "3d5e7f90-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
CG = "6f1c8a52-3e0b-4d8e-a1c2-0d5e6f7a8b91"


def proto_modules():
    out = tempfile.mkdtemp()
    proto = os.path.join(ROOT, "proto")
    files = [os.path.join(proto, f) for f in sorted(os.listdir(proto)) if f.endswith(".proto")]
    subprocess.run(["protoc", "--python_out=" + out, "-I" + proto] + files, check=True)
    sys.path.insert(0, out)
    import envelope_pb2
    import events_pb2
    return envelope_pb2, events_pb2, out


def write(target, name, data):
    d = os.path.join(HERE, target, "seeds")
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(claims, header=None):
    import nacl.signing
    key = nacl.signing.SigningKey(bytes(range(1, 33)))
    h = b64(json.dumps(header or {"alg": "EdDSA", "typ": "JWT", "kid": "fuzz-1"}).encode())
    p = b64(json.dumps(claims).encode())
    sig = key.sign((h + "." + p).encode()).signature
    return h + "." + p + "." + b64(sig)


def claims(role, **scope):
    c = {"iss": "https://issuer.fuzz", "aud": "eldercare", "sub": "acct-" + role,
         "exp": 4102444800, "iat": 1700000000, "role": role, "gen": 1}
    c.update(scope)
    return c


def http_seeds():
    admin = token(claims("admin"))
    cg = token(claims("caregiver", caregiver_id=CG))
    disp = token(claims("dispatcher", district_ids=[1, 2]))
    host = "Host: eldercare.fuzz\r\n"
    reqs = {
        "get_upper_id": "GET /v1/things/%s?elder_id=%s&q=a+b%%20c HTTP/1.1\r\n%s"
                        "User-Agent: fuzz\r\n\r\n" % (U[1].upper(), U[2], host),
        "get_bad_query_id": "GET /v1/things/%s?elder_id=nope HTTP/1.1\r\n%s\r\n" % (U[1], host),
        "get_not_uuid": "GET /v1/things/12%%2F34 HTTP/1.1\r\n%s\r\n" % host,
        "post_create": "POST /v1/things HTTP/1.1\r\n%sContent-Type: application/json; "
                       "charset=utf-8\r\nIdempotency-Key: k-1\r\nContent-Length: 27\r\n\r\n"
                       '{"name":"a","elder_id":"x"}' % host,
        "post_no_key": "POST /v1/things HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                       "Content-Length: 2\r\n\r\n{}" % host,
        "post_form": "POST /v1/things HTTP/1.1\r\n%sContent-Type: text/plain\r\n"
                     "Origin: http://evil.example\r\nContent-Length: 2\r\n\r\n{}" % host,
        "cancel": "POST /v1/things/%s/cancel HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                  "Content-Length: 18\r\n\r\n{\"reason\":\"moved\"}" % (U[3], host),
        "part_pii": "GET /v1/things/%s/parts/%s HTTP/1.1\r\n%s\r\n" % (U[4], U[5], host),
        "slow_then_get": "GET /v1/slow HTTP/1.1\r\n%s\r\nGET /healthz HTTP/1.1\r\n%s\r\n"
                         % (host, host),
        "accept_caregiver": "POST /v1/visits/%s/accept HTTP/1.1\r\n%sAuthorization: Bearer %s\r\n"
                            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                            % (CG, host, cg),
        "visit_dispatcher": "GET /v1/visits/%s?district_id=3 HTTP/1.1\r\n%s"
                            "Authorization: Bearer %s\r\n\r\n" % (U[6], host, disp),
        "price_admin": "PUT /v1/prices/meal HTTP/1.1\r\n%sAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nIdempotency-Key: p 1\r\n"
                       "Content-Length: 17\r\n\r\n{\"price_fen\":100}" % (host, admin),
        "no_token": "GET /v1/visits/%s HTTP/1.1\r\n%s\r\n" % (U[6], host),
        "bad_host": "GET /readyz HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        "method": "DELETE /v1/things HTTP/1.1\r\n%s\r\n" % host,
        "http10_metrics": "GET /metrics HTTP/1.0\r\n\r\n",
        "chunked": "POST /v1/things HTTP/1.1\r\n%sContent-Type: application/json\r\n"
                   "Idempotency-Key: k-2\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "c\r\n{\"name\":\"b\"}\r\n0\r\n\r\n" % host,
    }
    for name, r in reqs.items():
        write("http", name, r)


def jwt_seeds():
    write("jwt", "token_admin", b"\x00" + token(claims("admin")).encode())
    write("jwt", "token_alg_none", b"\x00" + token(claims("admin"), {"alg": "none"}).encode())
    hdr = json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": "fuzz-1"}).encode()
    for role, scope in (("operator", {}), ("dispatcher", {"district_ids": [1, 4294967295]}),
                        ("caregiver", {"caregiver_id": CG.upper()}),
                        ("provider_admin", {"provider_id": U[1]}),
                        ("meal_point", {"meal_point_id": U[2]}), ("family", {"elder_id": U[3]}),
                        ("service", {"aud": ["other", "eldercare"], "nbf": 1700000000,
                                     "jti": "j-1"})):
        write("jwt", "claims_" + role, b"\x01" + hdr + b"\x00"
              + json.dumps(claims(role, **scope)).encode())
    import nacl.signing
    pk = nacl.signing.SigningKey(bytes(range(1, 33))).verify_key.encode()
    write("jwt", "jwks", b"\x02" + json.dumps({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "k2", "x": b64(pk), "use": "sig", "alg": "EdDSA"},
        {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}]}).encode())


def intake_seeds(env_pb, ev_pb):
    def place(name, shape, **kw):
        po = ev_pb.PlaceOrder(**kw)
        env = env_pb.Envelope(type="PlaceOrder", id="req-1", payload=po.SerializeToString())
        write("intake", name, bytes([shape]) + env.SerializeToString())
    place("dealer_bath", 0, idempotency_key="cti-1", card_id=CARD, service=2,
          window_start_us=NOW_US + 2 * H, window_end_us=NOW_US + 4 * H, notes="ring twice")
    place("req_emergency", 1, idempotency_key="cti-2", card_id=CARD.upper(), service=6)
    place("window_backwards", 0, idempotency_key="cti-3", card_id=CARD, service=1,
          window_start_us=NOW_US + 4 * H, window_end_us=NOW_US + 2 * H)
    env = env_pb.Envelope(type="Fetch", id="x")
    write("intake", "wrong_type", b"\x00" + env.SerializeToString())
    write("intake", "garbage", b"\x00\xff\xff\xff")


def json_seeds():
    w = lambda t, n, o: write(t + "_json", n, json.dumps(o))
    w("orderd", "order", {"card_id": CARD, "service": "bath", "window_start":
                          "2025-06-02T09:00:00+08:00", "window_end": "2025-06-02T11:00:00+08:00",
                          "notes": "knock", "_key": "k-1"})
    w("orderd", "order_emergency", {"card_id": CARD.upper(), "service": "emergency"})
    w("orderd", "elder", {"name": "王秀英", "id_number": "11010519491231002X",
                          "phone": "+86 138-0000-0000", "address": "1 Road", "district_id": 1,
                          "lat": 31.23, "lon": 121.47, "birth_date": "1949-12-31",
                          "ability_level": "partial", "household": "alone",
                          "living": "home", "disability_grade": 2, "diet": "low-salt"})
    w("orderd", "card_status", {"elder_id": U[1], "status": "blocked", "reason": "lost"})
    w("dispatchd", "caregiver", {"name": "Li", "provider_id": U[2], "district_id": 1,
                                 "lat": 31.2, "lon": 121.5, "skills": ["bath", "visit"],
                                 "level": 2, "first_aid": True, "shift_start": "08:00",
                                 "shift_end": "17:30"})
    w("dispatchd", "check_in", {"caregiver_id": CG, "lat": 31.2304, "lon": 121.4737,
                                "at": "2025-06-01T08:00:00+08:00", "reason": "ill"})
    w("meald", "point", {"name": "Canteen", "provider_id": U[3], "district_id": 1,
                         "lat": 31.23, "lon": 121.47, "slots": [
                             {"slot": "lunch", "capacity": 40, "cutoff": "09:30"},
                             {"slot": "dinner", "capacity": 20, "cutoff": "15:00"}]})
    w("meald", "delivered", {"courier_id": "c-7", "at": "2025-06-01T07:59:00+08:00",
                             "date": "2025-06-02", "slot": "dinner"})
    w("billingd", "price", {"price_fen": 1500})
    w("billingd", "topup", {"amount_fen": 5000000, "source": "family", "reference": "r-1"})


def record(log, typ, payload):
    return bytes([log, typ]) + struct.pack("<H", len(payload)) + payload


def events_seeds(ev_pb):
    E = ev_pb
    placed = lambda oid, svc, **kw: E.OrderPlaced(
        order_id=oid, card_id=CARD, service=svc, window_start_us=NOW_US + 2 * H,
        window_end_us=NOW_US + 4 * H, district_id=1, household="alone", age_years=82,
        **kw).SerializeToString()
    issued = E.CardIssued(card_id=CARD, elder_id=U[9], district_id=1, household="alone",
                          age_years=82).SerializeToString()
    # billingd: card, top-up, orders held, captured, released, denied.
    write("billingd_events", "saga", b"".join([
        record(0, 0, issued), record(0, 7, CARD.encode()),
        record(0, 2, placed(U[1], 2)), record(0, 2, placed(U[2], 1)),
        record(0, 2, placed(U[3], 6, emergency=True)), record(0, 2, placed(U[4], 8, mandated=True)),
        record(0, 3, E.OrderCompleted(order_id=U[1], card_id=CARD, service=2,
                                      provider_id=U[5], completed_us=NOW_US).SerializeToString()),
        record(0, 4, E.OrderCancelled(order_id=U[2], reason="moved",
                                      card_id=CARD).SerializeToString()),
        record(0, 5, E.OrderFailed(order_id=U[3], reason="no caregiver").SerializeToString()),
        record(0, 1, E.CardStatusChanged(card_id=CARD, status="blocked").SerializeToString()),
        record(0, 2, placed(U[6], 3)),
        record(0, 6, E.AccountChanged(account_id=U[7], gen=2, disabled=True).SerializeToString()),
        record(1, 0, E.VisitCompleted(visit_id=U[8], order_id=U[1], caregiver_id=CG,
                                      provider_id=U[5], checked_in_us=NOW_US - H,
                                      checked_out_us=NOW_US, lat=31.2, lon=121.4,
                                      distance_m=12).SerializeToString()),
        record(2, 0, E.MealDelivered(order_id=U[2], meal_point_id=U[3], provider_id="p-x",
                                     delivered_us=NOW_US).SerializeToString())]))
    write("billingd_events", "denied_no_card", record(0, 2, placed(U[1], 4)))
    # orderd: every event of the three logs once.
    write("orderd_events", "billing", b"".join([
        record(0, 0, E.FundsHeld(order_id=U[1], card_id=CARD, price_fen=8000, subsidy_fen=4000,
                                 held_fen=4000).SerializeToString()),
        record(0, 1, E.FundsDenied(order_id=U[2], card_id=CARD, price_fen=8000,
                                   available_fen=-5, reason="insufficient_funds")
               .SerializeToString()),
        record(0, 2, E.HoldCaptured(order_id=U[1], card_id=CARD, charged_fen=4000,
                                    provider_id=U[5]).SerializeToString()),
        record(0, 3, E.HoldReleased(order_id=U[2], released_fen=1).SerializeToString())]))
    write("orderd_events", "visits", b"".join([
        record(1, 0, E.VisitAssigned(visit_id=U[8], order_id=U[1], caregiver_id=CG,
                                     provider_id=U[5], eta_us=NOW_US + H, travel_s=600)
               .SerializeToString()),
        record(1, 1, E.VisitAccepted(order_id=U[1], caregiver_id=CG).SerializeToString()),
        record(1, 2, E.VisitDeclined(order_id=U[1], caregiver_id=CG, reason="")
               .SerializeToString()),
        record(1, 3, E.VisitCheckedIn(order_id=U[1], at_us=NOW_US, lat=31.2, lon=121.4,
                                      distance_m=-1).SerializeToString()),
        record(1, 4, E.VisitCompleted(order_id=U[1], provider_id="p" * 64, checked_out_us=NOW_US,
                                      lat=31.2, lon=121.4).SerializeToString()),
        record(1, 5, E.VisitFailed(order_id=U[2], reason="no show").SerializeToString())]))
    write("orderd_events", "meals", b"".join([
        record(2, 0, E.MealScheduled(order_id=U[3], meal_point_id=U[4], slot="lunch",
                                     date="2025-06-02", provider_id=U[5]).SerializeToString()),
        record(2, 1, E.MealRefused(order_id=U[4], reason="").SerializeToString()),
        record(2, 2, E.MealDelivered(order_id=U[3], provider_id=U[5], delivered_us=NOW_US)
               .SerializeToString())]))
    released = lambda oid, svc, start, **kw: E.OrderReleased(
        order_id=oid, elder_id=U[9], service=svc, window_start_us=start,
        window_end_us=start + 2 * H if start else 0, district_id=1, lat=31.231, lon=121.471,
        ability_level="partial", **kw).SerializeToString()
    # Their tables: 0 the reader's own release (VisitReleased, MealReleased),
    # 1 OrderReleased (older logs), 2 OrderCancelled, 3 AccountChanged,
    # 4 the target's extra record.
    for t in ("dispatchd_events", "meald_events"):
        write(t, "release_cancel", b"".join([
            record(0, 1, released(U[1], 2, NOW_US + 2 * H, notes="key under mat",
                                  preferred_caregiver_id=CG)),
            record(0, 1, released(U[2], 6, 0, emergency=True, priority=9)),
            record(0, 1, released(U[3], 1, NOW_US + 27 * H + 30 * 60000000, diet="软食")),
            record(0, 1, released(U[4], 1, NOW_US + 34 * H)),
            record(0, 4, U[3].encode()),
            record(0, 2, E.OrderCancelled(order_id=U[1], reason="moved").SerializeToString()),
            record(0, 2, E.OrderCancelled(order_id=U[4]).SerializeToString()),
            record(0, 3, E.AccountChanged(account_id=U[7], gen=3).SerializeToString())]))
    visit = lambda oid, svc, start, **kw: E.VisitReleased(
        order_id=oid, elder_id=U[9], service=svc, window_start_us=start,
        window_end_us=start + 2 * H if start else 0, district_id=1, lat=31.231, lon=121.471,
        ability_level="severe", **kw).SerializeToString()
    write("dispatchd_events", "visit_released", b"".join([
        record(0, 0, visit(U[1], 2, NOW_US + 2 * H, notes="key under mat",
                           preferred_caregiver_id=CG)),
        record(0, 0, visit(U[2], 6, 0, emergency=True, priority=9)),
        record(0, 2, E.OrderCancelled(order_id=U[1], reason="moved").SerializeToString())]))
    meal = lambda oid, start, **kw: E.MealReleased(
        order_id=oid, window_start_us=start, window_end_us=start + H, district_id=1,
        lat=31.231, lon=121.471, **kw).SerializeToString()
    write("meald_events", "meal_released", b"".join([
        record(0, 0, meal(U[3], NOW_US + 27 * H + 30 * 60000000, diet="软食")),
        record(0, 0, meal(U[4], NOW_US + 34 * H)),
        record(0, 4, U[3].encode()),
        record(0, 2, E.OrderCancelled(order_id=U[4]).SerializeToString())]))


def solver_seeds():
    c101 = ("C101\r\n\r\nVEHICLE\r\nNUMBER     CAPACITY\r\n  3         200\r\n\r\nCUSTOMER\r\n"
            "CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME\r\n"
            " \r\n    0      40         50          0          0       1236          0   \r\n"
            "    1      45         68         10        912        967         90   \r\n"
            "    2      45         70         30        825        870         90   \r\n"
            "    3      42         66         10         65        146         90   \r\n"
            "    4      42         68         10        727        782         90   \r\n")
    write("solver", "solomon", c101)
    write("solver", "solomon_routes", c101 + "\0" + "2 0\n1 3\n")
    day = {"name": "day", "locations": {"coordinates": [[0, 0], [3, 4], [6, 8]],
                                        "metric": "euclidean", "speed": 0.5},
           "costs": {"per_distance": 2, "unassigned_penalty": 100, "balance": 0.5},
           "jobs": [{"id": "visit-a", "location": 1, "windows": [[0, 20], [40, 60]],
                     "service": 5, "demand": [1, 2], "skills": [0, 3], "priority": 2,
                     "preferred": [1], "max_lateness": 10, "lateness_cost": 1.5},
                    {"id": 77, "location": 2}],
           "vehicles": [{"id": "anna", "start": 0, "shift": [0, 100], "capacity": [5, 5],
                         "skills": [0, 3], "max_duration": 80},
                        {"start": 0, "end": 2, "skills": [], "fixed_cost": 3}]}
    write("solver", "json", json.dumps(day))
    write("solver", "json_routes", json.dumps(day) + "\0" + "0 1\n\n")


def main():
    env_pb, ev_pb, tmp = proto_modules()
    try:
        for t in os.listdir(HERE):
            s = os.path.join(HERE, t, "seeds")
            if os.path.isdir(s):
                shutil.rmtree(s)
        http_seeds()
        jwt_seeds()
        intake_seeds(env_pb, ev_pb)
        json_seeds()
        events_seeds(ev_pb)
        solver_seeds()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
