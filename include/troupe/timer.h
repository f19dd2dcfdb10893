/* troupe/timer.h - time: delayed and periodic messages, ask timeouts, idle.
 *
 * Timers live on a worker's libev loop (the calling worker's, or one chosen
 * round robin when called from a foreign thread) and fire as ordinary
 * messages in the target actor's mailbox, wherever that actor runs later.
 * Timers due at different times fire in deadline order; a message is never
 * delivered before its delay has passed (it may be late on a busy worker).
 *
 * Any thread may start or cancel a timer. A timer holds a reference to its
 * target until it fires or is cancelled (so a runtime that closes by itself
 * once no handle is left waits for pending timers); a timer whose target
 * stopped delivers nothing (its message is dead-lettered). At runtime shutdown every pending timer
 * is cancelled and its message destroyed (destructors run): nothing leaks.
 *
 * See docs/time-and-io.md for the design. */
#ifndef TROUPE_TIMER_H
#define TROUPE_TIMER_H

#include "troupe/common.h"

#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/msg.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A timer's process-unique id (never 0, never reused within a runtime). */
typedef uint64_t tr_timer_id;

/* Delivered by tr_idle_timeout: msg->word = the timeout in ms. Idle messages
 * themselves do not count as activity. */
#define TR_MSG_IDLE (TR_MSG_SYSTEM + 16)

/* Send msg to `to` after delay_ms (0: on the next loop iteration). On
 * success the runtime owns msg (a cancelled or undeliverable timer destroys
 * it) and *out (may be NULL) is the timer's id; on error the caller still
 * owns msg. msg must not be an ask request (TR_EINVAL). TR_ECLOSED when the
 * runtime is shutting down, TR_EDEAD when `to` has stopped. Armed from
 * inside an actor's callback, msg carries that actor as its sender
 * (tr_sender, tr_reply), as a tr_send_msg would. */
TR_EXTERN int tr_timer_send_after(tr_ref *to, uint64_t delay_ms, tr_msg *msg, tr_timer_id *out);

/* Tick `to` first after first_ms, then every period_ms (>= 1), until
 * cancelled or the target stops: each tick is a fresh message {type, word}
 * that the timer builds (there is no message to hand over, unlike
 * tr_timer_send_after: a delivered message belongs to its receiver, so one
 * message cannot be sent twice). type must be below TR_MSG_SYSTEM
 * (TR_EINVAL). Ticks are scheduled against the first deadline (no drift); if
 * the worker falls behind, missed ticks are not queued up in a burst. On
 * success *out (may be NULL) is the timer's id. TR_EINVAL (NULL `to`,
 * period_ms 0, a delay above 2^32 s), TR_ECLOSED when the runtime is
 * shutting down, TR_EDEAD when `to` has stopped, TR_ENOMEM. */
TR_EXTERN int tr_timer_tick_every(tr_ref *to, uint64_t first_ms, uint64_t period_ms, uint32_t type,
                                  uint64_t word, tr_timer_id *out);

/* Cancel a timer from any thread. Returns 0 if it was cancelled before
 * firing (a one-shot's message is then destroyed and never delivered; a
 * periodic timer sends no further tick), TR_ENOTFOUND if it already fired,
 * was already cancelled or is unknown (id 0 included), TR_EINVAL for a NULL
 * runtime. A tick already in the mailbox stays there. */
TR_EXTERN int tr_timer_cancel(tr_runtime *rt, tr_timer_id id);

/* tr_request with a deadline. Exactly one of these reaches the asking actor
 * for `tag`: the reply (msg->corr == tag), or TR_MSG_ASK_FAILED with
 * corr == tag and status TR_ETIMEDOUT once timeout_ms (>= 1) has passed, or
 * TR_MSG_ASK_FAILED with another status if the request could not be answered
 * (target stopped: TR_EDEAD; handled without reply: TR_ENOREPLY; ...). A reply
 * that comes after the deadline is dead-lettered (TR_DEAD_DROPPED), never
 * delivered. A reply that does not fit in a full bounded mailbox is
 * dead-lettered too. Ownership of req as for tr_request. */
TR_EXTERN int tr_request_timeout(tr_ctx *ctx, tr_ref *to, tr_msg *req, uint64_t tag,
                                 uint64_t timeout_ms);

/* Tell the calling actor (TR_MSG_IDLE) whenever no message has arrived for
 * ms milliseconds; it repeats every further ms of silence. 0 disables. A new
 * call replaces the previous setting. Detection granularity is about ms/4,
 * so the message comes between ms and about 1.25 * ms after the last
 * message (later on a busy worker). */
TR_EXTERN int tr_idle_timeout(tr_ctx *ctx, uint64_t ms);

#ifdef __cplusplus
}
#endif
#endif
