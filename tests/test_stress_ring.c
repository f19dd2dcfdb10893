/* tests/test_stress_ring.c - tokens running round a ring of actors.
 *
 * ACTORS actors form a ring (each knows the next); TOKENS tokens start at
 * evenly spaced actors and each makes ROUNDS full rounds, every hop a
 * zero-copy tr_forward of the same message with its hop count bumped.
 * Checked exactly: every token makes ACTORS * ROUNDS hops, every actor is
 * visited TOKENS * ROUNDS times, and each token's message is destroyed once
 * at its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define ACTORS 10000
#define TOKENS 4
#if defined(TROUPE_TSAN)
#define ROUNDS 3 /* TSan: 3 rounds instead of 10 (still all 10,000 actors) */
#else
#define ROUNDS 10
#endif
#define HOPS ((uint64_t)ACTORS * ROUNDS) /* per token */

typedef struct slot {
    tr_ref *next;    /* borrowed: the test holds every handle */
    uint64_t visits; /* owner only; read after the runtime is freed */
} slot;

static slot *ring;
static uint64_t finished, hop_errors, token_frees;

static void token_free(void *p) {
    (void)p;
    tu_add(&token_frees, 1);
}

static int hop_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    slot *s = state;
    s->visits++;
    msg->word++;
    if (msg->word == HOPS) {
        tu_add(&finished, 1);
        return 0; /* the runtime destroys the token here */
    }
    if (tr_forward(ctx, s->next, msg) != 0)
        tu_add(&hop_errors, 1);
    return 0;
}

static void tokens_circle_a_ring_of_ten_thousand_actors(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, hop_receive, NULL};
    ring = calloc(ACTORS, sizeof(slot));
    tr_ref **refs = calloc(ACTORS, sizeof(tr_ref *));
    assert_non_null(ring);
    assert_non_null(refs);
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    for (int i = 0; i < ACTORS; i++) {
        tr_spawn_opts o = {.arg = &ring[i]}; /* no state, no init: arg is the state */
        assert_int_equal(tr_spawn(rt, &beh, &o, &refs[i]), 0);
    }
    for (int i = 0; i < ACTORS; i++)
        ring[i].next = refs[(i + 1) % ACTORS];

    int64_t t0 = tu_now_ms();
    for (int k = 0; k < TOKENS; k++) {
        /* The ring is wired before the first token goes out: sending it
         * publishes the `next` pointers to the actors. */
        assert_int_equal(tr_send_ptr(refs[k * (ACTORS / TOKENS)], 1, &ring, token_free), 0);
    }
    assert_true(tu_wait_ge(&finished, TOKENS, 10 * TU_WAIT_MS));
    int64_t ms = tu_now_ms() - t0;
    assert_true(tu_wait_ge(&token_frees, TOKENS, TU_WAIT_MS));

    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.actors_alive, ACTORS);
    for (int i = 0; i < ACTORS; i++)
        tr_ref_release(refs[i]);
    assert_int_equal(tr_runtime_free(rt), 0);

    assert_int_equal(tu_load(&hop_errors), 0);
    assert_int_equal(tu_load(&finished), TOKENS);
    assert_int_equal(tu_load(&token_frees), TOKENS);
    uint64_t total = 0;
    for (int i = 0; i < ACTORS; i++) {
        assert_int_equal(ring[i].visits, (uint64_t)TOKENS * ROUNDS);
        total += ring[i].visits;
    }
    assert_int_equal(total, (uint64_t)TOKENS * HOPS);
    print_message("%llu hops in %lld ms, %llu steals\n", (unsigned long long)total, (long long)ms,
                  (unsigned long long)st.steals);
    free(refs);
    free(ring);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_circle_a_ring_of_ten_thousand_actors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
