/* tests/test_sup_async.c - the supervisor calls an actor makes (tr_sup_*_async).
 *
 * An "agent" actor makes the calls: the test thread hands it a cmd (which
 * call, its arguments, a tag) and the agent records the call's return code.
 * Every TR_MSG_RESULT or TR_MSG_ASK_FAILED the agent then receives is run
 * through every tr_sup_result_* reader and recorded in res[] (the agent
 * writes an entry, then bumps nres; the test thread waits on nres and reads
 * it). Started children are "kid" actors that count their starts and ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { CMD = 1, HOLD = 2, AGENT_HOLD = 3, FILL = 4 };
#define NRES 32

static uint64_t kid_starts, kid_ends, hold_open, holding;
static uint64_t agent_open, agent_holding; /* AGENT_HOLD */

static int kid_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&kid_starts, 1);
    return 0;
}

static int kid_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == HOLD) {
        tu_add(&holding, 1);
        while (!tu_load(&hold_open))
            tu_sleep_ms(1);
    }
    return 0;
}

static void kid_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&kid_ends, 1);
}

static const tr_behavior kid_beh = {kid_init, kid_receive, kid_terminate};

static tr_child_spec kid_spec(const char *id) {
    tr_child_spec c;
    memset(&c, 0, sizeof(c));
    c.id = id;
    c.behavior = &kid_beh;
    c.restart = TR_CHILD_PERMANENT;
    c.shutdown_ms = TR_SHUTDOWN_INFINITY;
    return c;
}

/* --- the agent --------------------------------------------------------------- */

enum {
    A_START_CHILD = 1,
    A_START_DYNAMIC,
    A_TERMINATE,
    A_TERMINATE_REF,
    A_RESTART,
    A_DELETE,
    A_SPEC,
    A_WHICH,
    A_COUNT,
    A_STATS,
};

typedef struct cmd {
    int op;
    tr_ref *sup;
    tr_child_spec *spec; /* the agent passes it, then scribbles over it */
    const char *id;
    tr_ref *child;
    uint64_t tag;
    uint64_t rc; /* the call's return code, as int64_t */
    uint64_t done;
} cmd;

typedef struct rec {
    uint32_t type;
    uint64_t corr;
    int code;
    int ref_rc, ref_again_rc, children_rc, counts_rc, stats_rc, spec_rc;
    tr_ref *ref; /* taken from a start result: the test releases it */
    int ref_alive_after;
    size_t n;
    const char *first_id;
    int first_running;
    tr_sup_counts counts;
    tr_sup_stats stats;
    tr_child_spec spec;
} rec;

static rec res[NRES];
static uint64_t nres;
static uint64_t take_refs = 1; /* 0: leave handles in the results (freed with them) */

static int issue(tr_ctx *ctx, cmd *c) {
    switch (c->op) {
    case A_START_CHILD:
        return tr_sup_start_child_async(ctx, c->sup, c->spec, c->tag);
    case A_START_DYNAMIC:
        return tr_sup_start_dynamic_async(ctx, c->sup, NULL, c->tag);
    case A_TERMINATE:
        return tr_sup_terminate_child_async(ctx, c->sup, c->id, c->tag);
    case A_TERMINATE_REF:
        return tr_sup_terminate_ref_async(ctx, c->sup, c->child, c->tag);
    case A_RESTART:
        return tr_sup_restart_child_async(ctx, c->sup, c->id, c->tag);
    case A_DELETE:
        return tr_sup_delete_child_async(ctx, c->sup, c->id, c->tag);
    case A_SPEC:
        return tr_sup_get_childspec_async(ctx, c->sup, c->id, c->tag);
    case A_WHICH:
        return tr_sup_which_children_async(ctx, c->sup, c->tag);
    case A_COUNT:
        return tr_sup_count_children_async(ctx, c->sup, c->tag);
    case A_STATS:
        return tr_sup_stats_get_async(ctx, c->sup, c->tag);
    default:
        return TR_EINVAL;
    }
}

static void record(tr_msg *msg) {
    uint64_t i = tu_load(&nres);
    if (i >= NRES)
        return;
    rec *r = &res[i];
    memset(r, 0, sizeof(*r));
    r->type = msg->type;
    r->corr = msg->corr;
    r->code = tr_result_code(msg);
    const tr_child_info *info = NULL;
    r->children_rc = tr_sup_result_children(msg, &info, &r->n);
    if (r->children_rc == 0 && r->n > 0) {
        r->first_id = info[0].id;
        r->first_running = info[0].running;
    }
    r->counts_rc = tr_sup_result_counts(msg, &r->counts);
    r->stats_rc = tr_sup_result_stats(msg, &r->stats);
    r->spec_rc = tr_sup_result_spec(msg, &r->spec);
    if (tu_load(&take_refs)) {
        r->ref_rc = tr_sup_result_ref(msg, &r->ref);
        tr_ref *again = NULL;
        r->ref_again_rc = tr_sup_result_ref(msg, &again);
    }
}

static int agent_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == CMD) {
        cmd *c = msg->ptr;
        int rc = issue(ctx, c);
        if (c->spec != NULL)
            memset(c->spec, 0xab, sizeof(*c->spec)); /* the call copied it */
        tu_store(&c->rc, (uint64_t)(int64_t)rc);
        tu_store(&c->done, 1);
        return 0;
    }
    if (msg->type == AGENT_HOLD) {
        tu_add(&agent_holding, 1);
        while (!tu_load(&agent_open))
            tu_sleep_ms(1);
        return 0;
    }
    if (msg->type == TR_MSG_RESULT || msg->type == TR_MSG_ASK_FAILED) {
        record(msg);
        tu_add(&nres, 1); /* publishes the entry */
    }
    return 0;
}

static const tr_behavior agent_beh = {NULL, agent_receive, NULL};

static tr_runtime *rt;
static tr_ref *agent;

static int setup(void **state) {
    (void)state;
    memset(res, 0, sizeof(res));
    tu_store(&nres, 0);
    tu_store(&kid_starts, 0);
    tu_store(&kid_ends, 0);
    tu_store(&hold_open, 0);
    tu_store(&holding, 0);
    tu_store(&take_refs, 1);
    tu_store(&agent_open, 0);
    tu_store(&agent_holding, 0);
    rt = tu_runtime_new(4);
    tr_spawn_opts o = {.mailbox_capacity = 8}; /* bounded: see the EFULL test */
    if (rt == NULL || tr_spawn(rt, &agent_beh, &o, &agent) != 0)
        return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_store(&hold_open, 1);
    tu_store(&agent_open, 1);
    for (uint64_t i = 0; i < tu_load(&nres) && i < NRES; i++)
        if (res[i].ref != NULL)
            tr_ref_release(res[i].ref);
    tr_ref_release(agent);
    tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

/* Have the agent make the call; returns the call's return code. */
static int run(cmd *c) {
    c->done = 0;
    assert_int_equal(tr_send_ptr(agent, CMD, c, NULL), 0);
    assert_true(tu_wait_ge(&c->done, 1, TU_WAIT_MS));
    return (int)(int64_t)tu_load(&c->rc);
}

/* Make the call, expect it accepted, and wait for its result. */
static rec *call(cmd *c) {
    uint64_t before = tu_load(&nres);
    assert_int_equal(run(c), 0);
    assert_true(tu_wait_ge(&nres, before + 1, TU_WAIT_MS));
    rec *r = &res[before];
    assert_int_equal(r->corr, c->tag);
    return r;
}

static tr_ref *start_sup(tr_sup_strategy strategy, tr_child_spec *specs, size_t n) {
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = strategy;
    cfg.children = specs;
    cfg.nchildren = n;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    return sup;
}

/* --- tests ------------------------------------------------------------------- */

static void start_child_async_delivers_an_owned_handle(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, NULL, 0);
    tr_child_spec spec = kid_spec("a");
    cmd c = {.op = A_START_CHILD, .sup = sup, .spec = &spec, .tag = 77};
    rec *r = call(&c);
    assert_int_equal(r->type, TR_MSG_RESULT);
    assert_int_equal(r->code, 0);
    assert_int_equal(r->ref_rc, 0);
    assert_non_null(r->ref);
    assert_int_equal(r->ref_again_rc, TR_ESTATE); /* taken once */
    assert_int_equal(tr_ref_is_alive(r->ref), 1); /* ours, after the message went */
    /* The other readers: not this call's result. */
    assert_int_equal(r->children_rc, TR_EINVAL);
    assert_int_equal(r->counts_rc, TR_EINVAL);
    assert_int_equal(r->stats_rc, TR_EINVAL);
    assert_int_equal(r->spec_rc, TR_EINVAL);
    assert_int_equal(tu_load(&kid_starts), 1);
    /* The same id again: the code is the result, no handle. */
    spec = kid_spec("a");
    c.tag = 78;
    r = call(&c);
    assert_int_equal(r->code, TR_EALREADY);
    assert_int_equal(r->ref_rc, TR_EALREADY);
    assert_null(r->ref);
    tr_sup_stop(sup);
    tr_ref_release(sup);
}

static void handles_not_taken_are_released_with_the_result(void **state) {
    (void)state;
    tu_store(&take_refs, 0);
    tr_child_spec tmpl = kid_spec(NULL);
    tr_ref *sup = start_sup(TR_SUP_DYNAMIC, &tmpl, 1);
    cmd c = {.op = A_START_DYNAMIC, .sup = sup, .tag = 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(call(&c)->code, 0);
    cmd w = {.op = A_WHICH, .sup = sup, .tag = 2};
    rec *r = call(&w);
    assert_int_equal(r->children_rc, 0);
    assert_int_equal(r->n, 5);
    assert_null(r->first_id);
    assert_true(r->first_running);
    /* ASan's leak check says whether the handles went with the messages. */
    tr_sup_stop(sup);
    tr_ref_release(sup);
}

static void every_call_has_an_async_form(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec("a"), kid_spec("b")};
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, specs, 2);
    cmd c = {.op = A_COUNT, .sup = sup, .tag = 10};
    rec *r = call(&c);
    assert_int_equal(r->counts_rc, 0);
    assert_int_equal(r->counts.specs, 2);
    assert_int_equal(r->counts.active, 2);
    assert_int_equal(r->counts.workers, 2);

    c = (cmd){.op = A_WHICH, .sup = sup, .tag = 11};
    r = call(&c);
    assert_int_equal(r->n, 2);
    assert_string_equal(r->first_id, "a");

    c = (cmd){.op = A_SPEC, .sup = sup, .id = "b", .tag = 12};
    r = call(&c);
    assert_int_equal(r->spec_rc, 0);
    assert_string_equal(r->spec.id, "b");
    assert_ptr_equal(r->spec.behavior, &kid_beh);

    c = (cmd){.op = A_TERMINATE, .sup = sup, .id = "a", .tag = 13};
    r = call(&c);
    assert_int_equal(r->type, TR_MSG_RESULT);
    assert_int_equal(r->code, 0);
    assert_int_equal(tu_load(&kid_ends), 1); /* answered after it ended */

    c = (cmd){.op = A_RESTART, .sup = sup, .id = "a", .tag = 14};
    r = call(&c);
    assert_int_equal(r->code, 0);
    assert_int_equal(r->ref_rc, 0);
    assert_non_null(r->ref); /* restart_child's result carries the new handle */

    c = (cmd){.op = A_TERMINATE_REF, .sup = sup, .child = r->ref, .tag = 15};
    r = call(&c);
    assert_int_equal(r->code, 0);

    c = (cmd){.op = A_DELETE, .sup = sup, .id = "a", .tag = 16};
    assert_int_equal(call(&c)->code, 0);
    c = (cmd){.op = A_DELETE, .sup = sup, .id = "a", .tag = 17};
    assert_int_equal(call(&c)->code, TR_ENOTFOUND);
    c = (cmd){.op = A_SPEC, .sup = sup, .id = "a", .tag = 18};
    r = call(&c);
    assert_int_equal(r->code, TR_ENOTFOUND);
    assert_int_equal(r->spec_rc, TR_ENOTFOUND);

    c = (cmd){.op = A_STATS, .sup = sup, .tag = 19};
    r = call(&c);
    assert_int_equal(r->stats_rc, 0);
    assert_int_equal(r->stats.restarts, 0);
    assert_int_equal(r->ref_rc, TR_EINVAL);

    c = (cmd){.op = A_START_DYNAMIC, .sup = sup, .tag = 20}; /* not dynamic */
    assert_int_equal(call(&c)->code, TR_EINVAL);
    tr_sup_stop(sup);
    tr_ref_release(sup);
}

static void bad_arguments_are_refused_and_no_result_comes(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec("a");
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, NULL, 0);
    assert_int_equal(tr_sup_start_child_async(NULL, sup, &spec, 1), TR_EINVAL);
    assert_int_equal(tr_sup_count_children_async(NULL, sup, 1), TR_EINVAL);
    cmd c = {.op = A_START_CHILD, .sup = NULL, .spec = &spec};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_START_CHILD, .sup = agent, .spec = &spec}; /* not a supervisor */
    assert_int_equal(run(&c), TR_EINVAL);
    tr_child_spec bad = kid_spec("a");
    bad.behavior = NULL;
    c = (cmd){.op = A_START_CHILD, .sup = sup, .spec = &bad};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_START_CHILD, .sup = sup, .spec = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_TERMINATE, .sup = sup, .id = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_RESTART, .sup = sup, .id = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_DELETE, .sup = sup, .id = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_SPEC, .sup = sup, .id = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_TERMINATE_REF, .sup = sup, .child = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    c = (cmd){.op = A_WHICH, .sup = NULL};
    assert_int_equal(run(&c), TR_EINVAL);
    /* Readers on messages that are no supervisor result. */
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, 5, 0), 0);
    tr_ref *ref = (tr_ref *)1;
    const tr_child_info *info;
    size_t n;
    tr_sup_counts k;
    tr_sup_stats st;
    tr_child_spec sp;
    assert_int_equal(tr_sup_result_ref(m, &ref), TR_EINVAL);
    assert_null(ref);
    assert_int_equal(tr_sup_result_ref(NULL, &ref), TR_EINVAL);
    assert_int_equal(tr_sup_result_ref(m, NULL), TR_EINVAL);
    assert_int_equal(tr_sup_result_children(m, &info, &n), TR_EINVAL);
    assert_int_equal(tr_sup_result_children(NULL, &info, &n), TR_EINVAL);
    assert_int_equal(tr_sup_result_children(m, NULL, &n), TR_EINVAL);
    assert_int_equal(tr_sup_result_counts(m, &k), TR_EINVAL);
    assert_int_equal(tr_sup_result_counts(m, NULL), TR_EINVAL);
    assert_int_equal(tr_sup_result_stats(m, &st), TR_EINVAL);
    assert_int_equal(tr_sup_result_spec(m, &sp), TR_EINVAL);
    tr_msg_free(m);
    assert_int_equal(tu_load(&nres), 0); /* no call was accepted: no message came */
    /* The supervisor has ended: refused at once. */
    assert_int_equal(tr_sup_stop(sup), 0);
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (tr_ref_is_alive(sup) && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    c = (cmd){.op = A_COUNT, .sup = sup, .tag = 3};
    assert_int_equal(run(&c), TR_EDEAD);
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&nres), 0);
    tr_ref_release(sup);
}

/* Requests still waiting when the supervisor is killed end as
 * TR_MSG_ASK_FAILED with their tags. */
static void calls_pending_when_the_supervisor_dies_fail_with_edead(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec("a");
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, &spec, 1);
    cmd w = {.op = A_WHICH, .sup = sup, .tag = 1};
    rec *r = call(&w);
    assert_int_equal(r->n, 1);
    /* Make "a" busy so that terminating it waits (shutdown infinity). */
    tr_ref *a = NULL;
    {
        tr_child_info info[1];
        size_t n;
        assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0);
        a = info[0].ref;
    }
    assert_int_equal(tr_send_word(a, HOLD, 0), 0);
    assert_true(tu_wait_ge(&holding, 1, TU_WAIT_MS));
    cmd t = {.op = A_TERMINATE, .sup = sup, .id = "a", .tag = 40};
    assert_int_equal(run(&t), 0);
    cmd k = {.op = A_COUNT, .sup = sup, .tag = 41}; /* waits behind the terminate */
    assert_int_equal(run(&k), 0);
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&nres), 1); /* neither answered yet */
    assert_int_equal(tr_actor_kill(sup), 0);
    assert_true(tu_wait_ge(&nres, 3, TU_WAIT_MS));
    uint64_t tags = 0;
    for (unsigned i = 1; i < 3; i++) {
        assert_int_equal(res[i].type, TR_MSG_ASK_FAILED);
        assert_int_equal(res[i].code, TR_EDEAD);
        assert_int_equal(res[i].ref_rc, TR_EINVAL);
        assert_int_equal(res[i].counts_rc, TR_EINVAL);
        tags += res[i].corr;
    }
    assert_int_equal(tags, 40 + 41);
    tu_store(&hold_open, 1);
    assert_true(tu_wait_ge(&kid_ends, 1, TU_WAIT_MS)); /* killed with its supervisor */
    tr_ref_release(a);
    tr_ref_release(sup);
}

/* The answers come while the asking actor's bounded mailbox is full: they
 * end as TR_MSG_ASK_FAILED with TR_EFULL (notices pass the bound). */
static void answers_to_a_full_mailbox_fail_with_efull(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec("a");
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, &spec, 1);
    tr_ref *a;
    {
        tr_child_info info[1];
        size_t n;
        assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0);
        a = info[0].ref;
    }
    assert_int_equal(tr_send_word(a, HOLD, 0), 0); /* terminating "a" waits */
    assert_true(tu_wait_ge(&holding, 1, TU_WAIT_MS));
    cmd t = {.op = A_TERMINATE, .sup = sup, .id = "a", .tag = 50};
    assert_int_equal(run(&t), 0);
    cmd k = {.op = A_COUNT, .sup = sup, .tag = 51};
    assert_int_equal(run(&k), 0);
    assert_int_equal(tr_send_word(agent, AGENT_HOLD, 0), 0);
    assert_true(tu_wait_ge(&agent_holding, 1, TU_WAIT_MS));
    int fill = 0;
    while (tr_send_word(agent, FILL, 0) == 0)
        fill++;
    assert_true(fill > 0);
    tu_store(&hold_open, 1); /* "a" ends; both answers find the mailbox full */
    /* A blocking call queued behind the agent's: when it returns, both of
     * the agent's answers have been tried. */
    tr_sup_counts kk;
    assert_int_equal(tr_sup_count_children(sup, &kk), 0);
    assert_int_equal(kk.active, 0);
    tu_store(&agent_open, 1);
    assert_true(tu_wait_ge(&nres, 2, TU_WAIT_MS));
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(res[i].type, TR_MSG_ASK_FAILED);
        assert_int_equal(res[i].code, TR_EFULL);
        assert_int_equal(res[i].corr, 50 + i);
    }
    tr_ref_release(a);
    tr_sup_stop(sup);
    tr_ref_release(sup);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(start_child_async_delivers_an_owned_handle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(handles_not_taken_are_released_with_the_result, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(every_call_has_an_async_form, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments_are_refused_and_no_result_comes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(calls_pending_when_the_supervisor_dies_fail_with_edead,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(answers_to_a_full_mailbox_fail_with_efull, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
