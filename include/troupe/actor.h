/* troupe/actor.h - actors, handles and sending.
 *
 * An actor is private state plus a behaviour (init, receive, terminate). The
 * runtime runs at most one callback of an actor at a time, so state needs no
 * lock. Messages reach it through a lock-free MPSC mailbox.
 *
 * Handles: tr_ref is a reference-counted handle to one actor incarnation. Any
 * thread may send through it, runtime workers and foreign threads alike. After
 * the actor stops, sends through old handles return TR_EDEAD; the handle's
 * memory stays valid (it is never reused for another actor) until the last
 * tr_ref_release. Handles passed to callbacks (tr_self) are borrowed: retain
 * them to keep them.
 *
 * Sending: on success the runtime owns the message; on error the caller still
 * does (for tr_send_ptr: still owns ptr). Errors: TR_EINVAL (NULL, reserved
 * type), TR_EDEAD (actor stopped), TR_EFULL (bounded mailbox full), TR_ECLOSED
 * (runtime closed and the sender is not one of its actors), TR_E2BIG, TR_ENOMEM.
 *
 * Crashes: receive returning non-zero, or tr_panic(), ends the actor with an
 * error exit: terminate runs with the reason, queued messages are
 * dead-lettered, links and monitors are told; the worker thread lives on. */
#ifndef TROUPE_ACTOR_H
#define TROUPE_ACTOR_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/msg.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tr_ref tr_ref; /* an actor handle */
typedef struct tr_ctx tr_ctx; /* the running actor, valid inside its callbacks */

/* Why an actor ended. */
typedef enum tr_exit_kind {
    TR_EXIT_NORMAL = 0,   /* it stopped itself (tr_stop) */
    TR_EXIT_SHUTDOWN = 1, /* asked to stop (tr_actor_stop, runtime close, supervisor) */
    TR_EXIT_KILLED = 2,   /* killed (tr_actor_kill): untrappable */
    TR_EXIT_ERROR = 3,    /* crashed: receive/init returned an error, or tr_panic */
} tr_exit_kind;

typedef struct tr_exit {
    tr_exit_kind kind;
    int code;         /* the error code for TR_EXIT_ERROR, else 0 */
    const char *text; /* a static or runtime-owned description; never NULL */
} tr_exit;

typedef struct tr_behavior {
    /* Runs on the spawning thread before tr_spawn returns, before any message.
     * A non-zero return makes tr_spawn fail with that code (terminate does not
     * run). May be NULL. */
    int (*init)(tr_ctx *ctx, void *state, void *arg);
    /* Handles one message (required). The runtime owns msg and destroys it
     * when receive returns, unless it was forwarded (tr_forward) or kept
     * (tr_msg_keep). Non-zero = crash with that code. */
    int (*receive)(tr_ctx *ctx, void *state, tr_msg *msg);
    /* Runs exactly once, on a worker, for every actor whose init succeeded.
     * May be NULL. The actor's mailbox is already closed. */
    void (*terminate)(tr_ctx *ctx, void *state, const tr_exit *why);
} tr_behavior;

#define TR_MAILBOX_UNBOUNDED UINT32_MAX

typedef struct tr_spawn_opts {
    size_t state_size;         /* bytes of zeroed state the runtime allocates */
    void *arg;                 /* passed to init; if state_size is 0 and init is
                                  NULL, arg is used as the state pointer */
    uint32_t mailbox_capacity; /* 0 = runtime default, TR_MAILBOX_UNBOUNDED */
    /* Static string shown in reports (tr_ref_name), or NULL. Kept in the
     * actor's side record (see tr_stash), which a named spawn makes. */
    const char *name;
    /* 1: a thread outside the runtime that streams messages to this actor
     * gets a private lane into it (2-3x the throughput with several such
     * threads). The price: messages from different senders are ordered per
     * sender only. Without lanes one mailbox orders everything, so a message
     * sent after another thread's sends completed (after a join, say) comes
     * after them; with lanes it may overtake what is still in their lanes.
     * 0 (the default): no lanes. docs/design.md, "Lanes". */
    uint32_t lanes;
    /* Most messages tr_stash holds at once: 0 = TR_STASH_DEFAULT,
     * TR_MAILBOX_UNBOUNDED = no bound. docs/behaviours.md. */
    uint32_t stash_capacity;
    /* A name to register the actor under (troupe/registry.h), or NULL. It
     * is registered before init runs and before anything can be sent to
     * the actor: if the name is taken by a live actor, tr_spawn fails with
     * TR_EEXIST and init does not run; if init fails, the name is released
     * before its monitors hear of it. The string is copied at each spawn, so
     * a supervisor's child spec gives every restarted child its name back;
     * if another live actor has taken the name meanwhile, the restart fails
     * with TR_EEXIST and counts against the supervisor's intensity. */
    const char *register_as;
    /* Where the actor runs (docs/runtime-modes.md): TR_PIN_NONE (0, any
     * worker), TR_PIN_MAIN (only on the thread that drives the runtime's
     * main loop: tr_runtime_run / tr_runtime_block_on; TR_EINVAL from
     * tr_spawn if the runtime has no main loop) or TR_PIN_THREAD (on a
     * thread of its own, made by tr_spawn and ended when the actor ends;
     * TR_ESYS if it cannot be made). A pinned actor is never stolen by
     * another worker nor run elsewhere; everything else (asks, links,
     * monitors, timers, I/O, supervision: a child spec's opts keep the pin
     * across restarts) works as for any actor. */
    uint32_t pin;
} tr_spawn_opts;

/* tr_spawn_opts.pin */
enum {
    TR_PIN_NONE = 0,   /* any worker */
    TR_PIN_MAIN = 1,   /* the main loop's thread */
    TR_PIN_THREAD = 2, /* a dedicated thread */
};

#define TR_STASH_DEFAULT 1024u

/* Spawn an actor. opts may be NULL (no state, default mailbox). On success
 * *out is a handle owned by the caller (release it when done); out may be NULL
 * if no handle is wanted. TR_ECLOSED if the runtime is closed; with
 * opts.register_as, the errors of tr_register (TR_EEXIST, TR_EINVAL,
 * TR_ENOMEM); with opts.pin, TR_EINVAL (an unknown pin, or TR_PIN_MAIN in a
 * runtime without a main loop) and TR_ESYS (TR_PIN_THREAD: no thread or
 * loop could be made); TR_ENOMEM. */
TR_EXTERN int tr_spawn(tr_runtime *rt, const tr_behavior *behavior, const tr_spawn_opts *opts,
                       tr_ref **out);

/* --- handles ------------------------------------------------------------ */
TR_EXTERN int tr_ref_retain(tr_ref *ref);
/* Drop a reference. Using the handle afterwards is a programmer error. */
TR_EXTERN int tr_ref_release(tr_ref *ref);
/* Whether the actor lives: false once it has stopped or is stopping, and
 * for NULL (a predicate). Any thread. */
TR_EXTERN bool tr_ref_is_alive(const tr_ref *ref);
/* A process-unique id of this actor incarnation (never reused, across all
 * runtimes of the process), 0 for NULL. */
TR_EXTERN uint64_t tr_ref_id(const tr_ref *ref);
/* The actor's display name, as every report (troupe/log.h), snapshot
 * (troupe/introspect.h), troupe-top and Prometheus label shows it, written
 * into buf (len bytes, always NUL-terminated when len > 0): a pool worker
 * is "pool-name[slot]", a supervisor's child "supervisor-name/child-id",
 * any other actor its tr_spawn_opts.name; "" for an unnamed actor. Stays
 * readable after the actor ended, while the handle is held. Returns the
 * name's length (as snprintf: more than len - 1 if it was cut), 0 for an
 * unnamed actor, TR_EINVAL on NULL ref, or buf NULL with len > 0. Any
 * thread; allocates nothing. */
TR_EXTERN int tr_ref_name(const tr_ref *ref, char *buf, size_t len);
TR_EXTERN tr_runtime *tr_ref_runtime(const tr_ref *ref);
/* Messages waiting in the actor's mailbox, not counting the one it is
 * handling. Exact for a bounded mailbox (set mailbox_capacity to get one),
 * lanes included, and never above its capacity (the runtime's notices,
 * DOWN, EXIT and ASK_FAILED, may queue past the bound; the count shows at
 * most the capacity). An unbounded mailbox keeps no count on the send path
 * (it would cost a fetch-and-add per send), so it reports 0 when empty and
 * 1 otherwise, a lower bound that does not see the lanes of threads outside
 * the runtime (docs/design.md); unless the actor was spawned while the
 * runtime's metrics switch was on (TR_METRICS_TIMING, troupe/introspect.h):
 * then it is exact as a bounded one. Any thread; a value of a moment,
 * exact when no one sends or receives. TR_EINVAL, TR_EDEAD. */
TR_EXTERN int64_t tr_ref_mailbox_len(const tr_ref *ref);

/* --- sending (any thread) ----------------------------------------------- */
/* Senders. A message sent from inside an actor's callback (receive, init,
 * terminate) with tr_send, tr_send_word, tr_send_ptr, tr_send_msg or
 * tr_send_batch carries that actor as its sender; tr_forward keeps the
 * sender the message had (or none). A message from a foreign thread has
 * none, nor has one into another runtime (sent or forwarded). Carrying a sender costs
 * the send two plain stores and holds no reference: the receiver gets it
 * with tr_sender, answers it with tr_reply*, and a sender that ended by then
 * is reported as TR_EDEAD, never confused with a later actor.
 * From a foreign thread every send (and tr_spawn) fails with TR_ECLOSED once
 * the runtime drains or closes (its actors may still send), and with
 * TR_EFORKED in a fork child on a runtime of the parent; the caller keeps
 * the message.
 * Flow control: a send never fails for a long queue (an unbounded mailbox
 * has no TR_EFULL), but a foreign thread that sends faster than the
 * runtime handles is slowed to the handling rate: once the process's
 * message blocks are all queued (past the threads' caches plus 8,192) and
 * the receivers are handing blocks back, a send that needs a fresh block
 * yields its CPU until one comes back (at most 1 ms without one, 10 ms in
 * all, once per 1,024 messages), instead of growing the queue. A thread
 * the receivers keep up with never waits, workers never wait, and nothing
 * waits when the receivers are not handling (docs/design.md, the message
 * cache). For a hard bound per actor, spawn it with a mailbox capacity
 * and send with tr_send_wait. */
/* Copy size bytes of data into a new message. */
TR_EXTERN int tr_send(tr_ref *to, uint32_t type, const void *data, size_t size);
/* A message whose payload is one 64-bit word (msg->word). */
TR_EXTERN int tr_send_word(tr_ref *to, uint32_t type, uint64_t word);
/* Zero copy: ptr travels in msg->ptr; ptr_free(ptr) runs when the runtime is
 * done, unless the receiver takes it. On error the caller still owns ptr. */
TR_EXTERN int tr_send_ptr(tr_ref *to, uint32_t type, void *ptr, tr_free_fn ptr_free);
/* Send a message the caller made (tr_msg_new or tr_msg_init). */
TR_EXTERN int tr_send_msg(tr_ref *to, tr_msg *msg);
/* Send n messages in one call; they arrive in array order. All or nothing:
 * on error none was sent and the caller still owns all of them. */
TR_EXTERN int tr_send_batch(tr_ref *to, tr_msg *const *msgs, size_t n);
/* Like tr_send_msg, but when the bounded mailbox is full wait up to
 * timeout_ms (< 0: forever) for room. Not for runtime workers (TR_EDEADLK).
 * One waiting sender per runtime waits awake (for up to 2 ms, yielding the
 * CPU now and then) and sends as soon as there is room; the others sleep and
 * are woken together once the receiver has freed half of its mailbox and it
 * is at most half full (backpressure in bulk, not one wake-up per message).
 * Waiters are not served in arrival order. */
TR_EXTERN int tr_send_wait(tr_ref *to, tr_msg *msg, int64_t timeout_ms);

/* --- inside callbacks --------------------------------------------------- */
TR_EXTERN tr_ref *tr_self(tr_ctx *ctx); /* borrowed */
TR_EXTERN tr_runtime *tr_ctx_runtime(tr_ctx *ctx);
/* Stop after the current callback returns, with a normal exit. */
TR_EXTERN int tr_stop(tr_ctx *ctx);
/* Crash now: unwinds to the worker with longjmp (see docs/supervision.md for
 * what is safe around it), exit reason TR_EXIT_ERROR with code and text
 * (copied). Does not return. Outside a receive/init callback it aborts. */
TR_EXTERN void tr_panic(tr_ctx *ctx, int code, const char *text) __attribute__((noreturn));
/* Keep the message being received: the runtime will not destroy it; the
 * actor now owns it (send it on later, or tr_msg_free it). */
TR_EXTERN int tr_msg_keep(tr_ctx *ctx, tr_msg *msg);
/* Send the message being received (or any owned message) on to another actor
 * without copying; ask replies still go to the original asker. */
TR_EXTERN int tr_forward(tr_ctx *ctx, tr_ref *to, tr_msg *msg);

/* --- become and stash (inside receive; docs/behaviours.md) -------------
 * Only the actor itself calls these, from its own callbacks (ctx). */

/* A receive function: the signature of tr_behavior.receive. */
typedef int (*tr_receive_fn)(tr_ctx *ctx, void *state, tr_msg *msg);

/* Most receive functions tr_become_push remembers at once. */
#define TR_BECOME_DEPTH 16

/* Receive every message from the next one on with `receive` instead of the
 * current receive function (which is forgotten; what tr_become_push
 * remembered stays remembered). A new incarnation (tr_spawn, a supervisor's
 * restart) starts with its behaviour's receive. Callable from init, receive
 * and terminate. TR_EINVAL (NULL ctx or receive); TR_ESTATE in a pool
 * worker (the pool's own receive wraps the user's and must stay). */
TR_EXTERN int tr_become(tr_ctx *ctx, tr_receive_fn receive);
/* Like tr_become, but remember the current receive function for
 * tr_unbecome. At most TR_BECOME_DEPTH are remembered: TR_EFULL beyond
 * (nothing changes). TR_ENOMEM if the stack (allocated on the first push,
 * freed with the actor) cannot be made; TR_ESTATE in a pool worker. */
TR_EXTERN int tr_become_push(tr_ctx *ctx, tr_receive_fn receive);
/* Go back to the receive function the last tr_become_push remembered.
 * TR_ESTATE if none is remembered (or in a pool worker). */
TR_EXTERN int tr_unbecome(tr_ctx *ctx);

/* Stash the message being received: it leaves the mailbox (a bounded
 * mailbox gets its room back) and waits, owned by the runtime, in the
 * actor's stash until an unstash puts it back; the runtime does not destroy
 * it when receive returns. Everything travels with it: its ask token (answer
 * it when it comes back), ptr payload, corr and status. Until it comes
 * back the message is the runtime's: do not send, forward, answer or free
 * it. Stashing allocates nothing, except the actor's first stash, which
 * makes the small record where an actor keeps its rarely used state (stash,
 * become stack, names, watch ids) if it has none yet: an idle actor is
 * smaller without it (docs/performance.md). An actor spawned with a
 * stash_capacity of its own gets the record at spawn, so none of its
 * stashes allocates.
 * Errors: TR_EINVAL (NULL), TR_ENOMEM (that first record could not be
 * made), TR_ESTATE (msg is not the message being
 * received, or was already kept, forwarded or stashed; a pool worker's job),
 * TR_EFULL (the stash holds stash_capacity messages: counted in
 * tr_runtime_stats.stash_overflows; msg is then handled as usual, destroyed
 * after receive unless kept). In every error case the caller's ownership of
 * msg is unchanged.
 * When the actor ends, for any reason, its stashed (and unstashed but not yet
 * received) messages are dead-lettered like its queued ones, after its
 * terminate: the dead-letter hook sees them, destructors run, ask futures
 * fail with TR_EDEAD and tr_request askers get TR_MSG_ASK_FAILED. */
TR_EXTERN int tr_stash(tr_ctx *ctx, tr_msg *msg);
/* Put every stashed message back at the front of the actor's mailbox, in the
 * order they were stashed, ahead of everything not yet received (the
 * mailbox, foreign threads' lanes, earlier unstashed messages): they are
 * received next, after the current message. They take no room in a bounded
 * mailbox and cannot fail or be lost. Returns the number of messages moved
 * (0 if the stash was empty), or TR_EINVAL. */
TR_EXTERN int tr_unstash_all(tr_ctx *ctx);
/* The same for the oldest stashed message only: returns the number of
 * messages moved (1, or 0 if the stash was empty), or TR_EINVAL. */
TR_EXTERN int tr_unstash(tr_ctx *ctx);
/* The number of messages in the actor's stash, or TR_EINVAL. */
TR_EXTERN int64_t tr_stash_len(tr_ctx *ctx);

/* A new handle (*out, release it) to the sender of the message being
 * received: the actor that sent it as a tell, or the actor whose tr_request
 * it is (not tr_request_timeout's: TR_ENOTFOUND). Receive only, before
 * tr_msg_keep or tr_forward of the message.
 * TR_ENOTFOUND if it has none (a foreign thread's send or tr_ask, a notice,
 * or no message being received), TR_EDEAD if the sender has ended (even if
 * its handle's block now holds another actor), TR_EINVAL on NULL. *out is
 * NULL on every error. */
TR_EXTERN int tr_sender(tr_ctx *ctx, tr_ref **out);

/* --- stopping and watching ---------------------------------------------- */
/* Ask the actor to stop after its current message (exit TR_EXIT_SHUTDOWN;
 * queued messages are dead-lettered). TR_EDEAD if already stopped. A
 * supervisor (troupe/supervisor.h) takes it as a request: it stops its
 * children first, then ends with TR_EXIT_SHUTDOWN. */
TR_EXTERN int tr_actor_stop(tr_ref *ref);
/* Like tr_actor_stop but with TR_EXIT_KILLED, which linked actors cannot trap. */
TR_EXTERN int tr_actor_kill(tr_ref *ref);
/* Make the actor exit with an error reason, as if it had crashed: exit
 * TR_EXIT_ERROR with code (non-zero, else TR_EINVAL) and text (copied; NULL
 * gives "exit"). Unlike Erlang's exit/2 to a process that traps exits, it
 * ends the actor even if it traps exits (trapping concerns links only). */
TR_EXTERN int tr_actor_exit(tr_ref *ref, int code, const char *text);

/* Message types delivered by monitors and links (msg->type). For both,
 * msg->word is the tr_ref_id of the actor that ended, msg->status the
 * tr_exit_kind, and tr_exit_of(msg) gives the full reason. */
#define TR_MSG_DOWN (TR_MSG_SYSTEM + 1)       /* a monitored actor ended */
#define TR_MSG_EXIT (TR_MSG_SYSTEM + 2)       /* a linked actor ended (trap_exit on) */
#define TR_MSG_ASK_FAILED (TR_MSG_SYSTEM + 3) /* an actor's ask got no reply */
#define TR_MSG_TIMER (TR_MSG_SYSTEM + 4)      /* reserved for io/ timers */
/* The result of a call an actor made without blocking (the tr_sup_*_async
 * and tr_pool_*_async calls): msg->corr is the caller's tag, msg->status
 * (and tr_result_code) the call's result code; the call's own readers give
 * the rest. Such a call may instead end in TR_MSG_ASK_FAILED (same corr) if
 * its target ended before answering; tr_result_code reads both. */
#define TR_MSG_RESULT (TR_MSG_SYSTEM + 5)

/* The result code carried by a TR_MSG_RESULT or TR_MSG_ASK_FAILED message;
 * TR_EINVAL for any other message. */
TR_EXTERN int tr_result_code(const tr_msg *msg);

/* The exit reason carried by a TR_MSG_DOWN or TR_MSG_EXIT message. */
TR_EXTERN int tr_exit_of(const tr_msg *msg, tr_exit *out);
/* The handle of the actor a DOWN/EXIT message is about (borrowed, valid while
 * the message is), or NULL. */
TR_EXTERN tr_ref *tr_msg_origin(const tr_msg *msg);

/* One-way watch: when target ends, self gets TR_MSG_DOWN with msg->corr = the
 * returned monitor id. If target is already dead the DOWN comes at once.
 * Each call is a monitor of its own (as Erlang's monitor/2, unlike Akka's
 * watch): monitoring twice gives two DOWNs, each with its id. The DOWN
 * comes after every message target sent to self before it ended.
 * TR_EINVAL (NULL, or target is self), TR_ENOMEM. The DOWN is made here, so
 * a target that ends while memory is out still sends it. */
TR_EXTERN int tr_monitor(tr_ctx *ctx, tr_ref *target, uint64_t *monitor_id);
/* Remove a monitor: 0, and no DOWN will come for it; or TR_ENOTFOUND if
 * there is no such monitor: it fired already (its DOWN is queued or was
 * received, and is still delivered, as with Erlang's demonitor/1 without
 * flush) or was removed. TR_EINVAL on NULL. */
TR_EXTERN int tr_demonitor(tr_ctx *ctx, tr_ref *target, uint64_t monitor_id);
/* Two-way link: when either ends abnormally (not TR_EXIT_NORMAL), the other
 * ends with the same reason, unless it traps exits, in which case it gets
 * TR_MSG_EXIT instead. Linking to a dead actor acts at once. Two actors are
 * linked or not, as in Erlang: a tr_link to an actor already linked to the
 * caller (by either side) returns 0 and changes nothing, so its end is
 * signalled once and one tr_unlink removes the link. (Monitors are not
 * merged: each tr_monitor is its own, with its own DOWN.) TR_EINVAL,
 * TR_ENOMEM, TR_ESTATE. As with tr_monitor, the EXIT messages are made
 * here, not at the end. */
TR_EXTERN int tr_link(tr_ctx *ctx, tr_ref *target);
TR_EXTERN int tr_unlink(tr_ctx *ctx, tr_ref *target);
TR_EXTERN int tr_trap_exit(tr_ctx *ctx, int on);

/* --- ask ---------------------------------------------------------------- */
typedef struct tr_future tr_future;

/* Send req and get a future for the reply. On success the runtime owns req and
 * the caller owns *out (release it). */
TR_EXTERN int tr_ask_msg(tr_ref *to, tr_msg *req, tr_future **out);
TR_EXTERN int tr_ask(tr_ref *to, uint32_t type, const void *data, size_t size, tr_future **out);
TR_EXTERN int tr_ask_word(tr_ref *to, uint32_t type, uint64_t word, tr_future **out);
/* Wait for the reply. 0: *reply is the reply message, owned by the caller
 * (tr_msg_free it). TR_ETIMEDOUT (the future stays usable), TR_EDEAD (the
 * target stopped before replying), TR_ENOREPLY (handled without a reply),
 * TR_ECRASHED (the target crashed on it), TR_EDEADLK on a worker thread,
 * TR_EFORKED in a fork child on a future of the parent's runtime.
 * timeout_ms < 0 waits forever, 0 polls. A waiting thread polls for up to
 * 50 us before it sleeps, down to 2 us on a thread whose waits keep lasting
 * over 200 us, and not at all when the runtime has one CPU (see
 * docs/design.md, "Futures and waiting threads"). */
TR_EXTERN int tr_future_wait(tr_future *f, int64_t timeout_ms, tr_msg **reply);
/* Whether the future is settled (reply or failure); false for NULL (a
 * predicate). Any thread. */
TR_EXTERN bool tr_future_is_ready(const tr_future *f);
TR_EXTERN int tr_future_release(tr_future *f);

/* From an actor: send req; the reply arrives in the actor's own mailbox as a
 * message with msg->corr == tag and tr_msg_is_reply(msg) true. If no reply
 * can come (target stopped, request dropped) the actor gets
 * TR_MSG_ASK_FAILED with corr == tag and status = the error code. On
 * success the runtime owns req; on error the caller still does. TR_EINVAL
 * on NULL, a reserved type or a req that already carries a reply token. */
TR_EXTERN int tr_request(tr_ctx *ctx, tr_ref *to, tr_msg *req, uint64_t tag);
/* tr_request of a new message whose msg->word is word, or which holds a
 * copy of data[0..size), as tr_ask_word and tr_ask. Errors as tr_send_word
 * and tr_send (nothing is sent and nothing is owed on error). Inside an
 * actor's callbacks (ctx is that actor). */
TR_EXTERN int tr_request_word(tr_ctx *ctx, tr_ref *to, uint32_t type, uint64_t word, uint64_t tag);
TR_EXTERN int tr_request_bytes(tr_ctx *ctx, tr_ref *to, uint32_t type, const void *data,
                               size_t size, uint64_t tag);

/* Answer a message (inside receive, or later after tr_msg_keep; any thread).
 *   - A request (tr_ask*, tr_request): the reply goes to the asker's future
 *     or mailbox, marked as a reply (tr_msg_is_reply, corr = the request's
 *     tag), with no sender of its own. Once: TR_ESTATE after. TR_EFULL if the
 *     asking actor's bounded mailbox is full (the request can still be
 *     answered).
 *   - A tell with a sender (tr_sender): the reply is a new tell to the
 *     sender, from the replier (its sender is the replying actor, or none
 *     from a foreign thread), not marked as a reply. As often as wanted.
 *     TR_EDEAD if the sender has ended (never delivered to another actor),
 *     and the errors of tr_send_msg (TR_EFULL...).
 *   - Any other message (a tell from a foreign thread, a notice): TR_EINVAL.
 * TR_ENOMEM from tr_reply/tr_reply_word on a request (no memory for the
 * reply) answers it with that failure: the asker's future fails with
 * TR_ENOMEM (an actor asker gets TR_MSG_ASK_FAILED if one can be allocated).
 * On success the runtime owns reply; on error the caller still does (the
 * convenience forms free the message they made). */
TR_EXTERN int tr_reply_msg(tr_msg *req, tr_msg *reply);
TR_EXTERN int tr_reply(tr_msg *req, uint32_t type, const void *data, size_t size);
TR_EXTERN int tr_reply_word(tr_msg *req, uint32_t type, uint64_t word);
/* Whether msg expects a reply that has not been given (an unanswered
 * request); false for NULL (a predicate). A tell with a sender says false:
 * nobody waits for an answer to it, though tr_reply can give one. */
TR_EXTERN bool tr_msg_wants_reply(const tr_msg *msg);

/* --- promises ------------------------------------------------------------ */
/* A promise is the settling end of a future, for a result an actor (or any
 * thread) produces later: a foreign thread makes the pair, keeps the future
 * and waits on it with tr_future_wait, and hands the promise to an actor
 * (in a message: tr_send_ptr(to, type, p, tr_promise_free_fn), or in its own
 * message struct). Whoever holds the promise settles it once, then releases
 * it. */
typedef struct tr_promise tr_promise;

/* Make a promise and its future. The caller owns both: *f as from tr_ask
 * (tr_future_wait, tr_future_release), *p until it hands it on. TR_EINVAL on
 * NULL arguments (*p and *f are then NULL), TR_ENOMEM. Any thread. */
TR_EXTERN int tr_promise_new(tr_runtime *rt, tr_promise **p, tr_future **f);
/* Settle p with a reply: the future's waiter gets msg (the runtime owns it
 * on success; on error the caller still does). The copying forms make the
 * message (type < TR_MSG_SYSTEM; data == NULL only with size 0). The reply
 * is marked as a reply (tr_msg_is_reply). TR_ESTATE if p was settled
 * already, TR_EINVAL on NULL or a reserved type. Any thread, including
 * actors; several threads may race to settle one promise (one wins, the
 * others get TR_ESTATE). p stays valid until released. */
TR_EXTERN int tr_promise_reply_msg(tr_promise *p, tr_msg *msg);
TR_EXTERN int tr_promise_reply(tr_promise *p, uint32_t type, const void *data, size_t size);
TR_EXTERN int tr_promise_reply_word(tr_promise *p, uint32_t type, uint64_t word);
/* Settle p with a failure: the waiter's tr_future_wait returns code, which
 * must be a negative TR_E... code (TR_EINVAL otherwise). TR_ESTATE if p was
 * settled already. Any thread. */
TR_EXTERN int tr_promise_fail(tr_promise *p, int code);
/* Drop the promise (its last use): if it was never settled its future
 * fails with TR_ENOREPLY. TR_EINVAL on NULL. Any thread, before the
 * runtime is freed (as for futures). */
TR_EXTERN int tr_promise_release(tr_promise *p);
/* tr_promise_release as a tr_free_fn (for ptr_free: a message that carries a
 * promise and is dropped unanswered fails its future with TR_ENOREPLY). */
TR_EXTERN void tr_promise_free_fn(void *p);

#ifdef __cplusplus
}
#endif
#endif
