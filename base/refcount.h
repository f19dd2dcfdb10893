/* base/refcount.h - the reference count of shared objects.
 *
 * One 32-bit count per object; whoever drops the last reference frees it.
 * The decrement is a locked faa, a full barrier: it orders every holder's
 * use of the object before the free (release on each drop, acquire on the
 * last); TSan sees the same edge through the annotations. */
#ifndef TR_BASE_REFCOUNT_H
#define TR_BASE_REFCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/atomic.h"

/* Take one more reference (the caller holds one already, so the object
 * cannot be freed meanwhile: no order needed beyond the locked inc). */
static inline void tr__refcount_retain(uint32_t *refs) {
    ck_pr_inc_32(refs);
}

/* Drop one reference: true if it was the last, and the caller frees the
 * object now. Release before the decrement publishes our uses of the object
 * to the freer; the acquire after the last pairs with every other holder's. */
static inline bool tr__refcount_release(uint32_t *refs) {
    TR__TSAN_RELEASE(refs);
    if (ck_pr_faa_32(refs, (uint32_t)-1) != 1) /* full barrier (locked xadd) */
        return false;
    TR__TSAN_ACQUIRE(refs);
    return true;
}

#endif
