/* tests/test_mailbox_seal.c - sealing a mailbox from any thread
 * (tr__mbox_seal_any, mailbox/mpsc.h), which tr_pool_close uses so that
 * sends fail the moment it returns.
 *
 * Single-threaded specifications: a sealed mailbox refuses every push with
 * TR_EDEAD, keeps what was queued for the owner's close, never goes back to
 * IDLE, and exactly one seal succeeds; sealing an idle mailbox makes the
 * sealer its waker. Each state the owner can leave the tail in is covered:
 * idle, a message on its way, the held message, a message without a release
 * function (detached at once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailbox/mpsc.h"
#include "troupe.h"

#define NMSG 6

static tr_msg msgs[NMSG];
static int released[NMSG];

static void count_release(tr_msg *m) {
    released[m - msgs]++;
}

static int setup(void **state) {
    (void)state;
    memset(msgs, 0, sizeof(msgs));
    memset(released, 0, sizeof(released));
    for (int i = 0; i < NMSG; i++)
        msgs[i].word = (uint64_t)i;
    return 0;
}

static void idle_mbox(tr__mbox *mb, uint32_t cap) {
    tr__mbox_init(mb, cap);
    assert_false(tr__mbox_end_turn_owner(mb));
}

static void seal_of_an_idle_mailbox_wakes_it_and_refuses_pushes(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    assert_int_equal(tr__mbox_seal_any(&mb), TR__MBOX_WOKE); /* we schedule it */
    assert_true(tr__mbox_closed_any(&mb));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR_EDEAD);
    assert_int_equal(tr__mbox_push_over_mpsc(&mb, &msgs[0]), TR_EDEAD);
    assert_int_equal(tr__mbox_push_uncounted_mpsc(&mb, &msgs[0]), TR_EDEAD);
    assert_null(msgs[0].next);                          /* the caller keeps it untouched */
    assert_int_equal(tr__mbox_seal_any(&mb), TR_EDEAD); /* once */
    assert_null(tr__mbox_pop_owner(&mb));
    assert_true(tr__mbox_end_turn_owner(&mb)); /* never idle again: it must end */
    assert_null(tr__mbox_close_owner(&mb));
    assert_int_equal(tr__mbox_seal_any(&mb), TR_EDEAD);
}

static void seal_keeps_what_was_queued_for_the_close(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    for (int i = 0; i < 4; i++)
        assert_true(tr__mbox_push_mpsc(&mb, &msgs[i]) >= 0);
    assert_int_equal(tr__mbox_seal_any(&mb), 0); /* scheduled already */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[4]), TR_EDEAD);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    tr_msg *left = tr__mbox_close_owner(&mb);
    for (int i = 1; i < 4; i++) {
        assert_ptr_equal(left, &msgs[i]);
        left = left->next;
    }
    assert_null(left);
}

static void sealed_last_message_without_release_is_detached(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_seal_any(&mb), 0);
    /* msgs[0] is the sealed tail and has no release: popping detaches it
     * without waiting for a link that will never come. */
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_null(msgs[0].next);
    assert_null(tr__mbox_pop_owner(&mb));
    assert_true(tr__mbox_closed_any(&mb)); /* still sealed */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR_EDEAD);
    assert_true(tr__mbox_end_turn_owner(&mb));
    assert_null(tr__mbox_close_owner(&mb));
}

static void sealed_held_message_is_released_by_the_close(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    msgs[0].release = count_release;
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_true(tr__mbox_holds_owner(&mb, &msgs[0]));
    assert_int_equal(tr__mbox_seal_any(&mb), 0);
    assert_null(tr__mbox_pop_owner(&mb)); /* nothing behind the held one */
    assert_true(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[0], 0);
    assert_null(tr__mbox_close_owner(&mb));
    assert_int_equal(released[0], 1);
}

static void sealed_bounded_mailbox_says_dead_not_full(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 2);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR_EFULL);
    assert_int_equal(tr__mbox_seal_any(&mb), 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR_EDEAD);
    assert_int_equal(tr__mbox_len_any(&mb), 2); /* the count is kept */
    tr_msg *left = tr__mbox_close_owner(&mb);
    assert_ptr_equal(left, &msgs[0]);
    assert_ptr_equal(left->next, &msgs[1]);
}

int main(void) {
#define T(f) cmocka_unit_test_setup(f, setup)
    const struct CMUnitTest tests[] = {
        T(seal_of_an_idle_mailbox_wakes_it_and_refuses_pushes),
        T(seal_keeps_what_was_queued_for_the_close),
        T(sealed_last_message_without_release_is_detached),
        T(sealed_held_message_is_released_by_the_close),
        T(sealed_bounded_mailbox_says_dead_not_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
