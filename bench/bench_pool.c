/* bench/bench_pool.c - the `pool` workload: a supervised worker pool under load,
 * with crashes.
 *
 *   bench_pool [n] [threads]        (POOL_ROUTE=rr|shared|smallest, default rr;
 *                                    POOL_WINDOW=32)
 *
 * A pool (troupe/pool.h) of W = 8 workers gets N jobs from 2 foreign threads,
 * each keeping a window of 32 asks in flight (WORKLOADS.md: "a bounded
 * window, e.g. 8"; 32 for this and bench_ipool alike: docs/performance.md,
 * "ipool, third pass", has both curves). A job runs bench_work (the
 * forkjoin computation) and replies with the result. Job j with
 * j % 10,000 == 0 is poisoned: the first time a worker handles it, the worker
 * marks the job (the top bit of its word, in the message itself, which the
 * pool redelivers as it is) and crashes; the pool respawns the worker and
 * redelivers the job, which then completes. Done when every job has been
 * answered; check = "N,restarts=R" with R from the pool's own statistics.
 *
 * Only the public API is used; nothing is shared between actors (the crash
 * mark travels in the job). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe.h>
#include <troupe/pool.h>

#include "bench/bench.h"

#define POOL_WORKERS 8
#define POOL_SENDERS 2
#define POOL_MAX_WINDOW 256
#define POOL_WINDOW_DEFAULT 32
#define POOL_POISON_EVERY 10000
#define CRASHED_ONCE (1ull << 63)

enum { M_JOB = 1, M_RESULT = 2 };

static void die(const char *what, int rc) {
    fprintf(stderr, "bench_pool: %s: %s\n", what, tr_strerror(rc));
    exit(1);
}

static int job_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    uint64_t j = msg->word & ~CRASHED_ONCE;
    if (j % POOL_POISON_EVERY == 0 && !(msg->word & CRASHED_ONCE)) {
        msg->word |= CRASHED_ONCE; /* the redelivered job completes */
        return TR_ECRASHED;
    }
    double r = bench_work(j);
    return tr_reply_word(msg, M_RESULT, (uint64_t)r);
}

typedef struct sender {
    pthread_t th;
    pthread_barrier_t *go;
    tr_ref *pool;
    unsigned window;
    uint64_t from, to; /* job numbers [from, to) */
    uint64_t answered, failed, sum;
} sender;

static void *sender_main(void *arg) {
    sender *s = arg;
    tr_future *window[POOL_MAX_WINDOW];
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
    if (argc > 3) {
        fprintf(stderr, "usage: bench_pool [n] [threads]   (POOL_ROUTE=rr|shared|smallest)\n");
        return 2;
    }
    uint64_t n = bench_arg_u64(argc > 1 ? argv[1] : NULL, 1000000);
    unsigned threads = (unsigned)bench_arg_u64(argc > 2 ? argv[2] : NULL, bench_cores());
    const char *route_name = getenv("POOL_ROUTE");
    tr_route route = TR_ROUTE_ROUND_ROBIN;
    if (route_name != NULL && strcmp(route_name, "shared") == 0)
        route = TR_ROUTE_SHARED_QUEUE;
    else if (route_name != NULL && strcmp(route_name, "smallest") == 0)
        route = TR_ROUTE_SMALLEST_MAILBOX;
    unsigned window = (unsigned)bench_arg_u64(getenv("POOL_WINDOW"), POOL_WINDOW_DEFAULT);
    if (window == 0 || window > POOL_MAX_WINDOW)
        window = POOL_WINDOW_DEFAULT;

    tr_runtime_config rcfg;
    tr_runtime_config_init(&rcfg);
    rcfg.workers = threads;
    tr_runtime *rt;
    int rc = tr_runtime_new(&rt, &rcfg);
    if (rc != 0)
        die("tr_runtime_new", rc);

    static const tr_behavior worker = {.receive = job_receive};
    tr_pool_config pcfg;
    tr_pool_config_init(&pcfg);
    pcfg.workers = POOL_WORKERS;
    pcfg.behavior = &worker;
    pcfg.routing = route;
    pcfg.name = "bench-pool";

    sender s[POOL_SENDERS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, POOL_SENDERS + 1);
    for (unsigned i = 0; i < POOL_SENDERS; i++) {
        s[i] = (sender){.go = &go,
                        .window = window,
                        .from = n * i / POOL_SENDERS,
                        .to = n * (i + 1) / POOL_SENDERS};
        pthread_create(&s[i].th, NULL, sender_main, &s[i]);
    }

    double t0 = bench_now();
    tr_ref *pool;
    rc = tr_pool_start(rt, &pcfg, &pool);
    if (rc != 0)
        die("tr_pool_start", rc);
    for (unsigned i = 0; i < POOL_SENDERS; i++)
        s[i].pool = pool;
    pthread_barrier_wait(&go); /* publishes the pool handle to the senders */
    uint64_t answered = 0, failed = 0;
    for (unsigned i = 0; i < POOL_SENDERS; i++) {
        pthread_join(s[i].th, NULL);
        answered += s[i].answered;
        failed += s[i].failed;
    }
    double t1 = bench_now();
    pthread_barrier_destroy(&go);

    /* A crashed worker's respawn may trail the redelivered job's answer by a
     * moment: wait (up to 1 s, outside the timing) for the count to settle. */
    uint64_t want = (n + POOL_POISON_EVERY - 1) / POOL_POISON_EVERY;
    tr_pool_stats st;
    for (int tries = 0;; tries++) {
        rc = tr_pool_stats_get(pool, &st, NULL, 0);
        if (rc != 0)
            die("tr_pool_stats_get", rc);
        if (st.restarts >= want || tries == 100)
            break;
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL);
    }
    char check[64], extra[128];
    snprintf(check, sizeof(check), "%" PRIu64 ",restarts=%" PRIu64, answered, st.restarts);
    snprintf(extra, sizeof(extra), "route=%s window=%u failed=%" PRIu64 " redeliveries=%" PRIu64,
             route == TR_ROUTE_SHARED_QUEUE       ? "shared"
             : route == TR_ROUTE_SMALLEST_MAILBOX ? "smallest"
                                                  : "rr",
             window, failed, st.redeliveries);
    bench_report("pool", "troupe", threads, n, t1 - t0, (double)n, check, extra);
    tr_pool_release(pool);
    tr_runtime_free(rt);
    return failed == 0 ? 0 : 1;
}
