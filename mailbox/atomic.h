/* mailbox/atomic.h - ThreadSanitizer annotations for Concurrency Kit paths.
 *
 * CK's ck_pr_* primitives are inline assembly, which TSan cannot see. Every
 * CK operation that publishes memory to another thread is bracketed here:
 * TR_TSAN_RELEASE(addr) just before the publishing store/CAS and
 * TR_TSAN_ACQUIRE(addr) just after the load/CAS/swap that observes it, on the
 * same address. In TSan builds (TROUPE_TSAN) they tell TSan about the
 * happens-before edge; everywhere else they compile to nothing. The code that
 * runs is the same CK code in every build. */
#ifndef TR_MAILBOX_ATOMIC_H
#define TR_MAILBOX_ATOMIC_H

#if defined(TROUPE_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TR_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define TR_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#define TR_TSAN_ACQUIRE(addr) ((void)0)
#define TR_TSAN_RELEASE(addr) ((void)0)
#endif

#include <ck_pr.h>
#include <ck_spinlock.h>
#include <ck_stack.h>
#include <sched.h>

#if defined(__GNUC__)
#define TR_LIKELY(x) __builtin_expect(!!(x), 1)
#define TR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define TR_LIKELY(x) (x)
#define TR_UNLIKELY(x) (x)
#endif

/* Contended: spin a little, then give the CPU away. With more threads than
 * cores (foreign senders), the holder may be preempted; spinning until it
 * runs again would burn whole time slices. */
static __attribute__((noinline, unused)) void tr_spin_lock_slow(ck_spinlock_fas_t *l) {
    for (;;) {
        for (int i = 0; i < 128; i++) {
            if (!ck_spinlock_fas_locked(l) && ck_spinlock_fas_trylock(l))
                return;
            ck_pr_stall();
        }
        sched_yield();
    }
}

/* A CK spinlock with its happens-before edges made visible to TSan. Used only
 * off the hot path (pools, watcher lists, rare state changes). */
static inline void tr_spin_lock(ck_spinlock_fas_t *l) {
    if (TR_UNLIKELY(!ck_spinlock_fas_trylock(l)))
        tr_spin_lock_slow(l);
    TR_TSAN_ACQUIRE(l);
}

static inline void tr_spin_unlock(ck_spinlock_fas_t *l) {
    TR_TSAN_RELEASE(l);
    ck_spinlock_fas_unlock(l);
}

/* ck_stack_push_upmc, with its publication visible to TSan. CK's inline
 * version writes e->next inside, after any release we could put before the
 * call, so TSan would see that write race with the consumer's read. Same
 * algorithm: link, (store fence,) CAS head. Pairs with TR_TSAN_ACQUIRE(s)
 * after the consumer's ck_stack_batch_pop_upmc(s). */
static inline void tr_stack_push_upmc(ck_stack_t *s, ck_stack_entry_t *e) {
    ck_stack_entry_t *h = ck_pr_load_ptr(&s->head);
    for (;;) {
        e->next = h;
        TR_TSAN_RELEASE(s);
        ck_pr_fence_store();
        if (ck_pr_cas_ptr_value(&s->head, h, e, &h))
            return;
    }
}

/* A full barrier (store-load included) for Dekker-style handshakes. On
 * x86-64 a locked add to the stack, which orders like mfence for ordinary
 * memory but costs less (Linux's smp_mb does the same); elsewhere CK's
 * fence. Where a store precedes the barrier, prefer one ck_pr_fas (xchg),
 * which is the store and the barrier in one instruction. */
static inline void tr_fence_full(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");
#else
    ck_pr_fence_memory();
#endif
}

#define TR_CACHELINE 64
#define TR_ALIGNED __attribute__((aligned(TR_CACHELINE)))

#endif
