/* actors/pool_worker.c - the pool's worker side: the wrapper behaviour around
 * the user's, the shared tr__pool's life, and the watchdog scan.
 *
 * The wrapper keeps (tr_msg_keep) each job before calling the user's receive,
 * so a crash does not destroy it: its terminate, which runs after the crash,
 * pushes the job back into the router with its crash count raised, and
 * returns the jobs still queued in the dead worker's mailbox too (taken from
 * the core's leftovers, tr__actor_leftovers_take_owner, before the core
 * dead-letters them). A job's ask reply token stays in the message header,
 * so a redelivered ask is answered to the original asker.
 *
 * Shared with other threads, all through tr__pool: per-slot handled counters
 * (one cache line per slot, atomic adds by the slot's worker, loads by the
 * router's stats), job-start stamps and worker handles for the watchdog,
 * which runs on the actors/ timer thread so that it works while a worker is
 * stuck in a job. */
#include <ck_pr.h>
#include <stdlib.h>
#include <string.h>

#include "actors/pool_worker.h"
#include "actors/timer_thread.h"
#include "base/clock.h"
#include "base/refcount.h"
#include "core/actor.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

tr__pool *tr__pool_new(tr_runtime *rt, const tr_pool_config *cfg) {
    tr__pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->holders = 1; /* the router's */
    p->rt = rt;
    p->cfg = *cfg;
    p->cap = cfg->max_workers != 0 ? cfg->max_workers : (cfg->workers > 64 ? cfg->workers : 64);
    p->slots = aligned_alloc(TR__CACHELINE, p->cap * sizeof(tr__pool_slot));
    p->wd_scratch = calloc(p->cap, sizeof(*p->wd_scratch));
    if (p->slots == NULL || p->wd_scratch == NULL) {
        free(p->slots);
        free(p->wd_scratch);
        free(p);
        return NULL;
    }
    memset(p->slots, 0, p->cap * sizeof(tr__pool_slot));
    pthread_mutex_init(&p->wd_mu, NULL);
    return p;
}

void tr__pool_drop(tr__pool *p) {
    /* The last holder frees; the locked decrement orders every holder's use
     * before it (full barrier on x86; TSan sees the pair below). */
    if (!tr__refcount_release(&p->holders))
        return;
    for (unsigned i = 0; i < p->cap; i++)
        if (p->slots[i].ref != NULL)
            tr_ref_release(p->slots[i].ref);
    if (p->router != NULL)
        tr_ref_release(p->router);
    pthread_mutex_destroy(&p->wd_mu);
    free(p->wd_scratch);
    free(p->slots);
    free(p);
}

void tr__pool_hold(tr__pool *p) {
    /* Relaxed: made from a reference the caller holds. */
    tr__refcount_retain(&p->holders);
}

/* Dead-letter a job the pool gives up on. */
void tr__pool_job_dead(tr__pool *p, tr_msg *m, int why) {
    m->status = 0;
    tr__dead_letter_at(p->rt, m, why, p->router); /* sent to the pool: named by its router */
}

typedef struct wstate {
    tr__pool *pool;
    unsigned slot;
    void *ustate;
    tr_msg *job; /* in flight; returned to the router if we crash */
    unsigned char user[] __attribute__((aligned(16)));
} wstate;

static int w_init(tr_ctx *ctx, void *state, void *arg) {
    wstate *w = state;
    const tr__pool_warg *a = arg;
    tr__pool *p = a->pool;
    w->pool = p;
    w->slot = a->slot;
    int frc = tr__actor_fix_receive(ctx); /* the user's tr_become would replace w_receive */
    if (frc != 0)
        return frc;
    const tr_behavior *b = p->cfg.behavior;
    if (p->cfg.opts.state_size == 0)
        w->ustate = b->init == NULL ? p->cfg.opts.arg : NULL;
    else
        w->ustate = w->user;
    if (b->init != NULL) {
        int rc = b->init(ctx, w->ustate, p->cfg.opts.arg);
        if (rc != 0)
            return rc;
    }
    tr__pool_hold(p);
    if (p->cfg.routing == TR_ROUTE_SHARED_QUEUE) {
        tr_msg *tok;
        if (tr__msg_new_system(&tok, TR__A_TOKEN, 0) == 0) {
            tok->word = tr_ref_id(tr_self(ctx));
            tok->corr = a->slot;
            if (tr__actor_push(p->router, tok) != 0)
                tr__msg_destroy(tok, TR_EDEAD);
        }
    }
    return 0;
}

static int w_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    wstate *w = state;
    tr__pool *p = w->pool;
    if (TR__UNLIKELY(msg->type >= TR_MSG_SYSTEM)) {
        if (msg->type == TR__A_TOKEN) { /* the job before it is done: idle */
            tr_msg_keep(ctx, msg);
            if (tr__actor_push(p->router, msg) != 0)
                tr__msg_destroy(msg, TR_EDEAD);
            return 0;
        }
        return p->cfg.behavior->receive(ctx, w->ustate, msg);
    }
    tr__pool_slot *sp = &p->slots[w->slot];
    tr_msg_keep(ctx, msg); /* ours now: a crash must not destroy it */
    w->job = msg;
    uint32_t wd = p->cfg.watchdog_ms;
    if (wd != 0) /* Seen by the watchdog thread; 0 means idle. */
        ck_pr_store_64(&sp->start_ms, tr__mono_ms() | 1);
    tr__actor_set_held(ctx, msg); /* kept, yet tr_sender reads it */
    int rc = p->cfg.behavior->receive(ctx, w->ustate, msg);
    if (wd != 0) /* Idle again: the watchdog stops timing this slot. */
        ck_pr_store_64(&sp->start_ms, 0);
    if (TR__UNLIKELY(rc != 0))
        return rc; /* held stays for the crash report; w->job goes back to the
                    * router from w_terminate, which clears held */
    tr__actor_set_held(ctx, NULL);
    w->job = NULL;
    /* Counter only, read by stats; no ordering needed. */
    ck_pr_inc_64(&sp->handled);
    tr__msg_destroy(msg, TR_ENOREPLY);
    return 0;
}

/* Hand a job back to the router (or dead-letter it if the router is gone). */
static void give_back(tr__pool *p, tr_msg *m) {
    m->next = NULL;
    if (p->router == NULL || tr__actor_push(p->router, m) != 0) {
        ck_pr_inc_64(&p->dead); /* a counter for stats; orders nothing */
        tr__pool_job_dead(p, m, TR_DEAD_STOPPED);
    }
}

static void w_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    wstate *w = state;
    tr__pool *p = w->pool;
    /* First the pool's duties, so a panic in the user's terminate loses
     * nothing. The crashed job: */
    if (w->job != NULL) {
        tr_msg *m = w->job;
        w->job = NULL;
        uint32_t n = (uint32_t)(m->status & TR__POOL_ATTEMPTS);
        if (n < TR__POOL_ATTEMPTS)
            n++;
        m->status =
            (int32_t)((m->status & ~TR__POOL_ATTEMPTS & ~TR__POOL_RETURNED) | n | TR__POOL_CRASHED);
        give_back(p, m);
    }
    tr__actor_set_held(ctx, NULL); /* a crash skipped the clearing in w_receive */
    if (p->cfg.watchdog_ms != 0)   /* a crash left the stamp set: clear it */
        ck_pr_store_64(&p->slots[w->slot].start_ms, 0);
    /* The jobs still queued here (the core dead-letters what we put back). */
    tr_msg *left = tr__actor_leftovers_take_owner(ctx), *keep_head = NULL, **keep_tail = &keep_head;
    while (left != NULL) {
        tr_msg *m = left;
        left = m->next;
        m->next = NULL;
        if (m->type < TR_MSG_SYSTEM && !(m->flags & TR__MSG_KICK)) {
            m->status |= TR__POOL_RETURNED;
            give_back(p, m);
        } else if (m->type == TR__A_TOKEN) {
            tr__msg_destroy(m, TR_EDEAD);
        } else {
            *keep_tail = m;
            keep_tail = &m->next;
        }
    }
    tr__actor_leftovers_put_owner(ctx, keep_head);
    if (p->cfg.behavior->terminate != NULL)
        p->cfg.behavior->terminate(ctx, w->ustate, why);
    tr__pool_drop(p);
}

const tr_behavior tr__pool_worker_behavior = {
    .init = w_init,
    .receive = w_receive,
    .terminate = w_terminate,
};

size_t tr__pool_wstate_size(const tr__pool *p) {
    return sizeof(wstate) + p->cfg.opts.state_size;
}

/* The watchdog, on the timer thread: report (and kill) stuck workers. */
void tr__pool_watchdog(void *arg) {
    tr__pool *p = arg;
    uint64_t now = tr__mono_ms();
    unsigned nstuck = 0;
    pthread_mutex_lock(&p->wd_mu);
    for (unsigned i = 0; i < p->cap; i++) {
        tr__pool_slot *sp = &p->slots[i];
        uint64_t start = ck_pr_load_64(&sp->start_ms); /* the worker's stamp */
        if (start == 0 || start == sp->reported || now < start || now - start < p->cfg.watchdog_ms)
            continue;
        sp->reported = start;
        p->wd_scratch[nstuck].slot = i;
        p->wd_scratch[nstuck].ms = now - start;
        p->wd_scratch[nstuck].ref = sp->ref;
        if (sp->ref != NULL)
            tr_ref_retain(sp->ref);
        nstuck++;
    }
    pthread_mutex_unlock(&p->wd_mu);
    for (unsigned k = 0; k < nstuck; k++) {
        struct tr__pool_stuck *s = &p->wd_scratch[k];
        ck_pr_inc_64(&p->stuck); /* a counter for stats; orders nothing */
        if (p->cfg.on_stuck != NULL)
            p->cfg.on_stuck(p->cfg.user_data, s->slot, s->ms);
        if (s->ref != NULL) {
            if (p->cfg.watchdog_kill)
                tr_actor_kill(s->ref); /* acts once the job returns */
            tr_ref_release(s->ref);
        }
    }
}
