#!/usr/bin/python3
"""demo.py: load a small demo county over the public HTTP APIs, place a few
love-card orders and print each order's journey as it happens.

It plays every part a person would: the county clerk (districts are just
ids 1-3, elders, cards, caregivers, meal points), the family paying top-ups,
the call-centre operator (finds the caller by phone, places orders), the
caregivers' app (accept, check-in, check-out with GPS and time) and the meal
courier (delivered). It polls GET /v1/orders/{id} and prints every new
history entry until each order reaches a final state.

Exit status 0 when every order ends as expected (bath, meal, cleaning and
emergency billed; the poor card's bath denied; the cancelled escort
cancelled), 1 otherwise. `make run` runs it; the system tests run it too.

Every call carries a bearer token of the role that would make it (the
operator, an admin registering caregivers and meal points, each caregiver
for their own visits, the meal point for its deliveries, an auditor for the
ledger check). It logs in first (POST /v1/auth/login on orderd) with the
demo accounts `make run` seeds into orderd (var/demo-accounts.json,
DEMO_ACCOUNTS), one per role, and uses their tokens for the roles without a
scope. A caregiver's or meal point's scope names ids the demo itself
creates, so their tokens (and every token when there is no accounts file)
are minted with orderd's own issuer key (tools/tokens.py): one issuer.

Environment: ORDERD_URL, DISPATCHD_URL, MEALD_URL, BILLINGD_URL (defaults
http://127.0.0.1:8081..8084), DEMO_TIMEOUT_S (default 90), DEMO_PACE_S
(pause between a caregiver's steps so a person can follow, default 1),
DEMO_ISSUER_KEY (orderd's issuer key, default var/issuer/issuer.key),
DEMO_ACCOUNTS (default var/demo-accounts.json).
"""

import datetime
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokens  # noqa: E402  (tools/tokens.py)

URL = {
    "orderd": os.environ.get("ORDERD_URL", "http://127.0.0.1:8081"),
    "dispatchd": os.environ.get("DISPATCHD_URL", "http://127.0.0.1:8082"),
    "meald": os.environ.get("MEALD_URL", "http://127.0.0.1:8083"),
    "billingd": os.environ.get("BILLINGD_URL", "http://127.0.0.1:8084"),
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCOUNTS = os.environ.get("DEMO_ACCOUNTS", os.path.join(ROOT, "var", "demo-accounts.json"))
_accounts = None      # role -> {username, password, ...} from ACCOUNTS
TIMEOUT_S = float(os.environ.get("DEMO_TIMEOUT_S", "90"))
PACE_S = float(os.environ.get("DEMO_PACE_S", "1"))
TZ = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")
FINAL = {"billed", "denied", "cancelled", "failed"}
ISSUER_KEY = os.environ.get("DEMO_ISSUER_KEY", os.path.join(ROOT, "var", "issuer",
                                                             tokens.KEY_FILE))
_token_cache = {}


def load_accounts():
    """The demo accounts by role, or {} when there is no accounts file."""
    global _accounts
    if _accounts is None:
        try:
            with open(ACCOUNTS) as f:
                _accounts = {a["role"]: a for a in json.load(f)}
        except FileNotFoundError:
            _accounts = {}
    return _accounts


def login(role):
    """An access token of the demo account of role (orderd's login), or None
    when there is no such account."""
    a = load_accounts().get(role)
    if not a:
        return None
    _, doc = call("orderd", "POST", "/v1/auth/login",
                  {"username": a["username"], "password": a["password"]}, auth=False)
    return doc["access_token"]


def token(role, scope=None):
    """A bearer token for role (scope: its claims), kept for 10 minutes: the
    demo account's when the role needs no scope of the demo's making, else
    minted with the issuer key."""
    k = (role, json.dumps(scope, sort_keys=True))
    t, born = _token_cache.get(k, (None, 0))
    if not t or time.monotonic() - born > 600:
        t = login(role) if scope is None else None
        if t is None:
            t = tokens.mint(ISSUER_KEY, role, scope, ttl=900, sub="demo-" + role)
        _token_cache[k] = (t, time.monotonic())
    return t

try:
    sys.stdout.reconfigure(errors="replace", line_buffering=True)
except AttributeError:
    pass


# ---- HTTP -------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, msg, status=None):
        Exception.__init__(self, msg)
        self.status = status


def call(daemon, method, path, body=None, headers=None, ok=(200, 201, 202), quiet=False,
         role="operator", scope=None, auth=True):
    """One request as role (with scope claims; auth=False: no token);
    returns (status, parsed JSON). Raises ApiError unless the status is in
    ok (ok=None accepts any)."""
    data = json.dumps(body).encode() if body is not None else None
    h = {"Accept": "application/json"}
    if auth and path not in ("/readyz", "/healthz"):
        h["Authorization"] = "Bearer " + token(role, scope)
    if data is not None or method != "GET":
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(URL[daemon] + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = raw.decode(errors="replace")
    if ok is not None and status not in ok:
        raise ApiError("%s %s%s -> %d %s" % (method, daemon, path, status, doc), status)
    return status, doc


def retry(fn, what, timeout=15.0):
    """Retry fn() while it fails with 404 or 503 (e.g. billingd has not
    seen the card yet, or is catching up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ApiError as e:
            if e.status not in (404, 503) or time.monotonic() > deadline:
                raise ApiError("%s: %s" % (what, e))
            time.sleep(0.2)


def now():
    return datetime.datetime.now(TZ)


def rfc3339(t):
    return t.isoformat(timespec="seconds")


def yuan(fen):
    return "-" if fen is None else "%.2f" % (fen / 100.0)


def say(msg):
    print("[%s] %s" % (now().strftime("%H:%M:%S"), msg))


# ---- demo data ----------------------------------------------------------------
DISTRICTS = {1: "Chengguan street", 2: "Dongcheng town", 3: "Xihu village"}
# district centres (a county seat in the hills)
CENTRE = {1: (30.2741, 120.1551), 2: (30.2902, 120.1830), 3: (30.2480, 120.1290)}


def id_number(birth, sex_odd):
    """A valid 18-character resident ID (GB 11643-1999) for a demo person."""
    region = "330106"
    seq = random.randrange(0, 499) * 2 + (1 if sex_odd else 0)
    first17 = region + birth.strftime("%Y%m%d") + "%03d" % seq
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    check = "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]
    return first17 + check


def near(district, dn, de):
    lat, lon = CENTRE[district]
    return round(lat + dn, 6), round(lon + de, 6)


# name, district, age, ability, household, living, top-up fen, diet
ELDERS = [
    ("Wang Xiuying", 1, 86, "severe", "dibao", "alone", 20000, "soft"),
    ("Li Guilan", 1, 78, "mild", "none", "empty_nest", 15000, "low-salt"),
    ("Zhang Jianguo", 1, 91, "moderate", "tekun", "alone", 5000, "diabetic"),
    ("Liu Shufen", 2, 83, "intact", "none", "with_family", 10000, ""),
    ("Chen Dehai", 2, 74, "mild", "dibao_edge", "empty_nest", 8000, "low-salt"),
    ("Yang Fenglan", 2, 95, "total", "tekun", "alone", 0, "soft"),
    ("Zhao Yulan", 3, 81, "moderate", "none", "alone", 1000, ""),     # too little for a bath
    ("Huang Zhiqiang", 3, 69, "intact", "none", "with_family", 30000, ""),
    ("Zhou Meiying", 3, 88, "severe", "dibao", "empty_nest", 12000, "soft"),
    ("Wu Baoshan", 1, 77, "mild", "none", "alone", 0, ""),            # empty card
]

# name, district, skills, level, first_aid, shift
CAREGIVERS = [
    ("Sun Li", 1, ["bath", "cleaning", "escort"], 3, True, ("00:00", "23:59")),
    ("Ma Jun", 1, ["cleaning", "escort", "visit"], 1, False, ("00:00", "23:59")),
    ("Zhu Hong", 1, ["emergency", "medical_escort", "escort"], 2, True, ("00:00", "23:59")),
    ("Hu Ping", 2, ["bath", "cleaning"], 1, False, ("00:00", "23:59")),
    ("Guo Min", 2, ["bath", "emergency", "medical_escort"], 2, True, ("00:00", "23:59")),
    ("He Jing", 3, ["cleaning", "visit", "assessment"], 2, False, ("08:00", "18:00")),
    ("Lin Tao", 3, ["bath", "cleaning", "escort", "emergency"], 3, True, ("00:00", "23:59")),
    ("Luo Yan", 2, ["escort", "visit", "cleaning"], 1, False, ("07:00", "19:00")),
]

MEAL_POINTS = [
    ("Chengguan community canteen", 1, (0.002, -0.001),
     [{"slot": "lunch", "capacity": 60, "cutoff": "09:30"},
      {"slot": "dinner", "capacity": 40, "cutoff": "15:30"}]),
    ("Dongcheng elder kitchen", 2, (0.001, 0.002),
     [{"slot": "lunch", "capacity": 40, "cutoff": "10:00"},
      {"slot": "dinner", "capacity": 30, "cutoff": "16:00"}]),
]


def load_county():
    say("loading the demo county: %d districts, %d elders, %d caregivers, %d meal points"
        % (len(DISTRICTS), len(ELDERS), len(CAREGIVERS), len(MEAL_POINTS)))
    today = now().date()
    elders = []
    for i, (name, dist, age, ability, household, living, topup, diet) in enumerate(ELDERS):
        birth = datetime.date(today.year - age, 1 + (i * 5) % 12, 1 + (i * 7) % 28)
        lat, lon = near(dist, 0.004 * ((i % 5) - 2), 0.003 * ((i % 3) - 1))
        phone = "1380571%04d" % random.randrange(10000)
        body = {"name": name, "phone": phone,
                "address": "No. %d, %s" % (10 + i, DISTRICTS[dist]),
                "district_id": dist, "lat": lat, "lon": lon,
                "birth_date": birth.isoformat(), "ability_level": ability,
                "household": household, "living": living}
        if diet:
            body["diet"] = diet
        for _ in range(5):
            body["id_number"] = id_number(birth, i % 2 == 0)
            st, doc = call("orderd", "POST", "/v1/elders", body, ok=None)
            if st == 201:
                break
            if st == 409 and isinstance(doc, dict) and doc.get("elder_id"):
                break  # already known (an earlier run); use that record
        else:
            raise ApiError("POST /v1/elders -> %d %s" % (st, doc))
        elder_id = doc["elder_id"]
        _, card = call("orderd", "POST", "/v1/cards", {"elder_id": elder_id})
        e = {"name": name, "district_id": dist, "lat": lat, "lon": lon, "phone": phone,
             "elder_id": elder_id, "card_id": card["card_id"], "ability": ability,
             "household": household, "age": age}
        if topup:
            key = "demo-topup-" + e["card_id"]
            retry(lambda: call("billingd", "POST", "/v1/cards/%s/topups" % e["card_id"],
                               {"amount_fen": topup, "source": "family",
                                "reference": "demo: family transfer"},
                               headers={"Idempotency-Key": key}),
                  "top-up for %s" % name)
        say("  elder %-15s district %d, %2d y, %-8s %-10s card %s, top-up %s CNY"
            % (name, dist, age, ability, household, e["card_id"][:8], yuan(topup)))
        elders.append(e)

    for i, (name, dist, skills, level, first_aid, shift) in enumerate(CAREGIVERS):
        lat, lon = near(dist, 0.003 * ((i % 4) - 1.5), -0.002 * ((i % 3) - 1))
        _, doc = call("dispatchd", "POST", "/v1/caregivers", {
            "name": name, "provider_id": "provider-%d" % (1 + i % 2), "district_id": dist,
            "lat": lat, "lon": lon, "skills": skills, "level": level,
            "first_aid": first_aid, "shift_start": shift[0], "shift_end": shift[1]},
            role="admin")
        say("  caregiver %-9s district %d, level %d%s, %s, shift %s-%s"
            % (name, dist, level, " first-aid" if first_aid else "", "/".join(skills),
               shift[0], shift[1]))

    points = []
    for name, dist, (dn, de), slots in MEAL_POINTS:
        lat, lon = near(dist, dn, de)
        _, doc = call("meald", "POST", "/v1/meal-points", {
            "name": name, "district_id": dist, "lat": lat, "lon": lon, "slots": slots},
            role="admin")
        points.append(doc["meal_point_id"])
        say("  meal point %s (district %d): %s" % (name, dist, ", ".join(
            "%s %d before %s" % (s["slot"], s["capacity"], s["cutoff"]) for s in slots)))
    return elders, points


# ---- orders -----------------------------------------------------------------------
class Order:
    def __init__(self, label, elder, service, expect, window, notes=""):
        self.label = label
        self.elder = elder
        self.service = service
        self.expect = expect
        self.window = window
        self.notes = notes
        self.key = "demo-%s" % uuid.uuid4()
        self.id = None
        self.doc = {}
        self.seen = 0           # history entries printed
        self.steps_done = []    # caregiver / courier steps done
        self.next_step_at = 0.0
        self.step_errors = 0

    def body(self):
        return {"card_id": self.elder["card_id"], "service": self.service,
                "window_start": rfc3339(self.window[0]), "window_end": rfc3339(self.window[1]),
                "notes": self.notes}

    @property
    def state(self):
        return self.doc.get("state")

    def tag(self):
        return "%-22s" % ("%s/%s" % (self.label, self.elder["name"].split()[0]))


def place(o):
    st, doc = call("orderd", "POST", "/v1/orders", o.body(),
                   headers={"Idempotency-Key": o.key})
    o.id = doc["order_id"]
    say("%s placed %s for %s: order %s, %s (HTTP %d)"
        % (o.tag(), o.service, o.elder["name"], o.id[:8], doc.get("state"), st))


def history_line(h):
    if not isinstance(h, dict):
        return str(h)
    at = h.get("at") or h.get("time") or h.get("ts") or ""
    try:
        at = datetime.datetime.fromisoformat(str(at).replace("Z", "+00:00")) \
            .astimezone(TZ).strftime("%H:%M:%S.%f")[:-3]
    except ValueError:
        pass
    parts = [str(h.get("state", "?"))]
    ev = h.get("event")
    if ev:
        parts.append("(%s)" % ev)
    detail = h.get("detail") or h.get("reason")
    if detail:
        parts.append("- %s" % detail)
    return "%s %s" % (at, " ".join(parts))


def poll(o):
    _, doc = call("orderd", "GET", "/v1/orders/%s" % o.id)
    o.doc = doc or {}
    hist = o.doc.get("history") or []
    for h in hist[o.seen:]:
        say("%s %s" % (o.tag(), history_line(h)))
    o.seen = max(o.seen, len(hist))


def find_visit(o):
    vid = o.doc.get("visit_id")
    if vid:
        return vid
    cid = o.doc.get("caregiver_id")
    if not cid:
        return None
    _, doc = call("dispatchd", "GET", "/v1/caregivers/%s/visits" % cid, role="caregiver",
                  scope={"caregiver_id": cid})
    visits = doc.get("visits", []) if isinstance(doc, dict) else (doc or [])
    for v in visits:
        if isinstance(v, dict) and v.get("order_id") == o.id:
            return v.get("visit_id") or v.get("id")
    return None


def drive(o):
    """Play the caregiver's app or the courier for an order, one step a call."""
    if o.state in FINAL or time.monotonic() < o.next_step_at:
        return
    e = o.elder
    if o.service == "meal":
        if o.state == "assigned" and "delivered" not in o.steps_done:
            mid = o.doc.get("meal_id") or o.id
            point = o.doc.get("meal_point_id") or str(uuid.uuid4())
            st, doc = call("meald", "POST", "/v1/meals/%s/delivered" % mid,
                           {"time": rfc3339(now()), "lat": e["lat"], "lon": e["lon"]}, ok=None,
                           role="meal_point", scope={"meal_point_id": point})
            step_result(o, "delivered", st, doc, "courier: meal delivered to the door")
        return
    if o.state not in ("assigned", "in_progress"):
        return
    vid = find_visit(o)
    if not vid:
        return
    cid = o.doc.get("caregiver_id")
    # The caregiver's app: who acts is the caregiver's token, not the body.
    me = {"role": "caregiver", "scope": {"caregiver_id": cid}}
    gps = {"lat": e["lat"] + 0.0001, "lon": e["lon"] - 0.0001, "time": rfc3339(now())}
    if "accept" not in o.steps_done:
        st, doc = call("dispatchd", "POST", "/v1/visits/%s/accept" % vid, {}, ok=None, **me)
        step_result(o, "accept", st, doc, "caregiver %s accepts visit %s"
                    % (str(o.doc.get("caregiver_id", "?"))[:8], str(vid)[:8]))
    elif "check-in" not in o.steps_done:
        st, doc = call("dispatchd", "POST", "/v1/visits/%s/check-in" % vid, gps, ok=None, **me)
        step_result(o, "check-in", st, doc, "caregiver checks in at the door")
    elif "check-out" not in o.steps_done and o.state == "in_progress":
        st, doc = call("dispatchd", "POST", "/v1/visits/%s/check-out" % vid, gps, ok=None,
                       **me)
        step_result(o, "check-out", st, doc, "caregiver checks out, service done")


def step_result(o, step, status, doc, msg):
    if 200 <= status < 300:
        o.steps_done.append(step)
        say("%s   -> %s" % (o.tag(), msg))
        o.next_step_at = time.monotonic() + PACE_S
    else:
        o.step_errors += 1
        if o.step_errors <= 3:
            say("%s   !! %s: HTTP %d %s" % (o.tag(), step, status, doc))
        o.next_step_at = time.monotonic() + 0.5


def main():
    random.seed()
    for d, u in URL.items():
        # A consumer is not ready while a producer it reads is still coming
        # up (make run starts them together): wait, as for any 503.
        retry(lambda: call(d, "GET", "/readyz"), "%s ready" % d, timeout=60)
    if load_accounts():
        roles = ("admin", "auditor", "operator")
        for role in roles:
            token(role)
        say("logged in as %s" % ", ".join(roles))
    elders, points = load_county()
    by = {e["name"]: e for e in elders}

    # The operator's first screen: find the caller while the phone rings.
    caller = by["Wang Xiuying"]
    _, found = call("orderd", "GET", "/v1/elders?phone=%s" % caller["phone"])
    n = len(found.get("elders", found) if isinstance(found, dict) else found or [])
    say("operator: caller %s -> %d elder record(s) found by phone" % (caller["phone"], n))

    t = now()
    soon = (t + datetime.timedelta(minutes=5), t + datetime.timedelta(hours=2))
    tomorrow = (t + datetime.timedelta(days=1)).date()
    lunch = (datetime.datetime.combine(tomorrow, datetime.time(11, 0), TZ),
             datetime.datetime.combine(tomorrow, datetime.time(12, 30), TZ))
    orders = [
        Order("bath", by["Wang Xiuying"], "bath", "billed", soon,
              "severe: needs a level 2+ caregiver"),
        Order("meal", by["Li Guilan"], "meal", "billed", lunch, "low-salt lunch"),
        Order("cleaning", by["Liu Shufen"], "cleaning", "billed", soon, "kitchen and bathroom"),
        Order("emergency", by["Wu Baoshan"], "emergency", "billed",
              (t, t + datetime.timedelta(hours=2)), "fell at home, conscious"),
        Order("poor-card", by["Zhao Yulan"], "bath", "denied", soon, "card holds 10 CNY"),
        Order("cancel", by["Huang Zhiqiang"], "escort", "cancelled", soon,
              "walk to the clinic (family will go instead)"),
    ]
    for o in orders:
        place(o)

    # Idempotent retry: the same key and body give the same order.
    st, doc = call("orderd", "POST", "/v1/orders", orders[0].body(),
                   headers={"Idempotency-Key": orders[0].key})
    say("operator: retried order %s with the same Idempotency-Key -> %s (HTTP %d)"
        % (orders[0].id[:8], "same order" if doc.get("order_id") == orders[0].id
           else "DIFFERENT order %s" % doc.get("order_id"), st))

    st, doc = call("orderd", "POST", "/v1/orders/%s/cancel" % orders[-1].id, {}, ok=None)
    say("%s operator cancels: HTTP %d" % (orders[-1].tag(), st))

    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for o in orders:
            if o.state not in FINAL:
                try:
                    poll(o)
                    drive(o)
                except (ApiError, OSError) as e:
                    say("%s   !! %s" % (o.tag(), e))
        if all(o.state in FINAL for o in orders):
            break
        time.sleep(0.2)

    print()
    print("%-10s %-15s %-10s %-10s %8s %8s %8s  %s" % (
        "order", "elder", "service", "state", "price", "held", "charged", "who"))
    ok = True
    for o in orders:
        d = o.doc
        who = d.get("caregiver_id") or d.get("meal_point_id") or d.get("reason") or ""
        mark = "" if o.state == o.expect else "   <- expected %s" % o.expect
        ok = ok and o.state == o.expect
        print("%-10s %-15s %-10s %-10s %8s %8s %8s  %s%s" % (
            (o.id or "-")[:8], o.elder["name"], o.service, o.state, yuan(d.get("price_fen")),
            yuan(d.get("held_fen")), yuan(d.get("charged_fen")), str(who)[:36], mark))
    print()
    for o in orders:
        try:
            _, b = call("billingd", "GET", "/v1/cards/%s/balance" % o.elder["card_id"])
            print("card of %-15s available %8s  held %8s  arrears %8s CNY" % (
                o.elder["name"], yuan(b.get("available_fen")), yuan(b.get("held_fen")),
                yuan(b.get("arrears_fen"))))
        except ApiError as e:
            print("card of %-15s: %s" % (o.elder["name"], e))
    try:
        lunch_date = tomorrow.isoformat()
        _, kl = call("meald", "GET", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                     % (points[0], lunch_date), role="meal_point",
                     scope={"meal_point_id": points[0]})
        print("kitchen list, %s lunch, %s: %s" % (lunch_date, MEAL_POINTS[0][0],
                                                  json.dumps(kl, ensure_ascii=False)))
    except ApiError as e:
        print("kitchen list: %s" % e)
    try:
        st, chk = call("billingd", "GET", "/v1/ledger/check", ok=None, role="auditor")
        print("ledger check: HTTP %d %s" % (st, json.dumps(chk, ensure_ascii=False)))
        ok = ok and st == 200 and not (isinstance(chk, dict) and chk.get("ok") is False)
    except OSError as e:
        print("ledger check: %s" % e)
        ok = False
    print()
    print("demo: %s" % ("every order ended as expected" if ok
                        else "some orders did not end as expected"))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except (ApiError, OSError) as e:
        print("demo: %s" % e, file=sys.stderr)
        sys.exit(1)
