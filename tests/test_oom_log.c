/* tests/test_oom_log.c - crash reports while no allocation succeeds.
 *
 * Linked with --wrap=malloc,calloc,realloc,aligned_alloc,free (test_oom*).
 * CRASHERS actors crash (their handler returns an error) while every
 * allocation of every thread fails. The reports must still come, without
 * allocating (core/log.c formats into stack buffers): the first few in
 * full, the rest counted in the summary when the one-second window closes,
 * so full reports + summarised = CRASHERS exactly (no crash lost from the
 * count). The hook itself tries to send (which fails for want of memory):
 * no recursion, no second report about it. */
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
#include "troupe/log.h"

#define CRASHERS 12

static int all_fail; /* every thread's allocations fail (atomic) */
static uint64_t failed_allocs;

static int failing(void) {
    if (!__atomic_load_n(&all_fail, __ATOMIC_SEQ_CST))
        return 0;
    __atomic_add_fetch(&failed_allocs, 1, __ATOMIC_SEQ_CST);
    errno = ENOMEM;
    return 1;
}

void *__wrap_malloc(size_t n) {
    return failing() ? NULL : __real_malloc(n);
}
void *__wrap_calloc(size_t k, size_t n) {
    return failing() ? NULL : __real_calloc(k, n);
}
void *__wrap_realloc(void *p, size_t n) {
    return failing() ? NULL : __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n) {
    return failing() ? NULL : __real_aligned_alloc(a, n);
}
void __wrap_free(void *p) {
    __real_free(p);
}

static uint64_t full_reports, summarised, hook_depth_max, hook_sends_failed;
static __thread unsigned depth;
static tr_ref *g_sink;

static void hook(void *user, const tr_log_record *rec) {
    (void)user;
    depth++;
    if (depth > tu_load(&hook_depth_max))
        tu_store(&hook_depth_max, depth);
    if (rec->crash) {
        tu_add(&full_reports, 1);
    } else if (strcmp(rec->subsystem, "actor") == 0) {
        unsigned long long n = 0;
        if (sscanf(rec->text, "%llu more crashes", &n) == 1 ||
            sscanf(rec->text, "%llu crashes", &n) == 1)
            tu_add(&summarised, n);
    }
    if (g_sink != NULL && tr_send_word(g_sink, 1, 0) != 0) /* allocates: fails */
        tu_add(&hook_sends_failed, 1);
    depth--;
}

static uint64_t gate, waiting;
static int gate_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    tu_add(&waiting, 1);
    while (!tu_load(&gate))
        tu_sleep_ms(1);
    return 0;
}
static const tr_behavior gate_beh = {NULL, gate_receive, NULL};

static int crash_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return -1;
}
static const tr_behavior crash_beh = {NULL, crash_receive, NULL};

static int sink_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state, (void)msg;
    return 0;
}
static const tr_behavior sink_beh = {NULL, sink_receive, NULL};

static int all_dead(void *arg) {
    tr_ref **r = arg;
    for (int i = 0; i < CRASHERS; i++)
        if (tr_ref_is_alive(r[i]))
            return 0;
    return 1;
}

static int counted_all(void *arg) {
    (void)arg;
    return tu_load(&full_reports) + tu_load(&summarised) >= CRASHERS;
}

static void crash_reports_out_of_memory_are_all_counted(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.log_fn = hook;
    cfg.log_level = TR_LOG_WARN;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    assert_int_equal(tr_spawn(rt, &sink_beh, NULL, &g_sink), 0);
    tr_ref *g, *c[CRASHERS];
    assert_int_equal(tr_spawn(rt, &gate_beh, NULL, &g), 0);
    assert_int_equal(tr_send_word(g, 1, 0), 0);
    assert_true(tu_wait_ge(&waiting, 1, TU_WAIT_MS)); /* the one worker is held */
    for (int i = 0; i < CRASHERS; i++) {
        assert_int_equal(tr_spawn(rt, &crash_beh, NULL, &c[i]), 0);
        assert_int_equal(tr_send_word(c[i], 1, 0), 0);
    }
    __atomic_store_n(&all_fail, 1, __ATOMIC_SEQ_CST);
    tu_store(&gate, 1);
    int dead = tu_wait_until(all_dead, c, TU_WAIT_MS);
    int counted = tu_wait_until(counted_all, NULL, 5000); /* the window closes in 1 s */
    __atomic_store_n(&all_fail, 0, __ATOMIC_SEQ_CST);
    assert_true(dead);
    assert_true(counted);
    tu_sleep_ms(50);
    assert_int_equal(tu_load(&full_reports) + tu_load(&summarised), CRASHERS);
    assert_true(tu_load(&full_reports) >= 1);
    assert_int_equal(tu_load(&hook_depth_max), 1); /* never re-entered */
    assert_true(tu_load(&failed_allocs) > 0);      /* memory really was out */
    for (int i = 0; i < CRASHERS; i++)
        tr_ref_release(c[i]);
    tr_ref_release(g);
    tr_ref_release(g_sink);
    g_sink = NULL;
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_reports_out_of_memory_are_all_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
