#!/usr/bin/env bash
# soak.sh: `make soak`: the crash run at a larger scale than make test's:
# orders flow while each daemon is killed with SIGKILL and restarted, several
# rounds; then every acknowledged order must be final, no event applied
# twice, the ledger balanced. Options pass through to tests/soak.py, e.g.
#   SOAK_ARGS="--orders 5000 --rounds 5" make soak
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tests/soak.py --orders 3000 --rounds 3 --concurrency 16 \
    --timeout 900 ${SOAK_ARGS:-} "$@"
