/* core/runtime.h - the runtime object shared by workers and senders. */
#ifndef TR_CORE_RUNTIME_H
#define TR_CORE_RUNTIME_H

#include <ck_spinlock.h>
#include <ck_stack.h>
#include <pthread.h>
#include <stdint.h>

#include "core/drain.h"
#include "core/inject.h"
#include "core/log.h"
#include "core/worker.h"
#include "troupe/introspect.h"
#include "troupe/runtime.h"

/* Runtime states, in order (DRAINING may be skipped; FORKED is set only in
 * a child process, on the parent's runtimes: core/fork.c). */
enum {
    TR__RT_RUNNING = 0,
    TR__RT_DRAINING = 1, /* foreign work refused, actors run on (core/drain.c) */
    TR__RT_CLOSING = 2,  /* close requested: actors are being stopped */
    TR__RT_EXITING = 3,  /* no actor left: workers leave their loops */
    TR__RT_FORKED = 4,   /* this process is a fork of the runtime's: unusable */
};

/* Whether a runtime in state st takes work from a foreign thread (0) or an
 * actor of its own (1): RUNNING takes it from both, DRAINING from actors. */
static inline int tr__runtime_accepts(uint32_t st, int actor) {
    return st == TR__RT_RUNNING || (st == TR__RT_DRAINING && actor);
}

/* Whether state st is CLOSING or later (the close's sweep has begun). */
static inline int tr__runtime_closing(uint32_t st) {
    return st != TR__RT_RUNNING && st != TR__RT_DRAINING;
}

/* Extension slots: higher layers (io/, actors/) hang per-runtime state here
 * without core knowing what it is. */
enum {
    TR__EXT_IO = 0,
    TR__EXT_ACTORS = 1,
    TR__EXT_SUP = 2,      /* actors/sup_drain.c */
    TR__EXT_BLOCKING = 3, /* actors/blocking.c */
    TR__EXT_COUNT = 4
};

typedef struct tr__ext {
    void *data;
    /* On each worker's thread, after its last actor turn, before it exits. */
    void (*worker_stop)(tr__worker *w, void *data);
    /* Once, in tr_runtime_free after the workers have exited (the last
     * slot's first). */
    void (*runtime_free)(tr_runtime *rt, void *data);
    /* Optional: once, on the thread of a drain, after the mailboxes drained
     * and before the close: stop what this layer owns in its order (actors/:
     * supervisors top-down), returning by deadline_ns (CLOCK_MONOTONIC). */
    void (*drain)(tr_runtime *rt, void *data, uint64_t deadline_ns);
    /* Optional: nonzero while this layer has work in flight that ends in a
     * message (io/: blocking tasks), which a drain waits for as for a
     * mailbox. Any thread; may take the layer's locks. */
    int (*busy)(tr_runtime *rt, void *data);
} tr__ext;

struct tr_runtime {
    tr_runtime_config cfg;
    unsigned nworkers;
    uint32_t poll_cap; /* futures' poll cap (core/ask.c): set once at creation */
    tr__worker *workers;
    /* Read-mostly line: checked by every foreign send and by spawn. */
    uint32_t state TR__ALIGNED;
    uint32_t metrics;       /* TR_METRICS_* now: read per turn and per send (core/metrics.c) */
    uint32_t metrics_start; /* the level it started with (TR_METRICS_DEFAULT's meaning) */
    /* Written when a worker parks or is woken. */
    uint32_t sleepers TR__ALIGNED;
    uint32_t watching; /* parked workers with a watchdog armed (core/worker.c) */
    /* Global run queue: actors made runnable off the workers, actors that
     * used up their batch, deque overflow. */
    tr__inject global;
    /* Counters. */
    /* Counts changed by foreign threads; workers keep their own (worker.h)
     * and the sums are taken only when an exact zero matters (see
     * tr__runtime_quiet_check). */
    int64_t foreign_alive TR__ALIGNED; /* actors alive */
    int64_t foreign_live;              /* blocks with refs > 0 */
    uint32_t armed;                    /* an actor was spawned: auto-close may fire */
    uint64_t spawned;
    uint64_t dead_letters;
    uint64_t stash_overflows; /* tr_stash refused with TR_EFULL (core/actor.c) */
    /* Block pool (core/blocks.c). */
    ck_spinlock_fas_t pool_lock TR__ALIGNED;
    void **chunks;
    size_t nchunks, chunks_cap;
    /* Per block class (TR__BLOCK_SMALL, TR__BLOCK_LARGE). */
    struct tr__block_class {
        tr_actor *free;        /* freed blocks, linked through ->state */
        char *bump, *bump_end; /* the class's newest chunk's blocks never handed out */
        char *ahead_at;        /* bump reaching it asks for the next chunk (or UINTPTR_MAX) */
        size_t nchunks;        /* chunks of this class so far: the next one's size */
    } pool_cls[2];
    void *ahead;         /* a chunk a worker mapped ahead of need, or NULL */
    size_t ahead_bytes;  /* its size; the size wanted while ahead_want is 1 */
    uint32_t ahead_want; /* 1: an idle worker should map the next chunk */
    /* In a fork child only (core/fork.c): pool_lock was held at the fork,
     * so the chunk list may be torn; tr__blocks_destroy leaves it. */
    uint8_t pool_torn;
    /* tr_send_wait sleepers: an event count on a futex. space_seq moves on
     * every wake; a sender sleeps only while it still holds the value it
     * read before its failed push (core/send.c). */
    uint32_t space_waiters TR__ALIGNED;
    uint32_t space_seq;
    /* 1 while one tr_send_wait caller waits for room awake (core/send.c):
     * at most one at a time, the others sleep. */
    uint32_t space_spinner;
    /* Join. */
    pthread_mutex_t join_mu;
    int joined;
    /* Extension slots: registered at any time, from any thread, under
     * ext_lock (its own: nothing else is guarded by it). */
    ck_spinlock_fas_t ext_lock;
    tr__ext ext[TR__EXT_COUNT];
    /* Names and groups, made on first use (core/registry.c, core/group.c). */
    struct tr__names *names;
    struct tr__groups *groups;
    tr__drain drain;          /* core/drain.c */
    struct tr_runtime *forks; /* the process's list of runtimes (core/fork.c) */
    struct tr_runtime **pforks;
    /* Metrics (core/metrics.c, core/introspect.c): statistics, relaxed. */
    uint64_t start_ns TR__ALIGNED;
    uint64_t dead_by[TR_DEAD_REASONS]; /* dead letters by TR_DEAD_* */
    int64_t asks_outstanding;          /* futures made minus settled */
    uint64_t asks_timed_out;           /* tr_future_wait timeouts */
    /* The console endpoint, when asked for (core/console.c); else NULL. */
    struct tr__console *console;
    /* Runtime modes (core/modes.c, core/pin.c). */
    uint8_t current_thread;  /* TR_RUNTIME_CURRENT_THREAD: workers[0] has no thread */
    tr__worker *main;        /* the main loop: &workers[0] (current-thread), a
                                private worker (main_loop), or NULL */
    uint32_t drive;          /* TR__DRIVE_*: who runs main (atomic; changed under join_mu) */
    pthread_cond_t drive_cv; /* under join_mu: drive left TR__DRIVE_BUSY */
    pthread_mutex_t pin_mu;  /* guards pinws */
    struct tr__pinw *pinws;  /* pinned actors' own threads (core/pin.c) */
    /* Reports: level, hook, summaries (core/log.h). */
    tr__log log TR__ALIGNED;
};

/* 1 if rt belongs to the process this one was forked from (core/fork.c):
 * public calls that could block on its locks check it first. */
static inline int tr__runtime_forked(const tr_runtime *rt) {
    return ck_pr_load_32(&((tr_runtime *)rt)->state) == TR__RT_FORKED;
}

/* rt->drive */
enum {
    TR__DRIVE_IDLE = 0, /* nobody drives main now */
    TR__DRIVE_BUSY = 1, /* a thread drives it */
    TR__DRIVE_DONE = 2, /* it saw the runtime exit and finished */
};

/* core/modes.c: make the main loop (tr_runtime_new, after the workers are
 * made and before they start); 0 or an error (the runtime is then
 * destroyed as usual). */
int tr__modes_init(tr_runtime *rt);
/* tr_runtime_join: drive main to the end if nobody has (or wait for the
 * thread that does); then the pinned threads are joined. */
void tr__modes_join(tr_runtime *rt);
/* runtime_destroy: free the main loop and the pinned threads' workers. */
void tr__modes_destroy(tr_runtime *rt);
/* core/pin.c: join and free every pinned actor's thread (all have ended). */
void tr__pin_join_all(tr_runtime *rt);

/* Count an actor (alive, +1/-1) or a referenced block (live, +1/-1). */
void tr__runtime_count(tr_runtime *rt, int alive, int live);
/* Called when an actor's exit is final (alive count drops). */
void tr__runtime_actor_gone(tr_runtime *rt);
/* Called when a block's last reference went away. */
void tr__runtime_block_gone(tr_runtime *rt);
/* Actors alive now (exact only when nothing runs). */
int64_t tr__runtime_alive(tr_runtime *rt);
/* Zero tests for shutdown, run by a worker that is about to sleep (after the
 * locked increment of `sleepers`, which makes its own counts visible). */
void tr__runtime_quiet_check(tr_runtime *rt);
/* Start shutdown (state RUNNING -> CLOSING); idempotent. */
void tr__runtime_begin_close(tr_runtime *rt);
/* Why a message meant for an actor that ended is dead-lettered:
 * TR_DEAD_STOPPED while rt runs, TR_DEAD_SHUTDOWN once it closes. Only
 * picks the reason (relaxed load): a stale state is harmless. */
static inline int tr__runtime_dead_reason(tr_runtime *rt) {
    return ck_pr_load_32(&rt->state) == TR__RT_RUNNING ? TR_DEAD_STOPPED : TR_DEAD_SHUTDOWN;
}
/* Count and report a dead letter, then destroy msg with status err. */
void tr__dead_letter(tr_runtime *rt, tr_msg *msg, int why);
/* The same for a message that was addressed to actor `target`, which the
 * report and the dead_letter hook (tr_dead_letter_target) name. */
void tr__dead_letter_at(tr_runtime *rt, tr_msg *msg, int why, const tr_actor *target);
/* Wake tr_send_wait sleepers if there are any. */
void tr__runtime_space_freed(tr_runtime *rt);

/* Register ext in slot (TR_EBUSY if taken) / its data, or NULL. Any thread. */
int tr__runtime_ext_set(tr_runtime *rt, unsigned slot, const tr__ext *ext);
void *tr__runtime_ext_get(tr_runtime *rt, unsigned slot);
/* A consistent copy of every slot (for the hooks run at a worker's stop and
 * at free). Any thread. */
void tr__runtime_ext_copy(tr_runtime *rt, tr__ext out[TR__EXT_COUNT]);

#endif
