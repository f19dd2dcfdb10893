/* actors/pool_api.h - the control requests a pool router answers
 * (actors/pool_api.c makes them; actors/pool.c and isolate/ipool.c answer).
 *
 * A control request is asked by the blocking calls (a future) and sent with
 * tr_request by the _async ones; the router answers both the same way, with
 * tr__reply_result (a TR_MSG_RESULT: status = the result code, ptr = a
 * tr__pool_stats_res for TR__POOL_STATS). Retain/release are one-way. */
#ifndef TR_ACTORS_POOL_API_H
#define TR_ACTORS_POOL_API_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/msg.h"
#include "troupe/pool.h"

enum { TR__POOL_ADD = 1, TR__POOL_REMOVE, TR__POOL_STATS, TR__POOL_RETAIN, TR__POOL_RELEASE };

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

/* The counters every pool router keeps (owner only: the router), the part
 * of its stats the kinds share. */
typedef struct tr__pool_counts {
    uint64_t jobs, routed, restarts, redeliveries, returned;
    uint64_t dead;   /* jobs the router dead-lettered */
    uint64_t queued; /* jobs waiting in the router's queues */
    uint64_t copies; /* BROADCAST: copies made beyond the first worker's */
} tr__pool_counts;

/* A stats result for n live workers, with c's counters filled in and the
 * rest 0 (the router adds its own: handled[], stuck, crashes, other dead
 * letters): NULL when out of memory. */
tr__pool_stats_res *tr__pool_stats_res_new(const tr__pool_counts *c, size_t n);

/* Another kind of pool router that answers the same control requests (the
 * process-isolated pool's, isolate/ipool.c), so that tr_pool_close, stats,
 * retain and release accept its handle: registered by its start function
 * (idempotent, any thread; up to 4 kinds). */
void tr__pool_kind_add(tr_receive_fn receive);

#endif
