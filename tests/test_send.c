/* tests/test_send.c - the send calls and who owns a message afterwards.
 *
 * tr_send / tr_send_word / tr_send_ptr / tr_send_msg / tr_send_batch keep
 * send order and hand ownership over only on success: on TR_EDEAD, TR_EFULL,
 * TR_ECLOSED, TR_E2BIG or TR_EINVAL the caller still owns its message and no
 * destructor ran. tr_send_wait waits for room, times out, fails when the
 * actor or runtime goes away, and refuses to block a worker. */
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

/* --- records ------------------------------------------------------------- */

#define LOG_MAX 256
static uint64_t log_n;
static uint64_t log_v[LOG_MAX];
static uint64_t received, ptr_frees, releases, dead_letters, payload_bad;

static int reset(void **state) {
    (void)state;
    tu_store(&log_n, 0);
    tu_store(&received, 0);
    tu_store(&ptr_frees, 0);
    tu_store(&releases, 0);
    tu_store(&dead_letters, 0);
    tu_store(&payload_bad, 0);
    return 0;
}

static void count_free(void *p) {
    (void)p;
    tu_add(&ptr_frees, 1);
}

static void count_release(tr_msg *m) {
    (void)m;
    tu_add(&releases, 1);
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    (void)why;
    tu_add(&dead_letters, 1);
}

typedef struct payload {
    uint64_t seq;
    char text[24];
} payload;

/* Logs msg->word (the sequence number) or the payload's seq. */
static int log_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    uint64_t seq = msg->word;
    if (msg->size == sizeof(payload)) {
        const payload *p = tr_msg_payload(msg, sizeof(payload));
        if (p == NULL || strcmp(p->text, "payload") != 0)
            tu_add(&payload_bad, 1);
        else
            seq = p->seq;
    }
    uint64_t i = tu_add(&log_n, 1) - 1;
    if (i < LOG_MAX)
        tu_store(&log_v[i], seq);
    tu_add(&received, 1);
    return 0;
}

static const tr_behavior logger = {NULL, log_receive, NULL};

static tr_runtime *runtime(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    return rt;
}

static tr_ref *spawn_logger(tr_runtime *rt, uint32_t cap) {
    tr_spawn_opts o = {.mailbox_capacity = cap};
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &logger, &o, &ref), 0);
    return ref;
}

static tr_ref *spawn_dead(tr_runtime *rt) {
    tr_ref *ref = spawn_logger(rt, 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    assert_int_equal(tr_ref_is_alive(ref), 0);
    return ref;
}

/* Embedded messages: the caller's own struct around a tr_msg. */
typedef struct my_msg {
    tr_msg hdr;
    uint64_t extra;
} my_msg;

static tr_msg *new_word(uint32_t type, uint64_t word) {
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, type, 0), 0);
    m->word = word;
    return m;
}

/* --- order and payloads -------------------------------------------------- */

static void every_send_call_arrives_in_call_order(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_ref *ref = spawn_logger(rt, 0);
    payload p = {0, "payload"};
    my_msg embedded;
    assert_int_equal(tr_msg_init(&embedded.hdr, 1, count_release), 0);
    embedded.hdr.word = 4;
    tr_msg *batch[3] = {new_word(1, 5), new_word(1, 6), new_word(1, 7)};

    assert_int_equal(tr_send(ref, 1, &p, sizeof(p)), 0); /* 0 */
    p.seq = 1;
    assert_int_equal(tr_send(ref, 1, &p, sizeof(p)), 0); /* copied: p may change */
    p.seq = 99;
    assert_int_equal(tr_send_word(ref, 1, 2), 0);
    assert_int_equal(tr_send_ptr(ref, 1, NULL, NULL), 0); /* word 0... */
    assert_int_equal(tr_send_msg(ref, &embedded.hdr), 0);
    assert_int_equal(tr_send_batch(ref, batch, 3), 0);
    assert_int_equal(tr_send_word(ref, 1, 8), 0);

    assert_true(tu_wait_ge(&received, 8, TU_WAIT_MS));
    assert_int_equal(tu_load(&log_v[0]), 0);
    assert_int_equal(tu_load(&log_v[1]), 1);
    assert_int_equal(tu_load(&log_v[2]), 2);
    assert_int_equal(tu_load(&log_v[3]), 0); /* tr_send_ptr: word is 0 */
    for (int i = 4; i < 8; i++)
        assert_int_equal(tu_load(&log_v[i]), (uint64_t)i);
    assert_int_equal(tu_load(&payload_bad), 0);
    assert_true(tu_wait_ge(&releases, 1, TU_WAIT_MS)); /* the embedded one, once */
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&releases), 1);
}

static uint64_t took_ptr;

static int taker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    void *p = tr_msg_take_ptr(msg);
    tu_store(&took_ptr, (uint64_t)(uintptr_t)p);
    free(p);
    tu_add(&received, 1);
    return 0;
}

static void send_ptr_is_zero_copy_and_the_receiver_may_take_it(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, taker_receive, NULL};
    tr_runtime *rt = runtime(2);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    void *p = malloc(32);
    assert_int_equal(tr_send_ptr(ref, 1, p, count_free), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&took_ptr), (uint64_t)(uintptr_t)p);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&ptr_frees), 0); /* taken: not freed by the runtime */
}

static void send_ptr_runs_ptr_free_once_after_receive(void **state) {
    (void)state;
    tr_runtime *rt = runtime(2);
    tr_ref *ref = spawn_logger(rt, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(tr_send_ptr(ref, 1, &ptr_frees, count_free), 0);
    assert_true(tu_wait_ge(&ptr_frees, 10, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&ptr_frees), 10);
}

static int sum_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    const unsigned char *d = tr_msg_data(msg);
    uint64_t sum = 0;
    for (uint32_t i = 0; d != NULL && i < msg->size; i++)
        sum += d[i];
    return tr_reply_word(msg, 1, sum);
}

static void large_payload_is_copied_intact(void **state) {
    (void)state;
    enum { SIZE = 1 << 20 };
    static const tr_behavior beh = {NULL, sum_receive, NULL};
    tr_runtime *rt = runtime(1);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    unsigned char *buf = malloc(SIZE);
    uint64_t sum = 0;
    for (size_t i = 0; i < SIZE; i++) {
        buf[i] = (unsigned char)(i * 7 + 3);
        sum += buf[i];
    }
    tr_future *f;
    assert_int_equal(tr_ask(ref, 1, buf, SIZE, &f), 0);
    memset(buf, 0, SIZE); /* the message has its own copy */
    free(buf);
    tr_msg *reply;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, sum);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- order across threads (one shared mailbox) -------------------------- */

/* Counts words; answers an ask with the count so far. */
static int tally_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    uint64_t *n = state;
    if (tr_msg_wants_reply(msg))
        return tr_reply_word(msg, 1, *n);
    (*n)++;
    return 0;
}

enum { JOIN_THREADS = 4, JOIN_WORDS = 20000 };

static void *send_words(void *arg) {
    tr_ref *to = arg;
    for (uint64_t i = 0; i < JOIN_WORDS; i++)
        if (tr_send_word(to, 1, i) != 0)
            tu_add(&dead_letters, 1000000); /* fails the count below */
    return NULL;
}

/* Without lanes (the default) an actor has one queue: what other threads
 * sent before we joined them arrives before what we send after. */
static void sends_after_a_join_arrive_after_the_joined_threads_sends(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, tally_receive, NULL};
    tr_runtime *rt = runtime(2);
    for (int round = 0; round < 5; round++) {
        tr_spawn_opts o = {.state_size = sizeof(uint64_t)};
        tr_ref *ref;
        assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
        pthread_t th[JOIN_THREADS];
        for (int i = 0; i < JOIN_THREADS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, send_words, ref), 0);
        for (int i = 0; i < JOIN_THREADS; i++)
            pthread_join(th[i], NULL);
        tr_future *f;
        assert_int_equal(tr_ask_word(ref, 2, 0, &f), 0);
        tr_msg *reply;
        assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
        assert_int_equal(reply->word, (uint64_t)JOIN_THREADS * JOIN_WORDS);
        tr_msg_free(reply);
        tr_future_release(f);
        tr_ref_release(ref);
    }
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&dead_letters), 0);
}

/* --- batches -------------------------------------------------------------- */

/* Three embedded messages with words 10, 11, 12 and counted releases. */
static void make_batch(my_msg m[3], tr_msg *batch[3]) {
    for (int i = 0; i < 3; i++) {
        tr_msg_init(&m[i].hdr, 1, count_release);
        m[i].hdr.word = (uint64_t)(10 + i);
        batch[i] = &m[i].hdr;
    }
}

static void send_batch_is_all_or_nothing_when_the_mailbox_is_full(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 4);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_send_word(ref, 1, 1), 0);
    my_msg m[3];
    tr_msg *batch[3];
    make_batch(m, batch);
    assert_int_equal(tr_send_batch(ref, batch, 3), TR_EFULL);
    assert_int_equal(tr_ref_mailbox_len(ref), 2);
    assert_int_equal(tu_load(&releases), 0); /* still ours */
    assert_int_equal(tr_send_batch(ref, batch + 1, 2), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&received, 4, TU_WAIT_MS));
    assert_int_equal(tu_load(&log_v[2]), 11);
    assert_int_equal(tu_load(&log_v[3]), 12);
    tr_msg_free(batch[0]);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 4);
    assert_int_equal(tu_load(&releases), 3);
}

/* The same through a lane: this (foreign) thread's first 8 sends in a row
 * to an actor that accepts lanes give it one, and a batch then goes through
 * the lane. */
static void send_batch_through_a_lane_is_all_or_nothing_too(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_spawn_opts o = {.mailbox_capacity = 12, .lanes = 1};
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &logger, &o, &ref), 0);
    for (uint64_t i = 0; i < 10; i++) /* 8 make the lane, 2 go through it */
        assert_int_equal(tr_send_word(ref, 1, i), 0);
    assert_int_equal(tr_ref_mailbox_len(ref), 10); /* the lane's kick takes no room */
    my_msg m[3];
    tr_msg *batch[3];
    make_batch(m, batch);
    assert_int_equal(tr_send_batch(ref, batch, 3), TR_EFULL);
    assert_int_equal(tr_ref_mailbox_len(ref), 10);
    assert_int_equal(tu_load(&releases), 0); /* still ours */
    assert_int_equal(tr_send_batch(ref, batch + 1, 2), 0);
    assert_int_equal(tr_send_word(ref, 1, 99), TR_EFULL);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&received, 12, TU_WAIT_MS));
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(tu_load(&log_v[i]), i);
    assert_int_equal(tu_load(&log_v[10]), 11);
    assert_int_equal(tu_load(&log_v[11]), 12);
    tr_msg_free(batch[0]);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 12);
    assert_int_equal(tu_load(&releases), 3);
}

static void send_batch_to_a_dead_actor_returns_edead_and_sends_none(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_dead(rt);
    my_msg m[2];
    tr_msg *batch[2];
    for (int i = 0; i < 2; i++) {
        tr_msg_init(&m[i].hdr, 1, count_release);
        m[i].hdr.ptr = &ptr_frees;
        m[i].hdr.ptr_free = count_free;
        batch[i] = &m[i].hdr;
    }
    assert_int_equal(tr_send_batch(ref, batch, 2), TR_EDEAD);
    assert_int_equal(tu_load(&releases), 0);
    assert_int_equal(tu_load(&ptr_frees), 0);
    tr_msg_free(batch[0]);
    tr_msg_free(batch[1]);
    assert_int_equal(tu_load(&releases), 2);
    assert_int_equal(tu_load(&ptr_frees), 2);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void send_batch_with_one_reserved_type_sends_none(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_logger(rt, 0);
    tr_msg *batch[3] = {new_word(1, 0), new_word(1, 1), new_word(1, 2)};
    batch[1]->type = TR_MSG_SYSTEM;
    assert_int_equal(tr_send_batch(ref, batch, 3), TR_EINVAL);
    batch[1]->type = 1;
    assert_int_equal(tr_send_batch(ref, batch, 3), 0);
    assert_true(tu_wait_ge(&received, 3, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 3);
}

/* --- dead, full, closed: the caller keeps its message ------------------------ */

static void send_to_a_dead_actor_returns_edead_and_the_caller_keeps_ownership(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_dead(rt);
    assert_int_equal(tr_send(ref, 1, "x", 1), TR_EDEAD);
    assert_int_equal(tr_send_word(ref, 1, 0), TR_EDEAD);
    assert_int_equal(tr_send_ptr(ref, 1, &ptr_frees, count_free), TR_EDEAD);
    assert_int_equal(tu_load(&ptr_frees), 0); /* ptr is still ours */
    my_msg m;
    tr_msg_init(&m.hdr, 1, count_release);
    assert_int_equal(tr_send_msg(ref, &m.hdr), TR_EDEAD);
    assert_int_equal(tu_load(&releases), 0);
    tr_msg_free(&m.hdr);
    assert_int_equal(tu_load(&releases), 1);
    assert_int_equal(tr_ref_mailbox_len(ref), TR_EDEAD);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&dead_letters), 0);
}

static void full_bounded_mailbox_returns_efull_and_the_caller_keeps_ownership(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tr_send_word(ref, 1, (uint64_t)i), 0);
    assert_int_equal(tr_ref_mailbox_len(ref), 3);
    assert_int_equal(tr_send_word(ref, 1, 3), TR_EFULL);
    assert_int_equal(tr_send_ptr(ref, 1, &ptr_frees, count_free), TR_EFULL);
    assert_int_equal(tu_load(&ptr_frees), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&received, 3, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 3);
}

static void runtime_default_capacity_applies_unless_spawn_overrides_it(void **state) {
    (void)state;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.mailbox_capacity = 2;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *dflt = spawn_logger(rt, 0);                   /* the runtime's 2 */
    tr_ref *own = spawn_logger(rt, 5);                    /* its own bound */
    tr_ref *unb = spawn_logger(rt, TR_MAILBOX_UNBOUNDED); /* no bound */
    int sent[3] = {0, 0, 0};
    tr_ref *refs[3] = {dflt, own, unb};
    for (int k = 0; k < 3; k++)
        while (sent[k] < 100 && tr_send_word(refs[k], 1, 0) == 0)
            sent[k]++;
    assert_int_equal(sent[0], 2);
    assert_int_equal(sent[1], 5);
    assert_int_equal(sent[2], 100);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&received, 107, TU_WAIT_MS));
    for (int k = 0; k < 3; k++)
        tr_ref_release(refs[k]);
    tr_runtime_free(rt);
}

static void full_mailbox_of_a_dead_actor_returns_edead(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 2);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_send_word(ref, 1, 1), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    /* Dead beats full: no sender retries a gone actor forever. */
    assert_int_equal(tr_send_word(ref, 1, 2), TR_EDEAD);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void foreign_send_after_close_returns_eclosed(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_logger(rt, 0);
    tr_runtime_close(rt);
    assert_int_equal(tr_send_word(ref, 1, 0), TR_ECLOSED);
    assert_int_equal(tr_send_ptr(ref, 1, &ptr_frees, count_free), TR_ECLOSED);
    assert_int_equal(tu_load(&ptr_frees), 0);
    tr_runtime_join(rt);
    assert_int_equal(tr_send_word(ref, 1, 0), TR_ECLOSED);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static uint64_t term_send_rc;

static void send_self_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    (void)why;
    tu_store(&term_send_rc, (uint64_t)(int64_t)tr_send_word(tr_self(ctx), 1, 0));
    tu_add(&received, 1);
}

static void actor_send_during_close_is_not_eclosed(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, log_receive, send_self_terminate};
    tr_runtime *rt = runtime(1);
    assert_int_equal(tr_spawn(rt, &beh, NULL, NULL), 0);
    tr_runtime_close(rt);
    tr_runtime_join(rt);
    /* Its own mailbox is closed by then: dead, but not refused as foreign. */
    assert_int_equal((int)tu_load(&term_send_rc), TR_EDEAD);
    tr_runtime_free(rt);
}

static void oversized_payload_returns_e2big(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_logger(rt, 0);
    char small[8] = {0};
    /* The size is checked before anything is copied. */
    assert_int_equal(tr_send(ref, 1, small, (size_t)TR_MSG_MAX_SIZE + 1), TR_E2BIG);
    tr_msg *m = (tr_msg *)small;
    assert_int_equal(tr_msg_new(&m, 1, (size_t)TR_MSG_MAX_SIZE + 1), TR_E2BIG);
    tr_future *f = (tr_future *)small;
    assert_int_equal(tr_ask(ref, 1, small, (size_t)TR_MSG_MAX_SIZE + 1, &f), TR_E2BIG);
    assert_null(f);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 0);
}

static void reserved_type_returns_einval(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tr_ref *ref = spawn_logger(rt, 0);
    const uint32_t sys = TR_MSG_SYSTEM;
    assert_int_equal(tr_send(ref, sys, "x", 1), TR_EINVAL);
    assert_int_equal(tr_send_word(ref, sys + 5, 0), TR_EINVAL);
    assert_int_equal(tr_send_ptr(ref, 0xFFFFFFFFu, &ptr_frees, count_free), TR_EINVAL);
    assert_int_equal(tu_load(&ptr_frees), 0);
    tr_msg m;
    assert_int_equal(tr_msg_init(&m, sys, NULL), TR_EINVAL);
    tr_msg *n;
    assert_int_equal(tr_msg_new(&n, sys, 0), TR_EINVAL);
    assert_int_equal(tr_msg_new(&n, sys - 1, 0), 0); /* the last user type */
    n->type = sys;                                   /* changed after init */
    assert_int_equal(tr_send_msg(ref, n), TR_EINVAL);
    tr_future *f;
    assert_int_equal(tr_ask_word(ref, sys, 0, &f), TR_EINVAL);
    n->type = sys - 1;
    assert_int_equal(tr_send_msg(ref, n), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void msg_free_runs_ptr_free_and_release_once(void **state) {
    (void)state;
    my_msg m;
    assert_int_equal(tr_msg_init(&m.hdr, 3, count_release), 0);
    assert_null(tr_msg_data(&m.hdr)); /* no inline data */
    m.hdr.ptr = &ptr_frees;
    m.hdr.ptr_free = count_free;
    tr_msg_free(&m.hdr);
    assert_int_equal(tu_load(&ptr_frees), 1);
    assert_int_equal(tu_load(&releases), 1);
    tr_msg *n;
    assert_int_equal(tr_msg_new(&n, 3, 0), 0);
    assert_null(tr_msg_data(n));
    assert_int_equal(n->size, 0);
    tr_msg_free(n);
    assert_int_equal(tr_msg_new(&n, 3, 10), 0);
    assert_non_null(tr_msg_data(n));
    assert_non_null(tr_msg_payload(n, 10));
    assert_null(tr_msg_payload(n, 11));
    tr_msg_free(n);
}

/* --- tr_send_wait ----------------------------------------------------------- */

typedef struct waiter {
    pthread_t t;
    tr_ref *to;
    tr_msg *msg;
    int64_t timeout_ms;
    uint64_t started, done;
    int rc;
} waiter;

static void *wait_thread(void *arg) {
    waiter *w = arg;
    tu_store(&w->started, 1);
    w->rc = tr_send_wait(w->to, w->msg, w->timeout_ms);
    tu_store(&w->done, 1);
    return NULL;
}

static void start_waiter(waiter *w, tr_ref *to, uint64_t word, int64_t timeout_ms) {
    memset(w, 0, sizeof(*w));
    w->to = to;
    w->msg = new_word(1, word);
    w->timeout_ms = timeout_ms;
    assert_int_equal(pthread_create(&w->t, NULL, wait_thread, w), 0);
    assert_true(tu_wait_ge(&w->started, 1, TU_WAIT_MS));
}

static void send_wait_blocks_until_there_is_room(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 2);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_int_equal(tr_send_word(ref, 1, 1), 0);
    waiter w;
    start_waiter(&w, ref, 2, -1);
    /* The only worker is frozen, so no room can appear: it must still wait. */
    tu_sleep_ms(30);
    assert_int_equal(tu_load(&w.done), 0);
    tu_gate_open(&g);
    pthread_join(w.t, NULL);
    assert_int_equal(w.rc, 0);
    assert_true(tu_wait_ge(&received, 3, TU_WAIT_MS));
    assert_int_equal(tu_load(&log_v[2]), 2); /* after the two before it */
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void send_wait_times_out_with_etimedout_and_the_caller_keeps_msg(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 1);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    my_msg m;
    tr_msg_init(&m.hdr, 1, count_release);
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_send_wait(ref, &m.hdr, 50), TR_ETIMEDOUT);
    assert_true(tu_now_ms() - t0 >= 45); /* it did wait (the clock is monotonic) */
    assert_int_equal(tr_send_wait(ref, &m.hdr, 0), TR_EFULL); /* 0: no wait */
    assert_int_equal(tu_load(&releases), 0);
    tu_gate_open(&g);
    /* Room again: the same message goes through. */
    assert_int_equal(tr_send_wait(ref, &m.hdr, TU_WAIT_MS), 0);
    assert_true(tu_wait_ge(&releases, 1, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void send_wait_returns_edead_when_the_actor_stops(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 1);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    waiter w;
    start_waiter(&w, ref, 1, TU_WAIT_MS);
    assert_int_equal(tr_actor_stop(ref), 0);
    tu_gate_open(&g);
    pthread_join(w.t, NULL);
    assert_int_equal(w.rc, TR_EDEAD);
    tr_msg_free(w.msg);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void send_wait_returns_eclosed_when_the_runtime_closes(void **state) {
    (void)state;
    tr_runtime *rt = runtime(1);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_ref *ref = spawn_logger(rt, 1);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    waiter w;
    start_waiter(&w, ref, 1, TU_WAIT_MS);
    tr_runtime_close(rt);
    pthread_join(w.t, NULL); /* the worker is still frozen: close alone wakes it */
    assert_int_equal(w.rc, TR_ECLOSED);
    tr_msg_free(w.msg);
    tu_gate_open(&g);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static uint64_t wait_rc;

static int send_wait_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_msg *m = NULL;
    if (tr_msg_new(&m, 1, 0) != 0)
        return TR_ENOMEM;
    tu_store(&wait_rc, (uint64_t)(int64_t)tr_send_wait(tr_self(ctx), m, 10));
    tr_msg_free(m);
    tu_add(&received, 1);
    return 0;
}

static void send_wait_on_a_worker_returns_edeadlk(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, send_wait_receive, NULL};
    tr_runtime *rt = runtime(1);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    assert_int_equal(tr_send_word(ref, 1, 0), 0);
    assert_true(tu_wait_ge(&received, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&wait_rc), TR_EDEADLK);
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&received), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(every_send_call_arrives_in_call_order, reset),
        cmocka_unit_test_setup(send_ptr_is_zero_copy_and_the_receiver_may_take_it, reset),
        cmocka_unit_test_setup(send_ptr_runs_ptr_free_once_after_receive, reset),
        cmocka_unit_test_setup(large_payload_is_copied_intact, reset),
        cmocka_unit_test_setup(send_batch_is_all_or_nothing_when_the_mailbox_is_full, reset),
        cmocka_unit_test_setup(sends_after_a_join_arrive_after_the_joined_threads_sends, reset),
        cmocka_unit_test_setup(send_batch_through_a_lane_is_all_or_nothing_too, reset),
        cmocka_unit_test_setup(send_batch_to_a_dead_actor_returns_edead_and_sends_none, reset),
        cmocka_unit_test_setup(send_batch_with_one_reserved_type_sends_none, reset),
        cmocka_unit_test_setup(send_to_a_dead_actor_returns_edead_and_the_caller_keeps_ownership,
                               reset),
        cmocka_unit_test_setup(full_bounded_mailbox_returns_efull_and_the_caller_keeps_ownership,
                               reset),
        cmocka_unit_test_setup(runtime_default_capacity_applies_unless_spawn_overrides_it, reset),
        cmocka_unit_test_setup(full_mailbox_of_a_dead_actor_returns_edead, reset),
        cmocka_unit_test_setup(foreign_send_after_close_returns_eclosed, reset),
        cmocka_unit_test_setup(actor_send_during_close_is_not_eclosed, reset),
        cmocka_unit_test_setup(oversized_payload_returns_e2big, reset),
        cmocka_unit_test_setup(reserved_type_returns_einval, reset),
        cmocka_unit_test_setup(msg_free_runs_ptr_free_and_release_once, reset),
        cmocka_unit_test_setup(send_wait_blocks_until_there_is_room, reset),
        cmocka_unit_test_setup(send_wait_times_out_with_etimedout_and_the_caller_keeps_msg, reset),
        cmocka_unit_test_setup(send_wait_returns_edead_when_the_actor_stops, reset),
        cmocka_unit_test_setup(send_wait_returns_eclosed_when_the_runtime_closes, reset),
        cmocka_unit_test_setup(send_wait_on_a_worker_returns_edeadlk, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
