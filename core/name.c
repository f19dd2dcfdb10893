/* core/name.c - an actor's display name (see core/name.h for the format).
 *
 * The parts live where their writers put them: the spawn name in the
 * block (a->name, which a supervisor's label replaces with the child id),
 * the supervisor's or pool's name and the slot in the metrics side block
 * (by, by_slot: written at spawn, before the block is published), and the
 * tags a supervisor or pool sets just after the spawn (tag, slot). All are
 * stable while a handle is held; they are loaded with ck_pr loads because
 * snapshots read blocks that other threads hold too. */
#include "core/name.h"

#include <ck_pr.h>
#include <stdint.h>
#include <stdio.h>

#include "core/actor.h"
#include "core/metrics.h"
#include "troupe/error.h"

int tr__actor_name(const tr_actor *a, char *buf, size_t len) {
    const tr__ameta *m = tr__ameta_peek_any(a);
    const tr__actor_ext *e = tr__actor_ext_peek(a);
    const char *name = e != NULL ? ck_pr_load_ptr(&e->name) : NULL;
    const char *by = NULL, *tag = NULL;
    uint32_t by_slot = 0;
    int slot = -1;
    if (m != NULL) {
        by = ck_pr_load_ptr(&m->by);
        by_slot = ck_pr_load_32(&m->by_slot);
        tag = ck_pr_load_ptr(&m->tag);
        slot = (int)ck_pr_load_32((const uint32_t *)&m->slot);
    }
    int n;
    if (by_slot != 0) /* labelled at spawn: a pool worker */
        n = snprintf(buf, len, "%s[%u]", by != NULL ? by : "pool", by_slot - 1);
    else if (by != NULL) /* labelled at spawn: a supervisor's child */
        n = snprintf(buf, len, "%s/%s", by, name != NULL ? name : "?");
    else if (tag != NULL && slot >= 0) /* tagged only (the label missed) */
        n = snprintf(buf, len, "%s[%d]", tag, slot);
    else if (tag != NULL)
        n = snprintf(buf, len, "%s", tag);
    else
        n = snprintf(buf, len, "%s", name != NULL ? name : "");
    return n < 0 ? 0 : n;
}

int tr_ref_name(const tr_ref *ref, char *buf, size_t len) {
    if (ref == NULL || (buf == NULL && len > 0))
        return TR_EINVAL;
    return tr__actor_name(ref, buf, len);
}
