"""Crash test (issue 4): while 500 orders flow, kill -9 each daemon in turn
and restart it; afterwards every acknowledged order reaches a final state,
nothing happened twice to any order, the ledger check passes, money
reconciles across the daemons and the event logs were pruned as the daemons
ran (tests/soak.py, reconcile.py). PostgreSQL runs as in production (fsync,
synchronous_commit, full_page_writes on). Then duplicates planted into the
stores are caught by the same checks."""

import os
import sys

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402


class _Args:
    orders = int(os.environ.get("CRASH_ORDERS", "500"))
    rounds = 1
    concurrency = 8
    elders = 30
    caregivers = 60
    kill_every = 2.0
    timeout = 300
    place_seconds = None
    log_retention = 0           # prune as soon as every reader has passed
    log_prune_interval = 1
    sample_every = 2.0


def test_kill9_each_daemon_while_orders_flow(need_daemons, durable_pg, durable_db):
    s = harness.System(durable_pg, durable_db, log_level="info",
                       extra_args=soak.prune_args(_Args()))
    try:
        s.start()
        run = soak.Soak(s, _Args())
        ok = run.run()
        failed = [c for c in run.checks if not c[1]]
        assert ok, "crash checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed) + "".join(
            "\n--- %s (last 40 lines)\n%s" % kv for kv in s.logs(tail=40).items())
        duplicates_are_caught(s, run)
    finally:
        s.cleanup()


def duplicates_are_caught(s, run):
    """Each kind of duplicate planted into the stores of the run above fails
    its duplicate check (and only the checks it should)."""
    acked = run.acked()
    billed = [o.id for o in run.orders if o.state == "billed"]
    assert len(billed) >= 2, [o.state for o in run.orders]
    assert all(ok for _, ok, _ in soak.duplicate_checks(s.sql, acked))

    def failing():
        return sorted(n for n, ok, _ in soak.duplicate_checks(s.sql, acked) if not ok)

    # orderd completes an order a second time (a new event id: a redelivery
    # of the same event would have been refused by its id)
    s.sql("postgres", "SET search_path = orderd; SELECT cc_append('OrderCompleted', "
          "gen_random_uuid(), %s, 1, '\\x00')", (billed[0],))
    assert failing() == ["orderd appended OrderCompleted/OrderCancelled/OrderFailed at most "
                         "once per order"]
    # billingd captures an order twice (balanced: the ledger itself is fine)
    s.sql("postgres", "SET session_replication_role = replica; "
          "INSERT INTO billingd.transfers (transfer_id, kind, card_id, order_id) "
          "SELECT gen_random_uuid(), 'capture', card_id, order_id FROM billingd.transfers "
          "WHERE order_id = %s AND kind = 'capture'", (billed[1],))
    assert failing() == [
        "billingd: one hold, capture or release transfer per order and kind",
        "one capture per billed order, none for the others",
        "orderd appended OrderCompleted/OrderCancelled/OrderFailed at most once per order"]
    # a key answered with an order other than the one stored under it
    k1, k2 = list(acked)[:2]
    swapped = dict(acked, **{k1: acked[k2]})
    bad = [n for n, ok, _ in soak.duplicate_checks(s.sql, swapped) if not ok]
    assert "each Idempotency-Key answered with the one order stored under it" in bad
