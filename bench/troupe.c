/* bench/troupe.c - the troupe side of the cross-runtime benchmarks.
 *
 *   bench_troupe <workload> [n] [threads]
 *
 * Workloads (see /work/shared/bench/WORKLOADS.md for the definitions every
 * runtime implements): pingpong, ring, skynet, fanin (default spawn options),
 * forkjoin; fanin_bounded (fanin with backpressure: a mailbox of 1,024 and
 * tr_send_wait, default options otherwise); fanin_lanes (fanin into an actor
 * spawned with the opt-in tr_spawn_opts.lanes, for comparison); transfer
 * (accounts that hold transfers with tr_become and tr_stash); live (a
 * foreign thread spawns N actors and keeps them alive: spawns/s and bytes
 * per idle actor); and two
 * runtime-health measurements: idle (CPU used by an idle runtime, n = seconds)
 * and wakeup (latency from a foreign send to the first instruction of receive
 * while every worker sleeps, n = samples). threads = worker threads, default
 * the number of cores. Each run prints one result line.
 *
 * pingpong_ct and ring_ct run pingpong and ring on a current-thread runtime
 * (docs/runtime-modes.md): no worker thread, main drives it with
 * tr_runtime_run until a helper thread, woken by the result, closes it; the
 * threads argument is ignored (reported as 0).
 *
 * Only the public API (troupe.h) is used. Timing starts just before the first
 * actor is spawned and stops when the result is known (a latch tripped by the
 * actor that knows it); runtime start-up and shutdown are outside. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <troupe.h>

#include "bench/bench.h"

static unsigned g_threads;
static int g_current; /* a *_ct workload: a current-thread runtime */
static bench_latch g_done;

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_troupe: %s: %s\n", what, tr_strerror(rc));
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            die(#call, rc_);                                                                       \
    } while (0)

static tr_runtime *start_runtime(void) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = g_threads;
    if (g_current) {
        cfg.mode = TR_RUNTIME_CURRENT_THREAD;
        cfg.workers = 0;
    }
    tr_runtime *rt;
    CHECK(tr_runtime_new(&rt, &cfg));
    return rt;
}

/* Current-thread runs: closes the runtime once the result is known. */
static void *closer(void *arg) {
    bench_latch_wait(&g_done, NULL);
    tr_runtime_close(arg);
    return NULL;
}

/* Wait for the result: on a current-thread runtime by driving it on this
 * thread until the closer ends it (the time is the latch's, as always). */
static uint64_t wait_done(tr_runtime *rt, double *t1) {
    if (g_current) {
        pthread_t th;
        if (pthread_create(&th, NULL, closer, rt) != 0)
            die("pthread_create", TR_ESYS);
        CHECK(tr_runtime_run(rt));
        pthread_join(th, NULL);
    }
    return bench_latch_wait(&g_done, t1);
}

/* Per-workload message types. */
enum {
    M_START = 1,
    M_PING,
    M_PONG,
    M_TOKEN,
    M_GO,
    M_SUM,
    M_JOB,
    M_FLUSH,
    M_REPORT,
    M_STAMP,
    M_CREDIT,
    M_XFER,
    M_CREDITED,
    M_DONE,
    M_BALANCE
};

/* ------------------------------------------------------------------------ */
/* pingpong: A sends ping, B answers pong, N round trips.                  */

typedef struct pp_state {
    tr_ref *peer; /* borrowed from main, which holds it until the end */
    uint64_t left;
} pp_state;

typedef struct pp_arg {
    tr_ref *peer;
    uint64_t n;
} pp_arg;

static int pp_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    const pp_arg *a = arg;
    pp_state *s = state;
    s->peer = a->peer;
    s->left = a->n;
    return 0;
}

/* B: answer each ping with a pong carrying the same word. */
static int ponger_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    pp_state *s = state;
    if (msg->type == M_START) { /* learns its peer (A) */
        s->peer = msg->ptr;
        return 0;
    }
    return tr_send_word(s->peer, M_PONG, msg->word);
}

/* A: start, then a ping per pong until N round trips are done. */
static int pinger_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    pp_state *s = state;
    if (msg->type == M_PONG && --s->left == 0) {
        bench_latch_set(&g_done, msg->word + 1);
        return 0;
    }
    uint64_t next = msg->type == M_PONG ? msg->word + 1 : 0;
    return tr_send_word(s->peer, M_PING, next);
}

static void run_pingpong(uint64_t n) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior pinger = {.init = pp_init, .receive = pinger_receive};
    static const tr_behavior ponger = {.init = pp_init, .receive = ponger_receive};
    tr_ref *a, *b;
    double t0 = bench_now();
    pp_arg arg = {NULL, 0};
    tr_spawn_opts o = {.state_size = sizeof(pp_state), .arg = &arg, .name = "ponger"};
    CHECK(tr_spawn(rt, &ponger, &o, &b));
    arg = (pp_arg){b, n};
    o.name = "pinger";
    CHECK(tr_spawn(rt, &pinger, &o, &a));
    CHECK(tr_send_ptr(b, M_START, a, NULL));
    CHECK(tr_send_word(a, M_START, 0));
    double t1;
    uint64_t got = wait_done(rt, &t1);
    char check[32];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    bench_report(g_current ? "pingpong_ct" : "pingpong", "troupe", g_threads, n, t1 - t0, (double)n,
                 check, NULL);
    tr_ref_release(a);
    tr_ref_release(b);
    tr_runtime_free(rt);
}

/* ------------------------------------------------------------------------ */
/* ring: 503 actors pass a token H times; the one that sees 0 reports.      */

#define RING_SIZE 503

typedef struct ring_state {
    tr_ref *next; /* borrowed from main */
    uint64_t id;  /* 1..503 */
} ring_state;

static int ring_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ring_state *s = state;
    s->id = (uint64_t)(uintptr_t)arg;
    return 0;
}

static int ring_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    ring_state *s = state;
    if (msg->type == M_START) { /* learns its successor */
        s->next = msg->ptr;
        return 0;
    }
    if (msg->word == 0) {
        bench_latch_set(&g_done, s->id);
        return 0;
    }
    return tr_send_word(s->next, M_TOKEN, msg->word - 1);
}

static void run_ring(uint64_t hops) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior beh = {.init = ring_init, .receive = ring_receive};
    static tr_ref *ring[RING_SIZE];
    double t0 = bench_now();
    for (uintptr_t i = 0; i < RING_SIZE; i++) {
        tr_spawn_opts o = {.state_size = sizeof(ring_state), .arg = (void *)(i + 1)};
        CHECK(tr_spawn(rt, &beh, &o, &ring[i]));
    }
    for (unsigned i = 0; i < RING_SIZE; i++)
        CHECK(tr_send_ptr(ring[i], M_START, ring[(i + 1) % RING_SIZE], NULL));
    CHECK(tr_send_word(ring[0], M_TOKEN, hops));
    double t1;
    uint64_t got = wait_done(rt, &t1);
    char check[32];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    bench_report(g_current ? "ring_ct" : "ring", "troupe", g_threads, hops, t1 - t0, (double)hops,
                 check, NULL);
    for (unsigned i = 0; i < RING_SIZE; i++)
        tr_ref_release(ring[i]);
    tr_runtime_free(rt);
}

/* ------------------------------------------------------------------------ */
/* skynet: a 10-ary tree of actors, `levels` deep; leaves answer their      */
/* ordinal, parents sum. Default 6 levels = 1,000,000 leaves.               */

#define SKY_FANOUT 10

typedef struct sky_state {
    tr_ref *parent; /* borrowed: the parent outlives our one reply */
    uint64_t ordinal;
    uint64_t sum;
    uint32_t level; /* 0 = root */
    uint32_t got;
} sky_state;

static uint32_t g_sky_levels = 6;

static int sky_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    *(sky_state *)state = *(const sky_state *)arg;
    return 0;
}

static void sky_up(sky_state *s, uint64_t value) {
    if (s->parent != NULL)
        tr_send_word(s->parent, M_SUM, value);
    else
        bench_latch_set(&g_done, value);
}

static int sky_receive(tr_ctx *ctx, void *state, tr_msg *msg);
static const tr_behavior sky_beh = {.init = sky_init, .receive = sky_receive};

static int sky_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    sky_state *s = state;
    if (msg->type == M_GO) {
        if (s->level == g_sky_levels) { /* a leaf */
            sky_up(s, s->ordinal);
            return tr_stop(ctx);
        }
        for (uint64_t k = 0; k < SKY_FANOUT; k++) {
            sky_state child = {tr_self(ctx), s->ordinal * SKY_FANOUT + k, 0, s->level + 1, 0};
            tr_spawn_opts o = {.state_size = sizeof(sky_state), .arg = &child};
            tr_ref *c;
            int rc = tr_spawn(tr_ctx_runtime(ctx), &sky_beh, &o, &c);
            if (rc != 0)
                return rc;
            rc = tr_send_word(c, M_GO, 0);
            tr_ref_release(c);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    s->sum += msg->word;
    if (++s->got == SKY_FANOUT) {
        sky_up(s, s->sum);
        return tr_stop(ctx);
    }
    return 0;
}

static void run_skynet(uint64_t leaves) {
    /* n is rounded to a power of ten (the tree is 10-ary). */
    uint64_t l = 1;
    g_sky_levels = 0;
    while (l < leaves) {
        l *= SKY_FANOUT;
        g_sky_levels++;
    }
    uint64_t actors = 0;
    for (uint64_t p = 1; p <= l; p *= SKY_FANOUT)
        actors += p;
    tr_runtime *rt = start_runtime();
    double t0 = bench_now();
    sky_state root = {NULL, 0, 0, 0, 0};
    tr_spawn_opts o = {.state_size = sizeof(sky_state), .arg = &root, .name = "skynet"};
    tr_ref *r;
    CHECK(tr_spawn(rt, &sky_beh, &o, &r));
    CHECK(tr_send_word(r, M_GO, 0));
    double t1;
    uint64_t got = bench_latch_wait(&g_done, &t1);
    char check[32];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    bench_report("skynet", "troupe", g_threads, l, t1 - t0, (double)actors, check, NULL);
    tr_ref_release(r);
    tr_runtime_free(rt);
}

/* ------------------------------------------------------------------------ */
/* fanin: T foreign threads each send N/T messages to one counting actor  */
/* spawned with default options (its one shared mailbox).                  */
/* fanin_bounded: the same into a mailbox of FANIN_CAP, the senders        */
/* waiting for room with tr_send_wait: backpressure instead of a queue of  */
/* millions of messages when the senders outrun the counter.               */
/* fanin_lanes: fanin into a counter spawned with tr_spawn_opts.lanes (the */
/* opt-in per-thread queues), for comparison.                              */
/* Each line carries peak_rss_kb (the process's high-water mark).          */

#define FANIN_CAP 1024 /* WORKLOADS.md: a buffered channel of 1,024 */
static int g_fanin_bounded;
static int g_fanin_lanes; /* fanin_lanes: the counter takes lanes */

#define FANIN_T 4

typedef struct fanin_state {
    uint64_t count, target;
} fanin_state;

static int fanin_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ((fanin_state *)state)->target = *(const uint64_t *)arg;
    return 0;
}

static int fanin_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)msg;
    fanin_state *s = state;
    if (++s->count == s->target)
        bench_latch_set(&g_done, s->count);
    return 0;
}

typedef struct fanin_thread {
    pthread_t th;
    pthread_barrier_t *go;
    tr_ref **to;
    uint64_t n;
    uint64_t failed;
} fanin_thread;

static void *fanin_sender(void *arg) {
    fanin_thread *t = arg;
    pthread_barrier_wait(t->go);
    tr_ref *to = *t->to;
    if (!g_fanin_bounded) {
        for (uint64_t i = 0; i < t->n; i++)
            if (tr_send_word(to, M_JOB, i) != 0)
                t->failed++;
        return NULL;
    }
    for (uint64_t i = 0; i < t->n; i++) {
        tr_msg *m;
        if (tr_msg_new(&m, M_JOB, 0) != 0) {
            t->failed++;
            continue;
        }
        m->word = i;
        if (tr_send_wait(to, m, -1) != 0) {
            tr_msg_free(m);
            t->failed++;
        }
    }
    return NULL;
}

/* The process's peak resident set, in KB (getrusage: Linux reports KB). */
static long peak_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* The process's resident set now, in KB (/proc/self/statm), or -1. */
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    long size, res;
    int got = fscanf(f, "%ld %ld", &size, &res);
    fclose(f);
    return got == 2 ? res * (sysconf(_SC_PAGESIZE) / 1024) : -1;
}

static void run_fanin(uint64_t n) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior beh = {.init = fanin_init, .receive = fanin_receive};
    fanin_thread th[FANIN_T];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, FANIN_T + 1);
    tr_ref *counter = NULL;
    for (unsigned i = 0; i < FANIN_T; i++) {
        th[i] = (fanin_thread){.go = &go, .to = &counter, .n = n / FANIN_T};
        if (i < n % FANIN_T)
            th[i].n++;
        pthread_create(&th[i].th, NULL, fanin_sender, &th[i]);
    }
    double t0 = bench_now();
    tr_spawn_opts o = {.state_size = sizeof(fanin_state),
                       .arg = &n,
                       .mailbox_capacity = g_fanin_bounded ? FANIN_CAP : 0,
                       .lanes = g_fanin_lanes,
                       .name = "counter"};
    CHECK(tr_spawn(rt, &beh, &o, &counter));
    pthread_barrier_wait(&go); /* publishes counter to the senders */
    double t1;
    uint64_t got = bench_latch_wait(&g_done, &t1);
    uint64_t failed = 0;
    for (unsigned i = 0; i < FANIN_T; i++) {
        pthread_join(th[i].th, NULL);
        failed += th[i].failed;
    }
    pthread_barrier_destroy(&go);
    char check[32], extra[48];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    snprintf(extra, sizeof(extra), "peak_rss_kb=%ld", peak_rss_kb());
    if (failed != 0)
        fprintf(stderr, "fanin: %" PRIu64 " sends failed\n", failed);
    bench_report(g_fanin_bounded ? "fanin_bounded"
                 : g_fanin_lanes ? "fanin_lanes"
                                 : "fanin",
                 "troupe", g_threads, n, t1 - t0, (double)n, check, extra);
    tr_ref_release(counter);
    tr_runtime_free(rt);
}

static void run_fanin_bounded(uint64_t n) {
    g_fanin_bounded = 1;
    run_fanin(n);
}

static void run_fanin_lanes(uint64_t n) {
    g_fanin_lanes = 1;
    run_fanin(n);
}

/* ------------------------------------------------------------------------ */
/* live: the main thread (foreign: not a worker) spawns N actors with 16    */
/* bytes of state each and keeps them all alive (it holds their handles),  */
/* then sends each one message; each answers a collector, which trips the  */
/* latch at N answers (no counter shared by actors). rate = N / elapsed    */
/* (WORKLOADS.md); spawn_rate = N / the spawn phase alone; bytes_per_actor */
/* = (RSS after the spawns - RSS before) / N, the handle array made and    */
/* touched before the first reading.                                       */

typedef struct live_state {
    tr_ref *collector; /* borrowed from main, which holds it to the end */
    uint64_t ordinal;
} live_state;

_Static_assert(sizeof(live_state) == 16, "WORKLOADS.md: 16 bytes of state");

typedef struct live_arg {
    tr_ref *collector;
    uint64_t ordinal;
} live_arg;

static int live_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    const live_arg *a = arg;
    live_state *s = state;
    s->collector = a->collector;
    s->ordinal = a->ordinal;
    return 0;
}

static int live_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)msg;
    live_state *s = state;
    return tr_send_word(s->collector, M_DONE, s->ordinal);
}

typedef struct live_count {
    uint64_t got, target;
} live_count;

static int live_count_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ((live_count *)state)->target = *(const uint64_t *)arg;
    return 0;
}

static int live_count_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)msg;
    live_count *s = state;
    if (++s->got == s->target)
        bench_latch_set(&g_done, s->got);
    return 0;
}

static void run_live(uint64_t n) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior beh = {.init = live_init, .receive = live_receive};
    static const tr_behavior cb = {.init = live_count_init, .receive = live_count_receive};
    tr_ref **refs = malloc(n * sizeof(*refs));
    if (refs == NULL)
        die("malloc", TR_ENOMEM);
    /* Resident before the first reading. Not memset: gcc turns malloc +
     * memset(0) into calloc, which leaves fresh mapped memory untouched, so
     * the array became resident during the spawns and counted 8 bytes per
     * actor (457 bytes measured for a 448-byte block). */
    explicit_bzero(refs, n * sizeof(*refs));
    tr_ref *collector;
    tr_spawn_opts co = {.state_size = sizeof(live_count), .arg = &n, .name = "collector"};
    CHECK(tr_spawn(rt, &cb, &co, &collector));
    long before = rss_kb();
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        live_arg a = {collector, i};
        tr_spawn_opts o = {.state_size = sizeof(live_state), .arg = &a};
        CHECK(tr_spawn(rt, &beh, &o, &refs[i]));
    }
    double ts = bench_now();
    long after = rss_kb();
    double tm = bench_now(); /* the RSS reading is not the workload's */
    for (uint64_t i = 0; i < n; i++)
        CHECK(tr_send_word(refs[i], M_GO, i));
    double t1;
    uint64_t got = bench_latch_wait(&g_done, &t1);
    t1 -= tm - ts;
    char check[32], extra[128];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    snprintf(extra, sizeof(extra), "spawn_rate=%.0f bytes_per_actor=%.0f peak_rss_kb=%ld",
             (double)n / (ts - t0), (double)(after - before) * 1024.0 / (double)n, peak_rss_kb());
    bench_report("live", "troupe", g_threads, n, t1 - t0, (double)n, check, extra);
    for (uint64_t i = 0; i < n; i++)
        tr_ref_release(refs[i]);
    free(refs);
    tr_ref_release(collector);
    tr_runtime_free(rt);
}

/* ------------------------------------------------------------------------ */
/* forkjoin: a dispatcher sends N jobs round-robin to W workers, each job   */
/* runs bench_work. Flow control keeps memory flat: every worker sends the  */
/* dispatcher a credit per FJ_CREDIT jobs it has done, and the dispatcher   */
/* keeps at most FJ_WINDOW jobs unacknowledged (without it, it runs ahead   */
/* and millions of jobs queue up: ~600 MB). After the jobs it sends each    */
/* worker a flush (mailboxes are FIFO per sender, so it arrives last);      */
/* workers report their count and sum, and the result is known when all W   */
/* have reported.                                                           */

#define FJ_WORKERS 64
#define FJ_CREDIT 16                      /* jobs per credit message */
#define FJ_SLICE (FJ_WORKERS * FJ_CREDIT) /* jobs sent per dispatcher step */
#define FJ_WINDOW (8 * FJ_SLICE)          /* jobs in flight at most */

typedef struct fj_worker {
    tr_ref *boss; /* borrowed: the dispatcher outlives the workers' reports */
    uint64_t count;
    double acc;
} fj_worker;

typedef struct fj_report {
    uint64_t count;
    double acc;
} fj_report;

static int fj_worker_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    ((fj_worker *)state)->boss = arg;
    return 0;
}

static int fj_worker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    fj_worker *s = state;
    if (msg->type == M_JOB) {
        s->acc += bench_work(msg->word);
        if (++s->count % FJ_CREDIT == 0)
            return tr_send_word(s->boss, M_CREDIT, FJ_CREDIT);
        return 0;
    }
    fj_report r = {s->count, s->acc};
    return tr_send(s->boss, M_REPORT, &r, sizeof(r));
}

typedef struct fj_boss {
    tr_ref *workers[FJ_WORKERS]; /* owned */
    uint64_t n, sent, acked;
    uint64_t reports, total;
    double acc;
} fj_boss;

static double g_fj_acc; /* the computed sum, printed so nothing is dead */

static int fj_boss_init(tr_ctx *ctx, void *state, void *arg) {
    static const tr_behavior wb = {.init = fj_worker_init, .receive = fj_worker_receive};
    fj_boss *s = state;
    s->n = *(const uint64_t *)arg;
    for (unsigned i = 0; i < FJ_WORKERS; i++) {
        tr_spawn_opts o = {.state_size = sizeof(fj_worker), .arg = tr_self(ctx)};
        int rc = tr_spawn(tr_ctx_runtime(ctx), &wb, &o, &s->workers[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Send slices while the window allows; the flushes after the last job. */
static int fj_dispatch(fj_boss *s) {
    while (s->sent < s->n && s->sent - s->acked + FJ_SLICE <= FJ_WINDOW) {
        uint64_t end = s->sent + FJ_SLICE < s->n ? s->sent + FJ_SLICE : s->n;
        for (; s->sent < end; s->sent++) {
            int rc = tr_send_word(s->workers[s->sent % FJ_WORKERS], M_JOB, s->sent);
            if (rc != 0)
                return rc;
        }
        if (s->sent == s->n) {
            for (unsigned i = 0; i < FJ_WORKERS; i++) {
                int rc = tr_send_word(s->workers[i], M_FLUSH, 0);
                if (rc != 0)
                    return rc;
            }
        }
    }
    return 0;
}

static int fj_boss_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    fj_boss *s = state;
    switch (msg->type) {
    case M_CREDIT:
        s->acked += msg->word;
        return fj_dispatch(s);
    case M_REPORT: {
        const fj_report *r = tr_msg_payload(msg, sizeof(*r));
        s->total += r->count;
        s->acc += r->acc;
        if (++s->reports == FJ_WORKERS) {
            g_fj_acc = s->acc;
            bench_latch_set(&g_done, s->total);
        }
        return 0;
    }
    default: /* M_START */
        return fj_dispatch(s);
    }
}

static void fj_boss_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)ctx;
    (void)why;
    fj_boss *s = state;
    for (unsigned i = 0; i < FJ_WORKERS; i++)
        if (s->workers[i] != NULL)
            tr_ref_release(s->workers[i]);
}

static void run_forkjoin(uint64_t n) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior bb = {
        .init = fj_boss_init, .receive = fj_boss_receive, .terminate = fj_boss_terminate};
    double t0 = bench_now();
    tr_spawn_opts o = {.state_size = sizeof(fj_boss), .arg = &n, .name = "dispatcher"};
    tr_ref *boss;
    CHECK(tr_spawn(rt, &bb, &o, &boss));
    CHECK(tr_send_word(boss, M_START, 0));
    double t1;
    uint64_t got = bench_latch_wait(&g_done, &t1);
    char check[32], extra[64];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    snprintf(extra, sizeof(extra), "sum=%.6e", g_fj_acc);
    bench_report("forkjoin", "troupe", g_threads, n, t1 - t0, (double)n, check, extra);
    tr_ref_release(boss);
    tr_runtime_free(rt);
}

/* ------------------------------------------------------------------------ */
/* transfer: 1,000 accounts and a teller; N transfers in flight at once.    */
/* The teller sends every transfer to its source account at once; the      */
/* source debits, asks the destination to credit, and answers the teller   */
/* only once the destination has confirmed. Until then it is busy          */
/* (tr_become) and stashes the transfers that come in; when one is done it */
/* takes up the oldest held one (tr_unstash), so they run in arrival       */
/* order. Credits and balance queries are served in both states (two       */
/* accounts may be crediting each other). Requests carry the asker's       */
/* account number and answers go back by a plain send (the Erlang way: a   */
/* message with the sender in it); the actors find each other in a table   */
/* main fills before the first transfer and only reads after. Done when    */
/* the teller has N answers and then every balance: their sum is the check. */

#define XF_ACCOUNTS 1000
#define XF_BALANCE 1000000
#define XF_TELLER XF_ACCOUNTS /* the teller's slot in the table */

static tr_ref *g_xf[XF_ACCOUNTS + 1]; /* accounts, then the teller */

typedef struct xf_account {
    uint64_t id;
    int64_t balance;
} xf_account;

/* word layouts: M_XFER dst << 32 | amount; M_CREDIT src << 32 | amount. */
#define XF_HI(w) ((w) >> 32)
#define XF_LO(w) ((w)&0xffffffffu)

static int xf_ready(tr_ctx *ctx, void *state, tr_msg *msg);

/* Busy with a transfer: hold other transfers, serve the rest. */
static int xf_busy(tr_ctx *ctx, void *state, tr_msg *msg) {
    switch (msg->type) {
    case M_XFER:
        return tr_stash(ctx, msg);
    case M_CREDITED: { /* the destination has it: answer the teller */
        int rc = tr_send_word(g_xf[XF_TELLER], M_DONE, 0);
        tr_become(ctx, xf_ready);
        tr_unstash(ctx); /* the oldest held transfer, if any, comes next */
        return rc;
    }
    default:
        return xf_ready(ctx, state, msg);
    }
}

static int xf_ready(tr_ctx *ctx, void *state, tr_msg *msg) {
    xf_account *s = state;
    switch (msg->type) {
    case M_XFER: {
        uint64_t amount = XF_LO(msg->word);
        int rc = tr_send_word(g_xf[XF_HI(msg->word)], M_CREDIT, s->id << 32 | amount);
        if (rc != 0)
            return rc;
        s->balance -= (int64_t)amount;
        return tr_become(ctx, xf_busy);
    }
    case M_CREDIT:
        s->balance += (int64_t)XF_LO(msg->word);
        return tr_send_word(g_xf[XF_HI(msg->word)], M_CREDITED, 0);
    case M_BALANCE:
        return tr_send_word(g_xf[XF_TELLER], M_BALANCE, (uint64_t)s->balance);
    default:
        return TR_EINVAL;
    }
}

static int xf_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    xf_account *s = state;
    s->id = (uint64_t)(uintptr_t)arg;
    s->balance = XF_BALANCE;
    return 0;
}

typedef struct xf_teller {
    uint64_t n, done, balances;
    uint64_t sum;
} xf_teller;

static uint64_t xf_rand(uint64_t *x) { /* xorshift64* */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

static int xf_teller_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    xf_teller *t = state;
    switch (msg->type) {
    case M_START: { /* every transfer at once */
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (uint64_t i = 0; i < t->n; i++) {
            uint64_t src = xf_rand(&x) % XF_ACCOUNTS;
            uint64_t dst = xf_rand(&x) % (XF_ACCOUNTS - 1);
            dst += dst >= src;
            uint64_t amount = 1 + xf_rand(&x) % 1000;
            int rc = tr_send_word(g_xf[src], M_XFER, dst << 32 | amount);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    case M_DONE:
        if (++t->done == t->n)
            for (unsigned i = 0; i < XF_ACCOUNTS; i++) {
                int rc = tr_send_word(g_xf[i], M_BALANCE, 0);
                if (rc != 0)
                    return rc;
            }
        return 0;
    case M_BALANCE:
        t->sum += msg->word;
        if (++t->balances == XF_ACCOUNTS)
            bench_latch_set(&g_done, t->sum);
        return 0;
    default:
        return TR_EINVAL;
    }
}

static void run_transfer(uint64_t n) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior account = {.init = xf_init, .receive = xf_ready};
    static const tr_behavior teller = {.receive = xf_teller_receive};
    double t0 = bench_now();
    xf_teller *t = calloc(1, sizeof(*t));
    if (t == NULL)
        die("calloc", TR_ENOMEM);
    t->n = n;
    tr_spawn_opts to = {.arg = t, .name = "teller"};
    CHECK(tr_spawn(rt, &teller, &to, &g_xf[XF_TELLER]));
    for (unsigned i = 0; i < XF_ACCOUNTS; i++) {
        tr_spawn_opts o = {.state_size = sizeof(xf_account),
                           .arg = (void *)(uintptr_t)i,
                           .stash_capacity = TR_MAILBOX_UNBOUNDED,
                           .name = "account"};
        CHECK(tr_spawn(rt, &account, &o, &g_xf[i]));
    }
    CHECK(tr_send_word(g_xf[XF_TELLER], M_START, 0));
    double t1;
    uint64_t got = bench_latch_wait(&g_done, &t1);
    char check[32];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    bench_report("transfer", "troupe", g_threads, n, t1 - t0, (double)n, check, NULL);
    for (unsigned i = 0; i <= XF_ACCOUNTS; i++)
        tr_ref_release(g_xf[i]);
    tr_runtime_free(rt);
    free(t);
}

/* ------------------------------------------------------------------------ */
/* idle: CPU time used by a started runtime with one idle actor.            */

static int idle_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void run_idle(uint64_t seconds) {
    tr_runtime *rt = start_runtime();
    static const tr_behavior beh = {.receive = idle_receive};
    tr_ref *a;
    CHECK(tr_spawn(rt, &beh, NULL, &a));
    CHECK(tr_send_word(a, M_JOB, 0));
    /* Let the workers finish spinning and park before measuring. */
    struct timespec settle = {0, 200 * 1000 * 1000};
    nanosleep(&settle, NULL);
    double c0 = cpu_seconds(), t0 = bench_now();
    struct timespec span = {(time_t)seconds, 0};
    while (nanosleep(&span, &span) != 0 && errno == EINTR) {
    }
    double c1 = cpu_seconds(), t1 = bench_now();
    double pct = 100.0 * (c1 - c0) / (t1 - t0);
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    char check[32], extra[96];
    snprintf(check, sizeof(check), "%.6f", c1 - c0);
    snprintf(extra, sizeof(extra), "cpu_pct=%.4f parks=%" PRIu64, pct, st.parks);
    /* rate: CPU seconds used per wall second, in % of one core. */
    printf("workload=idle impl=troupe threads=%u n=%" PRIu64
           " elapsed_s=%.6f rate=%.4f check=%s %s\n",
           g_threads, seconds, t1 - t0, pct, check, extra);
    tr_ref_release(a);
    tr_runtime_free(rt);
}

/* ------------------------------------------------------------------------ */
/* wakeup: a foreign thread sends a timestamp every ~2 ms (so the workers    */
/* park in between); the actor records now - stamp first thing in receive.  */

typedef struct wake_state {
    uint64_t *samples; /* owned by main; written only by this actor */
    uint64_t n, got;
} wake_state;

static int wake_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    *(wake_state *)state = *(const wake_state *)arg;
    return 0;
}

static int wake_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    uint64_t now = bench_now_ns();
    (void)ctx;
    wake_state *s = state;
    s->samples[s->got++] = now - msg->word;
    if (s->got == s->n)
        bench_latch_set(&g_done, s->got);
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run_wakeup(uint64_t n) {
    tr_runtime *rt = start_runtime();
    uint64_t *samples = calloc(n, sizeof(*samples));
    if (samples == NULL)
        die("calloc", TR_ENOMEM);
    static const tr_behavior beh = {.init = wake_init, .receive = wake_receive};
    wake_state init = {samples, n, 0};
    tr_spawn_opts o = {.state_size = sizeof(wake_state), .arg = &init, .name = "wakeup"};
    tr_ref *a;
    double t0 = bench_now();
    CHECK(tr_spawn(rt, &beh, &o, &a));
    struct timespec gap = {0, 2 * 1000 * 1000};
    for (uint64_t i = 0; i < n; i++) {
        nanosleep(&gap, NULL);
        CHECK(tr_send_word(a, M_STAMP, bench_now_ns()));
    }
    double t1;
    uint64_t got = bench_latch_wait(&g_done, &t1);
    qsort(samples, n, sizeof(*samples), cmp_u64);
    double p50 = (double)samples[n / 2] / 1e3;
    double p99 = (double)samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1e3;
    double max = (double)samples[n - 1] / 1e3;
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    char check[32], extra[128];
    snprintf(check, sizeof(check), "%" PRIu64, got);
    snprintf(extra, sizeof(extra), "p50_us=%.1f p99_us=%.1f max_us=%.1f parks=%" PRIu64, p50, p99,
             max, st.parks);
    bench_report("wakeup", "troupe", g_threads, n, t1 - t0, (double)n, check, extra);
    tr_ref_release(a);
    tr_runtime_free(rt);
    free(samples);
}

/* ------------------------------------------------------------------------ */

typedef struct workload {
    const char *name;
    void (*run)(uint64_t n);
    uint64_t n;
} workload;

static const workload workloads[] = {
    {"pingpong", run_pingpong, 1000000},
    {"ring", run_ring, 10000000},
    {"pingpong_ct", run_pingpong, 1000000},
    {"ring_ct", run_ring, 10000000},
    {"skynet", run_skynet, 1000000},
    {"fanin", run_fanin, 10000000},
    {"fanin_bounded", run_fanin_bounded, 10000000},
    {"fanin_lanes", run_fanin_lanes, 10000000},
    {"forkjoin", run_forkjoin, 6400000},
    {"transfer", run_transfer, 100000},
    {"live", run_live, 1000000},
    {"idle", run_idle, 5},
    {"wakeup", run_wakeup, 2000},
};

static void usage(void) {
    fprintf(stderr, "usage: bench_troupe <workload> [n] [threads]\nworkloads:");
    for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
        fprintf(stderr, " %s (n=%" PRIu64 ")", workloads[i].name, workloads[i].n);
    fprintf(stderr, "\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4)
        usage();
    const workload *w = NULL;
    for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
        if (strcmp(argv[1], workloads[i].name) == 0)
            w = &workloads[i];
    if (w == NULL)
        usage();
    uint64_t n = bench_arg_u64(argc > 2 ? argv[2] : NULL, w->n);
    g_threads = (unsigned)bench_arg_u64(argc > 3 ? argv[3] : NULL, bench_cores());
    size_t len = strlen(w->name);
    if (len > 3 && strcmp(w->name + len - 3, "_ct") == 0) {
        g_current = 1;
        g_threads = 0;
    }
    bench_latch_init(&g_done);
    w->run(n);
    bench_latch_destroy(&g_done);
    return 0;
}
