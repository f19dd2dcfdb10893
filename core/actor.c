/* core/actor.c - spawning, running and ending actors.
 *
 * An actor's callbacks run only while it is scheduled, and the mailbox makes
 * sure it is scheduled at most once at a time (mailbox/mpsc.c), so its state
 * needs no lock. A turn handles at most `batch` messages; between messages it
 * checks for a stop request (tr_actor_stop/kill/exit, runtime close, a link),
 * which lives on the owner's cache line and costs one L1 load.
 *
 * Ending is done only by the owner, in one place (finish): close the mailbox
 * (later sends fail with TR_EDEAD), run terminate once, dead-letter what was
 * queued, tell monitors and links, free the state, drop the runtime's
 * reference. The block itself is recycled when the last handle goes.
 *
 * Become and stash (the last section) are owner-only state in the actor's
 * side block (tr__actor_ext, made on first need: an idle actor is its
 * 256-byte block and nothing more). The turn calls `receive` (on the
 * block's owner line), which spawn sets to beh_receive and tr_become
 * overwrites; beh_receive itself never changes, so other threads may test
 * it (supervisors and pools know their own by it). An actor that never
 * becomes pays nothing.
 *
 * A stash is a FIFO linked through the messages' own ->next (no
 * allocation). Unstashing prepends it to `front`, a LIFO of chains that
 * next_message reads before the mailbox and the lanes. TR__FRONT in
 * lanes_active says the front list is not empty, so the turn's existing
 * test for lanes covers it: an actor that never unstashes pays nothing.
 * Front messages took their room in a bounded mailbox when first popped
 * (given back when that turn ended), so taking them again counts nothing.
 * Invariant: stash and front are empty once finish has begun; their
 * messages are on the leftover list it dead-letters (see
 * tr__actor_leftovers_take_owner). */
#include "core/actor.h"

#include <assert.h>
#include <ck_pr.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fence.h"
#include "core/futex.h"
#include "core/lane.h"
#include "core/metrics.h"
#include "core/log.h"
#include "base/lock.h"
#include "base/refcount.h"
#include "core/ask.h"
#include "core/blocks.h"
#include "core/link.h"
#include "core/msg.h"
#include "core/pin.h"
#include "core/registry.h"
#include "core/runtime.h"
#include "core/worker.h"
#include "troupe/error.h"

/* --- references ---------------------------------------------------------- */

int tr_ref_retain(tr_ref *ref) {
    if (ref == NULL)
        return TR_EINVAL;
    assert(ck_pr_load_32(&ref->refs) > 0);
    /* Relaxed: a new reference is made from one we hold. */
    tr__refcount_retain(&ref->refs);
    return 0;
}

int tr_ref_release(tr_ref *ref) {
    if (ref == NULL)
        return TR_EINVAL;
    tr_runtime *rt = ref->rt;
    if (TR__UNLIKELY(tr__runtime_forked(rt))) /* the parent's: left alone (core/fork.c) */
        return TR_EFORKED;
    assert(ck_pr_load_32(&ref->refs) > 0);
    /* Release our uses of the block before the last holder recycles it;
     * the locked decrement is a full barrier on x86. */
    if (!tr__refcount_release(&ref->refs))
        return 0;
    assert(!ck_pr_load_8(&ref->alive));
    tr__actor_drop_watchers(ref);
    tr__block_free(rt, ref);
    tr__runtime_block_gone(rt);
    return 0;
}

bool tr_ref_is_alive(const tr_ref *ref) {
    if (ref == NULL)
        return false;
    return !tr__mbox_closed_any(&ref->mbox) && ck_pr_load_8(&((tr_ref *)ref)->alive);
}

uint64_t tr_ref_id(const tr_ref *ref) {
    return ref != NULL ? ref->id : 0;
}

tr_runtime *tr_ref_runtime(const tr_ref *ref) {
    return ref != NULL ? ref->rt : NULL;
}

int64_t tr_ref_mailbox_len(const tr_ref *ref) {
    if (ref == NULL)
        return TR_EINVAL;
    if (tr__mbox_closed_any(&ref->mbox))
        return TR_EDEAD;
    uint32_t n = tr__mbox_depth_any(&ref->mbox);
    uint32_t cap = ref->mbox.cap;
    /* A bounded mailbox shows at most its bound (notices may pass it). */
    return (int64_t)(cap != 0 && n > cap ? cap : n);
}

/* --- the side block ------------------------------------------------------ */

__attribute__((noinline)) tr__actor_ext *tr__actor_ext_make(tr_actor *a) {
    tr__actor_ext *e;
    tr__actor_ext *fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL)
        return NULL;
    fresh->stash_cap = TR_STASH_DEFAULT; /* spawn sets the actor's own, if any */
    fresh->next_watch_id = 1;
    /* Publishes the record's zeroed fields to every later reader (pairs
     * with the load in tr__actor_ext_peek); the locked CAS is a full
     * barrier on x86. Exactly one install wins; the loser frees its own. */
    TR__TSAN_RELEASE(&a->ext);
    if (ck_pr_cas_ptr_value(&a->ext, NULL, fresh, &e))
        return fresh;
    TR__TSAN_ACQUIRE(&a->ext);
    free(fresh);
    return e;
}

/* --- spawn --------------------------------------------------------------- */

static void finish(tr_actor *a, tr_exit_kind kind, int code, const char *text);
static void set_final(tr_actor *a, int code, unsigned known);

/* Texts the runtime gives reasons (and the kinds' names), by index: an
 * actor stopped or ending with one of these needs no texts record, only
 * its index (a runtime's close stops every actor with the first: no
 * allocation per actor, nor memory to run out of, at close). Index 0:
 * none. */
enum {
    TEXT_RUNTIME_SHUTDOWN = 1,
    TEXT_NORMAL,
    TEXT_SHUTDOWN,
    TEXT_KILLED,
    TEXT_ERROR,
    TEXT_INIT_FAILED,
    TEXT_COUNT
};
static const char *const known_texts[TEXT_COUNT] = {
    [TEXT_RUNTIME_SHUTDOWN] = "runtime shutdown",
    [TEXT_NORMAL] = "normal",
    [TEXT_SHUTDOWN] = "shutdown",
    [TEXT_KILLED] = "killed",
    [TEXT_ERROR] = "error",
    [TEXT_INIT_FAILED] = "init failed",
};

/* Incarnation ids, unique in the process (tr_ref_id): one counter for every
 * runtime. A worker takes IDS_RANGE of them at a time and hands them out
 * alone, so actors spawning actors write the shared line once per
 * IDS_RANGE spawns; foreign threads and private workers take one each. */
#define IDS_RANGE 512
static uint64_t ids_next; /* the last id taken, process-wide */

static __attribute__((noinline)) uint64_t new_ids_range(tr__worker *w) {
    /* Relaxed: the FAA only has to hand out disjoint ranges; nothing is
     * published through it. */
    w->ids = ck_pr_faa_64(&ids_next, IDS_RANGE);
    w->ids_end = w->ids + IDS_RANGE;
    return ++w->ids;
}

static uint64_t new_id(tr_runtime *rt) {
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && TR__LIKELY(!w->priv)) { /* a private worker may be driven by any thread */
        if (TR__LIKELY(w->ids != w->ids_end))
            return ++w->ids;
        return new_ids_range(w);
    }
    return ck_pr_faa_64(&ids_next, 1) + 1;
}

static void count_spawn(tr_runtime *rt) {
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && TR__LIKELY(!w->priv))           /* stats sum the pool's workers only */
        ck_pr_store_64(&w->spawned, w->spawned + 1); /* owner-only, read by stats */
    else
        ck_pr_inc_64(&rt->spawned); /* a statistic: orders nothing */
}

static int run_init(tr_actor *a, const tr_behavior *beh, void *arg) {
    /* tr_panic inside init unwinds to this frame, on whatever thread spawns. */
    tr__panic_frame f, **slot = tr__panic_slot();
    tr__panic_frame *prev = *slot;
    volatile int rc;
    f.actor = a;
    f.code = 0;
    *slot = &f;
    /* Sends from init carry the new actor as their sender, on any thread;
     * the spawning actor's (if any) comes back after (prev_self is not
     * written after the setjmp: valid after a longjmp). */
    tr_actor *prev_self = tr__tls_self;
    tr__tls_self = a;
    volatile int panicked = 0;
    if (setjmp(f.jb) == 0) {
        rc = beh->init(tr__ctx_of(a), a->state, arg);
    } else {
        rc = f.code != 0 ? f.code : TR_ECRASHED;
        panicked = 1;
    }
    *slot = prev;
    tr__tls_self = prev_self;
    if (TR__UNLIKELY(rc != 0))
        tr__log_crash(a, "init", rc, panicked ? f.text : NULL, NULL);
    return rc;
}

static int setup_state(tr_actor *a, const tr_behavior *beh, const tr_spawn_opts *o) {
    a->state_owned = 0;
    a->state = NULL;
    if (o->state_size == 0) {
        if (beh->init == NULL)
            a->state = o->arg;
        return 0;
    }
    void *in = tr__block_inline(a, o->state_size);
    if (in != NULL) {
        memset(in, 0, o->state_size);
        a->state = in;
        return 0;
    }
    a->state = calloc(1, o->state_size);
    if (a->state == NULL)
        return TR_ENOMEM;
    a->state_owned = 1;
    return 0;
}

static void free_state(tr_actor *a) {
    if (a->state_owned)
        free(a->state);
    a->state = NULL;
    a->state_owned = 0;
    tr__actor_ext *e = tr__actor_ext_peek(a);           /* owner */
    if (TR__UNLIKELY(e != NULL) && e->bstack != NULL) { /* tr_become_push's stack */
        free(e->bstack);
        e->bstack = NULL;
        e->bdepth = 0;
    }
}

int tr_spawn(tr_runtime *rt, const tr_behavior *behavior, const tr_spawn_opts *opts, tr_ref **out) {
    static const tr_spawn_opts no_opts;
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || behavior == NULL || behavior->receive == NULL)
        return TR_EINVAL;
    const tr_spawn_opts *o = opts != NULL ? opts : &no_opts;
    if (o->lanes > 1)
        return TR_EINVAL;
    /* A drain refuses foreign spawns, not its actors' (core/drain.c). */
    if (TR__UNLIKELY(!tr__runtime_accepts(ck_pr_load_32(&rt->state), tr__worker_of(rt) != NULL)))
        return ck_pr_load_32(&rt->state) == TR__RT_FORKED ? TR_EFORKED : TR_ECLOSED;
    tr__worker *home = NULL; /* pinned: its worker (core/pin.c) */
    int rc;
    if (TR__UNLIKELY(o->pin != TR_PIN_NONE) && (rc = tr__pin_prepare(rt, o->pin, &home)) != 0)
        return rc;
    tr_actor *a = tr__block_alloc(rt, tr__block_class_for(o->state_size));
    if (a == NULL) {
        tr__pin_abandon(home);
        return TR_ENOMEM;
    }
    uint32_t cap = o->mailbox_capacity;
    if (cap == 0)
        cap = rt->cfg.mailbox_capacity;
    if (cap == TR_MAILBOX_UNBOUNDED)
        cap = 0;
    /* With the metrics switch on, an unbounded mailbox keeps a count, so
     * its depth is exact (core/metrics.h); the push then pays for it. */
    if (cap == 0 && TR__UNLIKELY(ck_pr_load_32(&rt->metrics) == TR_METRICS_TIMING))
        cap = TR__MBOX_CAP_COUNTED;
    tr__mbox_init(&a->mbox, cap); /* SCHED: ours until the end of spawn */
    /* Line by line in the block's order, nothing between them, so the
     * compiler merges the zero stores into a few wide ones (refs and alive
     * are set below, when the actor is published; ext is NULL: freed with
     * the last incarnation's block). */
    a->rt = rt;
    a->home = home;
    a->req_code = 0;
    a->lanes_ok = (uint8_t)o->lanes; /* published with the handle, like rt */
    a->trap_exit = 0;
    a->stop_req = 0;
    a->final = 0;
    a->stop_as_msg = 0;
    a->after = a->terminating = 0;
    a->state_owned = 0; /* setup_state sets it */
    a->lane_turn = 0;
    a->lanes_active = 0;
    a->activity = 0;
    a->cur = NULL;
    a->receive = behavior->receive;
    a->id = new_id(rt);
    a->beh_receive = behavior->receive;
    a->terminate = behavior->terminate;
    assert(a->ext == NULL);
    a->lock = (ck_spinlock_fas_t)CK_SPINLOCK_FAS_INITIALIZER;
    a->req_kind = TR_EXIT_NORMAL;
    a->req_static = 0;
    a->watch_closed = 0;
    a->room_freed = 0;
    a->fixed = 0;
    tr__label_take(a); /* a supervisor's or pool's names for it, if any (side block) */
    /* A display name, lanes and a stash bound of its own live in the side
     * block: made now for the actors that asked for them (the others make
     * it on first need, if ever). */
    if (TR__UNLIKELY(((uintptr_t)o->name | o->lanes | o->stash_capacity) != 0)) {
        tr__actor_ext *e = tr__actor_ext_any(a);
        if (e == NULL) {
            tr__block_free(rt, a);
            tr__pin_abandon(home);
            return TR_ENOMEM;
        }
        if (o->stash_capacity != 0)
            e->stash_cap = o->stash_capacity;
        if (o->name != NULL && e->name == NULL) /* a supervisor's child id wins */
            e->name = o->name;
    }
    rc = setup_state(a, behavior, o);
    if (rc != 0) {
        tr__block_free(rt, a);
        tr__pin_abandon(home);
        return rc;
    }
    /* One reference for being alive, one for the caller's handle. Release:
     * publishes the id to tr__sender_retain, which may take a reference as
     * soon as the count is above zero (a reply to an earlier incarnation). */
    TR__TSAN_RELEASE(&a->refs);
    ck_pr_store_32(&a->refs, out != NULL ? 2 : 1);
    /* The name before init, so nothing runs if it is taken; lookups may
     * find the actor from here on (its mailbox is open). */
    if (o->register_as != NULL && (rc = tr__registry_spawn(a, o->register_as)) != 0) {
        /* Never published, but a stale sender's reply (tr__sender_retain)
         * may hold the block for a moment: drop our references as any
         * holder would, and the last one recycles it. */
        free_state(a);
        tr__pin_abandon(home);
        tr__runtime_count(rt, 0, 1); /* the block, as release's block_gone expects */
        if (out != NULL)
            tr_ref_release(a);
        tr_ref_release(a);
        return rc;
    }
    tr__runtime_count(rt, 1, 1);
    if (behavior->init != NULL) {
        rc = run_init(a, behavior, o->arg);
        if (rc != 0) {
            /* Never published: undo quietly (terminate does not run). init
             * may have handed out references to this block (a link or
             * monitor it set, tr_self sent on), so drop only ours: the last
             * holder recycles the block, and until then the closed mailbox
             * turns everything sent here away with TR_EDEAD. */
            tr_msg *left = tr__lane_close_all_owner(a, tr__mbox_close_owner(&a->mbox));
            while (left != NULL) {
                tr_msg *next = left->next;
                tr__dead_letter_at(rt, left, TR_DEAD_STOPPED, a);
                left = next;
            }
            free_state(a);
            a->terminating = 1;
            a->exit_kind = TR_EXIT_ERROR;
            set_final(a, rc, TEXT_INIT_FAILED);
            tr__dir_actor_end_owner(a); /* its name, groups: before DOWN */
            tr_exit why = tr__actor_final_reason(a);
            tr__actor_undo_watchers(a, &why);
            tr__pin_abandon(home);
            tr__runtime_count(rt, -1, 0);
            if (out != NULL)
                tr_ref_release(a);
            tr_ref_release(a);
            return rc;
        }
    }
    /* Only a spawn that succeeds lets the runtime close by itself later. */
    if (TR__UNLIKELY(!ck_pr_load_32(&rt->armed)))
        ck_pr_store_32(&rt->armed, 1);
    count_spawn(rt);
    /* Publish: close's sweep finds us from here on. Then we re-read the
     * state (Dekker with begin_close, which has the heavy barrier, so ours
     * is light: base/fence.h). */
    TR__TSAN_RELEASE(&a->alive);
    ck_pr_store_8(&a->alive, 1);
    tr__fence_light();
    if (TR__UNLIKELY(tr__runtime_closing(ck_pr_load_32(&rt->state)))) {
        /* Closed under us: the workers may be leaving, so end the actor here
         * (we still own it) and fail as if we had seen the close first. Its
         * terminate's sends carry it as their sender, as on a worker, not
         * the spawning actor (if any). */
        tr_actor *prev_self = tr__tls_self;
        tr__tls_self = a;
        finish(a, TR_EXIT_SHUTDOWN, 0, "runtime shutdown");
        tr__tls_self = prev_self;
        if (out != NULL)
            tr_ref_release(a);
        return TR_ECLOSED;
    }
    /* tr_stop in init: end right after it, before any message (the kick this
     * queues makes the end_turn below schedule us). */
    if (TR__UNLIKELY(a->after & TR__AFTER_STOP))
        tr__actor_request_exit(a, TR_EXIT_NORMAL, 0, NULL);
    if (out != NULL)
        *out = a;
    /* Hand the actor to the scheduler if messages (or a stop) came in. */
    if (tr__mbox_end_turn_owner(&a->mbox))
        tr__schedule_any(rt, a);
    return 0;
}

/* --- pushing ------------------------------------------------------------- */

int tr__actor_deliver_any(tr_actor *to, tr_msg *msg) {
    msg->next = NULL;
    int rc = tr__actor_push(to, msg);
    if (rc != 0)
        tr__dead_letter_at(to->rt, msg, tr__runtime_dead_reason(to->rt), to); /* named */
    return rc;
}

int tr__actor_push_notice(tr_actor *a, tr_msg *msg) {
    return tr__schedule_if_woke(a, tr__mbox_push_over_mpsc(&a->mbox, msg));
}

/* --- stop requests ------------------------------------------------------- */

static int strength(tr_exit_kind k) {
    /* killed > error > shutdown > nothing */
    switch (k) {
    case TR_EXIT_KILLED:
        return 3;
    case TR_EXIT_ERROR:
        return 2;
    case TR_EXIT_SHUTDOWN:
        return 1;
    default:
        return 0;
    }
}

/* The index of kind's name in known_texts (kind_text: the name). */
static unsigned kind_known(tr_exit_kind k) {
    switch (k) {
    case TR_EXIT_NORMAL:
        return TEXT_NORMAL;
    case TR_EXIT_SHUTDOWN:
        return TEXT_SHUTDOWN;
    case TR_EXIT_KILLED:
        return TEXT_KILLED;
    default:
        return TEXT_ERROR;
    }
}

static const char *kind_text(tr_exit_kind k) {
    return known_texts[kind_known(k)];
}

static unsigned known_text(const char *text) {
    for (unsigned i = 1; i < TEXT_COUNT; i++)
        if (strcmp(text, known_texts[i]) == 0)
            return i;
    return 0;
}

/* a's final reason, its exit kind written (owner). The text is an index
 * (known: in known_texts, or 0 for the copy in texts->exit). A code goes
 * where the stop request's was (req_code: the block has no room for both,
 * and the request is spent once the actor ends), under the lock, and
 * `final` keeps later requests off it. Most ends have no code (only
 * errors do): then neither the lock nor req_code, and the code reads 0. */
static void set_final(tr_actor *a, int code, unsigned known) {
    a->exit_text = (uint8_t)known;
    if (TR__LIKELY(code == 0))
        return;
    tr__spin_lock(&a->lock);
    a->req_code = code;
    ck_pr_store_8(&a->final, 1);
    tr__spin_unlock(&a->lock);
}

tr_exit tr__actor_final_reason(const tr_actor *a) {
    assert(a->terminating);
    const tr__actor_ext *e = tr__actor_ext_peek(a);
    tr_exit why = {(tr_exit_kind)a->exit_kind, a->final ? a->req_code : 0,
                   a->exit_text != 0 ? known_texts[a->exit_text] : e->texts->exit};
    return why;
}

/* a's texts, made now if it has none (by the owner or, under the lock, by a
 * requester); NULL if out of memory: the text is then lost and readers fall
 * back on the kind's name. Call without a->lock. */
static tr__actor_texts *texts_of(tr_actor *a) {
    tr__actor_ext *e = tr__actor_ext_any(a);
    if (e == NULL)
        return NULL;
    /* Installed once and never changed until the block is freed; the load
     * pairs with the store below (x86: a plain load acquires). */
    tr__actor_texts *t = ck_pr_load_ptr(&e->texts);
    if (TR__LIKELY(t != NULL)) {
        TR__TSAN_ACQUIRE(&e->texts);
        return t;
    }
    tr__actor_texts *fresh = calloc(1, sizeof(*fresh)); /* no allocation under a spinlock */
    tr__spin_lock(&a->lock);
    if ((t = e->texts) == NULL && fresh != NULL) {
        /* Publishes the zeroed record: to readers under the lock by the
         * unlock, to the lock-free load above by this store (a release on
         * x86, pairs with that load). */
        TR__TSAN_RELEASE(&e->texts);
        ck_pr_store_ptr(&e->texts, fresh);
        t = fresh;
        fresh = NULL;
    }
    tr__spin_unlock(&a->lock);
    free(fresh); /* another thread installed one first, or NULL */
    return t;
}

/* Record a stop request for a (the strongest reason wins). Returns 1 if it
 * is the first; *was_open says whether the actor had not ended yet. */
static int record_request(tr_actor *a, tr_exit_kind kind, int code, const char *text,
                          bool *was_open) {
    if (text == NULL)
        text = kind_text(kind);
    unsigned known = known_text(text);
    tr__actor_texts *t = known == 0 ? texts_of(a) : NULL;
    tr__spin_lock(&a->lock);
    /* Still open: the actor has not ended, so this request counts even if
     * the actor sees it and ends before the kick lands (TR_EDEAD). */
    *was_open = !tr__mbox_closed_any(&a->mbox);
    int first = !ck_pr_load_8(&a->stop_req);
    /* Once final, req_* hold the final reason: a request no longer counts. */
    if (!a->final && (first || strength(kind) > strength((tr_exit_kind)a->req_kind))) {
        a->req_kind = (uint8_t)kind;
        a->req_code = code;
        /* A runtime text by its index; else copied (out of memory for the
         * copy: the kind's name). */
        a->req_static = (uint8_t)(known != 0 ? known : t == NULL ? kind_known(kind) : 0);
        if (a->req_static == 0)
            snprintf(t->req, sizeof(t->req), "%s", text);
    }
    /* Published under the lock; the owner reads req_* under it too. */
    ck_pr_store_8(&a->stop_req, 1);
    tr__spin_unlock(&a->lock);
    return first;
}

int tr__actor_request_exit(tr_actor *a, tr_exit_kind kind, int code, const char *text) {
    /* The kick is made before the request is recorded: were it made after,
     * a failed allocation would leave stop_req set with no kick queued, and
     * every later request (the runtime's close included) would see itself
     * as not the first and queue none either: an actor nothing could stop.
     * So stop_req set means a kick is queued (or the seal woke the actor): a
     * later request only records itself, and needs no kick (nor memory). */
    bool was_open;
    if (ck_pr_load_8(&a->stop_req)) {
        (void)record_request(a, kind, code, text, &was_open);
        return 0;
    }
    tr_msg *kick;
    if (tr__msg_new_system(&kick, TR_MSG_SYSTEM, 0) != 0)
        return TR_ENOMEM;
    kick->flags |= TR__MSG_KICK;
    if (!record_request(a, kind, code, text, &was_open)) {
        tr__msg_destroy(kick, TR_EDEAD); /* the first request's kick wakes it */
        return 0;
    }
    /* Wake the actor if it is idle: a kick message is never delivered. A full
     * or closed mailbox means it is already scheduled or gone. */
    int rc = tr__actor_push(a, kick);
    if (rc != 0)
        tr__msg_destroy(kick, TR_EDEAD);
    return rc == TR_EDEAD && !was_open ? TR_EDEAD : 0;
}

void tr__actor_stop_as_message(tr_ctx *ctx) {
    /* Relaxed: set before tr_spawn publishes the handle, which orders it
     * for every thread that can call tr_actor_stop on the actor. */
    ck_pr_store_8(&tr__actor_of(ctx)->stop_as_msg, 1);
}

/* tr_actor_stop on an actor that takes stop requests as messages. */
static int stop_message(tr_actor *a) {
    tr_msg *m;
    if (tr__msg_new_system(&m, TR__MSG_STOP, 0) != 0)
        return TR_ENOMEM;
    int rc = tr__actor_push_notice(a, m); /* TR_EDEAD only */
    if (rc != 0)
        tr__msg_destroy(m, TR_EDEAD);
    return rc;
}

static int request_from_user(tr_ref *ref, tr_exit_kind kind, int code, const char *text) {
    if (ref == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(ref->rt))
        return TR_EFORKED;
    if (!tr_ref_is_alive(ref))
        return TR_EDEAD;
    if (kind == TR_EXIT_SHUTDOWN && ck_pr_load_8(&ref->stop_as_msg)) /* see its store */
        return stop_message(ref);
    int rc = tr__actor_request_exit(ref, kind, code, text);
    return rc == TR_EFULL ? 0 : rc;
}

int tr__actor_seal_any(tr_actor *a, tr_exit_kind kind, int code, const char *text) {
    /* The seal first: it decides who closed (exactly one caller gets 0), even
     * against an owner that would see a stop request and close at once. */
    int rc = tr__mbox_seal_any(&a->mbox);
    if (rc == TR_EDEAD)
        return rc;
    /* Then why (stop_req is stored under the lock, a barrier). Until the
     * owner sees it, its turns end without going idle and it runs again.
     * No kick: the seal or the schedule below wakes it, so this path needs
     * no memory (the runtime's close falls back on it under OOM). */
    bool was_open;
    (void)record_request(a, kind, code, text, &was_open);
    (void)tr__schedule_if_woke(a, rc); /* it was idle: we are its one waker */
    return 0;
}

int tr_actor_stop(tr_ref *ref) {
    return request_from_user(ref, TR_EXIT_SHUTDOWN, 0, "shutdown");
}

int tr_actor_kill(tr_ref *ref) {
    return request_from_user(ref, TR_EXIT_KILLED, 0, "killed");
}

int tr_actor_exit(tr_ref *ref, int code, const char *text) {
    if (code == 0)
        return TR_EINVAL;
    return request_from_user(ref, TR_EXIT_ERROR, code, text ? text : "exit");
}

/* --- ending -------------------------------------------------------------- */

/* The front list, then the stash, then `rest`, as one list; both emptied.
 * Out of line: finish calls it only for an actor that holds some. */
static __attribute__((noinline)) tr_msg *take_held(tr_actor *a, tr__actor_ext *e, tr_msg *rest) {
    if (e->stash_head != NULL) {
        e->stash_tail->next = rest;
        rest = e->stash_head;
        e->stash_head = e->stash_tail = NULL;
        e->stash_len = 0;
    }
    if (e->front != NULL) {
        tr_msg *last = e->front;
        while (last->next != NULL)
            last = last->next;
        last->next = rest;
        rest = e->front;
        e->front = NULL;
        a->lanes_active &= ~TR__FRONT;
    }
    return rest;
}

static void finish(tr_actor *a, tr_exit_kind kind, int code, const char *text) {
    tr_runtime *rt = a->rt;
    if (!a->terminating) {
        a->terminating = 1;
        tr_msg *left = tr__lane_close_all_owner(a, tr__mbox_close_owner(&a->mbox));
        /* Unstashed and stashed messages go first (they were received
         * first), then the queue; the stash is empty from here on. */
        tr__actor_ext *e = tr__actor_ext_peek(a); /* owner: its stash is its own */
        if (TR__UNLIKELY(e != NULL) && ((uintptr_t)e->front | (uintptr_t)e->stash_head) != 0)
            left = take_held(a, e, left); /* one test for both: most actors hold none */
        /* Park the leftovers so a panic in terminate cannot lose them:
         * dead-lettered below either way. */
        tr__actor_leftovers_put_owner(tr__ctx_of(a), left);
        unsigned known = text != NULL ? known_text(text) : kind_known(kind);
        tr__actor_texts *t = known == 0 ? texts_of(a) : NULL;
        if (t != NULL) /* copied: it may live on a stack being unwound */
            snprintf(t->exit, sizeof(t->exit), "%s", text);
        else if (known == 0) /* no memory for the copy */
            known = kind_known(kind);
        a->exit_kind = (uint8_t)kind;
        set_final(a, code, known);
        if (a->terminate != NULL) {
            tr_exit why = tr__actor_final_reason(a);
            a->terminate(tr__ctx_of(a), a->state, &why);
        }
    }
    tr_msg *left = tr__actor_leftovers_take_owner(tr__ctx_of(a));
    while (left != NULL) {
        tr_msg *next = left->next;
        left->next = NULL;
        tr__dead_letter_at(rt, left, tr__runtime_dead_reason(rt), a);
        left = next;
    }
    /* Names and groups go before DOWN/EXIT: a supervisor that restarts a on
     * them finds the name free (core/registry.h). */
    tr__dir_actor_end_owner(a);
    tr_exit why = tr__actor_final_reason(a);
    tr__actor_notify_watchers(a, &why);
    free_state(a);
    ck_pr_store_8(&a->alive, 0);
    if (TR__UNLIKELY(a->home != NULL)) /* a thread of its own ends with it */
        tr__pin_abandon(a->home);
    tr__runtime_space_freed(rt); /* tr_send_wait callers now get TR_EDEAD */
    tr__runtime_actor_gone(rt);
    tr_ref_release(a);
}

/* Done with a delivered message: destroy it, except the memory of one the
 * mailbox still holds as its link (the mailbox releases that itself).
 * Inline: it runs after every message, and as a call (gcc stopped inlining
 * drop_current once the sender merge grew it) it cost 4 instructions more
 * per message in the call, register saves and reloads (callgrind). */
static inline __attribute__((always_inline)) void discard(tr_actor *a, tr_msg *m, int err) {
    if (tr__mbox_holds_owner(&a->mbox, m)) {
        if (tr__msg_token(m) != NULL || m->ptr != NULL) /* most messages have neither */
            tr__msg_finish(m, err);
    } else
        tr__msg_destroy(m, err);
}

/* The current message is done with: destroy it unless it was kept. */
static inline __attribute__((always_inline)) void drop_current(tr_actor *a, int err) {
    tr_msg *m = a->cur;
    a->cur = NULL;
    if (m != NULL)
        discard(a, m, err);
}

void tr__actor_crashed(tr_actor *a, int code, const char *text) {
    if (a->terminating) {
        /* A panic inside terminate: finish the rest of the teardown. */
        tr__log_crash(a, "terminate", code, text, NULL);
        tr_exit why = tr__actor_final_reason(a);
        finish(a, why.kind, why.code, why.text);
        return;
    }
    /* The message it was handling: current, or kept by a runtime wrapper
     * (a pool worker's job). */
    tr__log_crash(a, "panic", code, text, a->cur != NULL ? a->cur : tr__actor_held_owner(a));
    drop_current(a, TR_ECRASHED);
    finish(a, TR_EXIT_ERROR, code != 0 ? code : TR_ECRASHED, text);
}

static void take_request(tr_actor *a, tr_exit_kind *kind, int *code, char *text, size_t n) {
    tr__spin_lock(&a->lock);
    *kind = (tr_exit_kind)a->req_kind;
    *code = a->req_code;
    tr__actor_ext *e = tr__actor_ext_peek(a); /* under the lock: texts are installed under it */
    const char *t = a->req_static != 0 ? known_texts[a->req_static]
                    : e != NULL && e->texts != NULL
                        ? e->texts->req
                        : kind_text(*kind); /* no request recorded a text */
    snprintf(text, n, "%s", t);
    tr__spin_unlock(&a->lock);
}

static void finish_requested(tr_actor *a) {
    tr_exit_kind kind;
    int code;
    char text[TR__EXIT_TEXT];
    take_request(a, &kind, &code, text, sizeof(text));
    if (TR__UNLIKELY(kind == TR_EXIT_ERROR)) /* a link's or tr_actor_exit's error */
        tr__log_crash(a, "exit", code, text, NULL);
    finish(a, kind, code, text);
}

/* The next message: from the mailbox and the lanes in turn, so neither
 * starves the other. */
static inline tr_msg *next_message(tr_actor *a) {
    if (TR__LIKELY(a->lanes_active == 0))
        return tr__mbox_pop_owner(&a->mbox);
    tr_msg *m;
    if (a->lanes_active & TR__FRONT) { /* unstashed: ahead of everything */
        tr__actor_ext *e = a->ext;     /* made by the stash */
        m = e->front;
        if ((e->front = m->next) == NULL)
            a->lanes_active &= ~TR__FRONT;
        m->next = NULL;
        return m;
    }
    if ((a->lane_turn ^= 1) != 0) {
        if ((m = tr__lane_next_owner(a)) == NULL)
            m = tr__mbox_pop_owner(&a->mbox);
    } else if ((m = tr__mbox_pop_owner(&a->mbox)) == NULL) {
        m = tr__lane_next_owner(a);
    }
    return m;
}

/* TR_METRICS_TIMING: time m's wait in the mailbox and its handler. t0 is
 * when the handler began (the last message's end, or the turn's start). */
static __attribute__((noinline)) uint64_t time_message(tr__ameta *tm, uint32_t mflags,
                                                       uint64_t t0) {
    uint64_t t1 = tr__mono_ns();
    uint64_t ns = t1 - t0;
    tr__hist_add_owner(tm->handler_hist, ns);
    /* The owner is the one writer; snapshots load it. */
    ck_pr_store_64(&tm->busy_ns, tm->busy_ns + ns);
    if (mflags & TR__MSG_STAMPED)
        tr__hist_add_owner(tm->mailbox_hist, tr__msg_wait_ns(mflags, t0));
    return t1;
}

/* The drain's count of handled messages (core/drain.c), kept by each worker:
 * a turn counts its messages in a register and adds them to its worker's
 * count only when it ends while the runtime is not running (draining or
 * closing): a drain counts from its start, and a running runtime pays one
 * compare per turn for it (rt->state, on the line the turn's end reads
 * anyway). A turn that was under way when a drain began counts whole. */
static __attribute__((noinline, cold)) void count_handled(unsigned n, unsigned less) {
    tr__worker *w = tr__tls_worker; /* the turn's worker (the thread runs it) */
    if (w != NULL)                  /* owner writes, drains load */
        ck_pr_store_64(&w->handled, w->handled + (n - less));
}
/* Add n - less (two arguments: the turn computes nothing for it unless
 * the runtime is not running). */
static inline void drain_count(tr_runtime *rt, unsigned n, unsigned less) {
    /* Relaxed: a drain's CAS; the one to see it late is a turn it counts
     * whole (see above). */
    if (TR__UNLIKELY(ck_pr_load_32(&rt->state) != TR__RT_RUNNING))
        count_handled(n, less);
}

/* The turn's end when a handler returned rc != 0 (out of line: the turn
 * keeps no register for rc). */
static __attribute__((noinline, cold)) int receive_failed(tr_actor *a, int rc, unsigned handled) {
    /* m only if still current: a handler may have kept and freed it */
    tr__log_crash(a, "receive", rc, NULL, a->cur != NULL ? a->cur : tr__actor_held_owner(a));
    drop_current(a, TR_ECRASHED);
    /* Counted before the end: the last actor's end lets a drain read the
     * counts (core/drain.c), and this turn's must be in them. */
    drain_count(a->rt, handled, 0);
    finish(a, TR_EXIT_ERROR, rc, NULL);
    return TR__TURN_DONE;
}

/* The turn, in two copies: `timed` is a constant in each, so the untimed
 * one (every turn while TR_METRICS_TIMING is off) carries no trace of the
 * timing code; the run loop (core/worker.c) picks one. */
static inline __attribute__((always_inline)) int run_turn(tr_actor *a, unsigned batch,
                                                          const int timed) {
    /* Messages handled (receive returned): n, less the lane kicks and
     * discarded notices (`skipped`), plus the message a turn ends after. */
    unsigned n, skipped = 0;
    tr__ameta *tm = NULL;
    uint64_t t0 = 0;
    if (timed && (tm = tr__ameta_get_any(a)) != NULL)
        t0 = tr__mono_ns();
    for (n = 0; n < batch; n++) {
        if (TR__UNLIKELY(ck_pr_load_8(&a->stop_req))) {
            drain_count(a->rt, n, skipped); /* before the end (receive_failed) */
            finish_requested(a);
            return TR__TURN_DONE;
        }
        tr_msg *m = next_message(a);
        if (m == NULL)
            break;
        /* One test on the common path for the three rare flags. */
        if (TR__UNLIKELY(m->flags & (TR__MSG_KICK | TR__MSG_LANE | TR__MSG_AHEAD))) {
            if (m->flags & TR__MSG_AHEAD) /* the sender's stream, further on */
                tr__msg_prefetch_ahead(m);
            if (m->flags & TR__MSG_LANE) {
                /* pushed uncounted: it took no room (a store: any reads it) */
                ck_pr_store_32(&a->mbox.taken, a->mbox.taken - 1);
                tr__lane_kick_owner(a, m);
                skipped++;
                continue;
            }
            if (m->flags & TR__MSG_KICK) {
                discard(a, m, TR_EDEAD);
                skipped++;
                continue;
            }
        }
        /* A plain store (no barrier): io/ idle timeouts poll it from other
         * threads and only need to see that it changed, eventually. */
        tr__owner_add_64(&a->activity, !(m->flags & TR__MSG_QUIET));
        a->cur = m;
        /* Read before receive: it may free or forward m. */
        uint32_t mflags = timed ? m->flags : 0;
        int rc = a->receive(tr__ctx_of(a), a->state, m);
        if (timed && tm != NULL)
            t0 = time_message(tm, mflags, t0);
        if (TR__UNLIKELY(rc != 0))
            return receive_failed(a, rc, n + 1 - skipped);
        drop_current(a, TR_ENOREPLY);
        if (TR__UNLIKELY(a->after != 0)) {
            if (a->after & TR__AFTER_STOP) {
                drain_count(a->rt, n + 1, skipped); /* before the end (receive_failed) */
                finish(a, TR_EXIT_NORMAL, 0, NULL);
                return TR__TURN_DONE;
            }
            /* TR__AFTER_WAKES: this message's reply deferred a wake-up
             * (core/worker.c). End the turn here, so it goes out now that
             * the actor is released, not after another, maybe long, handler. */
            a->after = 0;
            skipped--; /* this message counts, though n misses it (unsigned: wraps back) */
            break;
        }
    }
    /* Read before the turn ends: once end_turn lets the actor go idle, another
     * worker may run it, end it and recycle its block; touch only locals. */
    tr_runtime *rt = a->rt;
    drain_count(rt, n, skipped); /* before any end (receive_failed) */
    if (TR__UNLIKELY(ck_pr_load_8(&a->stop_req))) {
        finish_requested(a);
        return TR__TURN_DONE;
    }
    /* Blocked tr_send_wait callers are woken once half the bound has been
     * given back since the last wake-up, not after every turn: a wake-up is
     * a syscall and a herd of senders, and in between the senders sleep and
     * the receiver has the CPU (a low-water mark, as SO_SNDLOWAT). None is
     * missed: a sender sleeps only after finding the mailbox full, and the
     * `cap` messages then queued are all taken before it can go idle. */
    bool wake = false;
    if (a->mbox.cap != 0) { /* unbounded mailboxes: no store on this path */
        /* And only once the mailbox is at most half full (what is queued
         * after the turn's give-back, a hint): while an awake sender
         * (core/send.c) keeps it full, the sleepers would wake only to find
         * it full and sleep again. Still none is missed: the actor goes idle
         * only with its mailbox empty, after a turn that ends here with all
         * of the sleeper's `cap` messages freed. */
        uint32_t freed = a->room_freed + a->mbox.taken;
        wake = freed != 0 && freed >= a->mbox.cap / 2 &&
               ck_pr_load_32(&a->mbox.count) - a->mbox.taken <= a->mbox.cap / 2;
        a->room_freed = wake ? 0 : freed; /* before end_turn: then it may not be ours */
    }
    bool again;
    if (a->lanes_active != 0) { /* a lane or the front list may hold more */
        tr__mbox_give_back_owner(&a->mbox);
        again = true;
    } else {
        again = tr__mbox_end_turn_owner(&a->mbox);
    }
    if (wake)
        tr__runtime_space_freed(rt);
    if (!again)
        return TR__TURN_DONE;
    return n == batch ? TR__TURN_YIELD : TR__TURN_MORE;
}

int tr__actor_run_turn(tr_actor *a, unsigned batch) {
    return run_turn(a, batch, 0);
}

int tr__actor_run_turn_timed(tr_actor *a, unsigned batch) {
    return run_turn(a, batch, 1);
}

/* --- inside callbacks ---------------------------------------------------- */

tr_ref *tr_self(tr_ctx *ctx) {
    return ctx != NULL ? tr__actor_of(ctx) : NULL;
}

tr_runtime *tr_ctx_runtime(tr_ctx *ctx) {
    return ctx != NULL ? tr__actor_of(ctx)->rt : NULL;
}

int tr_stop(tr_ctx *ctx) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr__actor_of(ctx)->after |= TR__AFTER_STOP;
    return 0;
}

void tr_panic(tr_ctx *ctx, int code, const char *text) {
    tr_actor *a = ctx != NULL ? tr__actor_of(ctx) : NULL;
    tr__panic_frame *f = *tr__panic_slot();
    if (a == NULL || f == NULL || f->actor != a) {
        fprintf(stderr, "troupe: tr_panic outside an actor callback: %s\n", text ? text : "panic");
        abort();
    }
    f->code = code != 0 ? code : TR_ECRASHED;
    snprintf(f->text, sizeof(f->text), "%s", text ? text : "panic");
    longjmp(f->jb, 1);
}

int tr_msg_keep(tr_ctx *ctx, tr_msg *msg) {
    if (ctx == NULL || msg == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    if (a->cur != msg)
        return TR_ESTATE;
    tr__mbox_detach_owner(&a->mbox, msg); /* the caller may reuse it now */
    a->cur = NULL;
    return 0;
}

/* --- become and stash ---------------------------------------------------- */

int tr_become(tr_ctx *ctx, tr_receive_fn receive) {
    if (ctx == NULL || receive == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    if (a->fixed)
        return TR_ESTATE;
    a->receive = receive;
    return 0;
}

int tr_become_push(tr_ctx *ctx, tr_receive_fn receive) {
    if (ctx == NULL || receive == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    if (a->fixed)
        return TR_ESTATE;
    tr__actor_ext *e = tr__actor_ext_any(a);
    if (e == NULL)
        return TR_ENOMEM;
    if (e->bdepth >= TR_BECOME_DEPTH)
        return TR_EFULL;
    if (e->bstack == NULL && (e->bstack = malloc(TR_BECOME_DEPTH * sizeof(tr_receive_fn))) == NULL)
        return TR_ENOMEM;
    e->bstack[e->bdepth++] = a->receive;
    a->receive = receive;
    return 0;
}

int tr_unbecome(tr_ctx *ctx) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    tr__actor_ext *e = tr__actor_ext_peek(a); /* owner: bdepth and bstack are its own */
    if (e == NULL || e->bdepth == 0)          /* also for a fixed receive: nothing was pushed */
        return TR_ESTATE;
    a->receive = e->bstack[--e->bdepth];
    return 0;
}

int tr_stash(tr_ctx *ctx, tr_msg *msg) {
    if (ctx == NULL || msg == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    if (a->cur != msg) /* not the current message, or kept already */
        return TR_ESTATE;
    tr__actor_ext *e = tr__actor_ext_any(a); /* made by the first stash */
    if (TR__UNLIKELY(e == NULL))
        return TR_ENOMEM;
    if (TR__UNLIKELY(e->stash_len >= e->stash_cap)) {
        ck_pr_inc_64(&a->rt->stash_overflows); /* a statistic: orders nothing */
        return TR_EFULL;
    }
    /* Out of the mailbox for good (its room was counted as taken when it
     * was popped and goes back at the end of the turn). */
    tr__mbox_detach_owner(&a->mbox, msg);
    a->cur = NULL;
    msg->next = NULL;
    if (e->stash_head == NULL)
        e->stash_head = msg;
    else
        e->stash_tail->next = msg;
    e->stash_tail = msg;
    e->stash_len++;
    return 0;
}

int tr_unstash_all(tr_ctx *ctx) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    tr__actor_ext *e = tr__actor_ext_peek(a); /* owner: the stash is its own */
    if (e == NULL || e->stash_head == NULL)
        return 0;
    int n = (int)e->stash_len;
    e->stash_tail->next = e->front; /* ahead of earlier unstashed ones */
    e->front = e->stash_head;
    a->lanes_active |= TR__FRONT;
    e->stash_head = e->stash_tail = NULL;
    e->stash_len = 0;
    return n;
}

int tr_unstash(tr_ctx *ctx) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr_actor *a = tr__actor_of(ctx);
    tr__actor_ext *e = tr__actor_ext_peek(a);
    tr_msg *m = e != NULL ? e->stash_head : NULL;
    if (m == NULL)
        return 0;
    e->stash_head = m->next;
    /* The next one to come back was stashed long ago and is likely out of
     * the cache: start fetching it now, a handler or more before it is due. */
    if (e->stash_head != NULL)
        __builtin_prefetch(e->stash_head);
    e->stash_len--;
    m->next = e->front;
    e->front = m;
    a->lanes_active |= TR__FRONT;
    return 1;
}

int64_t tr_stash_len(tr_ctx *ctx) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr__actor_ext *e = tr__actor_ext_peek(tr__actor_of(ctx));
    return e != NULL ? e->stash_len : 0;
}
