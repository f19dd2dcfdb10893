/* actors/pool_api.c - starting pools and the calls on a running one.
 *
 * Calls that need an answer are asks carrying a tr__pool_ctrl (the router
 * knows it by its release function) and write results straight into the
 * caller's variables, valid because the caller blocks until the reply.
 * Handle counting messages are one-way. */
#include <stdlib.h>
#include <string.h>

#include "actors/call.h"
#include "actors/pool.h"
#include "actors/restarts.h"
#include "core/actor.h"
#include "troupe/error.h"
#include "troupe/supervisor.h"

void tr__pool_ctrl_release(tr_msg *m) {
    free(m);
}

static int is_pool(const tr_ref *ref) {
    return ref != NULL && ref->beh.receive == tr__pool_router_behavior.receive;
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

static int pool_start(tr_runtime *rt, const tr_pool_config *cfg, int64_t handles, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || cfg == NULL || out == NULL || !config_valid(cfg))
        return TR_EINVAL;
    tr__pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return TR_ENOMEM;
    p->refs = 1; /* the router's */
    p->rt = rt;
    p->cfg = *cfg;
    p->cap = cfg->max_workers != 0 ? cfg->max_workers : (cfg->workers > 64 ? cfg->workers : 64);
    p->slots = aligned_alloc(TR_CACHELINE, p->cap * sizeof(tr__pool_slot));
    p->wd_scratch = calloc(p->cap, sizeof(*p->wd_scratch));
    if (p->slots == NULL || p->wd_scratch == NULL) {
        free(p->slots);
        free(p->wd_scratch);
        free(p);
        return TR_ENOMEM;
    }
    memset(p->slots, 0, p->cap * sizeof(tr__pool_slot));
    pthread_mutex_init(&p->wd_mu, NULL);
    tr__pool_rarg a = {p, handles};
    tr_spawn_opts o = {
        .state_size = sizeof(void *), /* the router keeps a pointer to its state */
        .arg = &a,
        .mailbox_capacity = TR_MAILBOX_UNBOUNDED,
        .name = cfg->name != NULL ? cfg->name : "pool",
    };
    int rc = tr_spawn(rt, &tr__pool_router_behavior, &o, out);
    if (rc != 0)
        tr__pool_unref(p); /* the router's reference: its init failed */
    return rc;
}

int tr_pool_start(tr_runtime *rt, const tr_pool_config *cfg, tr_ref **out) {
    return pool_start(rt, cfg, 1, out);
}

int tr_pool_child_start(tr_runtime *rt, void *arg, tr_ref **out) {
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

static int ctrl_call(tr_ref *pool, tr__pool_ctrl *c) {
    return tr__call_wait(pool, &c->msg);
}

static int call_check(tr_ref *pool) {
    if (!is_pool(pool))
        return TR_EINVAL;
    return tr__call_may_block();
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
    return tr_actor_stop(pool);
}

int tr_pool_try_add_worker(tr_ref *pool) {
    int rc = call_check(pool);
    if (rc != 0)
        return rc;
    tr__pool_ctrl *c = ctrl_new(TR__POOL_ADD);
    return c != NULL ? ctrl_call(pool, c) : TR_ENOMEM;
}

int tr_pool_try_remove_worker(tr_ref *pool) {
    int rc = call_check(pool);
    if (rc != 0)
        return rc;
    tr__pool_ctrl *c = ctrl_new(TR__POOL_REMOVE);
    return c != NULL ? ctrl_call(pool, c) : TR_ENOMEM;
}

int tr_pool_stats_get(tr_ref *pool, tr_pool_stats *out, uint64_t *handled, size_t cap) {
    if (out == NULL || (handled == NULL && cap > 0))
        return TR_EINVAL;
    int rc = call_check(pool);
    if (rc != 0)
        return rc;
    tr__pool_ctrl *c = ctrl_new(TR__POOL_STATS);
    if (c == NULL)
        return TR_ENOMEM;
    c->out = out;
    c->handled = handled;
    c->cap = cap;
    return ctrl_call(pool, c);
}
