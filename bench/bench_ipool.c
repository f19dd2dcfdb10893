/* bench/bench_ipool.c - the `ipool` workload: the `pool` workload with its
 * workers in child processes (troupe/ipool.h), crashing for real.
 *
 *   bench_ipool [n] [threads]   (IPOOL_ROUTE=shared|rr|smallest, default shared;
 *                                IPOOL_WINDOW=32, IPOOL_INFLIGHT=2 x the window)
 *
 * An isolated pool of W = 8 worker processes gets N jobs from 2 foreign
 * threads, each keeping a window of 32 asks in flight (bench_pool's window:
 * docs/performance.md, "ipool, third pass", has the curve from 8 to 64). A job runs bench_work
 * (the forkjoin computation) in the child and replies with the result. Job
 * j with j % 10,000 == 0 makes its child dereference NULL (SIGSEGV) the
 * first time it is handled (job->attempt == 0: the child has no memory of
 * it); the pool reaps the child, redelivers the job to another one, which
 * completes it, and respawns the dead one. check = "N,crashes=R" with R from
 * the pool's own statistics (children that died by a signal). Routing is
 * the shared queue unless IPOOL_ROUTE says otherwise: it fills the first
 * child with room, so on 2 cores two or three children do the work in
 * batches while the others wait (8 children, 2 cores).
 *
 * This program is its own worker image: main registers the entry and calls
 * tr_ipool_main before anything else. Each job is one frame and one reply
 * frame; the router writes what is queued for a child in one write and the
 * child answers what it read in one write (isolate/ipool_child.h, the wire). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe.h>
#include <troupe/ipool.h>

#include "bench/bench.h"

#define IPOOL_WORKERS 8
#define IPOOL_SENDERS 2
#define IPOOL_MAX_WINDOW 256
#define IPOOL_WINDOW_DEFAULT 32 /* as bench_pool's */
#define IPOOL_POISON_EVERY 10000

enum { M_JOB = 1, M_RESULT = 2 };

static volatile int *volatile null_ptr;

static int job_entry(void *user, const tr_ipool_job *job, tr_ibuf *reply) {
    (void)user;
    if (job->word % IPOOL_POISON_EVERY == 0 && job->attempt == 0)
        *null_ptr = 1; /* SIGSEGV: the pool survives it */
    double r = bench_work(job->word);
    return tr_ibuf_set(reply, M_RESULT, (uint64_t)r);
}

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_ipool: %s: %s\n", what, tr_strerror(rc));
    exit(1);
}

typedef struct sender {
    pthread_t th;
    pthread_barrier_t *go;
    tr_ref *pool;
    unsigned window;
    uint64_t from, to;
    uint64_t answered, failed, sum;
} sender;

static void *sender_main(void *arg) {
    sender *s = arg;
    tr_future *window[IPOOL_MAX_WINDOW];
    uint64_t next = s->from, head = 0, inflight = 0;
    pthread_barrier_wait(s->go);
    while (next < s->to || inflight > 0) {
        if (next < s->to && inflight < s->window) {
            int rc = tr_ask_word(s->pool, M_JOB, next, &window[(head + inflight) % s->window]);
            if (rc != 0)
                die("tr_ask_word", rc);
            next++;
            inflight++;
            continue;
        }
        tr_future *f = window[head];
        head = (head + 1) % s->window;
        inflight--;
        tr_msg *reply;
        int rc = tr_future_wait(f, -1, &reply);
        if (rc == 0) {
            s->answered++;
            s->sum += reply->word;
            tr_msg_free(reply);
        } else {
            s->failed++;
        }
        tr_future_release(f);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (tr_ipool_register("bench", job_entry, NULL) != 0)
        return 1;
    if (tr_ipool_main(argc, argv) != 0) /* a child never returns */
        return 1;
    if (argc > 3) {
        fprintf(stderr, "usage: bench_ipool [n] [threads]   (IPOOL_ROUTE=shared|rr|smallest)\n");
        return 2;
    }
    uint64_t n = bench_arg_u64(argc > 1 ? argv[1] : NULL, 1000000);
    unsigned threads = (unsigned)bench_arg_u64(argc > 2 ? argv[2] : NULL, bench_cores());
    const char *route_name = getenv("IPOOL_ROUTE");
    /* Shared queue by default: it fills one child's pipeline before the
     * next, so a burst travels in one write and one read (isolate/ipool_child.h). */
    tr_route route = TR_ROUTE_SHARED_QUEUE;
    if (route_name != NULL && strcmp(route_name, "rr") == 0)
        route = TR_ROUTE_ROUND_ROBIN;
    else if (route_name != NULL && strcmp(route_name, "smallest") == 0)
        route = TR_ROUTE_SMALLEST_MAILBOX;
    unsigned window = (unsigned)bench_arg_u64(getenv("IPOOL_WINDOW"), IPOOL_WINDOW_DEFAULT);
    if (window == 0 || window > IPOOL_MAX_WINDOW)
        window = IPOOL_WINDOW_DEFAULT;
    /* In flight per child: the senders' whole window (2 x 32), so the
     * shared queue gives a burst to one child, which reads it in one read
     * and answers it in one write (half of it took a second child awake
     * per burst: at window 32, 0.18 against 0.12 context switches per job;
     * at window 8, 0.60-0.69 against 0.48-0.49; perf stat). */
    unsigned inflight = (unsigned)bench_arg_u64(getenv("IPOOL_INFLIGHT"), IPOOL_SENDERS * window);

    tr_runtime_config rcfg;
    tr_runtime_config_init(&rcfg);
    rcfg.workers = threads;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &rcfg);
    if (rc != 0)
        die("tr_runtime_new", rc);

    tr_ipool_config icfg;
    tr_ipool_config_init(&icfg);
    icfg.pool.workers = IPOOL_WORKERS;
    icfg.pool.routing = route;
    icfg.pool.name = "bench-ipool";
    icfg.entry = "bench";
    icfg.max_inflight = inflight;

    sender s[IPOOL_SENDERS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, IPOOL_SENDERS + 1);
    for (unsigned i = 0; i < IPOOL_SENDERS; i++) {
        s[i] = (sender){.go = &go,
                        .window = window,
                        .from = n * i / IPOOL_SENDERS,
                        .to = n * (i + 1) / IPOOL_SENDERS};
        pthread_create(&s[i].th, NULL, sender_main, &s[i]);
    }

    double t0 = bench_now();
    tr_ref *pool;
    rc = tr_ipool_start(rt, &icfg, &pool);
    if (rc != 0)
        die("tr_ipool_start", rc);
    for (unsigned i = 0; i < IPOOL_SENDERS; i++)
        s[i].pool = pool;
    pthread_barrier_wait(&go); /* publishes the pool handle to the senders */
    uint64_t answered = 0, failed = 0;
    for (unsigned i = 0; i < IPOOL_SENDERS; i++) {
        pthread_join(s[i].th, NULL);
        answered += s[i].answered;
        failed += s[i].failed;
    }
    double t1 = bench_now();
    pthread_barrier_destroy(&go);

    tr_pool_stats st;
    rc = tr_pool_stats_get(pool, &st, NULL, 0);
    if (rc != 0)
        die("tr_pool_stats_get", rc);
    char check[64], extra[160];
    snprintf(check, sizeof(check), "%" PRIu64 ",crashes=%" PRIu64, answered, st.crashes);
    snprintf(extra, sizeof(extra),
             "route=%s window=%u inflight=%u failed=%" PRIu64 " redeliveries=%" PRIu64
             " restarts=%" PRIu64,
             route == TR_ROUTE_SHARED_QUEUE       ? "shared"
             : route == TR_ROUTE_SMALLEST_MAILBOX ? "smallest"
                                                  : "rr",
             window, inflight, failed, st.redeliveries, st.restarts);
    bench_report("ipool", "troupe", threads, n, t1 - t0, (double)n, check, extra);
    tr_pool_release(pool);
    tr_runtime_free(rt);
    return failed == 0 ? 0 : 1;
}
