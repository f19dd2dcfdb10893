#!/usr/bin/env python3
"""Compile every ```c block of README.md and docs/*.md (scripts/check-docs.sh).

Each block is checked with -Wall -Wextra -Werror -fsyntax-only against
include/ (a fragment without the unused-* warnings: what it declares may be
used further on in its page). How a block is compiled:

  - it has `main(` or an #include: as a translation unit of its own; one with
    main is also linked against the static library and run (it must exit 0);
  - otherwise it is a fragment: its file-scope parts (#directives, static
    functions and data, typedefs, enums, prototypes, function definitions)
    stay at file scope, the rest becomes the body of a function
    `static int doc_fragment(void)` (inside `switch (msg->type)` when the
    fragment is a list of `case` labels), after a prelude that includes the
    usual headers and troupe.h and declares the names the docs use without
    defining them (rt, ctx, state, msg, ref, self);
  - a `<!-- context: ... -->` comment just above the block adds file-scope
    declarations the fragment uses but the page defines elsewhere (invisible
    on the rendered page, compiled with the block);
  - a `<!-- no-compile -->` line just above the block skips it (for the few
    fragments that cannot stand alone).

docs/reference.md is skipped: it is generated from the public headers, and
each public header is compiled on its own here instead (self-contained).
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
CC = os.environ.get("CC", "cc")
CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "include")]

# A fragment shows part of a program: what it declares may be used elsewhere
# on the page, so only the unused-* warnings are off for fragments.
FRAGMENT_FLAGS = ["-Wno-unused-parameter", "-Wno-unused-variable",
                  "-Wno-unused-but-set-variable", "-Wno-unused-function"]

PRELUDE = """\
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <troupe.h>
/* Names the docs use without defining them. */
static tr_runtime *rt __attribute__((unused));
static tr_ctx *ctx __attribute__((unused));
static void *state __attribute__((unused));
static tr_msg *msg __attribute__((unused));
static tr_ref *ref __attribute__((unused));
static tr_ref *self __attribute__((unused));
"""

STATEMENT = re.compile(r"^(if|for|while|switch|return|case|default|else|do|goto|break)\b")
FILE_SCOPE = re.compile(r"^(#|static\b|typedef\b|enum\b|extern\b|struct\s+\w+\s*\{)")
FUNC_HEAD = re.compile(r"^[A-Za-z_][\w\s\*]*[\s\*]\w+\s*$")  # `int f`, `tr_ref *f`


def is_file_scope(line):
    """Whether a chunk starting with line belongs at file scope."""
    if line[0].isspace() or STATEMENT.match(line):
        return False
    if FILE_SCOPE.match(line):
        return True
    # A prototype or function definition: `type name(params)`, no `=` before
    # the parenthesis (`int rc = f(x);` and `f(x);` are statements).
    head = line.split("(", 1)[0]
    return "(" in line and "=" not in head and FUNC_HEAD.match(head) is not None


def blocks(path):
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"^\s*```c\s*$", lines[i]):  # a fence, also inside a list item
            j = i + 1
            while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
                j += 1
            # What stands just above the block: a marker or a context comment.
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            above = ""
            if k >= 0 and lines[k].strip().endswith("-->"):
                s = k
                while s >= 0 and "<!--" not in lines[s]:
                    s -= 1
                above = "\n".join(lines[s:k + 1]).strip()
            yield i + 1, textwrap.dedent("\n".join(lines[i + 1:j])), above
            i = j
        i += 1


def split_fragment(code):
    """File-scope chunks and body statements of a fragment, in order."""
    top, body = [], []
    lines = code.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        # A chunk: from this line until braces balance and it ends a statement
        # or a definition (or, for a #directive, the line itself).
        chunk = [line]
        depth = line.count("{") - line.count("}")
        paren = line.count("(") - line.count(")")
        j = i
        if not line.startswith("#"):
            while j + 1 < len(lines) and (depth > 0 or paren > 0 or not (
                    re.sub(r"/\*.*?\*/|//.*", "", lines[j]).rstrip().endswith((";", "}", "*/"))
                    or not lines[j].strip())):
                j += 1
                chunk.append(lines[j])
                depth += lines[j].count("{") - lines[j].count("}")
                paren += lines[j].count("(") - lines[j].count(")")
        text = "\n".join(chunk)
        (top if is_file_scope(line) else body).append(text)
        i = j + 1
    return top, body


def compile_unit(src, name, link=False, workdir=None, fragment=False):
    path = pathlib.Path(workdir) / (name + ".c")
    path.write_text(src)
    if not link:
        cmd = [CC, *CFLAGS, *(FRAGMENT_FLAGS if fragment else []), "-fsyntax-only", str(path)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return r.returncode, r.stderr
    lib = os.environ.get("TROUPE_STATIC_LIB", str(ROOT / "build" / "libtroupe.a"))
    exe = pathlib.Path(workdir) / name
    libs = subprocess.run(["pkg-config", "--libs", "ck", "libev"], capture_output=True,
                          text=True).stdout.split() or ["-lck", "-lev"]
    cmd = [CC, *CFLAGS, "-o", str(exe), str(path), lib, *libs, "-pthread", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return r.returncode, r.stderr
    try:
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return 1, "timed out after 20 s"
    return r.returncode, (r.stdout + r.stderr) if r.returncode else ""


def main():
    files = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
    files = [f for f in files if f.name != "reference.md"]
    counts = {"compiled": 0, "ran": 0, "skipped": 0, "failed": 0}
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # Every public header compiles on its own (the reference's blocks).
        for h in sorted((ROOT / "include" / "troupe").glob("*.h")):
            rc, err = compile_unit(f'#include "troupe/{h.name}"\n', "hdr_" + h.stem, workdir=tmp)
            counts["compiled"] += 1
            if rc:
                failures.append((f"include/troupe/{h.name}", err))
        for f in files:
            rel = f.relative_to(ROOT)
            for line, code, above in blocks(f):
                where = f"{rel}:{line}"
                if above.startswith("<!-- no-compile"):
                    counts["skipped"] += 1
                    continue
                context = ""
                m = re.match(r"<!--\s*context:(.*?)-->", above, re.S)
                if m:
                    context = m.group(1).strip() + "\n"
                name = re.sub(r"\W", "_", f"{rel.stem}_{line}")
                has_main = re.search(r"\bint\s+main\s*\(", code)
                if has_main or re.search(r"^#include", code, re.M):
                    src = context + code + "\n"
                    rc, err = compile_unit(src, name, link=bool(has_main), workdir=tmp)
                    counts["ran" if has_main else "compiled"] += 1
                else:
                    top, body = split_fragment(code)
                    inner = "\n".join(body)
                    cases = re.search(r"^case\b", inner, re.M)
                    inner = "\n".join("    " + l if l.strip() else l for l in inner.split("\n"))
                    if cases:
                        inner = ("    switch (msg->type) {\n" + inner +
                                 "\n    default:\n        break;\n    }")
                    src = (PRELUDE + context + "\n".join(top) +
                           "\n__attribute__((unused)) static int doc_fragment(void) {\n" +
                           inner + "\n    return 0;\n}\n")
                    rc, err = compile_unit(src, name, workdir=tmp, fragment=True)
                    counts["compiled"] += 1
                if rc:
                    failures.append((where, err + "\n--- as compiled:\n" + src))
    for where, err in failures:
        print(f"check-docs: {where}: FAILED\n{err}", file=sys.stderr)
    counts["failed"] = len(failures)
    print("check-docs: {compiled} compiled, {ran} compiled and ran, {skipped} skipped "
          "(no-compile), {failed} failed".format(**counts))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
