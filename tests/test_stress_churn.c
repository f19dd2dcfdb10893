/* tests/test_stress_churn.c - spawn/stop churn from several threads.
 *
 * THREADS foreign threads each run ITERS rounds of: spawn an actor, send it
 * SENDS pointer messages, end it, release the handle. Even rounds stop it
 * with tr_actor_stop (usually before it ran: all its mail is dead-lettered),
 * odd rounds make its second message a "stop yourself" (tr_stop: the first
 * two are handled, the third dead-lettered). Actors end while
 * messages are still queued, blocks are recycled while other threads spawn,
 * and the block pool is hit from every thread at once. A keeper actor held by
 * the test stops the runtime from closing by itself when the live count
 * touches zero between rounds. Checked exactly once everything settled:
 * every spawn ran terminate once, the live count is back to the keeper, and
 * every message was handled or dead-lettered with its destructor run once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define THREADS 4
#if defined(TROUPE_TSAN)
#define ITERS 5000 /* TSan: a quarter of the rounds per thread */
#else
#define ITERS 20000
#endif
#define SENDS 3
#define SPAWNS ((uint64_t)THREADS * ITERS)
#define MESSAGES (SPAWNS * SENDS)

static uint64_t spawned, terminated, handled, dead_letters, frees, send_errors, spawn_errors,
    stop_errors, late_sends;

static void count_free(void *p) {
    (void)p;
    tu_add(&frees, 1);
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    (void)why;
    tu_add(&dead_letters, 1);
}

static int churn_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tu_add(&handled, 1);
    return msg->type == 2 ? tr_stop(ctx) : 0;
}

static void churn_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&terminated, 1);
}

static const tr_behavior churn_beh = {NULL, churn_receive, churn_terminate};

static void *churn_thread(void *arg) {
    tr_runtime *rt = arg;
    for (int i = 0; i < ITERS; i++) {
        tr_ref *ref;
        /* Every third actor gets heap state: its free must not race reuse. */
        tr_spawn_opts o = {.state_size = i % 3 == 0 ? 256 : 16};
        if (tr_spawn(rt, &churn_beh, &o, &ref) != 0) {
            tu_add(&spawn_errors, 1);
            continue;
        }
        tu_add(&spawned, 1);
        int self_stop = i % 2;
        for (int k = 0; k < SENDS; k++) {
            uint32_t type = self_stop && k == 1 ? 2 : 1;
            int rc = tr_send_ptr(ref, type, &frees, count_free);
            /* After a self-stop the actor may already be gone. */
            if (rc == TR_EDEAD && self_stop && k > 1) {
                count_free(&frees); /* refused: the caller frees */
                tu_add(&late_sends, 1);
            } else if (rc != 0)
                tu_add(&send_errors, 1);
        }
        if (!self_stop && tr_actor_stop(ref) != 0)
            tu_add(&stop_errors, 1);
        tr_ref_release(ref);
    }
    return NULL;
}

static void spawn_stop_churn_from_four_threads_balances_exactly(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_ref *keeper;
    assert_int_equal(tr_spawn(rt, &churn_beh, NULL, &keeper), 0);

    int64_t t0 = tu_now_ms();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn_thread, rt), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_true(tu_wait_ge(&terminated, SPAWNS, 10 * TU_WAIT_MS));
    assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&frees, MESSAGES, TU_WAIT_MS));
    int64_t ms = tu_now_ms() - t0;

    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.actors_spawned, SPAWNS + 1);
    assert_int_equal(st.actors_alive, 1);
    assert_int_equal(st.dead_letters, tu_load(&dead_letters));
    assert_int_equal(tr_runtime_is_closed(rt), 0);

    assert_int_equal(tu_load(&spawn_errors), 0);
    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&stop_errors), 0);
    assert_int_equal(tu_load(&spawned), SPAWNS);
    assert_int_equal(tu_load(&terminated), SPAWNS);
    assert_int_equal(tu_load(&handled) + tu_load(&dead_letters) + tu_load(&late_sends), MESSAGES);
    assert_int_equal(tu_load(&frees), MESSAGES);

    /* The keeper goes too: the live count returns to 0. */
    assert_int_equal(tr_actor_stop(keeper), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.actors_alive, 0);
    tr_ref_release(keeper);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&terminated), SPAWNS + 1);
    print_message("%llu spawn+stop in %lld ms; %llu handled, %llu dead-lettered\n",
                  (unsigned long long)SPAWNS, (long long)ms, (unsigned long long)tu_load(&handled),
                  (unsigned long long)tu_load(&dead_letters));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spawn_stop_churn_from_four_threads_balances_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
