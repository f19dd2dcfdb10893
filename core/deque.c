/* core/deque.c - the worker's work-stealing deque (see deque.h).
 *
 * Indices only grow (64 bits do not wrap in practice); slot i is buf[i &
 * mask]. The owner owns `bottom`; `top` moves only by CAS, so each entry is
 * taken exactly once: by a thief's CAS, or by the owner (when it pops the
 * last entry it races the thieves with the same CAS). Memory orders:
 *
 *   push:  slot store; release store of bottom     -> pairs with steal's acquire of bottom
 *   pop:   swap bottom-1 (store + full fence); load top -> Dekker with steal's load top; fence;
 * load bottom steal: load top; full fence; acquire bottom; read slot; CAS top
 *
 * A slot is reused by push only once top has passed it, i.e. after the CAS
 * that took it; a thief reading a slot that is being overwritten will fail
 * its CAS (top moved), so a stale read is never returned. */
#include "core/deque.h"

#include <ck_pr.h>
#include <stdlib.h>

#include "troupe/error.h"

int tr__deque_init(tr__deque *d, uint64_t size) {
    d->top = 0;
    d->bottom = 0;
    d->mask = size - 1;
    d->buf = calloc(size, sizeof(void *));
    return d->buf != NULL ? 0 : TR_ENOMEM;
}

void tr__deque_destroy(tr__deque *d) {
    free(d->buf);
    d->buf = NULL;
}

bool tr__deque_push_owner(tr__deque *d, void *p) {
    uint64_t b = d->bottom;
    uint64_t t = ck_pr_load_64(&d->top);
    if (b - t > d->mask)
        return false;
    ck_pr_store_ptr(&d->buf[b & d->mask], p);
    TR__TSAN_RELEASE(p);
    /* Publish the slot before the new bottom; pairs with steal's acquire. */
    TR__TSAN_RELEASE(&d->bottom);
    ck_pr_fence_store();
    ck_pr_store_64(&d->bottom, b + 1);
    return true;
}

void *tr__deque_pop_owner(tr__deque *d) {
    uint64_t b = d->bottom;
    uint64_t t = ck_pr_load_64(&d->top);
    if (t >= b)
        return NULL; /* empty: no fence needed, thieves only shrink it */
    b--;
    /* Our claim on slot b must be visible before we read top, and a thief's
     * CAS of top before its read of bottom (Dekker); pairs with the fence in
     * steal. The swap is the store and the full barrier in one. */
    ck_pr_fas_64(&d->bottom, b);
    t = ck_pr_load_64(&d->top);
    void *p = NULL;
    if (t <= b) {
        p = ck_pr_load_ptr(&d->buf[b & d->mask]);
        if (t == b) {
            /* The last entry: race the thieves for it with their CAS. */
            if (!ck_pr_cas_64(&d->top, t, t + 1))
                p = NULL;
            ck_pr_store_64(&d->bottom, b + 1);
        }
    } else {
        ck_pr_store_64(&d->bottom, b + 1); /* a thief took it */
    }
    if (p != NULL)
        TR__TSAN_ACQUIRE(p);
    return p;
}

void *tr__deque_steal_any(tr__deque *d) {
    uint64_t t = ck_pr_load_64(&d->top);
    /* Order the read of top before the read of bottom (see pop). */
    ck_pr_fence_memory();
    uint64_t b = ck_pr_load_64(&d->bottom);
    TR__TSAN_ACQUIRE(&d->bottom);
    if (t >= b)
        return NULL;
    void *p = ck_pr_load_ptr(&d->buf[t & d->mask]);
    /* Taking it is the CAS: a failure means another thief or the owner got
     * it (or it was overwritten after being taken). */
    if (!ck_pr_cas_64(&d->top, t, t + 1))
        return NULL;
    TR__TSAN_ACQUIRE(p);
    return p;
}

void *tr__deque_peek_top_any(const tr__deque *d) {
    uint64_t t = ck_pr_load_64(&((tr__deque *)d)->top);
    uint64_t b = ck_pr_load_64(&((tr__deque *)d)->bottom);
    return t < b ? ck_pr_load_ptr(&d->buf[t & d->mask]) : NULL;
}

uint64_t tr__deque_size_any(const tr__deque *d) {
    uint64_t t = ck_pr_load_64(&((tr__deque *)d)->top);
    uint64_t b = ck_pr_load_64(&((tr__deque *)d)->bottom);
    return b > t ? b - t : 0;
}
