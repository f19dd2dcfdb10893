/* core/futex.h - sleeping on a 32-bit word, for threads the runtime does not
 * own (foreign senders, askers).
 *
 * The waiter passes the value it last read; the kernel sleeps only while the
 * word still holds it, checked atomically with going to sleep, so a waker
 * that changes the word and then wakes can never be missed (futex(2),
 * Drepper, "Futexes Are Tricky", 2011). Deadlines are absolute
 * CLOCK_MONOTONIC times: a wait interrupted by a signal or a spurious wake
 * resumes with the same deadline. Private futexes: one process only. */
#ifndef TR_CORE_FUTEX_H
#define TR_CORE_FUTEX_H

#include <stdint.h>
#include <time.h>

#include "base/clock.h" /* deadlines are the clock's (tr__deadline_after) */

/* Sleep while *word == val, until woken or deadline (NULL: none).
 * TR_ETIMEDOUT when the deadline passed, else 0 (woken, interrupted, or
 * *word != val already): callers re-check their condition either way. */
int tr__futex_wait(uint32_t *word, uint32_t val, const struct timespec *deadline);

/* Wake up to n threads sleeping on word (INT32_MAX: all). */
void tr__futex_wake(uint32_t *word, int n);

#endif
