/* tests/test_blocking.c - the blocking-task pool (troupe/blocking.h).
 *
 * Tasks record how many of them run at once in an atomic high-water mark;
 * the pool must never run more than max_threads at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define MAX_THREADS 3
#define TASKS 30

enum { M_RESULT = 1 };

static uint64_t running, high_water, results_freed;

static void note_running(void) {
    uint64_t now = tu_add(&running, 1);
    uint64_t hw = tu_load(&high_water);
    while (now > hw && !__atomic_compare_exchange_n(&high_water, &hw, now, 0, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_SEQ_CST))
        ;
}

/* Sleeps a little (so tasks overlap), returns arg * 2 as a heap result. */
static int slow_double(void *arg, void **result) {
    note_running();
    tu_sleep_ms(10);
    uint64_t *r = malloc(sizeof(*r));
    *r = (uint64_t)(uintptr_t)arg * 2;
    *result = r;
    tu_add(&running, (uint64_t)-1);
    return 7;
}

static void free_result(void *p) {
    tu_add(&results_freed, 1);
    free(p);
}

typedef struct sink {
    uint64_t n, sum, bad_status;
} sink;

static int sink_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    sink *k = state;
    if (msg->type != M_RESULT)
        return 0;
    if (msg->status != 7 || msg->ptr == NULL)
        tu_add(&k->bad_status, 1);
    else
        tu_add(&k->sum, *(uint64_t *)msg->ptr + msg->word);
    tu_add(&k->n, 1);
    return 0;
}

static const tr_behavior sink_beh = {NULL, sink_receive, NULL};

static void pool_never_runs_more_than_max_threads(void **s) {
    (void)s;
    tu_store(&running, 0);
    tu_store(&high_water, 0);
    tu_store(&results_freed, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_int_equal(tr_blocking_configure(rt, MAX_THREADS, 50), 0);
    sink k;
    memset(&k, 0, sizeof(k));
    tr_spawn_opts o = {0};
    o.arg = &k;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &sink_beh, &o, &ref), 0);
    uint64_t want = 0;
    for (uintptr_t i = 1; i <= TASKS; i++) {
        assert_int_equal(tr_blocking_run(ref, M_RESULT, 1000, slow_double, (void *)i, free_result),
                         0);
        want += i * 2 + 1000;
    }
    assert_true(tu_wait_ge(&k.n, TASKS, TU_WAIT_MS));
    assert_int_equal(tu_load(&k.sum), want);
    assert_int_equal(tu_load(&k.bad_status), 0);
    assert_true(tu_load(&high_water) <= MAX_THREADS);
    assert_true(tu_load(&high_water) >= 1);
    tr_blocking_stats st;
    assert_int_equal(tr_blocking_stats_get(rt, &st), 0);
    assert_true(st.peak <= MAX_THREADS);
    assert_int_equal(st.max_threads, MAX_THREADS);
    assert_true(tu_wait_ge(&results_freed, TASKS, TU_WAIT_MS)); /* after receive */
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static int stats_threads_zero(void *arg) {
    tr_blocking_stats st;
    tr_blocking_stats_get(arg, &st);
    return st.threads == 0 && st.completed > 0;
}

static void idle_threads_exit_after_keepalive(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1);
    assert_int_equal(tr_blocking_configure(rt, 2, 20), 0);
    tr_future *f;
    assert_int_equal(tr_blocking_ask(rt, slow_double, (void *)21, free_result, &f), 0);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->status, 7);
    assert_int_equal(*(uint64_t *)reply->ptr, 42);
    tr_msg_free(reply);
    tr_future_release(f);
    assert_true(tu_wait_until(stats_threads_zero, rt, TU_WAIT_MS));
    /* And a new task makes a new thread on demand. */
    assert_int_equal(tr_blocking_ask(rt, slow_double, (void *)1, free_result, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_blocking_stats st;
    assert_int_equal(tr_blocking_stats_get(rt, &st), 0);
    assert_int_equal(st.created, 2);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void results_for_a_stopped_actor_are_dead_lettered(void **s) {
    (void)s;
    tu_store(&results_freed, 0);
    tr_runtime *rt = tu_runtime_new(1);
    /* The one worker is held until the task is submitted, so the stop
     * cannot complete first (tr_blocking_run would then say TR_EDEAD). */
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    sink k;
    memset(&k, 0, sizeof(k));
    tr_spawn_opts o = {0};
    o.arg = &k;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &sink_beh, &o, &ref), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_int_equal(tr_blocking_run(ref, M_RESULT, 0, slow_double, (void *)1, free_result), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&results_freed, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&k.n), 0);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

#define QUEUED 20

static void shutdown_runs_queued_tasks_and_frees_their_results(void **s) {
    (void)s;
    tu_store(&results_freed, 0);
    tr_runtime *rt = tu_runtime_new(1);
    assert_int_equal(tr_blocking_configure(rt, 1, 1000), 0);
    sink k;
    memset(&k, 0, sizeof(k));
    tr_spawn_opts o = {0};
    o.arg = &k;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &sink_beh, &o, &ref), 0);
    for (uintptr_t i = 0; i < QUEUED; i++)
        assert_int_equal(tr_blocking_run(ref, M_RESULT, 0, slow_double, (void *)i, free_result), 0);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0); /* no hang, no leak */
    assert_int_equal(tu_load(&results_freed), QUEUED);
}

static void blocking_calls_reject_bad_arguments(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1);
    tr_future *f = (tr_future *)1;
    assert_int_equal(tr_blocking_configure(NULL, 1, 1), TR_EINVAL);
    assert_int_equal(tr_blocking_configure(rt, 5000, 1), TR_EINVAL);
    assert_int_equal(tr_blocking_run(NULL, 1, 0, slow_double, NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_blocking_ask(rt, NULL, NULL, NULL, &f), TR_EINVAL);
    assert_null(f);
    assert_int_equal(tr_blocking_ask(NULL, slow_double, NULL, NULL, &f), TR_EINVAL);
    assert_int_equal(tr_blocking_stats_get(rt, NULL), TR_EINVAL);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pool_never_runs_more_than_max_threads),
        cmocka_unit_test(idle_threads_exit_after_keepalive),
        cmocka_unit_test(results_for_a_stopped_actor_are_dead_lettered),
        cmocka_unit_test(shutdown_runs_queued_tasks_and_frees_their_results),
        cmocka_unit_test(blocking_calls_reject_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
