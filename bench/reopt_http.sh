#!/bin/bash
# reopt_http.sh: HTTP latency of every daemon with dispatchd's background
# re-optimisation off and running without pause (issue 12: "HTTP p99 on
# every daemon unchanged while re-optimisation runs"). docs/BENCHMARKS.md,
# "Re-optimisation and HTTP latency".
#
# For each mode (off: --reopt-interval-s 0; on: 1 s, a district run every
# second, each solving --reopt-budget-ms 300 on its worker thread) it brings
# a private system up (bench/sys.sh), loads a county (BENCH_CAREGIVERS, 300,
# over districts 1-3; BENCH_CARDS_N elders), places BENCH_ORDERS (2000)
# visits with windows over the coming days, today's among them, then samples
# every daemon's HTTP latency for BENCH_SECS (60) with bench/probe.py while
# the day's plans stand (and, when on, are re-optimised: today's shifts and,
# every other round, the next ones, so the run means the same at any hour),
# and tears it down. The probe is /readyz on each daemon: the loop's own
# responsiveness (a heavy route probed beside it would measure itself).
# Prints the probe results and the re-optimisation counters (with the
# loop's share per run, dispatchd_reopt_loop_seconds).
#
#   BENCH_REOPT_INTERVAL_S  --reopt-interval-s when on (default 1; 30 is the
#                           daemon's default)
#   BENCH_MODES             modes in order (default "off on"); "base" is on
#                           with the daemons of BENCH_BASE (another worktree,
#                           built), to compare two builds in one sitting;
#                           MODE@S runs it at --reopt-interval-s S:
#     BENCH_BASE=/work/main-old BENCH_MODES="off base on base@30 on@30" \
#         bench/reopt_http.sh
set -euo pipefail
BENCH_NAME=reopt
. "$(dirname "$0")/sys.sh"
cd "$BENCH_REPO"
SECS=${BENCH_SECS:-60}
OUT=${BENCH_OUT:-$BENCH_REPO/var/bench/reopt-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap 'bench_down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
today=$(TZ=Asia/Shanghai date +%F)

for mode in ${BENCH_MODES:-off on}; do
    unset BENCH_BIN_FROM
    interval=${BENCH_REOPT_INTERVAL_S:-1}
    case $mode in
        *@*) interval=${mode#*@} ;;
    esac
    case ${mode%@*} in
        off) export DISPATCHD_REOPT_INTERVAL_S=0 ;;
        on) export DISPATCHD_REOPT_INTERVAL_S=$interval ;;
        base)
            [ -n "${BENCH_BASE:-}" ] || bench_die "mode base needs BENCH_BASE (a built worktree)"
            export BENCH_BIN_FROM=$BENCH_BASE/build/bin
            export DISPATCHD_REOPT_INTERVAL_S=$interval ;;
        *) bench_die "unknown mode $mode (off, on, base; MODE@S)" ;;
    esac
    bench_log "mode $mode: --reopt-interval-s $DISPATCHD_REOPT_INTERVAL_S"
    bench_up
    "$BENCH_PY" bench/county.py --cards "${BENCH_CARDS_N:-300}" --topups 2 \
        --caregivers "${BENCH_CAREGIVERS:-300}" --out "$OUT/cards-$mode.txt"
    "$BENCH_PY" bench/place.py --url "$ORDERD_URL" --cards "$OUT/cards-$mode.txt" \
        --n "${BENCH_ORDERS:-2000}" --rate 100 --conns 8 --day "$today" --tag "reopt-$mode" \
        >"$OUT/place-$mode.json" || true   # today's past windows are refused: counted there
    bench_drain 120 || true
    bench_log "probing $mode for ${SECS}s"
    "$BENCH_PY" bench/probe.py --secs "$SECS" >"$OUT/probe-$mode.json"
    curl -s "$DISPATCHD_URL/metrics" | grep -E '^dispatchd_reopt' >"$OUT/metrics-$mode.txt" || true
    bench_down
    echo "$mode: load $(cut -d' ' -f1-3 /proc/loadavg): $(cat "$OUT/probe-$mode.json")"
    sed "s/^/$mode: /" "$OUT/metrics-$mode.txt"
done
echo "machine: $(bench_machine); results in $OUT"
