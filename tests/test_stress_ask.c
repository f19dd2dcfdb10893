/* tests/test_stress_ask.c - asks racing the stop of their targets and close.
 *
 * ASKERS foreign threads each make PER_ASKER asks of SERVERS actors, INFLIGHT
 * at a time, and wait for every answer, while the test stops half of the servers and then
 * closes the runtime mid-flood. A reply token must never be lost: every ask
 * is refused at once (TR_EDEAD / TR_ECLOSED), or its future settles with the
 * reply or TR_EDEAD - never a timeout. Checked exactly:
 *   replied + failed + refused == ASKERS * PER_ASKER, timeouts == 0,
 * and the replies carry the right answer. ROUNDS runtimes.
 *
 * A second test races the future's own state machine: waiters that sleep,
 * that poll with short timeouts and that release unanswered futures, against
 * replies that come at once or after a delay. Every reply carries an owned
 * pointer whose free is counted: each reply made is freed exactly once
 * (by its waiter, the dead-letter path or the future's destruction). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define SERVERS 16
#define ASKERS 4
#define PER_ASKER 5000
#define INFLIGHT 8 /* asks each thread has outstanding at once */
#define ATTEMPTS ((uint64_t)ASKERS * PER_ASKER)
#if defined(TROUPE_TSAN)
#define ROUNDS 2 /* TSan: 2 runtimes instead of 5 */
#else
#define ROUNDS 5
#endif

static tr_ref *servers[SERVERS];
static uint64_t attempts, replied, failed, refused, timeouts, wrong;

static int double_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    return tr_reply_word(msg, 2, msg->word * 2);
}

static void settle(tr_future *f, uint64_t id) {
    tr_msg *reply = NULL;
    int rc = tr_future_wait(f, TU_WAIT_MS, &reply);
    if (rc == 0) {
        if (reply->word == id * 2)
            tu_add(&replied, 1);
        else
            tu_add(&wrong, 1);
        tr_msg_free(reply);
    } else if (rc == TR_EDEAD) {
        tu_add(&failed, 1);
    } else if (rc == TR_ETIMEDOUT) {
        tu_add(&timeouts, 1);
    } else {
        tu_add(&wrong, 1);
    }
    tr_future_release(f);
}

static void *ask_thread(void *arg) {
    uint64_t first = (uint64_t)(uintptr_t)arg * PER_ASKER;
    tr_future *inflight[INFLIGHT];
    uint64_t ids[INFLIGHT];
    for (uint64_t i = 0; i < PER_ASKER; i += INFLIGHT) {
        unsigned n = 0;
        for (uint64_t k = i; k < i + INFLIGHT && k < PER_ASKER; k++) {
            uint64_t id = first + k;
            tu_add(&attempts, 1);
            int rc = tr_ask_word(servers[id % SERVERS], 1, id, &inflight[n]);
            if (rc == 0)
                ids[n++] = id;
            else if (rc == TR_EDEAD || rc == TR_ECLOSED)
                tu_add(&refused, 1);
            else
                tu_add(&wrong, 1);
        }
        for (unsigned k = 0; k < n; k++)
            settle(inflight[k], ids[k]);
    }
    return NULL;
}

/* A 2-worker runtime with SERVERS actors of beh in servers[]. */
static tr_runtime *start_servers(const tr_behavior *beh) {
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    for (int i = 0; i < SERVERS; i++)
        assert_int_equal(tr_spawn(rt, beh, NULL, &servers[i]), 0);
    return rt;
}

static void run_round(void) {
    static const tr_behavior beh = {NULL, double_receive, NULL};
    uint64_t *all[] = {&attempts, &replied, &failed, &refused, &timeouts, &wrong};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tr_runtime *rt = start_servers(&beh);
    pthread_t t[ASKERS];
    for (uintptr_t i = 0; i < ASKERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ask_thread, (void *)i), 0);
    assert_true(tu_wait_ge(&attempts, ATTEMPTS / 4, 10 * TU_WAIT_MS));
    for (int i = 0; i < SERVERS; i += 2)
        assert_int_equal(tr_actor_stop(servers[i]), 0);
    assert_true(tu_wait_ge(&attempts, ATTEMPTS / 2, 10 * TU_WAIT_MS));
    assert_int_equal(tr_runtime_close(rt), 0);
    for (int i = 0; i < ASKERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(tr_runtime_join(rt), 0);

    assert_int_equal(tu_load(&wrong), 0);
    assert_int_equal(tu_load(&timeouts), 0);
    assert_int_equal(tu_load(&attempts), ATTEMPTS);
    assert_int_equal(tu_load(&replied) + tu_load(&failed) + tu_load(&refused), ATTEMPTS);
    for (int i = 0; i < SERVERS; i++)
        tr_ref_release(servers[i]);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void asks_racing_stop_and_close_always_settle(void **state) {
    (void)state;
    for (int r = 0; r < ROUNDS; r++) {
        run_round();
        print_message("%llu asks: %llu replied, %llu failed EDEAD, %llu refused\n",
                      (unsigned long long)ATTEMPTS, (unsigned long long)tu_load(&replied),
                      (unsigned long long)tu_load(&failed), (unsigned long long)tu_load(&refused));
    }
}

/* --- the future's own races ---------------------------------------------- */

#define RACERS 4
#define PER_RACER 20000
static uint64_t handled, made, freed, got, lost_races;

static void count_free(void *p) {
    (void)p;
    tu_add(&freed, 1);
}

static int slow_double_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_add(&handled, 1);
    for (uint64_t i = 0; i < (msg->word % 4) * 500; i++) /* 0 to ~1.5k pauses */
        __asm__ volatile("" ::: "memory");
    tr_msg *r;
    if (tr_msg_new(&r, 2, 0) != 0)
        return 0;
    r->word = msg->word * 2;
    r->ptr = &made;
    r->ptr_free = count_free;
    if (tr_reply_msg(msg, r) == 0)
        tu_add(&made, 1);
    else
        tr_msg_free(r);
    return 0;
}

/* Modes by id: 0 sleeps until the reply, 1 waits 1 ms at a time, 2 polls,
 * 3 releases the future at once (its reply is dropped, or destroyed with it). */
static void *race_thread(void *arg) {
    uint64_t first = (uint64_t)(uintptr_t)arg * PER_RACER;
    for (uint64_t id = first; id < first + PER_RACER; id++) {
        tr_future *f;
        if (tr_ask_word(servers[id % SERVERS], 1, id, &f) != 0) {
            tu_add(&lost_races, 1);
            continue;
        }
        unsigned mode = (unsigned)(id / SERVERS) % 4;
        tr_msg *reply = NULL;
        int rc = TR_ETIMEDOUT;
        if (mode == 0)
            rc = tr_future_wait(f, -1, &reply);
        while (mode == 1 && rc == TR_ETIMEDOUT)
            rc = tr_future_wait(f, 1, &reply);
        while (mode == 2 && rc == TR_ETIMEDOUT)
            rc = tr_future_wait(f, 0, &reply);
        if (mode != 3) {
            tr_msg *again; /* a reply is handed out once */
            if (rc == 0 && reply->word == id * 2 && tr_future_wait(f, 0, &again) == TR_ESTATE)
                tu_add(&got, 1);
            else
                tu_add(&lost_races, 1);
            tr_msg_free(reply);
        }
        tr_future_release(f);
    }
    return NULL;
}

static void futures_settle_once_under_racing_waits_and_releases(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, slow_double_receive, NULL};
    tr_runtime *rt = start_servers(&beh);
    pthread_t t[RACERS];
    for (uintptr_t i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, (void *)i), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    /* Released futures' asks may still be queued (a close would dead-letter
     * them unhandled): every ask is handled, exactly once, before the close. */
    assert_true(tu_wait_ge(&handled, (uint64_t)RACERS * PER_RACER, TU_WAIT_MS));
    assert_int_equal(tu_load(&handled), (uint64_t)RACERS * PER_RACER);
    for (int i = 0; i < SERVERS; i++)
        tr_ref_release(servers[i]);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_runtime_free(rt), 0);
    print_message("%d asks: %llu replies made, %llu freed, %llu taken by waiters\n",
                  RACERS * PER_RACER, (unsigned long long)tu_load(&made),
                  (unsigned long long)tu_load(&freed), (unsigned long long)tu_load(&got));
    assert_int_equal(tu_load(&lost_races), 0);
    assert_int_equal(tu_load(&made), (uint64_t)RACERS * PER_RACER);
    assert_int_equal(tu_load(&freed), tu_load(&made));
    assert_int_equal(tu_load(&got), (uint64_t)RACERS * PER_RACER / 4 * 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(asks_racing_stop_and_close_always_settle),
        cmocka_unit_test(futures_settle_once_under_racing_waits_and_releases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
