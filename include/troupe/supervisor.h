/* troupe/supervisor.h - supervisors: actors that start, watch and restart
 * other actors (Erlang/OTP semantics; docs/supervision.md has a table of
 * where troupe differs).
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
 * If a child of a group restart fails to start, the restart starts over (that
 * counts as a restart against the intensity, as in OTP): one_for_all stops
 * the children restarted so far and restarts them all; rest_for_one stops
 * the children after the failed one and restarts from it.
 *
 * Restart intensity: more than `intensity` restarts within `period_ms` (as
 * read from the config's clock) and the supervisor stops all its children in
 * reverse start order and exits with TR_EXIT_SHUTDOWN (text "restart
 * intensity reached"), as an OTP supervisor exits with `shutdown`: a parent
 * restarts it only if it is permanent.
 *
 * Shutdown of a child: TR_SHUTDOWN_BRUTAL kills it (tr_actor_kill); a timeout
 * asks it to stop (tr_actor_stop) and kills it if it has not ended by the
 * deadline; TR_SHUTDOWN_INFINITY waits for it, however long: a child that
 * never ends (a handler that never returns) keeps tr_sup_stop and
 * tr_actor_stop of its supervisor waiting for ever (the supervisor lives
 * on and its monitors get no DOWN); tr_actor_kill of the supervisor, or
 * closing the runtime, ends the supervisor at once, and the child when its
 * handler returns. A child that is itself a troupe
 * supervisor shuts down its own children first. Children are stopped one at
 * a time, newest first; a dynamic supervisor asks all its children at once
 * and waits for them up to the template's shutdown timeout, then kills the
 * rest.
 *
 * Ending a supervisor: tr_sup_stop (exit TR_EXIT_NORMAL) and tr_actor_stop
 * (exit TR_EXIT_SHUTDOWN) both stop the children as above and end the
 * supervisor once they have all ended, so a monitor on the supervisor sees
 * its DOWN after every child's. tr_actor_kill, or closing the runtime, cannot
 * wait: the supervisor then asks all its children to stop at once, newest
 * first (kills them, if it was killed or crashed), so children never outlive
 * their supervisor. A supervisor traps exits: if an actor linked to it ends
 * abnormally, it shuts down in order and ends with that reason.
 *
 * Threads: tr_sup_start may be called from any thread. Every call that
 * queries or changes a running supervisor comes in two forms, one code path:
 *  - blocking (tr_sup_start_child, ...): for threads outside the runtime;
 *    TR_EDEADLK on a runtime worker;
 *  - actor (tr_sup_start_child_async, ...): from inside an actor's callback;
 *    never blocks. The result arrives in the calling actor's mailbox as a
 *    TR_MSG_RESULT message with msg->corr == tag and tr_result_code(msg) ==
 *    what the blocking form would return; the tr_sup_result_* readers give
 *    the rest. If the supervisor ended before answering, a TR_MSG_ASK_FAILED
 *    (same corr, tr_result_code TR_EDEAD) comes instead. The call returns 0
 *    once the request is on its way, or an error (TR_EINVAL, TR_EDEAD,
 *    TR_ENOMEM), and then no message will come. What it takes (a spec, an
 *    id) is copied at the call. A caller whose bounded mailbox is full when
 *    the answer comes, or an answer that cannot be allocated, gives
 *    TR_MSG_ASK_FAILED with that error (TR_EFULL, TR_ENOMEM) instead: the
 *    call was carried out (a started child runs; its handle is released).
 * tr_sup_stop never blocks and any thread may call it. */
#ifndef TROUPE_SUPERVISOR_H
#define TROUPE_SUPERVISOR_H

#include "troupe/common.h"

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

/* When a supervisor ends itself because significant children ended (OTP 24's
 * auto_shutdown). A significant child "ends" here when it ends by itself and
 * is not restarted: a transient child with TR_EXIT_NORMAL or
 * TR_EXIT_SHUTDOWN, a temporary child for any reason. Ends the supervisor
 * caused (terminate_child, a group restart, its own shutdown) do not count.
 * The supervisor then shuts down in order and exits with TR_EXIT_SHUTDOWN
 * ("auto shutdown"). */
typedef enum tr_sup_auto_shutdown {
    TR_SUP_AUTO_NEVER = 0,           /* significant children are refused (TR_EINVAL) */
    TR_SUP_AUTO_ANY_SIGNIFICANT = 1, /* when any significant child ends */
    TR_SUP_AUTO_ALL_SIGNIFICANT = 2, /* when no significant child runs any more */
} tr_sup_auto_shutdown;

#define TR_SHUTDOWN_DEFAULT 0     /* 5000 ms for workers, infinity for supervisors */
#define TR_SHUTDOWN_BRUTAL (-1)   /* tr_actor_kill at once */
#define TR_SHUTDOWN_INFINITY (-2) /* tr_actor_stop and wait as long as it takes */

#define TR_SUP_UNLIMITED UINT32_MAX /* intensity: never give up */

typedef struct tr_sup_config tr_sup_config;

/* What a tr_child_start_fn returns, with *out = NULL, to say "no actor
 * this time" (OTP's `ignore`): the start counts as done, no actor runs, the
 * child reports not running and its spec is kept (a temporary child's spec
 * and a dynamic child are dropped); start_child/start_dynamic/restart_child
 * return 0 with no handle. */
#define TR_SUP_IGNORE 1

/* Starts a child: spawn (or otherwise obtain) an actor and give the caller a
 * handle it owns in *out, returning 0; or return TR_SUP_IGNORE with *out =
 * NULL; or a negative TR_E... code (failed; *out = NULL). Runs on the
 * supervisor's thread (the thread that calls tr_sup_start, for the first
 * start). Any other value counts as TR_EINVAL. */
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
    /* 1: its end may end the supervisor (see tr_sup_auto_shutdown). Only for
     * transient and temporary children of a supervisor whose auto_shutdown
     * is not TR_SUP_AUTO_NEVER; TR_EINVAL otherwise. */
    int significant;
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
    const char *name;                   /* static, for diagnostics; NULL = "supervisor" */
    tr_sup_auto_shutdown auto_shutdown; /* default TR_SUP_AUTO_NEVER */
};

/* Defaults: one_for_one, intensity 3 per 5000 ms, no backoff, no children,
 * auto_shutdown never. */
TR_EXTERN void tr_sup_config_init(tr_sup_config *cfg);

/* Start a supervisor and its children (in order, on the calling thread). If a
 * child fails to start, the ones already started are stopped in reverse
 * order, each per its shutdown setting (exit TR_EXIT_SHUTDOWN), and the
 * child's error is returned; on a thread outside the runtime the call
 * returns once they have ended, on a worker it does not wait. On success
 * *out is a handle owned by the caller. TR_EINVAL for a bad config (a spec
 * with no way to start, duplicate ids, a significant child that is
 * permanent or under auto_shutdown never, a dynamic supervisor without
 * exactly one spec); TR_ESYS if the runtime's timer thread (backoff,
 * shutdown timeouts) is not running and cannot be made (out of threads:
 * nothing is started; a later call tries again). */
TR_EXTERN int tr_sup_start(tr_runtime *rt, const tr_sup_config *cfg, tr_ref **out);

/* A tr_child_start_fn that starts a supervisor: arg is a const tr_sup_config*. */
TR_EXTERN int tr_sup_start_as_child(tr_runtime *rt, void *arg, tr_ref **out);

/* --- operations on a running supervisor ---------------------------------
 * Blocking forms: threads outside the runtime only (TR_EDEADLK on a worker).
 * TR_EINVAL if sup is not a supervisor handle; TR_EDEAD if it has ended. */

/* Add a child spec (copied) and start it (not for TR_SUP_DYNAMIC: TR_EINVAL).
 * TR_EALREADY if a child with that id runs, TR_EEXIST if its spec is there
 * but it is not running, or the start function's error (the spec is then
 * not kept). out (optional) gets an owned handle to the child, NULL when
 * its start function answered TR_SUP_IGNORE. */
TR_EXTERN int tr_sup_start_child(tr_ref *sup, const tr_child_spec *spec, tr_ref **out);
/* TR_SUP_DYNAMIC only (else TR_EINVAL): start a child from the template with
 * arg in place of the template's arg (start fn arg, or opts.arg for a
 * behaviour). Dynamic children have no id. */
TR_EXTERN int tr_sup_start_dynamic(tr_ref *sup, void *arg, tr_ref **out);
/* Stop a child by id using its shutdown setting; the spec stays (except
 * temporary children). A child waiting to be restarted is not restarted.
 * TR_ENOTFOUND; TR_EINVAL on a dynamic supervisor (its children have no
 * id: use tr_sup_terminate_ref). */
TR_EXTERN int tr_sup_terminate_child(tr_ref *sup, const char *id);
/* Stop a child by handle (any strategy; the way to end dynamic children,
 * whose entry is then removed). 0 also if the child had already ended (a
 * handle whose actor has ended counts as terminated); TR_ENOTFOUND if a
 * living actor is not a child. */
TR_EXTERN int tr_sup_terminate_ref(tr_ref *sup, tr_ref *child);
/* Start a stopped child again. TR_ENOTFOUND, TR_EALREADY if it runs,
 * TR_ERESTARTING if it is waiting to be restarted (backoff, failed start),
 * TR_EINVAL on a dynamic supervisor, or the start function's error. */
TR_EXTERN int tr_sup_restart_child(tr_ref *sup, const char *id);
/* Remove the spec of a stopped child. TR_ENOTFOUND, TR_EBUSY if it runs,
 * TR_ERESTARTING if it is waiting to be restarted, TR_EINVAL on a dynamic
 * supervisor. */
TR_EXTERN int tr_sup_delete_child(tr_ref *sup, const char *id);
/* A copy of the spec of child id into *out. TR_ENOTFOUND; TR_EINVAL on a
 * dynamic supervisor. */
TR_EXTERN int tr_sup_get_childspec(tr_ref *sup, const char *id, tr_child_spec *out);

typedef struct tr_child_info {
    const char *id; /* the spec's id (static string), NULL for dynamic */
    tr_ref *ref;    /* owned handle (release it), NULL if not running */
    tr_child_kind kind;
    tr_child_restart restart;
    int running;       /* 1 if it runs now */
    uint32_t restarts; /* times this child was restarted */
    int restarting;    /* 1 if it waits to be restarted (backoff, failed start) */
} tr_child_info;

/* Fill up to cap entries in start order; *n gets the number of children
 * (which may exceed cap). Release the refs with tr_sup_children_release. */
TR_EXTERN int tr_sup_which_children(tr_ref *sup, tr_child_info *out, size_t cap, size_t *n);
TR_EXTERN void tr_sup_children_release(tr_child_info *info, size_t n);

typedef struct tr_sup_counts {
    size_t specs;       /* child specs (running or not); 1 (the template) when dynamic */
    size_t active;      /* children running now */
    size_t supervisors; /* children of kind supervisor (dynamic: running or restarting) */
    size_t workers;     /* children of kind worker (likewise) */
} tr_sup_counts;
TR_EXTERN int tr_sup_count_children(tr_ref *sup, tr_sup_counts *out);

typedef struct tr_sup_stats {
    uint64_t restarts;       /* children restarted (each counted once) */
    uint64_t start_failures; /* restarts whose start function failed */
    uint64_t delayed;        /* restarts that waited out a backoff */
    uint64_t kills;          /* children killed after their shutdown timeout */
} tr_sup_stats;
TR_EXTERN int tr_sup_stats_get(tr_ref *sup, tr_sup_stats *out);

/* --- the same from inside an actor (never block) ---------------------------
 * ctx is the calling actor's (inside one of its callbacks); the result comes
 * to its mailbox as TR_MSG_RESULT with corr == tag (see the top of this
 * file). Returns 0 (a result will come), or TR_EINVAL (bad arguments, sup
 * not a supervisor), TR_EDEAD (the supervisor has ended), TR_ENOMEM: then
 * no message comes. Read the results with tr_sup_result_* below. */
TR_EXTERN int tr_sup_start_child_async(tr_ctx *ctx, tr_ref *sup, const tr_child_spec *spec,
                                       uint64_t tag);
TR_EXTERN int tr_sup_start_dynamic_async(tr_ctx *ctx, tr_ref *sup, void *arg, uint64_t tag);
TR_EXTERN int tr_sup_terminate_child_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag);
/* child: the supervisor holds its own reference until it answers. */
TR_EXTERN int tr_sup_terminate_ref_async(tr_ctx *ctx, tr_ref *sup, tr_ref *child, uint64_t tag);
TR_EXTERN int tr_sup_restart_child_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag);
TR_EXTERN int tr_sup_delete_child_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag);
TR_EXTERN int tr_sup_get_childspec_async(tr_ctx *ctx, tr_ref *sup, const char *id, uint64_t tag);
TR_EXTERN int tr_sup_which_children_async(tr_ctx *ctx, tr_ref *sup, uint64_t tag);
TR_EXTERN int tr_sup_count_children_async(tr_ctx *ctx, tr_ref *sup, uint64_t tag);
TR_EXTERN int tr_sup_stats_get_async(tr_ctx *ctx, tr_ref *sup, uint64_t tag);

/* Readers of a TR_MSG_RESULT from the calls above (any thread that holds
 * the message). Each returns TR_EINVAL for a message that is not that
 * call's result (another type, another call, TR_MSG_ASK_FAILED), the call's
 * error code if it failed (tr_result_code), else 0 and:
 *  - tr_sup_result_ref (start_child, start_dynamic, restart_child): takes
 *    the child's handle, which the caller then owns (NULL if its start
 *    answered TR_SUP_IGNORE); TR_ESTATE if it was taken already. A handle
 *    not taken is released with the message.
 *  - tr_sup_result_children (which_children): the children in start order,
 *    borrowed: valid while the message is (the message owns the handles in
 *    them; retain one to keep it).
 *  - tr_sup_result_counts, tr_sup_result_stats, tr_sup_result_spec
 *    (count_children, stats_get, get_childspec): a copy into *out. */
TR_EXTERN int tr_sup_result_ref(tr_msg *res, tr_ref **out);
TR_EXTERN int tr_sup_result_children(const tr_msg *res, const tr_child_info **info, size_t *n);
TR_EXTERN int tr_sup_result_counts(const tr_msg *res, tr_sup_counts *out);
TR_EXTERN int tr_sup_result_stats(const tr_msg *res, tr_sup_stats *out);
TR_EXTERN int tr_sup_result_spec(const tr_msg *res, tr_child_spec *out);

/* Orderly shutdown: stop the children newest first (each per its shutdown
 * setting), then end the supervisor with TR_EXIT_NORMAL. Returns at once
 * (any thread, actors too); TR_EDEAD if it already ended. tr_actor_stop does
 * the same with TR_EXIT_SHUTDOWN. */
TR_EXTERN int tr_sup_stop(tr_ref *sup);

#ifdef __cplusplus
}
#endif
#endif
