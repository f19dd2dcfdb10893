/* actors/timer_thread.h - delays for supervisors and pools, without io/.
 *
 * One helper thread per runtime (started on first use, or by the first
 * supervisor or pool (tr__atimer_ready), joined when the runtime is freed) keeps a short list of
 * deadlines. It either pushes a system message into an actor when one falls due (restart backoff,
 * shutdown timeouts), or calls a function periodically (the pool watchdog). It is a thread rather
 * than a timer on a worker's libev loop on purpose: the watchdog must run while a worker is stuck
 * in a job, and an actor migrates between workers, so a loop timer could not be stopped from where
 * its actor runs next. Any thread may arm or cancel. */
#ifndef TR_ACTORS_TIMER_THREAD_H
#define TR_ACTORS_TIMER_THREAD_H

#include <stdint.h>

#include "base/clock.h" /* the delays are tr__mono_ms times */

#include "troupe/actor.h"

/* The system message type of actors/ timers (only ever sent to actors/ actors). */
#define TR__A_TIMER (TR_MSG_SYSTEM + 0x101u) /* a timer fell due; word = tag */
/* TR_MSG_SYSTEM + 0x102 is the pool's TR__A_TOKEN (actors/pool_worker.h). */

/* 0 if rt's timer service runs (starting it if needed), TR_ENOMEM, TR_ESYS
 * if its thread cannot be made (out of threads: retried at every use), or
 * TR_EFORKED (rt is the parent process's). Supervisors and pools ask at their start, so that one
 * that would need a timer later is refused then, with an error, instead of waiting for a timer that
 * never fires. */
int tr__atimer_ready(tr_runtime *rt);

/* After delay_ms, push a TR__A_TIMER message with word = tag into target.
 * Holds a reference to target until it fires or is cancelled. Returns a
 * timer id (> 0), or 0 if out of memory or without a timer thread. */
uint64_t tr__atimer_send(tr_ref *target, uint64_t tag, uint64_t delay_ms);

/* A message timer that its owner keeps in its own memory (a supervisor's
 * state), so that arming it takes none: out of memory, a supervisor's
 * backoff restart or shutdown deadline still falls due. The message itself
 * is made when the timer fires; if that allocation fails, the timer
 * thread tries again every TR__ATIMER_RETRY_MS until it succeeds or the
 * slot is re-armed or disarmed, so the owner is woken as soon as memory is
 * back, with no message of its own needed. Zeroed memory is a disarmed
 * slot. The slot holds no reference to its target: the owner disarms it
 * before the slot's memory or the target goes (an actor's terminate), and
 * disarming waits for a message being pushed to be pushed. The fields are
 * the timer service's. */
#define TR__ATIMER_RETRY_MS 10
typedef struct tr__atimer_slot {
    struct tr__atimer_slot *next;
    uint64_t due;
    uint64_t tag;
    tr_ref *target;
    uint32_t gen;   /* moved on by every arm and disarm: a failed fire retries only its own */
    uint8_t linked; /* in the service's list */
} tr__atimer_slot;

/* (Re)arm slot: after delay_ms, push a TR__A_TIMER message with word = tag
 * into target. A slot still armed is moved (its earlier tag never comes).
 * 0, or the error of tr__atimer_ready (no timer thread). */
int tr__atimer_arm(tr_ref *target, tr__atimer_slot *slot, uint64_t tag, uint64_t delay_ms);

/* Disarm slot: it will not fire again, and when this returns no message of
 * it is being pushed (one pushed earlier may still be queued: receivers
 * match tags). A disarmed slot is a no-op. */
void tr__atimer_disarm(tr_runtime *rt, tr__atimer_slot *slot);

/* Call fn(arg) on the timer thread every period_ms until cancelled. Returns
 * a timer id (> 0), or 0 as tr__atimer_send. */
uint64_t tr__atimer_every(tr_runtime *rt, uint64_t period_ms, void (*fn)(void *arg), void *arg);

/* Cancel a timer (id 0 is ignored). When this returns a periodic function
 * is not running and will not run again (unless called from that function).
 * A message timer may already have fired: receivers match tags. */
void tr__atimer_cancel(tr_runtime *rt, uint64_t id);

#endif
