/* tests/test_peers_otp.c - what Erlang/OTP's supervisor_SUITE checks, ported
 * to troupe's supervisors (the cases test_supervisor and test_sup_otp do not
 * already cover): restart types against the ways a child can end, the
 * intensity's edge cases, the order children are stopped and started, the
 * run-time calls by id, and count_children.
 *
 * Children are "kid" actors numbered by their spawn arg; each writes its
 * starts and ends into shared logs (in order), a CRASH message makes it
 * crash and a QUIT one stop normally. The test thread drives the
 * supervisor through the blocking calls and waits on the logs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { CRASH = 1, QUIT = 2 };
#define NKIDS 8
#define LOGN 64

static uint64_t starts[NKIDS], ends[NKIDS];
static uint64_t start_log[LOGN], start_n;
static uint64_t end_log[LOGN], end_n;
static uint64_t fail_init[NKIDS]; /* init returns TR_EIO while set */
static uint64_t end_kind[NKIDS];  /* the last exit kind of each kid */

typedef struct kid {
    uint64_t n;
} kid;

static void log_add(uint64_t *log, uint64_t *n, uint64_t v) {
    uint64_t i = tu_add(n, 1) - 1;
    if (i < LOGN)
        tu_store(&log[i], v);
}

static int kid_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    kid *k = state;
    k->n = (uint64_t)(uintptr_t)arg;
    if (tu_load(&fail_init[k->n]))
        return TR_EIO;
    log_add(start_log, &start_n, k->n);
    tu_add(&starts[k->n], 1);
    return 0;
}

static int kid_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == CRASH)
        return TR_ECRASHED;
    if (msg->type == QUIT)
        return tr_stop(ctx);
    return 0;
}

static void kid_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    kid *k = state;
    tu_store(&end_kind[k->n], (uint64_t)why->kind);
    log_add(end_log, &end_n, k->n);
    tu_add(&ends[k->n], 1);
}

static const tr_behavior kid_beh = {kid_init, kid_receive, kid_terminate};

/* The second run pins every kid to a thread of its own (TR_PIN_THREAD): a
 * child spec's opts keep the pin across restarts, and supervision must not
 * care where a child runs. */
static int pin_kids;

static const char *const ids[NKIDS] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};

static tr_child_spec kid_spec(unsigned n, tr_child_restart restart) {
    tr_child_spec c;
    memset(&c, 0, sizeof(c));
    c.id = ids[n];
    c.behavior = &kid_beh;
    c.opts.state_size = sizeof(kid);
    c.opts.arg = (void *)(uintptr_t)n;
    c.opts.pin = pin_kids ? TR_PIN_THREAD : TR_PIN_NONE;
    c.restart = restart;
    c.shutdown_ms = 2000;
    return c;
}

static tr_runtime *rt;

static int pinned(void **state) {
    (void)state;
    pin_kids = 1;
    return 0;
}

static int setup(void **state) {
    (void)state;
    memset(starts, 0, sizeof(starts));
    memset(ends, 0, sizeof(ends));
    memset(start_log, 0, sizeof(start_log));
    memset(end_log, 0, sizeof(end_log));
    memset(fail_init, 0, sizeof(fail_init));
    memset(end_kind, 0, sizeof(end_kind));
    tu_store(&start_n, 0);
    tu_store(&end_n, 0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    assert_int_equal(tr_runtime_free(rt), 0);
    rt = NULL;
    return 0;
}

static tr_ref *start_sup_with(tr_sup_strategy strategy, const tr_child_spec *specs, size_t n,
                              uint32_t intensity) {
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = strategy;
    cfg.intensity = intensity;
    cfg.children = specs;
    cfg.nchildren = n;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    return sup;
}

static tr_ref *start_sup(tr_sup_strategy strategy, unsigned n, tr_child_restart restart) {
    tr_child_spec specs[NKIDS];
    for (unsigned i = 0; i < n; i++)
        specs[i] = kid_spec(i, restart);
    return start_sup_with(strategy, specs, n, 10);
}

static void tell_child(tr_ref *sup, const char *id, uint32_t type) {
    tr_ref *c = tu_sup_child(sup, id);
    assert_non_null(c);
    assert_int_equal(tr_send_word(c, type, 0), 0);
    tr_ref_release(c);
}

static int is_dead(void *arg) {
    return !tr_ref_is_alive(arg);
}

static int wait_dead(tr_ref *ref) {
    return tu_wait_until(is_dead, ref, TU_WAIT_MS);
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

static void stop_sup(tr_ref *sup) {
    assert_int_equal(tr_sup_stop(sup), 0);
    assert_true(wait_dead(sup));
    tr_ref_release(sup);
}

/* The supervisor has handled everything sent to it before this call. */
static void sync_sup(tr_ref *sup) {
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
}

/* --- restart types ------------------------------------------------------------ */

/* OTP: a transient child is restarted only if it exits abnormally, and
 * `shutdown` is normal for it; `killed` is abnormal. */
static void transient_child_shut_down_is_not_restarted_but_a_killed_one_is(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_TRANSIENT);
    tr_ref *c = tu_sup_child(sup, "k0");
    assert_non_null(c);
    assert_int_equal(tr_actor_stop(c), 0);
    assert_true(wait_counts(sup, 1, 0));
    tr_ref_release(c);
    tu_sleep_ms(30);
    sync_sup(sup);
    assert_int_equal(tu_load(&starts[0]), 1);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    c = tu_sup_child(sup, "k0");
    assert_non_null(c);
    assert_int_equal(tr_actor_kill(c), 0);
    assert_true(tu_wait_ge(&starts[0], 3, TU_WAIT_MS));
    assert_true(wait_counts(sup, 1, 1));
    tr_ref_release(c);
    stop_sup(sup);
}

/* OTP: temporary children are never restarted, so their crashes do not
 * count against the intensity: with intensity 0 the supervisor lives on. */
static void temporary_crashes_do_not_count_against_the_intensity(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_TEMPORARY), kid_spec(1, TR_CHILD_TEMPORARY),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, specs, 3, 0);
    tell_child(sup, "k0", CRASH);
    tell_child(sup, "k1", CRASH);
    assert_true(wait_counts(sup, 1, 1));
    assert_true(tr_ref_is_alive(sup));
    assert_int_equal(tu_load(&starts[2]), 1);
    assert_int_equal(tu_load(&ends[2]), 0);
    stop_sup(sup);
}

/* OTP: MaxR = 0: the first restart exceeds it; the supervisor shuts its
 * children down and exits. */
static void intensity_zero_gives_up_on_the_first_restart(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, specs, 2, 0);
    tell_child(sup, "k0", CRASH);
    assert_true(wait_dead(sup));
    assert_true(tu_wait_ge(&ends[1], 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&starts[0]), 1);
    assert_int_equal(tu_load(&starts[1]), 1);
    tr_ref_release(sup);
}

/* A supervisor that gives up under a permanent parent whose intensity is 0
 * makes the parent give up too: the failure climbs the tree and everything
 * ends. */
static void escalation_climbs_until_a_supervisor_can_restart(void **state) {
    (void)state;
    tr_child_spec inner_kids[1] = {kid_spec(0, TR_CHILD_PERMANENT)};
    tr_sup_config inner;
    tr_sup_config_init(&inner);
    inner.intensity = 0;
    inner.children = inner_kids;
    inner.nchildren = 1;
    tr_child_spec outer_kids[2] = {kid_spec(1, TR_CHILD_PERMANENT), {0}};
    outer_kids[1].id = "inner";
    outer_kids[1].sup = &inner;
    outer_kids[1].kind = TR_CHILD_SUPERVISOR;
    outer_kids[1].restart = TR_CHILD_PERMANENT;
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, outer_kids, 2, 0);
    tr_ref *in = tu_sup_child(sup, "inner");
    assert_non_null(in);
    tell_child(in, "k0", CRASH);
    assert_true(wait_dead(in));
    assert_true(wait_dead(sup));
    assert_true(tu_wait_ge(&ends[1], 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&starts[0]), 1); /* nobody restarted anything */
    assert_int_equal(tu_load(&starts[1]), 1);
    tr_ref_release(in);
    tr_ref_release(sup);
}

/* --- the order of stops and starts -------------------------------------------- */

/* OTP one_for_all: the others are terminated in reverse start order, then
 * all are started again in start order. */
static void one_for_all_stops_newest_first_and_restarts_in_start_order(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ALL, 4, TR_CHILD_PERMANENT);
    tell_child(sup, "k1", CRASH);
    assert_true(tu_wait_ge(&start_n, 8, TU_WAIT_MS));
    assert_true(wait_counts(sup, 4, 4));
    uint64_t want_ends[4] = {1, 3, 2, 0};
    assert_int_equal(tu_load(&end_n), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tu_load(&end_log[i]), want_ends[i]);
    for (int i = 0; i < 8; i++)
        assert_int_equal(tu_load(&start_log[i]), (uint64_t)(i % 4));
    stop_sup(sup);
}

/* OTP rest_for_one: the children after the one that ended are terminated
 * newest first; it and they are started again in start order. */
static void rest_for_one_stops_the_later_ones_newest_first_and_restarts_in_order(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_REST_FOR_ONE, 4, TR_CHILD_PERMANENT);
    tell_child(sup, "k1", CRASH);
    assert_true(tu_wait_ge(&start_n, 7, TU_WAIT_MS));
    assert_true(wait_counts(sup, 4, 4));
    assert_int_equal(tu_load(&end_n), 3);
    assert_int_equal(tu_load(&end_log[0]), 1);
    assert_int_equal(tu_load(&end_log[1]), 3);
    assert_int_equal(tu_load(&end_log[2]), 2);
    assert_int_equal(tu_load(&start_log[4]), 1);
    assert_int_equal(tu_load(&start_log[5]), 2);
    assert_int_equal(tu_load(&start_log[6]), 3);
    assert_int_equal(tu_load(&starts[0]), 1);
    stop_sup(sup);
}

/* OTP: a temporary sibling caught in a group restart is terminated and
 * not started again (its spec goes). */
static void one_for_all_group_restart_drops_a_temporary_sibling(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_TEMPORARY),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ALL, specs, 3, 10);
    tell_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[2], 2, TU_WAIT_MS));
    assert_true(wait_counts(sup, 2, 2));
    assert_int_equal(tu_load(&starts[0]), 2);
    assert_int_equal(tu_load(&starts[1]), 1);
    assert_int_equal(tu_load(&ends[1]), 1);
    tr_child_spec got;
    assert_int_equal(tr_sup_get_childspec(sup, "k1", &got), TR_ENOTFOUND);
    stop_sup(sup);
}

/* OTP: a transient child that exits normally is not restarted, and under
 * one_for_all its siblings are left alone. */
static void a_transient_normal_exit_leaves_the_siblings_alone_under_one_for_all(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ALL, 3, TR_CHILD_TRANSIENT);
    tell_child(sup, "k1", QUIT);
    assert_true(wait_counts(sup, 3, 2));
    tu_sleep_ms(30);
    sync_sup(sup);
    assert_int_equal(tu_load(&end_n), 1);
    assert_int_equal(tu_load(&start_n), 3);
    stop_sup(sup);
}

/* OTP: a child added with start_child is the newest: stopped first. */
static void a_child_added_at_run_time_is_stopped_first(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    tr_child_spec s3 = kid_spec(3, TR_CHILD_PERMANENT);
    tr_ref *c = NULL;
    assert_int_equal(tr_sup_start_child(sup, &s3, &c), 0);
    assert_non_null(c);
    tr_ref_release(c);
    stop_sup(sup);
    assert_int_equal(tu_load(&end_n), 3);
    assert_int_equal(tu_load(&end_log[0]), 3);
    assert_int_equal(tu_load(&end_log[1]), 1);
    assert_int_equal(tu_load(&end_log[2]), 0);
}

/* --- calls by id ------------------------------------------------------------- */

/* OTP: terminate_child keeps the spec of a permanent child, which stays
 * down until restart_child, which starts a new incarnation; the old handle
 * is dead. terminate_child of a child that is not running is ok. */
static void a_terminated_child_stays_down_until_restart_child(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    tr_ref *old = tu_sup_child(sup, "k0");
    assert_non_null(old);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    assert_false(tr_ref_is_alive(old));
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    tu_sleep_ms(30);
    assert_true(wait_counts(sup, 2, 1));
    assert_int_equal(tu_load(&starts[0]), 1);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), TR_EALREADY);
    assert_int_equal(tr_sup_delete_child(sup, "k0"), TR_EBUSY);
    tr_ref *now = tu_sup_child(sup, "k0");
    assert_non_null(now);
    assert_ptr_not_equal(now, old);
    assert_int_equal(tr_send_word(old, 7, 0), TR_EDEAD);
    assert_int_equal(tu_load(&starts[0]), 2);
    tr_ref_release(old);
    tr_ref_release(now);
    stop_sup(sup);
}

/* OTP: terminate_child of a temporary child deletes its spec. */
static void terminating_a_temporary_child_removes_its_spec(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_TEMPORARY)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, specs, 2, 10);
    assert_int_equal(tr_sup_terminate_child(sup, "k1"), 0);
    assert_true(wait_counts(sup, 1, 1));
    assert_int_equal(tr_sup_restart_child(sup, "k1"), TR_ENOTFOUND);
    assert_int_equal(tr_sup_terminate_child(sup, "k1"), TR_ENOTFOUND);
    stop_sup(sup);
}

/* OTP: delete_child removes the spec of a terminated child; the id is then
 * free for start_child. */
static void a_deleted_childs_id_can_be_started_again(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    assert_int_equal(tr_sup_terminate_child(sup, "k1"), 0);
    assert_int_equal(tr_sup_delete_child(sup, "k1"), 0);
    assert_int_equal(tr_sup_delete_child(sup, "k1"), TR_ENOTFOUND);
    assert_true(wait_counts(sup, 1, 1));
    tr_child_spec s = kid_spec(1, TR_CHILD_PERMANENT);
    assert_int_equal(tr_sup_start_child(sup, &s, NULL), 0);
    assert_true(wait_counts(sup, 2, 2));
    assert_int_equal(tu_load(&starts[1]), 2);
    stop_sup(sup);
}

/* OTP: start_child whose child fails in init returns the error and keeps
 * no spec; a later start_child with the same id works. */
static void start_child_whose_init_fails_returns_the_error_and_keeps_nothing(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 1, TR_CHILD_PERMANENT);
    tu_store(&fail_init[2], 1);
    tr_child_spec s = kid_spec(2, TR_CHILD_PERMANENT);
    tr_ref *c = (tr_ref *)&c;
    assert_int_equal(tr_sup_start_child(sup, &s, &c), TR_EIO);
    assert_null(c);
    assert_true(wait_counts(sup, 1, 1));
    tr_child_spec got;
    assert_int_equal(tr_sup_get_childspec(sup, "k2", &got), TR_ENOTFOUND);
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.restarts, 0);
    tu_store(&fail_init[2], 0);
    assert_int_equal(tr_sup_start_child(sup, &s, NULL), 0);
    assert_true(wait_counts(sup, 2, 2));
    stop_sup(sup);
}

/* OTP count_children: specs, active, supervisors, workers; get_childspec
 * gives the spec back. */
static void count_children_tells_workers_from_supervisors(void **state) {
    (void)state;
    tr_child_spec inner_kids[2] = {kid_spec(2, TR_CHILD_PERMANENT),
                                   kid_spec(3, TR_CHILD_PERMANENT)};
    tr_sup_config inner;
    tr_sup_config_init(&inner);
    inner.children = inner_kids;
    inner.nchildren = 2;
    tr_child_spec kids[3] = {kid_spec(0, TR_CHILD_PERMANENT), {0}, kid_spec(1, TR_CHILD_TRANSIENT)};
    kids[1].id = "inner";
    kids[1].sup = &inner;
    kids[1].kind = TR_CHILD_SUPERVISOR;
    kids[1].restart = TR_CHILD_PERMANENT;
    kids[1].shutdown_ms = TR_SHUTDOWN_INFINITY;
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, kids, 3, 10);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 3);
    assert_int_equal(k.active, 3);
    assert_int_equal(k.supervisors, 1);
    assert_int_equal(k.workers, 2);
    tr_child_spec got;
    assert_int_equal(tr_sup_get_childspec(sup, "k1", &got), 0);
    assert_string_equal(got.id, "k1");
    assert_int_equal(got.restart, TR_CHILD_TRANSIENT);
    assert_int_equal(got.shutdown_ms, 2000);
    assert_ptr_equal(got.behavior, &kid_beh);
    assert_int_equal(tr_sup_get_childspec(sup, "inner", &got), 0);
    assert_int_equal(got.kind, TR_CHILD_SUPERVISOR);
    assert_int_equal(tr_sup_terminate_child(sup, "inner"), 0);
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 3);
    assert_int_equal(k.active, 2);
    assert_int_equal(k.supervisors, 1); /* OTP counts specs of each kind */
    assert_int_equal(k.workers, 2);
    assert_int_equal(tu_load(&ends[2]), 1);
    assert_int_equal(tu_load(&ends[3]), 1);
    stop_sup(sup);
}

/* --- dynamic (simple_one_for_one) ------------------------------------------- */

static tr_ref *start_dynamic(tr_child_restart restart) {
    tr_child_spec tmpl = kid_spec(0, restart);
    tmpl.id = NULL;
    return start_sup_with(TR_SUP_DYNAMIC, &tmpl, 1, 10);
}

static tr_ref *add_dynamic(tr_ref *sup, unsigned n) {
    tr_ref *c = NULL;
    assert_int_equal(tr_sup_start_dynamic(sup, (void *)(uintptr_t)n, &c), 0);
    assert_non_null(c);
    return c;
}

/* OTP simple_one_for_one: a transient child's normal exit removes it, its
 * crash restarts it; a temporary child's crash removes it. */
static void a_dynamic_transient_child_is_removed_on_normal_exit_restarted_on_crash(void **state) {
    (void)state;
    tr_ref *sup = start_dynamic(TR_CHILD_TRANSIENT);
    tr_ref *a = add_dynamic(sup, 1), *b = add_dynamic(sup, 2);
    assert_int_equal(tr_send_word(a, QUIT, 0), 0);
    assert_int_equal(tr_send_word(b, CRASH, 0), 0);
    assert_true(tu_wait_ge(&starts[2], 2, TU_WAIT_MS));
    assert_true(wait_counts(sup, 1, 1));
    tu_sleep_ms(20);
    sync_sup(sup);
    assert_int_equal(tu_load(&starts[1]), 1);
    tr_child_info info[4];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, info, 4, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(info[0].restarts, 1);
    tr_sup_children_release(info, n);
    tr_ref_release(a);
    tr_ref_release(b);
    stop_sup(sup);
}

static void a_dynamic_temporary_child_that_crashes_is_removed(void **state) {
    (void)state;
    tr_child_info info[4];
    size_t n = 0;
    tr_ref *sup = start_dynamic(TR_CHILD_TEMPORARY);
    tr_ref *a = add_dynamic(sup, 3);
    assert_int_equal(tr_send_word(a, CRASH, 0), 0);
    assert_true(wait_counts(sup, 1, 0));
    tu_sleep_ms(20);
    sync_sup(sup);
    assert_int_equal(tu_load(&starts[3]), 1);
    assert_int_equal(tr_sup_which_children(sup, info, 4, &n), 0);
    assert_int_equal(n, 0);
    tr_ref_release(a);
    stop_sup(sup);
}

/* --- gen_server calls ---------------------------------------------------------- */

/* gen_server:call to a process that is going away fails (here at once or
 * through the future, never a hang or a reply). */
static void a_call_to_an_actor_asked_to_stop_fails_with_edead(void **state) {
    (void)state;
    tr_runtime_free(rt);
    rt = tu_runtime_new(1);
    assert_non_null(rt);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_spawn_opts o = {.state_size = sizeof(kid), .arg = (void *)(uintptr_t)0};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &kid_beh, &o, &ref), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    tr_future *f = NULL;
    int rc = tr_ask_word(ref, 5, 0, &f);
    tu_gate_open(&g);
    if (rc == 0) {
        tr_msg *reply = NULL;
        rc = tr_future_wait(f, TU_WAIT_MS, &reply);
        tr_future_release(f);
        assert_null(reply);
    }
    assert_int_equal(rc, TR_EDEAD);
    tr_ref_release(ref);
}

/* OTP: the intensity counts the supervisor's restarts, whichever children
 * they were for: three children crashing once each exceed MaxR = 2. */
static void the_intensity_counts_restarts_of_all_children_together(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, specs, 3, 2);
    tell_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&starts[0], 2, TU_WAIT_MS));
    tell_child(sup, "k1", CRASH);
    assert_true(tu_wait_ge(&starts[1], 2, TU_WAIT_MS));
    assert_true(tr_ref_is_alive(sup));
    tell_child(sup, "k2", CRASH);
    assert_true(wait_dead(sup));
    assert_int_equal(tu_load(&starts[2]), 1);
    tr_ref_release(sup);
}

/* OTP: a one_for_all (or rest_for_one) group restart is one restart, not
 * one per child: with MaxR = 1 the first group restart is allowed, the
 * second gives up. */
static void a_group_restart_counts_once_against_the_intensity(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ALL, specs, 3, 1);
    tell_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&start_n, 6, TU_WAIT_MS));
    assert_true(wait_counts(sup, 3, 3));
    assert_true(tr_ref_is_alive(sup));
    tr_sup_stats st;
    assert_int_equal(tr_sup_stats_get(sup, &st), 0);
    assert_int_equal(st.restarts, 3); /* children restarted, each counted once */
    tell_child(sup, "k2", CRASH);
    assert_true(wait_dead(sup));
    assert_int_equal(tu_load(&start_n), 6);
    tr_ref_release(sup);
}

static void a_rest_for_one_restart_counts_once_against_the_intensity(void **state) {
    (void)state;
    tr_child_spec specs[3] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT),
                              kid_spec(2, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_REST_FOR_ONE, specs, 3, 1);
    tell_child(sup, "k0", CRASH);
    assert_true(tu_wait_ge(&start_n, 6, TU_WAIT_MS));
    assert_true(wait_counts(sup, 3, 3));
    assert_true(tr_ref_is_alive(sup));
    tr_ref_release(sup);
}

/* terminate_child(Sup, Pid) of a static child: stopped, not restarted, its
 * spec kept (restart_child brings it back). */
static void terminating_a_static_child_by_handle_keeps_its_spec(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    tr_ref *c = tu_sup_child(sup, "k1");
    assert_non_null(c);
    assert_int_equal(tr_sup_terminate_ref(sup, c), 0);
    assert_false(tr_ref_is_alive(c));
    assert_int_equal(tr_sup_terminate_ref(sup, c), 0); /* ended: counts as terminated */
    tu_sleep_ms(30);
    assert_true(wait_counts(sup, 2, 1));
    assert_int_equal(tu_load(&starts[1]), 1);
    assert_int_equal(tr_sup_restart_child(sup, "k1"), 0);
    assert_true(wait_counts(sup, 2, 2));
    tr_ref_release(c);
    stop_sup(sup);
}

/* OTP hanging_restart_loop: a child that cannot be started again is
 * retried, each try counting, until the intensity is reached; then the
 * supervisor gives up and ends. */
static void a_child_that_cannot_restart_makes_the_supervisor_give_up(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(0, TR_CHILD_PERMANENT), kid_spec(1, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, specs, 2, 3);
    tu_store(&fail_init[0], 1);
    tell_child(sup, "k0", CRASH);
    assert_true(wait_dead(sup));
    assert_true(tu_wait_ge(&ends[1], 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&starts[0]), 1);
    tr_ref_release(sup);
}

static uint64_t ignore_next;

static int maybe_ignore(tr_runtime *r, void *arg, tr_ref **out) {
    if (tu_load(&ignore_next)) {
        *out = NULL;
        return TR_SUP_IGNORE;
    }
    tr_spawn_opts o = {.state_size = sizeof(kid), .arg = arg};
    return tr_spawn(r, &kid_beh, &o, out);
}

/* OTP: a child whose start answered ignore keeps its spec and is not
 * running; restart_child starts it again (answering ok either way). */
static void an_ignored_child_can_be_restarted_by_id(void **state) {
    (void)state;
    tu_store(&ignore_next, 1);
    tr_child_spec s = kid_spec(0, TR_CHILD_PERMANENT);
    s.behavior = NULL;
    s.start = maybe_ignore;
    s.arg = (void *)(uintptr_t)0;
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, &s, 1, 10);
    assert_true(wait_counts(sup, 1, 0));
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_true(wait_counts(sup, 1, 0));
    tu_store(&ignore_next, 0);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_true(wait_counts(sup, 1, 1));
    assert_int_equal(tu_load(&starts[0]), 1);
    stop_sup(sup);
}

/* OTP count_restarting_children: a dynamic child waiting for its restart
 * is still counted among the workers, not among the active. */
static void a_restarting_dynamic_child_is_counted_but_not_active(void **state) {
    (void)state;
    tr_child_spec tmpl = kid_spec(0, TR_CHILD_PERMANENT);
    tmpl.id = NULL;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    cfg.intensity = 10;
    cfg.backoff_min_ms = 150;
    cfg.children = &tmpl;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *c = add_dynamic(sup, 1);
    assert_int_equal(tr_send_word(c, CRASH, 0), 0);
    /* Once the supervisor has seen the crash (active 0), and while the
     * backoff lasts, the child is counted. */
    tr_sup_counts k = {0};
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (tu_load(&starts[1]) == 1 && tu_now_ms() < deadline) {
        assert_int_equal(tr_sup_count_children(sup, &k), 0);
        if (k.active == 0)
            break;
        tu_sleep_ms(1);
    }
    if (tu_load(&starts[1]) == 1) { /* still within the backoff */
        assert_int_equal(k.active, 0);
        assert_int_equal(k.specs, 1);
        assert_int_equal(k.workers, 1);
    }
    assert_true(tu_wait_ge(&starts[1], 2, TU_WAIT_MS));
    assert_true(wait_counts(sup, 1, 1));
    tr_ref_release(c);
    stop_sup(sup);
}

/* Ending a supervisor: tr_actor_stop stops the children (they end with
 * shutdown); tr_actor_exit (a crash of the supervisor) cannot wait and
 * kills them. Either way none outlives it. */
static void a_stopped_supervisor_shuts_its_children_down(void **state) {
    (void)state;
    tr_ref *sup = start_sup(TR_SUP_ONE_FOR_ONE, 2, TR_CHILD_PERMANENT);
    tr_ref *c = tu_sup_child(sup, "k1");
    assert_int_equal(tr_actor_stop(sup), 0);
    assert_true(wait_dead(sup));
    assert_false(tr_ref_is_alive(c));
    assert_int_equal(tu_load(&end_kind[0]), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&end_kind[1]), TR_EXIT_SHUTDOWN);
    tr_ref_release(c);
    tr_ref_release(sup);
}

static void a_crashed_supervisor_kills_its_children(void **state) {
    (void)state;
    tr_child_spec specs[2] = {kid_spec(2, TR_CHILD_PERMANENT), kid_spec(3, TR_CHILD_PERMANENT)};
    tr_ref *sup = start_sup_with(TR_SUP_ONE_FOR_ONE, specs, 2, 10);
    assert_int_equal(tr_actor_exit(sup, TR_EIO, "sup crash"), 0);
    assert_true(wait_dead(sup));
    assert_true(tu_wait_ge(&ends[2], 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&ends[3], 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&end_kind[2]), TR_EXIT_KILLED);
    assert_int_equal(tu_load(&end_kind[3]), TR_EXIT_KILLED);
    assert_int_equal(tu_load(&starts[2]), 1);
    tr_ref_release(sup);
}

/* OTP hanging_restart_loop_simple: a dynamic child that cannot be started
 * again makes the supervisor give up at its intensity. */
static void a_dynamic_child_that_cannot_restart_makes_the_supervisor_give_up(void **state) {
    (void)state;
    tr_ref *sup = start_dynamic(TR_CHILD_PERMANENT);
    tr_ref *other = add_dynamic(sup, 5);
    tr_ref *c = add_dynamic(sup, 4);
    tu_store(&fail_init[4], 1);
    assert_int_equal(tr_send_word(c, CRASH, 0), 0);
    assert_true(wait_dead(sup));
    assert_true(wait_dead(other));
    assert_int_equal(tu_load(&starts[4]), 1);
    tr_ref_release(c);
    tr_ref_release(other);
    tr_ref_release(sup);
}

static int start_failures_are(void *arg) {
    tr_sup_stats st;
    return tr_sup_stats_get(arg, &st) == 0 && st.start_failures >= 1;
}

/* OTP hanging_restart_loop: terminate_child while the child is being
 * retried stops the retries; the supervisor lives on, and restart_child
 * works once the child can start. */
static void terminate_child_ends_a_restart_loop(void **state) {
    (void)state;
    tr_child_spec specs[1] = {kid_spec(0, TR_CHILD_PERMANENT)};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.intensity = 100;
    cfg.backoff_min_ms = 50;
    cfg.backoff_max_ms = 50;
    cfg.children = specs;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tu_store(&fail_init[0], 1);
    tell_child(sup, "k0", CRASH);
    assert_true(tu_wait_until(start_failures_are, sup, TU_WAIT_MS));
    assert_int_equal(tr_sup_restart_child(sup, "k0"), TR_ERESTARTING);
    assert_int_equal(tr_sup_terminate_child(sup, "k0"), 0);
    tr_sup_stats before, after;
    assert_int_equal(tr_sup_stats_get(sup, &before), 0);
    tu_sleep_ms(160); /* three backoffs: a retry now would be counted */
    assert_int_equal(tr_sup_stats_get(sup, &after), 0);
    assert_int_equal(after.start_failures, before.start_failures);
    assert_true(tr_ref_is_alive(sup));
    tu_store(&fail_init[0], 0);
    assert_int_equal(tr_sup_restart_child(sup, "k0"), 0);
    assert_true(wait_counts(sup, 1, 1));
    assert_int_equal(tu_load(&starts[0]), 2);
    stop_sup(sup);
}

/* OTP auto_shutdown with simple_one_for_one: significant dynamic children;
 * under all_significant the supervisor ends when the last of them ended
 * by itself, not before. */
static void all_significant_dynamic_children_ending_end_the_supervisor(void **state) {
    (void)state;
    tr_child_spec tmpl = kid_spec(0, TR_CHILD_TRANSIENT);
    tmpl.id = NULL;
    tmpl.significant = 1;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    cfg.intensity = 10;
    cfg.children = &tmpl;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), TR_EINVAL); /* auto_shutdown never */
    cfg.auto_shutdown = TR_SUP_AUTO_ALL_SIGNIFICANT;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *a = add_dynamic(sup, 1), *b = add_dynamic(sup, 2);
    assert_int_equal(tr_send_word(a, QUIT, 0), 0);
    assert_true(wait_counts(sup, 1, 1));
    assert_true(tr_ref_is_alive(sup));
    assert_int_equal(tr_send_word(b, CRASH, 0), 0); /* restarted: not an end */
    assert_true(tu_wait_ge(&starts[2], 2, TU_WAIT_MS));
    assert_true(tr_ref_is_alive(sup));
    tr_ref *b2 = NULL;
    tr_child_info info[2];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, info, 2, &n), 0);
    assert_int_equal(n, 1);
    b2 = info[0].ref;
    info[0].ref = NULL;
    tr_sup_children_release(info, n);
    assert_non_null(b2);
    assert_int_equal(tr_send_word(b2, QUIT, 0), 0);
    assert_true(wait_dead(sup));
    tr_ref_release(b2);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_ref_release(sup);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            transient_child_shut_down_is_not_restarted_but_a_killed_one_is, setup, teardown),
        cmocka_unit_test_setup_teardown(temporary_crashes_do_not_count_against_the_intensity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(intensity_zero_gives_up_on_the_first_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(escalation_climbs_until_a_supervisor_can_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_for_all_stops_newest_first_and_restarts_in_start_order,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            rest_for_one_stops_the_later_ones_newest_first_and_restarts_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(one_for_all_group_restart_drops_a_temporary_sibling, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_transient_normal_exit_leaves_the_siblings_alone_under_one_for_all, setup, teardown),
        cmocka_unit_test_setup_teardown(a_child_added_at_run_time_is_stopped_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_terminated_child_stays_down_until_restart_child, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(terminating_a_temporary_child_removes_its_spec, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_deleted_childs_id_can_be_started_again, setup, teardown),
        cmocka_unit_test_setup_teardown(
            start_child_whose_init_fails_returns_the_error_and_keeps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(count_children_tells_workers_from_supervisors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_dynamic_transient_child_is_removed_on_normal_exit_restarted_on_crash, setup,
            teardown),
        cmocka_unit_test_setup_teardown(a_dynamic_temporary_child_that_crashes_is_removed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_call_to_an_actor_asked_to_stop_fails_with_edead, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_intensity_counts_restarts_of_all_children_together,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_group_restart_counts_once_against_the_intensity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_rest_for_one_restart_counts_once_against_the_intensity,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(terminating_a_static_child_by_handle_keeps_its_spec, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_child_that_cannot_restart_makes_the_supervisor_give_up,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(an_ignored_child_can_be_restarted_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(a_restarting_dynamic_child_is_counted_but_not_active, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_stopped_supervisor_shuts_its_children_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_crashed_supervisor_kills_its_children, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_dynamic_child_that_cannot_restart_makes_the_supervisor_give_up, setup, teardown),
        cmocka_unit_test_setup_teardown(terminate_child_ends_a_restart_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(all_significant_dynamic_children_ending_end_the_supervisor,
                                        setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("workers", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("pinned kids", tests, pinned, NULL);
    return failed;
}
