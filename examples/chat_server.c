/* examples/chat_server.c - a supervised multi-actor TCP chat service: the
 * program docs/building-an-actor-system.md walks through.
 *
 *   chat_server [port] [workers] [seconds]
 *
 * Listens on 127.0.0.1:port (default 7000; 0 picks a free port) and runs for
 * `seconds` (default: until SIGINT/SIGTERM). Try it with two terminals:
 * `nc 127.0.0.1 7000`. Lines:
 *   /nick NAME      take a name (registered as "user:NAME")
 *   /msg NAME TEXT  a private message, sent by name
 *   /stats          ask the stats actor (found by name) how many lines it saw
 *   /crash          crash this connection's actor (the others carry on)
 *   /crashstats     crash the stats actor (its supervisor restarts it, and
 *                   the restart registers its name again)
 *   anything else   goes to everyone in the lobby (a process group)
 *
 * The tree:
 *
 *   chat (one_for_one)
 *    |- stats        worker, registered as "chat.stats" (by its spawn options)
 *    `- front (rest_for_one)
 *        |- conns    dynamic supervisor of connections, registered
 *        |           "chat.conns" by its start function; temporary children
 *        `- acceptor listens; asks "chat.conns" to start each connection
 *
 * A stats crash restarts stats alone. rest_for_one in front: if the
 * connections' supervisor dies, the acceptor (which depends on it) restarts
 * too. Nothing here blocks a worker: the acceptor starts connections with
 * tr_sup_start_dynamic_async and gets the result as a message.
 *
 * Built with CHAT_SERVER_NO_MAIN, this file is the service for
 * tests/test_chat_server.c, which drives it with 50 clients. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <troupe.h>

#include "chat_server.h"

enum { MSG_LINE = 1, MSG_STATS_GET, MSG_STATS_COUNT, MSG_STATS_CRASH, MSG_PRIVATE };

#define LOBBY "chat.lobby"
#define MAX_LINE 512

/* --- the stats actor: counts lines, answers whoever asks -------------------- */

typedef struct stats {
    uint64_t lines;
} stats;

static int stats_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    stats *s = state;
    switch (msg->type) {
    case MSG_STATS_COUNT:
        s->lines++;
        return 0;
    case MSG_STATS_GET: /* a tell; the answer goes back to its sender */
        tr_reply_word(msg, MSG_STATS_GET, s->lines); /* TR_EDEAD: it left */
        return 0;
    case MSG_STATS_CRASH:
        tr_panic(ctx, TR_ECRASHED, "asked to crash");
    default:
        return 0;
    }
}

static const tr_behavior stats_behavior = {.receive = stats_receive};

/* --- one actor per connection ----------------------------------------------- */

typedef struct conn {
    tr_tcp *tcp;
    char nick[32];
    char buf[MAX_LINE];
    size_t len;
} conn;

static void say(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(conn *c, const char *fmt, ...) {
    char out[MAX_LINE + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    if (n > 0)
        tr_tcp_write(c->tcp, out, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
}

/* A lobby line goes to every other member. The payload is copied once into a
 * shared block; every member's message reads the same bytes. */
static void to_lobby(tr_ctx *ctx, conn *c, const char *text) {
    char line[MAX_LINE + 40];
    int n = snprintf(line, sizeof(line), "%s: %s\n", c->nick, text);
    tr_group_broadcast_others(ctx, LOBBY, MSG_LINE, line,
                              (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void command(tr_ctx *ctx, conn *c, char *line) {
    tr_runtime *rt = tr_ctx_runtime(ctx);
    tr_send_word_named(rt, "chat.stats", MSG_STATS_COUNT, 0);
    if (strncmp(line, "/nick ", 6) == 0) {
        char name[64];
        snprintf(name, sizeof(name), "user:%.31s", line + 6);
        int rc = tr_register(tr_self(ctx), name);
        if (rc == 0)
            snprintf(c->nick, sizeof(c->nick), "%.31s", line + 6);
        say(c, rc == 0 ? "ok %s\n" : "nick taken: %s\n", line + 6);
    } else if (strncmp(line, "/msg ", 5) == 0) {
        char *to = line + 5, *text = strchr(to, ' ');
        if (text == NULL)
            return say(c, "usage: /msg NAME TEXT\n");
        *text++ = '\0';
        char name[64], out[MAX_LINE + 40];
        snprintf(name, sizeof(name), "user:%s", to);
        int n = snprintf(out, sizeof(out), "%s> %s\n", c->nick, text);
        if (tr_send_named(rt, name, MSG_PRIVATE, out, (size_t)n) != 0)
            say(c, "no such user: %s\n", to);
    } else if (strcmp(line, "/stats") == 0) {
        if (tr_send_word_named(rt, "chat.stats", MSG_STATS_GET, 0) != 0)
            say(c, "stats unavailable\n");
    } else if (strcmp(line, "/crashstats") == 0) {
        tr_send_word_named(rt, "chat.stats", MSG_STATS_CRASH, 0);
    } else if (strcmp(line, "/crash") == 0) {
        tr_panic(ctx, TR_ECRASHED, "client asked to crash");
    } else {
        to_lobby(ctx, c, line);
    }
}

static void on_data(tr_ctx *ctx, conn *c, const char *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            c->buf[c->len] = '\0';
            if (c->len > 0 && c->buf[c->len - 1] == '\r')
                c->buf[c->len - 1] = '\0';
            c->len = 0;
            command(ctx, c, c->buf);
        } else if (c->len < MAX_LINE - 1) {
            c->buf[c->len++] = data[i];
        }
    }
}

/* Started by the connections' supervisor with the accepted socket as arg. A
 * failed init leaves the socket with the acceptor, which closes it. */
static int conn_init(tr_ctx *ctx, void *state, void *arg) {
    conn *c = state;
    int rc = tr_group_join(tr_self(ctx), LOBBY);
    if (rc != 0)
        return rc;
    rc = tr_tcp_start(arg, tr_self(ctx), 0);
    if (rc != 0)
        return rc;
    c->tcp = arg;
    snprintf(c->nick, sizeof(c->nick), "guest%llu", (unsigned long long)tr_ref_id(tr_self(ctx)));
    say(c, "welcome %s\n", c->nick);
    return 0;
}

static int conn_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    conn *c = state;
    switch (msg->type) {
    case TR_MSG_TCP_DATA:
        on_data(ctx, c, tr_msg_data(msg), msg->size);
        return 0;
    case TR_MSG_TCP_CLOSED:
        return tr_stop(ctx);
    case MSG_LINE: /* a lobby line */
    case MSG_PRIVATE:
        say(c, "%.*s", (int)msg->size, (const char *)tr_msg_data(msg));
        return 0;
    case MSG_STATS_GET: /* the stats actor's answer to our /stats */
        say(c, "stats: %llu lines\n", (unsigned long long)msg->word);
        return 0;
    default:
        return 0;
    }
}

/* Names and group membership go by themselves when the actor ends. */
static void conn_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    conn *c = state;
    if (c->tcp != NULL)
        tr_tcp_close(c->tcp);
}

static const tr_behavior conn_behavior = {conn_init, conn_receive, conn_terminate};

/* --- the acceptor --------------------------------------------------------- */

typedef struct acceptor {
    tr_tcp_listener *listener;
} acceptor;

static int acceptor_init(tr_ctx *ctx, void *state, void *arg) {
    acceptor *a = state;
    chat_config *cfg = arg;
    int rc = tr_tcp_listen(tr_self(ctx), "127.0.0.1", cfg->port, 512, 0, &a->listener);
    if (rc != 0)
        return rc;
    /* A restarted acceptor listens on the same port. */
    cfg->port = (uint16_t)tr_tcp_listener_port(a->listener);
    return 0;
}

static int acceptor_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == TR_MSG_TCP_ACCEPTED) {
        tr_tcp *tcp = tr_msg_take_ptr(msg);
        tr_ref *conns;
        int rc = tr_whereis(tr_ctx_runtime(ctx), "chat.conns", &conns);
        if (rc == 0) {
            /* The tag is the socket: the result says whether it found an owner. */
            rc = tr_sup_start_dynamic_async(ctx, conns, tcp, (uint64_t)(uintptr_t)tcp);
            tr_ref_release(conns);
        }
        if (rc != 0)
            tr_tcp_close(tcp);
        return 0;
    }
    if (msg->type == TR_MSG_RESULT || msg->type == TR_MSG_ASK_FAILED) {
        /* Not started: a failed start, or the supervisor never saw the
         * request (TR_EDEAD). Any other failure came after the start (the
         * answer could not be delivered): the child owns the socket. */
        int code = tr_result_code(msg);
        if (code != 0 && (msg->type == TR_MSG_RESULT || code == TR_EDEAD))
            tr_tcp_close((tr_tcp *)(uintptr_t)msg->corr);
        return 0;
    }
    return 0;
}

static void acceptor_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    acceptor *a = state;
    tr_tcp_listener_close(a->listener);
}

static const tr_behavior acceptor_behavior = {acceptor_init, acceptor_receive, acceptor_terminate};

/* --- the tree ------------------------------------------------------------- */

static const tr_child_spec conn_template = {
    .behavior = &conn_behavior,
    .opts = {.state_size = sizeof(conn), .name = "chat-conn"},
    .restart = TR_CHILD_TEMPORARY,
    .shutdown_ms = 1000,
};

static const tr_sup_config conns_config = {
    .strategy = TR_SUP_DYNAMIC,
    .intensity = TR_SUP_UNLIMITED, /* temporary children are never restarted */
    .children = &conn_template,
    .nchildren = 1,
    .name = "chat-conns",
};

/* A start function: the supervisor, registered under its name. */
static int conns_start(tr_runtime *rt, void *arg, tr_ref **out) {
    (void)arg;
    int rc = tr_sup_start(rt, &conns_config, out);
    if (rc == 0 && (rc = tr_register(*out, "chat.conns")) != 0) {
        tr_actor_kill(*out);
        tr_ref_release(*out);
        *out = NULL;
    }
    return rc;
}

/* The front half: connections and the acceptor that feeds them. A start
 * function, so the config it builds lives on its stack: tr_sup_start copies
 * the specs, and a restart of front calls this again. */
static int front_start(tr_runtime *rt, void *arg, tr_ref **out) {
    tr_child_spec kids[2] = {
        {.id = "conns", .start = conns_start, .kind = TR_CHILD_SUPERVISOR},
        {
            .id = "acceptor",
            .behavior = &acceptor_behavior,
            .opts = {.state_size = sizeof(acceptor), .arg = arg, .name = "chat-acceptor"},
        },
    };
    tr_sup_config front;
    tr_sup_config_init(&front);
    front.strategy = TR_SUP_REST_FOR_ONE;
    front.children = kids;
    front.nchildren = 2;
    front.name = "chat-front";
    return tr_sup_start(rt, &front, out);
}

int chat_start(tr_runtime *rt, chat_config *cfg, tr_ref **out) {
    if (rt == NULL || cfg == NULL || out == NULL)
        return TR_EINVAL;
    tr_child_spec kids[2] = {
        {
            .id = "stats",
            .behavior = &stats_behavior,
            .opts = {.state_size = sizeof(stats),
                     .name = "chat-stats",
                     .register_as = "chat.stats"},
        },
        {.id = "front", .start = front_start, .arg = cfg, .kind = TR_CHILD_SUPERVISOR},
    };
    tr_sup_config top;
    tr_sup_config_init(&top);
    top.strategy = TR_SUP_ONE_FOR_ONE;
    top.intensity = 10; /* more than 10 restarts in a second: give up */
    top.period_ms = 1000;
    top.children = kids; /* copied by tr_sup_start */
    top.nchildren = 2;
    top.name = "chat";
    return tr_sup_start(rt, &top, out);
}

#ifndef CHAT_SERVER_NO_MAIN
int main(int argc, char **argv) {
    chat_config cfg = {.port = (uint16_t)(argc > 1 ? atoi(argv[1]) : 7000)};
    tr_runtime_config rc_cfg;
    tr_runtime_config_init(&rc_cfg);
    rc_cfg.workers = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    double seconds = argc > 3 ? atof(argv[3]) : 0;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &rc_cfg);
    if (rc != 0) {
        fprintf(stderr, "runtime: %s\n", tr_strerror(rc));
        return 1;
    }
    tr_runtime_close_on_signals(rt);
    tr_ref *chat;
    if ((rc = chat_start(rt, &cfg, &chat)) != 0) {
        fprintf(stderr, "chat: %s\n", tr_strerror(rc));
        tr_runtime_free(rt);
        return 1;
    }
    printf("chat: listening on 127.0.0.1:%u\n", cfg.port);
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
    tr_sup_stop(chat);
    tr_ref_release(chat);
    tr_runtime_free(rt);
    return 0;
}
#endif
