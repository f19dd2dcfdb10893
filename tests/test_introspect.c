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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/console_app.h"
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

/* --- a known system --------------------------------------------------------- */

static uint64_t crashes_left;

/* Crashes on message type 13 (once per test, counted). */
static int crashy_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == 13 && tu_load(&crashes_left) > 0) {
        tu_add(&crashes_left, (uint64_t)-1);
        return TR_ECRASHED;
    }
    return 0;
}

static const tr_behavior crashy_beh = {NULL, crashy_receive, NULL};

static const tr_actor_info *find_named(const tr_snapshot *s, const char *name) {
    const tr_actor_info *hit = NULL;
    for (size_t i = 0; i < s->nactors; i++) {
        if (strcmp(s->actors[i].name, name) == 0) {
            if (hit != NULL)
                return NULL; /* twice: not what the test wants */
            hit = &s->actors[i];
        }
    }
    return hit;
}

static const tr_sup_node *node_of(const tr_snapshot *s, uint64_t id) {
    for (size_t i = 0; i < s->nsups; i++)
        if (s->actors[s->sups[i].actor].id == id)
            return &s->sups[i];
    return NULL;
}

typedef struct sys {
    tr_runtime *rt;
    tr_ref *sup, *pool;
} sys;

static void sys_start(sys *y, tr_child_spec kids[3], tr_sup_config *sc, tr_pool_config *pc) {
    y->rt = tu_runtime_new(2);
    assert_non_null(y->rt);
    static const char *ids[3] = {"db", "cache", "web"};
    for (int i = 0; i < 3; i++) {
        memset(&kids[i], 0, sizeof(kids[i]));
        kids[i].id = ids[i];
        kids[i].behavior = &crashy_beh;
        kids[i].restart = TR_CHILD_PERMANENT;
    }
    tr_sup_config_init(sc);
    sc->strategy = TR_SUP_ONE_FOR_ONE;
    sc->intensity = TR_SUP_UNLIMITED;
    sc->children = kids;
    sc->nchildren = 3;
    sc->name = "root";
    assert_int_equal(tr_sup_start(y->rt, sc, &y->sup), 0);
    tr_pool_config_init(pc);
    pc->workers = 4;
    pc->behavior = &noop_beh;
    pc->name = "jobs";
    assert_int_equal(tr_pool_start(y->rt, pc, &y->pool), 0);
}

static void sys_stop(sys *y) {
    tr_pool_release(y->pool);
    tr_actor_stop(y->sup);
    tr_ref_release(y->sup);
    assert_int_equal(tr_runtime_free(y->rt), 0);
}

static void snapshot_of_a_supervisor_and_a_pool_lists_exactly_them(void **state) {
    (void)state;
    sys y;
    tr_child_spec kids[3];
    tr_sup_config sc;
    tr_pool_config pc;
    sys_start(&y, kids, &sc, &pc);
    tr_snapshot *s = NULL;
    assert_int_equal(tr_snapshot_take(y.rt, &s), 0);
    /* root, its 3 children, the pool's router and its 4 workers. */
    assert_int_equal(s->nactors, 9);
    const tr_actor_info *root = tr_snapshot_find(s, tr_ref_id(y.sup));
    assert_non_null(root);
    assert_string_equal(root->name, "root");
    assert_int_equal(root->role, TR_ROLE_SUPERVISOR);
    assert_int_equal(root->strategy, TR_SUP_ONE_FOR_ONE);
    assert_int_equal(root->parent_id, 0);
    /* Named as every report names them (core/name.h). */
    const char *names[3] = {"root/db", "root/cache", "root/web"};
    for (int i = 0; i < 3; i++) {
        const tr_actor_info *c = find_named(s, names[i]);
        assert_non_null(c);
        assert_int_equal(c->parent_id, root->id);
        assert_int_equal(c->role, TR_ROLE_ACTOR);
        assert_int_equal(c->restarts, 0);
    }
    const tr_actor_info *router = tr_snapshot_find(s, tr_ref_id(y.pool));
    assert_non_null(router);
    assert_int_equal(router->role, TR_ROLE_POOL);
    assert_int_equal(router->parent_id, 0);
    for (int i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof(want), "jobs[%d]", i);
        const tr_actor_info *w = find_named(s, want);
        assert_non_null(w);
        assert_int_equal(w->parent_id, router->id);
        assert_int_equal(w->role, TR_ROLE_POOL_WORKER);
        assert_int_equal(w->slot, i);
    }
    /* The tree: two nodes, 3 and 4 children. */
    assert_int_equal(s->nsups, 2);
    const tr_sup_node *rn = node_of(s, root->id), *pn = node_of(s, router->id);
    assert_non_null(rn);
    assert_non_null(pn);
    assert_int_equal(rn->nchildren, 3);
    assert_int_equal(pn->nchildren, 4);
    for (size_t i = 0; i < rn->nchildren; i++)
        assert_int_equal(s->actors[rn->children[i]].parent_id, root->id);
    /* The text shows the children indented under their parents. */
    size_t need = 0;
    tr_snapshot_format(s, NULL, 0, &need);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    assert_int_equal(tr_snapshot_format(s, buf, need + 1, NULL), 0);
    assert_non_null(strstr(buf, "\"root\" supervisor"));
    assert_non_null(strstr(buf, "actor   #"));
    assert_non_null(strstr(buf, "\"jobs[3]\" pool-worker"));
    free(buf);
    tr_snapshot_free(s);
    sys_stop(&y);
}

static int db_restarted(void *arg) {
    sys *y = arg;
    tr_snapshot *s = NULL;
    if (tr_snapshot_take(y->rt, &s) != 0)
        return 0;
    const tr_actor_info *db = find_named(s, "root/db");
    const tr_actor_info *root = tr_snapshot_find(s, tr_ref_id(y->sup));
    int ok = db != NULL && db->restarts == 1 && root != NULL && root->children_restarted == 1;
    tr_snapshot_free(s);
    return ok;
}

static void snapshot_shows_a_restarted_child_with_its_count(void **state) {
    (void)state;
    sys y;
    tr_child_spec kids[3];
    tr_sup_config sc;
    tr_pool_config pc;
    sys_start(&y, kids, &sc, &pc);
    tu_store(&crashes_left, 1);
    tr_child_info info[3];
    size_t n = 0;
    assert_int_equal(tr_sup_which_children(y.sup, info, 3, &n), 0);
    assert_int_equal(n, 3);
    uint64_t old_id = tr_ref_id(info[0].ref);
    assert_int_equal(tr_send_word(info[0].ref, 13, 0), 0); /* db crashes */
    tr_sup_children_release(info, n);
    assert_true(tu_wait_until(db_restarted, &y, TU_WAIT_MS));
    tr_snapshot *s = NULL;
    assert_int_equal(tr_snapshot_take(y.rt, &s), 0);
    assert_int_equal(s->nactors, 9);
    const tr_actor_info *db = find_named(s, "root/db");
    assert_non_null(db);
    assert_true(db->id != old_id);
    assert_null(tr_snapshot_find(s, old_id));
    tr_snapshot_free(s);
    sys_stop(&y);
}

/* --- dead letters per actor ---------------------------------------------- */

#define LEFT_AT_STOP 5

static int gamma_shows_its_dead_letters(void *arg) {
    tr_runtime *rt = arg;
    tr_snapshot *s = NULL;
    if (tr_snapshot_take(rt, &s) != 0)
        return 0;
    const tr_actor_info *g = find_named(s, "app/gamma");
    int ok = g != NULL && g->restarts == 1 && g->dead_letters == LEFT_AT_STOP;
    tr_snapshot_free(s);
    return ok;
}

/* An actor that ends with K messages queued has K dead letters, which the
 * next incarnation of its supervisor child shows (as it shows the
 * restart), in the snapshot and in its text. */
static void actor_ended_with_queued_messages_shows_them_as_dead_letters(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    console_app app;
    assert_int_equal(console_app_start(rt, &app), 0);
    tr_snapshot *s = NULL;
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    const tr_actor_info *g = find_named(s, "app/gamma");
    assert_non_null(g);
    assert_int_equal(g->dead_letters, 0);
    tr_snapshot_free(s);
    assert_int_equal(console_app_dead_letters(&app, LEFT_AT_STOP, TU_WAIT_MS), 0);
    assert_true(tu_wait_until(gamma_shows_its_dead_letters, rt, TU_WAIT_MS));
    assert_int_equal(tr_snapshot_take(rt, &s), 0);
    size_t need = 0;
    tr_snapshot_format(s, NULL, 0, &need);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    assert_int_equal(tr_snapshot_format(s, buf, need + 1, NULL), 0);
    const char *line = strstr(buf, "\"app/gamma\"");
    assert_non_null(line);
    char want[32];
    snprintf(want, sizeof(want), " dead %d ", LEFT_AT_STOP);
    const char *dead = strstr(line, want);
    assert_non_null(dead);
    assert_true(dead < strchr(line, '\n'));
    /* Nobody else got any. */
    for (size_t i = 0; i < s->nactors; i++)
        if (strcmp(s->actors[i].name, "app/gamma") != 0)
            assert_int_equal(s->actors[i].dead_letters, 0);
    free(buf);
    tr_snapshot_free(s);
    console_app_stop(&app);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- stress: snapshots while actors spawn, die and restart ------------------- */

#define STRESS_MS (1000 / TU_SANITIZER_SLOWDOWN + 200)
#define SENTINELS 8 /* actors alive the whole time: in every snapshot */

static uint64_t stress_stop, snaps, twice, missing, bad, spawns, crashes_sent;
static uint64_t sentinel_ids[SENTINELS];

static void *snap_main(void *arg) {
    tr_runtime *rt = arg;
    while (!tu_load(&stress_stop)) {
        tr_snapshot *s = NULL;
        if (tr_snapshot_take(rt, &s) != 0) {
            tu_add(&bad, 1);
            continue;
        }
        for (size_t i = 1; i < s->nactors; i++)
            if (s->actors[i - 1].id >= s->actors[i].id)
                tu_add(&twice, 1);
        for (int k = 0; k < SENTINELS; k++)
            if (tr_snapshot_find(s, sentinel_ids[k]) == NULL)
                tu_add(&missing, 1);
        for (size_t i = 0; i < s->nactors; i++) {
            const tr_actor_info *a = &s->actors[i];
            if (a->id == 0 || a->mailbox_len < 0 || memchr(a->name, 0, sizeof(a->name)) == NULL ||
                (unsigned)a->state > TR_ACTOR_STOPPING)
                tu_add(&bad, 1);
        }
        for (size_t k = 0; k < s->nsups; k++)
            for (size_t c = 0; c < s->sups[k].nchildren; c++)
                if (s->actors[s->sups[k].children[c]].parent_id != s->actors[s->sups[k].actor].id)
                    tu_add(&bad, 1);
        size_t need = 0;
        if (tr_snapshot_format(s, NULL, 0, &need) != TR_E2BIG || need == 0)
            tu_add(&bad, 1);
        tr_snapshot_free(s);
        tu_add(&snaps, 1);
    }
    return NULL;
}

static void *churn_main(void *arg) {
    tr_runtime *rt = arg;
    while (!tu_load(&stress_stop)) {
        tr_ref *r;
        tr_spawn_opts o = {.name = "churn"};
        if (tr_spawn(rt, &noop_beh, &o, &r) == 0) {
            tr_send_word(r, 1, 0);
            tr_actor_stop(r);
            tr_ref_release(r);
            tu_add(&spawns, 1);
        }
    }
    return NULL;
}

static void *crash_main(void *arg) {
    sys *y = arg;
    while (!tu_load(&stress_stop)) {
        tr_child_info info[3];
        size_t n = 0;
        if (tr_sup_which_children(y->sup, info, 3, &n) == 0) {
            for (size_t i = 0; i < n && i < 3; i++)
                if (info[i].ref != NULL && tr_send_word(info[i].ref, 13, 0) == 0)
                    tu_add(&crashes_sent, 1);
            tr_sup_children_release(info, n < 3 ? n : 3);
        }
        tu_add(&crashes_left, 3);
        tu_sleep_ms(2);
    }
    return NULL;
}

static void snapshots_from_a_foreign_thread_survive_churn(void **state) {
    (void)state;
    sys y;
    tr_child_spec kids[3];
    tr_sup_config sc;
    tr_pool_config pc;
    sys_start(&y, kids, &sc, &pc);
    tr_ref *sent[SENTINELS];
    for (int k = 0; k < SENTINELS; k++) {
        tr_spawn_opts o = {.name = "sentinel"};
        assert_int_equal(tr_spawn(y.rt, &noop_beh, &o, &sent[k]), 0);
        sentinel_ids[k] = tr_ref_id(sent[k]);
    }
    tu_store(&crashes_left, 0);
    pthread_t th[3];
    assert_int_equal(pthread_create(&th[0], NULL, snap_main, y.rt), 0);
    assert_int_equal(pthread_create(&th[1], NULL, churn_main, y.rt), 0);
    assert_int_equal(pthread_create(&th[2], NULL, crash_main, &y), 0);
    tu_sleep_ms(STRESS_MS);
    tu_store(&stress_stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    print_message("%llu snapshots, %llu spawns, %llu crash messages\n",
                  (unsigned long long)tu_load(&snaps), (unsigned long long)tu_load(&spawns),
                  (unsigned long long)tu_load(&crashes_sent));
    assert_true(tu_load(&snaps) > 0);
    assert_true(tu_load(&spawns) > 0);
    assert_int_equal(tu_load(&twice), 0);
    assert_int_equal(tu_load(&missing), 0);
    assert_int_equal(tu_load(&bad), 0);
    tu_store(&crashes_left, 0);
    for (int k = 0; k < SENTINELS; k++)
        tr_ref_release(sent[k]);
    tr_pool_release(y.pool);
    tr_actor_stop(y.sup);
    tr_ref_release(y.sup);
    assert_int_equal(tr_runtime_free(y.rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snapshot_lists_spawned_actors_with_their_names),
        cmocka_unit_test(snapshot_calls_check_their_arguments),
        cmocka_unit_test(snapshot_of_a_supervisor_and_a_pool_lists_exactly_them),
        cmocka_unit_test(snapshot_shows_a_restarted_child_with_its_count),
        cmocka_unit_test(actor_ended_with_queued_messages_shows_them_as_dead_letters),
        cmocka_unit_test(snapshots_from_a_foreign_thread_survive_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
