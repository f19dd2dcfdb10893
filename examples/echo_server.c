/* examples/echo_server.c - a TCP echo server: one acceptor, one actor per
 * connection.
 *
 *   echo_server [port] [workers] [seconds]
 *
 * Listens on 127.0.0.1:port (default 7777; 0 picks a free port), runs until
 * `seconds` have passed (default: until SIGINT/SIGTERM). The acceptor gets
 * each new connection as TR_MSG_TCP_ACCEPTED and spawns a connection actor;
 * the connection actor writes back whatever it reads and stops when the
 * peer closes. Try it with: nc 127.0.0.1 7777 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

enum { MSG_CONN = 1 };

/* --- one actor per connection --------------------------------------------- */

typedef struct conn {
    tr_tcp *tcp;
} conn;

static int conn_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    conn *c = state;
    switch (msg->type) {
    case MSG_CONN: /* our socket, from the acceptor */
        c->tcp = tr_msg_take_ptr(msg);
        return tr_tcp_start(c->tcp, tr_self(ctx), 0);
    case TR_MSG_TCP_DATA:
        if (tr_tcp_write(c->tcp, tr_msg_data(msg), msg->size) == TR_EFULL)
            fprintf(stderr, "echo: client is not reading; dropping %u bytes\n", msg->size);
        return 0;
    case TR_MSG_TCP_CLOSED: /* the peer went away (or an error) */
        return tr_stop(ctx);
    default:
        return 0;
    }
}

static void conn_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    conn *c = state;
    if (c->tcp != NULL)
        tr_tcp_close(c->tcp);
}

static const tr_behavior conn_behavior = {NULL, conn_receive, conn_terminate};

/* --- the acceptor ------------------------------------------------------------ */

typedef struct acceptor {
    tr_tcp_listener *listener;
    unsigned long accepted;
} acceptor;

static int acceptor_init(tr_ctx *ctx, void *state, void *arg) {
    acceptor *a = state;
    int port = *(int *)arg;
    int rc = tr_tcp_listen(tr_self(ctx), "127.0.0.1", (uint16_t)port, 512, 0, &a->listener);
    if (rc != 0)
        return rc;
    *(int *)arg = tr_tcp_listener_port(a->listener);
    return 0;
}

static void close_tcp(void *p) {
    tr_tcp_close(p);
}

static int acceptor_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    acceptor *a = state;
    if (msg->type != TR_MSG_TCP_ACCEPTED)
        return 0;
    tr_tcp *tcp = tr_msg_take_ptr(msg);
    a->accepted++;
    tr_spawn_opts o = {0};
    o.state_size = sizeof(conn);
    o.name = "echo-conn";
    tr_ref *child;
    if (tr_spawn(tr_ctx_runtime(ctx), &conn_behavior, &o, &child) != 0) {
        tr_tcp_close(tcp);
        return 0;
    }
    /* The socket travels as an owned pointer: closed if never taken. */
    if (tr_send_ptr(child, MSG_CONN, tcp, close_tcp) != 0)
        tr_tcp_close(tcp);
    tr_ref_release(child);
    return 0;
}

static void acceptor_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    acceptor *a = state;
    printf("echo: %lu connections accepted\n", a->accepted);
    tr_tcp_listener_close(a->listener);
}

static const tr_behavior acceptor_behavior = {acceptor_init, acceptor_receive, acceptor_terminate};

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7777;
    unsigned workers = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    double seconds = argc > 3 ? atof(argv[3]) : 0;

    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &cfg);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_runtime_close_on_signals(rt);
    tr_spawn_opts o = {0};
    o.state_size = sizeof(acceptor);
    o.arg = &port;
    o.name = "acceptor";
    rc = tr_spawn(rt, &acceptor_behavior, &o, NULL);
    if (rc != 0) {
        fprintf(stderr, "listen: %s\n", tr_strerror(rc));
        tr_runtime_free(rt);
        return 1;
    }
    printf("echo: listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    /* Run until the duration passes or a signal closes the runtime. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!tr_runtime_is_closed(rt)) {
        usleep(50 * 1000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (seconds > 0 && el >= seconds)
            break;
    }
    tr_runtime_free(rt);
    return 0;
}
