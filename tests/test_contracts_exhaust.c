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
#include "troupe/console.h"
#include "troupe/log.h"

#define CHILD_DEADLINE_MS 60000
#define SPIN_WINDOW_MS 500
#define SPIN_MAX_CPU 0.06 /* seconds of CPU in the window; a spinning thread took 0.18-0.5 */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed, line %d: %s\n", __LINE__, #cond);                 \
            exit(__LINE__ % 200 + 1);                                                              \
        }                                                                                          \
    } while (0)

static void in_child(void (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fn();
        exit(0);
    }
    int status = 0;
    int64_t deadline = tu_now_ms() + CHILD_DEADLINE_MS;
    pid_t got;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && tu_now_ms() < deadline)
        tu_sleep_ms(5);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("child hung");
    }
    if (WIFSIGNALED(status))
        fail_msg("child killed by signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The lowest free fd: with the limit set to it + more, exactly `more` fds
 * can still be opened, whatever the gaps below. */
static int lowest_free_fd(void) {
    int fd = dup(0);
    if (fd >= 0)
        close(fd);
    return fd;
}

static rlim_t saved_limit;

static void limit_fds(int more) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    saved_limit = rl.rlim_cur;
    rl.rlim_cur = (rlim_t)(lowest_free_fd() + more);
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void unlimit_fds(void) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = saved_limit;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static int hog[4096];
static int nhog;

static void hog_all(void) {
    nhog = 0;
    int fd;
    while (nhog < 4096 && (fd = dup(0)) >= 0)
        hog[nhog++] = fd;
}

static void give_back(void) {
    while (nhog > 0)
        close(hog[--nhog]);
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
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/c.sock", dir);
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = 1;
    cfg.keep_open = 1;
    cfg.console_path = path;
    cfg.log_fn = count_console;
    tr_runtime *rt;
    CHECK(tr_runtime_new(&rt, &cfg) == 0);
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(cl >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    limit_fds(8);
    hog_all();
    CHECK(nhog > 0);
    CHECK(connect(cl, (struct sockaddr *)&sa, sizeof(sa)) == 0); /* the backlog takes it */
    CHECK(write(cl, "version\n", 8) == 8);
    tu_sleep_ms(100); /* the console has seen it and failed by now */
    double cpu0 = cpu_seconds();
    tu_sleep_ms(SPIN_WINDOW_MS);
    double cpu = cpu_seconds() - cpu0;
    fprintf(stderr, "cpu while the console is out of fds: %.3f s in %d ms\n", cpu, SPIN_WINDOW_MS);
    CHECK(cpu < SPIN_MAX_CPU);
    CHECK(tu_load(&console_reports) == 1); /* said once, not per retry */
    /* The runtime goes on meanwhile. */
    tr_runtime_stats st;
    CHECK(tr_runtime_stats_get(rt, &st) == 0);
    give_back();
    unlimit_fds();
    /* Served once fds are back: the reply, then the close. */
    struct timeval tv = {.tv_sec = 10};
    CHECK(setsockopt(cl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    char reply[64] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(reply) - 1 && (n = read(cl, reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    CHECK(strncmp(reply, "troupe-console 1\n", 17) == 0);
    close(cl);
    CHECK(tr_runtime_free(rt) == 0);
    unlink(path);
    rmdir(dir);
}

static void the_console_out_of_fds_does_not_spin_says_so_once_and_resumes(void **state) {
    (void)state;
    in_child(console_out_of_fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_console_out_of_fds_does_not_spin_says_so_once_and_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
