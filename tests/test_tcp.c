/* tests/test_tcp.c - TCP listeners and connections (troupe/io.h), loopback only.
 *
 * The echo test: an acceptor actor spawns one echo actor per connection;
 * CONNS client actors each send MSGS records of RECORD bytes and check that
 * the byte stream comes back exactly. Counts are exact; no timing. */
#include <arpa/inet.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define CONNS 100
#define MSGS 100 /* per connection: CONNS * MSGS = 10,000 messages */
#define RECORD 16

enum { M_GO = 1, M_CONN = 2 };

/* --- the echo server ----------------------------------------------------------- */

typedef struct server_stats {
    uint64_t accepted, closed_by_peer, errors, port;
    int lazy;      /* config: hold connections unread until M_GO */
    tr_ref *drain; /* config: who reads them then */
} server_stats;

typedef struct echo {
    tr_tcp *c;
    server_stats *st;
} echo;

static int echo_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    echo *e = state;
    e->st = arg;
    return 0;
}

static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    echo *e = state;
    switch (msg->type) {
    case M_GO: /* the connection, handed over by the acceptor */
        e->c = msg->ptr;
        msg->ptr = NULL;
        return tr_tcp_start(e->c, tr_self(ctx), 0);
    case TR_MSG_TCP_DATA:
        if (tr_tcp_write(e->c, tr_msg_data(msg), msg->size) != 0)
            tu_add(&e->st->errors, 1);
        return 0;
    case TR_MSG_TCP_CLOSED:
        tu_add(msg->status == 0 ? &e->st->closed_by_peer : &e->st->errors, 1);
        tr_stop(ctx);
        return 0;
    default:
        return 0;
    }
}

static void echo_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    echo *e = state;
    if (e->c != NULL)
        tr_tcp_close(e->c);
}

static const tr_behavior echo_beh = {echo_init, echo_receive, echo_terminate};

typedef struct acceptor {
    tr_tcp_listener *l;
    server_stats *st;
    int lazy; /* hold connections until M_GO (backpressure test) */
    tr_tcp *held[4];
    int nheld;
    tr_ref *drain; /* the actor that reads held connections */
} acceptor;

static void free_conn(void *p) {
    tr_tcp_close(p);
}

static int acceptor_init(tr_ctx *ctx, void *state, void *arg) {
    acceptor *a = state;
    a->st = arg;
    a->lazy = a->st->lazy;
    a->drain = a->st->drain;
    int rc = tr_tcp_listen(tr_self(ctx), "127.0.0.1", 0, 256, 9, &a->l);
    if (rc != 0)
        return rc;
    tu_store(&a->st->port, (uint64_t)tr_tcp_listener_port(a->l));
    return 0;
}

static int acceptor_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    acceptor *a = state;
    if (msg->type == TR_MSG_TCP_ACCEPTED) {
        if (msg->word != 9)
            tu_add(&a->st->errors, 1);
        tr_tcp *c = tr_msg_take_ptr(msg);
        tu_add(&a->st->accepted, 1);
        if (a->lazy) {
            if (a->nheld < 4)
                a->held[a->nheld++] = c;
            else
                tr_tcp_close(c);
            return 0;
        }
        tr_ref *child;
        tr_spawn_opts o = {0};
        o.state_size = sizeof(echo);
        o.arg = a->st;
        int rc = tr_spawn(tr_ctx_runtime(ctx), &echo_beh, &o, &child);
        if (rc != 0) {
            tr_tcp_close(c);
            return 0;
        }
        if (tr_send_ptr(child, M_GO, c, free_conn) != 0)
            tr_tcp_close(c);
        tr_ref_release(child);
        return 0;
    }
    if (msg->type == M_GO && a->drain != NULL) {
        for (int i = 0; i < a->nheld; i++) {
            tr_tcp_start(a->held[i], a->drain, (uint64_t)i);
            tr_send_ptr(a->drain, M_CONN, a->held[i], NULL); /* borrowed */
        }
    }
    return 0;
}

static void acceptor_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    acceptor *a = state;
    for (int i = 0; i < a->nheld; i++)
        tr_tcp_close(a->held[i]);
    if (a->l != NULL)
        tr_tcp_listener_close(a->l);
}

static const tr_behavior acceptor_beh = {acceptor_init, acceptor_receive, acceptor_terminate};

static tr_ref *spawn_acceptor(tr_runtime *rt, server_stats *st) {
    tr_spawn_opts o = {0};
    o.state_size = sizeof(acceptor);
    o.arg = st;
    tr_ref *ref = NULL;
    assert_int_equal(tr_spawn(rt, &acceptor_beh, &o, &ref), 0);
    assert_true(tu_load(&st->port) > 0);
    return ref;
}

/* --- the echo clients ------------------------------------------------------------- */

typedef struct client_stats {
    uint64_t connected, done_ok, mismatches, errors, refused;
} client_stats;

typedef struct client {
    tr_tcp *c;
    client_stats *st;
    unsigned id;
    size_t got;
    char sent[MSGS * RECORD];
    char recv[MSGS * RECORD];
} client;

typedef struct client_arg {
    client_stats *st;
    unsigned id;
    uint16_t port;
} client_arg;

static int client_init(tr_ctx *ctx, void *state, void *arg) {
    client *cl = state;
    client_arg *ca = arg;
    cl->st = ca->st;
    cl->id = ca->id;
    return tr_tcp_connect(tr_self(ctx), "127.0.0.1", ca->port, cl->id, &cl->c);
}

static int client_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    client *cl = state;
    switch (msg->type) {
    case TR_MSG_TCP_CONNECTED:
        if (msg->status != 0 || msg->word != cl->id) {
            tu_add(&cl->st->errors, 1);
            tr_stop(ctx);
            return 0;
        }
        tu_add(&cl->st->connected, 1);
        for (unsigned i = 0; i < MSGS; i++) {
            char *r = cl->sent + (size_t)i * RECORD;
            char tmp[RECORD + 1];
            snprintf(tmp, sizeof(tmp), "c%04u-m%04u-xyz", cl->id, i);
            memcpy(r, tmp, RECORD);
            if (tr_tcp_write(cl->c, r, RECORD) != 0)
                tu_add(&cl->st->errors, 1);
        }
        return 0;
    case TR_MSG_TCP_DATA: {
        size_t n = msg->size;
        if (cl->got + n > sizeof(cl->recv)) {
            tu_add(&cl->st->mismatches, 1);
            n = sizeof(cl->recv) - cl->got;
        }
        memcpy(cl->recv + cl->got, tr_msg_data(msg), n);
        cl->got += n;
        if (cl->got == sizeof(cl->recv)) {
            if (memcmp(cl->recv, cl->sent, sizeof(cl->recv)) == 0)
                tu_add(&cl->st->done_ok, 1);
            else
                tu_add(&cl->st->mismatches, 1);
            tr_stop(ctx);
        }
        return 0;
    }
    case TR_MSG_TCP_CLOSED:
        tu_add(&cl->st->errors, 1);
        tr_stop(ctx);
        return 0;
    default:
        return 0;
    }
}

static void client_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    client *cl = state;
    if (cl->c != NULL)
        tr_tcp_close(cl->c);
}

static const tr_behavior client_beh = {client_init, client_receive, client_terminate};

static void echo_10000_messages_over_100_connections(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static server_stats sst;
    static client_stats cst;
    memset(&sst, 0, sizeof(sst));
    memset(&cst, 0, sizeof(cst));
    tr_ref *acc = spawn_acceptor(rt, &sst);
    for (unsigned i = 0; i < CONNS; i++) {
        client_arg ca = {&cst, i, (uint16_t)tu_load(&sst.port)};
        tr_spawn_opts o = {0};
        o.state_size = sizeof(client);
        o.arg = &ca;
        assert_int_equal(tr_spawn(rt, &client_beh, &o, NULL), 0);
    }
    assert_true(tu_wait_ge(&cst.done_ok, CONNS, TU_WAIT_MS));
    /* Clients close; each echo actor sees its peer go. */
    assert_true(tu_wait_ge(&sst.closed_by_peer, CONNS, TU_WAIT_MS));
    assert_int_equal(tu_load(&cst.connected), CONNS);
    assert_int_equal(tu_load(&cst.mismatches), 0);
    assert_int_equal(tu_load(&cst.errors), 0);
    assert_int_equal(tu_load(&sst.accepted), CONNS);
    assert_int_equal(tu_load(&sst.errors), 0);
    tr_ref_release(acc);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- connect errors --------------------------------------------------------------- */

static int closed_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* nobody listens there now */
    return ntohs(a.sin_port);
}

typedef struct refused {
    tr_tcp *c;
    uint64_t status_eio, err, other;
} refused;

static int refused_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    refused *r = state;
    if (msg->type == TR_MSG_TCP_CONNECTED) {
        if (msg->status == TR_EIO) {
            tu_store(&r->err, (uint64_t)tr_io_errno(msg));
            tu_add(&r->status_eio, 1);
        } else {
            tu_add(&r->other, 1);
        }
        tr_tcp_close(r->c);
        r->c = NULL;
        tr_stop(ctx);
    }
    return 0;
}

static void connect_to_a_closed_port_reports_an_error_message(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior beh = {NULL, refused_receive, NULL};
    refused r;
    memset(&r, 0, sizeof(r));
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    assert_int_equal(tr_tcp_connect(ref, "127.0.0.1", (uint16_t)closed_port(), 5, &r.c), 0);
    assert_true(tu_wait_ge(&r.status_eio, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&r.err), ECONNREFUSED);
    assert_int_equal(tu_load(&r.other), 0);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

static void tcp_calls_reject_bad_arguments(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(1);
    static const tr_behavior beh = {NULL, refused_receive, NULL};
    refused r;
    memset(&r, 0, sizeof(r));
    tr_spawn_opts o = {0};
    o.arg = &r;
    tr_ref *ref;
    assert_int_equal(tr_spawn(rt, &beh, &o, &ref), 0);
    tr_tcp *c = (tr_tcp *)1;
    tr_tcp_listener *l = (tr_tcp_listener *)1;
    assert_int_equal(tr_tcp_connect(ref, "not an address", 80, 0, &c), TR_EINVAL);
    assert_null(c);
    assert_int_equal(tr_tcp_connect(ref, "127.0.0.1", 0, 0, &c), TR_EINVAL);
    assert_int_equal(tr_tcp_connect(NULL, "127.0.0.1", 80, 0, &c), TR_EINVAL);
    assert_int_equal(tr_tcp_listen(ref, "localhost!", 0, 0, 0, &l), TR_EINVAL);
    assert_null(l);
    assert_int_equal(tr_tcp_listen(ref, NULL, 0, 0, 0, &l), TR_EINVAL);
    assert_int_equal(tr_tcp_write(NULL, "x", 1), TR_EINVAL);
    assert_int_equal(tr_tcp_close(NULL), TR_EINVAL);
    assert_int_equal(tr_tcp_listener_close(NULL), TR_EINVAL);
    assert_int_equal(tr_tcp_start(NULL, ref, 0), TR_EINVAL);
    tr_ref_release(ref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- write backpressure ------------------------------------------------------------- */

#define CHUNK 16384
#define MAX_CHUNKS 8192 /* 128 MiB: far beyond any loopback socket buffer */

typedef struct flooder {
    tr_tcp *c;
    uint16_t port; /* config */
    uint64_t sent, full_msgs, efull, ready_msgs, after_ready_ok, errors;
} flooder;

static char chunk[CHUNK];

/* The actor's state is a pointer to the test's flooder record. */
static int flooder_init(tr_ctx *ctx, void *state, void *arg) {
    flooder *f = arg;
    *(flooder **)state = f;
    return tr_tcp_connect(tr_self(ctx), "127.0.0.1", f->port, 0, &f->c);
}

static int flooder_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    flooder *f = *(flooder **)state;
    switch (msg->type) {
    case TR_MSG_TCP_CONNECTED:
        if (msg->status != 0) {
            tu_add(&f->errors, 1);
            return 0;
        }
        tr_tcp_set_watermarks(f->c, 4096, 65536);
        /* Write until the runtime refuses: the kernel buffers fill first,
         * then ours reaches the high mark. */
        for (int i = 0; i < MAX_CHUNKS; i++) {
            int rc = tr_tcp_write(f->c, chunk, CHUNK);
            if (rc == TR_EFULL) {
                tu_add(&f->efull, 1);
                break;
            }
            if (rc != 0) {
                tu_add(&f->errors, 1);
                break;
            }
            tu_add(&f->sent, CHUNK);
        }
        return 0;
    case TR_MSG_TCP_WRITE_FULL:
        tu_add(&f->full_msgs, 1);
        return 0;
    case TR_MSG_TCP_WRITE_READY:
        tu_add(&f->ready_msgs, 1);
        if (tr_tcp_write(f->c, chunk, CHUNK) == 0) {
            tu_add(&f->sent, CHUNK);
            tu_add(&f->after_ready_ok, 1);
        }
        return 0;
    case TR_MSG_TCP_CLOSED:
        tu_add(&f->errors, 1);
        return 0;
    default:
        return 0;
    }
}

static void flooder_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    flooder *f = *(flooder **)state;
    tr_tcp_close(f->c);
}

typedef struct drain {
    uint64_t bytes;
} drain;

static int drain_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    drain *d = state;
    if (msg->type == TR_MSG_TCP_DATA)
        tu_add(&d->bytes, msg->size);
    return 0;
}

static void writer_is_told_when_the_buffer_fills_and_drains(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior dbeh = {NULL, drain_receive, NULL};
    static drain d;
    memset(&d, 0, sizeof(d));
    tr_spawn_opts dop = {0};
    dop.arg = &d;
    tr_ref *dref;
    assert_int_equal(tr_spawn(rt, &dbeh, &dop, &dref), 0);
    static server_stats sst;
    memset(&sst, 0, sizeof(sst));
    sst.lazy = 1;
    sst.drain = dref;
    tr_ref *acc = spawn_acceptor(rt, &sst);

    static const tr_behavior fbeh = {flooder_init, flooder_receive, flooder_terminate};
    static flooder f;
    memset(&f, 0, sizeof(f));
    f.port = (uint16_t)tu_load(&sst.port);
    tr_spawn_opts fo = {0};
    fo.arg = &f;
    fo.state_size = sizeof(flooder *);
    tr_ref *fref;
    assert_int_equal(tr_spawn(rt, &fbeh, &fo, &fref), 0);
    assert_true(tu_wait_ge(&f.efull, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&f.full_msgs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&f.ready_msgs), 0); /* nobody reads yet */
    /* The kernel completes connections before accept(): make sure the
     * acceptor holds ours before telling it to start reading. */
    assert_true(tu_wait_ge(&sst.accepted, 1, TU_WAIT_MS));
    /* The server starts reading: the buffer drains and the writer hears. */
    assert_int_equal(tr_send_word(acc, M_GO, 0), 0);
    assert_true(tu_wait_ge(&f.ready_msgs, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&f.after_ready_ok, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&d.bytes, tu_load(&f.sent), TU_WAIT_MS));
    assert_int_equal(tu_load(&d.bytes), tu_load(&f.sent));
    assert_int_equal(tu_load(&f.full_msgs), 1);
    assert_int_equal(tu_load(&f.errors), 0);
    tr_ref_release(acc);
    tr_ref_release(fref);
    tr_ref_release(dref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- read flow control ------------------------------------------------------------ */

/* Pauses its connection at the first data; the test resumes it. */
typedef struct pauser {
    tr_tcp *c;
    uint64_t bytes, paused, resume;
} pauser;

static int pauser_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    pauser *p = state;
    if (msg->type == M_CONN) {
        p->c = msg->ptr;
        if (tu_load(&p->bytes) > 0 && !tu_load(&p->paused) && tr_tcp_pause(p->c) == 0)
            tu_store(&p->paused, 1);
    } else if (msg->type == M_GO) {
        tr_tcp_resume(p->c);
    } else if (msg->type == TR_MSG_TCP_DATA) {
        tu_add(&p->bytes, msg->size);
        if (p->c != NULL && !tu_load(&p->paused) && tr_tcp_pause(p->c) == 0)
            tu_store(&p->paused, 1);
    }
    return 0;
}

static void paused_connection_stops_reading_until_resumed(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static const tr_behavior pbeh = {NULL, pauser_receive, NULL};
    static pauser p;
    memset(&p, 0, sizeof(p));
    tr_spawn_opts pop = {0};
    pop.arg = &p;
    tr_ref *pref;
    assert_int_equal(tr_spawn(rt, &pbeh, &pop, &pref), 0);
    static server_stats sst;
    memset(&sst, 0, sizeof(sst));
    sst.lazy = 1;
    sst.drain = pref;
    tr_ref *acc = spawn_acceptor(rt, &sst);
    static const tr_behavior fbeh = {flooder_init, flooder_receive, flooder_terminate};
    static flooder f;
    memset(&f, 0, sizeof(f));
    f.port = (uint16_t)tu_load(&sst.port);
    tr_spawn_opts fo = {0};
    fo.arg = &f;
    fo.state_size = sizeof(flooder *);
    tr_ref *fref;
    assert_int_equal(tr_spawn(rt, &fbeh, &fo, &fref), 0);
    assert_true(tu_wait_ge(&f.efull, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&sst.accepted, 1, TU_WAIT_MS));
    assert_int_equal(tr_send_word(acc, M_GO, 0), 0);
    assert_true(tu_wait_ge(&p.paused, 1, TU_WAIT_MS));
    /* Paused: whatever was read before the pause took effect arrives, then
     * nothing more, although the writer still has data queued. */
    tu_sleep_ms(300);
    uint64_t b1 = tu_load(&p.bytes);
    tu_sleep_ms(300);
    assert_int_equal(tu_load(&p.bytes), b1);
    assert_true(b1 < tu_load(&f.sent));
    /* Resumed: everything arrives. */
    assert_int_equal(tr_send_word(pref, M_GO, 0), 0);
    assert_true(tu_wait_ge(&p.bytes, tu_load(&f.sent), TU_WAIT_MS));
    assert_true(tu_wait_ge(&f.ready_msgs, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&f.errors), 0);
    tr_ref_release(acc);
    tr_ref_release(fref);
    tr_ref_release(pref);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- shutdown ---------------------------------------------------------------------------- */

static void shutdown_with_open_connections_and_listener_closes_all(void **s) {
    (void)s;
    tr_runtime *rt = tu_runtime_new(2);
    static server_stats sst;
    static client_stats cst;
    memset(&sst, 0, sizeof(sst));
    memset(&cst, 0, sizeof(cst));
    sst.lazy = 1; /* accepted connections stay open, unread */
    tr_ref *acc = spawn_acceptor(rt, &sst);
    static const tr_behavior fbeh = {flooder_init, flooder_receive, flooder_terminate};
    static flooder f[3];
    for (int i = 0; i < 3; i++) {
        memset(&f[i], 0, sizeof(f[i]));
        f[i].port = (uint16_t)tu_load(&sst.port);
        tr_spawn_opts fo = {0};
        fo.arg = &f[i];
        fo.state_size = sizeof(flooder *);
        assert_int_equal(tr_spawn(rt, &fbeh, &fo, NULL), 0);
    }
    /* Buffers full, timers pending, listener open: free must not hang or leak. */
    for (int i = 0; i < 3; i++)
        assert_true(tu_wait_ge(&f[i].efull, 1, TU_WAIT_MS));
    assert_true(tu_wait_ge(&sst.accepted, 3, TU_WAIT_MS));
    tr_msg *m;
    assert_int_equal(tr_msg_new(&m, M_GO, 0), 0);
    assert_int_equal(tr_timer_send_after(acc, 60000, m, NULL), 0);
    tr_ref_release(acc);
    assert_int_equal(tr_runtime_free(rt), 0);
    assert_int_equal(tu_load(&sst.accepted), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(echo_10000_messages_over_100_connections),
        cmocka_unit_test(connect_to_a_closed_port_reports_an_error_message),
        cmocka_unit_test(tcp_calls_reject_bad_arguments),
        cmocka_unit_test(writer_is_told_when_the_buffer_fills_and_drains),
        cmocka_unit_test(paused_connection_stops_reading_until_resumed),
        cmocka_unit_test(shutdown_with_open_connections_and_listener_closes_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
