/* core/runtime.c - the runtime's life cycle.
 *
 * States only move forward: RUNNING -> CLOSING -> EXITING. Close (explicit,
 * or automatic once no actor and no handle is left) marks the runtime CLOSING
 * and asks every live actor to stop; the actor whose exit brings the live
 * count to zero moves it to EXITING and wakes every worker, which then leave
 * their loops. A spawn racing with close either sees CLOSING and fails, or
 * is seen by the close's sweep, or sees CLOSING after publishing itself and
 * stops itself (tr_spawn): the alive flag and the state are each written
 * before the other is read, with barriers between (Dekker; an asymmetric
 * pair, since spawns are frequent and closes rare: base/fence.h). */
#include "core/runtime.h"

#include <assert.h>
#include <ck_pr.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fence.h"
#include "core/fork.h"
#include "core/console.h"
#include "base/lock.h"
#include "core/ask.h"
#include "core/blocks.h"
#include "core/futex.h"
#include "core/group.h"
#include "core/metrics.h"
#include "core/msg.h"
#include "core/registry.h"
#include "troupe/error.h"

void tr_runtime_config_init(tr_runtime_config *cfg) {
    if (cfg != NULL)
        memset(cfg, 0, sizeof(*cfg));
}

static int fill_defaults(tr_runtime_config *c) {
    if (c->workers > 256 || c->batch > 65536 || c->metrics < TR_METRICS_DEFAULT ||
        c->metrics > TR_METRICS_TIMING)
        return TR_EINVAL;
    if (c->mode != TR_RUNTIME_MULTI_THREAD && c->mode != TR_RUNTIME_CURRENT_THREAD)
        return TR_EINVAL;
    if (c->mode == TR_RUNTIME_CURRENT_THREAD) { /* one scheduler, no thread (core/modes.c) */
        if (c->workers != 0)
            return TR_EINVAL;
        c->workers = 1;
    }
    if (c->workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->workers = n > 0 ? (unsigned)(n > 256 ? 256 : n) : 1;
    }
    if (c->batch == 0)
        c->batch = 64;
    if (c->event_interval == 0)
        c->event_interval = 61;
    if (c->global_interval == 0)
        c->global_interval = 31;
    if (c->spin_rounds == 0)
        c->spin_rounds = 16;
    return 0;
}

static void runtime_destroy(tr_runtime *rt) {
    tr__console_stop(rt->console); /* first: its thread reads the runtime */
    tr__fork_remove(rt);
    tr__log_stop(rt);      /* before the loops go: no summary timer is armed on them */
    tr__modes_destroy(rt); /* the main loop, pinned actors' threads */
    for (unsigned i = 0; i < rt->nworkers; i++)
        tr__worker_destroy(&rt->workers[i]);
    tr__ext ext[TR__EXT_COUNT];
    tr__runtime_ext_copy(rt, ext);
    /* Last slot first: a later extension may use an earlier one as it
     * goes (the blocking pool runs its queued tasks, which may arm io/
     * timers). */
    for (unsigned i = TR__EXT_COUNT; i-- > 0;)
        if (ext[i].runtime_free != NULL)
            ext[i].runtime_free(rt, ext[i].data);
    tr__registry_free(rt);
    tr__group_free(rt);
    tr__metrics_stop(rt);
    tr__log_final(rt); /* pending summaries, handles still held */
    tr__blocks_destroy(rt);
    pthread_mutex_destroy(&rt->join_mu);
    pthread_cond_destroy(&rt->drive_cv);
    pthread_mutex_destroy(&rt->pin_mu);
    free(rt->workers);
    free(rt);
}

int tr_runtime_new(tr_runtime **out, const tr_runtime_config *cfg) {
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    tr_runtime_config c;
    if (cfg != NULL)
        c = *cfg;
    else
        tr_runtime_config_init(&c);
    int rc = fill_defaults(&c);
    if (rc != 0)
        return rc;
    tr__fence_init();
    tr_runtime *rt = aligned_alloc(TR__CACHELINE, sizeof(*rt));
    if (rt == NULL)
        return TR_ENOMEM;
    memset(rt, 0, sizeof(*rt));
    rt->cfg = c;
    tr__metrics_start(rt, c.metrics);
    rt->start_ns = tr__mono_ns();
    tr__log_init(rt);
    tr__future_poll_init(rt);
    tr__inject_init(&rt->global);
    tr__blocks_init(rt);
    pthread_mutex_init(&rt->join_mu, NULL);
    pthread_cond_init(&rt->drive_cv, NULL);
    pthread_mutex_init(&rt->pin_mu, NULL);
    rt->current_thread = c.mode == TR_RUNTIME_CURRENT_THREAD;
    /* Aligned: tr__worker has cache-line-aligned members (calloc gives 16). */
    rt->workers = aligned_alloc(TR__CACHELINE, c.workers * sizeof(tr__worker));
    if (rt->workers == NULL) {
        runtime_destroy(rt);
        return TR_ENOMEM;
    }
    memset(rt->workers, 0, c.workers * sizeof(tr__worker));
    for (unsigned i = 0; i < c.workers; i++) {
        rc = tr__worker_init(&rt->workers[i], rt, i);
        if (rc != 0) {
            rt->nworkers = i;
            runtime_destroy(rt);
            return rc;
        }
    }
    rt->nworkers = c.workers;
    if ((rc = tr__modes_init(rt)) != 0) {
        runtime_destroy(rt);
        return rc;
    }
    unsigned nstart = rt->current_thread ? 0 : c.workers; /* current-thread: no thread */
    for (unsigned i = 0; i <= nstart; i++) {
        /* After the workers, the console (if asked for: core/console.c). */
        rc = i < nstart ? tr__worker_start(&rt->workers[i]) : tr__console_start(rt, &rt->console);
        if (rc != 0) {
            /* No actor exists yet: make the started workers leave at once. */
            ck_pr_store_32(&rt->state, TR__RT_EXITING);
            tr__wake_all_any(rt);
            for (unsigned j = 0; j < i; j++)
                pthread_join(rt->workers[j].thread, NULL);
            runtime_destroy(rt);
            return rc;
        }
    }
    tr__fork_add(rt); /* a fork child finds it (core/fork.c) */
    *out = rt;
    return 0;
}

static void stop_one(tr_actor *a, void *arg) {
    (void)arg;
    /* No memory for the kick: seal the mailbox instead, which allocates
     * nothing and ends the actor just as surely (what is queued is
     * dead-lettered as at any end; later sends to it fail with TR_EDEAD). So
     * a close never waits on an actor it could not ask to stop. */
    if (tr__actor_request_exit(a, TR_EXIT_SHUTDOWN, 0, "runtime shutdown") == TR_ENOMEM)
        (void)tr__actor_seal_any(a, TR_EXIT_SHUTDOWN, 0, "runtime shutdown");
}

static void enter_exiting(tr_runtime *rt) {
    if (ck_pr_cas_32(&rt->state, TR__RT_CLOSING, TR__RT_EXITING))
        tr__wake_all_any(rt);
}

void tr__runtime_begin_close(tr_runtime *rt) {
    /* Spawns that miss CLOSING have published `alive` before the barrier
     * below returns, so the sweep sees them (see the file top). */
    if (!ck_pr_cas_32(&rt->state, TR__RT_RUNNING, TR__RT_CLOSING) &&
        !ck_pr_cas_32(&rt->state, TR__RT_DRAINING, TR__RT_CLOSING)) /* core/drain.c */
        return;
    /* The heavy half of the handshake with tr_spawn, whose publish of
     * `alive` has only the light half (base/fence.h). */
    tr__fence_heavy();
    tr__blocks_each_alive(rt, stop_one, NULL);
    if (tr__runtime_alive(rt) == 0)
        enter_exiting(rt);
    tr__runtime_space_freed(rt); /* blocked tr_send_wait callers see ECLOSED */
}

int tr_runtime_close(tr_runtime *rt) {
    if (rt == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    tr__runtime_begin_close(rt);
    return 0;
}

bool tr_runtime_is_closed(const tr_runtime *rt) {
    if (rt == NULL)
        return false;
    return ck_pr_load_32(&((tr_runtime *)rt)->state) != TR__RT_RUNNING;
}

/* The counts.
 *
 * Spawning and ending actors must not write a shared cache line (with two
 * workers spawning, contended counters were a third of tr_spawn). So each
 * worker counts in its own fields with plain stores, foreign threads in two
 * atomics, and the sums are only read where an exact zero matters:
 *  - close -> exit: by begin_close, by an actor ending while closing (store;
 *    fence; sum - Dekker with the other enders, one of which sees all), and
 *    by every worker about to sleep;
 *  - auto-close: by the last worker to fall asleep, and by a foreign thread
 *    that recycles a block while every worker sleeps.
 * A sleeping worker has executed a locked instruction (sleepers++) after its
 * last count, so its counts are visible to every later reader (x86-TSO; a
 * weaker machine needs a release there). */
static int64_t sum_alive(tr_runtime *rt) {
    int64_t n = ck_pr_load_64((uint64_t *)&rt->foreign_alive);
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += (int64_t)ck_pr_load_64((uint64_t *)&rt->workers[i].alive);
    return n;
}

static int64_t sum_live(tr_runtime *rt) {
    int64_t n = ck_pr_load_64((uint64_t *)&rt->foreign_live);
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += (int64_t)ck_pr_load_64((uint64_t *)&rt->workers[i].live);
    return n;
}

int64_t tr__runtime_alive(tr_runtime *rt) {
    return sum_alive(rt);
}

void tr__runtime_count(tr_runtime *rt, int alive, int live) {
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && TR__LIKELY(!w->priv)) { /* private workers count as foreign threads */
        /* Owner-only fields: plain stores, read by the sums above. */
        ck_pr_store_64((uint64_t *)&w->alive, (uint64_t)(w->alive + alive));
        ck_pr_store_64((uint64_t *)&w->live, (uint64_t)(w->live + live));
    } else {
        ck_pr_add_64((uint64_t *)&rt->foreign_alive, (uint64_t)(int64_t)alive);
        ck_pr_add_64((uint64_t *)&rt->foreign_live, (uint64_t)(int64_t)live);
    }
}

void tr__runtime_actor_gone(tr_runtime *rt) {
    tr__runtime_count(rt, -1, 0);
    /* While closing, the last actor to end moves the runtime to EXITING. The
     * fence orders our count before we read the others' (see above). A stale
     * RUNNING here is fine: our worker re-checks before it sleeps. */
    if (TR__UNLIKELY(ck_pr_load_32(&rt->state) == TR__RT_CLOSING)) {
        ck_pr_fence_memory();
        if (sum_alive(rt) == 0)
            enter_exiting(rt);
    }
}

static int all_asleep(tr_runtime *rt) {
    return ck_pr_load_32(&rt->sleepers) == rt->nworkers;
}

void tr__runtime_block_gone(tr_runtime *rt) {
    tr__runtime_count(rt, 0, -1);
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && !w->priv)
        return; /* the worker checks when it goes to sleep */
    /* A foreign thread dropped a block: if the workers are all asleep they
     * will not look again, so we do. */
    ck_pr_fence_memory();
    if (!rt->cfg.keep_open && ck_pr_load_32(&rt->armed) &&
        ck_pr_load_32(&rt->state) == TR__RT_RUNNING && all_asleep(rt) && sum_live(rt) == 0)
        tr__runtime_begin_close(rt);
}

void tr__runtime_quiet_check(tr_runtime *rt) {
    uint32_t st = ck_pr_load_32(&rt->state);
    if (st == TR__RT_CLOSING && sum_alive(rt) == 0)
        enter_exiting(rt);
    else if (st == TR__RT_RUNNING && !rt->cfg.keep_open && ck_pr_load_32(&rt->armed) &&
             all_asleep(rt) && sum_live(rt) == 0)
        tr__runtime_begin_close(rt); /* nothing alive, no handle held */
}

int tr_runtime_join(tr_runtime *rt) {
    if (rt == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(rt)) /* its workers are in the parent */
        return TR_EFORKED;
    if (tr__worker_of(rt) != NULL)
        return TR_EDEADLK;
    tr__modes_join(rt); /* a main loop nobody drives: drive it to the end here */
    pthread_mutex_lock(&rt->join_mu);
    if (!rt->joined) {
        for (unsigned i = 0; i < rt->nworkers && !rt->current_thread; i++)
            pthread_join(rt->workers[i].thread, NULL);
        tr__drain_join(rt); /* a drain ends with the workers: its thread, if any */
        tr__pin_join_all(rt);
        rt->joined = 1;
    }
    pthread_mutex_unlock(&rt->join_mu);
    return 0;
}

int tr_runtime_free(tr_runtime *rt) {
    if (rt == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(rt)) { /* no thread to join: core/fork.c */
        tr__fork_free(rt);
        return 0;
    }
    if (tr__worker_current() != NULL)
        return TR_EDEADLK;
    tr__runtime_begin_close(rt);
    tr_runtime_join(rt);
    assert(tr__runtime_alive(rt) == 0);
    runtime_destroy(rt);
    return 0;
}

int tr_runtime_stats_get(tr_runtime *rt, tr_runtime_stats *out) {
    if (rt == NULL || out == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    memset(out, 0, sizeof(*out));
    out->actors_spawned = ck_pr_load_64(&rt->spawned);
    int64_t alive = tr__runtime_alive(rt);
    out->actors_alive = alive > 0 ? (uint64_t)alive : 0;
    out->dead_letters = ck_pr_load_64(&rt->dead_letters);
    out->stash_overflows = ck_pr_load_64(&rt->stash_overflows);
    for (unsigned i = 0; i < rt->nworkers; i++) {
        out->steals += ck_pr_load_64(&rt->workers[i].steals);
        out->parks += ck_pr_load_64(&rt->workers[i].parks);
        out->loops_helped += ck_pr_load_64(&rt->workers[i].helps);
        out->actors_spawned += ck_pr_load_64(&rt->workers[i].spawned);
    }
    out->workers = rt->current_thread ? 0 : rt->nworkers;
    return 0;
}

int tr_runtime_worker_id(const tr_runtime *rt) {
    if (rt == NULL)
        return TR_EINVAL;
    tr__worker *w = tr__worker_of(rt);
    return w != NULL && !w->priv ? (int)w->id : TR_ENOTFOUND;
}

void tr__dead_letter_at(tr_runtime *rt, tr_msg *msg, int why, const tr_actor *target) {
    if (!(msg->flags & TR__MSG_KICK)) {
        ck_pr_inc_64(&rt->dead_letters);
        /* A statistic: orders nothing. */
        ck_pr_inc_64(&rt->dead_by[(unsigned)why < TR_DEAD_REASONS ? (unsigned)why : 0]);
        if (target != NULL) /* per actor, for snapshots (troupe-top's DEAD) */
            tr__ameta_dead_letter_any((tr_actor *)target);
        tr__log_dead_letter(rt, msg, why, target); /* the hook, the summary */
    }
    tr__msg_destroy(msg, TR_EDEAD);
}

void tr__dead_letter(tr_runtime *rt, tr_msg *msg, int why) {
    tr__dead_letter_at(rt, msg, why, NULL);
}

void tr__runtime_space_freed(tr_runtime *rt) {
    /* Our caller freed room (or closed a mailbox) with a locked operation,
     * a full barrier before this load: a sender that counts itself later
     * pushes after the room is there (Dekker with tr_send_wait). */
    if (ck_pr_load_32(&rt->space_waiters) == 0)
        return;
    /* Move the count on, then wake: a sender that read the old value either
     * finds the new one when it asks the kernel to sleep (the futex compares
     * it atomically) or is asleep and woken here. */
    ck_pr_inc_32(&rt->space_seq);
    tr__futex_wake(&rt->space_seq, INT32_MAX);
}

int tr__runtime_ext_set(tr_runtime *rt, unsigned slot, const tr__ext *ext) {
    if (rt == NULL || ext == NULL || slot >= TR__EXT_COUNT)
        return TR_EINVAL;
    tr__spin_lock(&rt->ext_lock);
    int busy = rt->ext[slot].data != NULL;
    if (!busy)
        rt->ext[slot] = *ext;
    tr__spin_unlock(&rt->ext_lock);
    return busy ? TR_EBUSY : 0;
}

void *tr__runtime_ext_get(tr_runtime *rt, unsigned slot) {
    if (rt == NULL || slot >= TR__EXT_COUNT)
        return NULL;
    tr__spin_lock(&rt->ext_lock);
    void *d = rt->ext[slot].data;
    tr__spin_unlock(&rt->ext_lock);
    return d;
}

void tr__runtime_ext_copy(tr_runtime *rt, tr__ext out[TR__EXT_COUNT]) {
    tr__spin_lock(&rt->ext_lock);
    memcpy(out, rt->ext, sizeof(rt->ext));
    tr__spin_unlock(&rt->ext_lock);
}
