/* tests/test_stress_shutdown.c - sends racing with actor stops and runtime close.
 *
 * SENDERS foreign threads send ATTEMPTS messages in all (single sends and
 * two-message batches) to ACTORS actors, while a stopper thread stops half
 * of the actors and the test thread closes the runtime mid-flood. Some
 * messages are forwarded once by the actor that receives them, so worker-side
 * sends race with the shutdown too. Every message carries a ticket (its own
 * counter) that its ptr_free bumps. Checked exactly:
 *   handled + dead-lettered + refused == ATTEMPTS
 * (refused: the send returned an error and the sender freed the message
 * itself), and every ticket is 1: each destructor ran exactly once. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define ACTORS 64
#define SENDERS 4
#define PER_SENDER 50000
#define ATTEMPTS ((uint64_t)SENDERS * PER_SENDER) /* per round */
/* Whole runtimes, each closed mid-flood: more interleavings of the race. */
#if defined(TROUPE_TSAN)
#define ROUNDS 3 /* TSan: 3 rounds instead of 10 */
#else
#define ROUNDS 10
#endif
#define FORWARD 1u /* msg->word bit: forward once to the next actor */

static tr_ref *refs[ACTORS];
static uint64_t *tickets;
static uint64_t attempts, refused, handled, dead_letters, terminated, odd_errors;

static void ticket_free(void *p) {
    tu_add(p, 1);
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    if (why != TR_DEAD_STOPPED && why != TR_DEAD_SHUTDOWN)
        tu_add(&odd_errors, 1);
    tu_add(&dead_letters, 1);
}

static int race_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    uintptr_t self = (uintptr_t)state;
    if (msg->word & FORWARD) {
        msg->word &= ~(uint64_t)FORWARD;
        if (tr_forward(ctx, refs[(self + 1) % ACTORS], msg) == 0)
            return 0; /* the next actor owns it now */
        /* refused (the next one is gone): still ours, destroyed after this */
    }
    tu_add(&handled, 1);
    return 0;
}

static void race_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&terminated, 1);
}

static tr_msg *ticket_msg(uint64_t id) {
    tr_msg *m;
    if (tr_msg_new(&m, 1, 0) != 0)
        return NULL;
    m->ptr = &tickets[id];
    m->ptr_free = ticket_free;
    m->word = (id % 3 == 0) ? FORWARD : 0;
    return m;
}

static void *send_thread(void *arg) {
    uint64_t first = (uint64_t)(uintptr_t)arg * PER_SENDER;
    for (uint64_t i = 0; i < PER_SENDER; i++) {
        uint64_t id = first + i;
        tr_ref *to = refs[(id * 7) % ACTORS];
        if (i % 16 == 0 && i + 1 < PER_SENDER) { /* a batch of two */
            tr_msg *b[2] = {ticket_msg(id), ticket_msg(id + 1)};
            if (b[0] == NULL || b[1] == NULL) {
                tu_add(&odd_errors, 1);
                continue;
            }
            tu_add(&attempts, 2);
            int rc = tr_send_batch(to, b, 2);
            if (rc != 0) {
                if (rc != TR_EDEAD && rc != TR_ECLOSED)
                    tu_add(&odd_errors, 1);
                tr_msg_free(b[0]); /* the caller frees: runs ptr_free */
                tr_msg_free(b[1]);
                tu_add(&refused, 2);
            }
            i++;
            continue;
        }
        tr_msg *m = ticket_msg(id);
        if (m == NULL) {
            tu_add(&odd_errors, 1);
            continue;
        }
        tu_add(&attempts, 1);
        int rc = tr_send_msg(to, m);
        if (rc != 0) {
            if (rc != TR_EDEAD && rc != TR_ECLOSED)
                tu_add(&odd_errors, 1);
            tr_msg_free(m);
            tu_add(&refused, 1);
        }
    }
    return NULL;
}

static void *stop_thread(void *arg) {
    (void)arg;
    tu_wait_ge(&attempts, ATTEMPTS / 10, 10 * TU_WAIT_MS);
    for (int i = 0; i < ACTORS; i += 2) {
        int rc = tr_actor_stop(refs[i]);
        if (rc != 0 && rc != TR_EDEAD) /* EDEAD: the close got there first */
            tu_add(&odd_errors, 1);
    }
    return NULL;
}

static void run_round(void) {
    static const tr_behavior beh = {NULL, race_receive, race_terminate};
    uint64_t *all[] = {&attempts, &refused, &handled, &dead_letters, &terminated, &odd_errors};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tickets = calloc(ATTEMPTS, sizeof(uint64_t));
    assert_non_null(tickets);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    for (uintptr_t i = 0; i < ACTORS; i++) {
        tr_spawn_opts o = {.arg = (void *)i}; /* the state is the index */
        assert_int_equal(tr_spawn(rt, &beh, &o, &refs[i]), 0);
    }
    pthread_t senders[SENDERS], stopper;
    for (uintptr_t i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&senders[i], NULL, send_thread, (void *)i), 0);
    assert_int_equal(pthread_create(&stopper, NULL, stop_thread, NULL), 0);

    assert_true(tu_wait_ge(&attempts, ATTEMPTS / 2, 10 * TU_WAIT_MS));
    assert_int_equal(tr_runtime_close(rt), 0);
    for (int i = 0; i < SENDERS; i++)
        pthread_join(senders[i], NULL);
    pthread_join(stopper, NULL);
    assert_int_equal(tr_runtime_join(rt), 0);

    assert_int_equal(tu_load(&odd_errors), 0);
    assert_int_equal(tu_load(&attempts), ATTEMPTS);
    assert_int_equal(tu_load(&terminated), ACTORS);
    uint64_t h = tu_load(&handled), d = tu_load(&dead_letters), r = tu_load(&refused);
    assert_int_equal(h + d + r, ATTEMPTS);
    uint64_t bad = 0;
    for (uint64_t i = 0; i < ATTEMPTS; i++)
        bad += tu_load(&tickets[i]) != 1;
    assert_int_equal(bad, 0);
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.dead_letters, d);
    assert_int_equal(st.actors_alive, 0);
    for (int i = 0; i < ACTORS; i++)
        tr_ref_release(refs[i]);
    assert_int_equal(tr_runtime_free(rt), 0);
    print_message("%llu attempts: %llu handled, %llu dead-lettered, %llu refused\n",
                  (unsigned long long)ATTEMPTS, (unsigned long long)h, (unsigned long long)d,
                  (unsigned long long)r);
    free(tickets);
}

static void sends_racing_stop_and_close_account_for_every_message(void **state) {
    (void)state;
    for (int r = 0; r < ROUNDS; r++)
        run_round();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sends_racing_stop_and_close_account_for_every_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
