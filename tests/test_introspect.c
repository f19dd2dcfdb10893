/* tests/test_introspect.c - tr_snapshot_take: what a snapshot lists.
 *
 * Known systems (named actors, a supervisor with named children, a pool)
 * and their snapshots: exactly those actors, with their names, parents,
 * states and counters; the text form; argument checks. The stress test
 * (snapshots from a foreign thread while actors spawn, die and restart) is
 * at the end. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

static int noop_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static const tr_behavior noop_beh = {NULL, noop_receive, NULL};

static void snapshot_lists_spawned_actors_with_their_names(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *a, *b, *c;
    tr_spawn_opts oa = {.name = "alpha"};
    tr_spawn_opts ob = {.name = "beta"};
    assert_int_equal(tr_spawn(rt, &noop_beh, &oa, &a), 0);
    assert_int_equal(tr_spawn(rt, &noop_beh, &ob, &b), 0);
    assert_int_equal(tr_spawn(rt, &noop_beh, NULL, &c), 0);

    tr_snapshot *s = NULL;
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    assert_non_null(s);
    assert_int_equal(s->nactors, 3);
    assert_int_equal(s->nworkers, 2);
    assert_int_equal(s->runtime.workers, 2);
    assert_int_equal(s->runtime.actors_alive, 3);
    const tr_actor_info *ia = tr_snapshot_find(s, tr_ref_id(a));
    const tr_actor_info *ib = tr_snapshot_find(s, tr_ref_id(b));
    const tr_actor_info *ic = tr_snapshot_find(s, tr_ref_id(c));
    assert_non_null(ia);
    assert_non_null(ib);
    assert_non_null(ic);
    assert_string_equal(ia->name, "alpha");
    assert_string_equal(ib->name, "beta");
    assert_string_equal(ic->name, "");
    assert_int_equal(ia->parent_id, 0);
    assert_int_equal(ia->role, TR_ROLE_ACTOR);
    assert_int_equal(ia->mailbox_len, 0);
    assert_null(tr_snapshot_find(s, 12345));
    for (size_t i = 1; i < s->nactors; i++) /* ordered by id */
        assert_true(s->actors[i - 1].id < s->actors[i].id);

    size_t need = 0;
    assert_int_equal(tr_snapshot_format(s, NULL, 0, &need), TR_E2BIG);
    assert_true(need > 0);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    size_t need2 = 0;
    assert_int_equal(tr_snapshot_format(s, buf, need + 1, &need2), 0);
    assert_int_equal(need2, need);
    assert_int_equal(strlen(buf), need);
    assert_non_null(strstr(buf, "\"alpha\""));
    assert_non_null(strstr(buf, "\"beta\""));
    assert_non_null(strstr(buf, "worker 0:"));
    assert_non_null(strstr(buf, "worker 1:"));
    /* Cut: a NUL-terminated prefix. */
    char small[16];
    assert_int_equal(tr_snapshot_format(s, small, sizeof(small), NULL), TR_E2BIG);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, buf, sizeof(small) - 1);
    free(buf);
    tr_snapshot_free(s);

    tr_ref_release(a);
    tr_ref_release(b);
    tr_ref_release(c);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void snapshot_calls_check_their_arguments(void **state) {
    (void)state;
    tr_snapshot *s = NULL;
    assert_int_equal(tr_snapshot_take(NULL, &s), TR_EINVAL);
    tr_runtime *rt = tu_runtime_new(1);
    assert_non_null(rt);
    assert_int_equal(tr_snapshot_take(rt, NULL), TR_EINVAL);
    assert_int_equal(tr_snapshot_format(NULL, NULL, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    char c;
    assert_int_equal(tr_snapshot_format(s, NULL, 1, NULL), TR_EINVAL);
    assert_int_equal(tr_snapshot_format(s, &c, 1, NULL), TR_E2BIG);
    assert_int_equal(c, '\0');
    assert_int_equal(s->nactors, 0);
    tr_snapshot_free(s);
    tr_snapshot_free(NULL);
    assert_null(tr_snapshot_find(NULL, 1));
    assert_int_equal(tr_runtime_set_metrics(NULL, TR_METRICS_TIMING), TR_EINVAL);
    assert_int_equal(tr_runtime_set_metrics(rt, 7), TR_EINVAL);
    assert_int_equal(tr_runtime_metrics(NULL), TR_EINVAL);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_lists_spawned_actors_with_their_names),
        cmocka_unit_test(snapshot_calls_check_their_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
