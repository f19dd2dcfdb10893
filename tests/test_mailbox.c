/* tests/test_mailbox.c - unit tests of the MPSC mailbox (mailbox/mpsc.h).
 *
 * Single-threaded specifications of tr__mbox: send order, the WOKE edge that
 * schedules an actor exactly once, end_turn, the bound, close and chains,
 * and the held message (the last one handed out, whose memory the mailbox
 * keeps until its link is no longer needed).
 * The many-producer race is in test_stress_mailbox.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mailbox/mpsc.h"
#include "troupe.h"

#define NMSG 8

static tr_msg msgs[NMSG];

static int setup(void **state) {
    (void)state;
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < NMSG; i++)
        msgs[i].word = (uint64_t)i;
    return 0;
}

/* A mailbox that went idle (as after spawn), bounded by cap. */
static void idle_mbox(tr__mbox *mb, uint32_t cap) {
    tr__mbox_init(mb, cap);
    assert_false(tr__mbox_end_turn_owner(mb));
}

static void mbox_starts_scheduled_so_first_push_does_not_wake(void **state) {
    (void)state;
    tr__mbox mb;
    tr__mbox_init(&mb, 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_QUEUED);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_false(tr__mbox_end_turn_owner(&mb));
}

static void mbox_pops_in_send_order(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    for (int i = 0; i < NMSG; i++)
        assert_true(tr__mbox_push_mpsc(&mb, &msgs[i]) >= 0);
    for (int i = 0; i < NMSG; i++) {
        tr_msg *m = tr__mbox_pop_owner(&mb);
        assert_ptr_equal(m, &msgs[i]);
        assert_null(m->next);
    }
    assert_null(tr__mbox_pop_owner(&mb));
}

static void mbox_order_holds_across_takes(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    /* 0..2 are taken into the owner's list by the first pop; 3..5 are
     * pushed while the owner still reads it. */
    for (int i = 0; i < 3; i++)
        tr__mbox_push_mpsc(&mb, &msgs[i]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    for (int i = 3; i < 6; i++)
        assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[i]), TR__MBOX_QUEUED);
    for (int i = 1; i < 6; i++)
        assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[i]);
    assert_null(tr__mbox_pop_owner(&mb));
}

static void mbox_pop_on_empty_returns_null(void **state) {
    (void)state;
    tr__mbox mb;
    tr__mbox_init(&mb, 0);
    assert_null(tr__mbox_pop_owner(&mb));
    assert_false(tr__mbox_end_turn_owner(&mb));
}

static void mbox_woke_only_on_idle_to_nonempty_edge(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR__MBOX_QUEUED);
    /* Running empties the stack into SCHED: still no WOKE. */
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[3]), TR__MBOX_QUEUED);
    while (tr__mbox_pop_owner(&mb) != NULL)
        ;
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[4]), TR__MBOX_QUEUED);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[4]);
    /* Only going idle re-arms the edge. */
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[5]), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[6]), TR__MBOX_QUEUED);
}

static void mbox_end_turn_true_while_owner_list_has_messages(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_push_mpsc(&mb, &msgs[1]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]); /* msgs[1] stays local */
    assert_true(tr__mbox_end_turn_owner(&mb));
    /* Still scheduled: a push does not wake. */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR__MBOX_QUEUED);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[2]);
    assert_false(tr__mbox_end_turn_owner(&mb));
}

static void mbox_end_turn_true_when_push_came_in(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    tr__mbox_push_mpsc(&mb, &msgs[1]); /* on the stack, not taken */
    assert_true(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR__MBOX_QUEUED);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[2]);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[3]), TR__MBOX_WOKE);
}

static void mbox_bounded_len_counts_until_end_turn(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 100);
    for (int i = 0; i < 3; i++)
        tr__mbox_push_mpsc(&mb, &msgs[i]);
    assert_int_equal(tr__mbox_len_any(&mb), 3);
    tr__mbox_pop_owner(&mb);
    tr__mbox_pop_owner(&mb);
    /* Room is given back once per turn. */
    assert_int_equal(tr__mbox_len_any(&mb), 3);
    assert_true(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(tr__mbox_len_any(&mb), 1);
}

static void mbox_unbounded_len_is_zero_when_empty_else_one(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    assert_int_equal(tr__mbox_len_any(&mb), 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]); /* woke: goes to the owner's list */
    assert_int_equal(tr__mbox_len_any(&mb), 1);
    tr__mbox_push_mpsc(&mb, &msgs[1]); /* queued behind it */
    tr__mbox_push_mpsc(&mb, &msgs[2]);
    assert_int_equal(tr__mbox_len_any(&mb), 1);
    while (tr__mbox_pop_owner(&mb) != NULL)
        ;
    assert_int_equal(tr__mbox_len_any(&mb), 0);
}

static void mbox_bounded_full_returns_efull_and_caller_keeps_message(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 2);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED);
    msgs[2].next = &msgs[7]; /* a refused push must not touch the message */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR_EFULL);
    assert_ptr_equal(msgs[2].next, &msgs[7]);
    assert_int_equal(tr__mbox_len_any(&mb), 2);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_null(tr__mbox_pop_owner(&mb));
}

static void mbox_bounded_room_returns_after_end_turn(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 1);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    /* Taken but the turn has not ended: still no room. */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR_EFULL);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_WOKE);
}

static void mbox_bounded_chain_bigger_than_room_is_refused_whole(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 3);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    /* chain 1 -> 2 -> 3, in send order */
    msgs[1].next = &msgs[2];
    msgs[2].next = &msgs[3];
    assert_int_equal(tr__mbox_push_chain_mpsc(&mb, &msgs[1], &msgs[3], 3), TR_EFULL);
    assert_int_equal(tr__mbox_len_any(&mb), 1);
    assert_int_equal(tr__mbox_push_chain_mpsc(&mb, &msgs[1], &msgs[2], 2), TR__MBOX_QUEUED);
    assert_int_equal(tr__mbox_len_any(&mb), 3);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[i]);
}

static void mbox_push_over_passes_a_full_bound_but_counts(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 1);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR_EFULL);
    assert_int_equal(tr__mbox_push_over_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED);
    assert_int_equal(mb.count, 2);              /* counted past the bound... */
    assert_int_equal(tr__mbox_len_any(&mb), 1); /* ...but never reported above it */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR_EFULL); /* still over */
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(tr__mbox_len_any(&mb), 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR__MBOX_WOKE);
}

static void mbox_push_over_to_closed_returns_edead(void **state) {
    (void)state;
    tr__mbox mb;
    tr__mbox_init(&mb, 1);
    assert_null(tr__mbox_close_owner(&mb));
    assert_int_equal(tr__mbox_push_over_mpsc(&mb, &msgs[0]), TR_EDEAD);
    assert_int_equal(tr__mbox_len_any(&mb), 0);
}

static void mbox_close_returns_leftovers_in_send_order(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    for (int i = 0; i < 4; i++)
        tr__mbox_push_mpsc(&mb, &msgs[i]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]); /* 1..3 local */
    for (int i = 4; i < NMSG; i++)
        tr__mbox_push_mpsc(&mb, &msgs[i]); /* 4..7 queued behind them */
    tr_msg *left = tr__mbox_close_owner(&mb);
    for (int i = 1; i < NMSG; i++) {
        assert_ptr_equal(left, &msgs[i]);
        left = left->next;
    }
    assert_null(left);
    assert_true(tr__mbox_closed_any(&mb));
}

static void mbox_close_of_empty_returns_null(void **state) {
    (void)state;
    tr__mbox mb;
    tr__mbox_init(&mb, 0);
    assert_null(tr__mbox_close_owner(&mb));
    assert_true(tr__mbox_closed_any(&mb));
}

static void mbox_push_after_close_returns_edead_and_caller_keeps_message(void **state) {
    (void)state;
    tr__mbox mb;
    tr__mbox_init(&mb, 0);
    assert_false(tr__mbox_closed_any(&mb));
    assert_null(tr__mbox_close_owner(&mb));
    msgs[0].next = &msgs[7];
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR_EDEAD);
    assert_ptr_equal(msgs[0].next, &msgs[7]);
    msgs[1].next = &msgs[2];
    msgs[2].next = &msgs[5];
    assert_int_equal(tr__mbox_push_chain_mpsc(&mb, &msgs[1], &msgs[2], 2), TR_EDEAD);
    assert_ptr_equal(msgs[1].next, &msgs[2]);
    assert_ptr_equal(msgs[2].next, &msgs[5]);
    assert_int_equal(tr__mbox_len_any(&mb), 0);
}

static void mbox_push_to_closed_full_bounded_returns_edead(void **state) {
    (void)state;
    tr__mbox mb;
    tr__mbox_init(&mb, 2);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_push_mpsc(&mb, &msgs[1]);
    tr_msg *left = tr__mbox_close_owner(&mb);
    assert_ptr_equal(left, &msgs[0]);
    /* Dead beats full: a sender must learn the actor is gone, not retry. */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR_EDEAD);
}

static void mbox_chain_arrives_oldest_first_between_singles(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    msgs[1].next = &msgs[2];
    msgs[2].next = &msgs[3];
    assert_int_equal(tr__mbox_push_chain_mpsc(&mb, &msgs[1], &msgs[3], 3), TR__MBOX_QUEUED);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[4]), TR__MBOX_QUEUED);
    for (int i = 0; i < 5; i++)
        assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[i]);
    assert_null(tr__mbox_pop_owner(&mb));
}

static void mbox_chain_on_idle_wakes_once(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    msgs[0].next = &msgs[1];
    assert_int_equal(tr__mbox_push_chain_mpsc(&mb, &msgs[0], &msgs[1], 2), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR__MBOX_QUEUED);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[2]);
    assert_false(tr__mbox_end_turn_owner(&mb));
}

static void mbox_bounded_chain_on_idle_counts_all(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 2);
    msgs[0].next = &msgs[1];
    assert_int_equal(tr__mbox_push_chain_mpsc(&mb, &msgs[0], &msgs[1], 2), TR__MBOX_WOKE);
    assert_int_equal(tr__mbox_len_any(&mb), 2);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[2]), TR_EFULL);
}

/* --- the held message ----------------------------------------------------
 * Messages with a release function: the one handed out last, with no
 * successor yet, stays the mailbox's link; the mailbox runs its release
 * exactly once, when the next message is linked, the turn ends or it closes. */

static int released[NMSG];

static void count_release(tr_msg *m) {
    released[m->word]++;
}

static int held_setup(void **state) {
    setup(state);
    memset(released, 0, sizeof(released));
    for (int i = 0; i < NMSG; i++)
        msgs[i].release = count_release;
    return 0;
}

static void mbox_last_message_is_held_until_its_successor_is_popped(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[0]), TR__MBOX_WOKE);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_true(tr__mbox_holds_owner(&mb, &msgs[0]));
    assert_int_equal(tr__mbox_len_any(&mb), 0); /* held is not queued */
    assert_null(tr__mbox_pop_owner(&mb));
    assert_int_equal(released[0], 0);
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED); /* links behind 0 */
    assert_int_equal(tr__mbox_len_any(&mb), 1);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_int_equal(released[0], 1);
    assert_true(tr__mbox_holds_owner(&mb, &msgs[1]));
    assert_false(tr__mbox_holds_owner(&mb, &msgs[0]));
}

static void mbox_end_turn_releases_the_held_message_and_goes_idle(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_pop_owner(&mb);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[0], 1);
    assert_false(tr__mbox_holds_owner(&mb, &msgs[0]));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_WOKE);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_int_equal(released[0], 1); /* exactly once */
}

static void mbox_end_turn_keeps_the_held_message_when_a_push_came_in(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_pop_owner(&mb);
    tr__mbox_push_mpsc(&mb, &msgs[1]);
    assert_true(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[0], 0);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_int_equal(released[0], 1);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[1], 1);
}

static void mbox_close_releases_the_held_message_and_returns_the_rest(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_pop_owner(&mb);
    tr__mbox_push_mpsc(&mb, &msgs[1]);
    tr__mbox_push_mpsc(&mb, &msgs[2]);
    tr_msg *left = tr__mbox_close_owner(&mb);
    assert_int_equal(released[0], 1);
    assert_ptr_equal(left, &msgs[1]);
    assert_ptr_equal(left->next, &msgs[2]);
    assert_null(msgs[2].next);
    assert_int_equal(released[1] + released[2], 0); /* the caller's to dead-letter */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[3]), TR_EDEAD);
}

static void mbox_close_with_only_the_held_message_returns_null(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_pop_owner(&mb);
    assert_null(tr__mbox_close_owner(&mb));
    assert_int_equal(released[0], 1);
}

static void mbox_detach_gives_the_held_message_to_the_owner(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_pop_owner(&mb);
    tr__mbox_detach_owner(&mb, &msgs[0]);
    assert_false(tr__mbox_holds_owner(&mb, &msgs[0]));
    assert_null(msgs[0].next);
    /* Empty now: the next push is handed over without touching msgs[0]. */
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED);
    assert_null(msgs[0].next);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[0], 0); /* the owner's now, never released here */
    assert_int_equal(released[1], 1);
}

static void mbox_detach_after_a_push_continues_with_the_successor(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_pop_owner(&mb);
    tr__mbox_push_mpsc(&mb, &msgs[1]);
    tr__mbox_detach_owner(&mb, &msgs[0]);
    assert_null(msgs[0].next);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_int_equal(released[0], 0);
}

static void mbox_detach_of_a_message_not_held_does_nothing(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    tr__mbox_push_mpsc(&mb, &msgs[1]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]); /* has a successor: not held */
    assert_false(tr__mbox_holds_owner(&mb, &msgs[0]));
    tr__mbox_detach_owner(&mb, &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_true(tr__mbox_holds_owner(&mb, &msgs[1]));
}

/* A producer that has become the tail but not yet linked (the window
 * between its CAS and its link store), simulated by hand: pop finds nothing
 * yet, end_turn keeps the actor scheduled, and the message comes once the
 * link is written. */
static void mbox_push_caught_between_cas_and_link_is_waited_for(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    msgs[1].next = NULL;
    mb.tail = &msgs[1]; /* the producer's CAS, without its link */
    assert_int_equal(tr__mbox_len_any(&mb), 1);
    assert_null(tr__mbox_pop_owner(&mb));
    assert_true(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[0], 0); /* still the link the producer needs */
    msgs[0].next = &msgs[1];          /* its link store */
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
    assert_int_equal(released[0], 1);
    assert_false(tr__mbox_end_turn_owner(&mb));
    assert_int_equal(released[1], 1);
}

static void mbox_message_without_release_is_never_held(void **state) {
    (void)state;
    tr__mbox mb;
    idle_mbox(&mb, 0);
    msgs[0].release = NULL;
    tr__mbox_push_mpsc(&mb, &msgs[0]);
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[0]);
    assert_false(tr__mbox_holds_owner(&mb, &msgs[0]));
    assert_int_equal(tr__mbox_push_mpsc(&mb, &msgs[1]), TR__MBOX_QUEUED);
    assert_null(msgs[0].next); /* detached: the push did not link behind it */
    assert_ptr_equal(tr__mbox_pop_owner(&mb), &msgs[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(mbox_starts_scheduled_so_first_push_does_not_wake, setup),
        cmocka_unit_test_setup(mbox_last_message_is_held_until_its_successor_is_popped, held_setup),
        cmocka_unit_test_setup(mbox_end_turn_releases_the_held_message_and_goes_idle, held_setup),
        cmocka_unit_test_setup(mbox_end_turn_keeps_the_held_message_when_a_push_came_in,
                               held_setup),
        cmocka_unit_test_setup(mbox_close_releases_the_held_message_and_returns_the_rest,
                               held_setup),
        cmocka_unit_test_setup(mbox_close_with_only_the_held_message_returns_null, held_setup),
        cmocka_unit_test_setup(mbox_detach_gives_the_held_message_to_the_owner, held_setup),
        cmocka_unit_test_setup(mbox_detach_after_a_push_continues_with_the_successor, held_setup),
        cmocka_unit_test_setup(mbox_detach_of_a_message_not_held_does_nothing, held_setup),
        cmocka_unit_test_setup(mbox_message_without_release_is_never_held, held_setup),
        cmocka_unit_test_setup(mbox_push_caught_between_cas_and_link_is_waited_for, held_setup),
        cmocka_unit_test_setup(mbox_pops_in_send_order, setup),
        cmocka_unit_test_setup(mbox_order_holds_across_takes, setup),
        cmocka_unit_test_setup(mbox_pop_on_empty_returns_null, setup),
        cmocka_unit_test_setup(mbox_woke_only_on_idle_to_nonempty_edge, setup),
        cmocka_unit_test_setup(mbox_end_turn_true_while_owner_list_has_messages, setup),
        cmocka_unit_test_setup(mbox_end_turn_true_when_push_came_in, setup),
        cmocka_unit_test_setup(mbox_bounded_len_counts_until_end_turn, setup),
        cmocka_unit_test_setup(mbox_unbounded_len_is_zero_when_empty_else_one, setup),
        cmocka_unit_test_setup(mbox_bounded_full_returns_efull_and_caller_keeps_message, setup),
        cmocka_unit_test_setup(mbox_bounded_room_returns_after_end_turn, setup),
        cmocka_unit_test_setup(mbox_bounded_chain_bigger_than_room_is_refused_whole, setup),
        cmocka_unit_test_setup(mbox_push_over_passes_a_full_bound_but_counts, setup),
        cmocka_unit_test_setup(mbox_push_over_to_closed_returns_edead, setup),
        cmocka_unit_test_setup(mbox_close_returns_leftovers_in_send_order, setup),
        cmocka_unit_test_setup(mbox_close_of_empty_returns_null, setup),
        cmocka_unit_test_setup(mbox_push_after_close_returns_edead_and_caller_keeps_message, setup),
        cmocka_unit_test_setup(mbox_push_to_closed_full_bounded_returns_edead, setup),
        cmocka_unit_test_setup(mbox_chain_arrives_oldest_first_between_singles, setup),
        cmocka_unit_test_setup(mbox_chain_on_idle_wakes_once, setup),
        cmocka_unit_test_setup(mbox_bounded_chain_on_idle_counts_all, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
