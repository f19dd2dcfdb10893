/* core/msgcache.c - per-thread caches of small message blocks.
 *
 * Sending allocates one message; with malloc that was ~30% of a ping-pong's
 * instructions. Here every thread (worker or foreign) keeps a LIFO free list
 * of 128-byte blocks, touched without atomics. Blocks flow between threads
 * (a foreign sender allocates, a worker frees), so a list that grows past
 * CACHE_MAX hands a magazine of MAG blocks to a global depot, and an empty
 * list takes a whole magazine back (Bonwick's magazines, 2001): one spinlock
 * round trip per MAG messages, never per message. A thread's cache goes back
 * to the depot when it exits; the depot is freed at process exit.
 *
 * ASan builds keep the cache (so it is tested) but poison free blocks, so a
 * use after free is still reported. */
#include "core/msgcache.h"

#include <ck_spinlock.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "mailbox/atomic.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
/* The first two words stay addressable: the free-list link and, for the
 * first block of a magazine, depot_put's next_mag. */
#define POISON(p)                                                                                  \
    ASAN_POISON_MEMORY_REGION((char *)(p) + 2 * sizeof(void *), TR__MSG_BLOCK - 2 * sizeof(void *))
#define UNPOISON(p) ASAN_UNPOISON_MEMORY_REGION((p), TR__MSG_BLOCK)
#else
#define POISON(p) ((void)0)
#define UNPOISON(p) ((void)0)
#endif

#define MAG 64
#define CACHE_MAX (4 * MAG)

/* A free block: the link overlays the start of the header. */
typedef struct block {
    struct block *next;
} block;

/* A magazine in the depot: its first block carries the chain. */
typedef struct mag {
    struct block *next; /* blocks of this magazine, after this one */
    struct mag *next_mag;
} mag;

typedef struct cache {
    block *head;
    unsigned n;
    int registered;
} cache;

static __thread cache tls_cache __attribute__((tls_model("initial-exec")));

static ck_spinlock_fas_t depot_lock = CK_SPINLOCK_FAS_INITIALIZER;
static mag *depot;
/* Every slab ever made, linked through its first word, so that all blocks
 * stay reachable (for leak checkers) for the life of the process. */
static void *slabs;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void depot_put(block *chain) {
    mag *m = (mag *)chain;
    tr_spin_lock(&depot_lock);
    m->next_mag = depot;
    depot = m;
    tr_spin_unlock(&depot_lock);
}

static block *depot_take(void) {
    tr_spin_lock(&depot_lock);
    mag *m = depot;
    if (m != NULL)
        depot = m->next_mag;
    tr_spin_unlock(&depot_lock);
    return (block *)m;
}

/* Split off up to MAG blocks of c into a chain (NULL-terminated). */
static block *cut_magazine(cache *c) {
    block *first = c->head, *last = first;
    unsigned k = 1;
    while (k < MAG && last->next != NULL) {
        last = last->next;
        k++;
    }
    c->head = last->next;
    c->n -= k;
    last->next = NULL;
    return first;
}

static void thread_exit(void *arg) {
    cache *c = arg;
    while (c->head != NULL)
        depot_put(cut_magazine(c));
    c->n = 0;
}

static void make_key(void) {
    pthread_key_create(&exit_key, thread_exit);
}

static void register_thread(cache *c) {
    pthread_once(&exit_once, make_key);
    pthread_setspecific(exit_key, c);
    c->registered = 1;
}

static void refill(cache *c) {
    block *chain = depot_take();
    if (chain != NULL) {
        unsigned k = 0;
        for (block *b = chain; b != NULL; b = b->next)
            k++;
        c->head = chain;
        c->n = k;
        return;
    }
    /* Depot empty: carve a fresh slab of MAG blocks. Its first block-sized
     * slot links it into `slabs`; blocks live as long as the process. */
    char *slab = aligned_alloc(64, (size_t)(MAG + 1) * TR__MSG_BLOCK);
    if (slab == NULL)
        return;
    tr_spin_lock(&depot_lock);
    *(void **)(void *)slab = slabs;
    slabs = slab;
    tr_spin_unlock(&depot_lock);
    for (unsigned i = 1; i <= MAG; i++) {
        block *b = (block *)(void *)(slab + (size_t)i * TR__MSG_BLOCK);
        b->next = c->head;
        c->head = b;
        POISON(b);
    }
    c->n += MAG;
}

tr_msg *tr__msgcache_alloc(void) {
    cache *c = &tls_cache;
    if (TR_UNLIKELY(c->head == NULL)) {
        if (!c->registered)
            register_thread(c);
        refill(c);
        if (c->head == NULL)
            return NULL;
    }
    block *b = c->head;
    UNPOISON(b);
    c->head = b->next;
    c->n--;
    return (tr_msg *)(void *)b;
}

void tr__msgcache_free(tr_msg *m) {
    cache *c = &tls_cache;
    block *b = (block *)(void *)m;
    b->next = c->head;
    POISON(b);
    c->head = b;
    if (TR_UNLIKELY(++c->n > CACHE_MAX)) {
        if (!c->registered)
            register_thread(c);
        depot_put(cut_magazine(c));
    }
}
