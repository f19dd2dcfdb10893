/* tests/test_stash.c - become/unbecome and stash/unstash.
 *
 * The holder actor under test logs the words of the DATA messages it
 * handles. T_HOLD makes it tr_become_push a holding receive that stashes
 * DATA and asks; T_RELEASE unstashes them all and tr_unbecome's. Most tests
 * freeze a 1-worker runtime with the gate (support/testutil.h) so that
 * everything is queued before the holder runs, which makes the expected
 * order exact: unstashed messages come back ahead of everything not yet
 * received (mailbox, actors' sends, foreign threads' lanes). Then: the
 * bound (TR_EFULL, the message handled as usual, the runtime's count), a
 * bounded mailbox's room, asks answered after an unstash, dead letters when
 * the actor stops, crashes, is killed or the runtime closes (the hook's
 * count, destructors, futures TR_EDEAD, tr_request askers ASK_FAILED), the
 * become stack and its bound, a supervisor's restart starting with the spawn
 * behaviour, a pool worker refusing to stash its job, and bad arguments. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum {
    T_DATA = 1,
    T_HOLD,
    T_RELEASE,
    T_RELEASE_ONE,
    T_RELEASE_STOP,
    T_ASKQ,
    T_ANS,
    T_CRASH,
    T_PANIC,
    T_FEED,
    T_PROBE,
    T_REQUEST,
};

/* --- records ------------------------------------------------------------- */

#define LOG_MAX 4096
static uint64_t log_n;
static uint64_t log_v[LOG_MAX];
static uint64_t stashed, stash_full, stash_rc_other, unstashed, handled;
static uint64_t dead_letters, dead_stopped, dead_shutdown, ptr_frees, terminated;
static uint64_t last_stash_len, asks_failed, ask_failed_status, probe_rc;

static void reset(void) {
    tu_store(&log_n, 0);
    uint64_t *all[] = {&stashed,        &stash_full,   &stash_rc_other,    &unstashed, &handled,
                       &dead_letters,   &dead_stopped, &dead_shutdown,     &ptr_frees, &terminated,
                       &last_stash_len, &asks_failed,  &ask_failed_status, &probe_rc};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
}

static void log_word(uint64_t v) {
    uint64_t i = tu_add(&log_n, 1) - 1;
    if (i < LOG_MAX)
        tu_store(&log_v[i], v);
}

static void count_free(void *p) {
    (void)p;
    tu_add(&ptr_frees, 1);
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    tu_add(&dead_letters, 1);
    if (why == TR_DEAD_STOPPED)
        tu_add(&dead_stopped, 1);
    if (why == TR_DEAD_SHUTDOWN)
        tu_add(&dead_shutdown, 1);
}

static tr_runtime *runtime_with_hook(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

/* --- the holder ---------------------------------------------------------- */

static int h_receive(tr_ctx *ctx, void *state, tr_msg *msg);

static int h_holding(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case T_DATA:
    case T_ASKQ: {
        int rc = tr_stash(ctx, msg);
        if (rc == 0)
            tu_add(&stashed, 1);
        else if (rc == TR_EFULL)
            tu_add(&stash_full, 1);
        else
            tu_add(&stash_rc_other, 1);
        tu_store(&last_stash_len, (uint64_t)tr_stash_len(ctx));
        return 0;
    }
    case T_RELEASE: {
        int n = tr_unstash_all(ctx);
        if (n > 0)
            tu_add(&unstashed, (uint64_t)n);
        return tr_unbecome(ctx);
    }
    case T_RELEASE_ONE:
        if (tr_unstash(ctx) == 1)
            tu_add(&unstashed, 1);
        return 0;
    case T_RELEASE_STOP:
        tu_add(&unstashed, (uint64_t)tr_unstash_all(ctx));
        return tr_stop(ctx);
    default:
        return h_receive(ctx, state, msg);
    }
}

static int h_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    switch (msg->type) {
    case T_DATA:
        log_word(msg->word);
        tu_add(&handled, 1);
        return 0;
    case T_ASKQ:
        log_word(msg->word);
        tu_add(&handled, 1);
        return tr_reply_word(msg, T_ANS, msg->word + 1);
    case T_HOLD:
        return tr_become_push(ctx, h_holding);
    case T_CRASH:
        return TR_EINVAL;
    case T_PANIC:
        tr_panic(ctx, TR_EINVAL, "panic while holding");
    default:
        return 0;
    }
}

static void h_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    (void)why;
    tu_store(&last_stash_len, (uint64_t)tr_stash_len(ctx)); /* already dead-lettered: 0 */
    tu_add(&terminated, 1);
}

static const tr_behavior holder_beh = {NULL, h_receive, h_terminate};

static tr_ref *spawn_holder(tr_runtime *rt, uint32_t stash_cap, uint32_t mbox_cap, uint32_t lanes) {
    tr_spawn_opts o = {0};
    o.stash_capacity = stash_cap;
    o.mailbox_capacity = mbox_cap;
    o.lanes = lanes;
    o.name = "holder";
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &holder_beh, &o, &ref), 0);
    return ref;
}

static void expect_log(const uint64_t *want, size_t n) {
    assert_true(tu_wait_ge(&log_n, n, TU_WAIT_MS));
    tu_sleep_ms(5); /* nothing more may come */
    assert_int_equal(tu_load(&log_n), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tu_load(&log_v[i]), want[i]);
}

static void send_data(tr_ref *to, uint64_t first, uint64_t last) {
    for (uint64_t w = first; w <= last; w++)
        assert_int_equal(tr_send_word(to, T_DATA, w), 0);
}

/* --- order ----------------------------------------------------------------- */

static void unstash_all_comes_before_what_is_queued(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    assert_non_null(rt);
    tr_ref *h = spawn_holder(rt, 0, 0, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    assert_int_equal(tr_send_word(h, T_DATA, 1), 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    send_data(h, 2, 4);
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    send_data(h, 5, 6);
    tu_gate_open(&g);
    const uint64_t want[] = {1, 2, 3, 4, 5, 6};
    expect_log(want, 6);
    assert_int_equal(tu_load(&stashed), 3);
    assert_int_equal(tu_load(&unstashed), 3);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

static void unstash_one_takes_the_oldest(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_ref *h = spawn_holder(rt, 0, 0, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    send_data(h, 1, 3);
    /* 1 comes back and is stashed again (still holding), behind 2 and 3. */
    assert_int_equal(tr_send_word(h, T_RELEASE_ONE, 0), 0);
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    send_data(h, 4, 4);
    tu_gate_open(&g);
    const uint64_t want[] = {2, 3, 1, 4};
    expect_log(want, 4);
    assert_int_equal(tu_load(&stashed), 4);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

/* A feeder actor sends DATA words [word, word + 9] to the holder. */
static int feeder_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    tr_ref *to = state;
    for (uint64_t w = msg->word; w < msg->word + 10; w++)
        if (tr_send_word(to, T_DATA, w) != 0)
            return TR_EINVAL;
    return 0;
}

static void order_holds_with_sends_from_actors(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(2);
    tr_ref *h = spawn_holder(rt, 0, 0, 0);
    static const tr_behavior feeder_beh = {NULL, feeder_receive, NULL};
    tr_spawn_opts o = {0};
    o.arg = h;
    tr_ref *f = NULL;
    assert_int_equal(tr_spawn(rt, &feeder_beh, &o, &f), 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    assert_int_equal(tr_send_word(f, T_FEED, 100), 0);
    assert_true(tu_wait_ge(&stashed, 10, TU_WAIT_MS));
    send_data(h, 1, 3);
    assert_true(tu_wait_ge(&stashed, 13, TU_WAIT_MS));
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    assert_int_equal(tr_send_word(f, T_FEED, 200), 0);
    uint64_t want[23];
    size_t k = 0;
    for (uint64_t w = 100; w < 110; w++)
        want[k++] = w;
    for (uint64_t w = 1; w <= 3; w++)
        want[k++] = w;
    for (uint64_t w = 200; w < 210; w++)
        want[k++] = w;
    expect_log(want, k);
    tr_ref_release(f);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

/* The test thread is a foreign thread: after a few sends in a row it gets a
 * lane into a holder spawned with lanes, and the lane's messages, not yet
 * received at the unstash, must come after the unstashed ones. */
static void order_holds_with_foreign_lanes(void **st) {
    (void)st;
    for (uint32_t lanes = 0; lanes <= 1; lanes++) {
        reset();
        tr_runtime *rt = runtime_with_hook(1);
        tr_ref *h = spawn_holder(rt, 0, 0, lanes);
        tu_gate g;
        assert_int_equal(tu_gate_block(rt, &g), 0);
        assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
        send_data(h, 1, 40);
        assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
        send_data(h, 41, 80);
        tu_gate_open(&g);
        uint64_t want[80];
        for (uint64_t i = 0; i < 80; i++)
            want[i] = i + 1;
        expect_log(want, 80);
        assert_int_equal(tu_load(&stashed), 40);
        tr_ref_release(h);
        tr_runtime_free(rt);
    }
}

/* --- the bound ------------------------------------------------------------ */

static void full_stash_returns_efull_and_message_is_handled_as_usual(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_ref *h = spawn_holder(rt, 2, 0, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    for (int i = 0; i < 3; i++) {
        int x = 0;
        assert_int_equal(tr_send_ptr(h, T_DATA, &x, count_free), 0);
    }
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&stash_full, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&stashed), 2);
    assert_int_equal(tu_load(&last_stash_len), 2);
    /* The refused one was destroyed after receive: its ptr_free ran. */
    assert_true(tu_wait_ge(&ptr_frees, 1, TU_WAIT_MS));
    tr_runtime_stats s;
    assert_int_equal(tr_runtime_stats_get(rt, &s), 0);
    assert_int_equal(s.stash_overflows, 1);
    assert_int_equal(s.dead_letters, 0);
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    assert_true(tu_wait_ge(&handled, 2, TU_WAIT_MS));
    assert_true(tu_wait_ge(&ptr_frees, 3, TU_WAIT_MS));
    tr_ref_release(h);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&ptr_frees), 3);
}

static void unbounded_stash_takes_more_than_the_default(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_ref *h = spawn_holder(rt, TR_MAILBOX_UNBOUNDED, 0, 0);
    tr_ref *d = spawn_holder(rt, 0, 0, 0); /* the default bound */
    const uint64_t n = TR_STASH_DEFAULT + 100;
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    assert_int_equal(tr_send_word(d, T_HOLD, 0), 0);
    for (uint64_t i = 0; i < n; i++) {
        assert_int_equal(tr_send_word(h, T_DATA, i), 0);
        assert_int_equal(tr_send_word(d, T_DATA, i), 0);
    }
    assert_true(tu_wait_ge(&stashed, n + TR_STASH_DEFAULT, TU_WAIT_MS));
    assert_true(tu_wait_ge(&stash_full, 100, TU_WAIT_MS));
    assert_int_equal(tu_load(&stashed), n + TR_STASH_DEFAULT);
    tr_ref_release(h);
    tr_ref_release(d);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&dead_letters), n + TR_STASH_DEFAULT);
}

/* A stashed message leaves a bounded mailbox: senders get its room back,
 * and unstashed messages take none (the count returns to exactly 0). */
static void stash_gives_bounded_mailbox_room_back(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_ref *h = spawn_holder(rt, 0, 4, 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    for (uint64_t w = 1; w <= 20; w++) {
        tr_msg *m;
        assert_int_equal(tr_msg_new(&m, T_DATA, 0), 0);
        m->word = w;
        assert_int_equal(tr_send_wait(h, m, 10000), 0);
    }
    assert_true(tu_wait_ge(&stashed, 20, TU_WAIT_MS));
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    uint64_t want[20];
    for (uint64_t i = 0; i < 20; i++)
        want[i] = i + 1;
    expect_log(want, 20);
    assert_int_equal(tr_ref_mailbox_len(h), 0);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

/* --- asks ----------------------------------------------------------------- */

static void stashed_ask_is_answered_after_unstash(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(2);
    tr_ref *h = spawn_holder(rt, 0, 0, 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(h, T_ASKQ, 41, &f), 0);
    assert_true(tu_wait_ge(&stashed, 1, TU_WAIT_MS));
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, 20, &reply), TR_ETIMEDOUT);
    assert_int_equal(tr_send_word(h, T_RELEASE, 0), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->type, T_ANS);
    assert_int_equal(reply->word, 42);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

/* --- dead letters ---------------------------------------------------------- */

/* A requester actor asks the holder with tr_request and records what comes
 * back (an answer, or ASK_FAILED with its status). */
static int requester_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    tr_ref *to = state;
    if (msg->type == T_REQUEST) {
        tr_msg *req;
        if (tr_msg_new(&req, T_ASKQ, 0) != 0)
            return TR_ENOMEM;
        req->word = 7;
        int rc = tr_request(ctx, to, req, 99);
        if (rc != 0)
            tr_msg_free(req);
        return 0;
    }
    if (msg->type == TR_MSG_ASK_FAILED && msg->corr == 99) {
        tu_store(&ask_failed_status, (uint64_t)(int64_t)tr_result_code(msg));
        tu_add(&asks_failed, 1);
    }
    return 0;
}

enum { END_STOP, END_KILL, END_CRASH, END_PANIC, END_SELF, END_CLOSE };

static void end_with_stash(int how) {
    reset();
    tr_runtime *rt = runtime_with_hook(2);
    tr_ref *h = spawn_holder(rt, 0, 0, 0);
    static const tr_behavior req_beh = {NULL, requester_receive, NULL};
    tr_spawn_opts o = {0};
    o.arg = h;
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &req_beh, &o, &r), 0);
    assert_int_equal(tr_send_word(h, T_HOLD, 0), 0);
    static int payload[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_send_ptr(h, T_DATA, &payload[i], count_free), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(h, T_ASKQ, 1, &f), 0);
    assert_int_equal(tr_send_word(r, T_REQUEST, 0), 0);
    assert_true(tu_wait_ge(&stashed, 5, TU_WAIT_MS));
    const uint64_t n = 5;
    switch (how) {
    case END_STOP:
        assert_int_equal(tr_actor_stop(h), 0);
        break;
    case END_KILL:
        assert_int_equal(tr_actor_kill(h), 0);
        break;
    case END_CRASH:
        assert_int_equal(tr_send_word(h, T_CRASH, 0), 0);
        break;
    case END_PANIC:
        assert_int_equal(tr_send_word(h, T_PANIC, 0), 0);
        break;
    case END_SELF: /* unstashed but not yet received when it stops */
        assert_int_equal(tr_send_word(h, T_RELEASE_STOP, 0), 0);
        break;
    default:
        break;
    }
    tr_msg *reply = NULL;
    if (how == END_CLOSE) {
        assert_int_equal(tr_runtime_close(rt), 0);
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_EDEAD);
        assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
        assert_true(tu_wait_ge(&dead_letters, n, TU_WAIT_MS));
        assert_int_equal(tu_load(&ptr_frees), 3);
        assert_int_equal(tu_load(&handled), 0);
    } else {
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_EDEAD);
        assert_true(tu_wait_ge(&asks_failed, 1, TU_WAIT_MS));
        assert_int_equal((int64_t)tu_load(&ask_failed_status), TR_EDEAD);
        assert_true(tu_wait_ge(&terminated, 1, TU_WAIT_MS));
        assert_true(tu_wait_ge(&dead_letters, n, TU_WAIT_MS));
        assert_int_equal(tu_load(&dead_stopped), n);
        assert_int_equal(tu_load(&last_stash_len), 0); /* terminate saw an empty stash */
        assert_int_equal(tu_load(&ptr_frees), 3);
        assert_int_equal(tu_load(&handled), 0);
    }
    tr_future_release(f);
    tr_ref_release(r);
    tr_ref_release(h);
    tr_runtime_free(rt);
    if (how == END_CLOSE)
        assert_int_equal(tu_load(&dead_shutdown), tu_load(&dead_letters));
    assert_int_equal(tu_load(&terminated), 1);
}

static void stashed_messages_are_dead_lettered_on_stop(void **st) {
    (void)st;
    end_with_stash(END_STOP);
}
static void stashed_messages_are_dead_lettered_on_kill(void **st) {
    (void)st;
    end_with_stash(END_KILL);
}
static void stashed_messages_are_dead_lettered_on_crash(void **st) {
    (void)st;
    end_with_stash(END_CRASH);
}
static void stashed_messages_are_dead_lettered_on_panic(void **st) {
    (void)st;
    end_with_stash(END_PANIC);
}
static void unstashed_unreceived_messages_are_dead_lettered_on_stop(void **st) {
    (void)st;
    end_with_stash(END_SELF);
}
static void stashed_messages_are_dead_lettered_on_runtime_close(void **st) {
    (void)st;
    end_with_stash(END_CLOSE);
}

/* --- become ---------------------------------------------------------------- */

static uint64_t which[4];

static int b_one(tr_ctx *ctx, void *state, tr_msg *msg);
static int b_two(tr_ctx *ctx, void *state, tr_msg *msg);

/* Message types for the become tests: what to do after recording. */
enum { B_NOTE = 1, B_BECOME_TWO, B_PUSH_TWO, B_UNBECOME, B_STACK, B_CRASH };

static int b_common(tr_ctx *ctx, tr_msg *msg) {
    switch (msg->type) {
    case B_BECOME_TWO:
        return tr_become(ctx, b_two);
    case B_PUSH_TWO:
        return tr_become_push(ctx, b_two);
    case B_UNBECOME:
        tu_store(&probe_rc, (uint64_t)(int64_t)tr_unbecome(ctx));
        return 0;
    case B_STACK: {
        /* TR_BECOME_DEPTH pushes succeed, the next is TR_EFULL; then as many
         * unbecomes succeed and the next is TR_ESTATE: back to b_one. */
        int ok = 1;
        for (int i = 0; i < TR_BECOME_DEPTH; i++)
            ok &= tr_become_push(ctx, i % 2 ? b_one : b_two) == 0;
        ok &= tr_become_push(ctx, b_two) == TR_EFULL;
        for (int i = 0; i < TR_BECOME_DEPTH; i++)
            ok &= tr_unbecome(ctx) == 0;
        ok &= tr_unbecome(ctx) == TR_ESTATE;
        tu_store(&probe_rc, (uint64_t)ok);
        return 0;
    }
    case B_CRASH:
        return TR_EINVAL;
    default:
        return 0;
    }
}

static int b_one(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    log_word(1);
    tu_add(&which[1], 1);
    return b_common(ctx, msg);
}

static int b_two(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    log_word(2);
    tu_add(&which[2], 1);
    return b_common(ctx, msg);
}

static const tr_behavior b_beh = {NULL, b_one, NULL};

static void become_push_and_unbecome(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &b_beh, NULL, &a), 0);
    /* one: push two; two: note; two: unbecome -> one; one: unbecome fails;
     * one: become two (forgets one); two: unbecome fails. */
    const uint32_t seq[] = {B_PUSH_TWO, B_NOTE, B_UNBECOME, B_NOTE, B_BECOME_TWO, B_NOTE};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        assert_int_equal(tr_send_word(a, seq[i], 0), 0);
    const uint64_t want[] = {1, 2, 2, 1, 1, 2};
    expect_log(want, 6);
    assert_int_equal((int64_t)tu_load(&probe_rc), 0);
    assert_int_equal(tr_send_word(a, B_UNBECOME, 0), 0);
    assert_true(tu_wait_ge(&log_n, 7, TU_WAIT_MS));
    tu_sleep_ms(5);
    assert_int_equal((int64_t)tu_load(&probe_rc), TR_ESTATE);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

static void become_stack_is_bounded(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &b_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, B_STACK, 0), 0);
    assert_int_equal(tr_send_word(a, B_NOTE, 0), 0);
    const uint64_t want[] = {1, 1};
    expect_log(want, 2);
    assert_int_equal(tu_load(&probe_rc), 1);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

static tr_ref *only_child(tr_ref *sup) {
    tr_child_info info;
    size_t n = 0;
    if (tr_sup_which_children(sup, &info, 1, &n) != 0 || n != 1 || info.ref == NULL)
        return NULL;
    tr_ref *ref = info.ref; /* owned: the caller releases it */
    return ref;
}

static void restarted_actor_starts_with_spawn_behaviour(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    tr_child_spec spec = {0};
    spec.id = "becomer";
    spec.behavior = &b_beh; /* tr_spawn(rt, &b_beh, ...) on every (re)start */
    spec.restart = TR_CHILD_PERMANENT;
    tr_sup_config cfg = {0};
    cfg.strategy = TR_SUP_ONE_FOR_ONE;
    cfg.intensity = 10;
    cfg.children = &spec;
    cfg.nchildren = 1;
    tr_ref *sup = NULL;
    assert_int_equal(tr_sup_start(rt, &cfg, &sup), 0);
    tr_ref *c = only_child(sup);
    assert_non_null(c);
    assert_int_equal(tr_send_word(c, B_BECOME_TWO, 0), 0);
    assert_int_equal(tr_send_word(c, B_CRASH, 0), 0); /* handled by b_two */
    const uint64_t want[] = {1, 2};
    expect_log(want, 2);
    tr_ref *c2 = NULL;
    for (int i = 0; i < 3000 && c2 == NULL; i++) {
        tr_ref *x = only_child(sup);
        if (x != NULL && tr_ref_id(x) != tr_ref_id(c))
            c2 = x;
        else {
            if (x != NULL)
                tr_ref_release(x);
            tu_sleep_ms(1);
        }
    }
    assert_non_null(c2);
    assert_int_equal(tr_send_word(c2, B_NOTE, 0), 0);
    const uint64_t want2[] = {1, 2, 1};
    expect_log(want2, 3);
    tr_ref_release(c2);
    tr_ref_release(c);
    tr_ref_release(sup);
    tr_runtime_free(rt);
}

static int b_init_two(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    /* Pushed in init: the first message goes to b_two, and the stack made
     * here is freed with the actor (ASan checks it). */
    return tr_become_push(ctx, b_two);
}

static void become_in_init_applies_to_the_first_message(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    static const tr_behavior bi = {b_init_two, b_one, NULL};
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &bi, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, B_NOTE, 0), 0);
    assert_int_equal(tr_send_word(a, B_UNBECOME, 0), 0);
    assert_int_equal(tr_send_word(a, B_NOTE, 0), 0);
    const uint64_t want[] = {2, 2, 1};
    expect_log(want, 3);
    assert_int_equal((int64_t)tu_load(&probe_rc), 0);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

/* --- pool workers ----------------------------------------------------------- */

static uint64_t become_rc;

static int pool_job(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tu_store(&probe_rc, (uint64_t)(int64_t)tr_stash(ctx, msg));
    int a = tr_become(ctx, pool_job), b = tr_become_push(ctx, pool_job), c = tr_unbecome(ctx);
    tu_store(&become_rc, a == TR_ESTATE && b == TR_ESTATE && c == TR_ESTATE);
    tu_add(&handled, 1);
    return 0;
}

static void pool_worker_refuses_stash_of_its_job_and_become(void **st) {
    (void)st;
    reset();
    tr_runtime *rt = runtime_with_hook(1);
    static const tr_behavior pb = {NULL, pool_job, NULL};
    tr_pool_config cfg;
    tr_pool_config_init(&cfg);
    cfg.workers = 1;
    cfg.behavior = &pb;
    tr_ref *pool = NULL;
    assert_int_equal(tr_pool_start(rt, &cfg, &pool), 0);
    assert_int_equal(tr_send_word(pool, 1, 0), 0);
    assert_true(tu_wait_ge(&handled, 1, TU_WAIT_MS));
    assert_int_equal((int64_t)tu_load(&probe_rc), TR_ESTATE);
    assert_int_equal(tu_load(&become_rc), 1);
    tr_pool_release(pool);
    tr_runtime_free(rt);
}

/* --- bad arguments ---------------------------------------------------------- */

static uint64_t arg_ok;

static int args_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    tr_msg m;
    tr_msg_init(&m, 1, NULL);
    /* No message is being received in init. */
    tu_store(&arg_ok, tr_stash(ctx, &m) == TR_ESTATE && tr_stash_len(ctx) == 0 &&
                          tr_unstash_all(ctx) == 0 && tr_unstash(ctx) == 0);
    return 0;
}

static int args_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_msg other;
    tr_msg_init(&other, 1, NULL);
    int ok = tr_stash(ctx, NULL) == TR_EINVAL && tr_stash(NULL, msg) == TR_EINVAL &&
             tr_stash(ctx, &other) == TR_ESTATE && tr_become(ctx, NULL) == TR_EINVAL &&
             tr_become_push(ctx, NULL) == TR_EINVAL && tr_unbecome(ctx) == TR_ESTATE;
    if (msg->type == 1) { /* kept: no longer stashable */
        ok &= tr_msg_keep(ctx, msg) == 0 && tr_stash(ctx, msg) == TR_ESTATE;
        tr_msg_free(msg);
    } else { /* stashed once: not twice */
        ok &= tr_stash(ctx, msg) == 0 && tr_stash(ctx, msg) == TR_ESTATE &&
              tr_stash_len(ctx) == 1 && tr_msg_keep(ctx, msg) == TR_ESTATE;
    }
    tu_store(&probe_rc, (uint64_t)ok);
    tu_add(&handled, 1);
    return 0;
}

static void bad_arguments_are_refused(void **st) {
    (void)st;
    reset();
    assert_int_equal(tr_stash(NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_unstash_all(NULL), TR_EINVAL);
    assert_int_equal(tr_unstash(NULL), TR_EINVAL);
    assert_int_equal(tr_stash_len(NULL), TR_EINVAL);
    assert_int_equal(tr_become(NULL, b_one), TR_EINVAL);
    assert_int_equal(tr_become_push(NULL, b_one), TR_EINVAL);
    assert_int_equal(tr_unbecome(NULL), TR_EINVAL);
    tr_runtime *rt = runtime_with_hook(1);
    static const tr_behavior ab = {args_init, args_receive, NULL};
    tr_ref *a = NULL;
    assert_int_equal(tr_spawn(rt, &ab, NULL, &a), 0);
    assert_int_equal(tu_load(&arg_ok), 1);
    assert_int_equal(tr_send_word(a, 1, 0), 0);
    assert_true(tu_wait_ge(&handled, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&probe_rc), 1);
    assert_int_equal(tr_send_word(a, 2, 0), 0);
    assert_true(tu_wait_ge(&handled, 2, TU_WAIT_MS));
    assert_int_equal(tu_load(&probe_rc), 1);
    tr_ref_release(a);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&dead_letters), 1); /* the one it stashed */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unstash_all_comes_before_what_is_queued),
        cmocka_unit_test(unstash_one_takes_the_oldest),
        cmocka_unit_test(order_holds_with_sends_from_actors),
        cmocka_unit_test(order_holds_with_foreign_lanes),
        cmocka_unit_test(full_stash_returns_efull_and_message_is_handled_as_usual),
        cmocka_unit_test(unbounded_stash_takes_more_than_the_default),
        cmocka_unit_test(stash_gives_bounded_mailbox_room_back),
        cmocka_unit_test(stashed_ask_is_answered_after_unstash),
        cmocka_unit_test(stashed_messages_are_dead_lettered_on_stop),
        cmocka_unit_test(stashed_messages_are_dead_lettered_on_kill),
        cmocka_unit_test(stashed_messages_are_dead_lettered_on_crash),
        cmocka_unit_test(stashed_messages_are_dead_lettered_on_panic),
        cmocka_unit_test(unstashed_unreceived_messages_are_dead_lettered_on_stop),
        cmocka_unit_test(stashed_messages_are_dead_lettered_on_runtime_close),
        cmocka_unit_test(become_push_and_unbecome),
        cmocka_unit_test(become_stack_is_bounded),
        cmocka_unit_test(become_in_init_applies_to_the_first_message),
        cmocka_unit_test(restarted_actor_starts_with_spawn_behaviour),
        cmocka_unit_test(pool_worker_refuses_stash_of_its_job_and_become),
        cmocka_unit_test(bad_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
