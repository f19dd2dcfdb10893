/* tests/oom/shim.h - fail the Nth allocation troupe makes.
 *
 * A program linked with shim.c and
 *   --wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,
 *   --wrap=posix_memalign,--wrap=mmap
 * sends every allocation of libtroupe.a (and of its own objects) through
 * the counters here. libc's and libev's own calls are not wrapped (they are
 * resolved inside their shared objects), so a failure is always one that
 * troupe's code sees and must handle.
 *
 * Once armed, allocation number k (1-based, all threads, in the order the
 * counter hands out numbers) fails with ENOMEM when
 *   OOM_MODE=once: k == OOM_FAIL_AT      (one failure, then memory is back)
 *   OOM_MODE=from: k >= OOM_FAIL_AT      (everything fails from there on)
 * OOM_FAIL_AT unset or 0: nothing fails (a counting run). */
#ifndef TROUPE_TESTS_OOM_SHIM_H
#define TROUPE_TESTS_OOM_SHIM_H

#include <stdint.h>

/* Read OOM_FAIL_AT and OOM_MODE and start counting. */
void oom_arm(void);
/* Stop counting and failing (allocations succeed again). */
void oom_disarm(void);
/* Allocations counted since oom_arm. */
uint64_t oom_count(void);
/* Allocations made to fail. */
uint64_t oom_failed(void);

#endif
