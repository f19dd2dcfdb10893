/* actors/pool_api.c - starting pools and the calls on a running one.
 *
 * Calls that need an answer send the router a tr__pool_ctrl (it knows one by
 * its release function) as a request, and the router answers every one the
 * same way: a TR_MSG_RESULT (tr__reply_result) with the result code in
 * status and, for stats, a malloc'd tr__pool_stats_res in ptr. The blocking
 * forms ask with a future and wait (never on a runtime worker: TR_EDEADLK);
 * the _async forms send the same request with tr_request, so the result
 * comes to the calling actor's mailbox; tr_pool_result_stats reads a stats
 * result for both. Nothing the router writes points into a caller's frame.
 * Handle counting messages are one-way. Closing seals the router's mailbox
 * (core/actor.h, tr__actor_seal_any) so that sends fail at once.
 *
 * Every kind of pool router (this folder's, isolate/ipool.c's) serves the
 * requests with tr__pool_ctrl_serve (actors/pool_ctrl.c), giving only what
 * differs; the stats both kinds share are made by tr__pool_stats_res_new. */
#include <stdlib.h>
#include <string.h>

#include "actors/call.h"
#include "actors/pool.h"
#include "actors/pool_api.h"
#include "actors/pool_worker.h"
#include "actors/restarts.h"
#include "actors/timer_thread.h"
#include "core/actor.h"
#include "core/ask.h"
#include "troupe/error.h"
#include "troupe/supervisor.h"

void tr__pool_ctrl_release(tr_msg *m) {
    free(m);
}

/* Receive functions of other pool routers (tr__pool_kind_add). A slot is
 * claimed with a CAS and never changes after; a reader that misses a kind
 * being added cannot hold a handle of that kind yet (its start function
 * adds the kind before it spawns the router, and the spawn publishes). */
#define POOL_KINDS 4
static tr_receive_fn kinds[POOL_KINDS];

void tr__pool_kind_add(tr_receive_fn receive) {
    for (unsigned i = 0; i < POOL_KINDS; i++) {
        tr_receive_fn cur = ck_pr_load_ptr(&kinds[i]);
        if (cur == receive)
            return;
        /* Full barrier (locked cmpxchg): claims the slot for this kind. */
        if (cur == NULL && ck_pr_cas_ptr(&kinds[i], NULL, (void *)receive))
            return;
        if (ck_pr_load_ptr(&kinds[i]) == receive)
            return; /* another thread added the same kind meanwhile */
    }
}

static int is_pool(const tr_ref *ref) {
    if (ref == NULL)
        return 0;
    if (ref->beh_receive == tr__pool_router_behavior.receive)
        return 1;
    for (unsigned i = 0; i < POOL_KINDS; i++) {
        tr_receive_fn k = ck_pr_load_ptr(&kinds[i]); /* see tr__pool_kind_add */
        if (k == NULL)
            return 0;
        if (ref->beh_receive == k)
            return 1;
    }
    return 0;
}

void tr_pool_config_init(tr_pool_config *cfg) {
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->workers = 4;
    cfg->routing = TR_ROUTE_ROUND_ROBIN;
    cfg->max_redeliveries = 3;
    cfg->intensity = TR_SUP_UNLIMITED;
    cfg->period_ms = 5000;
}

static int config_valid(const tr_pool_config *c) {
    if (c->workers == 0 || c->workers > TR_POOL_MAX_WORKERS)
        return 0;
    if (c->max_workers != 0 &&
        (c->max_workers < c->workers || c->max_workers > TR_POOL_MAX_WORKERS))
        return 0;
    if (c->behavior == NULL || c->behavior->receive == NULL)
        return 0;
    if ((unsigned)c->routing > TR_ROUTE_SHARED_QUEUE)
        return 0;
    if (!(c->backoff_jitter >= 0.0 && c->backoff_jitter <= 1.0))
        return 0;
    if (c->intensity != TR_SUP_UNLIMITED && c->intensity > TR__RESTARTS_MAX_INTENSITY)
        return 0;
    return c->max_redeliveries < TR__POOL_ATTEMPTS;
}

static int pool_start(tr_runtime *rt, const tr_pool_config *cfg, int64_t user_handles,
                      tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || cfg == NULL || out == NULL || !config_valid(cfg))
        return TR_EINVAL;
    /* Respawn backoff and the watchdog run on the timer thread. */
    int rc = tr__atimer_ready(rt);
    if (rc != 0)
        return rc;
    tr__pool *p = tr__pool_new(rt, cfg);
    if (p == NULL)
        return TR_ENOMEM;
    tr__pool_rarg a = {p, user_handles};
    tr_spawn_opts o = {
        .state_size = sizeof(void *), /* the router keeps a pointer to its state */
        .arg = &a,
        .mailbox_capacity = TR_MAILBOX_UNBOUNDED,
        .name = cfg->name != NULL ? cfg->name : "pool",
    };
    rc = tr_spawn(rt, &tr__pool_router_behavior, &o, out);
    if (rc != 0)
        tr__pool_drop(p); /* the router's hold: it never ran, or its init failed */
    return rc;
}

int tr_pool_start(tr_runtime *rt, const tr_pool_config *cfg, tr_ref **out) {
    return pool_start(rt, cfg, 1, out);
}

int tr_pool_start_as_child(tr_runtime *rt, void *arg, tr_ref **out) {
    return pool_start(rt, arg, -1, out);
}

/* --- calls --------------------------------------------------------------- */

static tr__pool_ctrl *ctrl_new(int op) {
    tr__pool_ctrl *c = calloc(1, sizeof(*c));
    if (c != NULL) {
        tr_msg_init(&c->msg, 0, tr__pool_ctrl_release);
        c->op = op;
    }
    return c;
}

static int ctrl_send(tr_ref *pool, int op) {
    tr__pool_ctrl *c = ctrl_new(op);
    if (c == NULL)
        return TR_ENOMEM;
    int rc = tr_send_msg(pool, &c->msg);
    if (rc != 0)
        free(c);
    return rc;
}

/* The blocking form: ask with a future and wait for the TR_MSG_RESULT the
 * router answers every control request with. 0 with *res the result (the
 * caller frees it), or the ask's or the wait's error. */
static int ctrl_call(tr_ref *pool, int op, tr_msg **res) {
    *res = NULL;
    if (!is_pool(pool))
        return TR_EINVAL;
    int rc = tr__call_may_block();
    if (rc != 0)
        return rc;
    tr__pool_ctrl *c = ctrl_new(op);
    if (c == NULL)
        return TR_ENOMEM;
    return tr__call_reply(pool, &c->msg, res);
}

/* The actor form: the same request, answered into the caller's mailbox. */
static int ctrl_request(tr_ctx *ctx, tr_ref *pool, int op, uint64_t tag) {
    if (ctx == NULL || !is_pool(pool))
        return TR_EINVAL;
    tr__pool_ctrl *c = ctrl_new(op);
    if (c == NULL)
        return TR_ENOMEM;
    int rc = tr_request(ctx, pool, &c->msg, tag);
    if (rc != 0)
        free(c);
    return rc;
}

/* The result code of a blocking call. */
static int call_code(tr_ref *pool, int op) {
    tr_msg *res;
    int rc = ctrl_call(pool, op, &res);
    if (rc != 0)
        return rc;
    rc = tr_result_code(res);
    tr_msg_free(res);
    return rc;
}

int tr_pool_retain(tr_ref *pool) {
    if (!is_pool(pool))
        return TR_EINVAL;
    int rc = ctrl_send(pool, TR__POOL_RETAIN);
    if (rc == 0)
        tr_ref_retain(pool);
    return rc;
}

int tr_pool_release(tr_ref *pool) {
    if (!is_pool(pool))
        return TR_EINVAL;
    ctrl_send(pool, TR__POOL_RELEASE); /* TR_EDEAD/ECLOSED: closed already */
    return tr_ref_release(pool);
}

int tr_pool_close(tr_ref *pool) {
    if (!is_pool(pool))
        return TR_EINVAL;
    /* Sealed at once: from here sends and a second close get TR_EDEAD; the
     * router dead-letters what was queued as it ends. */
    return tr__actor_seal_any(pool, TR_EXIT_SHUTDOWN, 0, "shutdown");
}

int tr_pool_try_add_worker(tr_ref *pool) {
    return call_code(pool, TR__POOL_ADD);
}

int tr_pool_try_remove_worker(tr_ref *pool) {
    return call_code(pool, TR__POOL_REMOVE);
}

int tr_pool_stats_get(tr_ref *pool, tr_pool_stats *out, uint64_t *handled, size_t cap) {
    if (out == NULL)
        return TR_EINVAL;
    tr_msg *res;
    int rc = ctrl_call(pool, TR__POOL_STATS, &res);
    if (rc != 0)
        return rc;
    rc = tr_pool_result_stats(res, out, handled, cap, NULL);
    tr_msg_free(res);
    return rc;
}

int tr_pool_try_add_worker_async(tr_ctx *ctx, tr_ref *pool, uint64_t tag) {
    return ctrl_request(ctx, pool, TR__POOL_ADD, tag);
}

int tr_pool_try_remove_worker_async(tr_ctx *ctx, tr_ref *pool, uint64_t tag) {
    return ctrl_request(ctx, pool, TR__POOL_REMOVE, tag);
}

int tr_pool_stats_async(tr_ctx *ctx, tr_ref *pool, uint64_t tag) {
    return ctrl_request(ctx, pool, TR__POOL_STATS, tag);
}

tr__pool_stats_res *tr__pool_stats_res_new(const tr__pool_counts *c, size_t n) {
    tr__pool_stats_res *res = malloc(sizeof(*res) + n * sizeof(uint64_t));
    if (res == NULL)
        return NULL;
    res->st = (tr_pool_stats){
        .workers = (unsigned)n,
        .jobs = c->jobs,
        .routed = c->routed,
        .restarts = c->restarts,
        .redeliveries = c->redeliveries,
        .returned = c->returned,
        .dead_lettered = c->dead,
        .queued = c->queued,
        .copies = c->copies,
    };
    res->n = n;
    return res;
}

void tr__pool_stats_res_free(void *res) {
    free(res);
}

int tr_pool_result_stats(const tr_msg *res, tr_pool_stats *out, uint64_t *handled, size_t cap,
                         size_t *n) {
    if (n != NULL)
        *n = 0;
    if (res == NULL || out == NULL)
        return TR_EINVAL;
    if (handled == NULL)
        cap = 0; /* optional: cap then means nothing */
    if (res->type == TR_MSG_ASK_FAILED)
        return tr_result_code(res); /* the pool ended before answering */
    if (res->type != TR_MSG_RESULT)
        return TR_EINVAL;
    if (res->status < 0)
        return res->status; /* the call failed (TR_ENOMEM) */
    if (res->ptr == NULL || res->ptr_free != tr__pool_stats_res_free)
        return TR_EINVAL; /* a result, but not of a stats call */
    const tr__pool_stats_res *r = res->ptr;
    *out = r->st;
    for (size_t i = 0; i < cap && i < r->n; i++)
        handled[i] = r->handled[i];
    if (n != NULL)
        *n = r->n;
    return 0;
}
