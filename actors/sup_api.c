/* actors/sup_api.c - starting supervisors and the calls on a running one.
 *
 * Each call builds a tr__sup_req, asks the supervisor actor and waits for its
 * answer (so it refuses to run on a runtime worker: TR_EDEADLK). tr_sup_stop
 * is the exception: a one-way push that any thread, actors too, may make. */
#include <stdlib.h>
#include <string.h>

#include "actors/call.h"
#include "actors/restarts.h"
#include "actors/sup.h"
#include "core/actor.h"
#include "troupe/error.h"

void tr__sup_req_release(tr_msg *m) {
    free(m);
}

void tr_sup_config_init(tr_sup_config *cfg) {
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->strategy = TR_SUP_ONE_FOR_ONE;
    cfg->intensity = 3;
    cfg->period_ms = 5000;
}

static int config_valid(const tr_sup_config *cfg) {
    if ((unsigned)cfg->strategy > TR_SUP_DYNAMIC)
        return 0;
    if (cfg->nchildren > 0 && cfg->children == NULL)
        return 0;
    if (cfg->strategy == TR_SUP_DYNAMIC && cfg->nchildren != 1)
        return 0;
    if (cfg->intensity != TR_SUP_UNLIMITED && cfg->intensity > TR__RESTARTS_MAX_INTENSITY)
        return 0;
    if (!(cfg->backoff_jitter >= 0.0 && cfg->backoff_jitter <= 1.0))
        return 0;
    for (size_t i = 0; i < cfg->nchildren; i++) {
        if (!tr__sup_spec_valid(&cfg->children[i]))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (cfg->children[i].id != NULL && cfg->children[j].id != NULL &&
                strcmp(cfg->children[i].id, cfg->children[j].id) == 0)
                return 0;
    }
    return 1;
}

int tr_sup_start(tr_runtime *rt, const tr_sup_config *cfg, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || cfg == NULL || !config_valid(cfg))
        return TR_EINVAL;
    tr_spawn_opts o = {
        .state_size = tr__sup_state_size(),
        .arg = (void *)cfg,
        .mailbox_capacity = TR_MAILBOX_UNBOUNDED,
        .name = cfg->name != NULL ? cfg->name : "supervisor",
    };
    return tr_spawn(rt, &tr__sup_behavior, &o, out);
}

int tr_sup_child_start(tr_runtime *rt, void *arg, tr_ref **out) {
    return tr_sup_start(rt, arg, out);
}

/* --- the calls ----------------------------------------------------------- */

static tr__sup_req *req_new(int op) {
    tr__sup_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    tr_msg_init(&r->msg, 0, tr__sup_req_release);
    r->op = op;
    return r;
}

/* Ask the supervisor and wait for its answer (r is consumed). */
static int call(tr_ref *sup_ref, tr__sup_req *r) {
    return tr__call_wait(sup_ref, &r->msg);
}

static int check(tr_ref *sup_ref) {
    if (!tr__sup_is(sup_ref))
        return TR_EINVAL;
    return tr__call_may_block();
}

#define CALL_PREP(op_)                                                                             \
    int rc_ = check(sup);                                                                          \
    if (rc_ != 0)                                                                                  \
        return rc_;                                                                                \
    tr__sup_req *r = req_new(op_);                                                                 \
    if (r == NULL)                                                                                 \
    return TR_ENOMEM

int tr_sup_start_child(tr_ref *sup, const tr_child_spec *spec, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (!tr__sup_spec_valid(spec))
        return TR_EINVAL;
    CALL_PREP(REQ_START_CHILD);
    r->spec = spec;
    r->out_ref = out;
    return call(sup, r);
}

int tr_sup_start_dynamic(tr_ref *sup, void *arg, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    CALL_PREP(REQ_START_DYNAMIC);
    r->arg = arg;
    r->out_ref = out;
    return call(sup, r);
}

int tr_sup_terminate_child(tr_ref *sup, const char *id) {
    if (id == NULL)
        return TR_EINVAL;
    CALL_PREP(REQ_TERMINATE);
    r->id = id;
    return call(sup, r);
}

int tr_sup_terminate_ref(tr_ref *sup, tr_ref *kid) {
    if (kid == NULL)
        return TR_EINVAL;
    CALL_PREP(REQ_TERMINATE_REF);
    r->child = kid;
    return call(sup, r);
}

int tr_sup_restart_child(tr_ref *sup, const char *id) {
    if (id == NULL)
        return TR_EINVAL;
    CALL_PREP(REQ_RESTART);
    r->id = id;
    return call(sup, r);
}

int tr_sup_delete_child(tr_ref *sup, const char *id) {
    if (id == NULL)
        return TR_EINVAL;
    CALL_PREP(REQ_DELETE);
    r->id = id;
    return call(sup, r);
}

int tr_sup_which_children(tr_ref *sup, tr_child_info *out, size_t cap, size_t *n) {
    if (n == NULL || (out == NULL && cap > 0))
        return TR_EINVAL;
    CALL_PREP(REQ_WHICH);
    r->out_info = out;
    r->cap = cap;
    r->out_n = n;
    return call(sup, r);
}

void tr_sup_children_release(tr_child_info *info, size_t n) {
    if (info == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (info[i].ref != NULL)
            tr_ref_release(info[i].ref);
        info[i].ref = NULL;
    }
}

int tr_sup_count_children(tr_ref *sup, tr_sup_counts *out) {
    if (out == NULL)
        return TR_EINVAL;
    CALL_PREP(REQ_COUNT);
    r->out_counts = out;
    return call(sup, r);
}

int tr_sup_stats_get(tr_ref *sup, tr_sup_stats *out) {
    if (out == NULL)
        return TR_EINVAL;
    CALL_PREP(REQ_STATS);
    r->out_stats = out;
    return call(sup, r);
}

int tr_sup_stop(tr_ref *sup) {
    if (!tr__sup_is(sup))
        return TR_EINVAL;
    tr__sup_req *r = req_new(REQ_STOP);
    if (r == NULL)
        return TR_ENOMEM;
    /* A system-path push: works from the supervisor's own runtime workers
     * during runtime close too. */
    int rc = tr__actor_push(sup, &r->msg);
    if (rc != 0)
        free(r);
    return rc == TR_EFULL ? 0 : rc;
}
