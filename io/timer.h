/* io/timer.h - the loop timers (io/timer.c) other io files build on.
 *
 * io/timer.c serves the public tr_timer_* calls (troupe/timer.h); this is
 * its internal form, for io/deadline.c's ask and idle timeouts. */
#ifndef TR_IO_TIMER_H
#define TR_IO_TIMER_H

#include <stdint.h>

#include "io/io.h"

/* Internal timers (io/timer.c) that call fn on their worker instead of
 * sending a message: fn(arg, 1) at each expiry (for a one-shot timer that
 * is the last call), fn(arg, 0) exactly once when cancelled or torn down. */
typedef void (*tr__timer_fn)(void *arg, int fired);
int tr__timer_start_fn(tr__io *io, uint64_t after_ms, uint64_t repeat_ms, tr__timer_fn fn,
                       void *arg, uint64_t *id);
int tr__timer_cancel(tr__io *io, uint64_t id);

#endif
