/* actors/pool.h - the pool's router actor (actors/pool.c), which
 * actors/pool_api.c spawns: the pool handle is the router. */
#ifndef TR_ACTORS_POOL_H
#define TR_ACTORS_POOL_H

#include <stdint.h>

#include "actors/pool_worker.h"
#include "troupe/actor.h"

/* The router's spawn arg. */
typedef struct tr__pool_rarg {
    tr__pool *p;
    int64_t user_handles; /* the user's pool handles at start (1); < 0: a
                           * supervisor's child, not counted */
} tr__pool_rarg;
extern const tr_behavior tr__pool_router_behavior;

#endif
