/* core/pin.c - pinned actors: an actor that runs on one thread only.
 *
 * tr_spawn_opts.pin binds an actor to a worker, its `home` (tr_actor.home):
 * the main loop (rt->main: a current-thread runtime's one worker, or the
 * private worker of a multi-threaded runtime with main_loop, driven by
 * whoever calls tr_runtime_run / tr_runtime_block_on), or a private worker
 * made here with a thread of its own. The scheduler keeps the binding
 * (core/worker.c): a pinned actor made runnable on another thread goes to
 * its home's `pins` queue, never to the global queue or a deque that
 * thieves see; on its home it is queued only there. Nothing else changes:
 * its mailbox, links, monitors, asks and supervision are those of any actor.
 *
 * A thread of its own: made before the actor's block, so a spawn that fails
 * later only has to tell it to go (tr__pin_abandon); it runs the worker loop
 * (tr__worker_drive) until the actor has ended (finish calls
 * tr__pin_abandon) and then ends. Finished threads are joined and their
 * workers freed by the next TR_PIN_THREAD spawn, or by tr_runtime_join.
 * Invariants: a private worker is in no array of rt (nobody steals from it,
 * helps it or counts it as a sleeper); its worker struct lives until its
 * thread is joined, after its actor ended, so no new schedule can reach it
 * then (the actor's mailbox is closed), and until the last schedule that
 * began before the end has left it (tr__worker_pin_push_any counts itself
 * in `pin_pushers`; reap waits for 0). */
#include "core/pin.h"

#include <ck_pr.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "troupe/error.h"

typedef struct tr__pinw {
    tr__worker w; /* first: the worker's aligned members align the struct */
    struct tr__pinw *next;
    uint32_t gone;   /* the actor ended (or its spawn failed): leave (atomic) */
    uint32_t exited; /* the thread is about to return: join it (atomic) */
    pthread_t thread;
} tr__pinw;

static tr__pinw *pinw_of(tr__worker *w) {
    return (tr__pinw *)(void *)w; /* w is the first member */
}

static int pin_leave(tr__worker *w) {
    /* Pairs with the store in tr__pin_abandon; the flag orders nothing
     * else (the actor's end was published by its own turn, on this thread,
     * or by its spawn, which never scheduled it). */
    return ck_pr_load_32(&pinw_of(w)->gone) != 0;
}

static void *pin_main(void *arg) {
    tr__pinw *p = arg;
    tr__worker_drive(&p->w, 0);
    tr__worker_finish_owner(&p->w, 0);
    ck_pr_store_32(&p->exited, 1); /* the joiner's pthread_join orders the rest */
    return NULL;
}

static void pinw_free(tr__pinw *p) {
    tr__worker_destroy(&p->w);
    free(p);
}

/* Join and free the threads that have ended (all of them with `all`). */
static void reap(tr_runtime *rt, int all) {
    tr__pinw *done = NULL;
    pthread_mutex_lock(&rt->pin_mu);
    for (tr__pinw **pp = &rt->pinws; *pp != NULL;) {
        tr__pinw *p = *pp;
        if (all || ck_pr_load_32(&p->exited)) {
            *pp = p->next;
            p->next = done;
            done = p;
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&rt->pin_mu);
    while (done != NULL) {
        tr__pinw *next = done->next;
        pthread_join(done->thread, NULL);
        /* A sender that made the actor runnable just before it ended may
         * still be reading the worker (tr__worker_pin_push_any): wait for
         * it. A few instructions' window, so a yield is plenty. Acquire
         * after the load of 0: pairs with its release before the
         * decrement. */
        while (ck_pr_load_32(&done->w.pin_pushers) != 0)
            sched_yield();
        ck_pr_fence_acquire();
        TR__TSAN_ACQUIRE(&done->w.pin_pushers);
        pinw_free(done);
        done = next;
    }
}

void tr__pin_join_all(tr_runtime *rt) {
    reap(rt, 1);
}

int tr__pin_prepare(tr_runtime *rt, uint32_t pin, tr__worker **home) {
    *home = NULL;
    if (pin == TR_PIN_MAIN) {
        if (rt->main == NULL)
            return TR_EINVAL; /* no main loop: nobody would run it */
        *home = rt->main;
        return 0;
    }
    if (pin != TR_PIN_THREAD)
        return TR_EINVAL;
    reap(rt, 0);
    tr__pinw *p = aligned_alloc(TR__CACHELINE, sizeof(*p));
    if (p == NULL)
        return TR_ENOMEM;
    memset(p, 0, sizeof(*p));
    int rc = tr__worker_init(&p->w, rt, rt->nworkers + 1);
    if (rc != 0) {
        free(p);
        return rc;
    }
    tr__worker_make_private(&p->w);
    p->w.leave = pin_leave;
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) {
        pinw_free(p);
        return TR_ESYS;
    }
    if (rt->cfg.stack_size != 0)
        (void)pthread_attr_setstacksize(&attr, rt->cfg.stack_size);
    rc = pthread_create(&p->thread, &attr, pin_main, p);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pinw_free(p);
        return TR_ESYS;
    }
    pthread_mutex_lock(&rt->pin_mu);
    p->next = rt->pinws;
    rt->pinws = p;
    pthread_mutex_unlock(&rt->pin_mu);
    *home = &p->w;
    return 0;
}

void tr__pin_abandon(tr__worker *home) {
    if (home == NULL || home == home->rt->main)
        return;
    /* Seen by pin_leave at the thread's next poll or idle point; the kick
     * wakes it if it sleeps. */
    ck_pr_store_32(&pinw_of(home)->gone, 1);
    tr__worker_kick_any(home);
}
