/* tests/test_sender.c - senders, replies to tells, request helpers, replies
 * told apart from requests.
 *
 * A tell sent from inside an actor's callback carries that actor: every send
 * form does it (a timer's message too), tr_forward keeps the original sender, a foreign thread's
 * send carries none. tr_reply on such a tell is a tell back to the sender,
 * from the replier; once the sender has ended it is TR_EDEAD and reaches
 * nobody, not even the later actors that reuse the sender's block.
 * tr_request_word/_bytes mirror the ask helpers and their answers say
 * tr_msg_is_reply == 1 with corr = the tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum {
    T_DRIVE = 1,  /* ptr = the probe: send it one message of every form */
    T_FWD_TO = 2, /* ptr = where the forwarder forwards to */
    T_PING = 3,   /* the echo answers with tr_reply_word(T_PONG, word + 1) */
    T_PONG = 4,
    T_HOLD = 5, /* the keeper keeps it, to reply much later */
    T_REPLY_ALL = 6,
    T_Q = 7,     /* a question: answered with the same type */
    T_SPAWN = 8, /* the spawner spawns word victims */
    /* Kinds the probe records, one slot each. */
    K_SEND = 10,
    K_WORD,
    K_PTR,
    K_MSG,
    K_BATCH1,
    K_BATCH2,
    K_INIT,
    K_FWD,         /* sent by the driver through the forwarder */
    K_TIMER,       /* sent by a timer the driver armed */
    K_FOREIGN,     /* sent by the test thread */
    K_FOREIGN_FWD, /* sent by the test thread through the forwarder */
    K_MAX
};

/* --- the probe: records what each kind of message says about its sender -- */

typedef struct {
    uint64_t seen;
    uint64_t sender_id; /* tr_msg_sender_id */
    uint64_t sender_rc; /* tr_sender's result */
    uint64_t ref_id;    /* tr_ref_id of what tr_sender returned */
    uint64_t wants, is_reply;
} record;

static record rec[K_MAX];

static int probe_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type < K_SEND || msg->type >= K_MAX)
        return 0;
    record *r = &rec[msg->type];
    tr_ref *s = (tr_ref *)1; /* tr_sender must clear it on error */
    int rc = tr_sender(ctx, &s);
    tu_store(&r->sender_id, tr_msg_sender_id(msg));
    tu_store(&r->sender_rc, (uint64_t)(int64_t)rc);
    tu_store(&r->ref_id, rc == 0 ? tr_ref_id(s) : (s == NULL ? 0 : UINT64_MAX));
    tu_store(&r->wants, (uint64_t)tr_msg_wants_reply(msg));
    tu_store(&r->is_reply, (uint64_t)tr_msg_is_reply(msg));
    if (rc == 0)
        tr_ref_release(s);
    tu_add(&r->seen, 1);
    return 0;
}

static const tr_behavior probe = {NULL, probe_receive, NULL};

/* --- the forwarder and the driver ------------------------------------------ */

static tr_ref *fwd_target; /* set before the forwarder gets messages */

static int forwarder_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    return tr_forward(ctx, fwd_target, msg);
}

static const tr_behavior forwarder = {NULL, forwarder_receive, NULL};
static tr_ref *the_forwarder;
static uint64_t drive_rc; /* the first failed send's code, or 0 */

static void note(int rc) {
    if (rc != 0)
        tu_store(&drive_rc, (uint64_t)(int64_t)rc);
}

static int driver_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != T_DRIVE)
        return 0;
    tr_ref *p = msg->ptr;
    note(tr_send(p, K_SEND, "x", 1));
    note(tr_send_word(p, K_WORD, 1));
    note(tr_send_ptr(p, K_PTR, NULL, NULL));
    tr_msg *m;
    note(tr_msg_new(&m, K_MSG, 0));
    note(tr_send_msg(p, m));
    tr_msg *b[2];
    note(tr_msg_new(&b[0], K_BATCH1, 0));
    note(tr_msg_new(&b[1], K_BATCH2, 0));
    note(tr_send_batch(p, b, 2));
    note(tr_send_word(the_forwarder, K_FWD, 0));
    note(tr_msg_new(&m, K_TIMER, 0));
    note(tr_timer_send_after(p, 1, m, NULL));
    return 0;
}

/* init sends too: that message's sender is the new actor. */
static int driver_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    (void)state;
    return tr_send_word(arg, K_INIT, 0);
}

static const tr_behavior driver = {driver_init, driver_receive, NULL};

static tr_runtime *runtime(unsigned workers) {
    tr_runtime *rt = tu_runtime_new(workers);
    assert_non_null(rt);
    return rt;
}

static int reset(void **state) {
    (void)state;
    memset(rec, 0, sizeof(rec));
    tu_store(&drive_rc, 0);
    return 0;
}

static void every_send_form_from_an_actor_carries_its_sender(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_ref *pr, *dr;
    assert_int_equal(tr_spawn(rt, &probe, NULL, &pr), 0);
    fwd_target = pr;
    assert_int_equal(tr_spawn(rt, &forwarder, NULL, &the_forwarder), 0);
    tr_spawn_opts o = {.arg = pr};
    assert_int_equal(tr_spawn(rt, &driver, &o, &dr), 0);
    assert_int_equal(tr_send_ptr(dr, T_DRIVE, pr, NULL), 0);
    for (int k = K_SEND; k <= K_TIMER; k++)
        assert_true(tu_wait_ge(&rec[k].seen, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&drive_rc), 0);
    for (int k = K_SEND; k <= K_TIMER; k++) {
        assert_int_equal(tu_load(&rec[k].sender_id), tr_ref_id(dr));
        assert_int_equal((int)tu_load(&rec[k].sender_rc), 0);
        assert_int_equal(tu_load(&rec[k].ref_id), tr_ref_id(dr));
        assert_int_equal(tu_load(&rec[k].wants), 0); /* nobody waits on a tell */
        assert_int_equal(tu_load(&rec[k].is_reply), 0);
    }
    tr_ref_release(dr);
    tr_ref_release(the_forwarder);
    tr_ref_release(pr);
    tr_runtime_free(rt);
}

static void foreign_sends_carry_no_sender_and_forward_adds_none(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_ref *pr;
    assert_int_equal(tr_spawn(rt, &probe, NULL, &pr), 0);
    fwd_target = pr;
    assert_int_equal(tr_spawn(rt, &forwarder, NULL, &the_forwarder), 0);
    assert_int_equal(tr_send_word(pr, K_FOREIGN, 0), 0);
    assert_int_equal(tr_send_word(the_forwarder, K_FOREIGN_FWD, 0), 0);
    assert_true(tu_wait_ge(&rec[K_FOREIGN].seen, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&rec[K_FOREIGN_FWD].seen, 1, TU_WAIT_MS));
    for (int k = K_FOREIGN; k <= K_FOREIGN_FWD; k++) {
        assert_int_equal(tu_load(&rec[k].sender_id), 0);
        assert_int_equal((int)tu_load(&rec[k].sender_rc), TR_ENOTFOUND);
        assert_int_equal(tu_load(&rec[k].ref_id), 0); /* *out cleared */
    }
    tr_ref_release(the_forwarder);
    tr_ref_release(pr);
    tr_runtime_free(rt);
}

/* A message into another runtime carries no sender, whichever way it goes:
 * that runtime may outlive the sender's. */
static void sends_into_another_runtime_carry_no_sender(void **state) {
    (void)state;
    tr_runtime *rt1 = runtime(1), *rt2 = runtime(1);
    tr_ref *pr, *dr;
    assert_int_equal(tr_spawn(rt2, &probe, NULL, &pr), 0);
    fwd_target = pr;
    assert_int_equal(tr_spawn(rt1, &forwarder, NULL, &the_forwarder), 0);
    tr_spawn_opts o = {.arg = pr};
    assert_int_equal(tr_spawn(rt1, &driver, &o, &dr), 0);
    assert_int_equal(tr_send_ptr(dr, T_DRIVE, pr, NULL), 0);
    for (int k = K_SEND; k <= K_TIMER; k++)
        assert_true(tu_wait_ge(&rec[k].seen, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&drive_rc), 0);
    for (int k = K_SEND; k <= K_TIMER; k++) {
        assert_int_equal(tu_load(&rec[k].sender_id), 0);
        assert_int_equal((int)tu_load(&rec[k].sender_rc), TR_ENOTFOUND);
    }
    tr_ref_release(dr);
    tr_ref_release(the_forwarder);
    tr_runtime_free(rt1);
    tr_ref_release(pr);
    tr_runtime_free(rt2);
}

static void sender_and_ids_reject_bad_arguments(void **state) {
    (void)state;
    tr_ref *r = (tr_ref *)1;
    assert_int_equal(tr_sender(NULL, &r), TR_EINVAL);
    assert_null(r);
    assert_int_equal(tr_msg_sender_id(NULL), 0);
    assert_int_equal(tr_msg_is_reply(NULL), 0);
    tr_msg m;
    assert_int_equal(tr_msg_init(&m, 1, NULL), 0);
    assert_int_equal(tr_msg_sender_id(&m), 0);
    assert_int_equal(tr_msg_is_reply(&m), 0);
    /* A tell with no sender cannot be replied to. */
    assert_int_equal(tr_reply_word(&m, 2, 0), TR_EINVAL);
    assert_int_equal(tr_request_word(NULL, NULL, 1, 0, 0), TR_EINVAL);
    assert_int_equal(tr_request_bytes(NULL, NULL, 1, NULL, 0, 0), TR_EINVAL);
}

/* --- replying to a tell ------------------------------------------------------ */

static uint64_t echo_rc_sum, echo_count, pong_word, pong_sender, pong_is_reply, pong_seen;

/* Replies to every T_PING; records the result codes. */
static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_PING) {
        int rc = tr_reply_word(msg, T_PONG, msg->word + 1);
        tu_store(&echo_rc_sum, (uint64_t)(int64_t)rc);
        tu_add(&echo_count, 1);
    }
    return 0;
}

static const tr_behavior echo = {NULL, echo_receive, NULL};

/* T_DRIVE (ptr = echo): ping it; record the pong. */
static int pinger_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_DRIVE)
        return tr_send_word(msg->ptr, T_PING, 41);
    if (msg->type == T_PONG) {
        tu_store(&pong_word, msg->word);
        tu_store(&pong_sender, tr_msg_sender_id(msg));
        tu_store(&pong_is_reply, (uint64_t)tr_msg_is_reply(msg));
        tu_add(&pong_seen, 1);
    }
    return 0;
}

static const tr_behavior pinger = {NULL, pinger_receive, NULL};

static void reply_to_a_tell_goes_to_its_sender_from_the_replier(void **state) {
    (void)state;
    tu_store(&echo_count, 0);
    tu_store(&pong_seen, 0);
    tr_runtime *rt = runtime(2);
    tr_ref *e, *p;
    assert_int_equal(tr_spawn(rt, &echo, NULL, &e), 0);
    assert_int_equal(tr_spawn(rt, &pinger, NULL, &p), 0);
    assert_int_equal(tr_send_ptr(p, T_DRIVE, e, NULL), 0);
    assert_true(tu_wait_ge(&pong_seen, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&echo_rc_sum), 0);
    assert_int_equal(tu_load(&pong_word), 42);
    assert_int_equal(tu_load(&pong_sender), tr_ref_id(e)); /* from the replier */
    assert_int_equal(tu_load(&pong_is_reply), 0);          /* a tell, not an answer */
    /* A ping from this thread has no sender: the echo's reply is TR_EINVAL. */
    assert_int_equal(tr_send_word(e, T_PING, 1), 0);
    assert_true(tu_wait_ge(&echo_count, 2, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&echo_rc_sum), TR_EINVAL);
    assert_int_equal(tu_load(&pong_seen), 1);
    tr_ref_release(p);
    tr_ref_release(e);
    tr_runtime_free(rt);
}

/* --- replies after the sender ended -------------------------------------- */

/* T_DRIVE (ptr = the probe): tell it and stop. */
static int tell_and_stop_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_DRIVE) {
        note(tr_send_word(msg->ptr, K_SEND, 0));
        tr_stop(ctx);
    }
    return 0;
}

static const tr_behavior tell_and_stop = {NULL, tell_and_stop_receive, NULL};

static void sender_that_ended_is_reported_edead_but_keeps_its_id(void **state) {
    (void)state;
    /* One worker: the sender's turn, and its end, come before the probe's. */
    tr_runtime *rt = runtime(1);
    tr_ref *pr, *a;
    assert_int_equal(tr_spawn(rt, &probe, NULL, &pr), 0);
    assert_int_equal(tr_spawn(rt, &tell_and_stop, NULL, &a), 0);
    assert_int_equal(tr_send_ptr(a, T_DRIVE, pr, NULL), 0);
    assert_true(tu_wait_ge(&rec[K_SEND].seen, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&drive_rc), 0);
    assert_int_equal((int)tu_load(&rec[K_SEND].sender_rc), TR_EDEAD);
    assert_int_equal(tu_load(&rec[K_SEND].ref_id), 0);
    assert_int_equal(tu_load(&rec[K_SEND].sender_id), tr_ref_id(a));
    tr_ref_release(a);
    tr_ref_release(pr);
    tr_runtime_free(rt);
}

/* Many short-lived senders each tell the keeper once and stop. The keeper
 * keeps the tells; once every sender is gone and their blocks hold new
 * actors (victims), it replies to all: each reply must be TR_EDEAD, and no
 * victim may receive one. One worker: blocks recycle through its cache. */
#define SENDERS 300

static tr_ref *keeper;
static tr_msg *kept[SENDERS];
static uint64_t nkept, reply_dead, reply_other, victim_pongs, victims_up;
static uintptr_t sender_blocks[SENDERS], victim_blocks[SENDERS];

static int keeper_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_HOLD) {
        uint64_t i = tu_load(&nkept);
        if (i < SENDERS && tr_msg_keep(ctx, msg) == 0) {
            kept[i] = msg;
            tu_store(&nkept, i + 1);
        }
    } else if (msg->type == T_REPLY_ALL) {
        for (uint64_t i = 0; i < tu_load(&nkept); i++) {
            int rc = tr_reply_word(kept[i], T_PONG, i);
            tu_add(rc == TR_EDEAD ? &reply_dead : &reply_other, 1);
            tr_msg_free(kept[i]);
        }
    }
    return 0;
}

static const tr_behavior keeper_b = {NULL, keeper_receive, NULL};

/* Tells the keeper from init and stops at once. */
static int short_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    int rc = tr_send_word(keeper, T_HOLD, 0);
    tr_stop(ctx);
    return rc;
}

static int nothing_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static const tr_behavior short_b = {short_init, nothing_receive, NULL};

static uint64_t victim_pings;

static int victim_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_PONG)
        tu_add(&victim_pongs, 1);
    else if (msg->type == T_PING)
        tu_add(&victim_pings, 1);
    return 0;
}

static const tr_behavior victim_b = {NULL, victim_receive, NULL};
static tr_ref *victims[SENDERS];

/* T_SPAWN: spawn word short senders (recording their blocks), or, with ptr
 * set, word victims (kept in victims[]). From a worker, so the blocks come
 * from and go back to its cache. */
static int spawner_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_SPAWN)
        return 0;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    for (uint64_t i = 0; i < msg->word; i++) {
        tr_ref *r;
        if (msg->ptr == NULL) {
            if (tr_spawn(rt, &short_b, NULL, &r) == 0) {
                sender_blocks[i] = (uintptr_t)r;
                tr_ref_release(r);
            }
        } else if (tr_spawn(rt, &victim_b, NULL, &r) == 0) {
            victims[i] = r;
            victim_blocks[i] = (uintptr_t)r;
            tu_add(&victims_up, 1);
        }
    }
    return 0;
}

static const tr_behavior spawner_b = {NULL, spawner_receive, NULL};

static void reply_after_the_sender_died_is_edead_and_reaches_no_later_actor(void **state) {
    (void)state;
    tu_store(&nkept, 0);
    tu_store(&reply_dead, 0);
    tu_store(&reply_other, 0);
    tu_store(&victim_pongs, 0);
    tu_store(&victims_up, 0);
    tr_runtime *rt = runtime(1);
    tr_ref *sp;
    assert_int_equal(tr_spawn(rt, &keeper_b, NULL, &keeper), 0);
    assert_int_equal(tr_spawn(rt, &spawner_b, NULL, &sp), 0);
    assert_int_equal(tr_send_word(sp, T_SPAWN, SENDERS), 0);
    assert_true(tu_wait_ge(&nkept, SENDERS, TU_WAIT_MS));
    assert_true(tu_wait_alive(rt, 2, TU_WAIT_MS)); /* every sender ended */
    /* New actors in the senders' blocks. */
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, T_SPAWN, 0), 0);
    m->word = SENDERS;
    m->ptr = (void *)1;
    assert_int_equal(tr_send_msg(sp, m), 0);
    assert_true(tu_wait_ge(&victims_up, SENDERS, TU_WAIT_MS));
    unsigned reused = 0;
    for (int i = 0; i < SENDERS; i++)
        for (int j = 0; j < SENDERS; j++)
            if (victim_blocks[i] == sender_blocks[j]) {
                reused++;
                break;
            }
    assert_true(reused >= SENDERS / 2); /* the test means something */
    assert_int_equal(tr_send_word(keeper, T_REPLY_ALL, 0), 0);
    assert_true(tu_wait_ge(&reply_dead, SENDERS, TU_WAIT_MS));
    assert_int_equal(tu_load(&reply_other), 0);
    /* Anything misdelivered would have been queued before these pings. */
    tu_store(&victim_pings, 0);
    for (int i = 0; i < SENDERS; i++)
        assert_int_equal(tr_send_word(victims[i], T_PING, 0), 0);
    assert_true(tu_wait_ge(&victim_pings, SENDERS, TU_WAIT_MS));
    for (int i = 0; i < SENDERS; i++) {
        tr_actor_stop(victims[i]);
        tr_ref_release(victims[i]);
    }
    assert_true(tu_wait_alive(rt, 2, TU_WAIT_MS));
    assert_int_equal(tu_load(&victim_pongs), 0);
    tr_ref_release(sp);
    tr_ref_release(keeper);
    tr_runtime_free(rt);
}

/* --- request helpers, replies told apart from requests ---------------------- */

/* The server answers a T_Q request with a T_Q reply (word * 2, or the bytes
 * reversed), and also tells the asker a T_Q of its own (a question back,
 * not a reply). */
static int qserver_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type != T_Q || !tr_msg_wants_reply(msg))
        return 0;
    tr_ref *asker;
    if (tr_sender(ctx, &asker) == 0) { /* the requester */
        tr_send_word(asker, T_Q, 1000);
        tr_ref_release(asker);
    }
    const char *d = tr_msg_payload(msg, 3);
    if (d != NULL) {
        char r[3] = {d[2], d[1], d[0]};
        return tr_reply(msg, T_Q, r, 3);
    }
    return tr_reply_word(msg, T_Q, msg->word * 2);
}

static const tr_behavior qserver = {NULL, qserver_receive, NULL};

static uint64_t q_rc, q_replies, q_questions, q_word_ok, q_bytes_ok, q_bad;

static int qclient_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_DRIVE) {
        int rc = tr_request_word(ctx, msg->ptr, T_Q, 21, 7);
        if (rc == 0)
            rc = tr_request_bytes(ctx, msg->ptr, T_Q, "abc", 3, 8);
        tu_store(&q_rc, (uint64_t)(int64_t)rc);
        return 0;
    }
    if (msg->type != T_Q)
        return 0;
    if (!tr_msg_is_reply(msg)) {
        tu_add(&q_questions, 1);
        return 0;
    }
    if (msg->corr == 7 && msg->word == 42)
        tu_add(&q_word_ok, 1);
    else if (msg->corr == 8 && tr_msg_payload(msg, 3) != NULL &&
             memcmp(tr_msg_data(msg), "cba", 3) == 0)
        tu_add(&q_bytes_ok, 1);
    else
        tu_add(&q_bad, 1);
    tu_add(&q_replies, 1);
    return 0;
}

static const tr_behavior qclient = {NULL, qclient_receive, NULL};

static void request_helpers_get_replies_told_apart_from_questions(void **state) {
    (void)state;
    tu_store(&q_replies, 0);
    tu_store(&q_questions, 0);
    tu_store(&q_word_ok, 0);
    tu_store(&q_bytes_ok, 0);
    tu_store(&q_bad, 0);
    tr_runtime *rt = runtime(2);
    tr_ref *s, *c;
    assert_int_equal(tr_spawn(rt, &qserver, NULL, &s), 0);
    assert_int_equal(tr_spawn(rt, &qclient, NULL, &c), 0);
    assert_int_equal(tr_send_ptr(c, T_DRIVE, s, NULL), 0);
    assert_true(tu_wait_ge(&q_replies, 2, TU_WAIT_MS));
    assert_true(tu_wait_ge(&q_questions, 2, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&q_rc), 0);
    assert_int_equal(tu_load(&q_word_ok), 1);
    assert_int_equal(tu_load(&q_bytes_ok), 1);
    assert_int_equal(tu_load(&q_bad), 0);
    tr_ref_release(c);
    tr_ref_release(s);
    tr_runtime_free(rt);
}

/* An ask's reply, as the foreign thread gets it, is marked too. */
static void ask_reply_is_a_reply_and_the_request_is_not(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *s;
    assert_int_equal(tr_spawn(rt, &qserver, NULL, &s), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(s, T_Q, 4, &f), 0);
    tr_msg *r;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->word, 8);
    assert_int_equal(tr_msg_is_reply(r), 1);
    assert_int_equal(tr_msg_sender_id(r), 0); /* an answer names no sender */
    tr_msg_free(r);
    tr_future_release(f);
    tr_ref_release(s);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(every_send_form_from_an_actor_carries_its_sender, reset),
        cmocka_unit_test_setup(foreign_sends_carry_no_sender_and_forward_adds_none, reset),
        cmocka_unit_test_setup(sends_into_another_runtime_carry_no_sender, reset),
        cmocka_unit_test(sender_and_ids_reject_bad_arguments),
        cmocka_unit_test(reply_to_a_tell_goes_to_its_sender_from_the_replier),
        cmocka_unit_test_setup(sender_that_ended_is_reported_edead_but_keeps_its_id, reset),
        cmocka_unit_test(reply_after_the_sender_died_is_edead_and_reaches_no_later_actor),
        cmocka_unit_test(request_helpers_get_replies_told_apart_from_questions),
        cmocka_unit_test(ask_reply_is_a_reply_and_the_request_is_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
