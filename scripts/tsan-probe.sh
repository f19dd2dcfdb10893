#!/usr/bin/env bash
# Print the command prefix needed to run ThreadSanitizer binaries here.
#
# Some newer kernels randomise mmap addresses more widely than older TSan
# runtimes (gcc 12's libtsan) accept; TSan then dies with "unexpected memory
# mapping". Running with ASLR disabled (`setarch <arch> -R`) works around it.
# Prints nothing when TSan works as is, or "setarch <arch> -R" when needed.
# Diagnostics go to stderr.
set -euo pipefail

cc="${CC:-cc}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/probe.c" <<'C'
#include <pthread.h>
static int shared;
static void *worker(void *arg) { shared = 1; return arg; }
int main(void)
{
    pthread_t t;
    if (pthread_create(&t, 0, worker, 0) != 0)
        return 2;
    pthread_join(t, 0);
    return shared == 1 ? 0 : 3;
}
C

if ! "$cc" -fsanitize=thread -pthread -o "$tmp/probe" "$tmp/probe.c" >"$tmp/cc.log" 2>&1; then
    echo "[tsan-probe] cannot build a TSan binary with $cc:" >&2
    cat "$tmp/cc.log" >&2
    exit 0
fi

if "$tmp/probe" >"$tmp/run.log" 2>&1; then
    echo "[tsan-probe] TSan runs without workarounds" >&2
    exit 0
fi

if grep -q "unexpected memory mapping" "$tmp/run.log"; then
    arch=$(uname -m)
    if setarch "$arch" -R "$tmp/probe" >"$tmp/run2.log" 2>&1; then
        echo "[tsan-probe] TSan needs ASLR disabled: using 'setarch $arch -R'" >&2
        echo "setarch $arch -R"
        exit 0
    fi
    echo "[tsan-probe] TSan fails even under 'setarch $arch -R':" >&2
    cat "$tmp/run2.log" >&2
    echo "[tsan-probe] hint: as root, 'sysctl vm.mmap_rnd_bits=28' also works around it" >&2
    exit 0
fi

echo "[tsan-probe] trivial TSan binary failed:" >&2
cat "$tmp/run.log" >&2
exit 0
