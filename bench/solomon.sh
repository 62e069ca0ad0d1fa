#!/bin/sh
# solomon.sh: solve the 56 Solomon instances with vrp-solve, check each solution with the
# independent checker, and write a Markdown table of gaps to the best-knowns.
#
# usage: bench/solomon.sh [--time-limit S] [--objective distance|hierarchical] [--seed N]
#                         [--only PATTERN]
# env:   VRP_SOLVE (default build/bin/vrp-solve), SOLOMON_DIR (default ../shared/data/solomon),
#        VRPTW_CHECK (default ../shared/tools/vrptw-check), BENCH_DIR (default build/bench)
# Output: build/bench/solomon-OBJECTIVE-Ss.md (also printed). Exit 1 if any solution fails
# the checker.
set -eu

time_limit=1
objective=distance
seed=1
only='*'
while [ $# -gt 0 ]; do
    case "$1" in
        --time-limit) time_limit=$2; shift 2 ;;
        --objective) objective=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "solomon.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
solve=${VRP_SOLVE:-$here/build/bin/vrp-solve}
data=${SOLOMON_DIR:-$here/../shared/data/solomon}
[ -d "$data" ] || data=/work/shared/data/solomon
check=${VRPTW_CHECK:-$data/../../tools/vrptw-check}
out_dir=${BENCH_DIR:-$here/build/bench}
case "$objective" in
    distance) bks=$data/bks_distance.csv ;;
    hierarchical) bks=$data/bks_hierarchical.csv ;;
    *) echo "solomon.sh: --objective is distance or hierarchical" >&2; exit 2 ;;
esac
mkdir -p "$out_dir/sol-$objective-${time_limit}s"
table=$out_dir/solomon-$objective-${time_limit}s.md
rows=$out_dir/.rows.$$
: > "$rows"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
failed=0
for inst in "$data"/instances/$only.txt; do
    name=$(basename "$inst" .txt)
    sol=$out_dir/sol-$objective-${time_limit}s/$name.sol
    t0=$(date +%s.%N)
    "$solve" "$inst" --time-limit "$time_limit" --seed "$seed" --objective "$objective" \
        > "$sol" || { echo "$name: vrp-solve failed" >&2; failed=1; continue; }
    t1=$(date +%s.%N)
    if res=$("$check" "$inst" "$sol"); then
        ok=yes
    else
        ok=NO
        failed=1
    fi
    veh=$(printf '%s\n' "$res" | sed -n 's/^vehicles=\([0-9]*\) distance=.*/\1/p')
    dist=$(printf '%s\n' "$res" | sed -n 's/^vehicles=[0-9]* distance=\([0-9.]*\).*/\1/p')
    b=$(awk -F, -v n="$name" 'toupper($1) == toupper(n) { print $2 " " $3 }' "$bks")
    echo "$name ${veh:-0} ${dist:-0} $b $t0 $t1 $ok" >> "$rows"
done
{
    echo "## Solomon, objective $objective, time limit ${time_limit} s, seed $seed"
    echo
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    echo "Machine: $(nproc) cores, $cpu; load average $load_start at start," \
        "$(cut -d' ' -f1-3 /proc/loadavg) at the end."
    echo "Command: \`bench/solomon.sh --time-limit $time_limit --objective $objective" \
        "--seed $seed\`"
    echo
    echo "| instance | vehicles | distance | BKS vehicles | BKS distance | gap % | seconds" \
        "| checked |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    awk -v obj="$objective" '
        { gap = 100 * ($3 - $5) / $5; secs = $7 - $6
          printf "| %s | %d | %.2f | %d | %.2f | %+.2f | %.2f | %s |\n",
                 $1, $2, $3, $4, $5, gap, secs, $8
          n++; sg += gap; ss += secs; if ($2 <= $4) hv++; if ($2 == $4) eq++ }
        END { if (n) {
          printf "\n**%d instances: mean gap %+.2f %%, mean %.2f s", n, sg / n, ss / n
          printf ", vehicles <= best-known on %d (equal on %d).**\n", hv, eq } }' "$rows"
} > "$table"
rm -f "$rows"
cat "$table"
exit $failed
