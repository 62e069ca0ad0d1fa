#!/usr/bin/env bash
# run.sh: what `make run` runs after bootstrap and build.
# PostgreSQL (tools/pg.sh init), migrations, the four daemons under
# tools/supervise.py, wait for every /readyz, then the demo (tools/demo.py),
# then keep running until Ctrl-C (or SIGTERM, or `make stop`), and stop all.
# Run as root, only this script and the supervisor are root: PostgreSQL
# (tools/lib.sh) and the daemons (tools/supervise.py) run as the system user
# eldercare; the daemons refuse uid 0 (docs/SECURITY.md, "Hardening").
#
#   EC_DEMO=0      skip the demo
#   PGPORT         PostgreSQL port (default 55432)
set -euo pipefail
EC_TOOL=run.sh
. "$(dirname "$0")/lib.sh"
cd "$EC_ROOT"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

mkdir -p var/log var/run
sup_pidfile=var/run/supervise.pid
if [ -f "$sup_pidfile" ] && kill -0 "$(cat "$sup_pidfile")" 2>/dev/null; then
    ec_die "already running (supervisor pid $(cat "$sup_pidfile")); run: make stop"
fi

tools/pg.sh init
tools/migrate.sh
# CURVE key pairs for the ZeroMQ sockets (kept across runs; docs/SECURITY.md).
"$PY" tools/keygen.py var/keys "${EC_DAEMONS[@]}" telephony
# The token issuer's key, made before any daemon starts: the secret half in
# var/issuer (orderd's --issuer-key alone: not in var/keys, which every
# daemon reads), the public half in var/keys/jwks.json, every daemon's
# --jwks-file. orderd signs the logins' tokens with it, and the demo mints
# its caregivers' and meal point's with it: one issuer.
"$PY" tools/tokens.py keygen var/issuer --jwks var/keys/jwks.json >/dev/null
# orderd's personal-data keys and the address transit keys of dispatchd and
# meald (kept across runs: the data is sealed with them).
"$PY" tools/keygen.py --secret var/keys pii pii-index dispatchd-address meald-address
ec_keys_to_daemons var/keys
ec_keys_to_daemons var/issuer
# One demo account per role (kept across runs), created by orderd at start.
"$PY" tools/demo_accounts.py var/demo-accounts.json
if ec_is_root; then
    chown "${EC_DAEMON_USER:-eldercare}:" var/demo-accounts.json
fi
export ORDERD_SEED_ACCOUNTS="$EC_ROOT/var/demo-accounts.json"

# `make run | tee log`: a Ctrl-C ends tee too, and a write to the broken pipe
# must not kill this script before it has stopped everything.
trap '' PIPE
sup_pid=
stopped=0
s_stop() {
    [ "$stopped" = 1 ] && return
    stopped=1
    trap '' INT TERM
    echo 2>/dev/null || true
    ec_log "stopping the daemons and PostgreSQL"
    if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
        kill -TERM "$sup_pid" 2>/dev/null || true
        wait "$sup_pid" 2>/dev/null || true
    fi
    tools/pg.sh stop || true
    ec_log "stopped"
}
trap 's_stop; exit 130' INT
trap 's_stop; exit 143' TERM
trap 's_stop' EXIT

# Own session: a Ctrl-C reaches this script, which stops the supervisor in order.
EC_SUPERVISE_PARENT=$$ setsid "$PY" tools/supervise.py 2>>var/log/supervise.stderr &
sup_pid=$!

declare -A port=([orderd]=${ORDERD_HTTP_PORT:-8081} [dispatchd]=${DISPATCHD_HTTP_PORT:-8082}
                 [meald]=${MEALD_HTTP_PORT:-8083} [billingd]=${BILLINGD_HTTP_PORT:-8084})
s_ready() {
    "$PY" - "$1" <<'PY'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen("http://127.0.0.1:%s/readyz" % sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}
for d in "${EC_DAEMONS[@]}"; do
    for i in $(seq 1 600); do
        if s_ready "${port[$d]}"; then
            break
        fi
        kill -0 "$sup_pid" 2>/dev/null || ec_die "supervisor exited; see var/log/supervise.log"
        if [ "$i" = 600 ]; then
            ec_die "$d not ready after 60 s; see var/log/$d.log"
        fi
        sleep 0.1
    done
    ec_log "$d ready on http://127.0.0.1:${port[$d]}"
done

if [ "${EC_DEMO:-1}" != 0 ]; then
    # The demo talks to the ports the daemons were given (*_HTTP_PORT).
    for d in "${EC_DAEMONS[@]}"; do
        u=${d^^}_URL
        export "$u=${!u:-http://127.0.0.1:${port[$d]}}"
    done
    "$PY" tools/demo.py || ec_log "demo failed (exit $?); the system keeps running"
fi

cat >&2 <<MSG

run.sh: the system is running:
  orderd    http://127.0.0.1:${port[orderd]}     dispatchd http://127.0.0.1:${port[dispatchd]}
  meald     http://127.0.0.1:${port[meald]}     billingd  http://127.0.0.1:${port[billingd]}
  logs var/log/<daemon>.log, data var/pg, metrics http://127.0.0.1:<port>/metrics
  demo accounts (one per role) var/demo-accounts.json; log in with
    curl -s -X POST localhost:${port[orderd]}/v1/auth/login -H 'Content-Type: application/json' -d '{"username":"demo-admin","password":"..."}'
  Ctrl-C (or make stop) stops everything.
MSG
# wait returns when a trapped signal arrives or the supervisor ends.
while kill -0 "$sup_pid" 2>/dev/null; do
    wait "$sup_pid" 2>/dev/null || true
done
