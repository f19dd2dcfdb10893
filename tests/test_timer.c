/* tests/test_timer.c - timers, ask timeouts and idle timeouts (troupe/timer.h).
 *
 * Timing: assertions are lower bounds ("not before the delay") and orders and
 * counts; upper bounds only bound waits (TU_WAIT_MS). The periodic test is
 * the one place with an accuracy check, with a generous tolerance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define MAX_REC 64

enum { M_TICK = 1, M_GO = 2, M_ASK = 3, M_REPLY = 4, M_ARM = 5, M_PING = 6, M_REQ = 7 };

/* A recorder: remembers the word of each message, in arrival order. */
typedef struct rec {
    uint64_t n;
    uint64_t words[MAX_REC];
    int64_t at[MAX_REC];
} rec;

static int rec_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    rec *r = state;
    uint64_t i = tu_load(&r->n);
    if (i < MAX_REC) {
        r->words[i] = msg->word;
        r->at[i] = tu_now_ms();
    }
    tu_add(&r->n, 1);
    return 0;
}

static const tr_behavior rec_beh = {NULL, rec_receive, NULL};

static tr_ref *spawn_rec(tr_runtime *rt, rec *r) {
    memset(r, 0, sizeof(*r));
    tr_spawn_opts o = {0};
    o.arg = r;
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &rec_beh, &o, &ref), 0);
    return ref;
}

static uint64_t released;

/* A message whose destruction is counted: a tr_msg_new message whose ptr
 * payload's free counts. */
static void count_ptr(void *p) {
    (void)p;
    tu_add(&released, 1);
}

static tr_msg *counted_msg(uint32_t type, uint64_t word) {
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, type, 0), 0);
    m->word = word;
    m->ptr = &released;
    m->ptr_free = count_ptr;
    return m;
}

/* --- one-shot timers ---------------------------------------------------------- */

static void timers_fire_in_deadline_order(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1); /* one loop: deadline order is exact */
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    static const uint64_t delays[] = {250, 50, 150, 0, 100, 200};
    for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
        tr_msg *m;
        assert_int_equal(tr_msg_new(&m, M_TICK, 0), 0);
        m->word = delays[i];
        tr_timer_id id = 0;
        assert_int_equal(tr_timer_send_after(ref, delays[i], m, &id), 0);
        assert_true(id != 0);
    }
    assert_true(tu_wait_ge(&r.n, 6, TU_WAIT_MS));
    static const uint64_t want[] = {0, 50, 100, 150, 200, 250};
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.words[i], want[i]);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void timer_message_is_not_delivered_before_its_delay(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    int64_t t0 = tu_now_ms();
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, M_TICK, 0), 0);
    assert_int_equal(tr_timer_send_after(ref, 80, m, NULL), 0);
    assert_true(tu_wait_ge(&r.n, 1, TU_WAIT_MS));
    assert_true(r.at[0] - t0 >= 79);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void cancel_before_firing_destroys_message_and_returns_1(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    tu_store(&released, 0);
    tr_timer_id id;
    assert_int_equal(tr_timer_send_after(ref, 60000, counted_msg(M_TICK, 1), &id), 0);
    assert_int_equal(tr_timer_cancel(rt, id), 0);
    assert_int_equal(tr_timer_cancel(rt, id), TR_ENOTFOUND); /* only once */
    assert_true(tu_wait_ge(&released, 1, TU_WAIT_MS));
    /* A fired timer cannot be cancelled. */
    assert_int_equal(tr_timer_send_after(ref, 0, counted_msg(M_TICK, 2), &id), 0);
    assert_true(tu_wait_ge(&r.n, 1, TU_WAIT_MS));
    assert_int_equal(tr_timer_cancel(rt, id), TR_ENOTFOUND);
    assert_int_equal(r.words[0], 2);
    assert_true(tu_wait_ge(&released, 2, TU_WAIT_MS));
    tr_ref_release(ref);
    tr_runtime_free(rt);
    assert_int_equal(tu_load(&r.n), 1);
    assert_int_equal(tu_load(&released), 2);
}

static uint64_t cancel_from_actor_result;

static int canceller_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == M_GO) {
        tr_timer_id id;
        tr_msg *m;
        tr_msg_new(&m, M_TICK, 0);
        if (tr_timer_send_after(tr_self(ctx), 60000, m, &id) != 0)
            return 0;
        tu_store(&cancel_from_actor_result,
                 tr_timer_cancel(tr_ctx_runtime(ctx), id) == 0 ? 11u : 10u);
    }
    return 0;
}

static void cancel_from_the_timers_own_worker(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior beh = {NULL, canceller_receive, NULL};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    tu_store(&cancel_from_actor_result, 0);
    assert_int_equal(tr_send_word(ref, M_GO, 0), 0);
    assert_true(tu_wait_ge(&cancel_from_actor_result, 10, TU_WAIT_MS));
    assert_int_equal(tu_load(&cancel_from_actor_result), 11);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void timer_to_stopped_actor_is_dead_lettered(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    tu_store(&released, 0);
    assert_int_equal(tr_timer_send_after(ref, 50, counted_msg(M_TICK, 1), NULL), 0);
    assert_int_equal(tr_actor_stop(ref), 0);
    assert_true(tu_wait_ge(&released, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&r.n), 0);
    /* Starting a timer for a stopped actor fails; the caller keeps msg. */
    tr_msg *m = counted_msg(M_TICK, 2);
    assert_int_equal(tr_timer_send_after(ref, 1, m, NULL), TR_EDEAD);
    tr_msg_free(m);
    assert_int_equal(tu_load(&released), 2);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void timer_calls_reject_bad_arguments(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, M_TICK, 0), 0);
    assert_int_equal(tr_timer_send_after(NULL, 1, m, NULL), TR_EINVAL);
    assert_int_equal(tr_timer_send_after(ref, 1, NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_timer_tick_every(ref, 1, 0, M_TICK, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_timer_tick_every(ref, 1, 1, TR_MSG_SYSTEM, 0, NULL), TR_EINVAL);
    assert_int_equal(tr_timer_cancel(NULL, 1), TR_EINVAL);
    assert_int_equal(tr_timer_cancel(rt, 0), TR_ENOTFOUND);
    assert_int_equal(tr_timer_cancel(rt, 12345), TR_ENOTFOUND);
    tr_msg_free(m);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- periodic timers ------------------------------------------------------------- */

#define PERIOD_MS 20
#define TICKS 10

static void periodic_ticks_keep_their_period_and_stop_on_cancel(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    tr_timer_id id;
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_timer_tick_every(ref, PERIOD_MS, PERIOD_MS, M_TICK, 7, &id), 0);
    assert_true(tu_wait_ge(&r.n, TICKS, TU_WAIT_MS));
    assert_int_equal(tr_timer_cancel(rt, id), 0);
    uint64_t at_cancel = tu_load(&r.n);
    /* Tick i is due at (i + 1) * PERIOD_MS: never before it (1 ms slack for
     * clock rounding); late only by a generous margin on a loaded machine. */
    for (int i = 0; i < TICKS; i++) {
        assert_int_equal(r.words[i], 7);
        assert_true(r.at[i] - t0 >= (int64_t)(i + 1) * PERIOD_MS - 1);
    }
    assert_true(r.at[TICKS - 1] - t0 <= TICKS * PERIOD_MS + 5000);
    tu_sleep_ms(5 * PERIOD_MS);
    /* At most one tick was already on its way when we cancelled. */
    assert_true(tu_load(&r.n) <= at_cancel + 1);
    assert_int_equal(tr_timer_cancel(rt, id), TR_ENOTFOUND);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void periodic_timer_ends_when_its_target_stops(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    tr_timer_id id;
    assert_int_equal(tr_timer_tick_every(ref, 1, 5, M_TICK, 0, &id), 0);
    assert_true(tu_wait_ge(&r.n, 2, TU_WAIT_MS));
    assert_int_equal(tr_actor_stop(ref), 0);
    /* The next tick finds it dead and the timer ends by itself. */
    int gone = 0;
    for (int i = 0; i < 3000 && !gone; i++) {
        tu_sleep_ms(10);
        gone = tr_timer_cancel(rt, id) == TR_ENOTFOUND;
    }
    assert_true(gone);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- ask timeouts ------------------------------------------------------------------ */

/* The slow server keeps requests until told M_GO, then answers them all. */
typedef struct slow {
    tr_msg *held[8];
    int n;
} slow;

static int slow_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    slow *sv = state;
    if (msg->type == M_ASK) {
        if (msg->word == 0) /* answer at once */
            return tr_reply_word(msg, M_REPLY, 100);
        if (sv->n < 8 && tr_msg_keep(ctx, msg) == 0)
            sv->held[sv->n++] = msg;
        return 0;
    }
    if (msg->type == M_GO) {
        for (int i = 0; i < sv->n; i++) {
            tr_reply_word(sv->held[i], M_REPLY, 200 + (uint64_t)i);
            tr_msg_free(sv->held[i]);
        }
        sv->n = 0;
    }
    return 0;
}

static void slow_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    slow *sv = state;
    for (int i = 0; i < sv->n; i++)
        tr_msg_free(sv->held[i]);
}

/* The asker: on M_REQ (word = 1: slow, 0: fast) asks the server with tag
 * 42 and a 50 ms deadline; records what comes back for the tag. */
typedef struct asker {
    tr_ref *server;
    uint64_t replies, reply_word, timeouts, other_failures, wrong_tag;
} asker;

static int asker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    asker *a = state;
    if (msg->type == M_REQ) {
        tr_msg *req;
        if (tr_msg_new(&req, M_ASK, 0) != 0)
            return 0;
        req->word = msg->word;
        if (tr_request_timeout(ctx, a->server, req, 42, 50) != 0)
            tr_msg_free(req);
        return 0;
    }
    if (msg->type == M_REPLY) {
        tu_store(&a->reply_word, msg->word);
        tu_add(msg->word == 100 || msg->word >= 200 ? &a->replies : &a->wrong_tag, 1);
        return 0;
    }
    if (msg->type == TR_MSG_ASK_FAILED) {
        tu_add(msg->status == TR_ETIMEDOUT ? &a->timeouts : &a->other_failures, 1);
        return 0;
    }
    return 0;
}

static uint64_t dead_letters;
static void on_dead_letter(void *ud, const tr_msg *msg, int why) {
    (void)ud;
    (void)why;
    if (msg->type == M_REPLY)
        tu_add(&dead_letters, 1);
}

static tr_runtime *runtime_with_dead_letters(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead_letter;
    tr_runtime *rt = NULL;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    return rt;
}

static void ask_timeout_fails_then_late_reply_is_dead_lettered(void **s) {
    (void)s;
    tu_store(&dead_letters, 0);
    tr_runtime *rt = runtime_with_dead_letters(2);
    static const tr_behavior sbeh = {NULL, slow_receive, slow_terminate};
    static const tr_behavior abeh = {NULL, asker_receive, NULL};
    tr_spawn_opts so = {0};
    so.state_size = sizeof(slow);
    tr_ref *server, *ask;
    assert_int_equal(tr_spawn(rt, &sbeh, &so, &server), 0);
    asker a;
    memset(&a, 0, sizeof(a));
    a.server = server;
    tr_spawn_opts ao = {0};
    ao.arg = &a;
    assert_int_equal(tr_spawn(rt, &abeh, &ao, &ask), 0);

    assert_int_equal(tr_send_word(ask, M_REQ, 1), 0); /* slow: times out */
    assert_true(tu_wait_ge(&a.timeouts, 1, TU_WAIT_MS));
    assert_int_equal(tr_send_word(server, M_GO, 0), 0); /* the late reply */
    assert_true(tu_wait_ge(&dead_letters, 1, TU_WAIT_MS));
    /* The same tag again, answered in time: delivered, once. */
    assert_int_equal(tr_send_word(ask, M_REQ, 0), 0);
    assert_true(tu_wait_ge(&a.replies, 1, TU_WAIT_MS));
    tu_sleep_ms(150); /* past its deadline: no failure follows the reply */
    assert_int_equal(tu_load(&a.replies), 1);
    assert_int_equal(tu_load(&a.reply_word), 100);
    assert_int_equal(tu_load(&a.timeouts), 1);
    assert_int_equal(tu_load(&a.other_failures), 0);
    assert_int_equal(tu_load(&a.wrong_tag), 0);
    assert_int_equal(tu_load(&dead_letters), 1);
    tr_ref_release(server);
    tr_ref_release(ask);
    tr_runtime_free(rt);
}

static void ask_timeout_reports_a_stopped_target_at_once(void **s) {
    (void)s;
    tr_runtime *rt = runtime_with_dead_letters(2);
    static const tr_behavior sbeh = {NULL, slow_receive, slow_terminate};
    static const tr_behavior abeh = {NULL, asker_receive, NULL};
    tr_spawn_opts so = {0};
    so.state_size = sizeof(slow);
    tr_ref *server, *ask;
    assert_int_equal(tr_spawn(rt, &sbeh, &so, &server), 0);
    asker a;
    memset(&a, 0, sizeof(a));
    a.server = server;
    tr_spawn_opts ao = {0};
    ao.arg = &a;
    assert_int_equal(tr_spawn(rt, &abeh, &ao, &ask), 0);
    assert_int_equal(tr_send_word(ask, M_REQ, 1), 0);
    /* The server stops holding the request: its token fails with EDEAD. */
    tu_sleep_ms(5);
    assert_int_equal(tr_actor_stop(server), 0);
    int64_t dl = tu_now_ms() + TU_WAIT_MS;
    while (tu_load(&a.other_failures) + tu_load(&a.timeouts) == 0 && tu_now_ms() < dl)
        tu_sleep_ms(1);
    tu_sleep_ms(100); /* the deadline passes: nothing more comes */
    assert_int_equal(tu_load(&a.other_failures) + tu_load(&a.timeouts), 1);
    assert_int_equal(tu_load(&a.replies), 0);
    tr_ref_release(server);
    tr_ref_release(ask);
    tr_runtime_free(rt);
}

/* --- idle timeouts ------------------------------------------------------------------ */

typedef struct idler {
    uint64_t idles, violations, armed_ms;
    int64_t last_msg; /* owner only */
} idler;

static int idler_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    idler *d = state;
    int64_t now = tu_now_ms();
    if (msg->type == TR_MSG_IDLE) {
        /* Told only after a full quiet period (1 ms for clock rounding). */
        if (now - d->last_msg < (int64_t)tu_load(&d->armed_ms) - 1)
            tu_add(&d->violations, 1);
        tu_add(&d->idles, 1);
        return 0;
    }
    d->last_msg = now;
    if (msg->type == M_ARM) {
        tu_store(&d->armed_ms, msg->word);
        return tr_idle_timeout(ctx, msg->word);
    }
    return 0;
}

static void idle_timeout_fires_after_silence_only(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior beh = {NULL, idler_receive, NULL};
    idler d;
    memset(&d, 0, sizeof(d));
    tr_spawn_opts o = {0};
    o.arg = &d;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    assert_int_equal(tr_send_word(ref, M_ARM, 40), 0);
    assert_true(tu_wait_ge(&d.idles, 1, TU_WAIT_MS));
    /* Messages restart the quiet period (checked by the actor itself). */
    for (int i = 0; i < 10; i++) {
        assert_int_equal(tr_send_word(ref, M_PING, 0), 0);
        tu_sleep_ms(10);
    }
    uint64_t before = tu_load(&d.idles);
    assert_true(tu_wait_ge(&d.idles, before + 2, TU_WAIT_MS)); /* it repeats */
    /* Disable: at most one already queued idle message follows. */
    assert_int_equal(tr_send_word(ref, M_ARM, 0), 0);
    tu_sleep_ms(50);
    uint64_t off = tu_load(&d.idles);
    tu_sleep_ms(200);
    assert_true(tu_load(&d.idles) <= off + 1);
    assert_int_equal(tu_load(&d.violations), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static void idle_timeout_of_a_stopped_actor_goes_away(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior beh = {NULL, idler_receive, NULL};
    idler d;
    memset(&d, 0, sizeof(d));
    tr_spawn_opts o = {0};
    o.arg = &d;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    assert_int_equal(tr_send_word(ref, M_ARM, 10), 0);
    assert_true(tu_wait_ge(&d.idles, 1, TU_WAIT_MS));
    assert_int_equal(tr_actor_stop(ref), 0);
    tr_ref_release(ref);
    /* The idle timer holds no handle once it sees the actor gone, so the
     * runtime closes by itself (no actor, no handle left). */
    int64_t dl = tu_now_ms() + TU_WAIT_MS;
    while (!tr_runtime_is_closed(rt) && tu_now_ms() < dl)
        tu_sleep_ms(5);
    assert_true(tr_runtime_is_closed(rt));
    tr_runtime_free(rt);
}

static int idler_init(tr_ctx *ctx, void *state, void *arg) {
    (void)arg;
    idler *d = *(idler **)state = arg;
    d->last_msg = tu_now_ms();
    tu_store(&d->armed_ms, 30);
    return tr_idle_timeout(ctx, 30); /* from init, on the spawning thread */
}

static int idler_ptr_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    return idler_receive(ctx, *(idler **)state, msg);
}

static void idle_timeout_set_in_init_on_a_foreign_thread(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior beh = {idler_init, idler_ptr_receive, NULL};
    static idler d;
    memset(&d, 0, sizeof(d));
    tr_spawn_opts o = {0};
    o.arg = &d;
    o.state_size = sizeof(idler *);
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    assert_true(tu_wait_ge(&d.idles, 2, TU_WAIT_MS));
    assert_int_equal(tu_load(&d.violations), 0);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

static uint64_t bad_args_rc;

static int bad_args_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_msg *req;
    tr_msg_new(&req, M_ASK, 0);
    int ok = tr_request_timeout(NULL, tr_self(ctx), req, 1, 10) == TR_EINVAL &&
             tr_request_timeout(ctx, NULL, req, 1, 10) == TR_EINVAL &&
             tr_request_timeout(ctx, tr_self(ctx), NULL, 1, 10) == TR_EINVAL &&
             tr_request_timeout(ctx, tr_self(ctx), req, 1, 0) == TR_EINVAL &&
             tr_idle_timeout(NULL, 10) == TR_EINVAL && tr_idle_timeout(ctx, 0) == 0;
    tr_msg_free(req);
    tu_store(&bad_args_rc, ok ? 1 : 2);
    return 0;
}

static void deadline_calls_reject_bad_arguments(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1);
    static const tr_behavior beh = {NULL, bad_args_receive, NULL};
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, NULL, &ref), 0);
    tu_store(&bad_args_rc, 0);
    assert_int_equal(tr_send_word(ref, M_GO, 0), 0);
    assert_true(tu_wait_ge(&bad_args_rc, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&bad_args_rc), 1);
    tr_ref_release(ref);
    tr_runtime_free(rt);
}

/* --- shutdown -------------------------------------------------------------------------- */

#define PENDING_TIMERS 100

static void shutdown_destroys_pending_timer_messages(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    rec r;
    tr_ref *ref = spawn_rec(rt, &r);
    tu_store(&released, 0);
    for (int i = 0; i < PENDING_TIMERS; i++)
        assert_int_equal(
            tr_timer_send_after(ref, 60000 + (uint64_t)i, counted_msg(M_TICK, 0), NULL), 0);
    assert_int_equal(tr_timer_tick_every(ref, 60000, 1000, M_TICK, 0, NULL), 0);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&released), PENDING_TIMERS);
    assert_int_equal(tu_load(&r.n), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_fire_in_deadline_order),
        cmocka_unit_test(timer_message_is_not_delivered_before_its_delay),
        cmocka_unit_test(cancel_before_firing_destroys_message_and_returns_1),
        cmocka_unit_test(cancel_from_the_timers_own_worker),
        cmocka_unit_test(timer_to_stopped_actor_is_dead_lettered),
        cmocka_unit_test(timer_calls_reject_bad_arguments),
        cmocka_unit_test(periodic_ticks_keep_their_period_and_stop_on_cancel),
        cmocka_unit_test(periodic_timer_ends_when_its_target_stops),
        cmocka_unit_test(ask_timeout_fails_then_late_reply_is_dead_lettered),
        cmocka_unit_test(ask_timeout_reports_a_stopped_target_at_once),
        cmocka_unit_test(idle_timeout_fires_after_silence_only),
        cmocka_unit_test(idle_timeout_of_a_stopped_actor_goes_away),
        cmocka_unit_test(idle_timeout_set_in_init_on_a_foreign_thread),
        cmocka_unit_test(deadline_calls_reject_bad_arguments),
        cmocka_unit_test(shutdown_destroys_pending_timer_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
