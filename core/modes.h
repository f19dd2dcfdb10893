/* core/modes.h - who drives a main loop, and until when (core/modes.c):
 * tr_runtime_run and tr_runtime_block_on are public (troupe/runtime.h);
 * these are the hooks the rest of the runtime calls. */
#ifndef TR_CORE_MODES_H
#define TR_CORE_MODES_H

#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/runtime.h"

/* tr_future_wait on an unsettled future of a current-thread runtime
 * (timeout_ms != 0, not on a worker): drive the runtime while waiting when
 * no other thread does; while one does, wait and take over if it stops
 * before f settles. Results as tr_future_wait. */
int tr__modes_wait(tr_future *f, int64_t timeout_ms, tr_msg **reply);

/* From a thread outside the runtime waiting for a post to a current-thread
 * runtime's loop: if nobody drives it, run it once here (posts, timers,
 * I/O, runnable actors up to a loop poll); else nothing. */
void tr__modes_poke(tr_runtime *rt);

#endif
