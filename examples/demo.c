/* examples/demo.c - the flagship demo (`make demo`): a supervised worker pool
 * under a crash storm, and proof that nothing was lost.
 *
 * A supervisor owns a pool of 8 workers (shared-queue routing: an idle worker
 * takes the next job). Two foreign threads feed it jobs for ~3 seconds. About
 * one job in 2,000 makes its worker crash (the job is redelivered to a fresh
 * worker), and about one in 200,000 is "poison": it crashes every worker that
 * tries it and is dead-lettered after 3 redeliveries. Every second the main
 * thread prints jobs/s, restarts and each worker's share of the load; at the
 * end it checks sent == answered + dead-lettered and exits 0 if so.
 *
 * Watch it live: with TROUPE_CONSOLE=/tmp/troupe.sock in its environment
 * the runtime serves its console there (troupe/console.h), and the demo runs
 * for 60 s instead of 3 so that `troupe-top /tmp/troupe.sock` in another
 * terminal has something to show. `demo SECONDS` sets the time; Ctrl-C ends
 * it early (the final check still runs).
 *
 * The runtime reports the crashes on stderr as they happen (troupe/log.h):
 * 3 crash reports a second in full, then a summary line counting the rest
 * by worker (pool[slot]), the pool's dropped jobs and a dead-letter summary.
 * TROUPE_LOG=off silences them, TROUPE_LOG=debug shows every crash. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <troupe.h>

#define WORKERS 8
#define FEEDERS 2
#define RUN_S 3 /* seconds, or RUN_S_WATCHED with a console */
#define RUN_S_WATCHED 60
#define WINDOW 20000 /* jobs in flight per feeder, at most */
#define JOB 1

static atomic_uint_fast64_t sent, answered, dead, crashes;
static atomic_int stop_feeding;
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* The worker: a little arithmetic, the odd crash. Each worker keeps its own
 * random stream in its state. */
typedef struct worker {
    uint64_t rng;
} worker;

static int worker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    worker *w = state;
    if (w->rng == 0)
        w->rng = mix(tr_ref_id(tr_self(ctx))) | 1;
    w->rng = mix(w->rng);
    uint64_t job = msg->word;
    if (mix(job) % 200000 == 0 || w->rng % 2000 == 0) { /* poison, or bad luck */
        atomic_fetch_add(&crashes, 1);
        if (w->rng & 1)
            tr_panic(ctx, TR_ECRASHED, "demo: worker crashed"); /* longjmp out */
        return TR_ECRASHED;                                     /* or just fail */
    }
    uint64_t h = job;
    for (int i = 0; i < 64; i++) /* the "work" */
        h = mix(h + (uint64_t)i);
    if (h == 42)
        puts("");
    atomic_fetch_add(&answered, 1);
    return 0;
}

static void on_dead_letter(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type == JOB)
        atomic_fetch_add(&dead, 1);
}

static void *feeder(void *arg) {
    tr_ref *pool = arg;
    uint64_t next = (uint64_t)(uintptr_t)pool & 0xffff;
    while (!atomic_load(&stop_feeding)) {
        uint64_t done = atomic_load(&answered) + atomic_load(&dead);
        if (atomic_load(&sent) > done + FEEDERS * WINDOW) {
            sched_yield();
            continue;
        }
        if (tr_send_word(pool, JOB, next++) != 0)
            break; /* the pool is restarting: the handle went stale */
        atomic_fetch_add(&sent, 1);
    }
    tr_pool_release(pool);
    return NULL;
}

/* The pool's current handle, from the supervisor (owned: release it). */
static tr_ref *pool_of(tr_ref *sup) {
    tr_child_info info;
    size_t n = 0;
    if (tr_sup_which_children(sup, &info, 1, &n) != 0 || n == 0)
        return NULL;
    return info.ref;
}

int main(int argc, char **argv) {
    const char *console = getenv("TROUPE_CONSOLE");
    int run_s = console != NULL && console[0] != '\0' ? RUN_S_WATCHED : RUN_S;
    if (argc > 1 && (run_s = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: demo [SECONDS]\n");
        return 2;
    }
    signal(SIGINT, on_sigint);
    tr_runtime_config rcfg;
    tr_runtime_config_init(&rcfg);
    rcfg.dead_letter = on_dead_letter;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &rcfg);
    if (rc != 0) {
        fprintf(stderr, "demo: %s\n", tr_strerror(rc));
        return 1;
    }

    static const tr_behavior worker_beh = {.receive = worker_receive};
    tr_pool_config pcfg;
    tr_pool_config_init(&pcfg);
    pcfg.workers = WORKERS;
    pcfg.behavior = &worker_beh;
    pcfg.opts.state_size = sizeof(worker);
    pcfg.routing = TR_ROUTE_SHARED_QUEUE;
    pcfg.max_redeliveries = 3;
    pcfg.name = "demo pool";
    tr_child_spec spec = {
        .id = "pool",
        .start = tr_pool_start_as_child,
        .arg = &pcfg,
        .restart = TR_CHILD_PERMANENT,
    };
    tr_sup_config scfg;
    tr_sup_config_init(&scfg);
    scfg.children = &spec;
    scfg.nchildren = 1;
    scfg.name = "demo supervisor";
    tr_ref *sup;
    if ((rc = tr_sup_start(rt, &scfg, &sup)) != 0) {
        fprintf(stderr, "demo: supervisor: %s\n", tr_strerror(rc));
        tr_runtime_free(rt);
        return 1;
    }
    printf("troupe demo: supervisor -> pool of %d workers (shared queue), %d feeder threads, "
           "~1/2000 jobs crash a worker\n",
           WORKERS, FEEDERS);
    if (console != NULL && console[0] != '\0')
        printf("watch it live: troupe-top %s (in another terminal); %d s, Ctrl-C ends it\n",
               console, run_s);

    pthread_t th[FEEDERS];
    for (int i = 0; i < FEEDERS; i++) {
        tr_ref *p = pool_of(sup);
        tr_pool_retain(p); /* the feeder's own pool handle */
        tr_ref_release(p);
        pthread_create(&th[i], NULL, feeder, p);
    }

    int64_t t0 = now_ms(), last = t0;
    uint64_t last_done = 0;
    for (int second = 1; second <= run_s && !interrupted; second++) {
        while (now_ms() < t0 + second * 1000 && !interrupted)
            nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
        if (interrupted)
            break;
        tr_ref *p = pool_of(sup);
        tr_pool_stats st;
        uint64_t handled[WORKERS] = {0};
        memset(&st, 0, sizeof(st));
        if (p != NULL)
            tr_pool_stats_get(p, &st, handled, WORKERS);
        tr_ref_release(p);
        int64_t t = now_ms();
        uint64_t done = atomic_load(&answered) + atomic_load(&dead);
        double rate = (double)(done - last_done) * 1000.0 / (double)(t - last > 0 ? t - last : 1);
        printf("[%ds] %9.0f jobs/s  answered %8llu  restarts %4llu  redelivered %4llu  "
               "dead %2llu  load:",
               second, rate, (unsigned long long)atomic_load(&answered),
               (unsigned long long)st.restarts, (unsigned long long)st.redeliveries,
               (unsigned long long)atomic_load(&dead));
        uint64_t total = 0;
        for (int i = 0; i < WORKERS; i++)
            total += handled[i];
        for (int i = 0; i < WORKERS; i++)
            printf(" %2.0f%%", total ? 100.0 * (double)handled[i] / (double)total : 0.0);
        printf("\n");
        fflush(stdout);
        last = t;
        last_done = done;
    }
    atomic_store(&stop_feeding, 1);
    for (int i = 0; i < FEEDERS; i++)
        pthread_join(th[i], NULL);

    /* Let the pool drain what is in flight (bounded wait). */
    int64_t deadline = now_ms() + 1500;
    while (atomic_load(&answered) + atomic_load(&dead) < atomic_load(&sent) && now_ms() < deadline)
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    tr_ref *p = pool_of(sup);
    tr_pool_stats st;
    memset(&st, 0, sizeof(st));
    if (p != NULL)
        tr_pool_stats_get(p, &st, NULL, 0);
    tr_ref_release(p);
    tr_sup_stop(sup);
    tr_ref_release(sup);
    tr_runtime_free(rt);

    uint64_t s = atomic_load(&sent), a = atomic_load(&answered), d = atomic_load(&dead);
    int ok = s == a + d;
    printf("final: sent %llu = answered %llu + dead-lettered %llu  (%llu crashes, %llu worker "
           "restarts, %llu redeliveries)  %s\n",
           (unsigned long long)s, (unsigned long long)a, (unsigned long long)d,
           (unsigned long long)atomic_load(&crashes), (unsigned long long)st.restarts,
           (unsigned long long)st.redeliveries, ok ? "nothing lost" : "MISMATCH");
    return ok ? 0 : 1;
}
