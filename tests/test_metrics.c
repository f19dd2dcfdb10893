/* tests/test_metrics.c - the counters and timings a snapshot reports.
 *
 * Exact counts: messages handled, mailbox depth of an actor blocked in its
 * handler with K more queued (bounded; unbounded with the switch on, a
 * lower bound without), dead letters by
 * reason, asks outstanding and timed out, worker turns. With
 * TR_METRICS_TIMING: histograms that hold every message and whose
 * quantiles are ordered; without it, none. The switch: config, run time,
 * TROUPE_METRICS. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define N 1000 /* messages handled */
#define K 37   /* messages queued behind a blocked handler */

static uint64_t handled, blocking, release_block;

/* Type 1: counted. Type 2: blocks until release_block (a blocked handler).
 * Type 3: works about 20 us (for timings). */
static int work_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == 2) {
        tu_store(&blocking, 1);
        while (!tu_load(&release_block))
            ;
    } else if (msg->type == 3) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t1);
        while ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 20000);
    }
    tu_add(&handled, 1);
    return 0;
}

static const tr_behavior work_beh = {NULL, work_receive, NULL};

static tr_runtime *runtime_with(unsigned workers, int metrics) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.metrics = metrics;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

static void reset(void) {
    tu_store(&handled, 0);
    tu_store(&blocking, 0);
    tu_store(&release_block, 0);
}

static tr_actor_info info_of(tr_runtime *rt, tr_ref *ref, tr_snapshot **keep) {
    tr_snapshot *s = NULL;
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    const tr_actor_info *i = tr_snapshot_find(s, tr_ref_id(ref));
    assert_non_null(i);
    tr_actor_info out = *i;
    if (keep != NULL)
        *keep = s; /* the histogram pointers live as long as s */
    else
        tr_snapshot_free(s);
    return out;
}

static void messages_handled_are_counted_exactly(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = runtime_with(2, TR_METRICS_BASIC);
    assert_non_null(rt);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &work_beh, NULL, &a), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(tr_send_word(a, 1, (uint64_t)i), 0);
    assert_true(tu_wait_ge(&handled, N, TU_WAIT_MS));
    tr_actor_info i = info_of(rt, a, NULL);
    assert_int_equal(i.messages, N);
    assert_int_equal(i.mailbox_len, 0);
    assert_int_equal(i.mailbox_cap, 0);
    /* Basic level: no timing gathered. */
    assert_null(i.handler_hist);
    assert_null(i.mailbox_hist);
    assert_int_equal(i.busy_ns, 0);
    tr_snapshot *s;
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    uint64_t turns = 0;
    for (size_t w = 0; w < s->nworkers; w++)
        turns += s->workers[w].turns;
    assert_true(turns >= 1);
    assert_true(s->runtime.uptime_ns > 0);
    /* The worker that never had work went to sleep at once. */
    uint64_t parks = 0, parked_ns = 0;
    for (size_t w = 0; w < s->nworkers; w++) {
        parks += s->workers[w].parks;
        parked_ns += s->workers[w].parked_ns;
        assert_true(s->workers[w].parked_ns <= s->runtime.uptime_ns);
    }
    assert_true(parks >= 1);
    assert_true(parked_ns > 0);
    tr_snapshot_free(s);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* An actor blocked in its handler, K more queued: depth K exactly. */
static void depth_of_blocked_actor(uint32_t cap, int level) {
    reset();
    tr_runtime *rt = runtime_with(2, level);
    assert_non_null(rt);
    tr_spawn_opts o = {.mailbox_capacity = cap};
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &work_beh, &o, &a), 0);
    assert_int_equal(tr_send_word(a, 2, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    assert_int_equal(tr_ref_mailbox_len(a), 0);
    for (int i = 0; i < K; i++)
        assert_int_equal(tr_send_word(a, 1, (uint64_t)i), 0);
    assert_int_equal(tr_ref_mailbox_len(a), K);
    tr_actor_info i = info_of(rt, a, NULL);
    assert_int_equal(i.mailbox_len, K);
    assert_int_equal(i.mailbox_exact, 1);
    assert_int_equal(i.mailbox_cap, cap == TR_MAILBOX_UNBOUNDED ? 0 : cap);
    assert_int_equal(i.state, TR_ACTOR_RUNNING);
    assert_true(i.worker >= 0);
    assert_int_equal(i.messages, 1); /* the one it is handling */
    tu_store(&release_block, 1);
    assert_true(tu_wait_ge(&handled, K + 1, TU_WAIT_MS));
    assert_int_equal(tr_ref_mailbox_len(a), 0);
    i = info_of(rt, a, NULL);
    assert_int_equal(i.mailbox_len, 0);
    assert_int_equal(i.messages, K + 1);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void unbounded_mailbox_depth_is_exact_with_the_switch(void **state) {
    (void)state;
    depth_of_blocked_actor(TR_MAILBOX_UNBOUNDED, TR_METRICS_TIMING);
}

static void bounded_mailbox_depth_is_exact(void **state) {
    (void)state;
    depth_of_blocked_actor(1000, TR_METRICS_BASIC);
}

/* Without the switch an unbounded mailbox keeps no count: a lower bound,
 * and the snapshot says so. */
static void unbounded_mailbox_depth_without_the_switch_is_a_lower_bound(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = runtime_with(2, TR_METRICS_BASIC);
    assert_non_null(rt);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &work_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, 2, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    for (int i = 0; i < K; i++)
        assert_int_equal(tr_send_word(a, 1, (uint64_t)i), 0);
    assert_int_equal(tr_ref_mailbox_len(a), 1);
    tr_actor_info i = info_of(rt, a, NULL);
    assert_int_equal(i.mailbox_exact, 0);
    assert_int_equal(i.mailbox_len, 1);
    tu_store(&release_block, 1);
    assert_true(tu_wait_ge(&handled, K + 1, TU_WAIT_MS));
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void timing_fills_ordered_histograms(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = runtime_with(2, TR_METRICS_TIMING);
    assert_non_null(rt);
    assert_int_equal(tr_runtime_metrics(rt), TR_METRICS_TIMING);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &work_beh, NULL, &a), 0);
    /* Mostly quick messages, a tenth slow ones: p99 lands among the slow. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(tr_send_word(a, i % 10 == 0 ? 3 : 1, 0), 0);
    assert_true(tu_wait_ge(&handled, 200, TU_WAIT_MS));
    tr_snapshot *s = NULL;
    tr_actor_info i = info_of(rt, a, &s);
    assert_non_null(i.handler_hist);
    assert_non_null(i.mailbox_hist);
    uint64_t hn = 0, mn = 0;
    for (int b = 0; b < TR_HIST_BUCKETS; b++) {
        hn += i.handler_hist[b];
        mn += i.mailbox_hist[b];
    }
    assert_int_equal(hn, 200);
    assert_int_equal(mn, 200); /* every message was stamped by its send */
    assert_true(i.handler_p50_ns <= i.handler_p99_ns);
    assert_true(i.mailbox_p50_ns <= i.mailbox_p99_ns);
    assert_true(i.handler_p99_ns >= 16000); /* the slow ones: >= 20 us, bucket bound */
    assert_true(i.busy_ns >= 20 * 20000ull);
    assert_int_equal(tr_hist_quantile(i.handler_hist, 0.99), i.handler_p99_ns);
    uint64_t lag = 0;
    for (size_t w = 0; w < s->nworkers; w++)
        lag |= s->workers[w].loop_lag_max_ns;
    assert_true(lag > 0);
    tr_snapshot_free(s);

    /* Off again: what was gathered stays, nothing more is added. */
    assert_int_equal(tr_runtime_set_metrics(rt, TR_METRICS_BASIC), 0);
    assert_int_equal(tr_runtime_metrics(rt), TR_METRICS_BASIC);
    for (int k = 0; k < 50; k++)
        assert_int_equal(tr_send_word(a, 1, 0), 0);
    assert_true(tu_wait_ge(&handled, 250, TU_WAIT_MS));
    i = info_of(rt, a, &s);
    hn = 0;
    for (int b = 0; b < TR_HIST_BUCKETS; b++)
        hn += i.handler_hist[b];
    assert_true(hn <= 201); /* at most a turn that had read the switch before */
    assert_int_equal(i.messages, 250);
    tr_snapshot_free(s);
    assert_int_equal(tr_runtime_set_metrics(rt, TR_METRICS_DEFAULT), 0);
    assert_int_equal(tr_runtime_metrics(rt), TR_METRICS_TIMING);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void histogram_quantiles_read_bucket_bounds(void **state) {
    (void)state;
    uint32_t h[TR_HIST_BUCKETS] = {0};
    assert_int_equal(tr_hist_quantile(h, 0.5), 0);
    assert_int_equal(tr_hist_quantile(NULL, 0.5), 0);
    h[3] = 90;  /* [8, 16) */
    h[10] = 10; /* [1024, 2048) */
    assert_int_equal(tr_hist_quantile(h, 0.5), 15);
    assert_int_equal(tr_hist_quantile(h, 0.9), 15);
    assert_int_equal(tr_hist_quantile(h, 0.95), 2047);
    assert_int_equal(tr_hist_quantile(h, 1.0), 2047);
    assert_int_equal(tr_hist_quantile(h, 0.0), 15);
}

static void environment_switches_timing_on(void **state) {
    (void)state;
    setenv("TROUPE_METRICS", "timing", 1);
    tr_runtime *rt = runtime_with(1, TR_METRICS_DEFAULT);
    unsetenv("TROUPE_METRICS");
    assert_non_null(rt);
    assert_int_equal(tr_runtime_metrics(rt), TR_METRICS_TIMING);
    assert_int_equal(tr_runtime_free(rt), 0);
    rt = runtime_with(1, TR_METRICS_DEFAULT);
    assert_non_null(rt);
    assert_int_equal(tr_runtime_metrics(rt), TR_METRICS_BASIC);
    assert_int_equal(tr_runtime_free(rt), 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.metrics = 3;
    tr_runtime *bad = NULL;
    assert_int_equal(tr_runtime_new(&bad, &cfg), TR_EINVAL);
}

static void dead_letters_are_counted_by_reason(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = runtime_with(2, TR_METRICS_BASIC);
    assert_non_null(rt);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &work_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, 2, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    for (int i = 0; i < K; i++)
        assert_int_equal(tr_send_word(a, 1, 0), 0);
    assert_int_equal(tr_actor_stop(a), 0);
    tu_store(&release_block, 1);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    tr_snapshot *s;
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    assert_int_equal(s->runtime.dead_letters_by[TR_DEAD_STOPPED], K);
    assert_int_equal(s->runtime.dead_letters, K);
    assert_int_equal(s->nactors, 0);
    tr_snapshot_free(s);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void asks_outstanding_and_timed_out_are_counted(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = runtime_with(2, TR_METRICS_BASIC);
    assert_non_null(rt);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &work_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, 2, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    tr_future *f1, *f2;
    assert_int_equal(tr_ask_word(a, 1, 0, &f1), 0);
    assert_int_equal(tr_ask_word(a, 1, 0, &f2), 0);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f1, 10, &r), TR_ETIMEDOUT);
    assert_int_equal(tr_future_wait(f1, 0, &r), TR_ETIMEDOUT); /* a poll: not counted */
    tr_snapshot *s;
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    assert_int_equal(s->runtime.asks_outstanding, 2);
    assert_int_equal(s->runtime.asks_timed_out, 1);
    tr_snapshot_free(s);
    assert_int_equal(tr_future_release(f1), 0); /* abandoned: no longer outstanding */
    tu_store(&release_block, 1);
    /* f2 is answered (with TR_ENOREPLY: the handler does not reply). */
    assert_int_equal(tr_future_wait(f2, TU_WAIT_MS, &r), TR_ENOREPLY);
    assert_int_equal(tr_future_release(f2), 0);
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    assert_int_equal(s->runtime.asks_outstanding, 0);
    assert_int_equal(s->runtime.asks_timed_out, 1);
    tr_snapshot_free(s);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_handled_are_counted_exactly),
        cmocka_unit_test(unbounded_mailbox_depth_is_exact_with_the_switch),
        cmocka_unit_test(bounded_mailbox_depth_is_exact),
        cmocka_unit_test(unbounded_mailbox_depth_without_the_switch_is_a_lower_bound),
        cmocka_unit_test(timing_fills_ordered_histograms),
        cmocka_unit_test(histogram_quantiles_read_bucket_bounds),
        cmocka_unit_test(environment_switches_timing_on),
        cmocka_unit_test(dead_letters_are_counted_by_reason),
        cmocka_unit_test(asks_outstanding_and_timed_out_are_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
