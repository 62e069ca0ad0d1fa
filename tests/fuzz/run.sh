#!/usr/bin/env bash
# run.sh: `make fuzz`: each target fuzzed for FUZZ_SECS seconds (default 60)
# under ASan+UBSan, one after the other. Each starts from its committed
# inputs plus what earlier runs found (build/fuzz/corpus/<target>/, kept
# between runs, never committed). A crash is written to
# build/fuzz/crashes/<target>/; to keep it, copy it into
# tests/fuzz/<target>/regress/ and fix the code (docs/FUZZING.md).
# Prints one line per target: inputs tried (execs), corpus size, crashes.
# Exits non-zero if any target crashed. Usage: run.sh target...
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECS:-60}
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-18s %12s %8s %s\n' target execs corpus result
for t in "$@"; do
    corpus=build/fuzz/corpus/$t crashes=build/fuzz/crashes/$t
    mkdir -p "$corpus" "$crashes"
    for d in seeds regress; do
        [ -d "tests/fuzz/$t/$d" ] && cp -n "tests/fuzz/$t/$d"/* "$corpus"/ 2>/dev/null
    done
    log=build/fuzz/$t.log
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    "build/fuzz/bin/$t" -max_total_time="$secs" -print_final_stats=1 -timeout=20 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" "${dict[@]}" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
    size=$(find "$corpus" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $rc): $(ls -t "$crashes" | head -n 1); see $log"
        status=1
    fi
    printf '%-18s %12s %8s %s\n' "$t" "${execs:-?}" "$size" "$result"
done
exit $status
