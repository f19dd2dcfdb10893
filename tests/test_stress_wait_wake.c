/* tests/test_stress_wait_wake.c - tr_send_wait's sleep and wake-up under load.
 *
 * tr_send_wait callers that find a bounded mailbox full wait: one awake,
 * the others asleep on the runtime's event count, woken by the receiver
 * at its low-water mark or when the actor ends (core/send.c, core/actor.c).
 * These tests put many senders to sleep at once and check that every one
 * comes back:
 *
 * - SENDERS threads flood one actor whose mailbox holds CAPACITY messages
 *   and whose receiver stalls for PAUSE_MS every PAUSE_EVERY messages (so
 *   the senders pile up asleep again and again): every message arrives
 *   once, in per-sender order, no send fails, and every sender returns.
 * - The same senders blocked on a mailbox that never frees room (its one
 *   worker held) while the actor is stopped: every one returns TR_EDEAD
 *   (and keeps its message), and every message the mailbox accepted is
 *   handled or dead-lettered: exact counts, none left asleep. */
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

#define SENDERS 12
#if defined(TROUPE_TSAN)
#define PER_SENDER 2000
#else
#define PER_SENDER 20000
#endif
#define CAPACITY 16
#define PAUSE_EVERY 4000 /* messages between two stalls of the receiver */
#define PAUSE_MS 2

typedef struct counts {
    uint64_t next[SENDERS]; /* owner only */
    uint64_t received;      /* read by the test thread */
    uint64_t order_errors;
} counts;

static counts c;
static uint64_t failures; /* sends that did not return 0 */
static uint64_t finished; /* sender threads that returned */

static int check_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counts *s = state;
    uint32_t from = msg->type - 1;
    if (from >= SENDERS || msg->word != s->next[from])
        tu_add(&s->order_errors, 1);
    else
        s->next[from]++;
    uint64_t n = tu_add(&s->received, 1);
    if (n % PAUSE_EVERY == 0)
        tu_sleep_ms(PAUSE_MS); /* the mailbox fills: every sender waits */
    return 0;
}

typedef struct sender {
    pthread_t t;
    tr_ref *to;
    uint32_t id;
    uint64_t per;
    uint64_t accepted; /* sends that returned 0 */
    uint64_t dead;     /* sends that returned TR_EDEAD */
} sender;

static void *send_thread(void *arg) {
    sender *s = arg;
    for (uint64_t i = 0; i < s->per; i++) {
        tr_msg *m;
        if (tr_msg_new(&m, s->id + 1, 0) != 0) {
            tu_add(&failures, 1);
            continue;
        }
        m->word = i;
        int rc = tr_send_wait(s->to, m, -1); /* no deadline: only a wake-up ends it */
        if (rc == 0) {
            s->accepted++;
            continue;
        }
        tr_msg_free(m); /* refused: still ours */
        if (rc == TR_EDEAD)
            s->dead++;
        else
            tu_add(&failures, 1);
    }
    tu_add(&finished, 1);
    return NULL;
}

static void many_sleeping_senders_all_get_through_in_order(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, check_receive, NULL};
    memset(&c, 0, sizeof(c));
    tu_store(&failures, 0);
    tu_store(&finished, 0);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_spawn_opts o = {.arg = &c, .mailbox_capacity = CAPACITY};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    sender s[SENDERS];
    for (uint32_t i = 0; i < SENDERS; i++) {
        s[i] = (sender){.to = ref, .id = i, .per = PER_SENDER};
        assert_int_equal(pthread_create(&s[i].t, NULL, send_thread, &s[i]), 0);
    }
    /* Every sender returns: none is left asleep (a join would hang). */
    assert_true(tu_wait_ge(&finished, SENDERS, TU_WAIT_MS));
    for (int i = 0; i < SENDERS; i++)
        pthread_join(s[i].t, NULL);
    assert_true(tu_wait_ge(&c.received, (uint64_t)SENDERS * PER_SENDER, TU_WAIT_MS));
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&failures), 0);
    assert_int_equal(tu_load(&c.order_errors), 0);
    assert_int_equal(tu_load(&c.received), (uint64_t)SENDERS * PER_SENDER);
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(s[i].accepted, PER_SENDER);
        assert_int_equal(s[i].dead, 0);
        assert_int_equal(c.next[i], PER_SENDER);
    }
}

/* --- stopped while its senders wait --------------------------------------- */

#define STOP_PER 50 /* sends per thread: the first blocks, the rest see EDEAD */

static uint64_t handled;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    tu_add(&handled, 1);
    return 0;
}

typedef struct outcome {
    tr_runtime *rt;
    uint64_t dead_before; /* the runtime's dead letters before the test */
    uint64_t accepted;    /* messages the mailbox took */
} outcome;

/* Handled plus dead-lettered has reached the accepted count. */
static int all_accounted(void *arg) {
    outcome *o = arg;
    tr_runtime_stats st;
    if (tr_runtime_stats_get(o->rt, &st) != 0)
        return 0;
    return tu_load(&handled) + (st.dead_letters - o->dead_before) >= o->accepted;
}

static void senders_waiting_when_the_actor_stops_all_return_edead(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, count_receive, NULL};
    tu_store(&handled, 0);
    tu_store(&failures, 0);
    tu_store(&finished, 0);
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tr_runtime_stats st0;
    assert_int_equal(tr_runtime_stats_get(rt, &st0), 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0); /* the one worker is held: no room comes back */
    tr_spawn_opts o = {.mailbox_capacity = CAPACITY};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    for (int i = 0; i < CAPACITY; i++) /* full */
        assert_int_equal(tr_send_word(ref, 1, (uint64_t)i), 0);
    sender s[SENDERS];
    for (uint32_t i = 0; i < SENDERS; i++) {
        s[i] = (sender){.to = ref, .id = i, .per = STOP_PER};
        assert_int_equal(pthread_create(&s[i].t, NULL, send_thread, &s[i]), 0);
    }
    tu_sleep_ms(50); /* they find it full: one waits awake, the others sleep */
    assert_int_equal(tu_load(&finished), 0);
    assert_int_equal(tr_actor_stop(ref), 0); /* sealed now: no push gets in */
    tu_gate_open(&g);                        /* it ends, and wakes the sleepers */
    assert_true(tu_wait_ge(&finished, SENDERS, TU_WAIT_MS));
    for (int i = 0; i < SENDERS; i++)
        pthread_join(s[i].t, NULL);

    /* Every send came back: accepted or refused as dead, nothing else. */
    uint64_t accepted = CAPACITY;
    assert_int_equal(tu_load(&failures), 0);
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(s[i].accepted + s[i].dead, STOP_PER);
        assert_true(s[i].dead >= 1); /* its last send at least came after the seal */
        accepted += s[i].accepted;
    }
    /* Every accepted message was handled or dead-lettered: none lost. */
    outcome want = {rt, st0.dead_letters, accepted};
    assert_true(tu_wait_until(all_accounted, &want, TU_WAIT_MS));
    tr_runtime_stats st1;
    assert_int_equal(tr_runtime_stats_get(rt, &st1), 0);
    assert_int_equal(tu_load(&handled) + (st1.dead_letters - st0.dead_letters), accepted);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_sleeping_senders_all_get_through_in_order),
        cmocka_unit_test(senders_waiting_when_the_actor_stops_all_return_edead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
