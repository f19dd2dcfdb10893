/* base/fence.h - asymmetric barriers for Dekker handshakes with one rare side.
 *
 * A Dekker handshake (each side stores, then loads the other's flag) needs a
 * full barrier on both sides. When one side runs on every spawn and the other
 * once per runtime (close), the frequent side can use a compiler barrier only
 * and the rare side pays for both with membarrier(2): it makes every running
 * thread of the process execute a full barrier before it returns, and a
 * thread that is not running passes one when it is switched in (Linux 4.14+,
 * MEMBARRIER_CMD_PRIVATE_EXPEDITED; the technique of liburcu and folly's
 * asymmetricHeavyBarrier). Without membarrier both sides use a full fence. */
#ifndef TR_BASE_FENCE_H
#define TR_BASE_FENCE_H

#include <ck_pr.h>

#include "base/atomic.h"

/* 1 once the process registered for expedited membarriers. */
extern int tr__fence_asym;

/* Register the process (once; any thread; idempotent). */
void tr__fence_init(void);

/* The frequent side: after its store, before its load. */
static inline void tr__fence_light(void) {
    if (TR__LIKELY(ck_pr_load_int(&tr__fence_asym)))
        ck_pr_barrier(); /* the compiler keeps the order; the heavy side orders the CPU */
    else
        tr__fence_full();
}

/* The rare side: after its store, before its load. */
void tr__fence_heavy(void);

#endif
