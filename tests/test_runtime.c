/* tests/test_runtime.c - the runtime's life cycle, configuration and stats.
 *
 * new/close/join/free, config validation, NULL arguments on every public
 * function (table-driven), tr_strerror, stats, closing by itself when the
 * last handle goes, the thread hooks, and idle workers parking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

/* --- small behaviours ---------------------------------------------------- */

static uint64_t terminated;
static uint64_t received;
static uint64_t last_kind;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    tu_add(&received, 1);
    return 0;
}

static int stop_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tu_add(&received, 1);
    return tr_stop(ctx);
}

static void count_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    tu_store(&last_kind, (uint64_t)why->kind);
    tu_add(&terminated, 1);
}

static const tr_behavior counter = {NULL, count_receive, count_terminate};
static const tr_behavior stopper = {NULL, stop_receive, count_terminate};

static int reset(void **state) {
    (void)state;
    tu_store(&terminated, 0);
    tu_store(&received, 0);
    tu_store(&last_kind, 0);
    return 0;
}

/* --- life cycle ---------------------------------------------------------- */

static void runtime_new_with_null_config_uses_defaults(void **state) {
    (void)state;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, NULL), 0);
    assert_non_null(rt);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_true(st.workers >= 1);
    assert_int_equal(tr_runtime_is_closed(rt), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void runtime_config_init_zeroes_everything(void **state) {
    (void)state;
    tr_runtime_config cfg;
    memset(&cfg, 0xAB, sizeof(cfg));
    tr_runtime_config_init(&cfg);
    tr_runtime_config zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&cfg, &zero, sizeof(cfg));
    tr_runtime_config_init(NULL); /* ignored */
}

static void runtime_new_with_more_than_256_workers_returns_einval(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 257;
    tr_runtime *rt = (tr_runtime *)&cfg; /* must be overwritten */
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    assert_null(rt);
}

static void runtime_new_with_batch_over_65536_returns_einval(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.batch = 65537;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), TR_EINVAL);
    assert_null(rt);
}

static void runtime_new_with_an_unusable_stack_size_fails_cleanly(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.stack_size = 1; /* below PTHREAD_STACK_MIN: no worker can start */
    tr_runtime *rt = (tr_runtime *)&cfg;
    int rc = tr_runtime_new(&rt, &cfg);
    assert_true(rc == TR_EINVAL || rc == TR_ESYS);
    assert_null(rt);
}

static void runtime_close_join_free_without_actors(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_is_closed(rt), 1);
    assert_int_equal(tr_runtime_close(rt), 0); /* idempotent */
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0); /* joining twice is fine */
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void runtime_close_stops_every_actor_with_shutdown(void **state) {
    (void)state;
    enum { N = 10 };
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *refs[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(tr_spawn(rt, &counter, NULL, &refs[i]), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tu_load(&terminated), N);
    assert_int_equal(tu_load(&last_kind), TR_EXIT_SHUTDOWN);
    for (int i = 0; i < N; i++) {
        assert_int_equal(tr_ref_is_alive(refs[i]), 0);
        assert_int_equal(tr_send_word(refs[i], 1, 0), TR_ECLOSED);
        tr_ref_release(refs[i]);
    }
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void spawn_after_close_returns_eclosed(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    tr_runtime_close(rt);
    tr_ref *ref = (tr_ref *)rt;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &ref), TR_ECLOSED);
    assert_null(ref);
    tr_runtime_free(rt);
}

static void runtime_free_closes_and_joins(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tr_spawn(rt, &counter, NULL, NULL), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&terminated), 5);
}

/* --- closing by itself --------------------------------------------------- */

static int closed_pred(void *arg) {
    return tr_runtime_is_closed(arg) == 1;
}

static void runtime_closes_itself_when_last_handle_released(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &ref), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    /* The handle still counts: no auto-close yet. */
    assert_int_equal(tr_runtime_is_closed(rt), 0);
    assert_int_equal(tr_ref_release(ref), 0);
    assert_true(tu_wait_until(closed_pred, rt, TU_WAIT_MS));
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void runtime_closes_itself_when_last_unheld_actor_stops(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &stopper, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_ref_release(ref), 0); /* only the runtime's ref now */
    assert_true(tu_wait_until(closed_pred, rt, TU_WAIT_MS));
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tu_load(&terminated), 1);
    assert_int_equal(tu_load(&last_kind), TR_EXIT_NORMAL);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void runtime_with_keep_open_stays_open_and_spawns_again(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.keep_open = 1;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    /* The only actor stops itself and its handle is dropped: nothing is
     * alive and nothing is held, which would close a default runtime. */
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &stopper, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_ref_release(ref), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    tu_sleep_ms(50); /* the workers park and would look for the auto-close */
    assert_int_equal(tr_runtime_is_closed(rt), 0);
    /* It still takes spawns, and closes when told to. */
    assert_int_equal(tr_spawn(rt, &counter, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_ref_release(ref), 0);
    assert_int_equal(tr_runtime_is_closed(rt), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void runtime_without_spawns_does_not_close_itself(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    tu_sleep_ms(20);
    assert_int_equal(tr_runtime_is_closed(rt), 0);
    tr_runtime_free(rt);
}

/* --- stats, hooks, parking ---------------------------------------------- */

static void stats_count_spawned_alive_and_dead_letters(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *a, *b;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &a), 0);
    assert_int_equal(tr_spawn(rt, &counter, NULL, &b), 0);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_int_equal(st.actors_spawned, 3); /* gate included */
    assert_int_equal(st.actors_alive, 3);
    assert_int_equal(st.dead_letters, 0);
    assert_int_equal(st.workers, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tr_send_word(a, 1, (uint64_t)i), 0);
    assert_int_equal(tr_actor_stop(a), 0); /* before any of the 4 ran */
    tu_gate_open(&g);
    assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS));
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_int_equal(st.actors_spawned, 3);
    assert_int_equal(st.actors_alive, 1);
    assert_int_equal(st.dead_letters, 4);
    assert_int_equal(tu_load(&received), 0);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_runtime_free(rt);
}

static void stats_do_not_count_failed_spawns(void **state);

static uint64_t started[8], stopped[8];
static uint64_t hook_user_ok;

static void on_start(void *user, unsigned worker) {
    if (user == &hook_user_ok && worker < 8)
        tu_add(&started[worker], 1);
}

static void on_stop(void *user, unsigned worker) {
    if (user == &hook_user_ok && worker < 8)
        tu_add(&stopped[worker], 1);
}

static void thread_hooks_run_once_per_worker(void **state) {
    (void)state;
    memset(started, 0, sizeof(started));
    memset(stopped, 0, sizeof(stopped));
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 3;
    cfg.on_thread_start = on_start;
    cfg.on_thread_stop = on_stop;
    cfg.user_data = &hook_user_ok;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    for (int i = 0; i < 10; i++)
        tr_spawn(rt, &counter, NULL, NULL);
    assert_int_equal(tr_runtime_free(rt), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(tu_load(&started[i]), i < 3 ? 1 : 0);
        assert_int_equal(tu_load(&stopped[i]), i < 3 ? 1 : 0);
    }
}

static int parked_pred(void *arg) {
    tr_runtime_stats st;
    return tr_runtime_stats_get(arg, &st) == 0 && st.parks > 0;
}

static void idle_runtime_parks_its_workers(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_true(tu_wait_until(parked_pred, rt, TU_WAIT_MS));
    /* A parked runtime still wakes up for work. */
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- worker-only restrictions -------------------------------------------- */

static uint64_t join_rc, free_rc, worker_id, done_flag;

static int worker_calls_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    tu_store(&join_rc, (uint64_t)(int64_t)tr_runtime_join(rt));
    tu_store(&free_rc, (uint64_t)(int64_t)tr_runtime_free(rt));
    tu_store(&worker_id, (uint64_t)(int64_t)tr_runtime_worker_id(rt));
    tu_store(&done_flag, 1);
    return 0;
}

static void join_and_free_from_a_worker_return_edeadlk(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, worker_calls_receive, NULL};
    tu_store(&done_flag, 0);
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_true(tu_wait_ge(&done_flag, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&join_rc), TR_EDEADLK);
    assert_int_equal((int)tu_load(&free_rc), TR_EDEADLK);
    assert_true((int)tu_load(&worker_id) >= 0 && (int)tu_load(&worker_id) < 2);
    assert_int_equal(tr_runtime_worker_id(rt), TR_ENOTFOUND);
    assert_int_equal(tr_runtime_worker_id(NULL), TR_EINVAL);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- tr_strerror --------------------------------------------------------- */

static void strerror_names_every_code(void **state) {
    (void)state;
    const char *unknown = tr_strerror(-9999);
    assert_non_null(unknown);
    static const struct {
        int code;
        const char *prefix;
    } codes[] = {
        {TR_OK, "TR_OK"},
        {TR_EINVAL, "TR_EINVAL"},
        {TR_ENOMEM, "TR_ENOMEM"},
        {TR_EDEAD, "TR_EDEAD"},
        {TR_EFULL, "TR_EFULL"},
        {TR_ECLOSED, "TR_ECLOSED"},
        {TR_ETIMEDOUT, "TR_ETIMEDOUT"},
        {TR_E2BIG, "TR_E2BIG"},
        {TR_ENOREPLY, "TR_ENOREPLY"},
        {TR_EBUSY, "TR_EBUSY"},
        {TR_EDEADLK, "TR_EDEADLK"},
        {TR_ESYS, "TR_ESYS"},
        {TR_ESTATE, "TR_ESTATE"},
        {TR_ECANCELED, "TR_ECANCELED"},
        {TR_ECRASHED, "TR_ECRASHED"},
        {TR_ENOTFOUND, "TR_ENOTFOUND"},
        {TR_EIO, "TR_EIO"},
    };
    size_t n = sizeof(codes) / sizeof(codes[0]);
    for (size_t i = 0; i < n; i++) {
        const char *s = tr_strerror(codes[i].code);
        assert_non_null(s);
        assert_string_not_equal(s, unknown);
        /* "TR_EDEAD: ..." must not be mistaken for "TR_EDEADLK: ...". */
        size_t len = strlen(codes[i].prefix);
        assert_memory_equal(s, codes[i].prefix, len);
        assert_int_equal(s[len], ':');
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, tr_strerror(codes[j].code));
    }
    /* Codes follow each other with no unnamed gap (codes added after
     * TR_EIO are covered too, as long as they are named). */
    int c = 0;
    while (c > -1000 && strcmp(tr_strerror(c), unknown) != 0)
        c--;
    assert_true(c < TR_EIO);
    assert_string_equal(tr_strerror(1), unknown);
}

/* --- NULL arguments, table-driven ---------------------------------------- */

static tr_runtime *fx_rt;
static tr_ref *fx_ref;
static tr_msg *fx_msg;
static tr_msg *fx_msgs_with_null[2];
static const tr_behavior no_receive = {NULL, NULL, NULL};

/* Every public int-returning call with one NULL (or otherwise invalid)
 * argument; each must return TR_EINVAL and consume nothing. */
#define NULL_CASES(X)                                                                              \
    X(tr_runtime_new(NULL, NULL))                                                                  \
    X(tr_runtime_close(NULL))                                                                      \
    X(tr_runtime_join(NULL))                                                                       \
    X(tr_runtime_free(NULL))                                                                       \
    X(tr_runtime_stats_get(NULL, &(tr_runtime_stats){0}))                                          \
    X(tr_runtime_stats_get(fx_rt, NULL))                                                           \
    X(tr_msg_init(NULL, 1, NULL))                                                                  \
    X(tr_msg_new(NULL, 1, 0))                                                                      \
    X(tr_spawn(NULL, &counter, NULL, NULL))                                                        \
    X(tr_spawn(fx_rt, NULL, NULL, NULL))                                                           \
    X(tr_spawn(fx_rt, &no_receive, NULL, NULL))                                                    \
    X(tr_ref_retain(NULL))                                                                         \
    X(tr_ref_release(NULL))                                                                        \
    X(tr_ref_mailbox_len(NULL))                                                                    \
    X(tr_send(NULL, 1, "x", 1))                                                                    \
    X(tr_send(fx_ref, 1, NULL, 4))                                                                 \
    X(tr_send_word(NULL, 1, 0))                                                                    \
    X(tr_send_ptr(NULL, 1, NULL, NULL))                                                            \
    X(tr_send_msg(NULL, fx_msg))                                                                   \
    X(tr_send_msg(fx_ref, NULL))                                                                   \
    X(tr_send_batch(NULL, &fx_msg, 1))                                                             \
    X(tr_send_batch(fx_ref, NULL, 1))                                                              \
    X(tr_send_batch(fx_ref, &fx_msg, 0))                                                           \
    X(tr_send_batch(fx_ref, fx_msgs_with_null, 2))                                                 \
    X(tr_send_wait(NULL, fx_msg, 0))                                                               \
    X(tr_send_wait(fx_ref, NULL, 0))                                                               \
    X(tr_stop(NULL))                                                                               \
    X(tr_msg_keep(NULL, fx_msg))                                                                   \
    X(tr_forward(NULL, fx_ref, fx_msg))                                                            \
    X(tr_actor_stop(NULL))                                                                         \
    X(tr_actor_kill(NULL))                                                                         \
    X(tr_actor_exit(NULL, TR_EIO, "x"))                                                            \
    X(tr_actor_exit(fx_ref, 0, "zero code"))                                                       \
    X(tr_exit_of(NULL, &(tr_exit){0}))                                                             \
    X(tr_exit_of(fx_msg, NULL))                                                                    \
    X(tr_exit_of(fx_msg, &(tr_exit){0}))                                                           \
    X(tr_monitor(NULL, fx_ref, NULL))                                                              \
    X(tr_demonitor(NULL, fx_ref, 1))                                                               \
    X(tr_link(NULL, fx_ref))                                                                       \
    X(tr_unlink(NULL, fx_ref))                                                                     \
    X(tr_trap_exit(NULL, 1))                                                                       \
    X(tr_ask_msg(NULL, fx_msg, &(tr_future *){NULL}))                                              \
    X(tr_ask_msg(fx_ref, NULL, &(tr_future *){NULL}))                                              \
    X(tr_ask_msg(fx_ref, fx_msg, NULL))                                                            \
    X(tr_ask(NULL, 1, "x", 1, &(tr_future *){NULL}))                                               \
    X(tr_ask(fx_ref, 1, NULL, 4, &(tr_future *){NULL}))                                            \
    X(tr_ask(fx_ref, 1, "x", 1, NULL))                                                             \
    X(tr_ask_word(NULL, 1, 0, &(tr_future *){NULL}))                                               \
    X(tr_ask_word(fx_ref, 1, 0, NULL))                                                             \
    X(tr_future_wait(NULL, 0, &(tr_msg *){NULL}))                                                  \
    X(tr_future_release(NULL))                                                                     \
    X(tr_request(NULL, fx_ref, fx_msg, 1))                                                         \
    X(tr_reply_msg(NULL, fx_msg))                                                                  \
    X(tr_reply_msg(fx_msg, NULL))                                                                  \
    X(tr_reply_msg(fx_msg, fx_msg)) /* not an ask */                                               \
    X(tr_reply(NULL, 1, "x", 1))                                                                   \
    X(tr_reply(fx_msg, 1, NULL, 4))                                                                \
    X(tr_reply_word(NULL, 1, 0))

static int64_t run_null_case(int i) {
    int k = 0;
#define X(e)                                                                                       \
    if (i == k++)                                                                                  \
        return (int64_t)(e);
    NULL_CASES(X)
#undef X
    return 1;
}

static const char *const null_case_names[] = {
#define X(e) #e,
    NULL_CASES(X)
#undef X
};

/* Predicates (troupe/error.h) cannot fail: a NULL argument says false. */
static void predicates_say_false_on_null_arguments(void **state) {
    (void)state;
    assert_false(tr_runtime_is_closed(NULL));
    assert_false(tr_ref_is_alive(NULL));
    assert_false(tr_future_is_ready(NULL));
    assert_false(tr_msg_is_reply(NULL));
    assert_false(tr_msg_wants_reply(NULL));
    assert_false(tr_topic_matches(NULL, "a"));
}

static void every_public_call_returns_einval_on_null_arguments(void **state) {
    (void)state;
    fx_rt = tu_runtime_new(1);
    assert_int_equal(tr_spawn(fx_rt, &counter, NULL, &fx_ref), 0);
    assert_int_equal(tr_msg_new(&fx_msg, 7, 0), 0);
    fx_msgs_with_null[0] = fx_msg;
    fx_msgs_with_null[1] = NULL;
    int n = (int)(sizeof(null_case_names) / sizeof(null_case_names[0]));
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int64_t rc = run_null_case(i);
        if (rc != TR_EINVAL) {
            print_error("%s returned %lld\n", null_case_names[i], (long long)rc);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    assert_int_equal(run_null_case(n), 1); /* the table covers exactly n calls */
    /* The non-int calls have a NULL answer instead. */
    assert_int_equal(tr_ref_id(NULL), 0);
    assert_null(tr_ref_runtime(NULL));
    assert_null(tr_self(NULL));
    assert_null(tr_ctx_runtime(NULL));
    assert_null(tr_msg_data(NULL));
    assert_null(tr_msg_take_ptr(NULL));
    assert_null(tr_msg_origin(NULL));
    assert_null(tr_msg_origin(fx_msg));
    assert_int_equal(tr_msg_wants_reply(NULL), 0);
    assert_null(tr_msg_payload(NULL, 0));
    tr_msg_free(NULL);
    /* Nothing was consumed: the message and the actor are as before. */
    assert_int_equal(tu_load(&received), 0);
    assert_int_equal(tr_ref_is_alive(fx_ref), 1);
    assert_int_equal(tr_send_msg(fx_ref, fx_msg), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    tr_ref_release(fx_ref);
    tr_runtime_free(fx_rt);
}

/* --- failed spawns --------------------------------------------------------- */

static int failing_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    (void)arg;
    return TR_EIO;
}

static void stats_do_not_count_failed_spawns(void **state) {
    (void)state;
    static const tr_behavior beh = {failing_init, count_receive, count_terminate};
    tr_runtime *rt = tu_runtime_new(1);
    assert_int_equal(tr_spawn(rt, &beh, NULL, NULL), TR_EIO);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_int_equal(st.actors_spawned, 0);
    assert_int_equal(st.actors_alive, 0);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(runtime_new_with_null_config_uses_defaults, reset),
        cmocka_unit_test_setup(runtime_config_init_zeroes_everything, reset),
        cmocka_unit_test_setup(runtime_new_with_more_than_256_workers_returns_einval, reset),
        cmocka_unit_test_setup(runtime_new_with_batch_over_65536_returns_einval, reset),
        cmocka_unit_test_setup(runtime_new_with_an_unusable_stack_size_fails_cleanly, reset),
        cmocka_unit_test_setup(runtime_close_join_free_without_actors, reset),
        cmocka_unit_test_setup(runtime_close_stops_every_actor_with_shutdown, reset),
        cmocka_unit_test_setup(spawn_after_close_returns_eclosed, reset),
        cmocka_unit_test_setup(runtime_free_closes_and_joins, reset),
        cmocka_unit_test_setup(runtime_closes_itself_when_last_handle_released, reset),
        cmocka_unit_test_setup(runtime_closes_itself_when_last_unheld_actor_stops, reset),
        cmocka_unit_test_setup(runtime_with_keep_open_stays_open_and_spawns_again, reset),
        cmocka_unit_test_setup(runtime_without_spawns_does_not_close_itself, reset),
        cmocka_unit_test_setup(stats_count_spawned_alive_and_dead_letters, reset),
        cmocka_unit_test_setup(stats_do_not_count_failed_spawns, reset),
        cmocka_unit_test_setup(thread_hooks_run_once_per_worker, reset),
        cmocka_unit_test_setup(idle_runtime_parks_its_workers, reset),
        cmocka_unit_test_setup(join_and_free_from_a_worker_return_edeadlk, reset),
        cmocka_unit_test_setup(strerror_names_every_code, reset),
        cmocka_unit_test_setup(every_public_call_returns_einval_on_null_arguments, reset),
        cmocka_unit_test(predicates_say_false_on_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
