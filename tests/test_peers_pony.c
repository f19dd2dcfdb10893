/* tests/test_peers_pony.c - what Pony's and CAF's runtime tests check about
 * scheduling, ported to troupe: per-sender FIFO under backpressure (Pony's
 * muted senders: here a bounded mailbox and tr_send_wait), and "detached"
 * actors (CAF's actors on a thread of their own: TR_PIN_THREAD) talking to
 * scheduled ones. Each case runs with the receiver on the shared workers and
 * pinned to a thread of its own, with and without lanes.
 *
 * Counts, checked exactly: SENDERS foreign threads send MSGS numbered words
 * each; the receiver checks each sender's numbers arrive in order and counts
 * them; a ping-pong pair counts ROUNDS round trips. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define SENDERS 3
#define MSGS (20000 / TU_SANITIZER_SLOWDOWN)
#define ROUNDS (5000 / TU_SANITIZER_SLOWDOWN)

static uint64_t got, out_of_order, send_errors;

typedef struct counter {
    uint64_t next[SENDERS];
} counter;

static int counter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counter *c = state;
    uint64_t s = msg->word >> 32, n = msg->word & 0xffffffffu;
    if (s >= SENDERS || n != c->next[s])
        tu_add(&out_of_order, 1);
    if (s < SENDERS)
        c->next[s] = n + 1;
    tu_add(&got, 1);
    return 0;
}

static const tr_behavior counter_beh = {NULL, counter_receive, NULL};

typedef struct send_arg {
    tr_ref *to;
    uint64_t s;
} send_arg;

static void *streamer(void *arg) {
    send_arg *a = arg;
    for (uint64_t n = 0; n < MSGS; n++) {
        tr_msg *m;
        if (tr_msg_new(&m, 1, 0) != 0) {
            tu_add(&send_errors, 1);
            continue;
        }
        m->word = a->s << 32 | n;
        if (tr_send_wait(a->to, m, TU_WAIT_MS) != 0) {
            tr_msg_free(m);
            tu_add(&send_errors, 1);
        }
    }
    return NULL;
}

static tr_runtime *rt;

static int setup(void **state) {
    (void)state;
    tu_store(&got, 0);
    tu_store(&out_of_order, 0);
    tu_store(&send_errors, 0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    assert_int_equal(tr_runtime_free(rt), 0);
    return 0;
}

static void stream_into(uint32_t pin, uint32_t lanes) {
    tr_spawn_opts o = {
        .state_size = sizeof(counter), .mailbox_capacity = 64, .lanes = lanes, .pin = pin};
    tr_ref *to;
    assert_int_equal(tr_spawn(rt, &counter_beh, &o, &to), 0);
    pthread_t th[SENDERS];
    send_arg args[SENDERS];
    for (uint64_t s = 0; s < SENDERS; s++) {
        args[s] = (send_arg){to, s};
        assert_int_equal(pthread_create(&th[s], NULL, streamer, &args[s]), 0);
    }
    for (int s = 0; s < SENDERS; s++)
        pthread_join(th[s], NULL);
    assert_true(tu_wait_ge(&got, SENDERS * MSGS, TU_WAIT_MS));
    assert_int_equal(tu_load(&send_errors), 0);
    assert_int_equal(tu_load(&out_of_order), 0);
    assert_int_equal(tu_load(&got), SENDERS * MSGS);
    tr_ref_release(to);
}

/* Pony: a sender to an overloaded actor is slowed down, and its messages
 * still arrive in its order; none is lost. */
static void backpressure_keeps_each_senders_order(void **state) {
    (void)state;
    stream_into(TR_PIN_NONE, 0);
}

static void backpressure_keeps_each_senders_order_through_lanes(void **state) {
    (void)state;
    stream_into(TR_PIN_NONE, 1);
}

static void backpressure_keeps_each_senders_order_to_a_detached_actor(void **state) {
    (void)state;
    stream_into(TR_PIN_THREAD, 0);
}

static void backpressure_keeps_each_senders_order_to_a_detached_actor_with_lanes(void **state) {
    (void)state;
    stream_into(TR_PIN_THREAD, 1);
}

/* --- ping-pong ------------------------------------------------------------- */
static uint64_t rounds_done;

typedef struct player {
    tr_ref *other; /* owned */
    uint64_t rounds;
} player;

static void release_fn(void *r) {
    tr_ref_release(r);
}

static int player_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    player *p = state;
    if (msg->type == 1) { /* meet the other player */
        p->other = tr_msg_take_ptr(msg);
        return 0;
    }
    if (msg->word >= ROUNDS) {
        tu_store(&rounds_done, msg->word);
        return tr_stop(ctx);
    }
    p->rounds++;
    return tr_send_word(p->other, 2, msg->word + 1);
}

static void player_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    player *p = state;
    if (p->other != NULL)
        tr_ref_release(p->other);
}

static const tr_behavior player_beh = {NULL, player_receive, player_terminate};

/* CAF: a detached actor and a scheduled one play ping-pong; every ball
 * comes back (each hop wakes the other side, across the thread boundary). */
static void a_detached_and_a_scheduled_actor_play_ping_pong(void **state) {
    (void)state;
    tu_store(&rounds_done, 0);
    tr_spawn_opts od = {.state_size = sizeof(player), .pin = TR_PIN_THREAD};
    tr_spawn_opts os = {.state_size = sizeof(player)};
    tr_ref *a, *b;
    assert_int_equal(tr_spawn(rt, &player_beh, &od, &a), 0);
    assert_int_equal(tr_spawn(rt, &player_beh, &os, &b), 0);
    tr_ref_retain(b);
    assert_int_equal(tr_send_ptr(a, 1, b, release_fn), 0);
    tr_ref_retain(a);
    assert_int_equal(tr_send_ptr(b, 1, a, release_fn), 0);
    assert_int_equal(tr_send_word(a, 2, 0), 0);
    assert_true(tu_wait_ge(&rounds_done, ROUNDS, TU_WAIT_MS));
    assert_int_equal(tu_load(&rounds_done), ROUNDS);
    tr_actor_stop(a);
    tr_actor_stop(b);
    tr_ref_release(a);
    tr_ref_release(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(backpressure_keeps_each_senders_order, setup, teardown),
        cmocka_unit_test_setup_teardown(backpressure_keeps_each_senders_order_through_lanes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(backpressure_keeps_each_senders_order_to_a_detached_actor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            backpressure_keeps_each_senders_order_to_a_detached_actor_with_lanes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_detached_and_a_scheduled_actor_play_ping_pong, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
