/* troupe/common.h - what every public header shares: the export marker,
 * and <stdbool.h> for the predicates (troupe/error.h states the return
 * conventions).
 *
 * libtroupe is built with hidden symbol visibility (CMake
 * C_VISIBILITY_PRESET hidden): only declarations marked TR_EXTERN are
 * exported from libtroupe.so, so `nm -D` shows the public tr_ API and
 * nothing else. Every public function in include/troupe/ carries it;
 * scripts/check-exports.sh fails CI when the exported symbols and the
 * TR_EXTERN declarations differ. Internal code (`tr__` names, internal
 * headers) never uses it. A program that links the static library sees the
 * same declarations; the marker changes nothing for it. */
#ifndef TROUPE_COMMON_H
#define TROUPE_COMMON_H

#include <stdbool.h>

/* Marks a public function: default visibility in the shared library. */
#ifndef TR_EXTERN
#if defined(__GNUC__) || defined(__clang__)
#define TR_EXTERN __attribute__((visibility("default")))
#else
#define TR_EXTERN
#endif
#endif

#endif
