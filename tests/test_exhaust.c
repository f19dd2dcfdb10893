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

/* Run fn in a child; assert it exited with 0 in time. */
static void in_child(void (*fn)(void)) {
    assert_int_equal(tu_in_child(fn, CHILD_DEADLINE_MS), 0);
}

/* Allow `more` fds beyond those open now. The lowest free fd decides;
 * tu_open_fds counts, which is the same when the open fds are 0..n-1, as in
 * a fresh test child. */
static void limit_fds(int more) {
    tu_fd_limit(tu_open_fds() + more);
}

static double cpu_seconds(void) {
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
    int base = tu_open_fds();
    for (int extra = 0; extra < 10; extra++) {
        limit_fds(extra);
        tr_runtime *rts[MAX_RUNTIMES];
        int n = 0, rc = 0;
        tr_runtime_config cfg;
        tr_runtime_config_init(&cfg);
        cfg.workers = 2;
        while (n < MAX_RUNTIMES && (rc = tr_runtime_new(&rts[n], &cfg)) == 0)
            n++;
        TU_CHILD_CHECK(n < MAX_RUNTIMES);
        TU_CHILD_CHECK(rc == TR_ESYS);
        TU_CHILD_CHECK(n >=
                       extra / 4); /* at most 4 fds per runtime (libev may fall back to poll) */
        for (int i = 0; i < n; i++)
            TU_CHILD_CHECK(tr_runtime_free(rts[i]) == 0);
        tu_fd_limit_restore(); /* first: at the limit, counting needs an fd of its own */
        TU_CHILD_CHECK(tu_open_fds() == base); /* the failed one left nothing open */
    }
    tr_runtime *rt;
    TU_CHILD_CHECK(tr_runtime_new(&rt, NULL) == 0); /* fds back: it works again */
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
}

static void runtime_new_out_of_fds_returns_esys(void **state) {
    (void)state;
    in_child(runtimes_until_out_of_fds);
}

/* --- an actor that counts what io tells it ------------------------------------- */

typedef struct seen {
    uint64_t accepted, connected, connect_failed, fd_ready, other;
} seen;

static int io_init(tr_ctx *ctx, void *state, void *arg) {
    (void)ctx;
    *(seen **)state = arg;
    return 0;
}

static int io_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)ctx;
    seen *s = *(seen **)state;
    switch (msg->type) {
    case TR_MSG_TCP_ACCEPTED: {
        tr_tcp *c = tr_msg_take_ptr(msg);
        tr_tcp_close(c); /* frees its fd: the next accept can have it */
        tu_add(&s->accepted, 1);
        return 0;
    }
    case TR_MSG_TCP_CONNECTED:
        tu_add(msg->status == 0 ? &s->connected : &s->connect_failed, 1);
        return 0;
    case TR_MSG_FD_READY:
        tu_add(&s->fd_ready, 1);
        return 0;
    default:
        tu_add(&s->other, 1);
        return 0;
    }
}

static const tr_behavior io_beh = {io_init, io_receive, NULL};

static tr_runtime *rt_new(unsigned workers) {
    tr_runtime_config cfg;
    tr_runtime_config_init(&cfg);
    cfg.workers = workers;
    tr_runtime *rt = NULL;
    return tr_runtime_new(&rt, &cfg) == 0 ? rt : NULL;
}

static tr_ref *io_actor(tr_runtime *rt, seen *s) {
    tr_spawn_opts o;
    memset(&o, 0, sizeof(o));
    o.state_size = sizeof(seen *);
    o.arg = s;
    tr_ref *ref = NULL;
    return tr_spawn(rt, &io_beh, &o, &ref) == 0 ? ref : NULL;
}

static int client_connect(int fd, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(fd, (struct sockaddr *)&a, sizeof(a));
}

/* --- listeners ------------------------------------------------------------------- */

#define PENDING 5
#define SPIN_WINDOW_MS 500
#define SPIN_MAX_CPU 0.15 /* seconds of CPU in the window; a spinning worker takes ~0.5 */

/* PENDING connections wait on a listener while the process has no fd left:
 * the runtime burns (almost) no CPU, accepts none, and accepts all of them
 * once fds are free again. */
static void listener_out_of_fds(void) {
    tr_runtime *rt = rt_new(2);
    TU_CHILD_CHECK(rt != NULL);
    seen s = {0};
    tr_ref *owner = io_actor(rt, &s);
    TU_CHILD_CHECK(owner != NULL);
    tr_tcp_listener *l;
    TU_CHILD_CHECK(tr_tcp_listen(owner, "127.0.0.1", 0, 64, 1, &l) == 0);
    int port = tr_tcp_listener_port(l);
    int cl[PENDING];
    for (int i = 0; i < PENDING; i++)
        TU_CHILD_CHECK((cl[i] = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    limit_fds(64);
    TU_CHILD_CHECK(tu_fd_hog() > 0);
    for (int i = 0; i < PENDING; i++) /* completes in the kernel's backlog */
        TU_CHILD_CHECK(client_connect(cl[i], port) == 0);
    tu_sleep_ms(50); /* the listener has seen them and failed by now */
    double cpu0 = cpu_seconds();
    tu_sleep_ms(SPIN_WINDOW_MS);
    double cpu = cpu_seconds() - cpu0;
    fprintf(stderr, "cpu while out of fds: %.3f s in %d ms\n", cpu, SPIN_WINDOW_MS);
    TU_CHILD_CHECK(cpu < SPIN_MAX_CPU);
    TU_CHILD_CHECK(tu_load(&s.accepted) == 0);
    tu_fd_give_back(-1);
    tu_fd_limit_restore();
    TU_CHILD_CHECK(tu_wait_ge(&s.accepted, PENDING, 5000)); /* resumes by itself */
    for (int i = 0; i < PENDING; i++)
        close(cl[i]);
    TU_CHILD_CHECK(tr_tcp_listener_close(l) == 0);
    tr_ref_release(owner);
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
}

static void listener_out_of_fds_does_not_spin_and_resumes(void **state) {
    (void)state;
    in_child(listener_out_of_fds);
}

/* Making a listener or a connection with no fd left fails with TR_ESYS and
 * leaves nothing behind; both work again once fds are free. */
static void sockets_out_of_fds(void) {
    tr_runtime *rt = rt_new(2);
    TU_CHILD_CHECK(rt != NULL);
    seen s = {0};
    tr_ref *owner = io_actor(rt, &s);
    TU_CHILD_CHECK(owner != NULL);
    tr_tcp_listener *l;
    TU_CHILD_CHECK(tr_tcp_listen(owner, "127.0.0.1", 0, 64, 1, &l) == 0);
    int port = tr_tcp_listener_port(l);
    tu_sleep_ms(20); /* the io state and the listener are on their loop */
    int base = tu_open_fds();
    limit_fds(64);
    tu_fd_hog();
    tr_tcp *c = (tr_tcp *)&s; /* must be reset to NULL */
    TU_CHILD_CHECK(tr_tcp_connect(owner, "127.0.0.1", (uint16_t)port, 2, &c) == TR_ESYS);
    TU_CHILD_CHECK(c == NULL);
    tr_tcp_listener *l2 = (tr_tcp_listener *)&s;
    TU_CHILD_CHECK(tr_tcp_listen(owner, "127.0.0.1", 0, 64, 3, &l2) == TR_ESYS);
    TU_CHILD_CHECK(l2 == NULL);
    tu_fd_give_back(-1);
    tu_fd_limit_restore();
    TU_CHILD_CHECK(tu_open_fds() == base);
    TU_CHILD_CHECK(tr_tcp_connect(owner, "127.0.0.1", (uint16_t)port, 2, &c) == 0);
    TU_CHILD_CHECK(tu_wait_ge(&s.connected, 1, 5000));
    TU_CHILD_CHECK(tu_wait_ge(&s.accepted, 1, 5000));
    TU_CHILD_CHECK(tu_load(&s.connect_failed) == 0);
    tr_tcp_close(c);
    TU_CHILD_CHECK(tr_tcp_listener_close(l) == 0);
    tr_ref_release(owner);
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
}

static void connect_and_listen_out_of_fds_return_esys(void **state) {
    (void)state;
    in_child(sockets_out_of_fds);
}

/* --- fd watches ------------------------------------------------------------------- */

/* A watch needs no fd of its own (the loop's epoll set grows): it can be made
 * and fires with none left. */
static void watch_out_of_fds(void) {
    tr_runtime *rt = rt_new(2);
    TU_CHILD_CHECK(rt != NULL);
    seen s = {0};
    tr_ref *owner = io_actor(rt, &s);
    TU_CHILD_CHECK(owner != NULL);
    int p[2];
    TU_CHILD_CHECK(pipe(p) == 0);
    limit_fds(64);
    tu_fd_hog();
    tr_fd_watch_id id;
    TU_CHILD_CHECK(tr_fd_watch(owner, p[0], TR_FD_READ, 7, &id) == 0);
    TU_CHILD_CHECK(write(p[1], "x", 1) == 1);
    TU_CHILD_CHECK(tu_wait_ge(&s.fd_ready, 1, 5000));
    TU_CHILD_CHECK(tr_fd_unwatch(rt, id) == 0);
    tu_fd_give_back(-1);
    tu_fd_limit_restore();
    tr_ref_release(owner);
    TU_CHILD_CHECK(tr_runtime_free(rt) == 0);
    close(p[0]); /* the loops have let go of them */
    close(p[1]);
}

static void fd_watch_works_out_of_fds(void **state) {
    (void)state;
    in_child(watch_out_of_fds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runtime_new_out_of_fds_returns_esys),
        cmocka_unit_test(listener_out_of_fds_does_not_spin_and_resumes),
        cmocka_unit_test(connect_and_listen_out_of_fds_return_esys),
        cmocka_unit_test(fd_watch_works_out_of_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
