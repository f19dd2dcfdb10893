/* core/lane.h - foreign threads' lanes into actors (mailbox/spsc.h): which
 * sends take one, and the receiving actor's side. */
#ifndef TR_CORE_LANE_H
#define TR_CORE_LANE_H

#include <stdint.h>

#include "core/actor.h"
#include "core/worker.h"

/* Returned by the send hooks when the send must go through the mailbox. */
#define TR__LANE_NONE 1

/* A send that may take a lane: to an actor that accepts lanes, from a
 * thread that is not one of its runtime's workers. */
static inline bool tr__lane_candidate(const tr_actor *to) {
    return to->lanes_ok && tr__worker_of(to->rt) == NULL;
}

/* Sends from a thread that is not a worker of `to`'s runtime. Each returns TR__LANE_NONE (this
 * thread has no lane into `to`: use the mailbox), or the send's result: 0 (the runtime owns the
 * message) or a negative TR_E... (TR_EFULL for a full bounded mailbox; the
 * caller still owns it). */
int tr__lane_send_word(tr_actor *to, uint32_t type, uint64_t word);
int tr__lane_send_msg(tr_actor *to, tr_msg *msg);

/* tr_send_batch through the calling thread's lane into `to`, if it has one
 * (TR__LANE_NONE if not). All or nothing, as through the mailbox: on an
 * error none was sent. */
int tr__lane_send_batch(tr_actor *to, tr_msg *const *msgs, uint32_t n);

/* tr__actor_push for a runtime-made message sent on behalf of the calling
 * thread (a reply): through its lane into `to` if it has one. */
int tr__lane_push_any(tr_actor *to, tr_msg *msg);

/* The receiving actor (owner only). */
/* The next message from a's active lanes, or NULL. */
tr_msg *tr__lane_next_owner(tr_actor *a);
/* a popped a lane's kick message from its mailbox. */
void tr__lane_kick_owner(tr_actor *a, tr_msg *kick);
/* a is ending: close its lanes, and those announced by kicks in `left` (its
 * mailbox's leftovers, linked by ->next). Returns `left` without the kicks,
 * followed by the lanes' messages, in order. */
tr_msg *tr__lane_close_all_owner(tr_actor *a, tr_msg *left);

#endif
