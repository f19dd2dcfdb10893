/* tests/test_contracts_sup.c - the contracts of the supervisor and pool
 * calls made from actors (troupe/supervisor.h, troupe/pool.h), tried where
 * they meet the rest: a caller that ends before its result comes (the child
 * handle in the lost result is released: the runtime then closes by itself,
 * which it only does once no handle is held anywhere), async calls on
 * things that are not supervisors or pools, add_worker racing tr_pool_close
 * (each accepted call gets exactly one answer), a supervisor stopped while
 * a child takes its time to stop (shutdown infinity), nested supervisors
 * stopped while a child waits out a long restart backoff, and everything on
 * a 1-worker runtime. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { T_GO = 1, T_CRASH, T_SLOW, T_DATA };

static uint64_t results, failures, result_ok, other, started, ended, downs, sent;
static tr_ref *the_sup, *the_pool;

static void reset(void) {
    uint64_t *all[] = {&results, &failures, &result_ok, &other, &started, &ended, &downs, &sent};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
}

static int child_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_CRASH)
        return TR_ECRASHED;
    if (msg->type == T_SLOW)
        tu_sleep_ms((int64_t)msg->word); /* a handler that takes its time */
    return 0;
}
static int child_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&started, 1);
    return 0;
}
static void child_term(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&ended, 1);
}
static const tr_behavior child = {child_init, child_receive, child_term};

static tr_ref *dynamic_sup(tr_runtime *rt) {
    static tr_child_spec tmpl = {.behavior = &child, .restart = TR_CHILD_TEMPORARY};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_DYNAMIC;
    cfg.children = &tmpl;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    return tr_sup_start(rt, &cfg, &sup) == 0 ? sup : NULL;
}

/* --- a caller that ends before its results -------------------------------- */

#define LOST 20
static int impatient(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_GO) {
        for (uint64_t i = 0; i < LOST; i++)
            if (tr_sup_start_dynamic_async(ctx, the_sup, NULL, i) == 0)
                tu_add(&sent, 1);
        return tr_stop(ctx); /* gone before any answer */
    }
    tu_add(&other, 1);
    return 0;
}

static int runtime_closed(void *rt) {
    return tr_runtime_is_closed(rt) == 1;
}

static void lost_async_results_release_their_child_handles(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    the_sup = dynamic_sup(rt);
    assert_non_null(the_sup);
    tr_behavior ib = {.receive = impatient};
    tr_ref *c = NULL;
    assert_int_equal(tr_spawn(rt, &ib, NULL, &c), 0);
    assert_int_equal(tr_send_word(c, T_GO, 0), 0);
    assert_true(tu_wait_ge(&started, LOST, TU_WAIT_MS));
    assert_int_equal(tu_load(&sent), LOST);
    assert_int_equal(tu_load(&other), 0);
    tr_ref_release(c);
    assert_int_equal(tr_sup_stop(the_sup), 0);
    tr_ref_release(the_sup);
    /* Every handle is gone (those in the lost results too): the runtime
     * closes by itself. */
    assert_true(tu_wait_until(runtime_closed, rt, TU_WAIT_MS));
    assert_int_equal(tu_load(&ended), LOST);
    tr_runtime_free(rt);
}

/* --- async calls on what is not a supervisor or a pool -------------------- */

static uint64_t rc_plain[6];
static tr_ref *not_sup;
static int misuser(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_child_spec spec = {.id = "x", .behavior = &child};
    int r[6] = {
        tr_sup_start_child_async(ctx, not_sup, &spec, 1),
        tr_sup_which_children_async(ctx, NULL, 2),
        tr_sup_start_child_async(ctx, the_sup, NULL, 3),
        tr_sup_terminate_child_async(ctx, the_sup, NULL, 4),
        tr_pool_try_add_worker_async(ctx, not_sup, 5),
        tr_pool_stats_async(ctx, the_sup, 6),
    };
    for (int i = 0; i < 6; i++)
        tu_store(&rc_plain[i], (uint64_t)(int64_t)(r[i] + 1000));
    tu_add(&results, 1);
    return 0;
}

static void async_calls_on_the_wrong_target_are_einval(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    the_sup = dynamic_sup(rt);
    tr_behavior mb = {.receive = misuser};
    tr_ref *m = NULL;
    assert_int_equal(tr_spawn(rt, &mb, NULL, &m), 0);
    not_sup = m;
    assert_int_equal(tr_send_word(m, T_GO, 0), 0);
    assert_true(tu_wait_ge(&results, 1, TU_WAIT_MS));
    for (int i = 0; i < 6; i++)
        assert_int_equal((int)((int64_t)tu_load(&rc_plain[i]) - 1000), TR_EINVAL);
    assert_int_equal(tr_sup_start_dynamic_async(NULL, the_sup, NULL, 1), TR_EINVAL);
    assert_int_equal(tr_pool_try_add_worker_async(NULL, the_sup, 1), TR_EINVAL);
    tr_ref *out = (tr_ref *)1;
    assert_int_equal(tr_sup_result_ref(NULL, &out), TR_EINVAL);
    tr_ref_release(m);
    tr_ref_release(the_sup);
    tr_runtime_free(rt);
}

/* --- pool: add_worker racing close ---------------------------------------- */

#define ADDS 64
static int adder(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_GO) {
        for (uint64_t i = 0; i < ADDS; i++) {
            int rc = (i & 1) ? tr_pool_try_add_worker_async(ctx, the_pool, i)
                             : tr_pool_stats_async(ctx, the_pool, i);
            if (rc == 0)
                tu_add(&sent, 1);
            else if (rc != TR_EDEAD)
                tu_add(&other, 1);
        }
        return 0;
    }
    if (msg->type == TR_MSG_RESULT) {
        tu_add(&results, 1);
        return 0;
    }
    if (msg->type == TR_MSG_ASK_FAILED) {
        if (tr_result_code(msg) != TR_EDEAD)
            tu_add(&other, 1);
        tu_add(&failures, 1);
        return 0;
    }
    tu_add(&other, 1);
    return 0;
}

static void *closer(void *arg) {
    (void)arg;
    tr_pool_close(the_pool);
    return NULL;
}

static void pool_async_calls_racing_close_get_one_answer_each(void **st) {
    (void)st;
    for (int round = 0; round < 20; round++) {
        reset();
        tr_runtime *rt = tu_runtime_new(2);
        tr_pool_config pc;
        tr_pool_config_init(&pc);
        pc.workers = 2;
        pc.max_workers = 8;
        pc.behavior = &child;
        assert_int_equal(tr_pool_start(rt, &pc, &the_pool), 0);
        tr_behavior ab = {.receive = adder};
        tr_ref *a = NULL;
        assert_int_equal(tr_spawn(rt, &ab, NULL, &a), 0);
        pthread_t th;
        assert_int_equal(tr_send_word(a, T_GO, 0), 0);
        pthread_create(&th, NULL, closer, NULL);
        pthread_join(th, NULL);
        assert_int_equal(tr_pool_close(the_pool), TR_EDEAD);
        int64_t end = tu_now_ms() + TU_WAIT_MS;
        while (tu_load(&results) + tu_load(&failures) < tu_load(&sent) && tu_now_ms() < end)
            tu_sleep_ms(1);
        tu_sleep_ms(5);
        assert_int_equal(tu_load(&results) + tu_load(&failures), tu_load(&sent));
        assert_int_equal(tu_load(&other), 0);
        tr_pool_release(the_pool);
        tr_ref_release(a);
        tr_runtime_free(rt);
    }
}

/* --- a supervisor stopped while a child takes its time --------------------- */

static int watch_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == TR_MSG_DOWN)
        tu_add(&downs, 1);
    return 0;
}
static int watch_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    uint64_t id;
    return tr_monitor(ctx, arg, &id);
}

static void stop_waits_for_a_slow_child_with_infinite_shutdown(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_child_spec spec = {.id = "slow", .behavior = &child, .shutdown_ms = TR_SHUTDOWN_INFINITY};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL, *w = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_child_info info;
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, &info, 1, &n), 0);
    assert_int_equal(n, 1);
    tr_behavior wb = {.init = watch_init, .receive = watch_receive};
    assert_int_equal(tr_spawn(rt, &wb, &(tr_spawn_opts){.arg = sup, .state_size = 8}, &w), 0);
    assert_int_equal(tr_send_word(info.ref, T_SLOW, 300), 0);
    tu_sleep_ms(20); /* the child is in its slow handler */
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_actor_stop(sup), 0);
    tu_sleep_ms(100);
    assert_int_equal(tr_ref_is_alive(sup), 1); /* still waiting for its child */
    assert_int_equal(tu_load(&downs), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_true(tu_now_ms() - t0 >= 200);
    assert_int_equal(tu_load(&ended), 1);
    tr_sup_children_release(&info, 1);
    tr_ref_release(w);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

/* --- nested supervisors stopped during a long backoff --------------------- */

static void stopping_nested_supervisors_during_a_backoff_ends_everything(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    static tr_child_spec leaf = {.id = "leaf", .behavior = &child};
    static tr_sup_config inner;
    tr_sup_config_init(&inner);
    inner.children = &leaf;
    inner.nchildren = 1;
    inner.intensity = 10;
    inner.backoff_min_ms = 20000; /* the restart waits 20 s */
    inner.backoff_max_ms = 20000;
    tr_child_spec mid = {.id = "inner", .sup = &inner, .kind = TR_CHILD_SUPERVISOR};
    tr_sup_config outer;
    tr_sup_config_init(&outer);
    outer.children = &mid;
    outer.nchildren = 1;
    tr_ref *sup = NULL, *w = NULL;
    assert_int_equal(tr_sup_start(rt, &outer, &sup), 0);
    assert_int_equal(tu_load(&started), 1);
    tr_child_info oi;
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, &oi, 1, &n), 0);
    tr_child_info li;
    assert_int_equal(tr_sup_which_children(oi.ref, &li, 1, &n), 0);
    assert_int_equal(tr_send_word(li.ref, T_CRASH, 0), 0);
    /* The inner supervisor now waits out its backoff. */
    int64_t end = tu_now_ms() + TU_WAIT_MS;
    for (;;) {
        tr_child_info x;
        assert_int_equal(tr_sup_which_children(oi.ref, &x, 1, &n), 0);
        int restarting = x.restarting;
        tr_sup_children_release(&x, 1);
        if (restarting || tu_now_ms() > end)
            break;
        tu_sleep_ms(1);
    }
    tr_behavior wb = {.init = watch_init, .receive = watch_receive};
    assert_int_equal(tr_spawn(rt, &wb, &(tr_spawn_opts){.arg = sup, .state_size = 8}, &w), 0);
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_actor_stop(sup), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_true(tu_now_ms() - t0 < 10000); /* not after the backoff */
    assert_int_equal(tr_ref_is_alive(oi.ref), 0);
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&started), 1); /* the leaf was never restarted */
    tr_sup_children_release(&li, 1);
    tr_sup_children_release(&oi, 1);
    tr_ref_release(w);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

/* --- a 1-worker runtime: calls between actors on the same worker ----------- */

static int one_worker_caller(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_GO) {
        tr_child_spec spec = {.id = "late", .behavior = &child};
        if (tr_sup_start_child_async(ctx, the_sup, &spec, 1) != 0 ||
            tr_sup_count_children_async(ctx, the_sup, 2) != 0 ||
            tr_pool_try_add_worker_async(ctx, the_pool, 3) != 0 ||
            tr_pool_stats_async(ctx, the_pool, 4) != 0)
            tu_add(&other, 1);
        return 0;
    }
    if (msg->type == TR_MSG_RESULT) {
        if (msg->corr == 1) {
            tr_ref *r = NULL;
            if (tr_sup_result_ref(msg, &r) == 0 && r != NULL) {
                tu_add(&result_ok, 1);
                if (tr_sup_result_ref(msg, &r) != TR_ESTATE) /* taken already */
                    tu_add(&other, 1);
                tr_ref_release(r);
            }
        } else if (msg->corr == 2) {
            tr_sup_counts c;
            if (tr_sup_result_counts(msg, &c) == 0 && c.active == 1)
                tu_add(&result_ok, 1);
        } else if (msg->corr == 3) {
            if (tr_result_code(msg) == 0) /* the worker was added */
                tu_add(&result_ok, 1);
        } else if (msg->corr == 4) {
            tr_pool_stats s;
            if (tr_pool_result_stats(msg, &s, NULL, 0, NULL) == 0 && s.workers == 2)
                tu_add(&result_ok, 1);
        }
        tu_add(&results, 1);
        return 0;
    }
    tu_add(&other, 1);
    return 0;
}

static void async_calls_complete_on_a_one_worker_runtime(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    assert_int_equal(tr_sup_start(rt, &cfg, &the_sup), 0);
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 1;
    pc.behavior = &child;
    assert_int_equal(tr_pool_start(rt, &pc, &the_pool), 0);
    tr_behavior cb = {.receive = one_worker_caller};
    tr_ref *c = NULL;
    assert_int_equal(tr_spawn(rt, &cb, NULL, &c), 0);
    assert_int_equal(tr_send_word(c, T_GO, 0), 0);
    assert_true(tu_wait_ge(&results, 4, TU_WAIT_MS));
    assert_int_equal(tu_load(&result_ok), 4);
    assert_int_equal(tu_load(&other), 0);
    tr_ref_release(c);
    tr_pool_release(the_pool);
    tr_ref_release(the_sup);
    tr_runtime_free(rt);
}

/* --- a pool worker answers the actor that sent (or requested) the job ----- */

enum { T_JOB = 40, T_JOB_ANS };
static int pool_job(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_JOB)
        return 0;
    tr_ref *s = NULL;
    int rc = tr_sender(ctx, &s);
    if (rc == 0 && s != NULL) {
        if (tr_ref_id(s) != msg->word)
            tu_add(&other, 1); /* the router or someone else */
        tr_ref_release(s);
    } else {
        tu_add(&other, 1);
    }
    if (tr_reply_word(msg, T_JOB_ANS, msg->word) != 0)
        tu_add(&other, 1);
    return 0;
}
static const tr_behavior pool_job_beh = {.receive = pool_job};

static int pool_client(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    uint64_t me = tr_ref_id(tr_self(ctx));
    if (msg->type == T_GO) {
        for (int i = 0; i < 10; i++) {
            if (tr_send_word(the_pool, T_JOB, me) != 0 ||
                tr_request_word(ctx, the_pool, T_JOB, me, (uint64_t)i) != 0)
                tu_add(&other, 1);
        }
        return 0;
    }
    if (msg->type == T_JOB_ANS) {
        if (msg->word != me)
            tu_add(&other, 1);
        if (tr_msg_is_reply(msg))
            tu_add(&results, 1); /* the requests' answers */
        else
            tu_add(&failures, 1); /* the tells' answers (new tells) */
        return 0;
    }
    tu_add(&other, 1);
    return 0;
}

static void pool_workers_reply_to_the_job_sender(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 3;
    pc.behavior = &pool_job_beh;
    assert_int_equal(tr_pool_start(rt, &pc, &the_pool), 0);
    tr_behavior cb = {.receive = pool_client};
    tr_ref *c = NULL;
    assert_int_equal(tr_spawn(rt, &cb, NULL, &c), 0);
    assert_int_equal(tr_send_word(c, T_GO, 0), 0);
    assert_true(tu_wait_ge(&results, 10, TU_WAIT_MS));
    assert_true(tu_wait_ge(&failures, 10, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&results), 10);
    assert_int_equal(tu_load(&failures), 10);
    assert_int_equal(tu_load(&other), 0);
    tr_ref_release(c);
    tr_pool_release(the_pool);
    tr_runtime_free(rt);
}

/* BROADCAST: every copy of a tell carries its sender, as the original does
 * (Akka's broadcast router keeps the sender for every routee). */
static int bcast_client(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    uint64_t me = tr_ref_id(tr_self(ctx));
    if (msg->type == T_GO)
        return tr_send_word(the_pool, T_JOB, me) == 0 ? 0 : TR_EINVAL;
    if (msg->type == T_JOB_ANS && msg->word == me && !tr_msg_is_reply(msg))
        tu_add(&failures, 1);
    else
        tu_add(&other, 1);
    return 0;
}

static void pool_broadcast_copies_carry_the_sender(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 3;
    pc.routing = TR_ROUTE_BROADCAST;
    pc.behavior = &pool_job_beh;
    assert_int_equal(tr_pool_start(rt, &pc, &the_pool), 0);
    tr_behavior cb = {.receive = bcast_client};
    tr_ref *c = NULL;
    assert_int_equal(tr_spawn(rt, &cb, NULL, &c), 0);
    assert_int_equal(tr_send_word(c, T_GO, 0), 0);
    assert_true(tu_wait_ge(&failures, 3, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&failures), 3);
    assert_int_equal(tu_load(&other), 0);
    tr_ref_release(c);
    tr_pool_release(the_pool);
    tr_runtime_free(rt);
}

/* A child spec whose name is taken: start_child_async answers TR_EEXIST and
 * the spec is not kept; a dynamic template with a name starts one child. */
static uint64_t codes[4];
static int named_starter(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    static const tr_child_spec spec = {
        .id = "n", .behavior = &child, .opts = {.register_as = "taken"}};
    if (msg->type == T_GO) {
        if (tr_sup_start_child_async(ctx, the_sup, &spec, 0) != 0 ||
            tr_sup_count_children_async(ctx, the_sup, 1) != 0 ||
            tr_sup_start_dynamic_async(ctx, the_pool /* a dynamic sup here */, NULL, 2) != 0 ||
            tr_sup_start_dynamic_async(ctx, the_pool, NULL, 3) != 0)
            tu_add(&other, 1);
        return 0;
    }
    if (msg->type == TR_MSG_RESULT && msg->corr < 4) {
        int rc = tr_result_code(msg);
        if (msg->corr == 1) {
            tr_sup_counts c;
            rc = tr_sup_result_counts(msg, &c) == 0 ? (int)c.specs : -100;
        }
        tr_ref *r = NULL;
        if (msg->corr >= 2 && tr_sup_result_ref(msg, &r) == 0 && r != NULL)
            tr_ref_release(r);
        tu_store(&codes[msg->corr], (uint64_t)(int64_t)(rc + 1000));
        tu_add(&results, 1);
        return 0;
    }
    tu_add(&other, 1);
    return 0;
}

static void a_named_spec_whose_name_is_taken_is_refused_and_not_kept(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    assert_int_equal(tr_sup_start(rt, &cfg, &the_sup), 0);
    static tr_child_spec tmpl = {
        .behavior = &child, .restart = TR_CHILD_TEMPORARY, .opts = {.register_as = "dyn"}};
    tr_sup_config dcfg;
    tr_sup_config_init(&dcfg);
    dcfg.strategy = TR_SUP_DYNAMIC;
    dcfg.children = &tmpl;
    dcfg.nchildren = 1;
    assert_int_equal(tr_sup_start(rt, &dcfg, &the_pool), 0);
    tr_ref *squatter = NULL, *c = NULL;
    assert_int_equal(tr_spawn(rt, &child, &(tr_spawn_opts){.register_as = "taken"}, &squatter), 0);
    tr_behavior sb = {.receive = named_starter};
    assert_int_equal(tr_spawn(rt, &sb, NULL, &c), 0);
    assert_int_equal(tr_send_word(c, T_GO, 0), 0);
    assert_true(tu_wait_ge(&results, 4, TU_WAIT_MS));
    assert_int_equal((int)((int64_t)tu_load(&codes[0]) - 1000), TR_EEXIST);
    assert_int_equal((int)((int64_t)tu_load(&codes[1]) - 1000), 0); /* no spec kept */
    assert_int_equal((int)((int64_t)tu_load(&codes[2]) - 1000), 0);
    assert_int_equal((int)((int64_t)tu_load(&codes[3]) - 1000), TR_EEXIST);
    assert_int_equal(tu_load(&other), 0);
    tr_sup_counts dc;
    assert_int_equal(tr_sup_count_children(the_pool, &dc), 0);
    assert_int_equal(dc.active, 1);
    tr_ref_release(c);
    tr_ref_release(squatter);
    tr_ref_release(the_pool);
    tr_ref_release(the_sup);
    tr_runtime_free(rt);
}

/* A supervisor waiting (shutdown infinity) for a child stuck in a long
 * handler does not hold up tr_actor_kill: it ends at once, and its child
 * ends as soon as its handler returns. */
static void kill_ends_a_supervisor_waiting_for_an_infinite_shutdown(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_child_spec spec = {.id = "slow", .behavior = &child, .shutdown_ms = TR_SHUTDOWN_INFINITY};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL, *w = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_child_info info;
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, &info, 1, &n), 0);
    tr_behavior wb = {.init = watch_init, .receive = watch_receive};
    assert_int_equal(tr_spawn(rt, &wb, &(tr_spawn_opts){.arg = sup, .state_size = 8}, &w), 0);
    assert_int_equal(tr_send_word(info.ref, T_SLOW, 800), 0);
    tu_sleep_ms(20);
    assert_int_equal(tr_actor_stop(sup), 0);
    tu_sleep_ms(50);
    assert_int_equal(tr_ref_is_alive(sup), 1);
    assert_int_equal(tr_actor_kill(sup), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal(tr_ref_is_alive(info.ref), 1); /* still in its handler */
    assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS));  /* then it ends: the watcher is left */
    assert_int_equal(tu_load(&ended), 1);
    tr_sup_children_release(&info, 1);
    tr_ref_release(w);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lost_async_results_release_their_child_handles),
        cmocka_unit_test(async_calls_on_the_wrong_target_are_einval),
        cmocka_unit_test(pool_async_calls_racing_close_get_one_answer_each),
        cmocka_unit_test(stop_waits_for_a_slow_child_with_infinite_shutdown),
        cmocka_unit_test(kill_ends_a_supervisor_waiting_for_an_infinite_shutdown),
        cmocka_unit_test(stopping_nested_supervisors_during_a_backoff_ends_everything),
        cmocka_unit_test(async_calls_complete_on_a_one_worker_runtime),
        cmocka_unit_test(pool_workers_reply_to_the_job_sender),
        cmocka_unit_test(pool_broadcast_copies_carry_the_sender),
        cmocka_unit_test(a_named_spec_whose_name_is_taken_is_refused_and_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
