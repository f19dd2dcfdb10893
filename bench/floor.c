/* bench/floor.c - the floors the troupe figures are compared with.
 *
 *   bench_floor mailbox [n]            push one + pop one on a bare troupe
 *                                      mailbox (mailbox/mpsc.h), one thread,
 *                                      messages preallocated: messages/s
 *   bench_floor mailbox_msg [n]        the same with tr_msg_new/tr_msg_free
 *                                      around every message (allocation cost)
 *   bench_floor compute [n] [threads]  the forkjoin computation (bench_work)
 *                                      on plain pthreads, no messaging:
 *                                      computations/s
 *
 * This is the only benchmark that includes a private header (the mailbox),
 * and only for the first floor: what one message costs with no scheduler,
 * no worker and no other thread around it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe.h>

#include "bench/bench.h"
#include "mailbox/mpsc.h"

/* A small rotating set of messages, so the loop is not one cache line. */
#define FLOOR_MSGS 64

static uint64_t g_sink; /* keeps the popped words observable */

static void floor_mailbox(uint64_t n, int alloc) {
    static tr__mbox mb __attribute__((aligned(64)));
    static tr_msg msgs[FLOOR_MSGS];
    tr__mbox_init(&mb, 0);
    for (unsigned i = 0; i < FLOOR_MSGS; i++)
        tr_msg_init(&msgs[i], 1, NULL);
    uint64_t sum = 0;
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        tr_msg *m;
        if (alloc) {
            if (tr_msg_new(&m, 1, 0) != 0) {
                fprintf(stderr, "bench_floor: tr_msg_new failed\n");
                exit(1);
            }
        } else {
            m = &msgs[i % FLOOR_MSGS];
        }
        m->word = i;
        m->next = NULL;
        if (tr__mbox_push_mpsc(&mb, m) < 0) {
            fprintf(stderr, "bench_floor: push failed\n");
            exit(1);
        }
        tr_msg *got = tr__mbox_pop_owner(&mb);
        sum += got->word;
        if (alloc)
            tr_msg_free(got);
    }
    double t1 = bench_now();
    g_sink = sum;
    char check[32];
    snprintf(check, sizeof(check), "%" PRIu64, sum == n * (n - 1) / 2 ? n : 0);
    bench_report(alloc ? "floor_mailbox_msg" : "floor_mailbox", "floor", 1, n, t1 - t0, (double)n,
                 check, NULL);
}

typedef struct compute_thread {
    pthread_t th;
    uint64_t from, to;
    uint64_t count;
    double acc;
} compute_thread;

static void *compute_main(void *arg) {
    compute_thread *t = arg;
    double acc = 0;
    uint64_t count = 0;
    for (uint64_t j = t->from; j < t->to; j++) {
        acc += bench_work(j);
        count++;
    }
    t->acc = acc;
    t->count = count;
    return NULL;
}

static void floor_compute(uint64_t n, unsigned threads) {
    compute_thread *th = calloc(threads, sizeof(*th));
    if (th == NULL)
        exit(1);
    double t0 = bench_now();
    for (unsigned i = 0; i < threads; i++) {
        th[i].from = n * i / threads;
        th[i].to = n * (i + 1) / threads;
        pthread_create(&th[i].th, NULL, compute_main, &th[i]);
    }
    uint64_t count = 0;
    double acc = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(th[i].th, NULL);
        count += th[i].count;
        acc += th[i].acc;
    }
    double t1 = bench_now();
    char check[32], extra[64];
    snprintf(check, sizeof(check), "%" PRIu64, count);
    snprintf(extra, sizeof(extra), "sum=%.6e", acc);
    bench_report("floor_compute", "floor", threads, n, t1 - t0, (double)n, check, extra);
    free(th);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_floor mailbox|mailbox_msg [n] | compute [n] [threads]\n");
        return 2;
    }
    const char *w = argv[1];
    const char *n_arg = argc > 2 ? argv[2] : NULL;
    if (strcmp(w, "mailbox") == 0 || strcmp(w, "mailbox_msg") == 0) {
        floor_mailbox(bench_arg_u64(n_arg, 50000000), strcmp(w, "mailbox_msg") == 0);
    } else if (strcmp(w, "compute") == 0) {
        unsigned threads = (unsigned)bench_arg_u64(argc > 3 ? argv[3] : NULL, bench_cores());
        floor_compute(bench_arg_u64(n_arg, 6400000), threads);
    } else {
        fprintf(stderr, "bench_floor: unknown floor '%s'\n", w);
        return 2;
    }
    return 0;
}
