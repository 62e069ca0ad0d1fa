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
export PGPORT PGHOST

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

# conninfo of a daemon's role.
ec_conninfo() {
    printf 'host=%s port=%s dbname=%s user=%s' "$PGHOST" "$PGPORT" "${2:-$EC_DB}" "$1"
}
