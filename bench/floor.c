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
 *   bench_floor transfer [n]           cross-core cache-line transfer: two
 *                                      threads pinned to two CPUs pass one
 *                                      line back and forth n times; rate =
 *                                      transfers/s, ns_per_transfer = latency
 *   bench_floor populate [n] [threads] fresh memory made resident: n MB mapped
 *                                      and populated 2 MB at a time as huge
 *                                      pages (what the actor pool does per
 *                                      chunk), by `threads` threads (1):
 *                                      MB/s, and ns_per_kb; live's spawn rate
 *                                      can be no more than this over its
 *                                      bytes per actor
 *
 * The transfer floor is what a message between cores costs at least: its
 * line, written on one core, must move to the other before it can be read.
 * On the shared CI host it has been seen anywhere from 60 to 240 ns, phase
 * to phase, and the workloads whose messages cross cores (fanin, forkjoin)
 * move with it; the runner measures it beside them.
 *
 * This is the only benchmark that includes a private header (the mailbox),
 * and only for the first floor: what one message costs with no scheduler,
 * no worker and no other thread around it. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

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

/* --- transfer: one cache line between two pinned threads ----------------- */

typedef struct transfer_floor {
    uint64_t turn __attribute__((aligned(64))); /* the line passed back and forth */
    char pad[64 - sizeof(uint64_t)];
    uint64_t n;
} transfer_floor;

/* The first two CPUs this process may run on, or -1. */
static void two_cpus(int *a, int *b) {
    cpu_set_t set;
    *a = *b = -1;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    for (int c = 0; c < CPU_SETSIZE && *b < 0; c++)
        if (CPU_ISSET(c, &set)) {
            if (*a < 0)
                *a = c;
            else
                *b = c;
        }
}

/* The peer answers each odd value with the next even one. Acquire/release
 * only order the handover; the cost measured is the line's movement. */
static void *transfer_peer(void *arg) {
    transfer_floor *f = arg;
    for (uint64_t i = 1; i <= f->n; i++) {
        while (__atomic_load_n(&f->turn, __ATOMIC_ACQUIRE) != 2 * i - 1)
            ;
        __atomic_store_n(&f->turn, 2 * i, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void floor_transfer(uint64_t n) {
    int me, peer;
    two_cpus(&me, &peer);
    cpu_set_t mine, theirs;
    CPU_ZERO(&mine);
    CPU_ZERO(&theirs);
    CPU_SET(me < 0 ? 0 : me, &mine);
    CPU_SET(peer < 0 ? 0 : peer, &theirs);
    static transfer_floor f;
    f.n = n;
    pthread_attr_t attr;
    pthread_t th;
    /* The peer is pinned before it starts, so it can never spin on our CPU. */
    if (peer < 0 || pthread_setaffinity_np(pthread_self(), sizeof(mine), &mine) != 0 ||
        pthread_attr_init(&attr) != 0 ||
        pthread_attr_setaffinity_np(&attr, sizeof(theirs), &theirs) != 0 ||
        pthread_create(&th, &attr, transfer_peer, &f) != 0) {
        fprintf(stderr, "bench_floor: transfer needs two CPUs to pin to\n");
        exit(1);
    }
    pthread_attr_destroy(&attr);
    double t0 = bench_now();
    for (uint64_t i = 1; i <= n; i++) {
        __atomic_store_n(&f.turn, 2 * i - 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&f.turn, __ATOMIC_ACQUIRE) != 2 * i)
            ;
    }
    double t1 = bench_now();
    pthread_join(th, NULL);
    char check[32], extra[64];
    snprintf(check, sizeof(check), "%" PRIu64, __atomic_load_n(&f.turn, __ATOMIC_RELAXED) / 2);
    snprintf(extra, sizeof(extra), "ns_per_transfer=%.1f", (t1 - t0) * 1e9 / (2.0 * (double)n));
    bench_report("floor_transfer", "floor", 2, n, t1 - t0, 2.0 * (double)n, check, extra);
}

/* populate: map n MB of anonymous memory and make it resident in 2 MB
 * steps, as core/blocks.c does for its 2 MB chunks of actor blocks: each
 * step aligned to 2 MB and marked MADV_HUGEPAGE (so the kernel may back it
 * with one huge page), then MADV_POPULATE_WRITE (Linux 5.14; older
 * kernels: a write per page). `threads` threads populate every threads-th
 * step at once: live's spawner and an idle worker each populate chunks,
 * so its bound on 2 cores is the 2-thread figure. On a virtual machine the
 * first touch of guest memory the host has not backed yet (memory the guest
 * has not used lately: a run started seconds after the last one frees its
 * memory is warm, one a few seconds later is not) costs far more than the
 * zeroing: this is the bound on spawning into new memory, and it moves
 * between 0.1 and 5 GB/s on the shared host (docs/performance.md, live).
 * huge_kb says how much of it the kernel backed with huge pages. */
#define POP_STEP (2u << 20)
#define IDLE_ACTOR_BYTES 192.0 /* an idle actor's block (core/actor.h, TR__BLOCK_SMALL) */

typedef struct pop_thread {
    pthread_t th;
    char *p;
    size_t bytes, first, stride;
} pop_thread;

static void *pop_main(void *arg) {
    pop_thread *t = arg;
    for (size_t off = t->first; off < t->bytes; off += t->stride)
        if (madvise(t->p + off, POP_STEP, 23 /* MADV_POPULATE_WRITE */) != 0)
            for (size_t i = 0; i < POP_STEP; i += 4096)
                t->p[off + i] = 1;
    return NULL;
}

static long anon_huge_kb(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

static void floor_populate(uint64_t mb, unsigned threads) {
    size_t bytes = (size_t)mb << 20;
    if (threads == 0 || threads > 64)
        threads = 1;
    char *raw =
        mmap(NULL, bytes + POP_STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        fprintf(stderr, "bench_floor: populate: mmap failed\n");
        exit(1);
    }
    char *p = (char *)(((uintptr_t)raw + POP_STEP - 1) & ~(uintptr_t)(POP_STEP - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: THP may be off */
#endif
    long huge0 = anon_huge_kb();
    pop_thread th[64];
    double t0 = bench_now();
    for (unsigned i = 0; i < threads; i++) {
        th[i] = (pop_thread){.p = p,
                             .bytes = bytes,
                             .first = i * (size_t)POP_STEP,
                             .stride = threads * (size_t)POP_STEP};
        if (pthread_create(&th[i].th, NULL, pop_main, &th[i]) != 0) {
            fprintf(stderr, "bench_floor: populate: pthread_create failed\n");
            exit(1);
        }
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_join(th[i].th, NULL);
    double t1 = bench_now();
    long huge = anon_huge_kb() - huge0;
    uint64_t sum = 0;
    for (size_t i = 0; i < bytes; i += 4096)
        sum += (uint64_t)p[i] == 0; /* resident, and read back */
    munmap(raw, bytes + POP_STEP);
    char check[32], extra[128];
    snprintf(check, sizeof(check), "%" PRIu64, mb);
    snprintf(extra, sizeof(extra),
             "ns_per_kb=%.1f actors_per_s_at_192B=%.0f huge_kb=%ld sum=%" PRIu64,
             (t1 - t0) * 1e9 / (double)(bytes >> 10), (double)bytes / IDLE_ACTOR_BYTES / (t1 - t0),
             huge, sum);
    bench_report("floor_populate", "floor", threads, mb, t1 - t0, (double)mb, check, extra);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: bench_floor mailbox|mailbox_msg|wakeup|transfer [n] | "
                        "compute|populate [n] [threads]\n");
        return 2;
    }
    const char *w = argv[1];
    const char *n_arg = argc > 2 ? argv[2] : NULL;
    if (strcmp(w, "mailbox") == 0 || strcmp(w, "mailbox_msg") == 0) {
        floor_mailbox(bench_arg_u64(n_arg, 50000000), strcmp(w, "mailbox_msg") == 0);
    } else if (strcmp(w, "wakeup") == 0) {
        floor_wakeup(bench_arg_u64(n_arg, 2000));
    } else if (strcmp(w, "transfer") == 0) {
        floor_transfer(bench_arg_u64(n_arg, 1000000));
    } else if (strcmp(w, "populate") == 0) {
        floor_populate(bench_arg_u64(n_arg, 512),
                       (unsigned)bench_arg_u64(argc > 3 ? argv[3] : NULL, 1));
    } else if (strcmp(w, "compute") == 0) {
        unsigned threads = (unsigned)bench_arg_u64(argc > 3 ? argv[3] : NULL, bench_cores());
        floor_compute(bench_arg_u64(n_arg, 6400000), threads);
    } else {
        fprintf(stderr, "bench_floor: unknown floor '%s'\n", w);
        return 2;
    }
    return 0;
}
