/* core/metrics.h - per-actor, per-worker and runtime metrics (internal).
 *
 * The always-on counters live where their writer already writes: messages
 * handled in tr_actor.activity, mailbox depth in the mailbox's own pushed /
 * popped counters (mailbox/mpsc.h), worker counters in tr__worker. What costs
 * a clock read per message (TR_METRICS_TIMING) goes to a side block per
 * actor block (tr__ameta), allocated the first time something needs it and
 * kept with the block for its later actors, so the actor block grows by
 * one pointer only. actors/ tags the actors it starts (parent, name, slot,
 * restarts) through tr__ameta_tag_any without core knowing what a
 * supervisor is. Snapshots (core/introspect.c) read all of it. */
#ifndef TR_CORE_METRICS_H
#define TR_CORE_METRICS_H

#include <ck_pr.h>
#include <stdint.h>

#include "base/atomic.h"
#include "troupe/actor.h"
#include "troupe/introspect.h"

typedef struct tr_ref tr_actor;

/* The side block of an actor block. Every field is written with ck_pr
 * stores and read with ck_pr loads: snapshots read it from any thread. */
typedef struct tr__ameta {
    /* Tags, set by whoever started the actor (tr__ameta_tag_any) or by the
     * actor itself (tr__ameta_role_owner). The record lives in the actor's
     * side block (tr__actor_ext.meta) and goes with it, so each actor
     * starts without one. */
    uint64_t parent_id;
    const char *tag; /* static: a child spec id, a pool's name */
    int32_t slot;    /* pool slot, -1 */
    uint32_t restarts;
    uint32_t role; /* tr_actor_role */
    int32_t strategy;
    uint64_t children_restarted;
    /* Dead letters whose target was this actor (any thread adds: a locked
     * increment, on the cold path that dead-letters), plus those of its
     * earlier incarnations that its supervisor or pool carried over. */
    uint64_t dead_letters;
    /* Reports' label (core/log.c, tr__label_take): the supervisor's or
     * pool's name (static) or NULL, a pool worker's slot + 1 (else 0), and
     * its restarts; written at spawn before the actor is published. */
    const char *by;
    uint32_t by_slot;
    uint32_t by_restarts;
    /* TR_METRICS_TIMING, owner writes. */
    uint64_t busy_ns;
    uint32_t handler_hist[TR_HIST_BUCKETS];
    uint32_t mailbox_hist[TR_HIST_BUCKETS];
} tr__ameta;

/* a's metrics record, made on first use (any thread: a CAS installs it in
 * the side block, made too if need be; a loser frees its own). NULL out of
 * memory. Freed with the side block (core/blocks.c). */
tr__ameta *tr__ameta_get_any(tr_actor *a);
/* a's metrics record if it has one, else NULL; never allocates. */
tr__ameta *tr__ameta_peek_any(const tr_actor *a);

/* For actors/: describe the actor `child` that `parent_id` started. tag is
 * a static string (a child spec id, a pool's name) or NULL; slot -1 if
 * none; restarts: times this child (spec or slot) was restarted before.
 * Any thread, while the caller holds a handle to child. Out of memory the
 * tag is lost (snapshots show the spawn name and no parent). */
void tr__ameta_tag_any(tr_ref *child, uint64_t parent_id, const char *tag, int slot,
                       uint32_t restarts);
/* From the dead-letter path (core/runtime.c): one more dead letter whose
 * target was a. Any thread; out of memory it is not counted per actor. */
void tr__ameta_dead_letter_any(tr_actor *a);
/* For actors/: a's dead letters so far (its earlier incarnations' included),
 * to carry over to the next incarnation of its child spec or pool slot. Any
 * thread, while the caller holds a handle to a. */
uint64_t tr__ameta_dead_letters_any(const tr_actor *a);
/* For actors/: child, a new incarnation, starts with n dead letters (its
 * predecessors', tr__ameta_dead_letters_any), as `restarts` carries their
 * restarts. Any thread, while the caller holds a handle to child. */
void tr__ameta_carry_dead_letters_any(tr_ref *child, uint64_t n);
/* For actors/: from the actor's own callbacks, say what it is (role, and
 * a supervisor's strategy, else -1). */
void tr__ameta_role_owner(tr_ctx *ctx, tr_actor_role role, int strategy);
/* For actors/: a supervisor or pool restarted a child (owner). */
void tr__ameta_restarted_owner(tr_ctx *ctx);

/* The log2 bucket of a value in ns. */
static inline unsigned tr__hist_bucket(uint64_t ns) {
    return ns < 2 ? 0 : 63u - (unsigned)__builtin_clzll(ns);
}
/* Count one sample (the histogram's one writer). */
static inline void tr__hist_add_owner(uint32_t *hist, uint64_t ns) {
    uint32_t *b = &hist[tr__hist_bucket(ns)];
    /* Plain store: one writer; snapshots read it with a load (a count). */
    ck_pr_store_32(b, *b + 1);
}

/* The runtime's level from its config and TROUPE_METRICS. */
int tr__metrics_level_init(int cfg_level);
/* From tr_runtime_new: set rt's level (config, environment). */
void tr__metrics_start(tr_runtime *rt, int cfg_level);
/* From runtime_destroy: rt no longer times anything. */
void tr__metrics_stop(tr_runtime *rt);

/* Message stamps (TR_METRICS_TIMING): a send stamps the time in the high
 * bits of tr_msg.flags, the receiver reads the wait at its pop. 22 bits of
 * microseconds: waits are measured modulo 4.19 s. */
#define TR__MSG_STAMPED 0x200u
#define TR__STAMP_SHIFT 10
#define TR__STAMP_MASK 0x3FFFFFu
void tr__msg_stamp_now(tr_msg *m);
/* The wait of a message stamped with flags (its tr_msg.flags), in ns, at
 * microsecond resolution. */
uint64_t tr__msg_wait_ns(uint32_t flags, uint64_t now_ns);

#endif
