/* tests/test_promise.c - a foreign thread waits for a result an actor makes
 * later.
 *
 * tr_promise_new gives a promise (handed to an actor) and a future (kept
 * and waited on). The promise settles once: with a reply, a failure code, or
 * TR_ENOREPLY when it is released (or the message carrying it dropped)
 * unsettled; a second settle is TR_ESTATE, whichever thread tries. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum {
    T_HOLD = 1,   /* ptr = a promise: the holder keeps it */
    T_SETTLE = 2, /* settle the held promise with word */
    T_FAIL = 3,   /* fail it with (int)word */
    T_DROP = 4,   /* ignored: the promise it carries is dropped with it */
    T_RESULT = 5,
};

typedef struct {
    tr_promise *p;
} holder_state;

static uint64_t settle_rc, settled;

static int holder_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    holder_state *s = state;
    switch (msg->type) {
    case T_HOLD:
        s->p = tr_msg_take_ptr(msg);
        break;
    case T_SETTLE:
    case T_FAIL: {
        int rc = msg->type == T_SETTLE ? tr_promise_reply_word(s->p, T_RESULT, msg->word)
                                       : tr_promise_fail(s->p, (int)(int64_t)msg->word);
        /* A second settle, from the same holder: refused. */
        int again = tr_promise_reply_word(s->p, T_RESULT, 0);
        tu_store(&settle_rc, (uint64_t)(int64_t)(rc != 0 ? rc : again == TR_ESTATE ? 0 : -100));
        tr_promise_release(s->p);
        s->p = NULL;
        tu_add(&settled, 1);
        break;
    }
    default:
        break;
    }
    return 0;
}

static void holder_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    holder_state *s = state;
    if (s->p != NULL)
        tr_promise_release(s->p);
}

static const tr_behavior holder = {NULL, holder_receive, holder_terminate};

static tr_ref *spawn_holder(tr_runtime *rt) {
    tr_spawn_opts o = {.state_size = sizeof(holder_state)};
    tr_ref *r;
    assert_int_equal(tr_spawn(rt, &holder, &o, &r), 0);
    return r;
}

static int reset(void **state) {
    (void)state;
    tu_store(&settle_rc, 0);
    tu_store(&settled, 0);
    return 0;
}

static void promise_settled_later_by_an_actor_wakes_the_waiter(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *h = spawn_holder(rt);
    tr_promise *p;
    tr_future *f;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_send_ptr(h, T_HOLD, p, tr_promise_free_fn), 0);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f, 0, &r), TR_ETIMEDOUT); /* nothing yet */
    assert_int_equal(tr_future_is_ready(f), 0);
    assert_int_equal(tr_send_word(h, T_SETTLE, 99), 0); /* later */
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_int_equal(r->type, T_RESULT);
    assert_int_equal(r->word, 99);
    assert_int_equal(tr_msg_is_reply(r), 1);
    tr_msg_free(r);
    assert_true(tu_wait_ge(&settled, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&settle_rc), 0); /* and the second was TR_ESTATE */
    tr_future_release(f);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

static void promise_failed_by_an_actor_gives_its_code(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *h = spawn_holder(rt);
    tr_promise *p;
    tr_future *f;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_send_ptr(h, T_HOLD, p, tr_promise_free_fn), 0);
    assert_int_equal(tr_send_word(h, T_FAIL, (uint64_t)(int64_t)TR_ECANCELED), 0);
    tr_msg *r = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_ECANCELED);
    assert_null(r);
    assert_true(tu_wait_ge(&settled, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&settle_rc), 0);
    tr_future_release(f);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

static void promise_released_unsettled_fails_with_enoreply(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    tr_promise *p;
    tr_future *f;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_promise_release(p), 0);
    tr_msg *r;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_ENOREPLY);
    tr_future_release(f);
    /* Dropped inside a message nobody takes it from: the same. */
    tr_ref *h = spawn_holder(rt);
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_send_ptr(h, T_DROP, p, tr_promise_free_fn), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_ENOREPLY);
    tr_future_release(f);
    /* Held by an actor that stops: its terminate releases it. */
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_send_ptr(h, T_HOLD, p, tr_promise_free_fn), 0);
    assert_int_equal(tr_actor_stop(h), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), TR_ENOREPLY);
    tr_future_release(f);
    tr_ref_release(h);
    tr_runtime_free(rt);
}

static void second_settle_returns_estate_and_keeps_the_first(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    tr_promise *p;
    tr_future *f;
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_promise_reply(p, T_RESULT, "ok", 3), 0);
    assert_int_equal(tr_promise_reply_word(p, T_RESULT, 1), TR_ESTATE);
    assert_int_equal(tr_promise_fail(p, TR_EIO), TR_ESTATE);
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, T_RESULT, 0), 0);
    assert_int_equal(tr_promise_reply_msg(p, m), TR_ESTATE);
    tr_msg_free(m); /* still ours */
    assert_int_equal(tr_promise_release(p), 0);
    tr_msg *r;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &r), 0);
    assert_string_equal(tr_msg_data(r), "ok");
    tr_msg_free(r);
    tr_future_release(f);
    tr_runtime_free(rt);
}

static void promise_calls_reject_bad_arguments(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(1);
    tr_promise *p = (tr_promise *)1;
    tr_future *f = (tr_future *)1;
    assert_int_equal(tr_promise_new(NULL, &p, &f), TR_EINVAL);
    assert_null(p);
    assert_null(f);
    assert_int_equal(tr_promise_new(rt, NULL, &f), TR_EINVAL);
    assert_int_equal(tr_promise_new(rt, &p, NULL), TR_EINVAL);
    assert_int_equal(tr_promise_reply_msg(NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_promise_reply(NULL, 1, NULL, 0), TR_EINVAL);
    assert_int_equal(tr_promise_reply_word(NULL, 1, 0), TR_EINVAL);
    assert_int_equal(tr_promise_fail(NULL, TR_EIO), TR_EINVAL);
    assert_int_equal(tr_promise_release(NULL), TR_EINVAL);
    tr_promise_free_fn(NULL);
    assert_int_equal(tr_promise_new(rt, &p, &f), 0);
    assert_int_equal(tr_promise_reply(p, 1, NULL, 4), TR_EINVAL);
    assert_int_equal(tr_promise_reply_word(p, TR_MSG_SYSTEM, 0), TR_EINVAL);
    assert_int_equal(tr_promise_fail(p, 0), TR_EINVAL);
    assert_int_equal(tr_promise_fail(p, 5), TR_EINVAL);
    assert_int_equal(tr_future_is_ready(f), 0); /* none of them settled it */
    /* The future released first: the late reply is dropped, nothing leaks. */
    assert_int_equal(tr_future_release(f), 0);
    assert_int_equal(tr_promise_reply_word(p, 1, 2), 0);
    assert_int_equal(tr_promise_release(p), 0);
    tr_runtime_free(rt);
}

/* Many threads race to settle each of ROUNDS promises: exactly one wins. */
#define RACERS 4
#define ROUNDS (2000 / TU_SANITIZER_SLOWDOWN)

static tr_promise *race_p[ROUNDS];
static uint64_t race_wins, race_estate, race_other;

static void *racer(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = (id & 1) ? tr_promise_reply_word(race_p[i], T_RESULT, id)
                          : tr_promise_fail(race_p[i], TR_EIO);
        tu_add(rc == 0 ? &race_wins : rc == TR_ESTATE ? &race_estate : &race_other, 1);
    }
    return NULL;
}

static void many_threads_racing_to_settle_one_promise_settle_it_once(void **state) {
    (void)state;
    tu_store(&race_wins, 0);
    tu_store(&race_estate, 0);
    tu_store(&race_other, 0);
    tr_runtime *rt = tu_runtime_new(1);
    static tr_future *fs[ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        assert_int_equal(tr_promise_new(rt, &race_p[i], &fs[i]), 0);
    pthread_t t[RACERS];
    for (uintptr_t i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, (void *)i), 0);
    for (int i = 0; i < RACERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(tu_load(&race_wins), ROUNDS);
    assert_int_equal(tu_load(&race_estate), (uint64_t)ROUNDS * (RACERS - 1));
    assert_int_equal(tu_load(&race_other), 0);
    for (int i = 0; i < ROUNDS; i++) {
        tr_msg *r = NULL;
        int rc = tr_future_wait(fs[i], TU_WAIT_MS, &r);
        assert_true(rc == 0 || rc == TR_EIO);
        if (rc == 0) {
            assert_int_equal(r->word & 1, 1); /* from an odd racer */
            tr_msg_free(r);
        }
        tr_future_release(fs[i]);
        tr_promise_release(race_p[i]);
    }
    tr_runtime_free(rt);
}

/* Many foreign threads each hand promises to actors and wait. */
#define WAITERS 4
#define PER_WAITER (1000 / TU_SANITIZER_SLOWDOWN)

static tr_ref *holders[WAITERS];
static uint64_t waited_ok, waited_bad;

static void *waiter(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    tr_runtime *rt = tr_ref_runtime(holders[id]);
    for (uint64_t i = 0; i < PER_WAITER; i++) {
        tr_promise *p;
        tr_future *f;
        if (tr_promise_new(rt, &p, &f) != 0) {
            tu_add(&waited_bad, 1);
            continue;
        }
        if (tr_send_ptr(holders[id], T_HOLD, p, tr_promise_free_fn) != 0 ||
            tr_send_word(holders[id], T_SETTLE, i) != 0) {
            tu_add(&waited_bad, 1);
            tr_future_release(f);
            continue;
        }
        tr_msg *r;
        if (tr_future_wait(f, TU_WAIT_MS, &r) == 0) {
            tu_add(r->word == i ? &waited_ok : &waited_bad, 1);
            tr_msg_free(r);
        } else
            tu_add(&waited_bad, 1);
        tr_future_release(f);
    }
    return NULL;
}

static void promises_from_many_threads_each_get_their_result(void **state) {
    (void)state;
    tu_store(&waited_ok, 0);
    tu_store(&waited_bad, 0);
    tr_runtime *rt = tu_runtime_new(2);
    for (int i = 0; i < WAITERS; i++)
        holders[i] = spawn_holder(rt);
    pthread_t t[WAITERS];
    for (uintptr_t i = 0; i < WAITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, waiter, (void *)i), 0);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(tu_load(&waited_ok), (uint64_t)WAITERS * PER_WAITER);
    assert_int_equal(tu_load(&waited_bad), 0);
    for (int i = 0; i < WAITERS; i++)
        tr_ref_release(holders[i]);
    tr_runtime_free(rt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(promise_settled_later_by_an_actor_wakes_the_waiter, reset),
        cmocka_unit_test_setup(promise_failed_by_an_actor_gives_its_code, reset),
        cmocka_unit_test_setup(promise_released_unsettled_fails_with_enoreply, reset),
        cmocka_unit_test(second_settle_returns_estate_and_keeps_the_first),
        cmocka_unit_test(promise_calls_reject_bad_arguments),
        cmocka_unit_test(many_threads_racing_to_settle_one_promise_settle_it_once),
        cmocka_unit_test(promises_from_many_threads_each_get_their_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
