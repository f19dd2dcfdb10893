/* actors/pool.h - what the pool's files share (see actors/pool.c).
 *
 * tr__pool is the part of a pool other threads touch: owned jointly by the
 * router and every live worker (refcounted), freed by the last of them. */
#ifndef TR_ACTORS_POOL_H
#define TR_ACTORS_POOL_H

#include <pthread.h>
#include <stdint.h>

#include "base/atomic.h"
#include "troupe/pool.h"

/* A job's status field while the pool owns it. */
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
    uint32_t refs; /* the router + each live worker */
    tr_runtime *rt;
    tr_pool_config cfg;
    tr_ref *router; /* retained: workers return jobs to it */
    uint64_t dead;  /* jobs dead-lettered by workers */
    uint64_t stuck; /* watchdog reports */
    unsigned cap;   /* slots */
    tr__pool_slot *slots;
    pthread_mutex_t wd_mu;
    struct stuck_rec {
        unsigned slot;
        uint64_t ms;
        tr_ref *ref;
    } * wd_scratch; /* timer thread only */
} tr__pool;

/* References (the router's, one per live worker). */
void tr__pool_ref(tr__pool *p);
void tr__pool_unref(tr__pool *p);
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

/* The router (actors/pool.c) and its control requests (actors/pool_api.c). */
extern const tr_behavior tr__pool_router_behavior;
typedef struct tr__pool_rarg {
    tr__pool *p;
    int64_t handles; /* initial pool handle count; < 0: not counted */
} tr__pool_rarg;

enum { TR__POOL_ADD = 1, TR__POOL_REMOVE, TR__POOL_STATS, TR__POOL_RETAIN, TR__POOL_RELEASE };

/* A control request: asked by the blocking calls (a future) and sent with
 * tr_request by the _async ones; the router answers both the same way, with
 * tr__reply_result (a TR_MSG_RESULT: status = the result code, ptr = a
 * tr__pool_stats_res for TR__POOL_STATS). Retain/release are one-way. */
typedef struct tr__pool_ctrl {
    tr_msg msg; /* release = tr__pool_ctrl_release: how the router knows it */
    int op;
} tr__pool_ctrl;
void tr__pool_ctrl_release(tr_msg *m);

/* The ptr of a stats result (malloc'd; freed by tr__pool_stats_res_free,
 * which is also how tr_pool_result_stats knows one). */
typedef struct tr__pool_stats_res {
    tr_pool_stats st;
    size_t n;           /* live slots: entries in handled */
    uint64_t handled[]; /* per live slot */
} tr__pool_stats_res;
void tr__pool_stats_res_free(void *res);

#endif
