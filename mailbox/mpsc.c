/* mailbox/mpsc.c - the actor mailbox.
 *
 * Producers (any thread) push onto a Treiber stack (IBM, 1986) with one CAS on
 * `head`; the owner takes the whole stack with one swap and reverses it, so it
 * reads in send order. This is ck_stack's push_upmc / batch_pop_upmc pair,
 * written out with ck_pr so that `head` can also hold three sentinels:
 *
 *   IDLE   (NULL) empty and not scheduled
 *   SCHED  (1)    empty, but the actor is scheduled or running
 *   CLOSED (2)    the actor is gone; pushes fail and the sender keeps its message
 *
 * Exactly-once scheduling: the only transition out of IDLE is a push's CAS
 * IDLE -> SCHED, and only that producer reports TR__MBOX_WOKE, so exactly one
 * producer schedules an idle actor. That producer puts its messages straight
 * into the owner's private list (it owns the actor until it schedules it), so
 * a woken actor's first pop needs no swap. While the actor is scheduled, head is
 * SCHED or a message chain, never IDLE, so no other push reports WOKE. The
 * owner returns head to IDLE only by CAS SCHED -> IDLE when nothing is queued
 * (tr__mbox_end_turn_owner); if a push got in first the CAS fails and the owner
 * keeps the actor scheduled. The end of a chain is whatever head held before
 * the first push (IDLE or SCHED); CLOSED never ends a chain.
 *
 * `count` bounds a bounded mailbox: a push reserves room with one
 * fetch-and-add before its CAS, the owner gives room back once per turn.
 * Unbounded mailboxes keep no count, so their send path is the one CAS. Nothing here knows
 * about workers or actors. */
#include "mailbox/mpsc.h"

#include <assert.h>
#include <ck_pr.h>
#include <stddef.h>

#include "troupe/error.h"

void tr__mbox_init(tr__mbox *mb, uint32_t cap) {
    mb->head = TR__MBOX_SCHED;
    mb->count = 0;
    mb->cap = cap;
    mb->local = NULL;
    mb->taken = 0;
}

int tr__mbox_push_chain_mpsc(tr__mbox *mb, tr_msg *newest, tr_msg *oldest, uint32_t n) {
    return tr__mbox_push_inline(mb, newest, oldest, n, false);
}

int tr__mbox_push_over_mpsc(tr__mbox *mb, tr_msg *msg) {
    return tr__mbox_push_inline(mb, msg, msg, 1, true);
}

/* Take everything pushed so far, leaving `leave` (SCHED or CLOSED) in head. */
static tr_msg *take_all(tr__mbox *mb, tr_msg *leave) {
    /* Swap acquires every push published before it (pairs with the CAS in
     * tr__mbox_push_chain_mpsc); later pushes chain onto `leave`. */
    tr_msg *h = ck_pr_fas_ptr(&mb->head, leave);
    TR_TSAN_ACQUIRE(&mb->head);
    assert(h != TR__MBOX_CLOSED && h != TR__MBOX_IDLE);
    return tr__mbox_reverse(h);
}

tr_msg *tr__mbox_pop_owner(tr__mbox *mb) {
    tr_msg *m = mb->local;
    if (m == NULL) {
        /* Plain load first: skip the locked swap when nothing was pushed. It
         * needs no ordering; take_all's swap is what acquires. */
        if (!tr__mbox_is_msg(ck_pr_load_ptr(&mb->head)))
            return NULL;
        m = take_all(mb, TR__MBOX_SCHED);
    }
    mb->local = m->next;
    /* Start fetching the next message (likely written on another core)
     * while this one is handled. */
    if (m->next != NULL)
        __builtin_prefetch(m->next);
    m->next = NULL;
    mb->taken++;
    return m;
}

static void give_back_room(tr__mbox *mb) {
    if (mb->taken != 0) {
        if (mb->cap != 0)
            ck_pr_sub_32(&mb->count, mb->taken);
        mb->taken = 0;
    }
}

bool tr__mbox_end_turn_owner(tr__mbox *mb) {
    give_back_room(mb);
    if (mb->local != NULL)
        return true;
    tr_msg *h = ck_pr_load_ptr(&mb->head);
    if (h != TR__MBOX_SCHED)
        return true;
    /* Release this turn's effects to the producer that next finds IDLE and
     * schedules the actor (pairs with its CAS). Failure means a push came in:
     * the actor stays scheduled and its owner must run it again. */
    TR_TSAN_RELEASE(&mb->head);
    return !ck_pr_cas_ptr(&mb->head, TR__MBOX_SCHED, TR__MBOX_IDLE);
}

tr_msg *tr__mbox_close_owner(tr__mbox *mb) {
    tr_msg *rest = take_all(mb, TR__MBOX_CLOSED);
    tr_msg *all = mb->local;
    mb->local = NULL;
    if (all == NULL)
        return rest;
    tr_msg *t = all;
    while (t->next != NULL)
        t = t->next;
    t->next = rest;
    return all;
}

bool tr__mbox_closed_any(const tr__mbox *mb) {
    return ck_pr_load_ptr(&mb->head) == TR__MBOX_CLOSED;
}

uint32_t tr__mbox_len_any(const tr__mbox *mb) {
    /* A snapshot for routing and diagnostics; orders nothing. Unbounded
     * mailboxes keep no count: report 0 if empty, else 1 (a lower bound). */
    if (mb->cap != 0)
        return ck_pr_load_32(&mb->count);
    const tr_msg *h = ck_pr_load_ptr(&mb->head);
    return (tr__mbox_is_msg(h) || ck_pr_load_ptr(&mb->local) != NULL) ? 1 : 0;
}
