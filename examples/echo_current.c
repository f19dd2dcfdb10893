/* examples/echo_current.c - a TCP echo server on a current-thread runtime.
 *
 *   echo_current [port] [clients]
 *
 * The runtime has no worker thread (TR_RUNTIME_CURRENT_THREAD): main drives
 * it with tr_runtime_run, so the acceptor, every connection actor and the
 * listener's I/O all run on main's thread, which each actor checks. Listens
 * on 127.0.0.1:port (default 0: a free port). With clients > 0 (default 20)
 * a client thread connects that many times, sends a line and reads it back,
 * then closes the runtime, and the program prints a checked line; with
 * clients = 0 it serves until SIGINT/SIGTERM (try: nc 127.0.0.1 port). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <troupe.h>

static pthread_t main_thread;
static unsigned long off_main; /* actor callbacks that ran elsewhere (only main touches it) */

static void check_thread(void) {
    if (!pthread_equal(pthread_self(), main_thread))
        off_main++;
}

/* --- one actor per connection ------------------------------------------- */

typedef struct conn {
    tr_tcp *tcp;
} conn;

/* arg: the accepted socket, ours once init succeeds. */
static int conn_init(tr_ctx *ctx, void *state, void *arg) {
    conn *c = state;
    check_thread();
    int rc = tr_tcp_start(arg, tr_self(ctx), 0);
    if (rc == 0)
        c->tcp = arg;
    return rc;
}

static int conn_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    conn *c = state;
    check_thread();
    switch (msg->type) {
    case TR_MSG_TCP_DATA:
        (void)tr_tcp_write(c->tcp, tr_msg_data(msg), msg->size);
        return 0;
    case TR_MSG_TCP_CLOSED:
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

typedef struct acceptor {
    tr_tcp_listener *listener;
    unsigned long accepted;
} acceptor;

static int acceptor_init(tr_ctx *ctx, void *state, void *arg) {
    acceptor *a = state;
    int *port = arg;
    int rc = tr_tcp_listen(tr_self(ctx), "127.0.0.1", (uint16_t)*port, 64, 0, &a->listener);
    if (rc == 0)
        *port = tr_tcp_listener_port(a->listener);
    return rc;
}

static int acceptor_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    acceptor *a = state;
    check_thread();
    if (msg->type != TR_MSG_TCP_ACCEPTED)
        return 0;
    tr_tcp *tcp = tr_msg_take_ptr(msg);
    a->accepted++;
    /* Spawned from the driving thread: init runs right here. */
    tr_spawn_opts o = {.state_size = sizeof(conn), .arg = tcp, .name = "echo-conn"};
    if (tr_spawn(tr_ctx_runtime(ctx), &conn_behavior, &o, NULL) != 0)
        tr_tcp_close(tcp); /* init did not run or failed: the socket is still ours */
    return 0;
}

static void acceptor_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    acceptor *a = state;
    printf("echo_current: %lu connections accepted\n", a->accepted);
    tr_tcp_listener_close(a->listener);
}

static const tr_behavior acceptor_behavior = {acceptor_init, acceptor_receive, acceptor_terminate};

/* --- the client (a plain thread with blocking sockets) ------------------- */

typedef struct client {
    tr_runtime *rt;
    int port;
    int n;
    int ok;
} client;

static int echo_once(int port, int i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char line[32], back[32];
    int len = snprintf(line, sizeof(line), "hello %d\n", i);
    int got = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, line, (size_t)len) == len) {
        while (got < len) {
            ssize_t r = read(fd, back + got, (size_t)(len - got));
            if (r <= 0)
                break;
            got += (int)r;
        }
    }
    close(fd);
    return got == len && memcmp(line, back, (size_t)len) == 0;
}

static void *client_main(void *arg) {
    client *c = arg;
    for (int i = 0; i < c->n; i++)
        c->ok += echo_once(c->port, i);
    tr_runtime_close(c->rt); /* tr_runtime_run returns once every actor ended */
    return NULL;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int clients = argc > 2 ? atoi(argv[2]) : 20;
    main_thread = pthread_self();

    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.mode = TR_RUNTIME_CURRENT_THREAD;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &cfg);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_spawn_opts o = {.state_size = sizeof(acceptor), .arg = &port, .name = "acceptor"};
    rc = tr_spawn(rt, &acceptor_behavior, &o, NULL);
    if (rc != 0) {
        fprintf(stderr, "listen: %s\n", tr_strerror(rc));
        tr_runtime_free(rt);
        return 1;
    }
    printf("echo_current: listening on 127.0.0.1:%d\n", port);
    fflush(stdout);
    client c = {rt, port, clients, 0};
    pthread_t th;
    if (clients > 0) {
        if (pthread_create(&th, NULL, client_main, &c) != 0) {
            tr_runtime_free(rt);
            return 1;
        }
    } else {
        tr_runtime_close_on_signals(rt);
    }
    rc = tr_runtime_run(rt); /* this thread runs every actor until the runtime closes */
    if (clients > 0)
        pthread_join(th, NULL);
    tr_runtime_free(rt);
    if (rc != 0) {
        fprintf(stderr, "run: %s\n", tr_strerror(rc));
        return 1;
    }
    if (clients == 0)
        return 0;
    int good = c.ok == clients && off_main == 0;
    printf("echo_current: %d/%d echoes, %lu callbacks off the main thread: %s\n", c.ok, clients,
           off_main, good ? "ok" : "FAILED");
    return good ? 0 : 1;
}
