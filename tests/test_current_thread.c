/* tests/test_current_thread.c - runtime modes: the current-thread runtime,
 * block_on, run until closed, main loops and pinned actors.
 *
 * What is specific to the modes: who runs the actors (the driving thread,
 * checked by thread id), the wrong-thread errors (TR_EBUSY, TR_EDEADLK,
 * TR_ECLOSED, TR_EINVAL), and that timers, I/O-less io (the blocking pool),
 * asks, supervisors and pools work in a current-thread runtime and with
 * pinned actors. The tests shared by both modes run again with
 * TROUPE_TEST_MODE=current (CMake: the *_ct tests). Threads record into
 * atomics; the test thread asserts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define T_ECHO 1
#define T_WHERE 2
#define T_CLOSE 3
#define T_CRASH 4
#define T_BLOCK_ON 5
#define T_COUNT 6
#define T_TICK 7
#define T_KEEP 8

static uint64_t counted;
static uint64_t ended;
static uint64_t rc_seen;
static tr_msg *kept;

static int reset(void **state) {
    (void)state;
    tu_store(&counted, 0);
    tu_store(&ended, 0);
    tu_store(&rc_seen, 0);
    kept = NULL;
    return 0;
}

static uint64_t self_id(void) {
    return (uint64_t)pthread_self();
}

/* Answers T_ECHO with word + 1 and T_WHERE with its thread's id; counts
 * T_COUNT; closes the runtime on T_CLOSE; crashes on T_CRASH; keeps T_KEEP
 * unanswered (the test answers it later); tries tr_runtime_block_on on
 * T_BLOCK_ON (its result in rc_seen). */
static int svc_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case T_ECHO:
        return tr_reply_word(msg, T_ECHO, msg->word + 1);
    case T_WHERE:
        return tr_reply_word(msg, T_WHERE, self_id());
    case T_COUNT:
        tu_add(&counted, 1);
        return 0;
    case T_TICK:
        tu_add(&counted, 1);
        return 0;
    case T_CLOSE:
        return tr_runtime_close(tr_ctx_runtime(ctx));
    case T_CRASH:
        return TR_ECRASHED;
    case T_KEEP:
        kept = msg;
        return tr_msg_keep(ctx, msg);
    case T_BLOCK_ON: {
        tr_future *f = NULL;
        tr_msg *r = NULL;
        int rc = tr_ask_word(tr_self(ctx), T_ECHO, 1, &f);
        if (rc == 0) {
            rc = tr_runtime_block_on(tr_ctx_runtime(ctx), f, 100, &r);
            tr_future_release(f);
        }
        tu_store(&rc_seen, (uint64_t)(int64_t)rc);
        return 0;
    }
    default:
        return 0;
    }
}

static void svc_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&ended, 1);
}

static const tr_behavior svc = {NULL, svc_receive, svc_terminate};

static tr_runtime *ct_new(void) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.mode = TR_RUNTIME_CURRENT_THREAD;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

static tr_runtime *main_loop_new(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.main_loop = 1;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

static tr_ref *spawn_svc(tr_runtime *rt, uint32_t pin) {
    tr_spawn_opts o = {0};
    o.pin = pin;
    tr_ref *r = NULL;
    return tr_spawn(rt, &svc, &o, &r) == 0 ? r : NULL;
}

/* Ask `to` {type, word} and drive rt until the answer: its word, or ~0. */
static uint64_t block_ask(tr_runtime *rt, tr_ref *to, uint32_t type, uint64_t word) {
    tr_future *f = NULL;
    tr_msg *r = NULL;
    if (tr_ask_word(to, type, word, &f) != 0)
        return UINT64_MAX;
    int rc = tr_runtime_block_on(rt, f, TU_WAIT_MS, &r);
    tr_future_release(f);
    if (rc != 0)
        return UINT64_MAX;
    uint64_t v = r->word;
    tr_msg_free(r);
    return v;
}

/* Drive rt's main loop for about ms milliseconds. */
static void drive_ms(tr_runtime *rt, int64_t ms) {
    tr_promise *p;
    tr_future *f;
    tr_msg *r = NULL;
    if (tr_promise_new(rt, &p, &f) != 0)
        return;
    (void)tr_runtime_block_on(rt, f, ms, &r);
    tr_promise_release(p);
    tr_future_release(f);
}

/* A thread that runs tr_runtime_run (its result in run_rc). TR_EBUSY while
 * the test thread drives for a moment (a tr_future_wait on the undriven
 * runtime): try again, as tests/support's driver does. */
static uint64_t run_rc;
static uint64_t run_started;
static uint64_t run_thread;

static void *runner(void *arg) {
    tu_store(&run_thread, self_id());
    tu_store(&run_started, 1);
    int rc;
    while ((rc = tr_runtime_run(arg)) == TR_EBUSY)
        tu_sleep_ms(1);
    tu_store(&run_rc, (uint64_t)(int64_t)rc);
    return NULL;
}

/* --- configuration -------------------------------------------------------- */

static void current_thread_config_is_checked(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    tr_runtime *rt = NULL;
    cfg.mode = TR_RUNTIME_CURRENT_THREAD;
    cfg.workers = 2; /* no worker threads in this mode */
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    cfg.workers = 0;
    cfg.mode = 7;
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    assert_null(rt);
    rt = ct_new();
    assert_non_null(rt);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_int_equal(st.workers, 0);
    assert_int_equal(tr_runtime_worker_id(rt), TR_ENOTFOUND); /* not driving */
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void run_and_block_on_reject_bad_arguments(void **state) {
    (void)state;
    tr_msg *r = NULL;
    assert_int_equal(tr_runtime_run(NULL), TR_EINVAL);
    assert_int_equal(tr_runtime_block_on(NULL, NULL, 0, &r), TR_EINVAL);
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    /* A multi-threaded runtime without a main loop: nothing to drive. */
    assert_int_equal(tr_runtime_run(rt), TR_EINVAL);
    tr_runtime *ct = ct_new();
    assert_non_null(ct);
    tr_promise *p;
    tr_future *f;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_runtime_block_on(ct, f, 10, &r), TR_EINVAL); /* f is rt's */
    assert_int_equal(tr_runtime_block_on(rt, f, 10, NULL), TR_EINVAL);
    /* Without a main loop block_on is tr_future_wait. */
    assert_int_equal(tr_runtime_block_on(rt, f, 10, &r), TR_ETIMEDOUT);
    assert_int_equal(tr_promise_reply_word(p, 9, 42), 0);
    assert_int_equal(tr_runtime_block_on(rt, f, 10, &r), 0);
    assert_int_equal(r->word, 42);
    tr_msg_free(r);
    tr_promise_release(p);
    tr_future_release(f);
    assert_int_equal(tr_runtime_free(ct), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void pin_is_checked(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_spawn_opts o = {0};
    tr_ref *r = NULL;
    o.pin = TR_PIN_MAIN; /* no main loop here */
    assert_int_equal(tr_spawn(rt, &svc, &o, &r), TR_EINVAL);
    assert_null(r);
    o.pin = 9;
    assert_int_equal(tr_spawn(rt, &svc, &o, &r), TR_EINVAL);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- the current-thread runtime ------------------------------------------ */

static void block_on_runs_actors_on_the_calling_thread(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    assert_non_null(rt);
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    assert_non_null(a);
    assert_int_equal(block_ask(rt, a, T_ECHO, 41), 42);
    assert_int_equal(block_ask(rt, a, T_WHERE, 0), self_id());
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&ended), 1);
}

static void future_wait_drives_an_undriven_runtime(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    assert_non_null(a);
    tr_future *f;
    tr_msg *r = NULL;
    assert_int_equal(tr_ask_word(a, T_WHERE, 0, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, self_id());
    tr_msg_free(r);
    tr_future_release(f);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void block_on_times_out_and_the_future_stays_usable(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    tr_future *f;
    tr_msg *r = NULL;
    assert_int_equal(tr_ask_word(a, T_KEEP, 0, &f), 0);
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_runtime_block_on(rt, f, 50, &r), TR_ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 45);
    assert_non_null(kept); /* it was handled: the drive ran the actor */
    assert_int_equal(tr_reply_word(kept, T_KEEP, 7), 0);
    tr_msg_free(kept);
    assert_int_equal(tr_runtime_block_on(rt, f, 0, &r), 0);
    assert_int_equal(r->word, 7);
    tr_msg_free(r);
    tr_future_release(f);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void block_on_from_an_actor_is_edeadlk(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    assert_int_equal(tr_send_word(a, T_BLOCK_ON, 0), 0);
    assert_int_equal(block_ask(rt, a, T_ECHO, 1), 2); /* after T_BLOCK_ON */
    assert_int_equal((int64_t)tu_load(&rc_seen), TR_EDEADLK);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void run_returns_once_the_runtime_closes(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    for (int i = 0; i < 100; i++)
        assert_int_equal(tr_send_word(a, T_COUNT, 0), 0);
    assert_int_equal(tr_send_word(a, T_CLOSE, 0), 0);
    assert_int_equal(tr_runtime_run(rt), 0); /* on this thread, until closed */
    assert_int_equal(tu_load(&counted), 100);
    assert_int_equal(tu_load(&ended), 1);
    assert_int_equal(tr_runtime_run(rt), TR_ECLOSED); /* it has exited */
    tr_future *f;
    assert_int_equal(tr_ask_word(a, T_ECHO, 0, &f), TR_ECLOSED);
    assert_int_equal(tr_runtime_join(rt), 0);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void run_closes_by_itself_when_nothing_is_left(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    assert_int_equal(tr_send_word(a, T_COUNT, 0), 0);
    assert_int_equal(tr_actor_stop(a), 0);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_run(rt), 0);
    assert_true(tr_runtime_is_closed(rt));
    assert_int_equal(tu_load(&ended), 1);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void a_second_driver_gets_ebusy(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    tu_store(&run_started, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, runner, rt), 0);
    assert_true(tu_wait_ge(&run_started, 1, TU_WAIT_MS));
    /* The runner drives; wait until an ask proves it (its thread runs a).
     * Until the runner is inside tr_runtime_run, tr_future_wait drives the
     * undriven runtime itself and a runs here: ask again. */
    tr_future *f;
    tr_msg *r = NULL;
    uint64_t where = 0;
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    do {
        assert_int_equal(tr_ask_word(a, T_WHERE, 0, &f), 0);
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
        where = r->word;
        tr_msg_free(r);
        tr_future_release(f);
        if (where != tu_load(&run_thread))
            tu_sleep_ms(1);
    } while (where != tu_load(&run_thread) && tu_now_ms() < deadline);
    assert_int_equal(where, tu_load(&run_thread));
    assert_int_equal(tr_runtime_run(rt), TR_EBUSY);
    assert_int_equal(tr_ask_word(a, T_KEEP, 0, &f), 0);
    assert_int_equal(tr_runtime_block_on(rt, f, 1000, &r), TR_EBUSY);
    assert_int_equal(tr_future_wait(f, 20, &r), TR_ETIMEDOUT);
    tr_future_release(f);
    assert_int_equal(tr_runtime_close(rt), 0);
    pthread_join(th, NULL);
    assert_int_equal((int64_t)tu_load(&run_rc), 0);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void foreign_sends_wake_the_driver(void **state) {
    (void)state;
    enum { N = 20000 };
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, runner, rt), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(tr_send_word(a, T_COUNT, 0), 0);
        if (i % 1000 == 0)
            tu_sleep_ms(1); /* let the driver go idle and park now and then */
    }
    assert_true(tu_wait_ge(&counted, N, TU_WAIT_MS));
    tr_ref_release(a);
    assert_int_equal(tr_runtime_close(rt), 0);
    pthread_join(th, NULL);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&counted), N);
}

static void timers_fire_while_driven(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_ref *a = spawn_svc(rt, TR_PIN_NONE);
    tr_timer_id id;
    assert_int_equal(tr_timer_tick_every(a, 5, 5, T_TICK, 0, &id), 0);
    /* An ask kept unanswered: block_on drives until its timeout. */
    tr_future *f;
    tr_msg *r;
    assert_int_equal(tr_ask_word(a, T_KEEP, 0, &f), 0);
    assert_int_equal(tr_runtime_block_on(rt, f, 200, &r), TR_ETIMEDOUT);
    assert_true(tu_load(&counted) >= 3);
    assert_int_equal(tr_timer_cancel(rt, id), 0);
    tr_future_release(f);
    tr_msg_free(kept);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static int blocking_fn(void *arg, void **result) {
    (void)arg;
    tu_sleep_ms(5);
    *result = NULL;
    return 77;
}

static void the_blocking_pool_settles_a_driven_future(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_future *f;
    tr_msg *r = NULL;
    assert_int_equal(tr_blocking_ask(rt, blocking_fn, NULL, NULL, &f), 0);
    assert_int_equal(tr_runtime_block_on(rt, f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->status, 77);
    tr_msg_free(r);
    tr_future_release(f);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void a_supervisor_restarts_a_child(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_child_spec spec = {0};
    spec.id = "svc";
    spec.behavior = &svc;
    spec.restart = TR_CHILD_PERMANENT;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_child_info info[1];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0); /* drives */
    assert_int_equal(n, 1);
    tr_ref *child = info[0].ref;
    assert_int_equal(tr_send_word(child, T_CRASH, 0), 0);
    tr_sup_children_release(info, n);
    /* Drive until the crash is handled and the child restarted. */
    for (int i = 0; i < 1000 && tu_load(&ended) < 1; i++) {
        tr_sup_counts k;
        assert_int_equal(tr_sup_count_children(sup, &k), 0);
    }
    assert_int_equal(tu_load(&ended), 1);
    assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_non_null(info[0].ref);
    assert_int_equal(block_ask(rt, info[0].ref, T_ECHO, 1), 2);
    tr_sup_children_release(info, n);
    tr_ref_release(sup);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static int pool_job(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    return tr_reply_word(msg, 1, msg->word * 2);
}

static const tr_behavior pool_worker = {NULL, pool_job, NULL};

static void a_pool_answers_asks(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.behavior = &pool_worker;
    cfg.workers = 3;
    tr_ref *pool = NULL;
    assert_int_equal(tr_pool_start(rt, &cfg, &pool), 0);
    for (uint64_t i = 0; i < 50; i++)
        assert_int_equal(block_ask(rt, pool, 1, i), 2 * i);
    tr_pool_release(pool);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void free_drives_the_actors_to_their_end(void **state) {
    (void)state;
    tr_runtime *rt = ct_new();
    for (int i = 0; i < 10; i++)
        assert_int_equal(tr_spawn(rt, &svc, NULL, NULL), 0); /* no handle kept */
    /* Nobody drove it: free drives it until every actor has ended. */
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&ended), 10);
}

/* --- main loops and pinned actors ---------------------------------------- */

/* Foreign threads ask a main-pinned actor where it runs while the test
 * thread drives the main loop. */
typedef struct asker_arg {
    tr_ref *to;
    tr_runtime *rt;
    uint64_t expect; /* the thread id it must report */
    uint64_t ok;
    uint64_t bad;
} asker_arg;

static void *asker(void *p) {
    asker_arg *a = p;
    for (int i = 0; i < 200; i++) {
        tr_future *f;
        tr_msg *r = NULL;
        if (tr_ask_word(a->to, T_WHERE, 0, &f) != 0) {
            tu_add(&a->bad, 1);
            continue;
        }
        if (tr_future_wait(f, TU_WAIT_MS, &r) == 0 && r->word == a->expect)
            tu_add(&a->ok, 1);
        else
            tu_add(&a->bad, 1);
        if (r != NULL)
            tr_msg_free(r);
        tr_future_release(f);
    }
    return NULL;
}

static void main_pinned_actor_runs_on_the_driving_thread(void **state) {
    (void)state;
    tr_runtime *rt = main_loop_new(2);
    assert_non_null(rt);
    tr_ref *m = spawn_svc(rt, TR_PIN_MAIN);
    assert_non_null(m);
    asker_arg aa = {m, rt, self_id(), 0, 0};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, asker, &aa), 0);
    /* Drive the main loop until both askers are done, in slices: an ask
     * kept unanswered, waited on 10 ms at a time. */
    tr_future *f;
    tr_msg *r = NULL;
    assert_int_equal(tr_ask_word(m, T_KEEP, 0, &f), 0);
    while (tu_load(&aa.ok) + tu_load(&aa.bad) < 400) {
        int rc = tr_runtime_block_on(rt, f, 10, &r);
        assert_int_equal(rc, TR_ETIMEDOUT);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tu_load(&aa.ok), 400);
    assert_int_equal(tu_load(&aa.bad), 0);
    tr_reply_word(kept, 1, 1);
    tr_msg_free(kept);
    tr_future_release(f);
    /* A pool worker is never the main thread; join drives main to the end. */
    tr_ref_release(m);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&ended), 1);
}

static void main_loop_run_twice_and_from_an_actor(void **state) {
    (void)state;
    tr_runtime *rt = main_loop_new(1);
    tr_ref *m = spawn_svc(rt, TR_PIN_MAIN);
    tr_ref *p = spawn_svc(rt, TR_PIN_NONE);
    assert_int_equal(tr_send_word(p, T_BLOCK_ON, 0), 0);           /* on a pool worker */
    assert_int_equal(block_ask(rt, m, T_BLOCK_ON, 0), UINT64_MAX); /* no reply: ENOREPLY */
    assert_int_equal((int64_t)tu_load(&rc_seen), TR_EDEADLK);
    pthread_t th;
    tu_store(&run_started, 0);
    assert_int_equal(pthread_create(&th, NULL, runner, rt), 0);
    assert_true(tu_wait_ge(&run_started, 1, TU_WAIT_MS));
    tr_future *f;
    tr_msg *r = NULL;
    assert_int_equal(tr_ask_word(m, T_WHERE, 0, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, tu_load(&run_thread));
    tr_msg_free(r);
    tr_future_release(f);
    assert_int_equal(tr_runtime_run(rt), TR_EBUSY);
    assert_int_equal(tr_send_word(m, T_CLOSE, 0), 0);
    pthread_join(th, NULL);
    assert_int_equal((int64_t)tu_load(&run_rc), 0);
    assert_int_equal(tr_runtime_run(rt), TR_ECLOSED);
    tr_ref_release(m);
    tr_ref_release(p);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* A pinned actor's own thread: the same thread for every message, not a
 * worker of the pool, and gone once the actor ends. */
static void thread_pinned_actor_keeps_its_thread(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *t = spawn_svc(rt, TR_PIN_THREAD);
    assert_non_null(t);
    tr_future *f;
    tr_msg *r = NULL;
    uint64_t first = 0;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(tr_ask_word(t, T_WHERE, 0, &f), 0);
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
        if (i == 0)
            first = r->word;
        assert_int_equal(r->word, first);
        tr_msg_free(r);
        tr_future_release(f);
    }
    assert_int_not_equal(first, self_id());
    /* Its timers deliver to it on its thread too. */
    tr_timer_id id;
    assert_int_equal(tr_timer_tick_every(t, 1, 2, T_TICK, 0, &id), 0);
    assert_true(tu_wait_ge(&counted, 5, TU_WAIT_MS));
    tr_timer_cancel(rt, id);
    assert_int_equal(tr_actor_stop(t), 0);
    assert_true(tu_wait_ge(&ended, 1, TU_WAIT_MS));
    /* Many in a row: each thread ends with its actor and is joined. */
    for (int i = 0; i < 20; i++) {
        tr_ref *x = spawn_svc(rt, TR_PIN_THREAD);
        assert_non_null(x);
        assert_int_equal(tr_send_word(x, T_CRASH, 0), 0);
        tr_ref_release(x);
    }
    assert_true(tu_wait_ge(&ended, 21, TU_WAIT_MS));
    tr_ref_release(t);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* Pinned child under a supervisor: the restart is pinned too. */
static uint64_t child_starts;

static int where_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    tu_add(&child_starts, 1);
    return 0;
}

static const tr_behavior where_beh = {where_init, svc_receive, svc_terminate};

static void a_pinned_child_restarts_pinned(void **state) {
    (void)state;
    tu_store(&child_starts, 0);
    tr_runtime *rt = main_loop_new(2);
    tr_child_spec spec = {0};
    spec.id = "gui";
    spec.behavior = &where_beh;
    spec.opts.pin = TR_PIN_MAIN;
    spec.restart = TR_CHILD_PERMANENT;
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_child_info info[1];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(sup, info, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(block_ask(rt, info[0].ref, T_WHERE, 0), self_id());
    assert_int_equal(tr_send_word(info[0].ref, T_CRASH, 0), 0);
    tr_sup_children_release(info, n);
    /* The restarted child answers from the main loop too (we drive it). */
    uint64_t where = UINT64_MAX;
    for (int i = 0; i < 1000 && where != self_id(); i++) {
        drive_ms(rt, 2); /* the crash is handled on the main loop */
        if (tr_sup_which_children(sup, info, 1, &n) != 0 || n != 1)
            continue;
        if (info[0].ref != NULL && tu_load(&child_starts) >= 2)
            where = block_ask(rt, info[0].ref, T_WHERE, 0);
        tr_sup_children_release(info, n);
    }
    assert_int_equal(where, self_id());
    assert_true(tu_load(&child_starts) >= 2);
    tr_ref_release(sup);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* Links and monitors across the pin: a normal actor monitors a pinned one
 * (thread) and hears of its crash. */
static uint64_t downs;

static int mon_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == TR_MSG_DOWN) {
        tu_add(&downs, 1);
        return 0;
    }
    if (msg->type == T_ECHO) { /* word: the ref to watch, as a pointer */
        uint64_t id;
        tr_ref *t = (tr_ref *)(uintptr_t)msg->word;
        int rc = tr_monitor(ctx, t, &id);
        return tr_reply_word(msg, T_ECHO, (uint64_t)(int64_t)rc);
    }
    return 0;
}

static const tr_behavior mon_beh = {NULL, mon_receive, NULL};

static void monitors_see_a_pinned_actor_end(void **state) {
    (void)state;
    tu_store(&downs, 0);
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *t = spawn_svc(rt, TR_PIN_THREAD);
    tr_ref *m = NULL;
    assert_int_equal(tr_spawn(rt, &mon_beh, NULL, &m), 0);
    tr_future *f;
    tr_msg *r = NULL;
    assert_int_equal(tr_ask_word(m, T_ECHO, (uint64_t)(uintptr_t)t, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, 0);
    tr_msg_free(r);
    tr_future_release(f);
    assert_int_equal(tr_send_word(t, T_CRASH, 0), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    tr_ref_release(t);
    tr_ref_release(m);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* Many asks through both kinds of pin in a row, answers checked exactly. */
#define PP_ROUNDS 2000

static void pinned_and_pool_actors_ping_pong(void **state) {
    (void)state;
    tr_runtime *rt = main_loop_new(2);
    tr_ref *pm = spawn_svc(rt, TR_PIN_MAIN);
    tr_ref *pt = spawn_svc(rt, TR_PIN_THREAD);
    for (int i = 0; i < PP_ROUNDS / TU_SANITIZER_SLOWDOWN; i++) {
        assert_int_equal(block_ask(rt, pm, T_ECHO, (uint64_t)i), (uint64_t)i + 1);
        assert_int_equal(block_ask(rt, pt, T_ECHO, (uint64_t)i), (uint64_t)i + 1);
    }
    tr_ref_release(pm);
    tr_ref_release(pt);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&ended), 2);
}

/* Stress: foreign threads send to a main-pinned and a thread-pinned actor
 * while pool actors relay to them too; every message is counted exactly and
 * each pinned actor checks that it always runs on one thread. */
#define ST_THREADS 4
#define ST_MSGS (20000 / TU_SANITIZER_SLOWDOWN)

static uint64_t st_got[2];
static uint64_t st_wrong;
static uint64_t st_thread[2];

static int pinned_count(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    unsigned k = msg->word == 0 ? 0 : 1; /* 0: main-pinned, 1: thread-pinned */
    uint64_t me = self_id();
    uint64_t expect = 0;
    /* The first message records the thread; later ones compare with it. */
    if (!__atomic_compare_exchange_n(&st_thread[k], &expect, me, 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST) &&
        expect != me)
        tu_add(&st_wrong, 1);
    tu_add(&st_got[k], 1);
    return 0;
}

static int relay(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    tr_ref **to = state; /* [0] main-pinned, [1] thread-pinned */
    return tr_send_word(to[msg->word], 1, msg->word);
}

typedef struct st_arg {
    tr_ref *to[2];
    tr_ref *relay;
} st_arg;

static void *st_sender(void *p) {
    st_arg *a = p;
    for (int i = 0; i < ST_MSGS; i++) {
        uint64_t k = (uint64_t)(i & 1);
        tr_ref *dst = (i % 3 == 0) ? a->relay : a->to[k];
        while (tr_send_word(dst, 1, k) != 0)
            tu_sleep_ms(1);
    }
    return NULL;
}

static void pinned_actors_under_many_senders(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        tu_store(&st_got[k], 0);
        tu_store(&st_thread[k], 0);
    }
    tu_store(&st_wrong, 0);
    tr_runtime *rt = main_loop_new(2);
    static const tr_behavior cnt = {NULL, pinned_count, NULL};
    static const tr_behavior rel = {NULL, relay, NULL};
    st_arg a;
    tr_spawn_opts o = {0};
    o.pin = TR_PIN_MAIN;
    assert_int_equal(tr_spawn(rt, &cnt, &o, &a.to[0]), 0);
    o.pin = TR_PIN_THREAD;
    assert_int_equal(tr_spawn(rt, &cnt, &o, &a.to[1]), 0);
    tr_spawn_opts ro = {0};
    ro.arg = a.to; /* the state: the two handles, borrowed */
    assert_int_equal(tr_spawn(rt, &rel, &ro, &a.relay), 0);
    pthread_t th[ST_THREADS];
    for (int i = 0; i < ST_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, st_sender, &a), 0);
    uint64_t want = (uint64_t)ST_THREADS * ST_MSGS / 2;
    int64_t t0 = tu_now_ms();
    while ((tu_load(&st_got[0]) < want || tu_load(&st_got[1]) < want) &&
           tu_now_ms() - t0 < TU_WAIT_MS)
        drive_ms(rt, 5); /* the main loop runs here */
    for (int i = 0; i < ST_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tu_load(&st_got[0]), want);
    assert_int_equal(tu_load(&st_got[1]), want);
    assert_int_equal(tu_load(&st_wrong), 0);
    assert_int_equal(tu_load(&st_thread[0]), self_id());
    assert_int_not_equal(tu_load(&st_thread[1]), self_id());
    tr_ref_release(a.relay);
    tr_ref_release(a.to[0]);
    tr_ref_release(a.to[1]);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(current_thread_config_is_checked, reset),
        cmocka_unit_test_setup(run_and_block_on_reject_bad_arguments, reset),
        cmocka_unit_test_setup(pin_is_checked, reset),
        cmocka_unit_test_setup(block_on_runs_actors_on_the_calling_thread, reset),
        cmocka_unit_test_setup(future_wait_drives_an_undriven_runtime, reset),
        cmocka_unit_test_setup(block_on_times_out_and_the_future_stays_usable, reset),
        cmocka_unit_test_setup(block_on_from_an_actor_is_edeadlk, reset),
        cmocka_unit_test_setup(run_returns_once_the_runtime_closes, reset),
        cmocka_unit_test_setup(run_closes_by_itself_when_nothing_is_left, reset),
        cmocka_unit_test_setup(a_second_driver_gets_ebusy, reset),
        cmocka_unit_test_setup(foreign_sends_wake_the_driver, reset),
        cmocka_unit_test_setup(timers_fire_while_driven, reset),
        cmocka_unit_test_setup(the_blocking_pool_settles_a_driven_future, reset),
        cmocka_unit_test_setup(a_supervisor_restarts_a_child, reset),
        cmocka_unit_test_setup(a_pool_answers_asks, reset),
        cmocka_unit_test_setup(free_drives_the_actors_to_their_end, reset),
        cmocka_unit_test_setup(main_pinned_actor_runs_on_the_driving_thread, reset),
        cmocka_unit_test_setup(main_loop_run_twice_and_from_an_actor, reset),
        cmocka_unit_test_setup(thread_pinned_actor_keeps_its_thread, reset),
        cmocka_unit_test_setup(a_pinned_child_restarts_pinned, reset),
        cmocka_unit_test_setup(monitors_see_a_pinned_actor_end, reset),
        cmocka_unit_test_setup(pinned_and_pool_actors_ping_pong, reset),
        cmocka_unit_test_setup(pinned_actors_under_many_senders, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
