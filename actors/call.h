/* actors/call.h - synchronous calls on a running actor (supervisors, pools).
 *
 * A call asks the actor with a request message and waits for the reply, a
 * TR_MSG_RESULT carrying the call's result (tr__call_reply). The
 * caller blocks until then, so calls refuse to run on a runtime worker
 * (TR_EDEADLK): the actor could need that very worker to answer. */
#ifndef TR_ACTORS_CALL_H
#define TR_ACTORS_CALL_H

#include "troupe/actor.h"
#include "troupe/msg.h"

/* 0 if the calling thread may block on a call, else TR_EDEADLK. */
int tr__call_may_block(void);

/* Ask `to` with req and wait (no timeout) for the reply: 0 and *reply
 * (owned by the caller), or the ask's or the wait's error. req is consumed
 * either way: on a failed ask its release function runs here. */
int tr__call_reply(tr_ref *to, tr_msg *req, tr_msg **reply);

#endif
