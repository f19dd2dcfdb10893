#!/usr/bin/env bash
# Install troupe into a temporary prefix and build a consumer against it:
# through CMake find_package(troupe) (troupe::troupe and troupe::troupe_static)
# and through pkg-config (shared, and static with --static), running each.
#
#   scripts/check-install.sh [BUILD_DIR]    (default: build, already built)
#
# Also fails if `pkg-config --cflags troupe` carries anything but -I (a flag
# leaked from a dependency's .pc, such as ck's -D__x86_64__).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build="${1:-${BUILD_DIR:-build}}"
[ -f "$build/libtroupe.so" ] || { echo "check-install: build $build first" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
log() { echo "[check-install] $*"; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
pcfile=$(find "$prefix" -name troupe.pc | head -n 1)
[ -n "$pcfile" ] || { echo "check-install: no troupe.pc installed" >&2; exit 1; }
libdir=$(dirname "$(dirname "$pcfile")")
log "installed into $prefix (libdir $libdir)"

# The consumer: ask an actor and check its answer.
mkdir -p "$tmp/app"
cat >"$tmp/app/app.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <troupe.h>

static int echo(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    return tr_reply_word(msg, 2, msg->word + 1);
}

int main(void) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &cfg);
    if (rc != 0) {
        fprintf(stderr, "tr_runtime_new: %s\n", tr_strerror(rc));
        return 1;
    }
    static const tr_behavior b = {.receive = echo};
    tr_ref *ref;
    tr_future *f;
    tr_msg *reply = NULL;
    int ok = tr_spawn(rt, &b, NULL, &ref) == 0;
    if (ok) {
        ok = tr_ask_word(ref, 1, 41, &f) == 0;
        if (ok) {
            ok = tr_future_wait(f, 5000, &reply) == 0 && reply->word == 42;
            if (reply != NULL)
                tr_msg_free(reply);
            tr_future_release(f);
        }
        tr_ref_release(ref);
    }
    tr_runtime_free(rt);
    puts(ok ? "consumer: ok" : "consumer: FAILED");
    return ok ? 0 : 1;
}
C
cat >"$tmp/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(troupe_consumer LANGUAGES C)
find_package(troupe 0.1 REQUIRED)
add_executable(app_shared app.c)
target_link_libraries(app_shared PRIVATE troupe::troupe)
add_executable(app_static app.c)
target_link_libraries(app_static PRIVATE troupe::troupe_static)
CM

log "CMake: find_package(troupe) with CMAKE_PREFIX_PATH=$prefix"
cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" ||
    { cat "$tmp/cmake.log" >&2; exit 1; }
cmake --build "$tmp/app/build" -j "${JOBS:-2}" >"$tmp/build.log" || { cat "$tmp/build.log" >&2; exit 1; }
"$tmp/app/build/app_shared"
"$tmp/app/build/app_static"
if readelf -d "$tmp/app/build/app_static" | grep -q 'NEEDED.*libtroupe'; then
    echo "check-install: troupe::troupe_static linked libtroupe.so" >&2
    exit 1
fi
readelf -d "$tmp/app/build/app_shared" | grep -q 'NEEDED.*libtroupe' ||
    { echo "check-install: troupe::troupe did not link libtroupe.so" >&2; exit 1; }

export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
cflags=$(pkg-config --cflags troupe)
log "pkg-config --cflags troupe: $cflags"
log "pkg-config --static --libs troupe: $(pkg-config --static --libs troupe)"
for flag in $cflags; do
    case "$flag" in
        -I*) ;;
        *) echo "check-install: pkg-config --cflags troupe leaks '$flag'" >&2; exit 1 ;;
    esac
done

log "pkg-config: shared"
# shellcheck disable=SC2046
cc -o "$tmp/app/pc_shared" "$tmp/app/app.c" $(pkg-config --cflags --libs troupe) \
    -Wl,-rpath,"$libdir"
"$tmp/app/pc_shared"
readelf -d "$tmp/app/pc_shared" | grep -q 'NEEDED.*libtroupe' ||
    { echo "check-install: the pkg-config shared link did not use libtroupe.so" >&2; exit 1; }

log "pkg-config: static (-static, pkg-config --static)"
# shellcheck disable=SC2046
cc -static -o "$tmp/app/pc_static" "$tmp/app/app.c" $(pkg-config --cflags --static --libs troupe)
"$tmp/app/pc_static"
if readelf -d "$tmp/app/pc_static" 2>/dev/null | grep -q NEEDED; then
    echo "check-install: the -static link still needs shared libraries" >&2
    exit 1
fi
log "all four consumers built and ran"
