#!/usr/bin/env bash
# Check libtroupe.so's exported symbols against the public headers.
#
#   scripts/check-exports.sh [path/to/libtroupe.so]   (default: build/libtroupe.so)
#
# Fails when the shared library exports a symbol that no header in
# include/troupe/ declares with TR_EXTERN (an internal tr__ helper, a stray
# global, a function that lost its `static`), or when a TR_EXTERN declaration
# has no exported definition (the public API would not link). The library is
# built with hidden visibility (CMakeLists.txt), so only TR_EXTERN reaches
# the dynamic symbol table.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

lib="${1:-build/libtroupe.so}"
if [ ! -f "$lib" ]; then
    echo "check-exports: $lib not found (build first)" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Exported, defined symbols of any kind (functions, data).
nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/exported"

# Functions the public headers declare (comments and preprocessor lines
# stripped, a declaration may span lines; static inline helpers are not
# exported). A declaration without TR_EXTERN would be hidden: it is listed
# apart and fails the check.
python3 - include/troupe/*.h >"$tmp/declared" 2>"$tmp/unmarked" <<'PY'
import re, sys
names = set()
for path in sys.argv[1:]:
    text = re.sub(r"/\*.*?\*/", " ", open(path).read(), flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)  # preprocessor lines
    for stmt in re.split(r"[;{}]", text):
        stmt = " ".join(stmt.split())
        m = re.match(r"^(TR_EXTERN\s+)?([A-Za-z_][\w\s\*]*?)\b(tr_\w+)\s*\(", stmt)
        if not m or re.match(r"(typedef|static|return)\b", stmt) or "=" in stmt.split("(")[0]:
            continue
        names.add(m.group(3))
        if not m.group(1):
            print(f"{path}: {m.group(3)}", file=sys.stderr)
print("\n".join(sorted(names)))
PY

status=0
if [ -s "$tmp/unmarked" ]; then
    echo "check-exports: public declarations without TR_EXTERN (hidden in libtroupe.so):" >&2
    sed 's/^/  /' "$tmp/unmarked" >&2
    status=1
fi
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
    echo "check-exports: $lib exports symbols no public header declares:" >&2
    echo "$extra" | sed 's/^/  /' >&2
    status=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then
    echo "check-exports: public declarations with no exported definition:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    status=1
fi
bad=$(grep -v '^tr_[a-z0-9]' "$tmp/declared" || true)
if [ -n "$bad" ]; then
    echo "check-exports: public declarations without the tr_ prefix (or with tr__):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "check-exports: $(wc -l <"$tmp/exported") exported symbols, all declared TR_EXTERN in include/troupe/"
fi
exit "$status"
