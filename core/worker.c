/* core/worker.c - worker threads: where actors run.
 *
 * Each worker loops: pick an actor, run one turn of it, repeat. It picks from,
 * in order: every `global_interval` picks the global queue (injected and
 * yielded actors), or its own oldest actor if that has waited too long, so
 * nothing starves; its LIFO slot (the actor
 * its last turn woke: request/reply stays on one core and in cache, as in
 * Tokio); its deque, newest first (depth-first: a spawning tree stays small
 * in memory); the global queue; and finally the oldest actor of another
 * worker's deque (stealing). An actor that used up its batch goes to the back
 * of the global queue. With nothing to do a worker spins a bounded number of
 * rounds, then parks in its libev loop (ev_run EVRUN_ONCE): no CPU while idle.
 *
 * Parking is a Dekker handshake with the producers of work:
 *   parker:   parked = 1; sleepers++ (full barrier); re-check every queue; sleep
 *   producer: publish work; full barrier; if sleepers: CAS some parked 1->0 and
 *             ev_async_send it
 * Either the parker's re-check sees the work, or the producer sees the
 * sleeper; the CAS on `parked` makes exactly one party undo the count.
 * ev_async_send is libev's only thread-safe call and makes no syscall unless
 * the target loop is blocked in poll.
 *
 * Helping a stuck worker: a worker's timers and I/O live on its loop, which
 * it runs only between turns. A handler that blocks or spins would hold them
 * all back, so the loop is not the worker's alone: whoever runs it holds
 * loop_mu, and a worker that has not run its loop for STUCK_NS while awake
 * is helped: another worker takes its loop_mu (trylock) and runs its posts
 * and its loop (EVRUN_NOWAIT) on its behalf. Expired timers and ready fds
 * then deliver their messages from the helper, whose own queues get the
 * actors they wake. A worker counts its polls (`beat`, no clock read); the
 * helpers time it: a beat they have seen unchanged for STUCK_NS is stuck.
 * Helpers look about every STUCK_NS/2 between their own turns, reading the
 * clock once per `help_polls` (1-16) polls, a count that adapts to the length
 * of the turns; a parked worker looks too, woken by a WATCH_S watchdog timer
 * that it arms only while some other worker is awake (so an idle runtime
 * still sleeps). See docs/design.md, "A blocked handler".
 *
 * Runtime modes (docs/runtime-modes.md): a worker need not own a thread.
 * tr__worker_drive runs the same loop on whatever thread calls it (a
 * current-thread runtime's workers[0], a main loop), until w->leave says so.
 * Private workers (a main loop beside the pool, a pinned actor's thread) run
 * only the actors pinned to them: a pinned actor made runnable elsewhere
 * goes to its home's `pins` queue (tr__worker_pin_push_any), never to the
 * global queue or another worker's deque; on its home it is queued only
 * there, and a private worker's deque is invisible to thieves (it is not in
 * rt->workers). */
#include "core/worker.h"

#include <assert.h>
#include <ck_pr.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/lock.h"
#include "base/platform.h"
#include "core/ask.h"
#include "core/blocks.h"
#include "core/futex.h"
#include "core/runtime.h"
#include "troupe/error.h"

#define LIFO_MAX 32       /* LIFO turns in a row before older work gets a turn */
#define GLOBAL_BATCH 32   /* most actors one take moves from the global queue */
#define STARVE (1u << 16) /* picks the oldest local actor may wait */
#define STEAL_MAX 32      /* most actors one steal takes */
#define AGING_GAP 4096    /* picks between two aging picks, at least */
#define IDLE_PAUSES 8     /* pause instructions per idle spin round (~40 ns each) */
#define STUCK_NS 2000000  /* a worker awake this long without running its loop is helped */
#define HELP_POLLS_MAX 16 /* most polls between two clock reads of a helper */
#define WATCH_S 0.002     /* a parked worker looks for stuck ones this often, if any may be */

/* initial-exec: a plain %fs-relative load, even in libtroupe.so. */
__thread tr__worker *tr__tls_worker __attribute__((tls_model("initial-exec")));
__thread tr_actor *tr__tls_self __attribute__((tls_model("initial-exec")));
static __thread tr__panic_frame *tls_frame __attribute__((tls_model("initial-exec")));

tr__panic_frame **tr__panic_slot(void) {
    return &tls_frame;
}

tr__worker *tr__worker_current(void) {
    return tr__tls_worker;
}

struct ev_loop *tr__worker_loop(tr__worker *w) {
    return w->loop;
}

/* --- the loop lock ---------------------------------------------------------- */

/* The loop this thread holds (its own, or a stuck worker's it helps) and how
 * deep: enter_owner nests inside the owner's own callbacks. */
static __thread tr__worker *tls_loop_held __attribute__((tls_model("initial-exec")));
static __thread unsigned tls_loop_depth __attribute__((tls_model("initial-exec")));

static void loop_lock(tr__worker *w) {
    pthread_mutex_lock(&w->loop_mu);
    tls_loop_held = w;
    tls_loop_depth = 1;
}

static int loop_trylock(tr__worker *w) {
    if (pthread_mutex_trylock(&w->loop_mu) != 0)
        return 0;
    tls_loop_held = w;
    tls_loop_depth = 1;
    return 1;
}

static void loop_unlock(tr__worker *w) {
    tls_loop_held = NULL;
    tls_loop_depth = 0;
    pthread_mutex_unlock(&w->loop_mu);
}

static void ensure_watcher_any(tr__worker *w);

int tr__worker_loop_enter_owner(tr__worker *w) {
    if (tr__tls_worker != w)
        return 0;
    if (tls_loop_held == w) {
        tls_loop_depth++;
        return 1;
    }
    /* Helping another worker: blocking on our own lock here could wait on
     * a helper of ours that waits on us. The caller posts instead. */
    if (tls_loop_held != NULL)
        return 0;
    ensure_watcher_any(w); /* a turn arms something: we may get stuck with it */
    loop_lock(w);
    return 1;
}

void tr__worker_loop_leave_owner(tr__worker *w) {
    if (--tls_loop_depth == 0)
        loop_unlock(w);
}

static inline tr_actor *actor_of_link(ck_stack_entry_t *e) {
    return tr__container_of(e, tr_actor, qlink);
}

static void global_push(tr_runtime *rt, tr_actor *a) {
    tr__inject_push_any(&rt->global, &a->qlink);
}

/* The local deque; overflow goes to the global queue. */
static void local_push(tr__worker *w, tr_actor *a) {
    /* Atomic (relaxed): fair_pick may read it through a stale peek while
     * the actor is being queued elsewhere; the value is only a hint. */
    ck_pr_store_32(&a->enq_pick, (uint32_t)w->picks);
    if (TR__LIKELY(tr__deque_push_owner(&w->dq, a)))
        return;
    if (TR__UNLIKELY(a->home != NULL)) /* pinned (here): never to the global queue */
        tr__inject_push_any(&a->home->pins, &a->qlink);
    else
        global_push(w->rt, a);
}

/* An actor pinned here, made runnable elsewhere: run the oldest, keep the
 * rest (at most GLOBAL_BATCH) in our deque, which only we read when w is
 * private or alone (a current-thread runtime). */
static tr_actor *pins_take(tr__worker *w) {
    ck_stack_entry_t *e;
    if (TR__LIKELY(!tr__inject_nonempty_any(&w->pins)))
        return NULL;
    unsigned max = tr__deque_size_any(&w->dq) < TR__DEQUE_SIZE / 2 ? GLOBAL_BATCH : 1;
    if (tr__inject_take_any(&w->pins, max, &e) == 0)
        return NULL;
    tr_actor *first = actor_of_link(e);
    tr_actor *rest[GLOBAL_BATCH];
    unsigned k = 0;
    for (e = e->next; e != NULL; e = e->next)
        rest[k++] = actor_of_link(e);
    while (k > 0)
        local_push(w, rest[--k]);
    return first;
}

/* Take a batch from the global queue: run the first, keep the rest here
 * (where thieves can see them). */
static tr_actor *global_take(tr__worker *w) {
    ck_stack_entry_t *e;
    /* A batch only while our deque has room for it; else one actor, so a
     * take never overflows back into the global queue. */
    unsigned max = tr__deque_size_any(&w->dq) < TR__DEQUE_SIZE / 2 ? GLOBAL_BATCH : 1;
    unsigned n = tr__inject_take_any(&w->rt->global, max, &e);
    if (n == 0)
        return NULL;
    tr_actor *first = actor_of_link(e);
    /* Push the rest newest-first so the owner pops them in FIFO order. */
    tr_actor *rest[GLOBAL_BATCH];
    unsigned k = 0;
    for (e = e->next; e != NULL; e = e->next)
        rest[k++] = actor_of_link(e);
    while (k > 0)
        local_push(w, rest[--k]);
    if (n > 1)
        tr__notify_any(w->rt);
    return first;
}

/* Steal from some other worker (random first victim): half of its deque,
 * oldest first, at most STEAL_MAX. Run the oldest, keep the rest here, pushed
 * so that our owner end pops them oldest first too. A batch, not one, so an
 * idle worker does not come back to the victim for every actor. */
static tr_actor *steal(tr__worker *w) {
    tr_runtime *rt = w->rt;
    unsigned n = rt->nworkers;
    w->rng = w->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    unsigned start = (unsigned)(w->rng >> 33) % n;
    for (unsigned i = 0; i < n; i++) {
        tr__worker *v = &rt->workers[(start + i) % n];
        if (v == w)
            continue;
        tr_actor *first = tr__deque_steal_any(&v->dq);
        if (first == NULL)
            continue;
        uint64_t want = tr__deque_size_any(&v->dq) / 2;
        tr_actor *rest[STEAL_MAX];
        unsigned k = 0;
        while (k < want && k < STEAL_MAX && (rest[k] = tr__deque_steal_any(&v->dq)) != NULL)
            k++;
        while (k > 0) /* newest first, so our LIFO end gives the oldest next */
            local_push(w, rest[--k]);
        ck_pr_store_64(&w->steals, w->steals + 1); /* owner writes, stats read */
        return first;
    }
    return NULL;
}

/* Fairness, checked every global_interval picks: injected and yielded actors
 * (the global queue) first; else the oldest actor of our own deque if it has
 * waited more than STARVE picks. Only aged work is taken from the old end:
 * in a spawning tree the oldest entry is the biggest unexplored subtree, and
 * running it early turns depth-first into breadth-first (skynet's memory). */
static tr_actor *fair_pick(tr__worker *w) {
    tr_actor *a = global_take(w);
    if (a != NULL)
        return a;
    if ((a = pins_take(w)) != NULL) /* actors pinned here (a current-thread runtime) */
        return a;
    tr_actor *old = tr__deque_peek_top_any(&w->dq);
    /* At most one aging pick per AGING_GAP picks: each starts a new
     * depth-first walk, and doing it every few picks is breadth-first again. */
    if (old != NULL && w->picks - w->last_aged >= AGING_GAP &&
        (uint32_t)w->picks - ck_pr_load_32(&old->enq_pick) > STARVE) {
        w->last_aged = w->picks;
        return tr__deque_steal_any(&w->dq);
    }
    return NULL;
}

static inline __attribute__((always_inline)) tr_actor *next_actor(tr__worker *w) {
    tr_actor *a;
    /* A countdown, not `picks % interval`: a divide per turn costs ~30 cycles. */
    if (TR__UNLIKELY(--w->global_countdown == 0)) {
        w->global_countdown = w->rt->cfg.global_interval;
        if ((a = fair_pick(w)) != NULL) {
            if (w->lifo != NULL) { /* the slot's actor waits its turn */
                local_push(w, w->lifo);
                w->lifo = NULL;
            }
            w->lifo_streak = 0;
            return a;
        }
    }
    if (w->lifo != NULL) {
        a = w->lifo;
        w->lifo = NULL;
        if (w->lifo_streak < LIFO_MAX) {
            w->lifo_streak++;
            return a;
        }
        /* A long LIFO chain (two actors ping-ponging): the newest other
         * runnable actor goes first, the chain continues after it. */
        w->lifo_streak = 0;
        tr_actor *b = tr__deque_pop_owner(&w->dq);
        if (b == NULL)
            return a;
        local_push(w, a);
        return b;
    }
    w->lifo_streak = 0;
    if ((a = tr__deque_pop_owner(&w->dq)) != NULL)
        return a;
    if ((a = pins_take(w)) != NULL)
        return a;
    if ((a = global_take(w)) != NULL)
        return a;
    return steal(w);
}

/* A private worker's pick: its LIFO slot (a pinned pair ping-pongs there
 * too), its deque (only its own pinned actors), then those woken elsewhere.
 * Every global_interval picks the queue of those first, so a chain in the
 * LIFO slot cannot starve them. */
static inline __attribute__((always_inline)) tr_actor *next_private(tr__worker *w) {
    tr_actor *a;
    if (TR__UNLIKELY(--w->global_countdown == 0)) {
        w->global_countdown = w->rt->cfg.global_interval;
        if ((a = pins_take(w)) != NULL) {
            if (w->lifo != NULL) {
                local_push(w, w->lifo);
                w->lifo = NULL;
            }
            return a;
        }
    }
    if (w->lifo != NULL) {
        a = w->lifo;
        w->lifo = NULL;
        return a;
    }
    if ((a = tr__deque_pop_owner(&w->dq)) != NULL)
        return a;
    return pins_take(w);
}

/* --- scheduling and waking ---------------------------------------------- */

void tr__notify_any(tr_runtime *rt) {
    /* Orders our publication of work (a deque store, or a CAS) before reading
     * `sleepers`; pairs with the locked increment in park(). */
    tr__fence_full();
    if (ck_pr_load_32(&rt->sleepers) == 0)
        return;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tr__worker *v = &rt->workers[i];
        /* The CAS decides who undoes the sleeper count: us or the parker. */
        if (ck_pr_load_32(&v->parked) && ck_pr_cas_32(&v->parked, 1, 0)) {
            ck_pr_dec_32(&rt->sleepers);
            ev_async_send(v->loop, &v->wake);
            return;
        }
    }
}

void tr__wake_all_any(tr_runtime *rt) {
    for (unsigned i = 0; i < rt->nworkers; i++)
        ev_async_send(rt->workers[i].loop, &rt->workers[i].wake);
    if (rt->main != NULL && rt->main->priv) /* a main loop beside the pool */
        ev_async_send(rt->main->loop, &rt->main->wake);
}

/* The rest of tr__schedule_any: a foreign thread, a pinned actor, a
 * private worker. */
static __attribute__((noinline)) void schedule_slow(tr_runtime *rt, tr_actor *a, tr__worker *w) {
    if (a->home != NULL && a->home != w) { /* pinned elsewhere */
        tr__worker_pin_push_any(a->home, a);
        return;
    }
    /* A private worker keeps only its own pinned actors (a->home == w). */
    if (w != NULL && (!w->priv || a->home == w)) {
        tr_actor *prev = w->lifo;
        w->lifo = a;
        if (prev != NULL) {
            local_push(w, prev);
            w->notify_pending = 1;
        }
        return;
    }
    global_push(rt, a);
    tr__notify_any(rt);
}

void tr__schedule_any(tr_runtime *rt, tr_actor *a) {
    tr__worker *w = tr__worker_of(rt);
    /* One compare for the common case, an unpinned actor woken on a shared
     * worker (NULL == NULL), or a private worker's own pinned actor: both
     * go to this worker's LIFO slot. a->home is on the line the sender read
     * a->rt from, w->own beside w->lifo. Everything else: schedule_slow. */
    if (TR__LIKELY(w != NULL) && TR__LIKELY(a->home == w->own)) {
        tr_actor *prev = w->lifo;
        w->lifo = a;
        if (prev != NULL) {
            local_push(w, prev);
            w->notify_pending = 1; /* two runnable here: one can be stolen */
        }
        return;
    }
    schedule_slow(rt, a, w);
}

/* a used up its batch with messages left: to the back of the global queue,
 * so everything else runnable gets a turn first. */
static void yield_owner(tr__worker *w, tr_actor *a) {
    if (TR__UNLIKELY(a->home != NULL)) { /* pinned here: it waits behind the others here */
        tr__inject_push_any(&w->pins, &a->qlink);
        return;
    }
    global_push(w->rt, a);
    if (w->lifo != NULL || tr__deque_size_any(&w->dq) > 0)
        tr__notify_any(w->rt);
}

/* --- posts: work handed to this worker's thread -------------------------- */

void tr__worker_post_any(tr__worker *w, tr__post *p) {
    /* Publishes *p to run_posts; pairs with its acquire. */
    tr__stack_push_upmc(&w->posts, &p->link);
    ev_async_send(w->loop, &w->wake);
    /* An awake w runs it between turns, unless a handler holds it: make
     * sure a sleeper keeps watch (parked, w is woken by the send above). */
    if (!ck_pr_load_32(&w->parked))
        ensure_watcher_any(w);
}

static void run_posts(tr__worker *w) {
    if (CK_STACK_FIRST(&w->posts) == NULL)
        return;
    ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&w->posts);
    TR__TSAN_ACQUIRE(&w->posts);
    ck_stack_entry_t *fifo = NULL;
    while (e != NULL) {
        ck_stack_entry_t *next = e->next;
        e->next = fifo;
        fifo = e;
        e = next;
    }
    while (fifo != NULL) {
        tr__post *p = (tr__post *)(void *)fifo;
        fifo = fifo->next;
        p->fn(w, p);
    }
}

static void wake_cb(struct ev_loop *loop, ev_async *wake, int revents) {
    (void)loop;
    (void)revents;
    run_posts(wake->data);
}

/* --- deferred wake-ups ----------------------------------------------------- */

/* A reply settled here for a foreign thread asleep on its future wakes that
 * thread at the end of the turn, not in the middle of it: the futex wake is
 * a syscall, and the woken thread often preempts the worker that woke it,
 * which then holds the actor mid-turn, where no other worker can run it and
 * its queued jobs wait. The turn ends right after the message whose reply
 * deferred the wake (TR__AFTER_WAKES: a reply never waits behind another,
 * maybe long, handler), and the wake goes out at the loop poll right after
 * it (the poll countdown is set to 1; riding on it costs the turn loop
 * nothing, where a check after every turn cost ring 4%). Measured in bench/
 * pool: waking at once 1.05-1.11 M jobs/s, at the end of the handler the
 * same, after the turn 1.5 M. */
int tr__worker_defer_wake_owner(tr__worker *w, tr_future *f) {
    if (w->nwakes == TR__WAKES_MAX)
        return 0;
    w->event_countdown = 1;
    if (w->frame.actor != NULL)
        tr__actor_end_turn_after_message_owner(w->frame.actor);
    w->wakes[w->nwakes++] = f;
    return 1;
}

static void flush_wakes(tr__worker *w) {
    unsigned n = w->nwakes;
    w->nwakes = 0;
    for (unsigned i = 0; i < n; i++)
        tr__future_wake_deferred(w->wakes[i]);
}

/* --- helping a stuck worker (see the file top) ----------------------------- */

/* v is awake, has not run its loop for STUCK_NS, and has something there.
 * "Not run": its beat is the one a helper (any) saw at seen_ns. The seen_*
 * pair is a hint shared by the helpers, all relaxed: two helpers racing on
 * it can only move seen_ns by the gap between their clock readings, which
 * makes a help that much early or late, never wrong (a helped loop that
 * was not stuck is run once by the helper, as the owner would). */
static int stuck_any(tr__worker *v, uint64_t now) {
    if (ck_pr_load_32(&v->parked))
        return 0;
    uint64_t beat = ck_pr_load_64(&v->beat);
    if (beat != ck_pr_load_64(&v->seen_beat)) { /* it ran its loop since: time it from now */
        ck_pr_store_64(&v->seen_beat, beat);
        ck_pr_store_64(&v->seen_ns, now);
        return 0;
    }
    /* Signed: another helper's stamp may be a little ahead of our clock. */
    if ((int64_t)(now - ck_pr_load_64(&v->seen_ns)) < (int64_t)STUCK_NS)
        return 0;
    return ck_pr_load_32(&v->nwatchers) > 0 || CK_STACK_FIRST(&v->posts) != NULL;
}

/* Run the loop of every stuck worker whose loop we can take. We hold no
 * loop of our own here. */
static void help_stuck(tr__worker *self, uint64_t now) {
    tr_runtime *rt = self->rt;
    if (ck_pr_load_32(&rt->state) == TR__RT_EXITING)
        return;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tr__worker *v = &rt->workers[i];
        if (v == self || !stuck_any(v, now) || !loop_trylock(v))
            continue;
        /* Holding v's loop_mu, we are its loop's only user: v itself
         * blocks on it when its turn ends, before touching the loop. */
        run_posts(v);
        if (ck_pr_load_32(&v->nwatchers) > 0)
            ev_run(v->loop, EVRUN_NOWAIT);
        loop_unlock(v);
        ck_pr_store_64(&self->helps, self->helps + 1); /* read by stats */
    }
}

/* Some other worker is awake: it could get stuck, with watchers it has or
 * with posts (a timer to arm, a socket to adopt) that may come at any time
 * and that nobody would run. */
static int others_may_stick(tr__worker *self) {
    tr_runtime *rt = self->rt;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tr__worker *v = &rt->workers[i];
        if (v != self && !ck_pr_load_32(&v->parked))
            return 1;
    }
    return 0;
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)loop;
    (void)t;
    (void)revents; /* waking the parked worker is all it is for */
}

/* Every help_polls polls: look for stuck workers once STUCK_NS/2 has passed
 * since the last look. help_polls doubles while the polls come faster than
 * STUCK_NS/16 apart, up to HELP_POLLS_MAX, and drops to 1 as soon as they
 * come slower than STUCK_NS/4: short turns read the clock once per 16 polls
 * (~1,000 turns), long ones every poll, as before, and a switch from short
 * to long turns delays a look by at most 16 polls. A clock read per poll
 * was ~3% of pingpong and ring (48 ns per read on the CI guest's
 * kvm-clock, a poll every ~1.5 us). */
static void help_tick(tr__worker *w) {
    /* Nobody to help (or a private worker, which keeps to its own actors):
     * no clock (a wake-up sets it to 1 again). */
    if (w->rt->nworkers < 2 || w->priv) {
        w->help_countdown = UINT_MAX;
        return;
    }
    uint64_t now = tr__mono_ns();
    uint64_t gap = now - w->tick_ns;
    w->tick_ns = now;
    if (gap < STUCK_NS / 16 && w->help_polls < HELP_POLLS_MAX)
        w->help_polls *= 2;
    else if (gap > STUCK_NS / 4)
        w->help_polls = 1;
    w->help_countdown = w->help_polls;
    if (now - w->help_ns >= STUCK_NS / 2) {
        w->help_ns = now;
        help_stuck(w, now);
    }
}

/* TR_METRICS_TIMING: the gap since the last poll is how late a timer or an
 * I/O event due just after it could be (loop lag). A park resets it: a
 * sleeping loop is not late. Owner writes, snapshots load. */
static __attribute__((noinline)) void loop_lag(tr__worker *w) {
    uint64_t now = tr__mono_ns();
    if (w->poll_ns != 0) {
        uint64_t gap = now - w->poll_ns;
        ck_pr_store_64(&w->lag_ns, gap);
        if (gap > w->lag_max_ns)
            ck_pr_store_64(&w->lag_max_ns, gap);
    }
    w->poll_ns = now;
}

/* Run loop callbacks (timers, I/O) without blocking, if there are any; then
 * the deferred wake-ups, theirs included. io = 0 runs the posts but not the
 * loop: an idle spin round after the first (run_loop) does not poll, since a
 * poll is an epoll_wait (about 2 us on a paravirtualised guest) and the park
 * that ends the spin polls anyway. */
static void poll_loop(tr__worker *w, int io) {
    if (TR__UNLIKELY(ck_pr_load_32(&w->rt->metrics) == TR_METRICS_TIMING))
        loop_lag(w);
    /* Relaxed: helpers only compare it with the value they saw before
     * (stuck_any); the owner is its one writer. */
    ck_pr_store_64(&w->beat, w->beat + 1);
    if (CK_STACK_FIRST(&w->posts) != NULL || ck_pr_load_32(&w->nwatchers) > 0) {
        loop_lock(w); /* waits for a helper that is running it */
        run_posts(w);
        if (io && ck_pr_load_32(&w->nwatchers) > 0) /* only poll when io/ has timers or fds here */
            ev_run(w->loop, EVRUN_NOWAIT);
        loop_unlock(w);
    }
    if (TR__UNLIKELY(--w->help_countdown == 0))
        help_tick(w);
    if (w->notify_pending) { /* loop callbacks may have woken actors */
        w->notify_pending = 0;
        tr__notify_any(w->rt);
    }
    if (w->nwakes != 0)
        flush_wakes(w);
}

/* --- parking ------------------------------------------------------------- */

static int has_work(tr__worker *w) {
    tr_runtime *rt = w->rt;
    /* Loop callbacks and posts run by the poll just before parking (io/
     * readiness, timers) may have put an actor in our LIFO slot. */
    if (w->lifo != NULL)
        return 1;
    if (tr__inject_nonempty_any(&rt->global) || CK_STACK_FIRST(&w->posts) != NULL ||
        tr__inject_nonempty_any(&w->pins))
        return 1;
    if (ck_pr_load_32(&rt->state) == TR__RT_EXITING)
        return 1;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (tr__deque_size_any(&rt->workers[i].dq) > 0)
            return 1;
    return 0;
}

static void unpark_self(tr__worker *w) {
    if (ck_pr_load_32(&w->parked) && ck_pr_cas_32(&w->parked, 1, 0) && !w->priv)
        ck_pr_dec_32(&w->rt->sleepers);
}

/* A private worker's sleep: the same handshake with the pushers of its
 * pinned actors (tr__worker_pin_push_any) and with tr__worker_kick_any,
 * without the runtime's sleeper count (it is not one of the pool). */
static int park_private(tr__worker *w) {
    ck_pr_store_32(&w->parked, 1);
    /* Full barrier: `parked` is visible before we re-check the queues;
     * pairs with the pusher's locked push then load of `parked`. */
    tr__fence_full();
    if (w->lifo != NULL || tr__deque_size_any(&w->dq) > 0 || tr__inject_nonempty_any(&w->pins) ||
        CK_STACK_FIRST(&w->posts) != NULL || ck_pr_load_32(&w->rt->state) == TR__RT_EXITING ||
        (w->leave != NULL && w->leave(w))) {
        unpark_self(w);
        return 0;
    }
    w->parks++;
    loop_lock(w);
    ev_run(w->loop, EVRUN_ONCE);
    loop_unlock(w);
    ck_pr_store_64(&w->beat, w->beat + 1);
    unpark_self(w);
    return 1;
}

void tr__worker_pin_push_any(tr__worker *home, tr_actor *a) {
    /* Counted in before the push: until the push, a cannot run (we hold
     * its wake-up), so home's thread cannot have ended and home is alive.
     * After it, a may run and end on home, home's thread exit and a later
     * spawn reap it: reap waits for this count to drop to 0 before freeing
     * home (core/pin.c), so the reads of home below never touch freed
     * memory. Locked increment: a full barrier. */
    ck_pr_inc_32(&home->pin_pushers);
    /* The push is a locked CAS (a full barrier): it is visible before we
     * read `parked`; pairs with the parker's store, fence, re-check. */
    tr__inject_push_any(&home->pins, &a->qlink);
    /* The CAS decides who undoes the sleeper count: us or the parker. */
    if (ck_pr_load_32(&home->parked) && ck_pr_cas_32(&home->parked, 1, 0)) {
        if (!home->priv)
            ck_pr_dec_32(&home->rt->sleepers);
        ev_async_send(home->loop, &home->wake);
    }
    /* Release: our reads of home are done before the reaper, which pairs
     * with the acquire after its load of 0 in pin.c's reap, frees it. */
    TR__TSAN_RELEASE(&home->pin_pushers);
    ck_pr_fence_release();
    ck_pr_dec_32(&home->pin_pushers);
}

void tr__worker_kick_any(tr__worker *w) {
    if (tr__tls_worker == w) { /* its own thread: poll after this turn, and end it */
        w->event_countdown = 1;
        if (w->frame.actor != NULL)
            w->frame.actor->after |= TR__AFTER_WAKES;
        return;
    }
    /* Harmless when w is awake or nobody drives it: libev notes the send
     * and its next ev_run returns at once. The parker undoes its own count. */
    ev_async_send(w->loop, &w->wake);
}

/* 1 if w slept (then it may have woken to work while it has watchers). */
static int park(tr__worker *w) {
    ck_pr_store_32(&w->parked, 1);
    /* Locked increment = full barrier: `parked` is visible before we re-check
     * the queues; pairs with the fence in tr__notify_any. */
    ck_pr_inc_32(&w->rt->sleepers);
    tr__runtime_quiet_check(w->rt);
    if (has_work(w)) {
        unpark_self(w);
        return 0;
    }
    ck_pr_store_64(&w->parks, w->parks + 1); /* owner writes, stats read */
    /* Sleep time for busy %: two clock reads per sleep, none per message. */
    ck_pr_store_64(&w->park_since, tr__mono_ns());
    loop_lock(w);                    /* held asleep: helpers skip parked workers */
    int watch = others_may_stick(w); /* 0 with one worker */
    if (watch) {
        ev_now_update(w->loop);
        ev_timer_set(&w->watchdog, WATCH_S, 0.);
        ev_timer_start(w->loop, &w->watchdog);
        /* A hint for woken workers (run_loop): no lost update matters. */
        ck_pr_inc_32(&w->rt->watching);
    }
    ev_run(w->loop, EVRUN_ONCE);
    if (watch) {
        ck_pr_dec_32(&w->rt->watching);
        ev_timer_stop(w->loop, &w->watchdog);
    }
    loop_unlock(w);
    uint64_t slept = tr__mono_ns() - w->park_since;
    ck_pr_store_64(&w->parked_ns, w->parked_ns + slept);
    ck_pr_store_64(&w->park_since, 0);
    w->poll_ns = 0;                        /* asleep is not late (loop_lag) */
    ck_pr_store_64(&w->beat, w->beat + 1); /* awake from here (see poll_loop) */
    w->help_countdown = 1; /* look at the next poll: the watchdog may be why we woke */
    unpark_self(w);
    return 1;
}

/* w is awake with something on its loop, so it may get stuck with it: if
 * every sleeper went to sleep while w slept too (or had nothing), none has a
 * watchdog. Wake one; it sees w awake and arms one when it parks again. (A
 * worker woken this way that finds nothing to do wakes nobody, so this does
 * not cascade.) Called by w when it wakes and finds work while it has
 * watchers or arms one from a turn, and by whoever posts to w while w is
 * awake: the three ways an awake worker comes to have loop work. */
static void ensure_watcher_any(tr__worker *w) {
    tr_runtime *rt = w->rt;
    if (rt->nworkers < 2 || ck_pr_load_32(&rt->watching) != 0 || ck_pr_load_32(&rt->sleepers) == 0)
        return;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tr__worker *v = &rt->workers[i];
        /* Only a wake: v undoes its own parked count (unpark_self). */
        if (v != w && ck_pr_load_32(&v->parked)) {
            ev_async_send(v->loop, &v->wake);
            return;
        }
    }
}

/* --- the thread ----------------------------------------------------------- */

/* The run loop, in four copies: `priv` (a private worker: see `priv`) and
 * `timed` (TR_METRICS_TIMING) are constants in each, so a shared worker's
 * untimed loop tests neither per turn. A worker reads the switch again at
 * each poll of its loop (every event_interval turns, and whenever it is
 * idle) and returns LOOP_SWITCH when it changed: run_loop enters the other
 * copy. The timed loop also reads it before every turn, so switching timing
 * off takes effect at once; switching it on, within event_interval turns.
 * `picks` (the scheduler's clock) is the turn count snapshots read: one
 * store per turn. */
enum { LOOP_EXIT, LOOP_LEAVE, LOOP_SWITCH };

static inline int timing_on(const tr_runtime *rt) {
    /* Relaxed: the switch (core/metrics.c); a worker that sees it a few
     * turns late times those turns a little later. */
    return ck_pr_load_32(&rt->metrics) == TR_METRICS_TIMING;
}

static inline __attribute__((always_inline)) int run_loop_as(tr__worker *w, const int priv,
                                                             const int timed) {
    tr_runtime *rt = w->rt;
    unsigned idle = 0;
    int woke = 0; /* parked since the last turn (see ensure_watcher_any) */
    while (ck_pr_load_32(&rt->state) != TR__RT_EXITING) {
        tr_actor *a = priv ? next_private(w) : next_actor(w);
        if (a != NULL) {
            /* Timing off is seen at the next turn (what was gathered stays
             * as it was); on, at the next poll (below, and when idle): the
             * untimed loop pays no test per turn. a goes back where the
             * next pick finds it first. */
            if (timed && TR__UNLIKELY(!timing_on(rt))) {
                if (w->lifo != NULL)
                    local_push(w, w->lifo);
                w->lifo = a;
                return LOOP_SWITCH;
            }
            idle = 0;
            if (TR__UNLIKELY(woke)) {
                woke = 0;
                if (ck_pr_load_32(&w->nwatchers) > 0)
                    ensure_watcher_any(w);
            }
            /* Stores: snapshots compare it with the actors they hold
             * (core/introspect.c); a plain mov, as before. */
            ck_pr_store_ptr(&w->frame.actor, a);
            tr__tls_self = a;
            int turn = timed ? tr__actor_run_turn_timed(a, rt->cfg.batch)
                             : tr__actor_run_turn(a, rt->cfg.batch);
            ck_pr_store_ptr(&w->frame.actor, NULL);
            tr__tls_self = NULL;
            tr__owner_add_64(&w->picks, 1); /* owner writes, snapshots load */
            if (turn == TR__TURN_YIELD)
                yield_owner(w, a);
            else if (turn == TR__TURN_MORE)
                local_push(w, a);
            /* One wake-up per turn, however many actors it made runnable:
             * the fence in tr__notify_any is not paid per send. */
            if (w->notify_pending) {
                w->notify_pending = 0;
                tr__notify_any(rt);
            }
            if (TR__UNLIKELY(--w->event_countdown == 0)) {
                w->event_countdown = rt->cfg.event_interval;
                poll_loop(w, 1);
                if (TR__UNLIKELY(w->leave != NULL) && w->leave(w))
                    return LOOP_LEAVE;
                if (!timed && TR__UNLIKELY(timing_on(rt)))
                    return LOOP_SWITCH;
            }
            continue;
        }
        /* The loop once per idle spell (then the park's ev_run): 16 polls
         * of an empty epoll while spinning were 1.1 system calls per job of
         * bench ipool, whose router's worker goes idle between batches. */
        poll_loop(w, idle == 0);
        if (TR__UNLIKELY(w->leave != NULL) && w->leave(w))
            return LOOP_LEAVE;
        if (TR__UNLIKELY(timing_on(rt) != timed))
            return LOOP_SWITCH;
        if (priv) { /* nobody to steal from: sleep at once */
            woke = park_private(w);
            continue;
        }
        if (idle++ < rt->cfg.spin_rounds) {
            /* Short: on a full machine the spin takes CPU from the threads
             * that would give us work (foreign senders). */
            for (int i = 0; i < IDLE_PAUSES; i++)
                ck_pr_stall();
            continue;
        }
        idle = 0;
        /* Idle: map the block pool's next chunk if it asked for one (a
         * relaxed load per park; core/blocks.c, "Mapping ahead"). */
        if (TR__UNLIKELY(ck_pr_load_32(&rt->ahead_want) == 1))
            tr__blocks_map_ahead_owner(rt);
        woke = park(w);
    }
    return LOOP_EXIT;
}

/* Not inlined into worker_main: there, next to its setjmp, gcc kept `w` on
 * the stack and reloaded it for every use (4 instructions per turn for the
 * test of `woke` alone). */
static __attribute__((noinline)) int run_shared(tr__worker *w) {
    return run_loop_as(w, 0, 0);
}
static __attribute__((noinline)) int run_shared_timed(tr__worker *w) {
    return run_loop_as(w, 0, 1);
}
static __attribute__((noinline)) int run_private(tr__worker *w) {
    return run_loop_as(w, 1, 0);
}
static __attribute__((noinline)) int run_private_timed(tr__worker *w) {
    return run_loop_as(w, 1, 1);
}

static void run_loop(tr__worker *w) {
    int r;
    do {
        int timed = timing_on(w->rt);
        if (w->priv)
            r = timed ? run_private_timed(w) : run_private(w);
        else
            r = timed ? run_shared_timed(w) : run_shared(w);
    } while (r == LOOP_SWITCH);
}

int tr__worker_drive(tr__worker *w, int64_t timeout_ms) {
    tr_runtime *rt = w->rt;
    tr__tls_worker = w;
    /* A timeout: a timer on w's loop wakes it from its sleep when it is
     * due (the watchdog's callback: waking is all it does); the caller's
     * w->leave reads the clock. */
    ev_timer t;
    if (timeout_ms > 0) {
        ev_timer_init(&t, watchdog_cb, (double)timeout_ms / 1000.0, 0.);
        loop_lock(w);
        ev_now_update(w->loop);
        ev_timer_start(w->loop, &t);
        tr__worker_watchers_add_owner(w, +1);
        loop_unlock(w);
    }
    /* tr_panic longjmps here from inside a callback of w->frame.actor. The
     * run_loop frame below us is gone; we handle the crash and re-enter. */
    tls_frame = &w->frame;
    if (setjmp(w->frame.jb) != 0) {
        tr_actor *a = w->frame.actor;
        ck_pr_store_ptr(&w->frame.actor, NULL);
        /* The turn's count of handled messages, for a drain (see
         * core/actor.c, drain_count), was lost with its frame. */
        if (ck_pr_load_32(&rt->state) != TR__RT_RUNNING)
            ck_pr_store_64(&w->handled, w->handled + tr__actor_panicked_turn_handled_owner(a));
        ck_pr_store_64(&w->picks, w->picks + 1);
        tls_frame = &w->frame;
        tr__tls_self = a; /* its terminate may still send */
        tr__actor_crashed(a, w->frame.code, w->frame.text);
        tr__tls_self = NULL;
    }
    run_loop(w);
    if (timeout_ms > 0) {
        loop_lock(w);
        ev_timer_stop(w->loop, &t);
        tr__worker_watchers_add_owner(w, -1);
        loop_unlock(w);
    }
    tls_frame = NULL;
    tr__tls_worker = NULL;
    return ck_pr_load_32(&rt->state) == TR__RT_EXITING;
}

void tr__worker_finish_owner(tr__worker *w, int thread_hooks) {
    tr_runtime *rt = w->rt;
    tr__tls_worker = w;
    loop_lock(w); /* to the end: a helper may still be running the loop */
    run_posts(w);
    /* Their per-worker state exists for the pool's workers only. */
    tr__ext ext[TR__EXT_COUNT];
    tr__runtime_ext_copy(rt, ext);
    for (unsigned i = 0; i < TR__EXT_COUNT && !w->priv; i++)
        if (ext[i].worker_stop != NULL)
            ext[i].worker_stop(w, ext[i].data);
    run_posts(w);
    loop_unlock(w);
    assert(w->lifo == NULL && tr__deque_size_any(&w->dq) == 0);
    if (thread_hooks && rt->cfg.on_thread_stop != NULL)
        rt->cfg.on_thread_stop(rt->cfg.user_data, w->id);
    flush_wakes(w); /* futures settled while stopping */
    tr__tls_worker = NULL;
}

static void *worker_main(void *arg) {
    tr__worker *w = arg;
    tr_runtime *rt = w->rt;
    tr__tls_worker = w;
    if (rt->cfg.on_thread_start != NULL)
        rt->cfg.on_thread_start(rt->cfg.user_data, w->id);
    tr__worker_drive(w, 0);
    tr__worker_finish_owner(w, 1);
    return NULL;
}

/* --- making the loop ---------------------------------------------------------
 *
 * libev reports a failed system call it cannot return from (the eventfd or
 * pipe behind ev_async, made by ev_async_start) through its syserr callback,
 * and by default prints and abort()s: out of file descriptors, tr_runtime_new
 * would take the process down. The callback is process-wide, so troupe
 * installs one (once) that behaves exactly as libev's default, except on a
 * thread that is inside loop_make: there it longjmps back, and the worker's
 * init fails with TR_ESYS. Leaving libev that way is safe at the one place it
 * can happen: evpipe_init calls the callback before it has changed any of the
 * loop's state (no watcher started, nothing allocated), and no lock is held,
 * so the half-made loop is destroyed like any other. (Other syserr reports,
 * e.g. a failing epoll_wait, keep libev's behaviour: they are not ours to
 * recover from.) A program that installs its own callback after its first
 * runtime replaces ours and gets libev's behaviour back. */
static __thread jmp_buf *tls_syserr_jb;
static pthread_once_t syserr_once = PTHREAD_ONCE_INIT;

static void syserr_cb(const char *msg) {
    jmp_buf *jb = tls_syserr_jb;
    if (jb != NULL) {
        tls_syserr_jb = NULL;
        longjmp(*jb, 1);
    }
    perror(msg); /* libev's default */
    abort();
}

static void syserr_install(void) {
    ev_set_syserr_cb(syserr_cb);
}

/* w's loop with its wake-up watcher started: 0, or -1 (nothing left made). */
static int loop_make(tr__worker *w) {
    pthread_once(&syserr_once, syserr_install);
    w->loop = ev_loop_new(EVFLAG_AUTO);
    if (w->loop == NULL)
        return -1;
    ev_async_init(&w->wake, wake_cb);
    w->wake.data = w;
    ev_timer_init(&w->watchdog, watchdog_cb, WATCH_S, 0.);
    jmp_buf jb;
    if (setjmp(jb) != 0) { /* from syserr_cb: out of fds for the eventfd */
        ev_loop_destroy(w->loop);
        w->loop = NULL;
        return -1;
    }
    tls_syserr_jb = &jb;
    ev_async_start(w->loop, &w->wake);
    tls_syserr_jb = NULL;
    return 0;
}

int tr__worker_init(tr__worker *w, tr_runtime *rt, unsigned id) {
    memset(w, 0, sizeof(*w));
    w->rt = rt;
    w->id = id;
    w->rng = 0x9E3779B97F4A7C15ULL * (id + 1);
    w->global_countdown = rt->cfg.global_interval;
    w->event_countdown = rt->cfg.event_interval;
    w->help_polls = w->help_countdown = 1;
    w->seen_beat = UINT64_MAX; /* no beat seen yet: the first look only times it */
    if (tr__deque_init(&w->dq, TR__DEQUE_SIZE) != 0)
        return TR_ENOMEM;
    ck_stack_init(&w->posts);
    if (loop_make(w) != 0) {
        tr__deque_destroy(&w->dq);
        return TR_ESYS;
    }
    pthread_mutex_init(&w->loop_mu, NULL);
    return 0;
}

int tr__worker_start(tr__worker *w) {
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return TR_ESYS;
    if (w->rt->cfg.stack_size != 0 &&
        pthread_attr_setstacksize(&attr, w->rt->cfg.stack_size) != 0) {
        pthread_attr_destroy(&attr);
        return TR_EINVAL;
    }
    int rc = pthread_create(&w->thread, &attr, worker_main, w);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return TR_ESYS;
    return 0;
}

void tr__worker_destroy(tr__worker *w) {
    if (w->loop != NULL) {
        ev_async_stop(w->loop, &w->wake);
        ev_loop_destroy(w->loop);
        w->loop = NULL;
        pthread_mutex_destroy(&w->loop_mu);
    }
    /* Free cached blocks belong to the pool's chunks; just forget them. */
    w->blocks[0].head = w->blocks[1].head = NULL;
    tr__deque_destroy(&w->dq);
}
