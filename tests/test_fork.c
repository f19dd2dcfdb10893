/* tests/test_fork.c - fork() with live runtimes (issue 16).
 *
 * In the child the parent's runtimes are unusable: every call on them
 * returns TR_EFORKED (or, for the calls that only read, reports it) and
 * never waits on a lock or a thread of the parent; tr_runtime_free releases
 * them. A new runtime works. The parent is unaffected. A child that hangs
 * is killed after CHILD_MS and fails the test; a child reports a failed
 * check by its exit code (the line of the check). Children leave with
 * _exit: the parent's runtimes' memory is not all released in the child
 * (docs/getting-started.md, "Lifecycle"), and atexit handlers are the
 * parent's business. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "troupe.h"

/* TSan cannot follow a thread started in the child of a multi-threaded
 * process ("dup thread with used id", exit 66), and the ASan runtime of GCC
 * 12 does not hold its allocator's locks across fork() (LLVM's has since
 * release 17), so a child whose malloc meets a lock that a parent thread
 * held at the fork waits forever: under either sanitizer the children do
 * not make a fresh runtime; everything else is checked the same. */
#if defined(TROUPE_TSAN) || defined(__SANITIZE_ADDRESS__)
#define CHILD_STARTS_THREADS 0
#else
#define CHILD_STARTS_THREADS 1
#endif

#define CHILD_MS 10000
#define ROUNDS (120 / TU_SANITIZER_SLOWDOWN)

/* In a child: on failure, exit with the line (1..255) instead of asserting. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (getenv("FORK_DEBUG"))                                                                  \
            fprintf(stderr, "%d %lld line %d\n", (int)getpid(), (long long)tu_now_ms(), __LINE__); \
        if (!(cond))                                                                               \
            _exit(__LINE__ % 255 + 1);                                                             \
    } while (0)

enum { PING = 1, ECHO = 2 };

/* Answers asks with their word + 1; a PING bounces to the sender's partner. */
static int echo_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    tr_ref *peer = state;
    if (msg->type == ECHO && tr_msg_wants_reply(msg))
        return tr_reply_word(msg, ECHO, msg->word + 1), 0;
    if (msg->type == PING && peer != NULL)
        (void)tr_send_word(peer, PING, msg->word + 1);
    (void)ctx;
    return 0;
}

static const tr_behavior echo_beh = {NULL, echo_receive, NULL};

/* Wait for pid; kill it after CHILD_MS. Its exit code, or -1 if killed. */
static int reap(pid_t pid) {
    int64_t t0 = tu_now_ms();
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
        if (r < 0 && errno != EINTR)
            return -2;
        if (tu_now_ms() - t0 > CHILD_MS) {
            if (getenv("FORK_DEBUG")) {
                fprintf(stderr, "hung child %d\n", (int)pid);
                sleep(1000);
            }
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        tu_sleep_ms(1);
    }
}

/* In the child: a fresh runtime spawns, sends, answers an ask, frees. */
static void fresh_runtime_works(void) {
    if (!CHILD_STARTS_THREADS)
        return;
    tr_runtime *rt = tu_runtime_new(2);
    CHECK(rt != NULL);
    tr_ref *e = NULL;
    CHECK(tr_spawn(rt, &echo_beh, NULL, &e) == 0);
    CHECK(tr_send_word(e, PING, 1) == 0);
    tr_future *f = NULL;
    CHECK(tr_ask_word(e, ECHO, 41, &f) == 0);
    tr_msg *reply = NULL;
    CHECK(tr_future_wait(f, TU_WAIT_MS, &reply) == 0);
    CHECK(reply->word == 42);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(e);
    CHECK(tr_runtime_free(rt) == 0);
}

/* --- fork with a busy runtime -------------------------------------------------- */

static uint64_t stop_senders;
static tr_ref *busy_a, *busy_b;

static void *sender_main(void *arg) {
    (void)arg;
    while (!tu_load(&stop_senders)) {
        (void)tr_send_word(busy_a, PING, 0);
        tr_future *f = NULL;
        if (tr_ask_word(busy_b, ECHO, 1, &f) == 0) {
            tr_msg *r = NULL;
            if (tr_future_wait(f, TU_WAIT_MS, &r) == 0)
                tr_msg_free(r);
            tr_future_release(f);
        }
    }
    return NULL;
}

static void child_of_a_busy_runtime(tr_runtime *old, tr_ref *a) {
    int64_t t0 = tu_now_ms();
    CHECK(tr_send_word(a, PING, 0) == TR_EFORKED);
    CHECK(tr_send(a, PING, "x", 1) == TR_EFORKED);
    tr_future *f = NULL;
    CHECK(tr_ask_word(a, ECHO, 1, &f) == TR_EFORKED);
    CHECK(f == NULL);
    tr_ref *r = NULL;
    CHECK(tr_spawn(old, &echo_beh, NULL, &r) == TR_EFORKED);
    CHECK(tr_whereis(old, "busy", &r) == TR_EFORKED);
    CHECK(tr_register(a, "other") == TR_EFORKED);
    CHECK(tr_unregister(old, "busy") == TR_EFORKED);
    CHECK(tr_group_join(a, "g") == TR_EFORKED);
    CHECK(tr_actor_stop(a) == TR_EFORKED);
    CHECK(tr_actor_kill(a) == TR_EFORKED);
    CHECK(tr_timer_cancel(old, 1) == TR_EFORKED);
    tr_runtime_stats st;
    CHECK(tr_runtime_stats_get(old, &st) == TR_EFORKED);
    CHECK(tr_runtime_is_closed(old));
    CHECK(tr_runtime_close(old) == TR_EFORKED);
    CHECK(tr_runtime_drain(old, 10, NULL) == TR_EFORKED);
    CHECK(tr_runtime_drain_async(old, 10) == TR_EFORKED);
    CHECK(tr_runtime_join(old) == TR_EFORKED);
    CHECK(tr_ref_release(a) == TR_EFORKED);
    CHECK(tu_now_ms() - t0 < CHILD_MS / 2);
    fresh_runtime_works();
    CHECK(tr_runtime_free(old) == 0); /* releases without joining */
    _exit(0);
}

static void fork_with_a_busy_runtime(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tr_ref *b = NULL, *a = NULL;
    assert_int_equal(tr_spawn(rt, &echo_beh, NULL, &b), 0);
    tr_spawn_opts o = {.arg = b}; /* a's state: its partner b */
    assert_int_equal(tr_spawn(rt, &echo_beh, &o, &a), 0);
    assert_int_equal(tr_register(a, "busy"), 0);
    busy_a = a;
    busy_b = b;
    tu_store(&stop_senders, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sender_main, NULL), 0);
    tu_sleep_ms(20);
    for (int round = 0; round < 5; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_of_a_busy_runtime(rt, a);
        assert_int_equal(reap(pid), 0);
    }
    tu_store(&stop_senders, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    /* The parent is unaffected. */
    tr_future *f = NULL;
    assert_int_equal(tr_ask_word(b, ECHO, 9, &f), 0);
    tr_msg *reply = NULL;
    assert_int_equal(tr_future_wait(f, TU_WAIT_MS, &reply), 0);
    assert_int_equal(reply->word, 10);
    tr_msg_free(reply);
    tr_future_release(f);
    tr_ref_release(a);
    tr_ref_release(b);
    assert_int_equal(tr_runtime_free(rt), 0);
}

/* --- fork while other threads are inside the runtime's locks ------------------- */

static tr_runtime *lock_rt;
static tr_ref *lock_ref;
static uint64_t paused; /* a child runs: leave it the CPU (2 cores, loaded) */

static void pause_point(void) {
    while (tu_load(&paused) && !tu_load(&stop_senders))
        tu_sleep_ms(1);
}

static void *registry_main(void *arg) {
    (void)arg;
    while (!tu_load(&stop_senders)) {
        pause_point();
        (void)tr_register(lock_ref, "held");
        tr_ref *r = NULL;
        if (tr_whereis(lock_rt, "held", &r) == 0)
            tr_ref_release(r);
        (void)tr_unregister(lock_rt, "held");
        (void)tr_group_join(lock_ref, "grp");
        (void)tr_group_leave(lock_ref, "grp");
    }
    return NULL;
}

static void *send_main(void *arg) {
    (void)arg;
    for (unsigned i = 0; !tu_load(&stop_senders); i++) {
        pause_point();
        (void)tr_send(lock_ref, PING, "abcdefgh", 8);
        tr_ref *r = NULL;
        if (i % 16 == 0 && tr_spawn(lock_rt, &echo_beh, NULL, &r) == 0) {
            (void)tr_actor_stop(r);
            tr_ref_release(r);
        }
        /* No backlog: the workers keep up, so the heap stays small (a
         * fork copies its page tables). */
        while (tr_ref_mailbox_len(lock_ref) > 256 && !tu_load(&stop_senders))
            sched_yield();
    }
    return NULL;
}

static void fork_while_threads_hold_locks_never_hangs(void **state) {
    (void)state;
    lock_rt = tu_runtime_new(2);
    assert_non_null(lock_rt);
    assert_int_equal(tr_spawn(lock_rt, &echo_beh, NULL, &lock_ref), 0);
    tu_store(&stop_senders, 0);
    tu_store(&paused, 0);
    pthread_t t[3];
    assert_int_equal(pthread_create(&t[0], NULL, registry_main, NULL), 0);
    assert_int_equal(pthread_create(&t[1], NULL, send_main, NULL), 0);
    assert_int_equal(pthread_create(&t[2], NULL, send_main, NULL), 0);
    int failed = 0;
    for (int round = 0; round < ROUNDS && !failed; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            tr_ref *r = NULL;
            CHECK(tr_whereis(lock_rt, "held", &r) == TR_EFORKED);
            CHECK(tr_send(lock_ref, PING, "abcdefgh", 8) == TR_EFORKED);
            CHECK(tr_register(lock_ref, "held") == TR_EFORKED);
            CHECK(tr_group_leave(lock_ref, "grp") == TR_EFORKED);
            tr_msg *m = NULL; /* the message cache's process-wide lock is free */
            CHECK(tr_msg_new(&m, PING, 512) == 0);
            tr_msg_free(m);
            if (round % 20 == 0)
                fresh_runtime_works();
            CHECK(tr_runtime_free(lock_rt) == 0);
            _exit(0);
        }
        tu_store(&paused, 1);
        int rc = reap(pid);
        tu_store(&paused, 0);
        tu_sleep_ms(1); /* the threads are back inside the runtime's calls */
        if (rc != 0) {
            fprintf(stderr, "round %d: child exit %d\n", round, rc);
            failed = 1;
        }
    }
    tu_store(&stop_senders, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(failed, 0);
    tr_ref_release(lock_ref);
    assert_int_equal(tr_runtime_free(lock_rt), 0);
}

/* --- fork from inside an actor ------------------------------------------------- */

static uint64_t inner_rc;

static int forker_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    (void)state;
    (void)msg;
    tr_runtime *rt = tr_ctx_runtime(ctx);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child's thread is no actor nor worker any more. */
        CHECK(tr_send_word(tr_self(ctx), PING, 0) == TR_EFORKED);
        CHECK(tr_runtime_worker_id(rt) == TR_ENOTFOUND);
        fresh_runtime_works();
        _exit(0);
    }
    tu_store(&inner_rc, (uint64_t)(reap(pid) + 1000));
    return 0;
}

static const tr_behavior forker_beh = {NULL, forker_receive, NULL};

static void fork_from_an_actor(void **state) {
    (void)state;
    tr_runtime *rt = tu_runtime_new(2);
    assert_non_null(rt);
    tu_store(&inner_rc, 0);
    tr_ref *r = NULL;
    assert_int_equal(tr_spawn(rt, &forker_beh, NULL, &r), 0);
    assert_int_equal(tr_send_word(r, PING, 0), 0);
    assert_true(tu_wait_ge(&inner_rc, 1, TU_WAIT_MS));
    assert_int_equal(tu_load(&inner_rc), 1000);
    tr_ref_release(r);
    assert_int_equal(tr_runtime_free(rt), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fork_with_a_busy_runtime),
        cmocka_unit_test(fork_while_threads_hold_locks_never_hangs),
        cmocka_unit_test(fork_from_an_actor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
