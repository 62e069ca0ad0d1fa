#!/usr/bin/env bash
# callgrind.sh: instructions per order, per daemon, two revisions side by side.
#
# Wall-clock figures on a shared, loaded machine wander by tens of per cent;
# instruction counts do not. For each revision in BENCH_REVS (default
# "e830a6f HEAD") a detached worktree var/bench/rev/<sha> is built with its
# own `make all` (as bench/compare.sh does; a built tree is reused), then
# BENCH_RUNS times, interleaved revision by revision:
#
#  1. the revision's own bench/sys.sh `bench_up` brings its system up (fresh
#     PostgreSQL, fsync on, migrations, keys and passwords where the revision
#     has them, tools/supervise.py). A `setsid` function, defined here before
#     bench_up runs, replaces each daemon's copy in EC_BIN_DIR by a wrapper of
#     the same name at the moment bench_up starts the supervisor:
#         exec env LOGNAME=cg USER=cg HOST=cg valgrind --tool=callgrind \
#             --instr-atstart=no --callgrind-out-file=<out>/cg/<daemon>.%p \
#             <real binary> "$@"
#     so the daemons run under callgrind with instrumentation off (nothing is
#     counted, and at little slowdown: start-up, migrations, readiness, the
#     county). callgrind_control talks to them through vgdb, run as the
#     daemon's user (HEAD's daemons run as eldercare, not root);
#  2. the revision's own bench/county.py loads the county of its intake
#     benchmark (50 cards, 5 top-ups, BENCH_CAREGIVERS=300 caregivers), then
#     the consumers drain;
#  3. `callgrind_control -i on` switches instrumentation on in all four;
#     bench/place.py (this tree's, the same for every revision) places
#     exactly BENCH_ORDERS (2000) orders at BENCH_RATE (20) orders/s over
#     BENCH_CONNS (4) keep-alive connections: the orders of bench/intake.lua
#     with one thread, card k*7+1 of the county's, cleaning/bath/escort,
#     2-hour windows over 21 days from a day fixed once for the whole
#     comparison; then waits (SQL only, no daemon is asked) until every one
#     is past funds (assigned, or denied), then bench_drain (consumers' lag 0:
#     a few GET /metrics, counted, the same for every revision);
#  4. `callgrind_control -d` dumps each daemon's counts: the run. Then
#     BENCH_IDLE (30) s with no work and a second dump: the idle rate (timers,
#     polls) which the run also paid for its length, subtracted:
#         net Ir/order = (Ir run - idle Ir/s * run seconds) / orders
#     (both are printed; idle is small next to the per-order work).
#
# Counted: every instruction of the daemon processes, all threads, libraries
# included (libpq, libzmq, libc). Not counted: PostgreSQL's backends (see
# bench/sqlcpu.py for those), the kernel, the load generator.
#
# PostgreSQL's side of the same run (BENCH_PGSS=1, passed to the revision's
# bench/sys.sh, which loads pg_stat_statements with track = all): reset when
# instrumentation goes on, read when the run is dumped. Per role (orderd_rt,
# ...; "other" = the cluster's own processes) and order: statements sent by
# the daemon (pg_stat_statements toplevel calls, BEGIN and COMMIT included:
# what crosses the wire), statements run inside functions, rows those
# statements returned or wrote, WAL bytes they wrote, and the backends' CPU
# (utime + stime from /proc of every process in pg_stat_activity; a CPU
# time, so it moves somewhat with the load, unlike the counts). Whole-cluster
# WAL per order from pg_current_wal_lsn(). Figures in <out>/<run>/pg.tsv and
# in the result as a second table.
#
# Prints per run and daemon the instructions per order, per revision the
# mean of its runs and their spread, and last revision / first.
#
# Environment: BENCH_REVS, BENCH_RUNS (2), BENCH_ORDERS (2000), BENCH_RATE
# (20), BENCH_CONNS (4), BENCH_IDLE (30), BENCH_CAREGIVERS (300),
# BENCH_SETTLE (1800: longest wait for the saga, s), BENCH_DAY (first day of
# the windows, default tomorrow in +08:00), BENCH_OUT
# (var/bench/callgrind-<time>); BENCH_PGPORT / BENCH_PORT0 as in bench/sys.sh
# (defaults here 55699 / 25600, away from the other benchmarks' ports; a
# second run at the same time needs PORT0 at least 1012 away).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
REVS=${BENCH_REVS:-e830a6f HEAD}
RUNS=${BENCH_RUNS:-2}
N=${BENCH_ORDERS:-2000}
RATE=${BENCH_RATE:-20}
CONNS=${BENCH_CONNS:-4}
IDLE=${BENCH_IDLE:-30}
SETTLE=${BENCH_SETTLE:-1800}
export BENCH_PGPORT=${BENCH_PGPORT:-55699} BENCH_PORT0=${BENCH_PORT0:-25600}
OUT=${BENCH_OUT:-$ROOT/var/bench/callgrind-$(date -u +%Y%m%dT%H%M%SZ)}
# The first day of the order windows: tomorrow in the county (+08:00), once.
DAY=${BENCH_DAY:-$(TZ=Asia/Shanghai date -d tomorrow +%F)}
DAEMONS="orderd dispatchd meald billingd"
mkdir -p "$OUT" "$ROOT/var/bench/rev"
OUT=$(cd "$OUT" && pwd -P)
log() { printf 'callgrind: %s\n' "$*" >&2; }
command -v valgrind >/dev/null || { log "valgrind is not installed (apt-get install valgrind)"; exit 1; }
command -v callgrind_control >/dev/null || { log "callgrind_control missing"; exit 1; }

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

# callgrind_control PID ARGS...: as the daemon's own user (as root, vgdb
# attached to another user's idle daemon hangs), at most 300 s; fails unless
# vgdb says OK. vgdb finds valgrind by FIFOs named after LOGNAME/USER and HOST:
# the wrappers and this set them alike (supervise.py clears the environment).
s_cgctl() {
    local p=$1 owner
    shift
    owner=$(stat -c %U "/proc/$p")
    local run=(env LOGNAME=cg USER=cg HOST=cg timeout 300)
    if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
        run=(runuser -u "$owner" -- "${run[@]}")
    fi
    "${run[@]}" callgrind_control "$@" "$p" 2>&1 | grep -q 'OK\.$'
}

# The daemon a role is: <daemon>_rt (issue 10 on) or <daemon> (before it,
# the daemons logged in as the schema's owner); anything else is "other".
s_pg_daemon() {
    case $1 in
    orderd | orderd_rt) echo orderd ;;
    billingd | billingd_rt) echo billingd ;;
    dispatchd | dispatchd_rt) echo dispatchd ;;
    meald | meald_rt) echo meald ;;
    *) echo other ;;
    esac
}

# CPU ticks so far of every process of the cluster, by role (background
# processes and connections without a role: "other"), one "role ticks" line
# per process. Run inside s_run (bench_sql).
s_pg_cpu() {
    local pid who
    bench_sql "SELECT pid, coalesce(usename, 'other') FROM pg_stat_activity
               WHERE pid <> pg_backend_pid()" | while IFS='|' read -r pid who; do
        [ -r "/proc/$pid/stat" ] || continue
        who=$(s_pg_daemon "$who")
        sed 's/^.*) //' "/proc/$pid/stat" | awk -v w="$who" -v p="$pid" '{print w, p, $12 + $13}'
    done
}

# pg.tsv: per role, statements sent and run inside functions, rows, WAL
# bytes (pg_stat_statements) and backend CPU ticks (pgcpu0 -> pgcpu1);
# top.txt: the statements themselves.
s_pg_stats() {
    local o=$1
    bench_sql "SELECT regexp_replace(u.rolname, '_rt\$', ''),
                      coalesce(sum(s.calls) FILTER (WHERE s.toplevel), 0),
                      coalesce(sum(s.calls) FILTER (WHERE NOT s.toplevel), 0), sum(s.rows),
                      sum(s.wal_bytes)
                 FROM pg_stat_statements s JOIN pg_roles u ON u.oid = s.userid
                WHERE u.rolname ~ '^(orderd|billingd|dispatchd|meald)(_rt)?\$'
                GROUP BY 1 ORDER BY 1" | tr '|' ' ' >"$o/pgss"
    awk 'FNR == 1 {f++} f == 1 {a[$2] = $3; next} {if ($2 in a) c[$1] += $3 - a[$2]}
         END {for (w in c) print w, c[w]}' "$o/pgcpu0" "$o/pgcpu1" >"$o/pgcpu"
    local lsn0
    lsn0=$(cat "$o/lsn0")
    bench_sql "SELECT pg_current_wal_lsn() - '$lsn0'::pg_lsn" >"$o/walbytes"
    bench_psql -P pager=off -c "
        SELECT u.rolname AS role, s.toplevel AS top, s.calls, s.rows,
               s.wal_bytes / greatest(s.calls, 1) AS wal_b_per_call,
               round((s.total_exec_time / greatest(s.calls, 1))::numeric, 3) AS mean_ms,
               left(regexp_replace(s.query, '\s+', ' ', 'g'), 100) AS query
          FROM pg_stat_statements s JOIN pg_roles u ON u.oid = s.userid
         WHERE u.rolname ~ '^(orderd|billingd|dispatchd|meald)(_rt)?\$'
         ORDER BY u.rolname, s.toplevel DESC, s.calls DESC" >"$o/top.txt"
}

# One measured run of the revision in TREE, results in O (a subshell: the
# revision's sys.sh sets its own variables, functions and traps).
s_run() {  # TREE O
    local tree=$1 o=$2
    (
        set -euo pipefail
        BENCH_NAME=callgrind
        # As bench/e2e.sh: offered at once, so that "past funds" (assigned)
        # is reached; with the product's 3 h horizon the visits over 21 days
        # stay planned and the wait never ends. Older revisions ignore it.
        export DISPATCHD_ARGS=${DISPATCHD_ARGS---offer-ahead-h=0}
        # shellcheck source=/dev/null
        . "$tree/bench/sys.sh"
        cd "$BENCH_REPO"
        cg=$o/cg
        mkdir -p "$cg"
        chmod 0777 "$cg"   # the daemons may run as the daemon user
        # bench_up has copied the binaries to EC_BIN_DIR and now starts the
        # supervisor: put the wrappers in their place first.
        setsid() {
            if [[ "${2:-}" == */supervise.py ]]; then
                local d
                mkdir -p "$EC_BIN_DIR/real"
                for d in $DAEMONS; do
                    mv "$EC_BIN_DIR/$d" "$EC_BIN_DIR/real/$d"
                    printf '#!/bin/sh\nexec env LOGNAME=cg USER=cg HOST=cg /usr/bin/valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=%s/%s.%%p --log-file=%s/%s.%%p.log %s/real/%s "$@"\n' \
                        "$cg" "$d" "$cg" "$d" "$EC_BIN_DIR" "$d" >"$EC_BIN_DIR/$d"
                    chmod 0755 "$EC_BIN_DIR/$d" "$EC_BIN_DIR/real"
                done
                exec /usr/bin/setsid "$@"
            fi
            command setsid "$@"
        }
        trap bench_down EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        bench_up
        pids=()
        for d in $DAEMONS; do
            p=$(cat "$BENCH_SHADOW/var/run/$d.pid")
            grep -q callgrind "/proc/$p/cmdline" || bench_die "$d ($p) is not under callgrind"
            pids+=("$p")
            echo "$d $p" >>"$o/pids"
        done
        "$BENCH_PY" bench/county.py --cards 50 --topups 5 --caregivers "${BENCH_CAREGIVERS:-300}" \
            --out "$o/cards.txt"
        bench_drain 300 || true
        restarts0=$(bench_restarts)
        if [ "${BENCH_PGSS:-0}" = 1 ]; then
            bench_sql "SELECT pg_stat_statements_reset()" >/dev/null
            s_pg_cpu >"$o/pgcpu0"
            bench_sql "SELECT pg_current_wal_lsn()" >"$o/lsn0"
        fi
        for p in "${pids[@]}"; do s_cgctl "$p" -i on || bench_die "callgrind_control -i on $p"; done
        t0=$(date +%s.%N)
        bench_log "instrumentation on; placing $N orders at $RATE/s"
        "$BENCH_PY" "$ROOT/bench/place.py" --url "$ORDERD_URL" --cards "$o/cards.txt" \
            --n "$N" --rate "$RATE" --conns "$CONNS" --day "$DAY" --tag cg >"$o/place.json" \
            || bench_log "place.py: $(cat "$o/place.json")"
        bench_log "placed: $(cat "$o/place.json"); waiting for the saga"
        q="SELECT count(*) FILTER (WHERE state NOT IN ('placed', 'funds_held', 'released')),
                  count(*) FROM orderd.orders WHERE idem_key LIKE 'cg-%'"
        i=0
        while :; do
            r=$(bench_sql "$q")
            [ "${r%%|*}" = "$N" ] && break
            i=$((i + 2))
            [ "$i" -ge "$SETTLE" ] && bench_die "not settled after $SETTLE s: $r (settled|orders)"
            sleep 2
        done
        bench_drain 300 || bench_die "consumers did not catch up"
        t1=$(date +%s.%N)
        for p in "${pids[@]}"; do s_cgctl "$p" -d || bench_die "callgrind_control -d $p"; done
        if [ "${BENCH_PGSS:-0}" = 1 ]; then
            s_pg_cpu >"$o/pgcpu1"
            s_pg_stats "$o"
        fi
        bench_log "run dumped ($(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s); idle ${IDLE} s"
        sleep "$IDLE"
        for p in "${pids[@]}"; do s_cgctl "$p" -d || bench_die "callgrind_control -d $p"; done
        restarts1=$(bench_restarts)
        [ "$restarts0" = "$restarts1" ] || bench_die "a daemon restarted during the run"
        bench_sql "SELECT state, count(*) FROM orderd.orders WHERE idem_key LIKE 'cg-%'
                   GROUP BY state ORDER BY state" | tr '\n' ' ' >"$o/states"
        {
            printf 'run_seconds %s\nidle_seconds %s\n' \
                "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" "$IDLE"
            for d in $DAEMONS; do
                p=$(awk -v d="$d" '$1 == d {print $2}' "$o/pids")
                printf '%s %s %s\n' "$d" \
                    "$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$cg/$d.$p.1")" \
                    "$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$cg/$d.$p.2")"
            done
        } >"$o/counts"
    )
}

printf 'run\trev\tdaemon\tIr_run\tIr_idle\trun_s\tidle_s\tgross_per_order\tnet_per_order\n' \
    >"$OUT/runs.tsv"
printf 'run\trev\trole\tsent\tin_functions\trows\twal_bytes\tcpu_us\n' >"$OUT/pg.tsv"
for run in $(seq 1 "$RUNS"); do
    for rev in $REVS; do
        tree=${TREE[$rev]}
        o=$OUT/$run-$(basename "$tree")
        mkdir -p "$o"
        log "run $run: $rev ($(basename "$tree")), $N orders at $RATE/s under callgrind"
        s_run "$tree" "$o" >"$o.log" 2>&1 || { tail -n 20 "$o.log" >&2; exit 1; }
        log "  $(cat "$o/place.json"); states: $(cat "$o/states")"
        awk -v run="$run" -v rev="$rev" -v n="$N" '
            $1 == "run_seconds" {rs = $2; next}
            $1 == "idle_seconds" {is = $2; next}
            {net = $2 - $3 / is * rs
             printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\n", run, rev, $1, $2, $3, rs, is, $2 / n, net / n}' \
            "$o/counts" | tee -a "$OUT/runs.tsv" | awk -F'\t' '{printf "callgrind:   %-9s net %d Ir/order\n", $3, $9}' >&2
        if [ -f "$o/pgss" ]; then
            # Per order: statements, rows, WAL bytes; backend CPU in us
            # (ticks of 1/CLK_TCK s). "other": the cluster's own processes;
            # "cluster": WAL of everything.
            awk -v run="$run" -v rev="$rev" -v n="$N" -v tck="$(getconf CLK_TCK)" \
                -v wal="$(cat "$o/walbytes")" '
                FILENAME ~ /pgss$/ {top[$1] = $2; fn[$1] = $3; rows[$1] = $4; wb[$1] = $5
                                    seen[$1] = 1; next}
                {cpu[$1] = $2; seen[$1] = 1}
                END {
                    for (r in seen)
                        printf "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\n", run, rev, r,
                            top[r] / n, fn[r] / n, rows[r] / n, wb[r] / n, cpu[r] * 1e6 / tck / n
                    printf "%s\t%s\tcluster\t\t\t\t%.0f\t\n", run, rev, wal / n
                }' "$o/pgss" "$o/pgcpu" | sort -t $'\t' -k3,3 | tee -a "$OUT/pg.tsv" \
                | awk -F'\t' '{printf "callgrind:   pg %-12s %s sent, %s in functions, %s rows, %s WAL B, %s us CPU per order\n", $3, $4, $5, $6, $7, $8}' >&2
        fi
    done
done

{
    echo "Instructions per order (callgrind), $(date -u '+%Y-%m-%d %H:%M UTC');" \
         "$(nproc) cores, $(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -n 1), $(uname -r)"
    echo "revisions: $REVS; $RUNS runs each, interleaved; $N orders at $RATE/s, $CONNS connections;" \
         "county 50 cards, ${BENCH_CAREGIVERS:-300} caregivers; windows from $DAY"
    echo "net = (Ir during the run - idle Ir/s x run seconds) / orders; idle measured ${IDLE} s after each run"
    echo
    column -t -s $'\t' "$OUT/runs.tsv"
    echo
    first=${REVS%% *}; last=${REVS##* }
    awk -F'\t' -v revs="$REVS" -v first="$first" -v last="$last" -v runs="$RUNS" '
        NR == 1 {next}
        {k = $2 SUBSEP $3; s[k] += $9; c[k]++
         if (!(k in lo) || $9 < lo[k]) lo[k] = $9; if (!(k in hi) || $9 > hi[k]) hi[k] = $9
         t[$2 SUBSEP $1] += $9; g[$2 SUBSEP $1] += $8}
        END {
            nd = split("orderd dispatchd meald billingd", ds, " ")
            nr = split(revs, rv, " ")
            printf "%-10s", "net Ir/order"
            for (i = 1; i <= nr; i++) printf "  %22s", rv[i] " (spread)"
            printf "  %10s\n", "ratio"
            for (j = 1; j <= nd + 1; j++) {
                d = (j <= nd) ? ds[j] : "total"
                printf "%-10s", d
                for (i = 1; i <= nr; i++) {
                    if (d == "total") {
                        m = 0; l = ""; h = ""
                        for (r = 1; r <= runs; r++) {v = t[rv[i] SUBSEP r]; m += v
                            if (l == "" || v < l) l = v; if (h == "" || v > h) h = v}
                        m /= runs
                    } else {
                        k = rv[i] SUBSEP d; m = s[k] / c[k]; l = lo[k]; h = hi[k]
                    }
                    mean[i] = m
                    printf "  %13.0f (%5.2f%%)", m, (m > 0 ? 100 * (h - l) / m : 0)
                }
                printf "  %10.3f\n", (mean[1] > 0 ? mean[nr] / mean[1] : 0)
            }
            printf "(mean of the runs; spread = (max - min) / mean; ratio = %s / %s)\n", last, first
        }' "$OUT/runs.tsv"
    if [ "$(wc -l <"$OUT/pg.tsv")" -gt 1 ]; then
        echo
        echo "PostgreSQL per order (BENCH_PGSS=1; means of the runs): statements sent by the daemon"
        echo "(BEGIN/COMMIT included), statements inside functions, rows, WAL bytes, backend CPU us"
        awk -F'\t' -v revs="$REVS" '
            NR == 1 {next}
            {k = $2 SUBSEP $3; c[k]++; for (i = 4; i <= 8; i++) s[k, i] += $i; roles[$3] = 1}
            END {
                nr = split(revs, rv, " ")
                printf "%-12s", "role"
                for (i = 1; i <= nr; i++) printf "  %-44s", rv[i] " sent/func/rows/WAL/CPU"
                printf "\n"
                for (r in roles) {
                    printf "%-12s", r
                    for (i = 1; i <= nr; i++) {
                        k = rv[i] SUBSEP r
                        if (!c[k]) {printf "  %-44s", "-"; continue}
                        printf "  %-44s", sprintf("%.2f / %.2f / %.2f / %.0f / %.0f", s[k, 4] / c[k],
                            s[k, 5] / c[k], s[k, 6] / c[k], s[k, 7] / c[k], s[k, 8] / c[k])
                    }
                    printf "\n"
                }
            }' "$OUT/pg.tsv" | sort
    fi
} | tee "$OUT/result.txt"
log "results in $OUT"
