/* core/modes.c - runtime modes: who runs the main loop, and until when.
 *
 * A current-thread runtime has one worker, workers[0], and no thread: it is
 * run by whichever thread drives it (tr_runtime_run, tr_runtime_block_on, a
 * tr_future_wait nobody else drives for, tr_runtime_join). A multi-threaded
 * runtime with main_loop has, besides its pool, a private worker (rt->main)
 * driven the same way, where only actors pinned to it (TR_PIN_MAIN) run.
 * Either way the driven worker is an ordinary tr__worker: the thread takes
 * it for the drive (tr__worker_drive sets the thread's worker, so sends,
 * spawns, posts and timers from its actors behave as on any worker) and
 * gives it back when the drive ends.
 *
 * One driver at a time: rt->drive moves IDLE -> BUSY when a thread claims
 * the loop and back to IDLE when its drive ends, or to DONE when the drive
 * saw the runtime exit (then the worker's end, tr__worker_finish_owner, has
 * run, once). Changed under join_mu; drive_cv tells waiters (join, a
 * second waiter) that it left BUSY. A drive ends when the runtime exits,
 * or, for block_on, once its future is settled (the settler kicks the
 * driver's loop: tr__future_set_driver) or its deadline passed (a timer on
 * the loop wakes it). What is runnable then stays queued on the worker for
 * the next drive: nobody else takes it (workers[0] is the only worker of a
 * current-thread runtime; a private worker is nobody's victim). */
#include <ck_pr.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/modes.h"
#include "core/ask.h"
#include "core/futex.h"
#include "core/pin.h"
#include "core/runtime.h"
#include "troupe/error.h"

#define TAKEOVER_MS 5 /* a second waiter looks this often whether the driver left */

int tr__modes_init(tr_runtime *rt) {
    if (rt->current_thread) {
        rt->main = &rt->workers[0];
        return 0;
    }
    if (!rt->cfg.main_loop)
        return 0;
    tr__worker *w = aligned_alloc(TR__CACHELINE, sizeof(*w));
    if (w == NULL)
        return TR_ENOMEM;
    int rc = tr__worker_init(w, rt, rt->nworkers);
    if (rc != 0) {
        free(w);
        return rc;
    }
    tr__worker_make_private(w);
    rt->main = w;
    return 0;
}

void tr__modes_destroy(tr_runtime *rt) {
    tr__pin_join_all(rt); /* normally done by join; after a failed new, none */
    if (rt->main != NULL && rt->main->priv) {
        tr__worker_destroy(rt->main);
        free(rt->main);
    }
    rt->main = NULL;
}

/* Claim the main loop: the state found (TR__DRIVE_IDLE: it is ours now). */
static uint32_t claim(tr_runtime *rt, int wait_busy) {
    pthread_mutex_lock(&rt->join_mu);
    while (wait_busy && ck_pr_load_32(&rt->drive) == TR__DRIVE_BUSY)
        pthread_cond_wait(&rt->drive_cv, &rt->join_mu);
    uint32_t st = ck_pr_load_32(&rt->drive);
    if (st == TR__DRIVE_IDLE)
        ck_pr_store_32(&rt->drive, TR__DRIVE_BUSY);
    pthread_mutex_unlock(&rt->join_mu);
    return st;
}

/* Our drive ended; `exited`: it saw the runtime exit. */
static void unclaim(tr_runtime *rt, int exited) {
    if (exited)
        tr__worker_finish_owner(rt->main, 0);
    pthread_mutex_lock(&rt->join_mu);
    ck_pr_store_32(&rt->drive, exited ? TR__DRIVE_DONE : TR__DRIVE_IDLE);
    pthread_cond_broadcast(&rt->drive_cv);
    pthread_mutex_unlock(&rt->join_mu);
}

/* Drive to the end (the runtime exits): we hold the claim. */
static void drive_to_end(tr_runtime *rt) {
    rt->main->leave = NULL;
    int exited = tr__worker_drive(rt->main, 0);
    unclaim(rt, exited);
}

int tr_runtime_run(tr_runtime *rt) {
    if (rt == NULL || rt->main == NULL)
        return TR_EINVAL;
    if (tr__worker_current() != NULL)
        return TR_EDEADLK;
    uint32_t st = claim(rt, 0);
    if (st != TR__DRIVE_IDLE)
        return st == TR__DRIVE_BUSY ? TR_EBUSY : TR_ECLOSED;
    drive_to_end(rt);
    return 0;
}

void tr__modes_join(tr_runtime *rt) {
    if (rt->main == NULL)
        return;
    /* Wait for a driver to finish; if it stopped short of the end
     * (block_on), drive the rest ourselves. */
    while (claim(rt, 1) == TR__DRIVE_IDLE)
        drive_to_end(rt);
}

static int leave_now(tr__worker *w) {
    (void)w;
    return 1;
}

void tr__modes_poke(tr_runtime *rt) {
    if (!rt->current_thread || tr__worker_current() != NULL || claim(rt, 0) != TR__DRIVE_IDLE)
        return;
    rt->main->leave = leave_now; /* one pass: up to the first loop poll */
    int exited = tr__worker_drive(rt->main, 0);
    rt->main->leave = NULL;
    unclaim(rt, exited);
}

/* --- driving until a future settles -------------------------------------- */

typedef struct until {
    tr_future *f;
    uint64_t deadline; /* tr__mono_ns; 0: none */
} until;

static int until_leave(tr__worker *w) {
    until *u = w->leave_arg;
    return tr_future_is_ready(u->f) || (u->deadline != 0 && tr__mono_ns() >= u->deadline);
}

static uint64_t deadline_of(int64_t timeout_ms) {
    return timeout_ms > 0 ? tr__mono_ns() + (uint64_t)timeout_ms * 1000000u : 0;
}

static int64_t left_ms(uint64_t deadline) {
    if (deadline == 0)
        return -1;
    uint64_t now = tr__mono_ns();
    return now >= deadline ? 0 : (int64_t)((deadline - now + 999999u) / 1000000u);
}

/* Drive main until f settles or the deadline passes: we hold the claim. */
static void drive_until(tr_runtime *rt, tr_future *f, uint64_t deadline) {
    tr__worker *w = rt->main;
    until u = {f, deadline};
    if (tr__future_set_driver(f, w)) { /* settled already */
        tr__future_set_driver(f, NULL);
        unclaim(rt, 0);
        return;
    }
    w->leave = until_leave;
    w->leave_arg = &u;
    int exited = tr__worker_drive(w, left_ms(deadline) > 0 ? left_ms(deadline) : 0);
    w->leave = NULL;
    w->leave_arg = NULL;
    tr__future_set_driver(f, NULL);
    unclaim(rt, exited);
}

int tr_runtime_block_on(tr_runtime *rt, tr_future *f, int64_t timeout_ms, tr_msg **reply) {
    if (reply != NULL)
        *reply = NULL;
    if (rt == NULL || f == NULL || reply == NULL || tr__future_runtime(f) != rt)
        return TR_EINVAL;
    if (tr__worker_current() != NULL)
        return TR_EDEADLK;
    if (rt->main == NULL || timeout_ms == 0 || tr_future_is_ready(f))
        return tr__future_wait_plain(f, timeout_ms, reply); /* the workers drive */
    uint64_t deadline = deadline_of(timeout_ms);
    uint32_t st = claim(rt, 0);
    if (st == TR__DRIVE_BUSY)
        return TR_EBUSY;
    if (st == TR__DRIVE_IDLE)
        drive_until(rt, f, deadline);
    /* Settled, timed out, or the runtime exited (a promise held outside
     * may still settle f: wait out the rest). */
    return tr__future_wait_plain(f, left_ms(deadline), reply);
}

int tr__modes_wait(tr_future *f, int64_t timeout_ms, tr_msg **reply) {
    tr_runtime *rt = tr__future_runtime(f);
    uint64_t deadline = deadline_of(timeout_ms);
    for (;;) {
        uint32_t st = claim(rt, 0);
        if (st == TR__DRIVE_IDLE) {
            drive_until(rt, f, deadline);
            break;
        }
        if (st == TR__DRIVE_DONE)
            break;
        /* Another thread drives: wait a little, then look again (it may
         * stop, its own future settled, before ours is). */
        int64_t left = left_ms(deadline);
        int64_t slice = left < 0 || left > TAKEOVER_MS ? TAKEOVER_MS : left;
        int rc = tr__future_wait_plain(f, slice, reply);
        if (rc != TR_ETIMEDOUT || left == slice)
            return rc;
    }
    return tr__future_wait_plain(f, left_ms(deadline), reply);
}
