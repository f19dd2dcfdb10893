/* base/atomic.h - the atomics vocabulary of the tree, and its TSan annotations.
 *
 * The one rule: every shared word is read and written with Concurrency Kit's
 * ck_pr_* calls (never GCC __atomic, C11 atomics or a plain access racing
 * with another thread), and the order is written at the call:
 *   - ck_pr_load_* / ck_pr_store_* alone are relaxed (a plain mov on x86);
 *   - acquire: ck_pr_fence_acquire() right after the load that acquires;
 *   - release: ck_pr_fence_release() right before the store or CAS that
 *     publishes;
 *   - CK's read-modify-writes (cas, faa, fas, inc/dec) are full barriers on
 *     x86 (locked instructions), so they acquire and release both; where an
 *     RMW must also order on weaker CPUs, the fence is written beside it;
 *   - store-load (Dekker) order: tr__fence_full() below, or a ck_pr_fas,
 *     which is the store and the barrier in one instruction.
 * Beside each call a comment says what it publishes or acquires and which
 * line it pairs with.
 *
 * CK's primitives are inline assembly, which TSan cannot see, so every
 * publication is also bracketed for TSan: TR__TSAN_RELEASE(addr) just before
 * the publishing store/CAS and TR__TSAN_ACQUIRE(addr) just after the
 * load/CAS/swap that observes it, on the same address. In TSan builds
 * (TROUPE_TSAN) they tell TSan about the happens-before edge; everywhere else
 * they compile to nothing. The code that runs is the same CK code in every
 * build. */
#ifndef TR_BASE_ATOMIC_H
#define TR_BASE_ATOMIC_H

#if defined(TROUPE_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TR__TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define TR__TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#define TR__TSAN_ACQUIRE(addr) ((void)0)
#define TR__TSAN_RELEASE(addr) ((void)0)
#endif

#include <ck_pr.h>
#include <ck_stack.h>

#include "base/platform.h"

/* ck_stack_push_upmc, with its publication visible to TSan. CK's inline
 * version writes e->next inside, after any release we could put before the
 * call, so TSan would see that write race with the consumer's read. Same
 * algorithm: link, (store fence,) CAS head. Pairs with TR__TSAN_ACQUIRE(s)
 * after the consumer's ck_stack_batch_pop_upmc(s). */
static inline void tr__stack_push_upmc(ck_stack_t *s, ck_stack_entry_t *e) {
    ck_stack_entry_t *h = ck_pr_load_ptr(&s->head);
    for (;;) {
        e->next = h;
        TR__TSAN_RELEASE(s);
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
static inline void tr__fence_full(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");
#else
    ck_pr_fence_memory();
#endif
}

/* Counters with one writer and any readers (metrics, a mailbox's `taken`):
 * the writer adds with one plain add to memory (no lock prefix: nobody
 * else writes the word), which readers' ck_pr_load sees whole, as an
 * aligned store of the sum (relaxed; it orders nothing). One instruction
 * where ck_pr_store_NN(p, *p + v) is three: CK's store is inline assembly,
 * so the compiler cannot fold the load, add and store. Elsewhere than
 * x86-64, exactly that store. Owner only. */
static inline void tr__owner_add_32(uint32_t *p, uint32_t v) {
#if defined(__x86_64__)
    __asm__ __volatile__("addl %1, %0" : "+m"(*p) : "ir"(v) : "cc");
#else
    ck_pr_store_32(p, *p + v);
#endif
}
static inline void tr__owner_add_64(uint64_t *p, uint64_t v) {
#if defined(__x86_64__)
    __asm__ __volatile__("addq %1, %0" : "+m"(*p) : "er"(v) : "cc");
#else
    ck_pr_store_64(p, *p + v);
#endif
}

#endif
