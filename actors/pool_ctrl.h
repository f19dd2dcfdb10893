/* actors/pool_ctrl.h - how a pool router answers a control request.
 *
 * Both kinds of pool router (actors/pool.c, the thread pool's; isolate/
 * ipool.c, the process-isolated pool's) answer the same requests
 * (tr__pool_ctrl: grow, shrink, stats, retain, release) the same way; only
 * what a grow, a shrink or a stats snapshot does differs. A router hands its
 * own three operations and its close to tr__pool_ctrl_serve, which does the
 * rest: the handle count, and the answer to a blocking caller's future or an
 * _async caller's mailbox (actors/pool_api.c). */
#ifndef TR_ACTORS_POOL_CTRL_H
#define TR_ACTORS_POOL_CTRL_H

#include <stdint.h>

#include "actors/pool_api.h"

typedef struct tr__pool_ctrl_ops {
    /* Grow or shrink by one worker: 0, or a negative code for the caller
     * (TR_ESTATE closing, TR_EFULL at max_workers, the spawn's error). */
    int (*add)(void *router);
    int (*remove)(void *router);
    /* A malloc'd snapshot for the caller, or NULL when out of memory. */
    tr__pool_stats_res *(*stats)(void *router);
    /* The last pool handle went: the router ends itself. */
    void (*close)(void *router);
} tr__pool_ctrl_ops;

/* Serve control request c, received by the router (owner only, in its
 * receive). *user_handles is the router's count of the user's pool handles
 * (< 0: started under a supervisor, not counted; actors/pool_worker.h says
 * why it is not the tr_ref count); closing says whether it is closing already (a
 * last release then closes nothing). The answer goes back as
 * tr__reply_result (actors/pool_api.c); c stays the runtime's (it is the
 * message being received). */
void tr__pool_ctrl_serve(tr__pool_ctrl *c, const tr__pool_ctrl_ops *ops, void *router,
                         int64_t *user_handles, int closing);

#endif
