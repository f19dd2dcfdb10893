/* examples/isolated_pool.c - native crashes survived: a pool whose workers
 * are processes (troupe/ipool.h).
 *
 *   isolated_pool [jobs]        (default 20,000)
 *
 * Eight child processes run the "work" entry below. One job in 2,000
 * dereferences NULL: its child dies of SIGSEGV, the pool reaps it, gives
 * the job one more try (max_redeliveries = 1) in a fresh child, which dies
 * the same way, and then dead-letters it. One job in 10,000 hangs: the
 * watchdog (job_timeout_ms = 200) SIGKILLs its child, twice, and the job is
 * dead-lettered too. Everything else is answered. Two foreign threads ask,
 * each with 64 jobs in flight. The program ends with one line that must
 * balance:
 *
 *   final: sent S = answered A + dead-lettered D (C native crashes, K kills)
 *
 * and exits 0 if it does (and the dead letters carry the right deaths).
 *
 * Note the first lines of main: this program is also the worker image. The
 * pool starts its children by running this very executable again, and
 * tr_ipool_main turns those runs into workers before main does anything
 * else (no fork of a threaded process). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <troupe.h>

#define WORKERS 8
#define FEEDERS 2
#define WINDOW 64
#define CRASH_EVERY 2000
#define HANG_EVERY 10000
#define JOB 1
#define ANSWER 2

static volatile int *volatile nowhere; /* NULL, and the compiler cannot know */

/* Runs in a child process, one job at a time. */
static int work(void *user, const tr_ipool_job *job, tr_ibuf *reply) {
    (void)user;
    uint64_t j = job->word;
    if (j % HANG_EVERY == HANG_EVERY / 2)
        for (;;)
            pause(); /* never returns: the watchdog kills us */
    if (j % CRASH_EVERY == CRASH_EVERY / 3)
        *nowhere = 42; /* SIGSEGV */
    return tr_ibuf_set(reply, ANSWER, j * j);
}

static atomic_uint_fast64_t dead_segv, dead_killed, dead_other;

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type != JOB)
        return;
    if (msg->status == (TR_IPOOL_DIED_SIGNAL | SIGSEGV))
        atomic_fetch_add(&dead_segv, 1);
    else if (msg->status == (TR_IPOOL_DIED_TIMEOUT | SIGKILL))
        atomic_fetch_add(&dead_killed, 1);
    else
        atomic_fetch_add(&dead_other, 1);
}

typedef struct feeder {
    pthread_t th;
    tr_ref *pool;
    uint64_t from, to;
    uint64_t sent, answered, failed, wrong;
} feeder;

static void *feed(void *arg) {
    feeder *f = arg;
    tr_future *win[WINDOW];
    uint64_t win_job[WINDOW];
    uint64_t next = f->from, head = 0, n = 0;
    while (next < f->to || n > 0) {
        if (next < f->to && n < WINDOW) {
            unsigned k = (unsigned)((head + n) % WINDOW);
            if (tr_ask_word(f->pool, JOB, next, &win[k]) == 0) {
                win_job[k] = next;
                f->sent++;
                n++;
            }
            next++;
            continue;
        }
        tr_msg *rep;
        int rc = tr_future_wait(win[head], -1, &rep);
        if (rc == 0) {
            f->answered++;
            if (rep->word != win_job[head] * win_job[head])
                f->wrong++;
            tr_msg_free(rep);
        } else {
            f->failed++; /* TR_EDEAD: dead-lettered */
        }
        tr_future_release(win[head]);
        head = (head + 1) % WINDOW;
        n--;
    }
    return NULL;
}

int main(int argc, char **argv) {
    /* The worker image: in a child these two calls are all that runs. */
    tr_ipool_register("work", work, NULL);
    if (tr_ipool_main(argc, argv) != 0)
        return 1;

    uint64_t jobs = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    tr_runtime_config rc;
    tr_runtime_config_init(&rc);
    rc.dead_letter = on_dead;
    tr_runtime *rt;
    if (tr_runtime_new(&rt, &rc) != 0)
        return 1;

    tr_ipool_config cfg;
    tr_ipool_config_init(&cfg);
    cfg.pool.workers = WORKERS;
    cfg.pool.routing = TR_ROUTE_SHARED_QUEUE;
    cfg.pool.max_redeliveries = 1;
    cfg.pool.name = "isolated";
    cfg.entry = "work";
    cfg.job_timeout_ms = 200;
    tr_ref *pool;
    int err = tr_ipool_start(rt, &cfg, &pool);
    if (err != 0) {
        fprintf(stderr, "tr_ipool_start: %s\n", tr_strerror(err));
        tr_runtime_free(rt);
        return 1;
    }

    feeder f[FEEDERS];
    for (unsigned i = 0; i < FEEDERS; i++) {
        f[i] = (feeder){.pool = pool, .from = jobs * i / FEEDERS, .to = jobs * (i + 1) / FEEDERS};
        pthread_create(&f[i].th, NULL, feed, &f[i]);
    }
    uint64_t sent = 0, answered = 0, failed = 0, wrong = 0;
    for (unsigned i = 0; i < FEEDERS; i++) {
        pthread_join(f[i].th, NULL);
        sent += f[i].sent;
        answered += f[i].answered;
        failed += f[i].failed;
        wrong += f[i].wrong;
    }
    tr_pool_stats st = {0};
    tr_pool_stats_get(pool, &st, NULL, 0);
    tr_pool_release(pool); /* the last handle: the children are killed and reaped */
    tr_runtime_free(rt);

    uint64_t segv = atomic_load(&dead_segv), killed = atomic_load(&dead_killed);
    uint64_t dead = segv + killed + atomic_load(&dead_other);
    uint64_t kills = st.stuck, native = st.crashes - st.stuck;
    printf("final: sent %llu = answered %llu + dead-lettered %llu (%llu native crashes, %llu "
           "kills)\n",
           (unsigned long long)sent, (unsigned long long)answered, (unsigned long long)dead,
           (unsigned long long)native, (unsigned long long)kills);
    int ok = sent == jobs && sent == answered + dead && dead == failed && wrong == 0 &&
             atomic_load(&dead_other) == 0;
    return ok ? 0 : 1;
}
