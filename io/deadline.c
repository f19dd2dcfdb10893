/* io/deadline.c - ask timeouts (tr_request_timeout) and idle timeouts.
 *
 * Ask timeout: the request carries a reply-sink token (core/msg.h) instead
 * of the asker's handle. The sink races the reply (or the request's failure)
 * against an internal one-shot timer: one CAS on `done` picks the winner, so
 * the asker gets exactly one of reply / TR_MSG_ASK_FAILED for its tag, and a
 * reply that loses is dead-lettered. The sink is freed when both the token
 * and the timer are finished with it (refs: 2).
 *
 * Idle timeout: a periodic internal timer (period ms/4) on the worker that
 * set it polls the actor's activity counter (core: one plain store per
 * received message). A change restarts the quiet period; ms of no change
 * sends TR_MSG_IDLE (flagged quiet, so it does not count as activity).
 * io->idles maps actor id -> setting, so a new call replaces the old. */
#include <ck_pr.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/refcount.h"
#include "core/ask.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "io/io.h"
#include "io/timer.h"
#include "troupe/error.h"
#include "troupe/timer.h"

/* --- ask timeout ----------------------------------------------------------- */

typedef struct ask_deadline {
    tr__reply_sink sink; /* first: the token points here */
    tr__io *io;
    tr_ref *asker; /* retained */
    uint64_t tag;
    uint64_t timer; /* the timer id once started (0 before) */
    uint32_t done;  /* 0 -> 1 by the winner (reply, failure or deadline) */
    uint32_t refs;  /* the token's and the timer's */
} ask_deadline;

static void deadline_unref(ask_deadline *d) {
    /* Publishes our writes to whoever frees; pairs with the acquire below. */
    if (!tr__refcount_release(&d->refs))
        return;
    tr_ref_release(d->asker);
    free(d);
}

static int deadline_win(ask_deadline *d) {
    /* Exactly one of reply, failure and timer gets here first. */
    return ck_pr_cas_32(&d->done, 0, 1);
}

static void ask_failed(ask_deadline *d, int err) {
    tr_msg *m;
    if (tr__msg_new_system(&m, TR_MSG_ASK_FAILED, 0) != 0)
        return;
    m->corr = d->tag;
    m->status = err;
    m->word = (uint64_t)(int64_t)err;
    tr__actor_deliver_any(d->asker, m);
}

static void cancel_timer(ask_deadline *d) {
    uint64_t id = ck_pr_load_64(&d->timer);
    if (id != 0)
        tr__timer_cancel(d->io, id); /* its fn(arg, 0) drops the timer's ref */
}

static void sink_reply(tr__reply_sink *s, tr_msg *reply, uint64_t corr) {
    (void)corr;
    ask_deadline *d = (ask_deadline *)s;
    if (deadline_win(d)) {
        cancel_timer(d);
        reply->corr = d->tag;
        tr__actor_deliver_any(d->asker, reply);
    } else {
        tr__dead_letter_at(d->asker->rt, reply, TR_DEAD_DROPPED, d->asker); /* too late */
    }
    deadline_unref(d);
}

static void sink_fail(tr__reply_sink *s, int err, uint64_t corr) {
    (void)corr;
    ask_deadline *d = (ask_deadline *)s;
    if (deadline_win(d)) {
        cancel_timer(d);
        ask_failed(d, err);
    }
    deadline_unref(d);
}

static void deadline_expired(void *arg, int fired) {
    ask_deadline *d = arg;
    if (fired && deadline_win(d))
        ask_failed(d, TR_ETIMEDOUT);
    deadline_unref(d);
}

int tr_request_timeout(tr_ctx *ctx, tr_ref *to, tr_msg *req, uint64_t tag, uint64_t timeout_ms) {
    if (ctx == NULL || to == NULL || req == NULL || tr__msg_token(req) != NULL || timeout_ms == 0 ||
        timeout_ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    tr_ref *self = tr_self(ctx);
    tr__io *io = tr__io_get(self->rt);
    if (io == NULL)
        return TR_ENOMEM;
    ask_deadline *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return TR_ENOMEM;
    d->sink.reply = sink_reply;
    d->sink.fail = sink_fail;
    d->io = io;
    d->asker = self;
    d->tag = tag;
    d->refs = 2;
    tr_ref_retain(self);
    req->corr = tag;
    int rc = tr__ask_send(to, req, (void *)((uintptr_t)d | TR__REPLY_SINK));
    if (rc != 0) {
        tr_ref_release(self);
        free(d);
        return rc;
    }
    /* The request is out: from here the token may already be used. Start
     * the deadline; a winner that came first finds no timer id and we cancel
     * the timer ourselves below. */
    uint64_t id = 0;
    if (tr__timer_start_fn(io, timeout_ms, 0, deadline_expired, d, &id) != 0) {
        deadline_unref(d); /* no deadline (out of memory or shutting down) */
        return 0;
    }
    /* Publishes the id to a reply on another thread; pairs with the load in
     * cancel_timer. The CAS there and the load of done below are ordered by
     * the full barriers of the CAS and this fence (Dekker). */
    ck_pr_store_64(&d->timer, id);
    ck_pr_fence_memory();
    if (ck_pr_load_32(&d->done))
        tr__timer_cancel(io, id);
    return 0;
}

/* --- idle timeout ------------------------------------------------------------ */

typedef struct idle {
    tr__io_entry ent; /* in io->idles; key = actor id */
    tr__io *io;
    tr_ref *ref; /* retained */
    uint64_t timer;
    double ms;
    uint64_t seen;      /* activity at the last change */
    ev_tstamp quiet_at; /* when we first saw `seen` */
} idle;

static void idle_remove(idle *s) {
    pthread_mutex_lock(&s->io->lock);
    if (tr__io_table_get(&s->io->idles, s->ent.key) == &s->ent)
        tr__io_table_del(&s->io->idles, s->ent.key);
    pthread_mutex_unlock(&s->io->lock);
}

static void idle_tick(void *arg, int fired) {
    idle *s = arg;
    if (!fired) {
        idle_remove(s);
        tr_ref_release(s->ref);
        free(s);
        return;
    }
    /* Our own clock, not the loop's cached time: the worker running this
     * may be helping another's loop (core/worker.c), not its own. */
    ev_tstamp now = (ev_tstamp)tr__mono_ns() / 1e9;
    if (!tr__io_open(s->ref)) {
        idle_remove(s);
        /* 0 if the setter has not stored it yet: the next tick retries. */
        tr__timer_cancel(s->io, ck_pr_load_64(&s->timer));
        return;
    }
    /* Pairs with the owner's plain store in tr__actor_run_turn: we only
     * need to see that it moved. */
    uint64_t act = ck_pr_load_64(&s->ref->activity);
    if (act != s->seen || s->quiet_at == 0) {
        s->seen = act;
        s->quiet_at = now;
        return;
    }
    if ((now - s->quiet_at) * 1000.0 + 0.5 < s->ms)
        return;
    s->quiet_at = now;
    tr_msg *m;
    if (tr__msg_new_system(&m, TR_MSG_IDLE, 0) != 0)
        return;
    m->flags |= TR__MSG_QUIET;
    m->word = (uint64_t)s->ms;
    tr__actor_deliver_any(s->ref, m);
}

int tr_idle_timeout(tr_ctx *ctx, uint64_t ms) {
    if (ctx == NULL || ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    tr_ref *self = tr_self(ctx);
    tr__io *io = tr__io_get(self->rt);
    if (io == NULL)
        return TR_ENOMEM;
    pthread_mutex_lock(&io->lock);
    tr__io_entry *e = tr__io_table_del(&io->idles, self->id);
    idle *old = (idle *)(void *)e;
    pthread_mutex_unlock(&io->lock);
    if (old != NULL)
        tr__timer_cancel(io, old->timer); /* its final tick frees it */
    if (ms == 0)
        return 0;
    idle *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return TR_ENOMEM;
    s->io = io;
    s->ref = self;
    s->ms = (double)ms;
    s->ent.key = self->id;
    s->seen = ck_pr_load_64(&self->activity);
    tr_ref_retain(self);
    /* In the table before any tick can run: a tick that finds the actor dead
     * removes exactly this entry (by identity). */
    pthread_mutex_lock(&io->lock);
    int rc = tr__io_table_put(&io->idles, &s->ent);
    pthread_mutex_unlock(&io->lock);
    if (rc != 0) {
        tr_ref_release(self);
        free(s);
        return rc;
    }
    uint64_t period = ms / 4 > 0 ? ms / 4 : 1;
    /* The first tick only starts the quiet period (quiet_at == 0). */
    uint64_t id;
    rc = tr__timer_start_fn(io, period, period, idle_tick, s, &id);
    if (rc != 0) {
        idle_remove(s);
        tr_ref_release(self);
        free(s);
        return rc;
    }
    /* Publishes the id to the ticks (another worker when called from init
     * on a foreign thread); pairs with the load in idle_tick. */
    ck_pr_store_64(&s->timer, id);
    return 0;
}
