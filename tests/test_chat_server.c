/* tests/test_chat_server.c - the chat service of examples/chat_server.c
 * (docs/building-an-actor-system.md) driven by 50 real TCP clients.
 *
 * The service is compiled into this test (CHAT_SERVER_NO_MAIN). The clients
 * are plain blocking sockets with a receive timeout, all in the test thread.
 * What is checked: every client is welcomed; a lobby line reaches every
 * other member exactly once; private messages find their user by name;
 * crashed connections leave the lobby and free their names by themselves;
 * a crashed stats actor comes back under its name; new clients are served
 * after all of it; the supervisor counts match. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "examples/chat_server.h"
#include "support/testutil.h"

#define CLIENTS 50
#define CRASHED 10 /* clients 10..19 crash their connection actors */
#define LATE 10    /* clients connected after the crashes */

typedef struct client {
    int fd;
    char buf[4096];
    size_t len;
} client;

static void client_connect(client *c, uint16_t port) {
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

static void client_send(client *c, const char *fmt, ...) {
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    assert_int_equal(send(c->fd, line, (size_t)n, MSG_NOSIGNAL), n);
}

/* The next line (without '\n') into out; 0 on end of stream, -1 timeout. */
static int client_line(client *c, char *out, size_t cap) {
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            snprintf(out, cap, "%.*s", (int)n, c->buf);
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return 1;
        }
        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EINTR ? client_line(c, out, cap) : -1;
        c->len += (size_t)r;
    }
}

/* Read lines until one starts with prefix (1), or EOF/timeout (0). */
static int client_expect(client *c, const char *prefix) {
    char line[600];
    while (client_line(c, line, sizeof(line)) == 1)
        if (strncmp(line, prefix, strlen(prefix)) == 0)
            return 1;
    return 0;
}

static void chat_ask_stats(client *c, unsigned long long *lines) {
    char line[600];
    client_send(c, "/stats\n");
    for (;;) {
        assert_int_equal(client_line(c, line, sizeof(line)), 1);
        if (sscanf(line, "stats: %llu lines", lines) == 1)
            return;
    }
}

static size_t active_connections(tr_runtime *rt) {
    tr_ref *conns;
    assert_int_equal(tr_whereis(rt, "chat.conns", &conns), 0);
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(conns, &k), 0);
    tr_ref_release(conns);
    return k.active;
}

static void service_survives_fifty_clients_and_crashes(void **unused) {
    (void)unused;
    tr_runtime_config rcfg;
    tr_runtime_config_init(&rcfg);
    rcfg.workers = 2;
    tr_runtime *rt;
    assert_int_equal(tr_runtime_new(&rt, &rcfg), 0);
    chat_config cfg = {.port = 0};
    tr_ref *chat;
    assert_int_equal(chat_start(rt, &cfg, &chat), 0);
    assert_true(cfg.port > 0);

    static client cl[CLIENTS + LATE];
    char line[600];
    for (int i = 0; i < CLIENTS; i++) {
        client_connect(&cl[i], cfg.port);
        assert_true(client_expect(&cl[i], "welcome "));
    }
    for (int i = 0; i < CLIENTS; i++) {
        client_send(&cl[i], "/nick u%d\n", i);
        assert_true(client_expect(&cl[i], "ok u"));
    }
    /* A name is one actor's. */
    client_send(&cl[1], "/nick u0\n");
    assert_true(client_expect(&cl[1], "nick taken"));

    /* One lobby line reaches the 49 others, not its author. */
    client_send(&cl[0], "hello all\n");
    for (int i = 1; i < CLIENTS; i++) {
        assert_int_equal(client_line(&cl[i], line, sizeof(line)), 1);
        assert_string_equal(line, "u0: hello all");
    }

    /* Crash ten connections: their sockets close, the rest carry on. */
    for (int i = CRASHED; i < 2 * CRASHED; i++) {
        client_send(&cl[i], "/crash\n");
        while (client_line(&cl[i], line, sizeof(line)) == 1)
            ;
        close(cl[i].fd);
        cl[i].fd = -1;
    }
    for (int64_t t0 = tu_now_ms(); active_connections(rt) != CLIENTS - CRASHED;)
        assert_true(tu_now_ms() - t0 < TU_WAIT_MS);

    /* The crashed left the lobby by themselves: 39 others hear this line. */
    client_send(&cl[1], "still here\n");
    for (int i = 0; i < CLIENTS; i++) {
        if (i == 1 || cl[i].fd < 0)
            continue;
        assert_int_equal(client_line(&cl[i], line, sizeof(line)), 1);
        assert_string_equal(line, "u1: still here");
    }
    /* Names: a live user is found, a crashed one's name went with it. */
    client_send(&cl[3], "/msg u2 psst\n");
    assert_int_equal(client_line(&cl[2], line, sizeof(line)), 1);
    assert_string_equal(line, "u3> psst");
    client_send(&cl[3], "/msg u15 anyone?\n");
    assert_true(client_expect(&cl[3], "no such user: u15"));

    /* The stats actor, found by name, answers its sender; crashed, it is
     * restarted and registered again by its spawn options. */
    unsigned long long before, after;
    chat_ask_stats(&cl[4], &before);
    assert_true(before >= CLIENTS + 3);
    client_send(&cl[4], "/crashstats\n");
    for (int64_t t0 = tu_now_ms();;) {
        chat_ask_stats(&cl[4], &after);
        if (after < before)
            break; /* a new incarnation: its count started again */
        assert_true(tu_now_ms() - t0 < TU_WAIT_MS);
        tu_sleep_ms(10);
    }

    /* Late clients are served as the first ones were. */
    for (int i = CLIENTS; i < CLIENTS + LATE; i++) {
        client_connect(&cl[i], cfg.port);
        assert_true(client_expect(&cl[i], "welcome "));
    }
    for (int64_t t0 = tu_now_ms(); active_connections(rt) != CLIENTS - CRASHED + LATE;)
        assert_true(tu_now_ms() - t0 < TU_WAIT_MS);
    client_send(&cl[CLIENTS], "late hello\n");
    for (int i = 0; i < CLIENTS + LATE; i++) {
        if (i == CLIENTS || cl[i].fd < 0)
            continue;
        assert_true(client_expect(&cl[i], "guest"));
    }

    /* The top supervisor never gave up. */
    tr_sup_counts k;
    assert_int_equal(tr_sup_count_children(chat, &k), 0);
    assert_int_equal(k.active, 2); /* stats and front */

    for (int i = 0; i < CLIENTS + LATE; i++)
        if (cl[i].fd >= 0)
            close(cl[i].fd);
    assert_int_equal(tr_sup_stop(chat), 0);
    tr_ref_release(chat);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(service_survives_fifty_clients_and_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
