/* core/registry.c - names: one table per runtime, any thread.
 *
 * Lookups (tr_whereis and the _named sends) are frequent, registrations
 * rare. The table is split into STRIPES stripes by the name's hash, each a
 * chained hash table under its own read-write lock: a lookup takes one
 * stripe's read lock, so lookups of different names touch different lines
 * and lookups of one name run side by side. Writers (register, unregister,
 * an actor's end) take the table-wide mutex `mu`, then the stripe's write
 * lock: `mu` keeps "one name per actor" (its side block's dir_name) true across stripes,
 * and registrations are rare enough to share one mutex. The table is made
 * on the first registration (a CAS on rt->names), so a runtime that never
 * names an actor pays nothing.
 *
 * Invariants:
 * - An entry's actor block is never recycled while the entry exists: the
 *   actor's end hook (tr__registry_actor_end, run from core/actor.c before
 *   the actor drops its own reference) removes it under the write lock. So
 *   the table holds no reference, and a reader under the read lock may
 *   retain the actor (tr_whereis) or push to it (the _named sends) safely.
 * - A lookup answers only for an actor whose mailbox is open: from the
 *   moment an actor starts ending its name is gone for lookups, and another
 *   actor may take it over (the ending actor's end then finds dir_name NULL).
 * - dir_name (in a's side block, core/actor.h, made before a registers) is
 *   the entry naming a, or NULL; read and written under mu.
 * - Registration marks a (TR__DIR_NAMED) before checking its mailbox is
 *   open; the end reads the mark after closing it (core/registry.h): a
 *   registration racing with the end either fails with TR_EDEAD or is seen
 *   and undone by the end hook, which waits for mu.
 * The locks are pthread ones (TSan sees them). A reader pushes a message
 * while holding a stripe's read lock; a push never blocks or takes a
 * registry lock, so writers wait at most for one push. */
#include "core/registry.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/runtime.h"
#include "troupe/error.h"
#include "troupe/registry.h"

#define STRIPES 16     /* power of two */
#define MIN_BUCKETS 8u /* a stripe's first bucket array */

typedef struct tr__name_ent {
    struct tr__name_ent *next; /* the bucket's chain */
    tr_actor *actor;
    uint64_t hash;
    size_t len;
    char name[TR_NAME_MAX + 1];
} name_ent;

typedef struct stripe {
    pthread_rwlock_t lk TR__ALIGNED;
    name_ent **tab; /* cap buckets (a power of two), or NULL */
    size_t cap;
    size_t n;
} stripe;

struct tr__names {
    pthread_mutex_t mu; /* writers: register, unregister, actor ends */
    stripe s[STRIPES];
};
typedef struct tr__names names;

/* --- the table ------------------------------------------------------------ */

int tr__name_check(const char *name, size_t *len) {
    if (name == NULL)
        return TR_EINVAL;
    size_t l = strnlen(name, TR_NAME_MAX + 1);
    if (l == 0 || l > TR_NAME_MAX)
        return TR_EINVAL;
    *len = l;
    return 0;
}

/* FNV-1a, 64 bits. The low bits choose the stripe, the next ones the bucket. */
uint64_t tr__name_hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static stripe *stripe_of(names *t, uint64_t h) {
    return &t->s[h & (STRIPES - 1)];
}

static size_t bucket_of(const stripe *s, uint64_t h) {
    return (size_t)(h >> 4) & (s->cap - 1);
}

static name_ent *find(const stripe *s, const char *name, size_t len, uint64_t h) {
    if (s->cap == 0)
        return NULL;
    for (name_ent *e = s->tab[bucket_of(s, h)]; e != NULL; e = e->next)
        if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    return NULL;
}

/* Double the buckets (write lock held). On ENOMEM the old array stays. */
static int grow(stripe *s) {
    size_t ncap = s->cap != 0 ? s->cap * 2 : MIN_BUCKETS;
    name_ent **ntab = calloc(ncap, sizeof(*ntab));
    if (ntab == NULL)
        return TR_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
        name_ent *e = s->tab[i];
        while (e != NULL) {
            name_ent *next = e->next;
            size_t b = (size_t)(e->hash >> 4) & (ncap - 1);
            e->next = ntab[b];
            ntab[b] = e;
            e = next;
        }
    }
    free(s->tab);
    s->tab = ntab;
    s->cap = ncap;
    return 0;
}

static void unlink_ent(stripe *s, name_ent *e) {
    name_ent **p = &s->tab[bucket_of(s, e->hash)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    s->n--;
}

/* rt's table, or NULL if no name was ever registered there. */
static names *names_get(tr_runtime *rt) {
    names *t = ck_pr_load_ptr(&rt->names);
    if (t != NULL) {
        ck_pr_fence_load(); /* the table's init: pairs with the CAS in names_make */
        TR__TSAN_ACQUIRE(&rt->names);
    }
    return t;
}

static void names_destroy(names *t) {
    for (unsigned i = 0; i < STRIPES; i++) {
        stripe *s = &t->s[i];
        for (size_t b = 0; b < s->cap; b++) {
            name_ent *e = s->tab[b];
            while (e != NULL) { /* none once every actor ended; freed anyway */
                name_ent *next = e->next;
                free(e);
                e = next;
            }
        }
        free(s->tab);
        pthread_rwlock_destroy(&s->lk);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static names *names_make(tr_runtime *rt) {
    names *t = names_get(rt);
    if (t != NULL)
        return t;
    t = aligned_alloc(TR__CACHELINE, sizeof(*t));
    if (t == NULL)
        return NULL;
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    for (unsigned i = 0; i < STRIPES; i++)
        pthread_rwlock_init(&t->s[i].lk, NULL);
    /* The CAS (a full barrier) publishes the init above; pairs with names_get. */
    TR__TSAN_RELEASE(&rt->names);
    if (ck_pr_cas_ptr(&rt->names, NULL, t))
        return t;
    names_destroy(t); /* another thread made it first */
    return names_get(rt);
}

/* --- registering ---------------------------------------------------------- */

static int do_register(tr_actor *a, const char *name) {
    size_t len;
    int rc = tr__name_check(name, &len);
    if (rc != 0)
        return rc;
    if (tr__runtime_forked(a->rt)) /* its locks may be held for ever (core/fork.c) */
        return TR_EFORKED;
    names *t = names_make(a->rt);
    tr__actor_ext *x = tr__actor_ext_any(a);               /* where its entry is kept */
    name_ent *ne = x != NULL ? malloc(sizeof(*ne)) : NULL; /* outside the locks */
    if (t == NULL || ne == NULL) {
        free(ne);
        return TR_ENOMEM;
    }
    ne->actor = a;
    ne->hash = tr__name_hash(name, len);
    ne->len = len;
    memcpy(ne->name, name, len);
    ne->name[len] = '\0';
    stripe *s = stripe_of(t, ne->hash);
    name_ent *gone = NULL;
    pthread_mutex_lock(&t->mu);
    tr__dir_mark_any(x, TR__DIR_NAMED); /* before the check: core/registry.h */
    if (tr__mbox_closed_any(&a->mbox)) {
        rc = TR_EDEAD;
    } else if (x->dir_name != NULL) {
        const name_ent *own = x->dir_name;
        rc = own->len == len && memcmp(own->name, name, len) == 0 ? TR_EEXIST : TR_EALREADY;
    } else {
        pthread_rwlock_wrlock(&s->lk);
        name_ent *old = find(s, name, len, ne->hash);
        if (old != NULL && !tr__mbox_closed_any(&old->actor->mbox)) {
            rc = TR_EEXIST;
        } else if (old == NULL && s->n >= s->cap && grow(s) != 0 && s->cap == 0) {
            rc = TR_ENOMEM; /* a full stripe that cannot grow just chains longer */
        } else {
            if (old != NULL) { /* its actor is ending: the name is free to take */
                unlink_ent(s, old);
                tr__actor_ext_peek(old->actor)->dir_name = NULL; /* named: it has one */
                gone = old;
            }
            size_t b = bucket_of(s, ne->hash);
            ne->next = s->tab[b];
            s->tab[b] = ne;
            s->n++;
            x->dir_name = ne;
            ne = NULL;
        }
        pthread_rwlock_unlock(&s->lk);
    }
    pthread_mutex_unlock(&t->mu);
    free(ne);
    free(gone);
    return rc;
}

int tr_register(tr_ref *ref, const char *name) {
    if (ref == NULL)
        return TR_EINVAL;
    return do_register(ref, name);
}

int tr__registry_spawn(tr_actor *a, const char *name) {
    return do_register(a, name);
}

int tr_unregister(tr_runtime *rt, const char *name) {
    size_t len;
    if (rt == NULL || tr__name_check(name, &len) != 0)
        return TR_EINVAL;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    names *t = names_get(rt);
    if (t == NULL)
        return TR_ENOTFOUND;
    uint64_t h = tr__name_hash(name, len);
    stripe *s = stripe_of(t, h);
    pthread_mutex_lock(&t->mu);
    pthread_rwlock_wrlock(&s->lk);
    name_ent *e = find(s, name, len, h);
    if (e != NULL) {
        unlink_ent(s, e);
        /* Under mu; the block lives while named, and has a side block. */
        tr__actor_ext_peek(e->actor)->dir_name = NULL;
    }
    pthread_rwlock_unlock(&s->lk);
    pthread_mutex_unlock(&t->mu);
    free(e);
    return e != NULL ? 0 : TR_ENOTFOUND;
}

void tr__registry_actor_end(tr_actor *a) {
    names *t = names_get(a->rt);
    if (t == NULL)
        return;
    tr__actor_ext *x = tr__actor_ext_peek(a); /* made before it was marked */
    if (x == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    name_ent *e = x->dir_name;
    if (e != NULL) {
        stripe *s = stripe_of(t, e->hash);
        pthread_rwlock_wrlock(&s->lk);
        unlink_ent(s, e);
        pthread_rwlock_unlock(&s->lk);
        x->dir_name = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    free(e);
}

void tr__registry_free(tr_runtime *rt) {
    names *t = rt->names;
    if (t != NULL) {
        rt->names = NULL;
        names_destroy(t);
    }
}

/* --- looking up ----------------------------------------------------------- */

/* What to do with the actor found, under the stripe's read lock. */
typedef struct use {
    int (*fn)(tr_actor *a, struct use *u);
    uint32_t type;
    const void *data;
    size_t size;
    uint64_t word;
    tr_msg *msg;
    tr_future **fut;
    tr_ref **ref;
} use;

/* Find the live actor named name and apply u->fn to it under the read lock.
 * TR_ENOTFOUND if none, or if it ended before the push (TR_EDEAD). */
static int with_named(tr_runtime *rt, const char *name, use *u) {
    size_t len;
    if (rt == NULL || tr__name_check(name, &len) != 0)
        return TR_EINVAL;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    names *t = names_get(rt);
    if (t == NULL)
        return TR_ENOTFOUND;
    uint64_t h = tr__name_hash(name, len);
    stripe *s = stripe_of(t, h);
    int rc = TR_ENOTFOUND;
    pthread_rwlock_rdlock(&s->lk);
    name_ent *e = find(s, name, len, h);
    if (e != NULL && !tr__mbox_closed_any(&e->actor->mbox)) {
        rc = u->fn(e->actor, u);
        if (rc == TR_EDEAD)
            rc = TR_ENOTFOUND;
    }
    pthread_rwlock_unlock(&s->lk);
    return rc;
}

static int use_retain(tr_actor *a, use *u) {
    tr_ref_retain(a); /* the entry keeps the block; this makes the caller's */
    *u->ref = a;
    return 0;
}

int tr_whereis(tr_runtime *rt, const char *name, tr_ref **out) {
    if (out == NULL)
        return TR_EINVAL;
    *out = NULL;
    use u = {.fn = use_retain, .ref = out};
    return with_named(rt, name, &u);
}

int tr_registered(tr_runtime *rt, tr_name *out, size_t cap, size_t *n) {
    if (rt == NULL || n == NULL || (out == NULL && cap > 0))
        return TR_EINVAL;
    *n = 0;
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    names *t = names_get(rt);
    if (t == NULL)
        return 0;
    size_t total = 0;
    for (unsigned i = 0; i < STRIPES; i++) {
        stripe *s = &t->s[i];
        pthread_rwlock_rdlock(&s->lk);
        for (size_t b = 0; b < s->cap; b++) {
            for (const name_ent *e = s->tab[b]; e != NULL; e = e->next) {
                if (tr__mbox_closed_any(&e->actor->mbox))
                    continue;
                if (*n < cap)
                    memcpy(out[(*n)++], e->name, e->len + 1);
                total++;
            }
        }
        pthread_rwlock_unlock(&s->lk);
    }
    return total > INT_MAX ? INT_MAX : (int)total;
}

/* --- sending and asking by name ------------------------------------------- */

static int use_send(tr_actor *a, use *u) {
    return tr_send(a, u->type, u->data, u->size);
}

static int use_send_word(tr_actor *a, use *u) {
    return tr_send_word(a, u->type, u->word);
}

static int use_send_msg(tr_actor *a, use *u) {
    return tr_send_msg(a, u->msg);
}

static int use_ask(tr_actor *a, use *u) {
    return tr_ask(a, u->type, u->data, u->size, u->fut);
}

static int use_ask_word(tr_actor *a, use *u) {
    return tr_ask_word(a, u->type, u->word, u->fut);
}

int tr_send_named(tr_runtime *rt, const char *name, uint32_t type, const void *data, size_t size) {
    if (type >= TR_MSG_SYSTEM || (data == NULL && size != 0))
        return TR_EINVAL;
    if (size > TR_MSG_MAX_SIZE)
        return TR_E2BIG;
    use u = {.fn = use_send, .type = type, .data = data, .size = size};
    return with_named(rt, name, &u);
}

int tr_send_word_named(tr_runtime *rt, const char *name, uint32_t type, uint64_t word) {
    if (type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    use u = {.fn = use_send_word, .type = type, .word = word};
    return with_named(rt, name, &u);
}

int tr_send_msg_named(tr_runtime *rt, const char *name, tr_msg *msg) {
    if (msg == NULL || msg->type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    use u = {.fn = use_send_msg, .msg = msg};
    return with_named(rt, name, &u);
}

int tr_ask_named(tr_runtime *rt, const char *name, uint32_t type, const void *data, size_t size,
                 tr_future **out) {
    if (out != NULL)
        *out = NULL;
    if (out == NULL || type >= TR_MSG_SYSTEM || (data == NULL && size != 0))
        return TR_EINVAL;
    if (size > TR_MSG_MAX_SIZE)
        return TR_E2BIG;
    use u = {.fn = use_ask, .type = type, .data = data, .size = size, .fut = out};
    return with_named(rt, name, &u);
}

int tr_ask_word_named(tr_runtime *rt, const char *name, uint32_t type, uint64_t word,
                      tr_future **out) {
    if (out != NULL)
        *out = NULL;
    if (out == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    use u = {.fn = use_ask_word, .type = type, .word = word, .fut = out};
    return with_named(rt, name, &u);
}
