/* tests/test_stress_order.c - the default mailbox's ordering contract.
 *
 * Besides per-sender FIFO, an actor spawned with default options receives a
 * message sent after other threads' sends completed after those messages
 * (docs/design.md; issue 18 keeps it: foreign senders do not get lanes
 * unless the receiver opts in with tr_spawn_opts.lanes, which gives it up).
 *
 * Two foreign threads per round: A sends BURST words (enough in a row that
 * a per-thread queue would be made for it, were lanes automatic), then
 * publishes the round; B waits for it and sends one word. The actor checks
 * that B's word of round r comes after all of A's words of round r. Counts
 * exact; threads record into atomics, the test thread asserts. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#if defined(TROUPE_TSAN)
#define ROUNDS 1000
#else
#define ROUNDS 20000
#endif
#define BURST 16 /* more than a lane takes to be made (core/lane.c: 8) */
#define TYPE_A 1
#define TYPE_B 2

typedef struct seen {
    uint64_t a_count[2]; /* owner only: A's words of the current round */
    uint64_t a_round;    /* owner only: the round A's last word was from */
    uint64_t a_total, b_total;
    uint64_t violations; /* B's word before all of A's for its round */
    uint64_t fifo_errors;
} seen;

static seen s;
static uint64_t published; /* A's last completed round + 1 */
static uint64_t failures;

static int order_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    seen *x = state;
    uint64_t round = msg->word / BURST;
    if (msg->type == TYPE_A) {
        if (round != x->a_round) {
            if (round != x->a_round + 1 && x->a_total != 0)
                tu_add(&x->fifo_errors, 1);
            x->a_round = round;
            x->a_count[round & 1] = 0;
        }
        x->a_count[round & 1]++;
        tu_add(&x->a_total, 1);
    } else {
        /* Round `round` of A completed before this word was sent. */
        if (x->a_total == 0 || x->a_round < round ||
            (x->a_round == round && x->a_count[round & 1] != BURST))
            tu_add(&x->violations, 1);
        tu_add(&x->b_total, 1);
    }
    return 0;
}

static void *thread_a(void *arg) {
    tr_ref *to = arg;
    for (uint64_t r = 0; r < ROUNDS; r++) {
        for (uint64_t i = 0; i < BURST; i++)
            if (tr_send_word(to, TYPE_A, r * BURST + i) != 0)
                tu_add(&failures, 1);
        tu_store(&published, r + 1); /* every send of round r has returned */
    }
    return NULL;
}

static void *thread_b(void *arg) {
    tr_ref *to = arg;
    for (uint64_t r = 0; r < ROUNDS; r++) {
        while (tu_load(&published) < r + 1)
            sched_yield();
        if (tr_send_word(to, TYPE_B, r * BURST) != 0)
            tu_add(&failures, 1);
    }
    return NULL;
}

static void a_send_after_another_threads_completed_sends_arrives_after_them(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, order_receive, NULL};
    memset(&s, 0, sizeof(s));
    tu_store(&published, 0);
    tu_store(&failures, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.arg = &s}; /* default options: no lanes */
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    pthread_t a, b;
    assert_int_equal(pthread_create(&a, NULL, thread_a, ref), 0);
    assert_int_equal(pthread_create(&b, NULL, thread_b, ref), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_true(tu_wait_ge(&s.b_total, ROUNDS, TU_WAIT_MS));
    assert_true(tu_wait_ge(&s.a_total, (uint64_t)ROUNDS * BURST, TU_WAIT_MS));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&failures), 0);
    assert_int_equal(tu_load(&s.fifo_errors), 0);
    assert_int_equal(tu_load(&s.violations), 0);
    assert_int_equal(tu_load(&s.a_total), (uint64_t)ROUNDS * BURST);
    assert_int_equal(tu_load(&s.b_total), ROUNDS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_send_after_another_threads_completed_sends_arrives_after_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
