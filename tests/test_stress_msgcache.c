/* tests/test_stress_msgcache.c - the message-block cache under concurrent use.
 *
 * THREADS threads each take PER_THREAD blocks at once, from empty caches, so
 * that several 2 MB slabs are carved while other threads carve too. Each
 * thread fills every byte of its blocks with a pattern of its own; once all
 * are done, every block must still hold its owner's pattern (no two blocks
 * overlap, none was handed out twice) and be 64-byte aligned. Then each
 * thread frees the blocks of its neighbour (blocks cross threads through the
 * depot, as a dispatcher's do) and takes PER_THREAD again, and the check
 * repeats. A second test checks that a recycled block's header is filled in
 * afresh: a message made in a block that held garbage reads as new. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/msgcache.h"
#include "support/testutil.h"
#include "troupe.h"

#define THREADS 4
#define PER_THREAD 40000 /* 160,000 blocks: almost 10 slabs of 16,383 */
#define ROUNDS 2

static tr_msg **blocks[THREADS];
static pthread_barrier_t step;
static uint64_t bad_pattern, misaligned, alloc_failed;

static unsigned char pattern(unsigned t, size_t i, size_t byte) {
    return (unsigned char)(t * 131 + i * 7 + byte);
}

static void fill(unsigned t) {
    for (size_t i = 0; i < PER_THREAD; i++) {
        tr_msg *b = tr__msgcache_alloc();
        blocks[t][i] = b;
        if (b == NULL) {
            tu_add(&alloc_failed, 1);
            continue;
        }
        if ((uintptr_t)b % 64 != 0)
            tu_add(&misaligned, 1);
        unsigned char *p = (unsigned char *)b;
        for (size_t k = 0; k < TR__MSG_BLOCK; k++)
            p[k] = pattern(t, i, k);
    }
}

static void check(unsigned t) {
    for (size_t i = 0; i < PER_THREAD; i++) {
        const unsigned char *p = (const unsigned char *)blocks[t][i];
        if (p == NULL)
            continue;
        for (size_t k = 0; k < TR__MSG_BLOCK; k++)
            if (p[k] != pattern(t, i, k)) {
                tu_add(&bad_pattern, 1);
                break;
            }
    }
}

static void *worker(void *arg) {
    unsigned t = (unsigned)(uintptr_t)arg;
    for (unsigned round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&step);
        fill(t);
        pthread_barrier_wait(&step); /* everyone has written */
        for (unsigned u = 0; u < THREADS; u++)
            check(u);
        pthread_barrier_wait(&step); /* everyone has checked */
        unsigned victim = (t + 1) % THREADS;
        for (size_t i = 0; i < PER_THREAD; i++)
            if (blocks[victim][i] != NULL)
                tr__msgcache_free(blocks[victim][i]);
    }
    return NULL;
}

static void blocks_from_many_threads_never_overlap(void **state) {
    (void)state;
    pthread_barrier_init(&step, NULL, THREADS);
    pthread_t th[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        blocks[t] = calloc(PER_THREAD, sizeof(tr_msg *));
        assert_non_null(blocks[t]);
    }
    for (unsigned t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t), 0);
    for (unsigned t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&step);
    for (unsigned t = 0; t < THREADS; t++)
        free(blocks[t]);
    assert_int_equal(tu_load(&alloc_failed), 0);
    assert_int_equal(tu_load(&misaligned), 0);
    assert_int_equal(tu_load(&bad_pattern), 0);
}

static void a_recycled_block_reads_as_a_new_message(void **state) {
    (void)state;
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, 7, 0), 0);
    memset(m, 0xa5, TR__MSG_BLOCK); /* a previous user's leftovers */
    void *old = m;
    tr__msgcache_free(m); /* straight back: bypass release, which the garbage overwrote */
    assert_int_equal(tr_msg_new(&m, 9, 16), 0);
    assert_ptr_equal(m, old); /* the cache is LIFO: the same block */
    assert_int_equal(m->type, 9);
    assert_int_equal(m->size, 16);
    assert_int_equal(m->word, 0);
    assert_null(m->ptr);
    assert_null(m->ptr_free);
    assert_non_null(m->release);
    assert_null(m->next);
    assert_null(m->reply);
    assert_int_equal(m->status, 0);
    assert_non_null(tr_msg_data(m));
    tr_msg_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_from_many_threads_never_overlap),
        cmocka_unit_test(a_recycled_block_reads_as_a_new_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
