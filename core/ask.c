/* core/ask.c - requests, replies and futures.
 *
 * An ask puts a reply token in the request's header: a future (for any
 * thread) or the asking actor's handle with bit 0 set (tr_request). The token
 * holds a reference and is used exactly once: by a reply, or, when the
 * request is destroyed unanswered, by a failure (TR_ENOREPLY after a plain
 * receive, TR_EDEAD when dead-lettered, TR_ECRASHED when its handler
 * crashed). So a future never waits out its timeout for an actor that is
 * already gone.
 *
 * A future is one 32-bit state word and a reply pointer, in a block of the
 * message cache (no malloc, no mutex per ask). The state moves once, from
 * pending to the outcome, by a CAS of the single settler; a waiter that
 * wants to sleep first marks it WAITED and sleeps on it as a futex, so a
 * settler makes the wake-up syscall only when someone actually sleeps.
 *
 * A tell sent from an actor names its sender instead of a token (core/msg.h):
 * a reply to it is a new tell to that sender, made after a reference is
 * taken on the sender's block and its id checked (tr__sender_retain), so it
 * never reaches another actor that reuses the block. Promises (core/promise.c)
 * settle a future from wherever their holder is. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <ck_pr.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/refcount.h"
#include "core/ask.h"
#include "core/futex.h"
#include "core/lane.h"
#include "core/modes.h"
#include "core/msg.h"
#include "core/msgcache.h"
#include "core/runtime.h"
#include "troupe/error.h"

/* tr_future.state: the outcome (0 for a reply, or a negative TR_E... code
 * cast to uint32_t: both far from these), or one of: */
#define F_PENDING 1u   /* no outcome yet */
#define F_WAITED 2u    /* no outcome yet and a waiter sleeps on state */
#define F_ABANDONED 3u /* released unsettled: the outcome will be dropped */

static inline int unsettled(uint32_t s) {
    return s == F_PENDING || s == F_WAITED;
}

/* The state with acquire: once it shows an outcome, the reply the settler
 * wrote before its release CAS (tr__future_settle) is visible. */
static inline uint32_t load_outcome(const tr_future *f);

struct tr_future {
    uint32_t refs;  /* the asker's and the token's */
    uint32_t state; /* see above; a futex word */
    /* Written by the settler before its CAS on state (release), read after
     * a load of the outcome (acquire); taken with an exchange. */
    tr_msg *reply;
    tr_runtime *rt;
    /* A thread driving a main loop until this settles (core/modes.c): the
     * settler kicks it (atomic: set and cleared by the driver). */
    tr__worker *driver;
};

static inline uint32_t load_outcome(const tr_future *f) {
    uint32_t s = ck_pr_load_32(&f->state);
    ck_pr_fence_acquire(); /* pairs with the settler's ck_pr_fence_release */
    TR__TSAN_ACQUIRE(&f->state);
    return s;
}

_Static_assert(sizeof(struct tr_future) <= TR__MSG_BLOCK, "a future fits a message block");

tr_future *tr__future_new(tr_runtime *rt) {
    tr_future *f = (tr_future *)(void *)tr__msgcache_alloc();
    if (f == NULL)
        return NULL;
    *f = (tr_future){.refs = 2, .state = F_PENDING, .rt = rt};
    /* Outstanding until its outcome or abandonment (the one CAS out of the
     * unsettled states takes it back). A statistic: relaxed. */
    ck_pr_inc_64((uint64_t *)&rt->asks_outstanding);
    return f;
}

static void future_unref(tr_future *f) {
    if (!tr__refcount_release(&f->refs))
        return;
    if (f->reply != NULL)
        tr__msg_destroy(f->reply, TR_ECANCELED);
    tr__msgcache_free((tr_msg *)(void *)f);
}

/* Settle f with a reply (err == 0) or a failure; drops the token's ref. */
void tr__future_settle(tr_future *f, tr_msg *reply, int err) {
    f->reply = reply;
    uint32_t s = ck_pr_load_32(&f->state); /* relaxed: the CAS below decides */
    while (unsettled(s)) {
        /* Release: the reply is visible to whoever sees the outcome (pairs
         * with load_outcome's acquire). The locked cmpxchg is a full
         * barrier on x86; the fence orders it on weaker CPUs too. */
        TR__TSAN_RELEASE(&f->state);
        ck_pr_fence_release();
        if (ck_pr_cas_32_value(&f->state, s, (uint32_t)err, &s)) {
            ck_pr_dec_64((uint64_t *)&f->rt->asks_outstanding); /* settled */
            /* The CAS is locked (a full barrier) before this load; pairs
             * with the driver's store of `driver`, fence, load of state
             * (tr__future_set_driver): one of us sees the other. */
            tr__worker *d = ck_pr_load_ptr(&f->driver);
            if (TR__UNLIKELY(d != NULL))
                tr__worker_kick_any(d);
            if (s == F_WAITED) { /* our ref keeps f alive through the wake */
                tr__worker *w = tr__worker_of(f->rt);
                if (w != NULL && tr__worker_defer_wake_owner(w, f))
                    return;
                tr__futex_wake(&f->state, INT32_MAX);
            }
            future_unref(f);
            return;
        }
    }
    /* Abandoned: nobody will read it. */
    f->reply = NULL;
    if (reply != NULL)
        tr__dead_letter(f->rt, reply, TR_DEAD_DROPPED);
    future_unref(f);
}

void tr__future_wake_deferred(tr_future *f) {
    tr__futex_wake(&f->state, INT32_MAX);
    future_unref(f);
}

static inline int is_actor_token(const void *t) {
    return ((uintptr_t)t & TR__REPLY_ACTOR) != 0;
}

static inline int is_sink_token(const void *t) {
    return ((uintptr_t)t & TR__REPLY_SINK) != 0;
}

static inline tr__reply_sink *token_sink(const void *t) {
    return (tr__reply_sink *)((uintptr_t)t & ~(uintptr_t)TR__REPLY_SINK);
}

static inline tr_actor *token_actor(const void *t) {
    return (tr_actor *)((uintptr_t)t & ~(uintptr_t)TR__REPLY_ACTOR);
}

tr_ref *tr__sender_retain(const tr_msg *msg, int *err) {
    tr_actor *a = tr__msg_sender(msg);
    if (a == NULL) {
        *err = TR_ENOTFOUND;
        return NULL;
    }
    /* A reference only while the count is above zero: at zero the block is
     * free, or being made into a new actor by a spawn that will store the
     * count (a block is never unmapped, so the load is safe). */
    uint32_t r = ck_pr_load_32(&a->refs);
    do {
        if (r == 0) {
            *err = TR_EDEAD;
            return NULL;
        }
    } while (!ck_pr_cas_32_value(&a->refs, r, r + 1, &r));
    /* Pairs with the release before the count's store in tr_spawn: the id
     * of the incarnation we now hold is visible. */
    TR__TSAN_ACQUIRE(&a->refs);
    if (a->id != msg->corr || tr__mbox_closed_any(&a->mbox)) {
        tr_ref_release(a); /* another actor in the block, or it ended */
        *err = TR_EDEAD;
        return NULL;
    }
    return a;
}

/* Fail msg's token with err; 0, or TR_ENOMEM (token left in place) when it
 * is an actor's and `may_keep` and no notice can be allocated. */
/* The code a request fails with: err, unless reply_new marked it because
 * its reply could not be allocated (nor a notice saying so). */
static inline int fail_code(const tr_msg *msg, int err) {
    return msg->status == TR_ENOMEM && (msg->flags & TR__MSG_ASK) ? TR_ENOMEM : err;
}

static int reply_fail(tr_msg *msg, int err, int may_keep) {
    void *t = msg->reply;
    if (t == NULL || ((uintptr_t)t & TR__REPLY_SENDER)) /* no token: nothing waits */
        return 0;
    err = fail_code(msg, err);
    if (is_sink_token(t)) {
        msg->reply = NULL;
        token_sink(t)->fail(token_sink(t), err, msg->corr);
        return 0;
    }
    if (!is_actor_token(t)) {
        msg->reply = NULL;
        tr__future_settle(t, NULL, err);
        return 0;
    }
    tr_msg *m;
    if (tr__msg_new_system(&m, TR_MSG_ASK_FAILED, 0) != 0) {
        if (may_keep)
            return TR_ENOMEM;
        m = NULL; /* lost: the asker learns only from a timeout, if it set one */
    }
    msg->reply = NULL;
    tr_actor *asker = token_actor(t);
    if (m != NULL) {
        m->corr = msg->corr;
        m->status = err;
        m->word = (uint64_t)(int64_t)err;
        if (tr__actor_push_notice(asker, m) != 0) /* TR_EDEAD only */
            tr__msg_destroy(m, TR_EDEAD);
    }
    tr_ref_release(asker);
    return 0;
}

void tr__reply_fail(tr_msg *msg, int err) {
    (void)reply_fail(msg, err, 0);
}

int tr__reply_fail_try(tr_msg *msg, int err) {
    return reply_fail(msg, err, 1);
}

void tr__reply_fail_in_place(tr_msg *msg, int err) {
    err = fail_code(msg, err);
    tr_actor *asker = token_actor(msg->reply);
    uint64_t corr = msg->corr;
    /* The request's block becomes the notice: same memory, same release. */
    tr__msg_fill(msg, TR_MSG_ASK_FAILED, 0, (uint64_t)(int64_t)err, msg->release);
    msg->corr = corr;
    msg->status = err;
    if (tr__actor_push_notice(asker, msg) != 0) /* TR_EDEAD only */
        tr__msg_destroy(msg, TR_EDEAD);
    tr_ref_release(asker);
}

/* --- asking ------------------------------------------------------------- */

int tr__ask_send(tr_ref *to, tr_msg *req, void *token) {
    req->reply = token;
    req->flags = (req->flags & ~TR__MSG_REPLY) | TR__MSG_ASK; /* a request, not an answer */
    int rc = tr_send_msg(to, req);
    if (rc != 0) {
        req->reply = NULL;
        req->flags &= ~TR__MSG_ASK;
    }
    return rc;
}

int tr_ask_msg(tr_ref *to, tr_msg *req, tr_future **out) {
    if (out != NULL)
        *out = NULL;
    if (to == NULL || req == NULL || out == NULL || tr__msg_token(req) != NULL)
        return TR_EINVAL;
    tr_future *f = tr__future_new(to->rt);
    if (f == NULL)
        return TR_ENOMEM;
    int rc = tr__ask_send(to, req, f);
    if (rc != 0) {
        f->refs = 1;
        future_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* A new message of type holding a copy of data[0..size) and word. */
static int ask_new(tr_ref *to, uint32_t type, const void *data, size_t size, uint64_t word,
                   tr_future **out) {
    tr_msg *m;
    int rc = tr__msg_make(&m, type, data, size, word);
    if (rc != 0)
        return rc;
    rc = tr_ask_msg(to, m, out);
    if (rc != 0)
        m->release(m);
    return rc;
}

int tr_ask(tr_ref *to, uint32_t type, const void *data, size_t size, tr_future **out) {
    if (out != NULL)
        *out = NULL; /* as tr_ask_msg: no stale future on any error */
    if (to == NULL || out == NULL || (data == NULL && size != 0))
        return TR_EINVAL;
    return ask_new(to, type, data, size, 0, out);
}

int tr_ask_word(tr_ref *to, uint32_t type, uint64_t word, tr_future **out) {
    if (out != NULL)
        *out = NULL;
    if (to == NULL || out == NULL)
        return TR_EINVAL;
    return ask_new(to, type, NULL, 0, word, out);
}

int tr_request(tr_ctx *ctx, tr_ref *to, tr_msg *req, uint64_t tag) {
    if (ctx == NULL || to == NULL || req == NULL || tr__msg_token(req) != NULL ||
        req->type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    tr_ref_retain(self);
    req->corr = tag;
    int rc = tr__ask_send(to, req, (void *)((uintptr_t)self | TR__REPLY_ACTOR));
    if (rc != 0)
        tr_ref_release(self);
    return rc;
}

static int request_new(tr_ctx *ctx, tr_ref *to, uint32_t type, const void *data, size_t size,
                       uint64_t word, uint64_t tag) {
    tr_msg *m;
    int rc = tr__msg_make(&m, type, data, size, word);
    if (rc != 0)
        return rc;
    rc = tr_request(ctx, to, m, tag);
    if (rc != 0)
        m->release(m);
    return rc;
}

int tr_request_word(tr_ctx *ctx, tr_ref *to, uint32_t type, uint64_t word, uint64_t tag) {
    if (ctx == NULL || to == NULL)
        return TR_EINVAL;
    return request_new(ctx, to, type, NULL, 0, word, tag);
}

int tr_request_bytes(tr_ctx *ctx, tr_ref *to, uint32_t type, const void *data, size_t size,
                     uint64_t tag) {
    if (ctx == NULL || to == NULL || (data == NULL && size != 0))
        return TR_EINVAL;
    return request_new(ctx, to, type, data, size, 0, tag);
}

/* --- replying ------------------------------------------------------------ */

/* Answer req with reply, of any type (the public entry checks the type). */
static int reply_any(tr_msg *req, tr_msg *reply) {
    void *t = tr__msg_token(req);
    if (t == NULL)
        return TR_ESTATE;
    reply->next = NULL;
    /* An answer: no sender of its own (corr is the request's), and marked
     * as a reply so that the asker can tell it from a request. */
    if (tr__msg_token(reply) == NULL)
        reply->reply = NULL;
    reply->flags |= TR__MSG_REPLY;
    if (is_sink_token(t)) {
        req->reply = NULL;
        token_sink(t)->reply(token_sink(t), reply, req->corr);
        return 0;
    }
    if (!is_actor_token(t)) {
        req->reply = NULL;
        tr__future_settle(t, reply, 0);
        return 0;
    }
    tr_actor *asker = token_actor(t);
    reply->corr = req->corr;
    int rc = tr__lane_push_any(asker, reply); /* after this thread's lane messages */
    if (rc == TR_EFULL)
        return rc; /* token kept: the replier may retry */
    req->reply = NULL;
    tr_ref_release(asker);
    return rc;
}

/* Answer a tell with a new tell to its sender, from the caller. */
static int reply_tell(tr_msg *req, tr_msg *reply) {
    int rc;
    tr_ref *to = tr__sender_retain(req, &rc);
    if (to == NULL)
        return rc;
    rc = tr_send_msg(to, reply); /* stamps the replier as its sender */
    tr_ref_release(to);
    return rc;
}

int tr_reply_msg(tr_msg *req, tr_msg *reply) {
    if (req == NULL || reply == NULL || reply == req || reply->type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    if (req->flags & TR__MSG_ASK)
        return reply_any(req, reply);
    if (tr__msg_sender(req) != NULL)
        return reply_tell(req, reply);
    return TR_EINVAL;
}

int tr__reply_result(tr_msg *req, int rc, void *ptr, tr_free_fn ptr_free) {
    if (!tr_msg_wants_reply(req)) {
        if (ptr_free != NULL)
            ptr_free(ptr);
        return req == NULL ? TR_EINVAL : TR_ESTATE;
    }
    tr_msg *m;
    int err = tr__msg_new_system(&m, TR_MSG_RESULT, 0);
    if (err != 0) {
        if (ptr_free != NULL)
            ptr_free(ptr);
        return err;
    }
    m->status = rc;
    m->word = (uint64_t)(int64_t)rc;
    m->ptr = ptr;
    m->ptr_free = ptr_free;
    err = reply_any(req, m);
    if (err != 0)
        tr_msg_free(m); /* runs ptr_free */
    return err;
}

int tr_result_code(const tr_msg *msg) {
    if (msg == NULL || (msg->type != TR_MSG_RESULT && msg->type != TR_MSG_ASK_FAILED))
        return TR_EINVAL;
    return msg->status;
}

static int reply_new(tr_msg *req, uint32_t type, const void *data, size_t size, uint64_t word) {
    tr_msg *m;
    int rc = tr__msg_make(&m, type, data, size, word);
    if (rc != 0) {
        /* No memory for the reply: the request is answered with that
         * failure now, rather than with TR_ENOREPLY once it is dropped. */
        if (rc == TR_ENOMEM && tr_msg_wants_reply(req) &&
            tr__reply_fail_try(req, TR_ENOMEM) == TR_ENOMEM)
            req->status = TR_ENOMEM; /* no notice either: the request's own
                                      * block says it when it fails (fail_code) */
        return rc;
    }
    rc = tr_reply_msg(req, m);
    if (rc != 0)
        m->release(m);
    return rc;
}

int tr_reply(tr_msg *req, uint32_t type, const void *data, size_t size) {
    if (req == NULL || (data == NULL && size != 0))
        return TR_EINVAL;
    return reply_new(req, type, data, size, 0);
}

int tr_reply_word(tr_msg *req, uint32_t type, uint64_t word) {
    if (req == NULL)
        return TR_EINVAL;
    return reply_new(req, type, NULL, 0, word);
}

bool tr_msg_wants_reply(const tr_msg *msg) {
    return msg != NULL && (msg->flags & TR__MSG_ASK) && tr__msg_token(msg) != NULL;
}

bool tr_msg_is_reply(const tr_msg *msg) {
    if (msg == NULL)
        return false;
    return (msg->flags & TR__MSG_REPLY) || msg->type == TR_MSG_RESULT ||
           msg->type == TR_MSG_ASK_FAILED;
}

uint64_t tr_msg_sender_id(const tr_msg *msg) {
    return (msg != NULL && tr__msg_sender(msg) != NULL) ? msg->corr : 0;
}

int tr_sender(tr_ctx *ctx, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (ctx == NULL || out == NULL)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    tr_msg *m =
        self->cur != NULL ? self->cur : tr__actor_held_owner(self); /* a pool worker's job */
    if (m == NULL)
        return TR_ENOTFOUND;
    void *t = tr__msg_token(m);
    if (t != NULL) {
        /* A tr_request: its token holds a reference to the asker. */
        if (!is_actor_token(t) || is_sink_token(t))
            return TR_ENOTFOUND;
        tr_actor *asker = token_actor(t);
        if (tr__mbox_closed_any(&asker->mbox))
            return TR_EDEAD;
        tr_ref_retain(asker);
        *out = asker;
        return 0;
    }
    int rc;
    tr_ref *s = tr__sender_retain(m, &rc);
    if (s == NULL)
        return rc;
    *out = s;
    return 0;
}

/* --- waiting ------------------------------------------------------------- */

bool tr_future_is_ready(const tr_future *f) {
    if (f == NULL)
        return false;
    return !unsettled(load_outcome(f));
}

/* How long a foreign waiter polls before it sleeps, per thread. A sleep and
 * its wake-up cost two context switches and a syscall on each side (tens of
 * microseconds on a virtual machine), and a sleeping asker lets the workers
 * run dry and park too; so a thread polls for up to TR__POLL_MAX_NS. A
 * thread whose replies are slow (handlers that take milliseconds) should not
 * burn that much CPU per ask: a wait longer than SLOW_NS cuts the thread's
 * next poll by a quarter (down to TR__POLL_MIN_NS); a reply caught by the
 * poll, or one a full poll would have caught, doubles it again (up to the
 * max). A lone wait between the two leaves it as it is: that reply was
 * near, and shortening the poll there only makes more waits sleep. But
 * LONG_STREAK such waits in a row (and every one after them) cut it too: a
 * thread whose replies always take 60-200 us (an isolated pool's round trip
 * through a child process) would otherwise burn a full poll per wait that
 * never catches anything.
 *
 * Measured in bench/ pool (same-minute runs): a fixed poll of ~2 us gives
 * 0.3 M jobs/s, ~8 us 1.0-1.2 M, ~30-60 us 1.3-1.5 M; cutting the poll after
 * every sleep 1.1 M, not cutting it 1.5 M. bench/ ipool (window 32): the
 * senders burned 150 ms of CPU a second each in polls that missed; with the
 * streak rule 0.3-0.8 us less CPU per job and 100 ms a second each, pool
 * within its noise (docs/performance.md, "ipool, third pass"). */
#define SLOW_NS (4 * (uint64_t)TR__POLL_MAX_NS)
/* 16: a loaded host's preemptions seldom make that many long waits in a
 * row for a thread whose replies are fast; 4 gained ipool nothing more. */
#define LONG_STREAK 16
#define POLL_CHECK 32 /* pauses (~20-40 ns each) between clock reads */

static __thread uint32_t tls_poll_ns = TR__POLL_MAX_NS;
static __thread uint32_t tls_long_waits; /* see tr__future_poll_next */

/* rt->poll_cap: TR__POLL_MAX_NS, or 0 when the runtime's threads have one
 * CPU between them: a poll there only keeps the replying worker off the
 * CPU. Per runtime: two runtimes made on differently pinned threads each
 * keep their own. Written once by tr_runtime_new before rt is shared (its
 * return, or the workers' creation, publishes it): plain reads after. */
void tr__future_poll_init(tr_runtime *rt) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set; /* workers inherit the creating thread's CPUs */
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) < n)
        n = CPU_COUNT(&set);
    rt->poll_cap = n > 1 ? TR__POLL_MAX_NS : 0;
}

static inline uint32_t poll_budget(const tr_runtime *rt) {
    uint32_t cap = rt->poll_cap;
    return tls_poll_ns < cap ? tls_poll_ns : cap;
}

/* Poll f for up to this thread's budget from start; 1 with *s the outcome
 * (acquire) if it settled, 0 with *s the last state seen if not. */
static int poll_settled(tr_future *f, uint32_t *s, uint64_t start) {
    uint32_t budget = poll_budget(f->rt);
    if (budget == 0)
        return 0;
    do {
        for (int i = 0; i < POLL_CHECK; i++) {
            if (!unsettled(*s = load_outcome(f))) {
                tls_poll_ns = budget > TR__POLL_MAX_NS / 2 ? TR__POLL_MAX_NS : budget * 2;
                return 1;
            }
            ck_pr_stall();
        }
    } while (tr__mono_ns() - start < budget);
    return 0;
}

/* Sleep until f leaves pending or the deadline (NULL: none) passes; the
 * state last seen (acquire). */
static uint32_t sleep_on(tr_future *f, uint32_t s, const struct timespec *deadline) {
    for (;;) {
        /* Mark that we sleep (the settler then wakes us); a CAS that fails
         * saw the outcome, or WAITED set by another waiter. */
        if (s == F_PENDING && !ck_pr_cas_32_value(&f->state, F_PENDING, F_WAITED, &s)) {
            /* Acquire: a CAS that failed may have read the outcome (full
             * barrier on x86; pairs with the settler's release). */
            ck_pr_fence_acquire();
            TR__TSAN_ACQUIRE(&f->state);
            continue;
        }
        if (!unsettled(s))
            return s;
        int w = tr__futex_wait(&f->state, F_WAITED, deadline);
        s = load_outcome(f);
        if (w == TR_ETIMEDOUT || !unsettled(s))
            return s;
    }
}

/* Poll, then sleep; adjusts this thread's poll budget (see above). */
static uint32_t await(tr_future *f, const struct timespec *deadline) {
    uint32_t s = F_PENDING;
    uint64_t start = tr__mono_ns();
    if (poll_settled(f, &s, start))
        return s;
    s = sleep_on(f, s, deadline);
    tls_poll_ns = tr__future_poll_next(tls_poll_ns, tr__mono_ns() - start, &tls_long_waits);
    return s;
}

uint32_t tr__future_poll_next(uint32_t budget, uint64_t waited_ns, uint32_t *long_waits) {
    if (waited_ns <= TR__POLL_MAX_NS) { /* a full poll would have caught it */
        *long_waits = 0;
        budget *= 2;
    } else {
        if (*long_waits < LONG_STREAK)
            ++*long_waits;
        if (waited_ns > SLOW_NS || *long_waits == LONG_STREAK)
            budget -= budget / 4;
    }
    if (budget < TR__POLL_MIN_NS)
        budget = TR__POLL_MIN_NS;
    return budget > TR__POLL_MAX_NS ? TR__POLL_MAX_NS : budget;
}

uint32_t tr__future_poll_ns(const tr_runtime *rt) {
    return poll_budget(rt);
}

uint32_t tr__future_poll_cap_ns(const tr_runtime *rt) {
    return rt->poll_cap;
}

tr_runtime *tr__future_runtime(const tr_future *f) {
    return f->rt;
}

bool tr__future_set_driver(tr_future *f, tr__worker *w) {
    ck_pr_store_ptr(&f->driver, w);
    /* Full barrier between the store and the load of state: pairs with
     * the settler's CAS then load of `driver` (tr__future_settle). */
    ck_pr_fence_memory();
    return !unsettled(load_outcome(f));
}

int tr_future_wait(tr_future *f, int64_t timeout_ms, tr_msg **reply) {
    if (f == NULL || reply == NULL)
        return TR_EINVAL;
    *reply = NULL;
    if (timeout_ms != 0 && tr__worker_current() != NULL)
        return TR_EDEADLK;
    if (tr__runtime_forked(f->rt)) /* nobody in this process settles it (core/fork.c) */
        return TR_EFORKED;
    /* A current-thread runtime runs only while some thread drives it: drive
     * it while we wait, unless another thread does (core/modes.c). */
    if (TR__UNLIKELY(f->rt->current_thread) && timeout_ms != 0 && unsettled(load_outcome(f)))
        return tr__modes_wait(f, timeout_ms, reply);
    return tr__future_wait_plain(f, timeout_ms, reply);
}

int tr__future_wait_plain(tr_future *f, int64_t timeout_ms, tr_msg **reply) {
    *reply = NULL;
    uint32_t s = load_outcome(f);
    if (unsettled(s) && timeout_ms != 0) {
        struct timespec dl;
        if (timeout_ms > 0)
            tr__deadline_after(&dl, timeout_ms);
        s = await(f, timeout_ms > 0 ? &dl : NULL);
    }
    if (unsettled(s)) {
        if (timeout_ms != 0)                      /* a zero timeout is a poll, not a timeout */
            ck_pr_inc_64(&f->rt->asks_timed_out); /* a statistic: relaxed */
        return TR_ETIMEDOUT;
    }
    if (s == F_ABANDONED)
        return TR_ESTATE; /* waited on after tr_future_release */
    if (s != 0)
        return (int)s; /* the failure */
    /* Exchange: of two threads waiting on one future, one gets the reply. */
    /* The outcome was loaded with acquire above, so the reply the settler
     * wrote before its release is visible; the locked xchg (full barrier)
     * hands it to one thread only. */
    tr_msg *r = ck_pr_fas_ptr(&f->reply, NULL);
    if (r == NULL)
        return TR_ESTATE; /* already handed out */
    *reply = r;
    return 0;
}

int tr_future_release(tr_future *f) {
    if (f == NULL)
        return TR_EINVAL;
    /* Relaxed: abandoning publishes nothing (the outcome will be dropped);
     * the reference drop below orders our uses of f. */
    uint32_t s = ck_pr_load_32(&f->state);
    while (unsettled(s)) {
        if (ck_pr_cas_32_value(&f->state, s, F_ABANDONED, &s)) {
            ck_pr_dec_64((uint64_t *)&f->rt->asks_outstanding); /* abandoned */
            if (s == F_WAITED) /* a waiter on another thread: let it see this */
                tr__futex_wake(&f->state, INT32_MAX);
            break;
        }
    }
    future_unref(f);
    return 0;
}
