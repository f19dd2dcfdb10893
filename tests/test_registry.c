/* tests/test_registry.c - names: register, look up, send and ask by name.
 *
 * A name points at one live actor and an actor has at most one name. It is
 * released when its actor ends (stop, crash, kill, runtime close), before
 * the actor's monitors hear of it, and lookups stop finding it as soon as
 * the actor starts ending. tr_spawn_opts.register_as registers before init,
 * so a supervisor's restarted child gets its name back by itself.
 *
 * The "box" actor below counts what it receives in global counters; CRASH
 * makes it crash, QUIT stop, ECHO answers an ask with word + 1. The test
 * thread waits on the counters and asserts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { PING = 1, CRASH, QUIT, ECHO, PANIC, WATCH, BYTES };

static tr_runtime *rt;
static uint64_t received, word_sum, bytes_ok;
static uint64_t ended, inits;
static uint64_t hold_terminate, in_terminate; /* a box with state.hold waits in terminate */
static uint64_t down_register_rc, down_whereis_rc, downs;
static uint64_t init_whereis_rc;

typedef struct box {
    int hold;           /* wait in terminate until hold_terminate */
    int fail_init;      /* init returns this */
    const char *lookup; /* init looks this name up */
} box;

static int box_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    box *b = state;
    if (arg != NULL)
        *b = *(const box *)arg;
    tu_add(&inits, 1);
    if (b->lookup != NULL) {
        tr_ref *r = NULL;
        int rc = tr_whereis(tr_ctx_runtime(ctx), b->lookup, &r);
        if (r != NULL)
            tr_ref_release(r);
        tu_store(&init_whereis_rc, (uint64_t)(int64_t)rc);
    }
    return b->fail_init;
}

static int box_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case CRASH:
        return -77;
    case PANIC:
        tr_panic(ctx, -78, "panic");
    case QUIT:
        tr_stop(ctx);
        return 0;
    case ECHO:
        return tr_reply_word(msg, ECHO, msg->word + 1);
    case BYTES: {
        const char *p = tr_msg_payload(msg, 5);
        if (p != NULL && memcmp(p, "hello", 5) == 0)
            tu_add(&bytes_ok, 1);
        break;
    }
    default:
        break;
    }
    tu_add(&word_sum, msg->word);
    tu_add(&received, 1);
    return 0;
}

static void box_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    box *b = state;
    if (b->hold) {
        tu_add(&in_terminate, 1);
        tu_wait_ge(&hold_terminate, 1, TU_WAIT_MS);
    }
    tu_add(&ended, 1);
}

static const tr_behavior box_beh = {box_init, box_receive, box_terminate};

static tr_ref *spawn_box(const box *arg, const char *register_as) {
    tr_spawn_opts o = {.state_size = sizeof(box), .arg = (void *)arg, .register_as = register_as};
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &box_beh, &o, &r), 0);
    return r;
}

static int setup(void **state) {
    (void)state;
    uint64_t *all[] = {&received,        &word_sum,       &bytes_ok,       &ended,
                       &inits,           &hold_terminate, &in_terminate,   &down_register_rc,
                       &down_whereis_rc, &downs,          &init_whereis_rc};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tu_store(&hold_terminate, 1);
    tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

static void assert_not_found(const char *name) {
    tr_ref *r = (tr_ref *)0x1;
    assert_int_equal(tr_whereis(rt, name, &r), TR_ENOTFOUND);
    assert_null(r);
}

/* The handle tr_whereis gives must be the actor `want`. */
static void assert_named(const char *name, tr_ref *want) {
    tr_ref *r = NULL;
    assert_int_equal(tr_whereis(rt, name, &r), 0);
    assert_ptr_equal(r, want);
    assert_int_equal(tr_ref_id(r), tr_ref_id(want));
    tr_ref_release(r);
}

/* --- arguments ------------------------------------------------------------ */

static void every_call_rejects_bad_arguments(void **state) {
    (void)state;
    tr_ref *a = spawn_box(NULL, NULL);
    char long_name[TR_NAME_MAX + 2];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(tr_register(NULL, "x"), TR_EINVAL);
    assert_int_equal(tr_register(a, NULL), TR_EINVAL);
    assert_int_equal(tr_register(a, ""), TR_EINVAL);
    assert_int_equal(tr_register(a, long_name), TR_EINVAL);
    long_name[TR_NAME_MAX] = '\0'; /* exactly TR_NAME_MAX: fine */
    assert_int_equal(tr_register(a, long_name), 0);
    assert_named(long_name, a);

    assert_int_equal(tr_unregister(NULL, "x"), TR_EINVAL);
    assert_int_equal(tr_unregister(rt, NULL), TR_EINVAL);
    assert_int_equal(tr_unregister(rt, ""), TR_EINVAL);
    tr_ref *r = (tr_ref *)0x1;
    assert_int_equal(tr_whereis(NULL, "x", &r), TR_EINVAL);
    assert_null(r);
    assert_int_equal(tr_whereis(rt, NULL, &r), TR_EINVAL);
    assert_int_equal(tr_whereis(rt, "x", NULL), TR_EINVAL);
    tr_name names[2];
    size_t n = 99;
    assert_int_equal(tr_registered(NULL, names, 2, &n), TR_EINVAL);
    assert_int_equal(tr_registered(rt, NULL, 2, &n), TR_EINVAL);
    assert_int_equal(tr_registered(rt, names, 2, NULL), TR_EINVAL);
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 1); /* count only */
    assert_int_equal(n, 0);

    assert_int_equal(tr_send_named(NULL, "x", PING, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_send_named(rt, NULL, PING, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_send_named(rt, long_name, TR_MSG_SYSTEM, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_send_named(rt, long_name, PING, NULL, 3), TR_EINVAL);
    assert_int_equal(tr_send_named(rt, long_name, PING, "x", (size_t)TR_MSG_MAX_SIZE + 1),
                     TR_E2BIG);
    assert_int_equal(tr_send_word_named(rt, long_name, TR_MSG_SYSTEM, 1), TR_EINVAL);
    assert_int_equal(tr_send_word_named(NULL, long_name, PING, 1), TR_EINVAL);
    assert_int_equal(tr_send_msg_named(rt, long_name, NULL), TR_EINVAL);
    tr_future *f = (tr_future *)0x1;
    assert_int_equal(tr_ask_named(rt, long_name, ECHO, NULL, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_ask_named(rt, long_name, TR_MSG_SYSTEM, NULL, 0, &f), TR_EINVAL);
    assert_null(f);
    assert_int_equal(tr_ask_word_named(rt, NULL, ECHO, 1, &f), TR_EINVAL);
    assert_int_equal(tr_ask_word_named(rt, long_name, ECHO, 1, NULL), TR_EINVAL);
    assert_int_equal(tu_load(&received), 0); /* nothing got through */

    tr_spawn_opts bad = {.register_as = ""};
    assert_int_equal(tr_spawn(rt, &box_beh, &bad, NULL), TR_EINVAL);
    tr_ref_release(a);
}

/* --- registering ---------------------------------------------------------- */

static void whereis_finds_the_registered_actor_and_lists_it(void **state) {
    (void)state;
    tr_ref *a = spawn_box(NULL, NULL), *b = spawn_box(NULL, NULL);
    assert_not_found("alpha");
    assert_int_equal(tr_register(a, "alpha"), 0);
    assert_int_equal(tr_register(b, "beta"), 0);
    assert_named("alpha", a);
    assert_named("beta", b);
    tr_name names[4];
    size_t n = 0;
    assert_int_equal(tr_registered(rt, names, 4, &n), 2);
    assert_int_equal(n, 2);
    assert_true((strcmp(names[0], "alpha") == 0 && strcmp(names[1], "beta") == 0) ||
                (strcmp(names[0], "beta") == 0 && strcmp(names[1], "alpha") == 0));
    assert_int_equal(tr_registered(rt, names, 1, &n), 2); /* too small: says so */
    assert_int_equal(n, 1);
    assert_int_equal(tr_unregister(rt, "alpha"), 0);
    assert_not_found("alpha");
    assert_int_equal(tr_unregister(rt, "alpha"), TR_ENOTFOUND);
    assert_int_equal(tr_registered(rt, names, 4, &n), 1);
    tr_ref_release(a);
    tr_ref_release(b);
}

static void a_name_is_held_once_and_an_actor_has_one_name(void **state) {
    (void)state;
    tr_ref *a = spawn_box(NULL, NULL), *b = spawn_box(NULL, NULL);
    assert_int_equal(tr_register(a, "one"), 0);
    assert_int_equal(tr_register(b, "one"), TR_EEXIST);
    assert_int_equal(tr_register(a, "one"), TR_EEXIST);
    assert_int_equal(tr_register(a, "two"), TR_EALREADY);
    assert_not_found("two");
    assert_named("one", a);
    assert_int_equal(tr_unregister(rt, "one"), 0);
    assert_int_equal(tr_register(b, "one"), 0); /* free again */
    assert_int_equal(tr_register(a, "two"), 0); /* a has no name any more */
    assert_named("one", b);
    assert_named("two", a);
    tr_ref_release(a);
    tr_ref_release(b);
}

static void registering_an_ended_actor_returns_edead(void **state) {
    (void)state;
    tr_ref *a = spawn_box(NULL, NULL);
    assert_int_equal(tr_actor_stop(a), 0);
    assert_true(tu_wait_ge(&ended, 1, TU_WAIT_MS));
    assert_int_equal(tr_register(a, "late"), TR_EDEAD);
    assert_not_found("late");
    tr_ref_release(a);
}

/* The name goes with the actor however it ends. */
static void end_named_actor(int how) {
    tr_ref *a = spawn_box(NULL, "gone");
    assert_named("gone", a);
    uint64_t before = tu_load(&ended);
    switch (how) {
    case 0:
        assert_int_equal(tr_send_word_named(rt, "gone", QUIT, 0), 0);
        break;
    case 1:
        assert_int_equal(tr_send_word_named(rt, "gone", CRASH, 0), 0);
        break;
    case 2:
        assert_int_equal(tr_send_word_named(rt, "gone", PANIC, 0), 0);
        break;
    case 3:
        assert_int_equal(tr_actor_kill(a), 0);
        break;
    default:
        assert_int_equal(tr_actor_stop(a), 0);
        break;
    }
    assert_true(tu_wait_ge(&ended, before + 1, TU_WAIT_MS));
    while (tr_ref_is_alive(a)) /* terminate ran; the end's tail may still run */
        tu_sleep_ms(1);
    assert_not_found("gone");
    size_t n = 9;
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 0);
    assert_int_equal(tr_send_word_named(rt, "gone", PING, 1), TR_ENOTFOUND);
    tr_ref *b = spawn_box(NULL, "gone"); /* free for the next one */
    assert_named("gone", b);
    assert_int_equal(tr_unregister(rt, "gone"), 0);
    tr_ref_release(b);
    tr_ref_release(a);
}

static void name_is_released_when_the_actor_stops_crashes_or_is_killed(void **state) {
    (void)state;
    for (int how = 0; how < 5; how++)
        end_named_actor(how);
}

/* A watcher that monitors its target and, on DOWN, looks the target's name
 * up and takes it itself. */
static void release_ref(void *p) {
    tr_ref_release(p);
}

static int watcher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == WATCH) {
        uint64_t id;
        return tr_monitor(ctx, msg->ptr, &id);
    }
    if (msg->type == TR_MSG_DOWN) {
        tr_ref *r = NULL;
        int rc = tr_whereis(tr_ctx_runtime(ctx), "watched", &r);
        if (r != NULL)
            tr_ref_release(r);
        tu_store(&down_whereis_rc, (uint64_t)(int64_t)rc);
        tu_store(&down_register_rc, (uint64_t)(int64_t)tr_register(tr_self(ctx), "watched"));
        tu_add(&downs, 1);
    }
    return 0;
}

static void name_is_free_before_monitors_hear_of_the_end(void **state) {
    (void)state;
    static const tr_behavior watcher_beh = {NULL, watcher_receive, NULL};
    tr_ref *w = NULL;
    assert_int_equal(tr_spawn(rt, &watcher_beh, NULL, &w), 0);
    tr_ref *a = spawn_box(NULL, "watched");
    tr_ref_retain(a); /* the WATCH message's */
    assert_int_equal(tr_send_ptr(w, WATCH, a, release_ref), 0);
    tu_sleep_ms(20); /* let the monitor be set: the DOWN comes either way */
    assert_int_equal(tr_send_word_named(rt, "watched", CRASH, 0), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal((int64_t)tu_load(&down_whereis_rc), TR_ENOTFOUND);
    assert_int_equal((int64_t)tu_load(&down_register_rc), 0);
    assert_named("watched", w);
    tr_ref_release(a);
    tr_ref_release(w);
}

static void an_ending_actor_is_not_found_and_its_name_can_be_taken(void **state) {
    (void)state;
    box hold = {.hold = 1};
    tr_ref *a = spawn_box(&hold, "slow");
    assert_int_equal(tr_actor_stop(a), 0);
    assert_true(tu_wait_ge(&in_terminate, 1, TU_WAIT_MS)); /* a is ending */
    assert_not_found("slow");
    assert_int_equal(tr_send_word_named(rt, "slow", PING, 0), TR_ENOTFOUND);
    size_t n = 9;
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 0);
    tr_ref *b = spawn_box(NULL, "slow"); /* takes it over */
    assert_named("slow", b);
    tu_store(&hold_terminate, 1);
    assert_true(tu_wait_ge(&ended, 1, TU_WAIT_MS));
    while (tr_ref_is_alive(a))
        tu_sleep_ms(1);
    tu_sleep_ms(5);
    assert_named("slow", b); /* a's end left b's name alone */
    tr_ref_release(a);
    tr_ref_release(b);
}

/* --- sending and asking by name ------------------------------------------- */

static uint64_t released_msgs;
static void count_release(tr_msg *m) {
    (void)m;
    tu_add(&released_msgs, 1);
}

static void send_and_ask_by_name(void **state) {
    (void)state;
    tr_ref *a = spawn_box(NULL, "svc");
    assert_int_equal(tr_send_named(rt, "svc", BYTES, "hello", 5), 0);
    assert_int_equal(tr_send_word_named(rt, "svc", PING, 10), 0);
    static tr_msg m;
    tu_store(&released_msgs, 0);
    assert_int_equal(tr_msg_init(&m, PING, count_release), 0);
    m.word = 100;
    assert_int_equal(tr_send_msg_named(rt, "svc", &m), 0);
    assert_true(tu_wait_ge(&received, 3, TU_WAIT_MS));
    assert_true(tu_wait_ge(&released_msgs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&bytes_ok), 1);
    assert_int_equal(tu_load(&word_sum), 110);

    tr_future *f = NULL;
    tr_msg *reply = NULL;
    assert_int_equal(tr_ask_word_named(rt, "svc", ECHO, 41, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 42);
    tr_msg_free(reply);
    tr_future_release(f);
    uint64_t w = 7;
    assert_int_equal(tr_ask_named(rt, "svc", ECHO, &w, sizeof(w), &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 1);
    tr_msg_free(reply);
    tr_future_release(f);

    /* Unknown name: the caller keeps its message, nothing was released. */
    static tr_msg kept;
    tu_store(&released_msgs, 0);
    assert_int_equal(tr_msg_init(&kept, PING, count_release), 0);
    assert_int_equal(tr_send_msg_named(rt, "nobody", &kept), TR_ENOTFOUND);
    assert_int_equal(tr_send_named(rt, "nobody", BYTES, "hello", 5), TR_ENOTFOUND);
    assert_int_equal(tr_send_word_named(rt, "nobody", PING, 1), TR_ENOTFOUND);
    f = (tr_future *)0x1;
    assert_int_equal(tr_ask_word_named(rt, "nobody", ECHO, 1, &f), TR_ENOTFOUND);
    assert_null(f);
    assert_int_equal(tr_ask_named(rt, "nobody", ECHO, NULL, 0, &f), TR_ENOTFOUND);
    assert_int_equal(tu_load(&released_msgs), 0);
    tr_msg_free(&kept);
    assert_int_equal(tu_load(&released_msgs), 1);
    tr_ref_release(a);
}

static void a_full_mailbox_refuses_by_name_and_the_caller_keeps_the_message(void **state) {
    (void)state;
    tu_gate g;
    tr_runtime_free(rt);
    rt = tu_runtime_new(1);
    assert_int_equal(tu_gate_block(rt, &g), 0); /* nothing runs now */
    tr_spawn_opts o = {.state_size = sizeof(box), .mailbox_capacity = 1, .register_as = "tiny"};
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &box_beh, &o, &a), 0);
    assert_int_equal(tr_send_word_named(rt, "tiny", PING, 1), 0);
    static tr_msg m;
    tu_store(&released_msgs, 0);
    assert_int_equal(tr_msg_init(&m, PING, count_release), 0);
    assert_int_equal(tr_send_msg_named(rt, "tiny", &m), TR_EFULL);
    assert_int_equal(tu_load(&released_msgs), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    tr_msg_free(&m);
    tr_ref_release(a);
}

/* --- registering at spawn ------------------------------------------------- */

static void spawn_registers_before_init_and_fails_when_the_name_is_taken(void **state) {
    (void)state;
    box look = {.lookup = "early"};
    tr_ref *a = spawn_box(&look, "early");
    assert_int_equal((int64_t)tu_load(&init_whereis_rc), 0); /* init found itself */
    assert_named("early", a);
    uint64_t before = tu_load(&inits);
    tr_spawn_opts o = {.state_size = sizeof(box), .register_as = "early"};
    tr_ref *b = (tr_ref *)0x1;
    assert_int_equal(tr_spawn(rt, &box_beh, &o, &b), TR_EEXIST);
    assert_null(b);
    assert_int_equal(tu_load(&inits), before); /* init did not run */
    assert_named("early", a);
    tr_ref_release(a);
}

static void a_failed_init_releases_the_name(void **state) {
    (void)state;
    box fail = {.fail_init = -55};
    tr_spawn_opts o = {.state_size = sizeof(box), .arg = &fail, .register_as = "doomed"};
    tr_ref *r = (tr_ref *)0x1;
    assert_int_equal(tr_spawn(rt, &box_beh, &o, &r), -55);
    assert_null(r);
    assert_not_found("doomed");
    tr_ref *a = spawn_box(NULL, "doomed");
    assert_named("doomed", a);
    tr_ref_release(a);
}

static void names_go_when_the_runtime_closes(void **state) {
    (void)state;
    tr_ref *a = spawn_box(NULL, "c1"), *b = spawn_box(NULL, "c2");
    assert_int_equal(tr_register(a, "c0") == TR_EALREADY, 1);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_not_found("c1");
    assert_not_found("c2");
    size_t n = 9;
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 0);
    assert_int_equal(tu_load(&ended), 2);
    tr_ref_release(a);
    tr_ref_release(b);
}

/* --- restarts under a supervisor ------------------------------------------ */

#define RESTARTS 20
static uint64_t dead_ids[RESTARTS + 8];
static uint64_t dead_count; /* dead_ids[0..dead_count) ended before this was raised */
static uint64_t poll_stop, poll_found, poll_bad;

static void kid_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    (void)why;
    /* The mailbox is closed: from here no lookup may return this actor. */
    uint64_t i = tu_load(&dead_count);
    if (i < RESTARTS + 8) {
        tu_store(&dead_ids[i], tr_ref_id(tr_self(ctx)));
        tu_add(&dead_count, 1);
    }
}

static const tr_behavior kid_beh = {NULL, box_receive, kid_terminate};

static void *poller(void *arg) {
    (void)arg;
    while (!tu_load(&poll_stop)) {
        uint64_t n = tu_load(&dead_count);
        tr_ref *r = NULL;
        if (tr_whereis(rt, "worker", &r) != 0)
            continue;
        uint64_t id = tr_ref_id(r);
        for (uint64_t i = 0; i < n; i++)
            if (tu_load(&dead_ids[i]) == id)
                tu_add(&poll_bad, 1);
        tu_add(&poll_found, 1);
        tr_ref_release(r);
    }
    return NULL;
}

static void a_restarted_child_gets_its_name_back(void **state) {
    (void)state;
    tu_store(&dead_count, 0);
    tu_store(&poll_stop, 0);
    tu_store(&poll_found, 0);
    tu_store(&poll_bad, 0);
    tr_child_spec kid = {.id = "worker",
                         .behavior = &kid_beh,
                         .opts = {.register_as = "worker"},
                         .restart = TR_CHILD_PERMANENT};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.strategy = TR_SUP_ONE_FOR_ONE;
    cfg.intensity = TR_SUP_UNLIMITED;
    cfg.children = &kid;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poller, NULL), 0);
    uint64_t prev = 0;
    for (int i = 0; i < RESTARTS; i++) {
        tr_ref *r = NULL;
        int64_t deadline = tu_now_ms() + TU_WAIT_MS;
        /* Wait for the next incarnation, registered by the supervisor. */
        while (tu_now_ms() < deadline) {
            if (tr_whereis(rt, "worker", &r) == 0) {
                if (tr_ref_id(r) != prev)
                    break;
                tr_ref_release(r);
                r = NULL;
            }
            tu_sleep_ms(1);
        }
        assert_non_null(r);
        prev = tr_ref_id(r);
        assert_int_equal(tr_send_word(r, CRASH, 0), 0);
        tr_ref_release(r);
    }
    /* The poller may not have run at all on a loaded machine: the last
     * incarnation keeps the name, so give it time to find one. */
    assert_true(tu_wait_ge(&poll_found, 1, TU_WAIT_MS));
    tu_store(&poll_stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(tu_load(&poll_bad), 0);
    assert_true(tu_load(&poll_found) > 0);
    /* The last CRASH may still be on its way: wait for its end too. */
    assert_true(tu_wait_ge(&dead_count, RESTARTS, TU_WAIT_MS));
    assert_int_equal(tr_sup_stop(sup), 0);
    tr_ref_release(sup);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_call_rejects_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(whereis_finds_the_registered_actor_and_lists_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_name_is_held_once_and_an_actor_has_one_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(registering_an_ended_actor_returns_edead, setup, teardown),
        cmocka_unit_test_setup_teardown(name_is_released_when_the_actor_stops_crashes_or_is_killed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(name_is_free_before_monitors_hear_of_the_end, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_ending_actor_is_not_found_and_its_name_can_be_taken,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(send_and_ask_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_full_mailbox_refuses_by_name_and_the_caller_keeps_the_message, setup, teardown),
        cmocka_unit_test_setup_teardown(
            spawn_registers_before_init_and_fails_when_the_name_is_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_init_releases_the_name, setup, teardown),
        cmocka_unit_test_setup_teardown(names_go_when_the_runtime_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_restarted_child_gets_its_name_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
