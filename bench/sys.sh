# sys.sh: bring a private copy of the whole system up and down for the
# benchmarks (source it from bench/intake.sh and bench/e2e.sh).
#
# It runs the real tools, unmodified, the way tools/run.sh does: tools/pg.sh
# init (fsync on), tools/migrate.sh, tools/supervise.py. So that a benchmark
# never touches the cluster, logs and pidfiles of `make run` (var/pg, var/log,
# var/run) nor its ports, the tools run from a shadow root var/bench/root
# whose tools/, sql/ and build/ are symlinks to the repository's: lib.sh and
# supervise.py take their root from the path they were called by, so the
# cluster is var/bench/root/var/pg and the logs var/bench/root/var/log.
#
#   BENCH_PGPORT   PostgreSQL port (default 55599)
#   BENCH_PORT0    HTTP ports are PORT0+1..4 (orderd, dispatchd, meald,
#                  billingd), event logs PORT0+1001..1004, orderd's intake
#                  ROUTER PORT0+1011 (default 24600: below the ephemeral range,
#                  away from make run's 8081..9091)
#   BENCH_PGSS=1   load pg_stat_statements (track = all) and track_functions
#                  (for profiling; bench_pgss prints the top statements)
#   BENCH_BIN_FROM the daemons' build/bin to run (default this tree's; another
#                  worktree's to compare builds in one sitting)
# The cluster's files stay until the next run starts (for a post-mortem).
# Run as root, nothing here runs as root but this script: PostgreSQL runs as
# the system user eldercare (tools/lib.sh), and supervise.py starts the
# daemons as that user too (they refuse uid 0; docs/SECURITY.md, "Hardening").
#
# Daemon settings for a benchmark (environment, see ARCHITECTURE.md):
# DISPATCHD_ACCEPT_TIMEOUT_S=86400 so that nobody's offer times out and is
# re-dispatched during a run (no caregiver app accepts here); EC_LOG_LEVEL=warn.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
BENCH_REPO=$(dirname "$BENCH_DIR")
BENCH_SHADOW=$BENCH_REPO/var/bench/root
BENCH_PGPORT=${BENCH_PGPORT:-55599}
BENCH_PORT0=${BENCH_PORT0:-24600}
BENCH_PY=/usr/bin/python3
[ -x "$BENCH_PY" ] || BENCH_PY=python3

export PGPORT=$BENCH_PGPORT PGHOST=127.0.0.1
# The shadow's passwords (tools/pg.sh init makes them, tools/lib.sh): the
# superuser's and the owners' .pgpass lines, for bench_psql and pgbench.
export PGPASSFILE=$BENCH_SHADOW/var/secrets/pgpass
# The daemons run from copies (var/bench/root/bin) so a rebuild in the
# working tree during a run cannot replace them under us.
export EC_BIN_DIR=$BENCH_SHADOW/bin
export ORDERD_HTTP_PORT=$((BENCH_PORT0 + 1)) DISPATCHD_HTTP_PORT=$((BENCH_PORT0 + 2))
export MEALD_HTTP_PORT=$((BENCH_PORT0 + 3)) BILLINGD_HTTP_PORT=$((BENCH_PORT0 + 4))
export ORDERD_LOG_ENDPOINT=tcp://127.0.0.1:$((BENCH_PORT0 + 1001))
export DISPATCHD_LOG_ENDPOINT=tcp://127.0.0.1:$((BENCH_PORT0 + 1002))
export MEALD_LOG_ENDPOINT=tcp://127.0.0.1:$((BENCH_PORT0 + 1003))
export BILLINGD_LOG_ENDPOINT=tcp://127.0.0.1:$((BENCH_PORT0 + 1004))
export ORDERD_INTAKE_ENDPOINT=tcp://127.0.0.1:$((BENCH_PORT0 + 1011))
export ORDERD_URL=http://127.0.0.1:$ORDERD_HTTP_PORT
export DISPATCHD_URL=http://127.0.0.1:$DISPATCHD_HTTP_PORT
export MEALD_URL=http://127.0.0.1:$MEALD_HTTP_PORT
export BILLINGD_URL=http://127.0.0.1:$BILLINGD_HTTP_PORT
export DISPATCHD_ACCEPT_TIMEOUT_S=${DISPATCHD_ACCEPT_TIMEOUT_S:-86400}
export EC_LOG_LEVEL=${EC_LOG_LEVEL:-warn}
unset PGDATABASE PGUSER EC_SECRETS

BENCH_SUP_PID=
BENCH_UP=0

bench_log() { printf '[%s %s] %s\n' "${BENCH_NAME:-bench}" "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() { bench_log "FAILED: $*"; exit 1; }

# psql as the cluster's superuser over TCP (its password from $PGPASSFILE).
bench_psql() {
    /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" \
        -U postgres -d eldercare "$@"
}
# One value (or rows, |-separated).
bench_sql() { bench_psql -tA -c "$1"; }

s_bench_ready() {
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/readyz" 2>/dev/null \
        | grep -q '^200$'
}

# Fresh cluster, migrations, the four daemons; returns when every /readyz is 200.
bench_up() {
    mkdir -p "$BENCH_SHADOW"
    local l
    for l in tools sql build; do
        ln -sfn "$BENCH_REPO/$l" "$BENCH_SHADOW/$l"
    done
    # A clean slate every run: stop a cluster left by an interrupted run, drop its files.
    "$BENCH_SHADOW/tools/pg.sh" stop >/dev/null 2>&1 || true
    if [ -f "$BENCH_SHADOW/var/run/supervise.pid" ]; then
        local old
        old=$(cat "$BENCH_SHADOW/var/run/supervise.pid")
        if kill -0 "$old" 2>/dev/null && grep -q supervise "/proc/$old/cmdline" 2>/dev/null; then
            bench_log "stopping a supervisor left running ($old)"
            kill -TERM "$old" 2>/dev/null || true
            sleep 3
        fi
    fi
    local port
    for port in "$PGPORT" "$ORDERD_HTTP_PORT" "$DISPATCHD_HTTP_PORT" "$MEALD_HTTP_PORT" \
                "$BILLINGD_HTTP_PORT" $((BENCH_PORT0 + 1001)) $((BENCH_PORT0 + 1002)) \
                $((BENCH_PORT0 + 1003)) $((BENCH_PORT0 + 1004)) $((BENCH_PORT0 + 1011)); do
        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
            bench_die "port $port is in use (set BENCH_PGPORT / BENCH_PORT0)"
        fi
    done
    l=$(readlink -f "$BENCH_SHADOW/var/pg" 2>/dev/null || true)
    [ -n "$l" ] && rm -rf "$l"
    rm -rf "$BENCH_SHADOW/var"
    mkdir -p "$BENCH_SHADOW/var/log" "$BENCH_SHADOW/var/run"
    # A build may be relinking right now: wait for the binaries, then copy them.
    local d i ok bin=${BENCH_BIN_FROM:-$BENCH_REPO/build/bin}
    local src
    src=$(cd "$bin/../.." && pwd -P)
    for i in $(seq 1 120); do
        ok=1
        for d in orderd billingd dispatchd meald; do
            [ -x "$bin/$d" ] || ok=0
        done
        [ "$ok" = 1 ] && break
        sleep 0.5
    done
    rm -rf "$EC_BIN_DIR"
    mkdir -p "$EC_BIN_DIR"
    for d in orderd billingd dispatchd meald; do
        [ -x "$bin/$d" ] || bench_die "$bin/$d missing: run make all"
        cp "$bin/$d" "$EC_BIN_DIR/$d"
    done
    bench_log "daemons built from $(git -C "$src" rev-parse --short HEAD) in $src" \
              "($(git -C "$src" status --porcelain -- services sql | wc -l) files" \
              "differ in services/ and sql/), binaries of $(date -r "$bin/orderd" +%H:%M)"
    BENCH_UP=1
    "$BENCH_SHADOW/tools/pg.sh" init 2>&1 | sed 's/^/  /' >&2
    if [ "${BENCH_PGSS:-0}" = 1 ]; then
        # Profiling aid: statement statistics (postgresql.auto.conf; pg.sh's
        # own settings are untouched), every statement inside functions too.
        bench_psql -d postgres -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" \
            -c "ALTER SYSTEM SET track_functions = 'pl'"
        "$BENCH_SHADOW/tools/pg.sh" stop 2>&1 | sed 's/^/  /' >&2
        "$BENCH_SHADOW/tools/pg.sh" start 2>&1 | sed 's/^/  /' >&2
        bench_psql -d postgres -c "ALTER SYSTEM SET pg_stat_statements.track = 'all'" \
            -c "SELECT pg_reload_conf()" >/dev/null
        bench_psql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
    fi
    "$BENCH_SHADOW/tools/migrate.sh" 2>&1 | tail -n 1 | sed 's/^/  /' >&2
    # CURVE keys where the shadow root's supervise.py looks (var/keys).
    "$BENCH_PY" "$BENCH_REPO/tools/keygen.py" "$BENCH_SHADOW/var/keys" \
        orderd billingd dispatchd meald telephony || bench_die "keygen failed"
    # orderd's personal-data keys and the address transit keys (docs/SECURITY.md,
    # "Personal data"; binaries from before them ignore the transit keys).
    "$BENCH_PY" "$BENCH_REPO/tools/keygen.py" --secret "$BENCH_SHADOW/var/keys" pii pii-index \
        dispatchd-address meald-address \
        || bench_die "pii keygen failed"
    # orderd's token issuer key (var/issuer, supervise.py's --issuer-key) and
    # its JWKS in var/keys, made before the daemons start, as run.sh does:
    # bench/county.py (via tools/demo.py) and wrk (BENCH_TOKEN, an
    # operator's) send bearer tokens minted with it.
    "$BENCH_PY" "$BENCH_REPO/tools/tokens.py" keygen "$BENCH_SHADOW/var/issuer" \
        --jwks "$BENCH_SHADOW/var/keys/jwks.json" >/dev/null || bench_die "token keygen failed"
    export DEMO_ISSUER_KEY=$BENCH_SHADOW/var/issuer/issuer.key
    # No demo accounts are seeded here: the demo mints every token.
    export DEMO_ACCOUNTS=$BENCH_SHADOW/var/demo-accounts.json
    BENCH_TOKEN=$("$BENCH_PY" "$BENCH_REPO/tools/tokens.py" mint "$DEMO_ISSUER_KEY" \
        operator --ttl 86400 --sub bench) || bench_die "cannot mint a token"
    export BENCH_TOKEN
    # As root the daemons run as eldercare and refuse a key not their own.
    if [ "$(id -u)" = 0 ] && id -u "${EC_DAEMON_USER:-eldercare}" >/dev/null 2>&1; then
        chown -R "${EC_DAEMON_USER:-eldercare}:" "$BENCH_SHADOW/var/keys" \
            "$BENCH_SHADOW/var/issuer"
    fi
    setsid "$BENCH_PY" "$BENCH_SHADOW/tools/supervise.py" \
        2>>"$BENCH_SHADOW/var/log/supervise.stderr" &
    BENCH_SUP_PID=$!
    local p
    for d in orderd:$ORDERD_HTTP_PORT billingd:$BILLINGD_HTTP_PORT \
             dispatchd:$DISPATCHD_HTTP_PORT meald:$MEALD_HTTP_PORT; do
        p=${d#*:}
        for i in $(seq 1 600); do
            s_bench_ready "$p" && break
            kill -0 "$BENCH_SUP_PID" 2>/dev/null || bench_die "supervisor exited"
            [ "$i" = 600 ] && bench_die "${d%%:*} not ready after 60 s; see $BENCH_SHADOW/var/log"
            sleep 0.1
        done
    done
    bench_log "system up: PostgreSQL 127.0.0.1:$PGPORT (fsync on), orderd $ORDERD_URL," \
              "logs $BENCH_SHADOW/var/log"
}

bench_down() {
    [ "$BENCH_UP" = 1 ] || return 0
    BENCH_UP=0
    if [ -n "$BENCH_SUP_PID" ] && kill -0 "$BENCH_SUP_PID" 2>/dev/null; then
        kill -TERM "$BENCH_SUP_PID" 2>/dev/null || true
        wait "$BENCH_SUP_PID" 2>/dev/null || true
    fi
    "$BENCH_SHADOW/tools/pg.sh" stop 2>/dev/null || true
    bench_log "system stopped"
}

# Fail fast when a daemon died and was restarted during a run (the numbers
# would then include a restart).
bench_restarts() {
    grep -c '"event": "died"' "$BENCH_SHADOW/var/log/supervise.log" 2>/dev/null || true
}

# Sum of consumer_lag_events over every daemon's /metrics (0 when caught up).
bench_lag() {
    local p total=0 v
    for p in $ORDERD_HTTP_PORT $DISPATCHD_HTTP_PORT $MEALD_HTTP_PORT $BILLINGD_HTTP_PORT; do
        v=$(curl -s -m 2 "http://127.0.0.1:$p/metrics" 2>/dev/null \
            | awk '/^[a-z_]*consumer_lag_events/ {s += $NF} END {printf "%d", s}')
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# Wait until every consumer has caught up (lag 0 twice in a row), at most $1 s.
bench_drain() {
    local limit=${1:-120} i zero=0
    for i in $(seq 1 "$limit"); do
        if [ "$(bench_lag)" = 0 ]; then
            zero=$((zero + 1))
            [ "$zero" -ge 2 ] && return 0
        else
            zero=0
        fi
        sleep 1
    done
    bench_log "consumers still lagging after $limit s (lag $(bench_lag))"
    return 1
}

# Top statements by total execution time (BENCH_PGSS=1).
bench_pgss() {
    [ "${BENCH_PGSS:-0}" = 1 ] || return 0
    bench_psql -P pager=off -c "
        SELECT u.rolname AS role, s.calls, round(s.total_exec_time::numeric, 0) AS total_ms,
               round((s.total_exec_time / greatest(s.calls, 1))::numeric, 3) AS mean_ms,
               s.wal_bytes / greatest(s.calls, 1) AS wal_b_per_call,
               left(regexp_replace(s.query, '\s+', ' ', 'g'), 90) AS query
          FROM pg_stat_statements s JOIN pg_roles u ON u.oid = s.userid
         ORDER BY s.total_exec_time DESC LIMIT ${1:-25}"
    bench_psql -P pager=off -c "
        SELECT schemaname, funcname, calls, round(total_time::numeric, 0) AS total_ms,
               round(self_time::numeric, 0) AS self_ms
          FROM pg_stat_user_functions ORDER BY self_time DESC LIMIT 15"
}

# Machine description for the result table.
bench_machine() {
    printf '%s cores, %s, RAM %s' "$(nproc)" \
        "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)" \
        "$(free -h | awk '/^Mem:/ {print $2}')"
}

# Median of the numbers on stdin (one a line).
bench_median() {
    sort -g | awk '{a[NR] = $1} END {if (NR == 0) print "-";
        else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
