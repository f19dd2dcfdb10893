/* io/io.h - the io layer's per-runtime state, shared by its files.
 *
 * io/ hangs one tr__io on the runtime (extension slot TR__EXT_IO), made on
 * first use. It holds, per worker, a "closed" flag and the list of objects
 * (timers, fd watchers, connections, listeners, signal watchers) that have
 * libev watchers on that worker's loop; and the id tables that let any thread
 * find a timer or an fd watch by id.
 *
 * Threading rules every io file keeps:
 *   - libev calls for a loop run only on that loop's worker thread. Other
 *     threads hand work over with tr__io_post, which fails with TR_ECLOSED
 *     once the worker has stopped (so nothing is posted that would never run).
 *   - A post that was accepted always runs: normally, or in the worker's last
 *     run_posts after worker_stop, when tr__io_closed_owner(w) is true and it
 *     must clean up instead of starting watchers.
 *   - worker_stop marks the worker closed and tears down every object on its
 *     list (obj->teardown), on the worker's own thread. */
#ifndef TR_IO_IO_H
#define TR_IO_IO_H

#include <ev.h>
#include <pthread.h>
#include <stdint.h>

#include "core/actor.h"
#include "core/worker.h"
#include "troupe/actor.h"

typedef struct tr__io tr__io;
typedef struct tr__io_obj tr__io_obj;

/* Something with watchers on a worker's loop. Owner (loop thread) only. */
struct tr__io_obj {
    tr__io_obj *prev, *next;
    void (*teardown)(tr__io_obj *o); /* worker shutdown: stop, free */
};

/* A u64 -> pointer hash table (chained); callers hold io->lock. */
typedef struct tr__io_entry {
    struct tr__io_entry *next;
    uint64_t key;
} tr__io_entry;

typedef struct tr__io_table {
    tr__io_entry **b;
    size_t nb, n;
} tr__io_table;

typedef struct tr__io_worker {
    pthread_mutex_t post_mu; /* orders tr__io_post against `closed` */
    int closed;              /* set by worker_stop, under post_mu */
    tr__io_obj objs;         /* list head (owner only) */
} tr__io_worker;

struct tr__io {
    tr_runtime *rt;
    unsigned nworkers;
    tr__io_worker *ws;
    uint32_t rr; /* round robin for foreign callers */
    /* Timers, fd watches and idle timeouts by id, under `lock`. */
    pthread_mutex_t lock;
    uint64_t next_id;
    tr__io_table timers;
    tr__io_table fds;
    tr__io_table idles; /* actor id -> idle timer */
    /* Signals: io/signal.c's alone (only it reads or writes them); here
     * because they are per runtime, and io/ has one runtime slot. */
    int signals_on;
    int signal_drain_ms; /* the signal watcher's drain deadline; 0: close at once */
};

/* The io state of rt, made on first use (NULL only when out of memory). */
tr__io *tr__io_get(tr_runtime *rt);
/* The worker to put a new loop object on: the caller's own worker of rt, or
 * one chosen round robin for foreign threads. */
tr__worker *tr__io_pick_worker(tr__io *io);
static inline tr__io_worker *tr__io_w(tr__io *io, tr__worker *w) {
    return &io->ws[w->id];
}
/* Hand p to w's thread; TR_ECLOSED (p not posted) once w has stopped. */
int tr__io_post(tr__io *io, tr__worker *w, tr__post *p);
/* True once w's io state is torn down (owner only: in posts on w). */
static inline int tr__io_closed_owner(tr__io *io, tr__worker *w) {
    return tr__io_w(io, w)->closed;
}
/* Link/unlink a loop object on w's list (owner only). */
void tr__io_obj_add_owner(tr__io *io, tr__worker *w, tr__io_obj *o);
void tr__io_obj_del_owner(tr__io_obj *o);

/* Table operations (hold io->lock). Entries are embedded in the objects. */
int tr__io_table_put(tr__io_table *t, tr__io_entry *e);
tr__io_entry *tr__io_table_get(tr__io_table *t, uint64_t key);
tr__io_entry *tr__io_table_del(tr__io_table *t, uint64_t key);

/* Whether an actor can still take messages: 1 from spawn (init included,
 * where tr_ref_is_alive is still 0) until its mailbox closes. */
static inline int tr__io_open(const tr_ref *ref) {
    return !tr__mbox_closed_any(&ref->mbox);
}

#endif
