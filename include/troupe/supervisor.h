/* troupe/supervisor.h - supervisors: actors that start, watch and restart
 * other actors (Erlang/OTP semantics).
 *
 * A supervisor owns an ordered list of children, each described by a
 * tr_child_spec. It monitors every child (tr_monitor: a killed child must not
 * take its supervisor with it, which a link would), so it hears of every
 * child's end; what it does then depends on the child's restart type and the
 * supervisor's strategy:
 *
 *   TR_SUP_ONE_FOR_ONE   restart only the child that ended.
 *   TR_SUP_ONE_FOR_ALL   stop all other children (reverse start order), then
 *                        restart all of them in start order.
 *   TR_SUP_REST_FOR_ONE  stop the children started after it (reverse order),
 *                        then restart it and them in start order.
 *   TR_SUP_DYNAMIC       (simple_one_for_one) every child comes from the one
 *                        spec in the config and is added at run time with
 *                        tr_sup_start_dynamic; restarts are one-for-one.
 *
 * Restart intensity: more than `intensity` restarts within `period_ms` (as
 * read from the config's clock) and the supervisor stops all its children in
 * reverse start order and exits with TR_EXIT_ERROR (code TR_ECRASHED, text
 * "restart intensity reached"), which its own supervisor sees as a crash.
 *
 * Shutdown of a child: TR_SHUTDOWN_BRUTAL kills it (tr_actor_kill); a timeout
 * asks it to stop (tr_actor_stop) and kills it if it has not ended by the
 * deadline; TR_SHUTDOWN_INFINITY waits for it. A child that is itself a troupe
 * supervisor is asked to shut down its own children first (tr_sup_stop).
 * Children are stopped one at a time, newest first.
 *
 * tr_sup_stop() is the orderly way to end a supervisor. tr_actor_stop/kill on
 * a supervisor (or closing the runtime) cannot wait: the supervisor then asks
 * all its children to stop at once, newest first (kill them, if it was killed
 * or crashed), so children never outlive their supervisor. A supervisor traps
 * exits: if an actor linked to it ends abnormally, it shuts down in order and
 * ends with that reason.
 *
 * Threads: tr_sup_start may be called from any thread. The calls that query
 * or change a running supervisor (start_child, terminate_child, ...) are
 * asks to the supervisor actor: they block until it answers and return
 * TR_EDEADLK on a runtime worker thread. tr_sup_stop never blocks. */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tr_sup_strategy {
    TR_SUP_ONE_FOR_ONE = 0,
    TR_SUP_ONE_FOR_ALL = 1,
    TR_SUP_REST_FOR_ONE = 2,
    TR_SUP_DYNAMIC = 3,
} tr_sup_strategy;

typedef enum tr_child_restart {
    TR_CHILD_PERMANENT = 0, /* always restarted */
    TR_CHILD_TRANSIENT = 1, /* restarted only after TR_EXIT_ERROR or TR_EXIT_KILLED */
    TR_CHILD_TEMPORARY = 2, /* never restarted; its spec is removed when it ends */
} tr_child_restart;

typedef enum tr_child_kind {
    TR_CHILD_WORKER = 0,
    TR_CHILD_SUPERVISOR = 1,
} tr_child_kind;

#define TR_SHUTDOWN_DEFAULT 0     /* 5000 ms for workers, infinity for supervisors */
#define TR_SHUTDOWN_BRUTAL (-1)   /* tr_actor_kill at once */
#define TR_SHUTDOWN_INFINITY (-2) /* tr_actor_stop and wait as long as it takes */

#define TR_SUP_UNLIMITED UINT32_MAX /* intensity: never give up */

typedef struct tr_sup_config tr_sup_config;

/* Starts a child: spawn (or otherwise obtain) an actor and give the caller a
 * handle it owns in *out. Runs on the supervisor's thread. Non-zero = failed. */
typedef int (*tr_child_start_fn)(tr_runtime *rt, void *arg, tr_ref **out);

typedef struct tr_child_spec {
    const char *id; /* static name, unique among the supervisor's children
                       (may be NULL for dynamic children) */
    /* How the child starts, first match wins:
     *   start != NULL:    start(rt, arg, &ref)
     *   behavior != NULL: tr_spawn(rt, behavior, &opts, &ref)
     *   sup != NULL:      tr_sup_start(rt, sup, &ref) (kind should be SUPERVISOR)
     * behavior, sup and what arg/opts point to must outlive the supervisor. */
    tr_child_start_fn start;
    void *arg;
    const tr_behavior *behavior;
    tr_spawn_opts opts;
    const tr_sup_config *sup;
    tr_child_restart restart;
    int64_t shutdown_ms; /* > 0: timeout; or TR_SHUTDOWN_DEFAULT/BRUTAL/INFINITY */
    tr_child_kind kind;
} tr_child_spec;

struct tr_sup_config {
    tr_sup_strategy strategy;
    uint32_t intensity; /* restarts allowed within period_ms: <= 1000000, or TR_SUP_UNLIMITED */
    uint32_t period_ms; /* 0 = 5000 */
    /* Backoff: with backoff_min_ms > 0 the n-th restart within the current
     * period waits min * 2^(n-1) ms, capped at backoff_max_ms (0 = no cap
     * beyond 60 s), then +/- jitter * delay at random (jitter in [0, 1]). */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    double backoff_jitter;
    /* The clock restart intensity is measured with, in milliseconds; NULL =
     * CLOCK_MONOTONIC. Tests inject a fake clock here. Backoff delays and
     * shutdown timeouts always use real (monotonic) time. */
    uint64_t (*clock_ms)(void *clock_user);
    void *clock_user;
    /* The children, started in array order (copied by tr_sup_start). For
     * TR_SUP_DYNAMIC: exactly one spec, the template; no child starts yet. */
    const tr_child_spec *children;
    size_t nchildren;
    const char *name; /* static, for diagnostics; NULL = "supervisor" */
};

/* Defaults: one_for_one, intensity 3 per 5000 ms, no backoff, no children. */
void tr_sup_config_init(tr_sup_config *cfg);

/* Start a supervisor and its children (in order, on the calling thread). If a
 * child fails to start, the ones already started are killed and the child's
 * error is returned. On success *out is a handle owned by the caller. */
int tr_sup_start(tr_runtime *rt, const tr_sup_config *cfg, tr_ref **out);

/* A tr_child_start_fn that starts a supervisor: arg is a const tr_sup_config*. */
int tr_sup_child_start(tr_runtime *rt, void *arg, tr_ref **out);

/* --- operations on a running supervisor (block; TR_EDEADLK on a worker) --- */

/* Add a child spec and start it (not for TR_SUP_DYNAMIC). TR_EBUSY if the id
 * is taken. out (optional) gets an owned handle to the child. */
int tr_sup_start_child(tr_ref *sup, const tr_child_spec *spec, tr_ref **out);
/* TR_SUP_DYNAMIC only: start a child from the template with arg in place of
 * the template's arg (start fn arg, or opts.arg for a behaviour). */
int tr_sup_start_dynamic(tr_ref *sup, void *arg, tr_ref **out);
/* Stop a child by id using its shutdown setting; the spec stays (except
 * temporary children). TR_ENOTFOUND. */
int tr_sup_terminate_child(tr_ref *sup, const char *id);
/* Stop a child by handle (any strategy; the way to end dynamic children,
 * whose entry is then removed). TR_ENOTFOUND if it is not a child. */
int tr_sup_terminate_ref(tr_ref *sup, tr_ref *child);
/* Start a stopped child again. TR_ENOTFOUND, TR_EBUSY if it is running. */
int tr_sup_restart_child(tr_ref *sup, const char *id);
/* Remove the spec of a stopped child. TR_ENOTFOUND, TR_EBUSY if running. */
int tr_sup_delete_child(tr_ref *sup, const char *id);

typedef struct tr_child_info {
    const char *id; /* the spec's id (static string), NULL for dynamic */
    tr_ref *ref;    /* owned handle (release it), NULL if not running */
    tr_child_kind kind;
    tr_child_restart restart;
    int running;       /* 1 if it runs now */
    uint32_t restarts; /* times this child was restarted */
} tr_child_info;

/* Fill up to cap entries in start order; *n gets the number of children
 * (which may exceed cap). Release the refs with tr_sup_children_release. */
int tr_sup_which_children(tr_ref *sup, tr_child_info *out, size_t cap, size_t *n);
void tr_sup_children_release(tr_child_info *info, size_t n);

typedef struct tr_sup_counts {
    size_t specs;       /* children known (running or not) */
    size_t active;      /* running now */
    size_t supervisors; /* specs of kind supervisor */
    size_t workers;     /* specs of kind worker */
} tr_sup_counts;
int tr_sup_count_children(tr_ref *sup, tr_sup_counts *out);

typedef struct tr_sup_stats {
    uint64_t restarts;       /* children restarted (each counted once) */
    uint64_t start_failures; /* restarts whose start function failed */
    uint64_t delayed;        /* restarts that waited out a backoff */
    uint64_t kills;          /* children killed after their shutdown timeout */
} tr_sup_stats;
int tr_sup_stats_get(tr_ref *sup, tr_sup_stats *out);

/* Orderly shutdown: stop the children newest first (each per its shutdown
 * setting), then end the supervisor with TR_EXIT_NORMAL. Returns at once
 * (any thread, actors too); TR_EDEAD if it already ended. */
int tr_sup_stop(tr_ref *sup);

#ifdef __cplusplus
}
#endif
#endif
