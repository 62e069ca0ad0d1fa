#!/usr/bin/env bash
# compare.sh: intake and end to end, two revisions side by side in one run.
#
# For each revision in BENCH_REVS (default "e830a6f HEAD": the daemons before
# and after the runtime of issue 9) a detached worktree under
# var/bench/rev/<sha> is built with its own `make all`; then BENCH_ROUNDS
# times, interleaved revision by revision so that machine noise falls on
# both alike, each revision's own bench/intake.sh (one run, BENCH_MODES) and
# bench/e2e.sh run on a fresh private system (bench/sys.sh: PostgreSQL with
# fsync on, the four daemons). Each revision is measured with its own SQL
# migrations and scripts, as a user would run it.
#
# Prints per round and the medians: intake orders/s per mode, pgbench tps
# and the intake/pgbench ratio of the same run, end-to-end assigned orders/s
# and p50/p99 placed->assigned; and, per figure, last revision / first.
#
# Environment: BENCH_REVS, BENCH_ROUNDS (3), BENCH_WHAT ("intake e2e"),
# BENCH_SECS (intake 20, e2e 60, passed through when set), BENCH_MODES
# ("alone system"), BENCH_OUT (var/bench/compare-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
REVS=${BENCH_REVS:-e830a6f HEAD}
ROUNDS=${BENCH_ROUNDS:-3}
WHAT=${BENCH_WHAT:-intake e2e}
OUT=${BENCH_OUT:-$ROOT/var/bench/compare-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT" "$ROOT/var/bench/rev"
log() { printf 'compare: %s\n' "$*" >&2; }

# A worktree per revision, built once (a tree already built is reused).
declare -A TREE
for rev in $REVS; do
    sha=$(git rev-parse --short=12 "$rev^{commit}")
    tree=$ROOT/var/bench/rev/$sha
    if [ ! -d "$tree/.git" ] && [ ! -f "$tree/.git" ]; then
        git worktree add --detach --force "$tree" "$sha" >/dev/null
    fi
    log "build $rev ($sha)"
    make -s -C "$tree" all >"$OUT/build-$sha.log" 2>&1 || { cat "$OUT/build-$sha.log" >&2; exit 1; }
    TREE[$rev]=$tree
done

printf 'round\trev\twhat\tmode\torders_s\tpgbench_tps\tratio\tp50_ms\tp99_ms\n' >"$OUT/rounds.tsv"
for round in $(seq 1 "$ROUNDS"); do
    for what in $WHAT; do
        for rev in $REVS; do
            tree=${TREE[$rev]}
            o=$OUT/$round-$what-$(basename "$tree")
            log "round $round: $what at $rev"
            if [ "$what" = intake ]; then
                (cd "$tree" && BENCH_RUNS=1 BENCH_MODES="${BENCH_MODES:-alone system}" \
                    BENCH_OUT="$o" bench/intake.sh) >"$o.log" 2>&1 || { tail -20 "$o.log" >&2; exit 1; }
                # runs.tsv: run mode rate p50 p99 ok other rows tps pp50 pp99 ratio
                tail -n +2 "$o/runs.tsv" | awk -F'\t' -v r="$round" -v v="$rev" \
                    '{printf "%s\t%s\tintake\t%s\t%s\t%s\t%s\t%s\t%s\n", r, v, $2, $3, $9, $12, $4, $5}' \
                    >>"$OUT/rounds.tsv"
            else
                (cd "$tree" && BENCH_OUT="$o" bench/e2e.sh) >"$o.log" 2>&1 || { tail -20 "$o.log" >&2; exit 1; }
                rate=$(sed -n 's/^assigned within the run .* = \([0-9.]*\) orders\/s.*/\1/p' "$o.log" | head -1)
                lat=$(sed -n 's/^placed -> assigned *p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms (orders assigned within.*/\1 \2/p' "$o.log" | head -1)
                printf '%s\t%s\te2e\tsystem\t%s\t-\t-\t%s\t%s\n' "$round" "$rev" "${rate:-0}" \
                    "${lat% *}" "${lat#* }" >>"$OUT/rounds.tsv"
            fi
        done
    done
done

median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
{
    echo "Side by side, $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "revisions: $REVS; $ROUNDS rounds interleaved; each figure is one run of the revision's own script"
    echo
    column -t -s $'\t' "$OUT/rounds.tsv"
    echo
    first=${REVS%% *}; last=${REVS##* }
    for key in $(tail -n +2 "$OUT/rounds.tsv" | cut -f3,4 | sort -u | tr '\t' ':'); do
        what=${key%%:*}; mode=${key#*:}
        line="median $what/$mode:"
        declare -A M=()
        for rev in $REVS; do
            col() { tail -n +2 "$OUT/rounds.tsv" | awk -F'\t' -v v="$rev" -v w="$what" -v m="$mode" -v c="$1" '$2 == v && $3 == w && $4 == m {print $c}' | median; }
            M[$rev]=$(col 5)
            line="$line  $rev $(col 5) orders/s (p50 $(col 8) ms, p99 $(col 9) ms"
            [ "$what" = intake ] && line="$line, pgbench $(col 6) tps, ratio $(col 7)"
            line="$line)"
        done
        echo "$line"
        awk -v a="${M[$last]}" -v b="${M[$first]}" -v k="$what/$mode" -v l="$last" -v f="$first" \
            'BEGIN {printf "  %s: %s / %s = %.3f\n", k, l, f, (b > 0 ? a / b : 0)}'
    done
} | tee "$OUT/result.txt"
log "results in $OUT"
