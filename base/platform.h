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

/* Ask for the line at p with the intent to write it: it arrives exclusive,
 * so the first store finds it owned. __builtin_prefetch(p, 1) is not that
 * on x86-64 unless the compiler may use PREFETCHW (-mprfchw, not in the
 * baseline): it emits PREFETCHT0, a read, and a line read from another
 * core's cache arrives shared and must be fetched again to be written (a
 * second cross-core transfer). PREFETCHW is in every x86-64 CPU that runs
 * 64-bit Windows 8.1 and later (its requirement list); the few older Intel
 * parts execute the opcode as a no-op. Elsewhere the builtin. A hint: it
 * never faults. */
#if defined(__x86_64__) && defined(__GNUC__)
#define tr__prefetch_w(p) __asm__("prefetchw %0" : : "m"(*(const char *)(p)))
#else
#define tr__prefetch_w(p) __builtin_prefetch((p), 1)
#endif

/* The struct of type `type` whose member `member` is at ptr. */
#define tr__container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
