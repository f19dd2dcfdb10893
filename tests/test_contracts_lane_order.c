/* tests/test_contracts_lane_order.c - a foreign thread's order survives its
 * lane being let go (core/lane.c, mailbox/spsc.c).
 *
 * A foreign thread whose lane into an actor mostly needs kicks (request and
 * reply traffic: a few words, then an ask) lets go of the lane once it is
 * drained and sends through the mailbox again. "Drained" used to be read
 * from the lane's state: not ACTIVE. But the owner's park shows WAITING
 * before it looks again and finds a late put, so a thread could let go of a
 * lane that still held its last words and send the ask through the mailbox,
 * where the owner (reading the mailbox and the lanes in turn) could take it
 * before them: the ask was answered with a short count (the flaky
 * test_stress_foreign ask test). Now the producer asks the lane itself
 * whether its last slot was taken (tr__lane_drained_spsc).
 *
 *   1. the predicate, on a lane whose owner is caught mid-park (WAITING
 *      with a message still in it): not drained; drained once taken; a
 *      closed lane is drained; a fresh one too;
 *   2. ROUNDS (100) fresh actors with lanes, THREADS foreign threads each asking
 *      ITERS times after 0..5 words: every ask is answered with the exact
 *      count of words sent before it, every word arrives in order. Without
 *      the fix this failed within a second (tens of wrong answers per run).
 *
 * Threads never assert: they count into globals; the test thread asserts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <ck_pr.h>
#include <cmocka.h>
#include <string.h>

#include "mailbox/spsc.h"
#include "support/testutil.h"
#include "troupe.h"

#define THREADS 2
#define ITERS (300 / TU_SANITIZER_SLOWDOWN)
#define ROUNDS 100
#define ASK_BIT 0x100u

/* --- 1. the predicate ---------------------------------------------------- */

static void count_closed(void *arg, uint32_t kind, uint32_t type, uint64_t word) {
    (void)kind, (void)type, (void)word;
    (*(uint64_t *)arg)++;
}

static void a_lane_caught_mid_park_with_a_message_is_not_drained(void **state) {
    (void)state;
    tr__lane *l = tr__lane_new();
    assert_non_null(l);
    assert_true(tr__lane_drained_spsc(l)); /* nothing put yet */
    assert_int_equal(tr__lane_put_spsc(l, TR__LANE_WORD, 7, 42), TR__LANE_OK);
    assert_false(tr__lane_drained_spsc(l));
    /* The owner's park swaps WAITING in before its second look (which
     * would find the word and move the lane back to ACTIVE): caught in
     * between, the lane is not drained, whatever its state says. */
    ck_pr_store_32(&l->state, TR__LANE_WAITING);
    assert_false(tr__lane_drained_spsc(l));
    assert_false(tr__lane_park_owner(l)); /* the second look finds it */
    uint32_t type;
    uint64_t word;
    assert_int_equal(tr__lane_take_owner(l, &type, &word), TR__LANE_WORD);
    assert_int_equal(word, 42);
    assert_true(tr__lane_drained_spsc(l)); /* taken: drained while ACTIVE */
    assert_int_equal(tr__lane_put_spsc(l, TR__LANE_WORD, 7, 43), TR__LANE_OK);
    assert_false(tr__lane_drained_spsc(l));
    uint64_t closed = 0;
    tr__lane_close_owner(l, count_closed, &closed);
    assert_int_equal(closed, 1);
    assert_true(tr__lane_drained_spsc(l)); /* closed: the close has it */
    for (int ref = 0; ref < 3; ref++)      /* producer, owner, the announce kick */
        tr__lane_release_any(l);
}

/* --- 2. asks after words, from foreign threads with lanes ---------------- */

static uint64_t ask_right, ask_wrong, ask_failed, order_errors, send_errors;

typedef struct counts {
    uint64_t next[THREADS]; /* the next word expected from each thread */
} counts;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counts *s = state;
    uint32_t from = (msg->type & 0xFFu) - 1;
    if (from >= THREADS) {
        tu_add(&order_errors, 1);
        return 0;
    }
    if (msg->type & ASK_BIT) { /* the words since the last ask */
        if (tr_reply_word(msg, 1, s->next[from]) != 0)
            tu_add(&send_errors, 1);
        s->next[from] = 0;
    } else if (msg->word != s->next[from]++) {
        tu_add(&order_errors, 1);
    }
    return 0;
}

typedef struct asker {
    pthread_t t;
    tr_ref *to;
    uint32_t id;
} asker;

static void *ask_after_words(void *arg) {
    asker *a = arg;
    uint64_t seed = 0x9E3779B97F4A7C15ull * (a->id + 1);
    for (int it = 0; it < ITERS; it++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        uint64_t k = seed % 6;
        for (uint64_t i = 0; i < k; i++)
            if (tr_send_word(a->to, a->id + 1, i) != 0)
                tu_add(&send_errors, 1);
        tr_future *f;
        if (tr_ask_word(a->to, ASK_BIT | (a->id + 1), k, &f) != 0) {
            tu_add(&ask_failed, 1);
            continue;
        }
        tr_msg *reply = NULL;
        if (tr_future_wait(f, TU_WAIT_MS, &reply) != 0) {
            tu_add(&ask_failed, 1);
        } else {
            tu_add(reply->word == k ? &ask_right : &ask_wrong, 1);
            tr_msg_free(reply);
        }
        tr_future_release(f);
    }
    return NULL;
}

static void an_ask_after_words_is_answered_after_them_when_the_lane_retires(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, count_receive, NULL};
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.keep_open = 1;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    for (int r = 0; r < ROUNDS; r++) {
        /* Fresh threads and actors: each thread's lane table starts empty,
         * so each round gets lanes and retires them again. */
        static counts st;
        memset(&st, 0, sizeof(st));
        tr_spawn_opts o = {.arg = &st, .lanes = 1};
        tr_ref *ref;
        assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
        asker a[THREADS];
        for (uint32_t i = 0; i < THREADS; i++) {
            a[i] = (asker){.to = ref, .id = i};
            assert_int_equal(pthread_create(&a[i].t, NULL, ask_after_words, &a[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(a[i].t, NULL);
        assert_int_equal(tr_actor_stop(ref), 0);
        tr_ref_release(ref);
    }
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&ask_failed), 0);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&ask_wrong), 0);
    assert_int_equal(tu_load(&ask_right), (uint64_t)ROUNDS * THREADS * ITERS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_lane_caught_mid_park_with_a_message_is_not_drained),
        cmocka_unit_test(an_ask_after_words_is_answered_after_them_when_the_lane_retires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
