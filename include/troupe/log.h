/* troupe/log.h - what the runtime reports: levels, records and the hook.
 *
 * Nothing fails silently: a crash (a handler that returned an error, a
 * tr_panic, a failed init), a supervisor or pool that gives up, a restart
 * storm, dead letters and handles still held at tr_runtime_free are each
 * reported as a record to the runtime's log hook. Without a hook the default
 * reporter writes one line per record to stderr (tr_log_stderr).
 *
 * The level (a record passes if its level is at or above it in severity):
 *   tr_runtime_set_log_level     at run time: wins over everything below;
 *   TROUPE_LOG=off|error|warn|info|debug   in the environment, read by
 *                                tr_runtime_new: wins over the config, so
 *                                an operator can turn reports up or down
 *                                without a rebuild;
 *   tr_runtime_config.log_level  the program's choice;
 *   TR_LOG_WARN                  when none of these says otherwise.
 *
 * Floods are cut short: at most 3 crash reports per second per runtime are
 * given in full, then one summary line a second counts the rest by actor;
 * dead letters are only ever summarised (one line a second at most, with
 * the top targets); restarts likewise. At TR_LOG_DEBUG every event is
 * reported in full. docs/observability.md, "Logging". */
#ifndef TROUPE_LOG_H
#define TROUPE_LOG_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_runtime tr_runtime;
typedef struct tr_ref tr_ref;

/* Levels, most severe first. TR_LOG_DEFAULT is only a setting ("decide for
 * me"), never a record's level; TR_LOG_OFF as a setting silences all. */
typedef enum tr_log_level {
    TR_LOG_DEFAULT = 0, /* setting: TROUPE_LOG if set, else TR_LOG_WARN */
    TR_LOG_OFF = 1,     /* setting: report nothing */
    TR_LOG_ERROR = 2,   /* crashes, a supervisor or pool giving up */
    TR_LOG_WARN = 3,    /* dead letters, restart storms, handles held at free */
    TR_LOG_INFO = 4,    /* each restart, exits caused by a link or tr_actor_exit */
    TR_LOG_DEBUG = 5,   /* everything, nothing rate-limited */
} tr_log_level;

/* One report. Every pointer is valid only during the hook's call (copy what
 * you keep). */
typedef struct tr_log_record {
    tr_log_level level;
    const char *subsystem;  /* "actor", "sup", "pool", "deadletter", "runtime", "console" */
    const char *text;       /* the report as one line, no newline; never NULL */
    uint64_t time_ns;       /* CLOCK_REALTIME, nanoseconds since the epoch */
    uint64_t actor_id;      /* the actor reported on (tr_ref_id), 0 if none */
    const char *actor_name; /* its best name (tr_ref_name), NULL if none */
    /* Crash reports (crash = 1); zero / NULL in other records. */
    int crash;
    const char *phase;      /* "receive", "panic", "init", "terminate", "exit" */
    int exit_code;          /* the exit reason's code (tr_exit.code) */
    const char *exit_text;  /* the exit reason's text (tr_exit.text) */
    int has_msg_type;       /* 1 if a message was being handled */
    uint32_t msg_type;      /* its type (msg->type) */
    const char *supervisor; /* the supervisor's (or pool's) name, NULL if none */
    uint32_t restarts;      /* times its supervisor restarted this child so far
                             * (a pool worker: the pool's worker restarts) */
} tr_log_record;

/* A log hook. Called on whichever thread has something to report: a worker
 * (mostly), a thread in tr_spawn or tr_runtime_free, the timer that flushes
 * summaries. Several threads may call it at once. It must return quickly
 * (it holds up the worker and every actor queued behind it), must not block
 * on the runtime (tr_future_wait, tr_send_wait, tr_runtime_join, ...: a
 * deadlock when it runs on a worker) and must not call
 * tr_runtime_set_logger (TR_EDEADLK). Sending a message (tr_send...) is
 * fine: a logger actor is a good home for slow sinks. */
typedef void (*tr_log_fn)(void *user_data, const tr_log_record *rec);

/* The default reporter: one line per record on stderr, written with one
 * write(2) (lines from several threads never mix):
 *   2026-01-02T03:04:05.678Z ERROR actor pool[3]#1537: crashed ...
 * time (UTC, ms), level, subsystem, name#id of the actor if any, text.
 * user_data is unused. Any thread; allocates nothing. */
TR_EXTERN void tr_log_stderr(void *user_data, const tr_log_record *rec);

/* Format rec as tr_log_stderr does (no newline) into buf (len bytes, always
 * NUL-terminated when len > 0). Returns the length of the whole line (as
 * snprintf: more than len - 1 if it was cut), TR_EINVAL on NULL rec, or buf
 * NULL with len > 0. Any thread; allocates nothing. */
TR_EXTERN int tr_log_format(const tr_log_record *rec, char *buf, size_t len);

/* "error", "warn", "info", "debug", "off", "default"; "?" otherwise. */
TR_EXTERN const char *tr_log_level_name(tr_log_level level);

/* Route rt's reports to fn(user_data, rec); fn NULL restores tr_log_stderr.
 * When this returns, no call of the previous hook is running or will start,
 * so its user_data may be freed. Any thread except from inside a hook
 * (TR_EDEADLK). TR_EINVAL on NULL rt; TR_EFORKED on a runtime of the
 * parent process (a hook its threads were running would never return). */
TR_EXTERN int tr_runtime_set_logger(tr_runtime *rt, tr_log_fn fn, void *user_data);

/* Set rt's level (TR_LOG_OFF..TR_LOG_DEBUG; TR_LOG_DEFAULT goes back to
 * TROUPE_LOG or TR_LOG_WARN). Wins over the config and the environment.
 * Takes effect at once on every thread. Any thread. TR_EINVAL on NULL rt or
 * an unknown level, TR_EFORKED on a runtime of the parent process. */
TR_EXTERN int tr_runtime_set_log_level(tr_runtime *rt, tr_log_level level);

/* rt's level now (TR_LOG_OFF..TR_LOG_DEBUG), or TR_LOG_OFF for NULL rt. */
TR_EXTERN tr_log_level tr_runtime_log_level(const tr_runtime *rt);

/* Inside the runtime's dead_letter hook (tr_runtime_config.dead_letter), on
 * the hook's thread: the actor the message msg was addressed to (borrowed:
 * valid during the hook; tr_ref_retain it to keep it), or NULL when the
 * message had no actor as its target (a reply to a future nobody waits
 * for) or when msg is not the message the hook was called for. Name it with
 * tr_ref_name and tr_ref_id. */
TR_EXTERN tr_ref *tr_dead_letter_target(const tr_msg *msg);

#ifdef __cplusplus
}
#endif
#endif
