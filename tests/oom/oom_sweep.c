/* tests/oom/oom_sweep.c - one run of the allocation-failure sweep.
 *
 * Not a ctest by itself: scripts/oom-sweep.sh runs it once per N with
 * OOM_FAIL_AT=N and OOM_MODE=once|from (tests/oom/shim.h), each run under a
 * watchdog in an ASan build. One run exercises, in order: runtime new, spawn
 * (with lanes), sends from a foreign thread, asks (futures), an actor's
 * requests (plain, crashing, with timeouts), stash/unstash, timers (one-shot,
 * periodic, cancelled), a pool whose jobs crash, the blocking pool, TCP on
 * loopback, names and groups, supervisor async calls, then closes and frees
 * the runtime. Any call may fail: its code is counted, never trusted.
 *
 * What a run must show (else the exit status says what broke):
 *   3  an ask on a future did not settle (no reply, no error) in ASK_MS;
 *   4  an actor's accepted request got neither its reply nor
 *      TR_MSG_ASK_FAILED (tr_request's promise) in ASK_MS;
 *   5  tr_runtime_free returned an error.
 * Crashes, hangs (the script's timeout), sanitizer reports and leaks are
 * caught by the script. With OOM_COUNT=1 the run prints the number of
 * allocations it made, which is the range the script sweeps. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oom/shim.h"
#include "support/testutil.h"
#include "troupe.h"

#define ASK_MS 5000   /* an ask that did not settle by then never will */
#define SETTLE_MS 600 /* how long the program waits for best-effort work */
#define REQUESTS 6    /* requests the driver makes per round */

enum {
    T_PING = 1, /* echo: reply with the word */
    T_CRASH,    /* echo: crash (return non-zero) */
    T_QUIET,    /* echo: no reply (TR_ENOREPLY for an asker) */
    T_HOLD,     /* stasher: stash until T_FLUSH */
    T_FLUSH,
    T_GO,   /* driver: make requests */
    T_TICK, /* timers */
    T_SUP,  /* driver: supervisor async calls on the sup in word */
    T_JOB,  /* pool job: crash if word is odd */
};

/* What the actors saw; written on workers, read by main (tu_* atomics). */
static uint64_t req_sent;     /* driver: requests accepted (rc 0) */
static uint64_t req_answered; /* driver: replies + ASK_FAILED + RESULT for them */
static uint64_t sup_sent, sup_answered;
static uint64_t go_done, sup_done; /* the driver made its calls */
static uint64_t ticks, stashed, unstashed, tcp_events, handled;

/* --- echo: answers, crashes, keeps quiet ------------------------------------- */

static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_add(&handled, 1);
    switch (msg->type) {
    case T_PING:
        if (tr_msg_wants_reply(msg))
            (void)tr_reply_word(msg, T_PING, msg->word);
        return 0;
    case T_CRASH:
        return -1;
    default:
        return 0;
    }
}

static const tr_behavior echo_beh = {.receive = echo_receive};

/* --- stasher ----------------------------------------------------------------- */

static int stash_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_HOLD) {
        if (tr_stash(ctx, msg) == 0)
            tu_add(&stashed, 1);
        return 0;
    }
    if (msg->type == T_FLUSH) {
        int64_t n = tr_stash_len(ctx);
        if (tr_unstash_all(ctx) == 0 && n > 0)
            tu_add(&unstashed, (uint64_t)n);
    }
    return 0;
}

static const tr_behavior stash_beh = {.receive = stash_receive};

/* --- driver: an actor that asks --------------------------------------------- */

typedef struct driver {
    tr_ref *echo;
} driver;

static void request(tr_ctx *ctx, tr_ref *to, uint32_t type, uint64_t tag, uint64_t timeout) {
    tr_msg *m;
    if (tr_msg_new(&m, type, 8) != 0)
        return;
    m->word = tag;
    int rc = timeout ? tr_request_timeout(ctx, to, m, tag, timeout) : tr_request(ctx, to, m, tag);
    if (rc == 0)
        tu_add(&req_sent, 1);
    else
        tr_msg_free(m);
}

static void sup_calls(tr_ctx *ctx, tr_ref *sup) {
    static const uint64_t tag = 1000;
    if (tr_sup_start_dynamic_async(ctx, sup, NULL, tag) == 0)
        tu_add(&sup_sent, 1);
    if (tr_sup_count_children_async(ctx, sup, tag) == 0)
        tu_add(&sup_sent, 1);
    if (tr_sup_which_children_async(ctx, sup, tag) == 0)
        tu_add(&sup_sent, 1);
    if (tr_sup_stats_get_async(ctx, sup, tag) == 0)
        tu_add(&sup_sent, 1);
}

static int driver_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    driver *d = state;
    if (msg->type == T_GO) {
        d->echo = (tr_ref *)(uintptr_t)msg->word; /* main holds it until the end */
        request(ctx, d->echo, T_PING, 1, 0);
        request(ctx, d->echo, T_CRASH, 2, 0);
        request(ctx, d->echo, T_QUIET, 3, 0);
        request(ctx, d->echo, T_PING, 4, 2000);
        request(ctx, d->echo, T_QUIET, 5, 50);
        request(ctx, d->echo, T_CRASH, 6, 2000);
        tu_store(&go_done, 1);
        return 0;
    }
    if (msg->type == T_SUP) {
        sup_calls(ctx, (tr_ref *)(uintptr_t)msg->word);
        tu_store(&sup_done, 1);
        return 0;
    }
    if (tr_msg_is_reply(msg)) {
        if (msg->corr >= 1000) {
            tu_add(&sup_answered, 1);
            tr_ref *kid;
            if (msg->type == TR_MSG_RESULT && tr_sup_result_ref(msg, &kid) == 0 && kid != NULL)
                tr_ref_release(kid);
        } else
            tu_add(&req_answered, 1);
    }
    return 0;
}

static const tr_behavior driver_beh = {.receive = driver_receive};

/* --- timers, tcp: one actor that counts what comes -------------------------- */

static int counter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_TICK)
        tu_add(&ticks, 1);
    else if (msg->type == TR_MSG_TCP_ACCEPTED) {
        tu_add(&tcp_events, 1);
        tr_tcp *c = tr_msg_take_ptr(msg);
        if (c != NULL) {
            if (tr_tcp_start(c, tr_self(ctx), 7) == 0)
                (void)tr_tcp_write(c, "pong", 4);
            tr_tcp_close(c);
        }
    } else if (msg->type >= TR_MSG_TCP_CONNECTED && msg->type <= TR_MSG_TCP_CLOSED)
        tu_add(&tcp_events, 1);
    return 0;
}

static const tr_behavior counter_beh = {.receive = counter_receive};

/* --- pool jobs ------------------------------------------------------------- */

static int job_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_JOB && (msg->word & 1))
        return -1; /* crash: redelivered, then dead-lettered */
    if (tr_msg_wants_reply(msg))
        (void)tr_reply_word(msg, T_JOB, msg->word);
    return 0;
}

static const tr_behavior job_beh = {.receive = job_receive};

static int blocking_job(void *arg, void **result) {
    (void)arg;
    *result = NULL;
    return 0;
}

/* --- main ------------------------------------------------------------------- */

static int failures;

/* Wait for an ask's outcome; a future that never settles is a bug. */
static void settle(tr_future *f, const char *what) {
    tr_msg *reply = NULL;
    int rc = tr_future_wait(f, ASK_MS, &reply);
    if (rc == TR_ETIMEDOUT) {
        fprintf(stderr, "oom_sweep: an ask (%s) did not settle in %d ms\n", what, ASK_MS);
        failures |= 1 << 3;
    }
    if (rc == 0 && reply != NULL)
        tr_msg_free(reply);
    tr_future_release(f);
}

static void ask_word(tr_ref *to, uint32_t type, uint64_t word, const char *what) {
    tr_future *f;
    if (tr_ask_word(to, type, word, &f) == 0)
        settle(f, what);
}

static tr_ref *spawn(tr_runtime *rt, const tr_behavior *b, size_t state, uint32_t lanes) {
    tr_spawn_opts o;
    memset(&o, 0, sizeof(o));
    o.state_size = state;
    o.lanes = lanes;
    tr_ref *r = NULL;
    if (tr_spawn(rt, b, &o, &r) != 0)
        return NULL;
    return r;
}

static void phase_pool(tr_runtime *rt) {
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 2;
    pc.behavior = &job_beh;
    pc.max_redeliveries = 1;
    tr_ref *pool;
    if (tr_pool_start(rt, &pc, &pool) != 0)
        return;
    for (uint64_t i = 0; i < 4; i++)
        ask_word(pool, T_JOB, i, "pool job");
    (void)tr_send_word(pool, T_JOB, 3);
    (void)tr_pool_close(pool);
    tr_pool_release(pool);
}

static void phase_tcp(tr_runtime *rt, tr_ref *counter) {
    tr_tcp_listener *l;
    if (tr_tcp_listen(counter, "127.0.0.1", 0, 8, 5, &l) != 0)
        return;
    int port = tr_tcp_listener_port(l);
    tr_tcp *c = NULL;
    if (port > 0 && tr_tcp_connect(counter, "127.0.0.1", (uint16_t)port, 6, &c) == 0)
        (void)tr_tcp_write(c, "ping", 4);
    tu_sleep_ms(50);
    if (c != NULL)
        tr_tcp_close(c);
    tr_tcp_listener_close(l);
    (void)rt;
}

static void phase_names(tr_runtime *rt, tr_ref *echo, tr_ref *counter) {
    if (tr_register(echo, "echo") == 0) {
        (void)tr_send_word_named(rt, "echo", T_PING, 1);
        tr_ref *r;
        if (tr_whereis(rt, "echo", &r) == 0)
            tr_ref_release(r);
        (void)tr_unregister(rt, "echo");
    }
    (void)tr_group_join(echo, "g");
    (void)tr_group_join(counter, "g");
    (void)tr_group_broadcast_word(rt, "g", T_TICK, 0);
    tr_ref *m[4];
    size_t n = 0;
    if (tr_group_members(rt, "g", m, 4, &n) == 0)
        tr_ref_release_all(m, n < 4 ? n : 4);
    (void)tr_subscribe(counter, "a.*");
    (void)tr_publish_word(rt, "a.b", T_TICK, 0);
    (void)tr_unsubscribe(counter, "a.*");
    (void)tr_group_leave(echo, "g");
}

static void phase_sup(tr_runtime *rt, tr_ref *driver_ref) {
    tr_child_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.behavior = &echo_beh;
    spec.restart = TR_CHILD_TEMPORARY;
    spec.shutdown_ms = 100;
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.strategy = TR_SUP_DYNAMIC;
    sc.children = &spec;
    sc.nchildren = 1;
    tr_ref *sup;
    if (tr_sup_start(rt, &sc, &sup) != 0)
        return;
    if (tr_send_word(driver_ref, T_SUP, (uint64_t)(uintptr_t)sup) == 0) {
        /* Supervisor calls answer, or fail with ASK_FAILED: never nothing. */
        int64_t end = tu_now_ms() + ASK_MS;
        while (tu_now_ms() < end &&
               (!tu_load(&sup_done) || tu_load(&sup_answered) < tu_load(&sup_sent)))
            tu_sleep_ms(2);
        if (tu_load(&sup_done) && tu_load(&sup_answered) < tu_load(&sup_sent)) {
            fprintf(stderr, "oom_sweep: supervisor calls never answered\n");
            failures |= 1 << 4;
        }
    }
    (void)tr_sup_stop(sup);
    tr_ref_release(sup);
}

int main(void) {
    oom_arm();
    tr_runtime *rt = NULL;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    int rc = tr_runtime_new(&rt, &cfg);
    if (rc != 0) {
        printf("oom_sweep: runtime_new: %s\n", tr_strerror(rc));
        goto out;
    }
    tr_ref *echo = spawn(rt, &echo_beh, 0, 1);
    tr_ref *stasher = spawn(rt, &stash_beh, 0, 0);
    tr_ref *drv = spawn(rt, &driver_beh, sizeof(driver), 0);
    tr_ref *counter = spawn(rt, &counter_beh, 0, 0);

    if (echo != NULL) {
        for (uint64_t i = 0; i < 8; i++) /* a foreign thread's sends: a lane */
            (void)tr_send_word(echo, T_PING, i);
        (void)tr_send(echo, T_PING, "abc", 3);
        ask_word(echo, T_PING, 1, "ping");
        ask_word(echo, T_QUIET, 2, "quiet"); /* TR_ENOREPLY */
        ask_word(echo, T_CRASH, 3, "crash"); /* TR_ECRASHED; echo ends */
        ask_word(echo, T_PING, 4, "dead");   /* TR_EDEAD */
    }
    tr_ref *echo2 = spawn(rt, &echo_beh, 0, 0);
    if (drv != NULL && echo2 != NULL && tr_send_word(drv, T_GO, (uint64_t)(uintptr_t)echo2) == 0) {
        int64_t end = tu_now_ms() + ASK_MS;
        while (tu_now_ms() < end &&
               (!tu_load(&go_done) || tu_load(&req_answered) < tu_load(&req_sent)))
            tu_sleep_ms(2);
        if (tu_load(&go_done) && tu_load(&req_answered) < tu_load(&req_sent)) {
            fprintf(stderr, "oom_sweep: %llu of %llu requests never answered\n",
                    (unsigned long long)(tu_load(&req_sent) - tu_load(&req_answered)),
                    (unsigned long long)tu_load(&req_sent));
            failures |= 1 << 4;
        }
    }
    if (stasher != NULL) {
        for (int i = 0; i < 3; i++)
            (void)tr_send_word(stasher, T_HOLD, (uint64_t)i);
        (void)tr_send_word(stasher, T_FLUSH, 0);
        (void)tr_send_word(stasher, T_HOLD, 9); /* left in the stash at the end */
    }
    if (counter != NULL) {
        tr_msg *m;
        tr_timer_id t1, t2, t3;
        if (tr_msg_new(&m, T_TICK, 0) == 0 && tr_timer_send_after(counter, 5, m, &t1) != 0)
            tr_msg_free(m);
        if (tr_timer_tick_every(counter, 1, 2, T_TICK, 0, &t2) == 0) {
            tu_sleep_ms(10);
            (void)tr_timer_cancel(rt, t2);
        }
        if (tr_msg_new(&m, T_TICK, 0) == 0 && tr_timer_send_after(counter, 60000, m, &t3) != 0)
            tr_msg_free(m); /* pending at close: destroyed with the runtime */
        phase_tcp(rt, counter);
    }
    phase_pool(rt);
    tr_future *bf;
    if (tr_blocking_ask(rt, blocking_job, NULL, NULL, &bf) == 0)
        settle(bf, "blocking");
    if (echo2 != NULL && counter != NULL)
        phase_names(rt, echo2, counter);
    if (drv != NULL)
        phase_sup(rt, drv);
    tu_sleep_ms(20);

    tr_ref *refs[] = {echo, stasher, drv, counter, echo2};
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
        if (refs[i] != NULL)
            tr_ref_release(refs[i]);
    rc = tr_runtime_free(rt);
    if (rc != 0) {
        fprintf(stderr, "oom_sweep: runtime_free: %s\n", tr_strerror(rc));
        failures |= 1 << 5;
    }
out:
    oom_disarm();
    if (getenv("OOM_COUNT") != NULL)
        printf("allocations %llu\n", (unsigned long long)oom_count());
    printf("oom_sweep: failed %llu allocations; requests %llu/%llu, sup %llu/%llu, "
           "ticks %llu, stash %llu/%llu, tcp %llu, handled %llu\n",
           (unsigned long long)oom_failed(), (unsigned long long)tu_load(&req_answered),
           (unsigned long long)tu_load(&req_sent), (unsigned long long)tu_load(&sup_answered),
           (unsigned long long)tu_load(&sup_sent), (unsigned long long)tu_load(&ticks),
           (unsigned long long)tu_load(&unstashed), (unsigned long long)tu_load(&stashed),
           (unsigned long long)tu_load(&tcp_events), (unsigned long long)tu_load(&handled));
    if (failures & (1 << 3))
        return 3;
    if (failures & (1 << 4))
        return 4;
    if (failures & (1 << 5))
        return 5;
    return 0;
}
