/* core/registry.h - the names table's seams with the rest of core.
 *
 * struct tr_ref.dir holds TR__DIR_* flags: an actor sets one (with a locked
 * or, then a full fence) before it checks that its mailbox is still open
 * and enters a table; the owner reads the flags once, after closing the
 * mailbox (an atomic swap, a full barrier), when the actor ends. That is a
 * Dekker pair: either the registration sees the closed mailbox and fails, or
 * the end sees the flag and takes the entry out. Nothing on the send path. */
#ifndef TR_CORE_REGISTRY_H
#define TR_CORE_REGISTRY_H

#include <ck_pr.h>

#include "base/atomic.h"
#include "core/actor.h"
#include "core/group.h"

/* A name (of an actor, a group): 1..TR_NAME_MAX bytes. 0 with *len set, or
 * TR_EINVAL. Shared by the names table and the groups (core/group.c). */
int tr__name_check(const char *name, size_t *len);
/* FNV-1a, 64 bits, of len bytes of s: the tables' hash. */
uint64_t tr__name_hash(const char *s, size_t len);

#define TR__DIR_NAMED 0x1u  /* registered a name at least once */
#define TR__DIR_JOINED 0x2u /* joined a group or subscribed at least once */

/* Mark a (any thread) before its mailbox-open check; see above. */
static inline void tr__dir_mark_any(tr__actor_ext *x, uint32_t flag) {
    if ((ck_pr_load_32(&x->dir) & flag) != flag)
        ck_pr_or_32(&x->dir, flag);
    /* Store-load order with the owner's close of the mailbox (a swap) and
     * its read of `dir` in tr__dir_actor_end_owner. */
    ck_pr_fence_memory();
}

/* a ended (its mailbox is closed): take its name and its memberships out of
 * the tables. The one hook of core/actor.c, run before its watchers are
 * told. Owner only. */
void tr__registry_actor_end(tr_actor *a);
static inline void tr__dir_actor_end_owner(tr_actor *a) {
    /* After the mailbox swap (full barrier): pairs with tr__dir_mark_any. */
    const tr__actor_ext *x = tr__actor_ext_peek(a); /* made before any mark */
    uint32_t f = x != NULL ? ck_pr_load_32(&x->dir) : 0;
    if (TR__LIKELY(f == 0))
        return;
    if (f & TR__DIR_NAMED)
        tr__registry_actor_end(a);
    if (f & TR__DIR_JOINED)
        tr__group_actor_end(a);
}

/* Register a (being spawned, not yet published) under name: tr_spawn's
 * opts.register_as. Errors as tr_register. */
int tr__registry_spawn(tr_actor *a, const char *name);

/* Free rt's names table (tr_runtime_free, after every actor ended). */
void tr__registry_free(tr_runtime *rt);

#endif
