/* troupe/runtime.h - the runtime: worker threads that run actors.
 *
 * A runtime owns N worker threads. Each worker owns a libev loop (timers, I/O,
 * its wake-up) and a local run queue; idle workers steal from busy ones and
 * sleep in their loop when there is nothing to do (no CPU used).
 *
 * Life cycle:
 *   tr_runtime_new()   makes the runtime and starts its workers.
 *   tr_runtime_close() stops accepting spawns and sends from outside, stops
 *                      every actor (terminate runs once each), dead-letters
 *                      what is still queued, then lets the workers exit.
 *   tr_runtime_join()  waits until the workers have exited.
 *   tr_runtime_free()  closes, joins and frees.
 * The runtime also closes by itself once at least one actor was spawned and
 * then no actor is left alive and no actor handle (tr_ref) is held anywhere,
 * unless tr_runtime_config.keep_open is set. */
#ifndef TROUPE_RUNTIME_H
#define TROUPE_RUNTIME_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_runtime tr_runtime;

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
    /* Called on each worker thread as it starts and before it exits. */
    void (*on_thread_start)(void *user_data, unsigned worker);
    void (*on_thread_stop)(void *user_data, unsigned worker);
    /* Called for every dead-lettered message, on the thread that drops it,
     * before its destructors run. The message must not be kept. */
    void (*dead_letter)(void *user_data, const tr_msg *msg, int why);
    void *user_data;
    /* 1: never close by itself; stay open until tr_runtime_close (or
     * tr_runtime_free), so a program whose only actor crashed and whose
     * handles were released can still spawn. 0 (the default): close once
     * at least one actor was spawned and then no actor is alive and no
     * handle is held. */
    int keep_open;
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

/* Begin shutdown (idempotent; callable from any thread, actors included). */
TR_EXTERN int tr_runtime_close(tr_runtime *rt);

/* Close the runtime gracefully (tr_runtime_close) on SIGINT or SIGTERM.
 * One libev loop owns the signals (worker 0's, io/signal.c): libev lets
 * only one loop in the process watch a given signal, so do not watch
 * SIGINT/SIGTERM in another loop, and at most one runtime per process
 * should call this. 0 (also on a second call), TR_EINVAL (NULL),
 * TR_ENOMEM, or TR_ECLOSED once worker 0 has stopped (the runtime closed).
 * Any thread; from a foreign thread it returns once the watchers run. */
TR_EXTERN int tr_runtime_close_on_signals(tr_runtime *rt);

/* Wait until every worker has exited. TR_EDEADLK from a worker thread. */
TR_EXTERN int tr_runtime_join(tr_runtime *rt);

/* Close, join and free. TR_EDEADLK from a worker thread. Every handle and
 * future of this runtime must have been released before (debug builds
 * assert it); the memory of those still held is freed with the runtime. */
TR_EXTERN int tr_runtime_free(tr_runtime *rt);

/* Whether tr_runtime_close ran or the runtime closed by itself (a
 * predicate: false for NULL). Any thread. */
TR_EXTERN bool tr_runtime_is_closed(const tr_runtime *rt);

TR_EXTERN int tr_runtime_stats_get(tr_runtime *rt, tr_runtime_stats *out);

/* Number of the calling worker thread of rt (0..workers-1); TR_ENOTFOUND
 * when the caller is not one of rt's workers, TR_EINVAL for NULL. */
TR_EXTERN int tr_runtime_worker_id(const tr_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
