/* tests/test_stress_stale.c - a stale handle after many actor lifetimes.
 *
 * The test keeps the handle of the first actor, stops that actor, then
 * creates and destroys CHURN more actors (in waves of WAVE, so blocks are
 * recycled many times over). Checked exactly: the old handle still says
 * dead (TR_EDEAD for every send and stop, tr_ref_is_alive 0) and keeps its id;
 * no later actor ever receives a message sent through it; every new actor
 * has a fresh id (strictly increasing, never the old one) and a handle that
 * is not the old handle's block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#if defined(TROUPE_TSAN)
#define CHURN 25000 /* TSan: a quarter of the 100,000 lifetimes */
#else
#define CHURN 100000
#endif
#define WAVE 1000
#define POISON 0xDEAD

static uint64_t poisoned, handled, terminated;

static int stale_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == POISON)
        tu_add(&poisoned, 1);
    tu_add(&handled, 1);
    return 0;
}

static void stale_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&terminated, 1);
}

static void old_handle_stays_dead_after_100000_actor_lifetimes(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, stale_receive, stale_terminate};
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *old;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &old), 0);
    uint64_t old_id = tr_ref_id(old);
    assert_int_equal(tr_actor_stop(old), 0);
    assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
    assert_int_equal(tr_ref_is_alive(old), 0);

    static tr_ref *wave[WAVE];
    uint64_t last_id = old_id, id_errors = 0, same_block = 0, stale_errors = 0;
    for (int done = 0; done < CHURN; done += WAVE) {
        for (int i = 0; i < WAVE; i++) {
            assert_int_equal(tr_spawn(rt, &beh, NULL, &wave[i]), 0);
            uint64_t id = tr_ref_id(wave[i]);
            id_errors += id <= last_id; /* ids only grow: old_id is never reused */
            last_id = id;
            same_block += wave[i] == old;
            assert_int_equal(tr_send_word(wave[i], 1, 0), 0);
        }
        /* The old handle, while its block's neighbours are all alive. */
        stale_errors += tr_send_word(old, POISON, 0) != TR_EDEAD;
        stale_errors += tr_send_ptr(old, POISON, &poisoned, NULL) != TR_EDEAD;
        stale_errors += tr_actor_stop(old) != TR_EDEAD;
        stale_errors += tr_actor_kill(old) != TR_EDEAD;
        stale_errors += tr_ref_is_alive(old) != 0;
        stale_errors += tr_ref_mailbox_len(old) != TR_EDEAD;
        stale_errors += tr_ref_id(old) != old_id;
        for (int i = 0; i < WAVE; i++) {
            assert_int_equal(tr_actor_stop(wave[i]), 0);
            assert_int_equal(tr_ref_release(wave[i]), 0);
        }
    }
    assert_true(tu_wait_ge(&terminated, 1 + CHURN, 10 * TU_WAIT_MS));
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    /* Blocks were recycled all along, yet the old one is still dead. */
    assert_int_equal(tr_send_word(old, POISON, 0), TR_EDEAD);
    assert_int_equal(tr_runtime_is_closed(rt), 0); /* the old handle counts */

    assert_int_equal(id_errors, 0);
    assert_int_equal(same_block, 0);
    assert_int_equal(stale_errors, 0);
    assert_int_equal(tu_load(&poisoned), 0);
    assert_int_equal(tu_load(&terminated), 1 + CHURN);
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    assert_int_equal(st.actors_spawned, 1 + CHURN);
    assert_int_equal(tu_load(&handled) + st.dead_letters, CHURN);
    tr_ref_release(old);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(old_handle_stays_dead_after_100000_actor_lifetimes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
