/* tests/test_ipool.c - process-isolated pools (troupe/ipool.h).
 *
 * This test program is also the pools' worker image: main registers the
 * entry and calls tr_ipool_main before cmocka, so the children the pools
 * posix_spawn run `entry` below. The job type says what a child does:
 * answer (doubling the word, echoing the data), dereference NULL, abort,
 * raise SIGBUS, exit, hang, fail, or allocate. Crashes "once" look at the
 * job's attempt number (the child has no memory across deaths).
 *
 * What is checked: answers and their bytes; every way a child dies,
 * redelivery and the dead-letter status naming the death; the watchdog's
 * SIGKILL; a kill from outside (as the OOM killer); the pool calls on the
 * handle; exact accounting under a storm of segfaults, aborts and hangs;
 * and no residue after close (no child process of ours left, zombie or not;
 * the fd count back where it was), nor after the parent process is killed
 * (a hung child ends by itself). */
#define _GNU_SOURCE /* pipe2 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "isolate/ipool_child.h" /* the wire, for the torn-frame tests */
#include "support/testutil.h"
#include "troupe.h"

extern char **environ;

enum {
    OK = 1,
    SEGV_ONCE,
    SEGV,
    ABRT,
    BUS,
    EXIT7,
    HANG_ONCE,
    HANG,
    FAIL,
    BIG_ALLOC,
    SLOW,
    PID,
    TORN_ONCE,
    BAD_LEN_ONCE,
    SAY_HANG,
    REPLY_T
};

static tr_runtime *rt;
static tr_ref *keeper;
static uint64_t dead, dead_status[16], ndead_status;

static volatile int *volatile null_ptr; /* always NULL: a real NULL dereference */

__attribute__((no_sanitize_address, no_sanitize_undefined)) static void deref_null(void) {
    *null_ptr = 1;
}

static int entry(void *user, const tr_ipool_job *job, tr_ibuf *reply) {
    (void)user;
    switch (job->type) {
    case SEGV_ONCE:
        if (job->attempt == 0)
            deref_null();
        break;
    case SEGV:
        deref_null();
        break;
    case ABRT:
        abort();
    case BUS:
        raise(SIGBUS);
        break;
    case EXIT7:
        exit(7);
    case HANG_ONCE:
        if (job->attempt == 0)
            for (;;)
                pause();
        break;
    case HANG:
        for (;;)
            pause();
    case FAIL:
        return -1;
    case BIG_ALLOC: {
        char *p = malloc((size_t)job->word);
        if (p == NULL)
            return -2;
        memset(p, 1, (size_t)job->word);
        free(p);
        break;
    }
    case SLOW:
        usleep((useconds_t)job->word * 1000);
        break;
    case TORN_ONCE:    /* the first 12 bytes of a reply frame, then death */
    case BAD_LEN_ONCE: /* a whole header whose data could never be, then a hang */
        if (job->attempt == 0) {
            tr__iframe h = {.len = job->type == TORN_ONCE ? 100 : 0xFFFFFFF0u, .type = REPLY_T};
            size_t n = job->type == TORN_ONCE ? 12 : sizeof(h);
            if (write(TR__IPOOL_CHILD_FD, &h, n) != (ssize_t)n)
                _exit(3);
            if (job->type == TORN_ONCE)
                abort();
            for (;;)
                pause();
        }
        break;
    case SAY_HANG: /* "<pid> hangs" on stdout, then hang (parent_killed_...) */
        printf("%d hangs\n", (int)getpid());
        fflush(stdout);
        for (;;)
            pause();
    case PID: /* which child: the reply's word is its pid */
        return tr_ibuf_set(reply, REPLY_T, (uint64_t)getpid());
    default:
        break;
    }
    tr_ibuf_set(reply, REPLY_T, job->word * 2);
    return tr_ibuf_append(reply, job->data, job->len);
}

static void on_dead(void *user, const tr_msg *msg, int why) {
    (void)user;
    (void)why;
    if (msg->type >= OK && msg->type < REPLY_T) {
        uint64_t k = tu_add(&ndead_status, 1) - 1;
        if (k < 16)
            tu_store(&dead_status[k], (uint64_t)(uint32_t)msg->status);
        tu_add(&dead, 1);
    }
}

/* The children's progress pages mapped in this process (memfd
 * "troupe-ipool", isolate/ipool_child.h): none once the pools are closed. */
static int count_pages(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL)
        return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "troupe-ipool") != NULL)
            n++;
    fclose(f);
    return n;
}

static int no_pages(void *arg) {
    (void)arg;
    return count_pages() == 0;
}

static int no_children(void *arg) {
    (void)arg;
    return tu_children(NULL) == 0;
}

/* The fd count once the loops have closed what an earlier pool handed
 * them (a pool's fds are closed by their watches' loops, a moment after
 * its router ends). */
static int settled_fds(void) {
    int a = tu_open_fds();
    for (int i = 0; i < 100; i++) {
        tu_sleep_ms(20);
        int b = tu_open_fds();
        if (b == a)
            return b;
        a = b;
    }
    return a;
}

static int fds_at;
static int fds_back(void *arg) {
    (void)arg;
    return tu_open_fds() == fds_at;
}

/* --- fixtures -------------------------------------------------------------------- */

static int idle_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    (void)msg;
    return 0;
}

static int setup(void **st) {
    (void)st;
    tr_runtime_config c;
    tr_runtime_config_init(&c);
    c.workers = 2;
    c.dead_letter = on_dead;
    if (tr_runtime_new(&rt, &c) != 0)
        return -1;
    static const tr_behavior idle = {.receive = idle_receive};
    return tr_spawn(rt, &idle, NULL, &keeper);
}

static int teardown(void **st) {
    (void)st;
    tr_ref_release(keeper);
    tr_runtime_free(rt);
    return 0;
}

static void reset(void) {
    tu_store(&dead, 0);
    tu_store(&ndead_status, 0);
}

static tr_ref *start(unsigned workers, uint32_t redeliveries, uint32_t timeout_ms) {
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = workers;
    c.pool.max_redeliveries = redeliveries;
    c.entry = "test";
    c.job_timeout_ms = timeout_ms;
    tr_ref *p = NULL;
    assert_int_equal(tr_ipool_start(rt, &c, &p), 0);
    return p;
}

/* Ask and wait: 0 and the reply's word, or the error. */
static int ask(tr_ref *p, uint32_t type, uint64_t word, uint64_t *out) {
    tr_future *f;
    int rc = tr_ask_word(p, type, word, &f);
    if (rc != 0)
        return rc;
    tr_msg *rep;
    rc = tr_future_wait(f, TU_WAIT_MS, &rep);
    if (rc == 0) {
        assert_int_equal(rep->type, REPLY_T);
        *out = rep->word;
        tr_msg_free(rep);
    }
    tr_future_release(f);
    return rc;
}

static void stop(tr_ref *p) {
    assert_int_equal(tr_pool_close(p), 0);
    tr_pool_release(p);
    assert_true(tu_wait_until(no_children, NULL, TU_WAIT_MS));
}

/* --- tests ------------------------------------------------------------------------ */

static void asks_are_answered_with_bytes(void **st) {
    (void)st;
    tr_ref *p = start(2, 3, 0);
    for (uint64_t i = 0; i < 100; i++) {
        uint64_t w = 0;
        assert_int_equal(ask(p, OK, i, &w), 0);
        assert_int_equal(w, 2 * i);
    }
    char data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (char)(i * 7);
    tr_future *f;
    assert_int_equal(tr_ask(p, OK, data, sizeof(data), &f), 0);
    tr_msg *rep;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &rep), 0);
    assert_int_equal(rep->size, sizeof(data));
    assert_memory_equal(tr_msg_data(rep), data, sizeof(data));
    tr_msg_free(rep);
    tr_future_release(f);
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.workers, 2);
    assert_int_equal(s.jobs, 101);
    assert_int_equal(s.handled, 101);
    assert_int_equal(s.crashes, 0);
    stop(p);
}

/* Jobs larger than the socket's buffer, in a pipeline of small ones: the
 * child reads each in pieces, waiting in poll between them (isolate/
 * ipool_child.c), and every reply comes back whole and in its order. */
#define BIG_JOB (1u << 20)
#define BIG_JOBS 4
#define SMALL_BETWEEN 8
static void jobs_bigger_than_the_socket_buffer_arrive_whole(void **st) {
    (void)st;
    tr_ref *p = start(1, 0, 0);
    char *data = malloc(BIG_JOB);
    assert_non_null(data);
    for (size_t i = 0; i < BIG_JOB; i++)
        data[i] = (char)(i * 13 + (i >> 12));
    enum { N = BIG_JOBS * (1 + SMALL_BETWEEN) };
    tr_future *f[N];
    for (unsigned k = 0; k < N; k++) {
        if (k % (1 + SMALL_BETWEEN) == 0)
            assert_int_equal(tr_ask(p, OK, data, BIG_JOB, &f[k]), 0);
        else
            assert_int_equal(tr_ask_word(p, OK, k, &f[k]), 0);
    }
    for (unsigned k = 0; k < N; k++) {
        tr_msg *rep;
        assert_int_equal(tr_future_wait(f[k], TU_WAIT_MS, &rep), 0);
        if (k % (1 + SMALL_BETWEEN) == 0) {
            assert_int_equal(rep->size, BIG_JOB);
            assert_memory_equal(tr_msg_data(rep), data, BIG_JOB);
        } else {
            assert_int_equal(rep->word, 2 * (uint64_t)k);
        }
        tr_msg_free(rep);
        tr_future_release(f[k]);
    }
    free(data);
    stop(p);
}

/* A child that dies in the middle of writing a reply leaves a torn frame on
 * its socket: the router drops it with the child, redelivers the job, and
 * reads the next child's frames from a clean start. */
static void torn_reply_frame_goes_with_its_child(void **st) {
    (void)st;
    tr_ref *p = start(1, 3, 0);
    uint64_t w = 0;
    assert_int_equal(ask(p, TORN_ONCE, 21, &w), 0);
    assert_int_equal(w, 42);
    for (uint64_t i = 0; i < 50; i++) {
        assert_int_equal(ask(p, OK, i, &w), 0);
        assert_int_equal(w, 2 * i);
    }
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.crashes, 1);
    assert_int_equal(s.redeliveries, 1);
    assert_int_equal(s.dead_lettered, 0);
    stop(p);
}

/* A child that writes a reply header no reply can have (4 GB of data) is
 * killed at once, not waited for: the router neither allocates for it nor
 * reads past it, and the job is redelivered to the next child. Without a
 * job timeout: only the wire check can end this child. */
static void impossible_reply_header_kills_the_child(void **st) {
    (void)st;
    tr_ref *p = start(1, 3, 0);
    uint64_t w = 0;
    assert_int_equal(ask(p, BAD_LEN_ONCE, 5, &w), 0);
    assert_int_equal(w, 10);
    assert_int_equal(ask(p, OK, 6, &w), 0);
    assert_int_equal(w, 12);
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.crashes, 1); /* SIGKILL */
    assert_int_equal(s.redeliveries, 1);
    stop(p);
}

static void segfault_is_redelivered_and_answered(void **st) {
    (void)st;
    tr_ref *p = start(2, 3, 0);
    uint64_t w = 0;
    assert_int_equal(ask(p, SEGV_ONCE, 21, &w), 0);
    assert_int_equal(w, 42);
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.crashes, 1);
    assert_int_equal(s.restarts, 1);
    assert_int_equal(s.redeliveries, 1);
    assert_int_equal(s.dead_lettered, 0);
    /* The respawned child answers. */
    assert_int_equal(ask(p, OK, 5, &w), 0);
    assert_int_equal(w, 10);
    stop(p);
}

/* Each death kind, always: max_redeliveries + 1 attempts, then a dead
 * letter whose status names the death. */
static void check_death(uint32_t type, uint32_t timeout_ms, int want_status) {
    reset();
    tr_ref *p = start(2, 1, timeout_ms);
    uint64_t w;
    assert_int_equal(ask(p, type, 1, &w), TR_EDEAD);
    assert_true(tu_wait_ge(&dead, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&dead_status[0]), (uint64_t)want_status);
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.redeliveries, 1);
    assert_int_equal(s.dead_lettered, 1);
    /* the pool still works */
    assert_int_equal(ask(p, OK, 4, &w), 0);
    assert_int_equal(w, 8);
    stop(p);
}

static void segv_always_is_dead_lettered_with_the_signal(void **st) {
    (void)st;
    check_death(SEGV, 0, TR_IPOOL_DIED_SIGNAL | SIGSEGV);
}

static void abort_is_dead_lettered_with_sigabrt(void **st) {
    (void)st;
    check_death(ABRT, 0, TR_IPOOL_DIED_SIGNAL | SIGABRT);
}

static void sigbus_is_dead_lettered_with_sigbus(void **st) {
    (void)st;
    check_death(BUS, 0, TR_IPOOL_DIED_SIGNAL | SIGBUS);
}

static void exit_is_dead_lettered_with_its_code(void **st) {
    (void)st;
    check_death(EXIT7, 0, TR_IPOOL_DIED_EXIT | 7);
}

static void entry_error_is_a_failed_attempt(void **st) {
    (void)st;
    check_death(FAIL, 0, TR_IPOOL_DIED_FAILED);
}

static void watchdog_kills_a_hung_job(void **st) {
    (void)st;
    check_death(HANG, 100, TR_IPOOL_DIED_TIMEOUT | SIGKILL);
}

static void hung_once_is_killed_then_answered(void **st) {
    (void)st;
    tr_ref *p = start(1, 3, 100 * TU_SANITIZER_SLOWDOWN);
    uint64_t w = 0;
    int64_t t0 = tu_now_ms();
    assert_int_equal(ask(p, HANG_ONCE, 3, &w), 0);
    assert_int_equal(w, 6);
    assert_true(tu_now_ms() - t0 >= 100);
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.stuck, 1);
    assert_int_equal(s.crashes, 1);
    stop(p);
}

/* SIGKILL from outside, as the OOM killer would: the job in flight is
 * redelivered to the respawned child. */
/* With k jobs written to one child at once, each job's deadline runs from
 * when the child starts it: six 100 ms jobs in a row (600 ms from the write
 * to the hang's start) under a 500 ms deadline are never killed, and the
 * hang behind them is, once. A deadline from the write would kill the fifth
 * or sixth slow job. */
static void watchdog_times_each_job_from_its_start(void **st) {
    (void)st;
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 1;
    c.pool.max_redeliveries = 3;
    c.entry = "test";
    c.max_inflight = 8;
    /* Each slow job takes 100 ms against a 500 ms deadline (400 ms of
     * margin for a loaded host); six of them take 600 ms from the write. */
    c.job_timeout_ms = 500 * TU_SANITIZER_SLOWDOWN;
    tr_ref *p;
    assert_int_equal(tr_ipool_start(rt, &c, &p), 0);
    uint64_t w = 0;
    assert_int_equal(ask(p, OK, 1, &w), 0); /* the child is up: the jobs go in one write */
    enum { N = 7 };
    tr_future *f[N];
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(tr_ask_word(p, SLOW, 100 * TU_SANITIZER_SLOWDOWN, &f[i]), 0);
    assert_int_equal(tr_ask_word(p, HANG_ONCE, 9, &f[N - 1]), 0);
    for (int i = 0; i < N; i++) {
        tr_msg *rep;
        assert_int_equal(tr_future_wait(f[i], TU_WAIT_MS, &rep), 0);
        tr_msg_free(rep);
        tr_future_release(f[i]);
    }
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.stuck, 1);
    assert_int_equal(s.crashes, 1);
    assert_int_equal(s.redeliveries, 1);
    assert_int_equal(s.handled, N + 1);
    stop(p);
}

static void outside_kill_is_survived(void **st) {
    (void)st;
    tr_ref *p = start(1, 3, 0);
    uint64_t w;
    assert_int_equal(ask(p, OK, 1, &w), 0); /* the child is up */
    tr_future *f;
    assert_int_equal(tr_ask_word(p, SLOW, 300, &f), 0);
    tu_sleep_ms(50);
    pid_t child = 0;
    assert_int_equal(tu_children(&child), 1);
    assert_int_equal(kill(child, SIGKILL), 0);
    tr_msg *rep;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &rep), 0);
    assert_int_equal(rep->word, 600);
    tr_msg_free(rep);
    tr_future_release(f);
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.crashes, 1);
    assert_int_equal(s.redeliveries, 1);
    stop(p);
}

/* A child killed in the middle of a batch (8 jobs in its pipeline: 4 fast
 * ones, a slow one it is running, 3 behind it): a fast one whose reply was
 * still in its buffer is sent again without counting an attempt; only the
 * slow one failed one; the ones behind it never started. Every job is
 * answered exactly once. */
static void child_killed_mid_batch_fails_only_its_current_job(void **st) {
    (void)st;
    tr_ref *p = start(1, 3, 0);
    uint64_t w;
    assert_int_equal(ask(p, OK, 1, &w), 0); /* the child is up */
    enum { N = 8, SLOW_AT = 4 };
    tr_future *f[N];
    for (unsigned k = 0; k < N; k++)
        assert_int_equal(k == SLOW_AT ? tr_ask_word(p, SLOW, 800, &f[k])
                                      : tr_ask_word(p, OK, 100 + k, &f[k]),
                         0);
    tu_sleep_ms(150); /* into the slow one, with 650 ms of margin for a loaded host */
    pid_t child = 0;
    assert_int_equal(tu_children(&child), 1);
    assert_int_equal(kill(child, SIGKILL), 0);
    for (unsigned k = 0; k < N; k++) {
        tr_msg *rep;
        assert_int_equal(tr_future_wait(f[k], TU_WAIT_MS, &rep), 0);
        assert_int_equal(rep->word, k == SLOW_AT ? 1600 : 2 * (100 + k));
        tr_msg_free(rep);
        tr_future_release(f[k]);
    }
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.crashes, 1);
    assert_int_equal(s.redeliveries, 1); /* the slow one only */
    /* The 3 behind the slow one never started: always returned. The fast
     * ones are returned when their answers were still in the child's
     * buffer; on a loaded host the first jobs can reach the child before
     * the rest are queued, and it flushes their answers while idle, so
     * some may have been read before the kill. */
    assert_in_range(s.returned, N - 1 - SLOW_AT, N - 1);
    assert_int_equal(s.handled, 1 + N); /* answers the router read: once each */
    assert_int_equal(s.dead_lettered, 0);
    stop(p);
}

static void pool_calls_work_on_the_handle(void **st) {
    (void)st;
    tr_ref *p = start(2, 3, 0);
    assert_int_equal(tr_pool_try_add_worker(p), 0);
    tr_pool_stats s;
    uint64_t handled[4];
    assert_int_equal(tr_pool_stats_get(p, &s, handled, 4), 0);
    assert_int_equal(s.workers, 3);
    assert_int_equal(tu_children(NULL), 3);
    uint64_t w;
    for (int i = 0; i < 30; i++)
        assert_int_equal(ask(p, OK, 1, &w), 0);
    assert_int_equal(tr_pool_stats_get(p, &s, handled, 4), 0);
    assert_int_equal(handled[0] + handled[1] + handled[2], 30);
    assert_true(handled[0] > 0 && handled[1] > 0 && handled[2] > 0); /* round robin */
    assert_int_equal(tr_pool_try_remove_worker(p), 0);
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.workers, 2);
    assert_int_equal(tr_pool_retain(p), 0);
    assert_int_equal(tr_pool_release(p), 0); /* one handle left */
    assert_int_equal(ask(p, OK, 2, &w), 0);
    assert_int_equal(tr_pool_close(p), 0);
    assert_int_equal(tr_send_word(p, OK, 1), TR_EDEAD);
    assert_int_equal(tr_pool_close(p), TR_EDEAD);
    tr_pool_release(p);
    assert_true(tu_wait_until(no_children, NULL, TU_WAIT_MS));
}

static void bad_configs_are_refused(void **st) {
    (void)st;
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    tr_ref *p = (tr_ref *)&c;
    assert_int_equal(tr_ipool_start(rt, &c, &p), TR_EINVAL); /* no entry */
    assert_null(p);
    c.entry = "nope";
    assert_int_equal(tr_ipool_start(rt, &c, &p), TR_EINVAL);
    c.entry = "test";
    c.pool.routing = (tr_route)99;
    assert_int_equal(tr_ipool_start(rt, &c, &p), TR_EINVAL);
    c.pool.routing = TR_ROUTE_ROUND_ROBIN;
    c.pool.workers = 0;
    assert_int_equal(tr_ipool_start(rt, &c, &p), TR_EINVAL);
    c.pool.workers = 1;
    assert_int_equal(tr_ipool_start(NULL, &c, &p), TR_EINVAL);
    assert_int_equal(tr_ipool_start(rt, NULL, &p), TR_EINVAL);
    assert_int_equal(tr_ipool_start(rt, &c, NULL), TR_EINVAL);
    assert_int_equal(tr_ipool_register(NULL, entry, NULL), TR_EINVAL);
    assert_int_equal(tr_ipool_register("test", entry, NULL), TR_EEXIST);
    assert_int_equal(tr_ipool_register("x", NULL, NULL), TR_EINVAL);
    assert_int_equal(tr_ibuf_set(NULL, 1, 1), TR_EINVAL);
    assert_int_equal(tr_ibuf_append(NULL, "x", 1), TR_EINVAL);
    char *argv[] = {"prog", NULL};
    assert_int_equal(tr_ipool_main(1, argv), 0); /* not a worker */
    assert_int_equal(tr_ipool_main(0, NULL), 0);
    assert_int_equal(tu_children(NULL), 0);
}

/* Intensity 2 per minute: the third death closes the pool. */
static void restart_intensity_closes_the_pool(void **st) {
    (void)st;
    reset();
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 1;
    c.pool.max_redeliveries = 10;
    c.pool.intensity = 2;
    c.pool.period_ms = 60000;
    c.entry = "test";
    tr_ref *p;
    assert_int_equal(tr_ipool_start(rt, &c, &p), 0);
    uint64_t w;
    assert_int_equal(ask(p, SEGV, 1, &w), TR_EDEAD);
    assert_true(tu_wait_until(no_children, NULL, TU_WAIT_MS));
    assert_int_equal(tr_ref_is_alive(p), 0);
    assert_int_equal(tr_send_word(p, OK, 1), TR_EDEAD);
    tr_pool_release(p);
}

static void address_space_limit_applies_in_the_child(void **st) {
    (void)st;
#if defined(__SANITIZE_ADDRESS__) || defined(TROUPE_TSAN)
    skip(); /* the sanitizers reserve terabytes of address space */
#else
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 1;
    c.pool.max_redeliveries = 0;
    c.entry = "test";
    c.rlimit_as = 256u << 20;
    reset();
    tr_ref *p;
    assert_int_equal(tr_ipool_start(rt, &c, &p), 0);
    uint64_t w;
    assert_int_equal(ask(p, BIG_ALLOC, 1u << 20, &w), 0);            /* 1 MB fits */
    assert_int_equal(ask(p, BIG_ALLOC, 512ull << 20, &w), TR_EDEAD); /* 512 MB does not */
    assert_true(tu_wait_ge(&dead, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&dead_status[0]), TR_IPOOL_DIED_FAILED);
    stop(p);
#endif
}

/* --- the storm --------------------------------------------------------------------- */

#define STORM_SENDERS 2
#define STORM_WINDOW 16

typedef struct storm_sender {
    pthread_t th;
    tr_ref *pool;
    uint64_t from, to;
    uint64_t answered, failed, wrong;
} storm_sender;

/* What job j does: mostly answer; some crash once (redelivered, answered),
 * some always (dead-lettered); a few hang once (killed, answered). */
static uint32_t storm_type(uint64_t j) {
    if (j % 97 == 0)
        return SEGV_ONCE;
    if (j % 211 == 0)
        return ABRT;
    if (j % 389 == 0)
        return SEGV;
    if (j % 701 == 0)
        return HANG_ONCE;
    return OK;
}

/* Each answer must be its own job's (2 j): with k jobs in flight per child
 * and deaths in the middle of a batch, a reply matched to the wrong job
 * would show here; a job answered twice would settle a future twice. */
static void *storm_main(void *arg) {
    storm_sender *s = arg;
    tr_future *win[STORM_WINDOW];
    uint64_t job[STORM_WINDOW];
    uint64_t next = s->from, head = 0, n = 0;
    while (next < s->to || n > 0) {
        if (next < s->to && n < STORM_WINDOW) {
            uint64_t k = (head + n) % STORM_WINDOW;
            if (tr_ask_word(s->pool, storm_type(next), next, &win[k]) != 0) {
                tu_add(&s->wrong, 1);
                next++;
                continue;
            }
            job[k] = next;
            next++;
            n++;
            continue;
        }
        tr_future *f = win[head];
        uint64_t j = job[head];
        head = (head + 1) % STORM_WINDOW;
        n--;
        tr_msg *rep;
        int rc = tr_future_wait(f, TU_WAIT_MS, &rep);
        if (rc == 0) {
            if (rep->type == REPLY_T && rep->word == 2 * j)
                s->answered++;
            else
                s->wrong++;
            tr_msg_free(rep);
        } else if (rc == TR_EDEAD) {
            s->failed++;
        } else {
            s->wrong++;
        }
        tr_future_release(f);
    }
    return NULL;
}

/* n jobs from STORM_SENDERS threads (STORM_WINDOW asks in flight each) on
 * 4 children with `inflight` jobs in flight per child: exact accounting,
 * then no child, no zombie, no fd left. */
static void storm(uint64_t n, tr_route routing, unsigned inflight) {
    reset();
    fds_at = settled_fds();
    assert_int_equal(tu_children(NULL), 0);
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 4;
    c.pool.max_redeliveries = 1;
    c.pool.routing = routing;
    c.entry = "test";
    c.max_inflight = inflight;
    c.job_timeout_ms = 150 * TU_SANITIZER_SLOWDOWN; /* a hung job's cost */
    tr_ref *p;
    assert_int_equal(tr_ipool_start(rt, &c, &p), 0);
    storm_sender s[STORM_SENDERS];
    for (unsigned i = 0; i < STORM_SENDERS; i++) {
        s[i] = (storm_sender){
            .pool = p, .from = n * i / STORM_SENDERS, .to = n * (i + 1) / STORM_SENDERS};
        pthread_create(&s[i].th, NULL, storm_main, &s[i]);
    }
    uint64_t answered = 0, failed = 0, wrong = 0;
    for (unsigned i = 0; i < STORM_SENDERS; i++) {
        pthread_join(s[i].th, NULL);
        answered += s[i].answered;
        failed += s[i].failed;
        wrong += s[i].wrong;
    }
    uint64_t want_dead = 0, want_kills = 0, want_crash = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint32_t t = storm_type(j);
        want_dead += t == ABRT || t == SEGV;
        want_kills += t == HANG_ONCE;
        want_crash += (t == SEGV_ONCE || t == HANG_ONCE) + 2 * (t == ABRT || t == SEGV);
    }
    assert_int_equal(wrong, 0);
    assert_int_equal(answered + failed, n);
    assert_int_equal(failed, want_dead);
    assert_int_equal(tu_load(&dead), want_dead);
    tr_pool_stats ps;
    assert_int_equal(tr_pool_stats_get(p, &ps, NULL, 0), 0);
    assert_int_equal(ps.jobs, n);
    assert_int_equal(ps.handled, answered);
    assert_int_equal(ps.dead_lettered, want_dead);
    assert_int_equal(ps.copies, 0);
    /* Exact unless the loaded host stalled a child past the deadline in an
     * ordinary job (one more kill, then the job is redelivered): each such
     * kill adds at most one death and one kill. */
    if (ps.stuck != want_kills)
        print_message("note: %llu watchdog kills beyond the %llu hangs (a stalled host)\n",
                      (unsigned long long)(ps.stuck - want_kills), (unsigned long long)want_kills);
    assert_true(ps.stuck >= want_kills);
    assert_true(ps.crashes >= want_crash);
    assert_true(ps.crashes - want_crash <= ps.stuck - want_kills);
    int pages = count_pages(); /* one shared page per live child */
    assert_true(pages >= 1 && pages <= 4);
    assert_int_equal(tr_pool_close(p), 0);
    tr_pool_release(p);
    assert_true(tu_wait_until(no_children, NULL, TU_WAIT_MS));
    assert_true(tu_wait_until(fds_back, NULL, TU_WAIT_MS));
    assert_true(tu_wait_until(no_pages, NULL, TU_WAIT_MS));
}

static void storm_of_crashes_balances_and_leaves_nothing(void **st) {
    (void)st;
    storm(6000 / TU_SANITIZER_SLOWDOWN, TR_ROUTE_SHARED_QUEUE, 0); /* 8 in flight per child */
}

/* Round robin with 3 in flight per child: every child's pipeline holds
 * jobs behind the one that kills it. */
static void storm_round_robin_with_pipelines_balances(void **st) {
    (void)st;
    storm(3000 / TU_SANITIZER_SLOWDOWN, TR_ROUTE_ROUND_ROBIN, 3);
}

/* --- broadcast --------------------------------------------------------------------- */

/* An actor that tells the pool jobs (so each carries it as sender) and
 * counts the replies, which come back to it as tells: one per copy. */
#define CAST_MAX_PIDS 8
static uint64_t cast_replies, cast_pids[CAST_MAX_PIDS];
static tr_ref *cast_pool;

typedef struct cast_job {
    uint32_t type;
    uint64_t count;
} cast_job;

static int caster_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    (void)state;
    if (msg->type == REPLY_T) {
        /* Record which child answered (PID jobs answer with their pid). */
        for (unsigned i = 0; i < CAST_MAX_PIDS; i++) {
            uint64_t cur = tu_load(&cast_pids[i]);
            if (cur == msg->word)
                break;
            if (cur == 0) {
                tu_store(&cast_pids[i], msg->word);
                break;
            }
        }
        tu_add(&cast_replies, 1);
        return 0;
    }
    const cast_job *j = tr_msg_data(msg);
    for (uint64_t k = 0; k < j->count; k++)
        if (tr_send_word(cast_pool, j->type, k + 1) != 0)
            return TR_EINVAL;
    return 0;
}

static tr_ref *start_broadcast(unsigned workers) {
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = workers;
    c.pool.routing = TR_ROUTE_BROADCAST;
    c.pool.max_redeliveries = 2;
    c.entry = "test";
    tr_ref *p = NULL;
    assert_int_equal(tr_ipool_start(rt, &c, &p), 0);
    return p;
}

/* A new caster that tells p count jobs of type; its handle (stop it). */
static tr_ref *cast(tr_ref *p, uint32_t type, uint64_t count) {
    tu_store(&cast_replies, 0);
    for (unsigned i = 0; i < CAST_MAX_PIDS; i++)
        tu_store(&cast_pids[i], 0);
    cast_pool = p;
    static const tr_behavior caster = {.receive = caster_receive};
    tr_ref *a;
    assert_int_equal(tr_spawn(rt, &caster, NULL, &a), 0);
    cast_job j = {type, count};
    assert_int_equal(tr_send(a, 1, &j, sizeof(j)), 0);
    return a;
}

static void uncast(tr_ref *a) {
    tr_actor_stop(a);
    tr_ref_release(a);
}

static unsigned distinct_pids(void) {
    unsigned n = 0;
    while (n < CAST_MAX_PIDS && tu_load(&cast_pids[n]) != 0)
        n++;
    return n;
}

static void broadcast_gives_every_child_a_copy(void **st) {
    (void)st;
    reset();
    enum { W = 3, K = 50 };
    tr_ref *p = start_broadcast(W);
    tr_ref *a = cast(p, PID, K);
    assert_true(tu_wait_ge(&cast_replies, K * W, TU_WAIT_MS));
    assert_int_equal(distinct_pids(), W); /* each child answered */
    tu_sleep_ms(50);
    assert_int_equal(tu_load(&cast_replies), K * W); /* and no more */
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.jobs, K);
    assert_int_equal(s.copies, K * (W - 1));
    assert_int_equal(s.handled, K * W);
    assert_int_equal(s.dead_lettered, 0);
    uncast(a);
    stop(p);
}

/* An ask's one answer is the original's; the copies' replies go nowhere
 * (no sender), but each copy runs. */
static void broadcast_ask_is_answered_once(void **st) {
    (void)st;
    enum { W = 3, K = 20 };
    tr_ref *p = start_broadcast(W);
    for (uint64_t i = 0; i < K; i++) {
        uint64_t w = 0;
        assert_int_equal(ask(p, OK, i, &w), 0);
        assert_int_equal(w, 2 * i);
    }
    tr_pool_stats s;
    for (int t = 0; t < 100; t++) { /* the copies may still run */
        assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
        if (s.handled == K * W)
            break;
        tu_sleep_ms(20);
    }
    assert_int_equal(s.jobs, K);
    assert_int_equal(s.copies, K * (W - 1));
    assert_int_equal(s.handled, K * W);
    stop(p);
}

/* Every copy of a job that segfaults once kills its child; each copy is
 * redelivered (to one child) and answered: W replies per job still, and
 * the books balance. A job that always segfaults is dead-lettered once per
 * copy. */
static void broadcast_copies_survive_crashes(void **st) {
    (void)st;
    reset();
    enum { W = 3, K = 4 };
    tr_ref *p = start_broadcast(W);
    tr_ref *a = cast(p, SEGV_ONCE, K);
    assert_true(tu_wait_ge(&cast_replies, K * W, TU_WAIT_MS));
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.jobs, K);
    assert_int_equal(s.copies, K * (W - 1));
    assert_int_equal(s.handled, K * W);
    assert_int_equal(s.crashes, K * W);
    assert_int_equal(s.redeliveries, K * W);
    assert_int_equal(s.dead_lettered, 0);
    uncast(a);
    a = cast(p, SEGV, 1); /* 3 attempts per copy (max_redeliveries 2) */
    assert_true(tu_wait_ge(&dead, W, TU_WAIT_MS));
    tu_sleep_ms(50);
    assert_int_equal(tu_load(&dead), W);
    assert_int_equal(tu_load(&cast_replies), 0);
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.jobs + s.copies, s.handled + s.dead_lettered);
    assert_int_equal(s.crashes, K * W + 3 * W);
    uncast(a);
    stop(p);
}

static int ended(void *arg) {
    return !tr_ref_is_alive(arg);
}

/* The pool's handle count (tr_pool_retain/release), answered by the shared
 * control path (actors/pool_api.c) for an isolated router too: a plain
 * reference does not keep the pool open, the last pool handle closes it. */
static void last_pool_handle_release_closes_the_pool(void **st) {
    (void)st;
    tr_ref *p = start(2, 3, 0);
    tr_ref_retain(p); /* plain: to watch it end */
    assert_int_equal(tr_pool_retain(p), 0);
    assert_int_equal(tr_pool_release(p), 0);
    uint64_t w = 0;
    assert_int_equal(ask(p, OK, 4, &w), 0); /* one pool handle left: still open */
    assert_int_equal(w, 8);
    assert_true(tr_ref_is_alive(p));
    assert_int_equal(tr_pool_release(p), 0);
    assert_true(tu_wait_until(ended, p, TU_WAIT_MS));
    assert_int_equal(tr_send_word(p, OK, 1), TR_EDEAD);
    tr_ref_release(p);
    assert_true(tu_wait_until(no_children, NULL, TU_WAIT_MS));
}

static void close_with_jobs_in_flight_dead_letters_them(void **st) {
    (void)st;
    reset();
    fds_at = settled_fds();
    tr_ref *p = start(2, 3, 0);
    enum { N = 40 };
    tr_future *f[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(tr_ask_word(p, SLOW, 20, &f[i]), 0);
    tu_sleep_ms(30);
    assert_int_equal(tr_pool_close(p), 0);
    int answered = 0, dead_n = 0;
    for (int i = 0; i < N; i++) {
        tr_msg *rep;
        int rc = tr_future_wait(f[i], TU_WAIT_MS, &rep);
        if (rc == 0) {
            answered++;
            tr_msg_free(rep);
        } else {
            assert_int_equal(rc, TR_EDEAD);
            dead_n++;
        }
        tr_future_release(f[i]);
    }
    assert_int_equal(answered + dead_n, N);
    assert_true(dead_n > 0);
    assert_int_equal(tu_load(&dead), (uint64_t)dead_n);
    tr_pool_release(p);
    assert_true(tu_wait_until(no_children, NULL, TU_WAIT_MS));
    assert_true(tu_wait_until(fds_back, NULL, TU_WAIT_MS));
}

/* A runtime freed with a pool still open (and a supervised one): its
 * router ends with the runtime, and takes its children with it. */
static void runtime_free_reaps_the_children(void **st) {
    (void)st;
    fds_at = settled_fds();
    tr_runtime *rt2;
    assert_int_equal(tr_runtime_new(&rt2, NULL), 0);
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 3;
    c.entry = "test";
    tr_ref *p;
    assert_int_equal(tr_ipool_start(rt2, &c, &p), 0);
    static tr_ipool_config sc_pool; /* must outlive the supervisor */
    sc_pool = c;
    tr_child_spec spec = {.id = "iso", .start = tr_ipool_start_as_child, .arg = &sc_pool};
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.children = &spec;
    sc.nchildren = 1;
    tr_ref *sup;
    assert_int_equal(tr_sup_start(rt2, &sc, &sup), 0);
    assert_int_equal(tu_children(NULL), 6);
    uint64_t w;
    assert_int_equal(ask(p, OK, 7, &w), 0);
    assert_int_equal(w, 14);
    tr_pool_release(p);
    tr_ref_release(sup);
    tr_runtime_free(rt2);
    assert_int_equal(tu_children(NULL), 0);
    assert_true(tu_wait_until(fds_back, NULL, TU_WAIT_MS));
}

/* The thread that starts a pool starts its children (tr_spawn runs the
 * router's init on the caller): when that thread ends, the kernel signals
 * the children (their parent-death signal, for a killed parent process)
 * and they must carry on, since the process lives. */
static void *start_on_a_thread(void *arg) {
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 2;
    c.entry = "test";
    tr_ref **out = arg;
    if (tr_ipool_start(rt, &c, out) != 0)
        *out = NULL;
    return NULL;
}

static void children_outlive_the_thread_that_started_them(void **st) {
    (void)st;
    tr_ref *p = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, start_on_a_thread, &p), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_non_null(p);
    tu_sleep_ms(100); /* time for a signal to land and a child to die */
    assert_int_equal(tu_children(NULL), 2);
    uint64_t w;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(ask(p, OK, (uint64_t)i, &w), 0);
        assert_int_equal(w, 2 * (uint64_t)i);
    }
    tr_pool_stats s;
    assert_int_equal(tr_pool_stats_get(p, &s, NULL, 0), 0);
    assert_int_equal(s.crashes, 0);
    assert_int_equal(s.restarts, 0);
    stop(p);
}

/* The pool's parent process, in parent_killed_takes_hung_children_along:
 * a pool of one child, which hangs in a job after saying so on stdout. */
#define ORPHAN_PARENT_FLAG "--orphan-parent"

static int orphan_parent_main(void) {
    tr_runtime *prt;
    if (tr_runtime_new(&prt, NULL) != 0)
        return 1;
    tr_ipool_config c;
    tr_ipool_config_init(&c);
    c.pool.workers = 1;
    c.entry = "test";
    tr_ref *p;
    if (tr_ipool_start(prt, &c, &p) != 0 || tr_send_word(p, SAY_HANG, 0) != 0)
        return 1;
    for (;;)
        pause(); /* until the test kills us */
}

/* A child hung in a job reads no EOF: it must still die when its parent
 * process does (killed, so nothing of the pool's closing runs). The test
 * process becomes a subreaper, so the orphan comes to it and can be
 * waited for. Fails without die_with_parent: the child hangs for ever. */
static void parent_killed_takes_hung_children_along(void **st) {
    (void)st;
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO), 0);
    char exe[] = "/proc/self/exe", flag[] = ORPHAN_PARENT_FLAG;
    char *argv[] = {exe, flag, NULL};
    pid_t parent;
    assert_int_equal(posix_spawn(&parent, exe, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    FILE *in = fdopen(out[0], "r");
    assert_non_null(in);
    int child = 0;
    assert_int_equal(fscanf(in, "%d hangs", &child), 1); /* the child is in its job */
    assert_true(child > 0);
    assert_int_equal(kill(parent, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(parent, &status, 0), parent);
    /* The child comes to us and must end by itself. */
    pid_t got = tu_waitpid_ms(child, &status, TU_WAIT_MS);
    if (got == 0) { /* do not leave it behind */
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    fclose(in);
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
    assert_int_equal(got, child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv) {
    /* The worker image: children enter here and never come back. */
    if (tr_ipool_register("test", entry, NULL) != 0)
        return 1;
    if (tr_ipool_main(argc, argv) != 0)
        return 1;
    if (argc == 2 && strcmp(argv[1], ORPHAN_PARENT_FLAG) == 0)
        return orphan_parent_main();
    /* The children must die of their crashes, not be reported by a
     * sanitizer's handler (which exits 1): the options are read by each
     * child at its start; ours are already read. */
    setenv("ASAN_OPTIONS", "handle_segv=0:handle_sigbus=0:handle_abort=0:detect_leaks=0", 1);
    setenv("TSAN_OPTIONS", "handle_segv=0:handle_sigbus=0:handle_abort=0", 1);
    setenv("UBSAN_OPTIONS", "handle_segv=0:handle_sigbus=0:handle_abort=0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_configs_are_refused),
        cmocka_unit_test(asks_are_answered_with_bytes),
        cmocka_unit_test(jobs_bigger_than_the_socket_buffer_arrive_whole),
        cmocka_unit_test(torn_reply_frame_goes_with_its_child),
        cmocka_unit_test(impossible_reply_header_kills_the_child),
        cmocka_unit_test(segfault_is_redelivered_and_answered),
        cmocka_unit_test(segv_always_is_dead_lettered_with_the_signal),
        cmocka_unit_test(abort_is_dead_lettered_with_sigabrt),
        cmocka_unit_test(sigbus_is_dead_lettered_with_sigbus),
        cmocka_unit_test(exit_is_dead_lettered_with_its_code),
        cmocka_unit_test(entry_error_is_a_failed_attempt),
        cmocka_unit_test(watchdog_kills_a_hung_job),
        cmocka_unit_test(hung_once_is_killed_then_answered),
        cmocka_unit_test(watchdog_times_each_job_from_its_start),
        cmocka_unit_test(outside_kill_is_survived),
        cmocka_unit_test(child_killed_mid_batch_fails_only_its_current_job),
        cmocka_unit_test(pool_calls_work_on_the_handle),
        cmocka_unit_test(last_pool_handle_release_closes_the_pool),
        cmocka_unit_test(restart_intensity_closes_the_pool),
        cmocka_unit_test(address_space_limit_applies_in_the_child),
        cmocka_unit_test(close_with_jobs_in_flight_dead_letters_them),
        cmocka_unit_test(storm_of_crashes_balances_and_leaves_nothing),
        cmocka_unit_test(storm_round_robin_with_pipelines_balances),
        cmocka_unit_test(broadcast_gives_every_child_a_copy),
        cmocka_unit_test(broadcast_ask_is_answered_once),
        cmocka_unit_test(broadcast_copies_survive_crashes),
        cmocka_unit_test(runtime_free_reaps_the_children),
        cmocka_unit_test(parent_killed_takes_hung_children_along),
        cmocka_unit_test(children_outlive_the_thread_that_started_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
