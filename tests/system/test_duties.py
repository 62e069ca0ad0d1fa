"""County duties (issue 13; docs/DUTIES.md) through the real daemons: rules as
data with versions, the mandated generator (monthly visit, weekly contact,
assessments), idempotency across a re-run and a kill -9, regeneration after a
cancellation, the contacts log and coverage.

The elders' categories and last assessment are set in SQL (the elders
module's PATCH is another branch); updated_at moves with them, as PATCH
moves it, so the generator's change check sees them. orderd runs with a
45-day horizon (every month's visit falls in it whatever today is) and a
1 s change check."""

import datetime
import itertools
import random
import time
import uuid

import pytest

import harness

TZ = datetime.timezone(datetime.timedelta(hours=8))
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_seq = itertools.count(random.randint(0, 999))
HORIZON = 45
UNSERVED = ("cancelled", "failed", "denied")


def id_number(born):
    n = next(_seq)
    body = "%06d" % (120101 + (n // 1000) % 800000) + born + "%03d" % (n % 1000)
    s = sum(int(c) * w for c, w in zip(body, _W))
    return body + "10X98765432"[s % 11]


def today():
    return datetime.datetime.now(TZ).date()


def post(s, path, body, expect=(200, 201, 202), daemon="orderd", **kw):
    st, out = s.http("POST", daemon, path, json=body, **kw)
    assert st in expect, "%s -> %s %r" % (path, st, out)
    return out


def new_elder(s, born, district=1, categories=(), assessed=30, card=True):
    """An elder, its duty facts set right after (a run that sees it before
    may place an assessment due now: never assessed), then its card. The
    assertions below look at the duty they test, so such an order does not
    matter."""
    b = born.strftime("%Y%m%d")
    body = {"name": "测试老人", "id_number": id_number(b), "phone": "1390000%04d"
            % random.randint(0, 9999), "address": "某街道1号", "district_id": district,
            "lat": 30.2741, "lon": 120.1551, "birth_date": born.isoformat(),
            "ability_level": "mild", "household": "none", "living": "alone"}
    e = post(s, "/v1/elders", body)["elder_id"]
    if isinstance(assessed, int):
        assessed = today() - datetime.timedelta(days=assessed)
    set_duty_facts(s, [e], list(categories), assessed)
    c = post(s, "/v1/cards", {"elder_id": e})["card_id"] if card else None
    return e, c


def earliest():
    """The generator's first day for a new window (od_duties.c): today, or
    tomorrow from 15:00."""
    now = datetime.datetime.now(TZ)
    return now.date() + datetime.timedelta(days=1 if now.hour >= 15 else 0)


def years_ago(n, days=30):
    t = today()
    return t.replace(year=t.year - n) - datetime.timedelta(days=days)


def set_duty_facts(s, elders, categories, assessed_on):
    """What PATCH /v1/elders would change, for several elders at once."""
    s.sql("orderd", "UPDATE orderd.elders SET categories = %s, assessed_on = %s, "
          "updated_at = clock_timestamp() WHERE id = ANY(%s::uuid[])",
          (categories, assessed_on, list(elders)))


def mandated(s, elder):
    st, out = s.http("GET", "orderd", "/v1/orders?elder_id=%s&mandated=true&limit=500" % elder)
    assert st == 200, (st, out)
    for o in out["orders"]:
        assert o["mandated"] is True and o["duty_key"].startswith("duty:"), o
    return out["orders"]


def wait_orders(s, elder, pred, what, timeout=20):
    box = {}

    def ok():
        box["o"] = mandated(s, elder)
        return pred(box["o"])
    harness.wait_until(ok, timeout=timeout, interval=0.2,
                       what=lambda: "%s: %r" % (what, box.get("o")))
    return box["o"]


def keys(orders, rule=None):
    out = [o["duty_key"] for o in orders]
    return [k for k in out if rule is None or k.split(":")[1] == rule]


def duplicates(s):
    """Live duty orders beyond their rule's count for one rule, elder and
    period (the invariant: the generator never creates a slot twice). The
    count is that of the rule set in force (version of greatest
    effective_from <= today)."""
    return s.sql("orderd", """
        WITH cur AS (SELECT rules FROM orderd.duty_rule_versions
                     WHERE effective_from <= (now() AT TIME ZONE 'Asia/Shanghai')::date
                     ORDER BY effective_from DESC, version DESC LIMIT 1),
             r AS (SELECT x->>'id' AS id, (x->>'count')::int AS count
                   FROM cur, jsonb_array_elements(cur.rules) x),
             k AS (SELECT split_part(idem_key, ':', 2) AS rule,
                          split_part(idem_key, ':', 3) AS elder,
                          split_part(idem_key, ':', 4) AS period
                   FROM orderd.orders WHERE idem_key LIKE 'duty:%%'
                   AND state NOT IN ('cancelled', 'failed', 'denied'))
        SELECT k.rule, k.elder, k.period, count(*) FROM k JOIN r ON r.id = k.rule
        GROUP BY k.rule, k.elder, k.period, r.count HAVING count(*) > r.count""")


@pytest.fixture(scope="module")
def s(pg, db):
    if harness.missing_binaries():
        pytest.skip("binaries missing: %s" % harness.missing_binaries())
    sys_ = harness.System(pg, db, extra_args={"orderd": {
        "duty-horizon-days": str(HORIZON), "duty-poll-s": "1", "duty-interval-s": "3600",
        # one batch on the writer at a time: the kill -9 test lands mid-run
        "gen-pace": "1"}})
    sys_.start()
    yield sys_
    sys_.cleanup()


def test_alone_gets_a_monthly_visit_free_to_the_card(s):
    e, card = new_elder(s, years_ago(70), categories=["alone"])
    other, _ = new_elder(s, years_ago(70))
    orders = wait_orders(s, e, lambda o: len(keys(o, "special_monthly_visit")) >= 2,
                         "this month's and next month's visit")
    months = sorted(k.split(":")[3] for k in keys(orders, "special_monthly_visit"))
    assert months[0] == earliest().strftime("%Y-%m"), months
    orders = [o for o in orders if keys([o], "special_monthly_visit")]
    for o in orders:
        rule, elder, period, n = o["duty_key"].split(":")[1:]
        assert (rule, elder, n) == ("special_monthly_visit", e, "1"), o
        assert o["service"] == "visit" and o["card_id"] == card
        start = datetime.datetime.fromisoformat(o["window_start"]).astimezone(TZ)
        assert start.strftime("%Y-%m") == period and start.hour == 9, o
    # The fund pays: nothing is held on the card, whatever the visit costs.
    oid = orders[0]["order_id"]

    box = {}

    def held():
        st, box["o"] = s.http("GET", "orderd", "/v1/orders/%s" % oid)
        return box["o"]["state"] != "placed"
    harness.wait_until(held, timeout=20, what="funds decided")
    o = box["o"]
    assert o["state"] != "denied" and o["held_fen"] == 0, o
    st, b = s.http("GET", "billingd", "/v1/cards/%s/balance" % card)
    assert st == 200 and b["available_fen"] == 0, b
    # Without a category, no visit duty applies.
    assert keys(mandated(s, other), "special_monthly_visit") == []
    # Without a card: an order on none, which the fund pays.
    nocard, _ = new_elder(s, years_ago(70), categories=["fp_special"], card=False)
    (o, *_) = [o for o in wait_orders(s, nocard, lambda o: keys(o, "special_monthly_visit"),
                                      "a card-less visit")
               if keys([o], "special_monthly_visit")]
    assert o["card_id"] is None, o
    harness.wait_until(lambda: s.http("GET", "orderd", "/v1/orders/%s" % o["order_id"])[1]
                       ["state"] not in ("placed",), timeout=20, what="funds decided")
    st, o = s.http("GET", "orderd", "/v1/orders/%s" % o["order_id"])
    assert o["state"] != "denied" and o["held_fen"] == 0, o
    # The ordinary list does not show them as mandated unless asked.
    st, out = s.http("GET", "orderd", "/v1/orders?elder_id=%s&mandated=false" % e)
    assert st == 200 and out["orders"] == []
    st, out = s.http("GET", "orderd", "/v1/orders?elder_id=%s&mandated=maybe" % e)
    assert st == 400 and out["field"] == "mandated"


def test_no_carer_weekly_contact_a_phone_call_meets_it(s):
    d = 7
    a, _ = new_elder(s, years_ago(70), district=d, card=False)
    b, _ = new_elder(s, years_ago(70), district=d, card=False)
    c, _ = new_elder(s, years_ago(70), district=d, card=False)
    now = datetime.datetime.now(TZ).replace(microsecond=0)
    post(s, "/v1/elders/%s/contacts-log" % b,
         {"kind": "phone", "at": now.isoformat(), "outcome": "reached", "note": "well"})
    post(s, "/v1/elders/%s/contacts-log" % c,
         {"kind": "phone", "at": now.isoformat(), "outcome": "not_reached"})
    for e in (c, b, a):
        post(s, "/v1/cards", {"elder_id": e})
    set_duty_facts(s, [a, b, c], ["no_carer"], today() - datetime.timedelta(days=30))
    week = "%d-W%02d" % earliest().isocalendar()[:2]
    this_week = week == "%d-W%02d" % today().isocalendar()[:2]
    # Placed for a, in the same run that saw b's call: b has none this week
    # (late on a Sunday the first week left is the next one: no call there).
    wait_orders(s, a, lambda o: any(k.split(":")[3] == week
                                   for k in keys(o, "no_carer_weekly_contact")),
                "a's weekly contact")
    assert any(k.split(":")[3] == week for k in keys(mandated(s, c))), "not reached counts not"
    if this_week:
        assert not any(k.split(":")[3] == week for k in keys(mandated(s, b)))
    # Coverage: b contacted, a and c missing.
    st, cov = s.http("GET", "orderd", "/v1/coverage?district_id=%d&period=week&date=%s"
                     % (d, today().isoformat()))
    assert st == 200, cov
    assert cov["period"] == week and cov["district_id"] == d
    duty = {x["duty"]: x for x in cov["duties"]}["no_carer_weekly_contact"]
    assert (duty["due"], duty["visited"]) == (3, 1), duty
    assert sorted(duty["missing"]) == sorted([a, c])
    assert abs(duty["rate"] - 1 / 3) < 1e-9
    cat = {x["category"]: x for x in duty["categories"]}["no_carer"]
    assert (cat["due"], cat["visited"]) == (3, 1)
    # The gauge says the same after the next run (a logged call kicks one).
    post(s, "/v1/elders/%s/contacts-log" % a,
         {"kind": "visit", "at": now.isoformat(), "outcome": "reached"})
    name = 'orderd_duty_visit_rate{district="%d",duty="no_carer_weekly_contact"}' % d
    harness.wait_until(lambda: abs(s.metrics("orderd").get(name, -1) - 2 / 3) < 1e-6,
                       timeout=15, what="gauge 2/3")
    # Bad input names the field.
    for body, st_, field in (({"kind": "fax", "at": now.isoformat(), "outcome": "reached"},
                              400, "kind"),
                             ({"kind": "phone", "outcome": "reached"}, 400, "at"),
                             ({"kind": "phone", "at": (now + datetime.timedelta(hours=1))
                               .isoformat(), "outcome": "reached"}, 422, "at"),
                             ({"kind": "phone", "at": now.isoformat(), "outcome": "ok"},
                              400, "outcome")):
        st, err = s.http("POST", "orderd", "/v1/elders/%s/contacts-log" % a, json=body)
        assert (st, err["field"]) == (st_, field), (body, st, err)
    st, err = s.http("POST", "orderd", "/v1/elders/%s/contacts-log" % uuid.uuid4(),
                     json={"kind": "phone", "at": now.isoformat(), "outcome": "reached"})
    assert st == 404, err
    st, err = s.http("GET", "orderd", "/v1/coverage?period=day")
    assert st == 400 and err["field"] == "period"
    st, err = s.http("GET", "orderd", "/v1/coverage?district_id=x")
    assert st == 400 and err["field"] == "district_id"
    st, err = s.http("GET", "orderd", "/v1/coverage?district_id=9", role="dispatcher",
                     scope={"district_ids": [1]})
    assert st == 403 and err["field"] == "district_id"


def test_assessment_due_from_the_last_one(s):
    last = today() - datetime.timedelta(days=350)      # 11.5 months ago
    old, _ = new_elder(s, years_ago(82), assessed=last)
    young, _ = new_elder(s, years_ago(75), assessed=365)
    orders = wait_orders(s, old, lambda o: keys(o, "assessment_80_plus"), "82's assessment")
    due = (last.replace(year=last.year + 1)).isoformat()
    (o,) = orders
    assert o["duty_key"] == "duty:assessment_80_plus:%s:%s:1" % (old, due), o
    assert o["service"] == "assessment"
    day = datetime.datetime.fromisoformat(o["window_start"]).astimezone(TZ).date()
    assert today() <= day <= datetime.date.fromisoformat(due), (day, due)
    time.sleep(2)   # a run or two more: still nothing due for the 75-year-old
    nxt = (today() - datetime.timedelta(days=365)).replace(year=today().year + 1)
    assert [k for k in keys(mandated(s, young)) if k.split(":")[3] >= nxt.isoformat()] == []
    assert keys(mandated(s, young), "assessment_80_plus") == []


def test_rerun_and_kill9_create_nothing_twice(s):
    # Cards first, duties after: one run then places them all.
    elders = [new_elder(s, years_ago(70), district=3)[0] for _ in range(60)]
    set_duty_facts(s, elders, ["alone", "no_carer"], today() - datetime.timedelta(days=30))

    def count():
        return s.sql("orderd", "SELECT count(*) FROM orderd.orders WHERE source = 'mandated' "
                     "AND elder_id = ANY(%s::uuid[])", (elders,))[0][0]
    # Kill orderd as soon as the run has begun placing.
    deadline = time.time() + 15
    while count() == 0 and time.time() < deadline:
        time.sleep(0.005)
    s.kill9("orderd")
    partial = count()
    print("killed with %d mandated orders placed" % partial)
    s.restart("orderd")
    # Monthly visits (this month and next) and weekly contacts for each.
    weeks = len({(today() + datetime.timedelta(days=i)).isocalendar()[:2]
                 for i in range(HORIZON + 1)})
    harness.wait_until(lambda: count() >= len(elders) * 2, timeout=30, what="all placed")
    time.sleep(3)
    first = count()
    assert duplicates(s) == []
    # Another start runs the generator again over the same state: nothing new.
    s.restart("orderd")
    time.sleep(3)
    assert count() == first
    assert duplicates(s) == []
    assert first <= len(elders) * (4 + weeks), (first, partial)
    # The kill came in the middle of the run (it places ~9 orders an elder).
    assert 0 < partial < first, (partial, first)
    # A planted duplicate (a second live order for a slot) is caught.
    e = elders[0]
    k = keys(mandated(s, e), "special_monthly_visit")[0]
    o = [x for x in mandated(s, e) if x["duty_key"] == k][0]
    plant = k.rsplit(":", 1)[0] + ":99"
    st, out = s.http("POST", "orderd", "/v1/orders", json={
        "card_id": o["card_id"], "service": "visit", "window_start": o["window_start"],
        "window_end": o["window_end"]}, headers={"Idempotency-Key": plant})
    assert st == 202, out
    dup = duplicates(s)
    assert [(r[0], r[1], r[2]) for r in dup] == [tuple(k.split(":")[1:4])], dup
    s.http("POST", "orderd", "/v1/orders/%s/cancel" % out["order_id"])
    harness.wait_until(lambda: duplicates(s) == [], timeout=10, what="plant cancelled")


def test_cancelled_mandated_visit_is_regenerated(s):
    e, _ = new_elder(s, years_ago(70), district=4, categories=["alone"])
    orders = wait_orders(s, e, lambda o: len(keys(o, "special_monthly_visit")) >= 2, "visits")
    # Next month's: its period has days left whatever today is.
    nxt = max((o for o in orders if keys([o], "special_monthly_visit")),
              key=lambda o: o["duty_key"].split(":")[3])
    period = nxt["duty_key"].split(":")[3]
    st, out = s.http("POST", "orderd", "/v1/orders/%s/cancel" % nxt["order_id"])
    assert st == 200, out
    again = wait_orders(s, e, lambda o: any(
        x["duty_key"].endswith(":%s:2" % period) for x in o), "regenerated as n=2")
    live = [x for x in again if x["duty_key"].split(":")[3] == period
            and x["state"] not in UNSERVED]
    assert len(live) == 1 and live[0]["duty_key"].endswith(":2"), live


def test_rule_versions_with_effective_dates(s):
    st, r = s.http("GET", "orderd", "/v1/rules/duties")
    assert st == 200 and r["current"]["version"] == 1, r
    ids = [x["id"] for x in r["current"]["rules"]]
    assert ids == ["special_monthly_visit", "no_carer_weekly_contact", "assessment_80_plus",
                   "assessment_under_80"]
    rules = r["current"]["rules"]
    later = (today() + datetime.timedelta(days=400)).isoformat()
    st, out = s.http("PUT", "orderd", "/v1/rules/duties",
                     json={"effective_from": later, "rules": rules[:1]})
    assert st == 201 and out["version"] == 2, out
    st, r = s.http("GET", "orderd", "/v1/rules/duties")
    assert r["current"]["version"] == 1 and [v["version"] for v in r["versions"]] == [1, 2]
    # Bad input names the field; only an admin may change rules.
    bad = [dict(rules[0], period="fortnight")]
    st, err = s.http("PUT", "orderd", "/v1/rules/duties",
                     json={"effective_from": later, "rules": bad})
    assert st == 400 and err["field"] == "rules[0].period", err
    st, err = s.http("PUT", "orderd", "/v1/rules/duties",
                     json={"effective_from": "2020-01-01", "rules": rules})
    assert st == 422 and err["field"] == "effective_from", err
    st, err = s.http("PUT", "orderd", "/v1/rules/duties", role="operator",
                     json={"effective_from": later, "rules": rules})
    assert st == 403 and err["field"] == "role"
    # In force today: two visits a month for special-difficulty elders.
    e, _ = new_elder(s, years_ago(70), district=5, categories=["disabled"])
    wait_orders(s, e, lambda o: keys(o, "special_monthly_visit"), "one a month")
    twice = [dict(rules[0], count=2)] + rules[1:]
    st, out = s.http("PUT", "orderd", "/v1/rules/duties",
                     json={"effective_from": today().isoformat(), "rules": twice})
    assert st == 201 and out["version"] == 3, out
    st, r = s.http("GET", "orderd", "/v1/rules/duties")
    assert r["current"]["version"] == 3 and r["current"]["rules"][0]["count"] == 2
    # The second of this month (if days are left) or of the next.
    wait_orders(s, e, lambda o: [k for k in keys(o, "special_monthly_visit")
                                 if k.endswith(":2")], "a second visit in a month")
    assert duplicates(s) == []
