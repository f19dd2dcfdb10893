/* tests/test_group.c - process groups and topic publish/subscribe.
 *
 * A broadcast reaches every live member once and returns how many accepted
 * it; a publish reaches every actor with a matching pattern once. Members
 * that end leave by themselves. Payloads too big for a message's own block
 * (BIG_SIZE here) are copied once into a shared block that every member's
 * message reads (tr_msg_data) and that is freed exactly once, when the last
 * of those messages is destroyed, whether handled, dead-lettered or refused
 * (counted through tr__group_shared_counts).
 *
 * "mem" actors record what they receive in global counters; the test thread
 * waits on them and asserts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/group.h"
#include "support/testutil.h"
#include "troupe.h"

enum { LINE = 1, CRASH, QUIT, RELAY, BIG };

#define BIG_SIZE 1000

static tr_runtime *rt;
static uint64_t received, word_sum, big_ok, big_shared, take_null, ended, relayed;
static uint64_t made0, freed0;

static int mem_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case CRASH:
        return -9;
    case QUIT:
        tr_stop(ctx);
        return 0;
    case RELAY: /* pass a line on to the rest of group "room" */
        tu_add(&relayed, (uint64_t)tr_group_broadcast_others(ctx, "room", LINE, "hi", 2));
        break;
    case BIG: {
        const unsigned char *p = tr_msg_payload(msg, BIG_SIZE);
        int ok = p != NULL && msg->size == BIG_SIZE;
        for (size_t i = 0; ok && i < BIG_SIZE; i++)
            ok = p[i] == (unsigned char)i;
        if (ok)
            tu_add(&big_ok, 1);
        if (p != NULL && (const void *)p != (const void *)(msg + 1))
            tu_add(&big_shared, 1); /* not in the message's own block */
        if (tr_msg_take_ptr(msg) == NULL)
            tu_add(&take_null, 1);
        break;
    }
    default:
        break;
    }
    tu_add(&word_sum, msg->word);
    tu_add(&received, 1);
    return 0;
}

static void mem_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&ended, 1);
}

static const tr_behavior mem_beh = {NULL, mem_receive, mem_terminate};

static tr_ref *spawn_mem(void) {
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &mem_beh, NULL, &r), 0);
    return r;
}

static int setup(void **state) {
    (void)state;
    uint64_t *all[] = {&received, &word_sum, &big_ok, &big_shared, &take_null, &ended, &relayed};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tr__group_shared_counts(&made0, &freed0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

static uint64_t shared_made(void) {
    uint64_t m, f;
    tr__group_shared_counts(&m, &f);
    return m - made0;
}

static uint64_t shared_freed(void) {
    uint64_t m, f;
    tr__group_shared_counts(&m, &f);
    return f - freed0;
}

static uint64_t alive_now(void) {
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    return st.actors_alive;
}

static int count_members(const char *group) {
    size_t n = 99;
    return tr_group_members(rt, group, NULL, 0, &n);
}

/* --- arguments ------------------------------------------------------------ */

static void every_call_rejects_bad_arguments(void **state) {
    (void)state;
    tr_ref *a = spawn_mem();
    char long_name[TR_NAME_MAX + 2];
    memset(long_name, 'g', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(tr_group_join(NULL, "g"), TR_EINVAL);
    assert_int_equal(tr_group_join(a, NULL), TR_EINVAL);
    assert_int_equal(tr_group_join(a, ""), TR_EINVAL);
    assert_int_equal(tr_group_join(a, long_name), TR_EINVAL);
    assert_int_equal(tr_group_leave(NULL, "g"), TR_EINVAL);
    assert_int_equal(tr_group_leave(a, NULL), TR_EINVAL);
    tr_ref *out[2];
    size_t n = 9;
    assert_int_equal(tr_group_members(NULL, "g", out, 2, &n), TR_EINVAL);
    assert_int_equal(tr_group_members(rt, NULL, out, 2, &n), TR_EINVAL);
    assert_int_equal(tr_group_members(rt, "g", NULL, 2, &n), TR_EINVAL);
    assert_int_equal(tr_group_members(rt, "g", out, 2, NULL), TR_EINVAL);
    assert_int_equal(tr_ref_release_all(NULL, 1), TR_EINVAL);
    assert_int_equal(tr_ref_release_all(NULL, 0), 0);
    assert_int_equal(tr_group_broadcast(NULL, "g", LINE, "x", 1), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(rt, NULL, LINE, "x", 1), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(rt, "g", TR_MSG_SYSTEM, "x", 1), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(rt, "g", LINE, NULL, 1), TR_EINVAL);
    assert_int_equal(tr_group_broadcast(rt, "g", LINE, "x", (size_t)TR_MSG_MAX_SIZE + 1), TR_E2BIG);
    assert_int_equal(tr_group_broadcast_word(rt, "", LINE, 1), TR_EINVAL);
    assert_int_equal(tr_group_broadcast_others(NULL, "g", LINE, "x", 1), TR_EINVAL);
    assert_int_equal(tr_subscribe(NULL, "a.b"), TR_EINVAL);
    assert_int_equal(tr_unsubscribe(a, NULL), TR_EINVAL);
    const char *bad_patterns[] = {"", ".", "a.", ".a", "a..b", "a.>.b", ">.a"};
    for (size_t i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++)
        assert_int_equal(tr_subscribe(a, bad_patterns[i]), TR_EINVAL);
    const char *bad_topics[] = {"", "a.", "a..b", "a.*", "a.>", "*"};
    for (size_t i = 0; i < sizeof(bad_topics) / sizeof(bad_topics[0]); i++) {
        assert_int_equal(tr_publish(rt, bad_topics[i], LINE, "x", 1), TR_EINVAL);
        assert_int_equal(tr_publish_word(rt, bad_topics[i], LINE, 1), TR_EINVAL);
    }
    assert_int_equal(tr_publish(NULL, "a", LINE, "x", 1), TR_EINVAL);
    assert_int_equal(tr_publish(rt, "a", TR_MSG_SYSTEM, "x", 1), TR_EINVAL);
    /* Unknown groups and topics reach nobody. */
    assert_int_equal(tr_group_broadcast(rt, "nobody", LINE, "x", 1), 0);
    assert_int_equal(tr_publish(rt, "no.one", LINE, "x", 1), 0);
    assert_int_equal(count_members("nobody"), 0);
    assert_int_equal(tr_group_leave(a, "nobody"), TR_ENOTFOUND);
    assert_int_equal(tr_unsubscribe(a, "no.one"), TR_ENOTFOUND);
    tr_ref_release(a);
}

/* --- groups --------------------------------------------------------------- */

static void join_leave_and_members(void **state) {
    (void)state;
    tr_ref *a = spawn_mem(), *b = spawn_mem();
    assert_int_equal(tr_group_join(a, "g"), 0);
    assert_int_equal(tr_group_join(a, "g"), TR_EEXIST);
    assert_int_equal(tr_group_join(b, "g"), 0);
    assert_int_equal(tr_group_join(a, "h"), 0); /* many groups per actor */
    tr_ref *out[4] = {0};
    size_t n = 0;
    assert_int_equal(tr_group_members(rt, "g", out, 4, &n), 2);
    assert_int_equal(n, 2);
    assert_true((out[0] == a && out[1] == b) || (out[0] == b && out[1] == a));
    assert_int_equal(tr_ref_release_all(out, n), 0);
    assert_int_equal(tr_group_members(rt, "g", out, 1, &n), 2); /* too small: says so */
    assert_int_equal(n, 1);
    tr_ref_release_all(out, n);
    assert_int_equal(tr_group_leave(a, "g"), 0);
    assert_int_equal(tr_group_leave(a, "g"), TR_ENOTFOUND);
    assert_int_equal(count_members("g"), 1);
    assert_int_equal(count_members("h"), 1);
    assert_int_equal(tr_group_leave(b, "g"), 0);
    assert_int_equal(count_members("g"), 0);
    assert_int_equal(tr_group_join(b, "g"), 0); /* the group comes back */
    assert_int_equal(count_members("g"), 1);
    tr_ref_release(a);
    tr_ref_release(b);
}

static void joining_an_ended_actor_returns_edead(void **state) {
    (void)state;
    tr_ref *a = spawn_mem();
    assert_int_equal(tr_actor_stop(a), 0);
    assert_true(tu_wait_ge(&ended, 1, TU_WAIT_MS));
    assert_int_equal(tr_group_join(a, "g"), TR_EDEAD);
    assert_int_equal(tr_subscribe(a, "a.b"), TR_EDEAD);
    assert_int_equal(count_members("g"), 0);
    tr_ref_release(a);
}

static void broadcast_reaches_every_member_once(void **state) {
    (void)state;
    enum { N = 8 };
    tr_ref *m[N];
    for (int i = 0; i < N; i++) {
        m[i] = spawn_mem();
        assert_int_equal(tr_group_join(m[i], "room"), 0);
    }
    tr_ref *outsider = spawn_mem();
    assert_int_equal(tr_group_broadcast(rt, "room", LINE, "hello", 5), N);
    assert_int_equal(tr_group_broadcast_word(rt, "room", LINE, 3), N);
    assert_true(tu_wait_ge(&received, 2 * N, TU_WAIT_MS));
    assert_int_equal(tu_load(&word_sum), 3 * N);
    /* From a member, to the others: N - 1 lines. From an outsider: N. */
    assert_int_equal(tr_send_word(m[0], RELAY, 0), 0);
    assert_int_equal(tr_send_word(outsider, RELAY, 0), 0);
    assert_true(tu_wait_ge(&relayed, 2 * N - 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&received, 2 * N + 2 + 2 * N - 1, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&relayed), 2 * N - 1);
    assert_int_equal(tu_load(&received), 2 * N + 2 + 2 * N - 1);
    assert_int_equal(shared_made(), 0); /* small payloads are copied inline */
    for (int i = 0; i < N; i++)
        tr_ref_release(m[i]);
    tr_ref_release(outsider);
}

static void a_big_payload_is_shared_and_freed_exactly_once(void **state) {
    (void)state;
    enum { N = 5 };
    unsigned char big[BIG_SIZE];
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)i;
    tr_ref *m[N];
    for (int i = 0; i < N; i++) {
        m[i] = spawn_mem();
        assert_int_equal(tr_group_join(m[i], "big"), 0);
    }
    assert_int_equal(tr_group_broadcast(rt, "big", BIG, big, sizeof(big)), N);
    memset(big, 0, sizeof(big)); /* the caller's copy is not referred to */
    assert_true(tu_wait_ge(&big_ok, N, TU_WAIT_MS));
    assert_int_equal(tu_load(&big_shared), N);
    assert_int_equal(tu_load(&take_null), N);
    assert_int_equal(shared_made(), 1);
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (shared_freed() != 1 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    assert_int_equal(shared_freed(), 1);
    for (int i = 0; i < N; i++)
        tr_ref_release(m[i]);
}

static uint64_t dead_letters;
static void count_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == BIG)
        tu_add(&dead_letters, 1);
}

/* Refused (full mailbox) and dead-lettered (stopped with it queued) copies
 * drop their references too: the block still goes exactly once. */
static void a_shared_payload_goes_when_refused_or_dead_lettered(void **state) {
    (void)state;
    tr_runtime_free(rt);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.dead_letter = count_dead;
    tu_store(&dead_letters, 0);
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0); /* nothing runs until opened */
    tr_spawn_opts one = {.mailbox_capacity = 1};
    tr_ref *full = NULL, *queued = NULL, *ok = NULL;
    assert_int_equal(tr_spawn(rt, &mem_beh, &one, &full), 0);
    assert_int_equal(tr_spawn(rt, &mem_beh, NULL, &queued), 0);
    assert_int_equal(tr_spawn(rt, &mem_beh, NULL, &ok), 0);
    assert_int_equal(tr_send_word(full, LINE, 0), 0); /* now full */
    assert_int_equal(tr_group_join(full, "b"), 0);
    assert_int_equal(tr_group_join(queued, "b"), 0);
    assert_int_equal(tr_group_join(ok, "b"), 0);
    unsigned char big[BIG_SIZE];
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)i;
    assert_int_equal(tr_group_broadcast(rt, "b", BIG, big, sizeof(big)), 2); /* full refused */
    assert_int_equal(tr_actor_stop(queued), 0); /* its copy is dead-lettered */
    assert_int_equal(shared_made(), 1);
    assert_int_equal(shared_freed(), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&big_ok, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&dead_letters, 1, TU_WAIT_MS));
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (shared_freed() != 1 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    assert_int_equal(shared_freed(), 1);
    assert_int_equal(tu_load(&big_ok), 1);
    tr_ref_release(full);
    tr_ref_release(queued);
    tr_ref_release(ok);
}

static void end_member(int how, tr_ref *a) {
    switch (how) {
    case 0:
        assert_int_equal(tr_send_word(a, QUIT, 0), 0);
        break;
    case 1:
        assert_int_equal(tr_send_word(a, CRASH, 0), 0);
        break;
    case 2:
        assert_int_equal(tr_actor_kill(a), 0);
        break;
    default:
        assert_int_equal(tr_actor_stop(a), 0);
        break;
    }
}

static void a_member_that_ends_leaves_its_groups_and_topics(void **state) {
    (void)state;
    for (int how = 0; how < 4; how++) {
        tr_ref *a = spawn_mem(), *b = spawn_mem();
        assert_int_equal(tr_group_join(a, "g1"), 0);
        assert_int_equal(tr_group_join(a, "g2"), 0);
        assert_int_equal(tr_group_join(b, "g1"), 0);
        assert_int_equal(tr_subscribe(a, "t.*"), 0);
        assert_int_equal(tr_subscribe(a, "t.>"), 0);
        uint64_t before = tu_load(&ended), alive_before = alive_now();
        end_member(how, a);
        assert_true(tu_wait_ge(&ended, before + 1, TU_WAIT_MS));
        /* The contract is "before its monitors get DOWN", not "before
         * tr_ref_is_alive turns false" (false once it is stopping): wait
         * until the runtime counts it gone, which comes after its
         * memberships went (core/actor.c, finish). */
        assert_true(tu_wait_alive(rt, alive_before - 1, TU_WAIT_MS));
        assert_false(tr_ref_is_alive(a));
        assert_int_equal(count_members("g1"), 1);
        assert_int_equal(count_members("g2"), 0);
        assert_int_equal(tr_publish_word(rt, "t.x", LINE, 0), 0);
        assert_int_equal(tr_group_broadcast_word(rt, "g2", LINE, 0), 0);
        assert_int_equal(tr_group_leave(a, "g1"), TR_ENOTFOUND);
        assert_int_equal(tr_group_leave(b, "g1"), 0);
        tr_ref_release(a);
        tr_ref_release(b);
    }
}

static void groups_go_when_the_runtime_closes(void **state) {
    (void)state;
    tr_ref *a = spawn_mem(), *b = spawn_mem();
    assert_int_equal(tr_group_join(a, "g"), 0);
    assert_int_equal(tr_group_join(b, "g"), 0);
    assert_int_equal(tr_subscribe(b, "x.>"), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(count_members("g"), 0);
    assert_int_equal(tr_group_broadcast_word(rt, "g", LINE, 0), TR_ECLOSED);
    tr_ref_release(a);
    tr_ref_release(b);
}

static int join_then_fail(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    int rc = tr_group_join(tr_self(ctx), "early");
    if (rc == 0)
        rc = tr_subscribe(tr_self(ctx), "early.>");
    return rc == 0 ? -31 : rc; /* joined and subscribed: now fail */
}

static void an_actor_whose_init_fails_leaves_what_it_joined(void **state) {
    (void)state;
    static const tr_behavior beh = {join_then_fail, mem_receive, NULL};
    assert_int_equal(tr_spawn(rt, &beh, NULL, NULL), -31);
    assert_int_equal(count_members("early"), 0);
    assert_int_equal(tr_publish_word(rt, "early.x", LINE, 0), 0);
    assert_int_equal(tr_group_broadcast_word(rt, "early", LINE, 0), 0);
}

static void ten_thousand_members(void **state) {
    (void)state;
    enum { N = 10000 };
    tr_ref **m = calloc(N, sizeof(*m));
    assert_non_null(m);
    for (int i = 0; i < N; i++) {
        m[i] = spawn_mem();
        assert_int_equal(tr_group_join(m[i], "crowd"), 0);
        if (i % 2 == 0)
            assert_int_equal(tr_group_join(m[i], "evens"), 0);
    }
    assert_int_equal(count_members("crowd"), N);
    assert_int_equal(count_members("evens"), N / 2);
    unsigned char big[BIG_SIZE];
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)i;
    assert_int_equal(tr_group_broadcast(rt, "crowd", BIG, big, sizeof(big)), N);
    assert_int_equal(tr_group_broadcast_word(rt, "evens", LINE, 1), N / 2);
    assert_true(tu_wait_ge(&received, N + N / 2, TU_WAIT_MS));
    assert_int_equal(tu_load(&big_ok), N);
    assert_int_equal(tu_load(&word_sum), N / 2);
    assert_int_equal(shared_made(), 1);
    /* Every other member leaves by ending; the rest leave by hand. */
    for (int i = 0; i < N; i += 2)
        assert_int_equal(tr_actor_stop(m[i]), 0);
    assert_true(tu_wait_ge(&ended, N / 2, TU_WAIT_MS));
    for (int i = 0; i < N; i += 2)
        while (tr_ref_is_alive(m[i]))
            tu_sleep_ms(1);
    assert_int_equal(count_members("crowd"), N / 2);
    assert_int_equal(count_members("evens"), 0);
    for (int i = 1; i < N; i += 2)
        assert_int_equal(tr_group_leave(m[i], "crowd"), 0);
    assert_int_equal(count_members("crowd"), 0);
    assert_int_equal(shared_freed(), 1);
    tr_ref_release_all(m, N);
    free(m);
}

/* --- topics --------------------------------------------------------------- */

static void pattern_matching_table(void **state) {
    (void)state;
    static const struct {
        const char *pattern, *topic;
        int want;
    } rows[] = {
        {"chat.room1.msg", "chat.room1.msg", 1},
        {"chat.room1.msg", "chat.room2.msg", 0},
        {"chat.*.msg", "chat.room1.msg", 1},
        {"chat.*.msg", "chat.room1.join", 0},
        {"chat.*.msg", "chat.msg", 0},
        {"chat.*", "chat.room1", 1},
        {"chat.*", "chat.room1.msg", 0},
        {"chat.*", "chat", 0},
        {"chat.>", "chat.room1", 1},
        {"chat.>", "chat.room1.msg", 1},
        {"chat.>", "chat", 0},
        {">", "a", 1},
        {">", "a.b.c", 1},
        {"*", "a", 1},
        {"*", "a.b", 0},
        {"*.*", "a.b", 1},
        {"*.>", "a", 0},
        {"*.>", "a.b", 1},
        {"a.*.>", "a.b.c.d", 1},
        {"a.*.>", "a.b", 0},
        {"chat", "chatter", 0},
        {"chatter", "chat", 0},
        {"ab*", "abc", 0}, /* '*' inside a segment is a literal */
        {"ab*", "ab*", 1},
        {"a.*.c", "a.bb.c", 1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int got = tr_topic_matches(rows[i].pattern, rows[i].topic);
        if (got != rows[i].want)
            fail_msg("%s vs %s: got %d, want %d", rows[i].pattern, rows[i].topic, got,
                     rows[i].want);
    }
    assert_false(tr_topic_matches(NULL, "a"));
    assert_false(tr_topic_matches("a", NULL));
    assert_false(tr_topic_matches("a.>.b", "a.b"));
    assert_false(tr_topic_matches("a", "a.*"));
}

static void publish_reaches_each_subscriber_once(void **state) {
    (void)state;
    tr_ref *a = spawn_mem(), *b = spawn_mem(), *c = spawn_mem();
    assert_int_equal(tr_subscribe(a, "chat.*.msg"), 0);
    assert_int_equal(tr_subscribe(a, "chat.>"), 0); /* both match: still once */
    assert_int_equal(tr_subscribe(a, "chat.>"), TR_EEXIST);
    assert_int_equal(tr_subscribe(b, "chat.room1.msg"), 0);
    assert_int_equal(tr_subscribe(b, "chat.*.msg"), 0); /* exact and wildcard: once */
    assert_int_equal(tr_subscribe(c, "news.>"), 0);
    assert_int_equal(tr_publish_word(rt, "chat.room1.msg", LINE, 1), 2);
    assert_int_equal(tr_publish(rt, "chat.room2.msg", LINE, "x", 1), 2);
    assert_int_equal(tr_publish(rt, "chat.room2", LINE, "x", 1), 1);
    assert_int_equal(tr_publish(rt, "news.today", LINE, "x", 1), 1);
    assert_int_equal(tr_publish(rt, "weather", LINE, "x", 1), 0);
    unsigned char big[BIG_SIZE];
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)i;
    assert_int_equal(tr_publish(rt, "chat.room1.msg", BIG, big, sizeof(big)), 2);
    assert_true(tu_wait_ge(&received, 8, TU_WAIT_MS));
    assert_true(tu_wait_ge(&big_ok, 2, TU_WAIT_MS));
    assert_int_equal(tr_unsubscribe(a, "chat.>"), 0);
    assert_int_equal(tr_unsubscribe(a, "chat.>"), TR_ENOTFOUND);
    assert_int_equal(tr_publish_word(rt, "chat.room2", LINE, 0), 0);
    assert_int_equal(tr_publish_word(rt, "chat.room2.msg", LINE, 0), 2);
    assert_true(tu_wait_ge(&received, 10, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&received), 10);
    assert_int_equal(tu_load(&word_sum), 2);
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (shared_freed() != 1 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    assert_int_equal(shared_made(), 1);
    assert_int_equal(shared_freed(), 1);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_ref_release(c);
}

static void exact_and_wildcard_subscriptions_mix(void **state) {
    (void)state;
    enum { N = 50 };
    tr_ref *m[N];
    char pat[32];
    for (int i = 0; i < N; i++) {
        m[i] = spawn_mem();
        snprintf(pat, sizeof(pat), "t%d.*", i); /* N wildcard sets */
        assert_int_equal(tr_subscribe(m[i], pat), 0);
        snprintf(pat, sizeof(pat), "t%d.x", i); /* and N exact ones */
        assert_int_equal(tr_subscribe(m[i], pat), 0);
        assert_int_equal(tr_subscribe(m[i], "all.>"), 0);
    }
    assert_int_equal(tr_subscribe(m[0], ">"), 0);
    assert_int_equal(tr_subscribe(m[0], "*.x"), 0);
    for (int i = 0; i < N; i++) {
        snprintf(pat, sizeof(pat), "t%d.x", i); /* exact + "t<i>.*" (+ m[0]'s) */
        assert_int_equal(tr_publish_word(rt, pat, LINE, 1), i == 0 ? 1 : 2);
        snprintf(pat, sizeof(pat), "t%d.y", i); /* "t<i>.*" (+ m[0]'s ">") */
        assert_int_equal(tr_publish_word(rt, pat, LINE, 1), i == 0 ? 1 : 2);
    }
    assert_int_equal(tr_publish_word(rt, "all.q", LINE, 1), N);
    assert_int_equal(tr_publish_word(rt, "all", LINE, 1), 1); /* only ">" */
    assert_int_equal(tr_unsubscribe(m[3], "t3.x"), 0);
    assert_int_equal(tr_unsubscribe(m[3], "t3.*"), 0);
    assert_int_equal(tr_publish_word(rt, "t3.x", LINE, 1), 1); /* m[0] only */
    uint64_t want = 2 * (1 + 2 * (N - 1)) + N + 1 + 1;
    assert_true(tu_wait_ge(&received, want, TU_WAIT_MS));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&received), want);
    tr_ref_release_all(m, N);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_call_rejects_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(join_leave_and_members, setup, teardown),
        cmocka_unit_test_setup_teardown(joining_an_ended_actor_returns_edead, setup, teardown),
        cmocka_unit_test_setup_teardown(broadcast_reaches_every_member_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_big_payload_is_shared_and_freed_exactly_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_shared_payload_goes_when_refused_or_dead_lettered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_member_that_ends_leaves_its_groups_and_topics, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(groups_go_when_the_runtime_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(an_actor_whose_init_fails_leaves_what_it_joined, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ten_thousand_members, setup, teardown),
        cmocka_unit_test_setup_teardown(pattern_matching_table, setup, teardown),
        cmocka_unit_test_setup_teardown(publish_reaches_each_subscriber_once, setup, teardown),
        cmocka_unit_test_setup_teardown(exact_and_wildcard_subscriptions_mix, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
