"""dispatchd's SQL functions (sql/dispatchd/*.sql) on a real PostgreSQL, as
the dispatchd role: every write replayed (a batch re-sent after a lost
COMMIT, cc_db.h) changes nothing twice and appends no second event."""

import uuid

import pytest

US = 1_795_622_400_000_000          # 2026-11-26 00:00 +08:00
HOUR = 3_600_000_000


@pytest.fixture
def q(pg, fresh_db):
    conn = pg.connect(fresh_db, user="dispatchd")
    cur = conn.cursor()

    def run(sql, *args):
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None
    yield run
    conn.close()


def one(q, sql, *args):
    return q(sql, *args)[0][0]


def new_id():
    return str(uuid.uuid4())


SEALED = b"\x01sealed-address"   # stored as it came (dispatchd checked it opens)


def released(q, seq, event_id, visit, order, caregiver=None, ev=None, address=SEALED):
    return one(q, "SELECT dd_on_order_released(%s,%s,%s,%s,%s,'e1','bath','severe',false,0,1,"
                  "30.27,120.15,%s,%s,'','',%s,%s,%s,%s,%s,%s,%s,%s,%s)",
               "orderd", seq, event_id, visit, order, US, US + 2 * HOUR, US,
               caregiver, "prov" if caregiver else None, US if caregiver else None,
               US + HOUR if caregiver else None, 600 if caregiver else None, ev,
               b"\x01" if caregiver else None, address)


def events(q, order):
    return [r[0] for r in q("SELECT type FROM events WHERE key = %s ORDER BY seq", order)]


def test_caregiver_create_replay(q):
    cg = new_id()
    args = (cg, "key-1", "prov", 1, "Li", 30.27, 120.15, "bath,visit", 2, True, 480, 1080)
    sql = "SELECT dd_caregiver_create(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
    assert one(q, sql, *args) == "created"
    assert one(q, sql, *args) == "exists"
    # same key, another id: still one caregiver for the key
    assert one(q, sql, new_id(), *args[1:]) == "exists"
    assert one(q, "SELECT count(*) FROM caregivers") == 1
    assert one(q, "SELECT skills FROM caregivers WHERE id = %s", cg) == ["bath", "visit"]


def test_release_replay_and_duplicates(q):
    cg, visit, order, ev_in, ev_out = new_id(), new_id(), new_id(), new_id(), new_id()
    assert released(q, 1, ev_in, visit, order, cg, ev_out) == "applied"
    # The same statement again (re-sent batch that had committed): applied,
    # nothing new.
    assert released(q, 1, ev_in, visit, order, cg, ev_out) == "applied"
    assert events(q, order) == ["VisitAssigned"]
    # The same event with another tentative visit: a duplicate to take back.
    assert released(q, 1, ev_in, new_id(), order, cg, new_id()) == "duplicate"
    # Another event for a known order: exists.
    assert released(q, 2, new_id(), new_id(), order) == "exists"
    assert one(q, "SELECT count(*) FROM visits WHERE order_id = %s", order) == 1
    assert one(q, "SELECT cc_position('orderd')") == 2
    st = q("SELECT state, caregiver_id::text, dd_us(eta), travel_s FROM visits WHERE id = %s",
           visit)[0]
    assert st == ("assigned", cg, US, 600)
    assert bytes(one(q, "SELECT address_sealed FROM visits WHERE id = %s", visit)) == SEALED
    # None came (an older release): NULL.
    v2 = new_id()
    assert released(q, 3, new_id(), v2, new_id(), address=None) == "applied"
    assert one(q, "SELECT address_sealed FROM visits WHERE id = %s", v2) is None


def test_visit_steps_replay(q):
    cg, nxt, visit, order = new_id(), new_id(), new_id(), new_id()
    assert released(q, 1, new_id(), visit, order, cg, new_id()) == "applied"
    decline = ("SELECT dd_visit_decline(1,%s,%s,%s,%s,%s,%s,'prov',%s,%s,60,%s,%s,%s)")
    d = (visit, cg, order, new_id(), b"\x02", nxt, US, US + HOUR, US, new_id(), b"\x03")
    assert one(q, decline, *d) == "applied"
    assert one(q, decline, *d) == "noop"
    assert one(q, "SELECT declined::text[] FROM visits WHERE id = %s", visit) == [cg]
    accept = "SELECT dd_visit_accept(1,%s,%s,%s,%s,%s,%s)"
    # the decliner can no longer accept; the next caregiver can, once
    assert one(q, accept, visit, cg, US, order, new_id(), b"\x04") == "noop"
    a = (visit, nxt, US, order, new_id(), b"\x04")
    assert one(q, accept, *a) == "applied"
    assert one(q, accept, *a) == "noop"
    check = "SELECT dd_visit_check(1,%s,%s,%s,%s,30.27,120.15,12,%s,%s,%s)"
    # check-out before check-in is refused by the guard
    assert one(q, check, visit, nxt, True, US + HOUR, order, new_id(), b"\x05") == "noop"
    ci = (visit, nxt, False, US + 60_000_000, order, new_id(), b"\x05")
    assert one(q, check, *ci) == "applied"
    assert one(q, check, *ci) == "noop"
    co = (visit, nxt, True, US + HOUR, order, new_id(), b"\x06")
    assert one(q, check, *co) == "applied"
    assert one(q, check, *co) == "noop"
    # a finished visit cannot fail or be cancelled any more
    assert one(q, "SELECT dd_visit_fail(1,%s,'no_caregiver',%s,%s,%s,%s)", visit, US, order,
               new_id(), b"\x07") == "noop"
    assert events(q, order) == ["VisitAssigned", "VisitDeclined", "VisitAssigned",
                                "VisitAccepted", "VisitCheckedIn", "VisitCompleted"]
    row = q("SELECT state, checkin_distance_m, dd_us(checked_in_at), dd_us(finished_at) "
            "FROM visits WHERE id = %s", visit)[0]
    assert row == ("completed", 12, US + 60_000_000, US + HOUR)


def test_fail_and_cancel(q):
    v1, o1, v2, o2 = new_id(), new_id(), new_id(), new_id()
    assert released(q, 1, new_id(), v1, o1) == "applied"          # waiting
    fail = ("SELECT dd_visit_fail(1,%s,'no_caregiver',%s,%s,%s,%s)", v1, US, o1, new_id(),
            b"\x07")
    assert one(q, *fail) == "applied"
    assert one(q, *fail) == "noop"
    assert events(q, o1) == ["VisitFailed"]
    assert released(q, 2, new_id(), v2, o2) == "applied"
    ev = new_id()
    cancel = "SELECT dd_on_order_cancelled('orderd',3,%s,1,%s,%s)"
    assert one(q, cancel, ev, v2, US) == "applied"
    assert one(q, cancel, ev, v2, US) == "duplicate"
    assert one(q, "SELECT state FROM visits WHERE id = %s", v2) == "cancelled"
    assert events(q, o2) == []
    # the log is gapless
    assert q("SELECT count(*), max(seq) FROM events")[0] == (1, 1)


def test_role_cannot_touch_other_schemas(q):
    with pytest.raises(Exception):
        q("SELECT count(*) FROM orderd.orders")


def test_emergency_bump_with_release(q):
    cg, routine, r_order, e_visit, e_order = new_id(), new_id(), new_id(), new_id(), new_id()
    assert released(q, 1, new_id(), routine, r_order, cg, new_id()) == "applied"
    ev_in, ev_out, ev_bump = new_id(), new_id(), new_id()
    sql = ("SELECT dd_on_order_released_bump(%s,%s,%s,%s,%s,'e1','emergency','',true,9,1,"
           "30.27,120.15,%s,%s,'','',%s,%s,'prov',%s,%s,60,%s,%s,%s,1,%s,%s,%s,%s,%s)")
    args = ("orderd", 2, ev_in, e_visit, e_order, US, US + HOUR, US, cg, US, US + HOUR, ev_out,
            b"\x01", SEALED, routine, cg, r_order, ev_bump, b"\x02")
    assert one(q, sql, *args) == "applied"
    assert one(q, sql, *args) == "applied"          # replay: nothing twice
    assert events(q, r_order) == ["VisitAssigned", "VisitDeclined"]
    assert events(q, e_order) == ["VisitAssigned"]
    row = q("SELECT state, eta, declined FROM visits WHERE id = %s", routine)[0]
    assert row[0] == "waiting" and row[1] is None and row[2] in ([], "{}"), row
    # A duplicate release bumps nothing.
    other = new_id()
    assert released(q, 3, new_id(), other, new_id(), cg, new_id()) == "applied"
    dup = list(args)
    dup[3] = new_id()                                # another tentative visit
    dup[13], dup[15] = other, new_id()
    assert one(q, sql, *dup) == "duplicate"
    assert one(q, "SELECT state FROM visits WHERE id = %s", other) == "assigned"
