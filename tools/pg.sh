#!/usr/bin/env bash
# pg.sh init|start|stop|status|psql [args]: the private PostgreSQL 15 cluster.
#
#   data     var/pg/data (see tools/lib.sh for the root / fallback rules)
#   socket   var/pg/sock          server log  var/pg/postgres.log
#   port     $PGPORT (default 55432), listening on 127.0.0.1 only
#   auth     trust, local socket and 127.0.0.1 only: this cluster is private
#   fsync    on; PG_FSYNC=off for throwaway test runs only
#
# init creates the cluster if needed, starts it, and creates the database
# eldercare, the roles orderd/billingd/dispatchd/meald and their schemas
# (tools/pg_roles.sql). Every command is idempotent.
set -euo pipefail
EC_TOOL=pg.sh
. "$(dirname "$0")/lib.sh"

PG_FSYNC=${PG_FSYNC:-on}

s_write_conf() {
    # Rewritten on every start so PGPORT and PG_FSYNC take effect.
    local conf
    conf=$(cat <<CONF
# Written by tools/pg.sh on every start; edit tools/pg.sh instead.
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGSOCK'
timezone = 'Asia/Shanghai'
log_timezone = 'Asia/Shanghai'
fsync = $PG_FSYNC
max_connections = 200
shared_buffers = 128MB
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
)
    printf '%s\n' "$conf" | ec_as_pg tee "$PGDATA/eldercare.conf" >/dev/null
    # The service area's zone, in postgresql.conf itself (initdb wrote the
    # machine's zone there) as well as in eldercare.conf.
    ec_as_pg sed -i -e "s|^timezone = .*|timezone = 'Asia/Shanghai'|" \
        -e "s|^log_timezone = .*|log_timezone = 'Asia/Shanghai'|" "$PGDATA/postgresql.conf"
    if ! grep -q "^include_if_exists = 'eldercare.conf'" "$PGDATA/postgresql.conf"; then
        echo "include_if_exists = 'eldercare.conf'" \
            | ec_as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
    fi
    ec_as_pg tee "$PGDATA/pg_hba.conf" >/dev/null <<HBA
# Written by tools/pg.sh: a private cluster reachable only from this machine.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
HBA
}

s_running() {
    [ -f "$PGDATA/PG_VERSION" ] && ec_as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

s_initdb() {
    if [ -f "$PGDATA/PG_VERSION" ]; then
        return 0
    fi
    ec_log "initdb $PGDATA"
    ec_as_pg "$PG_BIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=trust --no-instructions >/dev/null
}

s_start() {
    if s_running; then
        return 0
    fi
    [ -f "$PGDATA/PG_VERSION" ] || ec_die "no cluster in $PGDATA; run: tools/pg.sh init"
    mkdir -p "$PGSOCK"
    if ec_is_root; then chown "$EC_PG_USER:" "$PGSOCK"; fi
    chmod 0755 "$PGSOCK"
    s_write_conf
    ec_log "start on 127.0.0.1:$PGPORT (fsync=$PG_FSYNC, log $PGLOG)"
    # 55432 lies in Linux's ephemeral range (32768-60999): a busy client
    # elsewhere on the machine may hold it for a moment as its local port.
    # Retry a few times before giving up.
    local try
    for try in 1 2 3 4 5 6; do
        if ec_as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 60 start >/dev/null; then
            return 0
        fi
        tail -n 5 "$PGLOG" | grep -q "Address already in use" || break
        ec_log "port $PGPORT busy (attempt $try); retrying in 2 s"
        sleep 2
    done
    tail -n 20 "$PGLOG" >&2 || true
    ec_die "PostgreSQL did not start (choose another port with PGPORT=...)"
}

s_psql_super() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres "$@"
}

s_setup_db() {
    if ! s_psql_super -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$EC_DB'" | grep -q 1; then
        ec_log "create database $EC_DB"
        s_psql_super -d postgres -c "CREATE DATABASE \"$EC_DB\""
    fi
    s_psql_super -d "$EC_DB" -f "$EC_ROOT/tools/pg_roles.sql"
}

cmd=${1:-status}
shift || true
case $cmd in
init)
    ec_pg_paths 1
    s_initdb
    s_start
    s_setup_db
    ;;
start)
    ec_pg_paths 1
    s_start
    ;;
stop)
    ec_pg_paths 0
    if s_running; then
        ec_log "stop"
        ec_as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
status)
    ec_pg_paths 0
    if s_running; then
        echo "PostgreSQL running: data $PGDATA, 127.0.0.1:$PGPORT, socket $PGSOCK"
    else
        echo "PostgreSQL not running (data $PGDATA)"
        exit 3
    fi
    ;;
psql)
    ec_pg_paths 0
    s_running || ec_die "PostgreSQL is not running; run: tools/pg.sh start"
    exec "$PG_BIN/psql" -X -h "$PGSOCK" -p "$PGPORT" -U postgres -d "$EC_DB" "$@"
    ;;
*)
    echo "usage: $0 init|start|stop|status|psql [psql args]" >&2
    exit 2
    ;;
esac
