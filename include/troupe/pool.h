/* troupe/pool.h - supervised worker pools.
 *
 * A pool is N identical worker actors behind one handle. The handle is a
 * tr_ref to the pool's router actor, so tr_send*, tr_ask*, tr_request and
 * tr_forward work on it unchanged, from any thread: each job (any message of
 * a user type) goes to one worker chosen by the routing strategy, and the
 * worker answers asks with tr_reply as any actor would. The router also
 * supervises the workers: it monitors them and respawns a worker that ended,
 * in the same slot (one-for-one, permanent), under the pool's restart
 * intensity and backoff (see troupe/supervisor.h for their meaning).
 *
 * Routing (tr_route):
 *   ROUND_ROBIN        slots in turn.
 *   RANDOM             a random live worker.
 *   SMALLEST_MAILBOX   the live worker with the fewest queued messages.
 *   KEY_HASH           slot = hash(msg->word) % workers: the same key always
 *                      reaches the same worker while the pool is not resized
 *                      (a restarted worker keeps its slot; jobs for a slot
 *                      whose worker is restarting wait for it).
 *   BROADCAST          every live worker gets a copy (type, word, inline
 *                      data and a tell's sender); the original, with its ptr
 *                      payload and its ask reply token, goes to the first
 *                      live worker.
 *   SHARED_QUEUE       jobs wait in one queue at the router; a worker takes
 *                      the next one when it is idle (demand-driven: it hands
 *                      the router a ready token after each job).
 *
 * Crashes and redelivery (at-least-once): the worker wrapper owns the job it
 * is running. If the worker crashes (receive returns non-zero, tr_panic), the
 * job goes back to the router and is routed again, up to max_redeliveries
 * times; then it is dead-lettered (runtime dead_letter hook with
 * TR_DEAD_DROPPED, destructors run, an asker's future fails with TR_EDEAD). A
 * job's ask reply token travels with it, so the asker still gets its answer.
 * Jobs still queued in a crashed worker's mailbox go back to the router too
 * (not counted as a delivery). A pool worker's receive must not tr_msg_keep
 * (it gets TR_ESTATE) or tr_forward the job: the pool owns it. Copy what must
 * outlive the call. tr_sender and tr_reply in it see the job's sender (the
 * actor that sent or requested it, never the router), as in any actor.
 *
 * Closing: a pool closes when tr_pool_close is called, when its last worker
 * is removed, when its handle count (tr_pool_start gives 1; tr_pool_retain
 * adds, tr_pool_release drops) reaches zero, or when its restart intensity
 * is exceeded (then the router exits with TR_EXIT_ERROR, which a supervisor
 * above it sees as a crash). Plain tr_ref_retain/tr_ref_release do not count
 * as pool handles. On close every queued or returned job is dead-lettered
 * (destructors run, ask futures fail promptly with TR_EDEAD), the workers are
 * stopped after their current job, and sends to the handle fail with
 * TR_EDEAD: from the moment tr_pool_close returns 0 (or the call that
 * removed the last worker returns 0), not only once the router has ended.
 *
 * Calls from inside actors: every call below that blocks (resizing, stats)
 * has an _async form for actors, which never blocks its worker. It sends
 * the router a request and returns; the result arrives later in the calling
 * actor's mailbox as a TR_MSG_RESULT message (troupe/actor.h) with
 * msg->corr == the caller's tag and msg->status (tr_result_code) == what
 * the blocking form would return; tr_pool_result_stats reads a stats
 * result. If the pool ends before answering, a TR_MSG_ASK_FAILED with the
 * same corr (status TR_EDEAD) comes instead (or, if the result cannot be
 * delivered, one with that error). The blocking forms stay for
 * threads outside the runtime; both share one request and one answer.
 *
 * Out of memory: a worker that cannot be respawned, with no timer to retry
 * the respawn, would leave the jobs that wait for it waiting for ever; the
 * router dead-letters them instead (asks fail with TR_EDEAD) and tries again
 * with each later message. A worker found dead by a send is treated as dead
 * even if the news of its end (a DOWN, which needs memory) never comes.
 *
 * Watchdog: with watchdog_ms > 0 a helper thread checks every
 * watchdog_ms / 2 which workers have been in one job longer than
 * watchdog_ms; each such job is reported once (on_stuck, stats.stuck) and,
 * with watchdog_kill, its worker is killed and respawned as soon as the job
 * returns to the scheduler (C cannot interrupt a running function).
 *
 * Native crashes (a segfault, an abort) and jobs that never return: run the
 * workers in child processes instead, with tr_ipool_start (troupe/ipool.h);
 * the handle works with every call here. */
#ifndef TROUPE_POOL_H
#define TROUPE_POOL_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_route {
    TR_ROUTE_ROUND_ROBIN = 0,
    TR_ROUTE_RANDOM = 1,
    TR_ROUTE_SMALLEST_MAILBOX = 2,
    TR_ROUTE_KEY_HASH = 3,
    TR_ROUTE_BROADCAST = 4,
    TR_ROUTE_SHARED_QUEUE = 5,
} tr_route;

#define TR_POOL_MAX_WORKERS 1024

typedef struct tr_pool_config {
    unsigned workers;     /* initial workers, >= 1 */
    unsigned max_workers; /* cap for tr_pool_try_add_worker; 0 = max(workers, 64) */
    /* The worker behaviour and spawn options, as for tr_spawn. Worker
     * mailboxes are never bounded (the router must not block; with
     * SMALLEST_MAILBOX they get a bound of 2^30 so their length is kept);
     * opts.mailbox_capacity is ignored. */
    const tr_behavior *behavior;
    tr_spawn_opts opts;
    tr_route routing;
    uint32_t max_redeliveries; /* times a crashed job is retried (default 3) */
    /* Restarts of workers: intensity per period_ms (default unlimited),
     * backoff and clock as in tr_sup_config. */
    uint32_t intensity;
    uint32_t period_ms;
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    double backoff_jitter;
    uint64_t (*clock_ms)(void *clock_user);
    void *clock_user;
    /* Watchdog (0 = off). on_stuck runs on the actors/ timer thread, which
     * also drives supervisor delays: keep it short and never block in it. */
    uint32_t watchdog_ms;
    int watchdog_kill;
    void (*on_stuck)(void *user_data, unsigned worker, uint64_t stuck_ms);
    void *user_data;
    const char *name; /* static, for diagnostics; NULL = "pool" */
} tr_pool_config;

/* Defaults: 4 workers, round robin, 3 redeliveries, unlimited intensity. */
TR_EXTERN void tr_pool_config_init(tr_pool_config *cfg);

/* Start the router and its workers. *out is the pool handle (count 1):
 * release it with tr_pool_release. TR_EINVAL for a bad config, TR_ENOMEM,
 * TR_ESYS if the runtime's timer thread (respawn backoff, watchdog) is not
 * running and cannot be made (out of threads; a later call tries again). */
TR_EXTERN int tr_pool_start(tr_runtime *rt, const tr_pool_config *cfg, tr_ref **out);
/* A tr_child_start_fn for putting a pool under a supervisor: arg is a const
 * tr_pool_config* that must outlive the supervisor. Such a pool is owned by
 * its supervisor and does not count handles: tr_pool_retain/tr_pool_release
 * on it only take and drop a tr_ref reference; it closes when the supervisor
 * stops it (or by tr_pool_close, after which a permanent spec restarts it). */
TR_EXTERN int tr_pool_start_as_child(tr_runtime *rt, void *arg, tr_ref **out);

/* Pool handle counting (any thread, never blocks). tr_pool_retain takes a
 * tr_ref reference too; tr_pool_release drops both, and closes the pool when
 * the count reaches zero. */
TR_EXTERN int tr_pool_retain(tr_ref *pool);
TR_EXTERN int tr_pool_release(tr_ref *pool);
/* Close now (any thread, never blocks). Once it returns 0, sends to the pool
 * and a second close return TR_EDEAD; jobs queued before it are
 * dead-lettered as the router ends. TR_EDEAD if already closed (or closing
 * by itself), TR_EINVAL if pool is not a pool. */
TR_EXTERN int tr_pool_close(tr_ref *pool);

/* Resize (block until the router answers; TR_EDEADLK on a worker thread).
 * 0 when done; refused: TR_EFULL (add, at max_workers), TR_ESTATE (the pool
 * is closing); TR_EDEAD: the pool is closed; TR_ENOMEM (add: the worker
 * could not be spawned). Removing takes the newest worker:
 * it finishes its current job, its queued jobs are routed to the others.
 * Removing the last worker closes the pool. */
TR_EXTERN int tr_pool_try_add_worker(tr_ref *pool);
TR_EXTERN int tr_pool_try_remove_worker(tr_ref *pool);

/* The same from inside an actor (ctx: the calling actor's, in one of its
 * callbacks; never blocks). 0: the request is on its way and exactly one
 * message will come back, with msg->corr == tag: a TR_MSG_RESULT whose
 * status is 0 or a negative code as for the blocking form, or a
 * TR_MSG_ASK_FAILED: status TR_EDEAD if the pool ended first, TR_ENOMEM if
 * the result could not be allocated, TR_EFULL if it found the caller's
 * bounded mailbox full (the notice itself passes the bound). Negative:
 * nothing was sent and nothing will come (TR_EINVAL: ctx NULL or pool not a
 * pool; TR_EDEAD: the pool is closed; TR_ENOMEM). */
TR_EXTERN int tr_pool_try_add_worker_async(tr_ctx *ctx, tr_ref *pool, uint64_t tag);
TR_EXTERN int tr_pool_try_remove_worker_async(tr_ctx *ctx, tr_ref *pool, uint64_t tag);

typedef struct tr_pool_stats {
    unsigned workers;       /* live worker slots */
    uint64_t jobs;          /* jobs accepted from senders */
    uint64_t routed;        /* routing decisions (incl. redeliveries) */
    uint64_t handled;       /* jobs whose receive returned 0 (all slots) */
    uint64_t restarts;      /* workers respawned */
    uint64_t redeliveries;  /* jobs routed again after a crash */
    uint64_t returned;      /* jobs handed back unstarted by an ending worker */
    uint64_t dead_lettered; /* jobs the pool gave up on (incl. close) */
    uint64_t stuck;         /* watchdog reports */
    uint64_t queued;        /* jobs waiting at the router now */
    uint64_t crashes;       /* process-isolated pools (troupe/ipool.h): worker
                             * processes that died by a signal, watchdog kills
                             * (counted in stuck too) included; 0 otherwise */
    uint64_t copies;        /* BROADCAST: copies made for the workers beyond the
                             * first (each is then handled or dead-lettered
                             * like a job: handled + dead_lettered + in flight
                             * + queued = jobs + copies); 0 otherwise */
} tr_pool_stats;

/* Blocking (TR_EDEADLK on a worker). handled (optional: NULL, and cap is
 * ignored) gets the per-slot handled counts of up to cap slots (slot i =
 * the i-th worker). A crashed worker's job reaches the router before the
 * news of the crash, so a redelivered job may be answered a moment before
 * its restart is counted. 0; TR_EINVAL (out NULL, not a pool), TR_EDEAD
 * (closed), TR_ENOMEM. */
TR_EXTERN int tr_pool_stats_get(tr_ref *pool, tr_pool_stats *out, uint64_t *handled, size_t cap);

/* tr_pool_stats_get from inside an actor: as tr_pool_try_add_worker_async;
 * the TR_MSG_RESULT (status 0, or TR_ENOMEM) carries the statistics, read
 * with tr_pool_result_stats while the message is being received. */
TR_EXTERN int tr_pool_stats_async(tr_ctx *ctx, tr_ref *pool, uint64_t tag);

/* Read the result of tr_pool_stats_async (res: the TR_MSG_RESULT received;
 * it stays the caller's, the runtime destroys it after receive as usual).
 * Fills *out and up to cap per-slot handled counts (handled optional:
 * NULL, whatever cap); *n (optional) gets the number of live slots, which
 * may exceed cap. Returns 0; the call's error if res reports one (a TR_MSG_ASK_FAILED:
 * its status, TR_EDEAD; a failed result: TR_ENOMEM); TR_EINVAL if res is not
 * the result of a stats call or an argument is bad. Any thread. */
TR_EXTERN int tr_pool_result_stats(const tr_msg *res, tr_pool_stats *out, uint64_t *handled,
                                   size_t cap, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
