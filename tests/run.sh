#!/usr/bin/env bash
# tests/run.sh: every test, one closing line "N passed, N failed[, N skipped]".
# (`make test` builds first, then runs this.)
#
#  1. each binary in the Makefile's UNIT_TESTS and UNIT_TESTS_ASAN (cmocka);
#     counts come from cmocka's summary lines; a binary that exits non-zero
#     without reporting a failure (crash, sanitizer report, leak) counts as
#     one failure of its own;
#  2. the fuzz targets' committed inputs, replayed (tests/fuzz/replay.sh),
#     one test per target;
#  3. the system tests: /usr/bin/python3 -m pytest tests/system -q -rs;
#  4. deploy: `docker-compose config -q` (and `docker compose config -q`
#     where the compose plugin exists) count as one test each.
# Exits non-zero when anything failed.
#
# Unit tests that need PostgreSQL find a throwaway cluster's conninfo in
# CC_TEST_DB (superuser, its own database), started here when any test runs.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
UNIT_TIMEOUT=${UNIT_TIMEOUT:-600}

passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/eldercare-tests.XXXXXX)
trap 's_cleanup' EXIT

s_cleanup() {
    if [ -n "${testpg_pid:-}" ]; then
        kill "$testpg_pid" 2>/dev/null
        wait "$testpg_pid" 2>/dev/null
    fi
    rm -rf "$logdir"
}

# ---- unit tests ------------------------------------------------------------
units=$(make -s --no-print-directory print-UNIT_TESTS print-UNIT_TESTS_ASAN 2>/dev/null | tr ' ' '\n' | sed '/^$/d')

if [ -n "$units" ]; then
    # A throwaway PostgreSQL for unit tests that want one (fsync off).
    fifo=$logdir/testpg.fifo
    mkfifo "$fifo"
    "$PY" tests/system/harness.py serve-pg >"$fifo" 2>"$logdir/testpg.err" &
    testpg_pid=$!
    if read -r -t 120 CC_TEST_DB <"$fifo"; then
        export CC_TEST_DB
    else
        echo "tests: could not start a throwaway PostgreSQL for unit tests:" >&2
        cat "$logdir/testpg.err" >&2
    fi
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CMOCKA_MESSAGE_OUTPUT=STDOUT

for t in $units; do
    name=${t#build/}
    out=$logdir/$(echo "$name" | tr '/' '_').log
    if [ ! -x "$t" ]; then
        echo "FAIL $name: not built" >&2
        failed=$((failed + 1))
        failures+=("$name (not built)")
        continue
    fi
    timeout "$UNIT_TIMEOUT" "$t" >"$out" 2>&1
    rc=$?
    # cmocka summary lines, one set per group:
    #   [  PASSED  ] 3 test(s).   [  FAILED  ] 1 test(s), listed below:
    #   [  SKIPPED ] 1 test(s), listed below:
    p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test\(s\)\..*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test\(s\), listed below:.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    s=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) test\(s\), listed below:.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # Crashed, timed out, sanitizer or leak report: the binary fails.
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then
        # Ran nothing recognisable and exited 0: count it as one pass.
        p=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$f" -gt 0 ]; then
        echo "FAIL $name (exit $rc):" >&2
        tail -n 60 "$out" >&2
        failures+=("$name")
    else
        printf 'ok   %s: %d passed%s\n' "$name" "$p" "$([ "$s" -gt 0 ] && echo ", $s skipped")"
    fi
done

if [ -n "${testpg_pid:-}" ]; then
    kill "$testpg_pid" 2>/dev/null
    wait "$testpg_pid" 2>/dev/null
    testpg_pid=
fi

# ---- fuzz corpus replay ----------------------------------------------------
# Every committed input of each libFuzzer target (seeds and regression
# inputs) run once under ASan+UBSan: one test per target (docs/FUZZING.md).
if [ -x tests/fuzz/replay.sh ]; then
    out=$logdir/fuzz-replay.log
    tests/fuzz/replay.sh >"$out" 2>&1
    p=$(grep -c '^ok   fuzz/' "$out")
    f=$(grep -c '^FAIL fuzz/' "$out")
    grep -E '^ok   fuzz/' "$out"
    if [ "$f" -gt 0 ]; then
        cat "$out" >&2
        mapfile -t names < <(sed -nE 's/^FAIL (fuzz\/[a-z_]+).*/\1/p' "$out")
        failures+=("${names[@]}")
    fi
    passed=$((passed + p)); failed=$((failed + f))
fi

# ---- system tests ----------------------------------------------------------
if ls tests/system/test_*.py >/dev/null 2>&1; then
    out=$logdir/pytest.log
    "$PY" -m pytest tests/system -q -rs -p no:cacheprovider 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    last=$(grep -E '^=*[ ]*[0-9]+ (passed|failed|skipped|error|errors|deselected|xfailed|xpassed)' "$out" | tail -n 1)
    p=$(grep -oE '[0-9]+ passed' <<<"$last" | grep -oE '[0-9]+' || echo 0)
    f=$(grep -oE '[0-9]+ failed' <<<"$last" | grep -oE '[0-9]+' || echo 0)
    e=$(grep -oE '[0-9]+ errors?' <<<"$last" | grep -oE '[0-9]+' || echo 0)
    s=$(grep -oE '[0-9]+ skipped' <<<"$last" | grep -oE '[0-9]+' || echo 0)
    f=$((f + e))
    # pytest exit 5 means "no tests collected": not a failure.
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    [ "$f" -gt 0 ] && failures+=("system tests (pytest exit $rc)")
fi

# ---- deploy config ---------------------------------------------------------
if [ -f docker-compose.yml ]; then
    if command -v docker-compose >/dev/null 2>&1; then
        if msg=$(timeout 60 docker-compose -f docker-compose.yml config -q 2>&1); then
            echo "ok   docker-compose config"
            passed=$((passed + 1))
        else
            echo "FAIL docker-compose config: $msg" >&2
            failed=$((failed + 1)); failures+=("docker-compose config")
        fi
    fi
    if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
        echo "skip docker compose config: the docker client has no compose plugin"
        skipped=$((skipped + 1))
    elif command -v docker >/dev/null 2>&1; then
        if msg=$(timeout 60 docker compose -f docker-compose.yml config -q 2>&1); then
            echo "ok   docker compose config"
            passed=$((passed + 1))
        else
            echo "FAIL docker compose config: $msg" >&2
            failed=$((failed + 1)); failures+=("docker compose config")
        fi
    fi
fi

if [ ${#failures[@]} -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
