/* troupe/error.h - error codes, and the return conventions.
 *
 * Every int-returning public function follows one of three conventions,
 * each stated in its header comment:
 *   - actions (almost all): 0 on success or one of the negative codes below;
 *     a refusal is a code too (TR_EFULL, TR_ESTATE, TR_ENOTFOUND...), never
 *     a positive value;
 *   - counts and ids (tr_unstash_all, tr_ref_mailbox_len, the broadcasts,
 *     tr_runtime_worker_id...): the value, >= 0, or a negative code;
 *   - predicates, named as questions (tr_ref_is_alive, tr_future_is_ready,
 *     tr_msg_is_reply, tr_msg_wants_reply, tr_topic_matches,
 *     tr_runtime_is_closed): return bool and cannot fail; a NULL or
 *     malformed argument gives false.
 * Functions returning a pointer or a 64-bit id say what NULL or 0 means.
 * tr_strerror() names a code; it never returns NULL. */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#include "troupe/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The one list of codes: XX(name, value, text). The enum below and
 * tr_strerror (core/error.c) are both expanded from it, so a code and its
 * name cannot drift apart (libuv's UV_ERRNO_MAP). A new code goes at the end
 * with the next negative value; values never change once released. */
#define TR_ERRNO_MAP(XX)                                                                           \
    XX(TR_OK, 0, "success")                                                                        \
    /* an argument is NULL, out of range or malformed */                                           \
    XX(TR_EINVAL, -1, "invalid argument")                                                          \
    /* out of memory */                                                                            \
    XX(TR_ENOMEM, -2, "out of memory")                                                             \
    /* the actor has stopped (the handle is stale) */                                              \
    XX(TR_EDEAD, -3, "actor is dead")                                                              \
    /* the bounded mailbox is full */                                                              \
    XX(TR_EFULL, -4, "mailbox is full")                                                            \
    /* the runtime (or pool) is closed */                                                          \
    XX(TR_ECLOSED, -5, "runtime or pool is closed")                                                \
    /* the deadline passed */                                                                      \
    XX(TR_ETIMEDOUT, -6, "timed out")                                                              \
    /* the payload is larger than TR_MSG_MAX_SIZE */                                               \
    XX(TR_E2BIG, -7, "payload too large")                                                          \
    /* a request was handled and dropped without a reply */                                        \
    XX(TR_ENOREPLY, -8, "request dropped without a reply")                                         \
    /* the object is in use (e.g. a future already waited on) */                                   \
    XX(TR_EBUSY, -9, "resource busy")                                                              \
    /* the call would block a runtime worker (deadlock) */                                         \
    XX(TR_EDEADLK, -10, "call would block a runtime worker")                                       \
    /* a system call failed (thread, loop or fd creation) */                                       \
    XX(TR_ESYS, -11, "system call failed")                                                         \
    /* the call is not valid in the object's current state */                                      \
    XX(TR_ESTATE, -12, "invalid in the current state")                                             \
    /* the operation was cancelled */                                                              \
    XX(TR_ECANCELED, -13, "operation cancelled")                                                   \
    /* the actor crashed while handling the request */                                             \
    XX(TR_ECRASHED, -14, "actor crashed handling the request")                                     \
    /* no such entry */                                                                            \
    XX(TR_ENOTFOUND, -15, "no such entry")                                                         \
    /* an I/O operation failed (see the message's errno) */                                        \
    XX(TR_EIO, -16, "I/O error")                                                                   \
    /* the entry already exists (a name, a child id: "already present") */                         \
    XX(TR_EEXIST, -17, "already exists")                                                           \
    /* already done: a child already started, an actor that already has a name */                  \
    XX(TR_EALREADY, -18, "already started")                                                        \
    /* the child is being restarted */                                                             \
    XX(TR_ERESTARTING, -19, "child is restarting")                                                 \
    /* the object belongs to the parent process: this process was forked from it */                \
    XX(TR_EFORKED, -20, "runtime belongs to the parent process (fork)")

#define TR__ERRNO_ENUM(name, value, text) name = (value),
enum { TR_ERRNO_MAP(TR__ERRNO_ENUM) };
#undef TR__ERRNO_ENUM

/* A static, human-readable name for code ("TR_EDEAD: actor is dead"): the
 * code's name, a colon and its text from TR_ERRNO_MAP. A code not in the
 * list gives "TR_E?: unknown error code". Never NULL; any thread. */
TR_EXTERN const char *tr_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
