/* tests/test_supervisor.c - supervisors.
 *
 * Children are "kid" actors numbered by their spawn arg. Each records its
 * starts and the order in which kids end (a shared log); a CRASH message makes
 * it crash, a QUIT message makes it stop normally, a NAP message makes it
 * sleep in receive (to test shutdown timeouts). The test thread drives
 * everything through the tr_sup_* calls and polls their answers; it never
 * asserts on timing except where a delay must have been at least waited. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { CRASH = 1, QUIT = 2, NAP = 3, PANIC = 4, HOLD = 5 };
#define NKIDS 8

static uint64_t starts[NKIDS];
static uint64_t ends[NKIDS];
static uint64_t end_log[64];
static uint64_t end_count;
static uint64_t fake_now;
static uint64_t hold_open; /* HOLD waits for this */
static uint64_t holding;   /* HOLDs entered */

static uint64_t fake_clock(void *user) {
    (void)user;
    return tu_load(&fake_now);
}

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
    case PANIC:
        tr_panic(ctx, 42, "kid panic");
    case QUIT:
        tr_stop(ctx);
        return 0;
    case NAP:
        tu_sleep_ms((int64_t)msg->word);
        return 0;
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
    (void)why;
    kid *k = state;
    tu_add(&ends[k->n], 1);
    uint64_t i = tu_add(&end_count, 1) - 1;
    if (i < 64)
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

static tr_runtime *rt;

static int setup(void **state) {
    (void)state;
    memset(starts, 0, sizeof(starts));
    memset(ends, 0, sizeof(ends));
    memset(end_log, 0, sizeof(end_log));
    tu_store(&end_count, 0);
    tu_store(&fake_now, 1000000);
    tu_store(&hold_open, 0);
    tu_store(&holding, 0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tu_store(&hold_open, 1);
    tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

static void crash_child(tr_ref *sup, const char *id, uint32_t how) {
    tr_ref *c = tu_sup_child(sup, id);
    assert_non_null(c);
    assert_int_equal(tr_send_word(c, how, 0), 0);
    tr_ref_release(c);
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

/* Wait until the supervisor has handled the ends it was told about. */
static int wait_counts(tr_ref *sup, size_t specs, size_t active) {
    counts_arg a = {sup, specs, active};
    return tu_wait_until(counts_are, &a, TU_WAIT_MS);
}

static tr_ref *start_sup(tr_sup_strategy strategy, unsigned n, tr_child_restart restart) {
    tr_child_spec specs[NKIDS];
    for (unsigned i = 0; i < n; i++)
        specs[i] = kid_spec(i, restart);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = strategy;
    cfg.intensity = 10;
    cfg.children = specs;
    cfg.nchildren = n;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    return sup;
}

static void stop_sup(tr_ref *sup) {
    assert_int_equal(tr_sup_stop(sup), 0);
    assert_true(wait_dead(sup));
    tr_ref_release(sup);
}

/* --- tests ----------------------------------------------------------------- */

static void bad_configs_return_einval(void **state) {
    (void)state;
    tr_ref *sup = (tr_ref *)1;
    assert_int_equal(tr_sup_start(NULL, NULL, &sup), TR_EINVAL);
    assert_null(sup);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    assert_int_equal(tr_sup_start(rt, NULL, &sup), TR_EINVAL);
    cfg.strategy = (tr_sup_strategy)9;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL);
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC; /* needs exactly one template */
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL);
    tr_child_spec two[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(0, TR_CHILD_PERMANENT)};
    tr_sup_config_init(&cfg);
    cfg.children = two;
    cfg.nchildren = 2; /* duplicate ids */
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL);
    two[1] = kid_spec(1, TR_CHILD_PERMANENT);
    two[1].behavior = NULL; /* no way to start */
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL);
    /* A static child without an id (OTP requires one; only a dynamic
     * supervisor's template may have none), at start and added later. */
    two[1] = kid_spec(1, TR_CHILD_PERMANENT);
    two[1].id = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL);
    assert_null(sup);
    tr_sup_config_init(&cfg);
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    assert_int_equal(tr_sup_start_child(sup, &two[1], NULL), TR_EINVAL);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 0);
    stop_sup(sup);
    assert_int_equal(tr_sup_stop(NULL), TR_EINVAL);
    assert_int_equal(tr_sup_terminate_child(NULL, "x"), TR_EINVAL);
}

static void children_start_in_order_and_stop_in_reverse(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 4, TR_CHILD_PERMANENT);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(tu_load(&starts[i]), 1); /* started before tr_sup_start returned */
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 4);
    assert_int_equal(k.active, 4);
    assert_int_equal(k.workers, 4);
    stop_sup(sup);
    assert_int_equal(tu_load(&end_count), 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(tu_load(&end_log[i]), 3 - i);
}

static void which_children_lists_specs_in_order(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 3, TR_CHILD_PERMANENT);
    tr_child_info info[2];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, info, 2, &n), 0);
    assert_int_equal(n, 3); /* more than fit */
    assert_string_equal(info[0].id, "k0");
    assert_string_equal(info[1].id, "k1");
    assert_true(info[0].running);
    assert_non_null(info[0].ref);
    assert_int_equal(tr_ref_is_alive(info[0].ref), 1);
    tr_sup_children_release(info, 2);
    stop_sup(sup);
}

static void one_for_one_restarts_only_the_crashed_child(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 3, TR_CHILD_PERMANENT);
    crash_child(sup, "k1", CRASH);
    assert_true(tu_wait_ge(&starts[1], 2, TU_WAIT_MS));
    crash_child(sup, "k1", PANIC); /* tr_panic is a crash too */
    assert_true(tu_wait_ge(&starts[1], 3, TU_WAIT_MS));
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.restarts, 2);
    assert_int_equal(tu_load(&starts[0]), 1);
    assert_int_equal(tu_load(&starts[2]), 1);
    stop_sup(sup);
}

static void one_for_all_restarts_every_child(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ALL, 3, TR_CHILD_PERMANENT);
    crash_child(sup, "k1", CRASH);
    for (unsigned i = 0; i < 3; i++)
        assert_true(tu_wait_ge(&starts[i], 2, TU_WAIT_MS));
    /* k1 ended by itself; then k2 and k0 were stopped, newest first. */
    assert_true(tu_wait_ge(&end_count, 3, TU_WAIT_MS));
    assert_int_equal(tu_load(&end_log[0]), 1);
    assert_int_equal(tu_load(&end_log[1]), 2);
    assert_int_equal(tu_load(&end_log[2]), 0);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.active, 3);
    stop_sup(sup);
}

static void rest_for_one_restarts_the_later_children(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_REST_FOR_ONE, 4, TR_CHILD_PERMANENT);
    crash_child(sup, "k1", CRASH);
    for (unsigned i = 1; i < 4; i++)
        assert_true(tu_wait_ge(&starts[i], 2, TU_WAIT_MS));
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0); /* the restart is over */
    assert_int_equal(k.active, 4);
    assert_int_equal(tu_load(&starts[0]), 1);
    assert_int_equal(tu_load(&end_log[0]), 1);
    assert_int_equal(tu_load(&end_log[1]), 3);
    assert_int_equal(tu_load(&end_log[2]), 2);
    stop_sup(sup);
}

static void transient_child_restarts_after_crash_not_after_normal_exit(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_TRANSIENT);
    crash_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS));
    crash_child(sup, "k0", QUIT);
    assert_true(tu_wait_ge(&ends[0], 2, TU_WAIT_MS));
    assert_true(wait_counts(sup, 1, 0)); /* the spec stays, not running */
    assert_int_equal(tu_load(&starts[0]), 2);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_int_equal(tu_load(&starts[0]), 3);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), TR_EALREADY);
    stop_sup(sup);
}

static void temporary_child_is_never_restarted_and_its_spec_goes(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_TEMPORARY);
    crash_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&ends[0], 1, TU_WAIT_MS));
    assert_true(wait_counts(sup, 1, 1));
    assert_int_equal(tu_load(&starts[0]), 1);
    stop_sup(sup);
}

static void permanent_child_restarts_after_normal_exit(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_PERMANENT);
    crash_child(sup, "k0", QUIT);
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS));
    stop_sup(sup);
}

static void intensity_exceeded_stops_children_and_exits(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.intensity = 2;
    cfg.period_ms = 1000;
    cfg.clock_ms = fake_clock;
    cfg.children = specs;
    cfg.nchildren = 3;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    crash_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS));
    crash_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[0], 3, TU_WAIT_MS));
    crash_child(sup, "k0", CRASH); /* the third within the period: too many */
    assert_true(wait_dead(sup));
    assert_int_equal(tu_load(&starts[0]), 3);
    /* k0 crashed, then k2 and k1 were stopped in reverse order. */
    assert_int_equal(tu_load(&end_count), 5);
    assert_int_equal(tu_load(&end_log[3]), 2);
    assert_int_equal(tu_load(&end_log[4]), 1);
    assert_int_equal(tr_sup_stop(sup), TR_EDEAD);
    tr_ref_release(sup);
}

static void restarts_outside_the_period_do_not_add_up(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.intensity = 1;
    cfg.period_ms = 1000;
    cfg.clock_ms = fake_clock;
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    for (uint64_t i = 2; i <= 5; i++) {
        crash_child(sup, "k0", CRASH);
        assert_true(tu_wait_ge(&starts[0], i, TU_WAIT_MS));
        tu_add(&fake_now, 1500); /* the fake clock moves past the period */
    }
    assert_int_equal(tr_ref_is_alive(sup), 1);
    stop_sup(sup);
}

/* A supervisor under a supervisor: the inner one gives up, the outer one
 * restarts it (and so its children). */
static void escalation_restarts_the_inner_supervisor(void **state) {
    (void)state;
    static tr_child_spec inner_kids[1];
    inner_kids[0] = kid_spec(0, TR_CHILD_PERMANENT);
    static tr_sup_config inner;
    tr_sup_config_init(&inner);
    inner.intensity = 0; /* the first crash is too many */
    inner.children = inner_kids;
    inner.nchildren = 1;
    tr_child_spec outer_kids[2];
    memset(outer_kids, 0, sizeof(outer_kids));
    outer_kids[0].id = "inner";
    outer_kids[0].sup = &inner;
    outer_kids[0].kind = TR_CHILD_SUPERVISOR;
    outer_kids[1] = kid_spec(1, TR_CHILD_PERMANENT);
    tr_sup_config outer;
    tr_sup_config_init(&outer);
    outer.children = outer_kids;
    outer.nchildren = 2;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &outer, &sup), 0);
    tr_ref *in = tu_sup_child(sup, "inner");
    assert_non_null(in);
    crash_child(in, "k0", CRASH);
    assert_true(wait_dead(in));
    tr_ref_release(in);
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS)); /* the new inner started k0 */
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(tu_load(&starts[1]), 1);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.supervisors, 1);
    assert_int_equal(k.active, 2);
    /* Orderly stop of the tree: k1, then the inner supervisor (and its k0). */
    uint64_t before = tu_load(&end_count);
    stop_sup(sup);
    assert_int_equal(tu_load(&end_count), before + 2);
    assert_int_equal(tu_load(&end_log[before]), 1);
    assert_int_equal(tu_load(&end_log[before + 1]), 0);
}

static void backoff_delays_the_restart(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.intensity = 10;
    cfg.backoff_min_ms = 100;
    cfg.backoff_max_ms = 1000;
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    int64_t t0 = tu_now_ms();
    crash_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS));
    assert_true(tu_now_ms() - t0 >= 100); /* a lower bound only */
    t0 = tu_now_ms();
    crash_child(sup, "k0", CRASH); /* second in the period: 200 ms */
    assert_true(tu_wait_ge(&starts[0], 3, TU_WAIT_MS));
    assert_true(tu_now_ms() - t0 >= 200);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.delayed, 2);
    assert_int_equal(st.restarts, 2);
    stop_sup(sup);
}

static void shutdown_timeout_kills_a_busy_child(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    spec.shutdown_ms = 20;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *c = tu_sup_child(sup, "k0");
    assert_int_equal(tr_send_word(c, NAP, 400), 0); /* busy for 400 ms */
    tu_sleep_ms(20);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tr_ref_is_alive(c), 0);
    tr_ref_release(c);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.kills, 1);
    stop_sup(sup);
}

static void *open_hold_later(void *arg) {
    (void)arg;
    tu_sleep_ms(50);
    tu_store(&hold_open, 1);
    return NULL;
}

static void *terminate_k0(void *arg) {
    tr_sup_terminate_child(arg, "k0");
    return NULL;
}

static void requests_during_a_stop_wait_for_it(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    tr_ref *c = tu_sup_child(sup, "k0");
    assert_int_equal(tr_send_word(c, HOLD, 0), 0); /* k0 is busy until hold_open */
    assert_true(tu_wait_ge(&holding, 1, TU_WAIT_MS));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, terminate_k0, sup), 0);
    /* The stop request's wake-up lands in k0's (otherwise empty) mailbox. */
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (tr_ref_mailbox_len(c) < 1 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    assert_int_equal(tr_ref_mailbox_len(c), 1);
    /* Ask while the stop is (most likely) still under way: the answer waits
     * for it, so it counts k0 as gone either way. */
    pthread_t opener;
    assert_int_equal(pthread_create(&opener, NULL, open_hold_later, NULL), 0);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.active, 1);
    pthread_join(opener, NULL);
    pthread_join(th, NULL);
    assert_int_equal(tr_ref_is_alive(c), 0);
    tr_ref_release(c);
    stop_sup(sup);
}

static void brutal_shutdown_kills_at_once(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    spec.shutdown_ms = TR_SHUTDOWN_BRUTAL;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *c = tu_sup_child(sup, "k0");
    for (int i = 0; i < 50; i++) /* queued work is not waited for */
        assert_int_equal(tr_send_word(c, NAP, 5), 0);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tr_ref_is_alive(c), 0);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.kills, 0); /* brutal is not a timeout kill */
    tr_ref_release(c);
    stop_sup(sup);
}

static void terminate_restart_and_delete_child(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    assert_int_equal(tr_sup_terminate_child(sup, "nope"), TR_ENOTFOUND);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), TR_EBUSY);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tu_load(&ends[0]), 1);
    assert_int_equal(tu_load(&starts[0]), 1); /* terminated, not restarted */
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_int_equal(tu_load(&starts[0]), 2);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), 0);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 1);
    tr_child_spec extra = kid_spec(5, TR_CHILD_PERMANENT);
    tr_ref *c = NULL;
    assert_int_equal(tr_sup_start_child(sup, &extra, &c), 0);
    assert_non_null(c);
    assert_int_equal(tr_sup_start_child(sup, &extra, NULL), TR_EALREADY);
    assert_int_equal(tu_load(&starts[5]), 1);
    tr_ref_release(c);
    stop_sup(sup);
}

static void dynamic_children_come_and_go_at_run_time(void **state) {
    (void)state;
    tr_child_spec tmpl = kid_spec(0, TR_CHILD_TRANSIENT);
    tmpl.id = NULL;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    cfg.children = &tmpl;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *a, *b;
    assert_int_equal(tr_sup_start_dynamic(sup, (void *)(uintptr_t)3, &a), 0);
    assert_int_equal(tr_sup_start_dynamic(sup, (void *)(uintptr_t)4, &b), 0);
    assert_int_equal(tu_load(&starts[3]), 1);
    assert_int_equal(tu_load(&starts[4]), 1);
    assert_int_equal(tr_sup_start_child(sup, &tmpl, NULL), TR_EINVAL);
    assert_int_equal(tr_send_word(a, CRASH, 0), 0); /* transient: restarted */
    assert_true(tu_wait_ge(&starts[3], 2, TU_WAIT_MS));
    assert_int_equal(tr_sup_terminate_ref(sup, b), 0);
    assert_int_equal(tr_sup_terminate_ref(sup, b), 0); /* already ended: OK */
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 1);
    assert_int_equal(k.active, 1);
    tr_ref_release(a);
    tr_ref_release(b);
    stop_sup(sup);
}

static void killing_the_supervisor_ends_its_children(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 3, TR_CHILD_PERMANENT);
    tr_ref *c = tu_sup_child(sup, "k2");
    assert_int_equal(tr_actor_kill(sup), 0);
    assert_true(wait_dead(sup));
    assert_true(wait_dead(c));
    assert_true(tu_wait_ge(&end_count, 3, TU_WAIT_MS));
    tr_ref_release(c);
    tr_ref_release(sup);
}

static void killed_child_is_restarted_and_supervisor_survives(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_PERMANENT);
    tr_ref *c = tu_sup_child(sup, "k0");
    assert_int_equal(tr_actor_kill(c), 0); /* KILLED must not spread to the supervisor */
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS));
    assert_int_equal(tr_ref_is_alive(sup), 1);
    tr_ref_release(c);
    stop_sup(sup);
}

static int linker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    int rc = tr_link(ctx, msg->ptr);
    return rc != 0 ? rc : TR_ECRASHED; /* link, then crash */
}

static void linked_actor_crash_shuts_the_supervisor_down_in_order(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 3, TR_CHILD_PERMANENT);
    static const tr_behavior linker = {NULL, linker_receive, NULL};
    tr_ref *l;
    assert_int_equal(tr_spawn(rt, &linker, NULL, &l), 0);
    assert_int_equal(tr_send_ptr(l, 1, sup, NULL), 0);
    assert_true(wait_dead(sup));
    assert_int_equal(tu_load(&end_count), 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(tu_load(&end_log[i]), 2 - i);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(tu_load(&starts[i]), 1);
    tr_ref_release(l);
    tr_ref_release(sup);
}

static void runtime_free_with_a_restart_pending_is_clean(void **state) {
    (void)state;
    tr_child_spec spec = kid_spec(0, TR_CHILD_PERMANENT);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.backoff_min_ms = 60000; /* the restart would wait a minute */
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    crash_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&ends[0], 1, TU_WAIT_MS));
    tr_sup_stats st; /* wait until the DOWN was handled: the timer is armed */
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    do
        assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    while (st.delayed < 1 && tu_now_ms() < deadline);
    assert_int_equal(st.delayed, 1);
    tr_ref_release(sup);
    /* teardown frees the runtime: the supervisor ends, its timer goes */
}

static int failing_start(tr_runtime *r, void *arg, tr_ref **out) {
    (void)r;
    (void)arg;
    *out = NULL;
    return TR_ENOMEM;
}

static void failing_child_start_fails_the_supervisor_start(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT)};
    specs[1].behavior = NULL;
    specs[1].start = failing_start;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = specs;
    cfg.nchildren = 2;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_ENOMEM);
    assert_null(sup);
    assert_true(tu_wait_ge(&ends[0], 1, TU_WAIT_MS)); /* k0 was started, then stopped */
}

static uint64_t worker_rc;

static int worker_rc_set(void *arg) {
    (void)arg;
    return tu_load(&worker_rc) != 1;
}

static int caller_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tr_sup_counts k;
    tu_store(&worker_rc, (uint64_t)(int64_t)tr_sup_count_children(msg->ptr, &k));
    return 0;
}

static void calls_from_a_worker_return_edeadlk(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_PERMANENT);
    static const tr_behavior caller = {NULL, caller_receive, NULL};
    tr_ref *a;
    tu_store(&worker_rc, 1);
    assert_int_equal(tr_spawn(rt, &caller, NULL, &a), 0);
    assert_int_equal(tr_send_ptr(a, 1, sup, NULL), 0);
    assert_true(tu_wait_until(worker_rc_set, NULL, TU_WAIT_MS));
    assert_int_equal((int)(int64_t)tu_load(&worker_rc), TR_EDEADLK);
    tr_ref_release(a);
    stop_sup(sup);
}

static void calls_on_a_stopped_supervisor_return_edead(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_PERMANENT);
    assert_int_equal(tr_sup_stop(sup), 0);
    assert_true(wait_dead(sup));
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), TR_EDEAD);
    assert_int_equal(tr_sup_stop(sup), TR_EDEAD);
    tr_ref_release(sup);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bad_configs_return_einval, setup, teardown),
        cmocka_unit_test_setup_teardown(children_start_in_order_and_stop_in_reverse, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(which_children_lists_specs_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(one_for_one_restarts_only_the_crashed_child, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_for_all_restarts_every_child, setup, teardown),
        cmocka_unit_test_setup_teardown(rest_for_one_restarts_the_later_children, setup, teardown),
        cmocka_unit_test_setup_teardown(transient_child_restarts_after_crash_not_after_normal_exit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(temporary_child_is_never_restarted_and_its_spec_goes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(permanent_child_restarts_after_normal_exit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(intensity_exceeded_stops_children_and_exits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(restarts_outside_the_period_do_not_add_up, setup, teardown),
        cmocka_unit_test_setup_teardown(escalation_restarts_the_inner_supervisor, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_delays_the_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(shutdown_timeout_kills_a_busy_child, setup, teardown),
        cmocka_unit_test_setup_teardown(brutal_shutdown_kills_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(terminate_restart_and_delete_child, setup, teardown),
        cmocka_unit_test_setup_teardown(requests_during_a_stop_wait_for_it, setup, teardown),
        cmocka_unit_test_setup_teardown(dynamic_children_come_and_go_at_run_time, setup, teardown),
        cmocka_unit_test_setup_teardown(killing_the_supervisor_ends_its_children, setup, teardown),
        cmocka_unit_test_setup_teardown(killed_child_is_restarted_and_supervisor_survives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(linked_actor_crash_shuts_the_supervisor_down_in_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(runtime_free_with_a_restart_pending_is_clean, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failing_child_start_fails_the_supervisor_start, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(calls_from_a_worker_return_edeadlk, setup, teardown),
        cmocka_unit_test_setup_teardown(calls_on_a_stopped_supervisor_return_edead, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
