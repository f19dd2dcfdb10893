/* core/group.c - process groups (pg) and topic subscriptions, per runtime.
 *
 * Both are named sets of actors: a group is keyed by its name, a
 * subscription set by its pattern (other tables, below). A set holds an array of
 * member nodes (swap-remove, each node knows its index), and each actor
 * holds the list of its own nodes (dir_groups, in its side block), so leaving, and an
 * actor's end, cost O(its memberships), not O(groups). A set is freed with
 * its last member; tables are made on the first join (CAS on rt->groups).
 *
 * Locking: one pthread read-write lock per runtime. Joins, leaves and actor
 * ends write; broadcasts, publishes and member lists read, and push each
 * member's message while holding it, so no handle is made per member. As
 * in core/registry.c, a node's actor block cannot be recycled while the node
 * exists: the end hook (tr__group_actor_end, from core/actor.c before the
 * actor drops its own reference) removes the actor's nodes under the write
 * lock. Joining marks the actor (TR__DIR_JOINED) before checking its mailbox
 * is open, the end reads the mark after closing it (core/registry.h).
 *
 * Payloads: up to INLINE_MAX bytes are copied into each message's own block
 * (they fit in the 128-byte block anyway: cheaper than a shared counter that
 * every receiver decrements). Larger ones are copied once into a shared
 * block with one reference per message sent plus the broadcaster's; each
 * message carries it as a TR__MSG_SHARED pointer (core/msg.h) whose ptr_free
 * drops a reference, so the block goes with the last message, whichever
 * path destroys it (handled, dead-lettered, refused).
 *
 * Subscriptions live in two tables: exact topics, which a publish finds by
 * hash, and patterns with a wildcard, which it tries one by one (O(wildcard
 * patterns)). An actor whose several patterns match gets one message (the
 * targets are sorted and deduplicated when more than one set matched). */
#include "core/group.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/platform.h"
#include "base/refcount.h"
#include "core/msg.h"
#include "core/msgcache.h"
#include "core/registry.h"
#include "core/runtime.h"
#include "core/worker.h"
#include "troupe/error.h"
#include "troupe/group.h"

/* Copied into each message: what fits in its own block (56 bytes with
 * today's 72-byte header, as troupe/group.h says). */
#define INLINE_MAX TR__MSG_SMALL_DATA
#define MIN_BUCKETS 16u

typedef struct set set;

struct tr__member {
    set *s;
    tr_actor *a;
    size_t idx;              /* in s->m */
    struct tr__member *next; /* a's memberships */
};
typedef struct tr__member member;

struct set {
    set *next; /* the bucket's chain */
    uint64_t hash;
    member **m;
    size_t n, cap;
    uint8_t kind; /* K_*: which table holds it */
    size_t len;
    char name[]; /* len + 1 */
};

typedef struct table {
    set **tab; /* cap buckets, a power of two, or NULL */
    size_t cap, n;
} table;

/* Set kinds, and the table of each. */
enum { K_GROUP = 0, K_EXACT = 1, K_WILD = 2, K_COUNT = 3 };

struct tr__groups {
    pthread_rwlock_t lk;
    /* Groups; subscriptions to exact topics (a publish finds them by hash);
     * subscriptions with a wildcard (a publish tries each). */
    table t[K_COUNT];
};
typedef struct tr__groups groups;

/* --- names and patterns --------------------------------------------------- */

/* A topic (pattern 0) or a pattern (1): non-empty dot-separated segments;
 * "*" and ">" whole segments of patterns only, ">" only last. kind (may be
 * NULL) gets K_WILD for a pattern with such a segment, else K_EXACT. */
static int check_topic(const char *s, size_t *len, bool pattern, uint8_t *kind) {
    if (s == NULL)
        return TR_EINVAL;
    size_t l = strnlen(s, TR_TOPIC_MAX + 1);
    if (l == 0 || l > TR_TOPIC_MAX)
        return TR_EINVAL;
    uint8_t k = K_EXACT;
    size_t seg = 0;
    for (size_t i = 0; i <= l; i++) {
        if (i < l && s[i] != '.')
            continue;
        size_t sl = i - seg;
        if (sl == 0)
            return TR_EINVAL;
        bool wild = sl == 1 && (s[seg] == '*' || s[seg] == '>');
        if (wild && !pattern)
            return TR_EINVAL;
        if (wild)
            k = K_WILD;
        if (sl == 1 && s[seg] == '>' && i != l)
            return TR_EINVAL;
        seg = i + 1;
    }
    *len = l;
    if (kind != NULL)
        *kind = k;
    return 0;
}

/* Both well-formed: segment by segment, '*' one, a final '>' the rest. */
static bool match(const char *p, const char *t) {
    for (;;) {
        size_t pl = strcspn(p, "."), tl = strcspn(t, ".");
        if (pl == 1 && p[0] == '>')
            return true; /* t is at a segment: at least one is left */
        if (!(pl == 1 && p[0] == '*') && (pl != tl || memcmp(p, t, pl) != 0))
            return false;
        p += pl;
        t += tl;
        if (*p == '\0' || *t == '\0')
            return *p == '\0' && *t == '\0';
        p++;
        t++;
    }
}

bool tr_topic_matches(const char *pattern, const char *topic) {
    size_t pl, tl;
    if (check_topic(pattern, &pl, true, NULL) != 0 || check_topic(topic, &tl, false, NULL) != 0)
        return false;
    return match(pattern, topic);
}

/* --- tables --------------------------------------------------------------- */

static set *table_find(const table *t, const char *name, size_t len, uint64_t h) {
    if (t->cap == 0)
        return NULL;
    for (set *s = t->tab[h & (t->cap - 1)]; s != NULL; s = s->next)
        if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0)
            return s;
    return NULL;
}

static int table_add(table *t, set *s) {
    if (t->n >= t->cap) {
        size_t ncap = t->cap != 0 ? t->cap * 2 : MIN_BUCKETS;
        set **ntab = calloc(ncap, sizeof(*ntab));
        if (ntab == NULL) {
            if (t->cap == 0)
                return TR_ENOMEM;
        } else {
            for (size_t i = 0; i < t->cap; i++) {
                set *e = t->tab[i];
                while (e != NULL) {
                    set *next = e->next;
                    e->next = ntab[e->hash & (ncap - 1)];
                    ntab[e->hash & (ncap - 1)] = e;
                    e = next;
                }
            }
            free(t->tab);
            t->tab = ntab;
            t->cap = ncap;
        }
    }
    set **b = &t->tab[s->hash & (t->cap - 1)];
    s->next = *b;
    *b = s;
    t->n++;
    return 0;
}

static void table_del(table *t, set *s) {
    set **p = &t->tab[s->hash & (t->cap - 1)];
    while (*p != s)
        p = &(*p)->next;
    *p = s->next;
    t->n--;
}

static void set_free(set *s) {
    free(s->m);
    free(s);
}

static void table_destroy(table *t) {
    for (size_t i = 0; i < t->cap; i++) {
        set *s = t->tab[i];
        while (s != NULL) { /* none once every actor ended; freed anyway */
            set *next = s->next;
            for (size_t j = 0; j < s->n; j++)
                free(s->m[j]);
            set_free(s);
            s = next;
        }
    }
    free(t->tab);
}

static groups *groups_get(tr_runtime *rt) {
    groups *g = ck_pr_load_ptr(&rt->groups);
    if (g != NULL) {
        ck_pr_fence_load(); /* the tables' init: pairs with the CAS in groups_make */
        TR__TSAN_ACQUIRE(&rt->groups);
    }
    return g;
}

static void groups_destroy(groups *g) {
    for (unsigned k = 0; k < K_COUNT; k++)
        table_destroy(&g->t[k]);
    pthread_rwlock_destroy(&g->lk);
    free(g);
}

static groups *groups_make(tr_runtime *rt) {
    groups *g = groups_get(rt);
    if (g != NULL)
        return g;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    pthread_rwlock_init(&g->lk, NULL);
    /* The CAS (a full barrier) publishes the init; pairs with groups_get. */
    TR__TSAN_RELEASE(&rt->groups);
    if (ck_pr_cas_ptr(&rt->groups, NULL, g))
        return g;
    groups_destroy(g);
    return groups_get(rt);
}

void tr__group_free(tr_runtime *rt) {
    groups *g = rt->groups;
    if (g != NULL) {
        rt->groups = NULL;
        groups_destroy(g);
    }
}

/* --- joining and leaving -------------------------------------------------- */

/* Take m out of its set (write lock); the set goes with its last member. */
static void member_remove(groups *g, member *m) {
    set *s = m->s;
    member *last = s->m[--s->n];
    if (last != m) {
        s->m[m->idx] = last;
        last->idx = m->idx;
    }
    if (s->n == 0) {
        table_del(&g->t[s->kind], s);
        set_free(s);
    }
}

/* Where a's node for the set (kind, name) is in its list (head: the side
 * block's dir_groups): *result is NULL if a has none. Under the write lock. */
static member **node_of(member **head, const char *name, size_t len, uint8_t kind) {
    member **p = head;
    while (*p != NULL &&
           !((*p)->s->kind == kind && (*p)->s->len == len && memcmp((*p)->s->name, name, len) == 0))
        p = &(*p)->next;
    return p;
}

static int join(tr_actor *a, const char *name, size_t len, uint8_t kind) {
    if (tr__runtime_forked(a->rt)) /* its locks may be held for ever (core/fork.c) */
        return TR_EFORKED;
    groups *g = groups_make(a->rt);
    tr__actor_ext *e = tr__actor_ext_any(a); /* its memberships' list */
    member *m = malloc(sizeof(*m));
    if (g == NULL || e == NULL || m == NULL) {
        free(m);
        return TR_ENOMEM;
    }
    table *t = &g->t[kind];
    uint64_t h = tr__name_hash(name, len);
    int rc = 0;
    pthread_rwlock_wrlock(&g->lk);
    tr__dir_mark_any(e, TR__DIR_JOINED); /* before the check: core/registry.h */
    if (tr__mbox_closed_any(&a->mbox)) {
        rc = TR_EDEAD;
        goto out;
    }
    if (*node_of(&e->dir_groups, name, len, kind) != NULL) {
        rc = TR_EEXIST;
        goto out;
    }
    set *s = table_find(t, name, len, h);
    bool made = false;
    if (s == NULL) {
        s = calloc(1, sizeof(*s) + len + 1); /* zeroed: name is terminated */
        if (s == NULL) {
            rc = TR_ENOMEM;
            goto out;
        }
        s->hash = h;
        s->len = len;
        s->kind = kind;
        memcpy(s->name, name, len);
        if (table_add(t, s) != 0) {
            free(s);
            rc = TR_ENOMEM;
            goto out;
        }
        made = true;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap != 0 ? s->cap * 2 : 4;
        member **nm = realloc(s->m, ncap * sizeof(*nm));
        if (nm == NULL) {
            if (made) {
                table_del(t, s);
                set_free(s);
            }
            rc = TR_ENOMEM;
            goto out;
        }
        s->m = nm;
        s->cap = ncap;
    }
    m->s = s;
    m->a = a;
    m->idx = s->n;
    s->m[s->n++] = m;
    m->next = e->dir_groups;
    e->dir_groups = m;
    m = NULL;
out:
    pthread_rwlock_unlock(&g->lk);
    free(m);
    return rc;
}

static int leave(tr_actor *a, const char *name, size_t len, uint8_t kind) {
    if (tr__runtime_forked(a->rt))
        return TR_EFORKED;
    groups *g = groups_get(a->rt);
    if (g == NULL)
        return TR_ENOTFOUND;
    tr__actor_ext *e = tr__actor_ext_peek(a); /* none: it never joined */
    if (e == NULL)
        return TR_ENOTFOUND;
    member *found = NULL;
    pthread_rwlock_wrlock(&g->lk);
    member **p = node_of(&e->dir_groups, name, len, kind);
    if (*p != NULL) {
        found = *p;
        *p = found->next;
        member_remove(g, found);
    }
    pthread_rwlock_unlock(&g->lk);
    free(found);
    return found != NULL ? 0 : TR_ENOTFOUND;
}

void tr__group_actor_end(tr_actor *a) {
    groups *g = groups_get(a->rt);
    tr__actor_ext *e = tr__actor_ext_peek(a); /* made before it was marked */
    if (g == NULL || e == NULL)
        return;
    pthread_rwlock_wrlock(&g->lk);
    member *m = e->dir_groups;
    e->dir_groups = NULL;
    for (member *o = m; o != NULL; o = o->next)
        member_remove(g, o);
    pthread_rwlock_unlock(&g->lk);
    while (m != NULL) {
        member *next = m->next;
        free(m);
        m = next;
    }
}

int tr_group_join(tr_ref *member_ref, const char *group) {
    size_t len;
    if (member_ref == NULL || tr__name_check(group, &len) != 0)
        return TR_EINVAL;
    return join(member_ref, group, len, K_GROUP);
}

int tr_group_leave(tr_ref *member_ref, const char *group) {
    size_t len;
    if (member_ref == NULL || tr__name_check(group, &len) != 0)
        return TR_EINVAL;
    return leave(member_ref, group, len, K_GROUP);
}

int tr_subscribe(tr_ref *sub, const char *pattern) {
    size_t len;
    uint8_t kind;
    if (sub == NULL || check_topic(pattern, &len, true, &kind) != 0)
        return TR_EINVAL;
    return join(sub, pattern, len, kind);
}

int tr_unsubscribe(tr_ref *sub, const char *pattern) {
    size_t len;
    uint8_t kind;
    if (sub == NULL || check_topic(pattern, &len, true, &kind) != 0)
        return TR_EINVAL;
    return leave(sub, pattern, len, kind);
}

int tr_group_members(tr_runtime *rt, const char *group, tr_ref **out, size_t cap, size_t *n) {
    size_t len;
    if (rt == NULL || n == NULL || (out == NULL && cap > 0) || tr__name_check(group, &len) != 0)
        return TR_EINVAL;
    *n = 0;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    groups *g = groups_get(rt);
    if (g == NULL)
        return 0;
    size_t live = 0;
    pthread_rwlock_rdlock(&g->lk);
    set *s = table_find(&g->t[K_GROUP], group, len, tr__name_hash(group, len));
    for (size_t i = 0; s != NULL && i < s->n; i++) {
        tr_actor *a = s->m[i]->a;
        if (tr__mbox_closed_any(&a->mbox))
            continue;
        if (*n < cap) {
            tr_ref_retain(a); /* the node keeps the block; this is the caller's */
            out[(*n)++] = a;
        }
        live++;
    }
    pthread_rwlock_unlock(&g->lk);
    return live > INT_MAX ? INT_MAX : (int)live;
}

int tr_ref_release_all(tr_ref **refs, size_t n) {
    if (refs == NULL && n > 0)
        return TR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (refs[i] != NULL)
            tr_ref_release(refs[i]);
    return 0;
}

/* --- delivery ------------------------------------------------------------- */

typedef struct shared {
    uint32_t refs;
    uint32_t pad;
    max_align_t data[]; /* the payload */
} shared;

static uint64_t shared_made, shared_freed; /* statistics, for tests */

void tr__group_shared_counts(uint64_t *made, uint64_t *freed) {
    *made = ck_pr_load_64(&shared_made);
    *freed = ck_pr_load_64(&shared_freed);
}

/* A message's ptr_free: drop its reference; the last frees the block. */
static void shared_unref(void *data) {
    shared *sh = tr__container_of(data, shared, data);
    /* Release our reads of the payload before the last holder frees it; the
     * locked decrement is a full barrier. */
    if (!tr__refcount_release(&sh->refs))
        return;
    free(sh);
    ck_pr_inc_64(&shared_freed); /* a statistic: orders nothing */
}

typedef struct delivery {
    uint32_t type;
    const void *data;
    size_t size;
    uint64_t word;
    tr_actor *skip;
    shared *sh; /* the payload, when size > INLINE_MAX */
    size_t accepted;
    int err; /* the last refusal */
} delivery;

static int check_delivery(tr_runtime *rt, uint32_t type, const void *data, size_t size) {
    if (rt == NULL || type >= TR_MSG_SYSTEM || (data == NULL && size != 0))
        return TR_EINVAL;
    if (size > TR_MSG_MAX_SIZE)
        return TR_E2BIG;
    /* As a send: a closed runtime takes messages from its own actors only. */
    uint32_t st = ck_pr_load_32(&rt->state);
    if (st != TR__RT_RUNNING && tr__worker_of(rt) == NULL)
        return st == TR__RT_FORKED ? TR_EFORKED : TR_ECLOSED;
    return 0;
}

/* Make the shared block for up to `targets` messages (read lock held). */
static int prepare(delivery *d, size_t targets) {
    if (d->size <= INLINE_MAX || targets == 0)
        return 0;
    shared *sh = malloc(offsetof(shared, data) + d->size);
    if (sh == NULL)
        return TR_ENOMEM;
    /* One reference per target plus ours; unused ones are dropped as we go.
     * Published to receivers by each message's push. */
    sh->refs = (uint32_t)targets + 1;
    memcpy(sh->data, d->data, d->size);
    d->sh = sh;
    ck_pr_inc_64(&shared_made); /* a statistic: orders nothing */
    return 0;
}

static void deliver_one(delivery *d, tr_actor *a) {
    if (a == d->skip) {
        if (d->sh != NULL)
            shared_unref(d->sh->data);
        return;
    }
    tr_msg *m;
    int rc = tr_msg_new(&m, d->type, d->sh != NULL ? 0 : d->size);
    if (rc != 0) {
        if (d->sh != NULL)
            shared_unref(d->sh->data);
        d->err = rc;
        return;
    }
    m->word = d->word;
    if (d->sh != NULL) {
        m->size = (uint32_t)d->size;
        m->flags |= TR__MSG_SHARED;
        m->ptr = d->sh->data;
        m->ptr_free = shared_unref;
    } else if (d->size != 0) {
        memcpy(tr_msg_data(m), d->data, d->size);
    }
    rc = tr_send_msg(a, m);
    if (rc == 0) {
        d->accepted++;
    } else {
        d->err = rc;
        tr_msg_free(m); /* drops its reference to the shared block */
    }
}

/* The result of a delivery, once the read lock is dropped. */
static int delivered(delivery *d) {
    if (d->sh != NULL)
        shared_unref(d->sh->data); /* ours */
    if (d->accepted == 0 && d->err == TR_ECLOSED)
        return TR_ECLOSED;
    return d->accepted > INT_MAX ? INT_MAX : (int)d->accepted;
}

static int broadcast(tr_runtime *rt, const char *group, tr_actor *skip, uint32_t type,
                     const void *data, size_t size, uint64_t word) {
    size_t len;
    int rc = check_delivery(rt, type, data, size);
    if (rc != 0)
        return rc;
    if (tr__name_check(group, &len) != 0)
        return TR_EINVAL;
    groups *g = groups_get(rt);
    if (g == NULL)
        return 0;
    delivery d = {.type = type, .data = data, .size = size, .word = word, .skip = skip};
    pthread_rwlock_rdlock(&g->lk);
    set *s = table_find(&g->t[K_GROUP], group, len, tr__name_hash(group, len));
    if (s != NULL && (rc = prepare(&d, s->n)) == 0)
        for (size_t i = 0; i < s->n; i++)
            deliver_one(&d, s->m[i]->a);
    pthread_rwlock_unlock(&g->lk);
    return rc != 0 ? rc : delivered(&d);
}

int tr_group_broadcast(tr_runtime *rt, const char *group, uint32_t type, const void *data,
                       size_t size) {
    return broadcast(rt, group, NULL, type, data, size, 0);
}

int tr_group_broadcast_word(tr_runtime *rt, const char *group, uint32_t type, uint64_t word) {
    return broadcast(rt, group, NULL, type, NULL, 0, word);
}

int tr_group_broadcast_others(tr_ctx *ctx, const char *group, uint32_t type, const void *data,
                              size_t size) {
    if (ctx == NULL)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    /* Only the actor itself, inside its callback: on any other thread ctx
     * may already name an ended actor (or a later one in its block). */
    if (tr__tls_self != self)
        return TR_EINVAL;
    return broadcast(self->rt, group, self, type, data, size, 0);
}

static int by_address(const void *x, const void *y) {
    uintptr_t a = (uintptr_t) * (tr_actor *const *)x, b = (uintptr_t) * (tr_actor *const *)y;
    return a < b ? -1 : a > b;
}

/* The subscription sets matching topic, one after the other (read lock
 * held): the exact one, found by hash, then every wildcard pattern that
 * matches. Start with prev NULL; NULL at the end. */
static set *next_match(groups *g, const char *topic, size_t len, uint64_t h, set *prev) {
    const table *w = &g->t[K_WILD];
    set *s;
    size_t b;
    if (prev == NULL || prev->kind == K_EXACT) {
        set *exact = prev == NULL ? table_find(&g->t[K_EXACT], topic, len, h) : NULL;
        if (exact != NULL)
            return exact;
        b = 0;
        s = w->cap != 0 ? w->tab[0] : NULL;
    } else {
        b = (size_t)(prev->hash & (w->cap - 1));
        s = prev->next;
    }
    for (;;) {
        for (; s != NULL; s = s->next)
            if (match(s->name, topic))
                return s;
        if (++b >= w->cap)
            return NULL;
        s = w->tab[b];
    }
}

static int publish(tr_runtime *rt, const char *topic, uint32_t type, const void *data, size_t size,
                   uint64_t word) {
    size_t len;
    int rc = check_delivery(rt, type, data, size);
    if (rc != 0)
        return rc;
    if (check_topic(topic, &len, false, NULL) != 0)
        return TR_EINVAL;
    groups *g = groups_get(rt);
    if (g == NULL)
        return 0;
    delivery d = {.type = type, .data = data, .size = size, .word = word};
    uint64_t h = tr__name_hash(topic, len);
    pthread_rwlock_rdlock(&g->lk);
    /* First pass: how many sets match, and how many members they have. */
    set *one = NULL;
    size_t sets = 0, total = 0;
    for (set *s = next_match(g, topic, len, h, NULL); s != NULL;
         s = next_match(g, topic, len, h, s)) {
        one = s;
        sets++;
        total += s->n;
    }
    if (sets == 1) {
        if ((rc = prepare(&d, one->n)) == 0)
            for (size_t i = 0; i < one->n; i++)
                deliver_one(&d, one->m[i]->a);
    } else if (sets > 1) {
        /* Several patterns: each actor once. */
        tr_actor **all = malloc(total * sizeof(*all));
        if (all == NULL) {
            rc = TR_ENOMEM;
        } else {
            size_t k = 0, u = 0;
            for (set *s = next_match(g, topic, len, h, NULL); s != NULL;
                 s = next_match(g, topic, len, h, s))
                for (size_t i = 0; i < s->n; i++)
                    all[k++] = s->m[i]->a;
            qsort(all, k, sizeof(*all), by_address);
            for (size_t i = 0; i < k; i++)
                if (u == 0 || all[u - 1] != all[i])
                    all[u++] = all[i];
            if ((rc = prepare(&d, u)) == 0)
                for (size_t i = 0; i < u; i++)
                    deliver_one(&d, all[i]);
            free(all);
        }
    }
    pthread_rwlock_unlock(&g->lk);
    return rc != 0 ? rc : delivered(&d);
}

int tr_publish(tr_runtime *rt, const char *topic, uint32_t type, const void *data, size_t size) {
    return publish(rt, topic, type, data, size, 0);
}

int tr_publish_word(tr_runtime *rt, const char *topic, uint32_t type, uint64_t word) {
    return publish(rt, topic, type, NULL, 0, word);
}
