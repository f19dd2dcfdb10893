/* actors/sup_api.c - starting supervisors and the calls on a running one.
 *
 * Each call builds a tr__sup_req (copies of its arguments and an empty
 * tr__sup_result) and sends it to the supervisor actor, which answers with
 * a TR_MSG_RESULT carrying the result (actors/sup_api.h). The actor forms send
 * it with tr_request, so the answer comes to the caller's mailbox; the
 * blocking forms ask, wait for the same answer (so they refuse to run on a
 * runtime worker: TR_EDEADLK) and read it with the same readers the actors
 * use. tr_sup_stop is the exception: a one-way push that any thread, actors
 * too, may make. */
#include <stdlib.h>
#include <string.h>

#include "actors/call.h"
#include "actors/restarts.h"
#include "actors/sup.h"
#include "actors/sup_api.h"
#include "actors/timer_thread.h"
#include "core/actor.h"
#include "core/worker.h"
#include "troupe/error.h"

void tr__sup_result_free(void *p) {
    tr__sup_result *res = p;
    if (res == NULL)
        return;
    if (res->ref != NULL)
        tr_ref_release(res->ref);
    tr_sup_children_release(res->info, res->n);
    free(res->info);
    free(res);
}

void tr__sup_req_release(tr_msg *m) {
    tr__sup_req *r = (tr__sup_req *)m;
    tr__sup_result_free(r->res);
    if (r->child != NULL)
        tr_ref_release(r->child);
    free(r->id);
    free(r);
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
    if ((unsigned)cfg->auto_shutdown > TR_SUP_AUTO_ALL_SIGNIFICANT)
        return 0;
    if (!(cfg->backoff_jitter >= 0.0 && cfg->backoff_jitter <= 1.0))
        return 0;
    for (size_t i = 0; i < cfg->nchildren; i++) {
        if (!tr__sup_spec_is_valid(&cfg->children[i]))
            return 0;
        if (cfg->children[i].significant && cfg->auto_shutdown == TR_SUP_AUTO_NEVER)
            return 0;
        for (size_t j = 0; j < i; j++)
            if (cfg->children[i].id != NULL && cfg->children[j].id != NULL &&
                strcmp(cfg->children[i].id, cfg->children[j].id) == 0)
                return 0;
    }
    return 1;
}

/* A stop request (no result): NULL if out of memory. */
static tr__sup_req *stop_req_new(void) {
    tr__sup_req *r = calloc(1, sizeof(*r));
    if (r != NULL) {
        tr_msg_init(&r->msg, 0, tr__sup_req_release);
        r->op = TR__SUP_REQ_STOP;
    }
    return r;
}

int tr_sup_start(tr_runtime *rt, const tr_sup_config *cfg, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || cfg == NULL || !config_valid(cfg))
        return TR_EINVAL;
    /* Backoff and shutdown timeouts need the timer thread: refused now if
     * it cannot run, rather than a restart or a kill that never comes. */
    int rc = tr__atimer_ready(rt);
    if (rc != 0)
        return rc;
    /* Started by a supervisor (its init, a restart, a start request: its
     * turn is this thread's current actor) or by anyone else: a root. */
    tr_actor *caller = tr__tls_self;
    int root = !(caller != NULL && caller->rt == rt && tr__sup_is_supervisor(caller));
    tr__sup_start_arg sa = {.cfg = cfg, .child_rc = 0, .root = root};
    tr_spawn_opts o = {
        .state_size = tr__sup_state_size(),
        .arg = &sa,
        .mailbox_capacity = TR_MAILBOX_UNBOUNDED,
        .name = cfg->name != NULL ? cfg->name : "supervisor",
    };
    tr_ref *sup;
    rc = tr_spawn(rt, &tr__sup_behavior, &o, &sup);
    if (rc != 0)
        return rc;
    if (sa.child_rc == 0) {
        if (out != NULL)
            *out = sup;
        else
            tr_ref_release(sup);
        return 0;
    }
    /* A child failed: the supervisor is stopping the others in order. A
     * thread that may block waits until they have ended (a stop ask is
     * answered then); on a worker the supervisor finishes on its own. */
    if (tr__call_may_block() == 0) {
        tr__sup_req *r = stop_req_new();
        if (r != NULL) {
            tr_msg *reply = NULL;
            if (tr__call_reply(sup, &r->msg, &reply) == 0)
                tr_msg_free(reply);
        }
    }
    tr_ref_release(sup);
    return sa.child_rc;
}

int tr_sup_start_as_child(tr_runtime *rt, void *arg, tr_ref **out) {
    return tr_sup_start(rt, arg, out);
}

/* --- the calls ----------------------------------------------------------- */

/* A request for op with an empty result (NULL if out of memory). */
static tr__sup_req *req_new(int op) {
    tr__sup_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->res = calloc(1, sizeof(*r->res));
    if (r->res == NULL) {
        free(r);
        return NULL;
    }
    tr_msg_init(&r->msg, 0, tr__sup_req_release);
    r->op = op;
    r->res->op = op;
    return r;
}

/* The arguments of a call, checked and copied into a request by prepare(). */
typedef struct call_args {
    int op;
    const tr_child_spec *spec;
    void *arg;
    const char *id;
    tr_ref *child;
} call_args;

static int prepare(tr_ref *sup, const call_args *a, tr__sup_req **out) {
    *out = NULL;
    if (!tr__sup_is_supervisor(sup))
        return TR_EINVAL;
    switch (a->op) {
    case TR__SUP_REQ_START_CHILD:
        if (!tr__sup_spec_is_valid(a->spec))
            return TR_EINVAL;
        break;
    case TR__SUP_REQ_TERMINATE:
    case TR__SUP_REQ_RESTART:
    case TR__SUP_REQ_DELETE:
    case TR__SUP_REQ_GET_SPEC:
        if (a->id == NULL)
            return TR_EINVAL;
        break;
    case TR__SUP_REQ_TERMINATE_REF:
        if (a->child == NULL)
            return TR_EINVAL;
        break;
    default:
        break;
    }
    tr__sup_req *r = req_new(a->op);
    if (r == NULL)
        return TR_ENOMEM;
    if (a->spec != NULL)
        r->spec = *a->spec;
    r->arg = a->arg;
    if (a->id != NULL && (r->id = strdup(a->id)) == NULL) {
        tr__sup_req_release(&r->msg);
        return TR_ENOMEM;
    }
    if (a->child != NULL) {
        tr_ref_retain(a->child);
        r->child = a->child;
    }
    *out = r;
    return 0;
}

/* The blocking form: ask, wait, and give the caller the TR_MSG_RESULT
 * reply (0) or the call's error (no reply then). */
static int call_blocking(tr_ref *sup, const call_args *a, tr_msg **reply) {
    *reply = NULL;
    if (!tr__sup_is_supervisor(sup))
        return TR_EINVAL;
    int rc = tr__call_may_block();
    if (rc != 0)
        return rc;
    tr__sup_req *r;
    rc = prepare(sup, a, &r);
    if (rc != 0)
        return rc;
    rc = tr__call_reply(sup, &r->msg, reply);
    if (rc != 0)
        return rc;
    rc = tr_result_code(*reply);
    if (rc != 0) {
        tr_msg_free(*reply);
        *reply = NULL;
    }
    return rc;
}

/* The actor form: the answer goes to ctx's mailbox with corr = tag. */
static int call_async(tr_ctx *ctx, tr_ref *sup, const call_args *a, uint64_t tag) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr__sup_req *r;
    int rc = prepare(sup, a, &r);
    if (rc != 0)
        return rc;
    rc = tr_request(ctx, sup, &r->msg, tag);
    if (rc != 0)
        tr__sup_req_release(&r->msg); /* a failed request leaves it with us */
    return rc;
}

/* A blocking call whose result is only its code. */
static int call_code(tr_ref *sup, const call_args *a) {
    tr_msg *reply;
    int rc = call_blocking(sup, a, &reply);
    if (rc == 0)
        tr_msg_free(reply);
    return rc;
}

/* A blocking call that may hand out a child's handle. */
static int call_ref(tr_ref *sup, const call_args *a, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    tr_msg *reply;
    int rc = call_blocking(sup, a, &reply);
    if (rc != 0)
        return rc;
    tr_ref *ref = NULL;
    rc = tr_sup_result_ref(reply, &ref);
    tr_msg_free(reply);
    if (rc == 0 && out != NULL)
        *out = ref;
    else if (ref != NULL)
        tr_ref_release(ref);
    return rc;
}

int tr_sup_start_child(tr_ref *sup, const tr_child_spec *spec, tr_ref **out) {
    call_args a = {.op = TR__SUP_REQ_START_CHILD, .spec = spec};
    if (out != NULL)
        *out = NULL;
    if (!tr__sup_spec_is_valid(spec))
        return TR_EINVAL;
    return call_ref(sup, &a, out);
}

int tr_sup_start_dynamic(tr_ref *sup, void *arg, tr_ref **out) {
    call_args a = {.op = TR__SUP_REQ_START_DYNAMIC, .arg = arg};
    return call_ref(sup, &a, out);
}

int tr_sup_terminate_child(tr_ref *sup, const char *id) {
    call_args a = {.op = TR__SUP_REQ_TERMINATE, .id = id};
    if (id == NULL)
        return TR_EINVAL;
    return call_code(sup, &a);
}

int tr_sup_terminate_ref(tr_ref *sup, tr_ref *kid) {
    call_args a = {.op = TR__SUP_REQ_TERMINATE_REF, .child = kid};
    if (kid == NULL)
        return TR_EINVAL;
    return call_code(sup, &a);
}

int tr_sup_restart_child(tr_ref *sup, const char *id) {
    call_args a = {.op = TR__SUP_REQ_RESTART, .id = id};
    if (id == NULL)
        return TR_EINVAL;
    return call_ref(sup, &a, NULL);
}

int tr_sup_delete_child(tr_ref *sup, const char *id) {
    call_args a = {.op = TR__SUP_REQ_DELETE, .id = id};
    if (id == NULL)
        return TR_EINVAL;
    return call_code(sup, &a);
}

int tr_sup_get_childspec(tr_ref *sup, const char *id, tr_child_spec *out) {
    call_args a = {.op = TR__SUP_REQ_GET_SPEC, .id = id};
    if (id == NULL || out == NULL)
        return TR_EINVAL;
    tr_msg *reply;
    int rc = call_blocking(sup, &a, &reply);
    if (rc != 0)
        return rc;
    rc = tr_sup_result_spec(reply, out);
    tr_msg_free(reply);
    return rc;
}

int tr_sup_which_children(tr_ref *sup, tr_child_info *out, size_t cap, size_t *n) {
    call_args a = {.op = TR__SUP_REQ_WHICH};
    if (n == NULL || (out == NULL && cap > 0))
        return TR_EINVAL;
    tr_msg *reply;
    int rc = call_blocking(sup, &a, &reply);
    if (rc != 0)
        return rc;
    tr__sup_result *res = reply->ptr;
    *n = res->n;
    /* Move the handles that fit to the caller; the rest go with the reply. */
    for (size_t i = 0; i < res->n && i < cap; i++) {
        out[i] = res->info[i];
        res->info[i].ref = NULL;
    }
    tr_msg_free(reply);
    return 0;
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
    call_args a = {.op = TR__SUP_REQ_COUNT};
    if (out == NULL)
        return TR_EINVAL;
    tr_msg *reply;
    int rc = call_blocking(sup, &a, &reply);
    if (rc != 0)
        return rc;
    rc = tr_sup_result_counts(reply, out);
    tr_msg_free(reply);
    return rc;
}

int tr_sup_stats_get(tr_ref *sup, tr_sup_stats *out) {
    call_args a = {.op = TR__SUP_REQ_STATS};
    if (out == NULL)
        return TR_EINVAL;
    tr_msg *reply;
    int rc = call_blocking(sup, &a, &reply);
    if (rc != 0)
        return rc;
    rc = tr_sup_result_stats(reply, out);
    tr_msg_free(reply);
    return rc;
}

/* --- the same from inside an actor ----------------------------------------- */

int tr_sup_start_child_async(tr_ctx *ctx, tr_ref *sup, const tr_child_spec *spec, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_START_CHILD, .spec = spec};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_start_dynamic_async(tr_ctx *ctx, tr_ref *sup, void *arg, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_START_DYNAMIC, .arg = arg};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_terminate_child_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_TERMINATE, .id = id};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_terminate_ref_async(tr_ctx *ctx, tr_ref *sup, tr_ref *child, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_TERMINATE_REF, .child = child};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_restart_child_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_RESTART, .id = id};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_delete_child_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_DELETE, .id = id};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_get_childspec_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_GET_SPEC, .id = id};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_which_children_async(tr_ctx *ctx, tr_ref *sup, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_WHICH};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_count_children_async(tr_ctx *ctx, tr_ref *sup, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_COUNT};
    return call_async(ctx, sup, &a, tag);
}

int tr_sup_stats_get_async(tr_ctx *ctx, tr_ref *sup, uint64_t tag) {
    call_args a = {.op = TR__SUP_REQ_STATS};
    return call_async(ctx, sup, &a, tag);
}

/* --- reading results --------------------------------------------------------- */

/* The result of one of ops (a bit per TR__SUP_REQ_*) in res, or NULL; *rc gets
 * TR_EINVAL (not such a result) or the call's code. */
static tr__sup_result *result_of(const tr_msg *res, unsigned ops, int *rc) {
    *rc = TR_EINVAL;
    if (res == NULL || res->type != TR_MSG_RESULT || res->ptr == NULL ||
        res->ptr_free != tr__sup_result_free)
        return NULL;
    tr__sup_result *r = res->ptr;
    if (!(ops & (1u << r->op)))
        return NULL;
    *rc = tr_result_code(res);
    return *rc == 0 ? r : NULL;
}

int tr_sup_result_ref(tr_msg *res, tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (out == NULL)
        return TR_EINVAL;
    int rc;
    tr__sup_result *r = result_of(res,
                                  1u << TR__SUP_REQ_START_CHILD | 1u << TR__SUP_REQ_START_DYNAMIC |
                                      1u << TR__SUP_REQ_RESTART,
                                  &rc);
    if (r == NULL)
        return rc;
    if (r->taken)
        return TR_ESTATE;
    r->taken = 1;
    *out = r->ref;
    r->ref = NULL;
    return 0;
}

int tr_sup_result_children(const tr_msg *res, const tr_child_info **info, size_t *n) {
    if (info == NULL || n == NULL)
        return TR_EINVAL;
    *info = NULL;
    *n = 0;
    int rc;
    tr__sup_result *r = result_of(res, 1u << TR__SUP_REQ_WHICH, &rc);
    if (r == NULL)
        return rc;
    *info = r->info;
    *n = r->n;
    return 0;
}

int tr_sup_result_counts(const tr_msg *res, tr_sup_counts *out) {
    if (out == NULL)
        return TR_EINVAL;
    int rc;
    tr__sup_result *r = result_of(res, 1u << TR__SUP_REQ_COUNT, &rc);
    if (r == NULL)
        return rc;
    *out = r->counts;
    return 0;
}

int tr_sup_result_stats(const tr_msg *res, tr_sup_stats *out) {
    if (out == NULL)
        return TR_EINVAL;
    int rc;
    tr__sup_result *r = result_of(res, 1u << TR__SUP_REQ_STATS, &rc);
    if (r == NULL)
        return rc;
    *out = r->stats;
    return 0;
}

int tr_sup_result_spec(const tr_msg *res, tr_child_spec *out) {
    if (out == NULL)
        return TR_EINVAL;
    int rc;
    tr__sup_result *r = result_of(res, 1u << TR__SUP_REQ_GET_SPEC, &rc);
    if (r == NULL)
        return rc;
    *out = r->spec;
    return 0;
}

int tr_sup_stop(tr_ref *sup) {
    if (!tr__sup_is_supervisor(sup))
        return TR_EINVAL;
    tr__sup_req *r = stop_req_new();
    if (r == NULL)
        return TR_ENOMEM;
    /* A system-path push: works from the supervisor's own runtime workers
     * during runtime close too. */
    int rc = tr__actor_push(sup, &r->msg);
    if (rc != 0)
        free(r);
    return rc == TR_EFULL ? 0 : rc;
}
