/* tests/test_peers_akka.c - what Akka's, CAF's and Erlang's actor suites
 * check about watching, linking, stopping, stash and asking, ported to
 * troupe's public API (behaviours not already covered by test_link,
 * test_stash, test_ask, test_sender, test_registry and test_group).
 *
 * The "probe" actor below runs steps: a STEP message carries a function the
 * probe calls inside its own receive (so a test can make it monitor, link,
 * stash or reply with its ctx), and the probe answers the ask with the
 * step's return code. Everything else it receives it writes into its log
 * (DOWN with the monitor id, EXIT with the exit kind, other messages with
 * their word); its terminate writes its exit. The test thread waits on the
 * logs and asserts; the actors only record. */
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

enum { P_STEP = 1, P_WORD, P_CRASH, P_STOP, P_STASH, P_OPEN, P_KEEP, P_ANSWER, P_FWD };

/* Log entries: what << 48 | value. */
enum { EV_MSG = 1, EV_DOWN, EV_EXIT, EV_FAILED, EV_REPLY };
#define EV(what, v) (((uint64_t)(what) << 48) | ((uint64_t)(v)&0xffffffffffffull))

#define NP 4
#define LOGN 1024

static uint64_t plog[NP][LOGN];
static uint64_t plen[NP];
static uint64_t pended[NP], pend_kind[NP];
static uint64_t dead_letters, freed;
static tr_ref *peer[NP]; /* handles the steps act on (set by the test) */
static tr_msg *kept_req; /* a request a probe kept (P_KEEP) */
static uint64_t mon_ids[4];
static int mon_k; /* the next mon_ids slot (reset per test) */

typedef struct probe {
    unsigned idx;
    int locked; /* P_STASH: stash words until P_OPEN */
} probe;

typedef int (*step_fn)(tr_ctx *ctx, probe *p, tr_msg *msg);
typedef struct job {
    step_fn fn;
} job;

static void note(unsigned idx, uint64_t ev) {
    uint64_t i = tu_load(&plen[idx]);
    if (i < LOGN)
        tu_store(&plog[idx][i], ev);
    tu_store(&plen[idx], i + 1); /* last: publishes the entry */
}

static int probe_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ((probe *)state)->idx = (unsigned)(uintptr_t)arg;
    return 0;
}

static int probe_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    probe *p = state;
    tr_exit why;
    switch (msg->type) {
    case P_STEP: {
        const job *j = msg->ptr;
        int rc = j->fn(ctx, p, msg);
        if (tr_msg_wants_reply(msg))
            tr_reply_word(msg, P_STEP, (uint64_t)(int64_t)rc);
        return 0;
    }
    case TR_MSG_DOWN:
        note(p->idx, EV(EV_DOWN, msg->corr));
        return 0;
    case TR_MSG_EXIT:
        tr_exit_of(msg, &why);
        note(p->idx, EV(EV_EXIT, why.kind));
        return 0;
    case TR_MSG_ASK_FAILED:
        note(p->idx, EV(EV_FAILED, (uint64_t) - (int64_t)tr_result_code(msg)));
        return 0;
    case P_CRASH:
        return (int)msg->word;
    case P_FWD:
        msg->type = 60; /* plain for the receiver */
        return tr_forward(ctx, peer[2], msg);
    case P_STOP:
        return tr_stop(ctx);
    case P_STASH:
        p->locked = 1;
        return 0;
    case P_OPEN:
        p->locked = 0;
        return tr_unstash_all(ctx) >= 0 ? 0 : TR_EIO;
    case P_KEEP:
        tu_store((uint64_t *)&kept_req, (uint64_t)(uintptr_t)msg);
        return tr_msg_keep(ctx, msg);
    case P_ANSWER: {
        tr_msg *req = (tr_msg *)(uintptr_t)tu_load((uint64_t *)&kept_req);
        int rc = tr_reply_word(req, P_ANSWER, msg->word);
        tr_msg_free(req);
        return rc;
    }
    default:
        if (tr_msg_is_reply(msg)) {
            note(p->idx, EV(EV_REPLY, msg->corr));
            return 0;
        }
        if (p->locked && tr_stash(ctx, msg) == 0)
            return 0;
        note(p->idx, EV(EV_MSG, msg->word));
        return 0;
    }
}

static void probe_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    probe *p = state;
    tu_store(&pend_kind[p->idx], (uint64_t)why->kind);
    tu_store(&pended[p->idx], 1);
}

static const tr_behavior probe_beh = {probe_init, probe_receive, probe_terminate};

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)msg;
    (void)why;
    tu_add(&dead_letters, 1);
}

static void count_free(void *p) {
    (void)p;
    tu_add(&freed, 1);
}

static tr_runtime *rt;

/* The second run of the tests pins every probe to a thread of its own
 * (TR_PIN_THREAD): watching, linking, stash and asks must not care where
 * an actor runs. Tests on a 1-worker runtime (setup1, which freezes the
 * worker with a gate) keep their probes unpinned. */
static int pin_probes, pin_this_test;

static int setup_n(unsigned workers) {
    memset(plog, 0, sizeof(plog));
    for (unsigned i = 0; i < NP; i++) {
        tu_store(&plen[i], 0);
        tu_store(&pended[i], 0);
        tu_store(&pend_kind[i], 99);
        peer[i] = NULL;
    }
    tu_store(&dead_letters, 0);
    tu_store(&freed, 0);
    kept_req = NULL;
    memset(mon_ids, 0, sizeof(mon_ids));
    mon_k = 0;
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    cfg.dead_letter = on_dead_letter;
    cfg.keep_open = 1;
    rt = tu_runtime_new_cfg(&cfg);
    return rt != NULL ? 0 : -1;
}

static int setup(void **state) {
    (void)state;
    pin_this_test = pin_probes;
    return setup_n(2);
}

static int setup1(void **state) {
    (void)state;
    pin_this_test = 0;
    return setup_n(1);
}

static int pinned(void **state) {
    (void)state;
    pin_probes = 1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    for (unsigned i = 0; i < NP; i++)
        if (peer[i] != NULL)
            tr_ref_release(peer[i]);
    assert_int_equal(tr_runtime_free(rt), 0);
    rt = NULL;
    return 0;
}

static tr_ref *spawn_probe(unsigned idx) {
    tr_spawn_opts o = {.state_size = sizeof(probe),
                       .arg = (void *)(uintptr_t)idx,
                       .pin = pin_this_test ? TR_PIN_THREAD : TR_PIN_NONE};
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &probe_beh, &o, &ref), 0);
    return ref;
}

/* Run fn inside the probe's receive; its return code. */
static int run(tr_ref *ref, step_fn fn) {
    job j = {fn};
    tr_msg *m;
    if (tr_msg_new(&m, P_STEP, 0) != 0)
        return TR_ENOMEM;
    m->ptr = &j;
    tr_future *f;
    int rc = tr_ask_msg(ref, m, &f);
    if (rc != 0) {
        tr_msg_free(m);
        return rc;
    }
    tr_msg *reply = NULL;
    rc = tr_future_wait(f, TU_WAIT_MS, &reply);
    tr_future_release(f);
    if (rc != 0)
        return rc;
    rc = (int)(int64_t)reply->word;
    tr_msg_free(reply);
    return rc;
}

static uint64_t ev(unsigned idx, uint64_t i) {
    return tu_load(&plog[idx][i]);
}

static int wait_log(unsigned idx, uint64_t n) {
    return tu_wait_ge(&plen[idx], n, TU_WAIT_MS);
}

static int wait_end(unsigned idx) {
    return tu_wait_ge(&pended[idx], 1, TU_WAIT_MS);
}

static int name_is_free(void *arg) {
    (void)arg;
    tr_ref *h = NULL;
    int rc = tr_whereis(rt, "svc", &h);
    if (h != NULL)
        tr_ref_release(h);
    return rc == TR_ENOTFOUND;
}

static int wait_dead_name(void) {
    return tu_wait_until(name_is_free, NULL, TU_WAIT_MS);
}

static int group_has_one(void *arg) {
    (void)arg;
    size_t n = 0;
    return tr_group_members(rt, "g", NULL, 0, &n) == 1;
}

static int is_dead_ref0(void *arg) {
    (void)arg;
    return !tr_ref_is_alive(peer[0]);
}

static int is_dead(void *arg) {
    return !tr_ref_is_alive(arg);
}

static int req_was_kept(void *arg) {
    (void)arg;
    return tu_load((uint64_t *)&kept_req) != 0;
}

/* --- steps ------------------------------------------------------------------ */

static int monitor_peer1(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    return tr_monitor(ctx, peer[1], &mon_ids[mon_k++ & 3]);
}
static int link_peer1(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    return tr_link(ctx, peer[1]);
}
static int unlink_peer1(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    return tr_unlink(ctx, peer[1]);
}
static int trap_on(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    return tr_trap_exit(ctx, 1);
}
/* Send peer[0] 100 numbered words, then stop. */
static int send_100_then_stop(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    for (uint64_t i = 0; i < 100; i++)
        if (tr_send_word(peer[0], 50, i) != 0)
            return TR_EIO;
    return tr_stop(ctx);
}
/* Send peer[0] 100 numbered words, then crash. */
static int send_100_then_crash(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)ctx;
    (void)p;
    (void)m;
    for (uint64_t i = 0; i < 100; i++)
        if (tr_send_word(peer[0], 50, i) != 0)
            return TR_EIO;
    tr_panic(ctx, TR_EIO, "after 100");
}

/* --- watching and linking ---------------------------------------------------- */

/* Erlang: two monitors are two DOWNs, each with its own reference. */
static void monitor_twice_gives_two_downs_with_their_ids(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    memset(mon_ids, 0, sizeof(mon_ids));
    assert_int_equal(run(peer[0], monitor_peer1), 0);
    assert_int_equal(run(peer[0], monitor_peer1), 0);
    assert_int_not_equal(mon_ids[0], mon_ids[1]);
    assert_int_equal(tr_actor_stop(peer[1]), 0);
    assert_true(wait_log(0, 2));
    tu_sleep_ms(20); /* a third DOWN would be a bug */
    assert_int_equal(tu_load(&plen[0]), 2);
    uint64_t a = ev(0, 0), b = ev(0, 1);
    assert_true((a == EV(EV_DOWN, mon_ids[0]) && b == EV(EV_DOWN, mon_ids[1])) ||
                (a == EV(EV_DOWN, mon_ids[1]) && b == EV(EV_DOWN, mon_ids[0])));
}

/* Erlang: link/1 is idempotent (a link is there or not), and unlink/1
 * removes it: after link, link, unlink a crash does not spread. */
static void link_twice_then_unlink_once_leaves_no_link(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(run(peer[0], link_peer1), 0);
    assert_int_equal(run(peer[0], link_peer1), 0);
    assert_int_equal(run(peer[0], unlink_peer1), 0);
    assert_int_equal(tr_send_word(peer[1], P_CRASH, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(wait_end(1));
    tu_sleep_ms(50);
    assert_true(tr_ref_is_alive(peer[0]));
    assert_int_equal(tu_load(&pended[0]), 0);
}

/* ... and a trapping actor linked twice hears of the crash once. */
static void link_twice_gives_one_exit_when_trapping(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(run(peer[0], trap_on), 0);
    assert_int_equal(run(peer[0], link_peer1), 0);
    assert_int_equal(run(peer[0], link_peer1), 0);
    assert_int_equal(tr_send_word(peer[1], P_CRASH, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(wait_log(0, 1));
    assert_int_equal(ev(0, 0), EV(EV_EXIT, TR_EXIT_ERROR));
    /* A message after the crash: once it is logged, every EXIT is too. */
    assert_true(wait_end(1));
    assert_int_equal(tr_send_word(peer[0], 60, 7), 0);
    assert_true(wait_log(0, 2));
    assert_int_equal(ev(0, 1), EV(EV_MSG, 7));
    assert_int_equal(tu_load(&plen[0]), 2);
}

/* Akka: Terminated comes after every message the watched actor sent. */
static void messages_sent_before_a_stop_arrive_before_its_down(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(run(peer[0], monitor_peer1), 0);
    job j = {send_100_then_stop};
    assert_int_equal(tr_send_ptr(peer[1], P_STEP, &j, NULL), 0);
    assert_true(wait_log(0, 101));
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(ev(0, i), EV(EV_MSG, i));
    assert_int_equal(ev(0, 100) >> 48, EV_DOWN);
}

/* Erlang: the EXIT of a linked process comes after its messages. */
static void messages_sent_before_a_crash_arrive_before_the_trapped_exit(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(run(peer[0], trap_on), 0);
    assert_int_equal(run(peer[0], link_peer1), 0);
    job j = {send_100_then_crash};
    assert_int_equal(tr_send_ptr(peer[1], P_STEP, &j, NULL), 0);
    assert_true(wait_log(0, 101));
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(ev(0, i), EV(EV_MSG, i));
    assert_int_equal(ev(0, 100), EV(EV_EXIT, TR_EXIT_ERROR));
}

/* Erlang: exit(Pid, shutdown) is abnormal: it spreads over links with its
 * reason, or arrives as an EXIT message to a trapping process, which lives. */
static void a_shutdown_spreads_over_a_link_with_its_reason(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    peer[2] = spawn_probe(2);
    assert_int_equal(run(peer[0], link_peer1), 0);
    assert_int_equal(run(peer[2], trap_on), 0);
    assert_int_equal(run(peer[2], link_peer1), 0);
    assert_int_equal(tr_actor_stop(peer[1]), 0);
    assert_true(wait_end(0));
    assert_int_equal(tu_load(&pend_kind[0]), TR_EXIT_SHUTDOWN);
    assert_true(wait_log(2, 1));
    assert_int_equal(ev(2, 0), EV(EV_EXIT, TR_EXIT_SHUTDOWN));
    assert_true(tr_ref_is_alive(peer[2]));
    assert_int_equal(run(peer[2], trap_on), 0); /* and still answers */
}

static uint64_t seen_alive, seen_send_rc;

static int down_checker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == TR_MSG_DOWN) {
        tr_ref *origin = tr_msg_origin(msg);
        tu_store(&seen_alive, tr_ref_is_alive(origin) ? 1 : 0);
        tu_store(&seen_send_rc, (uint64_t)(int64_t)tr_send_word(origin, 60, 0));
        tu_store(&pended[3], 1);
        return 0;
    }
    if (msg->type == P_STEP) {
        uint64_t id;
        return tr_monitor(ctx, peer[1], &id);
    }
    return 0;
}

/* Akka: when Terminated arrives the actor is dead: a send to it is a
 * dead letter (here: TR_EDEAD, and the caller keeps the message). */
static void when_down_arrives_the_target_is_dead_and_refuses_sends(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, down_checker_receive, NULL};
    tu_store(&seen_alive, 9);
    peer[1] = spawn_probe(1);
    assert_int_equal(tr_spawn(rt, &beh, NULL, &peer[0]), 0);
    assert_int_equal(tr_send_word(peer[0], P_STEP, 0), 0);
    tu_sleep_ms(10);
    assert_int_equal(tr_send_word(peer[1], P_CRASH, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(tu_wait_ge(&pended[3], 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&seen_alive), 0);
    assert_int_equal((int64_t)tu_load(&seen_send_rc), TR_EDEAD);
}

/* --- stopping ----------------------------------------------------------------- */

/* Akka's PoisonPill: a stop message is handled in its turn, after what was
 * queued before it; what comes after it is dead-lettered, destructors run. */
static void a_stop_message_ends_after_the_queued_ones_and_dead_letters_the_rest(void **state) {
    (void)state;
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0); /* 1 worker: nothing runs */
    peer[0] = spawn_probe(0);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(tr_send_ptr(peer[0], 60, (void *)(uintptr_t)(i + 1), count_free), 0);
    assert_int_equal(tr_send_word(peer[0], P_STOP, 0), 0);
    for (uint64_t i = 0; i < 3; i++)
        assert_int_equal(tr_send_ptr(peer[0], 60, (void *)(uintptr_t)(i + 1), count_free), 0);
    tu_gate_open(&g);
    assert_true(wait_end(0));
    assert_true(tu_wait_ge(&freed, 6, TU_WAIT_MS));
    assert_int_equal(tu_load(&plen[0]), 3);
    assert_int_equal(tu_load(&pend_kind[0]), TR_EXIT_NORMAL);
    assert_true(tu_wait_ge(&dead_letters, 3, TU_WAIT_MS));
    assert_int_equal(tu_load(&dead_letters), 3);
}

static uint64_t self_send_rc;

static int self_sender_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    return tr_stop(ctx);
}
static void self_sender_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    (void)why;
    tu_store(&self_send_rc, (uint64_t)(int64_t)tr_send_word(tr_self(ctx), 60, 0));
    tu_store(&pended[0], 1);
}

/* The mailbox is closed when terminate runs (troupe/actor.h): a message to
 * itself there is refused, not lost after being accepted. */
static void a_send_to_itself_in_terminate_is_refused(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, self_sender_receive, self_sender_terminate};
    assert_int_equal(tr_spawn(rt, &beh, NULL, &peer[0]), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 0), 0);
    assert_true(wait_end(0));
    assert_int_equal((int64_t)tu_load(&self_send_rc), TR_EDEAD);
    assert_int_equal(tu_load(&dead_letters), 0);
}

/* --- stash -------------------------------------------------------------------- */

/* Akka: unstashAll after a become: the stashed messages first, in their
 * order, then what came after. */
static void unstashed_messages_come_first_and_in_order_across_become(void **state) {
    (void)state;
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    peer[0] = spawn_probe(0);
    assert_int_equal(tr_send_word(peer[0], P_STASH, 0), 0);
    for (uint64_t i = 0; i < 5; i++)
        assert_int_equal(tr_send_word(peer[0], 60, i), 0);
    assert_int_equal(tr_send_word(peer[0], P_OPEN, 0), 0);
    for (uint64_t i = 5; i < 10; i++)
        assert_int_equal(tr_send_word(peer[0], 60, i), 0);
    tu_gate_open(&g);
    assert_true(wait_log(0, 10));
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(ev(0, i), EV(EV_MSG, i));
}

typedef struct stasher {
    int phase;
} stasher;

static uint64_t stasher_log[16], stasher_n;

static int stasher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    stasher *s = state;
    if (msg->type == 2) { /* two unstashes: each prepends, as Akka's unstash() */
        tr_unstash(ctx);
        tr_unstash(ctx);
        s->phase = 1;
        return 0;
    }
    if (s->phase == 0)
        return tr_stash(ctx, msg);
    uint64_t i = tu_load(&stasher_n);
    if (i < 16)
        tu_store(&stasher_log[i], msg->word);
    tu_store(&stasher_n, i + 1);
    return 0;
}

/* Akka: unstash() prepends the oldest stashed message to the mailbox, so
 * two unstashes in one receive deliver the second one first. troupe's
 * tr_unstash does the same (each goes ahead of earlier unstashed ones). */
static void each_unstash_goes_ahead_of_earlier_unstashed_ones(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, stasher_receive, NULL};
    tu_store(&stasher_n, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_spawn_opts o = {.state_size = sizeof(stasher)};
    assert_int_equal(tr_spawn(rt, &beh, &o, &peer[0]), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 10), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 11), 0);
    assert_int_equal(tr_send_word(peer[0], 2, 0), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 12), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&stasher_n, 3, TU_WAIT_MS));
    assert_int_equal(tu_load(&stasher_log[0]), 11);
    assert_int_equal(tu_load(&stasher_log[1]), 10);
    assert_int_equal(tu_load(&stasher_log[2]), 12);
}

/* --- asking ------------------------------------------------------------------- */

static uint64_t self_reply_word, self_reply_corr, self_reply_is_reply;

static int self_asker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == 1) /* start: ask ourselves */
        return tr_request_word(ctx, tr_self(ctx), 2, 21, 77);
    if (tr_msg_is_reply(msg)) {
        tu_store(&self_reply_corr, msg->corr);
        tu_store(&self_reply_is_reply, 1);
        tu_store(&self_reply_word, msg->word);
        tu_store(&pended[0], 1);
        return 0;
    }
    if (msg->type == 2) /* the request: answer it */
        return tr_reply_word(msg, 3, msg->word * 2);
    return 0;
}

/* gen_server calling itself deadlocks (a timeout); troupe's non-blocking
 * request to itself is answered: the request, then the reply, arrive in
 * its own mailbox. */
static void a_request_to_itself_gets_its_reply(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, self_asker_receive, NULL};
    assert_int_equal(tr_spawn(rt, &beh, NULL, &peer[0]), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 0), 0);
    assert_true(wait_end(0));
    assert_int_equal(tu_load(&self_reply_word), 42);
    assert_int_equal(tu_load(&self_reply_corr), 77);
}

/* gen_server's {noreply, ...} then gen_server:reply/2 from a later message. */
static void a_kept_request_answered_from_a_later_message_reaches_the_caller(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    tr_future *f;
    assert_int_equal(tr_ask_word(peer[0], P_KEEP, 0, &f), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, 30, &reply), TR_ETIMEDOUT);
    assert_int_equal(tr_send_word(peer[0], P_ANSWER, 99), 0);
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 99);
    assert_true(tr_msg_is_reply(reply));
    tr_msg_free(reply);
    tr_future_release(f);
}

/* ... and from another thread (the actor kept it and handed it over). */
static void a_kept_request_answered_from_a_foreign_thread_reaches_the_caller(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    tr_future *f;
    assert_int_equal(tr_ask_word(peer[0], P_KEEP, 0, &f), 0);
    assert_true(tu_wait_until(req_was_kept, NULL, TU_WAIT_MS));
    tr_msg *req = (tr_msg *)(uintptr_t)tu_load((uint64_t *)&kept_req);
    assert_true(tr_msg_wants_reply(req));
    assert_int_equal(tr_reply_word(req, 5, 123), 0);
    assert_int_equal(tr_reply_word(req, 5, 124), TR_ESTATE);
    tr_msg_free(req);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 123);
    tr_msg_free(reply);
    tr_future_release(f);
}

/* Akka: an ask that is never answered times out; the answer that comes
 * after the asker gave up goes to the dead letters, destructors run. */
static void a_reply_after_the_asker_gave_up_is_dead_lettered(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    tr_future *f;
    assert_int_equal(tr_ask_word(peer[0], P_KEEP, 0, &f), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, 20, &reply), TR_ETIMEDOUT);
    assert_null(reply);
    assert_int_equal(tr_future_release(f), 0);
    uint64_t before = tu_load(&dead_letters);
    assert_int_equal(tr_send_word(peer[0], P_ANSWER, 1), 0);
    assert_true(tu_wait_ge(&dead_letters, before + 1, TU_WAIT_MS));
    tr_runtime_stats st;
    assert_int_equal(tr_runtime_stats_get(rt, &st), 0);
    assert_true(st.dead_letters >= 1);
}

/* --- names and groups ------------------------------------------------------- */

/* Erlang: register/2 of a name held, by anyone, fails; an actor cannot have
 * two names; after unregister the name is free and the actor may take
 * another. */
static void names_register_twice_and_again_after_unregister(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(tr_register(peer[0], "svc"), 0);
    assert_int_equal(tr_register(peer[0], "svc"), TR_EEXIST);
    assert_int_equal(tr_register(peer[1], "svc"), TR_EEXIST);
    assert_int_equal(tr_register(peer[0], "other"), TR_EALREADY);
    assert_int_equal(tr_unregister(rt, "svc"), 0);
    assert_int_equal(tr_unregister(rt, "svc"), TR_ENOTFOUND);
    assert_int_equal(tr_register(peer[0], "other"), 0);
    assert_int_equal(tr_register(peer[1], "svc"), 0);
    tr_ref *h = NULL;
    assert_int_equal(tr_whereis(rt, "svc", &h), 0);
    assert_ptr_equal(h, peer[1]);
    tr_ref_release(h);
}

/* A name freed by its actor's death is taken by a new actor, and sends by
 * name reach the new one, never the dead one. */
static void a_dead_actors_name_is_reused_and_sends_reach_the_new_owner(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    assert_int_equal(tr_register(peer[0], "svc"), 0);
    assert_int_equal(tr_send_word(peer[0], P_CRASH, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(wait_end(0));
    assert_true(wait_dead_name());
    peer[1] = spawn_probe(1);
    assert_int_equal(tr_register(peer[1], "svc"), 0);
    assert_int_equal(tr_send_word_named(rt, "svc", 60, 5), 0);
    assert_true(wait_log(1, 1));
    assert_int_equal(ev(1, 0), EV(EV_MSG, 5));
    assert_int_equal(tu_load(&plen[0]), 0);
}

/* pg: joining twice is refused, leaving twice too; an ended member is gone
 * from the members and a broadcast reaches only the live ones. */
static void groups_join_twice_leave_twice_and_dead_members(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(tr_group_join(peer[0], "g"), 0);
    assert_int_equal(tr_group_join(peer[0], "g"), TR_EEXIST);
    assert_int_equal(tr_group_join(peer[1], "g"), 0);
    size_t n = 0;
    assert_int_equal(tr_group_members(rt, "g", NULL, 0, &n), 2);
    assert_int_equal(tr_group_leave(peer[1], "g"), 0);
    assert_int_equal(tr_group_leave(peer[1], "g"), TR_ENOTFOUND);
    assert_int_equal(tr_group_join(peer[1], "g"), 0);
    assert_int_equal(tr_actor_kill(peer[1]), 0);
    assert_true(wait_end(1));
    assert_true(tu_wait_until(group_has_one, NULL, TU_WAIT_MS));
    assert_int_equal(tr_group_broadcast_word(rt, "g", 60, 8), 1);
    assert_true(wait_log(0, 1));
    assert_int_equal(ev(0, 0), EV(EV_MSG, 8));
}

/* --- more: deadlines, init, causality, groups ----------------------------- */

static int request_keep_with_deadline(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    tr_msg *req;
    int rc = tr_msg_new(&req, P_KEEP, 0);
    if (rc != 0)
        return rc;
    rc = tr_request_timeout(ctx, peer[1], req, 5, 20);
    if (rc != 0)
        tr_msg_free(req);
    return rc;
}

/* Akka's ask timeout from an actor: exactly one outcome reaches the asker,
 * the timeout; the reply that comes later is dead-lettered. */
static void a_request_past_its_deadline_gets_the_timeout_only(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(run(peer[0], request_keep_with_deadline), 0);
    assert_true(wait_log(0, 1));
    assert_int_equal(ev(0, 0), EV(EV_FAILED, -TR_ETIMEDOUT));
    assert_true(tu_wait_until(req_was_kept, NULL, TU_WAIT_MS));
    uint64_t before = tu_load(&dead_letters);
    assert_int_equal(tr_send_word(peer[1], P_ANSWER, 3), 0);
    assert_true(tu_wait_ge(&dead_letters, before + 1, TU_WAIT_MS));
    assert_int_equal(run(peer[0], trap_on), 0); /* anything queued is in */
    assert_int_equal(tu_load(&plen[0]), 1);
}

static uint64_t init_rc;

static int watch_in_init(tr_ctx *ctx, void *state, void *arg) {
    probe_init(ctx, state, arg);
    uint64_t id;
    tu_store(&init_rc, (uint64_t)(int64_t)tr_monitor(ctx, peer[1], &id));
    return 0;
}

static int link_in_init(tr_ctx *ctx, void *state, void *arg) {
    probe_init(ctx, state, arg);
    tu_store(&init_rc, (uint64_t)(int64_t)tr_link(ctx, peer[1]));
    return 0;
}

/* Erlang: monitoring a dead process delivers 'DOWN' (noproc) at once, also
 * from init; it is the first message the new actor receives. */
static void a_monitor_from_init_on_a_dead_actor_gives_down_first(void **state) {
    (void)state;
    static const tr_behavior beh = {watch_in_init, probe_receive, probe_terminate};
    tu_store(&init_rc, 99);
    peer[1] = spawn_probe(1);
    peer[2] = spawn_probe(2);
    assert_int_equal(run(peer[2], monitor_peer1), 0);
    assert_int_equal(tr_actor_stop(peer[1]), 0);
    assert_true(wait_log(2, 1)); /* its end is complete: DOWNs are out */
    tr_spawn_opts o = {.state_size = sizeof(probe), .arg = (void *)(uintptr_t)0};
    assert_int_equal(tr_spawn(rt, &beh, &o, &peer[0]), 0);
    assert_int_equal(tu_load(&init_rc), 0);
    assert_int_equal(tr_send_word(peer[0], 60, 1), 0);
    assert_true(wait_log(0, 2));
    assert_int_equal(ev(0, 0) >> 48, EV_DOWN);
    assert_int_equal(ev(0, 1), EV(EV_MSG, 1));
}

/* A link made in init holds like any other: the linked actor's crash ends
 * the new one with the same reason. */
static void a_link_from_init_spreads_a_later_crash(void **state) {
    (void)state;
    static const tr_behavior beh = {link_in_init, probe_receive, probe_terminate};
    tu_store(&init_rc, 99);
    peer[1] = spawn_probe(1);
    tr_spawn_opts o = {.state_size = sizeof(probe), .arg = (void *)(uintptr_t)0};
    assert_int_equal(tr_spawn(rt, &beh, &o, &peer[0]), 0);
    assert_int_equal(tu_load(&init_rc), 0);
    assert_int_equal(tr_send_word(peer[1], P_CRASH, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(wait_end(0));
    assert_int_equal(tu_load(&pend_kind[0]), TR_EXIT_ERROR);
}

#define CAUSAL_N 300

static int send_direct_and_via_peer1(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)ctx;
    (void)p;
    (void)m;
    for (uint64_t i = 0; i < CAUSAL_N; i++) {
        if (tr_send_word(peer[2], 60, 2 * i) != 0)
            return TR_EIO;
        if (tr_send_word(peer[1], P_FWD, 2 * i + 1) != 0)
            return TR_EIO;
    }
    return 0;
}

/* Pony's causal messaging (and what one mailbox per actor gives without
 * lanes): A sends m1 to C, then m2 to B, which forwards it to C: C gets m1
 * before m2. */
static void a_message_forwarded_after_another_arrives_after_it(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    peer[2] = spawn_probe(2);
    assert_int_equal(run(peer[0], send_direct_and_via_peer1), 0);
    assert_true(wait_log(2, 2 * CAUSAL_N));
    static int64_t pos[2 * CAUSAL_N];
    for (uint64_t i = 0; i < 2 * CAUSAL_N; i++)
        pos[i] = -1;
    for (uint64_t i = 0; i < 2 * CAUSAL_N; i++) {
        uint64_t w = ev(2, i) & 0xffffffffffffull;
        assert_true(w < 2 * CAUSAL_N);
        pos[w] = (int64_t)i;
    }
    for (uint64_t i = 0; i < CAUSAL_N; i++)
        assert_true(pos[2 * i] >= 0 && pos[2 * i] < pos[2 * i + 1]);
}

static int broadcast_both_ways(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    int all = tr_group_broadcast_word(tr_ctx_runtime(ctx), "g", 60, 1);
    int others = tr_group_broadcast_others(ctx, "g", 60, NULL, 0);
    return all * 10 + others;
}

/* pg: a member that broadcasts to its own group gets the message too;
 * broadcast_others leaves it out. */
static void a_broadcast_from_a_member_reaches_itself_unless_others(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    assert_int_equal(tr_group_join(peer[0], "g"), 0);
    assert_int_equal(tr_group_join(peer[1], "g"), 0);
    assert_int_equal(run(peer[0], broadcast_both_ways), 21);
    assert_true(wait_log(0, 1));
    assert_true(wait_log(1, 2));
    assert_int_equal(ev(0, 0), EV(EV_MSG, 1));
    assert_int_equal(run(peer[0], trap_on), 0);
    assert_int_equal(tu_load(&plen[0]), 1);
}

static uint64_t init_whereis_self, init_register_rc;

static int name_in_init(tr_ctx *ctx, void *state, void *arg) {
    probe_init(ctx, state, arg);
    tr_ref *h = NULL;
    if (tr_whereis(tr_ctx_runtime(ctx), "me", &h) == 0) {
        tu_store(&init_whereis_self, h == tr_self(ctx));
        tr_ref_release(h);
    }
    tu_store(&init_register_rc, (uint64_t)(int64_t)tr_register(tr_self(ctx), "other"));
    return 0;
}

/* A name given at spawn is there in init (the actor finds itself), and it
 * is its one name: another is refused. */
static void a_name_given_at_spawn_is_there_in_init_and_is_the_only_one(void **state) {
    (void)state;
    static const tr_behavior beh = {name_in_init, probe_receive, probe_terminate};
    tu_store(&init_whereis_self, 0);
    tu_store(&init_register_rc, 99);
    tr_spawn_opts o = {
        .state_size = sizeof(probe), .arg = (void *)(uintptr_t)0, .register_as = "me"};
    assert_int_equal(tr_spawn(rt, &beh, &o, &peer[0]), 0);
    assert_int_equal(tu_load(&init_whereis_self), 1);
    assert_int_equal((int64_t)tu_load(&init_register_rc), TR_EALREADY);
    tr_ref *h = NULL;
    assert_int_equal(tr_whereis(rt, "other", &h), TR_ENOTFOUND);
}

/* --- stash order, scripted ---------------------------------------------------
 * The scripted actor logs each message's id as it receives it, then applies
 * script[id][n] (n: how many times it received that id before): bits
 * O_UNSTASH (tr_unstash), O_STASH (tr_stash of this message), O_ALL
 * (tr_unstash_all), in that order. */
enum { O_UNSTASH = 1, O_STASH = 2, O_ALL = 4 };
#define SIDS 8
static uint8_t script[SIDS][4];
static uint64_t slog[32], slen;

typedef struct scripted {
    uint8_t seen[SIDS];
} scripted;

static int scripted_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    scripted *s = state;
    uint64_t id = msg->word;
    if (id >= SIDS)
        return TR_EINVAL;
    uint64_t i = tu_load(&slen);
    if (i < 32)
        tu_store(&slog[i], id);
    tu_store(&slen, i + 1);
    uint8_t ops = script[id][s->seen[id] < 4 ? s->seen[id] : 3];
    s->seen[id]++;
    if ((ops & O_UNSTASH) && tr_unstash(ctx) != 1)
        return TR_EIO;
    if ((ops & O_STASH) && tr_stash(ctx, msg) != 0)
        return TR_EIO;
    if ((ops & O_ALL) && tr_unstash_all(ctx) < 0)
        return TR_EIO;
    return 0;
}

static void run_script(const uint64_t *ids, size_t n, const uint64_t *want, size_t nwant) {
    static const tr_behavior beh = {NULL, scripted_receive, NULL};
    tu_store(&slen, 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(rt, &g), 0);
    tr_spawn_opts o = {.state_size = sizeof(scripted)};
    assert_int_equal(tr_spawn(rt, &beh, &o, &peer[0]), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tr_send_word(peer[0], 60, ids[i]), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&slen, nwant, TU_WAIT_MS));
    for (size_t i = 0; i < nwant; i++) {
        if (tu_load(&slog[i]) != want[i])
            fail_msg("receipt %zu: got id %llu, want %llu", i,
                     (unsigned long long)tu_load(&slog[i]), (unsigned long long)want[i]);
    }
    assert_true(tr_ref_is_alive(peer[0]));
    assert_int_equal(tu_load(&slen), nwant);
}

/* docs/behaviours.md: stashing again a message that came back, while
 * others are still stashed, puts it behind them. */
static void a_restashed_message_goes_behind_those_still_stashed(void **state) {
    (void)state;
    memset(script, 0, sizeof(script));
    script[1][0] = O_STASH;
    script[2][0] = O_STASH;
    script[3][0] = O_STASH;
    script[4][0] = O_UNSTASH; /* 1 comes back */
    script[1][1] = O_STASH;   /* ... and goes behind 2 and 3 */
    script[5][0] = O_ALL;
    const uint64_t ids[] = {1, 2, 3, 4, 5};
    const uint64_t want[] = {1, 2, 3, 4, 1, 5, 2, 3, 1};
    run_script(ids, 5, want, 9);
}

/* tr_unstash_all goes ahead of what an earlier unstash put back and was
 * not received yet; a message may stash itself after an unstash in the
 * same receive. */
static void unstash_all_goes_ahead_of_an_earlier_unstash(void **state) {
    (void)state;
    memset(script, 0, sizeof(script));
    script[1][0] = O_STASH;
    script[2][0] = O_STASH;
    script[3][0] = O_UNSTASH | O_STASH | O_ALL; /* front: 1; stash 2,3; all */
    const uint64_t ids[] = {1, 2, 3, 4};
    const uint64_t want[] = {1, 2, 3, 2, 3, 1, 4};
    run_script(ids, 4, want, 7);
}

/* --- links made from both ends at once ------------------------------------ */
#define PAIRS 200
enum { PR_OTHER = 1, PR_LINK, PR_CRASH, PR_PING };
static uint64_t pr_linked, pr_exits, pr_downs, pr_pings, pr_link_fail;

typedef struct pairer {
    tr_ref *other; /* owned */
} pairer;

static int pairer_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    pairer *p = state;
    uint64_t id;
    switch (msg->type) {
    case PR_OTHER:
        p->other = tr_msg_take_ptr(msg);
        if (msg->word) {
            tr_trap_exit(ctx, 1);
            if (tr_monitor(ctx, p->other, &id) != 0)
                tu_add(&pr_link_fail, 1);
        }
        return 0;
    case PR_LINK:
        if (tr_link(ctx, p->other) != 0)
            tu_add(&pr_link_fail, 1);
        tu_add(&pr_linked, 1);
        return 0;
    case PR_CRASH:
        return TR_EIO;
    case PR_PING:
        tu_add(&pr_pings, 1);
        return 0;
    case TR_MSG_EXIT:
        tu_add(&pr_exits, 1);
        return 0;
    case TR_MSG_DOWN:
        tu_add(&pr_downs, 1);
        return 0;
    default:
        return 0;
    }
}

static void pairer_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    pairer *p = state;
    if (p->other != NULL)
        tr_ref_release(p->other);
}

static void release_fn(void *r) {
    tr_ref_release(r);
}

/* Two actors linking to each other at the same moment are linked once: the
 * trapping one hears of the other's crash exactly once. */
static void actors_linking_each_other_at_once_are_linked_once(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, pairer_receive, pairer_terminate};
    static tr_ref *a[PAIRS], *b[PAIRS];
    tu_store(&pr_linked, 0);
    tu_store(&pr_exits, 0);
    tu_store(&pr_downs, 0);
    tu_store(&pr_pings, 0);
    tu_store(&pr_link_fail, 0);
    tr_spawn_opts o = {.state_size = sizeof(pairer)};
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(tr_spawn(rt, &beh, &o, &a[i]), 0);
        assert_int_equal(tr_spawn(rt, &beh, &o, &b[i]), 0);
        tr_ref_retain(b[i]);
        tr_msg *m;
        assert_int_equal(tr_msg_new(&m, PR_OTHER, 0), 0);
        m->ptr = b[i];
        m->ptr_free = release_fn;
        m->word = 1; /* a traps and monitors b */
        assert_int_equal(tr_send_msg(a[i], m), 0);
        tr_ref_retain(a[i]);
        assert_int_equal(tr_send_ptr(b[i], PR_OTHER, a[i], release_fn), 0);
    }
    for (int i = 0; i < PAIRS; i++) {
        assert_int_equal(tr_send_word(a[i], PR_LINK, 0), 0);
        assert_int_equal(tr_send_word(b[i], PR_LINK, 0), 0);
    }
    assert_true(tu_wait_ge(&pr_linked, 2 * PAIRS, TU_WAIT_MS));
    for (int i = 0; i < PAIRS; i++)
        assert_int_equal(tr_send_word(b[i], PR_CRASH, 0), 0);
    assert_true(tu_wait_ge(&pr_downs, PAIRS, TU_WAIT_MS));
    assert_true(tu_wait_ge(&pr_exits, PAIRS, TU_WAIT_MS));
    tu_sleep_ms(20); /* room for a second EXIT, which would be a bug */
    for (int i = 0; i < PAIRS; i++)
        assert_int_equal(tr_send_word(a[i], PR_PING, 0), 0);
    assert_true(tu_wait_ge(&pr_pings, PAIRS, TU_WAIT_MS));
    assert_int_equal(tu_load(&pr_exits), PAIRS);
    assert_int_equal(tu_load(&pr_link_fail), 0);
    for (int i = 0; i < PAIRS; i++) {
        assert_true(tr_ref_is_alive(a[i]));
        tr_ref_release(a[i]);
        tr_ref_release(b[i]);
    }
}

/* --- demonitor racing the DOWN ------------------------------------------------ */

static uint64_t late_demon_rc;

/* Inside the watcher: wait until the target's DOWN is in our mailbox, then
 * demonitor. */
static int demonitor_after_down_queued(tr_ctx *ctx, probe *p, tr_msg *m) {
    (void)p;
    (void)m;
    int64_t deadline = tu_now_ms() + TU_WAIT_MS;
    while (tr_ref_mailbox_len(tr_self(ctx)) == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(1);
    tu_store(&late_demon_rc, (uint64_t)(int64_t)tr_demonitor(ctx, peer[1], mon_ids[0]));
    return 0;
}

/* Erlang's demonitor/1 without flush: a DOWN already sent stays in the
 * queue. troupe says so with TR_ENOTFOUND (the monitor fired), and the
 * DOWN is delivered, once. */
static void demonitor_after_the_down_was_sent_says_so_and_the_down_comes(void **state) {
    (void)state;
    if (tu_mode_current() && !pin_this_test)
        skip(); /* the watcher waits in a handler for the target's end: two threads */
    peer[0] = spawn_probe(0);
    peer[1] = spawn_probe(1);
    memset(mon_ids, 0, sizeof(mon_ids));
    assert_int_equal(run(peer[0], monitor_peer1), 0);
    job j = {demonitor_after_down_queued};
    assert_int_equal(tr_send_ptr(peer[0], P_STEP, &j, NULL), 0);
    assert_int_equal(tr_actor_stop(peer[1]), 0);
    assert_true(wait_log(0, 1));
    assert_int_equal((int64_t)tu_load(&late_demon_rc), TR_ENOTFOUND);
    assert_int_equal(ev(0, 0), EV(EV_DOWN, mon_ids[0]));
    assert_int_equal(run(peer[0], trap_on), 0);
    assert_int_equal(tu_load(&plen[0]), 1);
}

/* --- senders and unanswered asks ---------------------------------------------- */

static uint64_t fs_sender_rc, fs_id, fs_reply_rc, fs_seen;

static int foreign_sender_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_ref *s = NULL;
    tu_store(&fs_sender_rc, (uint64_t)(int64_t)tr_sender(ctx, &s));
    tu_store(&fs_id, tr_msg_sender_id(msg) + (s != NULL ? 1000 : 0));
    tu_store(&fs_reply_rc, (uint64_t)(int64_t)tr_reply_word(msg, 2, 0));
    tu_store(&fs_seen, 1);
    return 0;
}

/* Akka: a message sent from outside any actor has no sender (deadLetters):
 * asking for it says so, and answering it is refused. */
static void a_message_from_a_foreign_thread_has_no_sender(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, foreign_sender_receive, NULL};
    tu_store(&fs_seen, 0);
    assert_int_equal(tr_spawn(rt, &beh, NULL, &peer[0]), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 0), 0);
    assert_true(tu_wait_ge(&fs_seen, 1, TU_WAIT_MS));
    assert_int_equal((int64_t)tu_load(&fs_sender_rc), TR_ENOTFOUND);
    assert_int_equal(tu_load(&fs_id), 0);
    assert_int_equal((int64_t)tu_load(&fs_reply_rc), TR_EINVAL);
}

/* Akka's ask of an actor that ignores the question times out; troupe's
 * fails with TR_ENOREPLY as soon as the handler returned without answering
 * or keeping it (no timeout needed). */
static void an_ask_the_actor_ignores_fails_with_enoreply_at_once(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    tr_future *f;
    assert_int_equal(tr_ask_word(peer[0], 60, 1, &f), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), TR_ENOREPLY);
    assert_null(reply);
    tr_future_release(f);
    assert_true(wait_log(0, 1));
}

/* --- notices in the stash ----------------------------------------------------- */

static uint64_t sd_downs, sd_kind, sd_origin_ok, sd_twice_rc;

typedef struct down_stasher {
    int stashed;
} down_stasher;

static int down_stasher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    down_stasher *d = state;
    uint64_t id;
    if (msg->type == P_STEP) /* start watching peer[1] */
        return tr_monitor(ctx, peer[1], &id);
    if (msg->type == TR_MSG_DOWN && !d->stashed) {
        d->stashed = 1;
        int rc = tr_stash(ctx, msg);
        tu_store(&sd_twice_rc, (uint64_t)(int64_t)tr_stash(ctx, msg));
        return rc;
    }
    if (msg->type == TR_MSG_DOWN) {
        tr_exit why;
        if (tr_exit_of(msg, &why) == 0)
            tu_store(&sd_kind, (uint64_t)why.kind);
        tu_store(&sd_origin_ok, tr_msg_origin(msg) == peer[1] && msg->word == tr_ref_id(peer[1]));
        tu_add(&sd_downs, 1);
        return 0;
    }
    return tr_unstash_all(ctx) == 1 ? 0 : TR_EIO;
}

/* Akka StashSpec: a stashed Terminated is received again after unstashing,
 * whole (reason and origin), and a message cannot be stashed twice. */
static void a_stashed_down_comes_back_whole(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, down_stasher_receive, NULL};
    tu_store(&sd_downs, 0);
    tu_store(&sd_kind, 99);
    tu_store(&sd_origin_ok, 0);
    tu_store(&sd_twice_rc, 0);
    peer[1] = spawn_probe(1);
    tr_spawn_opts o = {.state_size = sizeof(down_stasher)};
    assert_int_equal(tr_spawn(rt, &beh, &o, &peer[0]), 0);
    job j = {NULL};
    assert_int_equal(tr_send_ptr(peer[0], P_STEP, &j, NULL), 0);
    assert_int_equal(tr_send_word(peer[1], P_CRASH, (uint64_t)(int64_t)TR_EIO), 0);
    assert_true(wait_end(1));
    tu_sleep_ms(20);
    assert_int_equal(tu_load(&sd_downs), 0);
    assert_int_equal((int64_t)tu_load(&sd_twice_rc), TR_ESTATE);
    assert_int_equal(tr_send_word(peer[0], 60, 0), 0);
    assert_true(tu_wait_ge(&sd_downs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sd_kind), TR_EXIT_ERROR);
    assert_int_equal(tu_load(&sd_origin_ok), 1);
}

/* --- watched as it crashes ---------------------------------------------------- */
#define WATCHED 200
static uint64_t wc_downs, wc_fail;

static int crasher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return TR_EIO;
}

static int watch_and_crash_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == TR_MSG_DOWN) {
        tu_add(&wc_downs, 1);
        return 0;
    }
    tr_ref *t = msg->ptr;
    uint64_t id;
    /* The first monitor of t makes its side record, on this thread, while
     * t may already be ending on another worker. */
    if (tr_monitor(ctx, t, &id) != 0)
        tu_add(&wc_fail, 1);
    int rc = tr_send_word(t, 1, 0);
    if (rc != 0 && rc != TR_EDEAD) /* TR_EDEAD: it crashed already */
        tu_add(&wc_fail, 1);
    return 0;
}

/* Akka DeathWatchSpec "must notify with Terminated when the watched actor
 * fails": the first watch of an actor (which makes its side record) races
 * its crash; every watcher hears of it once, and the end reads the record
 * safely (TSan). */
static void actors_watched_as_they_crash_each_give_one_down(void **state) {
    (void)state;
    static const tr_behavior crasher = {NULL, crasher_receive, NULL};
    static const tr_behavior watcher = {NULL, watch_and_crash_receive, NULL};
    tu_store(&wc_downs, 0);
    tu_store(&wc_fail, 0);
    assert_int_equal(tr_spawn(rt, &watcher, NULL, &peer[0]), 0);
    for (int i = 0; i < WATCHED; i++) {
        tr_ref *t;
        assert_int_equal(tr_spawn(rt, &crasher, NULL, &t), 0);
        assert_int_equal(tr_send_ptr(peer[0], 2, t, release_fn), 0);
        if (i % 2) { /* it may end first (or the watcher's message did it) */
            int rc = tr_send_word(t, 1, 0);
            assert_true(rc == 0 || rc == TR_EDEAD);
        }
    }
    assert_true(tu_wait_ge(&wc_downs, WATCHED, TU_WAIT_MS));
    assert_int_equal(tu_load(&wc_fail), 0);
}

/* --- names taken while ending --------------------------------------------- */

static uint64_t late_reg_rc, late_join_rc, late_sub_rc, late_done;

static int late_namer_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    return tr_stop(ctx);
}

static void late_namer_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)state;
    (void)why;
    tu_store(&late_reg_rc, (uint64_t)(int64_t)tr_register(tr_self(ctx), "late"));
    tu_store(&late_join_rc, (uint64_t)(int64_t)tr_group_join(tr_self(ctx), "late-g"));
    tu_store(&late_sub_rc, (uint64_t)(int64_t)tr_subscribe(tr_self(ctx), "late.t"));
    tu_store(&late_done, 1);
}

/* A name (group, subscription) never points at an ended actor: taking one
 * in terminate, where the actor is ending, is refused with TR_EDEAD
 * (registry.h, group.h), and nothing is left behind. */
static void names_taken_in_terminate_do_not_outlive_the_actor(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, late_namer_receive, late_namer_terminate};
    tu_store(&late_done, 0);
    peer[1] = spawn_probe(1);
    assert_int_equal(tr_spawn(rt, &beh, NULL, &peer[0]), 0);
    assert_int_equal(tr_send_word(peer[0], 1, 0), 0);
    assert_true(tu_wait_ge(&late_done, 1, TU_WAIT_MS));
    assert_true(tu_wait_until(is_dead_ref0, NULL, TU_WAIT_MS));
    tu_sleep_ms(20);
    int64_t reg = (int64_t)tu_load(&late_reg_rc), join = (int64_t)tu_load(&late_join_rc),
            sub = (int64_t)tu_load(&late_sub_rc);
    assert_int_equal(reg, TR_EDEAD); /* "has ended or is ending" */
    assert_int_equal(join, TR_EDEAD);
    assert_int_equal(sub, TR_EDEAD);
    tr_ref *h = NULL;
    assert_int_equal(tr_whereis(rt, "late", &h), TR_ENOTFOUND);
    size_t n = 0;
    assert_int_equal(tr_group_members(rt, "late-g", NULL, 0, &n), 0);
    assert_int_equal(tr_publish_word(rt, "late.t", 60, 0), 0);
    /* The name is free for a live actor. */
    assert_int_equal(tr_register(peer[1], "late"), 0);
    assert_int_equal(tr_group_join(peer[1], "late-g"), 0);
    assert_int_equal(tr_group_members(rt, "late-g", NULL, 0, &n), 1);
}

/* Documented differences from Erlang's exit/2: tr_actor_exit ends an actor
 * that traps exits (trapping concerns links), and needs a non-zero code. */
static void actor_exit_ends_an_actor_that_traps_exits(void **state) {
    (void)state;
    peer[0] = spawn_probe(0);
    assert_int_equal(run(peer[0], trap_on), 0);
    assert_int_equal(tr_actor_exit(peer[0], 0, "zero"), TR_EINVAL);
    assert_true(tr_ref_is_alive(peer[0]));
    assert_int_equal(tr_actor_exit(peer[0], TR_EIO, "told to"), 0);
    assert_true(wait_end(0));
    assert_int_equal(tu_load(&pend_kind[0]), TR_EXIT_ERROR);
    assert_int_equal(tu_load(&plen[0]), 0); /* no EXIT message instead */
}

/* --- pinned actors ending while a foreign thread wakes them ---------------- */
#define PINNED 150
static uint64_t pin_refs[PINNED]; /* tr_ref *, published by the test thread */
static uint64_t pin_sent;

static int stop_on_anything(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    return tr_stop(ctx);
}

static void *pin_waker(void *arg) {
    (void)arg;
    for (int i = 0; i < PINNED; i++) {
        tr_ref *r;
        int64_t deadline = tu_now_ms() + TU_WAIT_MS;
        while ((r = (tr_ref *)(uintptr_t)tu_load(&pin_refs[i])) == NULL && tu_now_ms() < deadline)
            ;
        if (r != NULL && tr_send_word(r, 1, 0) == 0)
            tu_add(&pin_sent, 1);
    }
    return NULL;
}

/* CAF/Pony "detached" actors: an actor on a thread of its own woken by a
 * foreign thread's send ends at once, its thread exits, and the next spawn
 * of a pinned actor reaps that thread while the sender may still be
 * finishing its wake-up (a use after free TSan saw before the fix). */
static void pinned_actors_ending_as_they_are_woken_are_reaped_safely(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, stop_on_anything, NULL};
    memset(pin_refs, 0, sizeof(pin_refs));
    tu_store(&pin_sent, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pin_waker, NULL), 0);
    tr_spawn_opts o = {.pin = TR_PIN_THREAD};
    for (int i = 0; i < PINNED; i++) {
        tr_ref *r = NULL;
        assert_int_equal(tr_spawn(rt, &beh, &o, &r), 0);
        tu_store(&pin_refs[i], (uint64_t)(uintptr_t)r);
    }
    pthread_join(t, NULL);
    assert_int_equal(tu_load(&pin_sent), PINNED);
    for (int i = 0; i < PINNED; i++) {
        tr_ref *r = (tr_ref *)(uintptr_t)tu_load(&pin_refs[i]);
        assert_true(tu_wait_until(is_dead, r, TU_WAIT_MS));
        tr_ref_release(r);
    }
}

/* ... also when the watcher takes lanes (tr_spawn_opts.lanes) and the
 * watched actor runs on a thread of its own (pinned run): a pinned actor's
 * thread is the runtime's, so its sends take the mailbox, as the DOWN
 * does. */
static void messages_before_a_stop_arrive_before_its_down_at_a_watcher_with_lanes(void **state) {
    (void)state;
    tr_spawn_opts o = {.state_size = sizeof(probe), .arg = (void *)(uintptr_t)0, .lanes = 1};
    assert_int_equal(tr_spawn(rt, &probe_beh, &o, &peer[0]), 0);
    peer[1] = spawn_probe(1);
    assert_int_equal(run(peer[0], monitor_peer1), 0);
    job j = {send_100_then_stop};
    assert_int_equal(tr_send_ptr(peer[1], P_STEP, &j, NULL), 0);
    assert_true(wait_log(0, 101));
    for (uint64_t i = 0; i < 100; i++)
        assert_int_equal(ev(0, i), EV(EV_MSG, i));
    assert_int_equal(ev(0, 100) >> 48, EV_DOWN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(monitor_twice_gives_two_downs_with_their_ids, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(link_twice_then_unlink_once_leaves_no_link, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(link_twice_gives_one_exit_when_trapping, setup, teardown),
        cmocka_unit_test_setup_teardown(messages_sent_before_a_stop_arrive_before_its_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(messages_sent_before_a_crash_arrive_before_the_trapped_exit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_shutdown_spreads_over_a_link_with_its_reason, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(when_down_arrives_the_target_is_dead_and_refuses_sends,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_stop_message_ends_after_the_queued_ones_and_dead_letters_the_rest, setup1, teardown),
        cmocka_unit_test_setup_teardown(a_send_to_itself_in_terminate_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unstashed_messages_come_first_and_in_order_across_become,
                                        setup1, teardown),
        cmocka_unit_test_setup_teardown(each_unstash_goes_ahead_of_earlier_unstashed_ones, setup1,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_request_to_itself_gets_its_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_kept_request_answered_from_a_later_message_reaches_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_kept_request_answered_from_a_foreign_thread_reaches_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reply_after_the_asker_gave_up_is_dead_lettered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(names_register_twice_and_again_after_unregister, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_dead_actors_name_is_reused_and_sends_reach_the_new_owner,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(groups_join_twice_leave_twice_and_dead_members, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_request_past_its_deadline_gets_the_timeout_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_monitor_from_init_on_a_dead_actor_gives_down_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_link_from_init_spreads_a_later_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(a_message_forwarded_after_another_arrives_after_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_broadcast_from_a_member_reaches_itself_unless_others,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_name_given_at_spawn_is_there_in_init_and_is_the_only_one,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_restashed_message_goes_behind_those_still_stashed, setup1,
                                        teardown),
        cmocka_unit_test_setup_teardown(unstash_all_goes_ahead_of_an_earlier_unstash, setup1,
                                        teardown),
        cmocka_unit_test_setup_teardown(actors_linking_each_other_at_once_are_linked_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            demonitor_after_the_down_was_sent_says_so_and_the_down_comes, setup, teardown),
        cmocka_unit_test_setup_teardown(a_message_from_a_foreign_thread_has_no_sender, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_ask_the_actor_ignores_fails_with_enoreply_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_stashed_down_comes_back_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(actors_watched_as_they_crash_each_give_one_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(names_taken_in_terminate_do_not_outlive_the_actor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(actor_exit_ends_an_actor_that_traps_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(pinned_actors_ending_as_they_are_woken_are_reaped_safely,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            messages_before_a_stop_arrive_before_its_down_at_a_watcher_with_lanes, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("workers", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("pinned probes", tests, pinned, NULL);
    return failed;
}
