/* tests/test_exhaust.c - out of file descriptors (RLIMIT_NOFILE).
 *
 * Every test runs its body in a forked child that lowers its own fd limit,
 * so the other tests (and the parent) keep theirs. The child reports by its
 * exit status (0: all checks held; otherwise the number of the failed check,
 * printed to stderr), and a child killed by a signal (libev's abort) fails
 * the test. The parent waits with a deadline and kills a child that hangs.
 *
 * Spinning is measured as CPU time: getrusage(RUSAGE_SELF) in the child over
 * an interval in which the runtime has nothing to do but the exhausted
 * listener. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

#define CHILD_DEADLINE_MS 60000
#define MAX_RUNTIMES 64

/* A failed check in the child: say which and exit with its line. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed, line %d: %s\n", __LINE__, #cond);                 \
            exit(__LINE__ % 200 + 1);                                                              \
        }                                                                                          \
    } while (0)

/* Run fn in a child; assert it exited with 0 in time. */
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

/* Open file descriptors of this process. */
static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static rlim_t saved_limit;

/* Allow `more` fds beyond those open now. */
static void limit_fds(int more) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    saved_limit = rl.rlim_cur;
    /* The lowest free fd decides; open_fds counts, which is the same when
     * the open fds are 0..n-1, as in a fresh test child. */
    rl.rlim_cur = (rlim_t)(open_fds() + more);
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void unlimit_fds(void) {
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = saved_limit;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

/* Fill every free fd; returns how many were taken (closed by give_back). */
static int hog[4096];
static int nhog;

__attribute__((unused)) static void hog_all(void) {
    nhog = 0;
    int fd;
    while (nhog < 4096 && (fd = dup(0)) >= 0)
        hog[nhog++] = fd;
}

__attribute__((unused)) static void give_back(int n) {
    while (n-- > 0 && nhog > 0)
        close(hog[--nhog]);
}

__attribute__((unused)) static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* --- runtime creation ---------------------------------------------------------- */

/* With the limit at base + extra for every extra in 0..9, runtimes of two
 * workers (an epoll fd and an eventfd each) are made until one fails: the
 * failure is TR_ESYS (not libev's abort), at whatever worker it happens, and
 * freeing everything gives every fd back. */
static void runtimes_until_out_of_fds(void) {
    int base = open_fds();
    for (int extra = 0; extra < 10; extra++) {
        limit_fds(extra);
        tr_runtime *rts[MAX_RUNTIMES];
        int n = 0, rc = 0;
        tr_runtime_config cfg;
        tr_runtime_config_init(&cfg);
        cfg.workers = 2;
        while (n < MAX_RUNTIMES && (rc = tr_runtime_new(&rts[n], &cfg)) == 0)
            n++;
        CHECK(n < MAX_RUNTIMES);
        CHECK(rc == TR_ESYS);
        CHECK(n >= extra / 4); /* at most 4 fds per runtime (libev may fall back to poll) */
        for (int i = 0; i < n; i++)
            CHECK(tr_runtime_free(rts[i]) == 0);
        CHECK(open_fds() == base); /* the failed one left nothing open */
        unlimit_fds();
    }
    tr_runtime *rt;
    CHECK(tr_runtime_new(&rt, NULL) == 0); /* fds back: it works again */
    CHECK(tr_runtime_free(rt) == 0);
}

static void runtime_new_out_of_fds_returns_esys(void **state) {
    (void)state;
    in_child(runtimes_until_out_of_fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runtime_new_out_of_fds_returns_esys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
