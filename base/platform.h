/* base/platform.h - compiler and CPU facts every layer uses.
 *
 * The bottom of the tree (base/ includes nothing of troupe): branch hints,
 * the cache line and alignment to it, and tr__container_of, the one way to
 * get from an embedded member back to the struct that holds it. */
#ifndef TR_BASE_PLATFORM_H
#define TR_BASE_PLATFORM_H

#include <stddef.h>

#if defined(__GNUC__)
#define TR__LIKELY(x) __builtin_expect(!!(x), 1)
#define TR__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TR__LIKELY(x) (x)
#define TR__UNLIKELY(x) (x)
#endif

/* The line size false sharing is measured in (x86-64, and most arm64). */
#define TR__CACHELINE 64
#define TR__ALIGNED __attribute__((aligned(TR__CACHELINE)))

/* The struct of type `type` whose member `member` is at ptr. */
#define tr__container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
