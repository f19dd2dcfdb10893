/* core/blocks.h - the pool of actor control blocks (core/blocks.c).
 *
 * Blocks are type-stable: reused only as other actors' blocks, and only once
 * their reference count is zero (core/actor.h). The pool's state lives in
 * struct tr_runtime (pool_lock, pool_free, chunks) and in each worker's
 * cache (free_blocks); only blocks.c touches it. */
#ifndef TR_CORE_BLOCKS_H
#define TR_CORE_BLOCKS_H

#include "core/actor.h"

/* A free block of rt (refs and alive are 0; the other fields hold what the
 * last actor left), or NULL out of memory. Any thread (a
 * worker of rt takes from its own cache first). */
tr_actor *tr__block_alloc(tr_runtime *rt);
/* Give back a block whose last reference is gone. Any thread. */
void tr__block_free(tr_runtime *rt, tr_actor *a);
/* Call fn on every block that holds a live actor (for close). */
void tr__blocks_each_alive(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg);
/* Call fn on every block of the pool, free or not (reports at free). */
void tr__blocks_each(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg);
/* Free every chunk (tr_runtime_free, after the workers have exited). */
void tr__blocks_destroy(tr_runtime *rt);

#endif
