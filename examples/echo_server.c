/* examples/echo_server.c - a TCP echo server: one acceptor, one actor per
 * connection, the connections under a dynamic supervisor.
 *
 *   echo_server [port] [workers] [seconds]
 *
 * Listens on 127.0.0.1:port (default 7777; 0 picks a free port), runs until
 * `seconds` have passed (default: until SIGINT/SIGTERM). The acceptor starts
 * a dynamic supervisor (temporary children) and gets each new connection as
 * TR_MSG_TCP_ACCEPTED; it asks the supervisor for a connection actor with
 * tr_sup_start_dynamic_async (the socket is the child's start arg, the
 * request's tag) and goes on accepting: the answer comes back as a message.
 * The connection actor writes back whatever it reads and stops when the
 * peer closes. Stopping the acceptor stops the supervisor, which stops every
 * connection first. Try it with: nc 127.0.0.1 7777 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

/* --- one actor per connection --------------------------------------------- */

typedef struct conn {
    tr_tcp *tcp;
} conn;

/* arg: the accepted socket. It is ours once init succeeds; if init fails,
 * the acceptor still owns it (it sees the failed start). */
static int conn_init(tr_ctx *ctx, void *state, void *arg) {
    conn *c = state;
    int rc = tr_tcp_start(arg, tr_self(ctx), 0);
    if (rc == 0)
        c->tcp = arg;
    return rc;
}

static int conn_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    conn *c = state;
    switch (msg->type) {
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

static const tr_behavior conn_behavior = {conn_init, conn_receive, conn_terminate};

/* --- the acceptor ------------------------------------------------------------ */

/* The connections' supervisor: one template, each child a temporary
 * connection actor (never restarted: a dead peer is not coming back). */
static const tr_child_spec conn_spec = {
    .behavior = &conn_behavior,
    .opts = {.state_size = sizeof(conn), .name = "echo-conn"},
    .restart = TR_CHILD_TEMPORARY,
    .shutdown_ms = 1000,
};

typedef struct acceptor {
    tr_tcp_listener *listener;
    tr_ref *conns; /* the dynamic supervisor */
    unsigned long accepted, started, failed;
} acceptor;

static int acceptor_init(tr_ctx *ctx, void *state, void *arg) {
    acceptor *a = state;
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.strategy = TR_SUP_DYNAMIC;
    sc.children = &conn_spec;
    sc.nchildren = 1;
    sc.name = "echo-conns";
    int rc = tr_sup_start(tr_ctx_runtime(ctx), &sc, &a->conns);
    if (rc != 0)
        return rc;
    int port = *(int *)arg;
    rc = tr_tcp_listen(tr_self(ctx), "127.0.0.1", (uint16_t)port, 512, 0, &a->listener);
    if (rc != 0) {
        tr_actor_stop(a->conns);
        tr_ref_release(a->conns);
        return rc;
    }
    *(int *)arg = tr_tcp_listener_port(a->listener);
    return 0;
}

static int acceptor_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    acceptor *a = state;
    switch (msg->type) {
    case TR_MSG_TCP_ACCEPTED: {
        tr_tcp *tcp = tr_msg_take_ptr(msg);
        a->accepted++;
        /* Never blocks: the answer comes as TR_MSG_RESULT, tagged with the
         * socket, which the child owns once it has started. */
        if (tr_sup_start_dynamic_async(ctx, a->conns, tcp, (uint64_t)(uintptr_t)tcp) != 0) {
            a->failed++;
            tr_tcp_close(tcp);
        }
        return 0;
    }
    case TR_MSG_RESULT:
    case TR_MSG_ASK_FAILED: {
        /* Not started: a failed start, or the supervisor ended before it saw
         * the request (TR_EDEAD). Any other ASK_FAILED came after the start
         * (the answer could not be delivered): the child owns the socket. */
        int code = tr_result_code(msg);
        if (code == 0 || (msg->type == TR_MSG_ASK_FAILED && code != TR_EDEAD)) {
            a->started++; /* the result's handle goes with the message */
        } else {
            a->failed++;
            tr_tcp_close((tr_tcp *)(uintptr_t)msg->corr);
        }
        return 0;
    }
    default:
        return 0;
    }
}

static void acceptor_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    acceptor *a = state;
    printf("echo: %lu connections accepted, %lu served, %lu refused\n", a->accepted, a->started,
           a->failed);
    tr_tcp_listener_close(a->listener);
    tr_actor_stop(a->conns); /* it stops the connections, then itself */
    tr_ref_release(a->conns);
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
