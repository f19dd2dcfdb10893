/* troupe/ipool.h - process-isolated pools: workers in child processes.
 *
 * A process-isolated pool is a supervised pool (troupe/pool.h) whose workers
 * are child processes. A NULL dereference, an abort, the OOM killer or a job
 * that never returns kills one child, never the program: the pool sees the
 * death through its libev loop (a pidfd), redelivers the job that was running
 * up to max_redeliveries times, then dead-letters it, and respawns the child
 * under the pool's restart intensity and backoff. A respawn that fails (out
 * of fds, processes or memory) counts against the intensity as a death
 * does: past it the pool reports that it gives up (TR_LOG_ERROR) and ends
 * with TR_ECRASHED, dead-lettering its jobs, rather than retry forever. With job_timeout_ms, a
 * child that spends longer than that on one job gets SIGKILL (a watchdog
 * that really kills).
 *
 * The handle is the same kind of tr_ref as tr_pool_start's: tr_send*,
 * tr_ask*, tr_request and tr_forward work on it unchanged, from any thread,
 * and so do tr_pool_retain, tr_pool_release, tr_pool_close,
 * tr_pool_try_add_worker(_async), tr_pool_try_remove_worker(_async),
 * tr_pool_stats_get and tr_pool_stats_async (docs/supervision.md, "Process
 * isolation").
 *
 * Jobs and replies are bytes. What crosses to the child is a job message's
 * type, word and inline data (tr_msg_data, msg->size bytes); a ptr payload
 * does not cross (it is freed with the job as usual): encode anything else
 * into the data (a user codec). The child runs the entry registered under
 * the pool's entry name, one job at a time, and its reply (type, word,
 * bytes) becomes a message answering the job: an ask's future or a
 * tr_request's mailbox gets it, a tell with a sender gets it as a tell (as
 * tr_reply_msg), a tell without one drops it.
 *
 * How children start: by posix_spawn of the program itself (/proc/self/exe
 * unless the config names another executable), with arguments that make its
 * tr_ipool_main enter the worker loop. Nothing of the parent's threads, locks
 * or heap is inherited: the child is a fresh image, which is the only safe
 * way to start a process from a multi-threaded program (never fork() and run
 * user code). So a program that starts isolated pools must call
 * tr_ipool_register for its entries and then tr_ipool_main first thing in
 * main:
 *
 *     int main(int argc, char **argv) {
 *         tr_ipool_register("resize", resize_job, NULL);
 *         int rc = tr_ipool_main(argc, argv); // a worker never returns
 *         if (rc != 0)
 *             return 1;
 *         ... // the program proper
 *     }
 *
 * How children end: when the pool closes (or its runtime is freed) each
 * child reads EOF and exits, and the router reaps it. When the parent
 * process dies without closing (killed, crashed), every child ends too,
 * even one hung in a job: it reads EOF, or is signalled by the kernel
 * (PR_SET_PDEATHSIG) and exits once it is no longer the parent's. A child
 * takes that signal (SIGRTMAX - 1) when a parent thread that started it
 * ends; an entry must leave that signal alone.
 *
 * Wire: each job travels as one length-prefixed frame over a socketpair
 * (non-blocking on the parent side, watched by the router's loop); the
 * router writes all jobs queued for one child in one write, and the child
 * answers everything it has read in one write, so a busy pool pays a few
 * system calls per batch, not per job.
 *
 * Dead letters: a job the pool gives up on reaches the runtime's dead_letter
 * hook with why = TR_DEAD_DROPPED and msg->status = how its last attempt
 * ended (TR_IPOOL_DIED_* below); an asker's future fails with TR_EDEAD (a
 * tr_request asker gets TR_MSG_ASK_FAILED with status TR_EDEAD), as for a
 * thread pool. Jobs dead-lettered because the pool closed have status 0. */
#ifndef TROUPE_IPOOL_H
#define TROUPE_IPOOL_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/pool.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How a dead-lettered job's last attempt ended (msg->status in the dead
 * letter hook): the child died by signal s (0x100 | s, e.g. SIGSEGV), exited
 * with code c (0x200 | c), was killed by the watchdog (0x400 | SIGKILL), or
 * the entry returned an error for it (0x800). */
#define TR_IPOOL_DIED_SIGNAL 0x100
#define TR_IPOOL_DIED_EXIT 0x200
#define TR_IPOOL_DIED_TIMEOUT 0x400
#define TR_IPOOL_DIED_FAILED 0x800

/* A job as the child's entry sees it: the job message's type and word, a
 * read-only view of its inline data (valid during the call), and how many
 * attempts at it failed before this one (0 on its first delivery; a job
 * that killed a child comes back with 1, and so on). */
typedef struct tr_ipool_job {
    uint32_t type;
    uint32_t attempt;
    uint64_t word;
    const void *data;
    size_t len;
} tr_ipool_job;

/* The reply an entry builds (in the child). It starts as {type = the job's
 * type, word = 0, no bytes}. */
typedef struct tr_ibuf tr_ibuf;
/* Set the reply's type (< TR_MSG_SYSTEM, else TR_EINVAL) and word. */
TR_EXTERN int tr_ibuf_set(tr_ibuf *reply, uint32_t type, uint64_t word);
/* Append n bytes to the reply's data (copied). TR_E2BIG past
 * TR_MSG_MAX_SIZE in all, TR_ENOMEM, TR_EINVAL (NULL reply; data NULL with
 * n > 0). */
TR_EXTERN int tr_ibuf_append(tr_ibuf *reply, const void *data, size_t n);

/* A worker entry: runs in the child for each job, one at a time. Return 0
 * to send the reply; a non-zero return fails the job (no reply is sent: the
 * job counts as a failed attempt, redelivered up to max_redeliveries times,
 * then dead-lettered with status TR_IPOOL_DIED_FAILED); the child lives on.
 * user is what tr_ipool_register was given. */
typedef int (*tr_ipool_fn)(void *user, const tr_ipool_job *job, tr_ibuf *reply);

/* Register an entry under name (copied; at most 63 bytes) in this process's
 * table of at most 64 entries. Call it before tr_ipool_main, in the same
 * order in the parent and the children (usually: at the top of main, both
 * run the same code). TR_EINVAL (NULL, empty or long name, NULL fn),
 * TR_EEXIST (name taken), TR_EFULL (table full). Not thread-safe: call it
 * before starting threads. */
TR_EXTERN int tr_ipool_register(const char *name, tr_ipool_fn fn, void *user);

/* The worker check: call first thing in main, after tr_ipool_register. In
 * a process the pool started it runs the worker loop and never returns (the
 * child exits 0 when the pool closes its socket, 2 if the entry is unknown
 * or the arguments are malformed). In any other process it returns 0 at
 * once and touches nothing. */
TR_EXTERN int tr_ipool_main(int argc, char **argv);

typedef struct tr_ipool_config {
    /* The pool settings, as for tr_pool_start: workers, max_workers,
     * routing, max_redeliveries, intensity, period_ms, backoff_*,
     * clock_ms/clock_user, name. behavior, opts and the thread watchdog
     * (watchdog_ms, watchdog_kill, on_stuck) are ignored: job_timeout_ms is
     * this pool's watchdog. Routing: ROUND_ROBIN, RANDOM, SMALLEST_MAILBOX
     * (the child with the fewest jobs in flight), KEY_HASH, SHARED_QUEUE
     * (jobs wait at the router until a child has room; the first child
     * with room takes the next job, so a burst fills one child's pipeline
     * before it wakes the next) and BROADCAST, as for a thread pool: every
     * live child gets a copy of each job (type, word, inline data and a
     * tell's sender, so a tell with a sender gets one reply per child); the
     * original with its ask reply token goes to the first live child (an
     * ask gets one answer). A copy waits for its own child if that one has
     * no room; a copy whose child dies is redelivered to one child, or
     * dead-lettered, like any job (stats: copies). */
    tr_pool_config pool;
    const char *entry; /* the registered entry the children run (required) */
    /* A child spending longer than this on one job gets SIGKILL; the job is
     * then redelivered or dead-lettered as after a crash (status
     * TR_IPOOL_DIED_TIMEOUT | SIGKILL). 0 = no watchdog. A job's time runs
     * from when the child starts it (the child stamps it in a page it
     * shares with the router), not from when it was written: jobs waiting
     * behind it in the child's pipeline (max_inflight) are not timed yet.
     * The check runs every job_timeout_ms / 4, so a kill lands between 1
     * and 1.25 times job_timeout_ms after the start. */
    uint32_t job_timeout_ms;
    /* Jobs written to one child before its replies come back (its pipeline;
     * 1 = strictly one at a time). 0 = 8. At most 1024. Jobs beyond wait at
     * the router. */
    unsigned max_inflight;
    /* Per-child limits, set with setrlimit in the child before it runs a
     * job (0 = none): RLIMIT_AS in bytes (not under AddressSanitizer, which
     * needs terabytes of address space), RLIMIT_CPU in seconds of the
     * child's whole life (SIGXCPU at the limit, SIGKILL a second later). */
    uint64_t rlimit_as;
    uint32_t rlimit_cpu_s;
    /* The program to start (it must call tr_ipool_main and register entry);
     * NULL = this one. A child that cannot run (exit 2: entry unknown to
     * that program) dies and is respawned like any other: give such a pool
     * a finite intensity or a backoff. */
    const char *exe;
} tr_ipool_config;

/* Defaults: as tr_pool_config_init, entry NULL, no timeout, 8 in flight per
 * child, no limits. */
TR_EXTERN void tr_ipool_config_init(tr_ipool_config *cfg);

/* Start the router and cfg->pool.workers child processes. *out is the pool
 * handle (count 1; tr_pool_release it). The config is copied (entry and exe
 * strings too). TR_EINVAL for a bad config (no entry, an entry not
 * registered in this process, a bad pool setting),
 * TR_ESYS if a child cannot be started (socketpair, pidfd_open or
 * posix_spawn failed: out of fds or processes) or the runtime's timer
 * thread cannot be made (out of threads), TR_ENOMEM, TR_ECLOSED (the
 * runtime is closing), TR_EFORKED (rt belongs to the parent process). On error nothing
 * is left behind (no child, no fd). Any thread. Each child costs the parent
 * two fds (its socket and its pidfd). Closing (tr_pool_close, the last
 * handle, runtime shutdown) dead-letters queued and in-flight jobs, kills
 * the children and reaps them before the router ends: no zombie, no fd
 * left. */
TR_EXTERN int tr_ipool_start(tr_runtime *rt, const tr_ipool_config *cfg, tr_ref **out);
/* A tr_child_start_fn for putting an isolated pool under a supervisor, as
 * tr_pool_start_as_child: arg is a const tr_ipool_config* that must outlive
 * the supervisor; the pool does not count handles (it closes when its
 * supervisor stops it, or by tr_pool_close). Errors as tr_ipool_start. */
TR_EXTERN int tr_ipool_start_as_child(tr_runtime *rt, void *arg, tr_ref **out);

#ifdef __cplusplus
}
#endif
#endif
