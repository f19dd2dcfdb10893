/* tests/test_drain.c - graceful shutdown (tr_runtime_drain, issue 16).
 *
 * A drain refuses foreign work, lets the actors handle what is queued until
 * a deadline, stops supervisors top-down, then closes; what could not be
 * handled is dead-lettered and counted. Every test checks its counts
 * exactly: messages sent = handled + dead-lettered; a refused send leaves
 * the message with the caller (its destructor does not run). */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { WORK = 1, SELF = 2, BLOCK = 3, TICK = 4, DRAIN_INSIDE = 5 };

static uint64_t handled;  /* WORK messages the counters handled */
static uint64_t sent;     /* messages the self-sender managed to send itself */
static uint64_t freed;    /* ptr_free calls (payloads of accepted messages) */
static uint64_t block_go; /* lets a BLOCK handler return */
static uint64_t blocking; /* a BLOCK handler is running */
static uint64_t ticks, fd_ready, inside_rc;

static void reset(void) {
    tu_store(&handled, 0);
    tu_store(&sent, 0);
    tu_store(&freed, 0);
    tu_store(&block_go, 0);
    tu_store(&blocking, 0);
    tu_store(&ticks, 0);
    tu_store(&fd_ready, 0);
    tu_store(&inside_rc, 0);
}

static void count_free(void *p) {
    (void)p;
    tu_add(&freed, 1);
}

static tr_runtime *rt_new(unsigned workers) {
    reset();
    tr_runtime *rt = tu_runtime_new(workers);
    assert_non_null(rt);
    return rt;
}

/* --- a worker that takes its time ------------------------------------------ */

static int slow_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    switch (msg->type) {
    case WORK:
        tu_sleep_ms(1); /* slower than the sender: the mailbox fills up */
        tu_add(&handled, 1);
        return 0;
    case BLOCK:
        tu_add(&blocking, 1);
        while (!tu_load(&block_go))
            tu_sleep_ms(1);
        return 0;
    case SELF: /* send itself another, forever */
        tu_add(&handled, 1);
        if (tr_send_word(tr_self(ctx), SELF, 0) == 0)
            tu_add(&sent, 1);
        return 0;
    case DRAIN_INSIDE: {
        tr_runtime *rt = tr_ctx_runtime(ctx);
        int rc = tr_runtime_drain(rt, 1000, NULL);
        tu_store(&inside_rc, (uint64_t)(int64_t)rc);
        rc = tr_runtime_drain_async(rt, 1000); /* the async form is fine here */
        tu_add(&inside_rc, rc == 0 ? 1000 : 0);
        return 0;
    }
    default:
        return 0;
    }
}

static const tr_behavior slow_beh = {NULL, slow_receive, NULL};

static tr_ref *spawn_slow(tr_runtime *rt) {
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &slow_beh, NULL, &r), 0);
    return r;
}

/* --- tests ------------------------------------------------------------------- */

#define QUEUED 50

static void drain_handles_everything_queued(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tr_ref *w = spawn_slow(rt);
    for (int i = 0; i < QUEUED; i++)
        assert_int_equal(tr_send_ptr(w, WORK, &handled, count_free), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain(rt, TU_WAIT_MS, &st), 0);
    /* All 50 handled (a close handled 2 and dead-lettered 48). */
    assert_int_equal(tu_load(&handled), QUEUED);
    assert_int_equal(tu_load(&freed), QUEUED);
    assert_true(st.handled <= QUEUED); /* some may have run before the drain began */
    assert_int_equal(st.dead_lettered, 0);
    assert_int_equal(st.timed_out, 0);
    assert_int_equal(st.alive_at_close, 1); /* the idle worker, ended by the close */
    assert_int_equal(tr_runtime_is_closed(rt), 1);
    tr_drain_stats again;
    assert_int_equal(tr_runtime_drain_stats(rt, &again), 0);
    assert_memory_equal(&st, &again, sizeof(st));
    /* Sends after the drain: closed, the caller keeps the message. */
    assert_int_equal(tr_send_ptr(w, WORK, &handled, count_free), TR_ECLOSED);
    assert_int_equal(tu_load(&freed), QUEUED);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void drain_bad_calls_get_errors(void **state) {
    (void)state;
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain(NULL, 0, &st), TR_EINVAL);
    assert_int_equal(tr_runtime_drain_async(NULL, 0), TR_EINVAL);
    assert_int_equal(tr_runtime_drain_stats(NULL, &st), TR_EINVAL);
    tr_runtime *rt = rt_new(2);
    assert_int_equal(tr_runtime_drain(rt, -1, &st), TR_EINVAL);
    assert_int_equal(tr_runtime_drain_async(rt, -5), TR_EINVAL);
    assert_int_equal(tr_runtime_drain_stats(rt, NULL), TR_EINVAL);
    assert_int_equal(tr_runtime_drain_stats(rt, &st), TR_ESTATE);
    /* A drain that waits on a blocked handler: the second drain is refused. */
    tr_ref *w = spawn_slow(rt);
    assert_int_equal(tr_send_word(w, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    assert_int_equal(tr_runtime_drain_async(rt, TU_WAIT_MS), 0);
    assert_int_equal(tr_runtime_drain(rt, 10, &st), TR_EALREADY);
    assert_int_equal(tr_runtime_drain_async(rt, 10), TR_EALREADY);
    assert_int_equal(tr_runtime_drain_stats(rt, &st), TR_EBUSY);
    assert_int_equal(tr_runtime_is_closed(rt), 1); /* closed to outside work */
    tu_store(&block_go, 1);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(st.handled, 1);
    assert_int_equal(st.timed_out, 0);
    /* Draining a closed runtime. */
    assert_int_equal(tr_runtime_drain(rt, 10, &st), TR_ECLOSED);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);

    rt = rt_new(1);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_drain(rt, 10, &st), TR_ECLOSED);
    assert_int_equal(tr_runtime_drain_async(rt, 10), TR_ECLOSED);
    assert_int_equal(tr_runtime_drain_stats(rt, &st), TR_ESTATE);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void drain_from_an_actor_is_refused_or_async(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tr_ref *w = spawn_slow(rt);
    assert_int_equal(tr_send_word(w, DRAIN_INSIDE, 0), 0);
    /* The handler's sync drain got EDEADLK, its async drain 0; the async
     * drain then closes the runtime and join returns. */
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal((int64_t)tu_load(&inside_rc), (int64_t)TR_EDEADLK + 1000);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(st.timed_out, 0);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static tr_runtime *foreign_rt;
static tr_ref *foreign_to;
static uint64_t foreign_rc[4];

static void *spawn_during_drain(void *arg) {
    (void)arg;
    tr_ref *r = NULL;
    foreign_rc[0] = (uint64_t)(int64_t)tr_spawn(foreign_rt, &slow_beh, NULL, &r);
    foreign_rc[1] = (uint64_t)(int64_t)tr_send_ptr(foreign_to, WORK, &handled, count_free);
    tr_msg *m = NULL;
    if (tr_msg_new(&m, WORK, 8) == 0) {
        foreign_rc[2] = (uint64_t)(int64_t)tr_send_msg(foreign_to, m);
        if ((int64_t)foreign_rc[2] != 0)
            tr_msg_free(m); /* still ours */
    }
    tr_future *f = NULL;
    foreign_rc[3] = (uint64_t)(int64_t)tr_ask(foreign_to, WORK, NULL, 0, &f);
    if (f != NULL)
        tr_future_release(f);
    return NULL;
}

static void foreign_work_during_drain_is_refused(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tr_ref *w = spawn_slow(rt);
    assert_int_equal(tr_send_word(w, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    assert_int_equal(tr_runtime_drain_async(rt, TU_WAIT_MS), 0);
    /* From this thread and another: refused, the caller keeps the message. */
    assert_int_equal(tr_send_ptr(w, WORK, &handled, count_free), TR_ECLOSED);
    assert_int_equal(tr_send_word(w, WORK, 1), TR_ECLOSED);
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &slow_beh, NULL, &r), TR_ECLOSED);
    assert_null(r);
    foreign_rt = rt;
    foreign_to = w;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spawn_during_drain, NULL), 0);
    pthread_join(t, NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal((int64_t)foreign_rc[i], TR_ECLOSED);
    assert_int_equal(tu_load(&freed), 0); /* no destructor ran */
    tu_store(&block_go, 1);
    assert_int_equal(tr_runtime_join(rt), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(st.dead_lettered, 0);
    assert_int_equal(tu_load(&handled), 0);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void endless_actor_is_cut_off_at_the_deadline(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tr_ref *w = spawn_slow(rt);
    assert_int_equal(tr_send_word(w, SELF, 0), 0);
    assert_true(tu_wait_ge(&handled, 100, TU_WAIT_MS));
    int64_t t0 = tu_now_ms();
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain(rt, 100, &st), 0);
    assert_true(tu_now_ms() - t0 >= 100);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(st.alive_at_close, 1);
    /* The first message and every one it sent: handled or dead-lettered. */
    assert_int_equal(tu_load(&handled) + st.dead_lettered, 1 + tu_load(&sent));
    assert_int_equal(st.dead_lettered, 1); /* one in the mailbox at any time */
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

#define BEHIND 20

static void blocked_actor_is_cut_off_at_the_deadline(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tr_ref *w = spawn_slow(rt);
    assert_int_equal(tr_send_word(w, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    for (int i = 0; i < BEHIND; i++)
        assert_int_equal(tr_send_ptr(w, WORK, &handled, count_free), 0);
    assert_int_equal(tr_runtime_drain_async(rt, 50), 0);
    /* Past the deadline the drain closes, which waits for the handler. */
    tu_sleep_ms(150);
    tu_store(&block_go, 1);
    assert_int_equal(tr_runtime_join(rt), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(st.timed_out, 1);
    assert_int_equal(tu_load(&handled), 0);     /* stuck behind BLOCK */
    assert_int_equal(st.handled, 1);            /* BLOCK itself */
    assert_int_equal(st.dead_lettered, BEHIND); /* the rest, counted */
    assert_int_equal(tu_load(&freed), BEHIND);  /* and destroyed */
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- a supervisor tree of depth 3 ----------------------------------------------
 *
 *   A (root, started first): a1, SA2 (a3, SA3 (a4, a5)), a6
 *   B (root, started second): b1, b2
 *
 * Expected ends (terminate order): B's tree first (newer root): b2, b1;
 * then A's: a6, then SA2's subtree (SA3's a5, a4, then a3), then a1. */

#define NLOG 16
static uint64_t term_log[NLOG];
static uint64_t term_n;

static int leaf_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static void leaf_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    uint64_t i = tu_add(&term_n, 1) - 1;
    if (i < NLOG)
        tu_store(&term_log[i], (uint64_t)(uintptr_t)state);
}

static const tr_behavior leaf_beh = {NULL, leaf_receive, leaf_terminate};

static tr_child_spec leaf(const char *id, uintptr_t tag) {
    tr_child_spec c;
    memset(&c, 0, sizeof(c));
    c.id = id;
    c.behavior = &leaf_beh;
    c.opts.arg = (void *)tag; /* state_size 0: the state is arg */
    c.restart = TR_CHILD_PERMANENT;
    c.shutdown_ms = 5000;
    return c;
}

static tr_child_spec sup_child(const char *id, const tr_sup_config *cfg) {
    tr_child_spec c;
    memset(&c, 0, sizeof(c));
    c.id = id;
    c.sup = cfg;
    c.kind = TR_CHILD_SUPERVISOR;
    c.restart = TR_CHILD_PERMANENT;
    c.shutdown_ms = TR_SHUTDOWN_INFINITY;
    return c;
}

static void supervisors_stop_top_down_in_reverse_start_order(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    memset(term_log, 0, sizeof(term_log));
    tu_store(&term_n, 0);
    tr_child_spec sa3_kids[2] = {leaf("a4", 4), leaf("a5", 5)};
    tr_sup_config sa3;
    tr_sup_config_init(&sa3);
    sa3.children = sa3_kids;
    sa3.nchildren = 2;
    tr_child_spec sa2_kids[2] = {leaf("a3", 3), sup_child("sa3", &sa3)};
    tr_sup_config sa2;
    tr_sup_config_init(&sa2);
    sa2.children = sa2_kids;
    sa2.nchildren = 2;
    tr_child_spec a_kids[3] = {leaf("a1", 1), sup_child("sa2", &sa2), leaf("a6", 6)};
    tr_sup_config a;
    tr_sup_config_init(&a);
    a.children = a_kids;
    a.nchildren = 3;
    tr_child_spec b_kids[2] = {leaf("b1", 11), leaf("b2", 12)};
    tr_sup_config b;
    tr_sup_config_init(&b);
    b.children = b_kids;
    b.nchildren = 2;
    b.strategy = TR_SUP_ONE_FOR_ALL;
    tr_ref *ra = NULL, *rb = NULL;
    assert_int_equal(tr_sup_start(rt, &a, &ra), 0);
    assert_int_equal(tr_sup_start(rt, &b, &rb), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain(rt, TU_WAIT_MS, &st), 0);
    assert_int_equal(st.timed_out, 0);
    assert_int_equal(st.alive_at_close, 0); /* the trees ended before the close */
    const uint64_t want[] = {12, 11, 6, 5, 4, 3, 1};
    assert_int_equal(tu_load(&term_n), 7);
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(tu_load(&term_log[i]), want[i]);
    tr_ref_release(ra);
    tr_ref_release(rb);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- timers and I/O live during the drain ------------------------------------ */

typedef struct ticker {
    int fd;
    tr_fd_watch_id watch;
} ticker;

static int ticker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    ticker *t = state;
    if (msg->type == TICK) {
        tu_add(&ticks, 1);
    } else if (msg->type == TR_MSG_FD_READY) {
        char buf[64];
        while (read(t->fd, buf, sizeof(buf)) > 0) {
        }
        tu_add(&fd_ready, 1);
        (void)tr_fd_rearm(tr_ctx_runtime(ctx), t->watch, TR_FD_READ);
    }
    return 0;
}

static void ticker_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)why;
    ticker *t = state;
    (void)tr_fd_unwatch(tr_ctx_runtime(ctx), t->watch);
}

static const tr_behavior ticker_beh = {NULL, ticker_receive, ticker_terminate};

static void drain_with_timers_and_io_live(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    ticker t = {.fd = p[0]};
    tr_spawn_opts o = {.arg = &t};
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &ticker_beh, &o, &r), 0);
    assert_int_equal(tr_fd_watch(r, p[0], TR_FD_READ, 0, &t.watch), 0);
    assert_int_equal(tr_timer_tick_every(r, 1, 10, TICK, 0, NULL), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(tu_wait_ge(&fd_ready, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&ticks, 3, TU_WAIT_MS));
    assert_int_equal(tr_runtime_drain_async(rt, TU_WAIT_MS), 0);
    /* I/O keeps reaching the actor while it drains (or the drain is over
     * already: then the write is just not read). */
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(tr_runtime_join(rt), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    /* Quiet between ticks: the drain did not need its deadline. */
    assert_int_equal(st.timed_out, 0);
    assert_true(st.elapsed_ms < TU_WAIT_MS);
    tr_ref_release(r);
    assert_int_equal(tr_runtime_free(rt), 0);
    close(p[0]);
    close(p[1]);
}

/* --- a blocking task in flight ------------------------------------------------ */

static int slow_task(void *arg, void **result) {
    (void)arg;
    tu_sleep_ms(100);
    *result = &handled;
    return 0;
}

static void drain_waits_for_blocking_tasks(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tr_ref *w = spawn_slow(rt);
    /* Its result comes as a WORK message once the task is done: the
     * workers are all idle until then, yet the drain waits for it. */
    assert_int_equal(tr_blocking_run(w, WORK, 0, slow_task, NULL, count_free), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain(rt, TU_WAIT_MS, &st), 0);
    assert_int_equal(tu_load(&handled), 1);
    assert_int_equal(tu_load(&freed), 1);
    assert_int_equal(st.dead_lettered, 0);
    assert_int_equal(st.timed_out, 0);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- stress: foreign senders while the drain starts ------------------------- */

#define SENDERS 4
#define PER_SENDER (20000 / TU_SANITIZER_SLOWDOWN)

static uint64_t accepted, refused, other_rc;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    tu_add(&handled, 1);
    return 0;
}

static const tr_behavior count_beh = {NULL, count_receive, NULL};
static tr_ref *targets[2];

static void *sender_main(void *arg) {
    uintptr_t k = (uintptr_t)arg;
    for (int i = 0; i < PER_SENDER; i++) {
        int rc = tr_send_ptr(targets[(k + (uintptr_t)i) & 1], WORK, &handled, count_free);
        if (rc == 0)
            tu_add(&accepted, 1);
        else if (rc == TR_ECLOSED || rc == TR_EDEAD)
            tu_add(&refused, 1); /* EDEAD: a send that read "running" just
                                  * before the drain, then was preempted past
                                  * its deadline, finds its actor closed */
        else
            tu_add(&other_rc, 1);
    }
    return NULL;
}

static void stress_foreign_senders_while_drain_starts(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    tu_store(&accepted, 0);
    tu_store(&refused, 0);
    tu_store(&other_rc, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tr_spawn(rt, &count_beh, NULL, &targets[i]), 0);
    pthread_t t[SENDERS];
    for (uintptr_t k = 0; k < SENDERS; k++)
        assert_int_equal(pthread_create(&t[k], NULL, sender_main, (void *)k), 0);
    assert_true(tu_wait_ge(&accepted, PER_SENDER / 2, TU_WAIT_MS));
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain(rt, 5, &st), 0); /* a short deadline: some are cut off */
    for (int k = 0; k < SENDERS; k++)
        pthread_join(t[k], NULL);
    assert_int_equal(tu_load(&other_rc), 0);
    assert_int_equal(tu_load(&accepted) + tu_load(&refused), (uint64_t)SENDERS * PER_SENDER);
    /* Accepted: handled or dead-lettered, each destroyed once; refused:
     * still the sender's (never freed by the runtime). */
    assert_int_equal(tu_load(&handled) + st.dead_lettered, tu_load(&accepted));
    assert_int_equal(tu_load(&freed), tu_load(&accepted));
    tr_drain_stats st2;
    assert_int_equal(tr_runtime_drain_stats(rt, &st2), 0);
    for (int i = 0; i < 2; i++)
        tr_ref_release(targets[i]);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- the signal helper drains ------------------------------------------------ */

static void signal_drains_then_a_second_one_closes(void **state) {
    (void)state;
    tr_runtime *rt = rt_new(2);
    assert_int_equal(tr_runtime_drain_on_signals(rt, TU_WAIT_MS), 0);
    tr_ref *w = spawn_slow(rt);
    for (int i = 0; i < QUEUED; i++)
        assert_int_equal(tr_send_ptr(w, WORK, &handled, count_free), 0);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(tu_load(&handled), QUEUED); /* drained, not dead-lettered */
    assert_int_equal(st.dead_lettered, 0);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);

    /* A second signal while the drain waits on a blocked handler closes at
     * once: what is queued behind it is dead-lettered. */
    rt = rt_new(2);
    assert_int_equal(tr_runtime_close_on_signals(rt), 0);
    w = spawn_slow(rt);
    assert_int_equal(tr_send_word(w, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocking, 1, TU_WAIT_MS));
    for (int i = 0; i < BEHIND; i++)
        assert_int_equal(tr_send_ptr(w, WORK, &handled, count_free), 0);
    assert_int_equal(kill(getpid(), SIGINT), 0);
    int64_t t0 = tu_now_ms();
    while (tr_runtime_drain_stats(rt, &st) == TR_ESTATE && tu_now_ms() - t0 < TU_WAIT_MS)
        tu_sleep_ms(1);
    assert_int_equal(tr_runtime_drain_stats(rt, &st), TR_EBUSY); /* draining */
    assert_int_equal(kill(getpid(), SIGINT), 0);
    tu_sleep_ms(50); /* the close's stop request reaches the actor's mailbox */
    tu_store(&block_go, 1);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(tu_load(&handled) + st.dead_lettered, BEHIND);
    assert_true(st.dead_lettered > 0);
    tr_ref_release(w);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(drain_handles_everything_queued),
        cmocka_unit_test(drain_bad_calls_get_errors),
        cmocka_unit_test(drain_from_an_actor_is_refused_or_async),
        cmocka_unit_test(foreign_work_during_drain_is_refused),
        cmocka_unit_test(endless_actor_is_cut_off_at_the_deadline),
        cmocka_unit_test(blocked_actor_is_cut_off_at_the_deadline),
        cmocka_unit_test(supervisors_stop_top_down_in_reverse_start_order),
        cmocka_unit_test(drain_with_timers_and_io_live),
        cmocka_unit_test(drain_waits_for_blocking_tasks),
        cmocka_unit_test(stress_foreign_senders_while_drain_starts),
        cmocka_unit_test(signal_drains_then_a_second_one_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
