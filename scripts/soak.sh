#!/usr/bin/env bash
# scripts/soak.sh - the soak (issue 14, docs/reliability.md).
#
# Runs tests/soak (build/tests/soak; `make` builds it) for SOAK_SECONDS
# (default 600: 10 minutes) of mixed load: supervised crashes and restarts,
# named sends, a pool with crashing jobs, asks with timeouts, timers, TCP on
# loopback and group churn. Every SOAK_INTERVAL seconds (10) it prints RSS,
# open fds, live actors and the message accounting; it fails on growth (RSS
# above the level after warm-up by more than SOAK_RSS_SLACK_KB, default
# 16384; fds by more than SOAK_FD_SLACK, default 8) or loss (a message sent
# and never handled nor dead-lettered). The run is under a watchdog of
# SOAK_SECONDS + 120 s.
#
#   SOAK_SECONDS=120 scripts/soak.sh [path/to/soak]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${1:-build/tests/soak}"
[ -x "$BIN" ] || { echo "soak: $BIN not built (make)" >&2; exit 2; }
export SOAK_SECONDS="${SOAK_SECONDS:-600}"
timeout -s KILL $((SOAK_SECONDS + 120)) "$BIN"
rc=$?
[ $rc -eq 137 ] && echo "soak: FAIL: hung (killed by the watchdog)"
exit $rc
