"""The cross-daemon reconciliation (reconcile.py) passes on a real run and
catches each kind of mismatch planted in a copy of that run's database.

A short flow (no faults) drives visits and meals to billed and leaves some
cancelled; the daemons stop; the database must reconcile. Then each plant
is made in its own copy (CREATE DATABASE ... TEMPLATE), as the superuser
with triggers off (session_replication_role = replica: the ledger's
append-only and balance triggers would refuse some plants), and the
reconciliation must report exactly the kind expected."""

import os
import random
import sys
import uuid

import pytest

import harness
import reconcile

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402


class _Args:
    orders = 24
    rounds = 0          # no kills: a clean run
    concurrency = 4
    elders = 6
    caregivers = 12
    kill_every = 0.0
    timeout = 120
    place_seconds = 3


# What each plant changes (one order or account of the run) and the kinds the
# reconciliation must report. {billed}, {billed_meal}, {cancelled}, {card}:
# chosen from the run.
PLANTS = {
    "charge_differs": (
        "UPDATE orderd.orders SET charged_fen = charged_fen + 1 WHERE id = '{billed}'",
        {"charge_mismatch"}),
    "capture_missing": (
        "DELETE FROM billingd.postings WHERE transfer_id IN (SELECT transfer_id FROM "
        "billingd.transfers WHERE order_id = '{billed}' AND kind = 'capture');"
        "DELETE FROM billingd.transfers WHERE order_id = '{billed}' AND kind = 'capture';"
        "UPDATE billingd.holds SET state = 'held' WHERE order_id = '{billed}'",
        {"billed_not_captured", "ledger_stale_balance"}),
    "visit_not_completed": (
        "UPDATE dispatchd.visits SET state = 'failed' WHERE order_id = '{billed}'",
        {"billed_without_work"}),
    "meal_not_delivered": (
        "UPDATE meald.meals SET status = 'scheduled', delivered_at = NULL "
        "WHERE order_id = '{billed_meal}'",
        {"billed_without_work"}),
    "delivery_record_missing": (
        "DELETE FROM billingd.deliveries WHERE order_id = '{billed}'",
        {"billed_without_delivery_record"}),
    "hold_left_on_cancelled": (
        "UPDATE billingd.holds SET state = 'held' WHERE order_id = '{cancelled}'",
        {"hold_outlived_order", "ledger_holds_mismatch"}),   # (the card's part > 0)
    "hold_without_order": (
        "INSERT INTO billingd.holds (order_id, card_id, district_id, service, state, price_fen, "
        "held_fen) VALUES ('%s', '{card}', 1, 'bath', 'captured', 6000, 6000)" % uuid.uuid4(),
        {"hold_without_order"}),
    "capture_twice": (
        "INSERT INTO billingd.transfers (transfer_id, kind, card_id, order_id) "
        "VALUES ('%s', 'capture', '{card}', '{billed}')" % uuid.uuid4(),
        {"transfer_repeated"}),
    "unbalanced_posting": (
        "INSERT INTO billingd.postings (transfer_id, account, amount) SELECT transfer_id, "
        "'subsidy_fund', 1 FROM billingd.transfers WHERE order_id = '{billed}' "
        "AND kind = 'capture' ON CONFLICT (transfer_id, account) "
        "DO UPDATE SET amount = billingd.postings.amount + 1",   # a subsidised capture has one
        {"ledger_unbalanced", "ledger_stale_balance", "ledger_not_zero_sum"}),
    "orderd_held_differs": (
        "UPDATE orderd.orders SET held_fen = held_fen + 100 WHERE id = '{billed}'",
        {"held_mismatch"}),
}


@pytest.fixture(scope="module")
def clean_run(need_daemons, pg, db):
    """A database after a clean flow, daemons stopped; the run's picks."""
    s = harness.System(pg, db, log_level="info")
    try:
        s.start()
        random.seed(11)   # households and services: some orders cost the card money
        run = soak.Soak(s, _Args())
        run.name = "reconcile"
        # Cancel every sixth order before it is driven: final, unbilled.
        place_one = run.place_one

        def place_and_cancel(n):
            place_one(n)
            if n % 6 == 5 and run.orders:
                o = run.orders[-1]
                s.http("POST", "orderd", "/v1/orders/%s/cancel" % o.id, json={"reason": "test"},
                       headers={"Idempotency-Key": "cancel-" + o.id})
        run.place_one = place_and_cancel
        ok = run.run()
        assert ok, [c for c in run.checks if not c[1]]
        s.stop()
    finally:
        s.cleanup()
    q = lambda sql: pg.execute(sql, dbname=db)  # noqa: E731
    picks = {
        "billed": q("SELECT id FROM orderd.orders WHERE state = 'billed' AND service <> 'meal' "
                    "AND charged_fen > 0 LIMIT 1")[0][0],
        "billed_meal": q("SELECT id FROM orderd.orders WHERE state = 'billed' "
                         "AND service = 'meal' LIMIT 1")[0][0],
        "cancelled": q("SELECT o.id FROM orderd.orders o JOIN billingd.holds h "
                       "ON h.order_id = o.id WHERE o.state = 'cancelled' "
                       "AND h.state = 'released' ORDER BY h.held_fen DESC LIMIT 1")[0][0],
        "card": q("SELECT card_id FROM orderd.orders LIMIT 1")[0][0],
    }
    return db, picks


def test_clean_run_reconciles(pg, clean_run):
    db, _ = clean_run
    rep = reconcile.reconcile(pg, db)
    print("FIGURE reconcile clean: %s" % rep.summary())
    assert rep.ok, str(rep)
    assert rep.figures["billed"] > 0 and rep.fen_lost == 0


@pytest.mark.parametrize("plant", sorted(PLANTS))
def test_planted_violation_is_caught(pg, clean_run, plant):
    db, picks = clean_run
    sql, kinds = PLANTS[plant]
    copy = "%s_%s" % (db, plant)[:60]
    pg.create_db(copy, template=db)
    try:
        pg.execute("SET session_replication_role = replica; " + sql.format(**picks),
                   dbname=copy)
        rep = reconcile.reconcile(pg, copy)
        print("FIGURE reconcile %s: %s" % (plant, rep.summary()))
        assert not rep.ok, "plant %s not caught" % plant
        assert set(rep.kinds()) == kinds, str(rep)
        # The original stays clean: the copy alone carries the violation.
        assert reconcile.reconcile(pg, db).ok
    finally:
        pg.drop_db(copy)
