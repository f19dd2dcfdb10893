/* tests/test_contracts_msg.c - the contracts of senders, replies, requests,
 * promises, become and stash (troupe/actor.h, troupe/msg.h, troupe/timer.h),
 * tried where they meet: a stashed ask or request whose actor crashes,
 * become in init and terminate, a stashing child a supervisor restarts, a
 * reply to a tell whose sender ended and whose block was recycled, promises
 * settled after the runtime closed, and bad arguments everywhere. Actors
 * record what the calls returned into counters; the test thread asserts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { T_DATA = 1, T_ASKQ, T_HOLD, T_CRASH, T_ANS, T_GO, T_PROBE, T_KEEP, T_RELEASE, T_GO_LATE };

static uint64_t got, dead, failed, fail_status, replies, stashed, terms, rcs[8];
static tr_msg *kept;

static void reset(void) {
    uint64_t *all[] = {&got, &dead, &failed, &fail_status, &replies, &stashed, &terms};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    for (size_t i = 0; i < 8; i++)
        tu_store(&rcs[i], 0);
    kept = NULL;
}

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    (void)why;
    tu_add(&dead, 1);
}

static tr_runtime *rt_with_hook(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

/* rcs[i] holds rc + 1000 so that 0 means "not recorded yet". */
static void record(int i, int rc) {
    tu_store(&rcs[i], (uint64_t)(int64_t)(rc + 1000));
}
static int recorded(int i) {
    return (int)((int64_t)tu_load(&rcs[i]) - 1000);
}
static int wait_recorded(int i) {
    for (int64_t end = tu_now_ms() + TU_WAIT_MS; tu_now_ms() < end; tu_sleep_ms(1))
        if (tu_load(&rcs[i]) != 0)
            return 1;
    return 0;
}

/* --- a holder that stashes everything while held ------------------------- */

static int plain(tr_ctx *ctx, void *state, tr_msg *msg);

static int holding(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_CRASH)
        return TR_ECRASHED;
    if (msg->type == T_RELEASE) {
        tr_unstash_all(ctx);
        return tr_become(ctx, plain);
    }
    if (tr_stash(ctx, msg) == 0)
        tu_add(&stashed, 1);
    return 0;
}

static int plain(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case T_HOLD:
        return tr_become(ctx, holding);
    case T_CRASH:
        return TR_ECRASHED;
    case T_ASKQ:
        return tr_reply_word(msg, T_ANS, msg->word + 1);
    case T_DATA:
        tu_add(&got, 1);
        return 0;
    default:
        return 0;
    }
}
static const tr_behavior holder = {.receive = plain};

static void stashed_ask_fails_with_edead_when_the_actor_crashes(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = rt_with_hook(1);
    tr_ref *h = NULL;
    assert_int_equal(tr_spawn(rt, &holder, NULL, &h), 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    tr_future *f[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_ask_word(h, T_ASKQ, (uint64_t)i, &f[i]), 0);
    assert_true(tu_wait_ge(&stashed, 3, TU_WAIT_MS));
    assert_int_equal(tr_send_word(h, T_CRASH, 0), 0);
    for (int i = 0; i < 3; i++) {
        tr_msg *r = (tr_msg *)1;
        assert_int_equal(tr_future_wait(f[i], TU_WAIT_MS, &r), TR_EDEAD);
        assert_null(r);
        tr_future_release(f[i]);
    }
    assert_int_equal(tu_load(&dead), 3);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

/* An actor that requests from the holder and records the failures. */
static tr_ref *target;
static int requester(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_GO) {
        record(0, tr_request_word(ctx, target, T_ASKQ, 7, 42));
        record(1, tr_request_timeout(ctx, target,
                                     &(tr_msg){0}, /* not a made message: must be refused */
                                     43, 0));
        tr_msg *m = NULL;
        if (tr_msg_new(&m, T_ASKQ, 0) == 0) {
            m->type = TR_MSG_SYSTEM + 9; /* reserved, as tr_request refuses */
            record(2, tr_request_timeout(ctx, target, m, 44, 1000));
            if (recorded(2) != 0)
                tr_msg_free(m);
        }
        return 0;
    }
    if (msg->type == T_GO_LATE) {
        record(3, tr_request_timeout(ctx, target, NULL, 45, 10) == TR_EINVAL ? 0 : -1);
        tr_msg *m = NULL;
        if (tr_msg_new(&m, T_ASKQ, 0) == 0) {
            m->word = 1;
            int rc = tr_request_timeout(ctx, target, m, 42, 30);
            if (rc != 0)
                tr_msg_free(m);
            record(4, rc);
        }
        return 0;
    }
    if (msg->type == TR_MSG_ASK_FAILED && msg->corr == 42) {
        tu_store(&fail_status, (uint64_t)(int64_t)tr_result_code(msg));
        tu_add(&failed, 1);
    }
    if (tr_msg_is_reply(msg) && msg->type == T_ANS)
        tu_add(&replies, 1);
    return 0;
}

static void stashed_request_gives_ask_failed_when_the_actor_crashes(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = rt_with_hook(1);
    tr_ref *h = NULL, *q = NULL;
    assert_int_equal(tr_spawn(rt, &holder, NULL, &h), 0);
    target = h;
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    tr_behavior rq = {.receive = requester};
    assert_int_equal(tr_spawn(rt, &rq, NULL, &q), 0);
    assert_int_equal(tr_send_word(q, T_GO, 0), 0);
    assert_true(wait_recorded(2));
    assert_int_equal(recorded(0), 0);
    assert_int_equal(recorded(1), TR_EINVAL);
    assert_int_equal(recorded(2), TR_EINVAL); /* a reserved type, as tr_request */
    assert_true(tu_wait_ge(&stashed, 1, TU_WAIT_MS));
    assert_int_equal(tr_send_word(h, T_CRASH, 0), 0);
    assert_true(tu_wait_ge(&failed, 1, TU_WAIT_MS));
    assert_int_equal((int)(int64_t)tu_load(&fail_status), TR_EDEAD);
    assert_int_equal(tu_load(&replies), 0);
    tr_ref_release(h);
    tr_ref_release(q);
    tr_runtime_free(rt);
}

/* --- become in init and terminate ----------------------------------------- */

static int second(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_DATA)
        tu_add(&replies, 1); /* "second" counts here, plain counts in got */
    return 0;
}
static int become_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    record(0, tr_become_push(ctx, second));
    tr_ref *s = (tr_ref *)1;
    record(1, tr_sender(ctx, &s)); /* no message being received */
    record(2, tr_stash(ctx, &(tr_msg){0}));
    return 0;
}
static void become_term(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    (void)why;
    record(3, tr_become(ctx, plain));
    record(4, tr_unbecome(ctx));
    record(5, tr_unstash_all(ctx));
    tr_ref *s = (tr_ref *)1;
    record(6, tr_sender(ctx, &s));
    tu_add(&terms, 1);
}

static void become_in_init_and_terminate(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(1);
    tr_behavior b = {.init = become_init, .receive = plain, .terminate = become_term};
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &b, NULL, &a), 0);
    assert_int_equal(recorded(0), 0);
    assert_int_equal(recorded(1), TR_ENOTFOUND);
    assert_int_equal(recorded(2), TR_ESTATE);
    assert_int_equal(tr_send_word(a, T_DATA, 0), 0);
    assert_true(tu_wait_ge(&replies, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&got), 0);
    assert_int_equal(tr_actor_stop(a), 0);
    assert_true(tu_wait_ge(&terms, 1, TU_WAIT_MS));
    assert_int_equal(recorded(3), 0);
    assert_int_equal(recorded(4), 0); /* the push in init is still remembered */
    assert_int_equal(recorded(5), 0);
    assert_int_equal(recorded(6), TR_ENOTFOUND);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

/* --- a stashing child under a supervisor ---------------------------------- */

static void stash_in_a_restarted_child_is_dead_lettered_and_the_new_one_starts_clean(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = rt_with_hook(2);
    tr_child_spec spec = {.id = "h", .behavior = &holder, .opts = {.register_as = "h"}};
    tr_sup_config cfg;
    tr_sup_config_init(&cfg);
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL, *h1 = NULL, *h2 = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    assert_int_equal(tr_whereis(rt, "h", &h1), 0);
    assert_int_equal(tr_send_word(h1, T_HOLD, 0), 0);
    tr_future *f = NULL;
    assert_int_equal(tr_ask_word(h1, T_ASKQ, 1, &f), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(tr_send_word(h1, T_DATA, (uint64_t)i), 0);
    assert_true(tu_wait_ge(&stashed, 6, TU_WAIT_MS));
    assert_int_equal(tr_send_word(h1, T_CRASH, 0), 0);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_EDEAD);
    tr_future_release(f);
    assert_true(tu_wait_ge(&dead, 6, TU_WAIT_MS));
    /* The restarted child: its name back, the spawn behaviour's receive. */
    int64_t end = tu_now_ms() + TU_WAIT_MS;
    while (tr_whereis(rt, "h", &h2) != 0 && tu_now_ms() < end)
        tu_sleep_ms(1);
    assert_non_null(h2);
    assert_ptr_not_equal(h2, h1);
    assert_int_equal(tr_ask_word(h2, T_ASKQ, 1, &f), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, 2);
    tr_msg_free(r);
    tr_future_release(f);
    assert_int_equal(tu_load(&dead), 6);
    tr_ref_release(h1);
    tr_ref_release(h2);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

/* --- a reply to a tell whose sender ended --------------------------------- */

static int keeper(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_KEEP) {
        tr_ref *s = NULL;
        record(0, tr_sender(ctx, &s));
        if (s != NULL)
            tr_ref_release(s);
        record(1, tr_msg_keep(ctx, msg));
        kept = msg;
        tu_add(&got, 1);
    }
    return 0;
}
static int teller_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)ctx;
    return tr_send_word(arg, T_KEEP, 0); /* sent from init: carries a sender */
}
static int counting(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_add(&replies, 1);
    (void)msg;
    return 0;
}

#define RECYCLE 256
static void reply_to_a_tell_whose_sender_ended_and_was_recycled_is_edead(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_behavior kb = {.receive = keeper}, tb = {.init = teller_init, .receive = counting};
    tr_ref *k = NULL, *t = NULL;
    assert_int_equal(tr_spawn(rt, &kb, NULL, &k), 0);
    assert_int_equal(tr_spawn(rt, &tb, &(tr_spawn_opts){.arg = k}, &t), 0);
    assert_true(tu_wait_ge(&got, 1, TU_WAIT_MS));
    assert_int_equal(recorded(0), 0);
    assert_int_equal(recorded(1), 0);
    assert_int_equal(tr_msg_sender_id(kept), tr_ref_id(t));
    /* The sender ends and its block goes back to the cache; new actors
     * (which may reuse it) start. */
    assert_int_equal(tr_actor_stop(t), 0);
    assert_true(tu_wait_alive(rt, 1, TU_WAIT_MS));
    tr_ref_release(t);
    tr_behavior cb = {.receive = counting};
    tr_ref *fresh[RECYCLE];
    for (int i = 0; i < RECYCLE; i++)
        assert_int_equal(tr_spawn(rt, &cb, NULL, &fresh[i]), 0);
    assert_int_equal(tr_reply_word(kept, T_ANS, 1), TR_EDEAD);
    assert_int_equal(tr_reply(kept, T_ANS, "x", 1), TR_EDEAD);
    tr_msg *m = NULL;
    assert_int_equal(tr_msg_new(&m, T_ANS, 0), 0);
    assert_int_equal(tr_reply_msg(kept, m), TR_EDEAD);
    tr_msg_free(m); /* on error the caller still owns it */
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&replies), 0);
    tr_msg_free(kept);
    for (int i = 0; i < RECYCLE; i++)
        tr_ref_release(fresh[i]);
    tr_ref_release(k);
    tr_runtime_free(rt);
}

static void reply_rejects_what_cannot_be_answered(void **st) {
    (void)st;
    tr_msg *m = NULL, *r = NULL;
    assert_int_equal(tr_msg_new(&m, T_DATA, 0), 0); /* a foreign thread's tell */
    assert_int_equal(tr_msg_new(&r, T_ANS, 0), 0);
    assert_int_equal(tr_reply_msg(m, r), TR_EINVAL);
    assert_int_equal(tr_reply_msg(m, m), TR_EINVAL);
    assert_int_equal(tr_reply_msg(NULL, r), TR_EINVAL);
    assert_int_equal(tr_reply_msg(m, NULL), TR_EINVAL);
    assert_int_equal(tr_reply_word(m, T_ANS, 1), TR_EINVAL);
    assert_int_equal(tr_reply(m, T_ANS, NULL, 3), TR_EINVAL);
    assert_int_equal(tr_reply_word(m, TR_MSG_SYSTEM, 1), TR_EINVAL);
    assert_int_equal(tr_msg_wants_reply(m), 0);
    assert_int_equal(tr_msg_wants_reply(NULL), 0);
    assert_int_equal(tr_msg_is_reply(m), 0);
    assert_int_equal(tr_msg_is_reply(NULL), 0);
    assert_int_equal(tr_msg_sender_id(m), 0);
    assert_int_equal(tr_sender(NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_request(NULL, NULL, m, 1), TR_EINVAL);
    assert_int_equal(tr_request_word(NULL, NULL, T_DATA, 1, 1), TR_EINVAL);
    assert_int_equal(tr_request_bytes(NULL, NULL, T_DATA, NULL, 1, 1), TR_EINVAL);
    tr_msg_free(m);
    tr_msg_free(r);
}

static void a_request_is_answered_once(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_ref *k = NULL;
    reset();
    tr_behavior kb = {.receive = keeper};
    assert_int_equal(tr_spawn(rt, &kb, NULL, &k), 0);
    tr_future *f = NULL;
    assert_int_equal(tr_ask_word(k, T_KEEP, 0, &f), 0);
    assert_true(tu_wait_ge(&got, 1, TU_WAIT_MS));
    assert_int_equal(recorded(0), TR_ENOTFOUND); /* a foreign thread's ask */
    assert_int_equal(tr_msg_wants_reply(kept), 1);
    assert_int_equal(tr_reply_word(kept, T_ANS, 5), 0);
    assert_int_equal(tr_msg_wants_reply(kept), 0);
    assert_int_equal(tr_reply_word(kept, T_ANS, 6), TR_ESTATE);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, 5);
    assert_int_equal(tr_msg_is_reply(r), 1);
    tr_msg_free(r);
    tr_future_release(f);
    tr_msg_free(kept);
    tr_ref_release(k);
    tr_runtime_free(rt);
}

/* --- promises -------------------------------------------------------------- */

static void promise_rejects_bad_arguments_and_settles_once(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_promise *p = (tr_promise *)1;
    tr_future *f = (tr_future *)1;
    assert_int_equal(tr_promise_new(NULL, &p, &f), TR_EINVAL);
    assert_null(p);
    assert_null(f);
    assert_int_equal(tr_promise_new(rt, NULL, &f), TR_EINVAL);
    assert_int_equal(tr_promise_new(rt, &p, NULL), TR_EINVAL);
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_promise_fail(p, 0), TR_EINVAL);
    assert_int_equal(tr_promise_fail(p, 5), TR_EINVAL);
    assert_int_equal(tr_promise_fail(NULL, TR_EDEAD), TR_EINVAL);
    assert_int_equal(tr_promise_reply_word(p, TR_MSG_SYSTEM, 1), TR_EINVAL);
    assert_int_equal(tr_promise_reply(p, T_ANS, NULL, 1), TR_EINVAL);
    assert_int_equal(tr_promise_reply_msg(p, NULL), TR_EINVAL);
    assert_int_equal(tr_future_is_ready(f), 0);
    assert_int_equal(tr_promise_reply_word(p, T_ANS, 9), 0);
    assert_int_equal(tr_promise_reply_word(p, T_ANS, 10), TR_ESTATE);
    assert_int_equal(tr_promise_fail(p, TR_EDEAD), TR_ESTATE);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, 9);
    assert_int_equal(tr_msg_is_reply(r), 1);
    tr_msg_free(r);
    assert_int_equal(tr_promise_release(p), 0);
    assert_int_equal(tr_future_release(f), 0);
    assert_int_equal(tr_promise_release(NULL), TR_EINVAL);
    tr_promise_free_fn(NULL);
    /* Released unsettled: TR_ENOREPLY. */
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_promise_release(p), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_ENOREPLY);
    tr_future_release(f);
    tr_runtime_free(rt);
}

static void promise_settled_after_the_runtime_closed(void **st) {
    (void)st;
    tr_runtime *rt = tu_runtime_new(1);
    tr_promise *p1 = NULL, *p2 = NULL, *p3 = NULL;
    tr_future *f1 = NULL, *f2 = NULL, *f3 = NULL;
    assert_int_equal(tr_promise_new(rt, &p1, &f1), 0);
    assert_int_equal(tr_promise_new(rt, &p2, &f2), 0);
    assert_int_equal(tr_promise_new(rt, &p3, &f3), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    assert_int_equal(tr_runtime_join(rt), 0);
    assert_int_equal(tr_promise_reply(p1, T_ANS, "abc", 3), 0);
    assert_int_equal(tr_promise_fail(p2, TR_ECLOSED), 0);
    tr_future_release(f3); /* the waiter left first */
    assert_int_equal(tr_promise_reply_word(p3, T_ANS, 1), 0);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f1, 0, &r), 0);
    assert_memory_equal(tr_msg_data(r), "abc", 3);
    tr_msg_free(r);
    assert_int_equal(tr_future_wait(f2, 0, &r), TR_ECLOSED);
    tr_promise_release(p1);
    tr_promise_release(p2);
    tr_promise_release(p3);
    tr_future_release(f1);
    tr_future_release(f2);
    tr_runtime_free(rt);
}

/* A promise carried in a message to an actor that is stopped before it
 * handles it: the message's destructor fails the future. */
static void promise_in_a_dead_lettered_message_fails_with_enoreply(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = rt_with_hook(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *h = NULL;
    assert_int_equal(tr_spawn(rt, &holder, NULL, &h), 0);
    tr_promise *p = NULL;
    tr_future *f = NULL;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_send_ptr(h, T_DATA, p, tr_promise_free_fn), 0);
    assert_int_equal(tr_actor_stop(h), 0);
    tu_gate_open(&g);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_ENOREPLY);
    tr_future_release(f);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

/* An actor that holds a promise settles it from its terminate while the
 * runtime closes: the foreign waiter is woken (not left asleep on a wake-up
 * deferred to a turn that never ends). */
static int holds_promise(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    if (msg->type == T_DATA)
        *(tr_promise **)state = tr_msg_take_ptr(msg);
    tu_add(&got, 1);
    return 0;
}
static void settles_in_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    tr_promise *p = *(tr_promise **)state;
    if (p != NULL) {
        tr_promise_reply_word(p, T_ANS, (uint64_t)why->kind);
        tr_promise_release(p);
    }
}

static void *wait_promise(void *arg) {
    tr_msg *r = NULL;
    int rc = tr_future_wait(arg, TU_WAIT_MS, &r);
    record(1, rc);
    if (r != NULL) {
        record(2, (int)r->word);
        tr_msg_free(r);
    }
    return NULL;
}

static void promise_settled_in_terminate_at_close_wakes_its_waiter(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    tr_behavior pb = {.receive = holds_promise, .terminate = settles_in_terminate};
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &pb, &(tr_spawn_opts){.state_size = sizeof(void *)}, &a), 0);
    tr_promise *p = NULL;
    tr_future *f = NULL;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_send_ptr(a, T_DATA, p, tr_promise_free_fn), 0);
    assert_true(tu_wait_ge(&got, 1, TU_WAIT_MS));
    pthread_t th;
    pthread_create(&th, NULL, wait_promise, f);
    tu_sleep_ms(20); /* the waiter sleeps on the future */
    assert_int_equal(tr_runtime_close(rt), 0);
    pthread_join(th, NULL);
    assert_int_equal(recorded(1), 0);
    assert_int_equal(recorded(2), TR_EXIT_SHUTDOWN);
    tr_future_release(f);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

/* A request with a deadline waits in a stash past its deadline: the asker
 * gets TR_ETIMEDOUT, and the late reply (after the unstash) is
 * dead-lettered, never delivered. */
static void stashed_request_past_its_deadline_gets_only_the_timeout(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = rt_with_hook(2);
    tr_ref *h = NULL, *q = NULL;
    assert_int_equal(tr_spawn(rt, &holder, NULL, &h), 0);
    target = h;
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    tr_behavior rq = {.receive = requester};
    assert_int_equal(tr_spawn(rt, &rq, NULL, &q), 0);
    assert_int_equal(tr_send_word(q, T_GO_LATE, 0), 0);
    assert_true(wait_recorded(4));
    assert_int_equal(recorded(3), 0);
    assert_int_equal(recorded(4), 0);
    assert_true(tu_wait_ge(&failed, 1, TU_WAIT_MS));
    assert_int_equal((int)(int64_t)tu_load(&fail_status), TR_ETIMEDOUT);
    assert_int_equal(tu_load(&stashed), 1);
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    assert_true(tu_wait_ge(&dead, 1, TU_WAIT_MS)); /* the late reply */
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&replies), 0);
    assert_int_equal(tu_load(&failed), 1);
    tr_ref_release(h);
    tr_ref_release(q);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stashed_ask_fails_with_edead_when_the_actor_crashes),
        cmocka_unit_test(stashed_request_gives_ask_failed_when_the_actor_crashes),
        cmocka_unit_test(stashed_request_past_its_deadline_gets_only_the_timeout),
        cmocka_unit_test(become_in_init_and_terminate),
        cmocka_unit_test(stash_in_a_restarted_child_is_dead_lettered_and_the_new_one_starts_clean),
        cmocka_unit_test(reply_to_a_tell_whose_sender_ended_and_was_recycled_is_edead),
        cmocka_unit_test(reply_rejects_what_cannot_be_answered),
        cmocka_unit_test(a_request_is_answered_once),
        cmocka_unit_test(promise_rejects_bad_arguments_and_settles_once),
        cmocka_unit_test(promise_settled_after_the_runtime_closed),
        cmocka_unit_test(promise_in_a_dead_lettered_message_fails_with_enoreply),
        cmocka_unit_test(promise_settled_in_terminate_at_close_wakes_its_waiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
