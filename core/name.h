/* core/name.h - an actor's display name: the one function that makes it.
 *
 * Reports (core/log.c), tr_ref_name, snapshots (core/introspect.c) and so
 * the console, troupe-top and Prometheus labels all name an actor with
 * tr__actor_name; the format is documented once, in docs/observability.md
 * ("Names"). */
#ifndef TR_CORE_NAME_H
#define TR_CORE_NAME_H

#include <stddef.h>

typedef struct tr_ref tr_actor;

/* a's display name into buf (len bytes, NUL-terminated when len > 0); its
 * length as snprintf (more than len - 1 if cut, 0 for an unnamed actor):
 *   a pool worker           "pool-name[slot]"
 *   a supervisor's child    "supervisor-name/child-id"
 *   any other actor         its tr_spawn_opts.name, or "" without one
 * From the label its supervisor or pool gave it at spawn (core/log.h,
 * tr__label); a child that missed it (a start function that spawned
 * another actor first) is named from the tags of its snapshot entry
 * (tr__ameta_tag_any): "pool-name[slot]", or its child id alone. Any
 * thread, while a handle to a is held; allocates nothing. */
int tr__actor_name(const tr_actor *a, char *buf, size_t len);

#endif
