/* tests/test_contracts_helping.c - "helping a stuck worker" (core/worker.c)
 * against its contract in docs/design.md: a handler that spins holds its
 * worker, and the timers and the TCP listener armed on that worker still
 * work while it spins (another worker runs the stuck loop): each one-shot
 * fires exactly once, a periodic timer never sends a burst of duplicates,
 * and a client's connection is accepted and its bytes all arrive. On a 1-worker runtime
 * nobody can help: the timers fire after the spin, still exactly once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

enum { T_GO = 1, T_FIRE, T_TICK };

#define SHOTS 40
#define SPIN_MS 300
#define PERIOD_MS 5

#define CLIENT_BYTES 1000

static uint64_t seen[SHOTS], fired, during, ticks, spin_done, arm_errors, bad;
static uint64_t port, bytes, accepted_during, closed;
static tr_ref *receiver;
static tr_tcp_listener *listener;
static tr_tcp *conn;

static void reset(void) {
    for (int i = 0; i < SHOTS; i++)
        tu_store(&seen[i], 0);
    uint64_t *all[] = {&fired, &during, &ticks, &spin_done, &arm_errors,
                       &bad,   &port,   &bytes, &closed,    &accepted_during};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tu_store(all[i], 0);
}

static int recv_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_FIRE) {
        if (msg->word >= SHOTS) {
            tu_add(&bad, 1);
            return 0;
        }
        tu_add(&seen[msg->word], 1);
        tu_add(&fired, 1);
        if (tu_load(&spin_done) == 0)
            tu_add(&during, 1);
    } else if (msg->type == T_TICK) {
        tu_add(&ticks, 1);
    } else if (msg->type == TR_MSG_TCP_ACCEPTED) {
        conn = tr_msg_take_ptr(msg);
        if (conn == NULL || tr_tcp_start(conn, tr_self(ctx), 7) != 0)
            tu_add(&bad, 1);
        if (tu_load(&spin_done) == 0)
            tu_add(&accepted_during, 1);
    } else if (msg->type == TR_MSG_TCP_DATA) {
        tu_add(&bytes, msg->size);
    } else if (msg->type == TR_MSG_TCP_CLOSED) {
        tr_tcp_close(conn);
        tu_add(&closed, 1);
    }
    return 0;
}

/* A plain client: connect, write, close. */
static void *client(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tu_load(&port))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[CLIENT_BYTES];
    memset(buf, 'b', sizeof(buf));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
        tu_add(&bad, 1);
    close(fd);
    return NULL;
}

static int spin_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type != T_GO)
        return 0;
    /* Armed from this turn: the timers live on this worker's loop. */
    for (uint64_t i = 0; i < SHOTS; i++) {
        tr_msg *m = NULL;
        if (tr_msg_new(&m, T_FIRE, 0) != 0) {
            tu_add(&arm_errors, 1);
            continue;
        }
        m->word = i;
        if (tr_timer_send_after(receiver, 1 + i, m, NULL) != 0) {
            tr_msg_free(m);
            tu_add(&arm_errors, 1);
        }
    }
    if (tr_tcp_listen(receiver, "127.0.0.1", 0, 16, 1, &listener) != 0)
        tu_add(&arm_errors, 1);
    else
        tu_store(&port, (uint64_t)tr_tcp_listener_port(listener));
    tr_timer_id id;
    if (tr_timer_tick_every(receiver, PERIOD_MS, PERIOD_MS, T_TICK, 0, &id) != 0)
        tu_add(&arm_errors, 1);
    int64_t end = tu_now_ms() + SPIN_MS;
    while (tu_now_ms() < end) /* spins: never returns to its loop */
        ;
    tu_store(&spin_done, 1);
    tr_timer_cancel(tr_ctx_runtime(ctx), id);
    return 0;
}

static void run(unsigned workers) {
    reset();
    tr_runtime *rt = tu_runtime_new(workers);
    tr_behavior rb = {.receive = recv_receive}, sb = {.receive = spin_receive};
    tr_ref *s = NULL;
    assert_int_equal(tr_spawn(rt, &rb, NULL, &receiver), 0);
    assert_int_equal(tr_spawn(rt, &sb, NULL, &s), 0);
    int64_t t0 = tu_now_ms();
    assert_int_equal(tr_send_word(s, T_GO, 0), 0);
    assert_true(tu_wait_ge(&port, 1, TU_WAIT_MS));
    pthread_t th;
    pthread_create(&th, NULL, client, NULL);
    pthread_join(th, NULL);
    assert_true(tu_wait_ge(&fired, SHOTS, TU_WAIT_MS));
    assert_true(tu_wait_ge(&closed, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&bytes), CLIENT_BYTES);
    assert_true(tu_wait_ge(&spin_done, 1, TU_WAIT_MS));
    tu_sleep_ms(3 * PERIOD_MS);
    int64_t elapsed = tu_now_ms() - t0;
    assert_int_equal(tu_load(&arm_errors), 0);
    assert_int_equal(tu_load(&bad), 0);
    assert_int_equal(tu_load(&fired), SHOTS);
    for (int i = 0; i < SHOTS; i++)
        assert_int_equal(tu_load(&seen[i]), 1);
    /* Never more ticks than periods (no burst of missed ticks). */
    assert_true(tu_load(&ticks) <= (uint64_t)(elapsed / PERIOD_MS) + 1);
    if (workers > 1) {
        /* Helped: the one-shots came while the handler still spun, and the
         * periodic timer ticked during the spin. */
        assert_int_equal(tu_load(&during), SHOTS);
        assert_true(tu_load(&ticks) >= 2);
        assert_int_equal(tu_load(&accepted_during), 1);
    }
    assert_int_equal(tr_tcp_listener_close(listener), 0);
    tr_ref_release(s);
    tr_ref_release(receiver);
    tr_runtime_free(rt);
}

static void timers_of_a_spinning_worker_fire_once_while_it_spins(void **st) {
    (void)st;
    run(2);
}

static void timers_of_a_spinning_sole_worker_fire_once_after_it(void **st) {
    (void)st;
    run(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timers_of_a_spinning_worker_fire_once_while_it_spins),
        cmocka_unit_test(timers_of_a_spinning_sole_worker_fire_once_after_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
