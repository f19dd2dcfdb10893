/* isolate/ipool_child.c - the child side of isolated pools, and starting one.
 *
 * A child is this program started again by posix_spawn (tr__ipool_spawn),
 * with its socket on fd 3 and every other fd closed. Its main calls
 * tr_ipool_main, which finds the flag in argv, applies the limits, looks the
 * entry up in the table tr_ipool_register filled (the parent and the child
 * run the same main, so both tables hold the same entries), and loops:
 * wait in poll for the socket to hold something (see worker_loop for why
 * not in read), read whatever it holds, run the entry on each complete job frame
 * in order, append each reply frame, and write the replies in one write
 * once every complete frame read is handled (or at once after a job that
 * took 1 ms or more, so the parent's job deadline measures one job, not a
 * batch). EOF on the socket (the pool closed, or the parent died) ends the
 * child with exit 0; so does the parent's death while an entry runs, which
 * no read would see (die_with_parent). The child is single-threaded and never touches the
 * runtime: no troupe state crosses the exec.
 *
 * Why posix_spawn and not fork: fork() of a multi-threaded process copies
 * only the calling thread, with every lock another thread held locked (the
 * allocator's, the runtime's), so the child may run only async-signal-safe
 * code; an entry is arbitrary user code. glibc's posix_spawn uses
 * clone(CLONE_VM | CLONE_VFORK) and execs at once, which is safe from any
 * thread and costs no copy of the parent's page tables. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np (glibc 2.34) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

#include "base/atomic.h"
#include "isolate/ipool_child.h"
#include "troupe/error.h"
#include "troupe/msg.h"

extern char **environ;

#define MAX_ENTRIES 64
#define NAME_MAX_LEN 63

typedef struct entry {
    char name[NAME_MAX_LEN + 1];
    tr_ipool_fn fn;
    void *user;
} entry;

/* Written by tr_ipool_register before any thread starts (its contract),
 * read afterwards: no lock. */
static entry entries[MAX_ENTRIES];
static unsigned nentries;

static const entry *find_entry(const char *name) {
    for (unsigned i = 0; i < nentries; i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

int tr_ipool_register(const char *name, tr_ipool_fn fn, void *user) {
    if (name == NULL || fn == NULL || name[0] == '\0' || strlen(name) > NAME_MAX_LEN)
        return TR_EINVAL;
    if (find_entry(name) != NULL)
        return TR_EEXIST;
    if (nentries == MAX_ENTRIES)
        return TR_EFULL;
    entry *e = &entries[nentries++];
    strcpy(e->name, name);
    e->fn = fn;
    e->user = user;
    return 0;
}

bool tr__ipool_entry_is_known(const char *name) {
    return name != NULL && find_entry(name) != NULL;
}

/* --- the reply buffer ------------------------------------------------------ */

/* A reply under construction: its frame header sits in `out` at `at`, its
 * data follows. */
struct tr_ibuf {
    char *buf;
    size_t len, cap;
    size_t at; /* where this reply's header starts */
};

static int ibuf_reserve(tr_ibuf *b, size_t more) {
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    char *n = realloc(b->buf, cap);
    if (n == NULL)
        return TR_ENOMEM;
    b->buf = n;
    b->cap = cap;
    return 0;
}

static tr__iframe *ibuf_head(tr_ibuf *b) {
    return (tr__iframe *)(void *)(b->buf + b->at);
}

int tr_ibuf_set(tr_ibuf *reply, uint32_t type, uint64_t word) {
    if (reply == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    ibuf_head(reply)->type = type;
    ibuf_head(reply)->word = word;
    return 0;
}

int tr_ibuf_append(tr_ibuf *reply, const void *data, size_t n) {
    if (reply == NULL || (data == NULL && n > 0))
        return TR_EINVAL;
    if (n == 0)
        return 0;
    if (ibuf_head(reply)->len + (uint64_t)n > TR_MSG_MAX_SIZE)
        return TR_E2BIG;
    int rc = ibuf_reserve(reply, n);
    if (rc != 0)
        return rc;
    memcpy(reply->buf + reply->len, data, n);
    reply->len += n;
    ibuf_head(reply)->len += (uint32_t)n;
    return 0;
}

/* --- the worker loop ------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit rl = {soft, hard};
    if (setrlimit(resource, &rl) != 0)
        _exit(2);
}

static int worker_loop(int fd, const entry *e, tr__iprogress *prog) {
    char *in = NULL;
    size_t in_len = 0, in_cap = 0;
    tr_ibuf out = {0};
    for (;;) {
        size_t need = in_len + 65536;
        if (in_len >= sizeof(tr__iframe)) { /* room for the whole frame being read */
            const tr__iframe *h = (const tr__iframe *)(void *)in;
            if (sizeof(tr__iframe) + h->len > need)
                need = sizeof(tr__iframe) + h->len;
        }
        if (need > in_cap) {
            char *n = realloc(in, need);
            if (n == NULL)
                return 1;
            in = n;
            in_cap = need;
        }
        /* Sleep in poll for POLLIN, not in read: a unix socket's reader
         * and writers wait on one queue, and the router's recv of our
         * replies wakes it for write space (EPOLLOUT); poll's wait filters
         * on the events asked for, read's does not. bench ipool: 0.08
         * instead of 0.10 wake-ups and 0.11 instead of 0.14 context
         * switches per job, for one more system call per burst. */
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        ssize_t r = read(fd, in + in_len, in_cap - in_len);
        if (r == 0)
            break; /* the pool closed our socket */
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        in_len += (size_t)r;
        size_t off = 0;
        while (in_len - off >= sizeof(tr__iframe)) {
            tr__iframe h;
            memcpy(&h, in + off, sizeof(h));
            if (in_len - off < sizeof(h) + h.len)
                break;
            if (ibuf_reserve(&out, sizeof(tr__iframe)) != 0)
                return 1;
            out.at = out.len;
            tr__iframe rh = {.len = 0, .type = h.type, .code = 0, .word = 0};
            memcpy(out.buf + out.at, &rh, sizeof(rh));
            out.len += sizeof(rh);
            tr_ipool_job job = {h.type, h.attempt, h.word, in + off + sizeof(h), h.len};
            uint64_t t0 = now_us();
            /* Release: the start time before the count; pairs with the
             * watchdog's acquire after its load of started (isolate/ipool.c,
             * watchdog), so the time it reads is this job's or a later one's. */
            ck_pr_store_64(&prog->start_ms, t0 / 1000);
            ck_pr_fence_release();
            ck_pr_store_64(&prog->started, prog->started + 1);
            int rc = e->fn(e->user, &job, &out);
            /* Release: the next start_ms comes after this count (same pair). */
            ck_pr_fence_release();
            ck_pr_store_64(&prog->done, prog->done + 1);
            if (rc != 0) { /* a failed job: no data, the code says why */
                out.len = out.at + sizeof(tr__iframe);
                ibuf_head(&out)->len = 0;
                ibuf_head(&out)->code = rc;
            }
            off += sizeof(h) + h.len;
            if (now_us() - t0 >= 1000) { /* a slow job: answer it now */
                if (write_all(fd, out.buf, out.len) != 0)
                    return 1;
                out.len = 0;
            }
        }
        memmove(in, in + off, in_len - off);
        in_len -= off;
        if (out.len > 0) {
            if (write_all(fd, out.buf, out.len) != 0)
                return 1;
            out.len = 0;
        }
    }
    free(in);
    free(out.buf);
    return 0;
}

/* The parent process at the child's start (see die_with_parent). */
static pid_t parent_at_start;

static void on_parent_thread_end(int sig) {
    (void)sig;
    if (getppid() != parent_at_start) /* reparented: the parent process is gone */
        _exit(0);
}

/* A child whose entry hangs (or computes) reads no EOF: without this it
 * would outlive a parent killed by SIGKILL or the OOM killer, for ever.
 * PR_SET_PDEATHSIG signals us when the thread that spawned us ends, not
 * the process: a runtime worker at tr_runtime_free, or a foreign thread
 * that called tr_ipool_start and returned. The kernel then gives us to
 * another thread of the same process (getppid() is unchanged, and the
 * signal comes again when that one ends) or, once the process is gone, to
 * a reaper (getppid() changes): only then do we leave. SA_RESTART: an
 * entry's system calls restart after a parent thread's end. A parent that
 * died before the prctl is caught by the check after it, or by EOF. */
static void die_with_parent(void) {
    parent_at_start = getppid();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_parent_thread_end;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(TR__IPOOL_PARENT_SIG, &sa, NULL) != 0 ||
        prctl(PR_SET_PDEATHSIG, TR__IPOOL_PARENT_SIG) != 0)
        return; /* EOF still ends a child that reads */
    if (getppid() != parent_at_start)
        _exit(0);
}

int tr_ipool_main(int argc, char **argv) {
    if (argc < 2 || argv == NULL || argv[1] == NULL || strcmp(argv[1], TR__IPOOL_FLAG) != 0)
        return 0;
    if (argc != 6)
        exit(2);
    const entry *e = find_entry(argv[2]);
    char *end;
    long fd = strtol(argv[3], &end, 10);
    if (e == NULL || *end != '\0' || fd != TR__IPOOL_CHILD_FD)
        exit(2);
    unsigned long long as = strtoull(argv[4], &end, 10);
    unsigned long cpu = strtoul(argv[5], &end, 10);
    if (as != 0)
        limit(RLIMIT_AS, (rlim_t)as, (rlim_t)as);
    if (cpu != 0)
        limit(RLIMIT_CPU, (rlim_t)cpu, (rlim_t)cpu + 1);
    die_with_parent();
    void *page = mmap(NULL, TR__IPOOL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
                      TR__IPOOL_PROGRESS_FD, 0);
    if (page == MAP_FAILED)
        exit(2);
    close(TR__IPOOL_PROGRESS_FD);
    int rc = worker_loop((int)fd, e, page);
    close((int)fd);
    exit(rc);
}

/* --- starting a child (in the parent) --------------------------------------- */

static int spawn_with(const char *exe, const char *entry_name, uint64_t rlimit_as,
                      uint32_t rlimit_cpu_s, int sv[2], int mfd, pid_t *pid, int *pidfd);

int tr__ipool_spawn(const char *exe, const char *entry_name, uint64_t rlimit_as,
                    uint32_t rlimit_cpu_s, pid_t *pid, int *pidfd, int *sock,
                    tr__iprogress **prog) {
    int mfd = memfd_create("troupe-ipool", MFD_CLOEXEC);
    if (mfd < 0)
        return TR_ESYS;
    void *page = MAP_FAILED;
    if (ftruncate(mfd, TR__IPOOL_PAGE) == 0)
        page = mmap(NULL, TR__IPOOL_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (page == MAP_FAILED) {
        int e2 = errno;
        close(mfd);
        errno = e2;
        return TR_ESYS;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        int e2 = errno;
        munmap(page, TR__IPOOL_PAGE);
        close(mfd);
        errno = e2;
        return TR_ESYS;
    }
    int rc = spawn_with(exe, entry_name, rlimit_as, rlimit_cpu_s, sv, mfd, pid, pidfd);
    close(mfd); /* the child has its copy; our mapping stays */
    if (rc != 0) {
        munmap(page, TR__IPOOL_PAGE);
        return rc;
    }
    *sock = sv[0];
    *prog = page;
    return 0;
}

/* tr__ipool_spawn with the socketpair and the memfd made: closes sv[1] (and
 * sv[0] on error). */
static int spawn_with(const char *exe, const char *entry_name, uint64_t rlimit_as,
                      uint32_t rlimit_cpu_s, int sv[2], int mfd, pid_t *pid, int *pidfd) {
    char fdarg[16], asarg[24], cpuarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", TR__IPOOL_CHILD_FD);
    snprintf(asarg, sizeof(asarg), "%llu", (unsigned long long)rlimit_as);
    snprintf(cpuarg, sizeof(cpuarg), "%u", rlimit_cpu_s);
    char *argv[] = {(char *)exe, TR__IPOOL_FLAG, (char *)entry_name, fdarg, asarg, cpuarg, NULL};

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = TR_ESYS, err;
    if ((err = posix_spawn_file_actions_init(&fa)) != 0) {
        close(sv[0]);
        close(sv[1]);
        errno = err;
        return TR_ENOMEM;
    }
    if ((err = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(sv[0]);
        close(sv[1]);
        errno = err;
        return TR_ENOMEM;
    }
    /* The child's socket on fd 3 (dup2 onto itself clears FD_CLOEXEC), every
     * other fd above 2 closed: a child holding a sibling's socket would keep
     * that sibling from seeing EOF. Signals: an empty mask (runtime threads
     * may block some) and default actions for the ones a crash or a limit
     * raises, so a child dies of them as it should. */
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
                                        SIGXCPU, SIGPIPE, SIGTERM, SIGINT};
    for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
        sigaddset(&dfl, crash_signals[i]);
    /* Park both above either (so that neither copy overwrites the other:
     * sv[1] may be fd 4, the memfd fd 3), then onto 3 and 4. */
    int park = (sv[1] > mfd ? sv[1] : mfd) + 1;
    err = posix_spawn_file_actions_adddup2(&fa, sv[1], park);
    if (err == 0)
        err = posix_spawn_file_actions_adddup2(&fa, mfd, park + 1);
    if (err == 0)
        err = posix_spawn_file_actions_adddup2(&fa, park, TR__IPOOL_CHILD_FD);
    if (err == 0)
        err = posix_spawn_file_actions_adddup2(&fa, park + 1, TR__IPOOL_PROGRESS_FD);
    if (err == 0)
        err = posix_spawn_file_actions_addclosefrom_np(&fa, TR__IPOOL_PROGRESS_FD + 1);
    if (err == 0)
        err = posix_spawnattr_setsigmask(&at, &none);
    if (err == 0)
        err = posix_spawnattr_setsigdefault(&at, &dfl);
    if (err == 0)
        err = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t child = -1;
    if (err == 0)
        err = posix_spawn(&child, exe, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sv[1]);
    if (err != 0) {
        close(sv[0]);
        errno = err;
        return err == ENOMEM ? TR_ENOMEM : TR_ESYS;
    }
    int pfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (pfd < 0 && errno != ENOSYS) {
        int e2 = errno;
        kill(child, SIGKILL);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
        }
        close(sv[0]);
        errno = e2;
        return rc;
    }
    int fl = fcntl(sv[0], F_GETFL);
    if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        int e2 = errno;
        kill(child, SIGKILL);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
        }
        if (pfd >= 0)
            close(pfd);
        close(sv[0]);
        errno = e2;
        return rc;
    }
    *pid = child;
    *pidfd = pfd;
    return 0;
}
