/* tests/test_tcp_timeout.c - idle and close timeouts of TCP connections
 * (tr_tcp_set_idle_timeout, tr_tcp_listener_set_idle_timeout,
 * tr_tcp_set_close_timeout), with real loopback sockets.
 *
 * The server side is a troupe actor; the client side is a plain blocking
 * socket of the test thread, with a receive timeout so a missing close
 * fails the test instead of hanging it. Only lower bounds on time are
 * asserted (a timeout never fires early); upper bounds are the waits'
 * generous deadlines. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define IDLE_MS 100
#define DEADLINE_MS 5000

enum { M_IDLE_ON_CONN = 1 };

typedef struct server {
    /* config */
    uint64_t conn_idle_ms; /* set on each accepted connection (0: none) */
    uint64_t close_ms;     /* close timeout on each connection */
    size_t flood;          /* write this many bytes, then close */
    /* results */
    uint64_t accepted, closed_ok, closed_timeout, closed_other, data, closed_at_ms;
    uint64_t flood_written;
    tr_tcp *c;
} server;

static int srv_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    *(server **)state = arg;
    return 0;
}

static void flood_and_close(server *s, tr_tcp *c) {
    static char chunk[16384];
    size_t sent = 0;
    while (sent < s->flood && tr_tcp_write(c, chunk, sizeof(chunk)) == 0)
        sent += sizeof(chunk);
    tu_store(&s->flood_written, sent);
    tr_tcp_close(c);
}

static int srv_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    server *s = *(server **)state;
    switch (msg->type) {
    case TR_MSG_TCP_ACCEPTED: {
        tr_tcp *c = tr_msg_take_ptr(msg);
        if (s->conn_idle_ms != 0 && tr_tcp_set_idle_timeout(c, s->conn_idle_ms) != 0)
            tu_add(&s->closed_other, 1);
        if (s->close_ms != 0 && tr_tcp_set_close_timeout(c, s->close_ms) != 0)
            tu_add(&s->closed_other, 1);
        if (s->flood != 0) {
            tu_add(&s->accepted, 1);
            flood_and_close(s, c);
            return 0;
        }
        s->c = c;
        tu_add(&s->accepted, 1);
        return tr_tcp_start(c, tr_self(ctx), 9);
    }
    case TR_MSG_TCP_DATA:
        tu_add(&s->data, msg->size);
        return 0;
    case TR_MSG_TCP_CLOSED:
        tu_store(&s->closed_at_ms, (uint64_t)tu_now_ms());
        if (msg->status == TR_ETIMEDOUT)
            tu_add(&s->closed_timeout, 1);
        else if (msg->status == 0)
            tu_add(&s->closed_ok, 1);
        else
            tu_add(&s->closed_other, 1);
        tr_tcp_close(s->c);
        s->c = NULL;
        return 0;
    default:
        return 0;
    }
}

static void srv_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    server *s = *(server **)state;
    if (s->c != NULL)
        tr_tcp_close(s->c);
}

static const tr_behavior srv_beh = {srv_init, srv_receive, srv_terminate};

typedef struct fixture {
    tr_runtime *rt;
    tr_ref *owner;
    tr_tcp_listener *l;
    int port;
} fixture;

static void fixture_up(fixture *f, server *s) {
    f->rt = tu_runtime_new(2);
    assert_non_null(f->rt);
    tr_spawn_opts o;
    memset(&o, 0, sizeof(o));
    o.state_size = sizeof(server *);
    o.arg = s;
    assert_int_equal(tr_spawn(f->rt, &srv_beh, &o, &f->owner), 0);
    assert_int_equal(tr_tcp_listen(f->owner, "127.0.0.1", 0, 16, 1, &f->l), 0);
    f->port = tr_tcp_listener_port(f->l);
}

static void fixture_down(fixture *f) {
    tr_tcp_listener_close(f->l);
    tr_ref_release(f->owner);
    assert_int_equal(tr_runtime_free(f->rt), 0);
}

static int client(int port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct timeval tv = {DEADLINE_MS / 1000, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* Reads until EOF or reset: 1, or 0 if the receive timeout passed first. */
static int read_until_closed(int fd) {
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0)
            continue;
        if (n == 0 || errno == ECONNRESET)
            return 1;
        if (errno == EINTR)
            continue;
        return 0; /* EAGAIN: SO_RCVTIMEO passed */
    }
}

/* A peer that connects and says nothing is shut after the listener's idle
 * timeout; the owner hears TR_ETIMEDOUT and the peer sees the close. */
static void listener_idle_timeout_closes_quiet_peer(void **state) {
    (void)state;
    server s = {0};
    fixture f;
    fixture_up(&f, &s);
    assert_int_equal(tr_tcp_listener_set_idle_timeout(f.l, IDLE_MS), 0);
    int64_t t0 = tu_now_ms();
    int fd = client(f.port, 0);
    assert_true(tu_wait_ge(&s.accepted, 1, DEADLINE_MS));
    assert_true(tu_wait_ge(&s.closed_timeout, 1, DEADLINE_MS));
    assert_true((int64_t)tu_load(&s.closed_at_ms) - t0 >= IDLE_MS - 5);
    assert_true(read_until_closed(fd));
    assert_int_equal(tu_load(&s.closed_other), 0);
    close(fd);
    fixture_down(&f);
}

/* Traffic restarts the idle clock: a peer that sends a byte every IDLE_MS/3
 * for 4 * IDLE_MS is not shut; once it stops, it is. The timeout is set on
 * the connection itself. */
static void idle_timeout_restarts_with_traffic(void **state) {
    (void)state;
    server s = {0};
    s.conn_idle_ms = IDLE_MS;
    fixture f;
    fixture_up(&f, &s);
    int fd = client(f.port, 0);
    assert_true(tu_wait_ge(&s.accepted, 1, DEADLINE_MS));
    int64_t until = tu_now_ms() + 4 * IDLE_MS, last = tu_now_ms(), gap = 0;
    uint64_t sent = 0;
    while (tu_now_ms() < until) {
        int64_t now = tu_now_ms();
        gap = now - last > gap ? now - last : gap;
        if (gap >= IDLE_MS)
            break; /* this thread slept past the timeout (a loaded host) */
        assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), 1);
        sent++;
        last = now;
        tu_sleep_ms(IDLE_MS / 5);
    }
    if (gap < IDLE_MS) { /* the traffic kept the connection busy throughout */
        assert_true(tu_wait_ge(&s.data, sent, DEADLINE_MS));
        assert_int_equal(tu_load(&s.closed_timeout), 0); /* still open */
    } else {
        fprintf(stderr,
                "note: a send came %lld ms after the last (host too loaded to "
                "check that traffic keeps the connection open)\n",
                (long long)gap);
    }
    assert_true(tu_wait_ge(&s.closed_timeout, 1, DEADLINE_MS));
    assert_true(read_until_closed(fd));
    close(fd);
    fixture_down(&f);
}

/* Turning the idle timeout off (0) keeps a quiet connection open. */
static void idle_timeout_zero_turns_it_off(void **state) {
    (void)state;
    server s = {0};
    fixture f;
    fixture_up(&f, &s);
    assert_int_equal(tr_tcp_listener_set_idle_timeout(f.l, IDLE_MS), 0);
    assert_int_equal(tr_tcp_listener_set_idle_timeout(f.l, 0), 0);
    int fd = client(f.port, 0);
    assert_true(tu_wait_ge(&s.accepted, 1, DEADLINE_MS));
    tu_sleep_ms(3 * IDLE_MS);
    assert_int_equal(tu_load(&s.closed_timeout), 0);
    close(fd); /* the peer closes: the owner hears a normal close */
    assert_true(tu_wait_ge(&s.closed_ok, 1, DEADLINE_MS));
    fixture_down(&f);
}

typedef struct fds_arg {
    int want;
} fds_arg;

static int fds_at_most(void *arg) {
    int n = tu_open_fds();
    return n >= 0 && n <= ((fds_arg *)arg)->want;
}

/* A peer that never reads: the server writes far more than the socket
 * buffers hold and closes. The close timeout drops the rest and frees the
 * fd; the peer sees a reset or an end, having got less than was written. */
static void close_timeout_drops_output_of_non_reading_peer(void **state) {
    (void)state;
    server s = {0};
    s.flood = 8u << 20; /* 8 MB: writes stop at the high mark (256 KB buffered) */
    s.close_ms = 200;
    fixture f;
    fixture_up(&f, &s);
    int before = tu_open_fds();
    int fd = client(f.port, 4096);
    assert_true(tu_wait_ge(&s.accepted, 1, DEADLINE_MS));
    assert_true(tu_wait_ge(&s.flood_written, 1, DEADLINE_MS));
    /* The server's socket is gone once the close timeout passed: only the
     * client's fd is left of the two. */
    fds_arg a = {before + 1};
    int64_t t0 = tu_now_ms();
    assert_true(tu_wait_until(fds_at_most, &a, DEADLINE_MS));
    assert_true(tu_now_ms() - t0 >= 100); /* not before most of the timeout */
    assert_true(read_until_closed(fd));
    close(fd);
    fixture_down(&f);
}

/* With buffered output and a reading peer, close still delivers everything
 * (the close timeout only limits a peer that does not read). */
static void close_delivers_everything_to_reading_peer(void **state) {
    (void)state;
    server s = {0};
    s.flood = 1u << 20;
    s.close_ms = 5000;
    fixture f;
    fixture_up(&f, &s);
    int fd = client(f.port, 0);
    assert_true(tu_wait_ge(&s.flood_written, 1, DEADLINE_MS));
    char buf[65536];
    uint64_t got = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        got += (uint64_t)n;
    assert_int_equal(n, 0); /* a clean end, not a reset */
    assert_int_equal(got, tu_load(&s.flood_written));
    close(fd);
    fixture_down(&f);
}

static void timeout_setters_check_arguments(void **state) {
    (void)state;
    assert_int_equal(tr_tcp_set_idle_timeout(NULL, 1), TR_EINVAL);
    assert_int_equal(tr_tcp_set_close_timeout(NULL, 1), TR_EINVAL);
    assert_int_equal(tr_tcp_listener_set_idle_timeout(NULL, 1), TR_EINVAL);
    server s = {0};
    fixture f;
    fixture_up(&f, &s);
    assert_int_equal(tr_tcp_listener_set_idle_timeout(f.l, UINT64_MAX), TR_EINVAL);
    fixture_down(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listener_idle_timeout_closes_quiet_peer),
        cmocka_unit_test(idle_timeout_restarts_with_traffic),
        cmocka_unit_test(idle_timeout_zero_turns_it_off),
        cmocka_unit_test(close_timeout_drops_output_of_non_reading_peer),
        cmocka_unit_test(close_delivers_everything_to_reading_peer),
        cmocka_unit_test(timeout_setters_check_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
