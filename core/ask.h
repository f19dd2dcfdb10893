/* core/ask.h - requests, replies and futures (core/ask.c).
 *
 * The reply tokens a request carries in tr_msg.reply are defined in
 * core/msg.h (every reader of a message header tells them apart); what a
 * token does when it is used or dropped is here. */
#ifndef TR_CORE_ASK_H
#define TR_CORE_ASK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/msg.h"
#include "troupe/actor.h"
#include "troupe/msg.h"

/* A new reference to the actor that sent a tell, or NULL with *err set:
 * TR_ENOTFOUND if msg names no sender, TR_EDEAD if it has ended (or its
 * block now holds another actor). Any thread. */
tr_ref *tr__sender_retain(const tr_msg *msg, int *err);

typedef struct tr__reply_sink tr__reply_sink;
struct tr__reply_sink {
    /* The reply to the request: the sink owns reply from now on, whatever
     * it does with it (tr_reply_msg then returns 0). Any thread. */
    void (*reply)(tr__reply_sink *s, tr_msg *reply, uint64_t corr);
    /* The request was destroyed unanswered with err. Any thread. */
    void (*fail)(tr__reply_sink *s, int err, uint64_t corr);
};

/* A pending future with two references: the caller's (handed to the user)
 * and a reply token's. Put it in a request's `reply` (with TR__MSG_ASK) and
 * answer that request with tr_reply_msg, or fail it with tr__reply_fail, to
 * settle the future from code that is not an actor (io/ blocking tasks). */
tr_future *tr__future_new(tr_runtime *rt);
/* Settle f with reply (err == 0; f then owns reply) or the failure err,
 * using the token's reference. Any thread, once per future. */
void tr__future_settle(tr_future *f, tr_msg *reply, int err);
/* This thread's current poll budget in tr_future_wait on a future of rt, in
 * ns (for tests): between these two (core/ask.c says how it moves), or 0
 * where rt was made seeing one CPU (tr__future_poll_init, from
 * tr_runtime_new, sets rt->poll_cap). */
uint32_t tr__future_poll_ns(const tr_runtime *rt);
/* rt's cap on that budget: TR__POLL_MAX_NS, or 0 where rt was made seeing
 * one CPU (for tests: the budget itself moves with this thread's waits). */
uint32_t tr__future_poll_cap_ns(const tr_runtime *rt);
void tr__future_poll_init(tr_runtime *rt);
#define TR__POLL_MAX_NS 50000u
#define TR__POLL_MIN_NS 2000u
/* The poll budget after a wait that slept and took waited_ns in all, from
 * the budget before it; *long_waits counts the waits in a row that a full
 * poll would have missed (this thread's; 0 at first). Pure: tests call it
 * with their own numbers (core/ask.c says the rule). */
uint32_t tr__future_poll_next(uint32_t budget, uint64_t waited_ns, uint32_t *long_waits);
/* Wake f's sleeping waiters and drop the settler's reference: the end of a
 * settle whose wake-up was deferred to the end of the turn (core/worker.c). */
void tr__future_wake_deferred(tr_future *f);

/* Answer the request req with a TR_MSG_RESULT message: status and word =
 * rc, carrying ptr (freed by ptr_free when the reply is destroyed, unless
 * taken). The result of the calls on supervisors and pools: the blocking
 * form reads it from its future, the actor form gets it in its mailbox with
 * corr = its tag. ptr_free(ptr) runs here on error. */
int tr__reply_result(tr_msg *req, int rc, void *ptr, tr_free_fn ptr_free);

/* Fail the token of msg with err (no-op if none). */
void tr__reply_fail(tr_msg *msg, int err);
/* As tr__reply_fail, except that when the token is an actor's and no
 * TR_MSG_ASK_FAILED notice can be allocated it returns TR_ENOMEM and
 * leaves the token in msg (the caller then uses tr__reply_fail_in_place).
 * 0 otherwise (the token is used). */
int tr__reply_fail_try(tr_msg *msg, int err);
/* msg, whose token is an actor's and whose memory is the runtime's to
 * reuse (made by tr_msg_new or as a system message; ptr already freed),
 * becomes that actor's TR_MSG_ASK_FAILED notice with err and corr kept,
 * and is pushed to it (destroyed if it has ended). Allocates nothing, so an
 * asking actor learns of the failure even out of memory. */
void tr__reply_fail_in_place(tr_msg *msg, int err);

/* Send req to `to` as a request answered through token (a tr_future*, or a
 * tagged pointer as above; req->corr is the caller's to set). On success the
 * runtime owns req and the token's reference; on error req carries no
 * token and no ask flag, and the caller still owns both. */
int tr__ask_send(tr_ref *to, tr_msg *req, void *token);

struct tr__worker; /* core/worker.h */

/* For the drivers of a main loop (core/modes.c). f's runtime. */
tr_runtime *tr__future_runtime(const tr_future *f);
/* Kick w (tr__worker_kick_any) when f settles, from now on (NULL: stop).
 * true if f is settled already (then no kick may come). Any thread. */
bool tr__future_set_driver(tr_future *f, struct tr__worker *w);
/* tr_future_wait without its current-thread hook (tr__modes_wait): the
 * arguments checked by the caller, not on a worker with timeout_ms != 0. */
int tr__future_wait_plain(tr_future *f, int64_t timeout_ms, tr_msg **reply);

#endif
