/* troupe/msg.h - messages.
 *
 * A message is a tr_msg header, optionally followed by inline data. The header
 * is intrusive: the runtime links queued messages through it, so sending a
 * message allocates nothing beyond the message itself. Three ways to make one:
 *
 *   - tr_msg_new(): the runtime allocates header + `size` bytes of inline data
 *     (tr_msg_data) from a per-thread cache. The convenience sends in actor.h
 *     (tr_send, tr_send_word, tr_send_ptr) do this for you.
 *   - Embed a tr_msg as the first member of your own struct, tr_msg_init() it
 *     with a release function, and send it with tr_send_msg(): zero copy.
 *   - Any message may carry an owned pointer (ptr + ptr_free): the runtime runs
 *     ptr_free(ptr) when it is done with the message, unless the receiver took
 *     the pointer with tr_msg_take_ptr().
 *
 * Ownership: a message belongs to whoever made it until a send succeeds; then
 * to the runtime, which hands it to exactly one receive callback or to the
 * dead-letter path, and afterwards runs ptr_free and release once. */
#ifndef TROUPE_MSG_H
#define TROUPE_MSG_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Types at or above this value are reserved for the runtime's own messages. */
#define TR_MSG_SYSTEM 0xFFFF0000u
/* Largest inline payload tr_msg_new accepts (bigger: pass a pointer). */
#define TR_MSG_MAX_SIZE (64u * 1024u * 1024u)

typedef struct tr_msg tr_msg;
typedef void (*tr_msg_release_fn)(tr_msg *msg);
typedef void (*tr_free_fn)(void *ptr);

/* The message header. Like libuv's handles, each field is marked:
 *   public     the user's: the sender sets it, the receiver reads it;
 *   read-only  the runtime sets it, the user may read it (never write it);
 *   private    the runtime's alone: neither read nor write it, its meaning
 *              may change between releases.
 * The order is fixed (core/msg.h asserts the offsets): every field a
 * delivery reads is in the first 64 bytes (one cache line), corr alone on
 * the second. */
struct tr_msg {
    /* public */ uint32_t type;             /* user tag, < TR_MSG_SYSTEM; runtime notices
                                             * (DOWN, EXIT, RESULT, ...) carry their own */
    /* read-only */ uint32_t size;          /* bytes of inline data (set by tr_msg_new,
                                             * 0 otherwise; see tr_msg_payload) */
    /* public */ uint64_t word;             /* a payload word, free for the user */
    /* public */ void *ptr;                 /* an owned pointer payload, or NULL */
    /* public */ tr_free_fn ptr_free;       /* runs on ptr when the runtime is done
                                             * (NULL: none) */
    /* public */ tr_msg_release_fn release; /* runs on the message itself
                                             * when done (NULL: none; set by
                                             * tr_msg_init) */
    /* private */ tr_msg *next;             /* mailbox link */
    /* private */ uint32_t flags;           /* runtime flags */
    /* read-only */ int32_t status;         /* the code a runtime message carries: a
                                             * TR_MSG_RESULT's (tr_result_code), a
                                             * TR_MSG_ASK_FAILED's error, a DOWN or
                                             * EXIT tr_exit_kind, an io event (io.h);
                                             * 0 on a message the user made */
    /* private */ void *reply;              /* reply token of an ask, or the sender of a
                                             * tell (read it with tr_sender), or NULL */
    /* read-only */ uint64_t corr;          /* correlation (read it where
                                             * tr_msg_is_reply is 1, or on a notice):
                                             * on a reply to tr_request (and on
                                             * TR_MSG_RESULT and TR_MSG_ASK_FAILED)
                                             * the request's tag; on DOWN and EXIT the
                                             * monitor id; on a tell sent from an
                                             * actor the sender's tr_ref_id
                                             * (tr_msg_sender_id); unspecified on
                                             * others */
};

/* Prepare a caller-allocated (e.g. embedded) message. release(msg) runs once
 * when the runtime is done with it (may be NULL if the memory is static or
 * the caller frees it some other way). Returns TR_EINVAL if msg is NULL or
 * type is reserved. */
TR_EXTERN int tr_msg_init(tr_msg *msg, uint32_t type, tr_msg_release_fn release);

/* Allocate a message with `size` bytes of inline data (uninitialised) from the
 * calling thread's cache. *out is the caller's until sent. TR_E2BIG if size >
 * TR_MSG_MAX_SIZE, TR_EINVAL on NULL out or a reserved type. */
TR_EXTERN int tr_msg_new(tr_msg **out, uint32_t type, size_t size);

/* The inline data of a tr_msg_new message (NULL when size is 0 or the message
 * was not made by tr_msg_new). For a message from a group broadcast or a
 * publish (troupe/group.h) it may be a payload shared with the other
 * receivers of the same broadcast: treat the data of a received message as
 * read-only. */
TR_EXTERN void *tr_msg_data(const tr_msg *msg);

/* Destroy a message the caller owns (never sent, or a failed send): runs
 * ptr_free(ptr) and release(msg) as a delivery would. NULL is ignored. If the
 * message is an ask request, its future fails with TR_ECANCELED. */
TR_EXTERN void tr_msg_free(tr_msg *msg);

/* Take the owned pointer out of a message being received: the runtime will
 * no longer run ptr_free on it. Returns the pointer (NULL if none, and on a
 * message whose payload is shared, troupe/group.h). */
TR_EXTERN void *tr_msg_take_ptr(tr_msg *msg);

/* Whether msg arrived as an answer to a request of the receiving actor: a
 * reply to its tr_request (made by tr_reply, tr_reply_word or tr_reply_msg;
 * msg->corr is then the request's tag, whatever the reply's type), a
 * TR_MSG_RESULT or a TR_MSG_ASK_FAILED; a reply a future hands out has it
 * too. False for everything else, including a reply to a tell (an ordinary tell
 * from the replier) and NULL. So a receive can tell a reply from a request
 * of the same type without a reply type per protocol. Any thread. */
TR_EXTERN bool tr_msg_is_reply(const tr_msg *msg);

/* The tr_ref_id of the actor that sent msg as a tell from inside one of its
 * callbacks (tr_send*, tr_reply* to a tell; kept by tr_forward), or 0: sent
 * by a foreign thread, a request or reply, a runtime notice, NULL. The id
 * stays the sender's after it ends (compare it with tr_ref_id). Any thread;
 * reads one field. */
TR_EXTERN uint64_t tr_msg_sender_id(const tr_msg *msg);

/* Convenience for tr_msg_data + size check: copies nothing, returns NULL if
 * the message has fewer than `size` bytes of inline data. */
static inline const void *tr_msg_payload(const tr_msg *msg, size_t size) {
    return (msg && msg->size >= size) ? tr_msg_data(msg) : NULL;
}

#ifdef __cplusplus
}
#endif
#endif
