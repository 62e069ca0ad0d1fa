"""Crash test (issue 4): while 500 orders flow, kill -9 each daemon in turn
and restart it; afterwards every acknowledged order reaches a final state,
no event is applied twice, the ledger check passes and money reconciles
across the daemons (tests/soak.py, reconcile.py). PostgreSQL runs as in
production (fsync, synchronous_commit, full_page_writes on)."""

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


def test_kill9_each_daemon_while_orders_flow(need_daemons, durable_pg, durable_db):
    s = harness.System(durable_pg, durable_db, log_level="info")
    try:
        s.start()
        run = soak.Soak(s, _Args())
        ok = run.run()
        failed = [c for c in run.checks if not c[1]]
        assert ok, "crash checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed) + "".join(
            "\n--- %s (last 40 lines)\n%s" % kv for kv in s.logs(tail=40).items())
    finally:
        s.cleanup()
