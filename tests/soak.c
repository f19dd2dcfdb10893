/* tests/soak.c - the soak: mixed load for a long time, watched for growth
 * and loss. Run by scripts/soak.sh (not a ctest: it runs for minutes).
 *
 * Load (one load thread, as fast as it goes, with short pauses):
 *   - tells with an owned pointer to "sink", a supervised actor found by
 *     name that crashes on every 50th message and is restarted (names churn
 *     with it); some go by timer;
 *   - jobs to a pool whose workers crash on every 7th (redelivered, then
 *     dead-lettered);
 *   - asks with a 20 ms timeout to an actor that answers only half of them;
 *   - TCP on loopback: a client connects, writes, the server echoes, both
 *     close;
 *   - groups: short-lived actors join a group, get a broadcast, stop.
 * Every tell the load makes carries a pointer whose destructor counts: it
 * runs exactly once, handled or dead-lettered, so sent == finished is the
 * accounting, and handled + crashed + dead-lettered is shown beside it.
 *
 * Every SOAK_INTERVAL seconds (10) a line: RSS, open fds, actors, and the
 * counts. After WARM intervals (2) the first RSS and fd figures are the
 * baseline; the run fails (exit 1) if RSS rises above it by more than
 * SOAK_RSS_SLACK_KB (16384) or fds by more than SOAK_FD_SLACK (8), and at
 * the end if any message was lost (sent != finished once the runtime is
 * freed). SOAK_SECONDS sets the length (600). */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/testutil.h"
#include "troupe.h"

#define WARM 2

enum { T_TELL = 1, T_JOB, T_ASK, T_BCAST };

static uint64_t sent, finished, handled, crashed, dead;
static uint64_t asks_ok, asks_timeout, asks_other;
static uint64_t tcp_done, joined, restarts;
static uint64_t stop_load;
static int token; /* what the counted pointers point at */

static void finish_fn(void *p) {
    (void)p;
    tu_add(&finished, 1);
}

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->ptr_free == finish_fn)
        tu_add(&dead, 1);
}

/* --- sink: supervised, named, crashes now and then ------------------------ */

static int sink_init(tr_ctx *ctx, void *state, void *arg) {
    (void)state;
    (void)arg;
    tu_add(&restarts, 1);
    return tr_register(tr_self(ctx), "sink");
}

static int sink_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    uint64_t *n = state;
    if (msg->type != T_TELL)
        return 0;
    if (++*n % 50 == 0) {
        tu_add(&crashed, 1);
        return -1;
    }
    tu_add(&handled, 1);
    return 0;
}

static const tr_behavior sink_beh = {sink_init, sink_receive, NULL};

/* --- pool jobs --------------------------------------------------------------- */

static int job_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_JOB && msg->word % 7 == 0)
        return -1; /* always: redelivered, then dead-lettered */
    tu_add(&handled, 1);
    return 0;
}

static const tr_behavior job_beh = {.receive = job_receive};

/* --- asks: answers every other one ------------------------------------------- */

static int half_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == T_ASK && (msg->word & 1) == 0)
        (void)tr_reply_word(msg, T_ASK, msg->word);
    return 0;
}

static const tr_behavior half_beh = {.receive = half_receive};

/* --- tcp: the server echoes, the client closes on the echo ------------------ */

static int tcp_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    tr_tcp **client = state; /* the client actor's connection, or NULL */
    if (msg->type == TR_MSG_TCP_ACCEPTED) {
        tr_tcp *c = tr_msg_take_ptr(msg);
        if (c != NULL && tr_tcp_start(c, tr_self(ctx), (uint64_t)(uintptr_t)c) != 0)
            tr_tcp_close(c);
    } else if (msg->type == TR_MSG_TCP_DATA) {
        tr_tcp *c = (tr_tcp *)(uintptr_t)msg->word;
        if (*client == NULL) { /* the server: echo and close */
            (void)tr_tcp_write(c, tr_msg_data(msg), msg->size);
            tr_tcp_close(c);
        }
    } else if (msg->type == TR_MSG_TCP_CLOSED || msg->type == TR_MSG_TCP_CONNECTED) {
        if (*client != NULL && (msg->type == TR_MSG_TCP_CLOSED || msg->status != 0)) {
            tr_tcp_close(*client);
            *client = NULL;
            tu_add(&tcp_done, 1);
            return tr_stop(ctx);
        }
    }
    return 0;
}

static int client_init(tr_ctx *ctx, void *state, void *arg) {
    uint16_t port = (uint16_t)(uintptr_t)arg;
    tr_tcp **c = state;
    int rc = tr_tcp_connect(tr_self(ctx), "127.0.0.1", port, 0, c);
    if (rc != 0) {
        if (*c != NULL)
            tr_tcp_close(*c);
        return rc;
    }
    return tr_tcp_write(*c, "soak-ping", 9);
}

static const tr_behavior server_beh = {.receive = tcp_receive};
static const tr_behavior client_beh = {client_init, tcp_receive, NULL};

/* --- group members: live a little ---------------------------------------------- */

static int member_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    if (msg->type == T_BCAST)
        return tr_stop(ctx);
    return 0;
}

static const tr_behavior member_beh = {.receive = member_receive};

/* --- the load ----------------------------------------------------------------- */

typedef struct load {
    tr_runtime *rt;
    tr_ref *pool, *half;
    uint16_t port;
} load;

/* Count m as sent if its send was accepted, else free it uncounted. */
static void tell(tr_msg *m, int rc) {
    if (rc == 0) {
        tu_add(&sent, 1);
        return;
    }
    m->ptr_free = NULL;
    tr_msg_free(m);
}

static tr_msg *counted(uint32_t type, uint64_t word) {
    tr_msg *m;
    if (tr_msg_new(&m, type, 0) != 0)
        return NULL;
    m->word = word;
    m->ptr = &token;
    m->ptr_free = finish_fn;
    return m;
}

static void *load_main(void *arg) {
    load *l = arg;
    uint64_t i = 0;
    while (!tu_load(&stop_load)) {
        for (int k = 0; k < 200; k++, i++) {
            tr_msg *m = counted(T_TELL, i);
            if (m != NULL)
                tell(m, tr_send_msg_named(l->rt, "sink", m));
            if ((m = counted(T_JOB, i)) != NULL)
                tell(m, tr_send_msg(l->pool, m));
        }
        tr_ref *sink;
        if (tr_whereis(l->rt, "sink", &sink) == 0) {
            tr_msg *m = counted(T_TELL, i);
            tr_timer_id id;
            if (m != NULL)
                tell(m, tr_timer_send_after(sink, 5, m, &id));
            tr_ref_release(sink);
        }
        for (int k = 0; k < 4; k++, i++) {
            tr_future *f;
            if (tr_ask_word(l->half, T_ASK, i, &f) != 0)
                continue;
            tr_msg *r = NULL;
            int rc = tr_future_wait(f, 20, &r);
            if (rc == 0) {
                tu_add(&asks_ok, 1);
                tr_msg_free(r);
            } else if (rc == TR_ETIMEDOUT || rc == TR_ENOREPLY)
                tu_add(&asks_timeout, 1);
            else
                tu_add(&asks_other, 1);
            tr_future_release(f);
        }
        tr_spawn_opts o = {0};
        o.state_size = sizeof(tr_tcp *);
        o.arg = (void *)(uintptr_t)l->port;
        (void)tr_spawn(l->rt, &client_beh, &o, NULL);
        for (int k = 0; k < 3; k++) {
            tr_ref *mb;
            if (tr_spawn(l->rt, &member_beh, NULL, &mb) != 0)
                continue;
            if (tr_group_join(mb, "churn") == 0)
                tu_add(&joined, 1);
            tr_ref_release(mb);
        }
        (void)tr_group_broadcast_word(l->rt, "churn", T_BCAST, 0);
        tu_sleep_ms(2);
    }
    return NULL;
}

/* --- watching ----------------------------------------------------------------- */

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (d == NULL)
        return -1;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the directory's own fd */
}

static long env_long(const char *name, long dflt) {
    const char *s = getenv(name);
    return s != NULL && *s != '\0' ? strtol(s, NULL, 10) : dflt;
}

int main(void) {
    long seconds = env_long("SOAK_SECONDS", 600);
    long interval = env_long("SOAK_INTERVAL", 10);
    long rss_slack = env_long("SOAK_RSS_SLACK_KB", 16384);
    long fd_slack = env_long("SOAK_FD_SLACK", 8);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 2;
    cfg.dead_letter = on_dead;
    tr_runtime *rt;
    if (tr_runtime_new(&rt, &cfg) != 0)
        return 2;

    tr_child_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.id = "sink";
    spec.behavior = &sink_beh;
    spec.opts.state_size = sizeof(uint64_t);
    spec.restart = TR_CHILD_PERMANENT;
    spec.shutdown_ms = 1000;
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.intensity = TR_SUP_UNLIMITED;
    sc.children = &spec;
    sc.nchildren = 1;
    tr_ref *sup, *pool, *half, *server;
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 3;
    pc.behavior = &job_beh;
    pc.max_redeliveries = 2;
    tr_spawn_opts so = {0};
    so.state_size = sizeof(tr_tcp *);
    tr_tcp_listener *lis;
    if (tr_sup_start(rt, &sc, &sup) != 0 || tr_pool_start(rt, &pc, &pool) != 0 ||
        tr_spawn(rt, &half_beh, NULL, &half) != 0 || tr_spawn(rt, &server_beh, &so, &server) != 0 ||
        tr_tcp_listen(server, "127.0.0.1", 0, 128, 0, &lis) != 0) {
        fprintf(stderr, "soak: setup failed\n");
        return 2;
    }
    load l = {rt, pool, half, (uint16_t)tr_tcp_listener_port(lis)};
    pthread_t th;
    pthread_create(&th, NULL, load_main, &l);

    printf("soak: %lds, a line every %lds; fails on RSS > base + %ld KB or fds > base + %ld "
           "after %d intervals, or on loss\n",
           seconds, interval, rss_slack, fd_slack, WARM);
    printf("%6s %8s %4s %6s %10s %10s %8s %8s %8s %8s %7s %6s %6s %6s\n", "t(s)", "rss(KB)", "fds",
           "actors", "sent", "finished", "inflight", "handled", "crashed", "dead", "asks", "tmout",
           "tcp", "joins");
    int64_t start = tu_now_ms();
    long base_rss = 0;
    int base_fds = 0, bad = 0, n = 0;
    while (tu_now_ms() - start < seconds * 1000) {
        int64_t next = start + (int64_t)(n + 1) * interval * 1000;
        while (tu_now_ms() < next && tu_now_ms() - start < seconds * 1000)
            tu_sleep_ms(50);
        n++;
        tr_runtime_stats st;
        tr_runtime_stats_get(rt, &st);
        long rss = rss_kb();
        int fds = open_fds();
        uint64_t s = tu_load(&sent), f = tu_load(&finished);
        printf(
            "%6lld %8ld %4d %6llu %10llu %10llu %8lld %8llu %8llu %8llu %7llu %6llu %6llu %6llu\n",
            (long long)((tu_now_ms() - start) / 1000), rss, fds,
            (unsigned long long)st.actors_alive, (unsigned long long)s, (unsigned long long)f,
            (long long)(s - f), (unsigned long long)tu_load(&handled),
            (unsigned long long)tu_load(&crashed), (unsigned long long)tu_load(&dead),
            (unsigned long long)tu_load(&asks_ok), (unsigned long long)tu_load(&asks_timeout),
            (unsigned long long)tu_load(&tcp_done), (unsigned long long)tu_load(&joined));
        fflush(stdout);
        if (n == WARM) {
            base_rss = rss;
            base_fds = fds;
        } else if (n > WARM) {
            if (rss > base_rss + rss_slack) {
                printf("soak: FAIL: RSS %ld KB > %ld + %ld\n", rss, base_rss, rss_slack);
                bad = 1;
            }
            if (fds > base_fds + fd_slack) {
                printf("soak: FAIL: %d fds > %d + %ld\n", fds, base_fds, fd_slack);
                bad = 1;
            }
        }
    }
    tu_store(&stop_load, 1);
    pthread_join(th, NULL);
    tr_tcp_listener_close(lis);
    tr_ref_release(server);
    tr_ref_release(half);
    tr_pool_release(pool);
    tr_ref_release(sup);
    int rc = tr_runtime_free(rt);
    uint64_t s = tu_load(&sent), f = tu_load(&finished);
    printf("soak: end: runtime_free %d; sent %llu, finished %llu (handled %llu + crashed %llu + "
           "dead-lettered %llu + other %llu), asks ok %llu, timed out %llu, other %llu, tcp %llu\n",
           rc, (unsigned long long)s, (unsigned long long)f, (unsigned long long)tu_load(&handled),
           (unsigned long long)tu_load(&crashed), (unsigned long long)tu_load(&dead),
           (unsigned long long)(f - tu_load(&handled) - tu_load(&crashed) - tu_load(&dead)),
           (unsigned long long)tu_load(&asks_ok), (unsigned long long)tu_load(&asks_timeout),
           (unsigned long long)tu_load(&asks_other), (unsigned long long)tu_load(&tcp_done));
    if (s != f) {
        printf("soak: FAIL: %lld messages lost\n", (long long)(s - f));
        bad = 1;
    }
    if (rc != 0 || tu_load(&asks_other) != 0)
        bad = 1;
    printf("soak: %s\n", bad ? "FAIL" : "OK");
    return bad;
}
