/* core/group.h - groups and topics: seams with the rest of core, and the
 * shared payload of a broadcast. */
#ifndef TR_CORE_GROUP_H
#define TR_CORE_GROUP_H

#include <stdint.h>

#include "core/actor.h"

/* a ended: leave all its groups, drop its subscriptions (owner only; via
 * tr__dir_actor_end_owner, core/registry.h). */
void tr__group_actor_end(tr_actor *a);

/* Free rt's groups and subscriptions (tr_runtime_free). */
void tr__group_free(tr_runtime *rt);

/* Shared payload blocks made and freed so far, process-wide (for tests:
 * every block made is freed exactly once). */
void tr__group_shared_counts(uint64_t *made, uint64_t *freed);

#endif
