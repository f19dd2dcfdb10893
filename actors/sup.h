/* actors/sup.h - what other actors/ files need to know about supervisors. */
#ifndef TR_ACTORS_SUP_H
#define TR_ACTORS_SUP_H

#include "troupe/actor.h"

/* 1 if ref is a troupe supervisor (its behaviour is ours), else 0. */
int tr__sup_is(const tr_ref *ref);

#endif
