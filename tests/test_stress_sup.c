/* tests/test_stress_sup.c - actors managing one dynamic supervisor under load.
 *
 * MANAGERS actors each start CYCLES children through
 * tr_sup_start_dynamic_async, WINDOW at a time, and terminate each one with
 * tr_sup_terminate_ref_async as soon as its handle arrives; every third
 * child is told to stop by itself just before, so the terminate races its
 * end (both must answer 0). Counts checked exactly at the end: every start
 * and every terminate answered 0 once, every child started and ended once,
 * the supervisor has no child left, no call failed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define MANAGERS 4
#define CYCLES (5000 / TU_SANITIZER_SLOWDOWN)
#define WINDOW 8

enum { GO = 1, QUIT = 2 };
enum { TAG_START = 1, TAG_TERM = 2 };

static uint64_t kid_starts, kid_ends;
static uint64_t starts_ok, terms_ok, failures, managers_done;

static int kid_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&kid_starts, 1);
    return 0;
}

static int kid_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    return msg->type == QUIT ? tr_stop(ctx) : 0;
}

static void kid_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&kid_ends, 1);
}

static const tr_behavior kid_beh = {kid_init, kid_receive, kid_terminate};

typedef struct manager {
    tr_ref *sup; /* the test holds it */
    uint32_t issued, done;
} manager;

static void start_one(tr_ctx *ctx, manager *m) {
    if (m->issued >= CYCLES)
        return;
    m->issued++;
    if (tr_sup_start_dynamic_async(ctx, m->sup, NULL, TAG_START) != 0)
        tu_add(&failures, 1);
}

static int manager_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ((manager *)state)->sup = arg;
    return 0;
}

static int manager_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    manager *m = state;
    if (msg->type == GO) {
        for (int i = 0; i < WINDOW; i++)
            start_one(ctx, m);
        return 0;
    }
    if (msg->type == TR_MSG_ASK_FAILED) {
        tu_add(&failures, 1);
        return 0;
    }
    if (msg->type != TR_MSG_RESULT)
        return 0;
    if (msg->corr == TAG_START) {
        tr_ref *kid = NULL;
        if (tr_sup_result_ref(msg, &kid) != 0 || kid == NULL) {
            tu_add(&failures, 1);
            return 0;
        }
        tu_add(&starts_ok, 1);
        if (tu_load(&starts_ok) % 3 == 0)
            tr_send_word(kid, QUIT, 0); /* races the terminate below */
        if (tr_sup_terminate_ref_async(ctx, m->sup, kid, TAG_TERM) != 0)
            tu_add(&failures, 1);
        tr_ref_release(kid); /* the request holds its own reference */
        return 0;
    }
    if (tr_result_code(msg) == 0)
        tu_add(&terms_ok, 1);
    else
        tu_add(&failures, 1);
    if (++m->done == CYCLES)
        tu_add(&managers_done, 1);
    start_one(ctx, m);
    return 0;
}

static const tr_behavior manager_beh = {manager_init, manager_receive, NULL};

static void many_actors_start_and_terminate_dynamic_children(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_child_spec tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    tmpl.behavior = &kid_beh;
    tmpl.restart = TR_CHILD_TEMPORARY;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    cfg.children = &tmpl;
    cfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *mgr[MANAGERS];
    for (int i = 0; i < MANAGERS; i++) {
        tr_spawn_opts o = {.state_size = sizeof(manager), .arg = sup};
        assert_int_equal(tr_spawn(rt, &manager_beh, &o, &mgr[i]), 0);
    }
    for (int i = 0; i < MANAGERS; i++)
        assert_int_equal(tr_send_word(mgr[i], GO, 0), 0);
    assert_true(tu_wait_ge(&managers_done, MANAGERS, TU_WAIT_MS));
    const uint64_t total = (uint64_t)MANAGERS * CYCLES;
    assert_int_equal(tu_load(&failures), 0);
    assert_int_equal(tu_load(&starts_ok), total);
    assert_int_equal(tu_load(&terms_ok), total);
    assert_int_equal(tu_load(&kid_starts), total);
    assert_int_equal(tu_load(&kid_ends), total); /* each answered after its end */
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(sup, &k), 0);
    assert_int_equal(k.specs, 1);
    assert_int_equal(k.active, 0);
    assert_int_equal(k.workers, 0);
    for (int i = 0; i < MANAGERS; i++)
        tr_ref_release(mgr[i]);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_actors_start_and_terminate_dynamic_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
