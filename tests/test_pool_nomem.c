/* tests/test_pool_nomem.c - every pool ask settles when memory runs out.
 *
 * A test-only allocator shim: the test links the static library, so its own
 * malloc, calloc, realloc and aligned_alloc below are the ones every troupe
 * call makes; from nomem_on() until nomem_off() they fail for calls made
 * from this executable, that is troupe's own (glibc's __libc_* entry points
 * serve them otherwise, and always serve shared libraries: libev aborts
 * when it cannot allocate). The message cache keeps the blocks it has, as a
 * process that ran out of memory would. Sanitizer builds interpose malloc
 * themselves, so there the tests are skipped.
 *
 * The workers block on a gate first, so memory runs out while a job is in
 * hand and the runtime is otherwise idle: the job then crashes its (only)
 * worker, whose respawn and whose retry timer both need memory; or it
 * replies with a payload too big for the message cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#if defined(TROUPE_TSAN) || defined(__SANITIZE_ADDRESS__)
#define NOMEM_SHIM 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NOMEM_SHIM 0
#endif
#endif
#ifndef NOMEM_SHIM
#define NOMEM_SHIM 1
#endif

static int nomem; /* __atomic: every allocation fails while set */
static uint64_t nomem_refused;

#if NOMEM_SHIM
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);

/* The executable's text (the linker's symbols): troupe, linked statically. */
extern char __executable_start[], etext[];

#define refuse(n) refuse_from((n), __builtin_return_address(0))

static int refuse_from(size_t n, const void *caller) {
    if (n == 0 || !__atomic_load_n(&nomem, __ATOMIC_SEQ_CST))
        return 0;
    if ((const char *)caller < __executable_start || (const char *)caller >= etext)
        return 0; /* a shared library: libc, libev, cmocka */
    __atomic_add_fetch(&nomem_refused, 1, __ATOMIC_SEQ_CST);
    return 1;
}

void *malloc(size_t n) {
    return refuse(n) ? NULL : __libc_malloc(n);
}

void *calloc(size_t k, size_t n) {
    return refuse(k * n) ? NULL : __libc_calloc(k, n);
}

void *realloc(void *p, size_t n) {
    return refuse(n) ? NULL : __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n) {
    return refuse(n) ? NULL : __libc_memalign(align, n);
}
#endif

static void nomem_on(void) {
    __atomic_store_n(&nomem, 1, __ATOMIC_SEQ_CST);
}

static void nomem_off(void) {
    __atomic_store_n(&nomem, 0, __ATOMIC_SEQ_CST);
}

enum { CRASH = 1, BIG_REPLY, JOB };
#define BIG 4096 /* past the message cache's blocks: the reply needs malloc */

static uint64_t gate, waiting, crashes;
static tr_runtime *rt;

static int w_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == CRASH || msg->type == BIG_REPLY) {
        tu_add(&waiting, 1);
        while (!tu_load(&gate))
            tu_sleep_ms(1);
    }
    if (msg->type == CRASH) {
        tu_add(&crashes, 1);
        return TR_ECRASHED;
    }
    if (msg->type == BIG_REPLY) {
        static char big[BIG];
        tr_reply(msg, JOB, big, sizeof(big)); /* TR_ENOMEM: nothing to send */
        return 0;
    }
    tr_reply_word(msg, JOB, msg->word + 1);
    return 0;
}

static int setup(void **state) {
    (void)state;
    tu_store(&gate, 0);
    tu_store(&waiting, 0);
    tu_store(&crashes, 0);
    rt = tu_runtime_new(2);
    return rt != NULL ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    nomem_off();
    if (rt != NULL)
        tr_runtime_free(rt);
    rt = NULL;
    return 0;
}

static tr_ref *start_pool(void) {
    static const tr_behavior beh = {NULL, w_receive, NULL};
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.workers = 1;
    cfg.behavior = &beh;
    cfg.max_redeliveries = 2;
    tr_ref *p;
    assert_int_equal(tr_pool_start(rt, &cfg, &p), 0);
    return p;
}

/* Ask p with a job that blocks until memory has run out; then let it go
 * and wait (bounded) for the answer. Returns the wait's result. */
static int ask_into_nomem(tr_ref *p, uint32_t type, tr_msg **reply) {
    tr_future *f;
    assert_int_equal(tr_ask_word(p, type, 1, &f), 0);
    assert_true(tu_wait_ge(&waiting, 1, TU_WAIT_MS));
    nomem_on();
    tu_store(&gate, 1);
    int rc = tr_future_wait(f, 3000, reply);
    nomem_off();
    tr_future_release(f);
    return rc;
}

static void ask_whose_job_crashes_settles_when_the_worker_cannot_be_respawned(void **state) {
    (void)state;
    if (!NOMEM_SHIM)
        skip();
    tr_ref *p = start_pool();
    tr_msg *reply = NULL;
    /* The worker crashes; its respawn (a monitor) and the retry timer need
     * memory: the job has no worker to go to and is dead-lettered rather
     * than left waiting. */
    assert_int_equal(ask_into_nomem(p, CRASH, &reply), TR_EDEAD);
    assert_true(tu_load(&nomem_refused) > 0);
    /* Memory is back: the next job brings the worker back and is answered. */
    tr_future *f;
    assert_int_equal(tr_ask_word(p, JOB, 41, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 42);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_pool_stats st;
    assert_int_equal(tr_pool_stats_get(p, &st, NULL, 0), 0);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(st.workers, 1);
    assert_int_equal(tr_pool_release(p), 0);
}

static void reply_that_cannot_be_allocated_fails_the_ask_with_enomem(void **state) {
    (void)state;
    if (!NOMEM_SHIM)
        skip();
    tr_ref *p = start_pool();
    tr_msg *reply = NULL;
    assert_int_equal(ask_into_nomem(p, BIG_REPLY, &reply), TR_ENOMEM); /* not TR_ENOREPLY */
    assert_null(reply);
    assert_int_equal(tr_pool_release(p), 0);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(ask_whose_job_crashes_settles_when_the_worker_cannot_be_respawned),
        T(reply_that_cannot_be_allocated_fails_the_ask_with_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
