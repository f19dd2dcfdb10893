/* core/blocks.c - the pool of actor control blocks.
 *
 * Blocks are carved from chunks that live until the runtime is freed, and
 * recycled through a per-worker cache (owner only, no atomics) that spills to
 * and refills from a spinlocked global list in batches. Because a block is
 * only ever reused as another block, and only after its last reference is
 * gone, a handle never points at freed memory. Skynet-style spawn storms hit
 * only the worker cache.
 *
 * Chunks are mapped memory, populated when mapped: a runtime's first chunk
 * is 64 KB and each next one twice the last, up to 2 MB, aligned so that the
 * kernel may back it with one huge page. A spawn storm from a foreign thread
 * (live: a million actors kept alive) then costs one system call per chunk
 * instead of a page fault per six blocks and a heap call per 64, which on a
 * virtual machine were 90% of its time (0.46 M spawns/s; docs/performance.md).
 * Anonymous memory reads as zero, as the blocks must start. Each chunk's
 * first cache line holds its size and its blocks' class; the blocks follow.
 *
 * Two classes of block, each with its own chunks, free lists and caches:
 * 192 bytes (three lines, 16 bytes of inline state: the idle actor of the
 * live workload, most actors) and 256 (a fourth line of 64 bytes of state:
 * skynet's nodes, states of a few more words, which would otherwise cost a
 * calloc per spawn). tr_spawn picks by the state's size; a block stays in
 * its class for good, so a handle's fields are always where it expects
 * them.
 *
 * A fresh chunk's blocks are handed out in address order from a bump
 * pointer (bump..bump_end), not threaded onto the free list first: that
 * pass wrote a line of every block of a 2 MB chunk right after the kernel
 * zeroed it. Freed blocks go to the free list, which is taken first.
 *
 * Mapping ahead: populating is the kernel zeroing the chunk (and, on a
 * virtual machine, the host backing it: 0.1-0.5 GB/s for memory the guest
 * has not touched lately, 2-5 GB/s otherwise), and it was most of a
 * foreign thread's spawn (live: 60% of the spawn phase in clear_page).
 * Once the runtime has grown to chunks of 512 KB, the spawn that takes the
 * newest chunk's middle block asks an idle worker to map and populate the
 * next (ahead_want, one wake-up per chunk); the worker does it on its way
 * to sleep (tr__blocks_map_ahead_owner) and the spawner that empties the
 * pool takes it without a system call. Without an idle worker nothing
 * changes: the spawner maps the chunk itself, as before. Asking at the
 * middle, not when the chunk is added, keeps a populated chunk from being
 * held ahead of a spawn storm that stopped in the first half of its last
 * chunk: the pool's resident slack is the last chunk's unused part, plus a
 * chunk ahead only once that chunk is half used (live: bytes per actor,
 * docs/performance.md). */
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/lock.h"
#include "core/blocks.h"
#include "core/runtime.h"
#include "core/worker.h"

/* Blocks hold the only pointers to some heap memory (large states, stop
 * texts, watchers): LeakSanitizer must scan the mapped chunks as it scans
 * the heap, or it reports that memory as leaked while the runtime lives. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define SCAN_ROOT(p, n) __lsan_register_root_region((p), (n))
#define UNSCAN_ROOT(p, n) __lsan_unregister_root_region((p), (n))
#else
#define SCAN_ROOT(p, n) ((void)0)
#define UNSCAN_ROOT(p, n) ((void)0)
#endif

#define CHUNK_FIRST (64u << 10)  /* bytes: the first chunk */
#define CHUNK_MAX (2u << 20)     /* bytes: the largest (a huge page) */
#define CHUNK_AHEAD (512u << 10) /* from chunks this large on, the next is mapped ahead */
#define CACHE_MAX 256
#define REFILL 32
#define MADVISE_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL */
/* A class's ahead_at when no chunk is to be asked for: above every address. */
#define AHEAD_NEVER ((char *)UINTPTR_MAX)

/* A chunk's first line: its size and class, then the blocks from the next
 * line on. */
typedef struct chunk_head {
    size_t bytes;   /* mapped */
    size_t nblocks; /* blocks in it */
    size_t stride;  /* bytes per block: its class's size */
} chunk_head;

#define HEAD_SIZE TR__CACHELINE
_Static_assert(sizeof(chunk_head) <= HEAD_SIZE, "a chunk's head fits its first line");
_Static_assert(TR__BLOCK_SMALL % TR__CACHELINE == 0 && TR__BLOCK_LARGE % TR__CACHELINE == 0,
               "blocks stay line-aligned in a chunk");

static const size_t class_size[2] = {TR__BLOCK_SMALL, TR__BLOCK_LARGE};

static inline tr_actor *chunk_blocks(void *c) {
    return (tr_actor *)(void *)((char *)c + HEAD_SIZE);
}

static inline tr_actor *next_of(tr_actor *a) {
    return (tr_actor *)a->state;
}

static inline void set_next(tr_actor *a, tr_actor *next) {
    a->state = next;
}

/* `bytes` of zeroed memory, aligned to `bytes` (a power of two) when that is
 * a huge page's size, populated; NULL if none. Called without pool_lock. */
static void *map_chunk(size_t bytes) {
    size_t extra = bytes >= CHUNK_MAX ? bytes : 0; /* room to align */
    char *p = mmap(NULL, bytes + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (extra != 0) {
        char *aligned = (char *)(((uintptr_t)p + bytes - 1) & ~(uintptr_t)(bytes - 1));
        if (aligned > p)
            munmap(p, (size_t)(aligned - p));
        if (aligned + bytes < p + bytes + extra)
            munmap(aligned + bytes, (size_t)(p + bytes + extra - (aligned + bytes)));
        p = aligned;
#ifdef MADV_HUGEPAGE
        (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: THP may be off */
#endif
    }
    /* One call instead of a fault per page; a hint (older kernels: faults). */
    (void)madvise(p, bytes, MADVISE_POPULATE_WRITE);
    SCAN_ROOT(p, bytes);
    return p;
}

/* The size of a class's chunk after its n-th. */
static size_t chunk_bytes(size_t n) {
    size_t bytes = CHUNK_FIRST << (n < 5 ? n : 5);
    return bytes > CHUNK_MAX ? CHUNK_MAX : bytes;
}

/* A free block of class k from its list, else from its bump range; NULL
 * if neither has one. Caller holds pool_lock. */
static tr_actor *pop_locked(tr_runtime *rt, unsigned k) {
    struct tr__block_class *pc = &rt->pool_cls[k];
    tr_actor *a = pc->free;
    if (a != NULL) {
        pc->free = next_of(a);
    } else if (pc->bump != pc->bump_end) {
        a = (tr_actor *)(void *)pc->bump;
        pc->bump += class_size[k];
        a->block_class = (uint8_t)k; /* for good: tr__block_free reads it */
    } else {
        return NULL;
    }
    return a;
}

/* A chunk for class k. Caller holds pool_lock, which it drops while
 * mapping and takes again. Returns 0 (blocks added, by us or by another
 * thread meanwhile) or -1. */
static int add_chunk_locked(tr_runtime *rt, unsigned k) {
    struct tr__block_class *pc = &rt->pool_cls[k];
    size_t bytes = chunk_bytes(pc->nchunks);
    void *c = NULL;
    if (rt->ahead != NULL) { /* mapped by a worker (of the size asked then) */
        c = rt->ahead;
        bytes = rt->ahead_bytes;
        rt->ahead = NULL;
    } else {
        tr__spin_unlock(&rt->pool_lock); /* no system call under a spinlock */
        c = map_chunk(bytes);
        tr__spin_lock(&rt->pool_lock);
        if (pc->bump != pc->bump_end || pc->free != NULL) { /* another thread added one */
            if (c != NULL) {
                UNSCAN_ROOT(c, bytes);
                munmap(c, bytes);
            }
            return 0;
        }
        if (c == NULL)
            return -1;
    }
    if (rt->nchunks == rt->chunks_cap) {
        size_t cap = rt->chunks_cap ? rt->chunks_cap * 2 : 16;
        void **cs = realloc(rt->chunks, cap * sizeof(*cs));
        if (cs == NULL) {
            UNSCAN_ROOT(c, bytes);
            munmap(c, bytes);
            return -1;
        }
        rt->chunks = cs;
        rt->chunks_cap = cap;
    }
    chunk_head *h = c;
    h->bytes = bytes;
    h->stride = class_size[k];
    h->nblocks = (bytes - HEAD_SIZE) / h->stride;
    rt->chunks[rt->nchunks++] = c;
    pc->nchunks++;
    /* Lowest address first out: spawns walk the chunk in order. */
    pc->bump = (char *)chunk_blocks(c);
    pc->bump_end = pc->bump + h->nblocks * h->stride;
    /* Grown past the small chunks: have the next one mapped ahead once
     * this one is half used (take_global). */
    pc->ahead_at = bytes >= CHUNK_AHEAD ? pc->bump + (h->nblocks / 2) * h->stride : AHEAD_NEVER;
    return 0;
}

/* The bump pointer passed ahead_at: ask an idle worker for the next chunk,
 * unless one is mapped or being mapped already. Caller holds pool_lock;
 * *want is set when it should notify a worker (after the unlock). */
static void ask_ahead_locked(tr_runtime *rt, unsigned k, int *want) {
    rt->pool_cls[k].ahead_at = AHEAD_NEVER; /* once per chunk */
    if (rt->ahead != NULL || ck_pr_load_32(&rt->ahead_want) != 0)
        return;
    rt->ahead_bytes = chunk_bytes(rt->pool_cls[k].nchunks);
    /* Relaxed: a hint that idle workers poll; the request's size is read
     * under pool_lock by whoever maps it. */
    ck_pr_store_32(&rt->ahead_want, 1);
    *want = 1;
}

static tr_actor *take_global(tr_runtime *rt, tr__worker *w, unsigned k) {
    int want = 0;
    tr__spin_lock(&rt->pool_lock);
    tr_actor *got = pop_locked(rt, k);
    while (got == NULL) {
        if (add_chunk_locked(rt, k) != 0) {
            tr__spin_unlock(&rt->pool_lock);
            return NULL;
        }
        got = pop_locked(rt, k);
    }
    /* Refill the worker's cache while we hold the lock. */
    for (unsigned i = 0; w != NULL && i < REFILL; i++) {
        tr_actor *b = pop_locked(rt, k);
        if (b == NULL)
            break;
        set_next(b, w->blocks[k].head);
        w->blocks[k].head = b;
        w->blocks[k].count++;
    }
    /* One compare per take: ahead_at is AHEAD_NEVER unless a large chunk
     * is being bumped through and the next has not been asked for. */
    if (TR__UNLIKELY((uintptr_t)rt->pool_cls[k].bump >= (uintptr_t)rt->pool_cls[k].ahead_at))
        ask_ahead_locked(rt, k, &want);
    tr__spin_unlock(&rt->pool_lock);
    if (want)
        tr__notify_any(rt); /* a sleeping worker maps it on its way back to sleep */
    return got;
}

void tr__blocks_map_ahead_owner(tr_runtime *rt) {
    /* One worker takes the request (the CAS); the others go to sleep. */
    if (!ck_pr_cas_32(&rt->ahead_want, 1, 2))
        return;
    tr__spin_lock(&rt->pool_lock);
    size_t bytes = rt->ahead_bytes;
    tr__spin_unlock(&rt->pool_lock);
    void *c = map_chunk(bytes);
    tr__spin_lock(&rt->pool_lock);
    if (c != NULL && rt->ahead == NULL) {
        rt->ahead_bytes = bytes;
        rt->ahead = c;
        c = NULL;
    }
    tr__spin_unlock(&rt->pool_lock);
    if (c != NULL) { /* cannot happen: only the request's taker installs one */
        UNSCAN_ROOT(c, bytes);
        munmap(c, bytes);
    }
    ck_pr_store_32(&rt->ahead_want, 0); /* the next chunk added may ask again */
}

void tr__blocks_init(tr_runtime *rt) {
    rt->pool_lock = (ck_spinlock_fas_t)CK_SPINLOCK_FAS_INITIALIZER;
    rt->pool_cls[0].ahead_at = rt->pool_cls[1].ahead_at = AHEAD_NEVER;
}

tr_actor *tr__block_alloc(tr_runtime *rt, unsigned large) {
    unsigned k = large != 0;
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && TR__UNLIKELY(w->priv)) /* a private worker keeps no cache (core/pin.c) */
        w = NULL;
    tr_actor *a;
    struct tr__block_cache *c = w != NULL ? &w->blocks[k] : NULL;
    if (c != NULL && c->head != NULL) {
        a = c->head;
        c->head = next_of(a);
        c->count--;
    } else {
        a = take_global(rt, w, k);
        if (a == NULL)
            return NULL;
    }
    assert(a->refs == 0 && a->alive == 0 && a->block_class == k);
    return a;
}

void tr__block_free(tr_runtime *rt, tr_actor *a) {
    a->state = NULL;
    if (a->ext != NULL) { /* the last incarnation's side block */
        assert(a->ext->watchers == NULL);
        tr__actor_ext_free(a->ext);
        a->ext = NULL;
    }
    unsigned k = a->block_class;
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && TR__UNLIKELY(w->priv))
        w = NULL;
    struct tr__block_cache *c = w != NULL ? &w->blocks[k] : NULL;
    if (c != NULL && c->count < CACHE_MAX) {
        set_next(a, c->head);
        c->head = a;
        c->count++;
        return;
    }
    struct tr__block_class *pc = &rt->pool_cls[k];
    tr__spin_lock(&rt->pool_lock);
    set_next(a, pc->free);
    pc->free = a;
    /* A full cache gives half back, so the next frees stay local. */
    while (c != NULL && c->count > CACHE_MAX / 2) {
        tr_actor *b = c->head;
        c->head = next_of(b);
        c->count--;
        set_next(b, pc->free);
        pc->free = b;
    }
    tr__spin_unlock(&rt->pool_lock);
}

void tr__blocks_each_alive(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg) {
    tr__spin_lock(&rt->pool_lock);
    for (size_t c = 0; c < rt->nchunks; c++) {
        size_t nblocks, stride;
        tr_actor *blocks = tr__blocks_of_chunk(rt->chunks[c], &nblocks, &stride);
        for (size_t i = 0; i < nblocks; i++) {
            tr_actor *a = tr__block_at(blocks, i, stride);
            /* Pairs with the release store of alive in tr_spawn. */
            if (ck_pr_load_8(&a->alive)) {
                TR__TSAN_ACQUIRE(&a->alive);
                fn(a, arg);
            }
        }
    }
    tr__spin_unlock(&rt->pool_lock);
}

void tr__blocks_each_block(tr_runtime *rt, void (*fn)(tr_actor *a, void *arg), void *arg) {
    tr__spin_lock(&rt->pool_lock);
    for (size_t c = 0; c < rt->nchunks; c++) {
        size_t nblocks, stride;
        tr_actor *blocks = tr__blocks_of_chunk(rt->chunks[c], &nblocks, &stride);
        for (size_t i = 0; i < nblocks; i++)
            fn(tr__block_at(blocks, i, stride), arg);
    }
    tr__spin_unlock(&rt->pool_lock);
}

tr_actor *tr__blocks_of_chunk(void *chunk, size_t *n, size_t *stride) {
    *n = ((chunk_head *)chunk)->nblocks; /* written before the chunk was published */
    *stride = ((chunk_head *)chunk)->stride;
    return chunk_blocks(chunk);
}

void **tr__blocks_chunks_any(tr_runtime *rt, size_t *n, int *nomem) {
    *n = 0;
    *nomem = 0;
    tr__spin_lock(&rt->pool_lock);
    size_t k = rt->nchunks;
    /* malloc under a spinlock: short, and chunks are added under it too. */
    void **out = k != 0 ? malloc(k * sizeof(*out)) : NULL;
    if (out != NULL) {
        memcpy(out, rt->chunks, k * sizeof(*out));
        *n = k;
    } else if (k != 0) {
        *nomem = 1;
    }
    tr__spin_unlock(&rt->pool_lock);
    return out;
}

void tr__blocks_destroy(tr_runtime *rt) {
    /* A parent's runtime in a fork child (core/fork.c): the snapshot may
     * have caught a thread inside the pool's lock (the chunk list torn:
     * leave it all mapped) or inside tr__block_free (between freeing a side
     * block and clearing its pointer: leave the side blocks). Nor does it
     * unregister LSan roots there: a worker mapping a chunk ahead registers
     * its root outside the pool's lock, and a fork in that window leaves
     * LSan's lock held for good in the child (CI's ASan run hung in
     * test_fork). LSan scans only what is still mapped of a root region. */
    bool forked = ck_pr_load_32(&rt->state) == TR__RT_FORKED;
    if (forked && rt->pool_torn)
        return;
    for (size_t c = 0; c < rt->nchunks; c++) {
        size_t bytes = ((chunk_head *)rt->chunks[c])->bytes;
        /* Blocks whose handles are still held at free (tr_runtime_free
         * warns of them) keep their side blocks until now. */
        size_t nblocks, stride;
        tr_actor *blocks = tr__blocks_of_chunk(rt->chunks[c], &nblocks, &stride);
        for (size_t i = 0; i < nblocks && !forked; i++) {
            tr_actor *a = tr__block_at(blocks, i, stride);
            if (TR__UNLIKELY(a->ext != NULL)) {
                tr__actor_ext_free(a->ext);
                a->ext = NULL;
            }
        }
        if (!forked) /* LSan's lock: a parent thread may have held it (map ahead) */
            UNSCAN_ROOT(rt->chunks[c], bytes);
        munmap(rt->chunks[c], bytes);
    }
    free(rt->chunks);
    rt->chunks = NULL;
    rt->nchunks = rt->chunks_cap = 0;
    for (unsigned k = 0; k < 2; k++) {
        rt->pool_cls[k].free = NULL;
        rt->pool_cls[k].bump = rt->pool_cls[k].bump_end = NULL;
        rt->pool_cls[k].ahead_at = AHEAD_NEVER;
        rt->pool_cls[k].nchunks = 0;
    }
    if (rt->ahead != NULL) { /* mapped ahead, never used */
        if (!forked)
            UNSCAN_ROOT(rt->ahead, rt->ahead_bytes);
        munmap(rt->ahead, rt->ahead_bytes);
        rt->ahead = NULL;
    }
}
