/* bench/bench.h - helpers shared by the benchmark programs (header only:
 * each bench .c file is its own executable).
 *
 * What they share: a CLOCK_MONOTONIC stopwatch, a one-shot latch that a
 * finishing actor trips and main waits on (the only state any actor shares
 * with main, written once), argument parsing for `[n] [threads]`, and the
 * result line of /work/shared/bench/WORKLOADS.md:
 *
 *   workload=<name> impl=troupe threads=<workers> n=<size> elapsed_s=<s> rate=<1/s> check=<value>
 *
 * The forkjoin computation lives here too, so that the messaging version and
 * its pthread floor (bench/floor.c) run exactly the same code. */
#ifndef TR_BENCH_H
#define TR_BENCH_H

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline unsigned bench_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Parse a positive count (accepts 1e6 and 10_000_000 style); dflt if s is
 * NULL. Exits on garbage: a benchmark with a wrong size is worse than none. */
static inline uint64_t bench_arg_u64(const char *s, uint64_t dflt) {
    if (s == NULL)
        return dflt;
    char buf[64];
    size_t j = 0;
    for (size_t i = 0; s[i] != '\0' && j + 1 < sizeof(buf); i++)
        if (s[i] != '_' && s[i] != ',')
            buf[j++] = s[i];
    buf[j] = '\0';
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno != 0 || end == buf || *end != '\0' || v < 1 || v > 1e15) {
        fprintf(stderr, "bench: bad count '%s'\n", s);
        exit(2);
    }
    return (uint64_t)(v + 0.5);
}

/* One-shot latch: an actor (or thread) sets the result once, main waits. */
typedef struct bench_latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    uint64_t value;
    double at; /* bench_now() when it was tripped */
} bench_latch;

static inline void bench_latch_init(bench_latch *l) {
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->done = 0;
    l->value = 0;
    l->at = 0;
}

static inline void bench_latch_set(bench_latch *l, uint64_t value) {
    double at = bench_now(); /* the result is known now */
    pthread_mutex_lock(&l->mu);
    l->value = value;
    l->at = at;
    l->done = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Wait for the latch; returns its value and the time it was tripped. */
static inline uint64_t bench_latch_wait(bench_latch *l, double *at) {
    pthread_mutex_lock(&l->mu);
    while (!l->done)
        pthread_cond_wait(&l->cv, &l->mu);
    uint64_t v = l->value;
    if (at != NULL)
        *at = l->at;
    pthread_mutex_unlock(&l->mu);
    return v;
}

static inline void bench_latch_destroy(bench_latch *l) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

/* The result line (WORKLOADS.md). extra, if not NULL, is appended after a
 * space (additional key=value fields for non-standard measurements). */
static inline void bench_report(const char *workload, const char *impl, unsigned threads,
                                uint64_t n, double elapsed, double units, const char *check,
                                const char *extra) {
    printf("workload=%s impl=%s threads=%u n=%llu elapsed_s=%.6f rate=%.0f check=%s%s%s\n",
           workload, impl, threads, (unsigned long long)n, elapsed,
           elapsed > 0 ? units / elapsed : 0.0, check, extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

/* The forkjoin unit of work: sum of sqrt(k) for k in 1..100. `seed` is a
 * value the compiler cannot see through (the message word), added once so
 * the loop cannot be hoisted out of the caller's loop; the sum it returns is
 * accumulated and reported, so it cannot be dropped either. */
#define BENCH_WORK_K 100
static inline __attribute__((always_inline)) double bench_work(uint64_t seed) {
    double s = (double)(seed & 1);
    for (int k = 1; k <= BENCH_WORK_K; k++)
        s += sqrt((double)k);
    return s;
}

#endif
