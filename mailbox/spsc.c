/* mailbox/spsc.c - a lane: one producer thread's queue into one mailbox.
 *
 * A thread that sends many messages to one actor from outside the runtime
 * gets a lane into it: an unbounded single-producer queue of 16-byte slots
 * in 64 KB segments (the segmented SPSC queues of FastFlow and Vyukov). A
 * one-word message travels inline, {type, word}, with no message block; any
 * other message travels as a pointer. Four slots share a cache line and the
 * owner reads them in address order, so many messages cross cores per line
 * transfer and the owner's reads run ahead of it, where a linked mailbox
 * costs one dependent miss per message. The producer writes only its lane:
 * no line is shared with other senders.
 *
 * Publishing: the producer writes the payload, then swaps the slot's kind
 * in (an xchg: the release that publishes the payload, and a full barrier).
 *
 * Parking (a Dekker handshake on `state` and the slots): an owner that finds
 * the lane empty swaps `state` to WAITING and looks again; a producer reads
 * `state` after its publishing xchg. Either the owner's second look sees the
 * new slot, or the producer sees WAITING, moves it back to ACTIVE (one CAS,
 * so one producer action per park) and pushes `kick`, a message in the
 * ordinary mailbox, which wakes the actor through the mailbox's own
 * exactly-once edge. `kick_queued` keeps the one kick message from being
 * queued twice; the owner clears it (xchg) when it pops the kick, before it
 * looks at the lane.
 *
 * Closing (the owner, when its actor ends): `state` becomes CLOSED, then the
 * owner swaps TOMB into each slot from its position on, taking what was
 * published, until the first slot that was empty; at a segment's end it
 * swaps TOMB into the link. A producer whose xchg returns TOMB, or whose CAS
 * on a link fails, was refused and keeps its message. One that published
 * and then reads CLOSED takes its slot back with a CAS (kind -> EMPTY); if
 * the close swapped TOMB in first, the close has the message and will
 * dead-letter it. Every message is thus delivered, dead-lettered, or handed
 * back to its sender, exactly once.
 *
 * Segments come from 2 MB chunks mapped and populated at once and go back
 * to a global free list (never to the OS): a backlog of a million messages
 * costs no page faults after the first time. Nothing here knows about
 * actors or workers. */
#include "mailbox/spsc.h"

#include <assert.h>
#include <ck_pr.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/lock.h"
#include "base/refcount.h"
#include "troupe/error.h"

#define TOMB_SEG ((tr__lane_seg *)1)
#define CHUNK (2u << 20)
#define SEG_SIZE ((sizeof(tr__lane_seg) + 63) & ~(size_t)63)

static ck_spinlock_fas_t seg_lock = CK_SPINLOCK_FAS_INITIALIZER;
static tr__lane_seg *seg_free;       /* linked through ->next */
static char *chunk_next, *chunk_end; /* the uncarved rest of the newest chunk */

void tr__lane_fork_lock(void) {
    tr__spin_lock(&seg_lock);
}

void tr__lane_fork_unlock(void) {
    tr__spin_unlock(&seg_lock);
}

/* A segment with every slot EMPTY and no link. */
static tr__lane_seg *seg_get(void) {
    tr__spin_lock(&seg_lock);
    tr__lane_seg *s = seg_free;
    if (s != NULL) {
        seg_free = s->next;
    } else {
        if ((size_t)(chunk_end - chunk_next) < SEG_SIZE) {
            /* Anonymous memory reads as zero: every slot EMPTY. */
            void *c = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (c == MAP_FAILED) {
                tr__spin_unlock(&seg_lock);
                return NULL;
            }
            chunk_next = c;
            chunk_end = chunk_next + CHUNK;
        }
        s = (tr__lane_seg *)(void *)chunk_next;
        chunk_next += SEG_SIZE;
    }
    tr__spin_unlock(&seg_lock);
    s->next = NULL;
    return s;
}

/* s must have every slot EMPTY again. */
static void seg_put(tr__lane_seg *s) {
    tr__spin_lock(&seg_lock);
    s->next = seg_free;
    seg_free = s;
    tr__spin_unlock(&seg_lock);
}

static void seg_reset_put(tr__lane_seg *s) {
    for (unsigned i = 0; i < TR__LANE_SLOTS; i++)
        s->slot[i].kind = TR__LANE_EMPTY;
    seg_put(s);
}

tr__lane *tr__lane_new(void) {
    /* Aligned: the producer's and the owner's fields are on their own lines. */
    tr__lane *l = aligned_alloc(TR__CACHELINE, sizeof(*l));
    if (l == NULL)
        return NULL;
    memset(l, 0, sizeof(*l));
    if ((l->pseg = l->cseg = seg_get()) == NULL) {
        free(l);
        return NULL;
    }
    l->state = TR__LANE_ACTIVE;
    l->kick_queued = 1; /* the creator pushes it to announce the lane */
    l->refs = 3;
    return l;
}

/* The state after our slot was published: OK, KICK or REFUSED. */
static int after_publish(tr__lane *l, tr__lane_slot *s, uint32_t kind) {
    for (;;) {
        /* Ordered after our slot's publication by the fas on its kind (a
         * full barrier): the Dekker half that pairs with the owner's park. */
        uint32_t st = ck_pr_load_32(&l->state);
        if (st == TR__LANE_ACTIVE)
            return TR__LANE_OK; /* the owner will look at the lane again */
        if (st == TR__LANE_CLOSED)
            break;
        /* WAITING: the owner parked the lane and may not look again. One
         * CAS decides which put tells it; the xchg on kick_queued pairs with
         * the owner's in tr__lane_kicked_owner. */
        if (ck_pr_cas_32(&l->state, TR__LANE_WAITING, TR__LANE_ACTIVE)) {
            if (ck_pr_fas_32(&l->kick_queued, 1) != 0)
                return TR__LANE_OK;            /* a queued kick will make it look */
            TR__TSAN_ACQUIRE(&l->kick_queued); /* the owner is done with the kick */
            tr__refcount_retain(&l->refs);     /* the kick's reference */
            return TR__LANE_KICK;
        }
    }
    /* Closed after we published: take the slot back, unless the close took
     * it first (it swapped TOMB in and will dead-letter the message). */
    if (ck_pr_cas_32(&s->kind, kind, TR__LANE_EMPTY))
        return TR__LANE_REFUSED;
    TR__TSAN_ACQUIRE(s); /* the close is done with the slot */
    return TR__LANE_OK;
}

int tr__lane_put_spsc(tr__lane *l, uint32_t kind, uint32_t type, uint64_t word) {
    assert(kind == TR__LANE_WORD || kind == TR__LANE_PTR);
    /* Relaxed early-out: a close we miss here is caught below (the TOMB the
     * close leaves in the slot or the segment link) or by after_publish. */
    if (ck_pr_load_32(&l->state) == TR__LANE_CLOSED)
        return TR__LANE_REFUSED;
    if (l->pidx == TR__LANE_SLOTS) {
        tr__lane_seg *n = seg_get();
        if (n == NULL)
            return TR_ENOMEM;
        /* Publishes the new segment (its slots are EMPTY); pairs with the
         * owner's load of ->next. Fails if the close tombstoned the link. */
        TR__TSAN_RELEASE(&l->pseg->next);
        if (!ck_pr_cas_ptr(&l->pseg->next, NULL, n)) {
            seg_put(n);
            return TR__LANE_REFUSED;
        }
        l->pseg = n;
        l->pidx = 0;
    }
    tr__lane_slot *s = &l->pseg->slot[l->pidx];
    s->word = word;
    s->type = type;
    /* Publishes the payload (pairs with the owner's load of kind) and is the
     * full barrier before we read state (Dekker with the owner's park). */
    TR__TSAN_RELEASE(s);
    uint32_t was = ck_pr_fas_32(&s->kind, kind);
    if (was == TR__LANE_TOMB)
        return TR__LANE_REFUSED; /* the close went past this slot */
    l->pidx++;
    return after_publish(l, s, kind);
}

bool tr__lane_drained_spsc(const tr__lane *l) {
    /* Relaxed: a close we miss is seen as the slot check below. */
    if (ck_pr_load_32(&l->state) == TR__LANE_CLOSED)
        return true;
    /* Nothing put in the newest segment: no put was ever made, or the one
     * that linked the segment was refused (the lane is closing). The owner
     * leaves a segment only once it took all of it (next_slot). */
    if (l->pidx == 0)
        return true;
    /* Our last slot: the owner stores EMPTY after it took it, and takes in
     * order, so every earlier put was taken too. The segment is still the
     * lane's (the owner frees a segment only once we linked the next). */
    uint32_t k = ck_pr_load_32(&l->pseg->slot[l->pidx - 1].kind);
    /* Acquire, so what we send next (a mailbox push, a release) cannot be
     * read by the owner before its store of EMPTY (tr__lane_take_owner):
     * the owner handles the taken message before it pops ours. */
    ck_pr_fence_acquire();
    TR__TSAN_ACQUIRE(&l->pseg->slot[l->pidx - 1]);
    return k == TR__LANE_EMPTY;
}

void tr__lane_detach_spsc(tr__lane *l) {
    /* After our last put (pairs with tr__lane_done_owner). The owner frees a
     * parked lane whose producer is gone when it next sweeps its list. */
    TR__TSAN_RELEASE(&l->gone);
    ck_pr_store_32(&l->gone, 1);
    tr__lane_release_any(l);
}

bool tr__lane_done_owner(tr__lane *l) {
    if (!ck_pr_load_32(&l->gone))
        return false;
    TR__TSAN_ACQUIRE(&l->gone); /* every put happened before this */
    /* Still parked after the last put: a put after our park would have moved
     * the state to ACTIVE (and queued the kick) before `gone` was set. */
    return ck_pr_load_32(&l->state) == TR__LANE_WAITING;
}

/* The slot the owner reads next, moving to the next segment when the
 * producer has linked one; NULL if the producer has not got that far. */
static tr__lane_slot *next_slot(tr__lane *l) {
    if (l->cidx == TR__LANE_SLOTS) {
        tr__lane_seg *n = ck_pr_load_ptr(&l->cseg->next);
        if (n == NULL)
            return NULL;
        TR__TSAN_ACQUIRE(&l->cseg->next); /* pairs with the producer's link CAS */
        tr__lane_seg *old = l->cseg;
        l->cseg = n;
        l->cidx = 0;
        seg_put(old); /* the producer moved on to n: old is ours */
    }
    return &l->cseg->slot[l->cidx];
}

uint32_t tr__lane_take_owner(tr__lane *l, uint32_t *type, uint64_t *word) {
    tr__lane_slot *s = next_slot(l);
    if (s == NULL)
        return TR__LANE_EMPTY;
    uint32_t k = ck_pr_load_32(&s->kind); /* pairs with the producer's xchg */
    if (k != TR__LANE_WORD && k != TR__LANE_PTR)
        return TR__LANE_EMPTY;
    TR__TSAN_ACQUIRE(s);
    *type = s->type;
    *word = s->word;
    /* Ready for the segment's next use. The producer never comes back to a
     * slot it filled unless the lane is CLOSED, and only the owner closes. */
    ck_pr_store_32(&s->kind, TR__LANE_EMPTY);
    l->cidx++;
    __builtin_prefetch(s + 16); /* four lines ahead */
    return k;
}

bool tr__lane_park_owner(tr__lane *l) {
    /* Full barrier: WAITING is visible before we look again (Dekker with the
     * producer's xchg on a slot and its load of state). */
    ck_pr_fas_32(&l->state, TR__LANE_WAITING);
    tr__lane_slot *s = next_slot(l);
    bool more = s != NULL ? ck_pr_load_32(&s->kind) != TR__LANE_EMPTY
                          : ck_pr_load_ptr(&l->cseg->next) != NULL;
    if (!more)
        return true;
    /* A put got in: look again. If the CAS fails, that put moved the lane to
     * ACTIVE itself and is pushing the kick: harmless, the owner ignores a
     * kick for an active lane. */
    ck_pr_cas_32(&l->state, TR__LANE_WAITING, TR__LANE_ACTIVE);
    return false;
}

void tr__lane_kicked_owner(tr__lane *l) {
    /* Full barrier: a producer that now finds 0 pushes the kick again (we
     * are done with the message: release); what it put before its xchg, our
     * next look at the lane sees. */
    TR__TSAN_RELEASE(&l->kick_queued);
    ck_pr_fas_32(&l->kick_queued, 0);
}

void tr__lane_close_owner(tr__lane *l,
                          void (*fn)(void *arg, uint32_t kind, uint32_t type, uint64_t word),
                          void *arg) {
    /* Full barrier: a put that publishes after this reads CLOSED. */
    ck_pr_fas_32(&l->state, TR__LANE_CLOSED);
    tr__lane_seg *seg = l->cseg;
    unsigned i = l->cidx;
    for (;;) {
        if (i == TR__LANE_SLOTS) {
            /* Pairs with the producer's link CAS: it fails from now on. */
            tr__lane_seg *n = ck_pr_fas_ptr(&seg->next, TOMB_SEG);
            if (n == NULL)
                break;
            TR__TSAN_ACQUIRE(&seg->next);
            l->cseg = n;
            seg_reset_put(seg); /* the producer moved on to n */
            seg = n;
            i = 0;
            continue;
        }
        tr__lane_slot *s = &seg->slot[i];
        /* Takes a published message, or stops a publish still to come. */
        uint32_t k = ck_pr_fas_32(&s->kind, TR__LANE_TOMB);
        if (k == TR__LANE_EMPTY)
            break; /* puts fill slots in order: nothing further */
        TR__TSAN_ACQUIRE(s);
        if (k == TR__LANE_WORD || k == TR__LANE_PTR)
            fn(arg, k, s->type, s->word);
        i++;
    }
    l->cidx = i;
}

void tr__lane_release_any(tr__lane *l) {
    /* The last holder frees: release our uses first (pairs with the acquire
     * below in whoever drops the last reference). */
    if (!tr__refcount_release(&l->refs))
        return;
    tr__lane_seg *s = l->cseg;
    while (s != NULL && s != TOMB_SEG) {
        tr__lane_seg *n = s->next;
        seg_reset_put(s);
        s = n;
    }
    free(l);
}
