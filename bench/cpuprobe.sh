#!/usr/bin/env bash
# cpuprobe.sh TREE OUT [nocsum] [perf] [pgss]: one intake run with the whole
# system working (as bench/intake.sh's "system" mode), for CPU per order.
#
# TREE is a built tree (this one, or a var/bench/rev/<sha> of compare.sh):
# its bench/sys.sh brings its own system up (its tools, SQL and binaries),
# loads 50 cards and 300 caregivers (its bench/county.py; BENCH_CARDS_N and
# BENCH_CAREGIVERS change them, e.g. 200 and 1000 as bench/e2e.sh), warms up for 5 s,
# then runs wrk for BENCH_SECS (20) with THIS tree's bench/intake.lua, so
# that BENCH_RATE (a fixed offered rate, orders/s) works for a tree from
# before it existed. bench/cpu.py measures every process during wrk; the
# result is OUT/cpu.txt, the orders of the run in OUT/rows.txt (per-order
# figures: CPU seconds / rows).
#   nocsum  turn the cluster's data checksums off (pg_checksums --disable)
#           before the daemons start: for measuring what checksums cost
#   perf    perf record -a (no call graphs) during wrk: OUT/perf.data, and
#           the PostgreSQL backends' pids by role in OUT/pids.txt
#   pgss    pg_stat_statements (BENCH_PGSS=1 of sys.sh): OUT/pgss.txt
# A benchmark: run it under the shared lock (flock /tmp/eldercare-bench.lock).
set -euo pipefail
TREE=$(cd "$1" && pwd -P); OUT=$2; shift 2
LUA=$(cd "$(dirname "$0")" && pwd -P)/intake.lua
CSUM=on; PERF=0
for a in "$@"; do
    case $a in
        nocsum) CSUM=off ;; perf) PERF=1 ;; pgss) export BENCH_PGSS=1 ;;
        *) echo "usage: $0 TREE OUT [nocsum] [perf] [pgss]" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd -P)
BENCH_NAME=cpuprobe
. "$TREE/bench/sys.sh"
cd "$BENCH_REPO"
SECS=${BENCH_SECS:-20}
trap 'bench_down' EXIT
bench_up
if [ "$CSUM" = off ]; then
    kill -TERM "$BENCH_SUP_PID"; wait "$BENCH_SUP_PID" 2>/dev/null || true
    "$BENCH_SHADOW/tools/pg.sh" stop >&2
    data=$(readlink -f "$BENCH_SHADOW/var/pg")/data
    if [ "$(id -u)" = 0 ]; then
        su -s /bin/sh "${EC_PG_USER:-eldercare}" -c \
            "/usr/lib/postgresql/15/bin/pg_checksums --disable -D '$data'" >&2
    else
        /usr/lib/postgresql/15/bin/pg_checksums --disable -D "$data" >&2
    fi
    "$BENCH_SHADOW/tools/pg.sh" start >&2
    setsid "$BENCH_PY" "$BENCH_SHADOW/tools/supervise.py" \
        2>>"$BENCH_SHADOW/var/log/supervise.stderr" &
    BENCH_SUP_PID=$!
    for p in $ORDERD_HTTP_PORT $BILLINGD_HTTP_PORT $DISPATCHD_HTTP_PORT $MEALD_HTTP_PORT; do
        for i in $(seq 1 600); do s_bench_ready "$p" && break; sleep 0.1; done
    done
fi
bench_sql "SHOW data_checksums" >"$OUT/csum.txt"
"$BENCH_PY" bench/county.py --cards "${BENCH_CARDS_N:-50}" --topups 5 \
    --caregivers "${BENCH_CAREGIVERS:-300}" --out "$OUT/cards.txt"
bench_drain 60 || true
s_wrk() {  # TAG SECONDS
    BENCH_CARDS=$OUT/cards.txt BENCH_SERVICES=cleaning,bath,escort BENCH_SPREAD_DAYS=21 \
        BENCH_RUN=$1 BENCH_THREADS=2 wrk -t2 -c32 -d"$2"s --timeout 10s --latency \
        -s "$LUA" "$ORDERD_URL" >"$OUT/$1.wrk" 2>&1 || true
}
s_wrk warmup 5
bench_drain 120 || true
[ "${BENCH_PGSS:-0}" = 1 ] && bench_sql "SELECT pg_stat_statements_reset()" >/dev/null
tag=p$(date +%s)
"$BENCH_PY" bench/cpu.py snap "$OUT/cpu0" "shell=$$"
if [ "$PERF" = 1 ]; then
    perf record -a -F 499 -o "$OUT/perf.data" -- sleep $((SECS - 2)) >"$OUT/perf.stderr" 2>&1 &
    perfpid=$!
fi
s_wrk "$tag" "$SECS"
"$BENCH_PY" bench/cpu.py snap "$OUT/cpu1" "shell=$$"
[ "$PERF" = 1 ] && { wait "$perfpid" || true; }
"$BENCH_PY" bench/cpu.py diff "$OUT/cpu0" "$OUT/cpu1" >"$OUT/cpu.txt"
pm=$(head -n 1 "$(readlink -f "$BENCH_SHADOW/var/pg")/data/postmaster.pid")
for c in $(pgrep -P "$pm"); do
    echo "$c $(tr '\0' ' ' <"/proc/$c/cmdline")"
done >"$OUT/pids.txt"
sed -n 's/^BENCH //p' "$OUT/$tag.wrk" >"$OUT/wrk.json"
bench_drain 300 || true
bench_sql "SELECT count(*) FROM orderd.orders WHERE idem_key LIKE 'bench-$tag-%'" >"$OUT/rows.txt"
if [ "${BENCH_PGSS:-0}" = 1 ]; then
    bench_psql -P pager=off -c "
        SELECT u.rolname, s.toplevel, s.calls, round(s.total_exec_time::numeric, 1) AS ms,
               s.rows, s.wal_bytes, left(regexp_replace(s.query, '\s+', ' ', 'g'), 100) AS query
          FROM pg_stat_statements s JOIN pg_roles u ON u.oid = s.userid
         ORDER BY u.rolname, s.toplevel DESC, s.total_exec_time DESC" >"$OUT/pgss.txt"
fi
echo "$(cat "$OUT/rows.txt") orders in $SECS s, data checksums $(cat "$OUT/csum.txt"); load average $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$OUT/cpu.txt"
