#!/usr/bin/env bash
# stop.sh: `make stop`: stop a system left running by `make run`: the
# supervisor (which stops the daemons: SIGTERM, then SIGKILL after 10 s), any
# daemon still alive from its pidfile, then PostgreSQL.
set -uo pipefail
EC_TOOL=stop.sh
. "$(dirname "$0")/lib.sh"
cd "$EC_ROOT"

s_wait_gone() {  # pid timeout_s
    local i
    for i in $(seq 1 $(($2 * 10))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

if [ -f var/run/supervise.pid ]; then
    pid=$(cat var/run/supervise.pid)
    if kill -0 "$pid" 2>/dev/null; then
        ec_log "stopping supervisor $pid"
        kill -TERM "$pid"
        s_wait_gone "$pid" 20 || ec_log "supervisor $pid still running"
    fi
    rm -f var/run/supervise.pid
fi
for d in "${EC_DAEMONS[@]}"; do
    f=var/run/$d.pid
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # Only a process that is really this daemon.
    if kill -0 "$pid" 2>/dev/null && grep -q "$d" "/proc/$pid/cmdline" 2>/dev/null; then
        ec_log "stopping $d $pid"
        kill -TERM "$pid"
        if ! s_wait_gone "$pid" 10; then
            ec_log "$d $pid ignored SIGTERM for 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$f"
done
tools/pg.sh stop
