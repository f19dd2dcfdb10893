/* tests/test_stress_atimer_slot.c - timer slots (actors/timer_thread.h)
 * armed, re-armed and disarmed from several threads while they fire.
 *
 * A slot lives in its owner's memory and holds no reference: the contract
 * is that once tr__atimer_disarm returns, the timer thread neither touches
 * the slot nor pushes a message for it. The stress test keeps slots in
 * heap blocks that each thread frees (and poisons, under ASan) right after
 * disarming, re-arms with delays of 0-2 ms so that disarms land on slots
 * that are due, being fired or already fired, and checks: no use after
 * free (ASan; elsewhere the poison would show as a bad tag or a crash),
 * every message carries a tag that was armed, nothing comes once every
 * slot is disarmed, and a slot armed and left alone fires exactly once,
 * with the tag of its last arm. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "actors/timer_thread.h"
#include "support/testutil.h"
#include "troupe.h"

#define THREADS 4
#define ROUNDS 3000
#define WAIT_MS 20000

/* Tags: thread t, round r -> (t + 1) << 32 | r; the counter records the
 * last tag it saw per thread and counts the messages. */
static uint64_t got_total, got_bad;

static int counter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != TR__A_TIMER)
        return 0;
    /* A slot the timer thread read after it was freed would carry the
     * poison (0xA5...) or garbage, not a tag some thread armed. */
    uint64_t t = (msg->word >> 32) - 1, r = msg->word & 0xFFFFFFFFu;
    if (t >= THREADS || r >= ROUNDS)
        tu_add(&got_bad, 1);
    tu_add(&got_total, 1);
    return 0;
}

static const tr_behavior counter_beh = {NULL, counter_receive, NULL};

typedef struct {
    tr_runtime *rt;
    tr_ref *to;
    unsigned t;
    uint64_t armed, rearmed, disarmed;
} worker_arg;

static void *arm_disarm(void *p) {
    worker_arg *w = p;
    uint64_t seed = 0x9E3779B97F4A7C15ull * (w->t + 1);
    for (uint64_t r = 0; r < ROUNDS; r++) {
        /* A fresh heap slot each round, freed right after its disarm: a
         * timer thread that touched it later is a use after free. */
        tr__atimer_slot *s = calloc(1, sizeof(*s));
        if (s == NULL)
            continue;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        uint64_t tag = ((uint64_t)(w->t + 1) << 32) | r;
        if (tr__atimer_arm(w->to, s, tag, seed % 3) == 0)
            w->armed++;
        if ((seed & 8) && tr__atimer_arm(w->to, s, tag, seed % 2) == 0)
            w->rearmed++; /* the first may have fired already */
        if (seed & 16)
            tu_sleep_ms(1); /* let some fall due and fire */
        tr__atimer_disarm(w->rt, s);
        w->disarmed++;
        memset(s, 0xA5, sizeof(*s));
        free(s);
    }
    return NULL;
}

static void slots_armed_and_disarmed_while_they_fire(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    assert_int_equal(tr__atimer_ready(rt), 0);
    tr_ref *to;
    assert_int_equal(tr_spawn(rt, &counter_beh, NULL, &to), 0);
    pthread_t th[THREADS];
    worker_arg w[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        w[t] = (worker_arg){.rt = rt, .to = to, .t = t};
        assert_int_equal(pthread_create(&th[t], NULL, arm_disarm, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++)
        assert_int_equal(pthread_join(th[t], NULL), 0);
    /* Every slot is disarmed: after the queue settles, nothing more comes. */
    tu_sleep_ms(50);
    uint64_t settled = tu_load(&got_total);
    tu_sleep_ms(100);
    assert_int_equal(tu_load(&got_total), settled);
    assert_int_equal(tu_load(&got_bad), 0);
    uint64_t arms = 0; /* at most one message per arm */
    for (unsigned t = 0; t < THREADS; t++) {
        assert_int_equal(w[t].armed, ROUNDS);
        assert_int_equal(w[t].disarmed, ROUNDS);
        arms += w[t].armed + w[t].rearmed;
    }
    assert_true(settled <= arms);
    tr_ref_release(to);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* A slot armed and left alone fires once, with the tag of its last arm;
 * re-arming moves it (the earlier tag never comes). */
static uint64_t once_count, once_tag;

static int once_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == TR__A_TIMER) {
        tu_store(&once_tag, msg->word);
        tu_add(&once_count, 1);
    }
    return 0;
}

static const tr_behavior once_beh = {NULL, once_receive, NULL};

static void a_slot_fires_once_with_its_last_tag(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *to;
    assert_int_equal(tr_spawn(rt, &once_beh, NULL, &to), 0);
    static tr__atimer_slot slot; /* zeroed: disarmed */
    for (int k = 0; k < 50; k++) {
        tu_store(&once_count, 0);
        assert_int_equal(tr__atimer_arm(to, &slot, 1000 + (uint64_t)k, 500), 0);
        assert_int_equal(tr__atimer_arm(to, &slot, 2000 + (uint64_t)k, 2), 0);
        assert_true(tu_wait_ge(&once_count, 1, WAIT_MS));
        tu_sleep_ms(5);
        assert_int_equal(tu_load(&once_count), 1);
        assert_int_equal(tu_load(&once_tag), 2000 + (uint64_t)k);
    }
    tr__atimer_disarm(rt, &slot);
    tr_ref_release(to);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slots_armed_and_disarmed_while_they_fire),
        cmocka_unit_test(a_slot_fires_once_with_its_last_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
