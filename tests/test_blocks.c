/* tests/test_blocks.c - the actor block pool under a foreign spawn storm.
 *
 * A thread outside the runtime spawns many actors with a little state and
 * an init, keeps them all alive and idle, then sends each one message: every
 * actor must have run its init before tr_spawn returned (troupe/actor.h) and
 * must get its message, though spawn scheduled none of them. Enough actors
 * to fill several of the pool's chunks, so that chunks mapped ahead by an
 * idle worker (core/blocks.c, "Mapping ahead") are used too. A white-box
 * test checks that mechanism itself: once the pool has grown to chunks of
 * 512 KB, the spawn that takes a chunk's middle block (not an earlier one)
 * asks an idle worker to map the next one, and the spawner that empties
 * the pool takes it. Another makes mmap fail (--wrap=mmap): spawns say
 * TR_ENOMEM, never crash, and work again once memory is back. Counts are
 * exact. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <cmocka.h>

#include "base/lock.h"
#include "core/blocks.h"
#include "core/runtime.h"
#include "support/testutil.h"
#include "troupe.h"

#define N_ACTORS (40000 / TU_SANITIZER_SLOWDOWN)
#define T_GO 1
#define T_DONE 2

typedef struct idle_state {
    tr_ref *collector; /* borrowed: the test holds it to the end */
    uint64_t ordinal;  /* set by init */
} idle_state;

typedef struct idle_arg {
    tr_ref *collector;
    uint64_t ordinal;
} idle_arg;

static uint64_t inits, wrong;

static int idle_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    idle_state *s = state;
    const idle_arg *a = arg;
    s->collector = a->collector;
    s->ordinal = a->ordinal + 1; /* 0 would mean: init did not run */
    tu_add(&inits, 1);
    return 0;
}

static int idle_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    idle_state *s = state;
    if (s->ordinal != msg->word + 1) /* init ran, for this actor */
        tu_add(&wrong, 1);
    return tr_send_word(s->collector, T_DONE, msg->word);
}

typedef struct counter {
    uint64_t got, sum;
} counter;

static uint64_t counted, counted_sum;

static int count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    counter *c = state;
    c->got++;
    c->sum += msg->word;
    tu_store(&counted_sum, c->sum);
    tu_store(&counted, c->got);
    return 0;
}

static const tr_behavior idle_beh = {.init = idle_init, .receive = idle_receive};
static const tr_behavior count_beh = {.receive = count_receive};

static tr_runtime *pool_runtime(void) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2; /* idle workers that may map chunks ahead */
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    return rt;
}

/* Every actor a foreign thread spawned and left idle ran its init before
 * tr_spawn returned and gets its first message. */
static void foreign_spawned_idle_actors_run_init_and_get_their_first_message(void **state) {
    (void)state;
    tu_store(&inits, 0);
    tu_store(&wrong, 0);
    tu_store(&counted, 0);
    tr_runtime *rt = pool_runtime();
    tr_ref *collector;
    tr_spawn_opts co = {.state_size = sizeof(counter)};
    assert_int_equal(tr_spawn(rt, &count_beh, &co, &collector), 0);
    tr_ref **refs = calloc(N_ACTORS, sizeof(*refs));
    assert_non_null(refs);
    for (uint64_t i = 0; i < N_ACTORS; i++) {
        idle_arg a = {collector, i};
        tr_spawn_opts o = {.state_size = sizeof(idle_state), .arg = &a};
        assert_int_equal(tr_spawn(rt, &idle_beh, &o, &refs[i]), 0);
        assert_int_equal(tu_load(&inits), i + 1); /* init ran here, before the return */
    }
    for (uint64_t i = 0; i < N_ACTORS; i++)
        assert_int_equal(tr_send_word(refs[i], T_GO, i), 0);
    assert_true(tu_wait_ge(&counted, N_ACTORS, 30000));
    assert_int_equal(tu_load(&counted), N_ACTORS);
    assert_int_equal(tu_load(&counted_sum), (uint64_t)N_ACTORS * (N_ACTORS - 1) / 2);
    assert_int_equal(tu_load(&wrong), 0);
    for (uint64_t i = 0; i < N_ACTORS; i++)
        assert_int_equal(tr_ref_release(refs[i]), 0);
    free(refs);
    tr_ref_release(collector);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static size_t chunks_of(tr_runtime *rt, int *ahead) {
    tr__spin_lock(&rt->pool_lock);
    size_t n = rt->nchunks;
    *ahead = rt->ahead != NULL;
    tr__spin_unlock(&rt->pool_lock);
    return n;
}

static int has_ahead(void *arg) {
    int ahead;
    (void)chunks_of(arg, &ahead);
    return ahead;
}

/* The newest chunk's blocks handed out so far (the test's actors have no
 * state: all of the small class, the only chunks), and whether the pool
 * has asked for (or holds) a chunk ahead. */
static size_t newest_used(tr_runtime *rt, int *asked) {
    tr__spin_lock(&rt->pool_lock);
    size_t n, stride;
    tr_actor *blocks = tr__blocks_of_chunk(rt->chunks[rt->nchunks - 1], &n, &stride);
    assert_int_equal(stride, TR__BLOCK_SMALL);
    size_t used = (size_t)(rt->pool_cls[0].bump - (char *)blocks) / stride;
    *asked = rt->ahead != NULL || ck_pr_load_32(&rt->ahead_want) != 0;
    tr__spin_unlock(&rt->pool_lock);
    return used;
}

/* Once the pool has grown to a 512 KB chunk, an idle worker maps the next
 * chunk ahead of need, asked for by the spawn that takes the chunk's middle
 * block (not before: a storm that stops in a chunk's first half leaves no
 * populated chunk ahead); the spawn that empties the pool takes it. */
static void idle_worker_maps_the_next_chunk_ahead(void **state) {
    (void)state;
    tr_runtime *rt = pool_runtime();
    enum { MAX = 200000 };
    tr_ref **refs = calloc(MAX, sizeof(*refs));
    assert_non_null(refs);
    static const tr_behavior plain = {.receive = count_receive};
    size_t n = 0;
    int ahead, asked;
    /* Chunks of 64, 128, 256 and 512 KB: the fourth asks for one ahead
     * once half of it is handed out. */
    while (chunks_of(rt, &ahead) < 4) {
        assert_true(n < MAX);
        assert_int_equal(tr_spawn(rt, &plain, NULL, &refs[n]), 0);
        n++;
    }
    size_t nblocks, stride;
    tr__spin_lock(&rt->pool_lock);
    (void)tr__blocks_of_chunk(rt->chunks[3], &nblocks, &stride);
    tr__spin_unlock(&rt->pool_lock);
    size_t used = newest_used(rt, &asked);
    while (!asked) {
        assert_true(used < nblocks / 2); /* not asked for before the middle */
        assert_true(n < MAX);
        assert_int_equal(tr_spawn(rt, &plain, NULL, &refs[n]), 0);
        n++;
        used = newest_used(rt, &asked);
    }
    assert_int_equal(used, nblocks / 2); /* asked for by the middle block's spawn */
    assert_true(tu_wait_until(has_ahead, rt, 10000));
    tr__spin_lock(&rt->pool_lock);
    void *mapped = rt->ahead;
    tr__spin_unlock(&rt->pool_lock);
    size_t before = chunks_of(rt, &ahead);
    /* Spawn until the pool has taken a chunk more: the one mapped ahead. */
    while (chunks_of(rt, &ahead) == before) {
        assert_true(n < MAX);
        assert_int_equal(tr_spawn(rt, &plain, NULL, &refs[n]), 0);
        n++;
    }
    tr__spin_lock(&rt->pool_lock);
    void *taken = rt->chunks[before];
    size_t bytes = ((size_t *)taken)[0]; /* chunk_head.bytes */
    tr__spin_unlock(&rt->pool_lock);
    assert_ptr_equal(taken, mapped);   /* the pool took the chunk mapped ahead */
    assert_int_equal(bytes, 1u << 20); /* of the size asked for: 1 MB */
    /* The new chunk asks for none until its own middle. */
    used = newest_used(rt, &asked);
    assert_true(used < ((1u << 20) / TR__BLOCK_SMALL) / 2);
    assert_false(asked);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tr_ref_release(refs[i]), 0);
    free(refs);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- block classes ---------------------------------------------------------- */

/* The stride of the chunk that holds p, after checking that p is one of
 * its blocks; 0 if no chunk holds it. */
static size_t stride_of(tr_runtime *rt, const void *p) {
    size_t stride = 0;
    tr__spin_lock(&rt->pool_lock);
    for (size_t c = 0; c < rt->nchunks && stride == 0; c++) {
        size_t n, st;
        tr_actor *blocks = tr__blocks_of_chunk(rt->chunks[c], &n, &st);
        const char *lo = (const char *)blocks, *hi = lo + n * st;
        if ((const char *)p >= lo && (const char *)p < hi && ((const char *)p - lo) % st == 0)
            stride = st;
    }
    tr__spin_unlock(&rt->pool_lock);
    return stride;
}

typedef struct big_state {
    uint64_t words[4]; /* 32 bytes: too big for the small block */
} big_state;

/* Actors whose state fits 16 bytes (or is larger than 64, on the heap)
 * take 192-byte blocks, those with 17-64 bytes 256-byte blocks, each from
 * chunks of their own class; a freed block is reused in its class only.
 * All of them work (each answers its message). */
static void spawns_take_the_block_class_of_their_state(void **state) {
    (void)state;
    enum { EACH = 3000 / TU_SANITIZER_SLOWDOWN };
    static const size_t sizes[3] = {16, sizeof(big_state), 100};
    static const size_t want[3] = {TR__BLOCK_SMALL, TR__BLOCK_LARGE, TR__BLOCK_SMALL};
    tu_store(&counted, 0);
    tu_store(&counted_sum, 0);
    tr_runtime *rt = pool_runtime();
    tr_ref *collector;
    tr_spawn_opts co = {.state_size = sizeof(counter)};
    assert_int_equal(tr_spawn(rt, &count_beh, &co, &collector), 0);
    tr_ref **refs = calloc(3 * EACH, sizeof(*refs));
    assert_non_null(refs);
    for (int round = 0; round < 2; round++) { /* the second reuses freed blocks */
        for (size_t i = 0; i < 3 * EACH; i++) {
            idle_arg a = {collector, i};
            tr_spawn_opts o = {.state_size = sizes[i % 3], .arg = &a};
            assert_int_equal(tr_spawn(rt, &idle_beh, &o, &refs[i]), 0);
        }
        for (size_t i = 0; i < 3 * EACH; i++)
            assert_int_equal(stride_of(rt, refs[i]), want[i % 3]);
        uint64_t before = tu_load(&counted);
        for (size_t i = 0; i < 3 * EACH; i++)
            assert_int_equal(tr_send_word(refs[i], T_GO, i), 0);
        assert_true(tu_wait_ge(&counted, before + 3 * EACH, TU_WAIT_MS));
        for (size_t i = 0; i < 3 * EACH; i++) {
            assert_int_equal(tr_actor_stop(refs[i]), 0);
            assert_int_equal(tr_ref_release(refs[i]), 0);
        }
        assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS)); /* the collector */
    }
    assert_int_equal(tu_load(&wrong), 0);
    free(refs);
    tr_ref_release(collector);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- mmap failing ---------------------------------------------------------- */

/* The test is linked with --wrap=mmap (CMakeLists.txt, for test_blocks):
 * while mmap_fail is set, every mmap fails with ENOMEM, on any thread (the
 * spawner's chunks and the workers' chunks mapped ahead alike). */
static uint64_t mmap_fail;
static uint64_t mmap_failed;

void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (tu_load(&mmap_fail)) {
        tu_add(&mmap_failed, 1);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return __real_mmap(addr, len, prot, flags, fd, off);
}

/* A spawn storm that runs out of memory (no chunk can be mapped): tr_spawn
 * says TR_ENOMEM once the pool's blocks are used up, nothing crashes, the
 * actors spawned before still work, and spawns succeed again once memory
 * is back. */
static void spawn_storm_without_memory_says_enomem(void **state) {
    (void)state;
    tu_store(&counted, 0);
    tu_store(&counted_sum, 0);
    tu_store(&mmap_fail, 0);
    tr_runtime *rt = pool_runtime();
    tr_ref *collector;
    tr_spawn_opts co = {.state_size = sizeof(counter)};
    assert_int_equal(tr_spawn(rt, &count_beh, &co, &collector), 0);
    enum { MAX = 20000 };
    tr_ref **refs = calloc(MAX, sizeof(*refs));
    assert_non_null(refs);
    size_t n = 0;
    int rc = 0;
    tu_store(&mmap_fail, 1); /* from here on, no chunk can be mapped */
    while (n < MAX) {
        idle_arg a = {collector, n};
        tr_spawn_opts o = {.state_size = sizeof(idle_state), .arg = &a};
        rc = tr_spawn(rt, &idle_beh, &o, &refs[n]);
        if (rc != 0)
            break;
        n++;
    }
    assert_int_equal(rc, TR_ENOMEM); /* the first chunk's blocks ran out */
    assert_null(refs[n]);
    assert_true(n > 0 && n < MAX);
    assert_true(tu_load(&mmap_failed) > 0);
    tu_store(&mmap_fail, 0); /* memory is back */
    size_t more = n + 2000;  /* a few chunks more */
    for (; n < more; n++) {
        idle_arg a = {collector, n};
        tr_spawn_opts o = {.state_size = sizeof(idle_state), .arg = &a};
        assert_int_equal(tr_spawn(rt, &idle_beh, &o, &refs[n]), 0);
    }
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(tr_send_word(refs[i], T_GO, i), 0);
    assert_true(tu_wait_ge(&counted, n, 30000));
    assert_int_equal(tu_load(&counted_sum), (uint64_t)n * (n - 1) / 2);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(tr_ref_release(refs[i]), 0);
    free(refs);
    tr_ref_release(collector);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(foreign_spawned_idle_actors_run_init_and_get_their_first_message),
        cmocka_unit_test(idle_worker_maps_the_next_chunk_ahead),
        cmocka_unit_test(spawns_take_the_block_class_of_their_state),
        cmocka_unit_test(spawn_storm_without_memory_says_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
