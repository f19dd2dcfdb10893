#!/usr/bin/env bash
# Every C block of README.md and docs/*.md compiles; the complete programs run.
#
#   scripts/check-docs.sh [BUILD_DIR]     (default: build; needs BUILD_DIR/libtroupe.a)
#
# Blocks are compiled with -Wall -Wextra -Werror against include/ (fragments
# wrapped as scripts/check-docs.py explains; `<!-- no-compile -->` just above
# a block skips it, `<!-- context: ... -->` supplies the declarations a
# fragment takes from elsewhere on its page). Blocks with a main() are linked
# against the static library and run; each must exit 0.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build="${1:-${BUILD_DIR:-build}}"
lib="$build/libtroupe.a"
if [ ! -f "$lib" ]; then
    echo "check-docs: $lib not found (build the library first)" >&2
    exit 2
fi
TROUPE_STATIC_LIB="$lib" exec python3 scripts/check-docs.py
