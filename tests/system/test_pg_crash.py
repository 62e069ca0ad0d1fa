"""PostgreSQL crashes under load (issue 11, "Durability proven"). The
cluster runs as production runs it (fsync, synchronous_commit,
full_page_writes on: conftest's durable_pg). While orders flow it is stopped
with `pg_ctl stop -m immediate` (no shutdown checkpoint) and, later, its
postmaster is killed with SIGKILL; each time it is started again and runs
crash recovery. Clients retry with the same Idempotency-Key, as real ones
do. Afterwards every acknowledged order is present exactly once with the id
its client was given, every saga is final (billed), the ledger balances and
money reconciles across the daemons (reconcile.py); pg_amcheck finds the
tables and indexes intact.

PGCRASH_ORDERS sets the load (make soak: tests/soak.sh runs it larger)."""

import os
import subprocess
import sys
import time

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402


class _Args:
    orders = int(os.environ.get("PGCRASH_ORDERS", "150"))
    rounds = int(os.environ.get("PGCRASH_ROUNDS", "1"))
    concurrency = 8
    elders = 20
    caregivers = 40
    kill_every = 0.0
    timeout = 240 + orders // 5     # make soak runs more orders
    place_seconds = None


def amcheck(pg, dbname):
    """pg_amcheck over every table and B-tree index of the database: (ok, output)."""
    env = dict(os.environ, PGPASSFILE=pg.passfile())
    r = subprocess.run([os.path.join(harness.PG_BIN, "pg_amcheck"), "--install-missing",
                        "--heapallindexed", "-h", "127.0.0.1", "-p", str(pg.port),
                        "-U", "postgres", "-d", dbname],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return r.returncode == 0, r.stdout.decode(errors="replace")


def test_postgres_crash_loses_no_acknowledged_order(need_daemons, durable_pg, durable_db):
    pg = durable_pg
    crashes = []

    def crash(how):
        def go():
            t0 = time.monotonic()
            pg.crash(how)
            time.sleep(2.0)        # the daemons see the database gone
            pg.restart()
            crashes.append((how, time.monotonic() - t0))
        return go
    faults = []
    for _ in range(_Args.rounds):
        faults.append((3.0, crash("immediate"), "pg_ctl stop -m immediate, restart"))
        faults.append((4.0, crash("kill9"), "kill -9 the postmaster, restart"))
    args = _Args()
    args.place_seconds = sum(f[0] for f in faults) + 3.0 * len(faults) + 3.0
    s = harness.System(pg, durable_db, log_level="info")
    try:
        s.start()
        run = soak.Soak(s, args, faults=faults, supervise=True)
        run.name = "pg-crash"
        ok = run.run()
        failed = [c for c in run.checks if not c[1]]
        s.stop()
        intact, out = amcheck(pg, durable_db)
        print("FIGURE pg-crash recovery: %s; pg_amcheck %s" % (
            ", ".join("%s %.1f s" % c for c in crashes), "clean" if intact else "FAILED"))
        assert ok, "crash checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed)
        assert intact, out[-3000:]
        assert len(crashes) == len(faults)
    finally:
        s.cleanup()
