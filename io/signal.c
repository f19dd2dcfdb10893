/* io/signal.c - graceful shutdown on SIGINT/SIGTERM.
 *
 * libev delivers a signal to exactly one loop per process (the one whose
 * ev_signal watcher for it was started; starting one in a second loop is an
 * error in libev), so the watchers live on worker 0's loop only. libev's
 * handler is process-wide (sigaction) and wakes that loop through its pipe,
 * whichever thread the kernel interrupts. The watcher starts a drain on a
 * thread of its own (tr_runtime_drain_async: a worker cannot wait for it);
 * a second signal finds it started and closes at once. main then returns
 * from tr_runtime_join as usual. At worker shutdown the
 * watchers are stopped, which restores the default dispositions. */
#include <ck_pr.h>
#include <signal.h>
#include <stdlib.h>

#include "base/platform.h"
#include "core/runtime.h"
#include "io/io.h"
#include "troupe/error.h"
#include "troupe/io.h"

typedef struct sigw {
    tr__io_obj obj; /* first */
    tr__io *io;
    tr__worker *w;
    ev_signal sint, sterm;
    tr__post start;
    /* A foreign caller waits until the watchers are in place. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting, done;
} sigw;

static void started(sigw *s) {
    pthread_mutex_lock(&s->mu);
    s->done = 1;
    int waiting = s->waiting;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    (void)waiting;
}

static void on_signal(struct ev_loop *loop, ev_signal *ev, int revents) {
    (void)loop;
    (void)revents;
    sigw *s = ev->data;
    tr_runtime *rt = s->io->rt;
    /* Relaxed: a setting, written by tr_runtime_drain_on_signals. */
    int ms = ck_pr_load_int(&s->io->signal_drain_ms);
    /* The first signal drains (on a thread of its own: we are on a worker);
     * a second one finds the drain started (TR_EALREADY) and closes at once,
     * as does a failed start. */
    if (ms <= 0 || tr_runtime_drain_async(rt, ms) != 0)
        tr_runtime_close(rt);
}

static void sig_free(sigw *s) {
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static void teardown(tr__io_obj *o) {
    sigw *s = (sigw *)(void *)o;
    struct ev_loop *loop = tr__worker_loop(s->w);
    ev_signal_stop(loop, &s->sint);
    ev_signal_stop(loop, &s->sterm);
    tr__worker_watchers_add_owner(s->w, -1);
    sig_free(s);
}

static void start_post(tr__worker *w, tr__post *p) {
    sigw *s = tr__container_of(p, sigw, start);
    if (tr__io_closed_owner(s->io, w)) {
        /* Shutting down: the waiter (if any) frees it. */
        pthread_mutex_lock(&s->mu);
        int waiting = s->waiting;
        s->done = -1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (!waiting)
            sig_free(s);
        return;
    }
    struct ev_loop *loop = tr__worker_loop(w);
    ev_signal_init(&s->sint, on_signal, SIGINT);
    ev_signal_init(&s->sterm, on_signal, SIGTERM);
    s->sint.data = s->sterm.data = s;
    ev_signal_start(loop, &s->sint);
    ev_signal_start(loop, &s->sterm);
    tr__worker_watchers_add_owner(w, +1);
    s->obj.teardown = teardown;
    tr__io_obj_add_owner(s->io, w, &s->obj);
    started(s);
}

int tr_runtime_close_on_signals(tr_runtime *rt) {
    return tr_runtime_drain_on_signals(rt, TR_DRAIN_SIGNAL_MS);
}

int tr_runtime_drain_on_signals(tr_runtime *rt, int deadline_ms) {
    if (rt == NULL || deadline_ms < 0)
        return TR_EINVAL;
    if (ck_pr_load_32(&rt->state) == TR__RT_FORKED)
        return TR_EFORKED;
    tr__io *io = tr__io_get(rt);
    if (io == NULL)
        return TR_ENOMEM;
    ck_pr_store_int(&io->signal_drain_ms, deadline_ms); /* a later call updates it */
    pthread_mutex_lock(&io->lock);
    int already = io->signals_on;
    io->signals_on = 1;
    pthread_mutex_unlock(&io->lock);
    if (already)
        return 0;
    sigw *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return TR_ENOMEM;
    s->io = io;
    s->w = &rt->workers[0];
    s->start.fn = start_post;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* A foreign thread (typically main) waits until the watchers are
     * started, so a signal right after the call is already handled. */
    int wait = tr__worker_of(rt) == NULL;
    s->waiting = wait;
    int rc = tr__io_post(io, s->w, &s->start);
    if (rc != 0) {
        sig_free(s);
        return rc;
    }
    if (!wait)
        return 0;
    pthread_mutex_lock(&s->mu);
    while (s->done == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    int failed = s->done < 0;
    pthread_mutex_unlock(&s->mu);
    if (failed) {
        sig_free(s);
        return TR_ECLOSED;
    }
    return 0;
}
