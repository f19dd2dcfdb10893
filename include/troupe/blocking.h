/* troupe/blocking.h - run blocking functions off the workers.
 *
 * Actors must never block their worker. A blocking call (file I/O, a DNS
 * lookup, a slow library) goes to the runtime's blocking pool instead: a
 * bounded set of threads, made on demand up to max_threads and ended after
 * keepalive_ms without work. The result comes back as a message to an actor
 * (tr_blocking_run) or as a future for a foreign thread (tr_blocking_ask).
 * Tasks beyond max_threads queue up in submission order.
 *
 * A task's function: int fn(void *arg, void **result). Its return value
 * travels in the result message's status; *result (initially NULL) in its
 * ptr, freed with result_free unless the receiver takes it
 * (tr_msg_take_ptr). arg belongs to the caller; the pool never frees it.
 *
 * At runtime free, queued tasks still run (their results are dead-lettered,
 * so result_free runs) and the pool waits for its threads to finish. */
#ifndef TROUPE_BLOCKING_H
#define TROUPE_BLOCKING_H

#include "troupe/common.h"

#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/msg.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*tr_blocking_fn)(void *arg, void **result);

#define TR_BLOCKING_DEFAULT_THREADS 8
#define TR_BLOCKING_DEFAULT_KEEPALIVE_MS 2000

/* Set the pool's bounds (any time; a lower max takes effect as threads
 * finish). max_threads 0 = default (8), keepalive_ms 0 = default (2000).
 * TR_EINVAL for a NULL runtime or max_threads > 1024, TR_ECLOSED once the
 * runtime is closed (from outside its workers), TR_EFORKED on a runtime of
 * the parent process (here and in every call below). */
TR_EXTERN int tr_blocking_configure(tr_runtime *rt, unsigned max_threads, uint64_t keepalive_ms);

/* Run fn(arg, &result) on the pool; then send `to` a message {type, word,
 * status = fn's return, ptr = result, ptr_free = result_free}. If `to` has
 * stopped by then, the message is dead-lettered (result_free runs).
 * TR_EDEAD if `to` has already stopped (fn does not run), TR_ECLOSED once
 * the runtime is closed (from outside its workers) or the pool is shutting
 * down, TR_EINVAL (NULL to or fn, reserved type), TR_ENOMEM, TR_ESYS if no
 * pool thread runs and none can be made (out of threads: the call is taken
 * back, fn does not run). */
TR_EXTERN int tr_blocking_run(tr_ref *to, uint32_t type, uint64_t word, tr_blocking_fn fn,
                              void *arg, tr_free_fn result_free);

/* Like tr_blocking_run, but the result settles *out: tr_future_wait gives a
 * reply message (type 0) with status, ptr and ptr_free as above. TR_EINVAL
 * (NULL rt, fn or out), TR_ECLOSED, TR_ENOMEM and TR_ESYS as for
 * tr_blocking_run. */
TR_EXTERN int tr_blocking_ask(tr_runtime *rt, tr_blocking_fn fn, void *arg, tr_free_fn result_free,
                              tr_future **out);

typedef struct tr_blocking_stats {
    unsigned threads;     /* alive now */
    unsigned peak;        /* most alive at once, ever */
    unsigned max_threads; /* the configured bound */
    unsigned queued;      /* tasks waiting for a thread */
    uint64_t completed;   /* tasks run */
    uint64_t created;     /* threads made */
} tr_blocking_stats;
/* The pool's figures now (all zero before its first use). TR_EINVAL (NULL
 * argument), TR_ENOMEM (the pool could not be made), TR_EFORKED. Any
 * thread; also on a closed runtime until tr_runtime_free. */
TR_EXTERN int tr_blocking_stats_get(tr_runtime *rt, tr_blocking_stats *out);

#ifdef __cplusplus
}
#endif
#endif
