"""Care plans (issue 13): occurrences placed by orderd's generator as
ordinary orders through the saga, plan operations (pause, resume, skip,
end, PATCH of future occurrences only), idempotency across a re-run and a
kill -9 in the middle of generation, bad input. The rrule subset's
expansion is unit-tested (services/orderd/od_rrule_test.c)."""

import datetime
import time
import uuid

import pytest

import harness
from test_journeys import new_card, new_elder, post, wait_state

SH = datetime.timezone(datetime.timedelta(hours=8))
HORIZON = 7


@pytest.fixture(scope="module")
def plans(need_daemons, pg, db):
    # Small batches: generation takes several runs, so a kill -9 can land
    # in the middle of it; a short interval so a re-run comes soon.
    s = harness.System(pg, db, extra_args={
        "orderd": {"plan-batch": "3", "plan-interval-s": "1"}})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def now_sh():
    return datetime.datetime.now(SH)


def today():
    return now_sh().date()


def expected_days(weekdays, hhmm):
    """Dates in the horizon on the given weekdays (0 = Monday) whose window
    start is still ahead."""
    h, m = map(int, hhmm.split(":"))
    out = []
    for i in range(HORIZON):
        d = today() + datetime.timedelta(days=i)
        start = datetime.datetime(d.year, d.month, d.day, h, m, tzinfo=SH)
        if d.weekday() in weekdays and start > now_sh():
            out.append(d.isoformat())
    return out


def new_plan(s, elder, service, rrule, ws, we, **extra):
    body = {"elder_id": elder, "service": service, "rrule": rrule, "window_start": ws,
            "window_end": we, "starts_on": today().isoformat()}
    body.update(extra)
    out = post(s, "orderd", "/v1/plans", body, expect=(201,))
    assert out["status"] == "active"
    return out["plan_id"]


def get_plan(s, pid):
    st, p = s.http("GET", "orderd", "/v1/plans/%s" % pid)
    assert st == 200, (st, p)
    return p


def live(p):
    """The plan's occurrences not cancelled: {date: occurrence}."""
    return {o["date"]: o for o in p["occurrences"] if o["state"] != "cancelled"}


def wait_live(s, pid, days, timeout=15):
    box = {}

    def ok():
        box["p"] = get_plan(s, pid)
        return sorted(live(box["p"])) == sorted(days)
    harness.wait_until(ok, timeout=timeout,
                       what=lambda: "plan %s live %s, want %s" % (
                           pid, sorted(live(box.get("p", {"occurrences": []}))), days))
    return box["p"]


def duplicates(s, pid):
    """Dates with more than one order of the plan not cancelled: the
    invariant 'one occurrence per date', whatever the key."""
    return s.sql("orderd", "SELECT plan_day::text, count(*) FROM orders WHERE plan_id = %s "
                 "AND state <> 'cancelled' GROUP BY plan_day HAVING count(*) > 1", (pid,))


def per_key(s, pid):
    return s.sql("orderd", "SELECT idem_key, count(*) FROM orders WHERE plan_id = %s "
                 "GROUP BY idem_key HAVING count(*) > 1", (pid,))


def metric(s, name):
    return s.metrics("orderd").get(name, 0.0)


def test_weekday_lunch_at_a_meal_point(plans):
    s = plans
    elder = new_elder(s, diet="low-salt")
    card = new_card(s, elder, topup_fen=500000)
    slots = [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]
    near = post(s, "meald", "/v1/meal-points", {
        "name": "近食堂", "provider_id": "kitchen-1", "district_id": 1, "lat": 30.2750,
        "lon": 120.1560, "slots": slots})["meal_point_id"]
    # The plan's point is not the nearest: the family chose it.
    mp = post(s, "meald", "/v1/meal-points", {
        "name": "社区食堂", "provider_id": "kitchen-2", "district_id": 1, "lat": 30.2800,
        "lon": 120.1600, "slots": slots})["meal_point_id"]
    created0 = metric(s, 'orderd_plan_occurrences_total{outcome="created"}')
    pid = new_plan(s, elder, "meal", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "11:30", "12:30",
                   meal_point_id=mp, diet="soft", meal_mode="delivery")
    want = expected_days({0, 1, 2, 3, 4}, "11:30")
    p = wait_live(s, pid, want)
    assert p["meal_point_id"] == mp and p["diet"] == "soft"
    assert p["next"][:len(want)] == want, p["next"]
    # Each is an ordinary order of the saga: funds held, released to meald,
    # booked at the plan's meal point with the plan's diet; placed by the
    # plan under its key.
    for d, o in live(p).items():
        assert o["window_start"] == d + "T11:30:00+08:00", o
        got = wait_state(s, o["order_id"], ("assigned", "failed"))
        if got["state"] == "failed":
            # Today's lunch placed after the slot's 10:00 cutoff (a run
            # between 10:00 and 11:30 Shanghai time): meald refuses it, as
            # a kitchen would, and the hold goes back.
            assert d == today().isoformat() and now_sh().time() >= datetime.time(10, 0), got
            assert got["reason"] == "past_cutoff", got
            continue
        assert got["held_fen"] > 0 and got["meal_point_id"] == mp != near, got
        st, kl = s.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=lunch"
                        % (mp, d))
        assert st == 200 and [(x["order_id"], x["diet"]) for x in kl["orders"]] == [
            (o["order_id"], "soft")], kl
    rows = s.sql("orderd", "SELECT idem_key, source, meal_mode, card_id::text FROM orders "
                 "WHERE plan_id = %s ORDER BY plan_day", (pid,))
    assert [r[0] for r in rows] == ["plan:%s:%s" % (pid, d) for d in want]
    assert {r[1:] for r in rows} == {("plan", "delivery", card)}
    assert metric(s, 'orderd_plan_occurrences_total{outcome="created"}') >= created0 + len(want)
    assert metric(s, "orderd_plan_generator_seconds_count") > 0
    st, lst = s.http("GET", "orderd", "/v1/plans?elder_id=%s" % elder)
    assert st == 200 and [x["plan_id"] for x in lst["plans"]] == [pid], lst


def test_meal_plan_point_survives_an_orderd_restart(plans):
    """The plan's point and diet are known again after a restart, for an
    occurrence placed but not yet released (billingd down meanwhile)."""
    s = plans
    elder = new_elder(s, diet="low-salt")
    new_card(s, elder, topup_fen=500000)
    mp = post(s, "meald", "/v1/meal-points", {
        "name": "远食堂", "provider_id": "kitchen-3", "district_id": 1, "lat": 30.3000,
        "lon": 120.2000, "slots": [{"slot": "dinner", "capacity": 5, "cutoff": "16:00"}]})
    post(s, "meald", "/v1/meal-points", {   # nearer: booked if the plan's were forgotten
        "name": "近食堂", "provider_id": "kitchen-4", "district_id": 1, "lat": 30.2742,
        "lon": 120.1552, "slots": [{"slot": "dinner", "capacity": 5, "cutoff": "16:00"}]})
    s.kill9("billingd")
    try:
        pid = new_plan(s, elder, "meal", "FREQ=DAILY;COUNT=1", "17:30", "18:30",
                       starts_on=(today() + datetime.timedelta(days=1)).isoformat(),
                       meal_point_id=mp["meal_point_id"], diet="soft", meal_mode="eat_in")
        p = harness.wait_until(lambda: live(get_plan(s, pid)) or None, timeout=15,
                               what="the occurrence placed")
        oid = list(p.values())[0]["order_id"]
        assert wait_state(s, oid, "placed")["meal_point_id"] is None
        s.kill9("orderd")
        s.daemons["orderd"].start()   # ready once billingd is back
    finally:
        s.restart("billingd")
    s.wait_ready("orderd")
    o = wait_state(s, oid, "assigned")
    assert o["meal_point_id"] == mp["meal_point_id"], o
    st, kl = s.http("GET", "meald", "/v1/meal-points/%s/kitchen-list?date=%s&slot=dinner"
                    % (mp["meal_point_id"], (today() + datetime.timedelta(days=1)).isoformat()))
    assert st == 200 and [(x["order_id"], x["diet"], x["mode"]) for x in kl["orders"]] == [
        (oid, "soft", "eat_in")], kl


def test_bath_tu_fr_pause_resume_skip_end(plans):
    s = plans
    elder = new_elder(s)
    new_card(s, elder, topup_fen=500000)
    pid = new_plan(s, elder, "bath", "FREQ=WEEKLY;BYDAY=TU,FR", "09:00", "11:00")
    want = expected_days({1, 4}, "09:00")
    p = wait_live(s, pid, want)
    for d, o in live(p).items():
        assert datetime.date.fromisoformat(d).weekday() in (1, 4)
        assert (o["window_start"], o["window_end"]) == (d + "T09:00:00+08:00",
                                                        d + "T11:00:00+08:00")
    first = dict(live(p))

    # Pause: every future occurrence cancelled, nothing new; twice is 409.
    st, out = s.http("POST", "orderd", "/v1/plans/%s/pause" % pid)
    assert st == 200 and out["cancelled"] == len(want), (st, out)
    p = wait_live(s, pid, [])
    assert p["status"] == "paused" and p["next"] == []
    assert all(o["state"] == "cancelled" for o in p["occurrences"])
    st, out = s.http("POST", "orderd", "/v1/plans/%s/pause" % pid)
    assert st == 409 and out["error"] == "not_active", out

    # Resume: placed again, under new keys (the old ones stay cancelled).
    st, out = s.http("POST", "orderd", "/v1/plans/%s/resume" % pid)
    assert st == 200, out
    p = wait_live(s, pid, want)
    for d, o in live(p).items():
        assert o["order_id"] != first[d]["order_id"]
    keys = {r[0] for r in s.sql("orderd", "SELECT idem_key FROM orders WHERE plan_id = %s "
                                "AND state <> 'cancelled'", (pid,))}
    assert keys == {"plan:%s:%s:r2" % (pid, d) for d in want}
    st, out = s.http("POST", "orderd", "/v1/plans/%s/resume" % pid)
    assert st == 409 and out["error"] == "not_paused", out

    # Skip the first date: its order is cancelled and stays so.
    day = want[0]
    st, out = s.http("POST", "orderd", "/v1/plans/%s/skip" % pid, json={"date": day})
    assert st == 200 and out["cancelled"] == 1, out
    p = wait_live(s, pid, want[1:])
    assert p["skipped"] == [day] and day not in p["next"]
    time.sleep(1.5)   # a generator run later, still skipped
    assert sorted(live(get_plan(s, pid))) == want[1:]

    # End today: everything after today cancelled, nothing comes back.
    st, out = s.http("POST", "orderd", "/v1/plans/%s/end" % pid,
                     json={"on": today().isoformat()})
    assert st == 200, out
    p = wait_live(s, pid, [d for d in want[1:] if d <= today().isoformat()])
    assert p["ends_on"] == today().isoformat() and p["next"] == []
    assert duplicates(s, pid) == [] and per_key(s, pid) == []


def test_patch_changes_future_occurrences_only(plans):
    s = plans
    elder = new_elder(s)
    new_card(s, elder, topup_fen=500000)
    pid = new_plan(s, elder, "cleaning", "FREQ=DAILY", "15:00", "16:00",
                   starts_on=(today() + datetime.timedelta(days=1)).isoformat())
    days = [(today() + datetime.timedelta(days=i)).isoformat() for i in range(1, HORIZON)]
    p = wait_live(s, pid, days)
    # The first occurrence has begun (its window moved to the past: what
    # "already begun" means to the plan, without waiting for a clock).
    past = live(p)[days[0]]
    s.sql("superuser", "UPDATE orderd.orders SET window_start = now() - interval '1 hour', "
          "window_end = now() + interval '1 hour' WHERE id = %s", (past["order_id"],))
    before = s.sql("orderd", "SELECT state, updated_at FROM orders WHERE id = %s",
                   (past["order_id"],))
    # Every other day, at another time.
    st, out = s.http("PATCH", "orderd", "/v1/plans/%s" % pid,
                     json={"rrule": "FREQ=DAILY;INTERVAL=2", "window_start": "08:00",
                           "window_end": "09:30"})
    assert st == 200 and out["rev"] == 2 and out["cancelled"] == len(days) - 1, (st, out)
    new_days = [d for i, d in enumerate(days) if i % 2 == 0 and d != days[0]]
    p = wait_live(s, pid, [days[0]] + new_days)
    assert live(p)[days[0]]["order_id"] == past["order_id"]
    assert s.sql("orderd", "SELECT state, updated_at FROM orders WHERE id = %s",
                 (past["order_id"],)) == before
    for d in new_days:
        o = live(p)[d]
        assert o["window_start"] == d + "T08:00:00+08:00", o
    assert p["rrule"] == "FREQ=DAILY;INTERVAL=2" and p["window_end"] == "09:30"
    # A PATCH may not move the plan to another elder or service.
    st, out = s.http("PATCH", "orderd", "/v1/plans/%s" % pid, json={"service": "bath"})
    assert st == 400 and out["field"] == "service", out
    st, out = s.http("PATCH", "orderd", "/v1/plans/%s" % pid, json={"rrule": "FREQ=YEARLY"})
    assert st == 422 and out["field"] == "rrule" and out["part"] == "FREQ", out


def test_idempotent_rerun_and_kill9_mid_generation(plans):
    s = plans
    elder = new_elder(s)
    new_card(s, elder, topup_fen=5000000)
    # Twenty daily plans (stored at once, so that generation starts with
    # all of them due): 20 x 6 orders, 3 per run; a twenty-first through
    # the API kicks the generator.
    start = (today() + datetime.timedelta(days=1)).isoformat()
    pids = [r[0] for r in s.sql(
        "superuser", "INSERT INTO orderd.plans (id, elder_id, service, rrule, "
        "window_start_min, window_end_min, starts_on) SELECT gen_random_uuid(), %s, 'visit', "
        "'FREQ=DAILY', 600, 630, %s FROM generate_series(1, 20) RETURNING id::text",
        (elder, start))]
    total = 20 * (HORIZON - 1)
    q = "SELECT count(*) FROM orderd.orders WHERE plan_id = ANY(%s::uuid[])"
    conn = s.pg.connect(s.dbname)
    try:
        cur = conn.cursor()
        new_plan(s, elder, "visit", "FREQ=DAILY;COUNT=1", "10:00", "10:30", starts_on=start)
        seen, deadline = 0, time.time() + 10
        while seen == 0 and time.time() < deadline:
            cur.execute(q, (pids,))
            seen = cur.fetchone()[0]
        s.kill9("orderd")
    finally:
        conn.close()
    assert 0 < seen < total, "not killed in the middle of generation (%d of %d)" % (seen, total)
    # As if the crash came after placements but before their mark: every
    # plan must be placed again from the start, under the same keys.
    s.sql("superuser", "UPDATE orderd.plans SET generated_through = NULL WHERE id = "
          "ANY(%s::uuid[])", (pids,))
    s.restart("orderd")
    harness.wait_until(lambda: s.sql("superuser", q, (pids,))[0][0] >= total, timeout=20,
                       what="all occurrences after the restart")
    existing0 = metric(s, 'orderd_plan_occurrences_total{outcome="existing"}')
    # Run it all again: nothing new.
    s.sql("superuser", "UPDATE orderd.plans SET generated_through = NULL WHERE id = "
          "ANY(%s::uuid[])", (pids,))
    harness.wait_until(lambda: metric(s, 'orderd_plan_occurrences_total{outcome="existing"}')
                       >= existing0 + total, timeout=20, what="a full re-run")
    assert s.sql("superuser", q, (pids,))[0][0] == total
    for pid in pids:
        assert duplicates(s, pid) == [] and per_key(s, pid) == []
        assert len(live(get_plan(s, pid))) == HORIZON - 1

    # The check catches a duplicate: plant one (another key, same date).
    pid = pids[0]
    oid = str(uuid.uuid4())
    s.sql("superuser", "INSERT INTO orderd.orders (id, idem_key, card_id, elder_id, "
          "district_id, service, state, window_start, window_end, source) SELECT %s, "
          "idem_key || ':r99', card_id, elder_id, district_id, service, 'placed', "
          "window_start, window_end, 'plan' FROM orderd.orders WHERE plan_id = %s "
          "ORDER BY plan_day LIMIT 1", (oid, pid))
    try:
        dup = duplicates(s, pid)
        assert len(dup) == 1 and dup[0][1] == 2, dup
    finally:
        s.sql("superuser", "DELETE FROM orderd.orders WHERE id = %s", (oid,))
    assert duplicates(s, pid) == []


def test_occurrence_without_funds_is_denied_and_shown(plans):
    s = plans
    elder = new_elder(s)
    new_card(s, elder, topup_fen=0)
    start = (today() + datetime.timedelta(days=1)).isoformat()
    pid = new_plan(s, elder, "cleaning", "FREQ=DAILY;COUNT=2", "10:00", "11:00",
                   starts_on=start)

    def denied():
        p = get_plan(s, pid)
        return len(p["occurrences"]) == 2 and all(o["state"] == "denied"
                                                   for o in p["occurrences"])
    harness.wait_until(denied, timeout=15, what="both occurrences denied")


def test_elder_not_active_ends_the_plan(plans):
    s = plans
    elder = new_elder(s)
    new_card(s, elder, topup_fen=500000)
    pid = new_plan(s, elder, "visit", "FREQ=DAILY", "10:00", "10:30",
                   starts_on=(today() + datetime.timedelta(days=1)).isoformat())
    wait_live(s, pid, [(today() + datetime.timedelta(days=i)).isoformat()
                       for i in range(1, HORIZON)])
    # The elders module sets the status (PATCH /v1/elders/{id}); here the
    # store directly, as migration 014 defines it.
    s.sql("superuser", "UPDATE orderd.elders SET status = 'deceased' WHERE id = %s", (elder,))
    p = wait_live(s, pid, [])
    assert p["status"] == "ended" and p["ended_reason"] == "elder_deceased", p
    st, out = s.http("POST", "orderd", "/v1/plans", json={
        "elder_id": elder, "service": "visit", "rrule": "FREQ=DAILY", "window_start": "10:00",
        "window_end": "11:00", "starts_on": today().isoformat()})
    assert st == 422 and out["error"] == "elder_not_active", out
    st, out = s.http("POST", "orderd", "/v1/plans/%s/resume" % pid)
    assert st == 409 and out["error"] == "plan_ended", out


def test_bad_input_names_the_field(plans):
    s = plans
    elder = new_elder(s)
    card = new_card(s, elder)
    other = new_card(s, new_elder(s))
    good = {"elder_id": elder, "service": "bath", "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "window_start": "09:00", "window_end": "11:00", "starts_on": today().isoformat()}
    cases = [
        ({"elder_id": None}, 400, "elder_id"),
        ({"elder_id": "nope"}, 400, "elder_id"),
        ({"elder_id": str(uuid.uuid4())}, 422, "elder_id"),
        ({"card_id": "x"}, 400, "card_id"),
        ({"card_id": str(uuid.uuid4())}, 422, "card_id"),
        ({"card_id": other}, 422, "card_id"),
        ({"service": "massage"}, 400, "service"),
        ({"service": "emergency"}, 422, "service"),
        ({"rrule": 5}, 400, "rrule"),
        ({"rrule": "FREQ=HOURLY"}, 422, "rrule"),
        ({"rrule": "FREQ=DAILY;BYSETPOS=1"}, 422, "rrule"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=1MO"}, 422, "rrule"),
        ({"window_start": "9am"}, 400, "window_start"),
        ({"window_end": "25:00"}, 400, "window_end"),
        ({"window_end": "08:00"}, 422, "window_end"),
        ({"starts_on": "2026-02-30"}, 400, "starts_on"),
        ({"starts_on": None}, 400, "starts_on"),
        ({"ends_on": "2020-01-01"}, 422, "ends_on"),
        ({"meal_point_id": str(uuid.uuid4())}, 400, "meal_point_id"),
        ({"diet": "soft"}, 400, "diet"),
        ({"meal_mode": "delivery"}, 400, "meal_mode"),
        ({"notes": "x" * 1001}, 400, "notes"),
        ({"colour": "red"}, 400, "colour"),
    ]
    for change, status, field in cases:
        body = dict(good)
        for k, v in change.items():
            if v is None:
                body.pop(k)
            else:
                body[k] = v
        st, out = s.http("POST", "orderd", "/v1/plans", json=body)
        assert (st, out.get("field")) == (status, field), (change, st, out)
    st, out = s.http("POST", "orderd", "/v1/plans", json=dict(good, rrule="FREQ=DAILY;BYSETPOS=1"))
    assert out["part"] == "BYSETPOS", out
    st, out = s.http("POST", "orderd", "/v1/plans",
                     json=dict(good, service="meal", meal_mode="takeaway"))
    assert st == 400 and out["field"] == "meal_mode", out
    assert s.sql("orderd", "SELECT count(*) FROM plans WHERE elder_id = %s", (elder,)) == [(0,)]
    pid = new_plan(s, elder, "bath", "FREQ=WEEKLY;BYDAY=TU", "09:00", "11:00", card_id=card)
    for path, body, status, field in [
            ("skip", {"date": "2020-01-01"}, 422, "date"),
            ("skip", {"date": "tomorrow"}, 400, "date"),
            ("skip", {}, 400, "date"),
            ("end", {"on": "2020-01-01"}, 422, "on"),
            ("end", {"when": "2030-01-01"}, 400, "when"),
            ("pause", {"now": True}, 400, "now")]:
        st, out = s.http("POST", "orderd", "/v1/plans/%s/%s" % (pid, path), json=body)
        assert (st, out.get("field")) == (status, field), (path, body, st, out)
    st, out = s.http("POST", "orderd", "/v1/plans/%s/pause" % uuid.uuid4())
    assert st == 404 and out["field"] == "id", out
    st, out = s.http("GET", "orderd", "/v1/plans/%s" % uuid.uuid4())
    assert st == 404, out
    st, out = s.http("GET", "orderd", "/v1/plans")
    assert st == 400 and out["field"] == "elder_id", out
    st, out = s.http("PATCH", "orderd", "/v1/plans/%s" % pid, json={"window_end": "08:00"})
    assert st == 422 and out["field"] == "window_end", out
    assert get_plan(s, pid)["rev"] == 1
    # A family reads its own elder's plans, not another's.
    st, _ = s.http("GET", "orderd", "/v1/plans/%s" % pid, role="family",
                   scope={"elder_id": elder})
    assert st == 200
    for path in ("/v1/plans/%s" % pid, "/v1/plans?elder_id=%s" % elder):
        st, out = s.http("GET", "orderd", path, role="family",
                         scope={"elder_id": str(uuid.uuid4())})
        assert st == 403 and out["field"] == "elder_id", (path, st, out)
