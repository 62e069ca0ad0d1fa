"""meald's SQL functions on a real PostgreSQL, without the daemon: the store
holds the line even if the daemon's memory were wrong (capacity CHECK), and
every effect is applied once (cc_consume, one meal per order, one delivery)."""

import uuid

import psycopg2
import pytest

P1 = "11111111-1111-4111-8111-111111111111"


def q(pg, db, sql, params=None):
    return pg.execute(sql, dbname=db, user="meald", params=params)


SEALED = b"\x01sealed-address"   # stored as it came (meald checked it opens)


def schedule(pg, db, seq, order_id, event_id=None, point=P1, date="2030-01-02"):
    # The window: 2030-01-02 11:30..12:30 +08:00 (times before 2000 are out of
    # the cc_time domain's range).
    return q(pg, db, "SELECT outcome FROM md_schedule('orderd', %s, %s, %s, 7, %s, %s, 'lunch',"
             " 1893555000000000, 1893558600000000, 'soft', 30.0, 120.0, %s, %s, %s)",
             (seq, event_id or str(uuid.uuid4()), order_id, point, date, str(uuid.uuid4()),
              b"\x0a\x01x", SEALED))[0][0]


@pytest.fixture
def mdb(pg, fresh_db):
    rows = q(pg, fresh_db, "SELECT outcome FROM md_create_point(%s, 'p', 'prov', 7, 30.0,"
             " 120.0, '{lunch}', '{2}', '{600}', 'key-1', 'h1')", (P1,))
    assert rows == [("created",)]
    return fresh_db


def test_create_point_replay_and_conflict(pg, mdb):
    other = str(uuid.uuid4())
    assert q(pg, mdb, "SELECT outcome, meal_point_id::text FROM md_create_point(%s, 'p',"
             " 'prov', 7, 30.0, 120.0, '{lunch}', '{2}', '{600}', 'key-1', 'h1')",
             (other,)) == [("replay", P1)]
    assert q(pg, mdb, "SELECT outcome FROM md_create_point(%s, 'p', 'prov', 7, 30.0, 120.0,"
             " '{lunch}', '{2}', '{600}', 'key-1', 'h2')", (other,)) == [("conflict",)]
    assert q(pg, mdb, "SELECT count(*) FROM meal_points") == [(1,)]
    with pytest.raises(psycopg2.Error):
        q(pg, mdb, "SELECT md_create_point(%s, 'p', 'prov', 7, 30.0, 120.0, '{lunch}', '{0}',"
          " '{600}', NULL, NULL)", (other,))
    assert q(pg, mdb, "SELECT count(*) FROM meal_points") == [(1,)]


def test_capacity_check_and_once(pg, mdb):
    o1, o2, o3 = (str(uuid.uuid4()) for _ in range(3))
    e1 = str(uuid.uuid4())
    assert schedule(pg, mdb, 1, o1, e1) == "applied"
    assert schedule(pg, mdb, 1, o1, e1) == "duplicate"        # same event again
    assert schedule(pg, mdb, 2, o1) == "exists"               # same order, new event
    assert schedule(pg, mdb, 3, o2) == "applied"
    with pytest.raises(psycopg2.errors.CheckViolation):
        schedule(pg, mdb, 4, o3)                              # third place of two
    assert q(pg, mdb, "SELECT used FROM slot_counts") == [(2,)]
    assert [bytes(r[0]) for r in q(pg, mdb, "SELECT address_sealed FROM meals")] == [SEALED] * 2
    assert q(pg, mdb, "SELECT count(*) FROM meals WHERE order_id = %s", (o3,)) == [(0,)]
    assert q(pg, mdb, "SELECT type, key FROM events ORDER BY seq") == [
        ("MealScheduled", o1), ("MealScheduled", o2)]
    assert q(pg, mdb, "SELECT seq FROM positions WHERE producer = 'orderd'") == [(3,)]
    # Another date is another count.
    # Event 4 failed and was rolled back, so the next one the log sends is 4
    # again (cc_consume refuses a gap since 3ed50b7).
    assert schedule(pg, mdb, 4, o3, date="2030-01-03") == "applied"


def test_cancel_and_deliver(pg, mdb):
    o1, o2 = str(uuid.uuid4()), str(uuid.uuid4())
    schedule(pg, mdb, 1, o1)
    schedule(pg, mdb, 2, o2)
    e = str(uuid.uuid4())
    cancel = "SELECT outcome FROM md_cancel('orderd', %s, %s, %s)"
    assert q(pg, mdb, cancel, (3, e, o1)) == [("applied",)]
    assert q(pg, mdb, cancel, (3, e, o1)) == [("duplicate",)]
    assert q(pg, mdb, cancel, (4, str(uuid.uuid4()), o1)) == [("noop",)]
    assert q(pg, mdb, "SELECT used FROM slot_counts") == [(1,)]
    deliver = ("SELECT outcome, delivered_us, courier_id FROM md_deliver(%s, %s, %s, %s,"
               " '\\x0a'::bytea)")
    assert q(pg, mdb, deliver, (o1, "c", 5, str(uuid.uuid4()))) == [("not_scheduled", None,
                                                                      None)]
    assert q(pg, mdb, deliver, (o2, "c1", 1893456000123456, str(uuid.uuid4()))) == [
        ("applied", 1893456000123456, "c1")]
    assert q(pg, mdb, deliver, (o2, "c2", 7, str(uuid.uuid4()))) == [
        ("already", 1893456000123456, "c1")]
    assert q(pg, mdb, deliver, (str(uuid.uuid4()), None, 7, str(uuid.uuid4()))) == [
        ("unknown", None, None)]
    # A delivered meal is not cancelled and keeps its place.
    assert q(pg, mdb, cancel, (5, str(uuid.uuid4()), o2)) == [("noop",)]
    assert q(pg, mdb, "SELECT used FROM slot_counts") == [(1,)]
    assert [t for (t,) in q(pg, mdb, "SELECT type FROM events ORDER BY seq")] == [
        "MealScheduled", "MealScheduled", "MealDelivered"]
