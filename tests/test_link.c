/* tests/test_link.c - monitors and links.
 *
 * A monitor gets one TR_MSG_DOWN with the target's exact exit reason (at once
 * if the target is already dead) unless demonitored. A link makes an abnormal
 * exit spread to the other side with the same reason; a normal exit does not
 * spread; trap_exit turns a spreading exit into a TR_MSG_EXIT message, except
 * TR_EXIT_KILLED, which cannot be trapped. Linking to a dead actor acts at once.
 *
 * The watcher actor below is driven by command messages from the test thread
 * and records what it sees; the test waits on the records and asserts. */
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
    W_MONITOR = 1, /* ptr: target */
    W_DEMONITOR,   /* ptr: target, word: monitor id */
    W_LINK,        /* ptr: target */
    W_UNLINK,      /* ptr: target */
    W_TRAP,        /* word: on */
    W_PING,
    W_FAIL,  /* return word as an error */
    W_PANIC, /* tr_panic(word, "target panic") */
    W_STOP,  /* tr_stop */
    W_MONITOR_SELF,
};

/* --- records -------------------------------------------------------------- */

static uint64_t cmd_rc; /* the rc of the last monitor/link command, as int64 */
static uint64_t cmds;   /* commands handled */
static uint64_t mon_id;
static uint64_t pings;
static uint64_t downs, exits; /* TR_MSG_DOWN / TR_MSG_EXIT received */
static uint64_t sig_corr, sig_word, sig_status, sig_kind, sig_code, sig_origin;
static char sig_text[128];
static uint64_t watcher_ended, watcher_kind, watcher_code;
static uint64_t target_ended;

static int reset(void **state) {
    (void)state;
    uint64_t *all[] = {&cmd_rc,        &cmds,         &mon_id,       &pings,
                       &downs,         &exits,        &sig_corr,     &sig_word,
                       &sig_status,    &sig_kind,     &sig_code,     &sig_origin,
                       &watcher_ended, &watcher_kind, &watcher_code, &target_ended};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
    tu_store(&watcher_kind, 99);
    sig_text[0] = 0;
    return 0;
}

static void record_signal(const tr_msg *msg, uint64_t *counter) {
    tr_exit why = {0};
    int rc = tr_exit_of(msg, &why);
    snprintf(sig_text, sizeof(sig_text), "%s", rc == 0 ? why.text : "(bad)");
    tu_store(&sig_kind, (uint64_t)why.kind);
    tu_store(&sig_code, (uint64_t)(int64_t)why.code);
    tu_store(&sig_corr, msg->corr);
    tu_store(&sig_word, msg->word);
    tu_store(&sig_status, (uint64_t)(int64_t)msg->status);
    tu_store(&sig_origin, (uint64_t)(uintptr_t)tr_msg_origin(msg));
    tu_add(counter, 1); /* last: publishes the fields above */
}

/* --- the actors ------------------------------------------------------------ */

static int watcher_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    tr_ref *target = msg->ptr;
    int rc = 0;
    uint64_t id = 0;
    switch (msg->type) {
    case TR_MSG_DOWN:
        record_signal(msg, &downs);
        return 0;
    case TR_MSG_EXIT:
        record_signal(msg, &exits);
        return 0;
    case W_MONITOR:
        rc = tr_monitor(ctx, target, &id);
        tu_store(&mon_id, id);
        break;
    case W_MONITOR_SELF:
        rc = tr_monitor(ctx, tr_self(ctx), &id);
        break;
    case W_DEMONITOR:
        rc = tr_demonitor(ctx, target, msg->word);
        break;
    case W_LINK:
        rc = tr_link(ctx, target);
        break;
    case W_UNLINK:
        rc = tr_unlink(ctx, target);
        break;
    case W_TRAP:
        rc = tr_trap_exit(ctx, (int)msg->word);
        break;
    case W_PING:
        tu_add(&pings, 1);
        return 0;
    case W_FAIL:
        return (int)msg->word;
    case W_PANIC:
        tr_panic(ctx, (int)msg->word, "target panic");
    case W_STOP:
        return tr_stop(ctx);
    default:
        return 0;
    }
    tu_store(&cmd_rc, (uint64_t)(int64_t)rc);
    tu_add(&cmds, 1);
    return 0;
}

static void watcher_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    tu_store(&watcher_kind, (uint64_t)why->kind);
    tu_store(&watcher_code, (uint64_t)(int64_t)why->code);
    tu_add(&watcher_ended, 1);
}

static void target_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&target_ended, 1);
}

static const tr_behavior watcher_beh = {NULL, watcher_receive, watcher_terminate};
/* Targets take the same commands but record their end separately. */
static const tr_behavior target_beh = {NULL, watcher_receive, target_terminate};

typedef struct fixture {
    tr_runtime *rt;
    tr_ref *w; /* the watcher */
    tr_ref *t; /* the target */
} fixture;

static void fx_start(fixture *fx) {
    fx->rt = tu_runtime_new(2);
    assert_non_null(fx->rt);
    assert_int_equal(tr_spawn(fx->rt, &watcher_beh, NULL, &fx->w), 0);
    assert_int_equal(tr_spawn(fx->rt, &target_beh, NULL, &fx->t), 0);
}

static void fx_end(fixture *fx) {
    tr_ref_release(fx->w);
    tr_ref_release(fx->t);
    assert_int_equal(tr_runtime_free(fx->rt), 0);
}

/* Send a command to the watcher and wait until it handled it; its rc. */
static int command(fixture *fx, uint32_t type, tr_ref *target, uint64_t word) {
    uint64_t before = tu_load(&cmds);
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, type, 0), 0);
    m->ptr = target; /* borrowed: the test holds the handle */
    m->word = word;
    /* Waits for room: a one-slot mailbox gets it back only when the turn
     * that handled the previous command has ended. */
    assert_int_equal(tr_send_wait(fx->w, m, TU_WAIT_MS), 0);
    assert_true(tu_wait_ge(&cmds, before + 1, TU_WAIT_MS));
    return (int)tu_load(&cmd_rc);
}

/* Ping the watcher and wait for it: everything sent to it before (by any
 * thread, earlier in real time) has been handled. */
static void ping_watcher(fixture *fx) {
    uint64_t before = tu_load(&pings);
    assert_int_equal(tr_send_word(fx->w, W_PING, 0), 0);
    assert_true(tu_wait_ge(&pings, before + 1, TU_WAIT_MS));
}

/* Wait until the target's exit is final: its DOWN/EXIT and link requests are
 * out (they go before the live count drops). */
static void wait_target_gone(fixture *fx, uint64_t alive_after) {
    assert_true(tu_wait_ge(&target_ended, 1, TU_WAIT_MS));
    assert_true(tu_wait_alive(fx->rt, alive_after, TU_WAIT_MS));
}

/* --- monitors -------------------------------------------------------------- */

static void monitor_gets_down_with_normal_exit(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_STOP, 0), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_NORMAL);
    assert_int_equal(tu_load(&sig_status), TR_EXIT_NORMAL);
    assert_int_equal(tu_load(&sig_corr), tu_load(&mon_id));
    assert_int_equal(tu_load(&sig_word), tr_ref_id(fx.t));
    assert_int_equal(tu_load(&sig_origin), (uint64_t)(uintptr_t)fx.t);
    fx_end(&fx);
    assert_int_equal(tu_load(&downs), 1);
}

static void monitor_gets_down_with_crash_code_and_text(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_PANIC, 1234), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&sig_code), 1234);
    assert_string_equal(sig_text, "target panic");
    fx_end(&fx);
}

static void monitor_gets_down_with_shutdown_and_killed(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    tr_ref *t2;
    assert_int_equal(tr_spawn(fx.rt, &target_beh, NULL, &t2), 0);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    assert_int_equal(tr_actor_stop(fx.t), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_SHUTDOWN);
    assert_int_equal(command(&fx, W_MONITOR, t2, 0), 0);
    assert_int_equal(tr_actor_kill(t2), 0);
    assert_true(tu_wait_ge(&downs, 2, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_KILLED);
    assert_int_equal(tu_load(&sig_word), tr_ref_id(t2));
    tr_ref_release(t2);
    fx_end(&fx);
}

static void monitor_on_a_dead_actor_delivers_down_at_once(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(tr_actor_exit(fx.t, TR_EIO, "gone before"), 0);
    wait_target_gone(&fx, 1);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&sig_code), TR_EIO);
    assert_string_equal(sig_text, "gone before");
    assert_int_equal(tu_load(&sig_corr), tu_load(&mon_id));
    assert_int_equal(tu_load(&sig_word), tr_ref_id(fx.t));
    fx_end(&fx);
}

/* A target whose terminate waits for the test's word: requests made
 * while it runs find the actor ending. */
static uint64_t held_in_terminate, terminate_release;

static void held_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    (void)why;
    tu_add(&held_in_terminate, 1);
    (void)tu_wait_ge(&terminate_release, 1, TU_WAIT_MS); /* the test checks what follows */
    tu_add(&target_ended, 1);
}

static const tr_behavior held_beh = {NULL, watcher_receive, held_terminate};

/* The final reason is written once, when the end begins: a stop request
 * that comes while terminate runs (a linked actor's error: user requests
 * are refused once the actor ends, links are not) changes neither what
 * the monitors get nor what a monitor set later gets (the code and text
 * of an error end, or the code 0 of another). */
static void requests_during_terminate_leave_the_final_reason(void **state) {
    (void)state;
    if (tu_mode_current())
        skip(); /* a terminate waits while another actor ends: two threads */
    for (int end_by_error = 0; end_by_error < 2; end_by_error++) {
        reset(NULL);
        tu_store(&held_in_terminate, 0);
        tu_store(&terminate_release, 0);
        fixture fx;
        fx.rt = tu_runtime_new(2);
        assert_non_null(fx.rt);
        tr_ref *l; /* linked to the target; its error end signals it */
        assert_int_equal(tr_spawn(fx.rt, &watcher_beh, NULL, &fx.w), 0);
        assert_int_equal(tr_spawn(fx.rt, &held_beh, NULL, &fx.t), 0);
        assert_int_equal(tr_spawn(fx.rt, &target_beh, NULL, &l), 0);
        assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
        tr_msg *m;
        assert_int_equal(tr_msg_new(&m, W_LINK, 0), 0);
        m->ptr = fx.t;
        assert_int_equal(tr_send_msg(l, m), 0);
        assert_true(tu_wait_ge(&cmds, 2, TU_WAIT_MS));
        assert_int_equal((int)tu_load(&cmd_rc), 0);
        if (end_by_error)
            assert_int_equal(tr_send_word(fx.t, W_PANIC, 1234), 0);
        else
            assert_int_equal(tr_send_word(fx.t, W_STOP, 0), 0);
        assert_true(tu_wait_ge(&held_in_terminate, 1, TU_WAIT_MS));
        assert_int_equal(tr_actor_exit(l, 77, "too late"), 0);
        assert_true(tu_wait_alive(fx.rt, 2, TU_WAIT_MS)); /* l's end, its signal sent */
        tu_store(&terminate_release, 1);
        assert_true(tu_wait_alive(fx.rt, 1, TU_WAIT_MS));
        /* The monitor's DOWN, then a late monitor's (read from the block). */
        for (uint64_t n = 1; n <= 2; n++) {
            if (n == 2)
                assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
            assert_true(tu_wait_ge(&downs, n, TU_WAIT_MS));
            assert_int_equal(tu_load(&sig_kind), end_by_error ? TR_EXIT_ERROR : TR_EXIT_NORMAL);
            assert_int_equal((int)tu_load(&sig_code), end_by_error ? 1234 : 0);
            assert_string_equal(sig_text, end_by_error ? "target panic" : "normal");
        }
        tr_ref_release(l);
        fx_end(&fx);
    }
}

static void demonitor_means_no_down(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    uint64_t id = tu_load(&mon_id);
    assert_int_equal(command(&fx, W_DEMONITOR, fx.t, id), 0);
    assert_int_equal(command(&fx, W_DEMONITOR, fx.t, id), TR_ENOTFOUND);
    assert_int_equal(tr_actor_stop(fx.t), 0);
    wait_target_gone(&fx, 1);
    ping_watcher(&fx); /* a DOWN would have been queued before this ping */
    assert_int_equal(tu_load(&downs), 0);
    fx_end(&fx);
}

static void demonitor_removes_only_that_monitor(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    uint64_t first = tu_load(&mon_id);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    uint64_t second = tu_load(&mon_id);
    assert_true(first != second);
    assert_int_equal(command(&fx, W_DEMONITOR, fx.t, first), 0);
    assert_int_equal(tr_actor_stop(fx.t), 0);
    wait_target_gone(&fx, 1);
    ping_watcher(&fx);
    assert_int_equal(tu_load(&downs), 1);
    assert_int_equal(tu_load(&sig_corr), second);
    fx_end(&fx);
}

static void monitor_of_self_returns_einval(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_MONITOR_SELF, NULL, 0), TR_EINVAL);
    assert_int_equal(command(&fx, W_MONITOR, NULL, 0), TR_EINVAL);
    assert_int_equal(command(&fx, W_LINK, NULL, 0), TR_EINVAL);
    assert_int_equal(command(&fx, W_LINK, fx.w, 0), TR_EINVAL);
    assert_int_equal(command(&fx, W_UNLINK, fx.t, 0), TR_ENOTFOUND);
    fx_end(&fx);
}

/* --- links ------------------------------------------------------------------ */

static void abnormal_exit_kills_the_linked_actor_with_the_same_reason(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_FAIL, 77), 0);
    assert_true(tu_wait_ge(&watcher_ended, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&watcher_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&watcher_code), 77);
    fx_end(&fx);
}

/* A chain c[0] - c[1] - ... - c[CHAIN-1] of links built by each member. */
#define CHAIN 10
static uint64_t chain_ends, chain_code_ok;

static int chain_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == W_LINK)
        return tr_link(ctx, msg->ptr) == 0 ? 0 : TR_EIO;
    if (msg->type == W_FAIL)
        return (int)msg->word;
    tu_add(&cmds, 1); /* W_PING: links so far are in place */
    return 0;
}

static void chain_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)state;
    if (why->kind == TR_EXIT_ERROR && why->code == 41)
        tu_add(&chain_code_ok, 1);
    tu_add(&chain_ends, 1);
}

static void crash_spreads_along_a_chain_of_links_with_the_same_reason(void **state) {
    (void)state;
    static const tr_behavior beh = {NULL, chain_receive, chain_terminate};
    tu_store(&chain_ends, 0);
    tu_store(&chain_code_ok, 0);
    tr_runtime *rt = tu_runtime_new(2);
    tr_ref *c[CHAIN];
    for (int i = 0; i < CHAIN; i++)
        assert_int_equal(tr_spawn(rt, &beh, NULL, &c[i]), 0);
    for (int i = 1; i < CHAIN; i++) {
        assert_int_equal(tr_send_ptr(c[i], W_LINK, c[i - 1], NULL), 0);
        assert_int_equal(tr_send_word(c[i], W_PING, 0), 0);
    }
    assert_true(tu_wait_ge(&cmds, CHAIN - 1, TU_WAIT_MS));
    assert_int_equal(tr_send_word(c[CHAIN / 2], W_FAIL, 41), 0); /* the middle one */
    assert_true(tu_wait_ge(&chain_ends, CHAIN, TU_WAIT_MS));
    assert_int_equal(tu_load(&chain_code_ok), CHAIN);
    assert_true(tu_wait_alive(rt, 0, TU_WAIT_MS));
    for (int i = 0; i < CHAIN; i++)
        tr_ref_release(c[i]);
    tr_runtime_free(rt);
}

static void link_works_both_ways(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(tr_actor_exit(fx.w, TR_EIO, "watcher failed"), 0);
    assert_true(tu_wait_ge(&target_ended, 1, TU_WAIT_MS));
    assert_true(tu_wait_alive(fx.rt, 0, TU_WAIT_MS));
    fx_end(&fx);
}

static void normal_exit_does_not_spread_over_a_link(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_STOP, 0), 0);
    wait_target_gone(&fx, 1);
    ping_watcher(&fx); /* would not run if an exit request were pending */
    assert_int_equal(tr_ref_is_alive(fx.w), 1);
    assert_int_equal(tu_load(&watcher_ended), 0);
    fx_end(&fx);
}

static void trap_exit_turns_a_linked_crash_into_an_exit_message(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_TRAP, NULL, 1), 0);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_FAIL, 55), 0);
    assert_true(tu_wait_ge(&exits, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&sig_code), 55);
    assert_int_equal(tu_load(&sig_word), tr_ref_id(fx.t));
    assert_int_equal(tu_load(&sig_origin), (uint64_t)(uintptr_t)fx.t);
    wait_target_gone(&fx, 1);
    ping_watcher(&fx);
    assert_int_equal(tu_load(&watcher_ended), 0);
    assert_int_equal(tu_load(&downs), 0);
    fx_end(&fx);
}

static void trap_exit_also_reports_normal_exits(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_TRAP, NULL, 1), 0);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_STOP, 0), 0);
    assert_true(tu_wait_ge(&exits, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_NORMAL);
    fx_end(&fx);
}

static void killed_cannot_be_trapped_by_a_linked_actor(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_TRAP, NULL, 1), 0);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(tr_actor_kill(fx.t), 0);
    assert_true(tu_wait_ge(&watcher_ended, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&watcher_kind), TR_EXIT_KILLED);
    assert_int_equal(tu_load(&exits), 0);
    fx_end(&fx);
}

static void unlink_stops_the_spread(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_int_equal(command(&fx, W_UNLINK, fx.t, 0), 0);
    assert_int_equal(tr_send_word(fx.t, W_FAIL, 3), 0);
    wait_target_gone(&fx, 1);
    ping_watcher(&fx);
    assert_int_equal(tu_load(&watcher_ended), 0);
    fx_end(&fx);
}

static void link_to_a_dead_actor_acts_at_once(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(tr_actor_exit(fx.t, TR_EIO, "dead already"), 0);
    wait_target_gone(&fx, 1);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_true(tu_wait_ge(&watcher_ended, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&watcher_kind), TR_EXIT_ERROR);
    assert_int_equal((int)tu_load(&watcher_code), TR_EIO);
    fx_end(&fx);
}

static void trapped_link_to_a_dead_actor_gets_exit_at_once(void **state) {
    (void)state;
    fixture fx;
    fx_start(&fx);
    assert_int_equal(command(&fx, W_TRAP, NULL, 1), 0);
    assert_int_equal(tr_actor_stop(fx.t), 0);
    wait_target_gone(&fx, 1);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    assert_true(tu_wait_ge(&exits, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&sig_word), tr_ref_id(fx.t));
    ping_watcher(&fx);
    assert_int_equal(tu_load(&watcher_ended), 0);
    fx_end(&fx);
}

static void down_reaches_a_watcher_whose_bounded_mailbox_is_full(void **state) {
    (void)state;
    /* One worker and a gate make the order certain: the target ends while
     * the watcher's one-slot mailbox holds a ping. A DOWN must not be lost
     * to the bound (a supervisor would never restart that child). */
    fixture fx;
    fx.rt = tu_runtime_new(1);
    tr_spawn_opts o = {.mailbox_capacity = 1};
    assert_int_equal(tr_spawn(fx.rt, &watcher_beh, &o, &fx.w), 0);
    assert_int_equal(tr_spawn(fx.rt, &target_beh, NULL, &fx.t), 0);
    assert_int_equal(command(&fx, W_MONITOR, fx.t, 0), 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(fx.rt, &g), 0);
    assert_int_equal(tr_actor_stop(fx.t), 0);           /* runs first... */
    assert_int_equal(tr_send_word(fx.w, W_PING, 0), 0); /* ...with this queued */
    assert_int_equal(tr_send_word(fx.w, W_PING, 0), TR_EFULL);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&downs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&sig_kind), TR_EXIT_SHUTDOWN);
    assert_int_equal(tu_load(&pings), 1);
    fx_end(&fx);
}

static void trapped_exit_reaches_a_linked_actor_whose_bounded_mailbox_is_full(void **state) {
    (void)state;
    fixture fx;
    fx.rt = tu_runtime_new(1);
    tr_spawn_opts o = {.mailbox_capacity = 1};
    assert_int_equal(tr_spawn(fx.rt, &watcher_beh, &o, &fx.w), 0);
    assert_int_equal(tr_spawn(fx.rt, &target_beh, NULL, &fx.t), 0);
    assert_int_equal(command(&fx, W_TRAP, NULL, 1), 0);
    assert_int_equal(command(&fx, W_LINK, fx.t, 0), 0);
    tu_gate g;
    assert_int_equal(tu_gate_block(fx.rt, &g), 0);
    assert_int_equal(tr_actor_exit(fx.t, TR_EIO, "full"), 0);
    assert_int_equal(tr_send_word(fx.w, W_PING, 0), 0);
    tu_gate_open(&g);
    assert_true(tu_wait_ge(&exits, 1, TU_WAIT_MS));
    assert_int_equal((int)tu_load(&sig_code), TR_EIO);
    fx_end(&fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(monitor_gets_down_with_normal_exit, reset),
        cmocka_unit_test_setup(monitor_gets_down_with_crash_code_and_text, reset),
        cmocka_unit_test_setup(monitor_gets_down_with_shutdown_and_killed, reset),
        cmocka_unit_test_setup(monitor_on_a_dead_actor_delivers_down_at_once, reset),
        cmocka_unit_test_setup(requests_during_terminate_leave_the_final_reason, reset),
        cmocka_unit_test_setup(demonitor_means_no_down, reset),
        cmocka_unit_test_setup(demonitor_removes_only_that_monitor, reset),
        cmocka_unit_test_setup(monitor_of_self_returns_einval, reset),
        cmocka_unit_test_setup(abnormal_exit_kills_the_linked_actor_with_the_same_reason, reset),
        cmocka_unit_test_setup(link_works_both_ways, reset),
        cmocka_unit_test_setup(crash_spreads_along_a_chain_of_links_with_the_same_reason, reset),
        cmocka_unit_test_setup(normal_exit_does_not_spread_over_a_link, reset),
        cmocka_unit_test_setup(trap_exit_turns_a_linked_crash_into_an_exit_message, reset),
        cmocka_unit_test_setup(trap_exit_also_reports_normal_exits, reset),
        cmocka_unit_test_setup(killed_cannot_be_trapped_by_a_linked_actor, reset),
        cmocka_unit_test_setup(unlink_stops_the_spread, reset),
        cmocka_unit_test_setup(link_to_a_dead_actor_acts_at_once, reset),
        cmocka_unit_test_setup(trapped_link_to_a_dead_actor_gets_exit_at_once, reset),
        cmocka_unit_test_setup(down_reaches_a_watcher_whose_bounded_mailbox_is_full, reset),
        cmocka_unit_test_setup(trapped_exit_reaches_a_linked_actor_whose_bounded_mailbox_is_full,
                               reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
