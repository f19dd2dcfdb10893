/* tests/test_contracts_exhaust.c - the evening's paths out of file
 * descriptors and processes: the console endpoint, the current-thread
 * runtime's wake-up, isolated pools.
 *
 * As tests/test_exhaust.c: each test runs in a forked child that lowers its
 * own limits (RLIMIT_NOFILE, RLIMIT_NPROC), reports a failed check by its
 * exit status, and is killed (failing the test) if it hangs. Counting fds
 * never relies on gaps: the limit is set from the lowest free fd, so the
 * tests hold with fds exactly 0, 1, 2 (CI) as with gaps (run them also as
 * `test_contracts_exhaust 10>&- 251>&-`). Spinning is measured as CPU time
 * over a window in which the runtime has nothing to do. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"
#include "troupe/blocking.h"
#include "troupe/console.h"
#include "troupe/ipool.h"
#include "troupe/log.h"

#define CHILD_DEADLINE_MS 60000
#define SPIN_WINDOW_MS 500
#define SPIN_MAX_CPU 0.06 /* seconds of CPU in the window; a spinning thread took 0.18-0.5 */

static void in_child(void (*fn)(void)) {
    assert_int_equal(tu_in_child(fn, CHILD_DEADLINE_MS), 0);
}

/* With the limit set to the lowest free fd + more, exactly `more` fds can
 * still be opened, whatever the gaps below. */
static void limit_fds(int more) {
    tu_fd_limit(tu_lowest_free_fd() + more);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* --- the console endpoint at the fd limit ---------------------------------------- */

static uint64_t console_reports; /* records of subsystem "console" */

static void count_console(void *user, const tr_log_record *rec) {
    (void)user;
    if (strcmp(rec->subsystem, "console") == 0)
        tu_add(&console_reports, 1);
}

/* A client connected while the console has no fd to accept it with: the
 * console thread must not spin on the listening socket, must say so once,
 * and must serve the client once fds are back. */
static void console_out_of_fds(void) {
    char dir[] = "/tmp/troupe-exhaust-XXXXXX";
    TU_CHILD_CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.console_path = path;
    cfg.log_fn = count_console;
    tr_runtime *rt;
    TU_CHILD_CHECK(tr_runtime_new(&rt, &cfg) == 0);
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    TU_CHILD_CHECK(cl >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    limit_fds(8);
    TU_CHILD_CHECK(tu_fd_hog() > 0);
    TU_CHILD_CHECK(connect(cl, (struct sockaddr *)&sa, sizeof(sa)) == 0); /* the backlog takes it */
    TU_CHILD_CHECK(write(cl, "version\n", 8) == 8);
    tu_sleep_ms(100); /* the console has seen it and failed by now */
    double cpu0 = cpu_seconds();
    tu_sleep_ms(SPIN_WINDOW_MS);
    double cpu = cpu_seconds() - cpu0;
    fprintf(stderr, "cpu while the console is out of fds: %.3f s in %d ms\n", cpu, SPIN_WINDOW_MS);
    TU_CHILD_CHECK(cpu < SPIN_MAX_CPU);
    TU_CHILD_CHECK(tu_load(&console_reports) == 1); /* said once, not per retry */
    /* The runtime goes on meanwhile. */
    tr_runtime_stats st;
    TU_CHILD_CHECK(tr_runtime_stats_get(rt, &st) == 0);
    tu_fd_give_back(-1);
    tu_fd_limit_restore();
    /* Served once fds are back: the reply, then the close. */
    struct timeval tv = {.tv_sec = 10};
    TU_CHILD_CHECK(setsockopt(cl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    char reply[64] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(reply) - 1 && (n = read(cl, reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    TU_CHILD_CHECK(strncmp(reply, "troupe-console 1\n", 17) == 0);
    close(cl);
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
    unlink(path);
    rmdir(dir);
}

static void the_console_out_of_fds_does_not_spin_says_so_once_and_resumes(void **state) {
    (void)state;
    in_child(console_out_of_fds);
}

/* --- isolated pools at the fd limit ------------------------------------------------ */

static int job_entry(void *user, const tr_ipool_job *job, tr_ibuf *reply) {
    (void)user;
    return tr_ibuf_set(reply, job->type, job->word + 1);
}

static int children_gone(void *arg) {
    (void)arg;
    return tu_children(NULL) == 0;
}

static tr_runtime *plain_rt(void) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.log_level = TR_LOG_OFF;
    tr_runtime *rt;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

/* With room for 0..11 more fds, a pool of 3 children either starts or
 * fails with TR_ESYS; a failed start leaves no child (zombie or not) and
 * no fd. */
static void ipool_start_out_of_fds(void) {
    tr_runtime *rt = plain_rt();
    TU_CHILD_CHECK(rt != NULL);
    int started = 0, refused = 0;
    for (int more = 0; more < 12; more++) {
        int free_before = tu_lowest_free_fd();
        limit_fds(more);
        tr_ipool_config ic;
        tr_ipool_config_init(&ic);
        ic.entry = "exhaust-job";
        ic.pool.workers = 3;
        tr_ref *pool = NULL;
        int rc = tr_ipool_start(rt, &ic, &pool);
        tu_fd_limit_restore();
        if (rc == 0) {
            started++;
            tr_future *f;
            TU_CHILD_CHECK(tr_ask_word(pool, 1, 41, &f) == 0);
            tr_msg *reply;
            TU_CHILD_CHECK(tr_future_wait(f, 10000, &reply) == 0);
            TU_CHILD_CHECK(reply->word == 42);
            tr_msg_free(reply);
            tr_future_release(f);
            tr_pool_release(pool);
        } else {
            refused++;
            if (rc != TR_ESYS)
                fprintf(stderr, "room for %d fds: tr_ipool_start returned %d\n", more, rc);
            TU_CHILD_CHECK(rc == TR_ESYS);
            TU_CHILD_CHECK(pool == NULL);
        }
        TU_CHILD_CHECK(tu_wait_until(children_gone, NULL, 10000));
        TU_CHILD_CHECK(tu_lowest_free_fd() == free_before);
    }
    TU_CHILD_CHECK(refused > 0 && started > 0); /* both sides of the limit were seen */
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
}

static void an_ipool_start_out_of_fds_fails_with_esys_and_leaves_nothing(void **state) {
    (void)state;
    in_child(ipool_start_out_of_fds);
}

/* A pool whose child dies while the process has no fd: the respawn fails.
 * Each failed respawn counts against the pool's restart intensity (2 in
 * 10 s here), so the pool gives up instead of retrying forever: it ends,
 * the job it held is dead-lettered (the asker learns TR_EDEAD), and nothing
 * is left (no child, no zombie, no fd). */
static int pool_ended(void *arg) {
    return !tr_ref_is_alive(arg);
}

static void ipool_respawn_out_of_fds(void) {
    int free_before = tu_lowest_free_fd(); /* before the runtime: it frees its own */
    tr_runtime *rt = plain_rt();
    TU_CHILD_CHECK(rt != NULL);
    tr_ipool_config ic;
    tr_ipool_config_init(&ic);
    ic.entry = "exhaust-job";
    ic.pool.workers = 1;
    ic.pool.intensity = 2;
    ic.pool.period_ms = 10000;
    ic.pool.max_redeliveries = 100; /* the job waits for a child, not for its own limit */
    tr_ref *pool;
    TU_CHILD_CHECK(tr_ipool_start(rt, &ic, &pool) == 0);
    tr_future *f;
    tr_msg *reply;
    TU_CHILD_CHECK(tr_ask_word(pool, 1, 1, &f) == 0); /* the child is up and answering */
    TU_CHILD_CHECK(tr_future_wait(f, 10000, &reply) == 0);
    tr_msg_free(reply);
    tr_future_release(f);
    int child = -1;
    TU_CHILD_CHECK(tu_children(&child) > 0 && child > 0);
    limit_fds(0); /* no fd left to make a child with */
    TU_CHILD_CHECK(kill(child, SIGKILL) == 0);
    TU_CHILD_CHECK(tr_ask_word(pool, 1, 2, &f) == 0);
    TU_CHILD_CHECK(tu_wait_until(pool_ended, pool, 10000)); /* gave up */
    TU_CHILD_CHECK(tr_future_wait(f, 10000, &reply) == TR_EDEAD);
    tr_future_release(f);
    tu_fd_limit_restore();
    TU_CHILD_CHECK(tu_wait_until(children_gone, NULL, 10000));
    tr_pool_release(pool);
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
    TU_CHILD_CHECK(tu_lowest_free_fd() == free_before);
}

static void an_ipool_that_cannot_respawn_gives_up_under_its_restart_intensity(void **state) {
    (void)state;
    in_child(ipool_respawn_out_of_fds);
}

/* --- the current-thread runtime and the main loop without fds ------------------------ */

static int answer_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state;
    return tr_reply_word(msg, 1, msg->word + 1);
}
static const tr_behavior answer_beh = {NULL, answer_receive, NULL};

/* With room for 0..7 more fds, a current-thread runtime (its loop needs an
 * epoll fd and an eventfd for its wake-up) and a multi-threaded one with a
 * main loop either start and work (an ask answered through block_on) or
 * fail with TR_ESYS, leaving no fd. */
static void driven_runtimes_out_of_fds(void) {
    for (int mode = 0; mode < 2; mode++) {
        int made = 0, refused = 0;
        for (int more = 0; more < 8; more++) {
            int free_before = tu_lowest_free_fd();
            tr_runtime_config cfg;
            tr_runtime_config_init(&cfg);
            cfg.keep_open = 1;
            if (mode == 0) {
                cfg.mode = TR_RUNTIME_CURRENT_THREAD;
            } else {
                cfg.workers = 1;
                cfg.main_loop = 1;
            }
            limit_fds(more);
            tr_runtime *rt = (tr_runtime *)(uintptr_t)1;
            int rc = tr_runtime_new(&rt, &cfg);
            tu_fd_limit_restore();
            if (rc != 0) {
                refused++;
                TU_CHILD_CHECK(rc == TR_ESYS);
                TU_CHILD_CHECK(rt == NULL);
                TU_CHILD_CHECK(tu_lowest_free_fd() == free_before);
                continue;
            }
            made++;
            tr_ref *a;
            tr_spawn_opts o = {.pin = mode == 1 ? TR_PIN_MAIN : TR_PIN_NONE};
            TU_CHILD_CHECK(tr_spawn(rt, &answer_beh, &o, &a) == 0);
            tr_future *f;
            TU_CHILD_CHECK(tr_ask_word(a, 1, 41, &f) == 0);
            tr_msg *reply;
            TU_CHILD_CHECK(tr_runtime_block_on(rt, f, 10000, &reply) == 0);
            TU_CHILD_CHECK(reply->word == 42);
            tr_msg_free(reply);
            tr_future_release(f);
            tr_ref_release(a);
            TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
            TU_CHILD_CHECK(tu_lowest_free_fd() == free_before);
        }
        TU_CHILD_CHECK(made > 0 && refused > 0);
    }
}

static void a_driven_runtime_without_fds_for_its_wakeup_fails_with_esys(void **state) {
    (void)state;
    in_child(driven_runtimes_out_of_fds);
}

/* --- out of threads and processes ---------------------------------------------------- */

/* The tasks (threads) the kernel counts against uid's RLIMIT_NPROC. */
static long user_tasks(uid_t uid) {
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], line[256];
        snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        long ruid = -1, threads = 0;
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "Uid:", 4) == 0)
                ruid = strtol(line + 4, NULL, 10);
            else if (strncmp(line, "Threads:", 8) == 0)
                threads = strtol(line + 8, NULL, 10);
        }
        fclose(f);
        if (ruid == (long)uid)
            n += threads;
    }
    closedir(d);
    return n;
}

/* Root is not held to RLIMIT_NPROC: the child becomes nobody first (and
 * keeps its open files and its memory, all it needs). */
static void become_limitable(void) {
    if (geteuid() == 0)
        TU_CHILD_CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0);
}

/* Room for exactly `more` threads or processes; the hard limit stays
 * above, so limit_tasks_restore can lift it again (LSan needs a thread at
 * exit). */
static void limit_tasks(long more) {
    long n = user_tasks(getuid());
    TU_CHILD_CHECK(n > 0);
    struct rlimit rl = {(rlim_t)(n + more), (rlim_t)(n + 4096)};
    TU_CHILD_CHECK(setrlimit(RLIMIT_NPROC, &rl) == 0);
}

static void limit_tasks_restore(void) {
    struct rlimit rl;
    TU_CHILD_CHECK(getrlimit(RLIMIT_NPROC, &rl) == 0);
    rl.rlim_cur = rl.rlim_max;
    TU_CHILD_CHECK(setrlimit(RLIMIT_NPROC, &rl) == 0);
}

static uint64_t kid_starts;

static int kid_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx, (void)state, (void)arg;
    tu_add(&kid_starts, 1);
    return 0;
}

static int kid_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx, (void)state;
    return msg->type == 666 ? TR_ECRASHED : 0;
}

static const tr_behavior kid_beh = {kid_init, kid_receive, NULL};

static int blocking_fn(void *arg, void **result) {
    *result = arg;
    return 0;
}

/* A runtime whose second worker cannot be made fails with TR_ESYS and
 * leaves no thread. Supervisors and pools run their restart backoff,
 * shutdown timeouts and watchdog on the runtime's timer thread. Out of threads, they are refused
 * at their start with TR_ESYS (before, they started and their timers never
 * fired: a backoff restart or a shutdown kill that never came), as are
 * blocking calls and isolated pools; nothing is left behind. Once threads
 * can be made again, the same calls work, timers included. */
static void starts_out_of_threads(void) {
    become_limitable();
    tr_runtime *rt = plain_rt();
    TU_CHILD_CHECK(rt != NULL);
    tr_child_spec spec = {.id = "kid", .behavior = &kid_beh, .restart = TR_CHILD_PERMANENT};
    tr_sup_config sc;
    tr_sup_config_init(&sc);
    sc.children = &spec;
    sc.nchildren = 1;
    sc.backoff_min_ms = 20; /* a restart needs the timer */
    tr_pool_config pc;
    tr_pool_config_init(&pc);
    pc.workers = 2;
    pc.behavior = &kid_beh;
    tr_ipool_config ic;
    tr_ipool_config_init(&ic);
    ic.entry = "exhaust-job";
    ic.pool.workers = 1;

    limit_tasks(1); /* one worker of two can be made */
    long tasks = user_tasks(getuid());
    tr_runtime_config rc2;
    tr_runtime_config_init(&rc2);
    rc2.workers = 2;
    rc2.log_level = TR_LOG_OFF;
    tr_runtime *rt2 = NULL;
    TU_CHILD_CHECK(tr_runtime_new(&rt2, &rc2) == TR_ESYS && rt2 == NULL);
    TU_CHILD_CHECK(user_tasks(getuid()) == tasks); /* the one made is gone */

    limit_tasks(0);
    tr_ref *sup = NULL, *pool = NULL, *ipool = NULL;
    tr_future *f = NULL;
    TU_CHILD_CHECK(tr_sup_start(rt, &sc, &sup) == TR_ESYS && sup == NULL);
    TU_CHILD_CHECK(tu_load(&kid_starts) == 0);
    TU_CHILD_CHECK(tr_pool_start(rt, &pc, &pool) == TR_ESYS && pool == NULL);
    TU_CHILD_CHECK(tr_ipool_start(rt, &ic, &ipool) == TR_ESYS && ipool == NULL);
    TU_CHILD_CHECK(tr_blocking_ask(rt, blocking_fn, &sc, NULL, &f) == TR_ESYS);
    TU_CHILD_CHECK(children_gone(NULL));
    limit_tasks_restore();

    TU_CHILD_CHECK(tr_sup_start(rt, &sc, &sup) == 0);
    TU_CHILD_CHECK(tu_load(&kid_starts) == 1);
    tr_child_info info;
    size_t n = 0;
    TU_CHILD_CHECK(tr_sup_which_children(sup, &info, 1, &n) == 0 && n == 1);
    TU_CHILD_CHECK(tr_send_word(info.ref, 666, 0) == 0); /* crash: restarted after the backoff */
    tr_ref_release(info.ref);
    TU_CHILD_CHECK(tu_wait_ge(&kid_starts, 2, 10000));
    TU_CHILD_CHECK(tr_pool_start(rt, &pc, &pool) == 0);
    TU_CHILD_CHECK(tr_blocking_ask(rt, blocking_fn, &sc, NULL, &f) == 0);
    tr_msg *reply;
    TU_CHILD_CHECK(tr_future_wait(f, 10000, &reply) == 0);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_pool_release(pool);
    tr_ref_release(sup);
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
}

static void
supervisors_and_pools_out_of_threads_are_refused_and_work_once_threads_are_back(void **state) {
    (void)state;
    in_child(starts_out_of_threads);
}

int main(int argc, char **argv) {
    /* The isolated pools' worker image: children enter here, never return. */
    if (tr_ipool_register("exhaust-job", job_entry, NULL) != 0 || tr_ipool_main(argc, argv) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_console_out_of_fds_does_not_spin_says_so_once_and_resumes),
        cmocka_unit_test(an_ipool_start_out_of_fds_fails_with_esys_and_leaves_nothing),
        cmocka_unit_test(an_ipool_that_cannot_respawn_gives_up_under_its_restart_intensity),
        cmocka_unit_test(a_driven_runtime_without_fds_for_its_wakeup_fails_with_esys),
        cmocka_unit_test(
            supervisors_and_pools_out_of_threads_are_refused_and_work_once_threads_are_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
