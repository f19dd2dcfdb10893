/* io/io.c - the io layer's per-runtime state: worker lists, posts, id tables.
 *
 * The state is made on first use and registered in the runtime's TR__EXT_IO
 * slot; two threads racing to make it both try, one wins (tr__runtime_ext_set
 * refuses the second) and the loser frees its copy. worker_stop runs on each
 * worker's thread after its last actor turn: it marks the worker closed under
 * the worker's post mutex (so no post can be accepted after the runtime's
 * final run_posts) and tears down every loop object on that worker. Posts
 * accepted before the flag was set run in that final run_posts and see the
 * flag. runtime_free then frees the tables. */
#include "io/io.h"

#include <ck_pr.h>
#include <stdlib.h>
#include <string.h>

#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

/* --- tables -------------------------------------------------------------- */

static size_t slot_of(const tr__io_table *t, uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (t->nb - 1);
}

static int grow(tr__io_table *t) {
    size_t nb = t->nb ? t->nb * 2 : 64;
    tr__io_entry **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return TR_ENOMEM;
    tr__io_table nt = {b, nb, t->n};
    for (size_t i = 0; i < t->nb; i++) {
        tr__io_entry *e = t->b[i];
        while (e != NULL) {
            tr__io_entry *next = e->next;
            size_t s = slot_of(&nt, e->key);
            e->next = b[s];
            b[s] = e;
            e = next;
        }
    }
    free(t->b);
    *t = nt;
    return 0;
}

int tr__io_table_put(tr__io_table *t, tr__io_entry *e) {
    if (t->n >= t->nb) {
        int rc = grow(t);
        if (rc != 0)
            return rc;
    }
    size_t s = slot_of(t, e->key);
    e->next = t->b[s];
    t->b[s] = e;
    t->n++;
    return 0;
}

tr__io_entry *tr__io_table_get(tr__io_table *t, uint64_t key) {
    if (t->nb == 0)
        return NULL;
    for (tr__io_entry *e = t->b[slot_of(t, key)]; e != NULL; e = e->next)
        if (e->key == key)
            return e;
    return NULL;
}

tr__io_entry *tr__io_table_del(tr__io_table *t, uint64_t key) {
    if (t->nb == 0)
        return NULL;
    for (tr__io_entry **pp = &t->b[slot_of(t, key)]; *pp != NULL; pp = &(*pp)->next) {
        tr__io_entry *e = *pp;
        if (e->key == key) {
            *pp = e->next;
            e->next = NULL;
            t->n--;
            return e;
        }
    }
    return NULL;
}

/* --- loop objects -------------------------------------------------------- */

void tr__io_obj_add_owner(tr__io *io, tr__worker *w, tr__io_obj *o) {
    tr__io_obj *head = &tr__io_w(io, w)->objs;
    o->next = head->next;
    o->prev = head;
    head->next->prev = o;
    head->next = o;
}

void tr__io_obj_del_owner(tr__io_obj *o) {
    if (o->next == NULL)
        return;
    o->prev->next = o->next;
    o->next->prev = o->prev;
    o->next = o->prev = NULL;
}

int tr__io_post(tr__io *io, tr__worker *w, tr__post *p) {
    tr__io_worker *iw = tr__io_w(io, w);
    pthread_mutex_lock(&iw->post_mu);
    int closed = iw->closed;
    if (!closed)
        tr__worker_post_any(w, p);
    pthread_mutex_unlock(&iw->post_mu);
    return closed ? TR_ECLOSED : 0;
}

tr__worker *tr__io_pick_worker(tr__io *io) {
    tr__worker *w = tr__worker_of(io->rt);
    /* A private worker (a main loop, a pinned actor's thread) has no io
     * state: its actors' timers and I/O live on the pool's loops, and what
     * they deliver is queued to the pinned actor (core/pin.c). */
    if (w != NULL && !tr__worker_is_private(w))
        return w;
    /* Relaxed: any spread of foreign callers over the workers will do. */
    uint32_t i = ck_pr_faa_32(&io->rr, 1);
    return &io->rt->workers[i % io->nworkers];
}

/* --- life cycle ---------------------------------------------------------- */

static void io_worker_stop(tr__worker *w, void *data) {
    tr__io *io = data;
    tr__io_worker *iw = tr__io_w(io, w);
    pthread_mutex_lock(&iw->post_mu);
    iw->closed = 1;
    pthread_mutex_unlock(&iw->post_mu);
    /* teardown unlinks o; always take the first until the list is empty. */
    while (iw->objs.next != &iw->objs) {
        tr__io_obj *o = iw->objs.next;
        tr__io_obj_del_owner(o);
        o->teardown(o);
    }
}

static void io_runtime_free(tr_runtime *rt, void *data) {
    (void)rt;
    tr__io *io = data;
    for (unsigned i = 0; i < io->nworkers; i++)
        pthread_mutex_destroy(&io->ws[i].post_mu);
    free(io->timers.b);
    free(io->fds.b);
    free(io->idles.b);
    pthread_mutex_destroy(&io->lock);
    free(io->ws);
    free(io);
}

tr__io *tr__io_get(tr_runtime *rt) {
    if (tr__runtime_forked(rt)) /* the parent's: its locks may be held (core/fork.c) */
        return NULL;
    tr__io *io = tr__runtime_ext_get(rt, TR__EXT_IO);
    if (io != NULL)
        return io;
    io = calloc(1, sizeof(*io));
    if (io == NULL)
        return NULL;
    io->rt = rt;
    io->nworkers = rt->nworkers;
    io->ws = calloc(rt->nworkers, sizeof(*io->ws));
    if (io->ws == NULL) {
        free(io);
        return NULL;
    }
    for (unsigned i = 0; i < io->nworkers; i++) {
        pthread_mutex_init(&io->ws[i].post_mu, NULL);
        io->ws[i].objs.next = io->ws[i].objs.prev = &io->ws[i].objs;
    }
    pthread_mutex_init(&io->lock, NULL);
    io->next_id = 1;
    tr__ext ext = {.data = io, .worker_stop = io_worker_stop, .runtime_free = io_runtime_free};
    if (tr__runtime_ext_set(rt, TR__EXT_IO, &ext) != 0) {
        io_runtime_free(rt, io); /* lost the race: use the winner's */
        return tr__runtime_ext_get(rt, TR__EXT_IO);
    }
    /* Made during or after shutdown: a worker that copied the ext slots
     * before ours was set never runs io_worker_stop for it, so its posts
     * would never run. Every worker copies them under ext_lock
     * (tr__runtime_ext_copy) once the close began, and ext_set took that
     * lock after it: if the state does not read closing here, every worker
     * will see our slot. Closing
     * the (empty) new state at once makes every post fail with ECLOSED. */
    if (tr__runtime_closing(ck_pr_load_32(&rt->state))) { /* a drain still runs workers */
        for (unsigned i = 0; i < io->nworkers; i++) {
            pthread_mutex_lock(&io->ws[i].post_mu);
            io->ws[i].closed = 1;
            pthread_mutex_unlock(&io->ws[i].post_mu);
        }
    }
    return io;
}
