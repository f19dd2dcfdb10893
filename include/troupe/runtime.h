/* troupe/runtime.h - the runtime: worker threads that run actors.
 *
 * A runtime owns N worker threads. Each worker owns a libev loop (timers, I/O,
 * its wake-up) and a local run queue; idle workers steal from busy ones and
 * sleep in their loop when there is nothing to do (no CPU used).
 *
 * Life cycle (docs/getting-started.md, "Lifecycle"):
 *   tr_runtime_new()   makes the runtime and starts its workers.
 *   tr_runtime_drain() stops accepting spawns and sends from outside, lets
 *                      the actors handle what is queued until a deadline,
 *                      stops supervisors top-down (newest root first), then
 *                      closes; what could not be handled is dead-lettered
 *                      and counted.
 *   tr_runtime_close() stops accepting spawns and sends from outside, stops
 *                      every actor (terminate runs once each), dead-letters
 *                      what is still queued, then lets the workers exit.
 *   tr_runtime_join()  waits until the workers have exited.
 *   tr_runtime_free()  closes, joins and frees.
 * In a child process made by fork() the parent's runtimes are unusable:
 * every call on them returns TR_EFORKED (tr_runtime_free releases their
 * fds and what memory it can without joining threads that do not exist
 * there: what a parent thread was changing at the fork stays mapped until
 * the child exits or execs); the child may make runtimes of its own.
 * The runtime also closes by itself once at least one actor was spawned and
 * then no actor is left alive and no actor handle (tr_ref) is held anywhere,
 * unless tr_runtime_config.keep_open is set.
 *
 * Modes (docs/runtime-modes.md): the default runtime is multi-threaded, as
 * above. A current-thread runtime (tr_runtime_config.mode =
 * TR_RUNTIME_CURRENT_THREAD) starts no worker thread: the thread that calls
 * tr_runtime_run or tr_runtime_block_on runs its actors, timers and I/O. A
 * multi-threaded runtime with tr_runtime_config.main_loop set also has a
 * main loop, run by the thread that calls tr_runtime_run or
 * tr_runtime_block_on, where actors spawned with tr_spawn_opts.pin =
 * TR_PIN_MAIN run (and nothing else). */
#ifndef TROUPE_RUNTIME_H
#define TROUPE_RUNTIME_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/log.h"
#include "troupe/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_runtime tr_runtime;
typedef struct tr_future tr_future; /* troupe/actor.h */

/* tr_runtime_config.mode */
typedef enum tr_runtime_mode {
    TR_RUNTIME_MULTI_THREAD = 0,   /* worker threads run the actors (the default) */
    TR_RUNTIME_CURRENT_THREAD = 1, /* no worker thread: the driving thread runs them */
} tr_runtime_mode;

/* Why a message was dead-lettered. */
enum {
    TR_DEAD_STOPPED = 1,  /* its actor stopped before handling it */
    TR_DEAD_SHUTDOWN = 2, /* the runtime shut down */
    TR_DEAD_DROPPED = 3,  /* dropped by a higher layer (e.g. a pool gave up) */
};

typedef struct tr_runtime_config {
    unsigned workers;          /* worker threads; 0 = number of online cores */
    size_t stack_size;         /* worker stack bytes; 0 = system default */
    unsigned batch;            /* messages per actor turn; 0 = 64 */
    unsigned event_interval;   /* turns between non-blocking loop polls; 0 = 61 */
    unsigned global_interval;  /* turns between global-queue checks; 0 = 31 */
    uint32_t mailbox_capacity; /* default mailbox bound; 0 = unbounded */
    unsigned spin_rounds;      /* steal attempts before a worker sleeps; 0 = 16 */
    /* Called on each worker thread as it starts and before it exits (the
     * pool's threads only: not for a thread driving a current-thread
     * runtime or a main loop, nor a pinned actor's own thread). */
    void (*on_thread_start)(void *user_data, unsigned worker);
    void (*on_thread_stop)(void *user_data, unsigned worker);
    /* Called for every dead-lettered message, on the thread that drops it,
     * before its destructors run. The message must not be kept. Inside it,
     * tr_dead_letter_target(msg) gives the actor it was addressed to. */
    void (*dead_letter)(void *user_data, const tr_msg *msg, int why);
    void *user_data;
    /* 1: never close by itself; stay open until tr_runtime_close (or
     * tr_runtime_free), so a program whose only actor crashed and whose
     * handles were released can still spawn. 0 (the default): close once
     * at least one actor was spawned and then no actor is alive and no
     * handle is held. */
    int keep_open;
    /* Metrics level (troupe/introspect.h): TR_METRICS_DEFAULT (0: the
     * TROUPE_METRICS environment variable, "timing" or "basic", else
     * basic), TR_METRICS_BASIC or TR_METRICS_TIMING; change it later with
     * tr_runtime_set_metrics. docs/observability.md gives the cost. */
    int metrics;
    /* Serve the console (troupe-top, Prometheus text) on a Unix socket at
     * this path; NULL: the TROUPE_CONSOLE environment variable's, if set
     * (troupe/console.h). The string is copied. */
    const char *console_path;
    /* TR_RUNTIME_MULTI_THREAD (0, the default) or TR_RUNTIME_CURRENT_THREAD:
     * no worker thread; one scheduler whose loop runs on the thread that
     * calls tr_runtime_run or tr_runtime_block_on (then `workers` must be 0,
     * and stack_size, on_thread_start and on_thread_stop are not used). */
    int mode;
    /* Multi-threaded only: 1 = the runtime also has a main loop, driven by
     * the thread that calls tr_runtime_run or tr_runtime_block_on, where the
     * actors spawned with tr_spawn_opts.pin = TR_PIN_MAIN run (and only
     * they). A current-thread runtime's one loop is its main loop. */
    int main_loop;
    /* Reports (troupe/log.h): the level (a tr_log_level; TR_LOG_DEFAULT =
     * TROUPE_LOG if set, else TR_LOG_WARN; TROUPE_LOG wins over a level set
     * here), and the hook that gets every record with log_user_data (NULL:
     * tr_log_stderr, one line per record on stderr). */
    int log_level;
    tr_log_fn log_fn;
    void *log_user_data;
} tr_runtime_config;

typedef struct tr_runtime_stats {
    uint64_t actors_spawned;  /* actors whose init succeeded, since start (one a
                               * racing close ended at once counts: its
                               * terminate ran, though tr_spawn said ECLOSED) */
    uint64_t actors_alive;    /* now */
    uint64_t dead_letters;    /* messages dead-lettered since start */
    uint64_t steals;          /* steal batches taken from other workers */
    uint64_t parks;           /* times a worker went to sleep */
    uint64_t stash_overflows; /* tr_stash calls refused with TR_EFULL */
    uint64_t loops_helped;    /* times a worker ran the timers and I/O of one
                               * stuck in a handler (docs/reliability.md) */
    unsigned workers;
} tr_runtime_stats;

/* Fill cfg with the defaults (all zeros mean "default"). */
TR_EXTERN void tr_runtime_config_init(tr_runtime_config *cfg);

/* Make a runtime and start its workers. cfg may be NULL for the defaults.
 * TR_EINVAL for out-of-range settings (workers > 256, batch > 65536),
 * TR_ESYS if a thread or loop cannot be made (e.g. out of file descriptors:
 * each worker needs two), TR_ENOMEM; on error nothing is left behind.
 * To report a failed eventfd instead of aborting, troupe installs libev's
 * process-wide syserr callback (ev_set_syserr_cb) on its first call; it
 * behaves as libev's default (print, abort) everywhere else. A program that
 * installs its own after that replaces it, and then loses this guarantee. */
TR_EXTERN int tr_runtime_new(tr_runtime **out, const tr_runtime_config *cfg);

/* Begin shutdown at once (idempotent; callable from any thread, actors
 * included): nothing queued is handled any more, see tr_runtime_drain for
 * the graceful way. Also during a drain: the drain then goes straight to
 * its end. TR_EFORKED on a runtime of the parent process. */
TR_EXTERN int tr_runtime_close(tr_runtime *rt);

/* Shut the runtime down gracefully on SIGINT or SIGTERM: the first signal
 * starts tr_runtime_drain_async(rt, deadline_ms) (deadline_ms 0: close at
 * once with tr_runtime_close, as a drain that cannot start does too); a
 * second signal while it drains closes at once. The program's main thread
 * typically waits in tr_runtime_join, which returns once the drain is over.
 * A later call only changes the deadline. One libev loop owns the signals
 * (worker 0's): libev lets only one loop in the process watch a given
 * signal, so do not watch SIGINT/SIGTERM in another loop, and at most one
 * runtime per process should call this. 0, TR_EINVAL (rt NULL, deadline_ms
 * < 0), TR_ENOMEM, TR_ECLOSED (the runtime is closing), TR_EFORKED. Any
 * thread. */
TR_EXTERN int tr_runtime_drain_on_signals(tr_runtime *rt, int deadline_ms);

/* tr_runtime_drain_on_signals(rt, TR_DRAIN_SIGNAL_MS): a drain of at most
 * 5 s, then a close. */
TR_EXTERN int tr_runtime_close_on_signals(tr_runtime *rt);

/* Wait until every worker has exited, and for a drain (tr_runtime_drain_async)
 * to finish. TR_EDEADLK from a worker thread; TR_EFORKED in a child process
 * on a runtime of the parent (its workers are not there). */
TR_EXTERN int tr_runtime_join(tr_runtime *rt);

/* Close, join and free. TR_EDEADLK from a worker thread. Every handle and
 * future of this runtime must have been released before (debug builds
 * assert it); the memory of those still held is freed with the runtime,
 * and handles still held are reported (a warning naming them, troupe/log.h;
 * summaries of dead letters and crashes still pending are reported first).
 * In a child process, on a runtime of the parent: releases the memory core
 * owns (actor blocks, worker loops and their fds) without joining threads
 * or taking locks, and returns 0; the actors' states and what io/ and
 * supervisors hang on it stay allocated (docs/getting-started.md). */
TR_EXTERN int tr_runtime_free(tr_runtime *rt);

/* Whether tr_runtime_close or a drain began or the runtime closed by itself
 * (a predicate: false for NULL; true on a runtime of the parent process in a
 * fork child). Any thread. */
TR_EXTERN bool tr_runtime_is_closed(const tr_runtime *rt);

/* Counters now. TR_EINVAL, TR_EFORKED on a runtime of the parent process. */
TR_EXTERN int tr_runtime_stats_get(tr_runtime *rt, tr_runtime_stats *out);

/* --- graceful shutdown ------------------------------------------------------ */

/* What a drain did (tr_runtime_drain, tr_runtime_drain_stats). */
typedef struct tr_drain_stats {
    uint64_t handled;        /* messages handled (receive returned) from the drain's
                              * start until every actor had ended */
    uint64_t dead_lettered;  /* messages dead-lettered over the same span: what the
                              * deadline cut off (the close's dead letters) */
    uint64_t alive_at_close; /* actors still alive when the close began, ended by it
                              * (idle ones that nobody stopped count too) */
    uint64_t elapsed_ms;     /* from the call to the end of the close */
    int timed_out;           /* 1: the deadline came before every mailbox was empty
                              * and every supervisor had stopped */
} tr_drain_stats;

/* The deadline tr_runtime_close_on_signals gives its drain. */
#define TR_DRAIN_SIGNAL_MS 5000

/* Shut rt down gracefully, on the calling thread:
 *  1. from now on, spawns and sends from foreign threads fail with
 *     TR_ECLOSED (the caller keeps its message; tr_runtime_is_closed says true);
 *     actors go on sending and spawning, so work in flight can finish;
 *  2. wait until every mailbox is empty, no actor runs and no blocking task
 *     (troupe/blocking.h) is in flight, or deadline_ms passed;
 *  3. stop the supervisors top-down: root supervisors (not started by a
 *     supervisor) newest first, each waited for; each stops its own children
 *     newest first as tr_actor_stop would (OTP's shutdown order; the
 *     children's terminate callbacks run). Then wait for quiet again;
 *  4. close as tr_runtime_close (what is left queued is dead-lettered) and
 *     wait until every actor has ended (an actor inside a handler is waited
 *     for: a handler cannot be cut short, on a worker or on a TR_PIN_THREAD
 *     actor's own thread; so a handler that never returns keeps the drain
 *     from returning, and one that returns late makes elapsed_ms exceed
 *     the deadline, with timed_out = 1).
 * Steps 2 and 3 share the deadline; at the deadline the drain goes on to 4.
 * Returns 0 with *out (may be NULL) filled once the runtime is closed: all
 * its actors have ended and its workers are leaving (tr_runtime_join or
 * tr_runtime_free still have to be called). Errors, with nothing done:
 * TR_EINVAL (rt NULL, deadline_ms < 0), TR_EDEADLK (called on a runtime
 * worker thread: an actor would wait on itself; use tr_runtime_drain_async),
 * TR_EALREADY (a drain was already started), TR_ECLOSED (closed already, or
 * a close raced with the drain's start), TR_EFORKED (rt belongs to the parent
 * process). Foreign threads only. A timer or I/O watcher that keeps delivering
 * messages delays the quiet point but not past the deadline. */
TR_EXTERN int tr_runtime_drain(tr_runtime *rt, int deadline_ms, tr_drain_stats *out);

/* The same drain on a thread of its own: returns at once (0) once foreign
 * work is refused (step 1 above is done when it returns). Any thread,
 * actors included. tr_runtime_join waits for the drain too; its figures are
 * then in tr_runtime_drain_stats. Errors as tr_runtime_drain (except
 * TR_EDEADLK), and TR_ESYS if the thread cannot be made (the runtime then
 * accepts foreign work again, unless it was closed meanwhile). */
TR_EXTERN int tr_runtime_drain_async(tr_runtime *rt, int deadline_ms);

/* The figures of rt's drain once it has finished: 0, TR_EBUSY while it
 * runs, TR_ESTATE if no drain was started, TR_EINVAL, TR_EFORKED. Any
 * thread. */
TR_EXTERN int tr_runtime_drain_stats(tr_runtime *rt, tr_drain_stats *out);

/* Number of the calling worker thread of rt (0..workers-1); TR_ENOTFOUND
 * when the caller is not one of rt's workers, TR_EINVAL for NULL. In a
 * current-thread runtime the thread driving it (inside tr_runtime_run or
 * tr_runtime_block_on) is worker 0; a main loop's thread and a pinned
 * actor's own thread are not workers (TR_ENOTFOUND). */
TR_EXTERN int tr_runtime_worker_id(const tr_runtime *rt);

/* Drive rt's main loop on the calling thread until the runtime has closed
 * and every actor has ended (run until closed): in a current-thread runtime
 * that runs every actor, timer and I/O watcher; in a multi-threaded runtime
 * with main_loop set, the actors pinned to the main loop (TR_PIN_MAIN).
 * Returns 0 once the runtime has exited (tr_runtime_join then returns at
 * once). Close it from an actor, another thread, a signal helper, or let it
 * close by itself (no actor alive, no handle held).
 * Errors: TR_EINVAL (NULL; a multi-threaded runtime without main_loop: its
 * workers need no driver, use tr_runtime_join), TR_EDEADLK (called from a
 * thread of the runtime: an actor, a worker, a pinned actor's thread),
 * TR_EBUSY (another thread is driving rt now: tr_runtime_run or
 * tr_runtime_block_on), TR_ECLOSED (rt has already exited: run or join drove
 * it to the end before), TR_EFORKED (rt belongs to the parent process). Any
 * thread, one at a time. */
TR_EXTERN int tr_runtime_run(tr_runtime *rt);

/* Wait for f (a future of rt: an ask's reply, a promise's) like
 * tr_future_wait, and meanwhile drive rt's main loop on the calling thread:
 * the way to wait for a result in a current-thread runtime, whose actors
 * run only while some thread drives it. Returns as soon as f is settled, or
 * when timeout_ms (< 0: none; 0: poll, no driving) has passed, or when the
 * runtime has exited; what is still runnable then stays queued for the next
 * tr_runtime_run or tr_runtime_block_on. Results as tr_future_wait: 0 with
 * *reply (the caller owns it), TR_ETIMEDOUT (f stays usable), the failure
 * f was settled with (TR_EDEAD, TR_ENOREPLY, TR_ECRASHED...). The caller
 * keeps its reference to f (release it as usual).
 * In a multi-threaded runtime without main_loop it is tr_future_wait (the
 * workers drive). Errors: TR_EINVAL (NULL, f of another runtime),
 * TR_EDEADLK (from a thread of the runtime: an actor cannot wait for its
 * own loop), TR_EBUSY (another thread drives rt now; tr_future_wait waits
 * without driving), TR_EFORKED (rt belongs to the parent process: nobody
 * here settles f). Any thread, one driver at a time.
 * The actors run on the calling thread (a current-thread runtime, or those
 * pinned TR_PIN_MAIN): one whose handler blocks holds block_on until the
 * handler returns, past timeout_ms if need be; the timeout is checked
 * between handlers (TR_ETIMEDOUT then, if f is still unsettled).
 * tr_future_wait (and the synchronous calls built on it: tr_pool_call,
 * tr_sup_start_child...) on a future of a current-thread runtime that no
 * thread drives drives it the same way, so such a call never waits for a
 * loop nobody runs; with a driver elsewhere it just waits. */
TR_EXTERN int tr_runtime_block_on(tr_runtime *rt, tr_future *f, int64_t timeout_ms, tr_msg **reply);

#ifdef __cplusplus
}
#endif
#endif
