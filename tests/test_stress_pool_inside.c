/* tests/test_stress_pool_inside.c - a pool resized from inside an actor
 * under load.
 *
 * Counts (normal build; divided by 2 under ASan, 10 under TSan):
 *   JOBS      200,000 jobs (round robin), then 100,000 (shared queue), sent
 *             by SENDERS = 2 foreign threads (ids split odd/even), at most
 *             WINDOW unaccounted at a time
 *   the pool  starts with 4 workers, max 8, on a 2-thread runtime; every
 *             1,000th job crashes its worker once (then is answered on
 *             redelivery), every 10,000th on every delivery (dead-lettered
 *             after MAX_REDELIVER redeliveries)
 *   resizer   an actor that keeps the pool moving between 2 and 8 workers
 *             with tr_pool_try_add_worker_async / _remove_worker_async (a
 *             pseudo-random walk), and reads tr_pool_stats_async every
 *             fourth call: each result sends its next call. It knows how
 *             many workers there are (it is the only one resizing), so each
 *             add/remove result and each stats result is checked against it.
 *   reader    an actor reading tr_pool_stats_async in a loop, checking that
 *             the counters never go back and that handled <= jobs.
 * Checked exactly at the end: every job answered once or dead-lettered
 * once, jobs sent = handled + dead-lettered, and the pool's own stats agree
 * (jobs, handled, dead_lettered, redeliveries, workers).
 * Then the close under load: SENDERS threads send until refused while the
 * test thread closes the pool after CLOSE_AFTER_MS; no send that starts
 * after tr_pool_close returned may succeed, and every accepted job is
 * handled or dead-lettered. Threads and actors record into atomics; the
 * test thread asserts. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define JOBS (200000u / TU_SANITIZER_SLOWDOWN)
#define SENDERS 2
#define WINDOW 5000u
#define MIN_WORKERS 2
#define MAX_WORKERS 8
#define MAX_REDELIVER 2
#define JOB 1
#define GO 2
#define MAX_SLOTS 16

static uint8_t *answered, *dropped, *tries;
static uint32_t njobs;
static uint64_t answered_total, dropped_total, send_errors;
static uint64_t stop;                                    /* set by the test thread */
static uint64_t rs_done, rs_ops, rs_adds, rs_removes;    /* resizer */
static uint64_t rs_stats, rs_bad, rs_workers, rs_failed; /* resizer */
static uint64_t rd_done, rd_reads, rd_bad, rd_failed;    /* reader */
static tr_ref *pool;

static int crashes_always(uint32_t id) {
    return id % 10000u == 9999u;
}
static int crashes_once(uint32_t id) {
    return id % 1000u == 999u && !crashes_always(id);
}

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type != JOB)
        return;
    __atomic_add_fetch(&dropped[msg->word], 1, __ATOMIC_SEQ_CST);
    tu_add(&dropped_total, 1);
}

static int job_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    uint32_t id = (uint32_t)msg->word;
    uint8_t n = __atomic_add_fetch(&tries[id], 1, __ATOMIC_SEQ_CST);
    if (crashes_always(id) || (crashes_once(id) && n == 1))
        return TR_ECRASHED;
    __atomic_add_fetch(&answered[id], 1, __ATOMIC_SEQ_CST);
    tu_add(&answered_total, 1);
    return 0;
}

/* --- the resizer ----------------------------------------------------------- */

typedef struct resizer {
    unsigned workers; /* what the pool has, as far as our calls tell */
    uint64_t rng;
    uint64_t calls;
    int last_op; /* 1 add, 2 remove, 3 stats */
} resizer;

static int rs_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    resizer *r = state;
    r->workers = (unsigned)(uintptr_t)arg;
    r->rng = 0x9E3779B97F4A7C15ull;
    return 0;
}

/* The next call, or none once told to stop. 0, or the call's error. */
static int rs_next(tr_ctx *ctx, resizer *r) {
    if (tu_load(&stop)) {
        tu_store(&rs_workers, r->workers);
        tu_store(&rs_done, 1);
        return 0;
    }
    r->calls++;
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    if (r->calls % 4 == 0) {
        r->last_op = 3;
        return tr_pool_stats_async(ctx, pool, r->calls);
    }
    int grow = r->workers <= MIN_WORKERS || (r->workers < MAX_WORKERS && (r->rng & 1));
    r->last_op = grow ? 1 : 2;
    return grow ? tr_pool_try_add_worker_async(ctx, pool, r->calls)
                : tr_pool_try_remove_worker_async(ctx, pool, r->calls);
}

static int rs_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    resizer *r = state;
    if (msg->type == GO)
        return rs_next(ctx, r);
    if (msg->type == TR_MSG_ASK_FAILED) {
        tu_add(&rs_failed, 1);
        return 0;
    }
    if (msg->type != TR_MSG_RESULT)
        return 0;
    tu_add(&rs_ops, 1);
    int rc = tr_result_code(msg);
    if (msg->corr != r->calls)
        tu_add(&rs_bad, 1);
    if (r->last_op == 1) {
        /* 0 below the cap; TR_EFULL (refused) only at it */
        if (rc == 0) {
            r->workers++;
            tu_add(&rs_adds, 1);
        } else if (rc != TR_EFULL || r->workers != MAX_WORKERS) {
            tu_add(&rs_bad, 1);
        }
    } else if (r->last_op == 2) {
        if (rc == 0) {
            r->workers--;
            tu_add(&rs_removes, 1);
        } else {
            tu_add(&rs_bad, 1);
        }
    } else {
        tr_pool_stats st;
        uint64_t h[MAX_SLOTS];
        size_t n;
        if (tr_pool_result_stats(msg, &st, h, MAX_SLOTS, &n) != 0 || st.workers != r->workers ||
            n != r->workers)
            tu_add(&rs_bad, 1);
        tu_add(&rs_stats, 1);
    }
    int err = rs_next(ctx, r);
    if (err != 0)
        tu_add(&rs_bad, 1);
    return 0;
}

/* --- the reader -------------------------------------------------------------- */

typedef struct reader {
    tr_pool_stats last;
    uint64_t tag;
} reader;

static int rd_next(tr_ctx *ctx, reader *r) {
    if (tu_load(&stop)) {
        tu_store(&rd_done, 1);
        return 0;
    }
    return tr_pool_stats_async(ctx, pool, ++r->tag);
}

static int rd_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    reader *r = state;
    if (msg->type == GO)
        return rd_next(ctx, r);
    if (msg->type == TR_MSG_ASK_FAILED) {
        tu_add(&rd_failed, 1);
        return 0;
    }
    if (msg->type != TR_MSG_RESULT)
        return 0;
    tr_pool_stats st;
    uint64_t h[MAX_SLOTS];
    size_t n;
    int bad = tr_pool_result_stats(msg, &st, h, MAX_SLOTS, &n) != 0 || msg->corr != r->tag;
    if (!bad) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n && i < MAX_SLOTS; i++)
            sum += h[i];
        bad = st.jobs < r->last.jobs || st.handled < r->last.handled ||
              st.routed < r->last.routed || st.restarts < r->last.restarts ||
              st.redeliveries < r->last.redeliveries || st.dead_lettered < r->last.dead_lettered ||
              st.handled > st.jobs || sum > st.handled || n != st.workers;
        r->last = st;
    }
    if (bad)
        tu_add(&rd_bad, 1);
    tu_add(&rd_reads, 1);
    if (rd_next(ctx, r) != 0)
        tu_add(&rd_bad, 1);
    return 0;
}

/* --- the senders ------------------------------------------------------------- */

typedef struct sender {
    unsigned index;
} sender;

static void *send_main(void *arg) {
    sender *s = arg;
    for (uint32_t id = s->index; id < njobs; id += SENDERS) {
        while ((uint64_t)id > tu_load(&answered_total) + tu_load(&dropped_total) + WINDOW)
            sched_yield();
        if (tr_send_word(pool, JOB, id) != 0)
            tu_add(&send_errors, 1);
    }
    return NULL;
}

static void reset(void) {
    uint64_t *all[] = {&answered_total, &dropped_total, &send_errors, &stop,
                       &rs_done,        &rs_ops,        &rs_adds,     &rs_removes,
                       &rs_stats,       &rs_bad,        &rs_workers,  &rs_failed,
                       &rd_done,        &rd_reads,      &rd_bad,      &rd_failed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
}

static void resize_under_load(tr_route routing, uint32_t jobs) {
    reset();
    njobs = jobs;
    answered = calloc(njobs, 1);
    dropped = calloc(njobs, 1);
    tries = calloc(njobs, 1);
    assert_non_null(answered);
    assert_non_null(dropped);
    assert_non_null(tries);

    tr_runtime_config rcfg;
    tr_runtime_config_init(&rcfg);
    rcfg.workers = 2;
    rcfg.dead_letter = on_dead;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &rcfg), 0);
    static const tr_behavior beh = {NULL, job_receive, NULL};
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.workers = 4;
    cfg.max_workers = MAX_WORKERS;
    cfg.behavior = &beh;
    cfg.routing = routing;
    cfg.max_redeliveries = MAX_REDELIVER;
    assert_int_equal(tr_pool_start(rt, &cfg, &pool), 0);

    static const tr_behavior rs_beh = {rs_init, rs_receive, NULL};
    static const tr_behavior rd_beh = {NULL, rd_receive, NULL};
    tr_spawn_opts ro = {.state_size = sizeof(resizer), .arg = (void *)(uintptr_t)cfg.workers};
    tr_spawn_opts dopt = {.state_size = sizeof(reader)};
    tr_ref *rs, *rd;
    assert_int_equal(tr_spawn(rt, &rs_beh, &ro, &rs), 0);
    assert_int_equal(tr_spawn(rt, &rd_beh, &dopt, &rd), 0);

    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_send_word(rs, GO, 0), 0);
    assert_int_equal(tr_send_word(rd, GO, 0), 0);
    pthread_t th[SENDERS];
    sender snd[SENDERS];
    for (unsigned i = 0; i < SENDERS; i++) {
        snd[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, send_main, &snd[i]), 0);
    }
    for (unsigned i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tu_load(&send_errors), 0);
    uint64_t accounted = 0;
    int64_t deadline = tu_now_ms() + 120000;
    while ((accounted = tu_load(&answered_total) + tu_load(&dropped_total)) < njobs &&
           tu_now_ms() < deadline)
        tu_sleep_ms(1);
    assert_int_equal(accounted, njobs);
    tu_store(&stop, 1);
    assert_true(tu_wait_ge(&rs_done, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&rd_done, 1, TU_WAIT_MS));
    int64_t ms = tu_now_ms() - t0;

    /* The actors' own checks. */
    assert_int_equal(tu_load(&rs_bad), 0);
    assert_int_equal(tu_load(&rs_failed), 0);
    assert_int_equal(tu_load(&rd_bad), 0);
    assert_int_equal(tu_load(&rd_failed), 0);
    assert_true(tu_load(&rs_adds) > 0);
    assert_true(tu_load(&rs_removes) > 0);
    assert_true(tu_load(&rs_stats) > 0);
    assert_true(tu_load(&rd_reads) > 0);

    /* Every job once: answered, or dead-lettered after its redeliveries. */
    uint64_t once = 0, always = 0;
    for (uint32_t id = 0; id < njobs; id++) {
        if (crashes_always(id)) {
            always++;
            assert_int_equal(dropped[id], 1);
            assert_int_equal(answered[id], 0);
            assert_int_equal(tries[id], 1 + MAX_REDELIVER);
        } else {
            once += crashes_once(id);
            assert_int_equal(answered[id], 1);
            assert_int_equal(dropped[id], 0);
        }
    }
    assert_int_equal(tu_load(&answered_total) + tu_load(&dropped_total), njobs);

    /* The pool agrees. */
    tr_pool_stats st;
    uint64_t h[MAX_SLOTS];
    assert_int_equal(tr_pool_stats_get(pool, &st, h, MAX_SLOTS), 0);
    assert_int_equal(st.jobs, njobs);
    assert_int_equal(st.handled, tu_load(&answered_total));
    assert_int_equal(st.dead_lettered, tu_load(&dropped_total));
    assert_int_equal(st.dead_lettered, always);
    assert_int_equal(st.redeliveries, once + always * MAX_REDELIVER);
    assert_int_equal(st.workers, tu_load(&rs_workers));
    assert_int_equal(st.queued, 0);
    print_message("resize under load (%s): %u jobs, %llu adds, %llu removes, %llu resizer stats, "
                  "%llu reader stats, %llu returned unstarted, %lld ms\n",
                  routing == TR_ROUTE_SHARED_QUEUE ? "shared queue" : "round robin",
                  (unsigned)njobs, (unsigned long long)tu_load(&rs_adds),
                  (unsigned long long)tu_load(&rs_removes), (unsigned long long)tu_load(&rs_stats),
                  (unsigned long long)tu_load(&rd_reads), (unsigned long long)st.returned,
                  (long long)ms);

    tr_ref_release(rs);
    tr_ref_release(rd);
    assert_int_equal(tr_pool_release(pool), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
    free(answered);
    free(dropped);
    free(tries);
}

static void actor_resizes_a_loaded_pool_and_loses_no_job(void **state) {
    (void)state;
    resize_under_load(TR_ROUTE_ROUND_ROBIN, JOBS);
}

/* Ready tokens of added and removed workers under the same load. */
static void actor_resizes_a_loaded_shared_queue_pool_and_loses_no_job(void **state) {
    (void)state;
    resize_under_load(TR_ROUTE_SHARED_QUEUE, JOBS / 2);
}

/* --- close under load --------------------------------------------------------- */

#define CLOSE_AFTER_MS 30

static uint64_t closed_flag, accepted, refused, late_accepts, other_errors;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == JOB)
        tu_add(&answered_total, 1);
    return 0;
}

static void count_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == JOB)
        tu_add(&dropped_total, 1);
}

static void *flood_main(void *arg) {
    (void)arg;
    for (;;) {
        uint64_t was_closed = tu_load(&closed_flag); /* read before the send starts */
        int rc = tr_send_word(pool, JOB, 0);
        if (rc == 0) {
            tu_add(&accepted, 1);
            if (was_closed)
                tu_add(&late_accepts, 1);
        } else if (rc == TR_EDEAD) {
            tu_add(&refused, 1);
            return NULL;
        } else {
            tu_add(&other_errors, 1);
            return NULL;
        }
        /* Keep the backlog bounded without a window: yield now and then. */
        if ((tu_load(&accepted) & 1023) == 0)
            sched_yield();
    }
}

static void close_under_load_refuses_every_later_send(void **state) {
    (void)state;
    reset();
    uint64_t *all[] = {&closed_flag, &accepted, &refused, &late_accepts, &other_errors};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tr_runtime_config rcfg;
    tr_runtime_config_init(&rcfg);
    rcfg.workers = 2;
    rcfg.dead_letter = count_dead;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &rcfg), 0);
    static const tr_behavior beh = {NULL, count_receive, NULL};
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.workers = 4;
    cfg.behavior = &beh;
    assert_int_equal(tr_pool_start(rt, &cfg, &pool), 0);
    tr_ref_retain(pool); /* a plain reference: the handle outlives the close */

    pthread_t th[SENDERS];
    for (unsigned i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, flood_main, NULL), 0);
    tu_sleep_ms(CLOSE_AFTER_MS);
    assert_int_equal(tr_pool_close(pool), 0);
    tu_store(&closed_flag, 1);
    assert_int_equal(tr_pool_close(pool), TR_EDEAD);
    for (unsigned i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tu_load(&other_errors), 0);
    assert_int_equal(tu_load(&refused), SENDERS);
    assert_int_equal(tu_load(&late_accepts), 0);
    uint64_t n = tu_load(&accepted);
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (tu_load(&answered_total) + tu_load(&dropped_total) < n && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    assert_int_equal(tu_load(&answered_total) + tu_load(&dropped_total), n);
    print_message("close under load: %llu accepted, %llu handled, %llu dead-lettered\n",
                  (unsigned long long)n, (unsigned long long)tu_load(&answered_total),
                  (unsigned long long)tu_load(&dropped_total));
    tr_pool_release(pool); /* drops the handle count's reference */
    tr_ref_release(pool);
    assert_int_equal(tr_runtime_free(rt), 0);
    /* Nothing more arrives once the runtime is gone. */
    assert_int_equal(tu_load(&answered_total) + tu_load(&dropped_total), n);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(actor_resizes_a_loaded_pool_and_loses_no_job),
        cmocka_unit_test(actor_resizes_a_loaded_shared_queue_pool_and_loses_no_job),
        cmocka_unit_test(close_under_load_refuses_every_later_send),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
