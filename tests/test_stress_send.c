/* tests/test_stress_send.c - many foreign threads flooding one actor.
 *
 * SENDERS plain pthreads each send PER_SENDER words to one actor, which
 * checks that every sender's messages arrive in that sender's order and
 * counts them. The mailbox is bounded (CAPACITY) so the flood cannot outrun
 * memory: a sender that gets TR_EFULL yields and retries the same message.
 * Checked exactly: every message arrives once, in per-sender order, and
 * every send either succeeded or returned TR_EFULL.
 *
 * The second test floods a small bounded mailbox through tr_send_wait (the
 * senders sleep for room and are woken by the receiver's turns, in bulk
 * once half the bound is free or the mailbox runs dry): the same exact
 * checks, and no send may time out or fail. */
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

#define SENDERS 4
#if defined(TROUPE_TSAN)
#define PER_SENDER 100000 /* TSan: a tenth of the 1,000,000 per sender */
#else
#define PER_SENDER 1000000
#endif
#define TOTAL ((uint64_t)SENDERS * PER_SENDER)
#define CAPACITY 16384

typedef struct counts {
    uint64_t next[SENDERS]; /* owner only */
    uint64_t received;      /* read by the test thread */
    uint64_t order_errors;
} counts;

static counts c;
static uint64_t other_errors, full_retries;

static int check_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counts *s = state;
    uint32_t from = msg->type - 1;
    if (from >= SENDERS || msg->word != s->next[from])
        tu_add(&s->order_errors, 1);
    else
        s->next[from]++;
    tu_add(&s->received, 1);
    return 0;
}

typedef struct sender {
    pthread_t t;
    tr_ref *to;
    uint32_t id;
} sender;

static void *send_thread(void *arg) {
    sender *s = arg;
    uint64_t retries = 0;
    for (uint64_t i = 0; i < PER_SENDER; i++) {
        for (;;) {
            int rc = tr_send_word(s->to, s->id + 1, i);
            if (rc == 0)
                break;
            if (rc != TR_EFULL) {
                tu_add(&other_errors, 1);
                break;
            }
            retries++;
            sched_yield();
        }
    }
    tu_add(&full_retries, retries);
    return NULL;
}

/* Spawn the checking actor with a mailbox of capacity, run SENDERS threads
 * of body until they are done and the actor has received `total`; the
 * elapsed milliseconds. Checks the order and counts every flood must keep. */
static int64_t flood(uint32_t capacity, void *(*body)(void *), uint64_t per_sender) {
    static const tr_behavior beh = {NULL, check_receive, NULL};
    uint64_t total = (uint64_t)SENDERS * per_sender;
    memset(&c, 0, sizeof(c));
    tu_store(&other_errors, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.arg = &c, .mailbox_capacity = capacity};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    int64_t t0 = tu_now_ms();
    sender s[SENDERS];
    for (uint32_t i = 0; i < SENDERS; i++) {
        s[i] = (sender){.to = ref, .id = i};
        assert_int_equal(pthread_create(&s[i].t, NULL, body, &s[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(s[i].t, NULL);
    assert_true(tu_wait_ge(&c.received, total, 10 * TU_WAIT_MS));
    int64_t ms = tu_now_ms() - t0;
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&other_errors), 0);
    assert_int_equal(tu_load(&c.order_errors), 0);
    assert_int_equal(tu_load(&c.received), total);
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(c.next[i], per_sender);
    return ms;
}

static void four_threads_flood_one_actor_in_per_sender_order(void **state) {
    (void)state;
    int64_t ms = flood(CAPACITY, send_thread, PER_SENDER);
    print_message("%llu messages in %lld ms (%.1f M/s), %llu full retries\n",
                  (unsigned long long)TOTAL, (long long)ms,
                  ms > 0 ? (double)TOTAL / (double)ms / 1000.0 : 0.0,
                  (unsigned long long)tu_load(&full_retries));
}

/* --- tr_send_wait ------------------------------------------------------- */

#define WAIT_CAPACITY 64
static uint64_t wait_failures;

static void *send_wait_thread(void *arg) {
    sender *s = arg;
    for (uint64_t i = 0; i < PER_SENDER / 4; i++) {
        tr_msg *m;
        if (tr_msg_new(&m, s->id + 1, 0) != 0) {
            tu_add(&other_errors, 1);
            continue;
        }
        m->word = i;
        if (tr_send_wait(s->to, m, TU_WAIT_MS) != 0) {
            tr_msg_free(m);
            tu_add(&wait_failures, 1);
        }
    }
    return NULL;
}

static void four_threads_send_wait_into_a_small_mailbox_none_times_out(void **state) {
    (void)state;
    int64_t ms = flood(WAIT_CAPACITY, send_wait_thread, PER_SENDER / 4);
    assert_int_equal(tu_load(&wait_failures), 0);
    print_message("%llu messages through a %d-slot mailbox in %lld ms\n",
                  (unsigned long long)TOTAL / 4, WAIT_CAPACITY, (long long)ms);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_threads_flood_one_actor_in_per_sender_order),
        cmocka_unit_test(four_threads_send_wait_into_a_small_mailbox_none_times_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
