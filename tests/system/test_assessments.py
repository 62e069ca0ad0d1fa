"""Ability assessments end to end (issue 13; ../shared/policies/001 §2 and
003 §2): the assessor checks the assessment visit out with the result,
dispatchd appends VisitAssessed, orderd records it once and moves the elder
to the new level, and a later bath for that elder needs a level-2 caregiver.

One System for the module; the tests run in order (the later ones use what
the first made)."""

import datetime

import harness
from test_journeys import (at, new_card, new_caregiver, new_elder, order, post, visit_step,
                           wait_state)

HOME = dict(lat=30.2741, lon=120.1551)
# Duplicates: one assessment per order, whatever is delivered twice.
DUPLICATES = ("SELECT order_id, count(*) FROM orderd.assessments GROUP BY order_id"
              " HAVING count(*) > 1")

PLANTED = "00000000-0000-4000-8000-0000000000d1"
_made = {}


def _check_out(s, visit, caregiver, **extra):
    body = dict(HOME, caregiver_id=caregiver)
    body.update(extra)
    return s.http("POST", "dispatchd", "/v1/visits/%s/check-out" % visit, json=body)


def _refused(s, visit, caregiver, field, **extra):
    st, out = _check_out(s, visit, caregiver, **extra)
    assert st == 422 and out.get("field") == field, (extra, st, out)


def _assessments(s, elder):
    st, out = s.http("GET", "orderd", "/v1/elders/%s/assessments" % elder)
    assert st == 200, (st, out)
    return out


def test_assessment_recorded(system):
    s = system
    elder = new_elder(s, ability="mild", born="19400101")   # 86: yearly assessments
    card = new_card(s, elder, topup_fen=200000)
    # The level-1 caregiver is nearer; the level-2 one farther away.
    level1 = new_caregiver(s, ["bath"], level=1, lat=30.2742, lon=120.1552)
    level2 = new_caregiver(s, ["bath"], level=2, lat=30.2900, lon=120.1700)
    assessor = new_caregiver(s, ["assessment"], level=1, lat=30.2745, lon=120.1555)

    # Mild: the nearer level-1 caregiver takes the bath.
    bath1 = order(s, card, "bath", start=at(1, 9), end=at(1, 12))["order_id"]
    o = wait_state(s, bath1, "assigned")
    assert o["caregiver_id"] == level1, o
    visit = o["visit_id"]
    visit_step(s, visit, "accept", level1)
    visit_step(s, visit, "check-in", level1, **HOME)
    # A bath carries no assessment.
    _refused(s, visit, level1, "assessment", assessment={"level": "mild", "score": 70})
    st, out = _check_out(s, visit, level1)
    assert st == 200, out
    wait_state(s, bath1, "billed")   # level1 is now the elder's known bath caregiver

    # The assessment visit: bad results are refused, naming the field.
    ass = order(s, card, "assessment", start=at(1, 14), end=at(1, 17))["order_id"]
    o = wait_state(s, ass, "assigned")
    assert o["caregiver_id"] == assessor, o
    avisit = o["visit_id"]
    visit_step(s, avisit, "accept", assessor)
    visit_step(s, avisit, "check-in", assessor, **HOME)
    _refused(s, avisit, assessor, "assessment")
    _refused(s, avisit, assessor, "assessment", assessment="severe")
    _refused(s, avisit, assessor, "assessment.level", assessment={"level": "bad", "score": 40})
    _refused(s, avisit, assessor, "assessment.level", assessment={"score": 40})
    _refused(s, avisit, assessor, "assessment.score",
             assessment={"level": "severe", "score": 101})
    _refused(s, avisit, assessor, "assessment.score", assessment={"level": "severe"})
    st, out = s.http("GET", "dispatchd", "/v1/visits/%s" % avisit)
    assert st == 200 and out["state"] == "checked_in", out   # nothing changed
    st, out = _check_out(s, avisit, assessor, assessment={"level": "severe", "score": 38})
    assert st == 200 and out["state"] == "completed", (st, out)
    wait_state(s, ass, "billed")

    # orderd recorded it and moved the elder.
    box = {}

    def recorded():
        box["a"] = _assessments(s, elder)
        return len(box["a"]["assessments"]) == 1
    harness.wait_until(recorded, timeout=15, what=lambda: "assessment recorded: %r" % box)
    a = box["a"]["assessments"][0]
    assert a["order_id"] == ass and a["assessor_id"] == assessor and a["visit_id"] == avisit
    assert a["level"] == "severe" and a["score"] == 38
    on = datetime.date.fromisoformat(a["assessed_on"])
    due = on.replace(year=on.year + 1) if (on.month, on.day) != (2, 29) else \
        datetime.date(on.year + 1, 2, 28)
    assert box["a"]["next_due"] == a["next_due"] == due.isoformat(), box["a"]
    st, e = s.http("GET", "orderd", "/v1/elders/%s" % elder)
    assert st == 200 and e["ability_level"] == "severe", e
    row = s.sql("postgres", "SELECT ability_level, ability_score, assessed_on::text, rev"
                " FROM orderd.elders WHERE id = %s", (elder,))
    assert row == [("severe", 38, a["assessed_on"], 1)], row
    row = s.sql("postgres", "SELECT assessment_level, assessment_score FROM dispatchd.visits"
                " WHERE id = %s", (avisit,))
    assert row == [("severe", 38)], row
    # The record's history has the change, by the assessor.
    st, h = s.http("GET", "orderd", "/v1/elders/%s/history" % elder)
    assert st == 200, (st, h)
    moved = [x for x in h["history"] if x["action"] == "assessment"]
    assert len(moved) == 1, h
    assert moved[0]["changes"]["ability_level"] == {"old": "mild", "new": "severe"}, moved
    assert moved[0]["changes"]["ability_score"]["new"] == 38, moved

    _made.update(elder=elder, card=card, assessment=ass, level1=level1, level2=level2)


def test_later_bath_needs_level_2(system):
    """Severe now: the nearer level-1 caregiver, who knows the elder (the
    last bath), is not offered the next bath; the level-2 one gets it."""
    s = system
    bath2 = order(s, _made["card"], "bath", start=at(2, 9), end=at(2, 12))["order_id"]
    o = wait_state(s, bath2, "assigned")
    assert o["caregiver_id"] == _made["level2"], o
    st, v = s.http("GET", "dispatchd", "/v1/visits/%s" % o["visit_id"])
    assert st == 200 and v["ability_level"] == "severe", v


def test_replayed_event_records_one_assessment(system):
    s = system
    elder, ass = _made["elder"], _made["assessment"]
    seq = s.sql("postgres", "SELECT seq FROM dispatchd.events WHERE type = 'VisitAssessed'"
                " AND key = %s", (ass,))
    assert len(seq) == 1, seq
    seq = seq[0][0]
    # orderd forgets it applied VisitAssessed and everything after it, and
    # fetches them again: the same event delivered twice.
    s.daemons["orderd"].stop()
    s.sql("postgres", "DELETE FROM orderd.inbox WHERE producer = 'dispatchd' AND seq >= %s",
          (seq,))
    s.sql("postgres", "INSERT INTO orderd.inbox (producer, event_id, seq)"
          " VALUES ('dispatchd', gen_random_uuid(), %s)", (seq - 1,))
    s.restart("orderd")
    harness.wait_until(lambda: s.sql("postgres", "SELECT max(seq) FROM orderd.inbox"
                                     " WHERE producer = 'dispatchd'")[0][0] >= seq,
                       timeout=20, what="orderd re-applied dispatchd's log")
    assert s.metrics("orderd").get("orderd_assessments_not_recorded_total", 0) >= 1
    assert s.sql("postgres", DUPLICATES) == []
    assert len(_assessments(s, elder)["assessments"]) == 1
    assert s.sql("postgres", "SELECT rev FROM orderd.elders WHERE id = %s", (elder,)) == [(1,)]
    # The same result for the same order under another event id (a producer
    # that re-sent it): the order already has its assessment.
    row = s.sql("orderd", "SELECT orderd.od_on_visit_assessed('replay-test', 1,"
                " gen_random_uuid(), %s, '', gen_random_uuid(), %s, 'total', 5::smallint,"
                " 1796000000000000)", (ass, elder))
    assert row == [("duplicate",)], row
    assert s.sql("postgres", DUPLICATES) == []
    assert s.sql("postgres", "SELECT ability_level, rev FROM orderd.elders WHERE id = %s",
                 (elder,)) == [("severe", 1)]


def test_duplicate_check_catches_a_planted_one(system):
    """The check above can fail: a second row for the order (the constraint
    dropped for the moment) is found."""
    s = system
    s.sql("postgres", "ALTER TABLE orderd.assessments DROP CONSTRAINT assessments_one_per_order")
    try:
        s.sql("postgres", "INSERT INTO orderd.assessments (id, elder_id, order_id, district_id,"
              " visit_id, assessor_id, level, score, assessed_at) SELECT %s,"
              " elder_id, order_id, district_id, visit_id, assessor_id, level, score,"
              " assessed_at FROM orderd.assessments WHERE order_id = %s",
              (PLANTED, _made["assessment"]))
        assert s.sql("postgres", DUPLICATES) == [(_made["assessment"], 2)]
    finally:
        s.sql("postgres", "DELETE FROM orderd.assessments WHERE id = %s", (PLANTED,))
        s.sql("postgres", "ALTER TABLE orderd.assessments ADD CONSTRAINT"
              " assessments_one_per_order UNIQUE (order_id)")
    assert s.sql("postgres", DUPLICATES) == []


def test_no_level_in_logs(system):
    """The level and score are health data: never in any daemon's log."""
    for name, text in system.logs(tail=100000).items():
        for word in ('"severe"', '"score"', '"assessment_level"'):
            assert word not in text, (name, word)


def test_unknown_elder_is_404(system):
    st, out = system.http("GET", "orderd",
                          "/v1/elders/00000000-0000-4000-8000-000000000000/assessments")
    assert st == 404 and out.get("field") == "id", (st, out)
    st, out = system.http("GET", "orderd", "/v1/elders/%s/assessments" % _made["elder"],
                          role="family", scope={"elder_id": _made["elder"]})
    assert st == 403, (st, out)
