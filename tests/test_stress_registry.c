/* tests/test_stress_registry.c - names and groups under churn.
 *
 * NAMES names are held by actors that a churn thread keeps stopping and
 * respawning (tr_spawn with register_as, retried while the old holder is
 * still alive). At the same time:
 *   - SENDERS threads send SENDS words by name, half with tr_send_word_named,
 *     half through a tr_whereis handle;
 *   - RENAMERS threads race to register and unregister names r0..r3 on
 *     actors of their own (names left == registrations - unregistrations);
 *   - a group thread makes actors found by name join and leave group "all"
 *     and broadcasts to it, words and BIG-byte shared payloads, GROUP_OPS
 *     times.
 * Counts, checked exactly once the runtime has closed (every actor ended,
 * every queued message handled or dead-lettered):
 *   accepted sends + broadcast acceptances == messages received + dead letters
 *   every refused send returned TR_ENOTFOUND or TR_EDEAD (nothing else)
 *   every shared payload block made was freed
 *   no name and no group member is left.
 * Run under ASan and TSan for the use-after-free and race side. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/group.h"
#include "support/testutil.h"
#include "troupe.h"

#define NAMES 8
#define SENDERS 2
#define SENDS (40000 / TU_SANITIZER_SLOWDOWN)
#define CHURN_ROUNDS (2000 / TU_SANITIZER_SLOWDOWN)
#define GROUP_OPS (40000 / TU_SANITIZER_SLOWDOWN)
#define BIG 200

enum { PING = 1, BULK = 2 };

static tr_runtime *rt;
static uint64_t accepted, refused_ok, refused_other, received, dead, spawns, spawn_other;
static uint64_t sent_ok, done_send, rounds; /* the senders' share of accepted */
static uint64_t joins, leaves, group_other, done_churn;

static int box_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == BULK) {
        const unsigned char *p = tr_msg_payload(msg, BIG);
        if (p == NULL || p[0] != 7 || p[BIG - 1] != 7)
            return -1; /* a crash: the counts would not add up */
    }
    tu_add(&received, 1);
    return 0;
}

static const tr_behavior box_beh = {NULL, box_receive, NULL};

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == PING || msg->type == BULK)
        tu_add(&dead, 1);
}

static void name_of(char *buf, unsigned k) {
    snprintf(buf, 16, "n%u", k);
}

static void count_send(int rc) {
    if (rc == 0) {
        tu_add(&accepted, 1);
        tu_add(&sent_ok, 1);
    } else if (rc == TR_ENOTFOUND || rc == TR_EDEAD)
        tu_add(&refused_ok, 1);
    else
        tu_add(&refused_other, 1);
}

static void *sender(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    char name[16];
    tu_wait_ge(&spawns, NAMES, TU_WAIT_MS); /* start once every name was held */
    for (unsigned i = 0; i < SENDS; i++) {
        seed = seed * 1103515245u + 12345u;
        name_of(name, (seed >> 16) % NAMES);
        if (i & 1) {
            count_send(tr_send_word_named(rt, name, PING, i));
        } else {
            tr_ref *r = NULL;
            int rc = tr_whereis(rt, name, &r);
            if (rc == 0) {
                rc = tr_send_word(r, PING, i);
                tr_ref_release(r);
            }
            count_send(rc);
        }
    }
    tu_add(&done_send, 1);
    return NULL;
}

static void *churn(void *arg) {
    (void)arg;
    tr_ref *held[NAMES] = {0};
    char name[16];
    tr_spawn_opts o = {0};
    unsigned round;
    for (round = 0; round < CHURN_ROUNDS; round++) {
        unsigned k = round % NAMES;
        name_of(name, k);
        if (held[k] != NULL) {
            tr_actor_stop(held[k]);
            tr_ref_release(held[k]);
            held[k] = NULL;
        }
        o.register_as = name;
        for (;;) { /* the old holder frees the name as it ends */
            int rc = tr_spawn(rt, &box_beh, &o, &held[k]);
            if (rc == 0) {
                tu_add(&spawns, 1);
                break;
            }
            if (rc != TR_EEXIST) {
                tu_add(&spawn_other, 1);
                break;
            }
            sched_yield();
        }
    }
    for (unsigned k = 0; k < NAMES; k++)
        if (held[k] != NULL)
            tr_ref_release(held[k]); /* they live on until the close */
    tu_store(&rounds, round);
    tu_store(&done_churn, 1);
    return NULL;
}

static void *grouper(void *arg) {
    (void)arg;
    unsigned char big[BIG];
    memset(big, 7, sizeof(big));
    char name[16];
    /* A fixed number of rounds: with no bound, this thread alone can queue
     * messages faster than two workers drain them. */
    tu_wait_ge(&spawns, NAMES, TU_WAIT_MS);
    for (unsigned i = 0; i < GROUP_OPS; i++) {
        name_of(name, i % NAMES);
        tr_ref *r = NULL;
        if (tr_whereis(rt, name, &r) == 0) {
            int leave = (i / NAMES) % 3 == 2; /* join twice as often as leave */
            int rc = leave ? tr_group_leave(r, "all") : tr_group_join(r, "all");
            if (rc == 0)
                tu_add(leave ? &leaves : &joins, 1);
            else if (rc != TR_ENOTFOUND && rc != TR_EEXIST && rc != TR_EDEAD)
                tu_add(&group_other, 1);
            tr_ref_release(r);
        }
        int n = (i & 1) ? tr_group_broadcast(rt, "all", BULK, big, sizeof(big))
                        : tr_group_broadcast_word(rt, "all", PING, i);
        if (n >= 0)
            tu_add(&accepted, (uint64_t)n);
        else
            tu_add(&group_other, 1);
    }
    return NULL;
}

/* Two of these race to register and unregister names r0..r3 on actors of
 * their own; only they touch those names, so at the end the names left are
 * exactly the registrations minus the unregistrations. */
#define RENAMERS 2
#define RENAMES (20000 / TU_SANITIZER_SLOWDOWN)
static uint64_t reg_ok, unreg_ok, rename_other;

static void *renamer(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u;
    tr_ref *mine[4];
    for (unsigned k = 0; k < 4; k++)
        if (tr_spawn(rt, &box_beh, NULL, &mine[k]) != 0)
            mine[k] = NULL;
    char name[16];
    for (unsigned i = 0; i < RENAMES; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 16) % 4, who = (seed >> 20) % 4;
        snprintf(name, sizeof(name), "r%u", k);
        int rc;
        if ((seed >> 24) & 1) {
            rc = tr_register(mine[who], name);
            if (rc == 0)
                tu_add(&reg_ok, 1);
        } else {
            rc = tr_unregister(rt, name);
            if (rc == 0)
                tu_add(&unreg_ok, 1);
        }
        if (rc != 0 && rc != TR_EEXIST && rc != TR_EALREADY && rc != TR_ENOTFOUND)
            tu_add(&rename_other, 1);
    }
    for (unsigned k = 0; k < 4; k++)
        if (mine[k] != NULL)
            tr_ref_release(mine[k]);
    return NULL;
}

static void names_and_groups_survive_churn(void **state) {
    (void)state;
    uint64_t *all[] = {&accepted,   &refused_ok,  &refused_other, &received, &dead,
                       &spawns,     &spawn_other, &joins,         &leaves,   &group_other,
                       &done_churn, &sent_ok,     &done_send,     &rounds};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    uint64_t made0, freed0, made1, freed1;
    tr__group_shared_counts(&made0, &freed0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);

    pthread_t th[SENDERS + 2], rn[RENAMERS];
    tu_store(&reg_ok, 0);
    tu_store(&unreg_ok, 0);
    tu_store(&rename_other, 0);
    for (unsigned s = 0; s < RENAMERS; s++)
        assert_int_equal(pthread_create(&rn[s], NULL, renamer, (void *)(uintptr_t)(s + 1)), 0);
    assert_int_equal(pthread_create(&th[0], NULL, churn, NULL), 0);
    assert_int_equal(pthread_create(&th[1], NULL, grouper, NULL), 0);
    for (unsigned s = 0; s < SENDERS; s++)
        assert_int_equal(pthread_create(&th[2 + s], NULL, sender, (void *)(uintptr_t)(s + 1)), 0);
    for (unsigned s = 0; s < SENDERS + 2; s++)
        pthread_join(th[s], NULL);

    for (unsigned s = 0; s < RENAMERS; s++)
        pthread_join(rn[s], NULL);
    size_t n = 0;
    tr_name names[NAMES + 8];
    assert_int_equal(tr_registered(rt, names, NAMES + 8, &n),
                     NAMES + tu_load(&reg_ok) - tu_load(&unreg_ok));
    assert_int_equal(tu_load(&rename_other), 0);
    assert_true(tu_load(&reg_ok) > 0 && tu_load(&unreg_ok) > 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_registered(rt, NULL, 0, &n), 0);
    assert_int_equal(tr_group_members(rt, "all", NULL, 0, &n), 0);

    uint64_t acc = tu_load(&accepted), rec = tu_load(&received), dl = tu_load(&dead);
    print_message("spawns %llu, sends accepted %llu (received %llu + dead %llu), refused %llu, "
                  "joins %llu, leaves %llu\n",
                  (unsigned long long)tu_load(&spawns), (unsigned long long)acc,
                  (unsigned long long)rec, (unsigned long long)dl,
                  (unsigned long long)tu_load(&refused_ok), (unsigned long long)tu_load(&joins),
                  (unsigned long long)tu_load(&leaves));
    assert_int_equal(tu_load(&spawns), tu_load(&rounds));
    assert_true(tu_load(&joins) > 0);
    assert_int_equal(tu_load(&spawn_other), 0);
    assert_int_equal(tu_load(&refused_other), 0);
    assert_int_equal(tu_load(&group_other), 0);
    assert_int_equal(tu_load(&sent_ok) + tu_load(&refused_ok), (uint64_t)SENDERS * SENDS);
    assert_int_equal(acc, rec + dl);
    assert_true(acc > 0);
    tr__group_shared_counts(&made1, &freed1);
    assert_int_equal(made1 - made0, freed1 - freed0);
    tr_runtime_free(rt);
    rt = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_groups_survive_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
