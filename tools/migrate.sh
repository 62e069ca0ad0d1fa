#!/usr/bin/env bash
# migrate.sh [DBNAME]: apply the SQL migrations, each file once.
#
# For each daemon schema in order (orderd, billingd, dispatchd, meald):
# sql/common/*.sql, then sql/<daemon>/*.sql, in numeric (version) order.
# Each file runs in one transaction as the daemon's own role with search_path
# set to its schema, and is recorded in <schema>.schema_migrations in the same
# transaction (common files as "common/NNN_x.sql", daemon files as
# "<daemon>/NNN_x.sql"). Safe to run again: applied files are skipped.
#
# Connects to $PGHOST:$PGPORT (default 127.0.0.1:55432), database DBNAME
# (default eldercare). Roles and schemas must exist (tools/pg.sh init).
set -euo pipefail
EC_TOOL=migrate.sh
. "$(dirname "$0")/lib.sh"

db=${1:-$EC_DB}
PSQL=${PSQL:-$PG_BIN/psql}
[ -x "$PSQL" ] || PSQL=psql

s_psql() {
    local role=$1
    shift
    PGOPTIONS="-c search_path=$role -c client_min_messages=warning" \
        "$PSQL" -X -q -v ON_ERROR_STOP=1 "$(ec_conninfo "$role" "$db")" "$@"
}

total=0
for d in "${EC_DAEMONS[@]}"; do
    s_psql "$d" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now())"
    applied=$(s_psql "$d" -tA -c "SELECT name FROM schema_migrations")
    files=()
    for sub in common "$d"; do
        [ -d "$EC_ROOT/sql/$sub" ] || continue
        while IFS= read -r f; do
            [ -n "$f" ] && files+=("$sub/$f")
        done < <(cd "$EC_ROOT/sql/$sub" && ls -1 -- *.sql 2>/dev/null | sort -V)
    done
    n=0
    for name in "${files[@]}"; do
        if grep -qxF -- "$name" <<<"$applied"; then
            continue
        fi
        ec_log "$d: apply $name"
        # --single-transaction wraps the file and the record in one
        # transaction; ON_ERROR_STOP makes any error roll back both.
        if ! s_psql "$d" --single-transaction \
                -f "$EC_ROOT/sql/$name" \
                -c "INSERT INTO schema_migrations (name, applied_at)
                    VALUES ('$name', now())"; then
            ec_die "$d: $name failed; nothing of it was applied"
        fi
        n=$((n + 1))
    done
    total=$((total + n))
done
ec_log "database $db up to date ($total applied)"
