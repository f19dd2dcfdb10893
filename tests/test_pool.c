/* tests/test_pool.c - supervised worker pools.
 *
 * One worker behaviour serves every test; the job type says what to do:
 * answer, crash (once per job id, or always), panic, block on a gate, nap.
 * Workers record into atomics (per-job attempts, the worker that saw each
 * key); the runtime's dead-letter hook counts dropped jobs. Per-slot counts
 * come from tr_pool_stats_get. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { JOB = 1, CRASH_ONCE, CRASH_ALWAYS, PANIC_ONCE, BLOCK, BLOCK_CRASH, NAP, KEYED };
#define NJOBS 1024

static uint64_t attempts[NJOBS];
static uint64_t key_worker[NJOBS];
static uint64_t key_mismatch;
static uint64_t done;
static uint64_t blocked;
static uint64_t gate;
static uint64_t dead;
static uint64_t stuck_reports;
static uint64_t inits, terms;
static uint64_t fake_now;
static tr_runtime *rt;
static tr_ref *keeper; /* keeps the runtime from closing by itself between pools */

static int idle_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static uint64_t fake_clock(void *user) {
    (void)user;
    return tu_load(&fake_now);
}

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type >= JOB && msg->type <= KEYED)
        tu_add(&dead, 1);
}

static void on_stuck(void *user, unsigned worker, uint64_t ms) {
    (void)user;
    (void)worker;
    (void)ms;
    tu_add(&stuck_reports, 1);
}

static int w_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&inits, 1);
    return 0;
}

static void w_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&terms, 1);
}

static void wait_gate(void) {
    tu_add(&blocked, 1);
    while (!tu_load(&gate))
        tu_sleep_ms(1);
}

static int w_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    uint64_t id = msg->word % NJOBS;
    switch (msg->type) {
    case CRASH_ONCE:
        if (tu_add(&attempts[id], 1) == 1)
            return TR_ECRASHED;
        break;
    case CRASH_ALWAYS:
        tu_add(&attempts[id], 1);
        return TR_ECRASHED;
    case PANIC_ONCE:
        if (tu_add(&attempts[id], 1) == 1)
            tr_panic(ctx, 7, "job panic");
        break;
    case BLOCK:
        wait_gate();
        break;
    case BLOCK_CRASH:
        if (tu_add(&attempts[id], 1) == 1) {
            wait_gate();
            return TR_ECRASHED;
        }
        break;
    case NAP:
        tu_sleep_ms((int64_t)msg->word);
        break;
    case KEYED: {
        uint64_t me = tr_ref_id(tr_self(ctx));
        uint64_t seen = tu_load(&key_worker[id]);
        if (seen == 0)
            tu_store(&key_worker[id], me);
        else if (seen != me)
            tu_add(&key_mismatch, 1);
        break;
    }
    default:
        break;
    }
    if (tr_msg_wants_reply(msg))
        tr_reply_word(msg, JOB, msg->word * 2);
    /* The pool owns the job: keeping it is refused. */
    if (tr_msg_keep(ctx, msg) != TR_ESTATE)
        return TR_EINVAL;
    tu_add(&done, 1);
    return 0;
}

static const tr_behavior worker = {w_init, w_receive, w_terminate};

static int setup(void **state) {
    (void)state;
    memset(attempts, 0, sizeof(attempts));
    memset(key_worker, 0, sizeof(key_worker));
    uint64_t *all[] = {&key_mismatch,  &done,  &blocked, &gate,    &dead,
                       &stuck_reports, &inits, &terms,   &fake_now};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 3; /* two may block in jobs while the router runs */
    cfg.dead_letter = on_dead;
    if (tr_runtime_new(&rt, &cfg) != 0)
        return -1;
    static const tr_behavior idle = {NULL, idle_receive, NULL};
    return tr_spawn(rt, &idle, NULL, &keeper);
}

static int teardown(void **state) {
    (void)state;
    tu_store(&gate, 1);
    tr_ref_release(keeper);
    tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

static tr_pool_config pool_cfg(unsigned workers, tr_route routing) {
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.workers = workers;
    cfg.routing = routing;
    cfg.behavior = &worker;
    return cfg;
}

static tr_ref *start(unsigned workers, tr_route routing) {
    tr_pool_config cfg = pool_cfg(workers, routing);
    tr_ref *p = NULL;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    return p;
}

typedef struct dead_arg {
    tr_ref *ref;
} dead_arg;

static int is_dead(void *arg) {
    return tr_ref_is_alive(((dead_arg *)arg)->ref) == 0;
}

static int wait_dead(tr_ref *ref) {
    dead_arg a = {ref};
    return tu_wait_until(is_dead, &a, TU_WAIT_MS);
}

/* Ask and wait; returns the reply word or -(error). */
static int64_t ask(tr_ref *p, uint32_t type, uint64_t word) {
    tr_future *f;
    int rc = tr_ask_word(p, type, word, &f);
    if (rc != 0)
        return rc;
    tr_msg *reply;
    rc = tr_future_wait(f, TU_WAIT_MS, &reply);
    tr_future_release(f);
    if (rc != 0)
        return rc;
    int64_t v = (int64_t)reply->word;
    tr_msg_free(reply);
    return v;
}

static void stats(tr_ref *p, tr_pool_stats *st, uint64_t *handled, size_t cap) {
    assert_int_equal(tr_pool_stats_get(p, st, handled, cap), 0);
}

/* Stats once the pool has counted `handled` jobs done (a worker counts a
 * job after its receive returns, so just after the reply or `done`). */
static void stats_after(tr_ref *p, uint64_t handled, tr_pool_stats *st, uint64_t *h, size_t cap) {
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    do
        stats(p, st, h, cap);
    while (st->handled < handled && tu_now_ms() < deadline);
    assert_int_equal(st->handled, handled);
}

/* Stats once the pool has counted `restarts` respawns. A crashed worker's
 * job reaches the router before the worker's DOWN, so the redelivered job
 * can be answered before the restart is counted. */
static void stats_restarted(tr_ref *p, uint64_t restarts, tr_pool_stats *st) {
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    do
        stats(p, st, NULL, 0);
    while (st->restarts < restarts && tu_now_ms() < deadline);
    assert_int_equal(st->restarts, restarts);
}

static void close_pool(tr_ref *p) {
    tr_ref_retain(p); /* a plain reference, to watch it end */
    assert_int_equal(tr_pool_release(p), 0);
    assert_true(wait_dead(p));
    tr_ref_release(p);
}

/* --- tests ----------------------------------------------------------------- */

static void bad_configs_return_einval(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(0, TR_ROUTE_ROUND_ROBIN);
    tr_ref *p = (tr_ref *)1;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), TR_EINVAL);
    assert_null(p);
    cfg = pool_cfg(2, (tr_route)42);
    assert_int_equal(tr_pool_start(rt, &cfg, &p), TR_EINVAL);
    cfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    cfg.behavior = NULL;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), TR_EINVAL);
    cfg = pool_cfg(4, TR_ROUTE_ROUND_ROBIN);
    cfg.max_workers = 2;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), TR_EINVAL);
    assert_int_equal(tr_pool_start(NULL, &cfg, &p), TR_EINVAL);
    assert_int_equal(tr_pool_close(NULL), TR_EINVAL);
    assert_int_equal(tr_pool_try_add_worker(NULL), TR_EINVAL);
    tr_pool_stats st;
    assert_int_equal(tr_pool_stats_get(NULL, &st, NULL, 0), TR_EINVAL);
}

static void ask_through_the_pool_handle_gets_the_reply(void **state) {
    (void)state;
    tr_ref *p = start(3, TR_ROUTE_ROUND_ROBIN);
    assert_int_equal(tu_load(&inits), 3);
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(ask(p, JOB, i), (int64_t)(2 * i));
    close_pool(p);
    assert_true(tu_wait_ge(&terms, 3, TU_WAIT_MS));
}

static void round_robin_spreads_jobs_evenly(void **state) {
    (void)state;
    tr_ref *p = start(4, TR_ROUTE_ROUND_ROBIN);
    for (uint64_t i = 0; i < 400; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    tr_pool_stats st;
    uint64_t h[4];
    stats_after(p, 400, &st, h, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(h[i], 100);
    assert_int_equal(st.jobs, 400);
    assert_int_equal(st.routed, 400);
    assert_int_equal(st.handled, 400);
    close_pool(p);
}

static void random_routing_handles_every_job(void **state) {
    (void)state;
    tr_ref *p = start(4, TR_ROUTE_RANDOM);
    for (uint64_t i = 0; i < 400; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    tr_pool_stats st;
    uint64_t h[4];
    stats_after(p, 400, &st, h, 4);
    assert_int_equal(h[0] + h[1] + h[2] + h[3], 400);
    close_pool(p);
}

static void smallest_mailbox_avoids_the_backed_up_worker(void **state) {
    (void)state;
    tr_ref *p = start(2, TR_ROUTE_SMALLEST_MAILBOX);
    /* Slot 0 takes a blocking job, then slot 1 one more blocking job... */
    assert_int_equal(tr_send_word(p, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocked, 1, TU_WAIT_MS));
    assert_int_equal(tr_send_word(p, BLOCK, 1), 0);
    assert_true(tu_wait_ge(&blocked, 2, TU_WAIT_MS));
    /* ...then jobs split evenly by queue length while both are blocked. */
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    tr_pool_stats st0; /* answered after the router routed all 100 (FIFO) */
    stats(p, &st0, NULL, 0);
    assert_int_equal(st0.routed, 102);
    tu_store(&gate, 1);
    tr_pool_stats st;
    uint64_t h[2];
    stats_after(p, 102, &st, h, 2);
    assert_int_equal(h[0], 51);
    assert_int_equal(h[1], 51);
    close_pool(p);
}

static void key_hash_sends_a_key_to_one_worker(void **state) {
    (void)state;
    tr_ref *p = start(4, TR_ROUTE_KEY_HASH);
    for (uint64_t i = 0; i < 800; i++)
        assert_int_equal(tr_send_word(p, KEYED, i % 50), 0);
    tr_pool_stats st;
    uint64_t h[4];
    stats_after(p, 800, &st, h, 4);
    assert_int_equal(tu_load(&key_mismatch), 0);
    int used = 0;
    for (int i = 0; i < 4; i++)
        used += h[i] > 0;
    assert_true(used > 1); /* 50 keys do not all hash to one slot */
    close_pool(p);
}

static void key_hash_keeps_the_slot_across_a_restart(void **state) {
    (void)state;
    tr_ref *p = start(4, TR_ROUTE_KEY_HASH);
    assert_int_equal(ask(p, JOB, 7), 14);
    tr_pool_stats st;
    uint64_t before[4], after[4];
    stats_after(p, 1, &st, before, 4);
    assert_int_equal(ask(p, CRASH_ONCE, 7), 14); /* same key: crash, respawn, redeliver */
    stats_restarted(p, 1, &st);
    stats_after(p, 2, &st, after, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(after[i] - before[i], before[i] != 0 ? 1 : 0);
    close_pool(p);
}

static void broadcast_reaches_every_worker(void **state) {
    (void)state;
    tr_ref *p = start(4, TR_ROUTE_BROADCAST);
    assert_int_equal(ask(p, JOB, 21), 42); /* the original's asker gets one answer */
    tr_pool_stats st;
    uint64_t h[4];
    stats_after(p, 4, &st, h, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(h[i], 1);
    assert_int_equal(st.jobs, 1);
    assert_int_equal(st.copies, 3); /* jobs + copies = handled */
    close_pool(p);
}

static void shared_queue_feeds_idle_workers_around_a_busy_one(void **state) {
    (void)state;
    tr_ref *p = start(3, TR_ROUTE_SHARED_QUEUE);
    assert_int_equal(tr_send_word(p, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocked, 1, TU_WAIT_MS));
    for (uint64_t i = 0; i < 50; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    /* All done while one worker is still blocked: nothing queued behind it. */
    assert_true(tu_wait_ge(&done, 50, TU_WAIT_MS));
    tr_pool_stats st;
    stats(p, &st, NULL, 0);
    assert_int_equal(st.queued, 0);
    tu_store(&gate, 1);
    assert_true(tu_wait_ge(&done, 51, TU_WAIT_MS));
    close_pool(p);
}

static void crashed_job_is_redelivered_and_the_asker_answered(void **state) {
    (void)state;
    for (int r = TR_ROUTE_ROUND_ROBIN; r <= TR_ROUTE_SHARED_QUEUE; r++) {
        if (r == TR_ROUTE_BROADCAST)
            continue;
        memset(attempts, 0, sizeof(attempts));
        tr_ref *p = start(2, (tr_route)r);
        assert_int_equal(ask(p, CRASH_ONCE, 5), 10);
        assert_int_equal(ask(p, PANIC_ONCE, 6), 12);
        tr_pool_stats st;
        stats_restarted(p, 2, &st);
        assert_int_equal(st.redeliveries, 2);
        assert_int_equal(st.dead_lettered, 0);
        close_pool(p);
    }
}

/* An actor asks the pool with tr_request: the reply (after a crash and a
 * redelivery) comes back to its mailbox with the tag it chose. */
static uint64_t req_reply_word, req_reply_corr;

static int requester_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == 100) { /* go: ask the pool in msg->ptr */
        tr_msg *req;
        if (tr_msg_new(&req, CRASH_ONCE, 0) != 0)
            return TR_ENOMEM;
        req->word = 11;
        int rc = tr_request(ctx, msg->ptr, req, 77);
        if (rc != 0)
            tr_msg_free(req);
        return rc;
    }
    if (msg->type == JOB) {
        tu_store(&req_reply_corr, msg->corr);
        tu_store(&req_reply_word, msg->word);
    }
    return 0;
}

static void request_from_an_actor_survives_redelivery(void **state) {
    (void)state;
    tu_store(&req_reply_word, 0);
    tu_store(&req_reply_corr, 0);
    tr_ref *p = start(2, TR_ROUTE_ROUND_ROBIN);
    static const tr_behavior requester = {NULL, requester_receive, NULL};
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &requester, NULL, &a), 0);
    assert_int_equal(tr_send_ptr(a, 100, p, NULL), 0);
    assert_true(tu_wait_ge(&req_reply_word, 22, TU_WAIT_MS));
    assert_int_equal(tu_load(&req_reply_corr), 77);
    assert_int_equal(tu_load(&attempts[11]), 2); /* crashed once, then answered */
    tr_ref_release(a);
    close_pool(p);
}

static void job_that_always_crashes_is_dead_lettered(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    cfg.max_redeliveries = 2;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    assert_int_equal(ask(p, CRASH_ALWAYS, 9), TR_EDEAD);
    assert_int_equal(tu_load(&attempts[9]), 3); /* first delivery + 2 */
    assert_int_equal(tu_load(&dead), 1);
    tr_pool_stats st;
    stats_restarted(p, 3, &st);
    assert_int_equal(st.redeliveries, 2);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(ask(p, JOB, 1), 2); /* the pool lives on */
    close_pool(p);
}

static void jobs_queued_at_a_crashed_worker_are_rerouted(void **state) {
    (void)state;
    tr_ref *p = start(1, TR_ROUTE_ROUND_ROBIN);
    assert_int_equal(tr_send_word(p, BLOCK_CRASH, 0), 0);
    assert_true(tu_wait_ge(&blocked, 1, TU_WAIT_MS));
    for (uint64_t i = 0; i < 5; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    tr_pool_stats st;
    do /* wait until the router has passed them to the (one) worker */
        stats(p, &st, NULL, 0);
    while (st.routed < 6);
    tu_store(&gate, 1);
    assert_true(tu_wait_ge(&done, 6, TU_WAIT_MS)); /* 5 jobs + the redelivered crasher */
    stats(p, &st, NULL, 0);
    assert_int_equal(st.returned, 5);
    assert_int_equal(st.redeliveries, 1);
    assert_int_equal(st.restarts, 1);
    assert_int_equal(tu_load(&dead), 0);
    close_pool(p);
}

static void workers_can_be_added_and_removed(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    cfg.max_workers = 3;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    assert_int_equal(tr_pool_try_add_worker(p), 0);
    assert_int_equal(tr_pool_try_add_worker(p), TR_EFULL); /* at max_workers */
    tr_pool_stats st;
    stats(p, &st, NULL, 0);
    assert_int_equal(st.workers, 3);
    for (uint64_t i = 0; i < 30; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    assert_int_equal(tr_pool_try_remove_worker(p), 0);
    assert_true(tu_wait_ge(&done, 30, TU_WAIT_MS)); /* the removed worker's jobs too */
    stats(p, &st, NULL, 0);
    assert_int_equal(st.workers, 2);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(ask(p, JOB, 4), 8);
    tr_ref_retain(p);
    assert_int_equal(tr_pool_try_remove_worker(p), 0);
    assert_int_equal(tr_pool_try_remove_worker(p), 0);   /* the last: the pool closes */
    assert_int_equal(tr_send_word(p, JOB, 1), TR_EDEAD); /* at once */
    assert_true(wait_dead(p));
    assert_int_equal(tr_pool_try_add_worker(p), TR_EDEAD);
    tr_pool_release(p);
    tr_ref_release(p);
    assert_true(tu_wait_ge(&terms, 3, TU_WAIT_MS));
}

static void close_dead_letters_queued_jobs_and_fails_their_asks(void **state) {
    (void)state;
    tr_ref *p = start(1, TR_ROUTE_SHARED_QUEUE);
    assert_int_equal(tr_send_word(p, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocked, 1, TU_WAIT_MS));
    tr_future *f[10];
    for (int i = 0; i < 10; i++)
        assert_int_equal(tr_ask_word(p, JOB, (uint64_t)i, &f[i]), 0);
    assert_int_equal(tr_pool_close(p), 0);
    /* Promptly: the worker is still blocked. */
    for (int i = 0; i < 10; i++) {
        tr_msg *reply;
        assert_int_equal(tr_future_wait(f[i], TU_WAIT_MS, &reply), TR_EDEAD);
        tr_future_release(f[i]);
    }
    assert_int_equal(tu_load(&dead), 10);
    assert_int_equal(tu_load(&done), 0);
    tu_store(&gate, 1);
    assert_true(tu_wait_ge(&done, 1, TU_WAIT_MS)); /* the running job finishes */
    assert_true(wait_dead(p));
    assert_int_equal(tr_pool_close(p), TR_EDEAD);
    tr_pool_release(p);
}

static void runtime_close_dead_letters_a_busy_pools_jobs(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(1, TR_ROUTE_SHARED_QUEUE);
    cfg.watchdog_ms = 10000; /* a periodic timer is armed too */
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    assert_int_equal(tr_send_word(p, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocked, 1, TU_WAIT_MS));
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_true(tu_wait_ge(&dead, 10, TU_WAIT_MS)); /* while the worker is still blocked */
    assert_int_equal(tu_load(&done), 0);
    tu_store(&gate, 1);
    assert_true(wait_dead(p));
    tr_pool_release(p);
    /* teardown joins and frees */
}

static void last_pool_handle_release_closes_the_pool(void **state) {
    (void)state;
    tr_ref *p = start(2, TR_ROUTE_ROUND_ROBIN);
    tr_ref_retain(p); /* plain: does not keep the pool open */
    assert_int_equal(tr_pool_retain(p), 0);
    assert_int_equal(tr_pool_release(p), 0);
    assert_int_equal(ask(p, JOB, 3), 6); /* one pool handle left */
    assert_int_equal(tr_pool_release(p), 0);
    assert_true(wait_dead(p));
    assert_true(tu_wait_ge(&terms, 2, TU_WAIT_MS));
    tr_ref_release(p);
}

static void watchdog_reports_and_kills_a_stuck_worker(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    cfg.watchdog_ms = 30;
    cfg.watchdog_kill = 1;
    cfg.on_stuck = on_stuck;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    assert_int_equal(tr_send_word(p, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&stuck_reports, 1, TU_WAIT_MS));
    tu_store(&gate, 1); /* the job returns; the kill takes effect */
    tr_pool_stats st;
    do
        stats(p, &st, NULL, 0);
    while (st.restarts < 1);
    assert_int_equal(st.stuck, 1);
    assert_int_equal(tu_load(&stuck_reports), 1); /* one report per stuck job */
    assert_int_equal(st.redeliveries, 0);         /* the job completed */
    assert_int_equal(ask(p, JOB, 2), 4);
    close_pool(p);
}

static void backoff_delays_the_worker_respawn(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(1, TR_ROUTE_ROUND_ROBIN);
    cfg.backoff_min_ms = 100;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    int64_t t0 = tu_now_ms();
    assert_int_equal(ask(p, CRASH_ONCE, 3), 6); /* waits for the respawn */
    assert_true(tu_now_ms() - t0 >= 100);       /* a lower bound only */
    tr_pool_stats st;
    stats(p, &st, NULL, 0);
    assert_int_equal(st.restarts, 1);
    close_pool(p);
}

static void restart_intensity_exceeded_closes_the_pool(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    cfg.intensity = 1;
    cfg.clock_ms = fake_clock;
    cfg.max_redeliveries = 0;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    assert_int_equal(ask(p, CRASH_ALWAYS, 1), TR_EDEAD);
    tr_ref_retain(p);
    assert_int_equal(tr_send_word(p, CRASH_ALWAYS, 2), 0); /* second restart: too many */
    assert_true(wait_dead(p));
    tr_pool_release(p);
    tr_ref_release(p);
}

static void pool_under_a_supervisor_is_restarted_and_closed_with_it(void **state) {
    (void)state;
    static tr_pool_config pcfg;
    pcfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    pcfg.intensity = 0; /* the first worker crash closes the pool with an error */
    pcfg.max_redeliveries = 0;
    tr_child_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.id = "pool";
    spec.start = tr_pool_start_as_child;
    spec.arg = &pcfg;
    tr_sup_config scfg;
    tr_sup_config_init(&scfg);
    scfg.children = &spec;
    scfg.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt, &scfg, &sup), 0);
    tr_child_info info;
    size_t n;
    assert_int_equal(tr_sup_which_children(sup, &info, 1, &n), 0);
    tr_ref *p = info.ref;
    assert_int_equal(ask(p, CRASH_ALWAYS, 1), TR_EDEAD);
    assert_true(wait_dead(p));
    assert_true(tu_wait_ge(&inits, 4, TU_WAIT_MS)); /* a new pool: 2 more workers */
    tr_ref_release(p);
    assert_int_equal(tr_sup_which_children(sup, &info, 1, &n), 0);
    assert_int_equal(ask(info.ref, JOB, 5), 10);
    assert_int_equal(tr_sup_stop(sup), 0);
    assert_true(wait_dead(info.ref));
    tr_ref_release(info.ref);
    assert_true(wait_dead(sup));
    tr_ref_release(sup);
}

/* --- the contract after close, and stats' optional arguments --------------- */

static void close_refuses_sends_and_a_second_close_at_once(void **state) {
    (void)state;
    tr_ref *p = start(2, TR_ROUTE_ROUND_ROBIN);
    for (uint64_t i = 0; i < 5; i++) /* queued at the router: dead-lettered */
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    /* Every runtime worker parked: the router cannot run (or end) meanwhile,
     * so what follows sees the state tr_pool_close left, not the router's. */
    tu_gate g[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(tu_gate_block(rt, &g[i]), 0);
    assert_int_equal(tr_pool_close(p), 0);
    assert_int_equal(tr_send_word(p, JOB, 9), TR_EDEAD);
    tr_future *f;
    assert_int_equal(tr_ask_word(p, JOB, 9, &f), TR_EDEAD);
    assert_null(f);
    assert_int_equal(tr_pool_close(p), TR_EDEAD);
    assert_int_equal(tr_pool_retain(p), TR_EDEAD);
    assert_int_equal(tr_ref_is_alive(p), 0);
    for (int i = 0; i < 3; i++)
        tu_gate_open(&g[i]);
    assert_true(wait_dead(p));
    assert_true(tu_wait_ge(&terms, 2, TU_WAIT_MS));
    /* The five jobs: each handled or dead-lettered, none lost. */
    assert_true(tu_wait_ge(&dead, 5 - tu_load(&done), TU_WAIT_MS));
    assert_int_equal(tu_load(&done) + tu_load(&dead), 5);
    assert_int_equal(tr_pool_close(p), TR_EDEAD);
    assert_int_equal(tr_pool_try_add_worker(p), TR_EDEAD);
    tr_pool_release(p);
}

static void stats_get_takes_no_handled_array_whatever_cap(void **state) {
    (void)state;
    tr_ref *p = start(2, TR_ROUTE_ROUND_ROBIN);
    assert_int_equal(ask(p, JOB, 1), 2);
    tr_pool_stats st;
    assert_int_equal(tr_pool_stats_get(p, &st, NULL, 4), 0); /* handled is optional */
    assert_int_equal(st.workers, 2);
    assert_int_equal(st.jobs, 1);
    assert_int_equal(tr_pool_stats_get(p, NULL, NULL, 0), TR_EINVAL);
    close_pool(p);
}

/* --- calls from inside an actor ---------------------------------------------
 * The controller runs a script of async calls on the pool it gets in its
 * "go" message (msg->ptr), one after the other: each result, read as it
 * arrives, sends the next call. It records what came back. */
enum { GO = 100, CTL_OPS = 8 };
enum { OP_ADD = 1, OP_REMOVE, OP_STATS, OP_CLOSE_RACE, OP_BLOCKING };

typedef struct ctl {
    tr_ref *pool;
    const int *script;
    unsigned next;
} ctl;

static uint64_t ctl_results; /* results received */
static uint64_t ctl_type[CTL_OPS], ctl_corr[CTL_OPS], ctl_status[CTL_OPS];
static uint64_t ctl_workers[CTL_OPS], ctl_slots[CTL_OPS], ctl_handled0[CTL_OPS];
static uint64_t ctl_call_rc[CTL_OPS]; /* what the async call itself returned */
static uint64_t ctl_read_rc[CTL_OPS]; /* tr_pool_result_stats on the result */

static int ctl_issue(tr_ctx *ctx, ctl *c) {
    unsigned i = c->next;
    int op = c->script[i];
    if (op == 0)
        return 0;
    c->next++;
    int rc;
    uint64_t tag = 1000 + i;
    switch (op) {
    case OP_ADD:
        rc = tr_pool_try_add_worker_async(ctx, c->pool, tag);
        break;
    case OP_REMOVE:
        rc = tr_pool_try_remove_worker_async(ctx, c->pool, tag);
        break;
    case OP_STATS:
        rc = tr_pool_stats_async(ctx, c->pool, tag);
        break;
    case OP_CLOSE_RACE: /* the request is queued, then the pool closes */
        rc = tr_pool_try_add_worker_async(ctx, c->pool, tag);
        if (rc == 0)
            rc = tr_pool_close(c->pool);
        break;
    default: { /* OP_BLOCKING: the blocking forms refuse to run on a worker */
        tr_pool_stats st;
        rc = tr_pool_stats_get(c->pool, &st, NULL, 0);
        tu_store(&ctl_call_rc[i], (uint64_t)(int64_t)rc);
        rc = tr_pool_try_add_worker(c->pool);
        tu_store(&ctl_status[i], (uint64_t)(int64_t)rc);
        tu_add(&ctl_results, 1);
        return ctl_issue(ctx, c);
    }
    }
    tu_store(&ctl_call_rc[i], (uint64_t)(int64_t)rc);
    if (rc != 0) /* no result will come: go on */
        return ctl_issue(ctx, c);
    return 0;
}

static int ctl_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    ctl *c = state;
    if (msg->type == GO) {
        c->pool = msg->ptr;
        return ctl_issue(ctx, c);
    }
    if (msg->type != TR_MSG_RESULT && msg->type != TR_MSG_ASK_FAILED)
        return 0;
    unsigned i = (unsigned)(msg->corr - 1000);
    if (i >= CTL_OPS)
        return TR_EINVAL;
    tu_store(&ctl_type[i], msg->type);
    tu_store(&ctl_corr[i], msg->corr);
    tu_store(&ctl_status[i], (uint64_t)(int64_t)tr_result_code(msg));
    tr_pool_stats st;
    uint64_t h[4] = {0};
    size_t n = 0;
    int read = tr_pool_result_stats(msg, &st, h, 4, &n);
    tu_store(&ctl_read_rc[i], (uint64_t)(int64_t)read);
    if (read == 0) {
        tu_store(&ctl_workers[i], st.workers);
        tu_store(&ctl_slots[i], n);
        tu_store(&ctl_handled0[i], h[0]);
    }
    tu_add(&ctl_results, 1);
    return ctl_issue(ctx, c);
}

static int ctl_script_receive_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ((ctl *)state)->script = arg;
    return 0;
}

static tr_ref *ctl_run(const int *script, tr_ref *pool) {
    tu_store(&ctl_results, 0);
    for (int i = 0; i < CTL_OPS; i++) {
        uint64_t *all[] = {&ctl_type[i],  &ctl_corr[i],     &ctl_status[i],  &ctl_workers[i],
                           &ctl_slots[i], &ctl_handled0[i], &ctl_call_rc[i], &ctl_read_rc[i]};
        for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
            tu_store(all[k], 0);
    }
    static const tr_behavior beh = {ctl_script_receive_init, ctl_receive, NULL};
    tr_spawn_opts o = {.state_size = sizeof(ctl), .arg = (void *)script};
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &beh, &o, &a), 0);
    assert_int_equal(tr_send_ptr(a, GO, pool, NULL), 0);
    return a;
}

static void actor_resizes_the_pool_and_reads_stats_without_blocking(void **state) {
    (void)state;
    tr_pool_config cfg = pool_cfg(2, TR_ROUTE_ROUND_ROBIN);
    cfg.max_workers = 3;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(tr_send_word(p, JOB, i), 0);
    assert_true(tu_wait_ge(&done, 10, TU_WAIT_MS));
    tr_pool_stats st0;
    stats_after(p, 10, &st0, NULL, 0);
    static const int script[] = {OP_ADD, OP_ADD, OP_STATS, OP_REMOVE, OP_STATS, OP_BLOCKING, 0};
    tr_ref *a = ctl_run(script, p);
    assert_true(tu_wait_ge(&ctl_results, 6, TU_WAIT_MS));
    for (unsigned i = 0; i < 5; i++) {
        assert_int_equal(tu_load(&ctl_call_rc[i]), 0);
        assert_int_equal(tu_load(&ctl_type[i]), TR_MSG_RESULT);
        assert_int_equal(tu_load(&ctl_corr[i]), 1000 + i);
    }
    assert_int_equal((int64_t)tu_load(&ctl_read_rc[0]), TR_EINVAL); /* not a stats result */
    assert_int_equal(tu_load(&ctl_read_rc[2]), 0);
    assert_int_equal(tu_load(&ctl_status[0]), 0);                 /* 3 workers */
    assert_int_equal((int64_t)tu_load(&ctl_status[1]), TR_EFULL); /* at max_workers */
    assert_int_equal(tu_load(&ctl_status[2]), 0);
    assert_int_equal(tu_load(&ctl_workers[2]), 3);
    assert_int_equal(tu_load(&ctl_slots[2]), 3);
    assert_int_equal(tu_load(&ctl_handled0[2]), 5); /* round robin: 10 jobs over 2 */
    assert_int_equal(tu_load(&ctl_status[3]), 0);   /* back to 2 */
    assert_int_equal(tu_load(&ctl_workers[4]), 2);
    assert_int_equal(tu_load(&ctl_slots[4]), 2);
    assert_int_equal((int64_t)tu_load(&ctl_call_rc[5]), TR_EDEADLK);
    assert_int_equal((int64_t)tu_load(&ctl_status[5]), TR_EDEADLK);
    tr_ref_release(a);
    close_pool(p);
}

static void async_call_on_a_pool_that_ends_first_gets_ask_failed(void **state) {
    (void)state;
    tr_ref *p = start(2, TR_ROUTE_ROUND_ROBIN);
    tr_ref_retain(p); /* to watch it end */
    static const int script[] = {OP_CLOSE_RACE, OP_STATS, 0};
    tr_ref *a = ctl_run(script, p);
    assert_true(tu_wait_ge(&ctl_results, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&ctl_call_rc[0]), 0);
    assert_int_equal(tu_load(&ctl_type[0]), TR_MSG_ASK_FAILED);
    assert_int_equal(tu_load(&ctl_corr[0]), 1000);
    assert_int_equal((int64_t)tu_load(&ctl_status[0]), TR_EDEAD);
    assert_int_equal((int64_t)tu_load(&ctl_read_rc[0]), TR_EDEAD); /* the reader says so too */
    /* The next call found the pool closed: refused, and no result. */
    assert_int_equal((int64_t)tu_load(&ctl_call_rc[1]), TR_EDEAD);
    assert_true(wait_dead(p));
    assert_int_equal(tu_load(&ctl_results), 1);
    tr_ref_release(a);
    tr_pool_release(p);
    tr_ref_release(p);
}

static void async_calls_and_the_reader_check_their_arguments(void **state) {
    (void)state;
    tr_ref *p = start(1, TR_ROUTE_ROUND_ROBIN);
    assert_int_equal(tr_pool_try_add_worker_async(NULL, p, 1), TR_EINVAL);
    assert_int_equal(tr_pool_try_remove_worker_async(NULL, p, 1), TR_EINVAL);
    assert_int_equal(tr_pool_stats_async(NULL, p, 1), TR_EINVAL);
    assert_int_equal(tr_pool_stats_async((tr_ctx *)keeper, keeper, 1), TR_EINVAL); /* no pool */
    tr_pool_stats st;
    size_t n = 7;
    assert_int_equal(tr_pool_result_stats(NULL, &st, NULL, 0, &n), TR_EINVAL);
    assert_int_equal(n, 0);
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, JOB, 0), 0);
    assert_int_equal(tr_pool_result_stats(m, &st, NULL, 0, NULL), TR_EINVAL); /* not a result */
    tr_msg_free(m);
    close_pool(p);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(bad_configs_return_einval),
        T(ask_through_the_pool_handle_gets_the_reply),
        T(round_robin_spreads_jobs_evenly),
        T(random_routing_handles_every_job),
        T(smallest_mailbox_avoids_the_backed_up_worker),
        T(key_hash_sends_a_key_to_one_worker),
        T(key_hash_keeps_the_slot_across_a_restart),
        T(broadcast_reaches_every_worker),
        T(shared_queue_feeds_idle_workers_around_a_busy_one),
        T(crashed_job_is_redelivered_and_the_asker_answered),
        T(request_from_an_actor_survives_redelivery),
        T(job_that_always_crashes_is_dead_lettered),
        T(jobs_queued_at_a_crashed_worker_are_rerouted),
        T(workers_can_be_added_and_removed),
        T(close_dead_letters_queued_jobs_and_fails_their_asks),
        T(runtime_close_dead_letters_a_busy_pools_jobs),
        T(last_pool_handle_release_closes_the_pool),
        T(watchdog_reports_and_kills_a_stuck_worker),
        T(backoff_delays_the_worker_respawn),
        T(restart_intensity_exceeded_closes_the_pool),
        T(pool_under_a_supervisor_is_restarted_and_closed_with_it),
        T(close_refuses_sends_and_a_second_close_at_once),
        T(stats_get_takes_no_handled_array_whatever_cap),
        T(actor_resizes_the_pool_and_reads_stats_without_blocking),
        T(async_call_on_a_pool_that_ends_first_gets_ask_failed),
        T(async_calls_and_the_reader_check_their_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
