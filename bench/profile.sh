#!/usr/bin/env bash
# bench/profile.sh - where the time goes, repeatably (see docs/performance.md).
#
#   bash bench/profile.sh [workload ...]     default: pingpong ring skynet fanin
#
# For each workload: callgrind on a small size (instruction counts, stable on
# a loaded machine), start-up subtracted, printed per message (per actor for
# skynet) with the top functions by self cost; then, if `perf` works, a
# cpu-clock sample profile of a larger run (wall time: atomics, cache misses
# and spinning show up here, not in callgrind). Outputs in $OUT_DIR.
#
# Environment: BUILD_DIR (default build), THREADS (default 2), OUT_DIR
# (default /tmp/troupe-profile), TOP (functions shown, default 15).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
BIN="$BUILD_DIR/bench/bench_troupe"
THREADS="${THREADS:-2}"
OUT_DIR="${OUT_DIR:-/tmp/troupe-profile}"
TOP="${TOP:-15}"
mkdir -p "$OUT_DIR"

if [ ! -x "$BIN" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j 2 --target bench_troupe >/dev/null
fi
command -v valgrind >/dev/null || { echo "profile.sh: valgrind not installed" >&2; exit 1; }

# workload -> "callgrind size | units per run | perf size"
declare -A SIZES=(
    [pingpong]="100000|200000|2000000"     # units: messages (2 per round trip)
    [ring]="200000|200000|3000000"         # hops
    [skynet]="100000|111111|1000000"       # actors
    [fanin]="200000|200000|2000000"        # messages
    [fanin_bounded]="200000|200000|2000000"
    [forkjoin]="64000|64000|3200000"       # jobs
)

collected() { sed -n 's/.*Collected : //p' "$1" | tr -d ','; }

WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -gt 0 ] || WORKLOADS=(pingpong ring skynet fanin)

perf_ok=0
if command -v perf >/dev/null && perf record -e cpu-clock -o /dev/null true >/dev/null 2>&1; then
    perf_ok=1
fi

for w in "${WORKLOADS[@]}"; do
    spec="${SIZES[$w]:-}"
    if [ -z "$spec" ]; then
        echo "profile.sh: no sizes for '$w'" >&2
        continue
    fi
    IFS='|' read -r n units perf_n <<<"$spec"
    base_n=1
    case "$w" in
    fanin | fanin_bounded) base_n=4 ;; # one per sender thread
    forkjoin) base_n=64 ;;             # one per worker
    esac
    echo "=== $w (callgrind n=$n, threads=$THREADS)"
    valgrind --tool=callgrind --callgrind-out-file="$OUT_DIR/$w.cg" \
        "$BIN" "$w" "$n" "$THREADS" 2>"$OUT_DIR/$w.cg.log" | sed 's/^/  /'
    valgrind --tool=callgrind --callgrind-out-file="$OUT_DIR/$w.base.cg" \
        "$BIN" "$w" "$base_n" "$THREADS" >/dev/null 2>"$OUT_DIR/$w.base.cg.log"
    total="$(collected "$OUT_DIR/$w.cg.log")"
    base="$(collected "$OUT_DIR/$w.base.cg.log")"
    awk -v t="$total" -v b="$base" -v u="$units" \
        'BEGIN { printf "  %.0f instructions per unit (%d total, %d start-up)\n", (t - b) / u, t, b }'
    echo "  top functions, self instructions per unit:"
    callgrind_annotate --inclusive=no "$OUT_DIR/$w.cg" 2>/dev/null |
        sed -n '/^Ir/,$p' | grep -E '^ *[0-9,]+ \(' | grep -v 'PROGRAM TOTALS' |
        head -n "$TOP" |
        awk -v u="$units" '{ gsub(",", "", $1); fn = $NF; if (fn ~ /^\[/) fn = $(NF-1);
            sub(".*/", "", fn); printf "    %7.1f  %s\n", $1 / u, fn }' || true
    if [ "$perf_ok" = 1 ]; then
        echo "  perf (cpu-clock, n=$perf_n):"
        perf record -q -e cpu-clock -o "$OUT_DIR/$w.perf" "$BIN" "$w" "$perf_n" "$THREADS" 2>/dev/null |
            sed 's/^/    /'
        perf report -i "$OUT_DIR/$w.perf" --no-children --stdio -g none --sort sym 2>/dev/null |
            grep '%' | head -n "$TOP" | sed 's/^/    /' || true
    fi
done
echo "profile.sh: callgrind and perf files in $OUT_DIR (callgrind_annotate, perf report/annotate)"
