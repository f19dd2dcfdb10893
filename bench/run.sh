#!/usr/bin/env bash
# bench/run.sh - run the troupe benchmarks and print a summary table.
#
#   bash bench/run.sh              every workload REPEAT (5) times, default sizes
#   QUICK=1 bash bench/run.sh      every workload once, with small sizes
#
# Environment:
#   BUILD_DIR   build tree holding bench/ (default: build); configured
#               RelWithDebInfo if it does not exist, bench targets rebuilt
#   NO_BUILD=1  use the binaries as they are
#   THREADS     worker threads (default: number of cores)
#   REPEAT      runs per workload (default 5; QUICK=1 makes it 1)
#   ONLY        space-separated subset of workloads to run (e.g. "ring fanin")
#   OUT         where the table is saved (default: bench/results/latest.txt)
#
# Every run prints one WORKLOADS.md result line; all raw lines go to
# $OUT.raw. Peak RSS comes from /usr/bin/time -v (max over the runs). The
# table shows median/min/max rate, the fraction of the matching floor
# (measured in the same session) and the project's target. The floors
# include the cost of one cross-core cache-line transfer, also measured right
# after every fanin and forkjoin run: on a shared host it moves with the
# neighbours' load, and those two workloads move with it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
BIN="$BUILD_DIR/bench"
THREADS="${THREADS:-$(nproc)}"
QUICK="${QUICK:-0}"
if [ "$QUICK" = 1 ]; then REPEAT="${REPEAT:-1}"; else REPEAT="${REPEAT:-5}"; fi
OUT="${OUT:-$ROOT/bench/results/latest.txt}"
ONLY="${ONLY:-}"

# Build (or bring up to date) the benchmark programs, unless NO_BUILD=1.
if [ "${NO_BUILD:-0}" != 1 ]; then
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        echo "run.sh: configuring $BUILD_DIR (RelWithDebInfo)" >&2
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    targets="bench_troupe bench_floor"
    [ -f "$ROOT/bench/bench_pool.c" ] && targets="$targets bench_pool"
    [ -f "$ROOT/bench/bench_ipool.c" ] && targets="$targets bench_ipool"
    # shellcheck disable=SC2086
    cmake --build "$BUILD_DIR" -j 2 --target $targets >/dev/null
fi
BUILD_TYPE="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)"
case "$BUILD_TYPE" in
RelWithDebInfo | Release) ;;
*) echo "run.sh: warning: $BUILD_DIR is a '${BUILD_TYPE:-?}' build; figures need RelWithDebInfo" >&2 ;;
esac

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
    echo "run.sh: /usr/bin/time missing (apt-get install -y time); RSS not measured" >&2
    TIME=""
fi

# name | command | args (full) | args (quick) | units per rate (for floors)
# Sizes follow /work/shared/bench/WORKLOADS.md.
WORKLOADS=(
    "floor_mailbox|bench_floor mailbox|50000000|5000000"
    "floor_compute|bench_floor compute|6400000 $THREADS|640000 $THREADS"
    "floor_wakeup|bench_floor wakeup|2000|200"
    "floor_transfer|bench_floor transfer|1000000|100000"
    "floor_populate|bench_floor populate|512 $THREADS|64 $THREADS"
    "pingpong|bench_troupe pingpong|1000000 $THREADS|100000 $THREADS"
    "ring|bench_troupe ring|10000000 $THREADS|1000000 $THREADS"
    "pingpong_ct|bench_troupe pingpong_ct|1000000|100000"
    "ring_ct|bench_troupe ring_ct|10000000|1000000"
    "skynet|bench_troupe skynet|1000000 $THREADS|100000 $THREADS"
    "fanin|bench_troupe fanin|10000000 $THREADS|1000000 $THREADS"
    "fanin_bounded|bench_troupe fanin_bounded|10000000 $THREADS|1000000 $THREADS"
    "fanin_lanes|bench_troupe fanin_lanes|10000000 $THREADS|1000000 $THREADS"
    "forkjoin|bench_troupe forkjoin|6400000 $THREADS|640000 $THREADS"
    "pool|bench_pool|1000000 $THREADS|100000 $THREADS"
    "ipool|bench_ipool|1000000 $THREADS|100000 $THREADS"
    "transfer|bench_troupe transfer|100000 $THREADS|10000 $THREADS"
    "live|bench_troupe live|1000000 $THREADS|100000 $THREADS"
    "idle|bench_troupe idle|5 $THREADS|1 $THREADS"
    "wakeup|bench_troupe wakeup|2000 $THREADS|200 $THREADS"
)

mkdir -p "$(dirname "$OUT")"
RAW="$OUT.raw"
: >"$RAW"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# field <line> <key>: the value of key=value in a result line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1; }

# stats <file of numbers>: "median min max"
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- - -"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m, v[1], v[NR] }'
}

# expected_check <workload> <n>: the check value a correct run prints.
expected_check() {
    case "$1" in
    pingpong | pingpong_ct | fanin | fanin_bounded | fanin_lanes | forkjoin | live | floor_* | wakeup) echo "$2" ;;
    ring | ring_ct) echo $(($2 % 503 + 1)) ;;
    skynet) echo $(($2 * ($2 - 1) / 2)) ;;
    transfer) echo 1000000000 ;; # the total balance, unchanged
    pool) echo "$2,restarts=$(($2 / 10000 + ($2 % 10000 > 0)))" ;;
    ipool) echo "$2,crashes=$(($2 / 10000 + ($2 % 10000 > 0)))" ;;
    *) echo "" ;;
    esac
}

declare -A MED MIN MAX RSS CHECK EXTRA PAIR XFER
BAD=""
for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r name cmd full quick <<<"$spec"
    if [ -n "$ONLY" ] && ! grep -qw -- "$name" <<<"$ONLY" && [[ "$name" != floor_* ]]; then
        continue
    fi
    if [ "$name" = floor_transfer ] && [ "$(nproc)" -lt 2 ]; then
        continue # needs two CPUs
    fi
    exe="${cmd%% *}"
    if [ ! -x "$BIN/$exe" ]; then
        echo "run.sh: $exe not built, skipping $name" >&2
        continue
    fi
    args="$full"
    [ "$QUICK" = 1 ] && args="$quick"
    : >"$TMP/rates"
    : >"$TMP/extra"
    : >"$TMP/pair"
    : >"$TMP/xfer"
    rss=0
    for ((i = 1; i <= REPEAT; i++)); do
        # shellcheck disable=SC2086
        if [ -n "$TIME" ]; then
            line="$("$TIME" -v -o "$TMP/time" "$BIN/$exe" ${cmd#"$exe"} $args)" || line=""
            kb="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time")"
            [ "${kb:-0}" -gt "$rss" ] && rss="$kb"
        else
            line="$("$BIN/$exe" ${cmd#"$exe"} $args)" || line=""
        fi
        if [ -z "$line" ]; then
            echo "run.sh: $name run $i failed" >&2
            BAD="$BAD $name(failed)"
            continue
        fi
        echo "$line" | tee -a "$RAW" >&2
        field "$line" rate >>"$TMP/rates"
        CHECK[$name]="$(field "$line" check)"
        want="$(expected_check "$name" "$(field "$line" n)")"
        if [ -n "$want" ] && [ "${CHECK[$name]}" != "$want" ]; then
            echo "run.sh: $name: check=${CHECK[$name]}, expected $want" >&2
            BAD="$BAD $name"
        fi
        if [ "$name" = forkjoin ]; then
            # Pair each run with a compute floor run taken right after it, so
            # the fraction survives a machine whose load changes over time.
            # shellcheck disable=SC2086
            fl="$("$BIN/bench_floor" compute $args)" || fl=""
            echo "$fl" | tee -a "$RAW" >&2
            fr="$(field "$fl" rate)"
            [ -n "$fr" ] && awk -v a="$(field "$line" rate)" -v b="$fr" \
                'BEGIN { if (b > 0) print 100 * a / b }' >>"$TMP/pair"
        fi
        if { [ "$name" = fanin ] || [ "$name" = forkjoin ]; } && [ "$(nproc)" -ge 2 ]; then
            # Their messages cross cores: note what a line transfer cost
            # just then (it moves 4x between phases on a shared host).
            xl="$("$BIN/bench_floor" transfer 200000)" || xl=""
            echo "$xl" | tee -a "$RAW" >&2
            field "$xl" ns_per_transfer >>"$TMP/xfer"
        fi
        case "$name" in
        wakeup | floor_wakeup) echo "$(field "$line" p50_us) $(field "$line" p99_us)" >>"$TMP/extra" ;;
        live) echo "$(field "$line" spawn_rate) $(field "$line" bytes_per_actor)" >>"$TMP/extra" ;;
        fanin_bounded) field "$line" peak_rss_kb >>"$TMP/extra" ;;
        floor_transfer) field "$line" ns_per_transfer >>"$TMP/xfer" ;;
        floor_populate) field "$line" actors_per_s_at_192B >>"$TMP/extra" ;;
        esac
    done
    [ -s "$TMP/rates" ] || continue
    read -r "MED[$name]" "MIN[$name]" "MAX[$name]" < <(stats "$TMP/rates")
    if [ -s "$TMP/pair" ]; then
        read -r "PAIR[$name]" _ _ < <(stats "$TMP/pair")
    fi
    if [ -s "$TMP/xfer" ]; then
        read -r med lo hi < <(stats "$TMP/xfer")
        XFER[$name]="$med $lo $hi"
    fi
    RSS[$name]="$rss"
    if [ "$name" = floor_populate ]; then # median spawns/s fresh memory allows at 192 B (the idle actor's block)
        EXTRA[$name]="$(sort -g "$TMP/extra" | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')"
    fi
    if [ "$name" = live ]; then
        # median spawn rate over the runs, and the worst bytes per actor
        sr="$(cut -d' ' -f1 "$TMP/extra" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')"
        bpa="$(cut -d' ' -f2 "$TMP/extra" | sort -g | tail -n1)"
        EXTRA[$name]="$sr $bpa"
    fi
    if [ "$name" = fanin_bounded ]; then # the worst in-process peak RSS (KB)
        EXTRA[$name]="$(sort -g "$TMP/extra" | tail -n1)"
    fi
    if [ "$name" = wakeup ] || [ "$name" = floor_wakeup ]; then
        # median over runs of each run's p50, and the worst p99
        p50="$(cut -d' ' -f1 "$TMP/extra" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')"
        p99="$(cut -d' ' -f2 "$TMP/extra" | sort -g | tail -n1)"
        EXTRA[$name]="p50=${p50}us p99=${p99}us"
    fi
done

# ratio <a> <b> [scale]: a*scale/b as a percentage, or "-"
ratio() {
    if [ -z "${1:-}" ] || [ -z "${2:-}" ] || [ "$1" = - ] || [ "$2" = - ]; then echo "-"; return; fi
    awk -v a="$1" -v b="$2" -v s="${3:-1}" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a * s / b; else print "-" }'
}
human() { # rates in M/s with 2 decimals
    [ -z "${1:-}" ] || [ "$1" = - ] && { echo "-"; return; }
    awk -v r="$1" 'BEGIN { if (r >= 1e5) printf "%.2fM", r / 1e6; else printf "%.4g", r }'
}
mb() { [ -z "${1:-}" ] || [ "$1" = 0 ] && { echo "-"; return; }; awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
meets() { # meets <value> <op> <target>
    [ -z "${1:-}" ] || [ "$1" = - ] && { echo "-"; return; }
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "yes" : "NO" }'
}

FM="${MED[floor_mailbox]:-}"
FC="${MED[floor_compute]:-}"
{
    echo "# troupe benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
        "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r)"
    echo "# threads=$THREADS runs=$REPEAT quick=$QUICK build=$(basename "$BUILD_DIR")" \
        "build_type=${BUILD_TYPE:-?} load=$(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' \
        workload unit median min max rss_MB vs_floor target met
    row() { # name unit vs_floor target_text value_for_target op target
        local n="$1"
        [ -n "${MED[$n]:-}" ] || return 0
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' "$n" "$2" \
            "$(human "${MED[$n]}")" "$(human "${MIN[$n]}")" "$(human "${MAX[$n]}")" \
            "$(mb "${RSS[$n]}")" "$3" "$4" "$(meets "$5" "$6" "$7")"
    }
    row floor_mailbox "msgs/s" "-" "-" "-" ">=" 0
    row floor_compute "computations/s" "-" "-" "-" ">=" 0
    if [ -n "${XFER[floor_transfer]:-}" ]; then
        read -r med lo hi <<<"${XFER[floor_transfer]}"
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' floor_transfer "ns per transfer" \
            "${med}" "${lo}" "${hi}" "$(mb "${RSS[floor_transfer]}")" "-" "-" "-"
    fi
    if [ -n "${MED[floor_populate]:-}" ]; then # rate is MB/s; the bound on live's spawns
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' floor_populate "MB/s populated" \
            "${MED[floor_populate]}" "${MIN[floor_populate]}" "${MAX[floor_populate]}" \
            "$(mb "${RSS[floor_populate]}")" "$(human "${EXTRA[floor_populate]:-}") at 192B" "-" "-"
    fi
    row pingpong "round trips/s" "$(ratio "${MED[pingpong]:-}" "$FM" 2) (2 msgs)" ">= 12M" \
        "${MED[pingpong]:-}" ">=" 12e6
    row ring "hops/s" "$(ratio "${MED[ring]:-}" "$FM")" ">= 19M" "${MED[ring]:-}" ">=" 19e6
    row pingpong_ct "round trips/s" "$(ratio "${MED[pingpong_ct]:-}" "$FM" 2) (2 msgs)" \
        "- (current-thread)" "-" ">=" 0
    row ring_ct "hops/s" "$(ratio "${MED[ring_ct]:-}" "$FM")" "- (current-thread)" "-" ">=" 0
    if [ -n "${MED[skynet]:-}" ]; then
        rss_ok="$(meets "$(mb "${RSS[skynet]}")" "<=" 26)"
        rate_ok="$(meets "${MED[skynet]}" ">=" 7.4e6)"
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' skynet "actors/s" \
            "$(human "${MED[skynet]}")" "$(human "${MIN[skynet]}")" "$(human "${MAX[skynet]}")" \
            "$(mb "${RSS[skynet]}")" "-" ">= 7.4M, <= 26 MB" "rate:$rate_ok rss:$rss_ok"
    fi
    row fanin "msgs/s" "$(ratio "${MED[fanin]:-}" "$FM")" ">= 35M" "${MED[fanin]:-}" ">=" 35e6
    if [ -n "${MED[fanin_bounded]:-}" ]; then
        # peak RSS: the program's own high-water mark (getrusage), in MB
        brss="$(mb "${EXTRA[fanin_bounded]:-0}")"
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' fanin_bounded "msgs/s" \
            "$(human "${MED[fanin_bounded]}")" "$(human "${MIN[fanin_bounded]}")" \
            "$(human "${MAX[fanin_bounded]}")" "$brss" "$(ratio "${MED[fanin_bounded]}" "$FM")" \
            ">= 25M, <= 10 MB" "rate:$(meets "${MED[fanin_bounded]}" ">=" 25e6) rss:$(meets "$brss" "<=" 10)"
    fi
    row fanin_lanes "msgs/s" "$(ratio "${MED[fanin_lanes]:-}" "$FM")" "(opt-in lanes) -" \
        "-" ">=" 0
    fj_frac="$(ratio "${MED[forkjoin]:-}" "$FC")"
    fj_val="${fj_frac%\%}"
    if [ -n "${PAIR[forkjoin]:-}" ]; then # median of per-run paired fractions
        fj_val="${PAIR[forkjoin]}" # unrounded: 94.6 does not meet 95
        fj_frac="$(awk -v p="$fj_val" 'BEGIN { printf "%.1f", p }')% (paired)"
    fi
    row forkjoin "msgs/s" "$fj_frac" ">= 95% of floor" "$fj_val" ">=" 95
    row pool "jobs/s" "$(ratio "${MED[pool]:-}" "$FC")" ">= 1M" "${MED[pool]:-}" ">=" 1e6
    row ipool "jobs/s" "$(ratio "${MED[ipool]:-}" "${MED[pool]:-}") of pool" ">= 250K" \
        "${MED[ipool]:-}" ">=" 2.5e5
    row transfer "transfers/s" "-" ">= 1.6M" "${MED[transfer]:-}" ">=" 1.6e6
    if [ -n "${EXTRA[live]:-}" ]; then
        read -r sr bpa <<<"${EXTRA[live]}"
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' live "spawns/s" \
            "$(human "$sr")" "-" "-" "$(mb "${RSS[live]}")" "${bpa} B/actor" \
            ">= 5M, <= 256 B" "rate:$(meets "$sr" ">=" 5e6) size:$(meets "$bpa" "<=" 256)"
    fi
    if [ -n "${MED[idle]:-}" ]; then
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' idle "% of one core" \
            "${MED[idle]}" "${MIN[idle]}" "${MAX[idle]}" "$(mb "${RSS[idle]}")" "-" "<= 0.1%" \
            "$(meets "${MED[idle]}" "<=" 0.1)"
    fi
    for n in floor_wakeup wakeup; do
        [ -n "${EXTRA[$n]:-}" ] || continue
        p50="${EXTRA[$n]#p50=}"
        p50="${p50%%us*}"
        tgt="median <= 20us"
        met="$(meets "$p50" "<=" 20)"
        [ "$n" = floor_wakeup ] && tgt="-" && met="-"
        printf '%-14s %-16s %9s %9s %9s %8s %-16s %-22s %s\n' "$n" "latency (p50)" \
            "${p50}us" "-" "-" "$(mb "${RSS[$n]}")" "p99=${EXTRA[$n]##*p99=}" "$tgt" "$met"
    done
    xf=""
    for n in fanin forkjoin; do
        [ -n "${XFER[$n]:-}" ] && xf="$xf $n=$(cut -d' ' -f1 <<<"${XFER[$n]}")ns"
    done
    [ -n "$xf" ] && echo "# cross-core line transfer measured right after each run (median):$xf"
    echo "# checks: $(for n in "${!CHECK[@]}"; do printf '%s=%s ' "$n" "${CHECK[$n]}"; done)"
    if [ -n "$BAD" ]; then echo "# WRONG CHECK:$BAD"; else echo "# all checks as expected"; fi
} | tee "$OUT"
echo "run.sh: table saved to $OUT (raw lines in $RAW)" >&2
[ -z "$BAD" ]
