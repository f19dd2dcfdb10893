/* actors/sup_drain.c - supervisors stopped in order by a drain.
 *
 * A drain (core/drain.c) stops supervisors top-down before it closes: the
 * root supervisors (started by anything but a supervisor) newest first,
 * each waited for until it has ended. A root stopped with tr_actor_stop
 * shuts its children down newest first, each waited for (a child
 * supervisor does the same with its own), so the whole tree ends in OTP's
 * order: a parent outlives its children, siblings end in reverse start
 * order, older trees after newer ones. Core knows nothing of supervisors:
 * this file hangs its list on the runtime's TR__EXT_SUP slot, whose drain
 * hook is what the drain calls.
 *
 * The list holds a handle (retained) to every running supervisor with its
 * start number and whether it is a root; supervisors add themselves in init
 * and remove themselves in terminate, under the list's mutex (rare: starts
 * and ends of supervisors). The hook copies the roots under the mutex and
 * works on the copy with the mutex released: stopping a tree takes the
 * list's mutex again in every terminate. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actors/sup_drain.h"
#include "base/clock.h"
#include "core/runtime.h"
#include "troupe/error.h"

#define POLL_NS 500000L /* between two looks at a stopping root */

typedef struct entry {
    tr_ref *ref; /* retained */
    uint64_t seq;
    int root;
} entry;

typedef struct sups {
    pthread_mutex_t mu;
    entry *e;
    size_t n, cap;
    uint64_t seq;
} sups;

static void sups_free(tr_runtime *rt, void *data) {
    (void)rt;
    sups *s = data;
    for (size_t i = 0; i < s->n; i++)
        tr_ref_release(s->e[i].ref);
    free(s->e);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int newest_first(const void *a, const void *b) {
    const entry *x = a, *y = b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* The drain hook: stop the roots, newest first, each until it ended or the
 * deadline passed. */
static void sups_drain(tr_runtime *rt, void *data, uint64_t deadline_ns) {
    (void)rt;
    sups *s = data;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    entry *roots = s->n > 0 ? malloc(s->n * sizeof(*roots)) : NULL;
    for (size_t i = 0; roots != NULL && i < s->n; i++) {
        if (!s->e[i].root)
            continue;
        roots[n] = s->e[i];
        tr_ref_retain(roots[n].ref);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    /* Out of memory: nothing stopped here; the close stops them all. */
    qsort(roots, n, sizeof(*roots), newest_first);
    for (size_t i = 0; i < n; i++) {
        if (tr__mono_ns() >= deadline_ns)
            break; /* the close takes over */
        /* A stop as a message (supervisors take it so): an orderly
         * shutdown of the tree. TR_EDEAD if it ended meanwhile. */
        (void)tr_actor_stop(roots[i].ref);
        while (tr_ref_is_alive(roots[i].ref)) {
            uint64_t now = tr__mono_ns();
            if (now >= deadline_ns)
                break;
            struct timespec ts = {
                0, deadline_ns - now < (uint64_t)POLL_NS ? (long)(deadline_ns - now) : POLL_NS};
            nanosleep(&ts, NULL);
        }
    }
    for (size_t i = 0; i < n; i++)
        tr_ref_release(roots[i].ref);
    free(roots);
}

/* rt's list, made on first use (NULL if out of memory). */
static sups *sups_of(tr_runtime *rt) {
    sups *s = tr__runtime_ext_get(rt, TR__EXT_SUP);
    if (s != NULL)
        return s;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    tr__ext ext = {.data = s, .runtime_free = sups_free, .drain = sups_drain};
    if (tr__runtime_ext_set(rt, TR__EXT_SUP, &ext) != 0) {
        sups_free(rt, s); /* lost the race: use the winner's */
        return tr__runtime_ext_get(rt, TR__EXT_SUP);
    }
    return s;
}

void tr__sup_track(tr_runtime *rt, tr_ref *sup, int root) {
    sups *s = sups_of(rt);
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->n == s->cap) {
        size_t cap = s->cap != 0 ? s->cap * 2 : 8;
        entry *e = realloc(s->e, cap * sizeof(*e));
        if (e == NULL) {
            pthread_mutex_unlock(&s->mu);
            return;
        }
        s->e = e;
        s->cap = cap;
    }
    tr_ref_retain(sup);
    s->e[s->n++] = (entry){.ref = sup, .seq = ++s->seq, .root = root};
    pthread_mutex_unlock(&s->mu);
}

void tr__sup_untrack(tr_runtime *rt, tr_ref *sup) {
    sups *s = tr__runtime_ext_get(rt, TR__EXT_SUP);
    if (s == NULL)
        return;
    tr_ref *drop = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        if (s->e[i].ref == sup) {
            drop = sup;
            s->e[i] = s->e[--s->n]; /* order lives in seq, not in the array */
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (drop != NULL)
        tr_ref_release(drop);
}
