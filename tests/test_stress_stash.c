/* tests/test_stress_stash.c - stash and unstash under load from foreign threads.
 *
 * SENDERS foreign threads each send PER_SENDER numbered words (sender << 32
 * | seq) to one actor on a 2-worker runtime. The actor stashes a random
 * subset (about 1 in 3, from its own generator), and at random points
 * unstashes all of them (1 in 256 messages) or only the oldest (1 in 16);
 * its stash is bounded (STASH_CAP), and a message that does not fit is
 * handled at once. Once the senders are joined the test thread says FINAL:
 * from then on the actor stashes nothing, unstashes everything and handles
 * the rest.
 *
 * Checked exactly at the end: every message was handled exactly once
 * (SENDERS * PER_SENDER in all, none twice, none lost); per sender, the
 * messages that were never stashed were handled in send order (the order
 * tr_stash documents: unstashed messages come back ahead of what is queued,
 * so only never-stashed messages keep their mutual order); the actor's
 * count of TR_EFULL refusals equals tr_runtime_stats.stash_overflows; no
 * dead letters. Run twice: into a mailbox with lanes (foreign threads get
 * their own lanes), and into a bounded mailbox without lanes whose senders
 * retry on TR_EFULL. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define SENDERS 4
#define PER_SENDER (100000 / TU_SANITIZER_SLOWDOWN)
#define STASH_CAP 64
#define T_WORD 1
#define T_FINAL 2

typedef struct stress {
    /* The actor's own (written only by it; read by the test thread after
     * `done`, which publishes them). */
    uint8_t seen[SENDERS][PER_SENDER];    /* times handled */
    uint8_t stashed[SENDERS][PER_SENDER]; /* stashed at least once */
    uint64_t last_plain[SENDERS];         /* 1 + the last never-stashed seq handled */
    uint64_t rng;
    uint64_t handled, order_errors, dup_errors, range_errors, overflows;
    uint64_t stash_calls, other_errors;
    int final;
    /* Shared with the test thread through tu_* atomics. */
    uint64_t done;
    tr_ref *ref;
    uint64_t send_full; /* senders' TR_EFULL retries (bounded run) */
    uint64_t send_errors;
} stress;

static uint64_t dead;

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    (void)why;
    tu_add(&dead, 1);
}

static uint64_t next_rand(uint64_t *x) { /* xorshift64* */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static void handle(stress *s, uint64_t word) {
    uint64_t who = word >> 32, seq = word & 0xffffffffu;
    if (who >= SENDERS || seq >= PER_SENDER) {
        s->range_errors++;
        return;
    }
    if (s->seen[who][seq]++ != 0)
        s->dup_errors++;
    if (!s->stashed[who][seq]) {
        if (seq + 1 <= s->last_plain[who])
            s->order_errors++;
        s->last_plain[who] = seq + 1;
    }
    s->handled++;
}

static int s_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    stress *s = state;
    if (msg->type == T_FINAL) {
        s->final = 1;
        tr_unstash_all(ctx);
    } else {
        uint64_t r = next_rand(&s->rng);
        int stash = !s->final && r % 3 == 0;
        if (stash) {
            s->stash_calls++;
            int rc = tr_stash(ctx, msg);
            uint64_t who = msg->word >> 32, seq = msg->word & 0xffffffffu;
            if (rc == 0) {
                if (who < SENDERS && seq < PER_SENDER)
                    s->stashed[who][seq] = 1;
            } else if (rc == TR_EFULL) {
                s->overflows++;
                stash = 0; /* handled as usual below */
            } else {
                s->other_errors++;
                stash = 0;
            }
        }
        if (!stash)
            handle(s, msg->word);
        r >>= 8;
        if (r % 256 == 0 || s->final)
            tr_unstash_all(ctx);
        else if ((r >> 4) % 16 == 0)
            tr_unstash(ctx);
    }
    if (s->handled == (uint64_t)SENDERS * PER_SENDER)
        tu_store(&s->done, 1);
    return 0;
}

typedef struct sender_arg {
    stress *s;
    uint64_t id;
} sender_arg;

static void *sender(void *p) {
    sender_arg *a = p;
    for (uint64_t seq = 0; seq < PER_SENDER; seq++) {
        int rc;
        while ((rc = tr_send_word(a->s->ref, T_WORD, a->id << 32 | seq)) == TR_EFULL) {
            tu_add(&a->s->send_full, 1);
            sched_yield();
        }
        if (rc != 0) {
            tu_add(&a->s->send_errors, 1);
            return NULL;
        }
    }
    return NULL;
}

static void run(uint32_t lanes, uint32_t mailbox_capacity) {
    tu_store(&dead, 0);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    stress *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->rng = 0x9E3779B97F4A7C15ull ^ lanes;
    static const tr_behavior beh = {NULL, s_receive, NULL};
    tr_spawn_opts o = {0};
    o.arg = s;
    o.lanes = lanes;
    o.mailbox_capacity = mailbox_capacity;
    o.stash_capacity = STASH_CAP;
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    s->ref = ref;
    pthread_t th[SENDERS];
    sender_arg args[SENDERS];
    for (uint64_t i = 0; i < SENDERS; i++) {
        args[i] = (sender_arg){s, i};
        assert_int_equal(pthread_create(&th[i], NULL, sender, &args[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(tu_load(&s->send_errors), 0);
    assert_int_equal(tr_send_word(ref, T_FINAL, 0), 0);
    assert_true(tu_wait_ge(&s->done, 1, TU_WAIT_MS));
    /* `done` was stored by the actor after its last write to s. */
    assert_int_equal(s->handled, (uint64_t)SENDERS * PER_SENDER);
    assert_int_equal(s->dup_errors, 0);
    assert_int_equal(s->range_errors, 0);
    assert_int_equal(s->order_errors, 0);
    assert_int_equal(s->other_errors, 0);
    uint64_t stashed = 0;
    for (int i = 0; i < SENDERS; i++)
        for (int k = 0; k < PER_SENDER; k++) {
            assert_int_equal(s->seen[i][k], 1);
            stashed += s->stashed[i][k];
        }
    print_message("stashed %llu of %llu messages, %llu stash calls, %llu overflows\n",
                  (unsigned long long)stashed, (unsigned long long)SENDERS * PER_SENDER,
                  (unsigned long long)s->stash_calls, (unsigned long long)s->overflows);
    /* Make sure the run exercised the stash (it stashes thousands). */
    assert_true(stashed > (uint64_t)SENDERS * PER_SENDER / 50);
    assert_true(s->stash_calls > stashed);
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_int_equal(st.stash_overflows, s->overflows);
    assert_true(s->overflows > 0); /* the bound was reached */
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&dead), 0);
    free(s);
}

static void stash_under_foreign_senders_with_lanes(void **st) {
    (void)st;
    run(1, 0);
}

static void stash_under_foreign_senders_bounded_mailbox(void **st) {
    (void)st;
    run(0, 256);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stash_under_foreign_senders_with_lanes),
        cmocka_unit_test(stash_under_foreign_senders_bounded_mailbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
