/* tests/support/testutil.c - waiting, runtimes and the worker gate for tests.
 *
 * See testutil.h. Waits poll with short sleeps: the tests measure outcomes,
 * not latency, so polling keeps the helpers free of any runtime internals. */
#include "support/testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t tu_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tu_sleep_ms(int64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int tu_wait_until(int (*pred)(void *arg), void *arg, int64_t timeout_ms) {
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (unsigned spins = 0;; spins++) {
        if (pred(arg))
            return 1;
        if (tu_now_ms() > deadline)
            return pred(arg) ? 1 : 0;
        if (spins < 100)
            sched_yield();
        else
            tu_sleep_ms(1);
    }
}

typedef struct ge_arg {
    const uint64_t *p;
    uint64_t n;
} ge_arg;

static int ge_pred(void *arg) {
    ge_arg *g = arg;
    return tu_load(g->p) >= g->n;
}

int tu_wait_ge(const uint64_t *p, uint64_t n, int64_t timeout_ms) {
    ge_arg g = {p, n};
    return tu_wait_until(ge_pred, &g, timeout_ms);
}

typedef struct alive_arg {
    tr_runtime *rt;
    uint64_t n;
} alive_arg;

static int alive_pred(void *arg) {
    alive_arg *a = arg;
    tr_runtime_stats st;
    return tr_runtime_stats_get(a->rt, &st) == 0 && st.actors_alive == a->n;
}

int tu_wait_alive(tr_runtime *rt, uint64_t n, int64_t timeout_ms) {
    alive_arg a = {rt, n};
    return tu_wait_until(alive_pred, &a, timeout_ms);
}

pid_t tu_waitpid_ms(pid_t pid, int *status, int64_t timeout_ms) {
    int64_t deadline = tu_now_ms() + timeout_ms;
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got != 0 || tu_now_ms() >= deadline)
            return got;
        tu_sleep_ms(1);
    }
}

int tu_in_child(void (*fn)(void), int64_t deadline_ms) {
    fflush(NULL); /* no buffered output written twice */
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        fn();
        exit(0);
    }
    int status = 0;
    pid_t got = tu_waitpid_ms(pid, &status, deadline_ms);
    if (got == 0) {
        fprintf(stderr, "child %d hung: killed\n", (int)pid);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    if (WIFSIGNALED(status))
        return 256 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tu_open_fds(void) {
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

int tu_children(int *first) {
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    int n = 0;
    pid_t me = getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = '\0';
        char *rp = strrchr(buf, ')'); /* comm may hold spaces */
        int ppid = 0;
        char state;
        if (rp != NULL && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == me) {
            if (n == 0 && first != NULL)
                *first = atoi(e->d_name);
            n++;
        }
    }
    closedir(d);
    return n;
}

int tu_mode_current(void) {
    const char *m = getenv("TROUPE_TEST_MODE");
    return m != NULL && strcmp(m, "current") == 0;
}

/* The driver of a current-thread runtime made by tu_runtime_new: runs it
 * until it has exited (tr_runtime_free waits for that). Detached: nobody
 * joins it, and it touches nothing of rt once tr_runtime_run returns.
 * TR_EBUSY: tu_runtime_new's probe drives for a moment; try again. */
static void *drive_main(void *arg) {
    while (tr_runtime_run(arg) == TR_EBUSY)
        tu_sleep_ms(1);
    return NULL;
}

/* Wait until the driver thread drives rt: block_on says TR_EBUSY then.
 * (Until then the probe drives it itself for 1 ms at a time.) So the
 * driver never starts on a runtime already freed. */
static int wait_driven(tr_runtime *rt) {
    tr_promise *p;
    tr_future *f;
    if (tr_promise_new(rt, &p, &f) != 0)
        return 0;
    int rc = 0;
    for (int64_t t0 = tu_now_ms(); tu_now_ms() - t0 < TU_WAIT_MS;) {
        tr_msg *r = NULL;
        if ((rc = tr_runtime_block_on(rt, f, 1, &r)) == TR_EBUSY)
            break;
        tu_sleep_ms(1);
    }
    tr_promise_release(p);
    tr_future_release(f);
    return rc == TR_EBUSY;
}

tr_ref *tu_sup_child(tr_ref *sup, const char *id) {
    tr_child_info info[TU_SUP_CHILDREN];
    size_t n = 0;
    if (tr_sup_which_children(sup, info, TU_SUP_CHILDREN, &n) != 0)
        return NULL;
    size_t got = n < TU_SUP_CHILDREN ? n : TU_SUP_CHILDREN;
    tr_ref *found = NULL;
    for (size_t i = 0; i < got; i++) {
        if (found == NULL && info[i].id != NULL && strcmp(info[i].id, id) == 0 &&
            info[i].ref != NULL) {
            found = info[i].ref;
            info[i].ref = NULL; /* kept: the release below skips it */
        }
    }
    tr_sup_children_release(info, got);
    return found;
}

/* hangdump.c is in the test programs, not in the other programs that use
 * this file. */
extern void tu_hangdump_start(void) __attribute__((weak));

tr_runtime *tu_runtime_new(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    return tu_runtime_new_cfg(&cfg);
}

tr_runtime *tu_runtime_new_cfg(const tr_runtime_config *config) {
    if (tu_hangdump_start != NULL) /* not linked into oom_sweep, soak, console_fixture */
        tu_hangdump_start();
    tr_runtime_config cfg = *config;
    int current = tu_mode_current();
    if (current) {
        cfg.mode = TR_RUNTIME_CURRENT_THREAD;
        cfg.workers = 0;
    }
    tr_runtime *rt = NULL;
    if (tr_runtime_new(&rt, &cfg) != 0)
        return NULL;
    if (current) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&th, &attr, drive_main, rt);
        pthread_attr_destroy(&attr);
        if (rc != 0 || !wait_driven(rt)) {
            tr_runtime_free(rt);
            return NULL;
        }
    }
    return rt;
}

/* --- the gate ------------------------------------------------------------ */

static int gate_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)msg;
    tu_gate *g = state;
    tu_store(&g->entered, 1);
    while (!tu_load(&g->open))
        sched_yield();
    tr_stop(ctx);
    return 0;
}

int tu_gate_block(tr_runtime *rt, tu_gate *g) {
    static const tr_behavior beh = {NULL, gate_receive, NULL};
    tu_store(&g->entered, 0);
    tu_store(&g->open, 0);
    g->ref = NULL;
    tr_spawn_opts o = {0};
    o.arg = g; /* no state, no init: arg is the state */
    o.name = "tu_gate";
    int rc = tr_spawn(rt, &beh, &o, &g->ref);
    if (rc != 0)
        return rc;
    rc = tr_send_word(g->ref, 1, 0);
    if (rc != 0) {
        tr_ref_release(g->ref);
        g->ref = NULL;
        return rc;
    }
    return tu_wait_ge(&g->entered, 1, TU_WAIT_MS) ? 0 : TR_ETIMEDOUT;
}

void tu_gate_open(tu_gate *g) {
    tu_store(&g->open, 1);
    if (g->ref != NULL) {
        tr_ref_release(g->ref);
        g->ref = NULL;
    }
}

/* --- fd exhaustion ------------------------------------------------------- */

static rlim_t fd_saved_limit;
static int fd_hog[4096];
static int fd_nhog;

void tu_fd_limit(long cur) {
    struct rlimit rl;
    TU_CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    fd_saved_limit = rl.rlim_cur;
    rl.rlim_cur = (rlim_t)cur;
    TU_CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

void tu_fd_limit_restore(void) {
    struct rlimit rl;
    TU_CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rl.rlim_cur = fd_saved_limit;
    TU_CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

int tu_lowest_free_fd(void) {
    int fd = dup(0);
    if (fd >= 0)
        close(fd);
    return fd;
}

int tu_fd_hog(void) {
    int fd;
    while (fd_nhog < 4096 && (fd = dup(0)) >= 0)
        fd_hog[fd_nhog++] = fd;
    return fd_nhog;
}

void tu_fd_give_back(int n) {
    while (n-- != 0 && fd_nhog > 0)
        close(fd_hog[--fd_nhog]);
}
