/* tests/test_stress_close.c - runtime close racing actors that spawn and stop.
 *
 * SPAWNERS actors loop on a self-sent tick: spawn a child, send it a message,
 * stop it, drop the handle. Control blocks are recycled on the workers
 * while the test thread closes the runtime, so close's sweep over the block
 * pool races spawns into recycled blocks, stops, and the children's own
 * exits. ROUNDS runtimes, each closed after at least MIN_SPAWNS children.
 * Checked exactly per round: every child whose init ran had terminate run
 * once, every spawner too, nothing is left alive, and every child message
 * was handled, dead-lettered or refused (TR_EDEAD: the close got to the child
 * first, the spawner frees it) with its destructor run once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define SPAWNERS 8
#define MIN_SPAWNS 2000 /* children spawned before the close, per round */
#if defined(TROUPE_TSAN)
#define ROUNDS 5 /* TSan: 5 runtimes instead of 20 */
#else
#define ROUNDS 20
#endif

enum { TICK = 1, WORK = 2 };

static uint64_t children, child_inits, child_ends, spawner_ends, child_msgs, handled, dead, refused,
    frees, odd;

static void count_free(void *p) {
    (void)p;
    tu_add(&frees, 1);
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == WORK)
        tu_add(&dead, 1);
}

static int child_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == WORK)
        tu_add(&handled, 1);
    return 0;
}

static void child_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&child_ends, 1);
}

static int child_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&child_inits, 1);
    return 0;
}

/* A spawn that sees the close only after init ran fails with TR_ECLOSED, but
 * its terminate still runs (every actor whose init succeeded ends once). */
static const tr_behavior child_beh = {child_init, child_receive, child_terminate};

static int spawner_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_ref *c;
    int rc = tr_spawn(tr_ctx_runtime(ctx), &child_beh, NULL, &c);
    if (rc == 0) {
        tu_add(&children, 1);
        tu_add(&child_msgs, 1);
        rc = tr_send_ptr(c, WORK, &frees, count_free);
        if (rc == TR_EDEAD) { /* the close stopped it already: we still own ptr */
            count_free(&frees);
            tu_add(&refused, 1);
        } else if (rc != 0) {
            tu_add(&odd, 1);
        }
        rc = tr_actor_stop(c);
        if (rc != 0 && rc != TR_EDEAD) /* EDEAD: the close stopped it first */
            tu_add(&odd, 1);
        tr_ref_release(c);
    } else if (rc != TR_ECLOSED) {
        tu_add(&odd, 1);
    }
    /* Keep going until the close stops us. */
    if (tr_send_word(tr_self(ctx), TICK, 0) != 0)
        tu_add(&odd, 1);
    return 0;
}

static void spawner_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&spawner_ends, 1);
}

static void run_round(void) {
    static const tr_behavior beh = {NULL, spawner_receive, spawner_terminate};
    uint64_t *all[] = {&children, &child_inits, &child_ends, &spawner_ends, &child_msgs,
                       &handled,  &dead,        &refused,    &frees,        &odd};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    for (int i = 0; i < SPAWNERS; i++) {
        tr_ref *s;
        assert_int_equal(tr_spawn(rt, &beh, NULL, &s), 0);
        assert_int_equal(tr_send_word(s, TICK, 0), 0);
        tr_ref_release(s);
    }
    assert_true(tu_wait_ge(&children, MIN_SPAWNS, 10 * TU_WAIT_MS));
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);

    assert_int_equal(tu_load(&odd), 0);
    assert_int_equal(tu_load(&spawner_ends), SPAWNERS);
    assert_int_equal(tu_load(&child_ends), tu_load(&child_inits));
    assert_true(tu_load(&children) <= tu_load(&child_inits));
    assert_int_equal(tu_load(&handled) + tu_load(&dead) + tu_load(&refused), tu_load(&child_msgs));
    assert_int_equal(tu_load(&frees), tu_load(&child_msgs));
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.actors_alive, 0);
    assert_int_equal(st.actors_spawned, SPAWNERS + tu_load(&child_inits));
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void close_racing_spawn_and_stop_on_workers_ends_everything_once(void **state) {
    (void)state;
    for (int r = 0; r < ROUNDS; r++)
        run_round();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_racing_spawn_and_stop_on_workers_ends_everything_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
