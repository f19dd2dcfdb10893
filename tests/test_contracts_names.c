/* tests/test_contracts_names.c - the contracts of troupe/registry.h and
 * troupe/group.h, tried adversarially: bad arguments, names and groups of an
 * actor whose init fails, calls after the runtime closed, a broadcast while
 * members die (the count is exact against what arrived and what was
 * dead-lettered), topics that match nothing or everything, a foreign thread
 * calling tr_group_broadcast_others, and a supervised child whose name is
 * taken by another live actor when it is restarted. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { T_DATA = 1, T_CRASH, T_STOP };

static uint64_t got, dead, inits;

static void reset(void) {
    tu_store(&got, 0);
    tu_store(&dead, 0);
    tu_store(&inits, 0);
}

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_CRASH)
        return TR_ECRASHED;
    if (msg->type == T_STOP)
        return tr_stop(ctx);
    if (msg->type == T_DATA)
        tu_add(&got, 1);
    return 0;
}
static const tr_behavior counter = {.receive = count_receive};

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == T_DATA)
        tu_add(&dead, 1);
}

static tr_runtime *rt_with_hook(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

/* --- registry ------------------------------------------------------------ */

static void registry_rejects_bad_arguments(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *a = NULL, *out = (tr_ref *)1;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &a), 0);
    char longname[TR_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(tr_register(NULL, "a"), TR_EINVAL);
    assert_int_equal(tr_register(a, NULL), TR_EINVAL);
    assert_int_equal(tr_register(a, ""), TR_EINVAL);
    assert_int_equal(tr_register(a, longname), TR_EINVAL);
    longname[TR_NAME_MAX] = '\0'; /* exactly TR_NAME_MAX bytes: fine */
    assert_int_equal(tr_register(a, longname), 0);
    assert_int_equal(tr_register(a, longname), TR_EEXIST);
    assert_int_equal(tr_register(a, "other"), TR_EALREADY);
    assert_int_equal(tr_unregister(NULL, "a"), TR_EINVAL);
    assert_int_equal(tr_unregister(rt, NULL), TR_EINVAL);
    assert_int_equal(tr_unregister(rt, "nobody"), TR_ENOTFOUND);
    assert_int_equal(tr_whereis(NULL, "a", &out), TR_EINVAL);
    assert_null(out);
    assert_int_equal(tr_whereis(rt, "a", NULL), TR_EINVAL);
    assert_int_equal(tr_whereis(rt, "", &out), TR_EINVAL);
    size_t n = 99;
    assert_int_equal(tr_registered(NULL, NULL, 0, &n), TR_EINVAL);
    assert_int_equal(tr_registered(rt, NULL, 1, &n), TR_EINVAL);
    assert_int_equal(tr_registered(rt, NULL, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(tr_send_named(rt, longname, TR_MSG_SYSTEM, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_send_named(rt, longname, T_DATA, NULL, 4), TR_EINVAL);
    assert_int_equal(tr_send_msg_named(rt, longname, NULL), TR_EINVAL);
    tr_future *f = (tr_future *)1;
    assert_int_equal(tr_ask_word_named(rt, longname, T_DATA, 1, NULL), TR_EINVAL);
    assert_int_equal(tr_ask_word_named(rt, "nobody", T_DATA, 1, &f), TR_ENOTFOUND);
    assert_int_equal(tr_send_word_named(rt, longname, T_DATA, 1), 0);
    assert_true(tu_wait_ge(&got, 1, TU_WAIT_MS));
    tr_ref_release(a);
    tr_runtime_free(rt);
}

static int failing_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    tu_add(&inits, 1);
    /* Everything an actor can hold by name, taken before init fails. */
    if (tr_group_join(tr_self(ctx), "g") != 0 || tr_subscribe(tr_self(ctx), "t.>") != 0)
        return TR_EINVAL;
    return TR_ENOMEM;
}

static void init_failure_releases_name_groups_and_topics(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    tr_behavior fails = {.init = failing_init, .receive = count_receive};
    tr_spawn_opts o = {.register_as = "svc"};
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &fails, &o, &r), TR_ENOMEM);
    assert_null(r);
    assert_int_equal(tu_load(&inits), 1);
    tr_ref *w = NULL;
    assert_int_equal(tr_whereis(rt, "svc", &w), TR_ENOTFOUND);
    size_t n = 7;
    assert_int_equal(tr_group_members(rt, "g", NULL, 0, &n), 0);
    assert_int_equal(tr_publish_word(rt, "t.x", T_DATA, 1), 0);
    /* The name is free for the next one. */
    assert_int_equal(tr_spawn(rt, &counter, &o, &r), 0);
    assert_int_equal(tr_whereis(rt, "svc", &w), 0);
    assert_ptr_equal(w, r);
    tr_ref_release(w);
    tr_ref_release(r);
    tr_runtime_free(rt);
}

static void register_as_taken_fails_before_init(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *a = NULL, *b = NULL;
    tr_spawn_opts o = {.register_as = "one"};
    assert_int_equal(tr_spawn(rt, &counter, &o, &a), 0);
    tr_behavior counts_init = {.init = failing_init, .receive = count_receive};
    assert_int_equal(tr_spawn(rt, &counts_init, &o, &b), TR_EEXIST);
    assert_null(b);
    assert_int_equal(tu_load(&inits), 0);
    tr_spawn_opts bad = {.register_as = ""};
    assert_int_equal(tr_spawn(rt, &counts_init, &bad, &b), TR_EINVAL);
    assert_int_equal(tu_load(&inits), 0);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

static void names_after_close_answer_not_found_or_closed(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *a = NULL, *w = NULL;
    tr_spawn_opts o = {.register_as = "late"};
    assert_int_equal(tr_spawn(rt, &counter, &o, &a), 0);
    assert_int_equal(tr_group_join(a, "g"), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_whereis(rt, "late", &w), TR_ENOTFOUND);
    assert_null(w);
    assert_int_equal(tr_register(a, "again"), TR_EDEAD);
    int rc = tr_send_word_named(rt, "late", T_DATA, 1);
    assert_true(rc == TR_ENOTFOUND || rc == TR_ECLOSED);
    rc = tr_group_broadcast_word(rt, "g", T_DATA, 1);
    assert_true(rc == 0 || rc == TR_ECLOSED);
    assert_int_equal(tr_group_join(a, "g"), TR_EDEAD);
    assert_int_equal(tr_subscribe(a, "x"), TR_EDEAD);
    size_t n = 9;
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 0);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

/* --- groups and topics --------------------------------------------------- */

static void groups_and_topics_reject_bad_arguments(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &a), 0);
    char longname[TR_NAME_MAX + 2];
    memset(longname, 'g', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(tr_group_join(NULL, "g"), TR_EINVAL);
    assert_int_equal(tr_group_join(a, NULL), TR_EINVAL);
    assert_int_equal(tr_group_join(a, ""), TR_EINVAL);
    assert_int_equal(tr_group_join(a, longname), TR_EINVAL);
    assert_int_equal(tr_group_leave(a, "g"), TR_ENOTFOUND);
    assert_int_equal(tr_group_leave(a, longname), TR_EINVAL);
    size_t n = 3;
    assert_int_equal(tr_group_members(rt, "g", NULL, 1, &n), TR_EINVAL);
    assert_int_equal(tr_group_members(rt, "g", NULL, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_ref_release_all(NULL, 1), TR_EINVAL);
    assert_int_equal(tr_ref_release_all(NULL, 0), 0);
    assert_int_equal(tr_group_broadcast(rt, "g", TR_MSG_SYSTEM, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(rt, "g", T_DATA, NULL, 1), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(rt, longname, T_DATA, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(NULL, "g", T_DATA, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_group_broadcast_others(NULL, "g", T_DATA, NULL, 0), TR_EINVAL);
    const char *bad_patterns[] = {"", ".", "a.", ".a", "a..b", ">.a", "a.>.b", "*.>.*"};
    for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++) {
        assert_int_equal(tr_subscribe(a, bad_patterns[i]), TR_EINVAL);
        assert_false(tr_topic_matches(bad_patterns[i], "a"));
    }
    const char *bad_topics[] = {"", "a.*", ">", "a..b", "a.", "*"};
    for (size_t i = 0; i < sizeof(bad_topics) / sizeof(bad_topics[0]); i++) {
        assert_int_equal(tr_publish(rt, bad_topics[i], T_DATA, NULL, 0), TR_EINVAL);
        assert_false(tr_topic_matches("a", bad_topics[i]));
    }
    assert_int_equal(tr_subscribe(NULL, "a"), TR_EINVAL);
    assert_int_equal(tr_unsubscribe(a, "a"), TR_ENOTFOUND);
    assert_int_equal(tr_subscribe(a, "a"), 0);
    assert_int_equal(tr_subscribe(a, "a"), TR_EEXIST);
    assert_int_equal(tr_publish(rt, "a", TR_MSG_SYSTEM + 1, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_publish(rt, "a", T_DATA, NULL, TR_MSG_MAX_SIZE + 1), TR_EINVAL);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

static void topic_match_follows_the_nats_rules(void **st) {
    (void)st;
    assert_int_equal(tr_topic_matches(">", "a"), 1);
    assert_int_equal(tr_topic_matches(">", "a.b.c"), 1);
    assert_int_equal(tr_topic_matches("a.>", "a"), 0);
    assert_int_equal(tr_topic_matches("a.>", "a.b"), 1);
    assert_int_equal(tr_topic_matches("*", "a"), 1);
    assert_int_equal(tr_topic_matches("*", "a.b"), 0);
    assert_int_equal(tr_topic_matches("*.*", "a"), 0);
    assert_int_equal(tr_topic_matches("a.*.c", "a.b.c"), 1);
    assert_int_equal(tr_topic_matches("a.*.c", "a.b.d"), 0);
    assert_int_equal(tr_topic_matches("a.b", "a.bc"), 0);
    assert_int_equal(tr_topic_matches("ab", "a"), 0);
    assert_int_equal(tr_topic_matches("a", "ab"), 0);
    /* Inside a longer segment '*' and '>' are plain characters. */
    assert_int_equal(tr_topic_matches("a*", "ab"), 0);
    assert_int_equal(tr_topic_matches("a*", "a*"), 1);
    assert_int_equal(tr_topic_matches("x.a>", "x.a>"), 1);
    assert_int_equal(tr_topic_matches("x.a>", "x.a.b"), 0);
    assert_false(tr_topic_matches(NULL, "a"));
    assert_false(tr_topic_matches("a", NULL));
}

static void publish_matching_nothing_returns_zero(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &counter, NULL, &a), 0);
    assert_int_equal(tr_publish_word(rt, "x.y", T_DATA, 1), 0); /* nobody subscribed yet */
    assert_int_equal(tr_subscribe(a, "a.*"), 0);
    assert_int_equal(tr_subscribe(a, "b"), 0);
    assert_int_equal(tr_publish_word(rt, "x.y", T_DATA, 1), 0);
    assert_int_equal(tr_publish_word(rt, "a", T_DATA, 1), 0);
    assert_int_equal(tr_publish_word(rt, "a.b.c", T_DATA, 1), 0);
    assert_int_equal(tr_publish_word(rt, "a.b", T_DATA, 1), 1);
    assert_true(tu_wait_ge(&got, 1, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&got), 1);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

#define SUBS 8
static void publish_matching_everything_reaches_each_actor_once(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *s[SUBS];
    const char *patterns[] = {">", "*.*.*", "a.>", "a.b.c", "*.b.>", "a.*.c"};
    size_t np = sizeof(patterns) / sizeof(patterns[0]);
    for (int i = 0; i < SUBS; i++) {
        assert_int_equal(tr_spawn(rt, &counter, NULL, &s[i]), 0);
        for (size_t p = 0; p < np; p++)
            if ((size_t)i % np >= p) /* actor i holds the first i % np + 1 patterns */
                assert_int_equal(tr_subscribe(s[i], patterns[p]), 0);
    }
    char big[200];
    memset(big, 'z', sizeof(big));
    assert_int_equal(tr_publish(rt, "a.b.c", T_DATA, big, sizeof(big)), SUBS);
    assert_int_equal(tr_publish_word(rt, "a.b.c", T_DATA, 2), SUBS);
    assert_int_equal(tr_publish_word(rt, "q", T_DATA, 3), SUBS); /* only ">" */
    assert_true(tu_wait_ge(&got, 3 * SUBS, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&got), 3 * SUBS);
    for (int i = 0; i < SUBS; i++)
        tr_ref_release(s[i]);
    tr_runtime_free(rt);
}

/* Members end while broadcasts go out: every broadcast's count is exactly
 * the number of its messages that were handled or dead-lettered. */
#define BMEMBERS 16
#define BROUNDS 200
static void broadcast_count_matches_deliveries_while_members_die(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = rt_with_hook(2);
    assert_non_null(rt);
    tr_ref *m[BMEMBERS];
    for (int i = 0; i < BMEMBERS; i++) {
        assert_int_equal(tr_spawn(rt, &counter, NULL, &m[i]), 0);
        assert_int_equal(tr_group_join(m[i], "room"), 0);
    }
    uint64_t accepted = 0;
    for (int r = 0; r < BROUNDS; r++) {
        if (r % (BROUNDS / BMEMBERS) == 0 && r / (BROUNDS / BMEMBERS) < BMEMBERS) {
            int k = r / (BROUNDS / BMEMBERS);
            assert_int_equal(tr_send_word(m[k], k % 2 ? T_CRASH : T_STOP, 0), 0);
        }
        int rc = tr_group_broadcast_word(rt, "room", T_DATA, (uint64_t)r);
        assert_true(rc >= 0 && rc <= BMEMBERS);
        accepted += (uint64_t)rc;
    }
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tu_load(&got) + tu_load(&dead), accepted);
    size_t n = 5;
    assert_int_equal(tr_group_members(rt, "room", NULL, 0, &n), 0);
    for (int i = 0; i < BMEMBERS; i++)
        tr_ref_release(m[i]);
    tr_runtime_free(rt);
}

/* A foreign thread holding an actor's ctx (it leaked out of a callback)
 * cannot broadcast as that actor. */
static tr_ctx *leaked_ctx;
static uint64_t leaked;
static int leak_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    leaked_ctx = ctx;
    tu_store(&leaked, 1);
    return 0;
}

static void broadcast_others_from_a_foreign_thread_is_einval(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    tr_behavior leak = {.receive = leak_receive};
    tr_ref *a = NULL, *b = NULL;
    assert_int_equal(tr_spawn(rt, &leak, NULL, &a), 0);
    assert_int_equal(tr_spawn(rt, &counter, NULL, &b), 0);
    assert_int_equal(tr_group_join(b, "g"), 0);
    assert_int_equal(tr_send_word(a, T_DATA, 0), 0);
    assert_true(tu_wait_ge(&leaked, 1, TU_WAIT_MS));
    assert_int_equal(tr_group_broadcast_others(leaked_ctx, "g", T_DATA, NULL, 0), TR_EINVAL);
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&got), 0);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_runtime_free(rt);
}

/* --- a supervised child whose name is taken ------------------------------ */

static uint64_t sup_down, sup_down_kind;
static int watch_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == TR_MSG_DOWN) {
        tu_store(&sup_down_kind, (uint64_t)msg->status);
        tu_add(&sup_down, 1);
    }
    return 0;
}
static int watch_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    uint64_t id;
    return tr_monitor(ctx, arg, &id);
}

static void restart_with_a_taken_name_gives_up_at_the_intensity(void **st) {
    (void)st;
    reset();
    tu_store(&sup_down, 0);
    tr_runtime *rt = tu_runtime_new(2);
    tr_child_spec spec = {.id = "svc", .behavior = &counter, .opts = {.register_as = "svc"}};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.intensity = 3;
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL, *w = NULL, *thief = NULL, *watcher = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_behavior watch = {.init = watch_init, .receive = watch_receive};
    tr_spawn_opts wo = {.arg = sup, .state_size = 8};
    assert_int_equal(tr_spawn(rt, &watch, &wo, &watcher), 0);
    assert_int_equal(tr_whereis(rt, "svc", &w), 0);
    /* Another actor takes the name while the child lives, then it crashes. */
    assert_int_equal(tr_unregister(rt, "svc"), 0);
    assert_int_equal(tr_spawn(rt, &counter, &(tr_spawn_opts){.register_as = "svc"}, &thief), 0);
    assert_int_equal(tr_send_word(w, T_CRASH, 0), 0);
    /* Every restart fails with TR_EEXIST: the supervisor gives up. */
    assert_true(tu_wait_ge(&sup_down, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sup_down_kind), TR_EXIT_SHUTDOWN);
    assert_int_equal(tr_ref_is_alive(sup), 0);
    assert_int_equal(tr_ref_is_alive(thief), 1);
    tr_ref *w2 = NULL;
    assert_int_equal(tr_whereis(rt, "svc", &w2), 0);
    assert_ptr_equal(w2, thief);
    tr_ref_release(w2);
    tr_ref_release(w);
    tr_ref_release(thief);
    tr_ref_release(watcher);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

/* "Before its monitors get TR_MSG_DOWN": in the DOWN handler the ended
 * actor has no name, is in no group and has no subscription, and the name
 * can be taken at once. */
static uint64_t down_checks[4];
static tr_ref *gone_target;
static int down_checker(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != TR_MSG_DOWN)
        return 0;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    tr_ref *w = NULL;
    size_t n = 0;
    tu_store(&down_checks[0], (uint64_t)(int64_t)(tr_whereis(rt, "dying", &w) + 1000));
    tu_store(&down_checks[1], (uint64_t)(int64_t)(tr_group_members(rt, "g", NULL, 0, &n) + 1000));
    tu_store(&down_checks[2], (uint64_t)(int64_t)(tr_publish_word(rt, "t.x", T_DATA, 1) + 1000));
    tu_store(&down_checks[3], (uint64_t)(int64_t)(tr_register(tr_self(ctx), "dying") + 1000));
    if (w != NULL)
        tr_ref_release(w);
    return 0;
}
static int down_checker_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    uint64_t id;
    return tr_monitor(ctx, gone_target, &id);
}

static void names_groups_and_topics_are_gone_when_down_arrives(void **st) {
    (void)st;
    reset();
    for (int i = 0; i < 4; i++)
        tu_store(&down_checks[i], 0);
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *t = NULL, *w = NULL, *found = NULL;
    assert_int_equal(tr_spawn(rt, &counter, &(tr_spawn_opts){.register_as = "dying"}, &t), 0);
    assert_int_equal(tr_group_join(t, "g"), 0);
    assert_int_equal(tr_subscribe(t, "t.*"), 0);
    gone_target = t;
    tr_behavior db = {.init = down_checker_init, .receive = down_checker};
    assert_int_equal(tr_spawn(rt, &db, NULL, &w), 0);
    assert_int_equal(tr_send_word(t, T_CRASH, 0), 0);
    int64_t end = tu_now_ms() + TU_WAIT_MS;
    while (tu_load(&down_checks[3]) == 0 && tu_now_ms() < end)
        tu_sleep_ms(1);
    assert_int_equal((int)((int64_t)tu_load(&down_checks[0]) - 1000), TR_ENOTFOUND);
    assert_int_equal((int)((int64_t)tu_load(&down_checks[1]) - 1000), 0);
    assert_int_equal((int)((int64_t)tu_load(&down_checks[2]) - 1000), 0);
    assert_int_equal((int)((int64_t)tu_load(&down_checks[3]) - 1000), 0);
    assert_int_equal(tr_whereis(rt, "dying", &found), 0);
    assert_ptr_equal(found, w);
    tr_ref_release(found);
    tr_ref_release(t);
    tr_ref_release(w);
    tr_runtime_free(rt);
}

static void group_members_with_a_small_buffer_counts_them_all(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *m[3], *out[2] = {NULL, NULL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_spawn(rt, &counter, NULL, &m[i]), 0);
        assert_int_equal(tr_group_join(m[i], "g"), 0);
    }
    assert_int_equal(tr_group_join(m[0], "g"), TR_EEXIST);
    size_t n = 0;
    assert_int_equal(tr_group_members(rt, "g", out, 2, &n), 3);
    assert_int_equal(n, 2);
    assert_non_null(out[0]);
    assert_non_null(out[1]);
    assert_int_equal(tr_ref_release_all(out, 2), 0);
    assert_int_equal(tr_group_leave(m[1], "g"), 0);
    assert_int_equal(tr_group_leave(m[1], "g"), TR_ENOTFOUND);
    assert_int_equal(tr_group_broadcast_word(rt, "g", T_DATA, 1), 2);
    tr_name names[1];
    assert_int_equal(tr_register(m[0], "a"), 0);
    assert_int_equal(tr_register(m[1], "b"), 0);
    assert_int_equal(tr_registered(rt, names, 1, &n), 2);
    assert_int_equal(n, 1);
    assert_true(strcmp(names[0], "a") == 0 || strcmp(names[0], "b") == 0);
    for (int i = 0; i < 3; i++)
        tr_ref_release(m[i]);
    tr_runtime_free(rt);
}

/* Sends by name, broadcasts and publishes made inside an actor carry it as
 * their sender, as tr_send does: a member can tr_reply to the broadcaster. */
enum { T_FANOUT = 50, T_ECHO };
static uint64_t echoes, wrong_sender;
static tr_ref *fan;
static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_DATA)
        return 0;
    tr_ref *s = NULL;
    if (tr_sender(ctx, &s) != 0 || s != fan)
        tu_add(&wrong_sender, 1);
    if (s != NULL)
        tr_ref_release(s);
    if (tr_reply_word(msg, T_ECHO, 0) != 0)
        tu_add(&wrong_sender, 1);
    return 0;
}
static int fan_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    if (msg->type == T_FANOUT) {
        char big[100] = {0}; /* a shared payload */
        if (tr_send_word_named(rt, "echo0", T_DATA, 0) != 0 ||
            tr_group_broadcast(rt, "echoes", T_DATA, big, sizeof(big)) != 2 ||
            tr_group_broadcast_others(ctx, "echoes", T_DATA, NULL, 0) != 2 ||
            tr_publish_word(rt, "e.x", T_DATA, 1) != 2)
            tu_add(&wrong_sender, 1);
    } else if (msg->type == T_ECHO) {
        tu_add(&echoes, 1);
    }
    return 0;
}

static void named_and_group_sends_from_an_actor_carry_its_sender(void **st) {
    (void)st;
    tu_store(&echoes, 0);
    tu_store(&wrong_sender, 0);
    tr_runtime *rt = tu_runtime_new(2);
    tr_behavior eb = {.receive = echo_receive}, fb = {.receive = fan_receive};
    tr_ref *e[2];
    assert_int_equal(tr_spawn(rt, &fb, NULL, &fan), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            tr_spawn(rt, &eb, &(tr_spawn_opts){.register_as = i == 0 ? "echo0" : "echo1"}, &e[i]),
            0);
        assert_int_equal(tr_group_join(e[i], "echoes"), 0);
        assert_int_equal(tr_subscribe(e[i], "e.*"), 0);
    }
    assert_int_equal(tr_send_word(fan, T_FANOUT, 0), 0);
    assert_true(tu_wait_ge(&echoes, 7, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&echoes), 7);
    assert_int_equal(tu_load(&wrong_sender), 0);
    for (int i = 0; i < 2; i++)
        tr_ref_release(e[i]);
    tr_ref_release(fan);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_rejects_bad_arguments),
        cmocka_unit_test(init_failure_releases_name_groups_and_topics),
        cmocka_unit_test(register_as_taken_fails_before_init),
        cmocka_unit_test(names_after_close_answer_not_found_or_closed),
        cmocka_unit_test(groups_and_topics_reject_bad_arguments),
        cmocka_unit_test(topic_match_follows_the_nats_rules),
        cmocka_unit_test(publish_matching_nothing_returns_zero),
        cmocka_unit_test(publish_matching_everything_reaches_each_actor_once),
        cmocka_unit_test(broadcast_count_matches_deliveries_while_members_die),
        cmocka_unit_test(broadcast_others_from_a_foreign_thread_is_einval),
        cmocka_unit_test(restart_with_a_taken_name_gives_up_at_the_intensity),
        cmocka_unit_test(names_groups_and_topics_are_gone_when_down_arrives),
        cmocka_unit_test(group_members_with_a_small_buffer_counts_them_all),
        cmocka_unit_test(named_and_group_sends_from_an_actor_carry_its_sender),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
