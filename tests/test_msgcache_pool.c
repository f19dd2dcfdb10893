/* tests/test_msgcache_pool.c - the message-block pool under fan-in from
 * foreign threads (core/msgcache.c, refill).
 *
 * Once the pool holds more blocks than the threads' caches can keep plus a
 * slack, a foreign thread whose refill finds the depot empty waits for a
 * magazine to come back instead of carving fresh memory, if magazines have
 * been coming back (one since its last refill, or its last wait got one);
 * when none comes it carves after a bound (1 ms without a magazine), so
 * holding every block never blocks an allocation for long.
 *
 * The first test fills the pool past that limit from the test thread and
 * holds the blocks. A "sender" thread then takes ALLOC blocks while a
 * "receiver" thread frees one magazine's worth of held blocks at once and
 * then another only when the sender has stopped making progress for
 * STALL_US (it is waiting in a refill): the sender's blocks must then come
 * from the receiver (the pool grows by less than half of ALLOC). Without
 * the wait the sender never stops (it carves at once), the receiver frees
 * nothing more, and the pool grows by ALLOC - MAG. The second checks the
 * bound: with the depot empty and nothing freed, the same allocations
 * finish within seconds, every block carved. */
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

#define HELD 65536          /* blocks the test thread takes first: past the limit */
#define HELD_MAX (4 * HELD) /* and then until the depot is empty */
#define ALLOC (16 * 1024)   /* blocks the sender takes */
#define MAG 1024            /* blocks per magazine (core/msgcache.c) */
#define CACHE_MAX (2 * MAG) /* blocks a thread's cache keeps before it spills */
#define STALL_US 200        /* the sender is waiting: well under the refill's bound (set below) */
#define ROUNDS 3

static tr_msg **held;
static size_t held_n;
static tr_msg **got;
static uint64_t failed, progress, sender_done;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void *sender(void *arg) {
    (void)arg;
    for (size_t i = 0; i < ALLOC; i++) {
        if ((got[i] = tr__msgcache_alloc()) == NULL)
            tu_add(&failed, 1);
        tu_store(&progress, i + 1);
    }
    tu_store(&sender_done, 1);
    return NULL;
}

/* Frees CACHE_MAX + 1 held blocks at once (this thread's cache spills its
 * first magazine to the depot: blocks are seen to come back), then MAG
 * (one more magazine) each time the sender stands still. The rest at the
 * end. */
static void *receiver(void *arg) {
    (void)arg;
    size_t next = 0;
    for (; next < CACHE_MAX + 1; next++)
        tr__msgcache_free(held[next]);
    uint64_t seen = 0, since = now_us();
    while (!tu_load(&sender_done)) {
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL);
        uint64_t p = tu_load(&progress), t = now_us();
        if (p != seen) {
            seen = p;
            since = t;
            continue;
        }
        if (t - since < STALL_US || next >= held_n)
            continue;
        for (size_t end = next + MAG; next < end && next < held_n; next++)
            tr__msgcache_free(held[next]);
        since = t;
    }
    for (; next < held_n; next++)
        tr__msgcache_free(held[next]);
    return NULL;
}

/* Take HELD blocks, then more until the pool grows: the depot is then
 * empty (what earlier rounds gave back is held too). */
static void take_held(void) {
    for (held_n = 0; held_n < HELD; held_n++)
        assert_non_null(held[held_n] = tr__msgcache_alloc());
    uint64_t pool = tr__msgcache_pool_blocks();
    while (tr__msgcache_pool_blocks() == pool) {
        assert_true(held_n < HELD_MAX);
        assert_non_null(held[held_n++] = tr__msgcache_alloc());
    }
}

static void give_back(tr_msg **blocks, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (blocks[i] != NULL)
            tr__msgcache_free(blocks[i]);
}

/* One round: the pool's growth while the sender takes ALLOC blocks. */
static uint64_t recycle_round(void) {
    take_held();
    tu_store(&progress, 0);
    tu_store(&sender_done, 0);
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
 * millisecond lets the sender carve (by design), so one round may miss. */
static void a_full_pool_recycles_what_a_receiver_frees(void **state) {
    (void)state;
    held = calloc(HELD_MAX, sizeof(*held));
    got = calloc(ALLOC, sizeof(*got));
    assert_non_null(held);
    assert_non_null(got);
    /* The sender waits up to 200 ms without a magazine (not 1 ms): the
     * receiver, preempted on a loaded host, still frees in time. */
    tr__msgcache_set_wait_bounds(200000000u, 2000000000u);
    uint64_t grew = UINT64_MAX;
    for (int round = 0; round < ROUNDS && grew >= ALLOC / 2; round++)
        grew = recycle_round();
    tr__msgcache_set_wait_bounds(0, 0);
    assert_int_equal(tu_load(&failed), 0);
    assert_true(grew < ALLOC / 2);
    free(got);
    free(held);
}

/* Take blocks until the pool grows: the depot is then empty. */
static tr_msg **drained;
static size_t drained_n;
static void drain_depot(void) {
    drained = calloc(HELD_MAX, sizeof(*drained));
    assert_non_null(drained);
    uint64_t pool = tr__msgcache_pool_blocks();
    drained_n = 0;
    while (tr__msgcache_pool_blocks() == pool) {
        assert_true(drained_n < HELD_MAX);
        assert_non_null(drained[drained_n++] = tr__msgcache_alloc());
    }
}

static void a_pool_nobody_frees_still_grows(void **state) {
    (void)state;
    got = calloc(ALLOC, sizeof(*got));
    assert_non_null(got);
    drain_depot();
    tu_store(&sender_done, 0);
    uint64_t before = tr__msgcache_pool_blocks();
    uint64_t t0 = now_us();
    pthread_t s;
    assert_int_equal(pthread_create(&s, NULL, sender, NULL), 0);
    pthread_join(s, NULL);
    uint64_t took = now_us() - t0;
    assert_int_equal(tu_load(&failed), 0);
    /* Nothing came back, so every block was carved, after a bounded wait
     * (16 refills of about 1 ms each; 5 s is for a loaded host). */
    assert_true(tr__msgcache_pool_blocks() - before >= ALLOC);
    assert_true(took < 5000000u);
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
