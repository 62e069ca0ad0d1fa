#!/usr/bin/env bash
# e2e.sh: orders/s from placed to assigned, sustained for 60 s, p50/p99.
#
# Brings up a private copy of the system (bench/sys.sh: fresh PostgreSQL 15,
# fsync on, the four daemons under supervise.py), loads a county
# (bench/county.py: 200 cards with plenty of money, 1000 caregivers with every
# skill, level 3, shift 00:00-23:59), then drives POST /v1/orders with
#   wrk -t2 -c32 -d60s --latency -s bench/intake.lua
# (cleaning/bath/escort, 2-hour windows spread over the coming 3 weeks). wrk2
# is not in Debian, so the load is a fixed number of connections (closed
# loop); BENCH_RATE=N caps the offered rate at N requests/s (paced with wrk's
# delay(); still closed under the cap).
# Afterwards, from orderd's tables: the run's orders (by Idempotency-Key),
# when each was placed (its 'placed' history row) and first reached
# 'assigned' (its first history row in state 'assigned', written when
# dispatchd's VisitAssigned is applied). Throughput = orders that reached
# assigned between the start and the end of the run / run length; latency =
# assigned - placed, p50/p99 by percentile_cont. Also assigned per 10 s
# (sustained or not), consumers' lag every 5 s, CPU per process.
#
# dispatchd runs with --offer-ahead-h=0 (DISPATCHD_ARGS, tools/supervise.py):
# with the product's default (3) a visit more than 3 h ahead is planned, held
# in dispatchd's memory with its caregiver and ETA, and offered (assigned)
# only 3 h before its window, so "placed -> assigned" would measure the
# horizon, not the system. Offering at once is the decision plus the offer's
# write and event: more work per order than planning, the same path as the
# greedy rule of the revisions before issue 12.
#
# Environment: BENCH_SECS (60), BENCH_CONNS (32), BENCH_RATE (unset),
# BENCH_CARDS_N (200), BENCH_CAREGIVERS (1000), BENCH_PERF=1 (perf record -a -g
# for 15 s in the middle of the run, report in the output dir), BENCH_PGSS=1
# (pg_stat_statements: top statements of the run),
# BENCH_OUT (var/bench/e2e-<time>), and those of bench/sys.sh.
set -euo pipefail
BENCH_NAME=e2e
export DISPATCHD_ARGS=${DISPATCHD_ARGS---offer-ahead-h=0}
. "$(dirname "$0")/sys.sh"
cd "$BENCH_REPO"

SECS=${BENCH_SECS:-60}
CONNS=${BENCH_CONNS:-32}
OUT=${BENCH_OUT:-$BENCH_REPO/var/bench/e2e-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
command -v wrk >/dev/null || bench_die "wrk is not installed (apt-get install wrk)"

sampler=
perfpid=
s_cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    [ -n "$perfpid" ] && kill -INT "$perfpid" 2>/dev/null
    bench_down
}
trap 's_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bench_up
"$BENCH_PY" bench/county.py --cards "${BENCH_CARDS_N:-200}" --topups 2 \
    --caregivers "${BENCH_CAREGIVERS:-1000}" --out "$OUT/cards.txt"
bench_drain 60 || true
[ "${BENCH_PGSS:-0}" = 1 ] && bench_sql "SELECT pg_stat_statements_reset()" >/dev/null

# Consumers' lag (events behind, per consumer and log) every 5 s.
(
    while :; do
        t=$(date +%s)
        for p in $ORDERD_HTTP_PORT $DISPATCHD_HTTP_PORT $MEALD_HTTP_PORT $BILLINGD_HTTP_PORT; do
            curl -s -m 2 "http://127.0.0.1:$p/metrics" 2>/dev/null \
                | sed -n "s/^consumer_lag_events{\(.*\)} \(.*\)/$t \1 \2/p"
        done
        sleep 5
    done
) >"$OUT/lag.txt" 2>/dev/null &
sampler=$!

tag=e2e-$(date +%s)
rate_note="closed loop, $CONNS connections"
[ -n "${BENCH_RATE:-}" ] && rate_note="$CONNS connections, offered rate capped at $BENCH_RATE/s"
bench_log "run: wrk -t2 -c$CONNS -d${SECS}s ($rate_note)"
if [ "${BENCH_PERF:-0}" = 1 ]; then
    ( sleep $((SECS / 3)); exec perf record -a -g -F 199 -o "$OUT/perf.data" -- sleep 15 ) \
        >"$OUT/perf.stderr" 2>&1 &
    perfpid=$!
fi
"$BENCH_PY" bench/cpu.py snap "$OUT/cpu0" "shell=$$"
t0=$(date +%s.%N)   # the same clock as PostgreSQL's clock_timestamp()
BENCH_CARDS=$OUT/cards.txt BENCH_SERVICES=cleaning,bath,escort BENCH_SPREAD_DAYS=21 \
    BENCH_RUN=$tag BENCH_THREADS=2 wrk -t2 -c"$CONNS" -d"$SECS"s --timeout 10s --latency \
    -s bench/intake.lua "$ORDERD_URL" >"$OUT/wrk.txt" 2>&1 || true
t1=$(date +%s.%N)
"$BENCH_PY" bench/cpu.py snap "$OUT/cpu1" "shell=$$"
"$BENCH_PY" bench/cpu.py diff "$OUT/cpu0" "$OUT/cpu1" >"$OUT/cpu.txt"
sed -n 's/^BENCH //p' "$OUT/wrk.txt" >"$OUT/wrk.json"
[ -s "$OUT/wrk.json" ] || bench_die "wrk gave no result: $(tail -n 5 "$OUT/wrk.txt")"
if [ -n "$perfpid" ]; then
    wait "$perfpid" 2>/dev/null || true
    perfpid=
    perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort comm,dso,symbol \
        --percent-limit 0.3 2>/dev/null | grep -v '^$' | head -n 200 >"$OUT/perf.txt" || true
    perf report -i "$OUT/perf.data" --stdio --no-children -g none --sort comm \
        2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 30 >"$OUT/perf-comm.txt" || true
fi
bench_log "run over; waiting up to 120 s for the consumers to catch up"
t0=$(bench_sql "SELECT to_timestamp($t0)")
t1=$(bench_sql "SELECT to_timestamp($t1)")
drained=yes
bench_drain 120 || drained=no
kill "$sampler" 2>/dev/null; sampler=

# The run's orders: placed, first assigned.
q_orders="
    SELECT o.id, o.state,
           (SELECT min(h.at) FROM orderd.order_history h
             WHERE h.order_id = o.id AND h.event = 'placed') AS placed_at,
           (SELECT min(h.at) FROM orderd.order_history h
             WHERE h.order_id = o.id AND h.state = 'assigned') AS assigned_at
      FROM orderd.orders o WHERE o.idem_key LIKE 'bench-$tag-%'"
bench_psql -tA -F ' ' >"$OUT/summary.txt" <<SQL
CREATE TEMP TABLE r AS $q_orders;
SELECT 'placed', count(*) FROM r;
SELECT 'assigned_in_run', count(*) FROM r WHERE assigned_at <= '$t1';
SELECT 'assigned_after_drain', count(assigned_at) FROM r;
SELECT 'run_seconds', round(extract(epoch FROM timestamptz '$t1' - timestamptz '$t0')::numeric, 3);
SELECT 'p50_ms_in_run', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
        extract(epoch FROM assigned_at - placed_at) * 1000)::numeric, 1)
  FROM r WHERE assigned_at <= '$t1';
SELECT 'p99_ms_in_run', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY
        extract(epoch FROM assigned_at - placed_at) * 1000)::numeric, 1)
  FROM r WHERE assigned_at <= '$t1';
SELECT 'p50_ms_all', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
        extract(epoch FROM assigned_at - placed_at) * 1000)::numeric, 1)
  FROM r WHERE assigned_at IS NOT NULL;
SELECT 'p99_ms_all', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY
        extract(epoch FROM assigned_at - placed_at) * 1000)::numeric, 1)
  FROM r WHERE assigned_at IS NOT NULL;
SELECT 'state_' || state, count(*) FROM r GROUP BY state ORDER BY state;
SQL
bench_psql -tA -F $'\t' >"$OUT/buckets.tsv" <<SQL
CREATE TEMP TABLE r AS $q_orders;
WITH b AS (SELECT generate_series(0, ceil(extract(epoch FROM timestamptz '$t1'
                                                 - timestamptz '$t0') / 10)::int - 1) AS b)
SELECT b.b * 10 || '-' || (b.b + 1) * 10 || ' s',
       (SELECT count(*) FROM r WHERE placed_at >= timestamptz '$t0' + b.b * interval '10 s'
                                 AND placed_at < timestamptz '$t0' + (b.b + 1) * interval '10 s'),
       (SELECT count(*) FROM r WHERE assigned_at >= timestamptz '$t0' + b.b * interval '10 s'
                                 AND assigned_at < timestamptz '$t0' + (b.b + 1) * interval '10 s'),
       (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY
                extract(epoch FROM assigned_at - placed_at) * 1000)::numeric, 1)
          FROM r WHERE assigned_at >= timestamptz '$t0' + b.b * interval '10 s'
                   AND assigned_at < timestamptz '$t0' + (b.b + 1) * interval '10 s')
  FROM b ORDER BY b.b;
SQL
v() { awk -v k="$1" '$1 == k {print $2}' "$OUT/summary.txt"; }
secs=$(v run_seconds)
in_run=$(v assigned_in_run)
rate=$(awk -v n="$in_run" -v s="$secs" 'BEGIN {printf "%.1f", (s > 0 ? n / s : 0)}')
restarts=$(bench_restarts)
{
    echo "End-to-end benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'); $(bench_machine)"
    echo "wrk -t2 -c$CONNS -d${SECS}s --latency -s bench/intake.lua ($rate_note);" \
         "${BENCH_CARDS_N:-200} cards, ${BENCH_CAREGIVERS:-1000} caregivers"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); daemon restarts:" \
         "$restarts; consumers caught up afterwards: $drained"
    echo
    echo "intake during the run (wrk): $(cat "$OUT/wrk.json")"
    echo
    printf 'placed in the run          %s\n' "$(v placed)"
    printf 'assigned within the run    %s in %s s = %s orders/s (goal >= 2000: %s)\n' \
        "$in_run" "$secs" "$rate" "$(awk -v r="$rate" 'BEGIN {print (r >= 2000) ? "met" : "NOT met"}')"
    printf 'placed -> assigned         p50 %s ms, p99 %s ms (orders assigned within the run)\n' \
        "$(v p50_ms_in_run)" "$(v p99_ms_in_run)"
    printf '                           p50 %s ms, p99 %s ms (all %s assigned by the end of the drain)\n' \
        "$(v p50_ms_all)" "$(v p99_ms_all)" "$(v assigned_after_drain)"
    printf 'final states               %s\n' "$(grep '^state_' "$OUT/summary.txt" | sed 's/^state_//' | tr '\n' ' ')"
    echo
    echo "per 10 s of the run:"
    { printf 'window\tplaced\tassigned\tp50_ms\n'; cat "$OUT/buckets.tsv"; } | column -t -s $'\t'
    echo
    echo "CPU during the run:"; cat "$OUT/cpu.txt"
    echo
    echo "largest consumer lag seen (events behind):"
    awk '{k = $2; if ($3 + 0 > m[k]) m[k] = $3 + 0} END {for (k in m) printf "  %s %d\n", k, m[k]}' \
        "$OUT/lag.txt" | sort
    if [ -f "$OUT/perf-comm.txt" ]; then
        echo; echo "perf (whole machine, 15 s mid-run) by command:"; head -n 15 "$OUT/perf-comm.txt"
    fi
    bench_pgss 25
} | tee "$OUT/result.txt"
bench_log "results in $OUT"
