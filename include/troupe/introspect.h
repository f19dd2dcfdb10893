/* troupe/introspect.h - metrics and a consistent snapshot of a running runtime.
 *
 * Shaped like libuv's uv_metrics_info / uv_walk and Tokio's RuntimeMetrics:
 * one call copies what the runtime knows about its actors, workers and
 * totals into a tr_snapshot the caller owns; plain structs, read at leisure,
 * freed with tr_snapshot_free. Taking one never stops the world: it walks
 * the actor blocks, holding each live actor for the few loads it takes to
 * copy it (docs/observability.md, "Introspection").
 *
 * Metrics levels (tr_runtime_config.metrics, tr_runtime_set_metrics, the
 * TROUPE_METRICS environment variable):
 *   TR_METRICS_BASIC  counters that cost nothing measurable on the hot path
 *                     (messages handled, exact depth of bounded mailboxes,
 *                     restarts, per worker turns/steals/parks/busy time,
 *                     runtime totals): always on.
 *   TR_METRICS_TIMING the switch. Adds clock reads per message: handler
 *                     time and time in the mailbox as log2 histograms, busy
 *                     time per actor, loop lag per worker; and actors
 *                     spawned while it is on keep a count in their
 *                     unbounded mailboxes, so their depth is exact (a
 *                     fetch-and-add per send). docs/observability.md gives
 *                     the measured cost of each level. */
#ifndef TROUPE_INTROSPECT_H
#define TROUPE_INTROSPECT_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- the metrics switch ---------------------------------------------------- */

enum {
    TR_METRICS_DEFAULT = 0, /* config only: TROUPE_METRICS if set, else BASIC */
    TR_METRICS_BASIC = 1,   /* the always-on counters */
    TR_METRICS_TIMING = 2,  /* plus per-message timing and histograms */
};

/* Switch the level of rt at run time (TR_METRICS_BASIC or TR_METRICS_TIMING;
 * TR_METRICS_DEFAULT means the level rt started with). Sends see it at
 * once. Each worker sees TIMING switched on at its next loop poll (within
 * tr_runtime_config.event_interval turns, or when idle), and switched off
 * at its next turn; histograms already gathered are kept. Any thread.
 * TR_EINVAL for a NULL rt or another level. */
TR_EXTERN int tr_runtime_set_metrics(tr_runtime *rt, int level);

/* The current level of rt (TR_METRICS_BASIC or TR_METRICS_TIMING), or
 * TR_EINVAL for NULL. Any thread. */
TR_EXTERN int tr_runtime_metrics(const tr_runtime *rt);

/* --- histograms -------------------------------------------------------------
 * A histogram is TR_HIST_BUCKETS counters: bucket 0 counts values 0 and 1
 * (ns), bucket i > 0 values in [2^i, 2^(i+1)). */

#define TR_HIST_BUCKETS 64

/* The value below which a fraction q (0..1) of the samples lie, as the upper
 * bound of the bucket that holds it (so at most 2x above the true value);
 * 0 for an empty histogram or a NULL hist. Any thread. */
TR_EXTERN uint64_t tr_hist_quantile(const uint32_t *hist, double q);

/* --- the snapshot ------------------------------------------------------------ */

/* What an actor is doing. */
typedef enum tr_actor_state {
    TR_ACTOR_IDLE = 0,     /* nothing queued, waiting for a message */
    TR_ACTOR_QUEUED = 1,   /* runnable, waiting for a worker */
    TR_ACTOR_RUNNING = 2,  /* a worker runs it now (see tr_actor_info.worker) */
    TR_ACTOR_STOPPING = 3, /* asked to stop, or sealed, and not yet ended */
} tr_actor_state;

/* What runtime behaviour an actor is, for tree views. */
typedef enum tr_actor_role {
    TR_ROLE_ACTOR = 0,       /* a user actor */
    TR_ROLE_SUPERVISOR = 1,  /* a supervisor (troupe/supervisor.h) */
    TR_ROLE_POOL = 2,        /* a pool's router (troupe/pool.h) */
    TR_ROLE_POOL_WORKER = 3, /* a pool's worker; slot says which */
} tr_actor_role;

#define TR_ACTOR_NAME_MAX 64

typedef struct tr_actor_info {
    uint64_t id;        /* tr_ref_id */
    uint64_t parent_id; /* the supervisor or pool that started it; 0 = none */
    /* The display name, as tr_ref_name and every report give it,
     * NUL-terminated (cut at TR_ACTOR_NAME_MAX - 1 bytes): "sup-name/child-id"
     * for a supervisor's child, "pool-name[slot]" for a pool worker, else
     * the spawn name (tr_spawn_opts.name), else "". */
    char name[TR_ACTOR_NAME_MAX];
    tr_actor_state state;
    tr_actor_role role;
    int worker;        /* RUNNING: the worker running it, else -1 */
    int slot;          /* POOL_WORKER: its slot, else -1 */
    uint32_t restarts; /* restarts of its child spec / pool slot before this incarnation */
    int strategy;      /* SUPERVISOR: its tr_sup_strategy; else -1 */
    uint64_t children_restarted; /* SUPERVISOR, POOL: restarts it made */
    int64_t mailbox_len;         /* messages queued now (see mailbox_exact) */
    uint32_t mailbox_cap;        /* its bound, 0 = unbounded */
    uint64_t messages;           /* messages handled */
    /* Dead letters whose target was this actor: messages refused while it
     * stopped, left queued when it ended, a pool's dropped jobs (counted
     * on its router), late replies to its asks; those of earlier
     * incarnations of its supervisor child or pool slot included. */
    uint64_t dead_letters;
    /* TR_METRICS_TIMING (0 / NULL for time it ran without): */
    uint64_t busy_ns; /* time spent in its callbacks */
    uint64_t handler_p50_ns, handler_p99_ns;
    uint64_t mailbox_p50_ns, mailbox_p99_ns; /* time from send to receive */
    const uint32_t *handler_hist;            /* TR_HIST_BUCKETS counters, or NULL */
    const uint32_t *mailbox_hist;            /* likewise */
    /* 1 if mailbox_len is exact: a bounded mailbox, or an unbounded one of
     * an actor spawned while TR_METRICS_TIMING was on; 0: an unbounded
     * mailbox without a count, whose mailbox_len is 0 (empty) or 1 (not). */
    int mailbox_exact;
} tr_actor_info;

typedef struct tr_worker_info {
    unsigned id;
    int parked;          /* 1 if asleep now */
    uint64_t turns;      /* actor turns run */
    uint64_t steals;     /* steal batches taken from other workers */
    uint64_t parks;      /* times it went to sleep */
    uint64_t helps;      /* loops of stuck workers it ran */
    uint64_t spawned;    /* actors spawned on it */
    uint64_t busy_ns;    /* time awake (not parked) since it started */
    uint64_t parked_ns;  /* time asleep since it started */
    uint64_t run_queue;  /* actors waiting in its local queue now */
    uint64_t current_id; /* the actor it runs now, 0 if none */
    /* TR_METRICS_TIMING: the longest and the latest gap between two polls of
     * its event loop while it had work (how late timers and I/O can be). */
    uint64_t loop_lag_ns, loop_lag_max_ns;
} tr_worker_info;

/* Indices for tr_runtime_info.dead_letters_by (TR_DEAD_* from runtime.h;
 * 0 counts any other reason). */
#define TR_DEAD_REASONS 4

typedef struct tr_runtime_info {
    uint64_t taken_ns;  /* CLOCK_MONOTONIC when the snapshot was taken */
    uint64_t uptime_ns; /* since tr_runtime_new */
    int metrics;        /* the level (TR_METRICS_BASIC or TIMING) */
    int closed;         /* tr_runtime_is_closed */
    unsigned workers;
    uint64_t actors_alive;
    uint64_t actors_spawned;
    uint64_t dead_letters;
    uint64_t dead_letters_by[TR_DEAD_REASONS];
    uint64_t asks_outstanding; /* futures not yet settled */
    uint64_t asks_timed_out;   /* tr_future_wait calls that timed out */
    uint64_t global_queue;     /* actors waiting in the global run queue */
    uint64_t steals, parks, stash_overflows, loops_helped;
} tr_runtime_info;

/* One supervisor (or pool router) of the tree: indices into actors[]. */
typedef struct tr_sup_node {
    size_t actor;           /* the supervisor's own entry */
    size_t nchildren;       /* its children alive in the snapshot */
    const size_t *children; /* their indices in actors[], in id order */
} tr_sup_node;

typedef struct tr_snapshot {
    /* read-only */ tr_runtime_info runtime;
    /* read-only */ size_t nworkers;
    /* read-only */ const tr_worker_info *workers;
    /* read-only */ size_t nactors; /* ordered by id */
    /* read-only */ const tr_actor_info *actors;
    /* read-only */ size_t nsups; /* supervisors and pool routers, in actors[] order */
    /* read-only */ const tr_sup_node *sups;
} tr_snapshot;

/* Copy the state of rt into a new snapshot *out, owned by the caller (free
 * it with tr_snapshot_free). Consistent in this sense: every actor alive
 * from the start of the call to its end is in it exactly once; one that
 * spawned or ended meanwhile may be in it or not, never twice; each actor's
 * fields are copied while its incarnation is held, so they belong to it.
 * Counters are read without stopping anyone, so two actors' counters are
 * not from the same instant. Never blocks a worker for more than a short
 * spinlock hold (the list of block chunks is copied under it). Any thread,
 * an actor's callbacks included; rt must not be freed meanwhile.
 * TR_EINVAL (NULL argument), TR_ENOMEM (*out untouched). */
TR_EXTERN int tr_snapshot_take(tr_runtime *rt, tr_snapshot **out);

/* Free a snapshot (NULL is a no-op). */
TR_EXTERN void tr_snapshot_free(tr_snapshot *snap);

/* The entry of actor id in snap, or NULL. */
TR_EXTERN const tr_actor_info *tr_snapshot_find(const tr_snapshot *snap, uint64_t id);

/* Text form: a runtime line, one line per worker, one line per actor (with
 * its name, parent, state, mailbox, counters; indented under its parent),
 * as `troupe-top --once` prints. Writes at most len bytes including the
 * NUL into buf (buf may be NULL when len is 0); *needed (optional) gets the
 * full length without the NUL. 0 if it all fit, TR_E2BIG if it was cut
 * (buf then holds a NUL-terminated prefix), TR_EINVAL for a NULL snap or a
 * NULL buf with len > 0. */
TR_EXTERN int tr_snapshot_format(const tr_snapshot *snap, char *buf, size_t len, size_t *needed);

#ifdef __cplusplus
}
#endif
#endif
