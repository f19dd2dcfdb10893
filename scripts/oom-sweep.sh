#!/usr/bin/env bash
# scripts/oom-sweep.sh - the allocation-failure sweep (issue 14, docs/reliability.md).
#
# Runs tests/oom/oom_sweep (an ASan build's) once per N, in both modes:
#   once: only allocation N fails;   from: allocation N and every later one fail.
# N goes from 1 to the number of allocations a clean run makes (counted
# first, plus a margin), every STEP-th N. Each run is under a watchdog. A run
# fails the sweep on: a signal (crash), a timeout (hang), an ASan/UBSan/LSan
# report (leaks included), or a non-zero status (the program's own checks:
# an ask that never settled, a request never answered, a failed free).
#
#   scripts/oom-sweep.sh [--bin PATH] [--step K] [--modes "once from"] [--timeout S]
#
# Default bin: build-asan/tests/oom_sweep (make asan builds it). CI (the
# oom_sweep_sample ctest of the ASan build) runs --step 3; the full sweep is
# --step 1 (the default). Failed runs' output is kept in $OUT (default
# a temporary directory, printed at the end).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=build-asan/tests/oom_sweep
STEP=1
MODES="once from"
TIMEOUT=30
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) BIN="$2"; shift 2 ;;
    --step) STEP="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--bin PATH] [--step K] [--modes \"once from\"] [--timeout S]" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "oom-sweep: $BIN not built (make asan)" >&2; exit 2; }
OUT="${OUT:-$(mktemp -d /tmp/oom-sweep.XXXXXX)}"
mkdir -p "$OUT"

# Sanitizers: any report is fatal and exits with 66; leaks are checked.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=66:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=66"
export LSAN_OPTIONS="exitcode=66"

total=$(OOM_COUNT=1 timeout "$TIMEOUT" "$BIN" | awk '/^allocations/ {print $2}')
if [ -z "$total" ]; then
    echo "oom-sweep: the counting run failed" >&2
    exit 1
fi
last=$((total + total / 10 + 5)) # runs differ a little from one to the next
echo "oom-sweep: $BIN, a clean run makes $total allocations; N = 1..$last step $STEP, modes: $MODES"

start=$(date +%s)
runs=0
bad=0
for mode in $MODES; do
    for ((n = 1; n <= last; n += STEP)); do
        log="$OUT/$mode-$n.log"
        OOM_FAIL_AT=$n OOM_MODE=$mode timeout -s KILL "$TIMEOUT" "$BIN" >"$log" 2>&1
        rc=$?
        runs=$((runs + 1))
        why=""
        if [ $rc -eq 137 ]; then why="hang (killed after ${TIMEOUT}s)"
        elif [ $rc -eq 66 ]; then why="sanitizer report"
        elif [ $rc -gt 128 ]; then why="signal $((rc - 128))"
        elif [ $rc -ne 0 ]; then why="exit $rc"
        elif grep -q "Sanitizer\|runtime error:" "$log"; then why="sanitizer report"
        fi
        if [ -n "$why" ]; then
            bad=$((bad + 1))
            echo "FAIL $mode N=$n: $why ($log)"
            grep -m 5 "oom_sweep:\|ERROR\|SUMMARY\|runtime error" "$log" | sed 's/^/    /'
        else
            rm -f "$log"
        fi
    done
done
echo "oom-sweep: $runs runs, $bad failed, $(( $(date +%s) - start ))s (logs of failures: $OUT)"
[ $bad -eq 0 ] && rmdir "$OUT" 2>/dev/null
[ $bad -eq 0 ]
