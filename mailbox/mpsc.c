/* mailbox/mpsc.c - the actor mailbox.
 *
 * A FIFO linked through the messages' own ->next, after Vyukov's intrusive
 * MPSC queue (1024cores.net, "Intrusive MPSC node-based queue"), with a CAS
 * where Vyukov has a swap so that `tail` can also hold three sentinels:
 *
 *   IDLE   (NULL) empty and not scheduled
 *   SCHED  (1)    empty, but the actor is scheduled or running
 *   CLOSED (6)    the actor is gone; pushes fail and the sender keeps its message
 *                 (2 with the SEALED bit below, so one bit test refuses both)
 *
 * A push makes its message the tail with one CAS, then links it behind the
 * previous tail (t->next = msg), or, if it replaced SCHED, hands it to the
 * owner in `first`. The owner follows the links in send order: no swap and
 * no reversal, and the next message's line is fetched while this one is
 * handled. A CAS rather than Vyukov's swap lets a push fail on CLOSED, so a
 * send to a dead actor returns TR_EDEAD and the sender keeps its message.
 *
 * Exactly-once scheduling: the only transition out of IDLE is a push's CAS
 * IDLE -> msg, and only that producer reports TR__MBOX_WOKE, so exactly one
 * producer schedules an idle actor. It puts its messages straight into the
 * owner's `local` (it owns the actor until it schedules it). While the actor
 * is scheduled, tail is SCHED or a message, never IDLE, so no other push
 * reports WOKE. Only the owner writes IDLE, by a CAS at the end of a turn
 * from the state it left (SCHED, or the message it holds); if a push got in
 * first the CAS fails and the owner keeps the actor scheduled.
 *
 * The held message: when the owner hands out a message with no successor
 * linked yet, it may still be the tail, and a producer that replaces it will
 * write its ->next. Detaching it (CAS tail msg -> SCHED) would cost a locked
 * operation per drained mailbox, so the mailbox instead keeps the message's
 * memory (`held`) and runs its release function once the link shows up, or at
 * the end of the turn, where the CAS that makes the actor idle also moves the
 * tail off it: a request/reply hop costs two locked operations (the sender's
 * CAS and the receiver's end of turn), as with a stack. Messages without a
 * release function (caller-managed memory) are detached at once instead.
 *
 * A producer that lost the race for the tail has not linked yet when the
 * owner looks (a few instructions, unless it is preempted there): the owner
 * then sees no successor and ends its turn with the actor still scheduled,
 * or (close, detach) waits for the link.
 *
 * `count` bounds a bounded mailbox: a push reserves room with one
 * fetch-and-add before its CAS, the owner gives room back once per turn.
 * A push that finds no room takes its reservation back, so count can pass
 * cap for an instant: readers (tr__mbox_len_any) clamp it. Unbounded
 * mailboxes keep no count.
 *
 * Sealing (any thread): the SEALED bit set on tail by one CAS makes pushes
 * fail as on CLOSED, while the queue behind stays whole for the owner, who
 * closes the mailbox when it ends (the sealer then asks it to end). The
 * owner never moves a sealed tail back to IDLE: its end-of-turn CAS fails,
 * so it runs again and ends; sealing an IDLE mailbox makes the sealer the
 * actor's one waker (TR__MBOX_WOKE), as a push would. Nothing here knows
 * about workers or actors. */
#include "mailbox/mpsc.h"

#include <assert.h>
#include <ck_pr.h>
#include <sched.h>
#include <stddef.h>

#include "troupe/error.h"

void tr__mbox_init(tr__mbox *mb, uint32_t cap) {
    mb->tail = TR__MBOX_SCHED;
    mb->first = NULL;
    mb->count = 0;
    mb->cap = cap;
    mb->local = NULL;
    mb->held = NULL;
    mb->taken = 0;
}

int tr__mbox_push_chain_mpsc(tr__mbox *mb, tr_msg *first, tr_msg *last, uint32_t n) {
    return tr__mbox_push_inline(mb, first, last, n, false);
}

int tr__mbox_push_over_mpsc(tr__mbox *mb, tr_msg *msg) {
    return tr__mbox_push_inline(mb, msg, msg, 1, true);
}

int tr__mbox_push_uncounted_mpsc(tr__mbox *mb, tr_msg *msg) {
    return tr__mbox_push_inline(mb, msg, msg, 0, true); /* n = 0: no room */
}

/* Wait for the link behind m: a producer has replaced m as the tail and is
 * about to write it. Only close and detach wait, and only in that window. */
static tr_msg *wait_link(tr__mbox *mb, tr_msg *m) {
    tr_msg *next;
    for (unsigned spins = 0; (next = tr__mbox_link_owner(mb, m)) == NULL; spins++) {
        if (spins < 64)
            ck_pr_stall();
        else
            sched_yield(); /* the producer was preempted in its window */
    }
    return next;
}

tr_msg *tr__mbox_wait_link_owner(tr__mbox *mb, tr_msg *h) {
    tr_msg *t = ck_pr_load_ptr(&mb->tail);
    /* Sealed (rare) is the second test: the first is the unsealed tail's,
     * so a plain empty mailbox pays no masking. */
    if (t == h || TR__UNLIKELY(tr__mbox_untag(t) == h))
        return NULL; /* nothing on its way: really empty */
    for (unsigned spins = 0; spins < 64; spins++) {
        ck_pr_stall();
        tr_msg *next = tr__mbox_link_owner(mb, h);
        if (next != NULL)
            return next;
    }
    return NULL; /* the producer is slow (preempted): end_turn keeps us scheduled */
}

/* Wait for `first`: a push has replaced SCHED and is about to store it. */
static tr_msg *wait_first(tr__mbox *mb) {
    tr_msg *m;
    for (unsigned spins = 0; (m = ck_pr_load_ptr(&mb->first)) == NULL; spins++) {
        if (spins < 64)
            ck_pr_stall();
        else
            sched_yield();
    }
    TR__TSAN_ACQUIRE(&mb->tail); /* pairs with the push's store of first */
    return m;
}

/* Take m (handed out, no successor seen) out of the queue now. */
void tr__mbox_detach_slow_owner(tr__mbox *mb, tr_msg *m) {
    /* Success: m was the tail, the queue is empty, and later pushes see
     * SCHED and hand their messages over in `first`. Failure: a producer
     * replaced m and will link behind it; that link is our next message. */
    if (ck_pr_cas_ptr(&mb->tail, m, TR__MBOX_SCHED))
        return;
    /* Sealed with m as the tail: nobody will link behind it. Move the tail
     * off m and keep the seal (pushes fail on a sealed tail and only the
     * owner moves it, so nothing races this CAS). If it fails, a push had
     * replaced m before the seal and links behind it: wait for that. */
    tr_msg *sealed = (tr_msg *)((uintptr_t)m | TR__MBOX_SEALED);
    if (ck_pr_cas_ptr(&mb->tail, sealed, (tr_msg *)((uintptr_t)TR__MBOX_SCHED | TR__MBOX_SEALED)))
        return;
    mb->local = wait_link(mb, m);
}

void tr__mbox_detach_owner(tr__mbox *mb, tr_msg *msg) {
    if (mb->held != msg)
        return;
    mb->held = NULL;
    assert(mb->local == NULL);
    tr_msg *next = tr__mbox_link_owner(mb, msg);
    if (next != NULL)
        mb->local = next;
    else
        tr__mbox_detach_slow_owner(mb, msg);
    msg->next = NULL;
}

tr_msg *tr__mbox_close_owner(tr__mbox *mb) {
    /* Acquires every push that got in before us (pairs with their CAS);
     * later pushes see CLOSED and fail. */
    tr_msg *t = tr__mbox_untag(ck_pr_fas_ptr(&mb->tail, TR__MBOX_CLOSED));
    TR__TSAN_ACQUIRE(&mb->tail);
    assert(t != tr__mbox_untag(TR__MBOX_CLOSED)); /* closed only once */
    tr_msg *all = mb->local;
    mb->local = NULL;
    if (tr__mbox_is_msg(t) && all == NULL) {
        if (mb->held != NULL)
            all = t == mb->held ? NULL : wait_link(mb, mb->held);
        else
            all = wait_first(mb);
    }
    mb->first = NULL;
    if (mb->held != NULL) {
        tr_msg *h = mb->held;
        mb->held = NULL;
        h->release(h);
    }
    /* Wait for every link up to the old tail, so the list is whole. */
    for (tr_msg *m = all; m != NULL && m != t; m = wait_link(mb, m))
        ;
    return all;
}

int tr__mbox_seal_any(tr__mbox *mb) {
    tr_msg *t = ck_pr_load_ptr(&mb->tail);
    for (;;) {
        if (tr__mbox_refuses(t))
            return TR_EDEAD;
        /* The CAS orders the seal after every push that became the tail
         * before it; a push after it sees the bit and fails. It publishes
         * nothing: the owner learns why from the stop request the caller
         * stores next; until it sees that, its end-of-turn CAS fails on the
         * bit and it runs again. */
        if (ck_pr_cas_ptr_value(&mb->tail, t, (tr_msg *)((uintptr_t)t | TR__MBOX_SEALED), &t))
            break;
    }
    if (t != TR__MBOX_IDLE)
        return 0; /* scheduled: its end of turn finds the seal */
    /* Idle: only we left IDLE, so we are its one waker. Acquire the owner's
     * last turn (pairs with its release in tr__mbox_end_turn_owner). */
    TR__TSAN_ACQUIRE(&mb->tail);
    return TR__MBOX_WOKE;
}

bool tr__mbox_closed_any(const tr__mbox *mb) {
    return tr__mbox_refuses(ck_pr_load_ptr(&mb->tail));
}

uint32_t tr__mbox_len_any(const tr__mbox *mb) {
    /* A snapshot for routing and diagnostics; orders nothing. A push that
     * found no room holds cap + n for an instant before it takes its
     * reservation back (and notices pushed past the bound count too): never
     * report more than cap. Unbounded mailboxes keep no count: report 0 if
     * empty, else 1 (a lower bound). */
    if (mb->cap != 0) {
        uint32_t n = ck_pr_load_32(&mb->count);
        return n < mb->cap ? n : mb->cap;
    }
    const tr_msg *t = tr__mbox_untag(ck_pr_load_ptr(&mb->tail));
    return (tr__mbox_is_msg(t) && t != ck_pr_load_ptr(&mb->held)) ? 1 : 0;
}
