/* tests/test_actor.c - actors: callbacks, stopping, crashing, state, fairness.
 *
 * The callback order (init, receive..., terminate once), init failures, the
 * ways an actor ends (tr_stop, tr_actor_stop from another thread, kill,
 * exit, a crash by return code or tr_panic) and what each tells terminate,
 * that a worker survives crashes, inline and heap state, batch fairness on
 * one worker, tr_msg_keep and tr_forward, and that messages queued at a stop
 * are dead-lettered with their destructors run. Tests that need "nothing has
 * run yet" freeze a 1-worker runtime with the gate (support/testutil.h). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/blocks.h" /* the block's size: where inline state lives */
#include "support/testutil.h"
#include "troupe.h"

/* --- records ------------------------------------------------------------- */

enum { EV_INIT = 1, EV_RECEIVE = 2, EV_TERMINATE = 3 };

#define LOG_MAX 1024
static uint64_t log_n;
static uint64_t log_v[LOG_MAX];

static void log_event(uint64_t v) {
    uint64_t i = tu_add(&log_n, 1) - 1;
    if (i < LOG_MAX)
        tu_store(&log_v[i], v);
}

static uint64_t received, terminated, ptr_frees, dead_letters, dead_stopped;
static uint64_t exit_kind, exit_code;
static char exit_text[128];

static void record_exit(const tr_exit *why) {
    snprintf(exit_text, sizeof(exit_text), "%s", why->text ? why->text : "(null)");
    tu_store(&exit_kind, (uint64_t)why->kind);
    tu_store(&exit_code, (uint64_t)(int64_t)why->code);
    tu_add(&terminated, 1); /* last: publishes the fields above */
}

static void count_free(void *p) {
    (void)p;
    tu_add(&ptr_frees, 1);
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    tu_add(&dead_letters, 1);
    if (why == TR_DEAD_STOPPED)
        tu_add(&dead_stopped, 1);
}

static int reset(void **state) {
    (void)state;
    tu_store(&log_n, 0);
    memset(log_v, 0, sizeof(log_v));
    tu_store(&received, 0);
    tu_store(&terminated, 0);
    tu_store(&ptr_frees, 0);
    tu_store(&dead_letters, 0);
    tu_store(&dead_stopped, 0);
    tu_store(&exit_kind, 99);
    tu_store(&exit_code, 0);
    exit_text[0] = 0;
    return 0;
}

static tr_runtime *runtime(unsigned workers, unsigned batch) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.batch = batch;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    return rt;
}

/* A plain actor: counts, logs and records its exit. */
static int plain_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    log_event(EV_RECEIVE);
    tu_add(&received, 1);
    return 0;
}

static void plain_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    log_event(EV_TERMINATE);
    record_exit(why);
}

static const tr_behavior plain = {NULL, plain_receive, plain_terminate};

/* --- callback order ------------------------------------------------------ */

static uint64_t init_arg_ok, init_state_zero, init_thread_ok;
static pthread_t spawner;

static int logging_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    log_event(EV_INIT);
    tu_store(&init_arg_ok, arg == &init_arg_ok);
    const unsigned char *s = state;
    int zero = 1;
    for (int i = 0; i < 16; i++)
        zero &= s[i] == 0;
    tu_store(&init_state_zero, (uint64_t)zero);
    tu_store(&init_thread_ok, pthread_equal(pthread_self(), spawner) != 0);
    return 0;
}

static void callbacks_run_init_then_receive_then_terminate(void **state) {
    (void)state;
    static const tr_behavior beh = {logging_init, plain_receive, plain_terminate};
    tr_runtime *rt = runtime(2, 0);
    tr_spawn_opts o = {.state_size = 16, .arg = &init_arg_ok};
    tr_ref *ref;
    spawner = pthread_self();
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    /* init ran on this thread before tr_spawn returned. */
    assert_int_equal(tu_load(&log_n), 1);
    assert_int_equal(tu_load(&init_arg_ok), 1);
    assert_int_equal(tu_load(&init_state_zero), 1);
    assert_int_equal(tu_load(&init_thread_ok), 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_send_word(ref, 1, (uint64_t)i), 0);
    assert_true(tu_wait_ge(&received, 3, TU_WAIT_MS));
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    static const uint64_t want[] = {EV_INIT, EV_RECEIVE, EV_RECEIVE, EV_RECEIVE, EV_TERMINATE};
    assert_int_equal(tu_load(&log_n), 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tu_load(&log_v[i]), want[i]);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void terminate_runs_exactly_once_whatever_ends_the_actor(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    /* Every way of ending it, all pending at once. */
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_int_equal(tr_actor_exit(ref, TR_EIO, "exit"), 0);
    assert_int_equal(tr_actor_kill(ref), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tu_load(&terminated), 1);
    /* The strongest request wins. */
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_KILLED);
    assert_int_equal(tr_actor_stop(ref), TR_EDEAD);
    assert_int_equal(tr_actor_kill(ref), TR_EDEAD);
    tr_runtime_close(rt);
    tr_runtime_join(rt);
    assert_int_equal(tu_load(&terminated), 1);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- init failures ------------------------------------------------------- */

static int failing_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    /* Messages sent to itself during a failed init are dead-lettered. */
    tr_send_ptr(tr_self(ctx), 1, &ptr_frees, count_free);
    return TR_EIO;
}

static void init_failure_returns_its_code_and_terminate_does_not_run(void **state) {
    (void)state;
    static const tr_behavior beh = {failing_init, plain_receive, plain_terminate};
    tr_runtime *rt = runtime(1, 0);
    tr_ref *ref = (tr_ref *)rt;
    tr_spawn_opts o = {.state_size = 200}; /* heap state is freed too (ASan) */
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), TR_EIO);
    assert_null(ref);
    assert_int_equal(tu_load(&terminated), 0);
    assert_int_equal(tu_load(&received), 0);
    assert_int_equal(tu_load(&ptr_frees), 1);
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.actors_alive, 0);
    /* The runtime still works. */
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static int panicking_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    tr_panic(ctx, TR_ENOTFOUND, "init panicked");
}

static void init_panic_makes_spawn_return_the_panic_code(void **state) {
    (void)state;
    static const tr_behavior beh = {panicking_init, plain_receive, plain_terminate};
    tr_runtime *rt = runtime(1, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), TR_ENOTFOUND);
    assert_null(ref);
    assert_int_equal(tu_load(&terminated), 0);
    /* The panic frame was popped: a second spawn on this thread is fine. */
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), TR_ENOTFOUND);
    tr_runtime_free(rt);
}

/* --- ways to end --------------------------------------------------------- */

static int stop_on_first_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tu_add(&received, 1);
    return tr_stop(ctx);
}

static void tr_stop_ends_normally_after_the_current_message(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, stop_on_first_receive, plain_terminate};
    tr_runtime *rt = runtime(1, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_send_ptr(ref, 2, &ptr_frees, count_free), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&received), 1);
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_NORMAL);
    assert_int_equal((int)tu_load(&exit_code), 0);
    assert_true(tu_wait_ge(&ptr_frees, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&dead_stopped), 1);
    assert_int_equal(tr_ref_is_alive(ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), TR_EDEAD);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static int stopping_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    log_event(EV_INIT);
    return tr_stop(ctx);
}

static void tr_stop_in_init_ends_the_actor_before_any_message(void **state) {
    (void)state;
    static const tr_behavior beh = {stopping_init, plain_receive, plain_terminate};
    tr_runtime *rt = runtime(1, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS)); /* no message needed */
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_NORMAL);
    assert_int_equal(tu_load(&received), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tr_send_word(ref, 1, 0), TR_EDEAD);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 0);
}

static void *stop_thread(void *arg) {
    return (void *)(intptr_t)tr_actor_stop(arg);
}

static void actor_stop_from_a_foreign_thread_ends_with_shutdown(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    pthread_t t;
    void *rc;
    assert_int_equal(pthread_create(&t, NULL, stop_thread, ref), 0);
    pthread_join(t, &rc);
    assert_int_equal((int)(intptr_t)rc, 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_SHUTDOWN);
    assert_int_equal((int)tu_load(&exit_code), 0);
    assert_int_equal(tr_ref_is_alive(ref), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void actor_kill_ends_with_killed(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    assert_int_equal(tr_actor_kill(ref), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_KILLED);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void actor_exit_ends_with_error_code_and_text(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    assert_int_equal(tr_actor_exit(ref, TR_EIO, "disk on fire"), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&exit_code), TR_EIO);
    assert_string_equal(exit_text, "disk on fire");
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- crashes ------------------------------------------------------------- */

enum { DO_NOTHING = 1, DO_FAIL = 2, DO_PANIC = 3 };

static int crashy_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tu_add(&received, 1);
    if (msg->type == DO_FAIL)
        return (int)msg->word;
    if (msg->type == DO_PANIC)
        tr_panic(ctx, (int)msg->word, "boom");
    return 0;
}

static const tr_behavior crashy = {NULL, crashy_receive, plain_terminate};

static void crash_by_return_code_gives_error_exit_with_that_code(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &crashy, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, DO_FAIL, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&exit_code), TR_EIO);
    assert_true(exit_text[0] != 0);
    assert_int_equal(tr_ref_is_alive(ref), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void crash_by_panic_gives_error_exit_with_code_and_text(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &crashy, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, DO_PANIC, 4242), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&exit_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&exit_code), 4242);
    assert_string_equal(exit_text, "boom");
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void worker_survives_crashes_and_runs_other_actors(void **state) {
    (void)state;
    enum { CRASHES = 20 };
    tr_runtime *rt = runtime(1, 0); /* one worker: it must be the survivor */
    tr_ref *bystander;
    assert_int_equal(tr_spawn(rt, &crashy, NULL, &bystander), 0);
    for (int i = 0; i < CRASHES; i++) {
        tr_ref *victim;
        assert_int_equal(tr_spawn(rt, &crashy, NULL, &victim), 0);
        assert_int_equal(tr_send_word(victim, i % 2 ? DO_PANIC : DO_FAIL, 7), 0);
        assert_int_equal(tr_send_word(bystander, DO_NOTHING, 0), 0);
        tr_ref_release(victim);
    }
    assert_true(tu_wait_ge(&terminated, CRASHES, TU_WAIT_MS));
    assert_true(tu_wait_ge(&received, 2 * CRASHES, TU_WAIT_MS));
    assert_int_equal(tr_ref_is_alive(bystander), 1);
    /* terminate runs before an actor stops counting as alive: wait for it. */
    assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS));
    tr_ref_release(bystander);
    tr_runtime_free(rt);
}

static void panicking_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    record_exit(why);
    tr_panic(ctx, TR_EIO, "terminate panicked");
}

static void panic_inside_terminate_still_finishes_the_actor(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, crashy_receive, panicking_terminate};
    tr_runtime *rt = runtime(1, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, DO_FAIL, 5), 0);
    assert_int_equal(tr_send_ptr(ref, DO_NOTHING, &ptr_frees, count_free), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tu_load(&terminated), 1);
    assert_int_equal((int)tu_load(&exit_code), 5);
    assert_int_equal(tu_load(&ptr_frees), 1); /* the queued one, dead-lettered */
    assert_int_equal(tu_load(&dead_letters), 1);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static tr_ref *link_target;
static uint64_t failed_block;

static int linking_failing_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    tu_store(&failed_block, (uint64_t)(uintptr_t)tr_self(ctx));
    if (arg != NULL)
        tr_link(ctx, link_target);
    else
        tr_monitor(ctx, link_target, NULL);
    return TR_EIO;
}

/* A link or monitor set in a failing init holds a reference to the failed
 * actor's block: the block must not be recycled under it, and the target's
 * later end must not reach whatever actor comes next. */
static void failed_init_with_link_or_monitor_leaves_later_actors_alive(void **state) {
    (void)state;
    static const tr_behavior beh = {linking_failing_init, plain_receive, plain_terminate};
    for (int use_link = 0; use_link < 2; use_link++) {
        reset(NULL);
        tr_runtime *rt = runtime(1, 0);
        assert_int_equal(tr_spawn(rt, &crashy, NULL, &link_target), 0);
        tr_spawn_opts o = {.arg = use_link ? &o : NULL};
        assert_int_equal(tr_spawn(rt, &beh, &o, NULL), TR_EIO);
        tr_ref *next[8];
        for (int i = 0; i < 8; i++) {
            assert_int_equal(tr_spawn(rt, &plain, NULL, &next[i]), 0);
            /* A monitor it set keeps its block out of use while the target
             * references it (its link was undone, so that block may be). */
            if (!use_link)
                assert_true((uint64_t)(uintptr_t)next[i] != tu_load(&failed_block));
        }
        assert_int_equal(tr_send_word(link_target, DO_FAIL, 9), 0); /* ends with an error */
        assert_true(tu_wait_alive(rt, 8, TU_WAIT_MS));
        for (int i = 0; i < 8; i++)
            assert_int_equal(tr_send_word(next[i], 1, 0), 0);
        assert_true(tu_wait_ge(&received, 1 + 8, TU_WAIT_MS)); /* target's + ours */
        assert_int_equal(tu_load(&terminated), 1);             /* only the target */
        for (int i = 0; i < 8; i++) {
            assert_int_equal(tr_ref_is_alive(next[i]), 1);
            tr_ref_release(next[i]);
        }
        tr_ref_release(link_target);
        tr_runtime_free(rt);
    }
}

static void failed_first_spawn_does_not_let_the_runtime_close_itself(void **state) {
    (void)state;
    static const tr_behavior beh = {failing_init, plain_receive, plain_terminate};
    tr_runtime *rt = runtime(2, 0);
    assert_int_equal(tr_spawn(rt, &beh, NULL, NULL), TR_EIO);
    /* Let the workers go idle: nothing was ever spawned, so no auto-close. */
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    uint64_t parks = st.parks;
    for (int i = 0; i < 200 && st.parks < parks + 2; i++) {
        tu_sleep_ms(5);
        tr_runtime_stats_get(rt, &st);
    }
    assert_int_equal(tr_runtime_is_closed(rt), 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- state ----------------------------------------------------------------- */

static uint64_t state_inline, state_zero, state_seen, state_block;

static int state_init(tr_ctx *ctx, void *state, void *arg) {
    size_t size = (size_t)(uintptr_t)arg;
    const unsigned char *ref = (const unsigned char *)tr_self(ctx);
    const unsigned char *s = state;
    size_t block = tr_self(ctx)->block_class != 0 ? TR__BLOCK_LARGE : TR__BLOCK_SMALL;
    tu_store(&state_block, block);
    tu_store(&state_inline, s >= ref && s + size <= ref + block);
    int zero = 1;
    for (size_t i = 0; i < size; i++)
        zero &= s[i] == 0;
    tu_store(&state_zero, (uint64_t)zero);
    memset(state, 0xA5, size); /* dirty it for the next incarnation */
    tu_add(&state_seen, 1);
    return 0;
}

static int state_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    return tr_stop(ctx);
}

/* want_block: the block's size (its class) the spawn must have taken. */
static void spawn_and_check_state(size_t size, int want_inline, size_t want_block) {
    static const tr_behavior beh = {state_init, state_receive, NULL};
    tr_runtime *rt = runtime(1, 0);
    tr_ref *keep;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &keep), 0); /* no auto-close */
    for (int round = 0; round < 3; round++) {
        tu_store(&state_seen, 0);
        tr_spawn_opts o = {.state_size = size, .arg = (void *)(uintptr_t)size};
        tr_ref *ref;
        assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
        assert_int_equal(tu_load(&state_seen), 1);
        assert_int_equal(tu_load(&state_inline), (uint64_t)want_inline);
        assert_int_equal(tu_load(&state_block), want_block);
        assert_int_equal(tu_load(&state_zero), 1); /* even in a reused block */
        assert_int_equal(tr_send_word(ref, 1, 0), 0);
        assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS));
        tr_ref_release(ref); /* the block can be reused next round */
    }
    tr_ref_release(keep);
    tr_runtime_free(rt);
}

/* Up to 16 bytes in a small block (192 bytes), up to 64 in a large one
 * (256), larger on the heap with a small block. */
static void state_of_64_bytes_or_less_lives_inline_and_is_zeroed(void **state) {
    (void)state;
    spawn_and_check_state(1, 1, 192);
    spawn_and_check_state(16, 1, 192);
    spawn_and_check_state(17, 1, 256);
    spawn_and_check_state(32, 1, 256);
    spawn_and_check_state(64, 1, 256);
}

static void state_over_64_bytes_is_on_the_heap_and_zeroed(void **state) {
    (void)state;
    spawn_and_check_state(65, 0, 192);
    spawn_and_check_state(4096, 0, 192);
}

static int arg_state_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)msg;
    tu_store(&state_seen, (uint64_t)(uintptr_t)state);
    return 0;
}

static void no_state_and_no_init_pass_arg_as_state(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, arg_state_receive, NULL};
    tr_runtime *rt = runtime(1, 0);
    static int target;
    tr_spawn_opts o = {.arg = &target};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    tu_store(&state_seen, 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_true(tu_wait_ge(&state_seen, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&state_seen), (uint64_t)(uintptr_t)&target);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- identity -------------------------------------------------------------- */

static uint64_t self_ok;

static int self_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_ref *expect = msg->ptr;
    tu_store(&self_ok, tr_self(ctx) == expect && tr_ctx_runtime(ctx) == tr_ref_runtime(expect));
    tu_add(&received, 1);
    return 0;
}

static void self_is_the_spawned_handle_and_ids_are_unique(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, self_receive, NULL};
    tr_runtime *rt = runtime(2, 0);
    tr_ref *a, *b;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &a), 0);
    assert_int_equal(tr_spawn(rt, &beh, NULL, &b), 0);
    assert_ptr_equal(tr_ref_runtime(a), rt);
    assert_true(tr_ref_id(a) != 0 && tr_ref_id(b) != 0);
    assert_true(tr_ref_id(a) != tr_ref_id(b));
    assert_int_equal(tr_send_ptr(a, 1, a, NULL), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&self_ok), 1);
    assert_int_equal(tr_ref_retain(a), 0);
    assert_int_equal(tr_ref_release(a), 0);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_runtime_free(rt);
}

/* Ids are unique across runtimes too: actors spawned by actors (ranges per
 * worker, refilled past 512) and by a foreign thread, in two runtimes. */
#define ID_KIDS 700 /* per spawner: more than a worker's range of 512 */
#define ID_MAX (2 * (ID_KIDS + 16))
static uint64_t ids_seen[ID_MAX];
static uint64_t nids, ids_noted; /* slots taken; entries written (publishes them) */

static void id_note(uint64_t id) {
    uint64_t i = tu_add(&nids, 1) - 1;
    if (i < ID_MAX)
        ids_seen[i] = id;
    tu_add(&ids_noted, 1);
}

static int id_spawner_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    static const tr_behavior kid = {NULL, self_receive, NULL};
    for (int i = 0; i < ID_KIDS; i++) {
        tr_ref *r;
        if (tr_spawn(tr_ctx_runtime(ctx), &kid, NULL, &r) != 0)
            return 0; /* the count falls short: the test sees it */
        id_note(tr_ref_id(r));
        tr_actor_stop(r);
        tr_ref_release(r);
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void ids_are_unique_across_runtimes(void **state) {
    (void)state;
    static const tr_behavior id_spawner = {NULL, id_spawner_receive, NULL};
    tu_store(&nids, 0);
    tu_store(&ids_noted, 0);
    tr_runtime *rts[2] = {runtime(2, 0), runtime(2, 0)};
    tr_ref *sp[2];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(tr_spawn(rts[k], &id_spawner, NULL, &sp[k]), 0);
        id_note(tr_ref_id(sp[k]));
        for (int i = 0; i < 15; i++) { /* from this (foreign) thread */
            tr_ref *r;
            assert_int_equal(tr_spawn(rts[k], &id_spawner, NULL, &r), 0);
            id_note(tr_ref_id(r));
            tr_ref_release(r);
        }
        assert_int_equal(tr_send_word(sp[k], 1, 0), 0);
    }
    assert_true(tu_wait_ge(&ids_noted, ID_MAX, TU_WAIT_MS));
    assert_int_equal(tu_load(&nids), ID_MAX);
    qsort(ids_seen, ID_MAX, sizeof(ids_seen[0]), cmp_u64);
    assert_true(ids_seen[0] != 0);
    for (int i = 1; i < ID_MAX; i++)
        assert_true(ids_seen[i] != ids_seen[i - 1]);
    for (int k = 0; k < 2; k++) {
        tr_ref_release(sp[k]);
        tr_runtime_free(rts[k]);
    }
}

/* --- fairness -------------------------------------------------------------- */

#define FAIR_BATCH 8
#define FAIR_MSGS 200 /* per actor */

static int fair_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    log_event(msg->type);
    return 0;
}

static void two_busy_actors_on_one_worker_interleave_by_batch(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, fair_receive, NULL};
    tr_runtime *rt = runtime(1, FAIR_BATCH);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *a, *b;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &a), 0);
    assert_int_equal(tr_spawn(rt, &beh, NULL, &b), 0);
    for (int i = 0; i < FAIR_MSGS; i++) {
        assert_int_equal(tr_send_word(a, 1, 0), 0);
        assert_int_equal(tr_send_word(b, 2, 0), 0);
    }
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&log_n, 2 * FAIR_MSGS, TU_WAIT_MS));
    /* Until one of them has no mail left, neither runs for long: a turn is
     * at most FAIR_BATCH messages, and the scheduler may give the same actor
     * one more turn in a row (its periodic global-queue check), no more. */
    int last[3] = {0, 0, 0};
    for (int i = 0; i < 2 * FAIR_MSGS; i++)
        last[tu_load(&log_v[i]) == 1 ? 1 : 2] = i;
    int end = last[1] < last[2] ? last[1] : last[2];
    unsigned run = 0, max_run = 0, switches = 0;
    uint64_t prev = 0;
    for (int i = 0; i <= end; i++) {
        uint64_t v = tu_load(&log_v[i]);
        if (v == prev) {
            run++;
        } else {
            if (prev != 0)
                switches++;
            run = 1;
            prev = v;
        }
        if (run > max_run)
            max_run = run;
    }
    assert_true(max_run <= 2 * FAIR_BATCH);
    assert_true(switches >= FAIR_MSGS / FAIR_BATCH);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_runtime_free(rt);
}

/* --- keep and forward ------------------------------------------------------ */

static tr_msg *kept;
static uint64_t keep_rc, keep_other_rc, kept_word_ok;

static int keeper_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == 1) {
        tu_store(&keep_rc, (uint64_t)(int64_t)tr_msg_keep(ctx, msg));
        kept = msg;
    } else {
        /* Only the message being received can be kept. */
        tu_store(&keep_other_rc, (uint64_t)(int64_t)tr_msg_keep(ctx, kept));
        tu_store(&kept_word_ok, kept->word == 777 && tu_load(&ptr_frees) == 0);
        tr_msg_free(kept);
    }
    tu_add(&received, 1);
    return 0;
}

static void msg_keep_hands_the_message_to_the_actor(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, keeper_receive, NULL};
    tr_runtime *rt = runtime(1, 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, 1, 0), 0);
    m->word = 777;
    m->ptr = &ptr_frees;
    m->ptr_free = count_free;
    assert_int_equal(tr_send_msg(ref, m), 0);
    assert_int_equal(tr_send_word(ref, 2, 0), 0);
    assert_true(tu_wait_ge(&received, 2, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&keep_rc), 0);
    assert_int_equal((int)tu_load(&keep_other_rc), TR_ESTATE);
    assert_int_equal(tu_load(&kept_word_ok), 1);
    assert_int_equal(tu_load(&ptr_frees), 1); /* by tr_msg_free, once */
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static uint64_t fwd_rc, fwd_seen;
static tr_msg *fwd_msg;

static int forwarder_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    tr_ref *next = state;
    fwd_msg = msg;
    tu_store(&fwd_rc, (uint64_t)(int64_t)tr_forward(ctx, next, msg));
    tu_add(&received, 1);
    return 0;
}

static int sink_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_store(&fwd_seen, (uint64_t)(uintptr_t)msg);
    tu_add(&received, 1);
    return 0;
}

static void forward_moves_the_same_message_to_another_actor(void **state) {
    (void)state;
    static const tr_behavior sink_beh = {NULL, sink_receive, NULL};
    static const tr_behavior fwd_beh = {NULL, forwarder_receive, NULL};
    tr_runtime *rt = runtime(2, 0);
    tr_ref *sink, *fwd;
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &sink), 0);
    tr_spawn_opts o = {.arg = sink};
    assert_int_equal(tr_spawn(rt, &fwd_beh, &o, &fwd), 0);
    assert_int_equal(tr_send_ptr(fwd, 1, &ptr_frees, count_free), 0);
    assert_true(tu_wait_ge(&received, 2, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&fwd_rc), 0);
    assert_int_equal(tu_load(&fwd_seen), (uint64_t)(uintptr_t)fwd_msg); /* no copy */
    assert_true(tu_wait_ge(&ptr_frees, 1, TU_WAIT_MS));
    tr_ref_release(fwd);
    tr_ref_release(sink);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&ptr_frees), 1);
}

static void forward_to_a_dead_actor_fails_and_the_message_stays_with_the_sender(void **state) {
    (void)state;
    static const tr_behavior fwd_beh = {NULL, forwarder_receive, NULL};
    tr_runtime *rt = runtime(2, 0);
    tr_ref *dead, *fwd;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &dead), 0);
    assert_int_equal(tr_actor_stop(dead), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    tr_spawn_opts o = {.arg = dead};
    assert_int_equal(tr_spawn(rt, &fwd_beh, &o, &fwd), 0);
    assert_int_equal(tr_send_ptr(fwd, 1, &ptr_frees, count_free), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&fwd_rc), TR_EDEAD);
    /* Still the forwarder's current message: destroyed after its receive. */
    assert_true(tu_wait_ge(&ptr_frees, 1, TU_WAIT_MS));
    tr_ref_release(fwd);
    tr_ref_release(dead);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&ptr_frees), 1);
    assert_int_equal(tu_load(&dead_letters), 0);
}

/* --- dead letters at stop --------------------------------------------------- */

static void messages_queued_at_stop_are_dead_lettered_with_destructors(void **state) {
    (void)state;
    enum { N = 50 };
    tr_runtime *rt = runtime(1, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &plain, NULL, &ref), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(tr_send_ptr(ref, 1, &ptr_frees, count_free), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tu_load(&received), 0);
    assert_int_equal(tu_load(&terminated), 1);
    assert_int_equal(tu_load(&ptr_frees), N);
    assert_int_equal(tu_load(&dead_letters), N); /* the stop's own wake-up is not one */
    assert_int_equal(tu_load(&dead_stopped), N);
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.dead_letters, N);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(callbacks_run_init_then_receive_then_terminate, reset),
        cmocka_unit_test_setup(terminate_runs_exactly_once_whatever_ends_the_actor, reset),
        cmocka_unit_test_setup(init_failure_returns_its_code_and_terminate_does_not_run, reset),
        cmocka_unit_test_setup(init_panic_makes_spawn_return_the_panic_code, reset),
        cmocka_unit_test_setup(failed_init_with_link_or_monitor_leaves_later_actors_alive, reset),
        cmocka_unit_test_setup(failed_first_spawn_does_not_let_the_runtime_close_itself, reset),
        cmocka_unit_test_setup(tr_stop_ends_normally_after_the_current_message, reset),
        cmocka_unit_test_setup(tr_stop_in_init_ends_the_actor_before_any_message, reset),
        cmocka_unit_test_setup(actor_stop_from_a_foreign_thread_ends_with_shutdown, reset),
        cmocka_unit_test_setup(actor_kill_ends_with_killed, reset),
        cmocka_unit_test_setup(actor_exit_ends_with_error_code_and_text, reset),
        cmocka_unit_test_setup(crash_by_return_code_gives_error_exit_with_that_code, reset),
        cmocka_unit_test_setup(crash_by_panic_gives_error_exit_with_code_and_text, reset),
        cmocka_unit_test_setup(worker_survives_crashes_and_runs_other_actors, reset),
        cmocka_unit_test_setup(panic_inside_terminate_still_finishes_the_actor, reset),
        cmocka_unit_test_setup(state_of_64_bytes_or_less_lives_inline_and_is_zeroed, reset),
        cmocka_unit_test_setup(state_over_64_bytes_is_on_the_heap_and_zeroed, reset),
        cmocka_unit_test_setup(no_state_and_no_init_pass_arg_as_state, reset),
        cmocka_unit_test_setup(self_is_the_spawned_handle_and_ids_are_unique, reset),
        cmocka_unit_test_setup(two_busy_actors_on_one_worker_interleave_by_batch, reset),
        cmocka_unit_test_setup(msg_keep_hands_the_message_to_the_actor, reset),
        cmocka_unit_test_setup(ids_are_unique_across_runtimes, reset),
        cmocka_unit_test_setup(forward_moves_the_same_message_to_another_actor, reset),
        cmocka_unit_test_setup(forward_to_a_dead_actor_fails_and_the_message_stays_with_the_sender,
                               reset),
        cmocka_unit_test_setup(messages_queued_at_stop_are_dead_lettered_with_destructors, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
