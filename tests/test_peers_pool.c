/* tests/test_peers_pool.c - Akka's router specs (RoundRobin, SmallestMailbox,
 * a balancing pool, routees that fail) ported to troupe's pools, with the
 * workers on the shared workers and, in a second run, each pinned to a
 * thread of its own (TR_PIN_THREAD), where every crash ends a thread and the
 * respawn makes and reaps another.
 *
 * Counts, checked exactly: SENDERS foreign threads each ask JOBS jobs; one
 * job in CRASH_EVERY crashes its worker the first time it runs (the pool
 * redelivers it, the asker still gets its answer); every ask is answered
 * once with word * 2, and the pool's restarts equal the crashes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define SENDERS 2
#define JOBS (600 / TU_SANITIZER_SLOWDOWN)
#define CRASH_EVERY 25
enum { JOB = 1 };

static uint64_t crashed[SENDERS * JOBS]; /* 1 once job i has crashed its worker */
static uint64_t crashes, answered, wrong;

static int job_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    uint64_t i = msg->word;
    if (i % CRASH_EVERY == 0 && i < SENDERS * JOBS &&
        __atomic_exchange_n(&crashed[i], 1, __ATOMIC_SEQ_CST) == 0) {
        tu_add(&crashes, 1);
        return TR_EIO; /* the first attempt: crash; the pool redelivers it */
    }
    return tr_reply_word(msg, JOB, i * 2);
}

static const tr_behavior job_beh = {NULL, job_receive, NULL};

typedef struct sender_arg {
    tr_ref *pool;
    uint64_t first;
} sender_arg;

static void *sender(void *arg) {
    sender_arg *a = arg;
    for (uint64_t k = 0; k < JOBS; k++) {
        uint64_t i = a->first + k;
        tr_future *f;
        if (tr_ask_word(a->pool, JOB, i, &f) != 0) {
            tu_add(&wrong, 1);
            continue;
        }
        tr_msg *r = NULL;
        int rc = tr_future_wait(f, TU_WAIT_MS, &r);
        if (rc == 0 && r->word == i * 2)
            tu_add(&answered, 1);
        else
            tu_add(&wrong, 1);
        if (r != NULL)
            tr_msg_free(r);
        tr_future_release(f);
    }
    return NULL;
}

static tr_runtime *rt;
static int pin_workers;

static int setup(void **state) {
    (void)state;
    memset(crashed, 0, sizeof(crashed));
    tu_store(&crashes, 0);
    tu_store(&answered, 0);
    tu_store(&wrong, 0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    assert_int_equal(tr_runtime_free(rt), 0);
    return 0;
}

static int pinned(void **state) {
    (void)state;
    pin_workers = 1;
    return 0;
}

typedef struct restarts_arg {
    tr_ref *pool;
    uint64_t n;
} restarts_arg;

static int restarts_are(void *arg) {
    restarts_arg *a = arg;
    tr_pool_stats st;
    return tr_pool_stats_get(a->pool, &st, NULL, 0) == 0 && st.restarts >= a->n;
}

static void every_job_answered_once_through_crashes(tr_route routing) {
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.workers = 4;
    cfg.behavior = &job_beh;
    cfg.routing = routing;
    cfg.opts.pin = pin_workers ? TR_PIN_THREAD : TR_PIN_NONE;
    tr_ref *pool = NULL;
    assert_int_equal(tr_pool_start(rt, &cfg, &pool), 0);
    pthread_t th[SENDERS];
    sender_arg args[SENDERS];
    for (int s = 0; s < SENDERS; s++) {
        args[s] = (sender_arg){pool, (uint64_t)s * JOBS};
        assert_int_equal(pthread_create(&th[s], NULL, sender, &args[s]), 0);
    }
    for (int s = 0; s < SENDERS; s++)
        pthread_join(th[s], NULL);
    assert_int_equal(tu_load(&wrong), 0);
    assert_int_equal(tu_load(&answered), SENDERS * JOBS);
    uint64_t want_crashes = (SENDERS * JOBS + CRASH_EVERY - 1) / CRASH_EVERY;
    assert_int_equal(tu_load(&crashes), want_crashes);
    /* The last respawn may follow the last answer (another worker took the
     * redelivered job). */
    restarts_arg ra = {pool, want_crashes};
    assert_true(tu_wait_until(restarts_are, &ra, TU_WAIT_MS));
    tr_pool_stats st;
    assert_int_equal(tr_pool_stats_get(pool, &st, NULL, 0), 0);
    assert_int_equal(st.restarts, want_crashes);
    assert_int_equal(st.dead_lettered, 0);
    assert_int_equal(tr_pool_release(pool), 0);
}

/* Akka RoundRobinPool: jobs in turn; a failing routee is restarted and the
 * job it failed on is not lost (troupe redelivers it). */
static void round_robin_answers_every_job_through_crashes(void **state) {
    (void)state;
    every_job_answered_once_through_crashes(TR_ROUTE_ROUND_ROBIN);
}

/* Akka BalancingPool: idle routees take the next job from a shared queue. */
static void shared_queue_answers_every_job_through_crashes(void **state) {
    (void)state;
    every_job_answered_once_through_crashes(TR_ROUTE_SHARED_QUEUE);
}

/* Akka SmallestMailboxPool. */
static void smallest_mailbox_answers_every_job_through_crashes(void **state) {
    (void)state;
    every_job_answered_once_through_crashes(TR_ROUTE_SMALLEST_MAILBOX);
}

/* Akka ConsistentHashingPool: a key always reaches one routee, also across
 * that routee's restarts. */
static void key_hash_answers_every_job_through_crashes(void **state) {
    (void)state;
    every_job_answered_once_through_crashes(TR_ROUTE_KEY_HASH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_robin_answers_every_job_through_crashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(shared_queue_answers_every_job_through_crashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(smallest_mailbox_answers_every_job_through_crashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(key_hash_answers_every_job_through_crashes, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests_name("workers", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("pinned workers", tests, pinned, NULL);
    return failed;
}
