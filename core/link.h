/* core/link.h - monitors and links (core/link.c): an actor's watch list
 * and what its end sends to the watchers. */
#ifndef TR_CORE_LINK_H
#define TR_CORE_LINK_H

#include "core/actor.h"

/* Deliver monitors' DOWN and links' EXIT for a that ended with why. */
void tr__actor_notify_watchers(tr_actor *a, const tr_exit *why);
/* An actor whose init failed: close its watch list with why, send DOWN to
 * its monitors and undo its links without signalling (owner only). */
void tr__actor_undo_watchers(tr_actor *a, const tr_exit *why);
/* Free the watch list of a block being recycled. */
void tr__actor_drop_watchers(tr_actor *a);

#endif
