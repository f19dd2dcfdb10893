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

#include "mailbox/mpsc.h"
#include "troupe/actor.h"

/* State up to this size lives in the block (most actors' state is a few
 * words); larger state is allocated at spawn. */
#define TR__INLINE_STATE 32
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

struct tr_ref {
    /* Lines 0-1: the mailbox. Line 0 is written by every sender; senders also
     * read `rt` from it, so it sits there too. */
    tr__mbox mbox;
    /* Lines 2-3: the owner's per-message state. */
    uint32_t stop_req;         /* any thread: 1 once an external stop was requested */
    uint8_t after;             /* owner: TR__AFTER_* work due after this message */
    uint8_t terminating;       /* owner: terminate has begun */
    uint8_t state_owned;       /* state was allocated by the runtime */
    uint8_t stop_as_msg;       /* set in init, read by any thread: see tr__actor_stop_as_message */
    uint32_t room_freed;       /* owner: bounded mailbox room given back since the last wake-up */
    tr_msg *cur;               /* owner: the message being received */
    struct tr__lane *lanes;    /* owner: foreign threads' lanes (core/lane.c) */
    struct tr__lane *lane_cur; /* owner: the lane to read next */
    uint32_t lanes_active;     /* owner: lanes that may hold messages, plus TR__FRONT */
    uint8_t lane_turn;         /* owner: alternates mailbox and lanes */
    uint8_t bdepth;            /* owner: receive functions in bstack */
    uint8_t fixed;             /* owner: tr_become refused (tr__actor_fix_receive) */
    uint64_t activity;         /* owner writes, any reads: messages received (not quiet ones) */
    tr_behavior beh;           /* the spawn behaviour: never changes (sup, pool test it) */
    void *state;
    /* Line 3 continues: stash and become (owner only; core/actor.c). The
     * current receive and the front list share the line every message
     * reads. */
    tr_msg *front;         /* unstashed, received before the mailbox and lanes */
    tr_msg *stash_head;    /* stashed, oldest first, linked by ->next */
    tr_msg *stash_tail;    /* the newest stashed (valid when stash_head is not NULL) */
    uint32_t stash_len;    /* messages in the stash */
    uint32_t stash_cap;    /* tr_spawn_opts.stash_capacity, the default resolved */
    tr_receive_fn receive; /* the current receive: beh.receive, or tr_become's */
    /* Line 4 on: shared, rarely written; packed (no holes): the block is
     * the whole cost of an idle actor (docs/performance.md, "live"). */
    tr_runtime *rt TR__ALIGNED;
    uint64_t enq_pick; /* scheduler: its worker's pick count when queued */
    uint32_t refs;     /* handles + the runtime's while alive + tokens */
    uint32_t alive;    /* 1 from spawn until its exit is final */
    uint8_t trap_exit;
    uint8_t lanes_ok;       /* tr_spawn_opts.lanes: senders read it */
    uint8_t req_static;     /* under lock: the request's text is a runtime one (core/actor.c) */
    uint8_t watch_closed;   /* under lock: the watch list is closed (core/link.c) */
    ck_spinlock_fas_t lock; /* guards req_*, texts' install and watchers */
    uint64_t id;
    const char *name;
    struct tr__worker *home; /* the worker it is pinned to (core/pin.c), or NULL; set at spawn */
    ck_stack_entry_t qlink;  /* global run queue / block free list link */
    tr_exit_kind req_kind;   /* strongest pending stop request */
    int req_code;
    tr__watch *watchers; /* monitors and links on this actor */
    uint64_t next_watch_id;
    /* Names and groups (core/registry.c, core/group.c): TR__DIR_* flags, set
     * once the actor registered, joined or subscribed, read once at its end;
     * its name entry (under the names lock), its memberships (groups lock). */
    struct tr__name_ent *dir_name;
    struct tr__member *dir_groups;
    uint32_t dir;
    tr_exit_kind exit_kind; /* owner: the final reason, once terminating */
    const char *exit_str;   /* the final reason's text: static, or texts->exit */
    int exit_code;
    /* The texts of the stop request and the exit reason: made the first
     * time one is needed (most actors never stop with a text), installed
     * under `lock`, freed with the block (core/blocks.c). NULL if none yet. */
    struct tr__actor_texts *texts;
    tr_receive_fn *bstack; /* owner: tr_become_push's stack (TR_BECOME_DEPTH), or NULL */
    /* Handed out as any state struct: aligned as malloc's memory would be,
     * whatever fields come before it (here at a 16-byte offset: no hole). */
    _Alignas(max_align_t) unsigned char inline_state[TR__INLINE_STATE];
    /* owner: a message a runtime wrapper kept and hands to the user's
     * receive (a pool worker's job), which tr_sender then reads as if it
     * were cur; NULL outside such a call (tr__actor_set_held). */
    tr_msg *held;
    /* Metrics side block (core/metrics.h): NULL until something needs it,
     * then kept with the block. Installed by CAS from any thread. */
    struct tr__ameta *meta;
};

typedef struct tr_ref tr_actor;

_Static_assert(offsetof(struct tr_ref, rt) == 4 * TR__CACHELINE,
               "stash and become fit the owner's lines (2-3)");
/* An idle actor costs its block: 7 lines (live: bytes per actor), all 448
 * bytes used (pinning's home and the metrics pointer took the last 16). */
_Static_assert(sizeof(struct tr_ref) <= 7 * TR__CACHELINE, "the actor block stays at 448 bytes");

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
 * receive, such as a pool worker's (actors/pool_worker.c). Owner only. */
static inline void tr__actor_fix_receive(tr_ctx *ctx) {
    tr__actor_of(ctx)->fixed = 1;
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
static inline void tr__actor_set_held(tr_ctx *ctx, tr_msg *msg) {
    tr__actor_of(ctx)->held = msg;
}

#endif
