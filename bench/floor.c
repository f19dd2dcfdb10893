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
 *   bench_floor wakeup [n]             OS wake-up latency: a thread blocked in
 *                                      epoll_wait on an eventfd (what a parked
 *                                      worker's libev loop does) is woken by a
 *                                      write every ~2 ms: p50/p99 of the delay
 *
 * This is the only benchmark that includes a private header (the mailbox),
 * and only for the first floor: what one message costs with no scheduler,
 * no worker and no other thread around it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <troupe.h>

#include "bench/bench.h"
#include "mailbox/mpsc.h"

/* A small rotating set of messages, so the loop is not one cache line. */
#define FLOOR_MSGS 64

static uint64_t g_sink; /* keeps the popped words observable */

/* The static messages' memory is never freed: a release that does nothing
 * lets the mailbox hold the last one as its link, as it does for every
 * runtime-made message (see mailbox/mpsc.c). */
static void release_static(tr_msg *m) {
    (void)m;
}

static void floor_mailbox(uint64_t n, int alloc) {
    static tr__mbox mb __attribute__((aligned(64)));
    static tr_msg msgs[FLOOR_MSGS];
    tr__mbox_init(&mb, 0);
    for (unsigned i = 0; i < FLOOR_MSGS; i++)
        tr_msg_init(&msgs[i], 1, release_static);
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
        if (alloc && !tr__mbox_holds_owner(&mb, got))
            tr_msg_free(got); /* a held message is released by the mailbox */
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

typedef struct wake_floor {
    int efd, ep;
    uint64_t n;
    uint64_t *samples;
    uint64_t nsamples;
    uint64_t stamp; /* written before the eventfd write, read after the wake */
} wake_floor;

static void *wake_floor_main(void *arg) {
    wake_floor *w = arg;
    /* Two writes may coalesce into one wake when this thread is slow (a
     * loaded machine): the eventfd counter says how many were consumed. */
    for (uint64_t got = 0; got < w->n;) {
        struct epoll_event ev;
        if (epoll_wait(w->ep, &ev, 1, -1) != 1)
            continue;
        uint64_t now = bench_now_ns();
        uint64_t v;
        if (read(w->efd, &v, sizeof(v)) != sizeof(v))
            continue;
        w->samples[w->nsamples++] = now - __atomic_load_n(&w->stamp, __ATOMIC_ACQUIRE);
        got += v;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void floor_wakeup(uint64_t n) {
    wake_floor w = {.n = n};
    w.samples = calloc(n, sizeof(*w.samples));
    w.efd = eventfd(0, EFD_NONBLOCK);
    w.ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    if (w.samples == NULL || w.efd < 0 || w.ep < 0 || epoll_ctl(w.ep, EPOLL_CTL_ADD, w.efd, &ev))
        exit(1);
    pthread_t th;
    pthread_create(&th, NULL, wake_floor_main, &w);
    struct timespec gap = {0, 2 * 1000 * 1000};
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        nanosleep(&gap, NULL);
        __atomic_store_n(&w.stamp, bench_now_ns(), __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(w.efd, &one, sizeof(one)) != sizeof(one))
            exit(1);
    }
    pthread_join(th, NULL);
    double t1 = bench_now();
    char check[32], extra[160];
    snprintf(check, sizeof(check), "%" PRIu64, n);
    uint64_t sent = n;
    n = w.nsamples; /* wakes: fewer than sends if some coalesced */
    qsort(w.samples, n, sizeof(*w.samples), cmp_u64);
    snprintf(extra, sizeof(extra), "samples=%" PRIu64 " p50_us=%.1f p99_us=%.1f max_us=%.1f", n,
             (double)w.samples[n / 2] / 1e3, (double)w.samples[(n * 99) / 100] / 1e3,
             (double)w.samples[n - 1] / 1e3);
    bench_report("floor_wakeup", "floor", 1, sent, t1 - t0, (double)sent, check, extra);
    close(w.efd);
    close(w.ep);
    free(w.samples);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr,
                "usage: bench_floor mailbox|mailbox_msg|wakeup [n] | compute [n] [threads]\n");
        return 2;
    }
    const char *w = argv[1];
    const char *n_arg = argc > 2 ? argv[2] : NULL;
    if (strcmp(w, "mailbox") == 0 || strcmp(w, "mailbox_msg") == 0) {
        floor_mailbox(bench_arg_u64(n_arg, 50000000), strcmp(w, "mailbox_msg") == 0);
    } else if (strcmp(w, "wakeup") == 0) {
        floor_wakeup(bench_arg_u64(n_arg, 2000));
    } else if (strcmp(w, "compute") == 0) {
        unsigned threads = (unsigned)bench_arg_u64(argc > 3 ? argv[3] : NULL, bench_cores());
        floor_compute(bench_arg_u64(n_arg, 6400000), threads);
    } else {
        fprintf(stderr, "bench_floor: unknown floor '%s'\n", w);
        return 2;
    }
    return 0;
}
