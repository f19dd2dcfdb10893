/* tests/test_send_ahead.c - the prefetch hint on foreign tells
 * (TR__MSG_AHEAD: core/send.c, hint_ahead; core/msgcache.c,
 * tr__msgcache_ahead).
 *
 * A tell from a foreign thread into a counted mailbox that already holds
 * 256 or more messages carries, in corr, the block its sender's cache will
 * hand out TR__MSGCACHE_AHEAD allocations later: for a thread that sends a
 * stream of messages, the message it sends AHEAD sends later. The receiver
 * prefetches it and clears the flag as it delivers the message.
 *
 * The tests hold a bounded actor on its first message, send it a stream
 * from a fresh thread with corr zeroed before each send, let it go, and
 * check what it received: no hint below the depth, the exact successor (or
 * none, where the sender's cache was about to refill) above it, no hint at
 * all into an uncounted mailbox or from an actor (whose tells carry their
 * sender's id in corr), and never the flag, a sender or a reply mark in a
 * handler. The one-word send takes no hint (core/send.c says why). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/msg.h"
#include "core/msgcache.h"
#include "core/send.h"
#include "support/testutil.h"
#include "troupe.h"

#define N 1000   /* the stream: with the held message, fits the bound */
#define CAP 1024 /* the receiver's bound */
#define DEPTH TR__SEND_AHEAD_DEPTH
#define AHEAD TR__MSGCACHE_AHEAD
#define WAIT_MS 20000

enum { M_HOLD = 1, M_DATA = 2, M_GO = 3 };

/* What the receiver saw of message i of the stream. */
static uintptr_t addr[N];
static uint64_t corr[N];
static uint64_t sender_id[N];
static uint64_t got, flagged, marked, holding, release_hold;

static int receiver_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == M_HOLD) {
        tu_store(&holding, 1);
        int64_t end = tu_now_ms() + WAIT_MS;
        while (!tu_load(&release_hold) && tu_now_ms() < end)
            tu_sleep_ms(1);
        return 0;
    }
    if (msg->type != M_DATA)
        return 0;
    uint64_t i = msg->word; /* a copied send carries it as its payload */
    const uint64_t *copied = tr_msg_payload(msg, sizeof(uint64_t));
    if (copied != NULL)
        i = *copied;
    if (i >= N)
        return 0;
    addr[i] = (uintptr_t)msg;
    corr[i] = msg->corr;
    sender_id[i] = tr_msg_sender_id(msg);
    if (msg->flags & TR__MSG_AHEAD)
        tu_add(&flagged, 1);
    tr_ref *s = NULL;
    if (tr_sender(ctx, &s) == 0) {
        tu_add(&marked, 1);
        tr_ref_release(s);
    }
    if (tr_msg_is_reply(msg) || tr_msg_wants_reply(msg))
        tu_add(&marked, 1);
    tu_add(&got, 1);
    return 0;
}

static const tr_behavior receiver_beh = {NULL, receiver_receive, NULL};

static void reset(void) {
    memset(addr, 0, sizeof(addr));
    memset(corr, 0, sizeof(corr));
    memset(sender_id, 0, sizeof(sender_id));
    tu_store(&got, 0);
    tu_store(&flagged, 0);
    tu_store(&marked, 0);
    tu_store(&holding, 0);
    tu_store(&release_hold, 0);
}

/* Spawn the receiver (bound cap, 0 = unbounded) and hold it on its first
 * message, so what is sent next queues. */
static tr_ref *held_receiver(tr_runtime *rt, uint32_t cap) {
    reset();
    tr_spawn_opts o = {.mailbox_capacity = cap, .name = "receiver"};
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &receiver_beh, &o, &r), 0);
    assert_int_equal(tr_send_word(r, M_HOLD, 0), 0);
    assert_true(tu_wait_ge(&holding, 1, WAIT_MS));
    return r;
}

static void let_go_and_wait(tr_ref *r) {
    tu_store(&release_hold, 1);
    assert_true(tu_wait_ge(&got, N, WAIT_MS));
    assert_int_equal(tu_load(&flagged), 0);
    assert_int_equal(tu_load(&marked), 0);
    tr_ref_release(r);
}

/* The stream, from a thread of its own (a fresh cache): message i carries
 * word i and corr 0 until the send. */
typedef struct {
    tr_ref *to;
    int copied; /* tr_send (a copy of i) instead of tr_msg_new + tr_send_msg */
    int failed;
} stream;

static void *send_stream(void *arg) {
    stream *s = arg;
    for (uint64_t i = 0; i < N; i++) {
        if (s->copied) {
            if (tr_send(s->to, M_DATA, &i, sizeof(i)) != 0)
                s->failed++;
            continue;
        }
        tr_msg *m;
        if (tr_msg_new(&m, M_DATA, 0) != 0) {
            s->failed++;
            continue;
        }
        m->word = i;
        m->corr = 0; /* read-only for users; the test's marker */
        if (tr_send_msg(s->to, m) != 0) {
            tr_msg_free(m);
            s->failed++;
        }
    }
    return NULL;
}

static void send_from_a_thread(tr_ref *to, int copied) {
    stream s = {.to = to, .copied = copied};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_stream, &s), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(s.failed, 0);
}

/* Deep messages whose corr names the message sent AHEAD later. */
static unsigned successors_named(void) {
    unsigned k = 0;
    for (unsigned i = DEPTH; i + AHEAD < N; i++)
        k += corr[i] == (uint64_t)addr[i + AHEAD];
    return k;
}

/* Each round: the hint, then AHEAD allocations (the last must be it), all
 * given back in reverse (the cache as it was), then one more kept, so the
 * cache moves on by one: through its refills, too (2,000 rounds). */
#define ROUNDS 2000
static tr_msg *kept[ROUNDS];

static void ahead_names_the_block_handed_out_that_many_allocations_later(void **state) {
    (void)state;
    unsigned checked = 0;
    for (int round = 0; round < ROUNDS; round++) {
        tr_msg *want = tr__msgcache_ahead();
        tr_msg *b[AHEAD];
        for (int k = 0; k < AHEAD; k++)
            assert_non_null(b[k] = tr__msgcache_alloc());
        if (want != NULL) {
            assert_ptr_equal(b[AHEAD - 1], want);
            checked++;
        }
        for (int k = AHEAD - 1; k >= 0; k--)
            tr__msgcache_free(b[k]);
        assert_non_null(kept[round] = tr__msgcache_alloc());
    }
    for (int round = 0; round < ROUNDS; round++)
        tr__msgcache_free(kept[round]);
    assert_true(checked >= ROUNDS / 2);
}

static void *fresh_thread_ahead(void *arg) {
    (void)arg;
    return tr__msgcache_ahead();
}

static void a_thread_without_a_cache_has_no_hint(void **state) {
    (void)state;
    pthread_t th;
    void *got_hint = (void *)1;
    assert_int_equal(pthread_create(&th, NULL, fresh_thread_ahead, NULL), 0);
    assert_int_equal(pthread_join(th, &got_hint), 0);
    assert_null(got_hint);
}

static void foreign_tells_into_a_deep_mailbox_name_their_successors(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *r = held_receiver(rt, CAP);
    send_from_a_thread(r, 0);
    let_go_and_wait(r);
    /* Below the depth: no hint (the held message counts: reserved room is
     * 1 + i before message i). */
    for (unsigned i = 0; i + 1 < DEPTH; i++)
        assert_int_equal(corr[i], 0);
    /* Above it: the successor AHEAD sends later, or nothing where the
     * cache had fewer than AHEAD blocks left (a refill came between). */
    for (unsigned i = DEPTH; i + AHEAD < N; i++)
        if (corr[i] != 0)
            assert_int_equal(corr[i], (uint64_t)addr[i + AHEAD]);
    unsigned deep = N - AHEAD - DEPTH;
    assert_true(successors_named() >= deep - 4 * AHEAD);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(sender_id[i], 0);
    tr_runtime_free(rt);
}

static void copying_sends_hint_as_well(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *r = held_receiver(rt, CAP);
    send_from_a_thread(r, 1);
    let_go_and_wait(r);
    unsigned deep = N - AHEAD - DEPTH;
    assert_true(successors_named() >= deep - 4 * AHEAD);
    tr_runtime_free(rt);
}

static void an_uncounted_mailbox_gets_no_hint(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *r = held_receiver(rt, 0);
    send_from_a_thread(r, 0);
    let_go_and_wait(r);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(corr[i], 0);
    tr_runtime_free(rt);
}

/* An actor streams N tells into the held receiver: each carries its
 * sender's id in corr, deep or not. */
static tr_ref *g_to;
static uint64_t g_sent_rc;

static int streamer_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != M_GO)
        return 0;
    for (uint64_t i = 0; i < N; i++)
        if (tr_send_word(g_to, M_DATA, i) != 0)
            tu_add(&g_sent_rc, 1);
    return 0;
}

static const tr_behavior streamer_beh = {NULL, streamer_receive, NULL};

static void tells_from_an_actor_keep_their_sender(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    g_to = held_receiver(rt, CAP);
    tu_store(&g_sent_rc, 0);
    tr_ref *s = NULL;
    assert_int_equal(tr_spawn(rt, &streamer_beh, NULL, &s), 0);
    assert_int_equal(tr_send_word(s, M_GO, 0), 0);
    /* All N queued behind the held message before it lets go. */
    int64_t end = tu_now_ms() + WAIT_MS;
    while (tr_ref_mailbox_len(g_to) < N && tu_now_ms() < end)
        tu_sleep_ms(1);
    assert_true(tr_ref_mailbox_len(g_to) >= N);
    tu_store(&release_hold, 1);
    assert_true(tu_wait_ge(&got, N, WAIT_MS));
    assert_int_equal(tu_load(&g_sent_rc), 0);
    assert_int_equal(tu_load(&flagged), 0);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(sender_id[i], tr_ref_id(s));
    tr_ref_release(s);
    tr_ref_release(g_to);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ahead_names_the_block_handed_out_that_many_allocations_later),
        cmocka_unit_test(a_thread_without_a_cache_has_no_hint),
        cmocka_unit_test(foreign_tells_into_a_deep_mailbox_name_their_successors),
        cmocka_unit_test(copying_sends_hint_as_well),
        cmocka_unit_test(an_uncounted_mailbox_gets_no_hint),
        cmocka_unit_test(tells_from_an_actor_keep_their_sender),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
