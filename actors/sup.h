/* actors/sup.h - the supervisor actor (actors/sup.c), which the calls of
 * actors/sup_api.c start and ask. */
#ifndef TR_ACTORS_SUP_H
#define TR_ACTORS_SUP_H

#include <stdbool.h>
#include <stddef.h>

#include "troupe/supervisor.h"

/* Whether ref is a troupe supervisor (its behaviour is ours; false for
 * NULL). */
bool tr__sup_is_supervisor(const tr_ref *ref);
/* Whether the spec can start a child (a way to start, valid enums,
 * significant only when transient or temporary; false for NULL). */
bool tr__sup_spec_is_valid(const tr_child_spec *c);

/* The supervisor actor: spawn arg is a tr__sup_start_arg, state
 * tr__sup_state_size() bytes. */
typedef struct tr__sup_start_arg {
    const tr_sup_config *cfg;
    /* Out: the error of a child that failed to start. The actor then exists
     * (init returned 0) only to stop the children already started, in order,
     * and ends with TR_EXIT_SHUTDOWN. */
    int child_rc;
    int root; /* 1: not started by a supervisor (a drain stops it itself) */
} tr__sup_start_arg;
extern const tr_behavior tr__sup_behavior;
size_t tr__sup_state_size(void);

#endif
