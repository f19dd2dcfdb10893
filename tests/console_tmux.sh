#!/usr/bin/env bash
# troupe-top in tmux, against a program with known actors.
#
#   tests/console_tmux.sh TROUPE_TOP CONSOLE_FIXTURE
#
# Starts tests/console_fixture.c (a supervisor "app" with alpha, beta, gamma
# and a pool "jobs") serving its console, runs troupe-top in a detached tmux
# session of 120x40 on a private tmux server, and checks the screen
# (capture-pane): the header, the workers, the known names, the supervision
# tree; then a sort key (m: the header says "sort: mailbox"), then q: troupe-
# top must exit 0 and the session end. `troupe-top --once` must print the
# snapshot's lines with the names and exit 0, and exit 1 on a dead socket.
# Run by ctest when tmux is installed (CMakeLists.txt). Takes ~3 s.
set -euo pipefail

top="$1"
fixture="$2"
tmp=$(mktemp -d /tmp/troupe-tmux.XXXXXX)
sock="$tmp/console.sock"
server="troupe-test-$$"
fixture_pid=""

cleanup() {
    tmux -L "$server" kill-server 2>/dev/null || true
    if [ -n "$fixture_pid" ]; then kill "$fixture_pid" 2>/dev/null || true; wait "$fixture_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "console_tmux: FAIL: $*" >&2
    if [ -f "$tmp/screen" ]; then echo "---- screen ----" >&2; cat "$tmp/screen" >&2; fi
    exit 1
}

"$fixture" "$sock" 30 > "$tmp/fixture.out" &
fixture_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "the fixture did not make $sock"

# --once: plain text, a line per worker and per actor, with names.
"$top" --once "$sock" > "$tmp/once" || fail "troupe-top --once exited $?"
for name in alpha beta gamma jobs app; do
    grep -q "$name" "$tmp/once" || { cat "$tmp/once" >&2; fail "--once does not show $name"; }
done
# gamma ended with 3 messages queued (the fixture): 3 dead letters, carried
# to its restarted incarnation.
for _ in $(seq 60); do
    "$top" --once "$sock" > "$tmp/once" || fail "troupe-top --once exited $?"
    grep -q '"app/gamma" .* dead 3 restarts 1' "$tmp/once" && break
    sleep 0.05
done
grep -q '"app/gamma" .* dead 3 restarts 1' "$tmp/once" ||
    { cat "$tmp/once" >&2; fail "--once does not show gamma's 3 dead letters"; }
if "$top" --once "$tmp/nobody.sock" 2> "$tmp/err"; then fail "--once on a dead socket exited 0"; fi
grep -q "cannot connect" "$tmp/err" || fail "no clear message for a dead socket: $(cat "$tmp/err")"

# The live view.
tmux -L "$server" -f /dev/null new-session -d -s top -x 120 -y 40 \
    "TERM=xterm-256color '$top' '$sock'; echo \$? > '$tmp/rc'; sleep 30"
screen_has() { tmux -L "$server" capture-pane -p -t top > "$tmp/screen"; grep -q -- "$1" "$tmp/screen"; }
wait_screen() {
    for _ in $(seq 60); do screen_has "$1" && return 0; sleep 0.05; done
    fail "the screen does not show '$1'"
}
wait_screen "troupe-top"
wait_screen "WORKER"
for name in alpha beta gamma jobs app "SUPERVISION TREE" "sort: busy"; do wait_screen "$name"; done
# Two workers (rows "0" and "1" under WORKER).
# The tree: app at the root, alpha and jobs under it, jobs' workers under jobs.
wait_screen '^app#[0-9]*  restarts 0  \[supervisor'
wait_screen '^  `- app/alpha#[0-9]*  restarts'
wait_screen '^  `- app/jobs#[0-9]*  restarts 0  \[pool'
wait_screen '^    `- jobs\[2\]#[0-9]*  restarts'
# DEAD (the 6th column) of gamma: 3; RESTARTS: 1.
wait_screen '^app/gamma#[0-9]* '
grep -Eq '^app/gamma#[0-9]+ +[0-9.]+% +[0-9.]+ +[0-9>]+ +[0-9]+ +3 +1 ' "$tmp/screen" ||
    { cat "$tmp/screen" >&2; fail "the DEAD column does not show gamma's 3"; }
grep -Eq '^0 +[0-9.]+%' "$tmp/screen" || fail "no row for worker 0"
grep -Eq '^1 +[0-9.]+%' "$tmp/screen" || fail "no row for worker 1"
cp "$tmp/screen" "$tmp/first"

tmux -L "$server" send-keys -t top m
wait_screen "sort: mailbox"
tmux -L "$server" send-keys -t top q
for _ in $(seq 60); do [ -f "$tmp/rc" ] && break; sleep 0.05; done
[ -f "$tmp/rc" ] || fail "troupe-top did not exit on q"
[ "$(cat "$tmp/rc")" = 0 ] || fail "troupe-top exited $(cat "$tmp/rc")"

kill "$fixture_pid"
wait "$fixture_pid" || fail "the fixture exited $?"
fixture_pid=""
[ ! -e "$sock" ] || fail "the socket was not removed at free"
if [ -n "${CONSOLE_TMUX_SHOW:-}" ]; then cat "$tmp/first"; fi
echo "console_tmux: ok"
