/* core/metrics.c - the metrics switch, actor side blocks, message stamps.
 *
 * The level is one word on the runtime's read-mostly line: a turn reads it
 * once (core/actor.c), a send once when it stamps (core/actor.h). Side blocks
 * (tr__ameta) are made on first use and live as long as their actor block,
 * which lives as long as the runtime (core/blocks.c): a snapshot that holds an
 * actor may read its side block without further care. See metrics.h. */
#include "core/metrics.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/blocks.h"
#include "core/futex.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

int tr__metrics_level_init(int cfg_level) {
    if (cfg_level == TR_METRICS_BASIC || cfg_level == TR_METRICS_TIMING)
        return cfg_level;
    const char *e = getenv("TROUPE_METRICS");
    if (e != NULL && (strcasecmp(e, "timing") == 0 || strcmp(e, "2") == 0 ||
                      strcasecmp(e, "on") == 0 || strcasecmp(e, "all") == 0))
        return TR_METRICS_TIMING;
    return TR_METRICS_BASIC;
}

uint32_t tr__timing_runtimes;

/* Move rt to level and keep tr__timing_runtimes in step: the exchange makes
 * each change seen by exactly one caller, which counts it. */
static void set_level(tr_runtime *rt, uint32_t level) {
    /* Relaxed: a switch, read once per turn and per send; nothing is
     * published with it, and a turn that sees it late times one turn less. */
    uint32_t was = ck_pr_fas_32(&rt->metrics, level);
    if (was != TR_METRICS_TIMING && level == TR_METRICS_TIMING)
        ck_pr_inc_32(&tr__timing_runtimes);
    else if (was == TR_METRICS_TIMING && level != TR_METRICS_TIMING)
        ck_pr_dec_32(&tr__timing_runtimes);
}

void tr__metrics_start(tr_runtime *rt, int cfg_level) {
    rt->metrics = TR_METRICS_BASIC;
    rt->metrics_start = (uint32_t)tr__metrics_level_init(cfg_level);
    set_level(rt, rt->metrics_start);
}

void tr__metrics_stop(tr_runtime *rt) {
    set_level(rt, TR_METRICS_BASIC);
}

int tr_runtime_set_metrics(tr_runtime *rt, int level) {
    if (rt == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(rt)) /* as every call on a parent's runtime */
        return TR_EFORKED;
    if (level == TR_METRICS_DEFAULT)
        level = (int)rt->metrics_start;
    if (level != TR_METRICS_BASIC && level != TR_METRICS_TIMING)
        return TR_EINVAL;
    set_level(rt, (uint32_t)level);
    return 0;
}

void tr__metrics_stamp_any(tr_actor *a, tr_msg *msg) {
    if (ck_pr_load_32(&a->rt->metrics) == TR_METRICS_TIMING)
        tr__msg_stamp_now(msg);
}

int tr_runtime_metrics(const tr_runtime *rt) {
    if (rt == NULL)
        return TR_EINVAL;
    return (int)ck_pr_load_32(&((tr_runtime *)rt)->metrics);
}

uint64_t tr_hist_quantile(const uint32_t *hist, double q) {
    if (hist == NULL)
        return 0;
    uint64_t total = 0;
    for (unsigned i = 0; i < TR_HIST_BUCKETS; i++)
        total += hist[i];
    if (total == 0)
        return 0;
    if (!(q > 0.0))
        q = 0.0;
    if (q > 1.0)
        q = 1.0;
    /* The rank of the sample at q (1-based), then the bucket holding it. */
    uint64_t rank = (uint64_t)(q * (double)total);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < TR_HIST_BUCKETS; i++) {
        seen += hist[i];
        if (seen >= rank)
            return i >= 63 ? UINT64_MAX : (2ull << i) - 1; /* the bucket's upper bound */
    }
    return UINT64_MAX;
}

/* --- side blocks ------------------------------------------------------------ */

static void ameta_clear(tr__ameta *m) {
    /* A fresh record, before the CAS publishes it (its -1s and roles). */
    ck_pr_store_64(&m->parent_id, 0);
    ck_pr_store_ptr(&m->tag, NULL);
    ck_pr_store_32((uint32_t *)&m->slot, (uint32_t)-1);
    ck_pr_store_32(&m->restarts, 0);
    ck_pr_store_32(&m->role, TR_ROLE_ACTOR);
    ck_pr_store_32((uint32_t *)&m->strategy, (uint32_t)-1);
    ck_pr_store_64(&m->children_restarted, 0);
    ck_pr_store_64(&m->dead_letters, 0);
    ck_pr_store_ptr(&m->by, NULL);
    ck_pr_store_32(&m->by_slot, 0);
    ck_pr_store_32(&m->by_restarts, 0);
    ck_pr_store_64(&m->busy_ns, 0);
    for (unsigned i = 0; i < TR_HIST_BUCKETS; i++) {
        ck_pr_store_32(&m->handler_hist[i], 0);
        ck_pr_store_32(&m->mailbox_hist[i], 0);
    }
}

tr__ameta *tr__ameta_get_any(tr_actor *a) {
    tr__actor_ext *e = tr__actor_ext_any(a);
    if (e == NULL)
        return NULL;
    /* Acquire (the TSan annotation): pairs with the CAS that installed it,
     * so its cleared fields are visible. */
    tr__ameta *m = ck_pr_load_ptr(&e->meta);
    if (m != NULL) {
        TR__TSAN_ACQUIRE(&e->meta);
        return m;
    }
    tr__ameta *mine = malloc(sizeof(*mine));
    if (mine == NULL)
        return NULL;
    memset(mine, 0, sizeof(*mine));
    ameta_clear(mine);
    /* Release: publishes the cleared block with the pointer. Exactly one
     * CAS installs a block; a loser frees its own and takes the winner's. */
    TR__TSAN_RELEASE(&e->meta);
    if (ck_pr_cas_ptr_value(&e->meta, NULL, mine, &m))
        return mine;
    free(mine);
    TR__TSAN_ACQUIRE(&e->meta);
    return m;
}

tr__ameta *tr__ameta_peek_any(const tr_actor *a) {
    tr__actor_ext *e = tr__actor_ext_peek(a);
    tr__ameta *m = e != NULL ? ck_pr_load_ptr(&e->meta) : NULL;
    if (m != NULL)
        TR__TSAN_ACQUIRE(&e->meta); /* as in tr__ameta_get_any */
    return m;
}

void tr__ameta_dead_letter_any(tr_actor *a) {
    tr__ameta *m = tr__ameta_get_any(a);
    if (m != NULL) /* several threads may dead-letter to a at once */
        ck_pr_inc_64(&m->dead_letters);
}

uint64_t tr__ameta_dead_letters_any(const tr_actor *a) {
    tr__ameta *m = a != NULL ? tr__ameta_peek_any(a) : NULL;
    /* Relaxed: a count; the caller saw a end (its DOWN), after its last. */
    return m != NULL ? ck_pr_load_64(&m->dead_letters) : 0;
}

void tr__ameta_carry_dead_letters_any(tr_ref *child, uint64_t n) {
    if (child == NULL || n == 0)
        return;
    tr__ameta *m = tr__ameta_get_any(child);
    if (m != NULL)
        ck_pr_add_64(&m->dead_letters, n); /* the child may be dead-lettered to already */
}

void tr__ameta_tag_any(tr_ref *child, uint64_t parent_id, const char *tag, int slot,
                       uint32_t restarts) {
    if (child == NULL)
        return;
    tr__ameta *m = tr__ameta_get_any(child);
    if (m == NULL)
        return;
    /* Relaxed: labels read by snapshots; each is whole on its own. */
    ck_pr_store_ptr(&m->tag, tag);
    ck_pr_store_32((uint32_t *)&m->slot, (uint32_t)slot);
    ck_pr_store_32(&m->restarts, restarts);
    if (slot >= 0 && ck_pr_load_32(&m->role) == TR_ROLE_ACTOR)
        ck_pr_store_32(&m->role, TR_ROLE_POOL_WORKER);
    ck_pr_store_64(&m->parent_id, parent_id);
}

void tr__ameta_role_owner(tr_ctx *ctx, tr_actor_role role, int strategy) {
    if (ctx == NULL)
        return;
    tr__ameta *m = tr__ameta_get_any(tr__actor_of(ctx));
    if (m == NULL)
        return;
    ck_pr_store_32((uint32_t *)&m->strategy, (uint32_t)strategy);
    ck_pr_store_32(&m->role, (uint32_t)role);
}

void tr__ameta_restarted_owner(tr_ctx *ctx) {
    if (ctx == NULL)
        return;
    tr__ameta *m = tr__ameta_get_any(tr__actor_of(ctx));
    if (m != NULL) /* the owner is the one writer */
        ck_pr_store_64(&m->children_restarted, m->children_restarted + 1);
}

/* --- stamps ------------------------------------------------------------------ */

void tr__msg_stamp_now(tr_msg *m) {
    uint32_t us = (uint32_t)(tr__mono_ns() / 1000u) & TR__STAMP_MASK;
    m->flags =
        (m->flags & ((1u << TR__STAMP_SHIFT) - 1u)) | TR__MSG_STAMPED | (us << TR__STAMP_SHIFT);
}

uint64_t tr__msg_wait_ns(uint32_t flags, uint64_t now_ns) {
    uint32_t then = (flags >> TR__STAMP_SHIFT) & TR__STAMP_MASK;
    uint32_t now = (uint32_t)(now_ns / 1000u) & TR__STAMP_MASK;
    return (uint64_t)((now - then) & TR__STAMP_MASK) * 1000u;
}
