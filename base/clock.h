/* base/clock.h - the one clock of the tree.
 *
 * Every deadline and duration in troupe is CLOCK_MONOTONIC: the futures'
 * poll budget and the workers' helping (ns), the actors/ timer thread, the
 * supervisors' backoff and the pool watchdog (ms), futex and condition
 * variable waits (absolute timespec deadlines). The io/ loop timers use
 * libev's own clock (ev_now), which is also monotonic where the system has
 * one; docs/design.md, "Time", says which timer engine serves what. */
#ifndef TR_BASE_CLOCK_H
#define TR_BASE_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC now, in nanoseconds / milliseconds. Any thread. */
uint64_t tr__mono_ns(void);
uint64_t tr__mono_ms(void);

/* The absolute CLOCK_MONOTONIC time ms (>= 0) milliseconds from now: for
 * futex waits and for condition variables on the monotonic clock. */
void tr__deadline_after(struct timespec *ts, int64_t ms);

/* Initialise cv on the monotonic clock, so its timed waits take
 * tr__deadline_after deadlines (pthread's default is the wall clock). */
void tr__cond_init_mono(pthread_cond_t *cv);

#endif
