/* core/blocks.h - the pool of actor control blocks (core/blocks.c).
 *
 * Blocks are type-stable: reused only as other actors' blocks, and only once
 * their reference count is zero (core/actor.h). The pool's state lives in
 * struct tr_runtime (pool_lock, pool_cls, chunks) and in each worker's
 * caches (tr__worker.blocks); only blocks.c touches it. Two classes of block
 * (core/actor.h): TR__BLOCK_SMALL (16 bytes of inline state) and
 * TR__BLOCK_LARGE (64 on a fourth line). */
#ifndef TR_CORE_BLOCKS_H
#define TR_CORE_BLOCKS_H

#include "core/actor.h"

/* The class a spawn takes for state of `size` bytes: 1 (large) if only
 * the large block holds it inline, else 0. */
static inline unsigned tr__block_class_for(size_t size) {
    return size > TR__INLINE_SMALL && size <= TR__INLINE_LARGE;
}

/* The pool's fields of a zeroed rt (tr_runtime_new): empty, no chunk. */
void tr__blocks_init(tr_runtime *rt);
/* A free block of rt, of the large class if `large`, else the small one
 * (refs and alive are 0; the other fields hold what the last actor left),
 * or NULL out of memory. Any thread (a worker of rt takes from its own
 * cache first). */
tr_actor *tr__block_alloc(tr_runtime *rt, unsigned large);
/* Where state of `size` bytes lives in a's block, or NULL if it does not
 * fit (it is then allocated). */
static inline void *tr__block_inline(tr_actor *a, size_t size) {
    if (size <= TR__INLINE_SMALL)
        return a->inline_small;
    return a->block_class != 0 && size <= TR__INLINE_LARGE ? a->inline_large : NULL;
}
/* Give back a block whose last reference is gone. Any thread. */
void tr__block_free(tr_runtime *rt, tr_actor *a);
/* Call fn on every block that holds a live actor (for close). */
void tr__blocks_each_alive(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg);
/* A worker on its way to sleep: map and populate the chunk the pool asked
 * for ahead of need (rt->ahead_want), so that the spawner who next empties
 * the pool need not. Returns at once if none is wanted. Workers of rt only;
 * a system call and the kernel's zeroing of up to 2 MB. */
void tr__blocks_map_ahead_owner(tr_runtime *rt);
/* Free every chunk (tr_runtime_free, after the workers have exited). */
void tr__blocks_destroy(tr_runtime *rt);
/* Call fn on every block, live or not (under pool_lock): side blocks, reports at free. */
void tr__blocks_each_block(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg);
/* A malloc'd copy of the chunk list (blocks never move or go away until the
 * runtime is freed): *n chunks (see tr__blocks_of_chunk), or NULL: none
 * (*n = 0), or out of memory (*nomem = 1). Any thread; holds pool_lock for
 * the copy only (core/introspect.c walks the copy). */
void **tr__blocks_chunks_any(tr_runtime *rt, size_t *n, int *nomem);
/* The blocks of a chunk from tr__blocks_chunks_any, how many (*n) and how
 * far apart (*stride bytes: its class's size; see tr__block_at). */
tr_actor *tr__blocks_of_chunk(void *chunk, size_t *n, size_t *stride);
/* The i-th block of a chunk's blocks. */
static inline tr_actor *tr__block_at(tr_actor *blocks, size_t i, size_t stride) {
    return (tr_actor *)(void *)((char *)blocks + i * stride);
}

#endif
