/* core/actor.h - the actor control block (struct tr_ref) and its life cycle.
 *
 * A tr_ref handle is a pointer to the control block itself. Blocks are
 * type-stable: they come from the runtime's block pool (core/blocks.c) and are
 * reused only for other actors, and only once their reference count is zero,
 * so a held handle can never point at another actor. Each incarnation gets a
 * fresh 64-bit id (the generation). */
#ifndef TR_CORE_ACTOR_H
#define TR_CORE_ACTOR_H

#include <ck_spinlock.h>
#include <ck_stack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mailbox/mpsc.h"
#include "troupe/actor.h"

/* Blocks come in two classes (core/blocks.c): 192 bytes (three lines, 16
 * bytes of inline state: most actors' few words, and the idle actor's
 * whole cost) and 256 (a fourth line of 64 bytes of state); larger state
 * is allocated at spawn and takes a small block. */
#define TR__BLOCK_SMALL 192
#define TR__BLOCK_LARGE 256
#define TR__INLINE_SMALL 16 /* on the owner's line (tr_actor.inline_small) */
#define TR__INLINE_LARGE 64 /* the large block's fourth line (tr_actor.inline_large) */
#define TR__EXIT_TEXT 80

/* tr_actor.texts (core/actor.c). */
typedef struct tr__actor_texts {
    char req[TR__EXIT_TEXT];  /* the strongest stop request's (under lock) */
    char exit[TR__EXIT_TEXT]; /* the final reason's (owner, then read-only) */
} tr__actor_texts;

/* tr_actor.after: what the turn does once the current message is handled. */
#define TR__AFTER_STOP 1u  /* tr_stop was called: end the actor */
#define TR__AFTER_WAKES 2u /* a reply deferred a wake-up: end the turn (core/worker.c) */

/* Set in tr_actor.lanes_active while the front list (unstashed messages)
 * is not empty: the turn's one test for "more than the mailbox" covers
 * both, so actors with neither pay nothing for either (core/actor.c). The
 * lane code sees it clear: the turn empties the front list first. */
#define TR__FRONT 0x80000000u

typedef struct tr__watch tr__watch;

/* The actor's side block (tr_actor.ext): the owner's rarely used state and
 * what only some actors ever have (stash, become stack, lanes, names and
 * groups, monitors and links, exit texts, a pool worker's held job, a
 * display name, metrics). Made on first need (tr__actor_ext_any),
 * installed once by CAS from any thread, freed with the block
 * (core/blocks.c); the per-message path never reads it unless the actor
 * has lanes or unstashed messages (TR__FRONT). Each field keeps the regime
 * it had in the block: owner only, or under a->lock, or under the
 * registry's and groups' locks. */
typedef struct tr__actor_ext {
    /* Stash and become (owner only; core/actor.c). */
    tr_msg *front;         /* unstashed, received before the mailbox and lanes */
    tr_msg *stash_head;    /* stashed, oldest first, linked by ->next */
    tr_msg *stash_tail;    /* the newest stashed (valid when stash_head is not NULL) */
    uint32_t stash_len;    /* messages in the stash */
    uint32_t stash_cap;    /* tr_spawn_opts.stash_capacity, the default resolved */
    tr_receive_fn *bstack; /* tr_become_push's stack (TR_BECOME_DEPTH), or NULL */
    uint8_t bdepth;        /* receive functions in bstack */
    /* Lanes (owner only; core/lane.c): made at spawn with tr_spawn_opts.lanes. */
    struct tr__lane *lanes;    /* foreign threads' lanes */
    struct tr__lane *lane_cur; /* the lane to read next */
    /* Watch ids (core/link.c): under a->lock while the watch list is open,
     * by a locked faa once it is closed. */
    uint64_t next_watch_id;
    tr__watch *watchers; /* monitors and links on this actor (under a->lock) */
    /* Names and groups (core/registry.c, core/group.c): its name entry
     * (under the names lock), its memberships (groups lock). */
    struct tr__name_ent *dir_name;
    struct tr__member *dir_groups;
    /* TR__DIR_* flags (core/registry.h), set once the actor registered,
     * joined or subscribed, read once at its end. */
    uint32_t dir;
    /* The texts of the stop request and the exit reason: made the first
     * time one is needed (most actors never stop with a text), installed
     * under a->lock. NULL if none yet. */
    struct tr__actor_texts *texts;
    /* A message a runtime wrapper kept and hands to the user's receive (a
     * pool worker's job), which tr_sender then reads as if it were cur;
     * NULL outside such a call (tr__actor_set_held). Owner only. */
    tr_msg *held;
    /* The display name: tr_spawn_opts.name, or a supervisor's child id
     * (core/log.c, tr__label_take); static. Set at spawn, before the
     * handle is published. */
    const char *name;
    /* Metrics (core/metrics.h): NULL until first needed, installed by CAS
     * from any thread, freed with this block. */
    struct tr__ameta *meta;
} tr__actor_ext;

/* The block (live: bytes per actor, docs/performance.md): three cache
 * lines, and a fourth for the large class's state. Who writes each line:
 *   0: senders (the mailbox's producer half at its start) and the
 *      scheduler that queues the actor (qlink, enq_pick), beside what they
 *      read (rt, home, lanes_ok), the reference count any thread moves,
 *      and the stop request's code (rare, under the lock);
 *   1: the owner, per message: the mailbox's consumer half, the turn's
 *      state, the activity count, and a small block's state (the handler
 *      writes it: it stays off the lines other threads read);
 *   2: read-mostly, shared (lane senders and repliers read id; the owner
 *      reads receive and state per message): identity, behaviour, the
 *      side block, the lock, what changes once per actor (exit kind) or
 *      only with a bounded mailbox (room_freed);
 *   3 (large blocks only): the owner's state. */
struct tr_ref {
    union {
        /* Lines 0-1: the mailbox, its producer half on line 0, its consumer
         * half from the start of line 1. The mailbox leaves the rest of
         * line 0 alone (tr__mbox.room), and 4 bytes after its consumer
         * half (room_owner): the fields below live there. Its offset stays
         * 0, so a handle is its mailbox's address. */
        tr__mbox mbox;
        struct {
            unsigned char mbox_producer_[offsetof(tr__mbox, room)];
            tr_runtime *rt;    /* senders read it */
            uint32_t enq_pick; /* scheduler: its worker's pick count when queued (mod 2^32) */
            /* Under lock: the strongest stop request's code; once `final`
             * is set, the final reason's (core/actor.c, set_final). */
            int req_code;
            ck_stack_entry_t qlink;  /* global run queue / block free list link */
            struct tr__worker *home; /* the worker it is pinned to (core/pin.c), or NULL */
            uint32_t refs;           /* handles + the runtime's while alive + tokens */
            uint8_t alive;           /* 1 from spawn until its exit is final */
            uint8_t lanes_ok;        /* tr_spawn_opts.lanes: senders read it */
            uint8_t trap_exit;       /* owner writes, link signals read */
            uint8_t spare0_;
            /* Line 1: the mailbox's consumer half, then its room_owner. */
            unsigned char mbox_consumer_[offsetof(tr__mbox, room_owner) - TR__CACHELINE];
            uint8_t stop_req;    /* any thread: 1 once an external stop was requested */
            uint8_t block_class; /* the pool's (core/blocks.c): set when carved, never changes */
            uint8_t final;       /* under lock: req_code holds the final reason's code */
            uint8_t stop_as_msg; /* set in init, any thread reads: tr__actor_stop_as_message */
        };
    };
    /* Line 1 continues: the owner's per-message state. */
    uint8_t after;         /* owner: TR__AFTER_* work due after this message */
    uint8_t terminating;   /* owner: terminate has begun */
    uint8_t state_owned;   /* state was allocated by the runtime */
    uint8_t lane_turn;     /* owner: alternates mailbox and lanes */
    uint32_t lanes_active; /* owner: lanes that may hold messages, plus TR__FRONT */
    uint64_t activity;     /* owner writes, any reads: messages received (not quiet ones) */
    tr_msg *cur;           /* owner: the message being received */
    /* State of up to TR__INLINE_SMALL bytes, in either class. Handed out
     * as any state struct: aligned as malloc's memory would be. */
    _Alignas(max_align_t) unsigned char inline_small[TR__INLINE_SMALL];
    /* Line 2: shared, rarely written. */
    tr_receive_fn receive; /* the current receive: beh_receive, or tr_become's */
    void *state;
    uint64_t id;
    /* The spawn behaviour's receive and terminate: never change (sup, pool
     * test beh_receive to know their own actors). */
    tr_receive_fn beh_receive;
    void (*terminate)(tr_ctx *ctx, void *state, const tr_exit *why);
    /* The side block: NULL until something needs it, installed by CAS
     * from any thread, freed with the block. */
    tr__actor_ext *ext;
    ck_spinlock_fas_t lock; /* guards req_*, final, texts' install and the watchers */
    uint8_t req_kind;       /* under lock: the strongest pending stop request (tr_exit_kind) */
    uint8_t req_static;     /* under lock: the request's text is a runtime one (core/actor.c) */
    uint8_t watch_closed;   /* under lock: the watch list is closed (core/link.c) */
    uint8_t exit_kind;      /* owner: the final reason, once terminating (tr_exit_kind) */
    uint32_t room_freed;    /* owner, bounded mailboxes: room given back since the last wake-up */
    uint8_t fixed;          /* owner: tr_become refused (tr__actor_fix_receive) */
    uint8_t exit_text;      /* owner: the final reason's text, as req_static (0: texts) */
    uint8_t spare2_[2];
    /* Line 3, large blocks only: state of TR__INLINE_SMALL + 1 to
     * TR__INLINE_LARGE bytes. */
    _Alignas(max_align_t) unsigned char inline_large[];
};

typedef struct tr_ref tr_actor;

_Static_assert(offsetof(struct tr_ref, mbox) == 0 && offsetof(tr__mbox, local) == TR__CACHELINE,
               "the mailbox's consumer half starts line 1");
_Static_assert(offsetof(struct tr_ref, spare0_) + 1 == offsetof(tr__mbox, room) + TR__MBOX_ROOM,
               "the senders' fields fill the mailbox's room on line 0, and no more");
_Static_assert(offsetof(struct tr_ref, stop_req) == offsetof(tr__mbox, room_owner) &&
                   offsetof(struct tr_ref, stop_as_msg) + 1 == sizeof(tr__mbox),
               "the owner's four flags fill the mailbox's room_owner, and no more");
_Static_assert(offsetof(struct tr_ref, receive) == 2 * TR__CACHELINE,
               "the owner's per-message state and a small state fill line 1");
_Static_assert(offsetof(struct tr_ref, inline_large) == 3 * TR__CACHELINE,
               "the shared fields fill line 2");
/* An idle actor costs its block: three lines (live: bytes per actor). A
 * field more goes to tr__actor_ext. */
_Static_assert(sizeof(struct tr_ref) == TR__BLOCK_SMALL, "the small block stays at 192 bytes");
_Static_assert(TR__BLOCK_LARGE == TR__BLOCK_SMALL + TR__INLINE_LARGE, "a large block adds a line");

/* Free a side block and what hangs from it (texts, metrics): with its
 * block (core/blocks.c), once no thread can reach it. */
static inline void tr__actor_ext_free(tr__actor_ext *e) {
    free(e->texts);
    free(e->meta);
    free(e);
}

/* a's side block, or NULL if it has none yet. Any thread (the fields keep
 * their own rules). */
static inline tr__actor_ext *tr__actor_ext_peek(const tr_actor *a) {
    /* Installed once (a CAS, a release) and never changed while the block
     * is in use; pairs with that CAS (x86: a plain load acquires). */
    tr__actor_ext *e = ck_pr_load_ptr(&((tr_actor *)a)->ext);
    if (e != NULL)
        TR__TSAN_ACQUIRE(&((tr_actor *)a)->ext);
    return e;
}
/* Make a's side block (calloc, installed by CAS) unless another thread
 * did first: the one installed, or NULL if out of memory. Any thread. */
tr__actor_ext *tr__actor_ext_make(tr_actor *a);
/* a's side block, made now if it has none; NULL if out of memory. Any
 * thread. */
static inline tr__actor_ext *tr__actor_ext_any(tr_actor *a) {
    tr__actor_ext *e = tr__actor_ext_peek(a);
    return TR__LIKELY(e != NULL) ? e : tr__actor_ext_make(a);
}

static inline tr_ctx *tr__ctx_of(tr_actor *a) {
    return (tr_ctx *)a;
}

static inline tr_actor *tr__actor_of(tr_ctx *ctx) {
    return (tr_actor *)ctx;
}

/* Run one turn of a (on its worker): at most `batch` messages. Returns
 * TR__TURN_DONE (a went idle or ended), TR__TURN_MORE (messages arrived
 * during the turn: run it again soon) or TR__TURN_YIELD (it used up its batch
 * with messages left: others go first). */
enum { TR__TURN_DONE = 0, TR__TURN_MORE = 1, TR__TURN_YIELD = 2 };
/* The turn while TR_METRICS_TIMING is off, and while it is on (the run
 * loop picks, core/worker.c): the same turn, the second one also timing
 * each message (core/metrics.h). */
int tr__actor_run_turn(tr_actor *a, unsigned batch);
int tr__actor_run_turn_timed(tr_actor *a, unsigned batch);
/* From the worker that caught a tr_panic in a's turn, before
 * tr__actor_crashed: the messages the turn handled before the panic, for
 * the drain's count (core/actor.c, drain_count), which was in the turn's
 * frame. The mailbox's `taken` (handed out this turn), less the message
 * being received if the panic came from its receive: exact for messages
 * from the mailbox; those from lanes or unstashed ones in the same turn
 * are not counted. Owner only. */
static inline unsigned tr__actor_panicked_turn_handled_owner(const tr_actor *a) {
    unsigned taken = a->mbox.taken, cur = a->cur != NULL;
    return taken > cur ? taken - cur : 0;
}
/* a's final reason (exit kind, code, text), written when its end began
 * (core/actor.c, set_final). The owner once terminating, or any thread
 * under a->lock once the watch list is closed; the text lives as long as
 * the block. */
tr_exit tr__actor_final_reason(const tr_actor *a);
/* The worker caught a tr_panic from a's callback. */
void tr__actor_crashed(tr_actor *a, int code, const char *text);
/* Ask a to exit with reason (kind/code/text); wakes it if idle. */
int tr__actor_request_exit(tr_actor *a, tr_exit_kind kind, int code, const char *text);
/* A stop request delivered as a message (tr__actor_stop_as_message). */
#define TR__MSG_STOP (TR_MSG_SYSTEM + 0x80u)
/* From init (before the handle is published): from now on tr_actor_stop on
 * this actor does not end it; it delivers a TR__MSG_STOP message (a notice,
 * past a bounded mailbox's limit) and the actor ends when it decides to
 * (supervisors: after their children). Kill, tr_actor_exit, links and
 * runtime close still end it at once. */
void tr__actor_stop_as_message(tr_ctx *ctx);
/* Ask a to exit with reason (as tr__actor_request_exit) and seal its
 * mailbox at once (mailbox/mpsc.h): from the moment this returns 0, pushes
 * and sends to a fail with TR_EDEAD, tr_ref_is_alive says false, and a second seal
 * or stop returns TR_EDEAD; what was queued before is dead-lettered when a
 * ends, as after any stop. Any thread, a itself included; never blocks and
 * allocates nothing, so it also ends an idle actor when memory has run out.
 * TR_EDEAD if a was already sealed or closed (exactly one caller gets 0).
 * (For pools: tr_pool_close.) */
int tr__actor_seal_any(tr_actor *a, tr_exit_kind kind, int code, const char *text);

/* Push msg into `to` (as tr__actor_push), or dead-letter it if it cannot
 * go in (destructors run, reason tr__runtime_dead_reason): msg is gone
 * either way; the push's result says which. For deliveries that no caller
 * waits on (timers, I/O, blocking tasks). Any thread. */
int tr__actor_deliver_any(tr_actor *to, tr_msg *msg);
/* The same past a bounded mailbox's limit (never TR_EFULL): for the runtime's
 * notices that must not be lost (DOWN, EXIT, ASK_FAILED). */
int tr__actor_push_notice(tr_actor *a, tr_msg *msg);
/* From a's init: its receive function may not be replaced (tr_become and
 * friends return TR_ESTATE): for runtime behaviours that wrap the user's
 * receive, such as a pool worker's (actors/pool_worker.c). Makes the side
 * block, where such a wrapper's held message goes (tr__actor_set_held):
 * 0, or TR_ENOMEM (fail init with it). Owner only. */
static inline int tr__actor_fix_receive(tr_ctx *ctx) {
    tr_actor *a = tr__actor_of(ctx);
    if (tr__actor_ext_any(a) == NULL)
        return TR_ENOMEM;
    a->fixed = 1;
    return 0;
}
/* End a's turn right after the message being received (owner only): a
 * reply given in it deferred the wake-up of a sleeping asker, which goes
 * out once the turn is over (core/worker.h, tr__worker_defer_wake_owner). */
static inline void tr__actor_end_turn_after_message_owner(tr_actor *a) {
    a->after |= TR__AFTER_WAKES;
}
/* The leftovers of an ending actor: what was still queued for it (mailbox,
 * lanes, stash) when its end began. The core parks them on the mailbox's
 * private list, so that a panic in terminate cannot lose them, and
 * dead-letters whatever is there once terminate returns. From terminate
 * (owner only) a runtime behaviour may take them and put back, in order,
 * what it does not handle itself (actors/pool_worker.c hands its jobs back
 * to the pool). */
static inline tr_msg *tr__actor_leftovers_take_owner(tr_ctx *ctx) {
    tr_actor *a = tr__actor_of(ctx);
    tr_msg *left = a->mbox.local;
    a->mbox.local = NULL;
    return left;
}
static inline void tr__actor_leftovers_put_owner(tr_ctx *ctx, tr_msg *left) {
    tr__actor_of(ctx)->mbox.local = left;
}
/* Around a runtime wrapper's call of the user's receive with a message it
 * kept (so cur is NULL): tr_sender answers for msg as for the message being
 * received. Set msg before the call, NULL after it. Owner only. */
static inline tr_msg *tr__actor_held_owner(const tr_actor *a) {
    const tr__actor_ext *e = tr__actor_ext_peek(a);
    return e != NULL ? e->held : NULL;
}
/* Set held: the wrapper's init makes the side block first (a NULL
 * tr__actor_ext_any there fails its init with TR_ENOMEM). */
static inline void tr__actor_set_held(tr_ctx *ctx, tr_msg *msg) {
    tr__actor_of(ctx)->ext->held = msg; /* made in the wrapper's init (tr__actor_ext_any) */
}

#endif
