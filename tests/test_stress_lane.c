/* tests/test_stress_lane.c - a lane's protocols under load (mailbox/spsc.c).
 *
 * One producer thread puts messages into a lane while an owner thread takes
 * them, plays the mailbox for the lane's kick, and (second test) closes the
 * lane in the middle of the stream.
 *
 * Parking: the owner takes until the lane is empty, parks it, and then waits
 * for a kick before looking again; a put that returns TR__LANE_KICK is the
 * kick. A lost wake-up would leave the owner waiting forever (the wait has a
 * deadline: the test fails). Checked exactly: every message taken once, in
 * order, with its payload (one-word slots and pointers alternate); every
 * kick answered; the lane's references all dropped.
 *
 * Closing: ROUNDS times, the owner closes the lane after a random number of
 * takes while the producer keeps putting. Checked exactly: every message the
 * producer saw accepted was taken or handed to the close, each once, in
 * order; every refused one was refused (the producer keeps it and frees
 * it); no pointer message is freed twice or never. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "mailbox/spsc.h"
#include "support/testutil.h"
#include "troupe/error.h"

#define TOTAL (2000000 / TU_SANITIZER_SLOWDOWN)  /* messages of the parking test */
#define PINGPONG (50000 / TU_SANITIZER_SLOWDOWN) /* the first ones, one at a time */
#define ROUNDS (200 / TU_SANITIZER_SLOWDOWN)     /* lanes closed mid-stream */
#define PER_ROUND 20000                          /* puts offered per round, at most */

/* A pointer message: the sequence number it carries, freed exactly once. */
typedef struct boxed {
    uint64_t seq;
    uint64_t frees;
} boxed;

static tr__lane *lane;
static uint64_t kicks_pushed, kicks_seen, done_putting;
static uint64_t taken, order_errors, payload_errors, lost_wakeups;

static uint32_t kind_of(uint64_t i) {
    return (i % 3 == 0) ? TR__LANE_PTR : TR__LANE_WORD;
}

static int put(uint64_t i) {
    if (kind_of(i) == TR__LANE_PTR) {
        boxed *b = calloc(1, sizeof(*b));
        b->seq = i;
        int rc = tr__lane_put_spsc(lane, TR__LANE_PTR, 0, (uint64_t)(uintptr_t)b);
        if (rc == TR__LANE_REFUSED || rc < 0)
            free(b); /* refused: still ours */
        return rc;
    }
    return tr__lane_put_spsc(lane, TR__LANE_WORD, (uint32_t)(i & 0xffff), i);
}

/* Check one taken or collected message against the next expected one. */
static void check(uint64_t *next, uint32_t kind, uint32_t type, uint64_t word) {
    uint64_t seq;
    if (kind == TR__LANE_PTR) {
        boxed *b = (boxed *)(uintptr_t)word;
        seq = b->seq;
        if (++b->frees != 1)
            tu_add(&payload_errors, 1);
        free(b);
    } else {
        seq = word;
        if (type != (uint32_t)(word & 0xffff))
            tu_add(&payload_errors, 1);
    }
    if (kind != kind_of(seq))
        tu_add(&payload_errors, 1);
    if (seq != *next)
        tu_add(&order_errors, 1);
    *next = seq + 1;
}

static void *producer(void *arg) {
    (void)arg;
    for (uint64_t i = 0; i < TOTAL; i++) {
        int rc = put(i);
        if (rc == TR__LANE_KICK)
            tu_add(&kicks_pushed, 1); /* the kick is "in the mailbox" */
        if (i < PINGPONG) {
            /* Wait for the owner to take it: each put is then the last one
             * before the owner parks, the case a lost wake-up would hang. */
            if (!tu_wait_ge(&taken, i + 1, TU_WAIT_MS)) {
                tu_add(&lost_wakeups, 1);
                break;
            }
        } else if (i % 4096 == 0) {
            sched_yield(); /* let the owner catch up and park */
        }
    }
    tu_store(&done_putting, 1);
    return NULL;
}

static void *owner(void *arg) {
    (void)arg;
    uint64_t next = 0;
    /* The lane is announced by its kick: pop it. */
    tr__lane_kicked_owner(lane);
    tr__lane_release_any(lane);
    while (tu_load(&taken) < TOTAL) {
        uint32_t type;
        uint64_t word;
        uint32_t kind = tr__lane_take_owner(lane, &type, &word);
        if (kind != TR__LANE_EMPTY) {
            check(&next, kind, type, word);
            tu_add(&taken, 1);
            continue;
        }
        if (!tr__lane_park_owner(lane))
            continue; /* a put got in: look again */
        /* Parked: only a kick may wake us (unless everything was taken). */
        int64_t deadline = tu_now_ms() + TU_WAIT_MS;
        while (tu_load(&kicks_pushed) == tu_load(&kicks_seen) && tu_load(&taken) < TOTAL) {
            if ((tu_load(&done_putting) && tu_now_ms() > deadline) || tu_load(&lost_wakeups)) {
                tu_add(&lost_wakeups, 1);
                return NULL;
            }
            sched_yield();
        }
        if (tu_load(&kicks_pushed) > tu_load(&kicks_seen)) {
            tu_add(&kicks_seen, 1);
            tr__lane_kicked_owner(lane);
            tr__lane_release_any(lane); /* the kick's reference */
        }
    }
    return NULL;
}

static void parked_lanes_are_always_kicked_awake(void **state) {
    (void)state;
    lane = tr__lane_new();
    assert_non_null(lane);
    pthread_t p, o;
    assert_int_equal(pthread_create(&o, NULL, owner, NULL), 0);
    assert_int_equal(pthread_create(&p, NULL, producer, NULL), 0);
    pthread_join(p, NULL);
    pthread_join(o, NULL);
    assert_int_equal(tu_load(&lost_wakeups), 0);
    assert_int_equal(tu_load(&taken), TOTAL);
    assert_int_equal(tu_load(&order_errors), 0);
    assert_int_equal(tu_load(&payload_errors), 0);
    /* A kick pushed after the last take is popped by nobody: drop it. */
    while (tu_load(&kicks_seen) < tu_load(&kicks_pushed)) {
        tu_add(&kicks_seen, 1);
        tr__lane_release_any(lane);
    }
    tr__lane_detach_spsc(lane); /* the producer's reference */
    tr__lane_release_any(lane); /* the owner's: the last */
}

/* --- closing mid-stream ---------------------------------------------------- */

static uint64_t accepted, refused, close_at, closed_flag;
static uint64_t owner_next;

static void collect(void *arg, uint32_t kind, uint32_t type, uint64_t word) {
    (void)arg;
    check(&owner_next, kind, type, word);
    tu_add(&taken, 1);
}

static void *close_producer(void *arg) {
    (void)arg;
    for (uint64_t i = 0; i < PER_ROUND; i++) {
        int rc = put(i);
        if (rc == TR__LANE_REFUSED) {
            tu_add(&refused, 1);
            break; /* closed for good: every later put is refused too */
        }
        if (rc < 0)
            break;
        tu_add(&accepted, 1); /* OK or KICK (the kick is not needed here) */
    }
    return NULL;
}

static void *close_owner(void *arg) {
    (void)arg;
    uint64_t takes = 0;
    uint64_t limit = tu_load(&close_at);
    for (;;) {
        uint32_t type;
        uint64_t word;
        if (takes == limit) {
            tr__lane_close_owner(lane, collect, NULL);
            tu_store(&closed_flag, 1);
            return NULL;
        }
        uint32_t kind = tr__lane_take_owner(lane, &type, &word);
        if (kind == TR__LANE_EMPTY) {
            sched_yield();
            continue;
        }
        check(&owner_next, kind, type, word);
        tu_add(&taken, 1);
        takes++;
    }
}

static void closing_takes_or_refuses_each_message_once(void **state) {
    (void)state;
    uint64_t seed = 12345;
    for (unsigned r = 0; r < ROUNDS; r++) {
        lane = tr__lane_new();
        assert_non_null(lane);
        tr__lane_kicked_owner(lane);
        tr__lane_release_any(lane); /* the announcing kick */
        tu_store(&taken, 0);
        tu_store(&accepted, 0);
        tu_store(&refused, 0);
        tu_store(&closed_flag, 0);
        owner_next = 0;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        tu_store(&close_at, (seed >> 33) % (PER_ROUND / 2));
        pthread_t p, o;
        assert_int_equal(pthread_create(&o, NULL, close_owner, NULL), 0);
        assert_int_equal(pthread_create(&p, NULL, close_producer, NULL), 0);
        pthread_join(p, NULL);
        pthread_join(o, NULL);
        /* Kick references a put asked for: nobody pushes them here. */
        while (ck_pr_load_32(&lane->refs) > 2)
            tr__lane_release_any(lane);
        tr__lane_detach_spsc(lane);
        tr__lane_release_any(lane);
        assert_int_equal(tu_load(&taken), tu_load(&accepted));
        assert_int_equal(tu_load(&order_errors), 0);
        assert_int_equal(tu_load(&payload_errors), 0);
        assert_true(tu_load(&accepted) + tu_load(&refused) <= PER_ROUND);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parked_lanes_are_always_kicked_awake),
        cmocka_unit_test(closing_takes_or_refuses_each_message_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
