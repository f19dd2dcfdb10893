/* actors/pool_worker.h - the pool's worker side (actors/pool_worker.c): the
 * wrapper behaviour, the watchdog scan, and the shared tr__pool.
 *
 * tr__pool is the part of a pool other threads touch (workers, the router,
 * the watchdog on the timer thread). Its life is owned here, by
 * actors/pool_worker.c: made by tr__pool_new, freed by the last
 * tr__pool_drop (the router and each live worker hold it).
 *
 * A pool has two counts, because it has two lives. `holders` (here) counts
 * who may still touch this struct: its memory outlives the router, whose
 * workers end after it (the router stops them, they end on their own
 * workers). The router's `user_handles` (actors/pool.c) counts the user's
 * pool handles (tr_pool_start's, tr_pool_retain, tr_pool_release): when
 * the pool closes. The router's tr_ref count cannot tell that, since
 * monitors, timers, asks and this struct's `router` hold it too. */
#ifndef TR_ACTORS_POOL_WORKER_H
#define TR_ACTORS_POOL_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/platform.h"
#include "troupe/actor.h"
#include "troupe/pool.h"

/* The ready token a shared-queue worker bounces to the router (a system
 * message; TR__A_TIMER, 0x101, is actors/timer_thread.h's). */
#define TR__A_TOKEN (TR_MSG_SYSTEM + 0x102u)

/* A job's status field while the pool owns it: the worker marks a job it
 * hands back, the router reads the marks (user messages arrive with 0). */
#define TR__POOL_ATTEMPTS 0xFFFF  /* crashes so far */
#define TR__POOL_CRASHED 0x10000  /* came back from a crashed worker */
#define TR__POOL_RETURNED 0x20000 /* came back unstarted from an ending worker */

typedef struct tr__pool_slot {
    uint64_t handled;  /* jobs done; atomic add by the slot's worker */
    uint64_t start_ms; /* watchdog: job start (0 = idle); worker stores, watchdog loads */
    uint64_t reported; /* watchdog thread only: the start it reported */
    tr_ref *ref;       /* watchdog: the slot's worker (retained), under wd_mu */
} TR__ALIGNED tr__pool_slot;

typedef struct tr__pool {
    uint32_t holders; /* the router + each live worker (tr__pool_hold/drop) */
    tr_runtime *rt;
    tr_pool_config cfg;
    tr_ref *router; /* retained until the struct is freed: workers return jobs to it,
                     * and fail on its closed mailbox once it has ended */
    uint64_t dead;  /* jobs dead-lettered by workers */
    uint64_t stuck; /* watchdog reports */
    unsigned cap;   /* slots */
    tr__pool_slot *slots;
    pthread_mutex_t wd_mu;
    struct tr__pool_stuck {
        unsigned slot;
        uint64_t ms;
        tr_ref *ref;
    } * wd_scratch; /* timer thread only */
} tr__pool;

/* A new tr__pool for cfg (copied, valid), held once (for the router): NULL
 * when out of memory. */
tr__pool *tr__pool_new(tr_runtime *rt, const tr_pool_config *cfg);
/* Hold p (a worker from its init), drop a hold (a worker as it ends, the
 * router as it is freed); the last drop frees p and releases what it
 * retains (`router`, the watchdog's slot handles). */
void tr__pool_hold(tr__pool *p);
void tr__pool_drop(tr__pool *p);
/* Dead-letter a job the pool gives up on (status cleared). */
void tr__pool_job_dead(tr__pool *p, tr_msg *m, int why);

/* The worker wrapper; its spawn arg is a tr__pool_warg, its state
 * tr__pool_wstate_size(p) bytes. */
typedef struct tr__pool_warg {
    tr__pool *pool;
    unsigned slot;
} tr__pool_warg;
extern const tr_behavior tr__pool_worker_behavior;
size_t tr__pool_wstate_size(const tr__pool *p);

/* The watchdog scan (a periodic timer function; arg is the tr__pool). */
void tr__pool_watchdog(void *arg);

#endif
