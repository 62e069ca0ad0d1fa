#!/usr/bin/env bash
# pg.sh init|start|stop|status|psql [args]: the private PostgreSQL 15 cluster.
#
#   data     var/pg/data (see tools/lib.sh for the root / fallback rules)
#   socket   var/pg/sock          server log  var/pg/postgres.log
#   port     $PGPORT (default 55432), listening on 127.0.0.1 only
#   auth     scram-sha-256 for every role (the superuser too), local socket
#            and 127.0.0.1 only; no TLS: nothing leaves the machine
#   secrets  var/secrets (0700): pg-<role>.pw (0600) per role, generated on
#            first init; pgpass-<role> (.pgpass lines) for the daemons and
#            pgpass (superuser and owners) for the tools (tools/lib.sh)
#   checksums  on for a new cluster (initdb --data-checksums); a cluster made
#            before: stop it, then pg_checksums --enable (docs/SECURITY.md)
#   fsync    on; PG_FSYNC=off for throwaway test runs only
#
# init creates the cluster if needed, starts it, and creates the database
# eldercare, the owner roles orderd/billingd/dispatchd/meald with their
# schemas and the runtime roles <daemon>_rt (tools/pg_roles.sql), and sets
# every role's password from its file. secrets only creates the files;
# tls-cert [host] makes a CA and a server certificate for compose.
# Every command is idempotent.
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
# Every role logs in with its password (SCRAM); no trust, no peer.
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
HBA
}

# The superuser's password, written where the cluster's user can read it for
# a moment (initdb --pwfile), as the cluster's user, mode 0600.
s_superuser_pwfile() {
    local f=$PGDIR/.pwfile.$$
    ec_secret "$EC_PG_SUPERUSER" | ec_as_pg sh -c 'umask 077 && cat >"$1"' sh "$f"
    printf '%s' "$f"
}

# A cluster whose superuser has no password yet (made by tools/pg.sh before
# passwords, with trust) or another one than var/secrets holds: set it in
# single-user mode, before the server listens (no pg_hba.conf involved). The
# sha256 of the password file in $PGDATA/eldercare-superuser.sha256 records
# which one the cluster has.
s_superuser_password() {
    local mark=$PGDATA/eldercare-superuser.sha256 want
    want=$(sha256sum <"$EC_SECRETS/pg-$EC_PG_SUPERUSER.pw" | cut -d' ' -f1)
    if [ "$(ec_as_pg cat "$mark" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    ec_log "set the password of $EC_PG_SUPERUSER (single-user mode)"
    printf "ALTER ROLE %s PASSWORD '%s'\n" "$EC_PG_SUPERUSER" "$(ec_secret "$EC_PG_SUPERUSER")" \
        | ec_as_pg "$PG_BIN/postgres" --single -D "$PGDATA" -c password_encryption=scram-sha-256 \
            postgres >>"$PGLOG" 2>&1 \
        || ec_die "could not set the password of $EC_PG_SUPERUSER (see $PGLOG)"
    echo "$want" | ec_as_pg tee "$mark" >/dev/null
}

s_running() {
    [ -f "$PGDATA/PG_VERSION" ] && ec_as_pg "$PG_BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

s_initdb() {
    if [ -f "$PGDATA/PG_VERSION" ]; then
        return 0
    fi
    ec_log "initdb $PGDATA (data checksums on)"
    local pwfile
    pwfile=$(s_superuser_pwfile)
    if ! ec_as_pg "$PG_BIN/initdb" -D "$PGDATA" -U "$EC_PG_SUPERUSER" -E UTF8 --locale=C \
            --data-checksums --auth=scram-sha-256 --pwfile="$pwfile" \
            --no-instructions >/dev/null; then
        ec_as_pg rm -f "$pwfile"
        ec_die "initdb failed"
    fi
    ec_as_pg rm -f "$pwfile"
    sha256sum <"$EC_SECRETS/pg-$EC_PG_SUPERUSER.pw" | cut -d' ' -f1 \
        | ec_as_pg tee "$PGDATA/eldercare-superuser.sha256" >/dev/null
}

s_checksums_note() {
    if ec_as_pg "$PG_BIN/pg_controldata" -D "$PGDATA" 2>/dev/null \
            | grep -q '^Data page checksum version: *0$'; then
        ec_log "note: this cluster has no data checksums (made before they were on);" \
            "to enable: tools/pg.sh stop; $PG_BIN/pg_checksums --enable -D $PGDATA" \
            "(as $EC_PG_USER, see docs/SECURITY.md)"
    fi
}

s_start() {
    if s_running; then
        return 0
    fi
    [ -f "$PGDATA/PG_VERSION" ] || ec_die "no cluster in $PGDATA; run: tools/pg.sh init"
    mkdir -p "$PGSOCK"
    if ec_is_root; then chown "$EC_PG_USER:" "$PGSOCK"; fi
    chmod 0755 "$PGSOCK"
    ec_secrets
    s_write_conf
    s_superuser_password
    s_checksums_note
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
    PGPASSFILE=$EC_SECRETS/pgpass "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres "$@"
}

s_setup_db() {
    if ! s_psql_super -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$EC_DB'" | grep -q 1; then
        ec_log "create database $EC_DB"
        s_psql_super -d postgres -c "CREATE DATABASE \"$EC_DB\""
    fi
    # Passwords first: pg_roles.sql expects the roles (and would create them
    # without one).
    ec_password_sql | s_psql_super -d "$EC_DB"
    s_psql_super -d "$EC_DB" -f "$EC_ROOT/tools/pg_roles.sql"
}

cmd=${1:-status}
shift || true
case $cmd in
init)
    ec_pg_paths 1
    ec_secrets
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
secrets)
    ec_secrets
    ;;
tls-cert)
    # A private CA and a server certificate for host ${1:-postgres} (the
    # compose service), for sslmode=verify-full: var/secrets/pg-tls/{ca.crt,
    # server.crt,server.key}; the CA's key is not kept. Replace them with
    # the county's own CA for a real server.
    host=${1:-postgres}
    dir=$EC_SECRETS/pg-tls
    (umask 077 && mkdir -p "$dir")
    [ ! -e "$dir/server.key" ] || ec_die "$dir/server.key exists; remove $dir to make new ones"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (umask 077
     openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
        -subj "/CN=eldercare PostgreSQL CA" -keyout "$tmp/ca.key" -out "$dir/ca.crt" 2>/dev/null
     openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=$host" -keyout "$dir/server.key" -out "$tmp/server.csr" 2>/dev/null
     printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth\n' "$host" >"$tmp/ext"
     openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.crt" -CAkey "$tmp/ca.key" \
        -CAcreateserial -days 825 -extfile "$tmp/ext" -out "$dir/server.crt" 2>/dev/null) \
        || ec_die "openssl failed"
    chmod 0600 "$dir"/*
    ec_log "made $dir/ca.crt and server.crt/server.key for host $host"
    ;;
psql)
    ec_pg_paths 0
    s_running || ec_die "PostgreSQL is not running; run: tools/pg.sh start"
    PGPASSFILE=$EC_SECRETS/pgpass exec "$PG_BIN/psql" -X -h "$PGSOCK" -p "$PGPORT" -U postgres -d "$EC_DB" "$@"
    ;;
*)
    echo "usage: $0 init|start|stop|status|secrets|tls-cert [host]|psql [psql args]" >&2
    exit 2
    ;;
esac
