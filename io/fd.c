/* io/fd.c - one-shot readiness watches on raw file descriptors.
 *
 * A watch is an ev_io on its owner worker's loop. It is one-shot: on
 * readiness the owner stops the ev_io and sends TR_MSG_FD_READY; the actor
 * re-arms when it has consumed the data (tr_fd_rearm). Level-triggered
 * re-firing would flood the mailbox while the actor has not read yet.
 *
 * Lifetime follows io/timer.c: the watch is in io->fds while LIVE; unwatch
 * (any thread) flips it to GONE under io->lock and posts stop_post, which
 * frees it on the owner. If that post fails because the worker stopped, the
 * owner's teardown or start post frees it instead (stop_posted tells which).
 * Posts for one watch are made under io->lock, so they run in call order.
 * A watch unwatched with tr__fd_unwatch_close owns its fd from then on and
 * closes it where it is freed, on its owner or after it stopped. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/platform.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "io/fd.h"
#include "io/io.h"
#include "troupe/error.h"
#include "troupe/io.h"

enum { LIVE = 0, GONE = 1 };

typedef struct fdw {
    tr__io_obj obj;
    tr__io_entry ent; /* key = id */
    tr__io *io;
    tr__worker *w;
    ev_io ev;
    int fd;
    tr_ref *to; /* retained */
    uint64_t tag;
    /* io->lock */
    int state;
    int stop_posted;
    int rearm_pending;
    int free_in_rearm; /* freeing waits for the pending rearm post */
    int close_fd;      /* tr__fd_unwatch_close: free_watch closes fd */
    unsigned want;     /* events for the next arm */
    /* owner */
    int active;
    int started;
    tr__post start_post, rearm_post, stop_post;
} fdw;

#define FDW_OF(p, member) tr__container_of(p, fdw, member)

static int ev_bits(unsigned events) {
    return ((events & TR_FD_READ) ? EV_READ : 0) | ((events & TR_FD_WRITE) ? EV_WRITE : 0);
}

static void free_watch(fdw *f) {
    /* Read without io->lock: set before the stop was posted (under the
     * lock), and every path here runs after that post or its failure. */
    if (f->close_fd)
        close(f->fd);
    tr_ref_release(f->to);
    free(f);
}

static void stop_owner(fdw *f) {
    if (f->active) {
        ev_io_stop(tr__worker_loop(f->w), &f->ev);
        tr__worker_watchers_add_owner(f->w, -1);
        f->active = 0;
    }
    tr__io_obj_del_owner(&f->obj);
}

/* GONE under io->lock if LIVE; returns 1 if we did. */
static int gone_locked(fdw *f) {
    if (f->state != LIVE)
        return 0;
    f->state = GONE;
    tr__io_table_del(&f->io->fds, f->ent.key);
    return 1;
}

static void ready(struct ev_loop *loop, ev_io *ev, int revents) {
    fdw *f = ev->data;
    ev_io_stop(loop, ev);
    f->active = 0;
    tr__worker_watchers_add_owner(f->w, -1);
    pthread_mutex_lock(&f->io->lock);
    int live = f->state == LIVE;
    pthread_mutex_unlock(&f->io->lock);
    if (!live)
        return;
    tr_msg *m;
    if (tr__msg_new_system(&m, TR_MSG_FD_READY, 0) != 0)
        return;
    m->word = f->tag;
    m->status = ((revents & EV_READ) ? TR_FD_READ : 0) | ((revents & EV_WRITE) ? TR_FD_WRITE : 0);
    tr__actor_deliver_any(f->to, m);
}

static void arm_owner(fdw *f, unsigned events) {
    struct ev_loop *loop = tr__worker_loop(f->w);
    if (f->active) {
        ev_io_stop(loop, &f->ev);
        f->active = 0;
        tr__worker_watchers_add_owner(f->w, -1);
    }
    if (events == 0)
        return;
    ev_io_set(&f->ev, f->fd, ev_bits(events));
    ev_io_start(loop, &f->ev);
    f->active = 1;
    tr__worker_watchers_add_owner(f->w, +1);
}

/* Whether the caller, about to free f, may do so now (io->lock held): a
 * pending rearm post still points at f and frees it instead. */
static int may_free_locked(fdw *f) {
    if (!f->rearm_pending)
        return 1;
    f->free_in_rearm = 1;
    return 0;
}

static void teardown(tr__io_obj *o) {
    fdw *f = FDW_OF(o, obj);
    pthread_mutex_lock(&f->io->lock);
    int won = gone_locked(f);
    int do_free = (won || !f->stop_posted) && may_free_locked(f);
    pthread_mutex_unlock(&f->io->lock);
    stop_owner(f);
    if (do_free)
        free_watch(f);
}

static void start_post(tr__worker *w, tr__post *p) {
    fdw *f = FDW_OF(p, start_post);
    pthread_mutex_lock(&f->io->lock);
    int closed = tr__io_closed_owner(f->io, w);
    int won = closed ? gone_locked(f) : 0;
    int live = f->state == LIVE;
    int do_free = !live && (won || !f->stop_posted) && may_free_locked(f);
    unsigned want = f->want;
    pthread_mutex_unlock(&f->io->lock);
    if (live) {
        ev_io_init(&f->ev, ready, f->fd, ev_bits(want));
        f->ev.data = f;
        f->started = 1;
        f->obj.teardown = teardown;
        tr__io_obj_add_owner(f->io, w, &f->obj);
        arm_owner(f, want);
        return;
    }
    if (do_free)
        free_watch(f);
}

static void rearm_post(tr__worker *w, tr__post *p) {
    fdw *f = FDW_OF(p, rearm_post);
    pthread_mutex_lock(&f->io->lock);
    f->rearm_pending = 0;
    int live = f->state == LIVE && !tr__io_closed_owner(f->io, w);
    int do_free = f->free_in_rearm;
    unsigned want = f->want;
    pthread_mutex_unlock(&f->io->lock);
    if (do_free) {
        stop_owner(f);
        free_watch(f);
    } else if (live && f->started) {
        arm_owner(f, want);
    }
}

static void stop_post(tr__worker *w, tr__post *p) {
    (void)w;
    fdw *f = FDW_OF(p, stop_post);
    stop_owner(f);
    free_watch(f);
}

int tr_fd_watch(tr_ref *to, int fd, unsigned events, uint64_t tag, tr_fd_watch_id *out) {
    if (to == NULL || fd < 0 || events == 0 || (events & ~(TR_FD_READ | TR_FD_WRITE)) != 0)
        return TR_EINVAL;
    if (!tr__io_open(to))
        return TR_EDEAD;
    tr__io *io = tr__io_get(to->rt);
    if (io == NULL)
        return TR_ENOMEM;
    fdw *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return TR_ENOMEM;
    f->io = io;
    f->fd = fd;
    f->to = to;
    f->tag = tag;
    f->want = events;
    f->start_post.fn = start_post;
    f->rearm_post.fn = rearm_post;
    f->stop_post.fn = stop_post;
    f->w = tr__io_pick_worker(io);
    tr_ref_retain(to);
    pthread_mutex_lock(&io->lock);
    f->ent.key = io->next_id++;
    uint64_t id = f->ent.key;
    int rc = tr__io_table_put(&io->fds, &f->ent);
    if (rc == 0) {
        /* *out is set before the watch can fire, so the watcher's actor
         * may use it as soon as it hears from the fd. */
        if (out != NULL)
            *out = id;
        rc = tr__io_post(io, f->w, &f->start_post);
        if (rc != 0)
            tr__io_table_del(&io->fds, f->ent.key);
    }
    pthread_mutex_unlock(&io->lock);
    if (rc != 0) {
        if (out != NULL)
            *out = 0;
        free_watch(f);
        return rc;
    }
    return 0;
}

/* The watch id names, with its io->lock held; NULL (and the lock not held)
 * if rt has no such watch. */
static fdw *watch_lock(tr_runtime *rt, tr_fd_watch_id id) {
    if (tr__runtime_forked(rt)) /* its locks may be held (core/fork.c) */
        return NULL;
    tr__io *io = tr__runtime_ext_get(rt, TR__EXT_IO);
    if (io == NULL)
        return NULL;
    pthread_mutex_lock(&io->lock);
    tr__io_entry *e = tr__io_table_get(&io->fds, id);
    if (e == NULL) {
        pthread_mutex_unlock(&io->lock);
        return NULL;
    }
    return FDW_OF(e, ent);
}

int tr_fd_rearm(tr_runtime *rt, tr_fd_watch_id id, unsigned events) {
    if (rt == NULL || events == 0 || (events & ~(TR_FD_READ | TR_FD_WRITE)) != 0)
        return TR_EINVAL;
    fdw *f = watch_lock(rt, id);
    if (f == NULL)
        return TR_ENOTFOUND;
    tr__io *io = f->io;
    f->want = events;
    int rc = 0;
    if (!f->rearm_pending) {
        f->rearm_pending = 1; /* the post clears it under io->lock */
        rc = tr__io_post(io, f->w, &f->rearm_post);
        if (rc != 0)
            f->rearm_pending = 0;
    }
    pthread_mutex_unlock(&io->lock);
    return rc;
}

static int unwatch(tr_runtime *rt, tr_fd_watch_id id, int close_fd) {
    if (rt == NULL)
        return TR_EINVAL;
    fdw *f = watch_lock(rt, id);
    if (f == NULL)
        return TR_ENOTFOUND;
    tr__io *io = f->io; /* f may be freed once the post is made */
    gone_locked(f);
    f->close_fd = close_fd;
    /* Set before posting: the post may run (and free f) at once. */
    f->stop_posted = 1;
    if (tr__io_post(io, f->w, &f->stop_post) != 0)
        f->stop_posted = 0;
    pthread_mutex_unlock(&io->lock);
    return 0;
}

int tr_fd_unwatch(tr_runtime *rt, tr_fd_watch_id id) {
    return unwatch(rt, id, 0);
}

int tr__fd_unwatch_close(tr_runtime *rt, uint64_t id) {
    return unwatch(rt, id, 1);
}

int tr_io_errno(const tr_msg *msg) {
    if (msg == NULL)
        return 0;
    const int *e = tr_msg_payload(msg, sizeof(int));
    if (msg->type != TR_MSG_TCP_CLOSED && msg->type != TR_MSG_TCP_CONNECTED)
        return 0;
    return e != NULL ? *e : 0;
}
