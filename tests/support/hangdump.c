/* tests/support/hangdump.c - every thread's stack when a test program hangs.
 *
 * ctest kills a test program at its timeout (300 s) and shows only what it
 * printed: a hang in CI then says which test, never where. This file is
 * linked into every test program (tests/support is an object library) and
 * starts, before main (under ASan and TSan: with the first
 * tu_runtime_new), a
 * thread that sleeps until TU_HANG_S seconds (default 240, below ctest's
 * timeout; 0 turns it off) after the program's start. If the
 * program is still running then, it signals every thread of the process
 * (/proc/self/task), and each one prints its own stack to stderr from the
 * signal handler, one at a time; then the program aborts, so the test
 * fails with the stacks in its output.
 *
 * Printing from a signal handler is not async-signal-safe, which is
 * acceptable for a process about to abort: the stacks are best effort.
 * ASan builds print through ASan's own symbolizing unwinder
 * (__sanitizer_print_stack_trace); plain and TSan builds record frames with
 * glibc's backtrace, and the watchdog names them with addr2line. Under TSan
 * a thread blocked in a raw system call (a futex) takes the signal only
 * when it returns: it is counted as not answering.
 * An isolated pool's child is this program started again with the pool's
 * flag (isolate/ipool_child.h): it gets no watchdog (it is single-threaded
 * by contract, and has its own limits). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "isolate/ipool_child.h"
#include "support/testutil.h"

/* ASan prints a symbolized stack from a handler; TSan would report its
 * own printing as a signal-unsafe call (and halt), so it records frames as
 * plain builds do. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_SANITIZER_STACKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_SANITIZER_STACKS 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifdef HAVE_SANITIZER_STACKS
void __sanitizer_print_stack_trace(void);
#endif

#define DEFAULT_HANG_S 240
#define MAX_FRAMES 64

static int dump_signal;
static int pending; /* handlers not finished yet */

#ifdef HAVE_SANITIZER_STACKS
static int turn; /* the handler that may print now: taken by CAS */

/* Each thread prints its own stack, one at a time. */
static void on_dump(int sig) {
    (void)sig;
    int saved = errno;
    while (!__atomic_compare_exchange_n(&turn, &(int){0}, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        sched_yield();
    fprintf(stderr, "--- hangdump: thread %ld\n", (long)syscall(SYS_gettid));
    fflush(stderr);
    __sanitizer_print_stack_trace();
    __atomic_store_n(&turn, 0, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&pending, 1, __ATOMIC_RELEASE);
    errno = saved;
}

static void print_stacks(void) {}
#else
#define MAX_THREADS 128

/* Each thread records its frames (backtrace is safe in a handler once
 * libgcc's unwinder is loaded: watch_main calls it first); the watchdog
 * prints them. */
static struct stack {
    long tid;
    int n;
    void *frames[MAX_FRAMES];
} stacks[MAX_THREADS];
static int nstacks;

static void on_dump(int sig) {
    (void)sig;
    int saved = errno;
    int i = __atomic_fetch_add(&nstacks, 1, __ATOMIC_RELAXED);
    if (i < MAX_THREADS) {
        stacks[i].tid = (long)syscall(SYS_gettid);
        stacks[i].n = backtrace(stacks[i].frames, MAX_FRAMES);
    }
    __atomic_sub_fetch(&pending, 1, __ATOMIC_RELEASE);
    errno = saved;
}

/* Function and line of each frame in this program (addr2line, from
 * binutils, beside the compiler); the raw frames if that fails. */
static void print_stack(const struct stack *st) {
    fprintf(stderr, "--- hangdump: thread %ld\n", st->tid);
    fflush(stderr);
    char cmd[64 + MAX_FRAMES * 20];
    int len = snprintf(cmd, sizeof(cmd), "addr2line -f -i -p -e /proc/%d/exe", (int)getpid());
    int any = 0;
    for (int i = 0; i < st->n; i++) {
        Dl_info info;
        if (dladdr(st->frames[i], &info) == 0 || info.dli_fname == NULL ||
            strcmp(info.dli_fname, program_invocation_name) != 0)
            continue;
        /* A return address: the call is the byte before it. */
        uintptr_t off = (uintptr_t)st->frames[i] - (uintptr_t)info.dli_fbase - 1;
        len += snprintf(cmd + len, sizeof(cmd) - (size_t)len, " %#lx", (unsigned long)off);
        any = 1;
    }
    FILE *p = any ? popen(cmd, "r") : NULL;
    if (p == NULL) {
        backtrace_symbols_fd(st->frames, st->n, STDERR_FILENO);
        return;
    }
    char line[512];
    while (fgets(line, sizeof(line), p) != NULL)
        fprintf(stderr, "    %s", line);
    pclose(p);
}

static void print_stacks(void) {
    int n = __atomic_load_n(&nstacks, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n && i < MAX_THREADS; i++)
        print_stack(&stacks[i]);
}
#endif

/* Signal every thread but this one; returns how many were signalled. */
static int signal_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return 0;
    pid_t self = (pid_t)syscall(SYS_gettid);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == self)
            continue;
        __atomic_add_fetch(&pending, 1, __ATOMIC_RELAXED);
        if (syscall(SYS_tgkill, getpid(), tid, dump_signal) == 0)
            n++;
        else
            __atomic_sub_fetch(&pending, 1, __ATOMIC_RELAXED);
    }
    closedir(d);
    return n;
}

/* Set before main: the deadline (CLOCK_MONOTONIC), or tv_sec 0 for none. */
static struct timespec deadline;
static unsigned hang_s;

static void *watch_main(void *arg) {
    (void)arg;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) == EINTR) {
    }
    unsigned secs = hang_s;
    fprintf(stderr,
            "--- hangdump: %s still running after %u s (TU_HANG_S); the stacks of its threads "
            "follow, then it aborts\n",
            program_invocation_short_name, secs);
    fflush(stderr);
#ifndef HAVE_SANITIZER_STACKS
    void *warm[1];
    backtrace(warm, 1); /* loads libgcc's unwinder here, not in a handler */
#endif
    int n = signal_threads();
    for (int i = 0; i < 500 && __atomic_load_n(&pending, __ATOMIC_ACQUIRE) > 0; i++)
        usleep(10 * 1000);
    fprintf(stderr, "--- hangdump: %d threads signalled, %d did not answer\n", n,
            __atomic_load_n(&pending, __ATOMIC_ACQUIRE));
    fflush(stderr);
    print_stacks();
    abort();
    return NULL;
}

static void start_thread(void) {
    if (deadline.tv_sec == 0)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_dump;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(dump_signal, &sa, NULL) != 0)
        return;
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) != 0)
        return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_create(&t, &attr, watch_main, NULL);
    pthread_attr_destroy(&attr);
}

void tu_hangdump_start(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, start_thread);
}

/* The clock starts before main. The thread starts here too in plain
 * builds. Under the sanitizers it starts with the first runtime
 * (tu_runtime_new), when the process has threads anyway: the fd and log
 * tests fork before they make a runtime, and a fork child of a process
 * with more threads than the forking one fares badly there (TSan kills it
 * when it starts threads; under ASan test_contracts_exhaust's console
 * child failed 2 runs in 21, 0 in 40 without the watchdog thread). */
__attribute__((constructor)) static void hangdump_init(int argc, char **argv) {
    if (argc > 1 && argv != NULL && argv[1] != NULL && strcmp(argv[1], TR__IPOOL_FLAG) == 0)
        return;
    const char *env = getenv("TU_HANG_S");
    long secs = env != NULL ? strtol(env, NULL, 10) : DEFAULT_HANG_S;
    if (secs <= 0)
        return;
    hang_s = (unsigned)secs;
    dump_signal = SIGRTMIN + 4;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += secs;
#if !defined(UNDER_TSAN) && !defined(HAVE_SANITIZER_STACKS)
    tu_hangdump_start();
#endif
}
