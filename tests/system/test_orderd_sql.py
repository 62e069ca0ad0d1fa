"""orderd's SQL functions on a real PostgreSQL, without the daemon: the
outcomes od_order_place() reports (the store is the final guard of
idempotency and card status), and the saga effects' rules: one step per
event, a final order never moves and appends nothing, a replayed event
reports the state and changes nothing."""

import uuid

import pytest

WS, WE = 1800000000000000, 1800007200000000   # window, microseconds since the epoch


def q(pg, db, sql, params=None):
    return pg.execute(sql, dbname=db, user="orderd", params=params)


def place(pg, db, card, key, service="bath", notes="n", emergency=False, order=None):
    order = order or str(uuid.uuid4())
    return q(pg, db, "SELECT outcome, order_id::text, state FROM od_order_place(%s, %s, %s, %s,"
             " %s, %s, %s, %s, 'http', %s, '\\x01', %s, '\\x02')",
             (order, key, card, service, WS, WE, notes, emergency, str(uuid.uuid4()),
              str(uuid.uuid4()) if emergency else None))[0]


def funds_held(pg, db, seq, order, event_id=None):
    return q(pg, db, "SELECT od_on_funds_held('billingd', %s, %s, %s, 3000, 3000, 'released',"
             " 'held 30.00', %s, '\\x03')",
             (seq, event_id or str(uuid.uuid4()), order, str(uuid.uuid4())))[0][0]


def visit(pg, db, seq, order, event="VisitAssigned", to="assigned", out=None):
    return q(pg, db, "SELECT od_on_visit('dispatchd', %s, %s, %s, %s, %s, 'd', 'cg-1', 'v-1',"
             " 'p-1', NULL, %s, %s, %s)",
             (seq, str(uuid.uuid4()), order, event, to, out,
              str(uuid.uuid4()) if out else None, b"\x04" if out else None))[0][0]


def history(pg, db, order):
    return q(pg, db, "SELECT event, state FROM order_history WHERE order_id = %s ORDER BY id",
             (order,))


def events(pg, db, order):
    return [r[0] for r in q(pg, db, "SELECT type FROM events WHERE key = %s ORDER BY seq",
                            (order,))]


@pytest.fixture
def odb(pg, fresh_db):
    elder, card, blocked = (str(uuid.uuid4()) for _ in range(3))
    # Personal data is sealed by orderd (od_pii.h; elders_sealed refuses it
    # in clear): stand-in bytes do here, no daemon opens them.
    q(pg, fresh_db, "INSERT INTO elders (id, district_id, pii_key, name_enc, id_number_enc,"
      " id_number_idx, phone_enc, phone_idx, address_enc, lat, lon, birth_date,"
      " ability_level, household, living) VALUES (%s, 7, 1, '\\x00', '\\x00', '\\x01',"
      " '\\x00', '\\x02', '\\x00', 30, 120, '1940-01-01', 'severe', 'none', 'alone')",
      (elder,))
    q(pg, fresh_db, "INSERT INTO cards (id, elder_id, district_id) VALUES (%s, %s, 7)",
      (card, elder))
    q(pg, fresh_db, "INSERT INTO cards (id, elder_id, district_id, status)"
      " VALUES (%s, %s, 7, 'blocked')", (blocked, elder))
    return fresh_db, card, blocked


def test_place_outcomes(pg, odb):
    db, card, blocked = odb
    outcome, order, state = place(pg, db, card, "k1")
    assert (outcome, state) == ("created", "placed")
    assert history(pg, db, order) == [("placed", "placed")]
    assert events(pg, db, order) == ["OrderPlaced"]
    # Same key, same request: that order, nothing new.
    assert place(pg, db, card, "k1") == ("existing", order, "placed")
    # Same key, another request: refused, nothing new.
    assert place(pg, db, card, "k1", notes="other") == ("conflict", order, "placed")
    assert place(pg, db, card, "k1", service="meal") == ("conflict", order, "placed")
    assert events(pg, db, order) == ["OrderPlaced"]
    # Unknown or blocked card: no order.
    assert place(pg, db, str(uuid.uuid4()), "k2") == ("card_unavailable", None, None)
    assert place(pg, db, blocked, "k3") == ("card_unavailable", None, None)
    assert q(pg, db, "SELECT count(*), count(DISTINCT elder_id) FROM orders") == [(1, 1)]
    assert q(pg, db, "SELECT count(*) FROM events") == [(1,)]


def test_place_emergency_is_released_at_once(pg, odb):
    db, card, _ = odb
    outcome, order, state = place(pg, db, card, "e1", service="emergency", emergency=True)
    assert (outcome, state) == ("created", "released")
    assert history(pg, db, order) == [("placed", "placed"), ("released", "released")]
    assert events(pg, db, order) == ["OrderPlaced", "VisitReleased"]


def test_funds_held_releases_in_one_step(pg, odb):
    db, card, _ = odb
    _, order, _ = place(pg, db, card, "k1")
    ev = str(uuid.uuid4())
    assert funds_held(pg, db, 1, order, ev) == "released"
    assert history(pg, db, order) == [("placed", "placed"), ("FundsHeld", "funds_held"),
                                      ("released", "released")]
    assert events(pg, db, order) == ["OrderPlaced", "VisitReleased"]
    assert q(pg, db, "SELECT price_fen, held_fen, state FROM orders WHERE id = %s",
             (order,)) == [(3000, 3000, "released")]
    # The same event again: the state is reported, nothing changes.
    assert funds_held(pg, db, 1, order, ev) == "released"
    assert len(history(pg, db, order)) == 3
    assert events(pg, db, order) == ["OrderPlaced", "VisitReleased"]


def test_a_release_is_typed_for_its_one_reader(pg, odb):
    """A meal is released as MealReleased (meald's), every other service as
    VisitReleased (dispatchd's); orderd packs the payload by the same rule."""
    db, card, _ = odb
    _, meal, _ = place(pg, db, card, "m1", service="meal")
    assert funds_held(pg, db, 1, meal) == "released"
    assert events(pg, db, meal) == ["OrderPlaced", "MealReleased"]
    _, bath, _ = place(pg, db, card, "b1", service="bath")
    assert funds_held(pg, db, 2, bath) == "released"
    assert events(pg, db, bath) == ["OrderPlaced", "VisitReleased"]


def test_funds_held_after_cancel_records_only(pg, odb):
    db, card, _ = odb
    _, order, _ = place(pg, db, card, "k1")
    q(pg, db, "SELECT * FROM od_order_cancel(%s, 'changed mind', %s, '\\x05')",
      (order, str(uuid.uuid4())))
    assert funds_held(pg, db, 1, order) == "cancelled"
    assert history(pg, db, order)[-1] == ("FundsHeld", "cancelled")
    assert events(pg, db, order) == ["OrderPlaced", "OrderCancelled"]
    assert q(pg, db, "SELECT held_fen, state FROM orders WHERE id = %s",
             (order,)) == [(3000, "cancelled")]


def test_visit_steps_and_final_orders(pg, odb):
    db, card, _ = odb
    _, order, _ = place(pg, db, card, "k1")
    funds_held(pg, db, 1, order)
    assert visit(pg, db, 1, order) == "assigned"
    assert q(pg, db, "SELECT caregiver_id, visit_id, provider_id FROM orders WHERE id = %s",
             (order,)) == [("cg-1", "v-1", "p-1")]
    assert visit(pg, db, 2, order, "VisitDeclined", "released") == "released"
    assert q(pg, db, "SELECT caregiver_id, visit_id FROM orders WHERE id = %s",
             (order,)) == [(None, None)]
    assert visit(pg, db, 3, order) == "assigned"
    assert visit(pg, db, 4, order, "VisitCheckedIn", "in_progress") == "in_progress"
    assert visit(pg, db, 5, order, "VisitCompleted", "completed", "OrderCompleted") == "completed"
    assert events(pg, db, order)[-1] == "OrderCompleted"
    q(pg, db, "SELECT od_on_hold('billingd', 2, %s, %s, 'HoldCaptured', 3000, 'billed', 'x')",
      (str(uuid.uuid4()), order))
    assert q(pg, db, "SELECT state, charged_fen FROM orders WHERE id = %s",
             (order,)) == [("billed", 3000)]
    # A final order never moves and appends nothing, whatever arrives.
    n = len(events(pg, db, order))
    assert visit(pg, db, 6, order, "VisitFailed", "failed", "OrderFailed") == "billed"
    assert len(events(pg, db, order)) == n
    assert history(pg, db, order)[-1] == ("VisitFailed", "billed")


def test_place_judges_the_key_before_the_request(pg, odb):
    import psycopg2
    db, card, blocked = odb
    _, order, _ = place(pg, db, card, "k1")
    # A known key with an impossible window: conflict, not an SQL error.
    row = q(pg, db, "SELECT outcome, order_id::text FROM od_order_place(%s, 'k1', %s, 'bath',"
            " %s, %s, 'n', false, 'http', %s, '\\x01', NULL, NULL)",
            (str(uuid.uuid4()), card, WE, WS, str(uuid.uuid4())))[0]
    assert row == ("conflict", order)
    # A new key with an impossible window: the CHECK refuses it, nothing stored.
    with pytest.raises(psycopg2.errors.CheckViolation):
        q(pg, db, "SELECT * FROM od_order_place(%s, 'k2', %s, 'bath', %s, %s, 'n', false,"
          " 'http', %s, '\\x01', NULL, NULL)", (str(uuid.uuid4()), card, WE, WS,
                                               str(uuid.uuid4())))
    assert q(pg, db, "SELECT count(*) FROM orders") == [(1,)]
    # The writer re-sends a batch whose COMMIT went through: same id, same key.
    assert place(pg, db, card, "k1", order=order) == ("existing", order, "placed")
    # The card was blocked since: the order placed before is still that order.
    q(pg, db, "UPDATE cards SET status = 'blocked' WHERE id = %s", (card,))
    assert place(pg, db, card, "k1") == ("existing", order, "placed")


def test_place_same_key_concurrently_one_order(pg, odb):
    import threading
    db, card, _ = odb
    a = pg.connect(db, user="orderd", autocommit=False)
    b = pg.connect(db, user="orderd", autocommit=False)
    sql = ("SELECT outcome, order_id::text FROM od_order_place(%s, 'same', %s, 'bath', %s, %s,"
           " 'n', false, 'http', %s, '\\x01', NULL, NULL)")
    ca = a.cursor()
    ca.execute(sql, (str(uuid.uuid4()), card, WS, WE, str(uuid.uuid4())))
    first = ca.fetchone()
    got = {}

    def second():
        cb = b.cursor()
        cb.execute(sql, (str(uuid.uuid4()), card, WS, WE, str(uuid.uuid4())))
        got["row"] = cb.fetchone()
        b.commit()

    t = threading.Thread(target=second)
    t.start()
    t.join(1.0)
    assert t.is_alive()            # waits for the first transaction's key
    a.commit()
    t.join(10)
    assert first[0] == "created"
    assert got["row"] == ("existing", first[1])
    a.close()
    b.close()
    assert q(pg, db, "SELECT count(*) FROM orders") == [(1,)]
    assert q(pg, db, "SELECT count(*) FROM events") == [(1,)]


def meal(pg, db, seq, order, event, to, out=None, reason=None):
    return q(pg, db, "SELECT od_on_meal('meald', %s, %s, %s, %s, %s, 'd', 'mp-1', 'p-2', %s,"
             " %s, %s, %s)",
             (seq, str(uuid.uuid4()), order, event, to, reason, out,
              str(uuid.uuid4()) if out else None, b"\x06" if out else None))[0][0]


def test_meal_steps(pg, odb):
    db, card, _ = odb
    _, order, _ = place(pg, db, card, "m1", service="meal")
    q(pg, db, "UPDATE orders SET state = 'funds_held' WHERE id = %s", (order,))
    assert funds_held(pg, db, 1, order) == "released"        # from funds_held too
    assert meal(pg, db, 1, order, "MealScheduled", "assigned") == "assigned"
    assert q(pg, db, "SELECT meal_point_id, provider_id FROM orders WHERE id = %s",
             (order,)) == [("mp-1", "p-2")]
    assert meal(pg, db, 2, order, "MealDelivered", "completed", "OrderCompleted") == "completed"
    assert events(pg, db, order)[-1] == "OrderCompleted"
    _, other, _ = place(pg, db, card, "m2", service="meal")
    funds_held(pg, db, 2, other)
    assert meal(pg, db, 3, other, "MealRefused", "failed", "OrderFailed",
                reason="after cut-off") == "failed"
    assert q(pg, db, "SELECT reason FROM orders WHERE id = %s", (other,)) == [("after cut-off",)]
    assert events(pg, db, other)[-1] == "OrderFailed"
    # HoldReleased on a failed order: history only.
    assert q(pg, db, "SELECT od_on_hold('billingd', 3, %s, %s, 'HoldReleased', NULL, NULL,"
             " 'released')", (str(uuid.uuid4()), other)) == [("failed",)]
    assert history(pg, db, other)[-1] == ("HoldReleased", "failed")
    assert q(pg, db, "SELECT charged_fen FROM orders WHERE id = %s", (other,)) == [(None,)]


def test_visit_failed_and_completed_record_reason_and_provider(pg, odb):
    db, card, _ = odb
    _, order, _ = place(pg, db, card, "v1")
    funds_held(pg, db, 1, order)
    assert q(pg, db, "SELECT od_on_visit('dispatchd', 1, %s, %s, 'VisitFailed', 'failed', 'd',"
             " NULL, NULL, NULL, 'no caregiver in time', 'OrderFailed', %s, '\\x07')",
             (str(uuid.uuid4()), order, str(uuid.uuid4()))) == [("failed",)]
    assert q(pg, db, "SELECT reason FROM orders WHERE id = %s",
             (order,)) == [("no caregiver in time",)]
    _, other, _ = place(pg, db, card, "v2")
    funds_held(pg, db, 2, other)
    visit(pg, db, 2, other)
    assert q(pg, db, "SELECT od_on_visit('dispatchd', 3, %s, %s, 'VisitCompleted', 'completed',"
             " 'd', NULL, NULL, 'p-9', NULL, 'OrderCompleted', %s, '\\x08')",
             (str(uuid.uuid4()), other, str(uuid.uuid4()))) == [("completed",)]
    assert q(pg, db, "SELECT provider_id, caregiver_id FROM orders WHERE id = %s",
             (other,)) == [("p-9", "cg-1")]


# ---- order_states: the one SQL copy of the state rules (008) -----------------------
def test_state_rules_come_from_order_states(pg, odb):
    db, card, _ = odb
    finals = {r[0] for r in q(pg, db, "SELECT name FROM order_states WHERE final")}
    assert finals == {"billed", "denied", "cancelled", "failed"}
    for name, final, cancellable in q(pg, db, "SELECT name, final, cancellable FROM order_states"):
        assert q(pg, db, "SELECT od_state_final(%s), od_state_cancellable(%s)",
                 (name, name))[0] == (final, cancellable), name
    # Every function that judged by a spelled-out list now asks the table's.
    src = q(pg, db, "SELECT string_agg(prosrc, ' ') FROM pg_proc p JOIN pg_namespace n"
            " ON n.oid = p.pronamespace WHERE n.nspname = 'orderd' AND proname LIKE 'od\\_%%'")
    assert "'billed', 'denied'" not in src[0][0]

    # A change of the table recompiles the rules: completed made final
    # freezes a completed order (HoldCaptured no longer bills it).
    o = place(pg, db, card, "k-states")[1]
    funds_held(pg, db, 1, o)
    visit(pg, db, 1, o)
    visit(pg, db, 2, o, "VisitCompleted", "completed", "OrderCompleted")
    q(pg, db, "UPDATE order_states SET final = true WHERE name = 'completed'")
    assert q(pg, db, "SELECT od_state_final('completed')")[0][0] is True
    assert q(pg, db, "SELECT od_on_hold('billingd', 2, %s, %s, 'HoldCaptured', 3000,"
             " 'billed', 'd')", (str(uuid.uuid4()), o))[0][0] == "completed"
    # The state domain follows the table too: a state it lacks is refused.
    with pytest.raises(Exception) as e:
        q(pg, db, "UPDATE orders SET state = 'paused' WHERE id = %s", (o,))
    assert "od_order_state_check" in str(e.value)
    q(pg, db, "INSERT INTO order_states VALUES ('paused', false, false)")
    q(pg, db, "UPDATE orders SET state = 'paused' WHERE id = %s", (o,))
    # ... and a state still in use cannot be taken out.
    with pytest.raises(Exception):
        q(pg, db, "DELETE FROM order_states WHERE name = 'paused'")


@pytest.mark.parametrize("plant,state,why", [
    ("UPDATE order_states SET final = false WHERE name = 'failed'", "failed", "final"),
    ("UPDATE order_states SET cancellable = true WHERE name = 'in_progress'", "in_progress",
     "cancellable"),
    ("INSERT INTO order_states VALUES ('paused', false, true)", "paused", "unknown_to_orderd"),
    ("DELETE FROM order_states WHERE name = 'denied'", "denied", "missing_in_store"),
])
def test_orderd_refuses_to_start_on_a_mismatched_state_table(pg, fresh_db, need_daemons,
                                                              plant, state, why):
    import harness
    q(pg, fresh_db, plant)
    s = harness.System(pg, fresh_db, names=("orderd",))
    try:
        d = s.daemons["orderd"].start()
        d.proc.wait(timeout=20)
        assert d.proc.returncode != 0
        lines = [x for x in d.log_lines() if x.get("event") == "order_states_mismatch"]
        assert lines and lines[0].get("state") == state and lines[0].get("differs") == why, \
            d.log_text()[-2000:]
    finally:
        s.cleanup()
