/* core/worker.h - worker threads: run queues, stealing, parking, the loop.
 *
 * Each worker owns a libev loop, a work-stealing deque of runnable actors
 * (core/deque.h: the owner takes the newest, thieves the oldest) and a LIFO
 * slot that only the owner touches. Functions ending in _owner run only on that worker's
 * thread; _any on any thread.
 *
 * The loop: whoever runs it (libev calls, the loop's watchers and posts)
 * holds loop_mu. That is the owner, except while the owner is stuck in an
 * actor's turn: then another worker may take loop_mu and run the loop for
 * it, so no handler holds other actors' timers and I/O hostage (see
 * core/worker.c, "helping a stuck worker"). So "owner only" for loop state
 * means "under loop_mu"; callbacks and posts hold it already. */
#ifndef TR_CORE_WORKER_H
#define TR_CORE_WORKER_H

#include <ck_pr.h>
#include <ck_stack.h>
#include <ev.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>

#include "base/atomic.h"
#include "core/actor.h"
#include "core/deque.h"
#include "base/atomic.h"
#include "core/inject.h"

#define TR__DEQUE_SIZE 4096 /* local run queue slots (power of two) */
#define TR__WAKES_MAX 16    /* deferred future wake-ups per worker */

typedef struct tr__worker tr__worker;

/* A function to run on a worker's loop thread, handed over from any thread.
 * Embed it in your own request struct; fn owns it once it runs. */
typedef struct tr__post {
    ck_stack_entry_t link;
    void (*fn)(tr__worker *w, struct tr__post *p);
} tr__post;

/* Where tr_panic unwinds to: the worker loop, or a spawn running init. */
typedef struct tr__panic_frame {
    jmp_buf jb;
    tr_actor *actor; /* the actor whose callback may panic */
    int code;
    char text[TR__EXIT_TEXT];
} tr__panic_frame;

/* This thread's innermost panic frame (NULL if none). */
tr__panic_frame **tr__panic_slot(void);

struct tr__worker {
    /* Read by other threads. */
    tr_runtime *rt;
    unsigned id;
    uint32_t parked TR__ALIGNED; /* 1 while asleep or about to sleep */
    uint64_t beat;               /* owner's loop polls, and wake-ups (atomic, see poll_loop) */
    uint64_t seen_beat;          /* helpers: the beat last seen (atomic hint, see stuck_any) */
    uint64_t seen_ns;            /* helpers: when seen_beat was first seen (atomic hint) */
    uint32_t nwatchers;          /* active libev watchers of io/ (under loop_mu; atomic) */
    pthread_mutex_t loop_mu;     /* held by whoever runs the loop */
    tr__deque dq;                /* runnable actors: owner LIFO, thieves FIFO */
    ck_stack_t posts TR__ALIGNED;
    /* Actors pinned to this worker made runnable on other threads
     * (core/pin.c): only this worker takes them. */
    tr__inject pins;
    /* Threads inside tr__worker_pin_push_any on this worker (atomic): once
     * its push is in, the actor may run, end and its thread exit; a private
     * worker is freed (core/pin.c, reap) only when this is back to 0. */
    uint32_t pin_pushers;
    /* 1: a private worker (a main loop of a multi-threaded runtime, a pinned
     * actor's own thread): it runs only actors pinned to it, takes nothing
     * from the global queue, is never stolen from nor helps or is helped,
     * and is not counted in rt->sleepers. Set before it first runs. */
    uint8_t priv;
    /* Owner (the thread driving it): leave the run loop once this returns 1
     * (checked at the loop polls and when idle), or NULL. core/modes.c. */
    int (*leave)(tr__worker *w);
    void *leave_arg;
    /* Owner only. */
    tr_actor *lifo TR__ALIGNED;
    /* The `home` of the actors this worker's thread may put in its own LIFO
     * slot with one compare (tr__schedule_any): NULL for a shared worker
     * (unpinned actors), the worker itself for a private one (its pinned
     * actors). Set with priv, before it first runs. */
    struct tr__worker *own;
    unsigned lifo_streak;
    uint64_t picks;            /* turns run: the starvation guard's clock, and the metric
                                * (owner stores once per turn, snapshots load) */
    uint64_t last_aged;        /* picks at the last aging pick (fair_pick) */
    uint64_t ids, ids_end;     /* the range of actor ids this worker hands out (core/actor.c) */
    int notify_pending;        /* work became stealable during this turn */
    unsigned global_countdown; /* turns until the oldest work goes first */
    unsigned event_countdown;  /* turns until the loop is polled */
    uint64_t rng;
    tr__panic_frame frame; /* frame.actor: the actor being run */
    struct ev_loop *loop;
    ev_async wake;
    pthread_t thread;
    struct tr__block_cache { /* per block class, see core/blocks.c */
        tr_actor *head;
        unsigned count;
    } blocks[2];
    uint64_t help_ns;        /* when this worker last looked for stuck ones */
    uint64_t tick_ns;        /* its last clock read for that (help_tick) */
    unsigned help_polls;     /* polls between two such reads (adapts: help_tick) */
    unsigned help_countdown; /* polls until the next */
    ev_timer watchdog;       /* wakes a parked worker to look, see park() */
    uint64_t steals, parks, spawned, helps;
    /* Messages handled here while the runtime is not running (draining,
     * closing): a turn adds its count at its end (core/actor.c,
     * drain_count); any reads (core/drain.c). */
    uint64_t handled;
    /* Metrics (owner writes with stores, snapshots read; core/introspect.c);
     * turns are `picks`. */
    uint64_t parked_ns;  /* time asleep in park(), summed */
    uint64_t park_since; /* when the current sleep began, 0 awake */
    uint64_t poll_ns;    /* TR_METRICS_TIMING: the last loop poll */
    uint64_t lag_ns, lag_max_ns;
    int64_t alive; /* actors spawned minus ended here (owner writes, any reads) */
    int64_t live;  /* blocks referenced minus recycled here (likewise) */
    /* Sleeping foreign waiters of futures settled here, woken at the end of
     * the turn (see core/worker.c, deferred wake-ups). */
    tr_future *wakes[TR__WAKES_MAX] TR__ALIGNED;
    unsigned nwakes;
};

/* This thread's worker (of any runtime), or NULL: see tr__worker_of. */
extern __thread tr__worker *tr__tls_worker __attribute__((tls_model("initial-exec")));

/* The worker running on this thread (of any runtime), or NULL. */
tr__worker *tr__worker_current(void);
/* The worker of rt running on this thread, or NULL. */
static inline tr__worker *tr__worker_of(const tr_runtime *rt) {
    /* Inline: asked several times per send and spawn. initial-exec makes it
     * one %fs-relative load, even in libtroupe.so. */
    extern __thread tr__worker *tr__tls_worker __attribute__((tls_model("initial-exec")));
    tr__worker *w = tr__tls_worker;
    return (w != NULL && w->rt == rt) ? w : NULL;
}

/* The actor whose callback runs on this thread now (a turn on a worker, or
 * an init wherever tr_spawn runs it): the sender its sends carry
 * (core/send.c). Set by the worker loop and run_init; NULL elsewhere. */
extern __thread tr_actor *tr__tls_self __attribute__((tls_model("initial-exec")));

/* The actor of rt whose callback runs on this thread, with its id, or NULL
 * (a foreign thread, a worker between turns, an actor of another runtime).
 * Outside an actor this is one thread-local load; inside, two more loads
 * from the actor's own block, which its turn has in cache. */
static inline tr_actor *tr__worker_self(const tr_runtime *rt, uint64_t *id) {
    tr_actor *a = tr__tls_self;
    if (a == NULL || a->rt != rt)
        return NULL;
    *id = a->id;
    return a;
}

/* Wake f's sleeping waiter once the current turn (which then ends after
 * the current message) is over, instead of now: 1 if deferred (w then owns
 * the settler's reference to f and hands it to tr__future_wake_deferred),
 * 0 if the list is full. */
int tr__worker_defer_wake_owner(tr__worker *w, tr_future *f);

int tr__worker_init(tr__worker *w, tr_runtime *rt, unsigned id);
int tr__worker_start(tr__worker *w);
void tr__worker_destroy(tr__worker *w);

/* Run w on the calling thread (which becomes w's thread meanwhile) until
 * the runtime exits, or w->leave says so, or timeout_ms (> 0) passes. 1 if
 * it stopped because the runtime exits (call tr__worker_finish_owner
 * next), else 0. Not on a thread that already runs a worker. */
int tr__worker_drive(tr__worker *w, int64_t timeout_ms);
/* The end of a worker that saw the runtime exit: its posts, the extension
 * hooks (not for private workers), on_thread_stop, deferred wake-ups. Once
 * per worker, on the thread that drove it last. */
void tr__worker_finish_owner(tr__worker *w, int thread_hooks);
/* Wake w if it sleeps in its loop (any thread; a spurious wake-up is
 * harmless). From w's own thread, inside a turn: end the turn and poll
 * (so a leave condition that just became true is seen). */
void tr__worker_kick_any(tr__worker *w);
/* a, pinned to home (a->home), was made runnable: queue it there and wake
 * home (any thread but home's). */
void tr__worker_pin_push_any(tr__worker *home, tr_actor *a);
/* Make w private (see `priv`), before it first runs. */
static inline void tr__worker_make_private(tr__worker *w) {
    w->priv = 1;
    w->own = w;
}
/* 1 if w is private (a main loop of a multi-threaded runtime, a pinned
 * actor's own thread: see `priv`). */
static inline int tr__worker_is_private(const tr__worker *w) {
    return w->priv;
}

/* Make a runnable. From one of rt's workers it goes to that worker (LIFO
 * slot); from anywhere else to the global queue. */
void tr__schedule_any(tr_runtime *rt, tr_actor *a);

/* The end of every push into a's mailbox: a push that found a idle
 * (TR__MBOX_WOKE) made this thread its one waker (mailbox/mpsc.h), which
 * hands it to the scheduler. Returns 0 then, else the push's own result
 * (0, or TR_EDEAD, TR_EFULL...). */
static inline int tr__schedule_if_woke(tr_actor *a, int push_rc) {
    if (push_rc == TR__MBOX_WOKE) {
        tr__schedule_any(a->rt, a);
        return 0;
    }
    return push_rc;
}

/* Runtimes with TR_METRICS_TIMING on, process-wide (core/metrics.c): a send
 * stamps its message only while it is not 0, so one load of a read-mostly
 * word and a branch is all timing costs a send when it is off. */
extern uint32_t tr__timing_runtimes;
/* Stamp msg for a's runtime if its timing is on (core/metrics.c). */
void tr__metrics_stamp_any(tr_actor *a, tr_msg *msg);

/* Push msg into a's mailbox and schedule a if it was idle. Inline: it is
 * the end of every send. */
static inline int tr__actor_push(tr_actor *a, tr_msg *msg) {
    /* Relaxed: a sender that sees the switch late sends one unstamped
     * message, which is then not timed. */
    if (TR__UNLIKELY(ck_pr_load_32(&tr__timing_runtimes) != 0))
        tr__metrics_stamp_any(a, msg);
    return tr__schedule_if_woke(a, tr__mbox_push_mpsc(&a->mbox, msg));
}

/* Wake one sleeping worker if any (cheap when none sleeps). */
void tr__notify_any(tr_runtime *rt);
/* Wake every worker (shutdown). */
void tr__wake_all_any(tr_runtime *rt);

/* Run p->fn on w's thread soon. */
void tr__worker_post_any(tr__worker *w, tr__post *p);
struct ev_loop *tr__worker_loop(tr__worker *w);
/* Higher layers count the libev watchers they start/stop on w (under w's
 * loop_mu: in its callbacks and posts, or between the enter/leave below),
 * so the worker polls its loop between turns only when it has some, and
 * others know whether it has timers or I/O that could be held up. */
static inline void tr__worker_watchers_add_owner(tr__worker *w, int delta) {
    /* Changed under loop_mu; atomic for the unlocked readers (hints). */
    ck_pr_store_32(&w->nwatchers, (uint32_t)((int)ck_pr_load_32(&w->nwatchers) + delta));
}
/* From w's own thread, outside loop callbacks (e.g. an actor arming a
 * timer): take w's loop for direct libev calls. 1: taken (nests inside w's
 * own callbacks), call tr__worker_loop_leave_owner after; 0: not w's
 * thread, or it is running another worker's loop: post to w instead. */
int tr__worker_loop_enter_owner(tr__worker *w);
void tr__worker_loop_leave_owner(tr__worker *w);

#endif
