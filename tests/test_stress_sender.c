/* tests/test_stress_sender.c - replies to senders while senders die.
 *
 * Counts (divided by TU_SANITIZER_SLOWDOWN where marked):
 *   WAVES x PER_WAVE pingers (12800), spawned by a spawner actor so their
 *   blocks recycle through the workers' caches while replies are in flight;
 *   each tells PINGS (6) pings to ECHOES (4) echo actors from its init, then
 *   stops after its serial % (PINGS + 1) pongs (0: at once, in init).
 *   Every echo keeps the pings and replies to them BATCH (32) at a time with
 *   tr_reply_word(T_PONG, ping word), so most replies find their pinger
 *   ended and many find its block holding a newer pinger.
 *
 * Checked exactly at the end:
 *   pings sent = replies accepted + replies refused with TR_EDEAD
 *     (no other result);
 *   replies accepted = pongs received + pongs dead-lettered (the pinger
 *     ended with them queued);
 *   no pinger ever receives a pong for another pinger (the pong's word names
 *     the serial of the pinger that pinged): misdelivered = 0, which is what
 *     the sender's id check guarantees when a block holds a new actor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define WAVES 64
#define PER_WAVE (200 / TU_SANITIZER_SLOWDOWN)
#define PINGS 6
#define ECHOES 4

#define BATCH 32

enum { T_PING = 1, T_PONG = 2, T_WAVE = 3, T_FLUSH = 4 };

static tr_ref *echoes[ECHOES];
static uint64_t pings_sent, ping_errors, replies_ok, replies_dead, replies_other;
static uint64_t pongs_received, pongs_dead, misdelivered, spawned;

/* An echo keeps pings and answers them BATCH at a time (and on T_FLUSH),
 * so that many replies go out after their pinger ended and its block was
 * given to a new pinger. */
typedef struct {
    unsigned n;
    tr_msg *kept[BATCH];
} echo_state;

static void answer_all(echo_state *s) {
    for (unsigned i = 0; i < s->n; i++) {
        int rc = tr_reply_word(s->kept[i], T_PONG, s->kept[i]->word);
        tu_add(rc == 0 ? &replies_ok : rc == TR_EDEAD ? &replies_dead : &replies_other, 1);
        tr_msg_free(s->kept[i]);
    }
    s->n = 0;
}

static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    echo_state *s = state;
    if (msg->type == T_FLUSH)
        answer_all(s);
    if (msg->type != T_PING)
        return 0;
    if (tr_msg_keep(ctx, msg) != 0)
        return TR_ESTATE;
    s->kept[s->n++] = msg;
    if (s->n == BATCH)
        answer_all(s);
    return 0;
}

static const tr_behavior echo = {NULL, echo_receive, NULL};

typedef struct {
    uint64_t serial;
    uint64_t pongs;
} pinger_state;

static int pinger_init(tr_ctx *ctx, void *state, void *arg) {
    pinger_state *s = state;
    s->serial = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < PINGS; i++) {
        int rc = tr_send_word(echoes[(s->serial + i) % ECHOES], T_PING, s->serial);
        tu_add(rc == 0 ? &pings_sent : &ping_errors, 1);
    }
    if (s->serial % (PINGS + 1) == 0)
        tr_stop(ctx);
    return 0;
}

static int pinger_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    pinger_state *s = state;
    if (msg->type != T_PONG)
        return 0;
    if (msg->word != s->serial)
        tu_add(&misdelivered, 1);
    tu_add(&pongs_received, 1);
    if (++s->pongs == s->serial % (PINGS + 1))
        tr_stop(ctx);
    return 0;
}

static const tr_behavior pinger = {pinger_init, pinger_receive, NULL};

/* T_WAVE: spawn PER_WAVE pingers with serials from word on. */
static int spawner_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_WAVE)
        return 0;
    tr_spawn_opts o = {.state_size = sizeof(pinger_state)};
    for (uint64_t i = 0; i < PER_WAVE; i++) {
        o.arg = (void *)(uintptr_t)(msg->word + i);
        if (tr_spawn(tr_ctx_runtime(ctx), &pinger, &o, NULL) == 0)
            tu_add(&spawned, 1);
    }
    return 0;
}

static const tr_behavior spawner = {NULL, spawner_receive, NULL};

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == T_PONG)
        tu_add(&pongs_dead, 1);
}

static int all_answered(void *arg) {
    (void)arg;
    return tu_load(&pings_sent) ==
           tu_load(&replies_ok) + tu_load(&replies_dead) + tu_load(&replies_other);
}

static void replies_to_dying_senders_are_delivered_or_edead_never_misdelivered(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_spawn_opts eo = {.state_size = sizeof(echo_state)};
    for (int i = 0; i < ECHOES; i++)
        assert_int_equal(tr_spawn(rt, &echo, &eo, &echoes[i]), 0);
    tr_ref *sp;
    assert_int_equal(tr_spawn(rt, &spawner, NULL, &sp), 0);
    for (uint64_t w = 0; w < WAVES; w++)
        assert_int_equal(tr_send_word(sp, T_WAVE, 1 + w * PER_WAVE), 0);
    const uint64_t n = (uint64_t)WAVES * PER_WAVE;
    assert_true(tu_wait_ge(&spawned, n, TU_WAIT_MS));
    /* Every ping was sent (from the inits); the flushes queue behind them. */
    for (int i = 0; i < ECHOES; i++)
        assert_int_equal(tr_send_word(echoes[i], T_FLUSH, 0), 0);
    assert_true(tu_wait_until(all_answered, NULL, TU_WAIT_MS));
    assert_true(tu_wait_alive(rt, ECHOES + 1, TU_WAIT_MS)); /* every pinger ended */
    /* A reply accepted just before its pinger ended is dead-lettered by the
     * end; all ended, so the count is final once the runtime is quiet. */
    for (int i = 0; i < ECHOES; i++)
        tr_ref_release(echoes[i]);
    tr_ref_release(sp);
    tr_runtime_free(rt);
    print_message("replies ok %lu dead %lu, pongs received %lu dead-lettered %lu\n",
                  (unsigned long)tu_load(&replies_ok), (unsigned long)tu_load(&replies_dead),
                  (unsigned long)tu_load(&pongs_received), (unsigned long)tu_load(&pongs_dead));
    assert_int_equal(tu_load(&ping_errors), 0);
    assert_int_equal(tu_load(&pings_sent), n * PINGS);
    assert_int_equal(tu_load(&replies_other), 0);
    assert_int_equal(tu_load(&replies_ok) + tu_load(&replies_dead), n * PINGS);
    assert_int_equal(tu_load(&replies_ok), tu_load(&pongs_received) + tu_load(&pongs_dead));
    assert_int_equal(tu_load(&misdelivered), 0);
    /* Both outcomes happened (the test exercised the dead path). */
    assert_true(tu_load(&replies_dead) > 0);
    assert_true(tu_load(&pongs_received) > 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(replies_to_dying_senders_are_delivered_or_edead_never_misdelivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
