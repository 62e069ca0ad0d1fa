#!/usr/bin/env bash
# countyday.sh: issue 12's county day (docs/BENCHMARKS.md, "County day").
#
# One seeded day (bench/countyday.py gen) replayed in simulated time through
# the daemons of two trees, and the same day solved offline with hindsight
# (build/bench/countyday_bound), each scored by the same code:
#   base  the greedy matcher of COUNTY_BASE (e830a6f), a detached worktree
#         under var/bench/rev/<sha> built with its own `make all`;
#   new   the daemons of COUNTY_TREE (default: this tree, built by
#         `make bench-county`). Any built tree works, e.g.
#         COUNTY_TREE=/work/h-dvrp: its build/bin and its sql/ are used as
#         they are (nothing is built or written there);
#   bound the whole day known at 06:30, libvrp per district;
#   bound-home the same with every caregiver home by the shift's end and
#         the way home in the objective, as dispatchd plans (not in the
#         default list).
#
# Environment: COUNTY=1 (or COUNTY_SIZE=county) for 600 caregivers and
# 6,000 visits (default: the district, 60 and 600); COUNTY_SEED (12);
# COUNTY_WHAT ("base new bound"); COUNTY_RUNS (1: replays per tree; the
# table then adds the medians); COUNTY_BOUND_S (solver seconds: 60, county
# 600); COUNTY_SPEED (simulated seconds per second, 120); COUNTY_POLL_S (the
# apps' poll period in simulated seconds, 120); COUNTY_NIGHT_SPEED (600: the
# night 20:00-06:30, 0 jumps it); COUNTY_ARGS (daemon flags, e.g.
# "dispatchd:offer-ahead-h=0"); COUNTY_KEEP=1 (keep each replay's work
# dir: daemon logs and a dump of dispatchd's tables); COUNTY_ZONES (1: each
# provider serves its own district, PUT /v1/providers/{id}/districts, the
# bound's assumption; 0: everywhere, as before 2026-12-07 20:00; a tree
# without the route, e830a6f, is left as it is); COUNTY_OUT (the run's
# directory, var/bench/countyday-<size>-<time>). Command-line flags:
# --tree PATH (= COUNTY_TREE), --base REV (= COUNTY_BASE).
# The table goes to stdout, COUNTY_OUT/table.md and build/bench/countyday-<size>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
TREE=${COUNTY_TREE:-$ROOT}
BASE=${COUNTY_BASE:-e830a6f}
while [ $# -gt 0 ]; do
    case $1 in
        --tree) TREE=$2; shift 2 ;;
        --base) BASE=$2; shift 2 ;;
        *) echo "usage: $0 [--tree PATH] [--base REV]" >&2; exit 2 ;;
    esac
done
TREE=$(cd "$TREE" && pwd -P)
if [ "${COUNTY:-0}" = 1 ]; then SIZE=county; else SIZE=${COUNTY_SIZE:-district}; fi
SEED=${COUNTY_SEED:-12}
WHAT=${COUNTY_WHAT:-base new bound}
RUNS=${COUNTY_RUNS:-1}
if [ "$SIZE" = county ]; then BOUND_S=${COUNTY_BOUND_S:-600}; else BOUND_S=${COUNTY_BOUND_S:-60}; fi
OUT=${COUNTY_OUT:-$ROOT/var/bench/countyday-$SIZE-$(date -u +%Y%m%dT%H%M%SZ)}
PY=/usr/bin/python3
KEEP=(); [ "${COUNTY_KEEP:-0}" = 1 ] && KEEP=(--keep)
mkdir -p "$OUT" "$ROOT/var/bench/rev" "$ROOT/build/bench"
log() { printf 'countyday: %s\n' "$*" >&2; }

for b in dispatchd orderd meald billingd; do
    [ -x "$TREE/build/bin/$b" ] || { log "$TREE/build/bin/$b is missing: build that tree first"; exit 1; }
done
[ -x "$ROOT/build/bench/countyday_bound" ] || make -s build/bench/countyday_bound

$PY bench/countyday.py gen --size "$SIZE" --seed "$SEED" --out "$OUT/day.json"
args=()
for what in $WHAT; do
    case $what in
        base)
            sha=$(git rev-parse --short=12 "$BASE^{commit}")
            base=$ROOT/var/bench/rev/$sha
            if [ ! -d "$base/.git" ] && [ ! -f "$base/.git" ]; then
                git worktree add --detach --force "$base" "$sha" >/dev/null
            fi
            log "build $BASE ($sha) in $base"
            make -s -C "$base" all >"$OUT/build-$sha.log" 2>&1 || { tail -20 "$OUT/build-$sha.log" >&2; exit 1; }
            for r in $(seq 1 "$RUNS"); do
                log "replay $r: greedy $BASE"
                $PY bench/countyday.py replay --day "$OUT/day.json" --tree "$base" "${KEEP[@]}" \
                    --out "$OUT/base-$r.json" 2>&1 | tee "$OUT/base-$r.log" >&2
                args+=(--result "a greedy $sha=$OUT/base-$r.json")
            done ;;
        new)
            rev=$(git -C "$TREE" rev-parse --short=12 HEAD)
            for r in $(seq 1 "$RUNS"); do
                log "replay $r: $TREE ($rev)"
                $PY bench/countyday.py replay --day "$OUT/day.json" --tree "$TREE" "${KEEP[@]}" \
                    --out "$OUT/new-$r.json" 2>&1 | tee "$OUT/new-$r.log" >&2
                args+=(--result "b dispatchd $rev=$OUT/new-$r.json")
            done ;;
        bound)
            $PY bench/countyday.py bound --day "$OUT/day.json" --out "$OUT/problem.txt"
            log "bound: libvrp, ${BOUND_S} s"
            /usr/bin/time -f '%e s, %M KB' "$ROOT/build/bench/countyday_bound" "$BOUND_S" "$SEED" \
                <"$OUT/problem.txt" >"$OUT/bound.txt" 2>"$OUT/bound.log" || { cat "$OUT/bound.log" >&2; exit 1; }
            args+=(--bound "c hindsight bound=$OUT/bound.txt") ;;
        bound-home)
            # The bound with every caregiver home by the shift's end, the way
            # home counted in its objective (dispatchd's model; the scorer
            # still counts no trip home).
            [ -f "$OUT/problem.txt" ] || $PY bench/countyday.py bound --day "$OUT/day.json" --out "$OUT/problem.txt"
            log "bound, home by the shift's end: libvrp, ${BOUND_S} s"
            /usr/bin/time -f '%e s, %M KB' "$ROOT/build/bench/countyday_bound" "$BOUND_S" "$SEED" home \
                <"$OUT/problem.txt" >"$OUT/bound-home.txt" 2>"$OUT/bound-home.log" || { cat "$OUT/bound-home.log" >&2; exit 1; }
            args+=(--bound "c' hindsight bound, home by shift end=$OUT/bound-home.txt") ;;
        *) log "unknown COUNTY_WHAT item: $what"; exit 2 ;;
    esac
done
{
    echo "County day, $SIZE size, seed $SEED, $(date -u '+%Y-%m-%d %H:%M UTC');" \
         "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    $PY bench/countyday.py report --day "$OUT/day.json" "${args[@]}" --out "$OUT/table.md"
} >"$OUT/report.md"
cp "$OUT/report.md" "$ROOT/build/bench/countyday-$SIZE.md"
cat "$OUT/report.md"
log "results in $OUT"
