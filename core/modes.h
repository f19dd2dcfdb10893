/* core/modes.h - the seam between futures (core/ask.c) and the threads that
 * drive a main loop (core/modes.c: tr_runtime_run, tr_runtime_block_on). */
#ifndef TR_CORE_MODES_H
#define TR_CORE_MODES_H

#include <stdint.h>

#include "core/worker.h"
#include "troupe/actor.h"

/* In core/ask.c. */
tr_runtime *tr__future_runtime(const tr_future *f);
/* Kick w (tr__worker_kick_any) when f settles, from now on (NULL: stop).
 * 1 if f is settled already (then no kick may come). Any thread. */
int tr__future_set_driver(tr_future *f, tr__worker *w);
/* tr_future_wait without the current-thread hook below (arguments
 * checked by the caller; not on a worker with timeout_ms != 0). */
int tr__future_wait_plain(tr_future *f, int64_t timeout_ms, tr_msg **reply);

/* In core/modes.c: tr_future_wait on an unsettled future of a
 * current-thread runtime (timeout_ms != 0, not on a worker): drive the
 * runtime while waiting when no other thread does; while one does, wait
 * and take over if it stops before f settles. Results as tr_future_wait. */
int tr__modes_wait(tr_future *f, int64_t timeout_ms, tr_msg **reply);

/* From a thread outside the runtime waiting for a post to a current-thread
 * runtime's loop: if nobody drives it, run it once here (posts, timers,
 * I/O, runnable actors up to a loop poll); else nothing. */
void tr__modes_poke(tr_runtime *rt);

#endif
