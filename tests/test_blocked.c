/* tests/test_blocked.c - a handler that blocks or spins holds back no other
 * actor's timers or I/O (on a runtime with 2 workers).
 *
 * One actor blocks (sleeps) or spins in its handler for BLOCK_MS. Meanwhile
 * the test thread starts TIMERS timers of TIMER_MS (foreign callers spread
 * them round robin, so half land on the blocked worker's loop) and watches
 * two pipes (one per worker) and makes them readable. Every timer message
 * and every readiness must arrive while the blocker is still blocked, within
 * SLACK_MS of when it was due: without help from the other worker, half of
 * them waited for the end of the block (BLOCK_MS). Both workers are asleep
 * before the block starts, so the helper must be woken to look. The bound
 * leaves room for a loaded CI machine and sanitizers; the design target is a
 * few ms, and the lateness seen is printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define BLOCK_MS 1200
#define TIMERS 20
#define TIMER_MS 400
/* The design target is a few ms (measured 2-8 on a quiet host); the bound
 * leaves room for a loaded one (2 cores at a load of 12 showed 260 ms once).
 * Without help the lateness is about BLOCK_MS - TIMER_MS, and with a helper
 * that slept through the start of the block (no watchdog) about TIMER_MS:
 * both fail. */
#define SLACK_MS (TU_SANITIZER_SLOWDOWN > 1 ? 350 : 300)
#define PIPES 2

enum { M_BLOCK = 1, M_SPIN = 2, M_TICK = 3, M_ARM_AND_BLOCK = 4 };

typedef struct record {
    tr_ref *rec; /* M_ARM_AND_BLOCK: where the blocker's own timers go */
    uint64_t armed_ms, arm_errors;
    uint64_t blocking, block_end_ms;
    uint64_t ticks, fd_ready;
    uint64_t last_ms; /* arrival of the latest tick or readiness */
} record;

/* --- the blocker ------------------------------------------------------------------ */

static int blocker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    record *r = *(record **)state;
    if (msg->type == M_ARM_AND_BLOCK) {
        /* Armed on this worker's own loop, directly: no post wakes the
         * other worker, which sleeps through the start of the block. */
        tu_store(&r->armed_ms, (uint64_t)tu_now_ms());
        for (int i = 0; i < TIMERS; i++) {
            tr_msg *m;
            if (tr_msg_new(&m, M_TICK, 0) != 0 ||
                tr_timer_send_after(r->rec, TIMER_MS, m, NULL) != 0)
                tu_add(&r->arm_errors, 1);
        }
    }
    tu_store(&r->blocking, 1);
    int64_t until = tu_now_ms() + BLOCK_MS;
    if (msg->type != M_SPIN) {
        tu_sleep_ms(BLOCK_MS);
    } else {
        volatile uint64_t spin = 0;
        while (tu_now_ms() < until)
            spin++;
    }
    tu_store(&r->block_end_ms, (uint64_t)tu_now_ms());
    return 0;
}

/* --- the receiver ----------------------------------------------------------------- */

static int rec_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    *(record **)state = arg;
    return 0;
}

static int receiver_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    record *r = *(record **)state;
    uint64_t now = (uint64_t)tu_now_ms();
    if (msg->type == M_TICK) {
        tu_store(&r->last_ms, now);
        tu_add(&r->ticks, 1);
    } else if (msg->type == TR_MSG_FD_READY) {
        tu_store(&r->last_ms, now);
        tu_add(&r->fd_ready, 1);
    }
    return 0;
}

static const tr_behavior blocker_beh = {rec_init, blocker_receive, NULL};
static const tr_behavior receiver_beh = {rec_init, receiver_receive, NULL};

static tr_ref *spawn_with(tr_runtime *rt, const tr_behavior *b, record *r) {
    tr_spawn_opts o;
    memset(&o, 0, sizeof(o));
    o.state_size = sizeof(record *);
    o.arg = r;
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, b, &o, &ref), 0);
    return ref;
}

/* Block a worker with `how`, then check timers and fd readiness on both
 * workers arrive in time, while it is still blocked. */
static void timers_and_io_survive(uint32_t how) {
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    record r;
    memset(&r, 0, sizeof(r));
    tr_ref *blocker = spawn_with(rt, &blocker_beh, &r);
    tr_ref *rec = spawn_with(rt, &receiver_beh, &r);
    tu_sleep_ms(50); /* both workers asleep: one wakes to block, one sleeps on */
    assert_int_equal(tr_send_word(blocker, how, 0), 0);
    assert_true(tu_wait_ge(&r.blocking, 1, TU_WAIT_MS));
    int64_t t0 = tu_now_ms();
    for (int i = 0; i < TIMERS; i++) {
        tr_msg *m;
        assert_int_equal(tr_msg_new(&m, M_TICK, 0), 0);
        assert_int_equal(tr_timer_send_after(rec, TIMER_MS, m, NULL), 0);
    }
    assert_true(tu_wait_ge(&r.ticks, TIMERS, TU_WAIT_MS));
    int64_t late = (int64_t)tu_load(&r.last_ms) - t0 - TIMER_MS;
    /* I/O: a pipe watched on each worker's loop. */
    int p[PIPES][2];
    tr_fd_watch_id id[PIPES];
    for (int i = 0; i < PIPES; i++) {
        assert_int_equal(pipe(p[i]), 0);
        assert_int_equal(tr_fd_watch(rec, p[i][0], TR_FD_READ, (uint64_t)i, &id[i]), 0);
    }
    tu_sleep_ms(20); /* the watches are started (posts run by the helper) */
    int64_t t1 = tu_now_ms();
    for (int i = 0; i < PIPES; i++)
        assert_int_equal(write(p[i][1], "x", 1), 1);
    assert_true(tu_wait_ge(&r.fd_ready, PIPES, TU_WAIT_MS));
    int64_t io_late = (int64_t)tu_load(&r.last_ms) - t1;
    uint64_t end = tu_load(&r.block_end_ms);
    fprintf(stderr, "blocked by %s: latest timer %lld ms late, latest fd %lld ms late\n",
            how == M_BLOCK ? "sleep" : "spin", (long long)late, (long long)io_late);
    assert_true(end == 0 || end > tu_load(&r.last_ms)); /* all while blocked */
    assert_true(late < SLACK_MS);
    assert_true(io_late < SLACK_MS);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_true(st.loops_helped > 0);
    for (int i = 0; i < PIPES; i++)
        assert_int_equal(tr_fd_unwatch(rt, id[i]), 0);
    tr_ref_release(blocker);
    tr_ref_release(rec);
    assert_int_equal(tr_runtime_free(rt), 0);
    for (int i = 0; i < PIPES; i++) { /* the loops have let go of them */
        close(p[i][0]);
        close(p[i][1]);
    }
}

static void sleeping_handler_delays_no_other_timers_or_io(void **state) {
    (void)state;
    timers_and_io_survive(M_BLOCK);
}

static void spinning_handler_delays_no_other_timers_or_io(void **state) {
    (void)state;
    timers_and_io_survive(M_SPIN);
}

/* The blocked worker's own timers, armed by the handler just before it
 * blocks, with the other worker asleep and given no reason to wake: the
 * worker that woke for the work wakes a sleeper to keep watch. */
static void timers_armed_before_blocking_fire_on_time(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    record r;
    memset(&r, 0, sizeof(r));
    tr_ref *blocker = spawn_with(rt, &blocker_beh, &r);
    r.rec = spawn_with(rt, &receiver_beh, &r);
    tu_sleep_ms(50); /* both workers asleep */
    assert_int_equal(tr_send_word(blocker, M_ARM_AND_BLOCK, 0), 0);
    assert_true(tu_wait_ge(&r.ticks, TIMERS, TU_WAIT_MS));
    int64_t late = (int64_t)tu_load(&r.last_ms) - (int64_t)tu_load(&r.armed_ms) - TIMER_MS;
    uint64_t end = tu_load(&r.block_end_ms);
    fprintf(stderr, "own timers of a blocked worker: latest %lld ms late\n", (long long)late);
    assert_int_equal(tu_load(&r.arm_errors), 0);
    assert_true(end == 0 || end > tu_load(&r.last_ms));
    assert_true(late < SLACK_MS);
    tr_ref_release(blocker);
    tr_ref_release(r.rec);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- idle stays idle -------------------------------------------------------------- */

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The watchdog that lets a parked worker help is only armed while another
 * worker is awake: with every worker asleep (timers pending on both loops),
 * the runtime uses no CPU. */
static void idle_runtime_with_timers_sleeps(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    record r;
    memset(&r, 0, sizeof(r));
    tr_ref *rec = spawn_with(rt, &receiver_beh, &r);
    for (int i = 0; i < 4; i++) {
        tr_msg *m;
        assert_int_equal(tr_msg_new(&m, M_TICK, 0), 0);
        assert_int_equal(tr_timer_send_after(rec, 60000, m, NULL), 0);
    }
    tu_sleep_ms(100);
    double c0 = cpu_seconds();
    tu_sleep_ms(500);
    double cpu = cpu_seconds() - c0;
    fprintf(stderr, "idle runtime: %.4f s CPU in 500 ms\n", cpu);
    assert_true(cpu < 0.05);
    tr_ref_release(rec);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sleeping_handler_delays_no_other_timers_or_io),
        cmocka_unit_test(spinning_handler_delays_no_other_timers_or_io),
        cmocka_unit_test(timers_armed_before_blocking_fire_on_time),
        cmocka_unit_test(idle_runtime_with_timers_sleeps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
