/* tests/support/testutil.h - small helpers shared by the test programs.
 *
 * Counters: tests record what threads and actors did in plain uint64_t
 * counters touched only through tu_add/tu_load/tu_store (GCC __atomic
 * builtins, seq_cst, which TSan understands). Threads never call cmocka
 * asserts; the test thread waits with tu_wait_* and asserts on the result.
 *
 * Waiting: every wait has a deadline (TU_WAIT_MS, generous, for a loaded
 * 2-core machine under TSan) so a bug fails the test instead of hanging it.
 * Deadlines only bound waits; no test asserts that something was fast.
 *
 * Gate: tu_gate_block() parks one runtime worker inside an actor until
 * tu_gate_open(). With a 1-worker runtime that freezes scheduling, so a test
 * can queue messages, stops and asks and know none of them ran yet. */
#ifndef TROUPE_TESTS_TESTUTIL_H
#define TROUPE_TESTS_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h> /* _exit in TU_CHILD_CHECK */

#include "troupe.h"

/* The deadline of every wait in the tests. */
#define TU_WAIT_MS 30000

/* Sanitizer builds run slower: stress tests divide their counts by this
 * where they say so (TSan: 10, ASan: 2, otherwise 1). */
#if defined(TROUPE_TSAN)
#define TU_SANITIZER_SLOWDOWN 10
#elif defined(__SANITIZE_ADDRESS__)
#define TU_SANITIZER_SLOWDOWN 2
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_SANITIZER_SLOWDOWN 2
#endif
#endif
#ifndef TU_SANITIZER_SLOWDOWN
#define TU_SANITIZER_SLOWDOWN 1
#endif

/* --- counters ------------------------------------------------------------ */
static inline uint64_t tu_load(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}
static inline void tu_store(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}
/* Returns the new value. */
static inline uint64_t tu_add(uint64_t *p, uint64_t n) {
    return __atomic_add_fetch(p, n, __ATOMIC_SEQ_CST);
}

/* --- time and waiting ---------------------------------------------------- */
/* Monotonic milliseconds. */
int64_t tu_now_ms(void);
/* Sleep about ms milliseconds. */
void tu_sleep_ms(int64_t ms);
/* Wait until *p >= n (1) or timeout_ms passed (0). */
int tu_wait_ge(const uint64_t *p, uint64_t n, int64_t timeout_ms);
/* Wait until pred(arg) is non-zero (1) or timeout_ms passed (0). */
int tu_wait_until(int (*pred)(void *arg), void *arg, int64_t timeout_ms);
/* Wait until the runtime's live actor count is n (1) or the deadline (0). */
int tu_wait_alive(tr_runtime *rt, uint64_t n, int64_t timeout_ms);

/* --- child processes and fds ---------------------------------------------- */
/* In a forked child (no cmocka there): on failure, say which check and exit
 * with its line (1..200), which tu_in_child returns. _exit, not exit: the
 * child may be out of fds (LeakSanitizer's exit scan then hung until the
 * child's deadline) and the test has failed anyway. */
#define TU_CHILD_CHECK(cond)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed, line %d: %s\n", __LINE__, #cond);                 \
            fflush(stderr);                                                                        \
            _exit(__LINE__ % 200 + 1);                                                             \
        }                                                                                          \
    } while (0)

/* Fd exhaustion, for tests that run in a child (tu_in_child): a failed
 * getrlimit/setrlimit fails the child (TU_CHILD_CHECK).
 * tu_fd_limit: RLIMIT_NOFILE's soft limit becomes cur (the one before is
 * kept for tu_fd_limit_restore). tu_lowest_free_fd: the lowest fd not open.
 * tu_fd_hog: takes every free fd (dups of 0, up to 4096); returns how many
 * it holds. tu_fd_give_back: closes the last n it took (all if n < 0). */
void tu_fd_limit(long cur);
void tu_fd_limit_restore(void);
int tu_lowest_free_fd(void);
int tu_fd_hog(void);
void tu_fd_give_back(int n);

/* Run fn in a forked child, which exits 0 when fn returns. 0 once it did;
 * its exit status (1..255); 256 + the signal that killed it; -1 if fork
 * failed or the child ran past deadline_ms (it is then killed and reaped). */
int tu_in_child(void (*fn)(void), int64_t deadline_ms);
/* Reap child pid, waiting up to timeout_ms: pid once reaped (*status as
 * from waitpid), 0 if it still runs then, -1 on error. */
pid_t tu_waitpid_ms(pid_t pid, int *status, int64_t timeout_ms);

/* This process's open fds (from /proc/self/fd, not counting the one used to
 * read it), or -1 if it cannot be read (e.g. no fd left). */
int tu_open_fds(void);

/* This process's child processes, zombies included (the ppid in
 * /proc/<pid>/stat), the first one found in *first (may be NULL); -1 if
 * /proc cannot be read. */
int tu_children(int *first);

/* --- runtimes ------------------------------------------------------------ */
/* A runtime with `workers` workers and otherwise default settings (NULL on
 * failure). With TROUPE_TEST_MODE=current in the environment (the *_ct
 * tests of CMake), a current-thread runtime instead, driven by a thread
 * this starts (tr_runtime_run) until the runtime exits: the tests that hold
 * in both modes run in both. */
/* A retained handle to the running child `id` of supervisor sup (the first
 * TU_SUP_CHILDREN children are looked at), or NULL if it is not running. */
#define TU_SUP_CHILDREN 64
tr_ref *tu_sup_child(tr_ref *sup, const char *id);

tr_runtime *tu_runtime_new(unsigned workers);
/* The same from a whole config (hooks, keep_open...): its mode and workers
 * are overridden with TROUPE_TEST_MODE=current. */
tr_runtime *tu_runtime_new_cfg(const tr_runtime_config *cfg);

/* Start hangdump.c's watchdog if it is not running (tu_runtime_new does;
 * other builds than TSan start it before main). Idempotent. */
void tu_hangdump_start(void);
/* 1 if TROUPE_TEST_MODE=current (tests skip what needs several workers). */
int tu_mode_current(void);

/* --- the gate ------------------------------------------------------------ */
typedef struct tu_gate {
    uint64_t entered; /* the blocker is running */
    uint64_t open;    /* set by tu_gate_open */
    tr_ref *ref;
} tu_gate;

/* Spawn an actor on rt that blocks the worker it runs on until
 * tu_gate_open(g); returns once it is blocking (0) or an error code. */
int tu_gate_block(tr_runtime *rt, tu_gate *g);
/* Let the blocker go; it stops itself and its handle is released. */
void tu_gate_open(tu_gate *g);

#endif
