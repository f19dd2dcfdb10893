/* tests/test_stress_wait.c - tr_send_wait's awake waiter (core/send.c).
 *
 * One tr_send_wait caller per runtime waits for room awake while the others
 * sleep, and the receivers wake the sleepers only once their mailbox is at
 * most half full. These tests check that nobody is stranded by it:
 *
 * - SENDERS threads per actor flood ACTORS bounded actors of one runtime
 *   (so the awake one serves one actor while the other actor's senders
 *   sleep), one of them slow (it yields in every receive, so its senders
 *   wait most of the time): every message arrives once, in per-sender order,
 *   and no send fails or times out.
 * - A sender that is the awake one keeps its deadline: into a mailbox that
 *   never frees room, tr_send_wait returns TR_ETIMEDOUT after about its
 *   timeout, while a second waiter (asleep) times out as well. */
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

#define ACTORS 2
#define SENDERS 3 /* per actor */
#if defined(TROUPE_TSAN)
#define PER_SENDER 5000
#else
#define PER_SENDER 50000
#endif
#define CAPACITY 32

typedef struct counts {
    uint64_t next[SENDERS]; /* owner only */
    uint64_t received;      /* read by the test thread */
    uint64_t order_errors;
    int slow;
} counts;

static counts c[ACTORS];
static uint64_t failures;

static int check_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counts *s = state;
    uint32_t from = msg->type - 1;
    if (from >= SENDERS || msg->word != s->next[from])
        tu_add(&s->order_errors, 1);
    else
        s->next[from]++;
    if (s->slow)
        sched_yield(); /* its senders wait for room most of the time */
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
    for (uint64_t i = 0; i < PER_SENDER; i++) {
        tr_msg *m;
        if (tr_msg_new(&m, s->id + 1, 0) != 0) {
            tu_add(&failures, 1);
            continue;
        }
        m->word = i;
        if (tr_send_wait(s->to, m, TU_WAIT_MS) != 0) {
            tr_msg_free(m);
            tu_add(&failures, 1);
        }
    }
    return NULL;
}

static void senders_of_two_bounded_actors_all_get_through_in_order(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, check_receive, NULL};
    memset(c, 0, sizeof(c));
    tu_store(&failures, 0);
    c[1].slow = 1;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *ref[ACTORS];
    for (int a = 0; a < ACTORS; a++) {
        tr_spawn_opts o = {.arg = &c[a], .mailbox_capacity = CAPACITY};
        assert_int_equal(tr_spawn(rt, &beh, &o, &ref[a]), 0);
    }
    sender s[ACTORS][SENDERS];
    for (int a = 0; a < ACTORS; a++)
        for (uint32_t i = 0; i < SENDERS; i++) {
            s[a][i] = (sender){.to = ref[a], .id = i};
            assert_int_equal(pthread_create(&s[a][i].t, NULL, send_thread, &s[a][i]), 0);
        }
    for (int a = 0; a < ACTORS; a++)
        for (int i = 0; i < SENDERS; i++)
            pthread_join(s[a][i].t, NULL);
    for (int a = 0; a < ACTORS; a++)
        assert_true(tu_wait_ge(&c[a].received, (uint64_t)SENDERS * PER_SENDER, TU_WAIT_MS));
    for (int a = 0; a < ACTORS; a++)
        tr_ref_release(ref[a]);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&failures), 0);
    for (int a = 0; a < ACTORS; a++) {
        assert_int_equal(tu_load(&c[a].order_errors), 0);
        assert_int_equal(tu_load(&c[a].received), (uint64_t)SENDERS * PER_SENDER);
        for (int i = 0; i < SENDERS; i++)
            assert_int_equal(c[a].next[i], PER_SENDER);
    }
}

/* --- deadlines ------------------------------------------------------------ */

#define TIMEOUT_MS 100

typedef struct timed {
    pthread_t t;
    tr_ref *to;
    int rc;
    int64_t ms;
} timed;

static void *timed_thread(void *arg) {
    timed *w = arg;
    tr_msg *m;
    if (tr_msg_new(&m, 1, 0) != 0) {
        w->rc = TR_ENOMEM;
        return NULL;
    }
    int64_t t0 = tu_now_ms();
    w->rc = tr_send_wait(w->to, m, TIMEOUT_MS);
    w->ms = tu_now_ms() - t0;
    if (w->rc != 0)
        tr_msg_free(m);
    return NULL;
}

static int idle_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static void awake_and_sleeping_waiters_both_keep_their_deadline(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, idle_receive, NULL};
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0); /* the one worker is held: no room comes back */
    tr_spawn_opts o = {.mailbox_capacity = 1};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0); /* full */
    timed w[2] = {{.to = ref}, {.to = ref}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&w[i].t, NULL, timed_thread, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i].t, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].rc, TR_ETIMEDOUT);
        assert_true(w[i].ms >= TIMEOUT_MS - 5); /* it did wait */
        assert_true(w[i].ms < TU_WAIT_MS);      /* and did not wait forever */
    }
    tu_gate_open(&g);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(senders_of_two_bounded_actors_all_get_through_in_order),
        cmocka_unit_test(awake_and_sleeping_waiters_both_keep_their_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
