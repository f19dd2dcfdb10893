/* tests/test_msgcache_pool.c - the message-block pool under fan-in from
 * foreign threads (core/msgcache.c, refill).
 *
 * Once the pool holds more blocks than the threads' caches can keep plus a
 * slack, a foreign thread whose refill finds the depot empty waits for a
 * magazine to come back instead of carving fresh memory, as long as
 * magazines keep coming back; when none does, it carves after a short
 * bound, so holding every block never blocks an allocation for long.
 *
 * The first test fills the pool past that limit from the test thread and
 * holds the blocks; a "receiver" thread then frees them a magazine (1,024)
 * at a time with a short sleep between, slower than a "sender" thread takes
 * them: the sender's ALLOC blocks must come mostly from what the receiver
 * frees (the pool grows by less than half of ALLOC; without the wait it
 * grows by about ALLOC, since every refill finds the depot empty). The
 * second checks the bound: with the depot empty and nothing freed, the same
 * allocations finish within seconds, every block carved. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "core/msgcache.h"
#include "support/testutil.h"
#include "troupe.h"

#define HELD 65536        /* blocks the test thread takes first: past the limit */
#define ALLOC (16 * 1024) /* blocks the sender takes */
#define MAG 1024          /* blocks per magazine (core/msgcache.c) */

static tr_msg **held;
static tr_msg **got;
static uint64_t failed;

static void *receiver(void *arg) {
    (void)arg;
    for (size_t i = 0; i < HELD; i++) {
        tr__msgcache_free(held[i]);
        if (i % MAG == MAG - 1) {
            struct timespec ts = {0, 20000}; /* 20 us: slower than the sender */
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void *sender(void *arg) {
    (void)arg;
    for (size_t i = 0; i < ALLOC; i++)
        if ((got[i] = tr__msgcache_alloc()) == NULL)
            tu_add(&failed, 1);
    return NULL;
}

static void take_held(void) {
    for (size_t i = 0; i < HELD; i++)
        assert_non_null(held[i] = tr__msgcache_alloc());
}

static void give_back(tr_msg **blocks, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (blocks[i] != NULL)
            tr__msgcache_free(blocks[i]);
}

/* One round: the pool's growth while the receiver frees HELD blocks and the
 * sender takes ALLOC. */
static uint64_t recycle_round(void) {
    take_held();
    uint64_t before = tr__msgcache_pool_blocks();
    pthread_t r, s;
    assert_int_equal(pthread_create(&s, NULL, sender, NULL), 0);
    assert_int_equal(pthread_create(&r, NULL, receiver, NULL), 0);
    pthread_join(s, NULL);
    pthread_join(r, NULL);
    uint64_t grew = tr__msgcache_pool_blocks() - before;
    give_back(got, ALLOC);
    return grew;
}

/* Up to ROUNDS rounds, passing at the first that grows the pool by less
 * than half of ALLOC: on a loaded host a receiver preempted for over a
 * millisecond lets the sender carve (by design), so one round may miss;
 * without the wait every round on a quiet host grows it by 13,000-16,383. */
#define ROUNDS 3
static void a_full_pool_recycles_what_a_receiver_frees(void **state) {
    (void)state;
    held = calloc(HELD, sizeof(*held));
    got = calloc(ALLOC, sizeof(*got));
    assert_non_null(held);
    assert_non_null(got);
    uint64_t grew = UINT64_MAX;
    for (int round = 0; round < ROUNDS && grew >= ALLOC / 2; round++)
        grew = recycle_round();
    assert_int_equal(tu_load(&failed), 0);
    assert_true(grew < ALLOC / 2);
    free(got);
    free(held);
}

/* Take blocks until the pool grows: the depot is then empty (what the first
 * test's threads left there is taken), and only carving gives more. */
static tr_msg **drained;
static size_t drained_n;
static void drain_depot(void) {
    size_t cap = 4 * HELD;
    drained = calloc(cap, sizeof(*drained));
    assert_non_null(drained);
    uint64_t pool = tr__msgcache_pool_blocks();
    drained_n = 0;
    while (tr__msgcache_pool_blocks() == pool) {
        assert_true(drained_n < cap);
        assert_non_null(drained[drained_n++] = tr__msgcache_alloc());
    }
}

static void a_pool_nobody_frees_still_grows(void **state) {
    (void)state;
    got = calloc(ALLOC, sizeof(*got));
    assert_non_null(got);
    drain_depot();
    uint64_t before = tr__msgcache_pool_blocks();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t s;
    assert_int_equal(pthread_create(&s, NULL, sender, NULL), 0);
    pthread_join(s, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(tu_load(&failed), 0);
    /* Nothing came back, so every block was carved, after a bounded wait
     * (16 refills of about 1 ms each; 5 s is for a loaded host). */
    assert_true(tr__msgcache_pool_blocks() - before >= ALLOC);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    give_back(got, ALLOC);
    give_back(drained, drained_n);
    free(drained);
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_pool_recycles_what_a_receiver_frees),
        cmocka_unit_test(a_pool_nobody_frees_still_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
