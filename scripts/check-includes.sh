#!/usr/bin/env bash
# Fail on an include that points up (or sideways) between troupe's layers.
#
#   scripts/check-includes.sh
#
# The layers, each allowed to include only itself and those below it:
#
#   examples/ tests/ bench/        programs: may include anything (a test
#                                  may include an example's header)
#   isolate/                       process-isolated pools: above both
#                                  actors/ and io/
#   actors/   io/                  behaviours and I/O, siblings: neither
#                                  includes the other
#   core/                          runtime, actors' engine (never actors/, io/)
#   mailbox/                       queues (never core/)
#   base/                          platform layer: atomics, locks, fences,
#                                  refcounts (includes nothing of the tree)
#
# include/troupe/ is the public API: any layer may include it, and it
# includes only itself and system headers (never an internal header).
# An include is resolved from the path it names ("core/msg.h", or a
# relative "../core/msg.h"); a bare "x.h" is the file's own folder.
#
# It also fails when two .c files of the tree share a base name (core/pool.c
# and actors/pool.c once did): a name says which file, wherever it is cited;
# and when a header above base/ has no .c of its own name beside it: a
# header declares what one file offers the others (actors/pool.h once
# covered three files, io/io.h six). base/ has header-only files (atomics,
# locks, platform, refcounts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 - <<'PY'
import os, re, sys

RANK = {"base": 0, "mailbox": 1, "core": 2, "actors": 3, "io": 3, "isolate": 4,
        "examples": 5, "tests": 5, "bench": 5}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)

def layer_of(relpath):
    top = relpath.split("/", 1)[0]
    if top == "include":
        return "include"
    return top if top in RANK else None

def target_layer(src, inc):
    if inc.startswith("troupe/") or inc == "troupe.h":
        return "include"
    if "/" not in inc:
        return layer_of(src)  # same folder (or a system header)
    if inc.startswith("."):
        path = os.path.normpath(os.path.join(os.path.dirname(src), inc))
        return layer_of(path)
    top = inc.split("/", 1)[0]
    return top if top in RANK else None  # <sys/x.h>, <ck_pr.h>: not ours

bad = []
checked = 0
for top in list(RANK) + ["include"]:
    if not os.path.isdir(top):
        continue
    for dirpath, _, files in os.walk(top):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            src = os.path.join(dirpath, f)
            me = layer_of(src)
            text = open(src, encoding="utf-8", errors="replace").read()
            for m in INCLUDE.finditer(text):
                inc = m.group(1)
                to = target_layer(src, inc)
                checked += 1
                if to is None or to == me:
                    continue
                line = text.count("\n", 0, m.start()) + 1
                if me == "include":
                    bad.append(f"{src}:{line}: public header includes internal {inc}")
                elif to == "include":
                    continue
                elif RANK[to] > RANK[me]:
                    bad.append(f"{src}:{line}: {me}/ includes {inc} (upward: {to}/ is above {me}/)")
                elif RANK[to] == RANK[me] and me not in ("examples", "tests", "bench"):
                    bad.append(f"{src}:{line}: {me}/ includes {inc} (sideways: {to}/ is a sibling)")

if bad:
    print("check-includes: include arrows must point down "
          "(examples/tests/bench -> isolate -> actors, io -> core -> mailbox -> base):", file=sys.stderr)
    for b in bad:
        print("  " + b, file=sys.stderr)
    sys.exit(1)
print(f"check-includes: {checked} includes, every arrow points down")
PY

dups=$(git ls-files '*.c' | xargs -n1 basename | sort | uniq -d)
if [ -n "$dups" ]; then
    echo "check-includes: .c file names must be unique across the tree:" >&2
    for d in $dups; do git ls-files "*/$d" "$d" | sed 's/^/  /' >&2; done
    exit 1
fi
echo "check-includes: $(git ls-files '*.c' | wc -l) .c files, no two share a name"

orphans=$(git ls-files 'mailbox/*.h' 'core/*.h' 'actors/*.h' 'io/*.h' 'isolate/*.h' |
    while read -r h; do [ -f "${h%.h}.c" ] || echo "$h"; done)
if [ -n "$orphans" ]; then
    echo "check-includes: each internal header belongs to the .c of its name (one header per file):" >&2
    for o in $orphans; do echo "  $o has no ${o%.h}.c" >&2; done
    exit 1
fi
echo "check-includes: every internal header above base/ is one .c file's"
