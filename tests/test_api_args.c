/* tests/test_api_args.c - bad arguments to every public call outside the
 * core NULL table (tests/test_runtime.c): supervisor.h, pool.h, timer.h,
 * io.h, blocking.h and the rest of actor.h/msg.h/runtime.h.
 *
 * Each test is one header: a table of calls with one bad argument each (NULL,
 * a stopped actor's handle, a handle of a closed runtime, an out-of-range
 * value) and the code the header documents, or ANY_ERROR (rc < 0) where the
 * header names none. A case that crashes fails the whole program; one that
 * returns the wrong code is printed and counted. Nothing a failed call was
 * given may leak (the suite also runs under ASan with leak detection).
 *
 * Fixtures: `live` runs, `dead` has stopped (its terminate ran), `closed_rt`
 * was closed and joined (not freed) and `stale` is a handle of one of its
 * actors. Calls that need a tr_ctx run inside the `prober` actor, which
 * records its results for the test thread to check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "troupe.h"
#include "troupe/blocking.h"
#include "troupe/io.h"
#include "troupe/pool.h"
#include "troupe/supervisor.h"
#include "troupe/timer.h"

#define ANY_ERROR INT64_MIN /* the header names no code: any rc < 0 */

/* --- checking ------------------------------------------------------------ */

static int bad; /* cases that returned the wrong code, per test */

static void expect_rc(const char *what, int64_t want, int64_t got) {
    int ok = want == ANY_ERROR ? got < 0 : got == want;
    if (!ok) {
        print_error("%s returned %lld (%s), want %s\n", what, (long long)got, tr_strerror((int)got),
                    want == ANY_ERROR ? "< 0" : tr_strerror((int)want));
        bad++;
    }
}

#define EXPECT(want, e) expect_rc(#e, (want), (int64_t)(e))

/* --- fixtures ------------------------------------------------------------ */

static uint64_t received;
static uint64_t terminated;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    tu_add(&received, 1);
    return 0;
}

static void count_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&terminated, 1);
}

static const tr_behavior counter = {NULL, count_receive, count_terminate};
static const tr_behavior no_receive = {NULL, NULL, NULL};

static tr_runtime *rt;        /* running */
static tr_ref *live;          /* a running actor of rt */
static tr_ref *dead;          /* a stopped actor of rt */
static tr_runtime *closed_rt; /* closed and joined, not freed */
static tr_ref *stale;         /* an actor handle of closed_rt */

static int setup(void **state) {
    (void)state;
    tu_store(&received, 0);
    tu_store(&terminated, 0);
    bad = 0;
    rt = tu_runtime_new(2);
    if (rt == NULL || tr_spawn(rt, &counter, NULL, &live) != 0 ||
        tr_spawn(rt, &counter, NULL, &dead) != 0)
        return -1;
    tr_actor_stop(dead);
    if (!tu_wait_ge(&terminated, 1, TU_WAIT_MS))
        return -1;
    closed_rt = tu_runtime_new(1);
    if (closed_rt == NULL || tr_spawn(closed_rt, &counter, NULL, &stale) != 0)
        return -1;
    tr_runtime_close(closed_rt);
    tr_runtime_join(closed_rt);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tr_ref_release(live);
    tr_ref_release(dead);
    tr_ref_release(stale);
    tr_runtime_free(rt);
    tr_runtime_free(closed_rt);
    return 0;
}

static tr_msg *new_msg(uint32_t type) {
    tr_msg *m = NULL;
    assert_int_equal(tr_msg_new(&m, type, 0), 0);
    return m;
}

static int blocking_noop(void *arg, void **result) {
    (void)arg;
    (void)result;
    return 0;
}

static int start_counter(tr_runtime *r, void *arg, tr_ref **out) {
    (void)arg;
    return tr_spawn(r, &counter, NULL, out);
}

/* --- runtime.h and msg.h --------------------------------------------------- */

static void runtime_and_msg_calls_reject_bad_values(void **state) {
    (void)state;
    tr_msg m;
    tr_msg *out = NULL;
    EXPECT(TR_EINVAL, tr_msg_init(&m, TR_MSG_SYSTEM, NULL));
    EXPECT(TR_EINVAL, tr_msg_init(&m, UINT32_MAX, NULL));
    EXPECT(TR_EINVAL, tr_msg_new(&out, TR_MSG_SYSTEM, 0));
    EXPECT(TR_E2BIG, tr_msg_new(&out, 1, (size_t)TR_MSG_MAX_SIZE + 1));
    EXPECT(TR_E2BIG, tr_msg_new(&out, 1, SIZE_MAX));
    assert_null(out);
    tr_msg_init(&m, 1, NULL);
    assert_null(tr_msg_data(&m)); /* not a tr_msg_new message */
    assert_null(tr_msg_take_ptr(&m));
    assert_int_equal(tr_msg_wants_reply(&m), 0);
    assert_null(tr_msg_payload(&m, 1));

    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 257;
    tr_runtime *r = (tr_runtime *)&m; /* must be left alone */
    EXPECT(TR_EINVAL, tr_runtime_new(&r, &cfg));

    /* A closed, joined runtime: close and join are idempotent, queries work,
     * new work is refused. */
    tr_runtime_stats st;
    EXPECT(0, tr_runtime_close(closed_rt));
    EXPECT(0, tr_runtime_join(closed_rt));
    EXPECT(1, tr_runtime_is_closed(closed_rt));
    EXPECT(0, tr_runtime_stats_get(closed_rt, &st));
    EXPECT(TR_ENOTFOUND, tr_runtime_worker_id(closed_rt));
    EXPECT(TR_ECLOSED, tr_spawn(closed_rt, &counter, NULL, NULL));
    EXPECT(TR_EINVAL, tr_spawn(closed_rt, &no_receive, NULL, NULL));
    tr_spawn_opts bad_lanes = {.lanes = 2}; /* 0 or 1 */
    EXPECT(TR_EINVAL, tr_spawn(closed_rt, &counter, &bad_lanes, NULL));
    assert_int_equal(bad, 0);
}

/* --- actor.h: stale handles and bad values, from outside ------------------ */

static void actor_calls_on_a_stopped_actor_return_edead(void **state) {
    (void)state;
    tr_msg *m = new_msg(1);
    tr_msg *batch[1] = {m};
    tr_future *f = NULL;
    EXPECT(0, tr_ref_is_alive(dead));
    EXPECT(TR_EDEAD, tr_ref_mailbox_len(dead));
    EXPECT(TR_EDEAD, tr_send(dead, 1, "x", 1));
    EXPECT(TR_EDEAD, tr_send_word(dead, 1, 2));
    EXPECT(TR_EDEAD, tr_send_ptr(dead, 1, NULL, NULL));
    EXPECT(TR_EDEAD, tr_send_msg(dead, m));
    EXPECT(TR_EDEAD, tr_send_batch(dead, batch, 1));
    EXPECT(TR_EDEAD, tr_send_wait(dead, m, 0));
    EXPECT(TR_EDEAD, tr_send_wait(dead, m, -1));
    EXPECT(TR_EDEAD, tr_actor_stop(dead));
    EXPECT(TR_EDEAD, tr_actor_kill(dead));
    EXPECT(TR_EDEAD, tr_actor_exit(dead, TR_EIO, "x"));
    EXPECT(TR_EDEAD, tr_ask(dead, 1, "x", 1, &f));
    EXPECT(TR_EDEAD, tr_ask_word(dead, 1, 0, &f));
    EXPECT(TR_EDEAD, tr_ask_msg(dead, m, &f));
    assert_null(f);
    assert_true(tr_ref_id(dead) != 0);
    assert_ptr_equal(tr_ref_runtime(dead), rt);
    /* The caller still owns m after every failure. */
    tr_msg_free(m);
    assert_int_equal(bad, 0);
}

static void actor_calls_on_a_closed_runtime_fail(void **state) {
    (void)state;
    tr_msg *m = new_msg(1);
    tr_future *f = NULL;
    EXPECT(0, tr_ref_is_alive(stale));
    EXPECT(ANY_ERROR, tr_send(stale, 1, "x", 1));
    EXPECT(ANY_ERROR, tr_send_word(stale, 1, 2));
    EXPECT(ANY_ERROR, tr_send_msg(stale, m));
    EXPECT(ANY_ERROR, tr_send_wait(stale, m, 10));
    EXPECT(ANY_ERROR, tr_ask_word(stale, 1, 0, &f));
    EXPECT(TR_EDEAD, tr_actor_stop(stale));
    EXPECT(TR_EDEAD, tr_actor_kill(stale));
    assert_null(f);
    assert_ptr_equal(tr_ref_runtime(stale), closed_rt);
    tr_msg_free(m);
    assert_int_equal(bad, 0);
}

static void actor_calls_reject_reserved_types_and_huge_sizes(void **state) {
    (void)state;
    tr_future *f = NULL;
    tr_msg *sys = NULL;
    static char one[1];
    EXPECT(TR_EINVAL, tr_send(live, TR_MSG_SYSTEM, "x", 1));
    EXPECT(TR_EINVAL, tr_send_word(live, TR_MSG_DOWN, 0));
    EXPECT(TR_EINVAL, tr_send_ptr(live, TR_MSG_SYSTEM + 99, NULL, NULL));
    EXPECT(TR_E2BIG, tr_send(live, 1, one, (size_t)TR_MSG_MAX_SIZE + 1));
    EXPECT(TR_EINVAL, tr_ask(live, TR_MSG_SYSTEM, "x", 1, &f));
    EXPECT(TR_EINVAL, tr_ask_word(live, UINT32_MAX, 0, &f));
    EXPECT(TR_E2BIG, tr_ask(live, 1, one, SIZE_MAX, &f));
    assert_null(f);
    /* A message whose type was forged into the reserved range after init. */
    sys = new_msg(1);
    sys->type = TR_MSG_SYSTEM + 5;
    EXPECT(TR_EINVAL, tr_send_msg(live, sys));
    EXPECT(TR_EINVAL, tr_send_wait(live, sys, 0));
    sys->type = 1;
    tr_msg_free(sys);
    /* A future: polling with bad out pointers and a zero timeout. */
    EXPECT(0, tr_ask_word(live, 1, 0, &f));
    EXPECT(TR_EINVAL, tr_future_wait(f, 0, NULL));
    EXPECT(0, tr_future_release(f));
    EXPECT(0, tr_ref_is_alive(dead));
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal(bad, 0);
}

static void calls_on_a_full_mailbox_return_efull_and_keep_ownership(void **state) {
    (void)state;
    /* One worker, parked by the gate: nothing drains the mailbox. */
    tr_runtime *r1 = tu_runtime_new(1);
    assert_non_null(r1);
    tu_gate g;
    assert_int_equal(tu_gate_block(r1, &g), 0);
    tr_spawn_opts o = {.mailbox_capacity = 1};
    tr_ref *full = NULL;
    assert_int_equal(tr_spawn(r1, &counter, &o, &full), 0);
    assert_int_equal(tr_send_word(full, 1, 0), 0);
    tr_msg *m = new_msg(1);
    tr_msg *m2 = new_msg(1);
    tr_msg *batch[2] = {m, m2};
    tr_future *f = NULL;
    EXPECT(1, tr_ref_mailbox_len(full));
    EXPECT(TR_EFULL, tr_send(full, 1, "x", 1));
    EXPECT(TR_EFULL, tr_send_word(full, 1, 0));
    EXPECT(TR_EFULL, tr_send_ptr(full, 1, m, NULL));
    EXPECT(TR_EFULL, tr_send_msg(full, m));
    EXPECT(TR_EFULL, tr_send_batch(full, batch, 2));
    EXPECT(TR_EFULL, tr_send_wait(full, m, 0));
    EXPECT(TR_ETIMEDOUT, tr_send_wait(full, m, 1));
    EXPECT(TR_EFULL, tr_ask_word(full, 1, 0, &f));
    EXPECT(TR_EFULL, tr_ask_msg(full, m, &f));
    assert_null(f);
    EXPECT(1, tr_ref_mailbox_len(full));
    /* Still ours: freed here, not by the runtime. */
    tr_msg_free(m);
    tr_msg_free(m2);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    tr_ref_release(full);
    tr_runtime_free(r1);
    assert_int_equal(bad, 0);
}

/* --- calls that need a tr_ctx, run inside an actor --------------------------- */

enum { PROBE_CASES = 24 };
static int64_t probe_rc[PROBE_CASES];
static const char *probe_name[PROBE_CASES];
static uint64_t probe_n;
static uint64_t probe_done;

#define PROBE(e)                                                                                   \
    do {                                                                                           \
        probe_name[probe_n] = #e;                                                                  \
        probe_rc[probe_n] = (int64_t)(e);                                                          \
        probe_n++;                                                                                 \
    } while (0)

static int probe_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_msg *m = NULL;
    tr_msg_new(&m, 1, 0);
    uint64_t id = 0;
    probe_n = 0;
    PROBE(tr_monitor(ctx, NULL, &id));
    PROBE(tr_demonitor(ctx, NULL, 1));
    PROBE(tr_link(ctx, NULL));
    PROBE(tr_unlink(ctx, NULL));
    PROBE(tr_msg_keep(ctx, NULL));
    PROBE(tr_forward(ctx, NULL, m));
    PROBE(tr_forward(ctx, live, NULL));
    PROBE(tr_forward(ctx, dead, m));
    PROBE(tr_request(ctx, NULL, m, 1));
    PROBE(tr_request(ctx, live, NULL, 1));
    PROBE(tr_request_timeout(NULL, live, m, 1, 10));
    PROBE(tr_request_timeout(ctx, NULL, m, 1, 10));
    PROBE(tr_request_timeout(ctx, live, NULL, 1, 10));
    PROBE(tr_request_timeout(ctx, live, m, 1, 0));
    PROBE(tr_idle_timeout(NULL, 10));
    PROBE(tr_future_wait(NULL, 0, NULL));
    tr_future *f = NULL;
    PROBE(tr_ask_word(live, 1, 0, &f) == 0 ? tr_future_wait(f, 10, &m) : -100);
    tr_future_release(f);
    PROBE(tr_runtime_join(tr_ctx_runtime(ctx)));
    PROBE(tr_sup_stats_get(live, &(tr_sup_stats){0}));
    PROBE(tr_pool_try_add_worker(live));
    tr_msg_free(m);
    tu_store(&probe_done, 1);
    return 0;
}

static const int64_t probe_want[] = {
    TR_EINVAL,  /* tr_monitor(ctx, NULL, &id) */
    TR_EINVAL,  /* tr_demonitor(ctx, NULL, 1) */
    TR_EINVAL,  /* tr_link(ctx, NULL) */
    TR_EINVAL,  /* tr_unlink(ctx, NULL) */
    TR_EINVAL,  /* tr_msg_keep(ctx, NULL) */
    TR_EINVAL,  /* tr_forward(ctx, NULL, m) */
    TR_EINVAL,  /* tr_forward(ctx, live, NULL) */
    TR_EDEAD,   /* tr_forward(ctx, dead, m) */
    TR_EINVAL,  /* tr_request(ctx, NULL, m, 1) */
    TR_EINVAL,  /* tr_request(ctx, live, NULL, 1) */
    TR_EINVAL,  /* tr_request_timeout(NULL, ...) */
    TR_EINVAL,  /* tr_request_timeout(ctx, NULL, ...) */
    TR_EINVAL,  /* tr_request_timeout(ctx, live, NULL, ...) */
    TR_EINVAL,  /* tr_request_timeout(..., 0): timeout must be >= 1 */
    TR_EINVAL,  /* tr_idle_timeout(NULL, 10) */
    TR_EINVAL,  /* tr_future_wait(NULL, ...) */
    TR_EDEADLK, /* tr_future_wait on a worker */
    TR_EDEADLK, /* tr_runtime_join from a worker */
    TR_EINVAL,  /* tr_sup_stats_get on a plain actor */
    TR_EINVAL,  /* tr_pool_try_add_worker on a plain actor */
};

static void context_calls_reject_null_and_bad_values(void **state) {
    (void)state;
    static const tr_behavior prober = {NULL, probe_receive, NULL};
    tr_ref *p = NULL;
    tu_store(&probe_done, 0);
    assert_int_equal(tr_spawn(rt, &prober, NULL, &p), 0);
    assert_int_equal(tr_send_word(p, 1, 0), 0);
    assert_true(tu_wait_ge(&probe_done, 1, TU_WAIT_MS));
    size_t n = sizeof(probe_want) / sizeof(probe_want[0]);
    assert_int_equal(tu_load(&probe_n), n);
    for (size_t i = 0; i < n; i++)
        expect_rc(probe_name[i], probe_want[i], probe_rc[i]);
    tr_actor_stop(p);
    tr_ref_release(p);
    assert_int_equal(bad, 0);
}

/* An actor answering an ask with bad replies first, then a good one. */
static int reply_probe_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_msg *own = NULL;
    tr_msg_new(&own, 1, 0);
    probe_n = 0;
    PROBE(tr_msg_wants_reply(msg));
    PROBE(tr_reply(own, 1, "x", 1)); /* not an ask */
    PROBE(tr_reply_word(msg, TR_MSG_SYSTEM, 0));
    PROBE(tr_reply(msg, TR_MSG_DOWN, "x", 1));
    PROBE(tr_reply(msg, 1, NULL, 4));
    PROBE(tr_reply_msg(msg, msg));
    PROBE(tr_timer_send_after(tr_self(ctx), 0, msg, NULL)); /* an ask request */
    PROBE(tr_trap_exit(ctx, 1));
    PROBE(tr_stop(ctx));
    PROBE(tr_reply_word(msg, 5, 42));
    PROBE(tr_reply_word(msg, 5, 43)); /* answered already */
    PROBE(tr_msg_wants_reply(msg));
    tr_msg_free(own);
    tu_store(&probe_done, 1);
    return 0;
}

static const int64_t reply_probe_want[] = {
    1,         /* tr_msg_wants_reply before the answer */
    TR_EINVAL, /* tr_reply on a message that is not an ask */
    TR_EINVAL, /* tr_reply_word with a reserved type */
    TR_EINVAL, /* tr_reply with a reserved type */
    TR_EINVAL, /* tr_reply with NULL data and size 4 */
    TR_EINVAL, /* tr_reply_msg(req, req) */
    TR_EINVAL, /* tr_timer_send_after of an ask request */
    0,         /* tr_trap_exit(ctx, 1) */
    0,         /* tr_stop(ctx) */
    0,         /* the real answer */
    TR_ESTATE, /* a second answer */
    0,         /* tr_msg_wants_reply after it */
};

static void reply_calls_reject_reserved_types_and_second_answers(void **state) {
    (void)state;
    static const tr_behavior prober = {NULL, reply_probe_receive, NULL};
    tr_ref *p = NULL;
    tr_future *f = NULL;
    tr_msg *reply = NULL;
    tu_store(&probe_done, 0);
    assert_int_equal(tr_spawn(rt, &prober, NULL, &p), 0);
    assert_int_equal(tr_ask_word(p, 1, 0, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    /* The reply comes before the prober's last records: wait for those. */
    assert_true(tu_wait_ge(&probe_done, 1, TU_WAIT_MS));
    assert_int_equal(reply->type, 5);
    assert_int_equal(reply->word, 42);
    EXPECT(1, tr_future_is_ready(f));
    EXPECT(TR_EINVAL, tr_exit_of(reply, &(tr_exit){0})); /* not DOWN/EXIT */
    assert_null(tr_msg_origin(reply));
    tr_msg_free(reply);
    EXPECT(0, tr_future_release(f));
    size_t n = sizeof(reply_probe_want) / sizeof(reply_probe_want[0]);
    assert_int_equal(tu_load(&probe_n), n);
    for (size_t i = 0; i < n; i++)
        expect_rc(probe_name[i], reply_probe_want[i], probe_rc[i]);
    tr_ref_release(p);
    assert_int_equal(bad, 0);
}

/* --- supervisor.h ------------------------------------------------------------ */

static void supervisor_calls_reject_bad_arguments(void **state) {
    (void)state;
    tr_sup_config cfg;
    tr_sup_config_init(NULL); /* ignored */
    tr_sup_config_init(&cfg);
    tr_child_spec spec = {
        .id = "a", .start = start_counter, .restart = TR_CHILD_PERMANENT, .kind = TR_CHILD_WORKER};
    tr_child_spec two[2] = {spec, spec}; /* duplicate ids */
    tr_ref *out = (tr_ref *)&cfg;
    tr_sup_counts counts;
    tr_sup_stats st;
    tr_child_info info[2];
    size_t n = 0;

    /* tr_sup_start and its config. */
    EXPECT(TR_EINVAL, tr_sup_start(NULL, &cfg, &out));
    assert_null(out);
    EXPECT(TR_EINVAL, tr_sup_start(rt, NULL, &out));
    EXPECT(TR_EINVAL, tr_sup_start_as_child(NULL, &cfg, &out));
    EXPECT(TR_EINVAL, tr_sup_start_as_child(rt, NULL, &out));
    EXPECT(TR_ECLOSED, tr_sup_start(closed_rt, &cfg, &out));
    tr_sup_config c = cfg;
    c.strategy = (tr_sup_strategy)99;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c = cfg;
    c.intensity = 1000001;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c = cfg;
    c.backoff_jitter = 1.5;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c.backoff_jitter = -0.1;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c = cfg;
    c.nchildren = 1; /* children NULL */
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c = cfg;
    c.children = two;
    c.nchildren = 2;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c = cfg;
    c.strategy = TR_SUP_DYNAMIC; /* needs exactly one template */
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    c.children = two;
    c.nchildren = 2;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    tr_child_spec s = spec;
    s.start = NULL; /* no way to start it */
    c = cfg;
    c.children = &s;
    c.nchildren = 1;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    s = spec;
    s.restart = (tr_child_restart)7;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    s = spec;
    s.kind = (tr_child_kind)-1;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    s = spec;
    s.shutdown_ms = -3;
    EXPECT(TR_EINVAL, tr_sup_start(rt, &c, &out));
    assert_null(out);

    /* Calls on a running supervisor with bad arguments. */
    tr_ref *sup = NULL;
    c = cfg;
    c.children = &spec;
    c.nchildren = 1;
    assert_int_equal(tr_sup_start(rt, &c, &sup), 0);
    EXPECT(TR_EINVAL, tr_sup_start_child(NULL, &spec, &out));
    EXPECT(TR_EINVAL, tr_sup_start_child(sup, NULL, &out));
    s = spec;
    s.id = "b";
    s.restart = (tr_child_restart)7;
    EXPECT(TR_EINVAL, tr_sup_start_child(sup, &s, &out));
    EXPECT(TR_EALREADY, tr_sup_start_child(sup, &spec, &out)); /* id taken, running */
    assert_null(out);
    EXPECT(TR_EINVAL, tr_sup_start_child(live, &spec, &out)); /* not a supervisor */
    EXPECT(TR_EINVAL, tr_sup_start_dynamic(NULL, NULL, &out));
    EXPECT(ANY_ERROR, tr_sup_start_dynamic(sup, NULL, &out)); /* not DYNAMIC */
    assert_null(out);
    EXPECT(TR_EINVAL, tr_sup_terminate_child(NULL, "a"));
    EXPECT(TR_EINVAL, tr_sup_terminate_child(sup, NULL));
    EXPECT(TR_ENOTFOUND, tr_sup_terminate_child(sup, "nope"));
    EXPECT(TR_EINVAL, tr_sup_terminate_ref(NULL, live));
    EXPECT(TR_EINVAL, tr_sup_terminate_ref(sup, NULL));
    EXPECT(TR_ENOTFOUND, tr_sup_terminate_ref(sup, live));
    EXPECT(0, tr_sup_terminate_ref(sup, dead)); /* an ended actor counts as terminated */
    EXPECT(TR_EINVAL, tr_sup_restart_child(NULL, "a"));
    EXPECT(TR_EINVAL, tr_sup_restart_child(sup, NULL));
    EXPECT(TR_ENOTFOUND, tr_sup_restart_child(sup, "nope"));
    EXPECT(TR_EALREADY, tr_sup_restart_child(sup, "a"));
    EXPECT(TR_EINVAL, tr_sup_delete_child(NULL, "a"));
    EXPECT(TR_EINVAL, tr_sup_delete_child(sup, NULL));
    EXPECT(TR_ENOTFOUND, tr_sup_delete_child(sup, "nope"));
    EXPECT(TR_EBUSY, tr_sup_delete_child(sup, "a"));
    tr_child_spec got;
    EXPECT(TR_EINVAL, tr_sup_get_childspec(NULL, "a", &got));
    EXPECT(TR_EINVAL, tr_sup_get_childspec(sup, NULL, &got));
    EXPECT(TR_EINVAL, tr_sup_get_childspec(sup, "a", NULL));
    EXPECT(TR_EINVAL, tr_sup_get_childspec(live, "a", &got));
    EXPECT(TR_ENOTFOUND, tr_sup_get_childspec(sup, "nope", &got));
    EXPECT(TR_EINVAL, tr_sup_which_children(NULL, info, 2, &n));
    EXPECT(TR_EINVAL, tr_sup_which_children(sup, info, 2, NULL));
    EXPECT(TR_EINVAL, tr_sup_which_children(sup, NULL, 2, &n));
    EXPECT(0, tr_sup_which_children(sup, NULL, 0, &n));
    assert_int_equal(n, 1);
    tr_sup_children_release(NULL, 3); /* ignored */
    EXPECT(TR_EINVAL, tr_sup_count_children(NULL, &counts));
    EXPECT(TR_EINVAL, tr_sup_count_children(sup, NULL));
    EXPECT(TR_EINVAL, tr_sup_count_children(live, &counts));
    EXPECT(TR_EINVAL, tr_sup_stats_get(NULL, &st));
    EXPECT(TR_EINVAL, tr_sup_stats_get(sup, NULL));
    EXPECT(TR_EINVAL, tr_sup_stop(NULL));
    EXPECT(TR_EINVAL, tr_sup_stop(live));

    /* The same supervisor handle after it stopped: still valid memory, every
     * call says TR_EDEAD. */
    EXPECT(0, tr_sup_stop(sup));
    assert_true(tu_wait_ge(&terminated, 2, TU_WAIT_MS)); /* dead, then child a */
    for (int i = 0; i < 1000 && tr_ref_is_alive(sup); i++)
        tu_sleep_ms(5);
    EXPECT(0, tr_ref_is_alive(sup));
    EXPECT(TR_EDEAD, tr_sup_stop(sup));
    s.restart = TR_CHILD_PERMANENT;
    EXPECT(TR_EDEAD, tr_sup_start_child(sup, &s, &out));
    EXPECT(TR_EDEAD, tr_sup_start_dynamic(sup, NULL, &out));
    EXPECT(TR_EDEAD, tr_sup_terminate_child(sup, "a"));
    EXPECT(TR_EDEAD, tr_sup_terminate_ref(sup, live));
    EXPECT(TR_EDEAD, tr_sup_restart_child(sup, "a"));
    EXPECT(TR_EDEAD, tr_sup_delete_child(sup, "a"));
    EXPECT(TR_EDEAD, tr_sup_get_childspec(sup, "a", &got));
    EXPECT(TR_EDEAD, tr_sup_which_children(sup, info, 2, &n));
    EXPECT(TR_EDEAD, tr_sup_count_children(sup, &counts));
    EXPECT(TR_EDEAD, tr_sup_stats_get(sup, &st));
    assert_null(out);
    tr_ref_release(sup);
    assert_int_equal(bad, 0);
}

/* --- pool.h ----------------------------------------------------------------- */

static void pool_calls_reject_bad_arguments(void **state) {
    (void)state;
    tr_pool_config cfg;
    tr_pool_config_init(NULL); /* ignored */
    tr_pool_config_init(&cfg);
    cfg.workers = 1;
    cfg.behavior = &counter;
    tr_ref *out = (tr_ref *)&cfg;
    tr_pool_stats st;
    uint64_t handled[2];

    EXPECT(TR_EINVAL, tr_pool_start(NULL, &cfg, &out));
    assert_null(out);
    EXPECT(TR_EINVAL, tr_pool_start(rt, NULL, &out));
    EXPECT(TR_EINVAL, tr_pool_start(rt, &cfg, NULL));
    EXPECT(TR_EINVAL, tr_pool_start_as_child(NULL, &cfg, &out));
    EXPECT(TR_EINVAL, tr_pool_start_as_child(rt, NULL, &out));
    EXPECT(TR_ECLOSED, tr_pool_start(closed_rt, &cfg, &out));
    tr_pool_config c = cfg;
    c.workers = 0;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c.workers = TR_POOL_MAX_WORKERS + 1;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c = cfg;
    c.workers = 4;
    c.max_workers = 2; /* below workers */
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c = cfg;
    c.behavior = NULL;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c.behavior = &no_receive;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c = cfg;
    c.routing = (tr_route)6;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c.routing = (tr_route)-1;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c = cfg;
    c.backoff_jitter = 2.0;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c = cfg;
    c.intensity = 1000001;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    c = cfg;
    c.max_redeliveries = UINT32_MAX;
    EXPECT(TR_EINVAL, tr_pool_start(rt, &c, &out));
    assert_null(out);

    EXPECT(TR_EINVAL, tr_pool_retain(NULL));
    EXPECT(TR_EINVAL, tr_pool_release(NULL));
    EXPECT(TR_EINVAL, tr_pool_close(NULL));
    EXPECT(TR_EINVAL, tr_pool_try_add_worker(NULL));
    EXPECT(TR_EINVAL, tr_pool_try_remove_worker(NULL));
    EXPECT(TR_EINVAL, tr_pool_stats_get(NULL, &st, NULL, 0));
    /* A plain actor is not a pool. */
    EXPECT(TR_EINVAL, tr_pool_retain(live));
    EXPECT(TR_EINVAL, tr_pool_release(live));
    EXPECT(TR_EINVAL, tr_pool_close(live));
    EXPECT(TR_EINVAL, tr_pool_try_add_worker(live));
    EXPECT(TR_EINVAL, tr_pool_try_remove_worker(dead));
    EXPECT(TR_EINVAL, tr_pool_stats_get(live, &st, NULL, 0));

    tr_ref *pool = NULL;
    assert_int_equal(tr_pool_start(rt, &cfg, &pool), 0);
    EXPECT(TR_EINVAL, tr_pool_stats_get(pool, NULL, NULL, 0));
    EXPECT(0, tr_pool_stats_get(pool, &st, NULL, 2)); /* handled is optional: cap ignored */
    EXPECT(TR_EINVAL, tr_pool_try_add_worker_async(NULL, pool, 1));
    EXPECT(TR_EINVAL, tr_pool_try_remove_worker_async(NULL, pool, 1));
    EXPECT(TR_EINVAL, tr_pool_stats_async(NULL, pool, 1));
    EXPECT(TR_EINVAL, tr_pool_result_stats(NULL, &st, handled, 2, NULL));
    EXPECT(0, tr_pool_stats_get(pool, &st, handled, 2));
    assert_int_equal(st.workers, 1);

    /* Released (count 0, so closed) but still a valid handle: keep a plain
     * tr_ref reference and use it. */
    EXPECT(0, tr_ref_retain(pool));
    EXPECT(0, tr_pool_release(pool));
    for (int i = 0; i < 1000 && tr_ref_is_alive(pool); i++)
        tu_sleep_ms(5);
    EXPECT(0, tr_ref_is_alive(pool));
    EXPECT(TR_EDEAD, tr_pool_close(pool));
    EXPECT(TR_EDEAD, tr_pool_retain(pool));
    EXPECT(TR_EDEAD, tr_pool_try_add_worker(pool));
    EXPECT(TR_EDEAD, tr_pool_try_remove_worker(pool));
    EXPECT(TR_EDEAD, tr_pool_stats_get(pool, &st, handled, 2));
    EXPECT(TR_EDEAD, tr_send_word(pool, 1, 0));
    tr_ref_release(pool);
    assert_int_equal(bad, 0);
}

/* --- timer.h ---------------------------------------------------------------- */

static void timer_calls_reject_bad_arguments(void **state) {
    (void)state;
    tr_msg *m = new_msg(1);
    tr_timer_id id = 77;
    EXPECT(TR_EINVAL, tr_timer_send_after(NULL, 0, m, &id));
    EXPECT(TR_EINVAL, tr_timer_send_after(live, 0, NULL, &id));
    EXPECT(TR_EDEAD, tr_timer_send_after(dead, 0, m, &id));
    EXPECT(TR_ECLOSED, tr_timer_send_after(stale, 0, m, &id));
    EXPECT(ANY_ERROR, tr_timer_send_after(live, UINT64_MAX, m, &id));
    m->type = TR_MSG_TIMER; /* forged into the reserved range */
    EXPECT(TR_EINVAL, tr_timer_send_after(live, 0, m, &id));
    m->type = 1;
    EXPECT(TR_EINVAL, tr_timer_tick_every(NULL, 0, 10, 1, 0, &id));
    EXPECT(TR_EINVAL, tr_timer_tick_every(live, 0, 0, 1, 0, &id));
    EXPECT(TR_EINVAL, tr_timer_tick_every(live, 0, 10, TR_MSG_SYSTEM, 0, &id));
    EXPECT(ANY_ERROR, tr_timer_tick_every(live, UINT64_MAX, 10, 1, 0, &id));
    EXPECT(ANY_ERROR, tr_timer_tick_every(live, 0, UINT64_MAX, 1, 0, &id));
    EXPECT(TR_EDEAD, tr_timer_tick_every(dead, 0, 10, 1, 0, &id));
    EXPECT(TR_ECLOSED, tr_timer_tick_every(stale, 0, 10, 1, 0, &id));
    assert_int_equal(id, 77); /* untouched by every failure */
    EXPECT(TR_EINVAL, tr_timer_cancel(NULL, 1));
    EXPECT(TR_ENOTFOUND, tr_timer_cancel(rt, 0));
    EXPECT(TR_ENOTFOUND, tr_timer_cancel(rt, UINT64_MAX));
    EXPECT(TR_ENOTFOUND, tr_timer_cancel(closed_rt, 1));
    EXPECT(TR_EINVAL, tr_idle_timeout(NULL, 0));
    tr_msg_free(m); /* still ours */
    assert_int_equal(bad, 0);
}

/* --- io.h ------------------------------------------------------------------- */

static void io_calls_reject_bad_arguments(void **state) {
    (void)state;
    tr_fd_watch_id wid = 5;
    tr_tcp_listener *l = (tr_tcp_listener *)&wid;
    tr_tcp *c = (tr_tcp *)&wid;
    int fds[2];
    assert_int_equal(pipe(fds), 0);

    EXPECT(0, tr_io_errno(NULL));
    tr_msg m;
    tr_msg_init(&m, 1, NULL);
    EXPECT(0, tr_io_errno(&m));

    EXPECT(TR_EINVAL, tr_fd_watch(NULL, fds[0], TR_FD_READ, 0, &wid));
    EXPECT(TR_EINVAL, tr_fd_watch(live, -1, TR_FD_READ, 0, &wid));
    EXPECT(TR_EINVAL, tr_fd_watch(live, fds[0], 0, 0, &wid));
    EXPECT(TR_EINVAL, tr_fd_watch(live, fds[0], 0x4, 0, &wid));
    EXPECT(TR_EDEAD, tr_fd_watch(dead, fds[0], TR_FD_READ, 0, &wid));
    EXPECT(ANY_ERROR, tr_fd_watch(stale, fds[0], TR_FD_READ, 0, &wid));
    assert_int_equal(wid, 5);
    EXPECT(TR_EINVAL, tr_fd_rearm(NULL, 1, TR_FD_READ));
    EXPECT(TR_EINVAL, tr_fd_rearm(rt, 1, 0));
    EXPECT(TR_EINVAL, tr_fd_rearm(rt, 1, 0x10));
    EXPECT(TR_ENOTFOUND, tr_fd_rearm(rt, 0, TR_FD_READ));
    EXPECT(TR_ENOTFOUND, tr_fd_rearm(rt, 12345, TR_FD_READ));
    EXPECT(ANY_ERROR, tr_fd_rearm(closed_rt, 1, TR_FD_READ));
    EXPECT(TR_EINVAL, tr_fd_unwatch(NULL, 1));
    EXPECT(TR_ENOTFOUND, tr_fd_unwatch(rt, 0));
    EXPECT(TR_ENOTFOUND, tr_fd_unwatch(rt, 12345));
    EXPECT(ANY_ERROR, tr_fd_unwatch(closed_rt, 1));

    EXPECT(TR_EINVAL, tr_tcp_listen(NULL, "127.0.0.1", 0, 0, 0, &l));
    assert_null(l);
    EXPECT(TR_EINVAL, tr_tcp_listen(live, NULL, 0, 0, 0, &l));
    EXPECT(TR_EINVAL, tr_tcp_listen(live, "127.0.0.1", 0, 0, 0, NULL));
    EXPECT(TR_EINVAL, tr_tcp_listen(live, "localhost", 0, 0, 0, &l));
    EXPECT(TR_EINVAL, tr_tcp_listen(live, "256.0.0.1", 0, 0, 0, &l));
    EXPECT(TR_EINVAL, tr_tcp_listen(live, "", 0, 0, 0, &l));
    EXPECT(TR_EINVAL, tr_tcp_listen(live, "1.2.3.4:80", 0, 0, 0, &l));
    EXPECT(TR_EIO, tr_tcp_listen(live, "192.0.2.1", 0, 0, 0, &l)); /* not ours */
    EXPECT(TR_EDEAD, tr_tcp_listen(dead, "127.0.0.1", 0, 0, 0, &l));
    EXPECT(ANY_ERROR, tr_tcp_listen(stale, "127.0.0.1", 0, 0, 0, &l));
    assert_null(l);
    EXPECT(TR_EINVAL, tr_tcp_listener_port(NULL));
    EXPECT(TR_EINVAL, tr_tcp_listener_close(NULL));

    EXPECT(TR_EINVAL, tr_tcp_connect(NULL, "127.0.0.1", 1, 0, &c));
    assert_null(c);
    EXPECT(TR_EINVAL, tr_tcp_connect(live, NULL, 1, 0, &c));
    EXPECT(TR_EINVAL, tr_tcp_connect(live, "127.0.0.1", 1, 0, NULL));
    EXPECT(TR_EINVAL, tr_tcp_connect(live, "127.0.0.1", 0, 0, &c));
    EXPECT(TR_EINVAL, tr_tcp_connect(live, "::1::2", 1, 0, &c));
    EXPECT(TR_EINVAL, tr_tcp_connect(live, "example.com", 80, 0, &c));
    EXPECT(TR_EDEAD, tr_tcp_connect(dead, "127.0.0.1", 1, 0, &c));
    EXPECT(ANY_ERROR, tr_tcp_connect(stale, "127.0.0.1", 1, 0, &c));
    assert_null(c);

    EXPECT(TR_EINVAL, tr_tcp_start(NULL, live, 0));
    EXPECT(TR_EINVAL, tr_tcp_pause(NULL));
    EXPECT(TR_EINVAL, tr_tcp_resume(NULL));
    EXPECT(TR_EINVAL, tr_tcp_write(NULL, "x", 1));
    EXPECT(TR_EINVAL, tr_tcp_set_watermarks(NULL, 1, 2));
    EXPECT(0, tr_tcp_pending(NULL));
    EXPECT(TR_EINVAL, tr_tcp_close(NULL));

    /* A real connection (to a listener of ours) with bad arguments. */
    EXPECT(0, tr_tcp_listen(live, "127.0.0.1", 0, 0, 0, &l));
    int port = tr_tcp_listener_port(l);
    assert_true(port > 0);
    EXPECT(0, tr_tcp_connect(live, "127.0.0.1", (uint16_t)port, 0, &c));
    EXPECT(TR_EINVAL, tr_tcp_start(c, NULL, 0));
    EXPECT(TR_EINVAL, tr_tcp_write(c, NULL, 4));
    EXPECT(TR_EINVAL, tr_tcp_set_watermarks(c, 10, 5));
    EXPECT(TR_EINVAL, tr_tcp_set_watermarks(c, 0, 0));
    EXPECT(0, tr_tcp_close(c));
    EXPECT(0, tr_tcp_listener_close(l));

    EXPECT(TR_EINVAL, tr_runtime_close_on_signals(NULL));
    EXPECT(TR_ECLOSED, tr_runtime_close_on_signals(closed_rt));
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(bad, 0);
}

/* --- blocking.h ------------------------------------------------------------- */

static void blocking_calls_reject_bad_arguments(void **state) {
    (void)state;
    tr_future *f = NULL;
    tr_blocking_stats st;
    EXPECT(TR_EINVAL, tr_blocking_configure(NULL, 1, 1));
    EXPECT(TR_EINVAL, tr_blocking_configure(rt, 1025, 1));
    EXPECT(TR_EINVAL, tr_blocking_configure(rt, UINT32_MAX, 1));
    EXPECT(TR_EINVAL, tr_blocking_run(NULL, 1, 0, blocking_noop, NULL, NULL));
    EXPECT(TR_EINVAL, tr_blocking_run(live, 1, 0, NULL, NULL, NULL));
    EXPECT(TR_EINVAL, tr_blocking_run(live, TR_MSG_SYSTEM, 0, blocking_noop, NULL, NULL));
    EXPECT(TR_EDEAD, tr_blocking_run(dead, 1, 0, blocking_noop, NULL, free));
    EXPECT(TR_ECLOSED, tr_blocking_run(stale, 1, 0, blocking_noop, NULL, free));
    EXPECT(TR_EINVAL, tr_blocking_ask(NULL, blocking_noop, NULL, NULL, &f));
    EXPECT(TR_EINVAL, tr_blocking_ask(rt, NULL, NULL, NULL, &f));
    EXPECT(TR_EINVAL, tr_blocking_ask(rt, blocking_noop, NULL, NULL, NULL));
    EXPECT(TR_ECLOSED, tr_blocking_ask(closed_rt, blocking_noop, NULL, NULL, &f));
    assert_null(f);
    EXPECT(TR_EINVAL, tr_blocking_stats_get(NULL, &st));
    EXPECT(TR_EINVAL, tr_blocking_stats_get(rt, NULL));
    EXPECT(TR_ECLOSED, tr_blocking_configure(closed_rt, 1, 1));
    EXPECT(0, tr_blocking_stats_get(closed_rt, &st)); /* queries still work */
    assert_int_equal(st.queued, 0);
    assert_int_equal(bad, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(runtime_and_msg_calls_reject_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(actor_calls_on_a_stopped_actor_return_edead, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(actor_calls_on_a_closed_runtime_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(actor_calls_reject_reserved_types_and_huge_sizes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(calls_on_a_full_mailbox_return_efull_and_keep_ownership,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(context_calls_reject_null_and_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(reply_calls_reject_reserved_types_and_second_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(supervisor_calls_reject_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(pool_calls_reject_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(timer_calls_reject_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(io_calls_reject_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(blocking_calls_reject_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
