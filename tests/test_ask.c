/* tests/test_ask.c - asks, futures, replies and actor-to-actor requests.
 *
 * A future settles exactly once: with the reply, or with the reason no reply
 * can come (TR_EDEAD when the target stopped first, TR_ENOREPLY when it
 * handled the request without answering, TR_ECRASHED when it crashed on it,
 * TR_ECANCELED when a kept request is freed) - at once, never by waiting out
 * the caller's timeout. tr_request delivers the reply (or TR_MSG_ASK_FAILED)
 * into the asking actor's mailbox with corr == its tag. */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/ask.h" /* tr__future_poll_ns, tr__future_poll_cap_ns */
#include "support/testutil.h"
#include "troupe.h"

enum {
    T_ASK = 1,
    T_GO = 2,
    T_REPLY = 3,
    T_START = 4,
    T_STOP_AND_ASK = 5,
    T_FAIL = 6,
    T_PANIC = 7,
    T_STOP_ASK_BLOCK = 8, /* T_STOP_AND_ASK, then wake `blocker` */
    T_FILLER = 9,
};

/* Blocks the (only) worker until `blocker_open`, so the test can act between
 * two turns. */
static uint64_t blocker_entered, blocker_open, fillers;
static tr_ref *blocker;

static int blocker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    tu_store(&blocker_entered, 1);
    while (!tu_load(&blocker_open))
        sched_yield();
    return 0;
}

static uint64_t received, dead_letters, dropped;

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    tu_add(&dead_letters, 1);
    if (why == TR_DEAD_DROPPED)
        tu_add(&dropped, 1);
}

static int reset(void **state) {
    (void)state;
    tu_store(&received, 0);
    tu_store(&dead_letters, 0);
    tu_store(&dropped, 0);
    return 0;
}

static tr_runtime *runtime(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    return rt;
}

/* The server: T_ASK -> reply word*2; T_FAIL/T_PANIC crash; anything else is
 * handled without a reply. */
static int server_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tu_add(&received, 1);
    switch (msg->type) {
    case T_ASK:
        return tr_reply_word(msg, T_REPLY, msg->word * 2);
    case T_FAIL:
        return TR_EIO;
    case T_PANIC:
        tr_panic(ctx, TR_EIO, "panic while asked");
    default:
        return 0;
    }
}

static const tr_behavior server = {NULL, server_receive, NULL};

static tr_ref *spawn_server(tr_runtime *rt) {
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &server, NULL, &ref), 0);
    return ref;
}

/* --- futures -------------------------------------------------------------- */

static void ask_gets_the_reply_on_the_calling_thread(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_ref *ref = spawn_server(rt);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 21, &f), 0);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->type, T_REPLY);
    assert_int_equal(reply->word, 42);
    assert_int_equal(tr_future_is_ready(f), 1);
    tr_msg_free(reply);
    /* The reply was handed out: a second wait says so. */
    assert_int_equal(tr_future_wait(f, 0, &reply), TR_ESTATE);
    assert_null(reply);
    assert_int_equal(tr_future_release(f), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

typedef struct asker {
    tr_ref *to;
    uint64_t n, ok;
} asker;

static void *ask_thread(void *arg) {
    asker *a = arg;
    for (uint64_t i = 0; i < a->n; i++) {
        tr_future *f;
        tr_msg *reply = NULL;
        if (tr_ask(a->to, T_ASK, NULL, 0, &f) != 0)
            continue;
        /* word is 0 for tr_ask without data: the reply is 0 too */
        if (tr_future_wait(f, TU_WAIT_MS, &reply) == 0 && reply->word == 0)
            tu_add(&a->ok, 1);
        tr_msg_free(reply);
        tr_future_release(f);
    }
    return NULL;
}

static void ask_from_foreign_threads_each_get_their_reply(void **state) {
    (void)state;
    enum { THREADS = 3, ASKS = 200 };
    tr_runtime *rt = runtime(2);
    tr_ref *ref = spawn_server(rt);
    asker a[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        a[i] = (asker){ref, ASKS, 0};
        assert_int_equal(pthread_create(&t[i], NULL, ask_thread, &a[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, ASKS);
    }
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* Keeps a T_ASK request and answers it when T_GO arrives. */
typedef struct holder {
    tr_msg *kept;
} holder;

static int holder_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    holder *h = state;
    if (msg->type == T_ASK) {
        h->kept = msg;
        return tr_msg_keep(ctx, msg);
    }
    if (msg->type == T_GO && h->kept != NULL) {
        int rc = tr_reply_word(h->kept, T_REPLY, 99);
        tr_msg_free(h->kept);
        h->kept = NULL;
        return rc;
    }
    if (h->kept != NULL) { /* any other message: drop the request unanswered */
        tr_msg_free(h->kept);
        h->kept = NULL;
    }
    return 0;
}

static const tr_behavior holder_beh = {NULL, holder_receive, NULL};

static void future_timeout_leaves_the_future_usable(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_spawn_opts o = {.state_size = sizeof(holder)};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &holder_beh, &o, &ref), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 0, &f), 0);
    tr_msg *reply = (tr_msg *)f;
    assert_int_equal(tr_future_wait(f, 20, &reply), TR_ETIMEDOUT);
    assert_null(reply);
    assert_int_equal(tr_future_wait(f, 0, &reply), TR_ETIMEDOUT); /* a poll */
    assert_int_equal(tr_future_is_ready(f), 0);
    assert_int_equal(tr_send_word(ref, T_GO, 0), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 99);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void freeing_a_kept_request_cancels_its_future(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_spawn_opts o = {.state_size = sizeof(holder)};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &holder_beh, &o, &ref), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 0, &f), 0);
    assert_int_equal(tr_send_word(ref, 100, 0), 0); /* frees the kept request */
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_ECANCELED);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void target_stopping_before_reply_fails_the_future_with_edead_at_once(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_server(rt);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 1, &f), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    tu_gate_open(&g);
    /* Settled by the dead letter, long before this (huge) timeout. */
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, 10 * TU_WAIT_MS, &reply), TR_EDEAD);
    assert_null(reply);
    assert_int_equal(tr_future_is_ready(f), 1);
    assert_int_equal(tu_load(&received), 0);
    assert_int_equal(tu_load(&dead_letters), 1);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

typedef struct waiting_asker {
    tr_future *f;
    int rc;
} waiting_asker;

static void *wait_forever_thread(void *arg) {
    waiting_asker *w = arg;
    tr_msg *reply = NULL;
    w->rc = tr_future_wait(w->f, -1, &reply);
    tr_msg_free(reply);
    return NULL;
}

static void runtime_close_fails_pending_asks_with_edead(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_server(rt);
    waiting_asker w = {0};
    assert_int_equal(tr_ask_word(ref, T_ASK, 1, &w.f), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wait_forever_thread, &w), 0);
    assert_int_equal(tr_runtime_close(rt), 0);
    tu_gate_open(&g);
    pthread_join(t, NULL); /* waits forever unless the close settles the future */
    assert_int_equal(w.rc, TR_EDEAD);
    assert_int_equal(tu_load(&received), 0);
    tr_future_release(w.f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void ask_to_a_dead_actor_returns_edead_without_a_future(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_server(rt);
    tr_actor_stop(ref);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    tr_future *f = (tr_future *)ref;
    assert_int_equal(tr_ask_word(ref, T_ASK, 1, &f), TR_EDEAD);
    assert_null(f);
    tr_msg *req;
    assert_int_equal(tr_msg_new(&req, T_ASK, 0), 0);
    assert_int_equal(tr_ask_msg(ref, req, &f), TR_EDEAD);
    assert_int_equal(tr_msg_wants_reply(req), 0); /* no token left behind */
    tr_msg_free(req);                             /* still ours */
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static int forwarding_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    return tr_forward(ctx, state, msg); /* state: the server */
}

static void forwarded_request_is_answered_to_the_original_asker(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, forwarding_receive, NULL};
    tr_runtime *rt = runtime(2);
    tr_ref *srv = spawn_server(rt);
    tr_spawn_opts o = {.arg = srv};
    tr_ref *fwd;
    assert_int_equal(tr_spawn(rt, &beh, &o, &fwd), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(fwd, T_ASK, 8, &f), 0);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 16);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(fwd);
    tr_ref_release(srv);
    tr_runtime_free(rt);
}

static void crash_fails_the_current_ask_with_ecrashed_and_queued_ones_with_edead(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_server(rt);
    tr_future *f[3];
    assert_int_equal(tr_ask_word(ref, T_FAIL, 0, &f[0]), 0);
    assert_int_equal(tr_ask_word(ref, T_ASK, 1, &f[1]), 0);
    assert_int_equal(tr_ask_word(ref, T_ASK, 2, &f[2]), 0);
    tu_gate_open(&g);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f[0], TU_WAIT_MS, &reply), TR_ECRASHED);
    assert_int_equal(tr_future_wait(f[1], TU_WAIT_MS, &reply), TR_EDEAD);
    assert_int_equal(tr_future_wait(f[2], TU_WAIT_MS, &reply), TR_EDEAD);
    assert_int_equal(tu_load(&dead_letters), 2);
    for (int i = 0; i < 3; i++)
        tr_future_release(f[i]);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void request_handled_without_reply_fails_with_enoreply(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_ref *ref = spawn_server(rt);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, 50, 0, &f), 0);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_ENOREPLY);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void crash_while_handling_fails_with_ecrashed(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    uint32_t kinds[2] = {T_FAIL, T_PANIC};
    tr_ref *refs[2] = {spawn_server(rt), spawn_server(rt)}; /* both before any ends */
    for (int i = 0; i < 2; i++) {
        tr_future *f;
        assert_int_equal(tr_ask_word(refs[i], kinds[i], 0, &f), 0);
        tr_msg *reply;
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_ECRASHED);
        tr_future_release(f);
        tr_ref_release(refs[i]);
    }
    tr_runtime_free(rt);
}

static uint64_t want_before, want_after, second_rc;

static int twice_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_store(&want_before, (uint64_t)tr_msg_wants_reply(msg));
    int rc = tr_reply_word(msg, T_REPLY, 1);
    tu_store(&want_after, (uint64_t)tr_msg_wants_reply(msg));
    tu_store(&second_rc, (uint64_t)(int64_t)tr_reply_word(msg, T_REPLY, 2));
    tu_add(&received, 1);
    return rc;
}

static uint64_t self_reply_rc;

static int self_reply_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    /* The request cannot be its own reply: the runtime still owns it. */
    tu_store(&self_reply_rc, (uint64_t)(int64_t)tr_reply_msg(msg, msg));
    tu_add(&received, 1);
    return 0;
}

static void replying_with_the_request_itself_returns_einval(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, self_reply_receive, NULL};
    tr_runtime *rt = runtime(1);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 0, &f), 0);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_ENOREPLY);
    assert_int_equal((int)tu_load(&self_reply_rc), TR_EINVAL);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void second_reply_returns_estate(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, twice_receive, NULL};
    tr_runtime *rt = runtime(2);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 0, &f), 0);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 1);
    tr_msg_free(reply);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&want_before), 1);
    assert_int_equal(tu_load(&want_after), 0);
    assert_int_equal((int)tu_load(&second_rc), TR_ESTATE);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void releasing_a_future_before_the_reply_drops_the_reply(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_spawn_opts o = {.state_size = sizeof(holder)};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &holder_beh, &o, &ref), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, T_ASK, 0, &f), 0);
    assert_int_equal(tr_future_release(f), 0);
    assert_int_equal(tr_send_word(ref, T_GO, 0), 0); /* replies into the void */
    assert_true(tu_wait_ge(&dropped, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&dropped), 1);
}

static uint64_t worker_wait_rc, worker_poll_rc;

static int waiting_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_START)
        return 0; /* our own ask, handled without reply */
    tr_future *f;
    if (tr_ask_word(tr_self(ctx), T_ASK, 0, &f) != 0)
        return TR_EIO;
    tr_msg *reply;
    tu_store(&worker_wait_rc, (uint64_t)(int64_t)tr_future_wait(f, 1000, &reply));
    tu_store(&worker_poll_rc, (uint64_t)(int64_t)tr_future_wait(f, 0, &reply));
    tr_future_release(f);
    tu_add(&received, 1);
    return 0;
}

static void future_wait_on_a_worker_returns_edeadlk(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, waiting_receive, NULL};
    tr_runtime *rt = runtime(1);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, T_START, 0), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&worker_wait_rc), TR_EDEADLK);
    assert_int_equal((int)tu_load(&worker_poll_rc), TR_ETIMEDOUT); /* polling is fine */
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- tr_request between actors --------------------------------------------- */

static uint64_t req_rc, got_type, got_corr, got_word, got_status;

/* T_START (ptr = target): request T_ASK with tag 77. T_STOP_AND_ASK: stop the
 * target, then request (tag 88). Records the answer that comes back. */
static int requester_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_FILLER) {
        tu_add(&fillers, 1);
        return 0;
    }
    if (msg->type == T_START || msg->type == T_STOP_AND_ASK || msg->type == T_GO ||
        msg->type == T_STOP_ASK_BLOCK) {
        tr_ref *target = msg->ptr;
        tr_msg *req;
        if (tr_msg_new(&req, msg->type == T_GO ? 50 : T_ASK, 0) != 0)
            return TR_ENOMEM;
        req->word = 5;
        if (msg->type == T_STOP_AND_ASK || msg->type == T_STOP_ASK_BLOCK)
            tr_actor_stop(target);
        int rc = tr_request(ctx, target, req, msg->type == T_START ? 77 : 88);
        if (rc != 0)
            tr_msg_free(req);
        if (msg->type == T_STOP_ASK_BLOCK) /* runs next: before the target */
            tr_send_word(blocker, 1, 0);
        tu_store(&req_rc, (uint64_t)(int64_t)rc);
        return 0;
    }
    tu_store(&got_corr, msg->corr);
    tu_store(&got_word, msg->word);
    tu_store(&got_status, (uint64_t)(int64_t)msg->status);
    tu_store(&got_type, msg->type); /* last: the test waits on it */
    return 0;
}

static const tr_behavior requester = {NULL, requester_receive, NULL};

static int got_pred(void *arg) {
    (void)arg;
    return tu_load(&got_type) != 0;
}

static void request_between_actors_gets_the_reply_with_its_tag(void **state) {
    (void)state;
    tu_store(&got_type, 0);
    tr_runtime *rt = runtime(2);
    tr_ref *srv = spawn_server(rt);
    tr_ref *req;
    assert_int_equal(tr_spawn(rt, &requester, NULL, &req), 0);
    assert_int_equal(tr_send_ptr(req, T_START, srv, NULL), 0);
    assert_true(tu_wait_until(got_pred, NULL, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&req_rc), 0);
    assert_int_equal(tu_load(&got_type), T_REPLY);
    assert_int_equal(tu_load(&got_corr), 77);
    assert_int_equal(tu_load(&got_word), 10);
    tr_ref_release(req);
    tr_ref_release(srv);
    tr_runtime_free(rt);
}

static void request_to_a_target_that_stops_gives_ask_failed_edead(void **state) {
    (void)state;
    tu_store(&got_type, 0);
    /* One worker: the target cannot run (and die) before the requester's
     * turn ends, so the request is queued and then dead-lettered. */
    tr_runtime *rt = runtime(1);
    tr_ref *srv = spawn_server(rt);
    tr_ref *req;
    assert_int_equal(tr_spawn(rt, &requester, NULL, &req), 0);
    assert_int_equal(tr_send_ptr(req, T_STOP_AND_ASK, srv, NULL), 0);
    assert_true(tu_wait_until(got_pred, NULL, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&req_rc), 0);
    assert_int_equal(tu_load(&got_type), TR_MSG_ASK_FAILED);
    assert_int_equal(tu_load(&got_corr), 88);
    assert_int_equal((int)tu_load(&got_status), TR_EDEAD);
    assert_int_equal(tu_load(&received), 0);
    tr_ref_release(req);
    tr_ref_release(srv);
    tr_runtime_free(rt);
}

static void ask_failed_reaches_an_asker_whose_bounded_mailbox_is_full(void **state) {
    (void)state;
    static const tr_behavior blocker_beh = {NULL, blocker_receive, NULL};
    tu_store(&got_type, 0);
    tu_store(&blocker_entered, 0);
    tu_store(&blocker_open, 0);
    tu_store(&fillers, 0);
    tr_runtime *rt = runtime(1);
    tr_ref *srv = spawn_server(rt);
    assert_int_equal(tr_spawn(rt, &blocker_beh, NULL, &blocker), 0);
    tr_spawn_opts o = {.mailbox_capacity = 1};
    tr_ref *req;
    assert_int_equal(tr_spawn(rt, &requester, &o, &req), 0);
    assert_int_equal(tr_send_ptr(req, T_STOP_ASK_BLOCK, srv, NULL), 0);
    /* The requester's turn is over, the target has not run: fill the
     * requester's one slot before the target's end fails the request. */
    assert_true(tu_wait_ge(&blocker_entered, 1, TU_WAIT_MS));
    assert_int_equal(tr_send_word(req, T_FILLER, 0), 0);
    tu_store(&blocker_open, 1);
    assert_true(tu_wait_until(got_pred, NULL, TU_WAIT_MS));
    assert_int_equal(tu_load(&got_type), TR_MSG_ASK_FAILED);
    assert_int_equal(tu_load(&got_corr), 88);
    assert_int_equal((int)tu_load(&got_status), TR_EDEAD);
    assert_int_equal(tu_load(&fillers), 1);
    tr_ref_release(req);
    tr_ref_release(blocker);
    tr_ref_release(srv);
    tr_runtime_free(rt);
}

static void request_dropped_without_reply_gives_ask_failed_enoreply(void **state) {
    (void)state;
    tu_store(&got_type, 0);
    tr_runtime *rt = runtime(2);
    tr_ref *srv = spawn_server(rt);
    tr_ref *req;
    assert_int_equal(tr_spawn(rt, &requester, NULL, &req), 0);
    assert_int_equal(tr_send_ptr(req, T_GO, srv, NULL), 0);
    assert_true(tu_wait_until(got_pred, NULL, TU_WAIT_MS));
    assert_int_equal(tu_load(&got_type), TR_MSG_ASK_FAILED);
    assert_int_equal(tu_load(&got_corr), 88);
    assert_int_equal((int)tu_load(&got_status), TR_ENOREPLY);
    tr_ref_release(req);
    tr_ref_release(srv);
    tr_runtime_free(rt);
}

static void request_to_a_dead_actor_returns_edead_at_once(void **state) {
    (void)state;
    tu_store(&got_type, 0);
    tu_store(&req_rc, 0);
    tr_runtime *rt = runtime(2);
    tr_ref *srv = spawn_server(rt);
    tr_actor_stop(srv);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    tr_ref *req;
    assert_int_equal(tr_spawn(rt, &requester, NULL, &req), 0);
    assert_int_equal(tr_send_ptr(req, T_START, srv, NULL), 0);
    assert_true(tu_wait_ge(&req_rc, (uint64_t)(int64_t)TR_EDEAD, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&req_rc), TR_EDEAD);
    tr_ref_release(req);
    tr_ref_release(srv);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&got_type), 0); /* nothing came back */
}

/* --- a busy worker still wakes a sleeping asker --------------------------- */

/* Two actors passing one message back and forth keep the only worker's LIFO
 * slot full, so the worker never runs out of local work. A reply settled
 * for a sleeping foreign asker defers its wake-up to the end of the run of
 * turns; this checks the run is bounded: the asker wakes within a few turns,
 * not at its timeout. */
static uint64_t volley_stop, volleys;
static tr_ref *volley_peer[2];

static int volley_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_add(&volleys, 1);
    if (tu_load(&volley_stop))
        return 0;
    return tr_send_word(volley_peer[msg->word & 1], T_GO, msg->word + 1);
}

static int slow_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_sleep_ms(20); /* long past the asker's poll: it sleeps on the future */
    return tr_reply_word(msg, T_REPLY, msg->word);
}

static void sleeping_asker_wakes_while_the_replying_worker_stays_busy(void **state) {
    (void)state;
    tu_store(&volley_stop, 0);
    tu_store(&volleys, 0);
    tr_runtime *rt = runtime(1);
    static const tr_behavior volley = {NULL, volley_receive, NULL};
    static const tr_behavior slow = {NULL, slow_receive, NULL};
    for (int i = 0; i < 2; i++)
        assert_int_equal(tr_spawn(rt, &volley, NULL, &volley_peer[i]), 0);
    tr_ref *srv;
    assert_int_equal(tr_spawn(rt, &slow, NULL, &srv), 0);
    assert_int_equal(tr_send_word(volley_peer[0], T_GO, 1), 0);
    assert_true(tu_wait_ge(&volleys, 100, TU_WAIT_MS));

    int64_t t0 = tu_now_ms();
    tr_future *f;
    assert_int_equal(tr_ask_word(srv, T_ASK, 7, &f), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    int64_t waited = tu_now_ms() - t0;
    assert_int_equal(reply->word, 7);
    assert_true(waited < 3000); /* woken after ~20 ms, not left asleep */
    uint64_t during = tu_load(&volleys);
    assert_true(during > 100); /* the volley went on all along */
    tr_msg_free(reply);
    tr_future_release(f);

    tu_store(&volley_stop, 1);
    tr_ref_release(srv);
    for (int i = 0; i < 2; i++)
        tr_ref_release(volley_peer[i]);
    tr_runtime_free(rt);
}

/* A reply deferred to the end of the turn must not wait behind the next
 * handler of the same turn: the server gets an ask and a 300 ms job in one
 * turn (queued behind a gate on the only worker) while the asker sleeps. */
static int ask_then_slow_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_ASK)
        return tr_reply_word(msg, T_REPLY, msg->word);
    tu_sleep_ms(300);
    return 0;
}

static void *open_gate_later(void *arg) {
    tu_sleep_ms(20); /* the asker is asleep on its future by then */
    tu_gate_open(arg);
    return NULL;
}

static void reply_wakes_the_asker_before_the_next_handler_of_the_turn(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    static const tr_behavior beh = {NULL, ask_then_slow_receive, NULL};
    tr_ref *srv;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &srv), 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(srv, T_ASK, 5, &f), 0);
    assert_int_equal(tr_send_word(srv, T_GO, 0), 0); /* the slow job, same turn */
    pthread_t t;
    int64_t t0 = tu_now_ms();
    assert_int_equal(pthread_create(&t, NULL, open_gate_later, &g), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    int64_t waited = tu_now_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(reply->word, 5);
    assert_true(waited < 200); /* ~20 ms; 320 if it waited for the slow job */
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(srv);
    tr_runtime_free(rt);
}

/* With one CPU for the whole runtime a poll only keeps the replying worker
 * off it: a runtime made on a thread pinned to one CPU (its workers inherit
 * that) turns the poll off, and asks still get their replies. */
/* Pin the calling thread to the first CPU of all; false if not allowed. */
static bool pin_to_first_cpu(const cpu_set_t *all) {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, all)) {
            CPU_SET(c, &one);
            break;
        }
    return sched_setaffinity(0, sizeof(one), &one) == 0;
}

static void no_poll_when_the_runtime_has_one_cpu(void **state) {
    (void)state;
    cpu_set_t all;
    assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
    if (!pin_to_first_cpu(&all))
        skip(); /* not allowed here (a sandbox) */
    tr_runtime *rt = runtime(2);
    assert_int_equal(tr__future_poll_cap_ns(rt), 0);
    tr_ref *srv = spawn_server(rt);
    for (uint64_t i = 0; i < 100; i++) {
        tr_future *f;
        tr_msg *reply = NULL;
        assert_int_equal(tr_ask_word(srv, T_ASK, i, &f), 0);
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
        assert_int_equal(reply->word, 2 * i);
        tr_msg_free(reply);
        tr_future_release(f);
    }
    tr_ref_release(srv);
    tr_runtime_free(rt);
    assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
    rt = runtime(2); /* back to every CPU: the poll is on again */
    /* The cap, not this thread's budget: the loop's waits above may have
     * cut that on a loaded host. */
    assert_int_equal(tr__future_poll_cap_ns(rt), CPU_COUNT(&all) > 1 ? TR__POLL_MAX_NS : 0);
    tr_runtime_free(rt);
}

/* The cap is the runtime's, not the process's: a runtime made on one CPU
 * does not poll, and a runtime made afterwards with every CPU does not turn
 * the poll back on for it (nor it off for the other). */
static void each_runtime_keeps_its_own_poll_cap(void **state) {
    (void)state;
    cpu_set_t all;
    assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
    if (CPU_COUNT(&all) < 2)
        skip(); /* no runtime here can poll */
    if (!pin_to_first_cpu(&all))
        skip(); /* not allowed here (a sandbox) */
    tr_runtime *pinned = runtime(1);
    assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
    tr_runtime *wide = runtime(2);
    assert_int_equal(tr__future_poll_cap_ns(pinned), 0);
    assert_int_equal(tr__future_poll_cap_ns(wide), TR__POLL_MAX_NS);
    tr_runtime_free(pinned);
    tr_runtime_free(wide);
}

/* --- how long a waiting thread polls ------------------------------------ */

/* A thread whose waits last over 200 us polls less and less (down to the
 * minimum), and polls fully again once its replies come fast. Run on a
 * fresh thread: the budget is per thread. */
static int sleepy_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    tu_sleep_ms(1);
    return tr_reply_word(msg, T_REPLY, msg->word);
}

typedef struct poll_probe {
    tr_ref *slow, *fast;
    uint32_t at_start, after_slow, after_fast;
    int failures;
} poll_probe;

static void ask_once(poll_probe *p, tr_ref *to) {
    tr_future *f;
    tr_msg *reply = NULL;
    if (tr_ask_word(to, T_ASK, 1, &f) != 0) {
        p->failures++;
        return;
    }
    if (tr_future_wait(f, TU_WAIT_MS, &reply) != 0)
        p->failures++;
    tr_msg_free(reply);
    tr_future_release(f);
}

static void *poll_probe_thread(void *arg) {
    poll_probe *p = arg;
    tr_runtime *rt = tr_ref_runtime(p->slow);
    p->at_start = tr__future_poll_ns(rt);
    for (int i = 0; i < 20; i++) /* 50 us * 0.75^12 < 2 us */
        ask_once(p, p->slow);
    p->after_slow = tr__future_poll_ns(rt);
    int64_t until = tu_now_ms() + TU_WAIT_MS;
    while (tr__future_poll_ns(rt) < TR__POLL_MAX_NS && tu_now_ms() < until)
        ask_once(p, p->fast);
    p->after_fast = tr__future_poll_ns(rt);
    return NULL;
}

static void slow_replies_shorten_the_poll_and_fast_ones_restore_it(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    if (tr__future_poll_ns(rt) == 0) { /* one CPU: no poll to adapt */
        tr_runtime_free(rt);
        skip();
    }
    static const tr_behavior sleepy = {NULL, sleepy_receive, NULL};
    poll_probe p = {0};
    assert_int_equal(tr_spawn(rt, &sleepy, NULL, &p.slow), 0);
    p.fast = spawn_server(rt);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, poll_probe_thread, &p), 0);
    pthread_join(t, NULL);
    assert_int_equal(p.failures, 0);
    assert_int_equal(p.at_start, TR__POLL_MAX_NS);
    assert_int_equal(p.after_slow, TR__POLL_MIN_NS);
    assert_int_equal(p.after_fast, TR__POLL_MAX_NS);
    tr_ref_release(p.slow);
    tr_ref_release(p.fast);
    tr_runtime_free(rt);
}

/* Waits that a full poll would have missed (60-200 us: an isolated pool's
 * round trip) cut the poll once LONG_STREAK (16) come in a row, and every
 * one after them; a lone one leaves it; a wait a poll would have caught
 * resets the streak and doubles the poll. Before the streak rule the
 * budget stayed at the maximum through any number of 100 us waits. */
static void waits_a_poll_always_misses_shorten_the_poll(void **state) {
    (void)state;
    uint32_t streak = 0, b = TR__POLL_MAX_NS;
    b = tr__future_poll_next(b, 100000, &streak);
    assert_int_equal(b, TR__POLL_MAX_NS); /* a lone one: as it was */
    b = tr__future_poll_next(b, 10000, &streak);
    assert_int_equal(streak, 0); /* a near reply ends the streak */
    for (int i = 0; i < 15; i++)
        b = tr__future_poll_next(b, 100000, &streak);
    assert_int_equal(b, TR__POLL_MAX_NS);
    b = tr__future_poll_next(b, 100000, &streak); /* the 16th in a row */
    assert_int_equal(b, TR__POLL_MAX_NS - TR__POLL_MAX_NS / 4);
    for (int i = 0; i < 20; i++) /* each further one cuts: 50 us * 0.75^13 < 2 us */
        b = tr__future_poll_next(b, 100000, &streak);
    assert_int_equal(b, TR__POLL_MIN_NS);
    b = tr__future_poll_next(b, 20000, &streak); /* fast again: doubles */
    assert_int_equal(b, 2 * TR__POLL_MIN_NS);
    assert_int_equal(streak, 0);
    /* Over SLOW_NS (200 us) cuts at once, streak or not. */
    streak = 0;
    assert_int_equal(tr__future_poll_next(TR__POLL_MAX_NS, 500000, &streak),
                     TR__POLL_MAX_NS - TR__POLL_MAX_NS / 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ask_gets_the_reply_on_the_calling_thread, reset),
        cmocka_unit_test_setup(ask_from_foreign_threads_each_get_their_reply, reset),
        cmocka_unit_test_setup(future_timeout_leaves_the_future_usable, reset),
        cmocka_unit_test_setup(freeing_a_kept_request_cancels_its_future, reset),
        cmocka_unit_test_setup(target_stopping_before_reply_fails_the_future_with_edead_at_once,
                               reset),
        cmocka_unit_test_setup(runtime_close_fails_pending_asks_with_edead, reset),
        cmocka_unit_test_setup(ask_to_a_dead_actor_returns_edead_without_a_future, reset),
        cmocka_unit_test_setup(request_handled_without_reply_fails_with_enoreply, reset),
        cmocka_unit_test_setup(forwarded_request_is_answered_to_the_original_asker, reset),
        cmocka_unit_test_setup(crash_fails_the_current_ask_with_ecrashed_and_queued_ones_with_edead,
                               reset),
        cmocka_unit_test_setup(crash_while_handling_fails_with_ecrashed, reset),
        cmocka_unit_test_setup(second_reply_returns_estate, reset),
        cmocka_unit_test_setup(replying_with_the_request_itself_returns_einval, reset),
        cmocka_unit_test_setup(releasing_a_future_before_the_reply_drops_the_reply, reset),
        cmocka_unit_test_setup(future_wait_on_a_worker_returns_edeadlk, reset),
        cmocka_unit_test_setup(request_between_actors_gets_the_reply_with_its_tag, reset),
        cmocka_unit_test_setup(request_to_a_target_that_stops_gives_ask_failed_edead, reset),
        cmocka_unit_test_setup(ask_failed_reaches_an_asker_whose_bounded_mailbox_is_full, reset),
        cmocka_unit_test_setup(request_dropped_without_reply_gives_ask_failed_enoreply, reset),
        cmocka_unit_test_setup(request_to_a_dead_actor_returns_edead_at_once, reset),
        cmocka_unit_test_setup(sleeping_asker_wakes_while_the_replying_worker_stays_busy, reset),
        cmocka_unit_test_setup(reply_wakes_the_asker_before_the_next_handler_of_the_turn, reset),
        cmocka_unit_test_setup(slow_replies_shorten_the_poll_and_fast_ones_restore_it, reset),
        cmocka_unit_test_setup(waits_a_poll_always_misses_shorten_the_poll, reset),
        cmocka_unit_test_setup(no_poll_when_the_runtime_has_one_cpu, reset),
        cmocka_unit_test_setup(each_runtime_keeps_its_own_poll_cap, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
