/* tests/test_mailbox_len.c - tr_ref_mailbox_len never reports more than a
 * bounded mailbox's capacity.
 *
 * A push into a full bounded mailbox reserves room with a fetch-and-add and
 * takes it back when there is none, so the raw count passes the capacity for
 * an instant. Here the receiver cannot run (a 1-worker runtime whose worker
 * is parked at a gate), its mailbox is full, SENDERS threads keep being
 * refused with TR_EFULL, and a reader thread polls the length for WINDOW_MS:
 * every value it sees must be the capacity exactly. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define CAP 4
#define SENDERS 2
#define WINDOW_MS 300

static tr_ref *target;
static uint64_t stop, refused, other_rc, reads, above, below;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static void *send_main(void *arg) {
    (void)arg;
    while (!tu_load(&stop)) {
        int rc = tr_send_word(target, 1, 0);
        if (rc == TR_EFULL)
            tu_add(&refused, 1);
        else
            tu_add(&other_rc, 1);
    }
    return NULL;
}

static void *read_main(void *arg) {
    (void)arg;
    int64_t end = tu_now_ms() + WINDOW_MS;
    while (tu_now_ms() < end) {
        for (int i = 0; i < 1000; i++) {
            int64_t n = tr_ref_mailbox_len(target);
            if (n > CAP)
                tu_add(&above, 1);
            else if (n < CAP)
                tu_add(&below, 1);
        }
        tu_add(&reads, 1000);
    }
    tu_store(&stop, 1);
    return NULL;
}

static void mailbox_len_never_exceeds_the_capacity_of_a_full_mailbox(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0); /* the one worker: parked */
    static const tr_behavior beh = {NULL, count_receive, NULL};
    tr_spawn_opts o = {.mailbox_capacity = CAP};
    assert_int_equal(tr_spawn(rt, &beh, &o, &target), 0);
    for (int i = 0; i < CAP; i++)
        assert_int_equal(tr_send_word(target, 1, 0), 0);
    assert_int_equal(tr_send_word(target, 1, 0), TR_EFULL);
    assert_int_equal(tr_ref_mailbox_len(target), CAP);

    pthread_t th[SENDERS + 1];
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, send_main, NULL), 0);
    assert_int_equal(pthread_create(&th[SENDERS], NULL, read_main, NULL), 0);
    for (int i = 0; i <= SENDERS; i++)
        pthread_join(th[i], NULL);
    print_message("%llu reads while %llu sends were refused\n", (unsigned long long)tu_load(&reads),
                  (unsigned long long)tu_load(&refused));
    assert_true(tu_load(&refused) > 0);
    assert_int_equal(tu_load(&other_rc), 0); /* full the whole time */
    assert_int_equal(tu_load(&above), 0);
    assert_int_equal(tu_load(&below), 0);

    tu_gate_open(&g);
    tr_ref_release(target);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mailbox_len_never_exceeds_the_capacity_of_a_full_mailbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
