/* mailbox/mpsc.h - the actor mailbox: lock-free, many producers, one consumer.
 *
 * See mpsc.c for the algorithm and the exactly-once scheduling argument.
 * Functions ending in _mpsc may be called by any thread; those ending in
 * _owner only by the single consumer (the thread running the actor). */
#ifndef TR_MAILBOX_MPSC_H
#define TR_MAILBOX_MPSC_H

#include <stdbool.h>
#include <stdint.h>

#include <ck_pr.h>

#include "mailbox/atomic.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* Values of head besides a message pointer. */
#define TR__MBOX_IDLE ((tr_msg *)0)   /* empty, actor not scheduled */
#define TR__MBOX_SCHED ((tr_msg *)1)  /* empty, actor scheduled or running */
#define TR__MBOX_CLOSED ((tr_msg *)2) /* closed: pushes fail with TR_EDEAD */

/* Push results (besides negative TR_E... codes). */
#define TR__MBOX_QUEUED 0 /* accepted; the actor was already scheduled */
#define TR__MBOX_WOKE 1   /* accepted; the caller must schedule the actor */

typedef struct tr__mbox {
    /* Producer side: one line written by every sender. */
    tr_msg *head;   /* LIFO stack of new messages, or a sentinel above */
    uint32_t count; /* messages accepted and not yet handed out */
    uint32_t cap;   /* bound on count; 0 = unbounded */
    /* Consumer side (owner only), on its own line. */
    tr_msg *local TR_ALIGNED; /* messages in send order, taken from head */
    uint32_t taken;           /* handed out since the last tr__mbox_end_turn_owner */
} tr__mbox;

/* Starts in the SCHED state: the creator owns the actor until it calls
 * tr__mbox_end_turn_owner (so sends during init do not schedule it). */
void tr__mbox_init(tr__mbox *mb, uint32_t cap);

/* Push one message, or a chain of n linked newest -> oldest by ->next (the
 * oldest arrives first; its ->next is overwritten). Returns TR__MBOX_WOKE, TR__MBOX_QUEUED,
 * TR_EDEAD or TR_EFULL; on an error nothing was queued and the caller still owns the messages. */
static inline int tr__mbox_push_mpsc(tr__mbox *mb, tr_msg *msg);
int tr__mbox_push_chain_mpsc(tr__mbox *mb, tr_msg *newest, tr_msg *oldest, uint32_t n);
/* Like tr__mbox_push_mpsc but never TR_EFULL: for the few messages that must
 * not be lost to the bound (monitor/link notices, failed-request notices).
 * The message still counts, so the mailbox can exceed its bound by these. */
int tr__mbox_push_over_mpsc(tr__mbox *mb, tr_msg *msg);

/* The next message in send order, or NULL if none is queued now. */
tr_msg *tr__mbox_pop_owner(tr__mbox *mb);

/* End a turn. Returns true if messages remain (the owner must reschedule the
 * actor) and false if the mailbox went idle (the next push schedules it). */
bool tr__mbox_end_turn_owner(tr__mbox *mb);

/* Close the mailbox and return every message still in it, in send order,
 * linked by ->next (NULL if none). Later pushes fail with TR_EDEAD. */
tr_msg *tr__mbox_close_owner(tr__mbox *mb);

bool tr__mbox_closed_any(const tr__mbox *mb);
uint32_t tr__mbox_len_any(const tr__mbox *mb);

/* --- the push, inline: it is on every send -------------------------------
 * The algorithm and the exactly-once argument are in mpsc.c's top comment. */

static inline bool tr__mbox_is_msg(const tr_msg *p) {
    return (uintptr_t)p > (uintptr_t)TR__MBOX_CLOSED;
}

/* Reserve room for n messages; false if that would exceed the bound. */
static inline bool tr__mbox_reserve(tr__mbox *mb, uint32_t n) {
    if (mb->cap == 0)
        return true; /* unbounded: no shared counter on the send path */
    /* Relaxed is enough: count orders nothing, it only bounds the queue, and
     * fetch-and-add is atomic so reservations never exceed cap together. */
    uint32_t before = ck_pr_faa_32(&mb->count, n);
    if (before + n > mb->cap) {
        ck_pr_sub_32(&mb->count, n);
        return false;
    }
    return true;
}

static inline tr_msg *tr__mbox_reverse(tr_msg *p) {
    tr_msg *out = NULL;
    while (tr__mbox_is_msg(p)) {
        tr_msg *next = p->next;
        p->next = out;
        out = p;
        p = next;
    }
    return out;
}

static inline int tr__mbox_push_inline(tr__mbox *mb, tr_msg *newest, tr_msg *oldest, uint32_t n,
                                       bool over) {
    if (over) {
        /* Past the bound, but counted: the owner gives it back like any
         * other message (tr__mbox_push_over_mpsc). */
        if (mb->cap != 0)
            ck_pr_faa_32(&mb->count, n);
    } else if (!tr__mbox_reserve(mb, n)) { /* a closed mailbox keeps its count: dead beats full */
        return tr__mbox_closed_any(mb) ? TR_EDEAD : TR_EFULL;
    }
    tr_msg *h = ck_pr_load_ptr(&mb->head);
    for (;;) {
        if (h == TR__MBOX_CLOSED) {
            if (mb->cap != 0)
                ck_pr_sub_32(&mb->count, n);
            return TR_EDEAD;
        }
        if (h == TR__MBOX_IDLE) {
            /* Waking an idle actor: take the consumer side instead of pushing.
             * Winning IDLE -> SCHED makes us the one waker; the actor is not
             * running (its owner's last act was SCHED -> IDLE), so `local` is
             * ours to fill until we hand the actor to the scheduler, which
             * publishes it. The owner then finds the messages in `local` and
             * needs no swap: one locked op fewer per wake-up. The CAS
             * acquires the owner's release in tr__mbox_end_turn_owner. */
            if (ck_pr_cas_ptr_value(&mb->head, TR__MBOX_IDLE, TR__MBOX_SCHED, &h)) {
                TR_TSAN_ACQUIRE(&mb->head);
                oldest->next = NULL;
                mb->local = tr__mbox_reverse(newest);
                return TR__MBOX_WOKE;
            }
            continue; /* h now holds what beat us */
        }
        /* The stack is LIFO: the chain is linked newest -> oldest, and the
         * oldest message continues into what the stack held. */
        oldest->next = h;
        /* Publishes the messages (and oldest->next) to the owner's swap in
         * take_all; on x86 the locked CAS is a full barrier. Pairs with the
         * ck_pr_fas_ptr in take_all. */
        TR_TSAN_RELEASE(&mb->head);
        if (ck_pr_cas_ptr_value(&mb->head, h, newest, &h))
            return TR__MBOX_QUEUED;
    }
}

static inline int tr__mbox_push_mpsc(tr__mbox *mb, tr_msg *msg) {
    return tr__mbox_push_inline(mb, msg, msg, 1, false);
}

#endif
