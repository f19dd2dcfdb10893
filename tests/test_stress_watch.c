/* tests/test_stress_watch.c - demonitor racing the end of the watched actor.
 *
 * WATCHERS actors each monitor a fresh target, then each is told to
 * demonitor it while the test stops the target halfway through sending
 * those commands, so demonitors race the target's end on the other worker.
 * For every watcher and round exactly one of the two must happen: its
 * demonitor succeeds (and no DOWN comes) or it gets the DOWN (and its
 * demonitor says TR_ENOTFOUND). ROUNDS rounds, checked exactly. The same
 * for links: trapping watchers unlink while the target crashes, and get
 * either a successful unlink or a TR_MSG_EXIT, never both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define WATCHERS 8
#define ROUNDS 1000

enum { W_MONITOR = 1, W_DEMONITOR, W_PING, W_LINK, W_UNLINK };

typedef struct watcher {
    uint64_t idx;
    uint64_t mon_id;     /* owner only: this round's monitor */
    uint64_t demon_ok;   /* demonitors that returned 0 */
    uint64_t demon_miss; /* demonitors that returned TR_ENOTFOUND */
    uint64_t downs;      /* DOWNs for this round's monitor */
    uint64_t unlink_ok;  /* unlinks that returned 0 */
    uint64_t unlink_miss;
    uint64_t exits; /* TR_MSG_EXIT received */
    uint64_t stray; /* anything unexpected */
} watcher;

static watcher ws[WATCHERS];
static uint64_t monitored, demonitored, pinged, target_ends;

static int watch_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    watcher *w = state;
    int rc;
    switch (msg->type) {
    case W_MONITOR:
        if (tr_monitor(ctx, msg->ptr, &w->mon_id) != 0)
            tu_add(&w->stray, 1);
        tu_add(&monitored, 1);
        return 0;
    case W_DEMONITOR:
        rc = tr_demonitor(ctx, msg->ptr, w->mon_id);
        if (rc == 0)
            tu_add(&w->demon_ok, 1);
        else if (rc == TR_ENOTFOUND)
            tu_add(&w->demon_miss, 1);
        else
            tu_add(&w->stray, 1);
        tu_add(&demonitored, 1);
        return 0;
    case W_LINK:
        tr_trap_exit(ctx, 1);
        if (tr_link(ctx, msg->ptr) != 0)
            tu_add(&w->stray, 1);
        tu_add(&monitored, 1);
        return 0;
    case W_UNLINK:
        rc = tr_unlink(ctx, msg->ptr);
        if (rc == 0)
            tu_add(&w->unlink_ok, 1);
        else if (rc == TR_ENOTFOUND)
            tu_add(&w->unlink_miss, 1);
        else
            tu_add(&w->stray, 1);
        tu_add(&demonitored, 1);
        return 0;
    case TR_MSG_EXIT:
        tu_add(&w->exits, 1);
        return 0;
    case W_PING:
        tu_add(&pinged, 1);
        return 0;
    case TR_MSG_DOWN:
        if (msg->corr == w->mon_id)
            tu_add(&w->downs, 1);
        else
            tu_add(&w->stray, 1);
        return 0;
    default:
        tu_add(&w->stray, 1);
        return 0;
    }
}

static int target_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static void target_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&target_ends, 1);
}

static void reset_all(void) {
    uint64_t *all[] = {&monitored, &demonitored, &pinged, &target_ends};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    for (int i = 0; i < WATCHERS; i++) {
        uint64_t *f[] = {&ws[i].demon_ok,  &ws[i].demon_miss,  &ws[i].downs, &ws[i].stray,
                         &ws[i].unlink_ok, &ws[i].unlink_miss, &ws[i].exits};
        for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++)
            tu_store(f[k], 0);
    }
}

/* Each round: a fresh target, every watcher sets up (W_MONITOR or W_LINK),
 * then undoes it (W_DEMONITOR or W_UNLINK) while the target ends. */
static void run_rounds(uint32_t set, uint32_t undo, int crash) {
    static const tr_behavior wbeh = {NULL, watch_receive, NULL};
    static const tr_behavior tbeh = {NULL, target_receive, target_terminate};
    reset_all();
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *refs[WATCHERS];
    for (int i = 0; i < WATCHERS; i++) {
        ws[i].idx = (uint64_t)i;
        tr_spawn_opts o = {.arg = &ws[i]};
        assert_int_equal(tr_spawn(rt, &wbeh, &o, &refs[i]), 0);
    }
    for (uint64_t r = 0; r < ROUNDS; r++) {
        tr_ref *t;
        assert_int_equal(tr_spawn(rt, &tbeh, NULL, &t), 0);
        for (int i = 0; i < WATCHERS; i++)
            assert_int_equal(tr_send_ptr(refs[i], set, t, NULL), 0);
        assert_true(tu_wait_ge(&monitored, (r + 1) * WATCHERS, TU_WAIT_MS));
        for (int i = 0; i < WATCHERS; i++) {
            if (i == WATCHERS / 2)
                assert_int_equal(crash ? tr_actor_exit(t, TR_EIO, "x") : tr_actor_stop(t), 0);
            assert_int_equal(tr_send_ptr(refs[i], undo, t, NULL), 0);
        }
        assert_true(tu_wait_ge(&demonitored, (r + 1) * WATCHERS, TU_WAIT_MS));
        assert_true(tu_wait_ge(&target_ends, r + 1, TU_WAIT_MS));
        assert_true(tu_wait_alive(rt, WATCHERS, TU_WAIT_MS)); /* its notices are out */
        for (int i = 0; i < WATCHERS; i++)                    /* ...and queued before these pings */
            assert_int_equal(tr_send_word(refs[i], W_PING, 0), 0);
        assert_true(tu_wait_ge(&pinged, (r + 1) * WATCHERS, TU_WAIT_MS));
        tr_ref_release(t);
    }
    for (int i = 0; i < WATCHERS; i++)
        tr_ref_release(refs[i]);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void unlink_racing_a_crash_yields_exactly_one_outcome(void **state) {
    (void)state;
    run_rounds(W_LINK, W_UNLINK, 1);
    uint64_t ok = 0, miss = 0;
    for (int i = 0; i < WATCHERS; i++) {
        assert_int_equal(tu_load(&ws[i].stray), 0);
        assert_int_equal(tu_load(&ws[i].unlink_ok) + tu_load(&ws[i].exits), ROUNDS);
        assert_int_equal(tu_load(&ws[i].unlink_miss), tu_load(&ws[i].exits));
        ok += tu_load(&ws[i].unlink_ok);
        miss += tu_load(&ws[i].unlink_miss);
    }
    print_message("%d links: %llu unlinked in time, %llu got EXIT\n", WATCHERS * ROUNDS,
                  (unsigned long long)ok, (unsigned long long)miss);
}

static void demonitor_racing_the_end_yields_exactly_one_outcome(void **state) {
    (void)state;
    run_rounds(W_MONITOR, W_DEMONITOR, 0);
    uint64_t ok = 0, miss = 0;
    for (int i = 0; i < WATCHERS; i++) {
        assert_int_equal(tu_load(&ws[i].stray), 0);
        assert_int_equal(tu_load(&ws[i].demon_ok) + tu_load(&ws[i].downs), ROUNDS);
        assert_int_equal(tu_load(&ws[i].demon_miss), tu_load(&ws[i].downs));
        ok += tu_load(&ws[i].demon_ok);
        miss += tu_load(&ws[i].demon_miss);
    }
    print_message("%d monitors: %llu demonitored in time, %llu got DOWN\n", WATCHERS * ROUNDS,
                  (unsigned long long)ok, (unsigned long long)miss);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(demonitor_racing_the_end_yields_exactly_one_outcome),
        cmocka_unit_test(unlink_racing_a_crash_yields_exactly_one_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
