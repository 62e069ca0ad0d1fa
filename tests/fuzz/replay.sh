#!/usr/bin/env bash
# replay.sh: run every committed input of each fuzz target once (seeds and
# regression inputs, tests/fuzz/<target>/{seeds,regress}/), no fuzzing.
# Prints "ok   fuzz/<target>: N inputs" or "FAIL fuzz/<target>" with the
# sanitizer report; exits non-zero if any target failed. tests/run.sh
# counts one test per target. Usage: replay.sh [target...] (default: all).
set -uo pipefail
cd "$(dirname "$0")/../.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || read -ra targets <<<"$(make -s --no-print-directory print-FUZZ_TARGETS)"
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for t in "${targets[@]}"; do
    bin=build/fuzz/bin/$t
    mapfile -t inputs < <(find "tests/fuzz/$t/seeds" "tests/fuzz/$t/regress" -type f 2>/dev/null | sort)
    if [ ! -x "$bin" ]; then
        echo "FAIL fuzz/$t: not built (make fuzz-build)"
        failed=1
        continue
    fi
    if [ ${#inputs[@]} -eq 0 ]; then
        echo "FAIL fuzz/$t: no inputs in tests/fuzz/$t"
        failed=1
        continue
    fi
    # Given files, libFuzzer runs each once and exits non-zero on the
    # first crash, leak or sanitizer report.
    if out=$(timeout 120 "$bin" "${inputs[@]}" 2>&1); then
        echo "ok   fuzz/$t: ${#inputs[@]} inputs"
    else
        echo "FAIL fuzz/$t:"
        tail -n 40 <<<"$out"
        failed=1
    fi
done
exit $failed
