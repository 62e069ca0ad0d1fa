#!/usr/bin/env bash
# soak.sh: `make soak`: the crash and fault runs at a larger scale than make
# test's, all on PostgreSQL run as production runs it (fsync,
# synchronous_commit, full_page_writes on); each prints FIGURE lines
# (docs/RELIABILITY.md):
#  1. tests/soak.py: orders flow while each daemon is killed with SIGKILL
#     and restarted, several rounds, every daemon pruning its event log each
#     second (retention 0); then every acknowledged order must be final and
#     present once, nothing done twice to an order (counted per order across
#     the logs, billingd's ledger and orderd's orders: soak.py
#     duplicate_checks), the ledger balanced, money reconciled, and events
#     and inbox pruned to their newest rows (sizes sampled every 2 s);
#  2. the fault tests, larger: PostgreSQL crashes (test_pg_crash.py), disk
#     full (test_disk_full.py, root only), network faults between daemons
#     (test_netfault.py), wall-clock steps (test_clock_step.py).
# Options pass through to tests/soak.py, e.g.
#   SOAK_ARGS="--orders 5000 --rounds 5" make soak
# SOAK_FAULTS=0 skips part 2.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 tests/soak.py --orders 3000 --rounds 3 --concurrency 16 \
    --timeout 900 ${SOAK_ARGS:-} "$@"
if [ "${SOAK_FAULTS:-1}" != 0 ]; then
    PGCRASH_ORDERS=1500 PGCRASH_ROUNDS=3 \
    DISKFULL_ORDERS=1000 DISKFULL_SECONDS=30 \
    NETFAULT_ORDERS=1500 NETFAULT_SECONDS=90 NETFAULT_HOLD=10 \
    CLOCK_ORDERS=1500 CLOCK_HOLD=20 \
        /usr/bin/python3 -m pytest -q -s -rs tests/system/test_pg_crash.py \
        tests/system/test_disk_full.py tests/system/test_netfault.py \
        tests/system/test_clock_step.py 2>&1 | grep -E "^FIGURE|passed|failed|skipped|Error"
fi
