/* mailbox/spsc.h - a lane: one producer thread's queue into one mailbox.
 *
 * See spsc.c for the algorithm. Functions ending in _spsc are for the lane's
 * one producer, _owner for the mailbox's owner (the consumer), _any for
 * either. The owner learns about a lane, and about a parked lane's new
 * messages, through `kick`, a message the producer pushes into the ordinary
 * mailbox; spsc.c says when. */
#ifndef TR_MAILBOX_SPSC_H
#define TR_MAILBOX_SPSC_H

#include <stdbool.h>
#include <stdint.h>

#include "base/atomic.h"
#include "troupe/msg.h"

/* What a slot holds. */
#define TR__LANE_EMPTY 0u
#define TR__LANE_WORD 1u /* type and word: a one-word message, inline */
#define TR__LANE_PTR 2u  /* word is a tr_msg pointer */
#define TR__LANE_TOMB 3u /* closed: no producer may fill it */

/* Slots per segment: 64 KB with the link. Smaller segments (16 KB) meant a
 * trip to the global free list every 1,023 messages per sender, and with
 * four senders that lock's contention cost fanin 5% A/B. */
#define TR__LANE_SLOTS 4095

typedef struct tr__lane_slot {
    uint64_t word;
    uint32_t type;
    uint32_t kind; /* TR__LANE_*: written last by the producer */
} tr__lane_slot;

typedef struct tr__lane_seg {
    tr__lane_slot slot[TR__LANE_SLOTS];
    struct tr__lane_seg *next; /* the producer's next segment, or TOMB */
} tr__lane_seg;

typedef struct tr__lane {
    /* The producer's line. */
    tr__lane_seg *pseg;
    uint32_t pidx;
    /* The owner's line. */
    tr__lane_seg *cseg TR__ALIGNED;
    uint32_t cidx;
    uint8_t attached;       /* on the owner's list */
    uint8_t active;         /* the owner polls it */
    uint8_t dropped;        /* taken off the list for good (a late kick is ignored) */
    struct tr__lane *anext; /* the owner's list of attached lanes */
    /* Shared, written rarely. */
    uint32_t state TR__ALIGNED; /* TR__LANE_ACTIVE / _WAITING / _CLOSED */
    uint32_t kick_queued;       /* 1 while `kick` is in the mailbox */
    uint32_t gone;              /* the producer has let go */
    uint32_t refs;              /* producer, owner, a queued kick */
    tr_msg kick;                /* pushed into the mailbox; never delivered */
} tr__lane;

/* tr__lane.state */
#define TR__LANE_ACTIVE 0u  /* the owner will look at the lane again */
#define TR__LANE_WAITING 1u /* the owner found it empty: the next put kicks */
#define TR__LANE_CLOSED 2u  /* the mailbox closed: puts fail */

/* put results (besides TR_ENOMEM) */
#define TR__LANE_OK 0      /* queued */
#define TR__LANE_KICK 1    /* queued; the caller must push l->kick (it holds a ref for it) */
#define TR__LANE_REFUSED 2 /* closed: nothing was queued, the caller keeps its message */

/* A new lane with three references (producer, owner, the kick the creator
 * pushes to announce it), ACTIVE, its kick marked queued. NULL: no memory. */
tr__lane *tr__lane_new(void);

/* Queue a message: kind TR__LANE_WORD with (type, word), or TR__LANE_PTR
 * with word = (uintptr_t)msg. On TR__LANE_OK or _KICK the lane owns it (the
 * owner gets it, or the owner's close takes it); on _REFUSED or TR_ENOMEM
 * the caller still owns it. */
int tr__lane_put_spsc(tr__lane *l, uint32_t kind, uint32_t type, uint64_t word);

/* True if the owner has taken every message this producer put (or the lane
 * is closed): a send that now goes another way (the mailbox) cannot overtake
 * one still in the lane. The state alone does not say so: the owner's park
 * shows WAITING for a moment before it looks again and finds a late put
 * (tr__lane_park_owner). */
bool tr__lane_drained_spsc(const tr__lane *l);

/* The producer lets go (thread exit, table eviction) after its last put,
 * and drops its reference. */
void tr__lane_detach_spsc(tr__lane *l);

/* True if the producer has let go and the lane is parked since its last
 * put: it is empty and nothing more will come (the owner may drop it). */
bool tr__lane_done_owner(tr__lane *l);

/* The next message: returns its kind and fills type/word, or returns
 * TR__LANE_EMPTY. */
uint32_t tr__lane_take_owner(tr__lane *l, uint32_t *type, uint64_t *word);

/* The owner found the lane empty: park it (WAITING) unless a message got
 * in meanwhile. True if parked. */
bool tr__lane_park_owner(tr__lane *l);

/* The owner popped l->kick from the mailbox: it may be pushed again. */
void tr__lane_kicked_owner(tr__lane *l);

/* Close the lane and hand each message still in it to fn, in order. Later
 * puts are refused. */
void tr__lane_close_owner(tr__lane *l,
                          void (*fn)(void *arg, uint32_t kind, uint32_t type, uint64_t word),
                          void *arg);

/* Drop one reference; the last frees the lane and its segments. */
void tr__lane_release_any(tr__lane *l);
/* fork (core/fork.c): take the process-wide segment lock before fork, give
 * it back after, in the parent and in the child. */
void tr__lane_fork_lock(void);
void tr__lane_fork_unlock(void);

/* The lane whose kick message this is. */
static inline tr__lane *tr__lane_of_kick(tr_msg *kick) {
    return tr__container_of(kick, tr__lane, kick);
}

#endif
