/* core/blocks.c - the pool of actor control blocks.
 *
 * Blocks are carved from 64-block chunks that live until the runtime is
 * freed, and recycled through a per-worker cache (owner only, no atomics) that
 * spills to and refills from a spinlocked global list in batches. Because a
 * block is only ever reused as another block, and only after its last
 * reference is gone, a handle never points at freed memory. Skynet-style spawn
 * storms hit only the worker cache. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/lock.h"
#include "core/blocks.h"
#include "core/runtime.h"

#define CHUNK_BLOCKS 64
#define CACHE_MAX 256
#define REFILL 32

static inline tr_actor *next_of(tr_actor *a) {
    return (tr_actor *)a->state;
}

static inline void set_next(tr_actor *a, tr_actor *next) {
    a->state = next;
}

/* Caller holds pool_lock. Returns 0 or TR_ENOMEM. */
static int add_chunk_locked(tr_runtime *rt) {
    if (rt->nchunks == rt->chunks_cap) {
        size_t cap = rt->chunks_cap ? rt->chunks_cap * 2 : 16;
        void **c = realloc(rt->chunks, cap * sizeof(*c));
        if (c == NULL)
            return -1;
        rt->chunks = c;
        rt->chunks_cap = cap;
    }
    tr_actor *blocks = aligned_alloc(TR__CACHELINE, CHUNK_BLOCKS * sizeof(tr_actor));
    if (blocks == NULL)
        return -1;
    memset(blocks, 0, CHUNK_BLOCKS * sizeof(tr_actor));
    rt->chunks[rt->nchunks++] = blocks;
    for (size_t i = 0; i < CHUNK_BLOCKS; i++) {
        set_next(&blocks[i], rt->pool_free);
        rt->pool_free = &blocks[i];
    }
    rt->pool_free_count += CHUNK_BLOCKS;
    return 0;
}

static tr_actor *take_global(tr_runtime *rt, tr__worker *w) {
    tr_actor *got = NULL;
    tr__spin_lock(&rt->pool_lock);
    if (rt->pool_free == NULL && add_chunk_locked(rt) != 0) {
        tr__spin_unlock(&rt->pool_lock);
        return NULL;
    }
    got = rt->pool_free;
    rt->pool_free = next_of(got);
    rt->pool_free_count--;
    /* Refill the worker's cache while we hold the lock. */
    for (unsigned i = 0; w != NULL && i < REFILL && rt->pool_free != NULL; i++) {
        tr_actor *b = rt->pool_free;
        rt->pool_free = next_of(b);
        rt->pool_free_count--;
        set_next(b, w->free_blocks);
        w->free_blocks = b;
        w->free_count++;
    }
    tr__spin_unlock(&rt->pool_lock);
    return got;
}

tr_actor *tr__block_alloc(tr_runtime *rt) {
    tr__worker *w = tr__worker_of(rt);
    tr_actor *a;
    if (w != NULL && w->free_blocks != NULL) {
        a = w->free_blocks;
        w->free_blocks = next_of(a);
        w->free_count--;
    } else {
        a = take_global(rt, w);
        if (a == NULL)
            return NULL;
    }
    assert(a->refs == 0 && a->alive == 0);
    return a;
}

void tr__block_free(tr_runtime *rt, tr_actor *a) {
    assert(a->watchers == NULL);
    a->state = NULL;
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && w->free_count < CACHE_MAX) {
        set_next(a, w->free_blocks);
        w->free_blocks = a;
        w->free_count++;
        return;
    }
    tr__spin_lock(&rt->pool_lock);
    set_next(a, rt->pool_free);
    rt->pool_free = a;
    rt->pool_free_count++;
    /* A full cache gives half back, so the next frees stay local. */
    while (w != NULL && w->free_count > CACHE_MAX / 2) {
        tr_actor *b = w->free_blocks;
        w->free_blocks = next_of(b);
        w->free_count--;
        set_next(b, rt->pool_free);
        rt->pool_free = b;
        rt->pool_free_count++;
    }
    tr__spin_unlock(&rt->pool_lock);
}

void tr__blocks_each_alive(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg) {
    tr__spin_lock(&rt->pool_lock);
    for (size_t c = 0; c < rt->nchunks; c++) {
        tr_actor *blocks = rt->chunks[c];
        for (size_t i = 0; i < CHUNK_BLOCKS; i++) {
            /* Pairs with the release store of alive in tr_spawn. */
            if (ck_pr_load_32(&blocks[i].alive)) {
                TR__TSAN_ACQUIRE(&blocks[i].alive);
                fn(&blocks[i], arg);
            }
        }
    }
    tr__spin_unlock(&rt->pool_lock);
}

void tr__blocks_destroy(tr_runtime *rt) {
    for (size_t c = 0; c < rt->nchunks; c++)
        free(rt->chunks[c]);
    free(rt->chunks);
    rt->chunks = NULL;
    rt->nchunks = rt->chunks_cap = 0;
    rt->pool_free = NULL;
}
