/* tests/test_sup_otp.c - supervisors behave as Erlang/OTP's supervisor does.
 *
 * One test per rule of docs/supervision.md's "OTP semantics" table. Children
 * are "kid" actors numbered by their spawn arg; each records its starts, its
 * end (in a shared log, with the exit kind) and obeys CRASH, QUIT and HOLD
 * messages. A watcher actor monitors handles it is given and logs the DOWNs
 * it gets, in order, with their exit kind and text. The test thread drives
 * everything with the blocking tr_sup_* calls and waits on the counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { CRASH = 1, QUIT = 2, HOLD = 3 };
#define NKIDS 8
#define NLOG 64

static uint64_t starts[NKIDS];
static uint64_t ends[NKIDS];
static uint64_t end_kind[NKIDS]; /* the exit kind of each kid's last end */
static uint64_t end_log[NLOG];
static uint64_t end_count;
static uint64_t fail_left[NKIDS]; /* flaky_start: fail this many more times */
static uint64_t hold_open;
static uint64_t holding;

/* --- the kids ---------------------------------------------------------------- */

typedef struct kid {
    uint64_t n;
} kid;

static int kid_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    kid *k = state;
    k->n = (uint64_t)(uintptr_t)arg;
    tu_add(&starts[k->n], 1);
    return 0;
}

static int kid_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case CRASH:
        return TR_ECRASHED;
    case QUIT:
        return tr_stop(ctx);
    case HOLD:
        tu_add(&holding, 1);
        while (!tu_load(&hold_open))
            tu_sleep_ms(1);
        return 0;
    default:
        return 0;
    }
}

static void kid_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    kid *k = state;
    tu_store(&end_kind[k->n], (uint64_t)why->kind);
    tu_add(&ends[k->n], 1);
    uint64_t i = tu_add(&end_count, 1) - 1;
    if (i < NLOG)
        tu_store(&end_log[i], k->n);
}

static const tr_behavior kid_beh = {kid_init, kid_receive, kid_terminate};

static const char *const ids[NKIDS] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};

static tr_child_spec kid_spec(unsigned n, tr_child_restart restart) {
    tr_child_spec c;
    memset(&c, 0, sizeof(c));
    c.id = ids[n];
    c.behavior = &kid_beh;
    c.opts.state_size = sizeof(kid);
    c.opts.arg = (void *)(uintptr_t)n;
    c.restart = restart;
    c.shutdown_ms = 2000;
    return c;
}

/* A start function that fails while fail_left[n] > 0, then spawns kid n. */
static int flaky_start(tr_runtime *r, void *arg, tr_ref **out) {
    uint64_t n = (uint64_t)(uintptr_t)arg;
    *out = NULL;
    if (tu_load(&fail_left[n]) > 0) {
        tu_add(&fail_left[n], (uint64_t)-1);
        return TR_EIO;
    }
    tr_spawn_opts o = {.state_size = sizeof(kid), .arg = arg};
    return tr_spawn(r, &kid_beh, &o, out);
}

static uint64_t ignored; /* ignore_start calls */

static int ignore_start(tr_runtime *r, void *arg, tr_ref **out) {
    (void)r;
    (void)arg;
    *out = NULL;
    tu_add(&ignored, 1);
    return TR_SUP_IGNORE;
}

/* --- the watcher ----------------------------------------------------------- */

static uint64_t down_count;
static uint64_t down_id[NLOG]; /* tr_ref_id of the actor each DOWN is about */
static uint64_t down_kind[NLOG];
static char down_text[NLOG][80];

typedef struct watch_arg {
    tr_ref *targets[NKIDS + 1];
    size_t n;
} watch_arg;

static int watcher_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    watch_arg *w = arg;
    for (size_t i = 0; i < w->n; i++) {
        uint64_t mid;
        int rc = tr_monitor(ctx, w->targets[i], &mid);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int watcher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tr_exit why;
    if (msg->type != TR_MSG_DOWN || tr_exit_of(msg, &why) != 0)
        return 0;
    uint64_t i = tu_load(&down_count);
    if (i < NLOG) {
        tu_store(&down_id[i], tr_ref_id(tr_msg_origin(msg)));
        tu_store(&down_kind[i], (uint64_t)why.kind);
        snprintf(down_text[i], sizeof(down_text[i]), "%s", why.text);
    }
    tu_add(&down_count, 1); /* publishes the entry to the test thread */
    return 0;
}

static const tr_behavior watcher_beh = {watcher_init, watcher_receive, NULL};

static tr_runtime *rt;

/* Spawn a watcher of the n handles. */
static tr_ref *watch(tr_ref *const *targets, size_t n) {
    watch_arg w;
    memset(&w, 0, sizeof(w));
    for (size_t i = 0; i < n; i++)
        w.targets[i] = targets[i];
    w.n = n;
    tr_spawn_opts o = {.arg = &w};
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &watcher_beh, &o, &ref), 0);
    return ref;
}

/* --- fixtures and helpers --------------------------------------------------- */

static int setup_n(unsigned workers) {
    memset(starts, 0, sizeof(starts));
    memset(ends, 0, sizeof(ends));
    memset(end_kind, 0, sizeof(end_kind));
    memset(end_log, 0, sizeof(end_log));
    memset(fail_left, 0, sizeof(fail_left));
    memset(down_id, 0, sizeof(down_id));
    memset(down_kind, 0, sizeof(down_kind));
    memset(down_text, 0, sizeof(down_text));
    tu_store(&end_count, 0);
    tu_store(&down_count, 0);
    tu_store(&hold_open, 0);
    tu_store(&holding, 0);
    tu_store(&ignored, 0);
    rt = tu_runtime_new(workers);
    return rt != NULL ? 0 : -1;
}

static int setup(void **state) {
    (void)state;
    return setup_n(2);
}

static int setup4(void **state) {
    (void)state;
    return setup_n(4);
}

static int teardown(void **state) {
    (void)state;
    tu_store(&hold_open, 1);
    tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

typedef struct dead_arg {
    tr_ref *ref;
} dead_arg;

static int is_dead(void *arg) {
    return tr_ref_is_alive(((dead_arg *)arg)->ref) == 0;
}

static int wait_dead(tr_ref *ref) {
    dead_arg a = {ref};
    return tu_wait_until(is_dead, &a, TU_WAIT_MS);
}

typedef struct counts_arg {
    tr_ref *sup;
    size_t specs, active;
} counts_arg;

static int counts_are(void *arg) {
    counts_arg *a = arg;
    tr_sup_counts k;
    return tr_sup_count_children(a->sup, &k) == 0 && k.specs == a->specs && k.active == a->active;
}

static int wait_counts(tr_ref *sup, size_t specs, size_t active) {
    counts_arg a = {sup, specs, active};
    return tu_wait_until(counts_are, &a, TU_WAIT_MS);
}

static void send_child(tr_ref *sup, const char *id, uint32_t type) {
    tr_ref *c = tu_sup_child(sup, id);
    assert_non_null(c);
    assert_int_equal(tr_send_word(c, type, 0), 0);
    tr_ref_release(c);
}

static tr_ref *start_cfg(tr_sup_config *cfg, tr_child_spec *specs, size_t n) {
    cfg->children = specs;
    cfg->nchildren = n;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, cfg, &sup), 0);
    return sup;
}

static void stop_sup(tr_ref *sup) {
    assert_int_equal(tr_sup_stop(sup), 0);
    assert_true(wait_dead(sup));
    tr_ref_release(sup);
}

/* --- one_for_all ---------------------------------------------------------------- */

/* k0 crashes; restarting the group, k1's start fails: k0 (restarted
 * already) is stopped again and the whole group is restarted. */
static void one_for_all_failed_sibling_restart_restarts_the_group(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    specs[1].behavior = NULL;
    specs[1].start = flaky_start;
    specs[1].arg = (void *)(uintptr_t)1;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_ONE_FOR_ALL;
    cfg.intensity = 10;
    tr_ref *sup = start_cfg(&cfg, specs, 3);
    tu_store(&fail_left[1], 1);
    send_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[2], 2, TU_WAIT_MS)); /* the last of the group */
    assert_true(wait_counts(sup, 3, 3));
    /* k0: first start, the restart that k1's failure undid, the group's. */
    assert_int_equal(tu_load(&starts[0]), 3);
    assert_int_equal(tu_load(&starts[1]), 2); /* its failed start spawned nothing */
    assert_int_equal(tu_load(&starts[2]), 2); /* not reached in the failed round */
    assert_int_equal(tu_load(&ends[0]), 2);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.start_failures, 1);
    stop_sup(sup);
}

static void one_for_all_failed_group_restart_counts_against_intensity(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT)};
    specs[1].behavior = NULL;
    specs[1].start = flaky_start;
    specs[1].arg = (void *)(uintptr_t)1;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_ONE_FOR_ALL;
    cfg.intensity = 1; /* the crash's restart is allowed, the failed start is one too many */
    tr_ref *sup = start_cfg(&cfg, specs, 2);
    tu_store(&fail_left[1], 1);
    send_child(sup, "k0", CRASH);
    assert_true(wait_dead(sup));
    assert_int_equal(tu_load(&starts[0]), 2);
    assert_int_equal(tu_load(&ends[0]), 2);
    tr_ref_release(sup);
}

/* rest_for_one: k1 crashes; restarting k1 and k2, k2's start fails. As in
 * OTP the retry restarts the failed child and those after it: k1, already
 * restarted, stays; k0 is never touched. */
static void rest_for_one_failed_restart_restarts_the_rest_again(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    specs[2].behavior = NULL;
    specs[2].start = flaky_start;
    specs[2].arg = (void *)(uintptr_t)2;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_REST_FOR_ONE;
    cfg.intensity = 10;
    tr_ref *sup = start_cfg(&cfg, specs, 3);
    tu_store(&fail_left[2], 1);
    send_child(sup, "k1", CRASH);
    assert_true(tu_wait_ge(&starts[2], 2, TU_WAIT_MS));
    assert_true(wait_counts(sup, 3, 3));
    assert_int_equal(tu_load(&starts[0]), 1);
    assert_int_equal(tu_load(&starts[1]), 2);
    assert_int_equal(tu_load(&ends[1]), 1);
    assert_int_equal(tu_load(&ends[0]), 0);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.start_failures, 1);
    stop_sup(sup);
}

/* --- giving up ------------------------------------------------------------------ */

static void intensity_reached_ends_the_supervisor_with_shutdown(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.intensity = 0;
    tr_ref *sup = start_cfg(&cfg, &spec, 1);
    tr_ref *w = watch(&sup, 1);
    send_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&down_count, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&down_kind[0]), TR_EXIT_SHUTDOWN);
    assert_string_equal(down_text[0], "restart intensity reached");
    tr_ref_release(w);
    tr_ref_release(sup);
}

/* OTP: a supervisor that gives up exits with `shutdown`, so a transient
 * parent does not restart it. */
static void transient_parent_does_not_restart_a_supervisor_that_gave_up(void **state) {
    (void)state;
    static tr_child_spec inner_kids[1];
    inner_kids[0] = kid_spec(0, TR_CHILD_PERMANENT);
    static tr_sup_config inner;
    tr_sup_config_init(&inner);
    inner.intensity = 0;
    inner.children = inner_kids;
    inner.nchildren = 1;
    tr_child_spec outer_kids[1];
    memset(outer_kids, 0, sizeof(outer_kids));
    outer_kids[0].id = "inner";
    outer_kids[0].sup = &inner;
    outer_kids[0].kind = TR_CHILD_SUPERVISOR;
    outer_kids[0].restart = TR_CHILD_TRANSIENT;
    tr_sup_config outer;
    tr_sup_config_init(&outer);
    tr_ref *sup = start_cfg(&outer, outer_kids, 1);
    tr_ref *in = tu_sup_child(sup, "inner");
    assert_non_null(in);
    send_child(in, "k0", CRASH);
    assert_true(wait_dead(in));
    tr_ref_release(in);
    assert_true(wait_counts(sup, 1, 0)); /* the spec stays, not running */
    assert_int_equal(tu_load(&starts[0]), 1);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.restarts, 0);
    stop_sup(sup);
}

/* --- dynamic supervisors ---------------------------------------------------------- */

static void dynamic_supervisor_counts_one_spec_and_children_have_no_id(void **state) {
    (void)state;
    tr_child_spec tmpl = kid_spec(0, TR_CHILD_TEMPORARY);
    tmpl.id = "template"; /* not given to the children */
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    tr_ref *sup = start_cfg(&cfg, &tmpl, 1);
    tr_ref *a, *b;
    assert_int_equal(tr_sup_start_dynamic(sup, (void *)(uintptr_t)1, &a), 0);
    assert_int_equal(tr_sup_start_dynamic(sup, (void *)(uintptr_t)2, &b), 0);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 1);
    assert_int_equal(k.active, 2);
    assert_int_equal(k.workers, 2);
    assert_int_equal(k.supervisors, 0);
    tr_child_info info[4];
    size_t n;
    assert_int_equal(tr_sup_which_children(sup, info, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_null(info[0].id);
    assert_null(info[1].id);
    tr_sup_children_release(info, n);
    /* By id: refused, dynamic children have none. */
    assert_int_equal(tr_sup_terminate_child(sup, "template"), TR_EINVAL);
    assert_int_equal(tr_sup_restart_child(sup, "template"), TR_EINVAL);
    assert_int_equal(tr_sup_delete_child(sup, "template"), TR_EINVAL);
    tr_child_spec got;
    assert_int_equal(tr_sup_get_childspec(sup, "template", &got), TR_EINVAL);
    /* A child that already ended: terminating it is OK. */
    assert_int_equal(tr_send_word(a, QUIT, 0), 0);
    assert_true(wait_dead(a));
    assert_int_equal(tr_sup_terminate_ref(sup, a), 0);
    assert_int_equal(tr_sup_terminate_ref(sup, b), 0);
    assert_int_equal(tr_sup_terminate_ref(sup, b), 0);
    assert_true(wait_counts(sup, 1, 0));
    tr_ref_release(a);
    tr_ref_release(b);
    stop_sup(sup);
}

/* Three busy children, a 100 ms shutdown: all are asked at once and all
 * killed at the one deadline, while each is still busy. */
static void dynamic_children_are_stopped_in_parallel_then_killed(void **state) {
    (void)state;
    tr_child_spec tmpl = kid_spec(0, TR_CHILD_PERMANENT);
    tmpl.shutdown_ms = 100;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    tr_ref *sup = start_cfg(&cfg, &tmpl, 1);
    tr_ref *kids[3];
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(tr_sup_start_dynamic(sup, (void *)(uintptr_t)i, &kids[i]), 0);
        assert_int_equal(tr_send_word(kids[i], HOLD, 0), 0);
    }
    assert_true(tu_wait_ge(&holding, 3, TU_WAIT_MS));
    tr_ref *w = watch(&sup, 1);
    assert_int_equal(tr_actor_stop(sup), 0);
    /* One at a time, the second kill could only come after the first
     * child ended, which it cannot while it holds. */
    tr_sup_stats st = {0};
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (st.kills < 3 && tu_now_ms() < deadline) {
        assert_int_equal(tr_sup_stats_get(sup, &st), 0);
        tu_sleep_ms(2);
    }
    assert_int_equal(st.kills, 3);
    assert_int_equal(tu_load(&end_count), 0); /* all still busy */
    tu_store(&hold_open, 1);
    assert_true(tu_wait_ge(&down_count, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&end_count), 3); /* the supervisor ended after them */
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(tu_load(&end_kind[i]), TR_EXIT_KILLED);
        tr_ref_release(kids[i]);
    }
    assert_int_equal(tu_load(&down_kind[0]), TR_EXIT_SHUTDOWN);
    tr_ref_release(w);
    tr_ref_release(sup);
}

/* --- restart loops ------------------------------------------------------------------ */

static void child_waiting_for_its_restart_cannot_be_deleted_or_restarted(void **state) {
    (void)state;
    /* Waiting out a backoff. */
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.backoff_min_ms = 60000; /* the restart waits a minute */
    tr_ref *sup = start_cfg(&cfg, &spec, 1);
    send_child(sup, "k0", CRASH);
    assert_true(wait_counts(sup, 1, 0));
    tr_child_info info[1];
    size_t n;
    assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0);
    assert_true(info[0].restarting); /* OTP: `restarting` */
    assert_false(info[0].running);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), TR_ERESTARTING);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), TR_ERESTARTING);
    /* Terminating it ends the wait; then it is an ordinary stopped child. */
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0);
    assert_false(info[0].restarting);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), 0);
    assert_int_equal(tu_load(&starts[0]), 1);
    tr_ref *first = sup; /* stopped after the next starts: the runtime closes when idle */

    /* Failing to start, retried every few ms. */
    spec.behavior = NULL;
    spec.start = flaky_start;
    spec.arg = (void *)(uintptr_t)1;
    tr_sup_config_init(&cfg);
    cfg.intensity = TR_SUP_UNLIMITED;
    sup = start_cfg(&cfg, &spec, 1);
    stop_sup(first);
    tu_store(&fail_left[1], 1000000);
    send_child(sup, "k0", CRASH);
    tr_sup_stats st = {0};
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (st.start_failures < 2 && tu_now_ms() < deadline)
        assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_true(st.start_failures >= 2);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), TR_ERESTARTING);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), TR_ERESTARTING);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), 0);
    stop_sup(sup);
}

/* --- ignore ------------------------------------------------------------------------- */

static void start_function_may_answer_ignore(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT)};
    specs[1].behavior = NULL;
    specs[1].start = ignore_start;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    tr_ref *sup = start_cfg(&cfg, specs, 2);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 2); /* the spec is kept */
    assert_int_equal(k.active, 1);
    tr_child_info info[2];
    size_t n;
    assert_int_equal(tr_sup_which_children(sup, info, 2, &n), 0);
    assert_string_equal(info[1].id, "k1");
    assert_false(info[1].running);
    assert_null(info[1].ref);
    tr_sup_children_release(info, n);
    /* start_child: 0 and no handle; a temporary spec is not kept. */
    tr_child_spec more = specs[1];
    more.id = "k2";
    tr_ref *out = (tr_ref *)1;
    assert_int_equal(tr_sup_start_child(sup, &more, &out), 0);
    assert_null(out);
    more.id = "k3";
    more.restart = TR_CHILD_TEMPORARY;
    assert_int_equal(tr_sup_start_child(sup, &more, &out), 0);
    assert_null(out);
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 3);
    assert_int_equal(k.active, 1);
    assert_int_equal(tr_sup_restart_child(sup, "k1"), 0); /* ignores again */
    assert_int_equal(tu_load(&ignored), 4);
    tr_ref *first = sup; /* stopped after the next starts: the runtime closes when idle */

    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    sup = start_cfg(&cfg, &specs[1], 1);
    stop_sup(first);
    out = (tr_ref *)1;
    assert_int_equal(tr_sup_start_dynamic(sup, NULL, &out), 0);
    assert_null(out);
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.active, 0);
    assert_int_equal(k.workers, 0); /* no entry was added */
    stop_sup(sup);
}

/* --- failing during start ------------------------------------------------------------- */

static void child_failing_during_start_stops_the_others_in_reverse(void **state) {
    (void)state;
    tr_child_spec specs[4] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT), kid_spec(3, TR_CHILD_PERMANENT)};
    specs[0].shutdown_ms = TR_SHUTDOWN_BRUTAL; /* each per its own setting */
    specs[3].behavior = NULL;
    specs[3].start = flaky_start;
    specs[3].arg = (void *)(uintptr_t)3;
    tu_store(&fail_left[3], 1);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = specs;
    cfg.nchildren = 4;
    tr_ref *sup = (tr_ref *)1;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EIO);
    assert_null(sup);
    /* From a foreign thread the call returns once they have ended. */
    assert_int_equal(tu_load(&end_count), 3);
    assert_int_equal(tu_load(&end_log[0]), 2);
    assert_int_equal(tu_load(&end_log[1]), 1);
    assert_int_equal(tu_load(&end_log[2]), 0);
    assert_int_equal(tu_load(&end_kind[2]), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&end_kind[1]), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&end_kind[0]), TR_EXIT_KILLED);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS)); /* the supervisor is gone too */
}

static uint64_t starter_rc;

/* An actor starting a supervisor whose last child fails: on a worker the
 * call does not wait, the others are still stopped in reverse order. */
static int starter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_ref *sup = (tr_ref *)1;
    int rc = tr_sup_start(tr_ctx_runtime(ctx), msg->ptr, &sup);
    tu_store(&starter_rc, (uint64_t)(int64_t)(rc == TR_EIO && sup == NULL ? 0 : rc));
    tu_store(&holding, 1);
    return 0;
}

static void child_failing_during_start_on_a_worker_stops_the_others(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    specs[2].behavior = NULL;
    specs[2].start = flaky_start;
    specs[2].arg = (void *)(uintptr_t)2;
    tu_store(&fail_left[2], 1);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = specs;
    cfg.nchildren = 3;
    static const tr_behavior starter = {NULL, starter_receive, NULL};
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &starter, NULL, &a), 0);
    tu_store(&starter_rc, 1);
    assert_int_equal(tr_send_ptr(a, 1, &cfg, NULL), 0);
    assert_true(tu_wait_ge(&holding, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&starter_rc), 0);
    assert_true(tu_wait_ge(&end_count, 2, TU_WAIT_MS));
    assert_int_equal(tu_load(&end_log[0]), 1);
    assert_int_equal(tu_load(&end_log[1]), 0);
    assert_int_equal(tu_load(&end_kind[0]), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&end_kind[1]), TR_EXIT_SHUTDOWN);
    tr_ref_release(a);
}

/* --- stopping with tr_actor_stop ----------------------------------------------------- */

static void actor_stop_ends_children_in_reverse_before_the_supervisor(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    tr_ref *sup = start_cfg(&cfg, specs, 3);
    tr_ref *targets[4] = {sup, tu_sup_child(sup, "k0"), tu_sup_child(sup, "k1"),
                          tu_sup_child(sup, "k2")};
    tr_ref *w = watch(targets, 4);
    assert_int_equal(tr_actor_stop(sup), 0);
    assert_true(tu_wait_ge(&down_count, 4, TU_WAIT_MS));
    assert_int_equal(tu_load(&down_id[0]), tr_ref_id(targets[3]));
    assert_int_equal(tu_load(&down_id[1]), tr_ref_id(targets[2]));
    assert_int_equal(tu_load(&down_id[2]), tr_ref_id(targets[1]));
    assert_int_equal(tu_load(&down_id[3]), tr_ref_id(sup)); /* after every child */
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(tu_load(&down_kind[i]), TR_EXIT_SHUTDOWN);
    assert_int_equal(tr_actor_stop(sup), TR_EDEAD);
    for (unsigned i = 0; i < 4; i++)
        tr_ref_release(targets[i]);
    tr_ref_release(w);
}

/* A stop while the supervisor is busy restarting: it still ends in order. */
static void actor_stop_during_a_group_restart_still_ends_in_order(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT)};
    specs[1].shutdown_ms = TR_SHUTDOWN_INFINITY;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_ONE_FOR_ALL;
    tr_ref *sup = start_cfg(&cfg, specs, 2);
    tr_ref *k1 = tu_sup_child(sup, "k1");
    assert_int_equal(tr_send_word(k1, HOLD, 0), 0);
    assert_true(tu_wait_ge(&holding, 1, TU_WAIT_MS));
    send_child(sup, "k0", CRASH); /* the group restart waits for k1 */
    tr_ref *w = watch(&sup, 1);
    assert_int_equal(tr_actor_stop(sup), 0);
    tu_sleep_ms(20);
    assert_int_equal(tr_ref_is_alive(sup), 1); /* still waiting for k1 */
    tu_store(&hold_open, 1);
    assert_true(wait_dead(sup));
    assert_true(tu_wait_ge(&down_count, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&down_kind[0]), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&starts[0]), 1); /* not restarted */
    assert_int_equal(tr_ref_is_alive(k1), 0);
    tr_ref_release(k1);
    tr_ref_release(w);
    tr_ref_release(sup);
}

/* --- already started / already present ----------------------------------------------- */

static void already_started_and_already_present_are_distinct(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    tr_ref *sup = start_cfg(&cfg, &spec, 1);
    assert_int_equal(tr_sup_start_child(sup, &spec, NULL), TR_EALREADY);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), TR_EALREADY);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tr_sup_start_child(sup, &spec, NULL), TR_EEXIST);
    tr_child_spec got;
    assert_int_equal(tr_sup_get_childspec(sup, "k0", &got), 0);
    assert_string_equal(got.id, "k0");
    assert_ptr_equal(got.behavior, &kid_beh);
    assert_int_equal(got.shutdown_ms, 2000);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_int_equal(tu_load(&starts[0]), 2);
    stop_sup(sup);
}

/* --- significant children ------------------------------------------------------------- */

static void significant_flag_is_checked(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    spec.significant = 1;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.auto_shutdown = TR_SUP_AUTO_ANY_SIGNIFICANT;
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL); /* permanent */
    spec.restart = TR_CHILD_TRANSIENT;
    cfg.auto_shutdown = TR_SUP_AUTO_NEVER;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL); /* auto_shutdown never */
    cfg.auto_shutdown = (tr_sup_auto_shutdown)7;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL);
    cfg.nchildren = 0;
    cfg.auto_shutdown = TR_SUP_AUTO_NEVER;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    assert_int_equal(tr_sup_start_child(sup, &spec, NULL), TR_EINVAL);
    spec.restart = TR_CHILD_PERMANENT;
    assert_int_equal(tr_sup_start_child(sup, &spec, NULL), TR_EINVAL);
    assert_int_equal(tu_load(&starts[0]), 0);
    stop_sup(sup);
}

static tr_ref *start_significant(tr_sup_auto_shutdown mode) {
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_TRANSIENT),
                              kid_spec(2, TR_CHILD_TEMPORARY)};
    specs[1].significant = 1;
    specs[2].significant = 1;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.auto_shutdown = mode;
    cfg.intensity = 10;
    return start_cfg(&cfg, specs, 3);
}

static void any_significant_child_ending_shuts_the_supervisor_down(void **state) {
    (void)state;
    tr_ref *sup = start_significant(TR_SUP_AUTO_ANY_SIGNIFICANT);
    tr_ref *w = watch(&sup, 1);
    send_child(sup, "k1", CRASH); /* a crash is restarted: no shutdown */
    assert_true(tu_wait_ge(&starts[1], 2, TU_WAIT_MS));
    assert_true(wait_counts(sup, 3, 3));
    assert_int_equal(tr_sup_terminate_child(sup, "k1"), 0); /* ours: no shutdown */
    assert_int_equal(tr_ref_is_alive(sup), 1);
    assert_int_equal(tr_sup_restart_child(sup, "k1"), 0);
    send_child(sup, "k1", QUIT); /* ends normally, not restarted: shutdown */
    assert_true(wait_dead(sup));
    assert_true(tu_wait_ge(&down_count, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&down_kind[0]), TR_EXIT_SHUTDOWN);
    assert_string_equal(down_text[0], "auto shutdown");
    assert_int_equal(tu_load(&ends[0]), 1); /* the others were stopped */
    assert_int_equal(tu_load(&ends[2]), 1);
    assert_int_equal(tu_load(&end_kind[0]), TR_EXIT_SHUTDOWN);
    tr_ref_release(w);
    tr_ref_release(sup);
}

static void all_significant_children_ending_shuts_the_supervisor_down(void **state) {
    (void)state;
    tr_ref *sup = start_significant(TR_SUP_AUTO_ALL_SIGNIFICANT);
    send_child(sup, "k2", QUIT); /* temporary: gone; k1 still runs */
    assert_true(wait_counts(sup, 2, 2));
    assert_int_equal(tr_ref_is_alive(sup), 1);
    send_child(sup, "k1", QUIT); /* the last significant child */
    assert_true(wait_dead(sup));
    assert_int_equal(tu_load(&ends[0]), 1);
    assert_int_equal(tu_load(&starts[0]), 1);
    tr_ref_release(sup);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(one_for_all_failed_sibling_restart_restarts_the_group,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(one_for_all_failed_group_restart_counts_against_intensity,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(rest_for_one_failed_restart_restarts_the_rest_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(intensity_reached_ends_the_supervisor_with_shutdown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(transient_parent_does_not_restart_a_supervisor_that_gave_up,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(dynamic_supervisor_counts_one_spec_and_children_have_no_id,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(dynamic_children_are_stopped_in_parallel_then_killed,
                                        setup4, teardown),
        cmocka_unit_test_setup_teardown(
            child_waiting_for_its_restart_cannot_be_deleted_or_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(start_function_may_answer_ignore, setup, teardown),
        cmocka_unit_test_setup_teardown(child_failing_during_start_stops_the_others_in_reverse,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(child_failing_during_start_on_a_worker_stops_the_others,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(actor_stop_ends_children_in_reverse_before_the_supervisor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(actor_stop_during_a_group_restart_still_ends_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(already_started_and_already_present_are_distinct, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(significant_flag_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(any_significant_child_ending_shuts_the_supervisor_down,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(all_significant_children_ending_shuts_the_supervisor_down,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
