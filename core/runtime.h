/* core/runtime.h - the runtime object shared by workers and senders. */
#ifndef TR_CORE_RUNTIME_H
#define TR_CORE_RUNTIME_H

#include <ck_spinlock.h>
#include <ck_stack.h>
#include <pthread.h>
#include <stdint.h>

#include "core/inject.h"
#include "core/worker.h"
#include "troupe/runtime.h"

/* Runtime states, in order. */
enum {
    TR__RT_RUNNING = 0,
    TR__RT_CLOSING = 1, /* close requested: actors are being stopped */
    TR__RT_EXITING = 2, /* no actor left: workers leave their loops */
};

/* Extension slots: higher layers (io/, actors/) hang per-runtime state here
 * without core knowing what it is. */
enum { TR__EXT_IO = 0, TR__EXT_ACTORS = 1, TR__EXT_BLOCKING = 2, TR__EXT_COUNT = 4 };

typedef struct tr__ext {
    void *data;
    /* On each worker's thread, after its last actor turn, before it exits. */
    void (*worker_stop)(tr__worker *w, void *data);
    /* Once, in tr_runtime_free after the workers have exited (the last
     * slot's first). */
    void (*runtime_free)(tr_runtime *rt, void *data);
} tr__ext;

struct tr_runtime {
    tr_runtime_config cfg;
    unsigned nworkers;
    uint32_t poll_cap; /* futures' poll cap (core/ask.c): set once at creation */
    tr__worker *workers;
    /* Read-mostly line: checked by every foreign send and by spawn. */
    uint32_t state TR__ALIGNED;
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
    uint64_t next_id;
    uint64_t dead_letters;
    uint64_t stash_overflows; /* tr_stash refused with TR_EFULL (core/actor.c) */
    /* Block pool (core/blocks.c). */
    ck_spinlock_fas_t pool_lock TR__ALIGNED;
    tr_actor *pool_free;
    unsigned pool_free_count;
    void **chunks;
    size_t nchunks, chunks_cap;
    /* tr_send_wait sleepers: an event count on a futex. space_seq moves on
     * every wake; a sender sleeps only while it still holds the value it
     * read before its failed push (core/send.c). */
    uint32_t space_waiters TR__ALIGNED;
    uint32_t space_seq;
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
};

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
/* Wake tr_send_wait sleepers if there are any. */
void tr__runtime_space_freed(tr_runtime *rt);

/* Register ext in slot (TR_EBUSY if taken) / its data, or NULL. Any thread. */
int tr__runtime_ext_set(tr_runtime *rt, unsigned slot, const tr__ext *ext);
void *tr__runtime_ext_get(tr_runtime *rt, unsigned slot);
/* A consistent copy of every slot (for the hooks run at a worker's stop and
 * at free). Any thread. */
void tr__runtime_ext_copy(tr_runtime *rt, tr__ext out[TR__EXT_COUNT]);

#endif
