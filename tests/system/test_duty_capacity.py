"""The duty generator spreads by capacity (issue 13; docs/DUTIES.md
"Capacity"), through the real daemons: dispatchd reports a district's shift
and planned minutes per day (CapacityReported), orderd keeps them
(duty_capacity) and places the district's mandated visits only on the days
its one caregiver works; a district dispatchd never reported keeps the even
spread. The check is shown able to fail on a planted order on a day off.

orderd runs with a 45-day horizon (this month's visit falls in it whatever
today is) and dispatchd reports every second over 47 days."""

import datetime

import pytest

import harness
from test_duties import TZ, earliest, mandated, new_elder, today, years_ago

D, CONTROL = 31, 32
HORIZON = 45


@pytest.fixture(scope="module")
def s(pg, db):
    if harness.missing_binaries():
        pytest.skip("binaries missing: %s" % harness.missing_binaries())
    sys_ = harness.System(pg, db, extra_args={
        "orderd": {"duty-horizon-days": str(HORIZON), "duty-poll-s": "1",
                   "duty-interval-s": "3600"},
        "dispatchd": {"capacity-report-s": "1", "capacity-days": str(HORIZON + 2)}})
    sys_.start()
    yield sys_
    sys_.cleanup()


def day_of(o):
    return datetime.datetime.fromisoformat(o["window_start"]).astimezone(TZ).date()


def off_days(orders, work):
    """The invariant: every mandated order of the district on a day its
    caregiver works. Returns the orders that are not."""
    return [o for o in orders if day_of(o) not in work]


def test_visits_go_to_the_days_the_caregiver_works(s):
    # Two working days from the generator's first day: the caregiver works
    # those and is off every other day of the horizon.
    work, d = [], earliest()
    while len(work) < 2:
        if d.weekday() < 5:
            work.append(d)
        d += datetime.timedelta(days=1)
    st, out = s.http("POST", "dispatchd", "/v1/caregivers", json={
        "name": "护理员", "provider_id": "prov-cap", "district_id": D, "lat": 30.2741,
        "lon": 120.1551, "skills": ["visit", "assessment"], "level": 2, "first_aid": False,
        "shift_start": "08:00", "shift_end": "17:00"})
    assert st == 201, out
    cg = out["caregiver_id"]
    for i in range(HORIZON + 2):
        day = today() + datetime.timedelta(days=i)
        if day in work:
            continue
        st, out = s.http("PUT", "dispatchd", "/v1/caregivers/%s/rota/%s" % (cg, day.isoformat()),
                         json={"off": "day_off"}, role="dispatcher", scope={"district_ids": [D]})
        assert st == 200, out
    # orderd has dispatchd's figures: 540 minutes on the two days, none else.

    box = {}

    def reported():
        rows = box["rows"] = s.sql("orderd", "SELECT day, shift_min, caregivers FROM orderd.duty_capacity "
                     "WHERE district_id = %s AND day >= %s AND day <= %s",
                     (D, today(), today() + datetime.timedelta(days=HORIZON)))
        return (len(rows) == HORIZON + 1
                and all((r[1], r[2]) == ((540, 1) if r[0] in work else (0, 0)) for r in rows))
    harness.wait_until(reported, timeout=30, interval=0.3,
                       what=lambda: "capacity in orderd: %r" % box.get("rows"))
    assert s.sql("orderd", "SELECT count(*) FROM orderd.duty_capacity WHERE district_id = %s",
                 (CONTROL,))[0][0] == 0

    elders = [new_elder(s, years_ago(70), district=D, categories=["alone"], card=False)[0]
              for _ in range(6)]
    control = [new_elder(s, years_ago(70), district=CONTROL, categories=["alone"],
                         card=False)[0] for _ in range(6)]
    month = work[0].strftime("%Y-%m")

    def monthly(orders):
        return [o for o in orders if o["duty_key"].split(":")[1] == "special_monthly_visit"
                and o["duty_key"].split(":")[3] == month]

    def placed():
        box["o"] = {e: mandated(s, e) for e in elders + control}
        return (all(monthly(box["o"][e]) for e in elders)
                and all(box["o"][e] for e in control))
    harness.wait_until(placed, timeout=30, interval=0.3, what=lambda: "visits: %r" % box.get("o"))
    ours = [o for e in elders for o in box["o"][e]]
    assert ours, box
    assert off_days(ours, work) == [], [(o["duty_key"], o["window_start"]) for o in ours]
    # Both days took some when the month holds both (in proportion: 540 each).
    if work[0].month == work[1].month:
        assert {day_of(o) for o in ours} == set(work), [day_of(o) for o in ours]
    # The check fails on a planted order on a day off.
    planted = dict(ours[0], window_start=(datetime.datetime.combine(
        work[1] + datetime.timedelta(days=1), datetime.time(9), TZ)).isoformat())
    assert off_days(ours[1:] + [planted], work) == [planted]
    # Never reported: the even spread (the control's visits are placed all
    # the same); the generator counted what it fitted by capacity.
    assert all(box["o"][e] for e in control)
    assert s.metrics("orderd").get("orderd_duty_fitted_total", 0) >= len(elders)
