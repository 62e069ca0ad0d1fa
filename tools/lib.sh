# lib.sh: shared by tools/*.sh (source it). Finds the repo, the private
# PostgreSQL cluster and the user that runs it.
#
# Where the cluster lives: var/pg in the repo. When we are root, PostgreSQL
# refuses to run as root, so a system user ($EC_PG_USER, default eldercare)
# owns and runs it. If that user cannot reach var/pg (e.g. the repo is cloned
# under /root, mode 0700), var/pg becomes a symlink to
# /var/tmp/eldercare-<hash of repo path>/pg, which it can reach.

EC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PGPORT=${PGPORT:-55432}
PGHOST=${PGHOST:-127.0.0.1}
EC_DB=${EC_DB:-eldercare}
EC_PG_USER=${EC_PG_USER:-eldercare}
EC_DAEMONS=(orderd billingd dispatchd meald)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
EC_VAR=$EC_ROOT/var
# Passwords of the PostgreSQL roles, one file each (mode 0600, never in git:
# var/ is ignored): pg-<role>.pw the password, pgpass-<role> its .pgpass line
# (a daemon's conninfo names it: passfile=...), pgpass the lines of the
# superuser and the owners (the tools' PGPASSFILE: setup and migrations).
EC_SECRETS=${EC_SECRETS:-$EC_VAR/secrets}
PGPASSFILE=${PGPASSFILE:-$EC_SECRETS/pgpass}
# The roles: per daemon an owner (runs migrations, owns the schema) and a
# runtime role <daemon>_rt (what the daemon logs in as; docs/SECURITY.md).
EC_PG_SUPERUSER=postgres
export PGPORT PGHOST PGPASSFILE

ec_is_root() { [ "$(id -u)" -eq 0 ]; }

# Never fails: stderr may be a pipe whose reader is gone (make run | tee).
ec_log() { printf '%s: %s\n' "${EC_TOOL:-tools}" "$*" >&2 2>/dev/null || true; }
ec_die() { ec_log "$*"; exit 1; }

ec_hash() { printf '%s' "$EC_ROOT" | md5sum | cut -c1-10; }

# Create the system user that owns the cluster (root only).
ec_ensure_pg_user() {
    ec_is_root || return 0
    if ! id -u "$EC_PG_USER" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$EC_PG_USER"
    fi
}

# The CURVE key directory $1 (tools/keygen.py) handed to the daemon user when
# root: the daemons run as that user (tools/supervise.py) and refuse a secret
# key that is not their own.
ec_keys_to_daemons() {
    ec_is_root || return 0
    local du=${EC_DAEMON_USER:-eldercare}
    if ! id -u "$du" >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$du"
    fi
    chown -R "$du:" "$1"
}

# Run a command as the cluster's owner.
ec_as_pg() {
    if ec_is_root; then
        # cd /: the caller's directory may be one the user cannot enter.
        (cd / && runuser -u "$EC_PG_USER" -- "$@")
    else
        "$@"
    fi
}

# Sets PGDIR (real path of the cluster dir), PGDATA, PGSOCK, PGLOG.
# With create=1 it makes the directory and decides on the fallback.
ec_pg_paths() {
    local create=${1:-0} link=$EC_VAR/pg dir
    if [ "$create" = 1 ]; then
        mkdir -p "$EC_VAR"
        if [ ! -e "$link" ] && [ ! -L "$link" ]; then
            mkdir -p "$link"
        fi
        if ec_is_root; then
            ec_ensure_pg_user
            dir=$(readlink -f "$link")
            chown "$EC_PG_USER:" "$dir"
            chmod 0750 "$dir"
            if ! runuser -u "$EC_PG_USER" -- test -w "$dir" -a -x "$dir"; then
                # The repo path is not traversable by the cluster's user.
                local alt=/var/tmp/eldercare-$(ec_hash)/pg
                ec_log "$EC_PG_USER cannot reach $dir; using $alt (var/pg links to it)"
                mkdir -p "$alt"
                chmod 0755 "$(dirname "$alt")"
                chown "$EC_PG_USER:" "$alt"
                chmod 0750 "$alt"
                if [ -d "$link" ] && [ ! -L "$link" ]; then
                    rmdir "$link" 2>/dev/null || mv "$link" "$link.old.$$"
                fi
                ln -sfn "$alt" "$link"
            fi
        fi
    fi
    PGDIR=$(readlink -f "$link" 2>/dev/null || echo "$link")
    PGDATA=$PGDIR/data
    PGLOG=$PGDIR/postgres.log
    PGSOCK=$PGDIR/sock
    # sun_path holds 107 bytes; the socket is $PGSOCK/.s.PGSQL.<port>.
    if [ $(( ${#PGSOCK} + 20 )) -gt 100 ]; then
        PGSOCK=/tmp/eldercare-$(ec_hash)-sock
    fi
    export PGDATA
}

# conninfo of a role (the password comes from $PGPASSFILE).
ec_conninfo() {
    printf 'host=%s port=%s dbname=%s user=%s' "$PGHOST" "$PGPORT" "${2:-$EC_DB}" "$1"
}

# Every role that has a password: the superuser, the owners, the runtime roles.
ec_pg_roles() {
    local d
    printf '%s\n' "$EC_PG_SUPERUSER" "${EC_DAEMONS[@]}"
    for d in "${EC_DAEMONS[@]}"; do printf '%s_rt\n' "$d"; done
}

# Create the password files that are missing (first `make run`): a random
# password per role in $EC_SECRETS/pg-<role>.pw, its .pgpass line in
# pgpass-<role>, the superuser's and the owners' lines in pgpass. Directory 0700, files 0600, owned
# by whoever runs the tools (the daemons under `make run` run as that user).
ec_secrets() {
    local r pw all=
    (umask 077 && mkdir -p "$EC_SECRETS")
    chmod 0700 "$EC_SECRETS"
    for r in $(ec_pg_roles); do
        if [ ! -s "$EC_SECRETS/pg-$r.pw" ]; then
            # 32 characters of [A-Za-z0-9]: no quoting needed anywhere.
            pw=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 || true)
            [ ${#pw} -eq 32 ] || ec_die "could not generate a password for $r"
            (umask 077 && printf '%s\n' "$pw" >"$EC_SECRETS/pg-$r.pw.tmp") \
                && mv "$EC_SECRETS/pg-$r.pw.tmp" "$EC_SECRETS/pg-$r.pw"
            ec_log "generated the password of role $r ($EC_SECRETS/pg-$r.pw)"
        fi
        pw=$(ec_secret "$r")
        (umask 077 && printf '*:*:*:%s:%s\n' "$r" "$pw" >"$EC_SECRETS/pgpass-$r")
        [[ $r == *_rt ]] || all+="*:*:*:$r:$pw"$'\n'
    done
    (umask 077 && printf '%s' "$all" >"$EC_SECRETS/pgpass")
    chmod 0600 "$EC_SECRETS"/pg-*.pw "$EC_SECRETS"/pgpass*
    # As root, the daemons run as the daemon user (tools/supervise.py): each
    # runtime role's passfile becomes that user's, and the directory only
    # traversable (0711: no listing); the owners' and superuser's stay root's.
    local du=${EC_DAEMON_USER:-eldercare}
    if [ "$(id -u)" = 0 ] && id -u "$du" >/dev/null 2>&1; then
        chmod 0711 "$EC_SECRETS"
        for r in $(ec_pg_roles); do
            [[ $r == *_rt ]] && chown "$du:" "$EC_SECRETS/pgpass-$r"
        done
    fi
    return 0
}

# The password of role $1 (from its file).
ec_secret() {
    local pw
    IFS= read -r pw <"$EC_SECRETS/pg-$1.pw" || [ -n "$pw" ] || ec_die "no password in $EC_SECRETS/pg-$1.pw"
    [[ $pw =~ ^[A-Za-z0-9._~+/=-]+$ ]] || ec_die "$EC_SECRETS/pg-$1.pw: unexpected characters"
    printf '%s' "$pw"
}

# SQL that sets every role's password from its file, for psql's stdin (never
# argv: /proc/<pid>/cmdline is world-readable). The server stores a
# SCRAM-SHA-256 verifier (password_encryption). Roles that do not exist yet
# are created (LOGIN only; tools/pg_roles.sql sets the rest).
ec_password_sql() {
    local r
    echo "SET client_min_messages = warning;"
    for r in $(ec_pg_roles); do
        printf "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s LOGIN; END IF; END \$\$;\n" "$r" "$r"
        printf "SET password_encryption = 'scram-sha-256'; ALTER ROLE %s PASSWORD '%s';\n" "$r" "$(ec_secret "$r")"
    done
}

# The conninfo a daemon logs in with: its runtime role, its own passfile.
ec_daemon_conninfo() {
    printf '%s passfile=%s' "$(ec_conninfo "$1_rt" "${2:-$EC_DB}")" "$EC_SECRETS/pgpass-$1_rt"
}
