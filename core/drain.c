/* core/drain.c - graceful shutdown: refuse foreign work, let the actors
 * finish what is queued, stop the supervisors in order, then close.
 *
 * A drain moves the runtime RUNNING -> DRAINING with one CAS (the one
 * drainer; a second drain gets TR_EALREADY, a close after it moves DRAINING
 * -> CLOSING as from RUNNING). In DRAINING, sender_ok (core/send.c) and
 * tr_spawn refuse foreign threads exactly as a closed runtime does, and let
 * the runtime's own workers through, so actors keep sending, asking and
 * spawning (a supervisor restarts a crashed child) until the work runs out.
 *
 * "Quiet" (nothing left to do) is observed from outside, by sampling: every
 * worker parked with an empty LIFO slot, deque and post list, the global
 * queue empty, and none of that nor any worker's beat (core/worker.c) nor
 * the handled-message counters moved over QUIET_NS and at least
 * QUIET_SAMPLES looks, and no layer above core reports work in flight
 * (tr__ext.busy: io/'s blocking tasks, whose results come as messages). An actor with a message
 * queued is always somewhere in those queues or running on an awake worker, so quiet means every
 * mailbox is empty; the window makes a snapshot taken while a worker was
 * between two of those places (a timer callback waking an actor in a parked
 * worker's loop) unlikely to pass, and the deadline bounds the wait either
 * way. Timers and I/O watchers may keep firing: the runtime is quiet
 * between their messages.
 *
 * Then the layers above core stop what they own in order, through the
 * tr__ext.drain hook (actors/: supervisors top-down, newest root first),
 * core waits for quiet again, and closes (tr__runtime_begin_close: what is
 * still queued is dead-lettered) and waits for EXITING: every actor has
 * ended, so the counts are final. handled and dead_lettered are the growth
 * of the workers' handled counters and the runtime's dead-letter count over
 * the whole drain.
 *
 * The record (tr__drain in the runtime) belongs to the drainer from its
 * phase CAS NONE -> RUN until it stores DONE; tr_runtime_join waits for DONE
 * (the workers exit only after the drain's close, so this wait is short)
 * and joins an async drain's thread. That thread is created with the record
 * already owned, waits for `go` (the creator stored its handle) before it
 * runs, so a joiner that sees DONE also sees the handle. */
#include "core/drain.h"

#include <ck_pr.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "base/lock.h"
#include "core/futex.h"
#include "core/runtime.h"
#include "core/worker.h"
#include "troupe/error.h"

#define QUIET_NS 3000000ull /* quiet must hold this long... */
#define QUIET_SAMPLES 3     /* ...and for this many looks */
#define POLL_NS 500000ull   /* between two looks */
#define MAX_WORKERS 256     /* fill_defaults' bound (core/runtime.c) */

static void nap(uint64_t ns) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
                          .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t sum_handled(tr_runtime *rt) {
    uint64_t n = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += ck_pr_load_64(&rt->workers[i].handled); /* relaxed: owner-written counts */
    return n;
}

/* 1 if a layer above core has work in flight (io/: blocking tasks). */
static int layers_busy(tr_runtime *rt) {
    tr__ext ext[TR__EXT_COUNT];
    tr__spin_lock(&rt->pool_lock); /* registered under it, from any thread */
    memcpy(ext, rt->ext, sizeof(ext));
    tr__spin_unlock(&rt->pool_lock);
    for (unsigned i = 0; i < TR__EXT_COUNT; i++)
        if (ext[i].busy != NULL && ext[i].busy(rt, ext[i].data))
            return 1;
    return 0;
}

/* One look: 1 if nothing is runnable anywhere; beats[] gets every worker's
 * beat. The reads are hints (relaxed): a worker's own fields it writes
 * plainly; the window in wait_quiet is what makes the answer trustworthy. */
static int quiet_now(tr_runtime *rt, uint64_t *beats) {
    if (tr__inject_nonempty_any(&rt->global) || layers_busy(rt))
        return 0;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tr__worker *v = &rt->workers[i];
        if (!ck_pr_load_32(&v->parked) || ck_pr_load_ptr(&v->lifo) != NULL ||
            tr__deque_size_any(&v->dq) > 0 || ck_pr_load_ptr(&v->posts.head) != NULL)
            return 0;
        beats[i] = ck_pr_load_64(&v->beat);
    }
    return 1;
}

/* Wait until the runtime is quiet (1) or the deadline passed or someone
 * closed it (0). */
static int wait_quiet(tr_runtime *rt, uint64_t deadline_ns) {
    uint64_t beats[MAX_WORKERS], first[MAX_WORKERS];
    uint64_t since = 0, handled = 0;
    unsigned looks = 0;
    for (;;) {
        if (tr__runtime_closing(ck_pr_load_32(&rt->state)))
            return 0;
        uint64_t now = tr__mono_ns();
        uint64_t h = sum_handled(rt);
        if (!quiet_now(rt, beats)) {
            looks = 0;
        } else if (looks == 0 || h != handled ||
                   memcmp(beats, first, rt->nworkers * sizeof(beats[0])) != 0) {
            /* A new quiet stretch begins here. */
            memcpy(first, beats, rt->nworkers * sizeof(beats[0]));
            handled = h;
            since = now;
            looks = 1;
        } else if (++looks >= QUIET_SAMPLES && now - since >= QUIET_NS) {
            return 1;
        }
        if (now >= deadline_ns)
            return 0;
        uint64_t left = deadline_ns - now;
        nap(left < POLL_NS ? left : POLL_NS);
    }
}

/* The layers above core stop what they own (supervisors), in slot order. */
static void run_hooks(tr_runtime *rt, uint64_t deadline_ns) {
    tr__ext ext[TR__EXT_COUNT];
    tr__spin_lock(&rt->pool_lock); /* registered under it, from any thread */
    memcpy(ext, rt->ext, sizeof(ext));
    tr__spin_unlock(&rt->pool_lock);
    for (unsigned i = 0; i < TR__EXT_COUNT; i++)
        if (ext[i].drain != NULL && !tr__runtime_closing(ck_pr_load_32(&rt->state)))
            ext[i].drain(rt, ext[i].data, deadline_ns);
}

/* The drain proper, on the drainer's thread; the runtime is DRAINING (or a
 * close overtook us). */
static void drain_run(tr_runtime *rt) {
    tr__drain *d = &rt->drain;
    uint64_t deadline = d->start_ns + (uint64_t)d->deadline_ms * 1000000ull;
    int quiet = wait_quiet(rt, deadline);
    run_hooks(rt, deadline);
    /* What the supervisors' ends sent (terminate callbacks talk) is handled
     * too, if there is time. */
    quiet = wait_quiet(rt, deadline) && quiet;
    int64_t alive = tr__runtime_alive(rt);
    tr__runtime_begin_close(rt);
    /* Every actor ends now (one inside a long handler first returns from
     * it); the last to end moves the runtime to EXITING. */
    while (ck_pr_load_32(&rt->state) != TR__RT_EXITING)
        nap(POLL_NS);
    tr_drain_stats *st = &d->stats;
    st->handled = sum_handled(rt) - d->handled0;
    st->dead_lettered = ck_pr_load_64(&rt->dead_letters) - d->dead0;
    st->alive_at_close = alive > 0 ? (uint64_t)alive : 0;
    st->elapsed_ms = (tr__mono_ns() - d->start_ns) / 1000000ull;
    st->timed_out = !quiet;
    /* Release: the stats above are complete for whoever reads DONE. */
    TR__TSAN_RELEASE(&d->phase);
    ck_pr_fence_store();
    ck_pr_store_32(&d->phase, TR__DRAIN_DONE);
    tr__futex_wake(&d->phase, INT32_MAX);
}

/* Take the record and refuse foreign work: 0, or an error with nothing done. */
static int drain_begin(tr_runtime *rt, int deadline_ms) {
    if (rt == NULL || deadline_ms < 0)
        return TR_EINVAL;
    uint32_t st = ck_pr_load_32(&rt->state);
    if (st == TR__RT_FORKED)
        return TR_EFORKED;
    if (st == TR__RT_DRAINING)
        return TR_EALREADY;
    if (st != TR__RT_RUNNING)
        return TR_ECLOSED;
    /* One drainer: the CAS on phase (a full barrier) also orders the
     * record's fields after it for the joiner, which reads them after
     * seeing DONE. */
    if (!ck_pr_cas_32(&rt->drain.phase, TR__DRAIN_NONE, TR__DRAIN_RUN))
        return TR_EALREADY;
    rt->drain.deadline_ms = deadline_ms;
    rt->drain.start_ns = tr__mono_ns();
    memset(&rt->drain.stats, 0, sizeof(rt->drain.stats));
    if (!ck_pr_cas_32(&rt->state, TR__RT_RUNNING, TR__RT_DRAINING)) {
        /* Closed (or forked) between the two: the record says so. */
        ck_pr_store_32(&rt->drain.phase, TR__DRAIN_DONE);
        tr__futex_wake(&rt->drain.phase, INT32_MAX);
        return TR_ECLOSED;
    }
    /* Spawns that missed DRAINING are either refused later or accepted,
     * and then closed by our close like any other actor: no handshake. A
     * foreign send that read RUNNING just before the CAS pushes its
     * message, which is then handled or dead-lettered like any other. */
    /* The counts from here: an async drain's thread starts later. */
    rt->drain.handled0 = sum_handled(rt);
    rt->drain.dead0 = ck_pr_load_64(&rt->dead_letters);
    tr__runtime_space_freed(rt); /* blocked foreign tr_send_wait callers see ECLOSED */
    return 0;
}

int tr_runtime_drain(tr_runtime *rt, int deadline_ms, tr_drain_stats *out) {
    if (rt == NULL || deadline_ms < 0)
        return TR_EINVAL;
    if (tr__worker_current() != NULL) /* it would wait for its own turn to end */
        return TR_EDEADLK;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    int rc = drain_begin(rt, deadline_ms);
    if (rc != 0)
        return rc;
    drain_run(rt);
    if (out != NULL)
        *out = rt->drain.stats;
    return 0;
}

static void *drain_main(void *arg) {
    tr_runtime *rt = arg;
    /* Until the creator has stored our handle (see the file top). */
    while (ck_pr_load_32(&rt->drain.go) == 0)
        (void)tr__futex_wait(&rt->drain.go, 0, NULL);
    ck_pr_fence_load(); /* acquire: pairs with the creator's fence before go */
    TR__TSAN_ACQUIRE(&rt->drain.go);
    drain_run(rt);
    return NULL;
}

int tr_runtime_drain_async(tr_runtime *rt, int deadline_ms) {
    int rc = drain_begin(rt, deadline_ms);
    if (rc != 0)
        return rc;
    tr__drain *d = &rt->drain;
    ck_pr_store_32(&d->go, 0);
    if (pthread_create(&d->thread, NULL, drain_main, rt) != 0) {
        /* Take foreign work again (unless a close came meanwhile) and free
         * the record for a later drain. */
        (void)ck_pr_cas_32(&rt->state, TR__RT_DRAINING, TR__RT_RUNNING);
        ck_pr_store_32(&d->phase, TR__DRAIN_NONE);
        tr__futex_wake(&d->phase, INT32_MAX);
        return TR_ESYS;
    }
    d->threaded = 1;
    /* Release: `thread` and `threaded` before the thread may finish. */
    TR__TSAN_RELEASE(&d->go);
    ck_pr_fence_store();
    ck_pr_store_32(&d->go, 1);
    tr__futex_wake(&d->go, INT32_MAX);
    return 0;
}

int tr_runtime_drain_stats(tr_runtime *rt, tr_drain_stats *out) {
    if (rt == NULL || out == NULL)
        return TR_EINVAL;
    if (ck_pr_load_32(&rt->state) == TR__RT_FORKED)
        return TR_EFORKED;
    uint32_t ph = ck_pr_load_32(&rt->drain.phase);
    if (ph == TR__DRAIN_NONE)
        return TR_ESTATE;
    if (ph == TR__DRAIN_RUN)
        return TR_EBUSY;
    ck_pr_fence_load(); /* acquire: pairs with the store fence before DONE */
    TR__TSAN_ACQUIRE(&rt->drain.phase);
    *out = rt->drain.stats;
    return 0;
}

void tr__drain_join(tr_runtime *rt) {
    tr__drain *d = &rt->drain;
    uint32_t ph;
    while ((ph = ck_pr_load_32(&d->phase)) == TR__DRAIN_RUN)
        (void)tr__futex_wait(&d->phase, TR__DRAIN_RUN, NULL);
    ck_pr_fence_load(); /* acquire: threaded and thread, stored before go */
    TR__TSAN_ACQUIRE(&d->phase);
    if (ph == TR__DRAIN_DONE && d->threaded) {
        pthread_join(d->thread, NULL);
        d->threaded = 0;
    }
}
