/* examples/http_hello.c - a minimal HTTP/1.1 "hello world" server with
 * keep-alive: one acceptor actor, one actor per connection, the connections
 * under a dynamic supervisor that the acceptor drives without blocking
 * (tr_sup_start_dynamic_async; see examples/echo_server.c).
 *
 *   http_hello [port] [workers] [seconds]
 *
 * Listens on 127.0.0.1:port (default 8080), runs for `seconds` (default:
 * until SIGINT/SIGTERM). Every request gets "Hello, World!". Connections stay
 * open (HTTP/1.1 keep-alive) unless the client asks to close, or speaks
 * HTTP/1.0 without keep-alive. Pipelined requests in one read are answered
 * with one write. Measure it with: wrk -t2 -c64 -d5s http://127.0.0.1:8080/ */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

#define MAX_HEADER 8192

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 13\r\n"
                               "\r\n"
                               "Hello, World!";
static const char RESPONSE_CLOSE[] = "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: 13\r\n"
                                     "Connection: close\r\n"
                                     "\r\n"
                                     "Hello, World!";
static const char BAD_REQUEST[] = "HTTP/1.1 400 Bad Request\r\n"
                                  "Content-Length: 0\r\n"
                                  "Connection: close\r\n"
                                  "\r\n";

/* --- one actor per connection --------------------------------------------- */

typedef struct conn {
    tr_tcp *tcp;
    char buf[MAX_HEADER]; /* unparsed bytes */
    size_t len;
    size_t skip; /* body bytes still to discard */
} conn;

/* The value of header `name` in the block [h, end), or NULL. */
static const char *header(const char *h, const char *end, const char *name, size_t *vlen) {
    size_t n = strlen(name);
    for (const char *line = h; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - line) > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
            const char *v = line + n + 1;
            while (v < eol && *v == ' ')
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol + 1;
    }
    return NULL;
}

/* Parse the complete requests in c->buf; append responses to out. Returns
 * 1 to keep the connection, 0 to close after the responses. */
static int serve(conn *c, char *out, size_t *olen, size_t ocap) {
    size_t pos = 0;
    int keep = 1;
    while (keep) {
        if (c->skip > 0) {
            size_t k = c->len - pos < c->skip ? c->len - pos : c->skip;
            pos += k;
            c->skip -= k;
            if (c->skip > 0)
                break;
        }
        char *start = c->buf + pos;
        size_t avail = c->len - pos;
        char *hend = memmem(start, avail, "\r\n\r\n", 4);
        if (hend == NULL) {
            if (avail >= sizeof(c->buf)) { /* header too large */
                memcpy(out + *olen, BAD_REQUEST, sizeof(BAD_REQUEST) - 1);
                *olen += sizeof(BAD_REQUEST) - 1;
                return 0;
            }
            break;
        }
        char *end = hend + 4;
        const char *eol = memchr(start, '\n', (size_t)(end - start));
        int http10 = eol != NULL && eol - start >= 9 && memcmp(eol - 9, "HTTP/1.0", 8) == 0;
        size_t vlen;
        const char *v = header(start, end, "Connection", &vlen);
        if (v != NULL && vlen == 5 && strncasecmp(v, "close", 5) == 0)
            keep = 0;
        else if (http10 && !(v != NULL && vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0))
            keep = 0;
        v = header(start, end, "Content-Length", &vlen);
        if (v != NULL)
            c->skip = strtoul(v, NULL, 10);
        const char *resp = keep ? RESPONSE : RESPONSE_CLOSE;
        size_t rlen = keep ? sizeof(RESPONSE) - 1 : sizeof(RESPONSE_CLOSE) - 1;
        if (*olen + rlen > ocap)
            break; /* answer the rest after this batch */
        memcpy(out + *olen, resp, rlen);
        *olen += rlen;
        pos = (size_t)(end - c->buf);
    }
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
    return keep;
}

/* arg: the accepted socket, ours once init succeeds (else the acceptor's). */
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
    case TR_MSG_TCP_DATA: {
        const char *data = tr_msg_data(msg);
        size_t n = msg->size;
        char out[16384];
        size_t olen = 0;
        int keep = 1;
        while (n > 0 && keep) {
            size_t k = sizeof(c->buf) - c->len < n ? sizeof(c->buf) - c->len : n;
            memcpy(c->buf + c->len, data, k);
            c->len += k;
            data += k;
            n -= k;
            keep = serve(c, out, &olen, sizeof(out) - sizeof(BAD_REQUEST));
            if (olen > sizeof(out) / 2 || (n > 0 && keep)) {
                tr_tcp_write(c->tcp, out, olen);
                olen = 0;
            }
        }
        if (olen > 0)
            tr_tcp_write(c->tcp, out, olen);
        if (!keep)
            return tr_stop(ctx); /* terminate closes after the write drains */
        return 0;
    }
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

/* The connections' supervisor: temporary children, never restarted. */
static const tr_child_spec conn_spec = {
    .behavior = &conn_behavior,
    .opts = {.state_size = sizeof(conn), .name = "http-conn"},
    .restart = TR_CHILD_TEMPORARY,
    .shutdown_ms = 1000,
};

typedef struct acceptor {
    tr_tcp_listener *listener;
    tr_ref *conns; /* the dynamic supervisor */
} acceptor;

static int acceptor_init(tr_ctx *ctx, void *state, void *arg) {
    acceptor *a = state;
    int *port = arg;
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.strategy = TR_SUP_DYNAMIC;
    sc.children = &conn_spec;
    sc.nchildren = 1;
    sc.name = "http-conns";
    int rc = tr_sup_start(tr_ctx_runtime(ctx), &sc, &a->conns);
    if (rc != 0)
        return rc;
    rc = tr_tcp_listen(tr_self(ctx), "127.0.0.1", (uint16_t)*port, 1024, 0, &a->listener);
    if (rc != 0) {
        tr_actor_stop(a->conns);
        tr_ref_release(a->conns);
        return rc;
    }
    *port = tr_tcp_listener_port(a->listener);
    return 0;
}

static int acceptor_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    acceptor *a = state;
    switch (msg->type) {
    case TR_MSG_TCP_ACCEPTED: {
        tr_tcp *tcp = tr_msg_take_ptr(msg);
        /* The socket is the child's start arg and the request's tag. */
        if (tr_sup_start_dynamic_async(ctx, a->conns, tcp, (uint64_t)(uintptr_t)tcp) != 0)
            tr_tcp_close(tcp);
        return 0;
    }
    case TR_MSG_RESULT:
    case TR_MSG_ASK_FAILED: {
        /* Not started (a failed start, or never seen: TR_EDEAD): the socket
         * is still ours. Other failures came after the start. */
        int code = tr_result_code(msg);
        if (code != 0 && (msg->type == TR_MSG_RESULT || code == TR_EDEAD))
            tr_tcp_close((tr_tcp *)(uintptr_t)msg->corr);
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
    tr_tcp_listener_close(a->listener);
    tr_actor_stop(a->conns); /* stops the connections, then itself */
    tr_ref_release(a->conns);
}

static const tr_behavior acceptor_behavior = {acceptor_init, acceptor_receive, acceptor_terminate};

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
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
    printf("http_hello: listening on http://127.0.0.1:%d/ with %u workers\n", port,
           workers ? workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
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
