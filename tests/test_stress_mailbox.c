/* tests/test_stress_mailbox.c - the mailbox's exactly-once scheduling under load.
 *
 * PRODUCERS threads push TOTAL messages into one tr__mbox while CONSUMERS
 * threads play the scheduler: a push that reports TR__MBOX_WOKE puts one
 * "run token" in a shared queue, a consumer that takes a token runs the
 * mailbox (pop up to BATCH, end the turn) and keeps running it while
 * end_turn says messages remain. The test checks, exactly:
 *   - every message is consumed once, in order per producer;
 *   - at most one token is ever pending or running (a WOKE while the actor is
 *     scheduled would make two);
 *   - two consumers never run the mailbox at the same time;
 *   - the number of WOKEs equals the number of idle transitions.
 * Two consumers make a double schedule observable as an overlap; with one it
 * could only show up as a second token. The test runs twice: with messages
 * that have no release function (each last message is detached at once), and
 * with one (the mailbox holds the last message as its link): then every
 * message must be released exactly once, and never before it was popped. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "mailbox/mpsc.h"
#include "support/testutil.h"

#define PRODUCERS 4
#define CONSUMERS 2
#define TOTAL 1000000 /* messages in all, not scaled under sanitizers */
#define PER_PRODUCER (TOTAL / PRODUCERS)
#define BATCH 64
#define BURST                                                                                      \
    16 /* producers yield after this many pushes, so the mailbox                                   \
          often runs dry and goes idle: many WOKE edges to check */

static tr__mbox mb;
static tr_msg *arrays[PRODUCERS];

static uint64_t tokens;              /* runs scheduled and not yet taken */
static uint64_t double_sched;        /* a WOKE found a token already pending */
static uint64_t wokes;               /* pushes that reported WOKE */
static uint64_t idles;               /* end_turn calls that went idle */
static uint64_t overlaps;            /* a consumer found another one running */
static uint64_t running;             /* 1 while a consumer pops */
static uint64_t consumed;            /* messages popped */
static uint64_t order_errors;        /* a producer's message out of order */
static uint64_t push_errors;         /* a push that failed */
static uint64_t done;                /* the test thread saw everything consumed */
static uint64_t next_seq[PRODUCERS]; /* only the running consumer touches it */
static uint8_t *popped[PRODUCERS];   /* per message: 1 once the consumer popped it */
static uint64_t releases;            /* release calls */
static uint64_t release_errors;      /* released twice, or before it was popped */

static void release_counted(tr_msg *m) {
    tu_add(&releases, 1);
    if (m->word >= PER_PRODUCER || popped[m->type][m->word] != 1)
        tu_add(&release_errors, 1);
    else
        popped[m->type][m->word] = 2;
}

static void *producer(void *arg) {
    uintptr_t p = (uintptr_t)arg;
    tr_msg *a = arrays[p];
    for (uint64_t i = 0; i < PER_PRODUCER; i++) {
        tr_msg *m = &a[i];
        m->type = (uint32_t)p;
        m->word = i;
        int rc = tr__mbox_push_mpsc(&mb, m);
        if (rc == TR__MBOX_WOKE) {
            tu_add(&wokes, 1);
            if (tu_add(&tokens, 1) > 1)
                tu_add(&double_sched, 1);
        } else if (rc != TR__MBOX_QUEUED) {
            tu_add(&push_errors, 1);
        }
        if (i % BURST == BURST - 1)
            sched_yield();
    }
    return NULL;
}

/* Take a run token; 0 once the test is done. */
static int take_token(void) {
    for (;;) {
        uint64_t t = tu_load(&tokens);
        if (t > 0 && __atomic_compare_exchange_n(&tokens, &t, t - 1, false, __ATOMIC_SEQ_CST,
                                                 __ATOMIC_SEQ_CST))
            return 1;
        if (t == 0 && tu_load(&done))
            return 0;
        sched_yield();
    }
}

static void run_mailbox(void) {
    for (;;) {
        uint64_t zero = 0;
        if (!__atomic_compare_exchange_n(&running, &zero, 1, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            tu_add(&overlaps, 1);
        tr_msg *m;
        for (int n = 0; n < BATCH && (m = tr__mbox_pop_owner(&mb)) != NULL; n++) {
            if (m->word != next_seq[m->type])
                tu_add(&order_errors, 1);
            next_seq[m->type] = m->word + 1;
            popped[m->type][m->word] = 1;
            /* Done with it, as an actor is: release it unless the mailbox
             * holds it (then the mailbox releases it later). */
            if (m->release != NULL && !tr__mbox_holds_owner(&mb, m))
                m->release(m);
            tu_add(&consumed, 1);
        }
        tu_store(&running, 0);
        if (!tr__mbox_end_turn_owner(&mb)) {
            tu_add(&idles, 1);
            return;
        }
    }
}

static void *consumer(void *arg) {
    (void)arg;
    while (take_token())
        run_mailbox();
    return NULL;
}

static void run(int with_release) {
    tokens = double_sched = wokes = idles = overlaps = running = consumed = 0;
    order_errors = push_errors = done = releases = release_errors = 0;
    for (int p = 0; p < PRODUCERS; p++) {
        next_seq[p] = 0;
        arrays[p] = calloc(PER_PRODUCER, sizeof(tr_msg));
        popped[p] = calloc(PER_PRODUCER, 1);
        assert_non_null(arrays[p]);
        assert_non_null(popped[p]);
        for (uint64_t i = 0; i < PER_PRODUCER; i++)
            arrays[p][i].release = with_release ? release_counted : NULL;
    }
    tr__mbox_init(&mb, 0);
    assert_false(tr__mbox_end_turn_owner(&mb)); /* idle, as after spawn */

    pthread_t cons[CONSUMERS], prod[PRODUCERS];
    for (int c = 0; c < CONSUMERS; c++)
        assert_int_equal(pthread_create(&cons[c], NULL, consumer, NULL), 0);
    for (uintptr_t p = 0; p < PRODUCERS; p++)
        assert_int_equal(pthread_create(&prod[p], NULL, producer, (void *)p), 0);
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(prod[p], NULL);
    assert_true(tu_wait_ge(&consumed, TOTAL, 10 * TU_WAIT_MS));
    tu_store(&done, 1);
    for (int c = 0; c < CONSUMERS; c++)
        pthread_join(cons[c], NULL);

    assert_int_equal(tu_load(&push_errors), 0);
    assert_int_equal(tu_load(&consumed), TOTAL);
    assert_int_equal(tu_load(&order_errors), 0);
    for (int p = 0; p < PRODUCERS; p++)
        assert_int_equal(next_seq[p], PER_PRODUCER);
    assert_int_equal(tu_load(&double_sched), 0);
    assert_int_equal(tu_load(&overlaps), 0);
    assert_int_equal(tu_load(&tokens), 0);
    assert_true(tu_load(&wokes) >= 1);
    assert_int_equal(tu_load(&wokes), tu_load(&idles));
    assert_int_equal(tr__mbox_len_any(&mb), 0);
    assert_null(tr__mbox_pop_owner(&mb));
    if (with_release) { /* the last idle transition released the last held one */
        assert_int_equal(tu_load(&release_errors), 0);
        assert_int_equal(tu_load(&releases), TOTAL);
    } else {
        assert_int_equal(tu_load(&releases), 0);
    }
    print_message("wokes/idle periods: %llu\n", (unsigned long long)tu_load(&wokes));
    for (int p = 0; p < PRODUCERS; p++) {
        free(arrays[p]);
        free(popped[p]);
    }
}

static void four_producers_one_mailbox_schedule_exactly_once(void **state) {
    (void)state;
    run(0);
}

static void held_messages_are_released_once_after_they_are_popped(void **state) {
    (void)state;
    run(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_producers_one_mailbox_schedule_exactly_once),
        cmocka_unit_test(held_messages_are_released_once_after_they_are_popped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
