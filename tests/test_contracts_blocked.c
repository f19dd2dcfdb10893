/* tests/test_contracts_blocked.c - the evening's paths with handlers that
 * block: drain with a pinned actor stuck in its handler and mailboxes and
 * lanes full of messages with destructors, a current-thread runtime whose
 * driver is stuck in a handler, and the console while every worker is
 * stuck.
 *
 * What holds (and what the headers now say):
 *   - a drain's deadline holds for the quiet point: past it the drain
 *     closes, dead-letters what is queued (destructors run, counted in
 *     dead_lettered) and reports timed_out; the close then waits for the
 *     handler that is running (a handler cannot be cut short), on a pinned
 *     actor's own thread as on a worker;
 *   - in a current-thread runtime the handler runs on the thread in
 *     tr_runtime_block_on, so block_on returns once the handler does, not at
 *     its timeout (TR_ETIMEDOUT then, if the future is still unsettled);
 *   - the console runs on its own thread: it answers while every worker
 *     is stuck (the stuck actors show as running).
 * The stuck handlers are released by the test (a gate), so every test ends. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"
#include "troupe/console.h"

enum { BLOCK = 1, WORK = 2 };

static uint64_t gate;    /* lets BLOCK handlers return */
static uint64_t blocked; /* BLOCK handlers running */
static uint64_t freed;   /* destructors run */
static uint64_t worked;  /* WORK handled */

static void reset(void) {
    tu_store(&gate, 0);
    tu_store(&blocked, 0);
    tu_store(&freed, 0);
    tu_store(&worked, 0);
}

static void count_free(void *p) {
    (void)p;
    tu_add(&freed, 1);
}

static int stuck_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state;
    if (msg->type == BLOCK) {
        tu_add(&blocked, 1);
        while (!tu_load(&gate))
            tu_sleep_ms(1);
    } else {
        tu_add(&worked, 1);
    }
    return 0;
}
static const tr_behavior stuck_beh = {NULL, stuck_receive, NULL};

/* --- drain: a pinned actor stuck, its mailbox and a lane full ----------------- */

#define QUEUED 64     /* ptr messages in the bounded mailbox (its capacity) */
#define LANE_MSGS 200 /* ptr messages a foreign thread sends through its lane */

typedef struct lane_sender {
    pthread_t t;
    tr_ref *to;
    uint64_t accepted;
} lane_sender;

static void *send_lane(void *arg) {
    lane_sender *s = arg;
    for (int i = 0; i < LANE_MSGS; i++)
        if (tr_send_ptr(s->to, WORK, &freed, count_free) == 0)
            s->accepted++;
    return NULL;
}

static void a_drain_past_its_deadline_reports_it_and_runs_every_destructor(void **state) {
    (void)state;
    reset();
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *pinned, *laned;
    tr_spawn_opts po = {.pin = TR_PIN_THREAD, .mailbox_capacity = QUEUED};
    assert_int_equal(tr_spawn(rt, &stuck_beh, &po, &pinned), 0);
    tr_spawn_opts lo = {.lanes = 1};
    assert_int_equal(tr_spawn(rt, &stuck_beh, &lo, &laned), 0);
    assert_int_equal(tr_send_word(pinned, BLOCK, 0), 0);
    assert_int_equal(tr_send_word(laned, BLOCK, 0), 0);
    assert_true(tu_wait_ge(&blocked, 2, TU_WAIT_MS));
    uint64_t queued = 0;
    while (tr_send_ptr(pinned, WORK, &freed, count_free) == 0) /* until TR_EFULL */
        queued++;
    /* The handler's own message holds its room until its turn ends. */
    assert_int_equal(queued, QUEUED - 1);
    lane_sender ls = {.to = laned};
    assert_int_equal(pthread_create(&ls.t, NULL, send_lane, &ls), 0);
    pthread_join(ls.t, NULL);
    assert_int_equal(ls.accepted, LANE_MSGS);
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_runtime_drain_async(rt, 100), 0);
    tu_sleep_ms(300); /* well past the deadline: the close waits for the handlers */
    assert_false(tr_runtime_drain_stats(rt, &(tr_drain_stats){0}) == 0);
    tu_store(&gate, 1);
    assert_int_equal(tr_runtime_join(rt), 0);
    tr_drain_stats st;
    assert_int_equal(tr_runtime_drain_stats(rt, &st), 0);
    assert_int_equal(st.timed_out, 1);
    assert_true(st.elapsed_ms >= 250 && tu_now_ms() - t0 >= 300);
    assert_int_equal(st.alive_at_close, 2);
    assert_int_equal(tu_load(&worked), 0);                  /* stuck behind BLOCK */
    assert_int_equal(st.dead_lettered, queued + LANE_MSGS); /* the close's */
    assert_int_equal(tu_load(&freed), queued + LANE_MSGS);  /* each destroyed once */
    tr_ref_release(pinned);
    tr_ref_release(laned);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&freed), queued + LANE_MSGS);
}

/* --- a current-thread runtime whose driver is stuck in a handler --------------- */

static void *open_gate_later(void *arg) {
    (void)arg;
    tu_sleep_ms(300);
    tu_store(&gate, 1);
    return NULL;
}

static void block_on_returns_when_the_handler_does_not_at_its_timeout(void **state) {
    (void)state;
    reset();
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.mode = TR_RUNTIME_CURRENT_THREAD;
    cfg.keep_open = 1;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &stuck_beh, NULL, &a), 0);
    assert_int_equal(tr_send_word(a, BLOCK, 0), 0);
    tr_future *f;
    assert_int_equal(tr_ask_word(a, WORK, 0, &f), 0); /* behind BLOCK; never answered */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_gate_later, NULL), 0);
    int64_t t0 = tu_now_ms();
    tr_msg *reply = NULL;
    int rc = tr_runtime_block_on(rt, f, 50, &reply);
    int64_t took = tu_now_ms() - t0;
    pthread_join(t, NULL);
    /* The driver ran BLOCK's handler itself: it came back only when the
     * gate opened (300 ms), then found the deadline passed. */
    assert_true(took >= 250);
    assert_true(rc == TR_ETIMEDOUT || rc == TR_ENOREPLY);
    assert_int_equal(tu_load(&blocked), 1);
    tr_future_release(f);
    tr_ref_release(a);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- the console while every worker is stuck ------------------------------------ */

static void the_console_answers_while_every_worker_is_stuck(void **state) {
    (void)state;
    reset();
    char dir[] = "/tmp/troupe-blocked-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.keep_open = 1;
    cfg.console_path = path;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &cfg), 0);
    tr_ref *a[2];
    for (int i = 0; i < 2; i++) {
        tr_spawn_opts o = {.name = "stuck"};
        assert_int_equal(tr_spawn(rt, &stuck_beh, &o, &a[i]), 0);
        assert_int_equal(tr_send_word(a[i], BLOCK, 0), 0);
    }
    assert_true(tu_wait_ge(&blocked, 2, TU_WAIT_MS)); /* both workers are stuck */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 10};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(write(fd, "snapshot\n", 9), 9);
    static char reply[1 << 16];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    close(fd);
    assert_non_null(strstr(reply, "stuck"));
    assert_non_null(strstr(reply, "running"));
    tu_store(&gate, 1);
    for (int i = 0; i < 2; i++)
        tr_ref_release(a[i]);
    assert_int_equal(tr_runtime_free(rt), 0);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_drain_past_its_deadline_reports_it_and_runs_every_destructor),
        cmocka_unit_test(block_on_returns_when_the_handler_does_not_at_its_timeout),
        cmocka_unit_test(the_console_answers_while_every_worker_is_stuck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
