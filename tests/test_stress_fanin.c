/* tests/test_stress_fanin.c - the default mailbox (mailbox/mpsc.c) under
 * fan-in from foreign threads, through the public API. Written for the
 * segmented mailbox tried on branch fanin2 (docs/performance.md); every
 * check is a contract of the default mailbox whatever its structure.
 *
 *   1. FAN_SENDERS foreign threads each send FAN_PER words to one actor with
 *      default spawn options, every 7th send a batch of 1..5 (a chain: one
 *      slot), so that the queue grows long: every message
 *      arrives exactly once, in its sender's order;
 *   2. the ordering contract: thread A sends a_k, then tells thread B, which
 *      sends b_k once it has seen that: the actor must receive a_k before
 *      b_k, for every k, while two noise threads flood the same mailbox;
 *   3. close races: CLOSE_ROUNDS fresh actors, each
 *      flooded by CLOSE_SENDERS threads with owned pointers and stopped with
 *      tr_actor_stop after a round-dependent number of deliveries: every
 *      accepted message is handled or dead-lettered exactly once (its
 *      pointer freed once), refused ones stay the sender's (ASan: no leak,
 *      no reuse after free).
 *
 * Threads never assert: they count into globals, the test thread asserts. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define SLOW TU_SANITIZER_SLOWDOWN
#define WORD 1

/* A word: sender << 40 | sequence. */
#define SENDER_OF(w) ((unsigned)((w) >> 40))
#define SEQ_OF(w) ((w) & ((1ull << 40) - 1))

/* --- 1. many senders, order and counts ------------------------------------ */

#define FAN_SENDERS 8
#define FAN_PER (100000 / SLOW)

typedef struct fan_state {
    uint64_t next[FAN_SENDERS + 4]; /* the next sequence expected per sender */
} fan_state;

static uint64_t received, order_errors, send_errors;

static int fan_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    fan_state *s = state;
    unsigned k = SENDER_OF(msg->word);
    if (k >= FAN_SENDERS + 4 || SEQ_OF(msg->word) != s->next[k])
        tu_add(&order_errors, 1);
    else
        s->next[k]++;
    tu_add(&received, 1);
    return 0;
}

static const tr_behavior fan_beh = {NULL, fan_receive, NULL};

typedef struct sender_arg {
    tr_ref *to;
    unsigned id;
    uint64_t n;
} sender_arg;

static void *fan_sender(void *p) {
    sender_arg *a = p;
    uint64_t seq = 0;
    while (seq < a->n) {
        uint64_t base = (uint64_t)a->id << 40;
        if (seq % 7 == 3) { /* a batch of 1..5: one slot */
            size_t n = 1 + (size_t)(seq % 5);
            if (n > a->n - seq)
                n = (size_t)(a->n - seq);
            tr_msg *b[5];
            size_t made = 0;
            for (; made < n; made++) {
                if (tr_msg_new(&b[made], WORD, 0) != 0)
                    break;
                b[made]->word = base | (seq + made);
            }
            if (made != n || tr_send_batch(a->to, b, n) != 0) {
                tu_add(&send_errors, 1);
                for (size_t i = 0; i < made; i++)
                    tr_msg_free(b[i]);
                return NULL;
            }
            seq += n;
        } else {
            if (tr_send_word(a->to, WORD, base | seq) != 0) {
                tu_add(&send_errors, 1);
                return NULL;
            }
            seq++;
        }
    }
    return NULL;
}

static void reset(void) {
    tu_store(&received, 0);
    tu_store(&order_errors, 0);
    tu_store(&send_errors, 0);
}

static void many_foreign_senders_keep_order_and_counts(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *to;
    tr_spawn_opts o = {.state_size = sizeof(fan_state)};
    assert_int_equal(tr_spawn(rt, &fan_beh, &o, &to), 0);
    pthread_t th[FAN_SENDERS];
    sender_arg args[FAN_SENDERS];
    for (unsigned i = 0; i < FAN_SENDERS; i++) {
        args[i] = (sender_arg){.to = to, .id = i, .n = FAN_PER};
        assert_int_equal(pthread_create(&th[i], NULL, fan_sender, &args[i]), 0);
    }
    for (unsigned i = 0; i < FAN_SENDERS; i++)
        pthread_join(th[i], NULL);
    assert_true(tu_wait_ge(&received, (uint64_t)FAN_SENDERS * FAN_PER, 10 * TU_WAIT_MS));
    tu_sleep_ms(10); /* nothing more comes */
    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&received), (uint64_t)FAN_SENDERS * FAN_PER);
    tr_ref_release(to);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- 2. a message sent after another thread's send completed comes after it */

#define PAIRS (50000 / SLOW)
#define NOISE 2
#define A_ID 0
#define B_ID 1

typedef struct pair_state {
    uint64_t a_seen; /* a_k received for every k below this */
    uint64_t next[2 + NOISE];
} pair_state;

static uint64_t contract_errors, handoff; /* handoff: A's sends completed */
static uint64_t noise_stop;

static int pair_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    pair_state *s = state;
    unsigned k = SENDER_OF(msg->word);
    uint64_t seq = SEQ_OF(msg->word);
    if (k >= 2 + NOISE || seq != s->next[k])
        tu_add(&order_errors, 1);
    else
        s->next[k]++;
    if (k == A_ID)
        s->a_seen = seq + 1;
    else if (k == B_ID && s->a_seen < seq + 1)
        tu_add(&contract_errors, 1); /* b_k before a_k */
    tu_add(&received, 1);
    return 0;
}

static const tr_behavior pair_beh = {NULL, pair_receive, NULL};

static void *a_main(void *p) {
    tr_ref *to = p;
    for (uint64_t k = 0; k < PAIRS; k++) {
        if (tr_send_word(to, WORD, ((uint64_t)A_ID << 40) | k) != 0) {
            tu_add(&send_errors, 1);
            return NULL;
        }
        tu_store(&handoff, k + 1); /* after the send returned (seq_cst) */
    }
    return NULL;
}

static void *b_main(void *p) {
    tr_ref *to = p;
    for (uint64_t k = 0; k < PAIRS; k++) {
        while (tu_load(&handoff) < k + 1)
            ; /* A's a_k send has completed */
        if (tr_send_word(to, WORD, ((uint64_t)B_ID << 40) | k) != 0) {
            tu_add(&send_errors, 1);
            return NULL;
        }
    }
    return NULL;
}

static void *noise_main(void *p) {
    sender_arg *a = p;
    uint64_t seq = 0;
    while (!tu_load(&noise_stop)) {
        if (tr_send_word(a->to, WORD, ((uint64_t)a->id << 40) | seq) != 0) {
            tu_add(&send_errors, 1);
            return NULL;
        }
        seq++;
        if (seq % 256 == 0)
            sched_yield(); /* the mailbox runs dry now and then: direct again */
    }
    a->n = seq;
    return NULL;
}

static void later_send_from_another_thread_comes_after(void **state) {
    (void)state;
    reset();
    tu_store(&contract_errors, 0);
    tu_store(&handoff, 0);
    tu_store(&noise_stop, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *to;
    tr_spawn_opts o = {.state_size = sizeof(pair_state)};
    assert_int_equal(tr_spawn(rt, &pair_beh, &o, &to), 0);
    pthread_t a, b, noise[NOISE];
    sender_arg nargs[NOISE];
    for (unsigned i = 0; i < NOISE; i++) {
        nargs[i] = (sender_arg){.to = to, .id = 2 + i};
        assert_int_equal(pthread_create(&noise[i], NULL, noise_main, &nargs[i]), 0);
    }
    assert_int_equal(pthread_create(&a, NULL, a_main, to), 0);
    assert_int_equal(pthread_create(&b, NULL, b_main, to), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    tu_store(&noise_stop, 1);
    uint64_t total = 2 * (uint64_t)PAIRS;
    for (unsigned i = 0; i < NOISE; i++) {
        pthread_join(noise[i], NULL);
        total += nargs[i].n;
    }
    assert_true(tu_wait_ge(&received, total, 10 * TU_WAIT_MS));
    tu_sleep_ms(10);
    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&contract_errors), 0);
    assert_int_equal(tu_load(&received), total);
    tr_ref_release(to);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- 3. mailboxes closed under a flood ---------------------------------- */

#define CLOSE_SENDERS 4
#define CLOSE_ROUNDS 6
#define CLOSE_CAP (200000 / SLOW) /* sends per sender and round at most */

static uint64_t accepted, refused, freed, handled, other_rc, stop_at;

static void count_free(void *p) {
    (void)p;
    tu_add(&freed, 1);
}

static int close_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    tu_add(&handled, 1);
    return 0;
}

static const tr_behavior close_beh = {NULL, close_receive, NULL};

static void *close_sender(void *p) {
    tr_ref *to = p;
    for (uint64_t i = 0; i < CLOSE_CAP; i++) {
        int rc = tr_send_ptr(to, WORD, &freed, count_free);
        if (rc == 0)
            tu_add(&accepted, 1);
        else if (rc == TR_EDEAD) {
            tu_add(&refused, 1);
            return NULL; /* stopped: the round is over for us */
        } else {
            tu_add(&other_rc, 1);
            return NULL;
        }
    }
    return NULL;
}

static void every_message_of_mailboxes_closed_under_a_flood_is_freed_once(void **state) {
    (void)state;
    static const uint64_t deliveries[CLOSE_ROUNDS] = {0, 1, 100, 600, 5000, 40000};
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    /* Held across the rounds: a runtime with nothing alive and no handle
     * held closes itself. */
    tr_ref *keeper;
    assert_int_equal(tr_spawn(rt, &close_beh, NULL, &keeper), 0);
    for (unsigned r = 0; r < CLOSE_ROUNDS; r++) {
        tu_store(&accepted, 0);
        tu_store(&refused, 0);
        tu_store(&freed, 0);
        tu_store(&handled, 0);
        tu_store(&other_rc, 0);
        tu_store(&stop_at, deliveries[r] / SLOW);
        tr_ref *to;
        assert_int_equal(tr_spawn(rt, &close_beh, NULL, &to), 0);
        pthread_t th[CLOSE_SENDERS];
        for (unsigned i = 0; i < CLOSE_SENDERS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, close_sender, to), 0);
        /* Stop it mid-flood: what is queued then (often thousands) is
         * dead-lettered by the close. */
        (void)tu_wait_ge(&handled, tu_load(&stop_at), TU_WAIT_MS);
        assert_int_equal(tr_actor_stop(to), 0);
        for (unsigned i = 0; i < CLOSE_SENDERS; i++)
            pthread_join(th[i], NULL);
        assert_true(tu_wait_ge(&freed, tu_load(&accepted), 10 * TU_WAIT_MS));
        assert_int_equal(tu_load(&other_rc), 0);
        assert_int_equal(tu_load(&freed), tu_load(&accepted)); /* each once */
        assert_true(tu_load(&handled) <= tu_load(&accepted));
        tr_ref_release(to);
    }
    tr_ref_release(keeper);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_foreign_senders_keep_order_and_counts),
        cmocka_unit_test(later_send_from_another_thread_comes_after),
        cmocka_unit_test(every_message_of_mailboxes_closed_under_a_flood_is_freed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
