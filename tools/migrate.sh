#!/usr/bin/env bash
# migrate.sh [--upto=N|ENTRY] [DBNAME]: apply the SQL migrations, each once,
# in the one order that sql/ORDER defines.
#
# sql/ORDER lists every migration, one "<dir>/<file>.sql" a line ('#' starts
# a comment). An entry "common/..." is applied to every daemon schema
# (orderd, billingd, dispatchd, meald, in that order), "<daemon>/..." only to
# that daemon's schema. Entries are applied strictly in the order listed, so
# a fresh install and an upgrade run the same files in the same order. Each
# file runs in one transaction as the daemon's own role with search_path set
# to its schema, and is recorded in <schema>.schema_migrations (name, sha256
# of the file) in the same transaction. Running again applies nothing.
#
# Refuses, before applying anything, when:
#   - a .sql file under sql/ is not listed in sql/ORDER, or an entry has no
#     file (or is malformed, or listed twice);
#   - an entry not yet applied to a schema comes before one that is (it was
#     inserted in the middle of sql/ORDER: new migrations go at the end);
#   - an applied file's sha256 differs from the recorded one (an applied
#     migration is never edited: fix it with a new one). Rows recorded before
#     checksums existed (NULL) get the file's sha256 on this run;
#   - a schema records a migration that sql/ORDER does not list.
#
# --upto=N applies only the first N entries of sql/ORDER (--upto=ENTRY: up to
# and including that entry); later ones are left for a later run. Tests use
# it to build the schema of an older release.
#
# Connects to $PGHOST:$PGPORT (default 127.0.0.1:55432), database DBNAME
# (default eldercare). Roles and schemas must exist (tools/pg.sh init).
set -euo pipefail
EC_TOOL=migrate.sh
. "$(dirname "$0")/lib.sh"

upto=
while [ $# -gt 0 ]; do
    case $1 in
    --upto=*) upto=${1#--upto=}; shift ;;
    --upto) upto=${2:?--upto needs N or an entry of sql/ORDER}; shift 2 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    --) shift; break ;;
    -*) ec_die "unknown option $1 (usage: migrate.sh [--upto=N|ENTRY] [DBNAME])" ;;
    *) break ;;
    esac
done
db=${1:-$EC_DB}
PSQL=${PSQL:-$PG_BIN/psql}
[ -x "$PSQL" ] || PSQL=psql
SQL=$EC_ROOT/sql
MANIFEST=$SQL/ORDER

s_psql() {
    local role=$1
    shift
    PGOPTIONS="-c search_path=$role -c client_min_messages=warning" \
        "$PSQL" -X -q -v ON_ERROR_STOP=1 "$(ec_conninfo "$role" "$db")" "$@"
}

problems=()
s_problem() { problems+=("$*"); }
s_refuse_if_problems() {
    [ ${#problems[@]} -eq 0 ] && return 0
    local p
    for p in "${problems[@]}"; do ec_log "$p"; done
    ec_die "refusing to migrate database $db: nothing was applied"
}

# ---- the manifest (checked before the database is touched) ---------------
[ -f "$MANIFEST" ] || ec_die "no $MANIFEST: it must list every migration in apply order"
entries=()          # in apply order
declare -A pos=()   # entry -> 1-based position
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    line=${line%%#*}
    line=${line//[[:space:]]/}
    [ -n "$line" ] || continue
    # Names go into SQL literals below: a narrow alphabet keeps that safe.
    if ! [[ $line =~ ^([a-z]+)/[A-Za-z0-9_.-]+\.sql$ ]] \
        || ! [[ " common ${EC_DAEMONS[*]} " == *" ${BASH_REMATCH[1]} "* ]]; then
        s_problem "sql/ORDER:$lineno: '$line' is not common/<file>.sql or <daemon>/<file>.sql"
        continue
    fi
    if [ -n "${pos[$line]:-}" ]; then
        s_problem "sql/ORDER:$lineno: $line is listed twice"
        continue
    fi
    entries+=("$line")
    pos[$line]=${#entries[@]}
    [ -f "$SQL/$line" ] || s_problem "sql/ORDER:$lineno: $line has no file sql/$line"
done <"$MANIFEST"
# -L: sql/ may be a symlink (bench/sys.sh's shadow root).
while IFS= read -r f; do
    f=${f#"$SQL"/}
    [ -n "${pos[$f]:-}" ] || s_problem "sql/$f is not listed in sql/ORDER (append it at the end)"
done < <(find -L "$SQL" -type f -name '*.sql' | sort)
s_refuse_if_problems

limit=${#entries[@]}
if [ -n "$upto" ]; then
    if [[ $upto =~ ^[0-9]+$ ]]; then
        [ "$upto" -le "$limit" ] || ec_die "--upto=$upto: sql/ORDER has only $limit entries"
        limit=$upto
    else
        [ -n "${pos[$upto]:-}" ] || ec_die "--upto=$upto: no such entry in sql/ORDER"
        limit=${pos[$upto]}
    fi
fi

declare -A sum=()   # entry -> sha256 of its file
if [ ${#entries[@]} -gt 0 ]; then
    while read -r h f; do
        sum[$f]=$h
    done < <(cd "$SQL" && sha256sum -- "${entries[@]}")
fi

# ---- what each schema has; checks ---------------------------------------
declare -A todo=()  # "daemon entry" -> 1
backfill=()         # per daemon: SQL that records missing checksums
for d in "${EC_DAEMONS[@]}"; do
    # checksum: sha256 (hex) of the file as applied; NULL on rows written
    # before this column existed, filled in below.
    s_psql "$d" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
        name text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now())" \
        -c "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"
    rows=$(s_psql "$d" -tA -F $'\t' \
        -c "SELECT name, coalesce(checksum, '') FROM schema_migrations")
    declare -A have=()
    while IFS=$'\t' read -r name recorded; do
        [ -n "$name" ] || continue
        have[$name]=1
        p=${pos[$name]:-}
        if [ -z "$p" ] || ! [[ $name == common/* || $name == "$d"/* ]]; then
            s_problem "$d: $name is recorded as applied but sql/ORDER does not list it for $d" \
                "(a database newer than this checkout, or a renamed or deleted migration)"
            continue
        fi
        if [ -z "$recorded" ]; then
            backfill[${#backfill[@]}]="$d:$name"
        elif [ "$recorded" != "${sum[$name]}" ]; then
            s_problem "$d: sql/$name changed after it was applied (sha256 recorded" \
                "${recorded:0:12}..., file ${sum[$name]:0:12}...): an applied migration is" \
                "never edited; restore it and append a new migration to sql/ORDER"
        fi
    done <<<"$rows"
    # The schema's entries in manifest order: once one is applied, every
    # earlier one must be too, or this database would get them in another
    # order than a fresh install.
    last=
    for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
        e=${entries[$i]}
        [[ $e == common/* || $e == "$d"/* ]] || continue
        if [ -n "${have[$e]:-}" ]; then
            [ -n "$last" ] || last=$e
        elif [ -n "$last" ]; then
            s_problem "$d: $e is not applied but comes before the applied $last in" \
                "sql/ORDER: a migration was inserted in the middle; move it to the end"
        elif [ $((i + 1)) -le "$limit" ]; then
            todo["$d $e"]=1
        fi
    done
    unset have
done
s_refuse_if_problems

# Rows from before checksums: trust the file as it is now (the first run of
# this version cannot know better), so later edits are caught.
for d in "${EC_DAEMONS[@]}"; do
    q=
    for x in "${backfill[@]}"; do
        [ "${x%%:*}" = "$d" ] || continue
        e=${x#*:}
        q+="UPDATE schema_migrations SET checksum = '${sum[$e]}'
            WHERE name = '$e' AND checksum IS NULL;"
    done
    [ -n "$q" ] || continue
    s_psql "$d" --single-transaction -c "$q"
    ec_log "$d: recorded the sha256 of the migrations applied before checksums"
done

# ---- apply, strictly in manifest order -----------------------------------
total=0
for ((i = 0; i < limit; i++)); do
    e=${entries[$i]}
    if [[ $e == common/* ]]; then targets=("${EC_DAEMONS[@]}"); else targets=("${e%%/*}"); fi
    for d in "${targets[@]}"; do
        [ -n "${todo["$d $e"]:-}" ] || continue
        ec_log "$d: apply $e"
        # --single-transaction wraps the file and the record in one
        # transaction; ON_ERROR_STOP makes any error roll back both.
        if ! s_psql "$d" --single-transaction \
                -f "$SQL/$e" \
                -c "INSERT INTO schema_migrations (name, applied_at, checksum)
                    VALUES ('$e', now(), '${sum[$e]}')"; then
            ec_die "$d: $e failed; nothing of it was applied"
        fi
        total=$((total + 1))
    done
done
ec_log "database $db up to date ($total applied)"
