/* core/msgcache.c - per-thread caches of small message blocks.
 *
 * Sending allocates one message; with malloc that was ~30% of a ping-pong's
 * instructions. Here every thread (worker or foreign) keeps a stack of free
 * 128-byte blocks, touched without atomics. Blocks flow between threads (a
 * dispatcher allocates, workers free), so a cache that fills up hands a
 * magazine of MAG blocks to a global depot, and an empty one takes a full
 * magazine back: one spinlock round trip per MAG messages, never per
 * message (Bonwick and Adams, "Magazines and Vmem", USENIX 2001).
 *
 * The cache and the magazines are arrays of pointers, not lists threaded
 * through the free blocks: a block freed on another core is then not read
 * when it is allocated (a list would read its link, a cross-core miss that
 * the allocating thread must wait for), only written when the header is
 * filled in. Magazine structs are reused through an empty-magazine list.
 * Everything the depot holds stays reachable, for leak checkers.
 *
 * An empty depot at a refill means messages are made faster than they are
 * handled. A foreign thread then yields before it carves fresh memory, and
 * once the blocks ever carved are more than the threads' caches can hold
 * plus POOL_SLACK, while magazines are coming back, it yields until one
 * does (bounded: see refill): fan-in senders slow to their receiver's pace,
 * and the blocks cycle through a pool of a few MB instead of a queue of
 * 100+ MB growing.
 *
 * ASan builds keep the cache (so it is tested) but poison free blocks, so a
 * use after free is still reported. */
#include "core/msgcache.h"

#include <ck_spinlock.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/atomic.h"
#include "base/clock.h"
#include "base/lock.h"
#include "core/worker.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p) ASAN_POISON_MEMORY_REGION((p), TR__MSG_BLOCK)
#define UNPOISON(p) ASAN_UNPOISON_MEMORY_REGION((p), TR__MSG_BLOCK)
#else
#define POISON(p) ((void)0)
#define UNPOISON(p) ((void)0)
#endif

/* Big magazines: with foreign senders outrunning one receiver (fanin), the
 * depot trips were the bottleneck at 64 blocks (9 M msgs/s, 344 MB peak);
 * at 1024 the same run does 16-19 M msgs/s in 126 MB. A thread keeps at most
 * 2 * MAG blocks (256 KB) and gives them back when it exits. */
#define MAG 1024                 /* blocks per magazine */
#define CACHE_MAX (2 * MAG)      /* blocks a thread keeps */
#define AHEAD TR__MSGCACHE_AHEAD /* allocations between a block's prefetch and its use */

typedef struct mag {
    struct mag *next;
    unsigned n; /* MAG, or fewer for a thread's leftovers at its exit */
    void *slot[MAG];
} mag;

typedef struct cache {
    unsigned n;
    uint64_t puts_seen; /* mags_put at this thread's last refill */
    bool waited;        /* its last refill's wait got a magazine */
    void *slot[CACHE_MAX];
} cache;

/* A pointer in TLS (the cache itself is 2 KB: too big for the static TLS a
 * dlopen'ed libtroupe.so may get), made on the thread's first message. */
static __thread cache *tls_cache __attribute__((tls_model("initial-exec")));

static ck_spinlock_fas_t depot_lock = CK_SPINLOCK_FAS_INITIALIZER;
/* MAG free blocks each. Written under depot_lock; refill's wait peeks at it
 * without the lock (an atomic load: a hint, depot_take decides). */
static mag *full_mags;
/* Magazines ever put into the depot (written under depot_lock, peeked at
 * without it): a waiting refill's sign that blocks are still coming back. */
static uint64_t mags_put;
/* Blocks ever carved (written under depot_lock, read without it): blocks
 * live as long as the process, so this is the size of the pool. */
static uint64_t carved;
/* Threads with a cache: each may keep up to CACHE_MAX blocks out of the
 * depot (refill's wait counts them). Relaxed increments: a hint. */
static uint32_t live_caches;
static mag *empty_mags; /* reusable magazine structs */
/* Every slab ever made, linked through its first word. */
static void *slabs;
/* Blocks freed when no magazine struct could be had (out of memory), linked
 * through their first word; refills use them before carving a new slab. */
static void *loose;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

void tr__msgcache_fork_lock(void) {
    tr__spin_lock(&depot_lock);
}

void tr__msgcache_fork_unlock(void) {
    tr__spin_unlock(&depot_lock);
}

static void put_full(mag *m) {
    tr__spin_lock(&depot_lock);
    m->next = full_mags;
    /* Stores for refill's unlocked peeks; the lock orders the rest. */
    ck_pr_store_ptr(&full_mags, m);
    ck_pr_store_64(&mags_put, mags_put + 1);
    tr__spin_unlock(&depot_lock);
}

/* Move the top k (<= MAG) blocks of c into a magazine in the depot. False
 * when no magazine struct could be had. */
static bool depot_put(cache *c, unsigned k) {
    tr__spin_lock(&depot_lock);
    mag *m = empty_mags;
    if (m != NULL)
        empty_mags = m->next;
    tr__spin_unlock(&depot_lock);
    if (m == NULL && (m = malloc(sizeof(*m))) == NULL)
        return false;
    c->n -= k;
    m->n = k;
    memcpy(m->slot, &c->slot[c->n], k * sizeof(void *));
    put_full(m);
    return true;
}

/* Fill an empty cache from the depot; false if it has nothing. */
static bool depot_take(cache *c) {
    tr__spin_lock(&depot_lock);
    mag *m = full_mags;
    if (m != NULL) {
        ck_pr_store_ptr(&full_mags, m->next); /* for refill's unlocked peek */
    } else {
        while (loose != NULL && c->n < MAG) {
            void *b = loose;
            loose = *(void **)b;
            c->slot[c->n++] = b;
        }
    }
    tr__spin_unlock(&depot_lock);
    if (m == NULL)
        return c->n > 0;
    memcpy(c->slot, m->slot, m->n * sizeof(void *));
    c->n = m->n;
    tr__spin_lock(&depot_lock);
    m->next = empty_mags;
    empty_mags = m;
    tr__spin_unlock(&depot_lock);
    return true;
}

/* Carve up to MAG fresh blocks out of the newest slab, making a new slab when it
 * runs out. Slabs are 2 MB and populated by one madvise call when made: a
 * queue that grows by a million messages (senders outrunning their receiver)
 * then costs one system call per 16,383 blocks instead of a page fault per
 * 32, and on a virtual machine each fault costs microseconds (fanin: 24,000
 * faults -> 3,900, +10-24% msgs/s A/B). The price is RSS in 2 MB steps. A
 * slab's first block-sized slot links it into `slabs`; blocks live as long
 * as the process. */
#define SLAB (2u << 20)
#define PAGE 4096u
#define MADVISE_POPULATE_WRITE 23  /* Linux 5.14; older kernels say EINVAL */
static char *slab_next, *slab_end; /* the uncarved rest of the newest slab */

static bool slab_has_room(void) {
    return slab_end - slab_next >= (ptrdiff_t)TR__MSG_BLOCK;
}

static void slab_refill(cache *c) {
    char *fresh = NULL;
    tr__spin_lock(&depot_lock);
    if (!slab_has_room()) {
        tr__spin_unlock(&depot_lock);                    /* no allocation under a spinlock */
        if ((fresh = aligned_alloc(PAGE, SLAB)) == NULL) /* madvise wants pages */
            return;
        (void)madvise(fresh, SLAB, MADVISE_POPULATE_WRITE); /* a hint */
        tr__spin_lock(&depot_lock);
        if (!slab_has_room()) { /* else another thread made one meanwhile */
            *(void **)(void *)fresh = slabs;
            slabs = fresh;
            slab_next = fresh + TR__MSG_BLOCK;
            slab_end = fresh + SLAB;
            fresh = NULL;
        }
    }
    char *got = slab_next;
    size_t k = (size_t)(slab_end - slab_next) / TR__MSG_BLOCK;
    if (k > MAG)
        k = MAG;
    slab_next += k * TR__MSG_BLOCK;
    ck_pr_store_64(&carved, carved + k); /* refill reads it without the lock */
    tr__spin_unlock(&depot_lock);
    free(fresh);
    for (size_t i = k; i >= 1; i--) { /* lowest address on top */
        void *b = got + (size_t)(i - 1) * TR__MSG_BLOCK;
        POISON(b);
        c->slot[c->n++] = b;
    }
}

/* Put block b (unpoisoned: the link is written into it) on the loose list:
 * needs no memory, for when no magazine can be had. */
static void loose_push(void *b) {
    tr__spin_lock(&depot_lock);
    *(void **)b = loose;
    loose = b;
    tr__spin_unlock(&depot_lock);
}

/* A thread's cache goes to the depot when the thread exits; what no magazine
 * can be had for (out of memory) goes on the loose list. Either way the
 * cache itself is freed: the thread will not come back for it. */
static void thread_exit(void *arg) {
    cache *c = arg;
    while (c->n > 0) {
        unsigned k = c->n < MAG ? c->n : MAG;
        if (depot_put(c, k))
            continue;
        while (c->n > 0) { /* out of memory: the rest goes loose */
            void *b = c->slot[--c->n];
            UNPOISON(b);
            loose_push(b);
        }
    }
    tls_cache = NULL;
    free(c);
    ck_pr_dec_32(&live_caches);
}

static void make_key(void) {
    pthread_key_create(&exit_key, thread_exit);
}

/* The calling thread's cache, made on first use (NULL if out of memory):
 * out of line, so the alloc and free fast paths save no registers. */
static __attribute__((noinline, cold)) cache *make_cache(void) {
    cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    pthread_once(&exit_once, make_key);
    pthread_setspecific(exit_key, c);
    ck_pr_inc_32(&live_caches);
    tls_cache = c;
    return c;
}

static inline cache *my_cache(void) {
    cache *c = tls_cache;
    return TR__LIKELY(c != NULL) ? c : make_cache();
}

/* Refill's wait for a magazine (foreign threads, pool full, depot empty).
 * POOL_SLACK: blocks the pool may hold beyond what every thread's cache can
 * keep out of the depot (CACHE_MAX each), i.e. what the queues may hold
 * before senders wait: 8,192 blocks, 1 MB. WAIT_STALL_NS: carve after all
 * if no magazine came back to the depot for that long (the receivers are
 * not handling: blocked, hoarding messages, or a current-thread runtime
 * whose caller is the one sending); fanin returns one every 25-50 us, and
 * 200 us was too short on a loaded host or under TSan (the carving came
 * back). A sender nobody frees for thus goes at >= 1,024 blocks per ms.
 * WAIT_MAX_NS: carve after that long in any case. */
#define POOL_SLACK 8192u
#define WAIT_STALL_NS 1000000u /* 1 ms */
#define WAIT_MAX_NS 10000000u  /* 10 ms */

/* The bounds in force: the defaults above, or a test's (relaxed: read
 * once per wait, set before the test's threads start). */
static uint64_t wait_stall_ns = WAIT_STALL_NS, wait_max_ns = WAIT_MAX_NS;

void tr__msgcache_set_wait_bounds(uint64_t stall_ns, uint64_t max_ns) {
    ck_pr_store_64(&wait_stall_ns, stall_ns != 0 ? stall_ns : WAIT_STALL_NS);
    ck_pr_store_64(&wait_max_ns, max_ns != 0 ? max_ns : WAIT_MAX_NS);
}

/* The pool is full: every block the threads' caches cannot account for is
 * queued. Yield until a magazine is in the depot and take it; false when
 * none came back within the bounds above (the caller carves). */
static bool wait_for_magazine(cache *c) {
    uint64_t stall = ck_pr_load_64(&wait_stall_ns);
    uint64_t now = tr__mono_ns(), until = now + ck_pr_load_64(&wait_max_ns), moved = now;
    uint64_t seen = ck_pr_load_64(&mags_put);
    for (;;) {
        sched_yield();
        /* Peek without the lock: the receivers' spills take it too. */
        if (ck_pr_load_ptr(&full_mags) != NULL && depot_take(c))
            return true;
        now = tr__mono_ns();
        uint64_t put = ck_pr_load_64(&mags_put);
        if (put != seen) { /* blocks are coming back: keep waiting */
            seen = put;
            moved = now;
        }
        if (now - moved >= stall || now >= until)
            return false;
    }
}

/* Fill the empty cache c: a magazine from the depot, else fresh blocks.
 *
 * An empty depot means every block is in flight or in some thread's cache:
 * messages are made faster than they are handled, and fresh memory is a
 * queue growing (fanin: four foreign senders outrun their receiver, which
 * got a third of a core on two cores shared by five runnable threads: 16 M
 * msgs/s and 160-260 MB). A foreign thread then gives its CPU away before
 * it carves: the receiver on its core runs, frees blocks, and the refill
 * finds them in the depot. Below the pool's limit (the caches' CACHE_MAX
 * each plus POOL_SLACK) it yields once (bounded3: fanin faster in 10 of 14
 * pairs, the receiver's share of the CPU 29% -> 42%); past it, it yields
 * until a magazine comes back (wait_for_magazine), so the senders go at the
 * rate at which messages are handled and the queue stays within the pool
 * (fanin4, docs/performance.md). Only while magazines are coming back (one
 * since this thread's last refill, or its last wait got one): where the
 * receivers keep what they free (a worker that frees a message and
 * allocates its reply) or are not handling, waiting would only delay the
 * carve (live: 1,000,000 queued messages, one per actor). Only when the
 * depot is empty, so never a system call while it has blocks. Workers
 * never wait here: they run the receivers. A thread out of memory still
 * gets NULL: the wait is bounded, then the carve fails. Out of line, so the
 * fast path saves no registers. False when out of memory. */
static __attribute__((noinline, cold)) bool refill(cache *c) {
    if (depot_take(c))
        return true;
    if (tr__worker_current() == NULL) {
        uint64_t limit = POOL_SLACK + (uint64_t)ck_pr_load_32(&live_caches) * CACHE_MAX;
        /* Blocks come back: a magazine reached the depot since this
         * thread's last refill (any thread's put), or its last wait got
         * one. These loads (live_caches, mags_put, carved) are relaxed:
         * hints that choose between waiting and carving; depot_take,
         * under the lock, decides what the thread gets. */
        uint64_t puts = ck_pr_load_64(&mags_put);
        bool flowing = puts != c->puts_seen || c->waited;
        c->puts_seen = puts;
        c->waited = false;
        if (flowing && ck_pr_load_64(&carved) >= limit) {
            if ((c->waited = wait_for_magazine(c)))
                return true;
        } else {
            sched_yield();
            if (depot_take(c))
                return true;
        }
    }
    slab_refill(c);
    return c->n > 0;
}

uint64_t tr__msgcache_pool_blocks(void) {
    return ck_pr_load_64(&carved); /* written under depot_lock */
}

tr_msg *tr__msgcache_alloc(void) {
    cache *c = my_cache();
    if (TR__UNLIKELY(c == NULL))
        return NULL;
    if (TR__UNLIKELY(c->n == 0) && !refill(c))
        return NULL;
    void *b = c->slot[--c->n];
    /* The block handed out AHEAD allocations from now was most likely freed
     * on another core (a dispatcher allocates what its workers free), whose
     * cache still has its lines. Ask for them for writing now: the header
     * stores of that later send then find them here instead of stalling the
     * locked push behind them (a cross-core transfer costs 60-240 ns on the
     * CI host, several sends' worth). A hint: it never faults. */
    if (TR__LIKELY(c->n >= AHEAD)) {
        char *p = c->slot[c->n - AHEAD];
        tr__prefetch_w(p);
        tr__prefetch_w(p + 64);
    }
    UNPOISON(b);
    return b;
}

void *tr__msgcache_ahead(void) {
    cache *c = tls_cache;
    return c != NULL && c->n >= AHEAD ? c->slot[c->n - AHEAD] : NULL;
}

/* The cache c (NULL: none could be made) has no room for m: a magazine to
 * the depot, then m into c; out of memory, m goes loose. Out of line. */
static __attribute__((noinline, cold)) void spill(cache *c, tr_msg *m) {
    if (c == NULL || !depot_put(c, MAG)) { /* out of memory for a magazine */
        loose_push(m);
        return;
    }
    POISON(m);
    c->slot[c->n++] = m;
}

void tr__msgcache_free(tr_msg *m) {
    cache *c = my_cache();
    if (TR__UNLIKELY(c == NULL || c->n == CACHE_MAX)) {
        spill(c, m);
        return;
    }
    POISON(m);
    c->slot[c->n++] = m;
}
