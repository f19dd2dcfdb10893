/* actors/sup_drain.h - the supervisors a drain stops in order
 * (actors/sup_drain.c). */
#ifndef TR_ACTORS_SUP_DRAIN_H
#define TR_ACTORS_SUP_DRAIN_H

#include "troupe/actor.h"

/* Track a supervisor that started (from its init; root as in
 * tr__sup_start_arg), untrack it as it ends (from its terminate). Untracked
 * if out of memory: the drain's close then stops it with everything else. */
void tr__sup_track(tr_runtime *rt, tr_ref *sup, int root);
void tr__sup_untrack(tr_runtime *rt, tr_ref *sup);

#endif
