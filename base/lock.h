/* base/lock.h - the spinlock of the tree, visible to TSan.
 *
 * A CK fas spinlock that spins a little when contended, then yields: with
 * more threads than cores (foreign senders) the holder may be preempted,
 * and spinning until it runs again would burn whole time slices. Used only
 * off the hot path (pools, watcher lists, rare state changes). The lock's
 * acquire and release are CK's (full barriers on the fas and the unlock's
 * release store); the TSan annotations make the same edges visible to TSan. */
#ifndef TR_BASE_LOCK_H
#define TR_BASE_LOCK_H

#include <ck_pr.h>
#include <ck_spinlock.h>
#include <sched.h>

#include "base/atomic.h"
#include "base/platform.h"

/* Contended: spin a little, then give the CPU away. */
static __attribute__((noinline, unused)) void tr__spin_lock_slow(ck_spinlock_fas_t *l) {
    for (;;) {
        for (int i = 0; i < 128; i++) {
            if (!ck_spinlock_fas_locked(l) && ck_spinlock_fas_trylock(l))
                return;
            ck_pr_stall();
        }
        sched_yield();
    }
}

static inline void tr__spin_lock(ck_spinlock_fas_t *l) {
    if (TR__UNLIKELY(!ck_spinlock_fas_trylock(l)))
        tr__spin_lock_slow(l);
    TR__TSAN_ACQUIRE(l);
}

static inline void tr__spin_unlock(ck_spinlock_fas_t *l) {
    TR__TSAN_RELEASE(l);
    ck_spinlock_fas_unlock(l);
}

#endif
