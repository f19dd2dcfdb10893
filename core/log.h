/* core/log.h - reports: the level, the hook, rate-limited summaries, names.
 *
 * Each runtime has one tr__log (a field of struct tr_runtime). Reporters in
 * core/ and actors/ call the tr__log_* functions below; every one begins with
 * the level check, one load, so nothing is formatted or taken when the level
 * says no. None of them allocates: records are formatted on the stack (a
 * report may be about an allocation that failed). core/log.c. */
#ifndef TR_CORE_LOG_H
#define TR_CORE_LOG_H

#include <ck_spinlock.h>
#include <ev.h>
#include <pthread.h>
#include <stdint.h>

#include "core/worker.h"
#include "core/name.h"
#include "troupe/log.h"

/* The rate-limited kinds of event, each with its own one-second window. */
enum {
    TR__LIM_CRASH = 0,   /* crash reports */
    TR__LIM_RESTART = 1, /* restarts (info) */
    TR__LIM_DEAD = 2,    /* dead letters: always summarised */
    TR__LIM_EVENT = 3,   /* other repeatable reports (a pool's dropped jobs) */
    TR__LIM_COUNT = 4
};

#define TR__LOG_TOP 8   /* actors a summary names */
#define TR__LOG_NAME 48 /* bytes of a name kept in a summary */

/* Restart storms: more than TR__STORM_N restarts of one child (or one
 * pool's workers) within TR__STORM_MS warn, once per window. */
#define TR__STORM_N 10u
#define TR__STORM_MS 10000u

typedef struct tr__log_top {
    uint64_t id; /* dead letters: the target's id (0: none) */
    uint64_t n;
    int why; /* dead letters: TR_DEAD_* */
    char name[TR__LOG_NAME];
} tr__log_top;

/* One kind's current window (under tr__log.lock). */
typedef struct tr__log_win {
    uint64_t start_ns; /* monotonic; 0: no window open */
    uint64_t events;   /* in this window */
    uint64_t shown;    /* reported in full */
    uint64_t other;    /* summarised but not among top */
    int worst;         /* most severe level among the summarised */
    unsigned ntop;
    tr__log_top top[TR__LOG_TOP];
} tr__log_win;

typedef struct tr__log_hook {
    tr_log_fn fn;
    void *ud;
} tr__log_hook;

typedef struct tr__log {
    uint32_t level; /* the resolved tr_log_level: the one load of every check */
    int env_level;  /* TROUPE_LOG as read by tr_runtime_new; TR_LOG_DEFAULT if unset */
    int cfg_level;  /* tr_runtime_config.log_level */
    /* The hook, in two slots: `cur` says which; readers count themselves in
     * active[cur] (core/log.c, "the hook"). */
    uint32_t cur;
    uint32_t active[2];
    tr__log_hook hooks[2];
    pthread_mutex_t set_mu; /* one tr_runtime_set_logger at a time */
    /* Summaries. */
    ck_spinlock_fas_t lock;
    tr__log_win win[TR__LIM_COUNT];
    uint32_t armed; /* under lock: a flush is armed (timer) or on its way (post) */
    uint32_t final; /* under lock: the workers are gone; tr_runtime_free flushes */
    ev_timer timer; /* on timer_w's loop while armed */
    tr__worker *timer_w;
    tr__post post; /* asks a worker to arm the timer */
} tr__log;

/* Resolve the level (config, TROUPE_LOG), install the config's hook. Before
 * the workers start; cannot fail. */
void tr__log_init(tr_runtime *rt);
/* tr_runtime_free, after the join: no flush is armed from here on. */
void tr__log_stop(tr_runtime *rt);
/* tr_runtime_free, after the runtime's last dead letters: flush every
 * summary, report the handles still held, free what the log holds. */
void tr__log_final(tr_runtime *rt);

/* 1 if rt reports records of level lv (one load). */
int tr__log_on(const tr_runtime *rt, tr_log_level lv);

/* A plain record about actor a (NULL: none), text from fmt. */
void tr__log_text(tr_runtime *rt, tr_log_level lv, const char *subsystem, const tr_actor *a,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A report that may repeat quickly (a pool dropping jobs): as
 * tr__log_text, but at most a few per second in full, the rest summarised
 * by actor. */
void tr__log_event(tr_runtime *rt, tr_log_level lv, const char *subsystem, const tr_actor *a,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A crash report for a (owner): phase "receive" (its handler returned
 * code), "panic" (tr_panic(code, text)), "init", "terminate", or "exit" (an
 * error exit asked for by a link or tr_actor_exit: info level, not a
 * crash of its own). m is the message being handled, or NULL. */
void tr__log_crash(tr_actor *a, const char *phase, int code, const char *text, const tr_msg *m);

/* A message is being dead-lettered (core/runtime.c): run the runtime's
 * dead_letter hook (with tr_dead_letter_target answering for msg) and count
 * it into the summary. target: the actor it was addressed to, or NULL. */
void tr__log_dead_letter(tr_runtime *rt, const tr_msg *msg, int why, const tr_actor *target);

/* Restart storms: one per child (supervisor) or per pool, owner only. */
typedef struct tr__log_storm {
    uint64_t start_ms;
    uint32_t n;
} tr__log_storm;
/* `who` (a supervisor or pool, its name `who_name`) restarted a child, now
 * actor `child` (NULL if it has none yet), for the `restarts`-th time: an
 * info record (rate-limited), and a warning once per storm window. */
void tr__log_restart(tr_runtime *rt, tr__log_storm *st, const char *subsystem, const char *who_name,
                     const tr_actor *child, uint32_t restarts);

/* --- names ---------------------------------------------------------------- */

/* tr__actor_name, the display name every report shows: core/name.h. */

/* What a supervisor or pool knows of the child it is about to spawn: the
 * next tr_spawn into l->rt on this thread takes it (and clears it), before
 * init runs, so every report about the child names it. Strings are static
 * (the config's and spec's, by their contract). NULL clears. */
typedef struct tr__label {
    tr_runtime *rt;
    const char *parent; /* the supervisor's or pool's name */
    const char *child;  /* a supervisor's child id (replaces the spawn name), or NULL */
    uint32_t slot;      /* a pool worker's slot + 1; 0: not a pool worker */
    uint32_t restarts;  /* restarts of this child so far (this start included) */
} tr__label;
void tr__label_next(const tr__label *l);
/* In tr_spawn: give a the pending label of this thread, or none. */
void tr__label_take(tr_actor *a);

#endif
