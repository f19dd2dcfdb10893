/* tests/test_contracts_evening.c - the evening's public calls under hostile
 * input: troupe/log.h, introspect.h, console.h, runtime.h (drain, run,
 * block_on, pins), ipool.h and blocking.h.
 *
 * Each test is one header or one situation: NULL arguments, zero and huge
 * sizes, unknown enum values, a closed runtime, the wrong thread (block_on,
 * run and drain from inside an actor, a second driver), calls from inside
 * callbacks (the log hook, the dead-letter hook, an actor's receive) and
 * re-entrancy (drain twice, drain racing close). Every call must return the
 * code its header documents, never crash, never leak (the suite runs under
 * ASan with leak detection), and leave the caller what it passed.
 *
 * A mismatch is printed and counted (EXPECT), so one run lists them all;
 * the test then fails on the count. Calls made inside actors and hooks
 * record their results into globals that the test thread checks. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"
#include "troupe/blocking.h"
#include "troupe/console.h"
#include "troupe/introspect.h"
#include "troupe/ipool.h"
#include "troupe/log.h"

static int mismatches;

static void expect_at(int line, const char *what, long got, long want) {
    if (got == want)
        return;
    fprintf(stderr, "line %d: %s returned %ld (%s), expected %ld (%s)\n", line, what, got,
            got < 0 ? tr_strerror((int)got) : "-", want, want < 0 ? tr_strerror((int)want) : "-");
    mismatches++;
}
#define EXPECT(call, want) expect_at(__LINE__, #call, (long)(call), (long)(want))

static tr_runtime *new_rt(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.keep_open = 1;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

static int ignore_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return 0;
}
static const tr_behavior ignore_beh = {NULL, ignore_receive, NULL};

/* --- log.h --------------------------------------------------------------- */

static void log_calls_refuse_bad_arguments(void **state) {
    (void)state;
    mismatches = 0;
    char buf[256];
    tr_log_record rec = {.level = TR_LOG_ERROR, .subsystem = "actor", .text = "x"};
    EXPECT(tr_log_format(NULL, buf, sizeof(buf)), TR_EINVAL);
    EXPECT(tr_log_format(&rec, NULL, 10), TR_EINVAL);
    EXPECT(tr_log_format(&rec, NULL, 0) > 0, 1); /* the length it needs */
    EXPECT(tr_log_format(&rec, buf, 1) > 0, 1);
    EXPECT(buf[0], 0);
    /* A record a user made with every pointer NULL and odd values. */
    tr_log_record odd = {.level = (tr_log_level)77, .crash = 1, .has_msg_type = 1};
    EXPECT(tr_log_format(&odd, buf, sizeof(buf)) > 0, 1);
    tr_log_stderr(NULL, NULL); /* no crash */
    EXPECT(strcmp(tr_log_level_name((tr_log_level)-5), "?"), 0);
    EXPECT(strcmp(tr_log_level_name((tr_log_level)99), "?"), 0);
    EXPECT(tr_runtime_set_logger(NULL, NULL, NULL), TR_EINVAL);
    EXPECT(tr_runtime_set_log_level(NULL, TR_LOG_WARN), TR_EINVAL);
    EXPECT(tr_runtime_log_level(NULL), TR_LOG_OFF);
    EXPECT(tr_dead_letter_target(NULL) == NULL, 1);
    tr_runtime *rt = new_rt(1);
    assert_non_null(rt);
    EXPECT(tr_runtime_set_log_level(rt, (tr_log_level)6), TR_EINVAL);
    EXPECT(tr_runtime_set_log_level(rt, (tr_log_level)-1), TR_EINVAL);
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, 1, 0), 0);
    EXPECT(tr_dead_letter_target(m) == NULL, 1); /* not inside a hook */
    tr_msg_free(m);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(mismatches, 0);
}

/* --- introspect.h and console.h ------------------------------------------ */

static void snapshot_and_metrics_calls_refuse_bad_arguments(void **state) {
    (void)state;
    mismatches = 0;
    tr_snapshot *snap = (tr_snapshot *)(uintptr_t)1;
    EXPECT(tr_snapshot_take(NULL, &snap), TR_EINVAL);
    tr_runtime *rt = new_rt(1);
    assert_non_null(rt);
    EXPECT(tr_snapshot_take(rt, NULL), TR_EINVAL);
    tr_snapshot_free(NULL);
    EXPECT(tr_snapshot_find(NULL, 1) == NULL, 1);
    char buf[64];
    size_t need = 0;
    EXPECT(tr_snapshot_format(NULL, buf, sizeof(buf), &need), TR_EINVAL);
    EXPECT(tr_runtime_set_metrics(NULL, TR_METRICS_BASIC), TR_EINVAL);
    EXPECT(tr_runtime_set_metrics(rt, 3), TR_EINVAL);
    EXPECT(tr_runtime_set_metrics(rt, -1), TR_EINVAL);
    EXPECT(tr_runtime_metrics(NULL), TR_EINVAL);
    EXPECT(tr_hist_quantile(NULL, 0.5), 0);
    uint32_t hist[TR_HIST_BUCKETS] = {0};
    hist[3] = 10;
    EXPECT(tr_hist_quantile(hist, NAN) <= (1ull << 4), 1);
    EXPECT(tr_hist_quantile(hist, -1.0) <= (1ull << 4), 1);
    EXPECT(tr_hist_quantile(hist, 7.0) <= (1ull << 4), 1);
    hist[63] = UINT32_MAX; /* the last bucket, full */
    EXPECT(tr_hist_quantile(hist, 1.0) > 0, 1);

    assert_int_equal(tr_snapshot_take(rt, &snap), 0);
    EXPECT(tr_snapshot_find(snap, 0) == NULL, 1);
    EXPECT(tr_snapshot_find(snap, UINT64_MAX) == NULL, 1);
    EXPECT(tr_snapshot_format(snap, NULL, 5, &need), TR_EINVAL);
    EXPECT(tr_snapshot_format(snap, NULL, 0, &need), TR_E2BIG);
    EXPECT(need > 0, 1);
    EXPECT(tr_snapshot_format(snap, NULL, 0, NULL), TR_E2BIG);
    EXPECT(tr_snapshot_format(snap, buf, 1, NULL), TR_E2BIG);
    EXPECT(buf[0], 0);
    tr_snapshot_free(snap);

    EXPECT(tr_metrics_prometheus(NULL, buf, sizeof(buf), &need), TR_EINVAL);
    EXPECT(tr_metrics_prometheus(rt, NULL, 5, &need), TR_EINVAL);
    EXPECT(tr_metrics_prometheus(rt, NULL, 0, &need), TR_E2BIG);
    EXPECT(need > 0, 1);
    EXPECT(tr_metrics_prometheus(rt, buf, 1, NULL), TR_E2BIG);
    EXPECT(buf[0], 0);

    /* A closed runtime (not freed yet) still answers. */
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    EXPECT(tr_snapshot_take(rt, &snap), 0);
    if (mismatches == 0) {
        EXPECT(snap->runtime.closed, 1);
        tr_snapshot_free(snap);
    }
    EXPECT(tr_metrics_prometheus(rt, NULL, 0, &need), TR_E2BIG);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(mismatches, 0);
}

/* --- runtime.h: drain, run, block_on, pins -------------------------------- */

static void runtime_calls_refuse_bad_arguments(void **state) {
    (void)state;
    mismatches = 0;
    tr_drain_stats ds;
    EXPECT(tr_runtime_drain(NULL, 10, &ds), TR_EINVAL);
    EXPECT(tr_runtime_drain_async(NULL, 10), TR_EINVAL);
    EXPECT(tr_runtime_drain_stats(NULL, &ds), TR_EINVAL);
    EXPECT(tr_runtime_drain_on_signals(NULL, 10), TR_EINVAL);
    EXPECT(tr_runtime_run(NULL), TR_EINVAL);
    tr_msg *reply = (tr_msg *)(uintptr_t)1;
    EXPECT(tr_runtime_block_on(NULL, NULL, 0, &reply), TR_EINVAL);
    EXPECT(tr_runtime_worker_id(NULL), TR_EINVAL);
    EXPECT(tr_runtime_stats_get(NULL, NULL), TR_EINVAL);
    EXPECT(tr_runtime_is_closed(NULL), 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    tr_runtime *rt = (tr_runtime *)(uintptr_t)1;
    cfg.mode = 7;
    EXPECT(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    cfg.mode = TR_RUNTIME_CURRENT_THREAD;
    cfg.workers = 2; /* current-thread: workers must be 0 */
    EXPECT(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    EXPECT(tr_runtime_new(NULL, &cfg), TR_EINVAL);

    rt = new_rt(1);
    assert_non_null(rt);
    EXPECT(tr_runtime_drain(rt, -1, &ds), TR_EINVAL);
    EXPECT(tr_runtime_drain_async(rt, -1), TR_EINVAL);
    EXPECT(tr_runtime_drain_on_signals(rt, -1), TR_EINVAL);
    EXPECT(tr_runtime_drain_stats(rt, &ds), TR_ESTATE);
    EXPECT(tr_runtime_drain_stats(rt, NULL), TR_EINVAL);
    EXPECT(tr_runtime_run(rt), TR_EINVAL); /* multi-threaded, no main loop */
    EXPECT(tr_runtime_worker_id(rt), TR_ENOTFOUND);
    tr_ref *ref = (tr_ref *)(uintptr_t)1;
    tr_spawn_opts o = {.pin = 9};
    EXPECT(tr_spawn(rt, &ignore_beh, &o, &ref), TR_EINVAL);
    o.pin = TR_PIN_MAIN; /* no main loop */
    EXPECT(tr_spawn(rt, &ignore_beh, &o, &ref), TR_EINVAL);
    EXPECT(tr_runtime_block_on(rt, NULL, 0, &reply), TR_EINVAL);
    /* A future of another runtime. */
    tr_runtime *other = new_rt(1);
    assert_non_null(other);
    tr_ref *oref;
    assert_int_equal(tr_spawn(other, &ignore_beh, NULL, &oref), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(oref, 1, 0, &f), 0);
    EXPECT(tr_runtime_block_on(rt, f, 0, &reply), TR_EINVAL);
    EXPECT(tr_runtime_block_on(other, f, 1000, NULL), TR_EINVAL);
    tr_future_release(f);
    tr_ref_release(oref);
    assert_int_equal(tr_runtime_free(other), 0);

    /* Drain twice, then everything after it. */
    EXPECT(tr_runtime_drain(rt, 1000, &ds), 0);
    EXPECT(tr_runtime_drain(rt, 1000, &ds), TR_ECLOSED);
    EXPECT(tr_runtime_drain_async(rt, 1000), TR_ECLOSED);
    EXPECT(tr_runtime_drain_stats(rt, &ds), 0);
    EXPECT(tr_runtime_close(rt), 0); /* idempotent */
    EXPECT(tr_runtime_drain_on_signals(rt, 10), TR_ECLOSED);
    EXPECT(tr_runtime_run(rt), TR_EINVAL);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(mismatches, 0);
}

/* --- ipool.h --------------------------------------------------------------- */

static int echo_job(void *user, const tr_ipool_job *job, tr_ibuf *reply) {
    (void)user, (void)job, (void)reply;
    return 0;
}

static void ipool_calls_refuse_bad_arguments(void **state) {
    (void)state;
    mismatches = 0;
    EXPECT(tr_ibuf_set(NULL, 1, 2), TR_EINVAL);
    EXPECT(tr_ibuf_append(NULL, "x", 1), TR_EINVAL);
    EXPECT(tr_ipool_register(NULL, echo_job, NULL), TR_EINVAL);
    EXPECT(tr_ipool_register("", echo_job, NULL), TR_EINVAL);
    EXPECT(tr_ipool_register("noop", NULL, NULL), TR_EINVAL);
    char longname[100];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    EXPECT(tr_ipool_register(longname, echo_job, NULL), TR_EINVAL);
    longname[63] = 0; /* 63 bytes: allowed */
    EXPECT(tr_ipool_register(longname, echo_job, NULL), 0);
    EXPECT(tr_ipool_register(longname, echo_job, NULL), TR_EEXIST);
    EXPECT(tr_ipool_main(0, NULL), 0);
    char *args[] = {"prog", NULL};
    EXPECT(tr_ipool_main(1, args), 0);
    tr_ipool_config_init(NULL); /* no crash */
    tr_ipool_config ic;
    tr_ipool_config_init(&ic);
    tr_runtime *rt = new_rt(1);
    assert_non_null(rt);
    tr_ref *pool = (tr_ref *)(uintptr_t)1;
    EXPECT(tr_ipool_start(NULL, &ic, &pool), TR_EINVAL);
    EXPECT(tr_ipool_start(rt, NULL, &pool), TR_EINVAL);
    EXPECT(tr_ipool_start(rt, &ic, NULL), TR_EINVAL);
    EXPECT(tr_ipool_start(rt, &ic, &pool), TR_EINVAL); /* no entry */
    ic.entry = "not-registered";
    EXPECT(tr_ipool_start(rt, &ic, &pool), TR_EINVAL);
    ic.entry = longname;
    ic.pool.routing = (tr_route)99; /* no such routing */
    EXPECT(tr_ipool_start(rt, &ic, &pool), TR_EINVAL);
    ic.pool.routing = TR_ROUTE_ROUND_ROBIN;
    ic.max_inflight = 5000;
    EXPECT(tr_ipool_start(rt, &ic, &pool), TR_EINVAL);
    ic.max_inflight = 0;
    ic.pool.workers = 100000;
    EXPECT(tr_ipool_start(rt, &ic, &pool), TR_EINVAL);
    EXPECT(tr_ipool_start_as_child(rt, NULL, &pool), TR_EINVAL);
    assert_int_equal(tr_runtime_close(rt), 0);
    ic.pool.workers = 1;
    EXPECT(tr_ipool_start(rt, &ic, &pool), TR_ECLOSED);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(mismatches, 0);
}

/* --- blocking.h ------------------------------------------------------------ */

static int noop_task(void *arg, void **result) {
    (void)arg, (void)result;
    return 0;
}

static void blocking_calls_refuse_bad_arguments(void **state) {
    (void)state;
    mismatches = 0;
    tr_future *f = (tr_future *)(uintptr_t)1;
    tr_blocking_stats bs;
    EXPECT(tr_blocking_configure(NULL, 1, 1), TR_EINVAL);
    EXPECT(tr_blocking_run(NULL, 1, 0, noop_task, NULL, NULL), TR_EINVAL);
    EXPECT(tr_blocking_ask(NULL, noop_task, NULL, NULL, &f), TR_EINVAL);
    EXPECT(tr_blocking_stats_get(NULL, &bs), TR_EINVAL);
    tr_runtime *rt = new_rt(1);
    assert_non_null(rt);
    EXPECT(tr_blocking_configure(rt, 1025, 1), TR_EINVAL);
    EXPECT(tr_blocking_configure(rt, 1, UINT64_MAX), 0);
    EXPECT(tr_blocking_ask(rt, NULL, NULL, NULL, &f), TR_EINVAL);
    EXPECT(tr_blocking_ask(rt, noop_task, NULL, NULL, NULL), TR_EINVAL);
    EXPECT(tr_blocking_stats_get(rt, NULL), TR_EINVAL);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &ignore_beh, NULL, &ref), 0);
    EXPECT(tr_blocking_run(ref, TR_MSG_SYSTEM, 0, noop_task, NULL, NULL), TR_EINVAL);
    EXPECT(tr_blocking_run(ref, 1, 0, NULL, NULL, NULL), TR_EINVAL);
    /* A stale handle: its actor stopped, the handle still held. */
    tr_ref *stale;
    assert_int_equal(tr_spawn(rt, &ignore_beh, NULL, &stale), 0);
    assert_int_equal(tr_actor_stop(stale), 0);
    while (tr_ref_is_alive(stale))
        tu_sleep_ms(1);
    EXPECT(tr_blocking_run(stale, 1, 0, noop_task, NULL, NULL), TR_EDEAD);
    tr_snapshot *snap;
    assert_int_equal(tr_snapshot_take(rt, &snap), 0);
    EXPECT(tr_snapshot_find(snap, tr_ref_id(stale)) == NULL, 1); /* not shown */
    tr_snapshot_free(snap);
    tr_ref_release(stale);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    EXPECT(tr_blocking_configure(rt, 1, 1), TR_ECLOSED);
    EXPECT(tr_blocking_run(ref, 1, 0, noop_task, NULL, NULL), TR_ECLOSED);
    EXPECT(tr_blocking_ask(rt, noop_task, NULL, NULL, &f), TR_ECLOSED);
    EXPECT(tr_blocking_stats_get(rt, &bs), 0);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(mismatches, 0);
}

/* --- calls from inside callbacks ------------------------------------------- */

static tr_ref *g_sink;          /* a live actor the hooks send to */
static uint64_t sink_got;       /* messages the sink received */
static uint64_t hook_calls;     /* log hook calls */
static int64_t hook_rc[8];      /* results of the calls made inside the hook */
static uint64_t dl_calls;       /* dead-letter hook calls */
static int64_t dl_to_target_rc; /* a send to the dead target from the hook */
static int64_t dl_to_sink_rc;

static int sink_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    tu_add(&sink_got, 1);
    return 0;
}
static const tr_behavior sink_beh = {NULL, sink_receive, NULL};

static void busy_log_hook(void *user, const tr_log_record *rec) {
    tr_runtime *rt = user;
    (void)rec;
    if (tu_add(&hook_calls, 1) != 1)
        return; /* the first record is enough */
    tr_snapshot *snap = NULL;
    size_t need = 0;
    __atomic_store_n(&hook_rc[0], tr_runtime_set_logger(rt, NULL, NULL), __ATOMIC_SEQ_CST);
    __atomic_store_n(&hook_rc[1], tr_send_word(g_sink, 1, 0), __ATOMIC_SEQ_CST);
    __atomic_store_n(&hook_rc[2], tr_snapshot_take(rt, &snap), __ATOMIC_SEQ_CST);
    tr_snapshot_free(snap);
    __atomic_store_n(&hook_rc[3], tr_metrics_prometheus(rt, NULL, 0, &need), __ATOMIC_SEQ_CST);
    __atomic_store_n(&hook_rc[4], tr_runtime_set_log_level(rt, TR_LOG_DEBUG), __ATOMIC_SEQ_CST);
    __atomic_store_n(&hook_rc[5], tr_runtime_set_metrics(rt, TR_METRICS_TIMING), __ATOMIC_SEQ_CST);
}

static int crash_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return -1; /* a crash: reported */
}
static const tr_behavior crash_beh = {NULL, crash_receive, NULL};

static void a_log_hook_may_send_snapshot_and_relevel_but_not_reset_the_logger(void **state) {
    (void)state;
    tu_store(&hook_calls, 0);
    tu_store(&sink_got, 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.keep_open = 1;
    cfg.log_fn = busy_log_hook;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    /* The hook's user data: the runtime, set now that it exists. */
    assert_int_equal(tr_runtime_set_logger(rt, busy_log_hook, rt), 0);
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &g_sink), 0);
    tr_ref *c;
    assert_int_equal(tr_spawn(rt, &crash_beh, NULL, &c), 0);
    assert_int_equal(tr_send_word(c, 1, 0), 0);
    assert_true(tu_wait_ge(&hook_calls, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&sink_got, 1, TU_WAIT_MS));
    tr_ref_release(c);
    tr_ref_release(g_sink);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(__atomic_load_n(&hook_rc[0], __ATOMIC_SEQ_CST), TR_EDEADLK);
    assert_int_equal(__atomic_load_n(&hook_rc[1], __ATOMIC_SEQ_CST), 0);
    assert_int_equal(__atomic_load_n(&hook_rc[2], __ATOMIC_SEQ_CST), 0);
    assert_int_equal(__atomic_load_n(&hook_rc[3], __ATOMIC_SEQ_CST), TR_E2BIG);
    assert_int_equal(__atomic_load_n(&hook_rc[4], __ATOMIC_SEQ_CST), 0);
    assert_int_equal(__atomic_load_n(&hook_rc[5], __ATOMIC_SEQ_CST), 0);
}

/* The dead-letter hook sends to the very actor the message was for (it is
 * gone: TR_EDEAD, and no second dead letter, no recursion) and to a live one. */
static void dl_hook(void *user, const tr_msg *msg, int why) {
    (void)user, (void)why;
    tu_add(&dl_calls, 1);
    tr_ref *target = tr_dead_letter_target(msg);
    if (target != NULL && msg->type == 7) {
        __atomic_store_n(&dl_to_target_rc, tr_send_word(target, 7, 1), __ATOMIC_SEQ_CST);
        __atomic_store_n(&dl_to_sink_rc, tr_send_word(g_sink, 1, 0), __ATOMIC_SEQ_CST);
    }
}

static int stop_on_first(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state, (void)msg;
    tr_stop(ctx);
    return 0;
}
static const tr_behavior stop_beh = {NULL, stop_on_first, NULL};

static void a_dead_letter_hook_sending_to_the_dead_target_gets_edead(void **state) {
    (void)state;
    tu_store(&dl_calls, 0);
    tu_store(&sink_got, 0);
    __atomic_store_n(&dl_to_target_rc, 1, __ATOMIC_SEQ_CST);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.dead_letter = dl_hook;
    cfg.log_level = TR_LOG_OFF;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &g_sink), 0);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &stop_beh, NULL, &a), 0);
    /* Both queued before the first is handled (one send each, in order):
     * the second is dead-lettered when the actor stops. */
    tr_msg *two[2];
    assert_int_equal(tr_msg_new(&two[0], 1, 0), 0);
    assert_int_equal(tr_msg_new(&two[1], 7, 0), 0);
    assert_int_equal(tr_send_batch(a, two, 2), 0);
    assert_true(tu_wait_ge(&dl_calls, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&sink_got, 1, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&dl_calls), 1); /* the refused send made no second one */
    assert_int_equal(__atomic_load_n(&dl_to_target_rc, __ATOMIC_SEQ_CST), TR_EDEAD);
    assert_int_equal(__atomic_load_n(&dl_to_sink_rc, __ATOMIC_SEQ_CST), 0);
    tr_ref_release(a);
    tr_ref_release(g_sink);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* Inside an actor: the snapshot and the Prometheus text work; the calls that
 * wait for the runtime refuse with TR_EDEADLK. */
static int64_t in_actor_rc[10];
static uint64_t in_actor_done;

static int probe_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state, (void)msg;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    tr_snapshot *snap = NULL;
    int64_t *r = in_actor_rc;
    r[0] = tr_snapshot_take(rt, &snap);
    if (snap != NULL) /* the actor itself is in it, RUNNING */
        r[1] = tr_snapshot_find(snap, tr_ref_id(tr_self(ctx))) != NULL ? 0 : -100;
    tr_snapshot_free(snap);
    char buf[64];
    size_t need = 0;
    r[2] = tr_metrics_prometheus(rt, buf, sizeof(buf), &need);
    r[3] = tr_runtime_drain(rt, 10, NULL);
    r[4] = tr_runtime_run(rt);
    tr_future *f;
    if (tr_ask_word(g_sink, 1, 0, &f) == 0) {
        tr_msg *reply = NULL;
        r[5] = tr_runtime_block_on(rt, f, 10, &reply);
        tr_future_release(f);
    }
    r[6] = tr_runtime_join(rt);
    r[7] = tr_runtime_free(rt);
    r[8] = tr_runtime_set_log_level(rt, TR_LOG_WARN);
    tu_add(&in_actor_done, 1);
    return 0;
}
static const tr_behavior probe_beh = {NULL, probe_receive, NULL};

static void inside_an_actor_waiting_calls_refuse_and_reading_calls_work(void **state) {
    (void)state;
    tu_store(&in_actor_done, 0);
    tr_runtime *rt = new_rt(2);
    assert_non_null(rt);
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &g_sink), 0);
    tr_ref *p;
    assert_int_equal(tr_spawn(rt, &probe_beh, NULL, &p), 0);
    assert_int_equal(tr_send_word(p, 1, 0), 0);
    assert_true(tu_wait_ge(&in_actor_done, 1, TU_WAIT_MS));
    tr_ref_release(p);
    tr_ref_release(g_sink);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(in_actor_rc[0], 0);
    assert_int_equal(in_actor_rc[1], 0);
    assert_int_equal(in_actor_rc[2], TR_E2BIG);
    assert_int_equal(in_actor_rc[3], TR_EDEADLK);
    assert_int_equal(in_actor_rc[4], TR_EINVAL); /* no main loop: nothing to drive */
    assert_int_equal(in_actor_rc[5], TR_EDEADLK);
    assert_int_equal(in_actor_rc[6], TR_EDEADLK);
    assert_int_equal(in_actor_rc[7], TR_EDEADLK);
    assert_int_equal(in_actor_rc[8], 0);
}

/* --- the wrong thread: a second driver -------------------------------------- */

typedef struct driver {
    tr_runtime *rt;
    int rc;
} driver;

static void *run_main(void *arg) {
    driver *d = arg;
    d->rc = tr_runtime_run(d->rt);
    return NULL;
}

static uint64_t ct_started, ct_gate;
static int ct_probe(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    if (msg->type == 2) { /* hold the driver until the test has asked */
        tu_add(&ct_started, 1);
        while (!tu_load(&ct_gate))
            tu_sleep_ms(1);
    }
    if (msg->type == 1) {
        in_actor_rc[0] = tr_runtime_run(rt);
        in_actor_rc[1] = tr_runtime_block_on(rt, NULL, 0, NULL);
        in_actor_rc[2] = tr_runtime_drain(rt, 10, NULL);
        in_actor_rc[3] = tr_runtime_worker_id(rt);
        tu_add(&ct_started, 1);
    }
    return 0;
}
static const tr_behavior ct_beh = {NULL, ct_probe, NULL};

static void a_second_driver_of_a_current_thread_runtime_gets_ebusy(void **state) {
    (void)state;
    tu_store(&ct_started, 0);
    tu_store(&ct_gate, 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.mode = TR_RUNTIME_CURRENT_THREAD;
    cfg.keep_open = 1;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &ct_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, 1, 0), 0);
    driver d = {.rt = rt, .rc = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_main, &d), 0);
    assert_true(tu_wait_ge(&ct_started, 1, TU_WAIT_MS));
    /* The first driver is inside tr_runtime_run now; the ask holds it in
     * the handler, so f stays unsettled while we try to drive. */
    assert_int_equal(tr_runtime_run(rt), TR_EBUSY);
    tr_future *f;
    assert_int_equal(tr_ask_word(a, 2, 0, &f), 0);
    assert_true(tu_wait_ge(&ct_started, 2, TU_WAIT_MS));
    tr_msg *reply = NULL;
    assert_int_equal(tr_runtime_block_on(rt, f, 100, &reply), TR_EBUSY);
    tu_store(&ct_gate, 1);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_ENOREPLY); /* driven by run */
    tr_future_release(f);
    assert_int_equal(tr_runtime_close(rt), 0);
    pthread_join(t, NULL);
    assert_int_equal(d.rc, 0);
    assert_int_equal(tr_runtime_run(rt), TR_ECLOSED); /* it has exited */
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(in_actor_rc[0], TR_EDEADLK);
    assert_int_equal(in_actor_rc[1], TR_EINVAL);
    assert_int_equal(in_actor_rc[2], TR_EDEADLK);
    assert_int_equal(in_actor_rc[3], 0);
}

/* --- re-entrancy: two drains, a close during a drain ------------------------- */

typedef struct drainer {
    tr_runtime *rt;
    int rc;
    tr_drain_stats st;
} drainer;

static void *drain_main(void *arg) {
    drainer *d = arg;
    d->rc = tr_runtime_drain(d->rt, 2000, &d->st);
    return NULL;
}

static uint64_t slow_gate;
static int slow_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    while (tu_load(&slow_gate) == 0)
        tu_sleep_ms(1);
    return 0;
}
static const tr_behavior slow_beh = {NULL, slow_receive, NULL};

static int drain_began(void *rt) {
    return tr_runtime_is_closed(rt);
}

static void two_drains_at_once_one_runs_and_a_close_ends_it(void **state) {
    (void)state;
    tu_store(&slow_gate, 0);
    tr_runtime *rt = new_rt(2);
    assert_non_null(rt);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &slow_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, 1, 0), 0); /* busy until the gate opens */
    drainer d[2] = {{.rt = rt, .rc = 1}, {.rt = rt, .rc = 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, drain_main, &d[i]), 0);
    assert_true(tu_wait_until(drain_began, rt, TU_WAIT_MS)); /* one drain has begun */
    assert_int_equal(tr_runtime_drain_stats(rt, NULL), TR_EINVAL);
    tr_drain_stats ds;
    int rc = tr_runtime_drain_stats(rt, &ds);
    assert_true(rc == TR_EBUSY);
    assert_int_equal(tr_runtime_close(rt), 0); /* ends the drain early */
    tu_store(&slow_gate, 1);                   /* the handler may finish now */
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* One drain ran (0) and the other was refused. */
    assert_true((d[0].rc == 0 && (d[1].rc == TR_EALREADY || d[1].rc == TR_ECLOSED)) ||
                (d[1].rc == 0 && (d[0].rc == TR_EALREADY || d[0].rc == TR_ECLOSED)));
    assert_int_equal(tr_runtime_drain_stats(rt, &ds), 0);
    assert_int_equal(tr_runtime_drain(rt, 10, NULL), TR_ECLOSED);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- console endpoint paths --------------------------------------------------- */

static int count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static int console_rt(const char *path, tr_runtime **rt) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.console_path = path;
    *rt = (tr_runtime *)(uintptr_t)1;
    int rc = tr_runtime_new(rt, &cfg);
    if (rc != 0 && *rt != NULL)
        return -1000; /* *out must not be left pointing anywhere */
    return rc;
}

/* A listener in another process, not a troupe runtime. */
static pid_t listen_elsewhere(const char *path) {
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        strcpy(sa.sun_path, path);
        char ok =
            (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0)
                ? 1
                : 0;
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ok = 0;
    if (pid < 0 || read(p[0], &ok, 1) != 1 || !ok)
        pid = -1;
    close(p[0]);
    return pid;
}

static void console_paths_that_cannot_serve_fail_with_their_code_and_leave_nothing(void **state) {
    (void)state;
    mismatches = 0;
    char dir[] = "/tmp/troupe-contracts-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    tr_runtime *rt;
    int fds = count_fds();

    /* Too long: 108 bytes do not fit sun_path with its NUL; 107 do. */
    char longp[300];
    memset(longp, 'a', sizeof(longp));
    snprintf(longp, sizeof(longp), "%s/", dir);
    longp[strlen(longp)] = 'a';
    longp[108] = 0;
    EXPECT(console_rt(longp, &rt), TR_EINVAL);
    longp[200] = 0;
    memset(longp + 108, 'a', 92);
    EXPECT(console_rt(longp, &rt), TR_EINVAL);
    longp[107] = 0;
    EXPECT(console_rt(longp, &rt), 0);
    if (mismatches == 0) {
        assert_int_equal(tr_runtime_free(rt), 0);
        EXPECT(access(longp, F_OK), -1); /* removed at free */
    }
    /* A missing folder; a folder at the path; a regular file (left alone). */
    snprintf(path, sizeof(path), "%s/missing/c.sock", dir);
    EXPECT(console_rt(path, &rt), TR_ESYS);
    snprintf(path, sizeof(path), "%s/adir", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    EXPECT(console_rt(path, &rt), TR_EEXIST);
    EXPECT(rmdir(path), 0);
    snprintf(path, sizeof(path), "%s/afile", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("keep me", fp);
    fclose(fp);
    EXPECT(console_rt(path, &rt), TR_EEXIST);
    struct stat st;
    EXPECT(stat(path, &st), 0);
    EXPECT(st.st_size, 7);
    unlink(path);
    /* A socket another process listens on: TR_EBUSY, its file left alone. */
    snprintf(path, sizeof(path), "%s/held.sock", dir);
    pid_t other = listen_elsewhere(path);
    assert_true(other > 0);
    EXPECT(console_rt(path, &rt), TR_EBUSY);
    EXPECT(access(path, F_OK), 0);
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    /* Its listener gone, the socket file is stale: replaced. */
    EXPECT(console_rt(path, &rt), 0);
    if (mismatches == 0)
        assert_int_equal(tr_runtime_free(rt), 0);
    EXPECT(count_fds(), fds); /* no fd left by any failure */
    unlink(path);
    rmdir(dir);
    assert_int_equal(mismatches, 0);
}

/* --- a runtime of the parent, in a fork child ---------------------------------- */

#define CHILD_CHECK(call, want)                                                                    \
    do {                                                                                           \
        long got_ = (long)(call);                                                                  \
        if (got_ != (long)(want)) {                                                                \
            fprintf(stderr, "child: line %d: %s returned %ld, expected %ld\n", __LINE__, #call,    \
                    got_, (long)(want));                                                           \
            bad++;                                                                                 \
        }                                                                                          \
    } while (0)

static void the_evening_calls_on_a_parents_runtime_return_eforked(void **state) {
    (void)state;
    int reg = tr_ipool_register("evening-noop", echo_job, NULL);
    assert_true(reg == 0 || reg == TR_EEXIST);
    tr_runtime *rt = new_rt(2);
    assert_non_null(rt);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &a), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(a, 1, 0, &f), 0); /* never answered: settles ENOREPLY */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a hang fails the test */
        int bad = 0;
        tr_snapshot *snap = NULL;
        size_t need;
        char buf[16];
        tr_drain_stats ds;
        tr_blocking_stats bs;
        tr_future *g;
        tr_msg *reply;
        tr_ref *r;
        tr_ipool_config ic;
        tr_ipool_config_init(&ic);
        ic.entry = "evening-noop";
        tr_spawn_opts o = {.pin = TR_PIN_THREAD};
        CHILD_CHECK(tr_snapshot_take(rt, &snap), TR_EFORKED);
        CHILD_CHECK(snap == NULL, 1);
        CHILD_CHECK(tr_metrics_prometheus(rt, buf, sizeof(buf), &need), TR_EFORKED);
        CHILD_CHECK(tr_runtime_set_logger(rt, NULL, NULL), TR_EFORKED);
        CHILD_CHECK(tr_runtime_set_log_level(rt, TR_LOG_DEBUG), TR_EFORKED);
        CHILD_CHECK(tr_runtime_set_metrics(rt, TR_METRICS_TIMING), TR_EFORKED);
        CHILD_CHECK(tr_runtime_drain_stats(rt, &ds), TR_EFORKED);
        CHILD_CHECK(tr_runtime_drain_on_signals(rt, 10), TR_EFORKED);
        CHILD_CHECK(tr_runtime_run(rt), TR_EFORKED);
        CHILD_CHECK(tr_runtime_block_on(rt, f, 10, &reply), TR_EFORKED);
        CHILD_CHECK(tr_blocking_configure(rt, 2, 10), TR_EFORKED);
        CHILD_CHECK(tr_blocking_run(a, 1, 0, noop_task, NULL, NULL), TR_EFORKED);
        CHILD_CHECK(tr_blocking_ask(rt, noop_task, NULL, NULL, &g), TR_EFORKED);
        CHILD_CHECK(tr_blocking_stats_get(rt, &bs), TR_EFORKED);
        CHILD_CHECK(tr_ipool_start(rt, &ic, &r), TR_EFORKED);
        CHILD_CHECK(tr_spawn(rt, &sink_beh, &o, &r), TR_EFORKED);
        CHILD_CHECK(tr_runtime_worker_id(rt), TR_ENOTFOUND);
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    tr_future_release(f);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* --- the wrong thread: a pinned actor's own thread, the main loop's ------------ */

static int64_t pin_rc[2][6];
static uint64_t pin_done;

static int pinned_probe(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    int64_t *r = pin_rc[msg->word];
    tr_runtime *rt = tr_ctx_runtime(ctx);
    r[0] = tr_runtime_drain(rt, 10, NULL);
    r[1] = tr_runtime_run(rt);
    tr_future *f;
    if (tr_ask_word(g_sink, 1, 0, &f) == 0) {
        tr_msg *reply = NULL;
        r[2] = tr_runtime_block_on(rt, f, 10, &reply);
        r[3] = tr_future_wait(f, 10, &reply);
        tr_future_release(f);
    }
    r[4] = tr_runtime_join(rt);
    r[5] = tr_runtime_worker_id(rt);
    tu_add(&pin_done, 1);
    return 0;
}
static const tr_behavior pinned_beh = {NULL, pinned_probe, NULL};

static void waiting_calls_from_pinned_actors_refuse_with_edeadlk(void **state) {
    (void)state;
    tu_store(&pin_done, 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.main_loop = 1;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &g_sink), 0);
    tr_ref *p[2];
    tr_spawn_opts o[2] = {{.pin = TR_PIN_THREAD}, {.pin = TR_PIN_MAIN}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(tr_spawn(rt, &pinned_beh, &o[i], &p[i]), 0);
    assert_int_equal(tr_send_word(p[0], 1, 0), 0);
    /* The main loop's actor runs while this thread drives: an ask to it,
     * settled (TR_ENOREPLY) once its handler returns. */
    tr_future *f;
    assert_int_equal(tr_ask_word(p[1], 1, 1, &f), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_runtime_block_on(rt, f, TU_WAIT_MS, &reply), TR_ENOREPLY);
    tr_future_release(f);
    assert_true(tu_wait_ge(&pin_done, 2, TU_WAIT_MS));
    for (int i = 0; i < 2; i++)
        tr_ref_release(p[i]);
    tr_ref_release(g_sink);
    assert_int_equal(tr_runtime_free(rt), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pin_rc[i][0], TR_EDEADLK);
        assert_int_equal(pin_rc[i][1], TR_EDEADLK);
        assert_int_equal(pin_rc[i][2], TR_EDEADLK);
        assert_int_equal(pin_rc[i][3], TR_EDEADLK);
        assert_int_equal(pin_rc[i][4], TR_EDEADLK);
        assert_int_equal(pin_rc[i][5], TR_ENOTFOUND);
    }
}

/* --- a dead-letter hook reading the runtime while it shuts down ------------- */

static uint64_t dl_snap_calls, dl_snap_bad;

static void snapshot_dl_hook(void *user, const tr_msg *msg, int why) {
    (void)msg, (void)why;
    tr_runtime *rt = *(tr_runtime **)user;
    tr_snapshot *snap = NULL;
    int rc = tr_snapshot_take(rt, &snap);
    if (rc == 0)
        tr_snapshot_free(snap);
    size_t need;
    int prc = tr_metrics_prometheus(rt, NULL, 0, &need);
    tu_add(&dl_snap_calls, 1);
    if ((rc != 0 && rc != TR_ENOMEM) || (prc != TR_E2BIG && prc != TR_ENOMEM))
        tu_add(&dl_snap_bad, 1);
}

static uint64_t hold_gate, holding;
static int hold_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state;
    if (msg->type == 1) {
        tu_add(&holding, 1);
        while (!tu_load(&hold_gate))
            tu_sleep_ms(1);
    }
    return 0;
}
static const tr_behavior hold_beh = {NULL, hold_receive, NULL};

static void *open_hold_gate(void *arg) {
    (void)arg;
    tu_sleep_ms(50);
    tu_store(&hold_gate, 1);
    return NULL;
}

/* Messages still queued at tr_runtime_free are dead-lettered on the freeing
 * thread; a hook that snapshots the runtime then must see a runtime that
 * is still whole. */
static void a_dead_letter_hook_may_snapshot_the_runtime_during_its_free(void **state) {
    (void)state;
    tu_store(&dl_snap_calls, 0);
    tu_store(&dl_snap_bad, 0);
    tu_store(&hold_gate, 0);
    tu_store(&holding, 0);
    static tr_runtime *rt;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.dead_letter = snapshot_dl_hook;
    cfg.user_data = &rt;
    cfg.log_level = TR_LOG_OFF;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &hold_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, 1, 0), 0);
    assert_true(tu_wait_ge(&holding, 1, TU_WAIT_MS));
    for (int i = 0; i < 10; i++)
        assert_int_equal(tr_send_word(a, 2, (uint64_t)i), 0);
    tr_ref_release(a);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_hold_gate, NULL), 0);
    assert_int_equal(tr_runtime_free(rt), 0); /* close: the 10 are dead-lettered */
    pthread_join(t, NULL);
    assert_int_equal(tu_load(&dl_snap_calls), 10);
    assert_int_equal(tu_load(&dl_snap_bad), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_calls_refuse_bad_arguments),
        cmocka_unit_test(snapshot_and_metrics_calls_refuse_bad_arguments),
        cmocka_unit_test(runtime_calls_refuse_bad_arguments),
        cmocka_unit_test(ipool_calls_refuse_bad_arguments),
        cmocka_unit_test(blocking_calls_refuse_bad_arguments),
        cmocka_unit_test(a_log_hook_may_send_snapshot_and_relevel_but_not_reset_the_logger),
        cmocka_unit_test(a_dead_letter_hook_sending_to_the_dead_target_gets_edead),
        cmocka_unit_test(inside_an_actor_waiting_calls_refuse_and_reading_calls_work),
        cmocka_unit_test(a_second_driver_of_a_current_thread_runtime_gets_ebusy),
        cmocka_unit_test(two_drains_at_once_one_runs_and_a_close_ends_it),
        cmocka_unit_test(console_paths_that_cannot_serve_fail_with_their_code_and_leave_nothing),
        cmocka_unit_test(the_evening_calls_on_a_parents_runtime_return_eforked),
        cmocka_unit_test(waiting_calls_from_pinned_actors_refuse_with_edeadlk),
        cmocka_unit_test(a_dead_letter_hook_may_snapshot_the_runtime_during_its_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
