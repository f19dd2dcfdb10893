/* mailbox/mpsc.h - the actor mailbox: lock-free, many producers, one consumer.
 *
 * See mpsc.c for the algorithm and the exactly-once scheduling argument.
 * Functions ending in _mpsc may be called by any thread; those ending in
 * _owner only by the single consumer (the thread running the actor). */
#ifndef TR_MAILBOX_MPSC_H
#define TR_MAILBOX_MPSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ck_pr.h>

#include "base/atomic.h"
#include "troupe/error.h"
#include "troupe/msg.h"

/* Values of tail besides a message pointer. */
#define TR__MBOX_IDLE ((tr_msg *)0)  /* empty, actor not scheduled */
#define TR__MBOX_SCHED ((tr_msg *)1) /* empty, actor scheduled or running */
/* A bit on tail (messages are 8-aligned): sealed by tr__mbox_seal_any. Pushes
 * fail with TR_EDEAD as on CLOSED; the owner closes the mailbox soon after. */
#define TR__MBOX_SEALED ((uintptr_t)4)
/* Closed: pushes fail with TR_EDEAD. It carries the SEALED bit, so a push
 * tells "refuses" with one bit test (tr__mbox_refuses), as before seals. */
#define TR__MBOX_CLOSED ((tr_msg *)(2 | TR__MBOX_SEALED))

/* Push results (besides negative TR_E... codes). */
#define TR__MBOX_QUEUED 0 /* accepted; the actor was already scheduled */
#define TR__MBOX_WOKE 1   /* accepted; the caller must schedule the actor */

/* Bytes left on the producers' line after its fields (see tr__mbox.room). */
#define TR__MBOX_ROOM 40

typedef struct tr__mbox {
    /* Producer side: one line written by every sender. */
    tr_msg *tail;   /* the newest message, or a sentinel above */
    tr_msg *first;  /* set by the push that replaced SCHED: the owner's next */
    uint32_t count; /* messages accepted and not yet handed out */
    uint32_t cap;   /* bound on count; 0 = unbounded */
    /* The rest of the producers' line: the mailbox never reads or writes
     * these bytes, so the struct that embeds it may keep fields of its own
     * there (core/actor.h overlays its senders' fields with a union). */
    unsigned char room[TR__MBOX_ROOM];
    /* Consumer side (owner only), on its own line (from a line-aligned
     * start). */
    tr_msg *local;  /* the next message to hand out, or NULL */
    tr_msg *held;   /* handed out, successor not yet seen: see mpsc.c */
    uint32_t taken; /* handed out since the last give-back (owner writes, any reads) */
    /* The 4 bytes up to the struct's 8-byte end: never touched by the
     * mailbox either, the embedder's (as room). */
    unsigned char room_owner[4];
} tr__mbox;

_Static_assert(offsetof(tr__mbox, local) == 64, "the consumer side starts the second line");

/* A cap that marks an unbounded mailbox that keeps its count (so its depth
 * is exact, at one fetch-and-add per push): chosen at spawn, see
 * tr_runtime_config.metrics. Never reached in practice. */
#define TR__MBOX_CAP_COUNTED 0x7FFFFFFFu

/* Starts in the SCHED state: the creator owns the actor until it calls
 * tr__mbox_end_turn_owner (so sends during init do not schedule it). */
void tr__mbox_init(tr__mbox *mb, uint32_t cap);

/* Push one message, or a chain of n linked first -> last by ->next (first
 * arrives first; last->next is overwritten). Returns TR__MBOX_WOKE,
 * TR__MBOX_QUEUED, TR_EDEAD or TR_EFULL; on an error nothing was queued and
 * the caller still owns the messages. */
static inline int tr__mbox_push_mpsc(tr__mbox *mb, tr_msg *msg);
int tr__mbox_push_chain_mpsc(tr__mbox *mb, tr_msg *first, tr_msg *last, uint32_t n);
/* Like tr__mbox_push_mpsc but never TR_EFULL: for the few messages that must
 * not be lost to the bound (monitor/link notices, failed-request notices).
 * The message still counts, so the mailbox can exceed its bound by these. */
int tr__mbox_push_over_mpsc(tr__mbox *mb, tr_msg *msg);
/* Like tr__mbox_push_over_mpsc, but the message takes no room in the bound
 * at all: for a runtime-internal nudge that the owner discounts when it pops
 * it (a lane's kick). Never TR_EFULL. */
int tr__mbox_push_uncounted_mpsc(tr__mbox *mb, tr_msg *msg);

/* The next message in send order, or NULL if none is queued now. The message
 * is the owner's to handle, but see tr__mbox_holds_owner before freeing it. */
static inline tr_msg *tr__mbox_pop_owner(tr__mbox *mb);

/* True if the mailbox still holds msg, the message pop handed out last, as
 * its link to later messages. The owner may then finish with msg (answer it,
 * run its ptr_free) but must not run msg->release or reuse msg: the mailbox
 * runs msg->release itself once the link is no longer needed (at the latest
 * when the turn ends or the mailbox closes). Only messages with a release
 * function are ever held. */
static inline bool tr__mbox_holds_owner(const tr__mbox *mb, const tr_msg *msg) {
    return mb->held == msg;
}

/* The owner takes msg out of the mailbox for good (tr_msg_keep, forwarding):
 * afterwards it may reuse or free msg. No-op unless the mailbox holds msg. */
void tr__mbox_detach_owner(tr__mbox *mb, tr_msg *msg);

/* End a turn. Returns true if messages remain (the owner must reschedule the
 * actor) and false if the mailbox went idle (the next push schedules it). */
static inline bool tr__mbox_end_turn_owner(tr__mbox *mb);

/* Close the mailbox and return every message still in it, in send order,
 * linked by ->next (NULL if none). Later pushes fail with TR_EDEAD. */
tr_msg *tr__mbox_close_owner(tr__mbox *mb);

/* Seal the mailbox from any thread: later pushes fail with TR_EDEAD as if it
 * were closed, while what is queued stays for the owner, who must be about
 * to end (the caller asks it to, right after) and closes it as usual; until
 * then its turns end without going idle. Returns
 * TR__MBOX_WOKE if the actor was idle (the caller must schedule it so that
 * it ends: nothing else will), 0 if it was scheduled, TR_EDEAD if the
 * mailbox was already sealed or closed (exactly one caller seals). */
int tr__mbox_seal_any(tr__mbox *mb);

/* Closed or sealed: pushes fail with TR_EDEAD. */
bool tr__mbox_closed_any(const tr__mbox *mb);
/* Messages queued (a bounded mailbox's count, never above cap); see mpsc.c. */
uint32_t tr__mbox_len_any(const tr__mbox *mb);
/* Messages queued and not yet handed out: exact (count - taken) when the
 * mailbox keeps a count (bounded, or TR__MBOX_CAP_COUNTED), notices past a
 * bound included; else 0 when empty and 1 otherwise. See mpsc.c. */
uint32_t tr__mbox_depth_any(const tr__mbox *mb);

/* The room reserved in a counted mailbox (queued messages plus those handed
 * out and not yet given back), 0 in an uncounted one: a relaxed load, a
 * hint for a sender about to push (its line is the one the push writes). */
static inline uint32_t tr__mbox_reserved_hint_any(const tr__mbox *mb) {
    return ck_pr_load_32(&mb->count);
}

/* --- the push, inline: it is on every send -------------------------------
 * The algorithm and the exactly-once argument are in mpsc.c's top comment. */

/* A message (sealed or not), not a sentinel: messages are 8-aligned and the
 * sentinels, sealed ones included, are below 8. */
static inline bool tr__mbox_is_msg(const tr_msg *p) {
    return (uintptr_t)p > (uintptr_t)TR__MBOX_CLOSED;
}

/* tail refuses pushes: closed, or sealed (one bit test on a register:
 * CLOSED has the SEALED bit). */
static inline bool tr__mbox_refuses(const tr_msg *t) {
    return ((uintptr_t)t & TR__MBOX_SEALED) != 0;
}

/* tail without the sealed bit. */
static inline tr_msg *tr__mbox_untag(const tr_msg *t) {
    return (tr_msg *)((uintptr_t)t & ~TR__MBOX_SEALED);
}

/* Reserve room for n messages: 0, or TR_EFULL if that would exceed the
 * bound, TR_EDEAD if the mailbox is also closed (a closed mailbox keeps its
 * count: dead beats full). */
static inline int tr__mbox_reserve_any(tr__mbox *mb, uint32_t n) {
    if (mb->cap == 0)
        return 0; /* unbounded: no shared counter on the send path */
    /* Relaxed is enough: count orders nothing, it only bounds the queue, and
     * fetch-and-add is atomic so reservations never exceed cap together. */
    uint32_t before = ck_pr_faa_32(&mb->count, n);
    if (before + n > mb->cap) {
        ck_pr_sub_32(&mb->count, n);
        return tr__mbox_closed_any(mb) ? TR_EDEAD : TR_EFULL;
    }
    return 0;
}

/* Give back the room reserved for n messages that were not queued. */
static inline void tr__mbox_unreserve_any(tr__mbox *mb, uint32_t n) {
    if (mb->cap != 0 && n != 0) /* n is 0 for an uncounted push */
        ck_pr_sub_32(&mb->count, n);
}

static inline int tr__mbox_push_inline(tr__mbox *mb, tr_msg *first, tr_msg *last, uint32_t n,
                                       bool over) {
    if (over) {
        /* Past the bound, but counted: the owner gives it back like any
         * other message (tr__mbox_push_over_mpsc). */
        if (mb->cap != 0 && n != 0) /* n is 0 for an uncounted push */
            ck_pr_faa_32(&mb->count, n);
    } else {
        int rc = tr__mbox_reserve_any(mb, n);
        if (rc != 0)
            return rc;
    }
    tr_msg *was = last->next; /* given back untouched on TR_EDEAD */
    last->next = NULL;
    /* The CAS below publishes the messages' contents to whoever links to
     * them; on x86 the locked CAS is a full barrier. The matching acquires
     * are after the owner's loads of the link (mpsc.c). */
    TR__TSAN_RELEASE(&mb->tail);
    tr_msg *t = ck_pr_load_ptr(&mb->tail);
    for (;;) {
        if (tr__mbox_refuses(t)) {
            tr__mbox_unreserve_any(mb, n);
            last->next = was;
            return TR_EDEAD;
        }
        /* Becoming the tail orders us after every earlier push; a closed
         * (or sealed) mailbox makes the CAS fail, so nothing is queued
         * behind CLOSED (or a sealed tail). */
        if (ck_pr_cas_ptr_value(&mb->tail, t, last, &t))
            break;
    }
    if (t == TR__MBOX_IDLE) {
        /* We woke an idle actor: we are its one waker (only IDLE -> message
         * reports WOKE), and it is not running (its owner's last act was
         * -> IDLE), so `local` is ours to fill until we hand the actor to the
         * scheduler, which publishes it. The CAS acquired the owner's
         * release in tr__mbox_end_turn_owner. */
        TR__TSAN_ACQUIRE(&mb->tail);
        mb->local = first;
        return TR__MBOX_WOKE;
    }
    if (t == TR__MBOX_SCHED) {
        /* The owner has nothing linked to follow: hand it the chain. Pairs
         * with the load of `first` in tr__mbox_pop_owner. */
        ck_pr_store_ptr(&mb->first, first);
        return TR__MBOX_QUEUED;
    }
    /* Link behind the previous tail. Only we may write t->next (we replaced
     * t), and the owner keeps t alive until it has read this link or moved
     * the tail off t (mpsc.c). Pairs with the owner's load of t->next. */
    ck_pr_store_ptr(&t->next, first);
    return TR__MBOX_QUEUED;
}

static inline int tr__mbox_push_mpsc(tr__mbox *mb, tr_msg *msg) {
    return tr__mbox_push_inline(mb, msg, msg, 1, false);
}

/* --- the owner's side, inline: pop and end of turn run on every message --- */

/* The link behind m (NULL if none yet). A producer writes it once it has
 * replaced m as the tail; the load acquires that producer's messages (pairs
 * with the link store at the end of tr__mbox_push_inline). */
static inline tr_msg *tr__mbox_link_owner(tr__mbox *mb, tr_msg *m) {
    (void)mb; /* used by the TSan annotation only */
    tr_msg *next = ck_pr_load_ptr(&m->next);
    if (next != NULL)
        TR__TSAN_ACQUIRE(&mb->tail);
    return next;
}

/* No link behind the held message h yet. If a push has already replaced h
 * as the tail, it is a few instructions from linking: wait for that briefly
 * (bounded; the producer may have been preempted) rather than end the turn
 * and come back. NULL if nothing is on its way or the wait ran out. */
tr_msg *tr__mbox_wait_link_owner(tr__mbox *mb, tr_msg *h);

/* m was handed out with no successor and has no release function: take it
 * out of the queue now (mpsc.c). */
void tr__mbox_detach_slow_owner(tr__mbox *mb, tr_msg *m);

static inline tr_msg *tr__mbox_pop_owner(tr__mbox *mb) {
    tr_msg *m = mb->local;
    if (m == NULL) {
        tr_msg *h = mb->held;
        if (h != NULL) {
            if ((m = tr__mbox_link_owner(mb, h)) == NULL &&
                (m = tr__mbox_wait_link_owner(mb, h)) == NULL)
                return NULL;
            /* Its successor is linked, so no producer writes h again. */
            mb->held = NULL;
            h->release(h);
        } else {
            /* Set by the push that replaced SCHED (pairs with its store). */
            if ((m = ck_pr_load_ptr(&mb->first)) == NULL)
                return NULL;
            TR__TSAN_ACQUIRE(&mb->tail);
            mb->first = NULL;
        }
    }
    tr_msg *next = tr__mbox_link_owner(mb, m);
    mb->local = next;
    if (next != NULL) {
        /* Start fetching the next message (likely written on another core)
         * while this one is handled, for writing: its pop clears its link,
         * and a line fetched to be read must be fetched again to be written
         * (12% of fanin_bounded's receiver was that second miss). */
        tr__prefetch_w(next);
        m->next = NULL;
    } else if (TR__LIKELY(m->release != NULL)) {
        mb->held = m; /* may still be the tail: keep its memory for now */
    } else {
        tr__mbox_detach_slow_owner(mb, m); /* caller-managed memory: never kept */
        m->next = NULL;
    }
    /* A store for readers (tr__mbox_depth_any); the owner is the one writer,
     * so this is the plain increment it was. */
    tr__owner_add_32(&mb->taken, 1);
    return m;
}

/* Give back the room of the messages handed out since the last call (a
 * bounded mailbox's count); end_turn does it too. */
static inline void tr__mbox_give_back_owner(tr__mbox *mb) {
    if (mb->taken != 0) {
        if (mb->cap != 0)
            ck_pr_sub_32(&mb->count, mb->taken);
        /* After the count: a reader between the two sees fewer queued,
         * never more than were (tr__mbox_depth_any clamps at 0). */
        ck_pr_store_32(&mb->taken, 0);
    }
}

/* True if a message is queued, or on its way (a push became the tail and
 * has not linked yet). A plain load of tail: a hint, no ordering; pop and
 * end_turn decide. */
static inline bool tr__mbox_pending_owner(const tr__mbox *mb) {
    if (mb->local != NULL)
        return true;
    /* The state the owner left: the held message, or SCHED. */
    const tr_msg *expect = mb->held != NULL ? mb->held : TR__MBOX_SCHED;
    return ck_pr_load_ptr(&mb->tail) != expect;
}

static inline bool tr__mbox_end_turn_owner(tr__mbox *mb) {
    tr__mbox_give_back_owner(mb);
    if (tr__mbox_pending_owner(mb))
        return true; /* a push came in: run again */
    tr_msg *h = mb->held;
    tr_msg *expect = h != NULL ? h : TR__MBOX_SCHED;
    /* Release this turn's effects to the producer that next finds IDLE and
     * schedules the actor (pairs with its CAS). Once it succeeds another
     * thread may run the actor: clear `held` first, touch nothing after. */
    mb->held = NULL;
    TR__TSAN_RELEASE(&mb->tail);
    if (!ck_pr_cas_ptr(&mb->tail, expect, TR__MBOX_IDLE)) {
        mb->held = h; /* a push came in: the actor stays scheduled */
        return true;
    }
    /* The held message is off the tail, so no producer writes it again. */
    if (h != NULL)
        h->release(h);
    return false;
}

#endif
