#!/usr/bin/env bash
# intake.sh: orders/s accepted durably over HTTP, side by side with pgbench.
#
# Brings up a private copy of the system (bench/sys.sh: fresh PostgreSQL 15
# cluster with fsync on, migrations, the four daemons under supervise.py),
# loads a county (bench/county.py: 50 cards with plenty of money, caregivers),
# then BENCH_RUNS times, interleaved:
#   wrk -t2 -c32 -d20s --latency -s bench/intake.lua   once per mode: "alone"
#       (billingd, dispatchd, meald paused with SIGSTOP; the event log holds
#       the orders until they resume) and "system" (all four working);
#       POST /v1/orders (202 is
#       sent after COMMIT), unique Idempotency-Key per request, 50 cards,
#       cleaning/bath/escort, 2-hour windows spread over the coming 3 weeks;
#       then waits for the saga to settle and counts the orders rows of the run
#       (durable: rows = 2xx, plus at most one in-flight request per
#       connection that wrk stopped waiting for);
#   pgbench -n -c 32 -j 2 -T 20 -f bench/pgbench_intake.sql   on the same
#       cluster: order INSERT + event INSERT per transaction into the scratch
#       schema "bench" (created here, dropped at the end).
# Prints a table of every run and, per mode, the medians and ratio = median
# orders/s over median pgbench tps (goal >= 1.5), and stops everything.
#
# Environment: BENCH_RUNS (3), BENCH_SECS (20), BENCH_CONNS (32),
# BENCH_MODES ("alone system"),
# BENCH_WARMUP (5: seconds of unmeasured wrk then pgbench first),
# BENCH_CAREGIVERS (300), BENCH_OUT (var/bench/intake-<time>), and those of
# bench/sys.sh (ports; BENCH_PGSS=1: pg_stat_statements, top statements).
set -euo pipefail
BENCH_NAME=intake
. "$(dirname "$0")/sys.sh"
cd "$BENCH_REPO"

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECS:-20}
CONNS=${BENCH_CONNS:-32}
WARMUP=${BENCH_WARMUP:-5}
MODES=${BENCH_MODES:-alone system}
OUT=${BENCH_OUT:-$BENCH_REPO/var/bench/intake-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
command -v wrk >/dev/null || bench_die "wrk is not installed (apt-get install wrk)"
PGBENCH=/usr/lib/postgresql/15/bin/pgbench

# Consumers paused (SIGSTOP) or running; the supervisor keeps its children
# (a stopped process has not exited).
s_consumers() {  # STOP|CONT
    local d pid
    for d in billingd dispatchd meald; do
        pid=$(cat "$BENCH_SHADOW/var/run/$d.pid" 2>/dev/null) || continue
        kill -"$1" "$pid" 2>/dev/null || true
    done
}
trap 's_consumers CONT; bench_down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_up
"$BENCH_PY" bench/county.py --cards 50 --topups 5 --caregivers "${BENCH_CAREGIVERS:-300}" \
    --out "$OUT/cards.txt"
bench_drain 60 || true
[ "${BENCH_PGSS:-0}" = 1 ] && bench_sql "SELECT pg_stat_statements_reset()" >/dev/null
bench_sql "SET client_min_messages = warning; DROP SCHEMA IF EXISTS bench CASCADE;
           CREATE SCHEMA bench;
           CREATE TABLE bench.orders (LIKE orderd.orders INCLUDING ALL);
           CREATE TABLE bench.events (LIKE orderd.events INCLUDING ALL);
           CREATE SEQUENCE bench.event_seq;" >/dev/null

# wrk TAG SECONDS: one wrk run; its BENCH line to $OUT/TAG.json, output to $OUT/TAG.wrk.
s_wrk() {
    BENCH_CARDS=$OUT/cards.txt BENCH_SERVICES=cleaning,bath,escort BENCH_SPREAD_DAYS=21 \
        BENCH_RUN=$1 wrk -t2 -c"$CONNS" -d"$2"s --timeout 10s --latency \
        -s bench/intake.lua "$ORDERD_URL" >"$OUT/$1.wrk" 2>&1 || true
    sed -n 's/^BENCH //p' "$OUT/$1.wrk" >"$OUT/$1.json"
    [ -s "$OUT/$1.json" ] || bench_die "wrk gave no result: $(tail -n 5 "$OUT/$1.wrk")"
}
# pgbench TAG SECONDS: summary to $OUT/TAG.pgb, per-transaction log to $OUT/TAG.log.*
s_pgbench() {
    (cd "$OUT" && "$PGBENCH" -n -c "$CONNS" -j 2 -T "$2" -f "$BENCH_DIR/pgbench_intake.sql" \
        --log --log-prefix="$1.log" -h 127.0.0.1 -p "$PGPORT" -U postgres eldercare) \
        >"$OUT/$1.pgb" 2>&1 || bench_die "pgbench failed: $(tail -n 5 "$OUT/$1.pgb")"
}
s_json() {  # FILE KEY
    "$BENCH_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

if [ "$WARMUP" -gt 0 ]; then
    bench_log "warm-up: wrk and pgbench, ${WARMUP} s each (not counted)"
    s_wrk warmup "$WARMUP"
    bench_drain 120 || true
    s_pgbench warmup-pgb "$WARMUP"
    rm -f "$OUT"/warmup-pgb.log*
fi

printf 'run\tmode\torders_s\tp50_ms\tp99_ms\t2xx\tother\trows\tpgb_tps\tpgb_p50\tpgb_p99\tratio\n' \
    >"$OUT/runs.tsv"
# One HTTP run in MODE; appends "rate p50 p99 ok other rows" to $OUT/TAG.res.
s_http_run() {  # TAG MODE
    local tag=$1 mode=$2
    [ "$mode" = alone ] && s_consumers STOP
    "$BENCH_PY" bench/cpu.py snap "$OUT/$tag.cpu0" "shell=$$"
    s_wrk "$tag" "$SECS"
    "$BENCH_PY" bench/cpu.py snap "$OUT/$tag.cpu1" "shell=$$"
    [ "$mode" = alone ] && s_consumers CONT
    "$BENCH_PY" bench/cpu.py diff "$OUT/$tag.cpu0" "$OUT/$tag.cpu1" >"$OUT/$tag.cpu"
    local rate ok reqs p50 p99 rows
    rate=$(s_json "$OUT/$tag.json" accepted_per_s)
    ok=$(s_json "$OUT/$tag.json" accepted)
    reqs=$(s_json "$OUT/$tag.json" requests)
    p50=$(s_json "$OUT/$tag.json" p50_ms)
    p99=$(s_json "$OUT/$tag.json" p99_ms)
    # Let billing and dispatch finish this run's orders before the next run.
    bench_drain 300 || true
    rows=$(bench_sql "SELECT count(*) FROM orderd.orders WHERE idem_key LIKE 'bench-$tag-%'")
    bench_log "  $mode: orders/s $rate  p50 $p50 ms  p99 $p99 ms  2xx $ok  non-2xx $((reqs - ok))  rows $rows"
    if [ "$rows" -lt "$ok" ] || [ "$rows" -gt $((ok + CONNS)) ]; then
        bench_log "  DURABILITY CHECK FAILED: $rows rows for $ok acknowledged orders"
        echo "durability: FAILED run $tag ($rows rows, $ok 2xx)" >>"$OUT/checks.txt"
    fi
    echo "$rate $p50 $p99 $ok $((reqs - ok)) $rows" >"$OUT/$tag.res"
}
for i in $(seq 1 "$RUNS"); do
    tag=i$i-$(date +%s)
    for mode in $MODES; do
        bench_log "run $i/$RUNS ($mode): wrk -t2 -c$CONNS -d${SECS}s"
        s_http_run "$tag-$mode" "$mode"
    done

    bench_log "run $i/$RUNS: pgbench -n -c $CONNS -j 2 -T $SECS"
    "$BENCH_PY" bench/cpu.py snap "$OUT/$tag.pcpu0" "shell=$$"
    s_pgbench "$tag-pgb" "$SECS"
    "$BENCH_PY" bench/cpu.py snap "$OUT/$tag.pcpu1" "shell=$$"
    "$BENCH_PY" bench/cpu.py diff "$OUT/$tag.pcpu0" "$OUT/$tag.pcpu1" >"$OUT/$tag.pcpu"
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$OUT/$tag-pgb.pgb" | head -n 1)
    tps=$(printf '%.1f' "${tps:-0}")
    # Per-transaction log: client, tx no, latency (us), ...
    read -r pp50 pp99 < <(cat "$OUT/$tag-pgb.log"* | awk '{print $3 / 1000}' | sort -g | awk '
        {a[NR] = $1} END {i50 = int(NR * 0.50); i99 = int(NR * 0.99);
        if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; printf "%.3f %.3f\n", a[i50], a[i99]}')
    rm -f "$OUT/$tag-pgb.log"*
    bench_log "  pgbench tps $tps  p50 $pp50 ms  p99 $pp99 ms"
    for mode in $MODES; do
        read -r rate p50 p99 ok other rows <"$OUT/$tag-$mode.res"
        ratio=$(awk -v a="$rate" -v b="$tps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        bench_log "  ratio ($mode) $ratio"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$mode" "$rate" "$p50" \
            "$p99" "$ok" "$other" "$rows" "$tps" "$pp50" "$pp99" "$ratio" >>"$OUT/runs.tsv"
    done
done
bench_sql "SET client_min_messages = warning; DROP SCHEMA bench CASCADE" >/dev/null
restarts=$(bench_restarts)

med() {  # MODE COLUMN
    tail -n +2 "$OUT/runs.tsv" | awk -F'\t' -v m="$1" '$2 == m' | cut -f "$2" | bench_median
}
{
    echo "Intake benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'); $(bench_machine)"
    echo "wrk -t2 -c$CONNS -d${SECS}s --latency -s bench/intake.lua  vs" \
         "pgbench -n -c $CONNS -j 2 -T $SECS -f bench/pgbench_intake.sql; $RUNS runs interleaved"
    echo "modes: alone = billingd, dispatchd, meald paused (SIGSTOP) during wrk, the log absorbs" \
         "the orders; system = all four daemons working"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); daemon restarts: $restarts"
    echo
    column -t -s $'\t' "$OUT/runs.tsv"
    echo
    for mode in $MODES; do
        m_rate=$(med "$mode" 3); m_p50=$(med "$mode" 4); m_p99=$(med "$mode" 5)
        m_tps=$(med "$mode" 9); m_pp50=$(med "$mode" 10); m_pp99=$(med "$mode" 11)
        m_ratio=$(awk -v a="$m_rate" -v b="$m_tps" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
        printf 'median %-6s HTTP %s orders/s (p50 %s ms, p99 %s ms)   pgbench %s tps (p50 %s ms, p99 %s ms)\n' \
            "$mode" "$m_rate" "$m_p50" "$m_p99" "$m_tps" "$m_pp50" "$m_pp99"
        printf 'ratio of medians (%s) %s (goal >= 1.5: %s)\n' "$mode" "$m_ratio" \
            "$(awk -v r="$m_ratio" 'BEGIN {print (r >= 1.5) ? "met" : "NOT met"}')"
    done
    [ -f "$OUT/checks.txt" ] && cat "$OUT/checks.txt" || echo "durability: every run rows = 2xx (+ in-flight at stop)"
    echo
    for mode in $MODES; do
        echo "CPU during the last HTTP run ($mode):"; cat "$OUT/$tag-$mode.cpu"
    done
    echo "CPU during the last pgbench run:"; cat "$OUT/$tag.pcpu"
    bench_pgss 25
} | tee "$OUT/result.txt"
bench_log "results in $OUT"
