"""Wall-clock steps of +-1 h under load (issue 11). Every daemon runs under
libfaketime (LD_PRELOAD) with its offset read from a file the test rewrites
(FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE); the monotonic clock is left
alone (FAKETIME_DONT_FAKE_MONOTONIC), as an NTP step or a VM resume leaves
it. While orders flow the daemons' wall clock jumps +1 h, back, -1 h, back.
The caregivers' and couriers' apps let the server stamp each step (no
"time" in the body), so the server's own stamps straddle the jumps; the
tokens are valid across the jumps, as tokens issued just before one are.
No order may fail or stay open because the clock jumped; every acknowledged
order is present once and money reconciles (reconcile.py).

Timeouts inside a daemon (Fetch re-sends, database reconnects, request and
stop deadlines, the idempotency cache, offer timers once armed) use the
monotonic clock (cc_mono_us, libevent timers); the wall clock is used for
stamps and for deadlines that must survive a restart (see
docs/RELIABILITY.md).

CLOCK_ORDERS sets the load (make soak: tests/soak.sh runs it larger)."""

import datetime
import os
import sys
import time

import pytest

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402
import demo  # noqa: E402

LIBFAKETIME = next((p for p in (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1") if os.path.exists(p)), None)


class _Args:
    orders = int(os.environ.get("CLOCK_ORDERS", "120"))
    rounds = 0
    concurrency = 8
    elders = 20
    caregivers = 40
    kill_every = 0.0
    timeout = 180 + orders // 5     # make soak runs more orders
    place_seconds = None


def test_wall_clock_steps_fail_no_visit(need_daemons, durable_pg, durable_db, monkeypatch):
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian package libfaketime)")
    s = harness.System(durable_pg, durable_db, log_level="info")
    offset_file = os.path.join(s.workdir, "faketime")
    with open(offset_file, "w") as f:
        f.write("+0\n")
    os.chmod(offset_file, 0o644)
    env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": offset_file,
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    s.extra_env = {d: env for d in harness.DAEMONS}
    steps = []

    def step(offset):
        def go():
            tmp = offset_file + ".new"
            with open(tmp, "w") as f:
                f.write(offset + "\n")
            os.chmod(tmp, 0o644)
            os.rename(tmp, offset_file)     # never a half-written offset
            steps.append(offset)
        return go
    hold = float(os.environ.get("CLOCK_HOLD", "5"))
    faults = [(3.0, step("+1h"), "wall clock +1 h"),
              (hold, step("+0"), "wall clock back to true"),
              (hold, step("-1h"), "wall clock -1 h"),
              (hold, step("+0"), "wall clock back to true")]

    # Tokens valid 2 h either side of now: they straddle the jumps.
    def token(role, scope=None):
        return demo.tokens.mint(demo.ISSUER_KEY, role, scope, ttl=4 * 3600,
                                sub="clock-" + role, now=time.time() - 2 * 3600)
    monkeypatch.setattr(demo, "token", token)
    # The apps let the server stamp each step.
    real_call = demo.call

    def call(daemon, method, path, body=None, **kw):
        if isinstance(body, dict) and path.rsplit("/", 1)[-1] in (
                "check-in", "check-out", "delivered"):
            body = {k: v for k, v in body.items() if k != "time"}
        return real_call(daemon, method, path, body, **kw)
    monkeypatch.setattr(demo, "call", call)
    args = _Args()
    args.place_seconds = 3.0 + 3 * hold + 6.0
    try:
        s.start()
        assert "faketime" in open("/proc/%d/maps" % s.daemons["orderd"].proc.pid).read()
        run = soak.Soak(s, args, faults=faults, supervise=True)
        run.name = "clock-step"
        run.meal_days_ahead = 2     # a meal's cut-off never near a jump
        ok = run.run()
        failed = [c for c in run.checks if not c[1]]
        states = {}
        for o in run.orders:
            states[o.state] = states.get(o.state, 0) + 1
        print("FIGURE clock-step jumps: %s; final states %s" % (" ".join(steps), states))
        assert ok, "clock-step checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed)
        assert steps == ["+1h", "+0", "-1h", "+0"]
    finally:
        s.cleanup()


# The open-state deadlines (docs/ARCHITECTURE.md "Deadlines") come from
# stored wall-clock times: a +1 h step puts every open visit and meal past
# its resolution at once. Short enough here that the step is larger than
# every due time, while each is held overdue_s of monotonic time first.
OVERDUE_S = 8
STEP_DEADLINES = [
    "UPDATE dispatchd.deadlines SET overdue_s = %d, checkout_s = 0" % OVERDUE_S,
    "UPDATE meald.deadlines SET deliver_s = 60, overdue_s = %d" % OVERDUE_S,
]


def test_clock_step_fails_no_waiting_visit_or_meal(need_daemons, pg, db):
    """Visits nobody can take (escort: no caregiver has the skill), visits
    accepted and checked in, and meals scheduled, each due within the hour.
    The wall clock jumps +1 h: all are overdue (a warning) but none is
    resolved before it has been seen so for overdue_s of monotonic time;
    the clock comes back within that, then -1 h and back: nothing failed.
    Then a +1 h step that stays (the clock was wrong, now it is right): all
    are resolved, overdue_s of real time later, not at once. Before the
    monotonic hold the first step failed every one of them at once."""
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian package libfaketime)")
    from test_deadlines import caregiver, place, visit_of, get_visit, step as vstep
    from test_deadlines import wait_before_midnight, HOME
    from test_journeys import TZ, new_elder, new_card, post, wait_state
    s = harness.System(pg, db, log_level="info")
    for q in STEP_DEADLINES:
        s.sql("postgres", q)
    offset_file = os.path.join(s.workdir, "faketime")
    with open(offset_file, "w") as f:
        f.write("+0\n")
    env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": offset_file,
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    s.extra_env = {d: env for d in ("dispatchd", "meald")}

    def jump(offset):
        tmp = offset_file + ".new"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.rename(tmp, offset_file)

    def m(daemon, name):
        return s.metrics(daemon).get(name, 0)

    def steps_seen(n):
        harness.wait_until(lambda: m("dispatchd", "dispatchd_clock_steps_total") >= n
                           and m("meald", "meald_clock_steps_total") >= n,
                           timeout=10, what="%d clock steps seen by dispatchd and meald" % n)

    def resolved():
        d = s.metrics("dispatchd")
        return (sum(v for k, v in d.items() if k.startswith("dispatchd_deadlines_resolved_total"))
                + m("meald", "meald_meals_undelivered_total"))

    try:
        s.start()
        wait_before_midnight()
        elder = new_elder(s, lat=HOME[0], lon=HOME[1])
        card = new_card(s, elder, topup_fen=200000)
        caregiver(s, "bath")
        caregiver(s, "bath")
        post(s, "meald", "/v1/meal-points", {
            "name": "食堂", "provider_id": "kitchen-1", "district_id": 1,
            "lat": HOME[0] + 0.0005, "lon": HOME[1],
            "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "23:59"},
                      {"slot": "dinner", "capacity": 50, "cutoff": "23:59"}]})
        t0 = datetime.datetime.now(TZ)
        at = lambda **kw: t0 + datetime.timedelta(**kw)   # noqa: E731
        # Due (wall clock): escort created + 30 min; accepted: window end +
        # 30 min; checked in: check-in + 60 min service; meals window end + 1 min.
        o = {"wait1": place(s, card, "escort", at(minutes=-10), at(hours=2)),
             "wait2": place(s, card, "escort", at(minutes=-10), at(hours=3)),
             "accepted": place(s, card, "bath", at(minutes=-10), at(minutes=10)),
             "checked_in": place(s, card, "bath", at(minutes=-40), at(minutes=20)),
             "meal1": place(s, card, "meal", at(minutes=-1), at(minutes=10)),
             "meal2": place(s, card, "meal", at(minutes=-1), at(minutes=20))}
        for k in ("accepted", "checked_in", "meal1", "meal2"):
            wait_state(s, o[k], "assigned")
        v = {k: visit_of(s, o[k]) for k in ("wait1", "wait2", "accepted", "checked_in")}
        for k in ("accepted", "checked_in"):
            vstep(s, v[k], "accept", get_visit(s, v[k])["caregiver_id"])
        vstep(s, v["checked_in"], "check-in", get_visit(s, v["checked_in"])["caregiver_id"],
              lat=HOME[0], lon=HOME[1], at=(t0 - datetime.timedelta(minutes=30)).isoformat())
        assert [get_visit(s, v[k])["state"] for k in v] == [
            "waiting", "waiting", "accepted", "checked_in"]
        assert m("dispatchd", "dispatchd_overdue_visits") == 0
        open_states = {k: wait_state(s, x, ("assigned", "released", "in_progress"))["state"]
                       for k, x in o.items()}

        # +1 h, back within overdue_s; -1 h and back.
        jump("+1h")
        steps_seen(1)
        # All overdue (or, without the hold, resolved at once).
        harness.wait_until(lambda: (m("dispatchd", "dispatchd_overdue_visits") == 4
                                    and m("meald", "meald_meals_overdue") == 2)
                           or resolved() > 0, timeout=5, what="all overdue under +1 h")
        jump("+0")
        steps_seen(2)
        jump("-1h")
        steps_seen(3)
        jump("+0")
        steps_seen(4)
        time.sleep(OVERDUE_S + 2)   # a sighting that survived would ripen now
        assert resolved() == 0, "resolved because the clock jumped: %r" % {
            k: v for k, v in list(s.metrics("dispatchd").items()) + list(s.metrics("meald").items())
            if "resolved" in k or "undelivered" in k}
        assert [get_visit(s, v[k])["state"] for k in v] == [
            "waiting", "waiting", "accepted", "checked_in"]
        for k in ("meal1", "meal2"):
            st, meal = s.http("GET", "meald", "/v1/meals/%s" % o[k])
            assert st == 200 and meal["status"] == "scheduled", meal
        for k, x in o.items():
            assert wait_state(s, x, open_states[k])["state"] == open_states[k], k
        assert "clock_step" in s.logs()["dispatchd"]

        # A step that stays: resolved overdue_s later, not at once.
        jump("+1h")
        steps_seen(5)
        t_step = time.monotonic()
        harness.wait_until(lambda: resolved() == 6, timeout=OVERDUE_S + 15,
                           what="every deadline resolved under a kept +1 h step")
        took = time.monotonic() - t_step
        print("FIGURE clock-step kept +1 h: 6 deadlines resolved after %.1f s (overdue_s %d)"
              % (took, OVERDUE_S))
        assert took >= OVERDUE_S - 2, took
    finally:
        s.cleanup()
