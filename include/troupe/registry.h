/* troupe/registry.h - names: find an actor by a string, per runtime.
 *
 * A runtime keeps one table of names. An actor has at most one name (as in
 * Erlang); a name points at at most one actor. Every call here may be made
 * from any thread: runtime workers (inside callbacks) and foreign threads.
 *
 * A name never points at an actor that has ended: it is released when its
 * actor ends, before the actor's monitors get TR_MSG_DOWN and its links act,
 * so a supervisor restarting the actor on that DOWN can register the name
 * again. While the actor is ending (its mailbox is closed, its terminate
 * runs) lookups already answer TR_ENOTFOUND, and another actor may take the
 * name over. tr_spawn_opts.register_as registers at spawn, so a supervised
 * child gets its name back on every restart without user code.
 *
 * Lookups are meant to be frequent and cheap (a read lock on one of several
 * stripes, chosen by the name's hash); registrations rare. An actor that
 * never registers pays nothing. */
#ifndef TROUPE_REGISTRY_H
#define TROUPE_REGISTRY_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/msg.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest name, in bytes, without the terminating NUL. */
#define TR_NAME_MAX 63

/* A buffer that holds any name (tr_registered fills an array of them). */
typedef char tr_name[TR_NAME_MAX + 1];

/* Give the actor behind ref the name (copied; 1..TR_NAME_MAX bytes) in its
 * runtime. The caller keeps its handle. Errors: TR_EINVAL (NULL ref or name,
 * empty or too long name), TR_EEXIST (a live actor has the name, this one
 * included), TR_EALREADY (this actor already has another name: unregister it
 * first), TR_EDEAD (the actor has ended or is ending), TR_ENOMEM. */
TR_EXTERN int tr_register(tr_ref *ref, const char *name);

/* Remove the name, whoever holds it. TR_ENOTFOUND if no actor has it,
 * TR_EINVAL. Messages already sent by name are not affected. */
TR_EXTERN int tr_unregister(tr_runtime *rt, const char *name);

/* Look the name up. On success *out is a new handle owned by the caller
 * (tr_ref_release it) to the live actor that had the name at the time of
 * the call; it may end at any time afterwards, like any handle. *out is
 * NULL on error: TR_ENOTFOUND (no live actor has the name), TR_EINVAL. */
TR_EXTERN int tr_whereis(tr_runtime *rt, const char *name, tr_ref **out);

/* The registered names (of live actors), in no particular order: copies up
 * to cap of them into names[0..cap) and sets *n to how many it copied.
 * Returns the number of names registered (> *n when cap was too small), or
 * TR_EINVAL (rt or n NULL, names NULL with cap > 0). A snapshot: names come
 * and go while it runs. */
TR_EXTERN int tr_registered(tr_runtime *rt, tr_name *names, size_t cap, size_t *n);

/* --- sending and asking by name ------------------------------------------ */
/* As tr_send, tr_send_word, tr_send_msg, tr_ask and tr_ask_word (troupe/
 * actor.h) to the live actor that has the name, with the same ownership
 * rules: on success the runtime owns the message, on error the caller still
 * does. TR_ENOTFOUND when no live actor has the name (also when the actor
 * ended between the lookup and the push); the other errors are those of the
 * plain call (TR_EFULL, TR_ECLOSED, TR_E2BIG, TR_ENOMEM, TR_EINVAL). The
 * lookup and the push happen under the same read lock: no handle is made.
 * Inside an actor's callback the message carries that actor as its sender,
 * as the plain calls' do. */
TR_EXTERN int tr_send_named(tr_runtime *rt, const char *name, uint32_t type, const void *data,
                            size_t size);
TR_EXTERN int tr_send_word_named(tr_runtime *rt, const char *name, uint32_t type, uint64_t word);
TR_EXTERN int tr_send_msg_named(tr_runtime *rt, const char *name, tr_msg *msg);
TR_EXTERN int tr_ask_named(tr_runtime *rt, const char *name, uint32_t type, const void *data,
                           size_t size, tr_future **out);
TR_EXTERN int tr_ask_word_named(tr_runtime *rt, const char *name, uint32_t type, uint64_t word,
                                tr_future **out);

#ifdef __cplusplus
}
#endif
#endif
