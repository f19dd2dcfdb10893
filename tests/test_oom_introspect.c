/* tests/test_oom_introspect.c - the snapshot and the Prometheus text under
 * allocation failure.
 *
 * Linked with --wrap=malloc,calloc,realloc,aligned_alloc,free (test_oom*,
 * CMakeLists.txt). The test thread fails its k-th allocation, for every k
 * until a call makes it through, and counts what it allocated and freed
 * meanwhile: each failed call returns TR_ENOMEM, leaves *out as it was
 * (NULL) and leaves nothing allocated (partial state freed); the call that
 * makes it returns 0, having met no failure (a snapshot used to drop an
 * actor's histograms when their copy could not be allocated, and say 0
 * with p50/p99 of 0 for it). The runtime's workers are not affected. The runtime
 * under test has actors, a supervisor tree with children and a pool, with
 * TR_METRICS_TIMING on (histograms), so every part of the snapshot exists. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "support/wrap_alloc.h"
#include "troupe.h"
#include "troupe/console.h"
#include "troupe/introspect.h"
#include "troupe/pool.h"

#define ACTORS 40
#define MAX_K 400 /* far more allocations than one snapshot makes */

/* This thread only: allocation number tls_fail_at (1-based) fails; tls_live
 * counts blocks allocated minus blocks freed while tls_on. */
static __thread int tls_on;
static __thread long tls_n, tls_fail_at, tls_live, tls_failed;

static int fail_now(void) {
    if (!tls_on)
        return 0;
    if (++tls_n != tls_fail_at)
        return 0;
    tls_failed++;
    errno = ENOMEM;
    return 1;
}

static void *counted(void *p) {
    if (p != NULL && tls_on)
        tls_live++;
    return p;
}

void *__wrap_malloc(size_t n) {
    return fail_now() ? NULL : counted(__real_malloc(n));
}

void *__wrap_calloc(size_t k, size_t n) {
    return fail_now() ? NULL : counted(__real_calloc(k, n));
}

void *__wrap_realloc(void *p, size_t n) {
    if (fail_now())
        return NULL;
    void *q = __real_realloc(p, n);
    if (q != NULL && p == NULL && tls_on)
        tls_live++;
    return q;
}

void *__wrap_aligned_alloc(size_t a, size_t n) {
    return fail_now() ? NULL : counted(__real_aligned_alloc(a, n));
}

void __wrap_free(void *p) {
    if (p != NULL && tls_on)
        tls_live--;
    __real_free(p);
}

/* The Prometheus labels are strdup'ed: libc's strdup would allocate out of
 * our sight (its malloc is not wrapped) while the free is counted. */
char *strdup(const char *str) {
    size_t n = strlen(str) + 1;
    char *p = __wrap_malloc(n);
    if (p != NULL)
        memcpy(p, str, n);
    return p;
}

static void arm(long k) {
    tls_n = 0;
    tls_fail_at = k;
    tls_live = 0;
    tls_failed = 0;
    tls_on = 1;
}

static void disarm(void) {
    tls_on = 0;
}

/* --- the runtime under test ---------------------------------------------------- */

static int echo(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return 0;
}
static const tr_behavior echo_beh = {NULL, echo, NULL};

typedef struct world {
    tr_runtime *rt;
    tr_ref *actors[ACTORS];
    tr_ref *sup, *pool;
} world;

static int child_start(tr_runtime *rt, void *arg, tr_ref **out) {
    (void)arg;
    tr_spawn_opts o = {.name = "child"};
    return tr_spawn(rt, &echo_beh, &o, out);
}

static void world_new(world *w) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.keep_open = 1;
    cfg.metrics = TR_METRICS_TIMING;
    assert_int_equal(tr_runtime_new(&w->rt, &cfg), 0);
    static char names[ACTORS][16]; /* tr_spawn_opts.name is not copied */
    for (int i = 0; i < ACTORS; i++) {
        snprintf(names[i], sizeof(names[i]), "actor-%d", i);
        tr_spawn_opts o = {.name = names[i], .mailbox_capacity = (uint32_t)(i % 2) * 64};
        assert_int_equal(tr_spawn(w->rt, &echo_beh, &o, &w->actors[i]), 0);
        for (int j = 0; j < 5; j++)
            assert_int_equal(tr_send_word(w->actors[i], 1, (uint64_t)j), 0);
    }
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.name = "sup";
    assert_int_equal(tr_sup_start(w->rt, &sc, &w->sup), 0);
    static const char *const ids[] = {"c0", "c1", "c2"}; /* ids are not copied */
    for (int i = 0; i < 3; i++) {
        tr_child_spec spec = {.id = ids[i], .start = child_start};
        assert_int_equal(tr_sup_start_child(w->sup, &spec, NULL), 0);
    }
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.behavior = &echo_beh;
    pc.workers = 3;
    pc.name = "pool";
    assert_int_equal(tr_pool_start(w->rt, &pc, &w->pool), 0);
    tu_sleep_ms(20); /* the messages handled: histograms have samples */
}

static void world_free(world *w) {
    for (int i = 0; i < ACTORS; i++)
        tr_ref_release(w->actors[i]);
    tr_ref_release(w->sup);
    tr_pool_release(w->pool);
    assert_int_equal(tr_runtime_free(w->rt), 0);
}

/* --- the sweeps ------------------------------------------------------------------ */

static void a_snapshot_that_runs_out_of_memory_returns_enomem_and_frees_what_it_made(void **s) {
    (void)s;
    world w;
    world_new(&w);
    long k;
    for (k = 1; k <= MAX_K; k++) {
        tr_snapshot *snap = NULL;
        arm(k);
        int rc = tr_snapshot_take(w.rt, &snap);
        disarm();
        if (rc == 0) {
            tr_snapshot_free(snap);
            /* Past the last allocation: the sweep is done. A snapshot that
             * met a failure and still said 0 would show wrong figures (it
             * used to drop an actor's histograms). */
            assert_int_equal(tls_failed, 0);
            break;
        }
        if (rc != TR_ENOMEM || snap != NULL || tls_live != 0)
            fprintf(stderr, "allocation %ld failed: rc %d, snap %p, %ld blocks left\n", k, rc,
                    (void *)snap, tls_live);
        assert_int_equal(rc, TR_ENOMEM);
        assert_null(snap);
        assert_int_equal(tls_live, 0);
    }
    assert_true(k > 3 && k <= MAX_K); /* several allocations were each failed */
    world_free(&w);
}

static void prometheus_text_out_of_memory_returns_enomem_and_frees_what_it_made(void **s) {
    (void)s;
    world w;
    world_new(&w);
    size_t need = 0;
    assert_int_equal(tr_metrics_prometheus(w.rt, NULL, 0, &need), TR_E2BIG);
    size_t len = need * 2 + 4096;
    char *buf = malloc(len);
    assert_non_null(buf);
    long k;
    for (k = 1; k <= MAX_K; k++) {
        arm(k);
        buf[0] = 'x';
        int rc = tr_metrics_prometheus(w.rt, buf, len, &need);
        disarm();
        if (tls_live != 0 || (rc == 0 && tls_failed != 0))
            fprintf(stderr, "allocation %ld failed: rc %d, %ld blocks left\n", k, rc, tls_live);
        assert_int_equal(tls_live, 0);
        if (rc == 0 && tls_failed == 0)
            break;
        assert_int_equal(rc, TR_ENOMEM);
    }
    assert_true(k > 3 && k <= MAX_K);
    free(buf);
    world_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_snapshot_that_runs_out_of_memory_returns_enomem_and_frees_what_it_made),
        cmocka_unit_test(prometheus_text_out_of_memory_returns_enomem_and_frees_what_it_made),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
