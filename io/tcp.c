/* io/tcp.c - TCP listeners and connections as actor messages.
 *
 * A connection lives on one worker's loop (accepted connections are spread
 * round robin over the workers). The loop reads (one read per readiness,
 * delivered as TR_MSG_TCP_DATA to the owner), writes what the socket would
 * not take at once, and closes. Writers on any thread go straight to send(2)
 * when nothing is buffered, under the connection's mutex, which also guards
 * the output buffer, the fd and the flags writers look at; only when the
 * socket is full do they buffer and kick the loop (one kick post in flight).
 *
 * References (refs, atomic): the user's handle, the loop's (from adoption
 * until shut), and one per post in flight, so no post can outlive the
 * struct. shut() runs once, on the loop: stop watchers, close the fd, drop
 * the owner and the loop's reference. A listener works the same way with
 * only the user's, the loop's and the posts' references.
 *
 * Backpressure: when the buffer reaches `high` the owner is told
 * (TR_MSG_TCP_WRITE_FULL) and writes fail with TR_EFULL; when the loop has
 * drained it to `low` the owner gets TR_MSG_TCP_WRITE_READY.
 *
 * Timeouts: one ev_timer per connection. While open it is the idle timeout:
 * every thread that moves bytes stamps last_ns (a relaxed store, no lock),
 * and the timer, when due, compares the stamp with the clock and either
 * shuts the connection (TR_ETIMEDOUT) or waits the rest: no re-arming per
 * byte (libev's "lazy" timeout pattern). After tr_tcp_close with output
 * still buffered it becomes the close timeout: when due, the rest is
 * dropped and the socket reset. A listener out of fds pauses (see
 * lsn_back_off). */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <ck_pr.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/platform.h"
#include "base/refcount.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "io/io.h"
#include "troupe/error.h"
#include "troupe/io.h"

#define READ_MAX 65536
#define DEFAULT_LOW (64u * 1024u)
#define DEFAULT_HIGH (256u * 1024u)
#define ACCEPT_BATCH 64
#define ACCEPT_RETRY_MS 50 /* pause of a listener that is out of fds */

struct tr_tcp {
    tr__io_obj obj;
    tr__io *io;
    tr__worker *w;
    uint32_t refs;
    pthread_mutex_t mu;
    /* mu */
    int fd;
    char *out;
    size_t off, len, cap; /* pending bytes are out[off, off + len) */
    size_t low, high;
    int full;         /* told WRITE_FULL: writes refused until drained */
    int dead;         /* shut: writes fail */
    int connected;    /* writes may go straight to the socket */
    int closing;      /* the user closed: flush, then shut */
    int kick_pending; /* a kick post is in flight */
    int paused;       /* tr_tcp_pause: no reading until tr_tcp_resume */
    int read_pending; /* a read post is in flight */
    int tmo_pending;  /* a timeout post is in flight */
    tr_ref *owner;    /* retained; NULL before start and after close */
    uint64_t tag;
    uint64_t idle_ms;  /* no bytes either way this long: shut (0: never) */
    uint64_t close_ms; /* after close, output gets this long (0: no limit) */
    /* any thread, atomic (relaxed: a clock reading, only compared) */
    uint64_t last_ns; /* the last bytes read or written */
    /* loop only */
    ev_io rio, wio;
    ev_timer tmo; /* the idle timeout, or after close the close timeout */
    int ractive, wactive, tactive;
    int lingering; /* tmo is the close timeout */
    int connecting, connect_err;
    int on_loop; /* adopted and not yet shut */
    tr__post adopt_post, start_post, kick_post, close_post, read_post, tmo_post;
};

struct tr_tcp_listener {
    tr__io_obj obj;
    tr__io *io;
    tr__worker *w;
    uint32_t refs;
    int fd;
    int port;
    tr_ref *owner; /* retained until shut */
    uint64_t tag;
    ev_io ev;
    ev_timer retry; /* out of fds or memory: accept again after a pause */
    int active, retrying, on_loop;
    uint64_t idle_ms; /* given to each accepted connection (atomic) */
    uint32_t rr;
    tr__post start_post, close_post;
};

#define CONN_OF(p, m) tr__container_of(p, tr_tcp, m)
#define LSN_OF(p, m) tr__container_of(p, tr_tcp_listener, m)

/* --- references and posts ---------------------------------------------------- */

static void conn_ref(tr_tcp *c) {
    tr__refcount_retain(&c->refs); /* made from a reference we hold */
}

static void conn_unref(tr_tcp *c) {
    /* Publishes our uses of c to the freer; pairs with the acquire below. */
    if (!tr__refcount_release(&c->refs))
        return;
    if (c->fd >= 0)
        close(c->fd); /* never adopted by a loop */
    if (c->owner != NULL)
        tr_ref_release(c->owner);
    free(c->out);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Post p (a member of c) with its own reference; 0 or TR_ECLOSED. */
static int conn_post(tr_tcp *c, tr__post *p) {
    conn_ref(c);
    int rc = tr__io_post(c->io, c->w, p);
    if (rc != 0)
        conn_unref(c);
    return rc;
}

static void lsn_unref(tr_tcp_listener *l) {
    /* As conn_unref: publishes our uses of l to the freer. */
    if (!tr__refcount_release(&l->refs))
        return;
    if (l->fd >= 0)
        close(l->fd);
    if (l->owner != NULL)
        tr_ref_release(l->owner);
    free(l);
}

static int lsn_post(tr_tcp_listener *l, tr__post *p) {
    tr__refcount_retain(&l->refs); /* made from a reference we hold */
    int rc = tr__io_post(l->io, l->w, p);
    if (rc != 0)
        lsn_unref(l);
    return rc;
}

/* --- messages ------------------------------------------------------------------- */

static void tell(tr_ref *to, uint32_t type, uint64_t tag, int status, int err) {
    if (to == NULL)
        return;
    tr_msg *m;
    if (tr__msg_new_system(&m, type, err != 0 ? sizeof(int) : 0) != 0)
        return;
    m->word = tag;
    m->status = status;
    if (err != 0)
        memcpy(tr_msg_data(m), &err, sizeof(int));
    tr__actor_deliver_any(to, m);
}

/* c's owner with a reference of our own (NULL if none): the owner is only
 * changed by the loop (start) or under close. Under c->mu. */
static tr_ref *owner_hold_locked(tr_tcp *c) {
    tr_ref *owner = c->owner;
    if (owner != NULL)
        tr_ref_retain(owner);
    return owner;
}

/* Tell an owner from owner_hold_locked (if any) and drop that reference. */
static void tell_held(tr_ref *owner, uint32_t type, uint64_t tag) {
    if (owner == NULL)
        return;
    tell(owner, type, tag, 0, 0);
    tr_ref_release(owner);
}

/* --- the loop side of a connection ---------------------------------------------- */

/* Start or stop one of c's watchers (loop); *active says whether it runs. */
static void set_watch(tr_tcp *c, ev_io *ev, int *active, int on) {
    struct ev_loop *loop = tr__worker_loop(c->w);
    if (on && !*active) {
        ev_io_start(loop, ev);
        tr__worker_watchers_add_owner(c->w, +1);
        *active = 1;
    } else if (!on && *active) {
        ev_io_stop(loop, ev);
        tr__worker_watchers_add_owner(c->w, -1);
        *active = 0;
    }
}

static void set_w(tr_tcp *c, int on) {
    set_watch(c, &c->wio, &c->wactive, on);
}

static void set_r(tr_tcp *c, int on) {
    set_watch(c, &c->rio, &c->ractive, on);
}

/* Bytes moved: the idle clock starts again (any thread). */
static void touch(tr_tcp *c) {
    ck_pr_store_64(&c->last_ns, tr__mono_ns());
}

static void tmo_stop(tr_tcp *c) {
    if (c->tactive) {
        ev_timer_stop(tr__worker_loop(c->w), &c->tmo);
        tr__worker_watchers_add_owner(c->w, -1);
        c->tactive = 0;
    }
}

static void tmo_start(tr_tcp *c, double after) {
    tmo_stop(c);
    struct ev_loop *loop = tr__worker_loop(c->w);
    ev_now_update(loop); /* the cached time may be a long turn old */
    ev_timer_set(&c->tmo, after, 0.);
    ev_timer_start(loop, &c->tmo);
    tr__worker_watchers_add_owner(c->w, +1);
    c->tactive = 1;
}

/* The idle timer for the current setting (loop): due idle_ms after the last
 * bytes moved, off when there is no setting or once closing. */
static void idle_arm(tr_tcp *c) {
    if (!c->on_loop || c->lingering)
        return;
    pthread_mutex_lock(&c->mu);
    uint64_t ms = c->closing ? 0 : c->idle_ms;
    pthread_mutex_unlock(&c->mu);
    if (ms == 0) {
        tmo_stop(c);
        return;
    }
    uint64_t idle_ns = tr__mono_ns() - ck_pr_load_64(&c->last_ns);
    uint64_t ms_ns = ms * 1000000u;
    tmo_start(c, idle_ns >= ms_ns ? 0. : (double)(ms_ns - idle_ns) / 1e9);
}

/* Close the socket for good (loop, once). If tell_type != 0 the owner gets
 * that message first. */
static void shut(tr_tcp *c, uint32_t tell_type, int status, int err) {
    if (!c->on_loop)
        return;
    c->on_loop = 0;
    set_r(c, 0);
    set_w(c, 0);
    tmo_stop(c);
    tr__io_obj_del_owner(&c->obj);
    pthread_mutex_lock(&c->mu);
    tr_ref *owner = c->owner;
    c->owner = NULL;
    c->dead = 1;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->len = c->off = c->cap = 0;
    uint64_t tag = c->tag;
    pthread_mutex_unlock(&c->mu);
    if (owner != NULL) {
        if (tell_type != 0)
            tell(owner, tell_type, tag, status, err);
        tr_ref_release(owner);
    }
    conn_unref(c); /* the loop's reference */
}

static void apply_read(tr_tcp *c);

static void on_read(struct ev_loop *loop, ev_io *ev, int revents) {
    (void)loop;
    (void)revents;
    tr_tcp *c = ev->data;
    char buf[READ_MAX];
    ssize_t n = recv(ev->fd, buf, sizeof(buf), 0);
    if (n > 0) {
        touch(c);
        tr_msg *m;
        if (tr__msg_new_system(&m, TR_MSG_TCP_DATA, (size_t)n) != 0)
            return; /* out of memory: try again on the next readiness */
        memcpy(tr_msg_data(m), buf, (size_t)n);
        m->word = c->tag;
        /* The owner is only changed by this loop (start) or under close. */
        pthread_mutex_lock(&c->mu);
        tr_ref *owner = owner_hold_locked(c);
        pthread_mutex_unlock(&c->mu);
        int rc = owner != NULL ? tr__actor_deliver_any(owner, m) : (tr_msg_free(m), TR_EDEAD);
        if (owner != NULL)
            tr_ref_release(owner);
        if (rc == TR_EDEAD)
            shut(c, 0, 0, 0); /* nobody left to read it */
        return;
    }
    if (n == 0) {
        shut(c, TR_MSG_TCP_CLOSED, 0, 0);
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    shut(c, TR_MSG_TCP_CLOSED, TR_EIO, errno);
}

/* Write what is buffered; returns 0, or an errno on a socket error. */
static int flush_locked(tr_tcp *c) {
    while (c->len > 0) {
        ssize_t k = send(c->fd, c->out + c->off, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            c->off += (size_t)k;
            c->len -= (size_t)k;
            touch(c);
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return k < 0 ? errno : EPIPE;
    }
    c->off = 0;
    return 0;
}

static void on_connected(tr_tcp *c) {
    c->connecting = 0;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        shut(c, TR_MSG_TCP_CONNECTED, TR_EIO, err);
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->connected = 1;
    tr_ref *owner = owner_hold_locked(c);
    pthread_mutex_unlock(&c->mu);
    tell_held(owner, TR_MSG_TCP_CONNECTED, c->tag);
    apply_read(c);
}

static void on_write(struct ev_loop *loop, ev_io *ev, int revents) {
    (void)loop;
    (void)revents;
    tr_tcp *c = ev->data;
    if (c->connecting) {
        conn_ref(c); /* shut may drop the last other reference */
        on_connected(c);
        int gone = !c->on_loop;
        conn_unref(c);
        if (gone)
            return;
    }
    pthread_mutex_lock(&c->mu);
    int err = flush_locked(c);
    int drained = c->len == 0;
    int ready = !err && c->full && c->len <= c->low;
    if (ready)
        c->full = 0;
    int closing = c->closing;
    tr_ref *owner = ready ? owner_hold_locked(c) : NULL;
    pthread_mutex_unlock(&c->mu);
    tell_held(owner, TR_MSG_TCP_WRITE_READY, c->tag);
    if (err) {
        shut(c, TR_MSG_TCP_CLOSED, TR_EIO, err);
        return;
    }
    if (drained) {
        set_w(c, 0);
        if (closing)
            shut(c, 0, 0, 0);
    }
}

/* The idle timeout (or, connecting, the connect timeout) or the close
 * timeout is due (loop). */
static void on_tmo(struct ev_loop *loop, ev_timer *ev, int revents) {
    (void)loop;
    (void)revents;
    tr_tcp *c = ev->data;
    c->tactive = 0; /* a one-shot: libev stopped it */
    tr__worker_watchers_add_owner(c->w, -1);
    if (c->lingering) {
        /* The peer did not take the rest in time: drop it. Linger 0 makes
         * the close reset the connection instead of keeping the buffered
         * bytes in the kernel, trying to deliver them. */
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        shut(c, 0, 0, 0);
        return;
    }
    pthread_mutex_lock(&c->mu);
    uint64_t ms = c->closing ? 0 : c->idle_ms;
    pthread_mutex_unlock(&c->mu);
    if (ms == 0)
        return; /* turned off meanwhile */
    uint64_t idle_ns = tr__mono_ns() - ck_pr_load_64(&c->last_ns);
    if (idle_ns < ms * 1000000u) {
        idle_arm(c); /* bytes moved since it was set: wait the rest */
        return;
    }
    if (c->connecting)
        shut(c, TR_MSG_TCP_CONNECTED, TR_ETIMEDOUT, ETIMEDOUT);
    else
        shut(c, TR_MSG_TCP_CLOSED, TR_ETIMEDOUT, ETIMEDOUT);
}

static void conn_teardown(tr__io_obj *o) {
    shut(CONN_OF(o, obj), 0, 0, 0); /* already unlinked: shut's unlink is a no-op */
}

static void adopt(tr_tcp *c) {
    ev_io_init(&c->rio, on_read, c->fd, EV_READ);
    ev_io_init(&c->wio, on_write, c->fd, EV_WRITE);
    ev_timer_init(&c->tmo, on_tmo, 0., 0.);
    c->rio.data = c->wio.data = c->tmo.data = c;
    c->on_loop = 1;
    touch(c);
    c->obj.teardown = conn_teardown;
    tr__io_obj_add_owner(c->io, c->w, &c->obj);
}

/* Accepted or connecting connection arriving at its loop (holds the loop's
 * reference, which it keeps). */
static void adopt_post(tr__worker *w, tr__post *p) {
    tr_tcp *c = CONN_OF(p, adopt_post);
    if (tr__io_closed_owner(c->io, w)) {
        pthread_mutex_lock(&c->mu);
        c->dead = 1;
        pthread_mutex_unlock(&c->mu);
        conn_unref(c); /* the loop's: conn_unref closes the fd at the end */
        return;
    }
    adopt(c);
    if (c->connecting) {
        if (c->connect_err != 0) {
            shut(c, TR_MSG_TCP_CONNECTED, TR_EIO, c->connect_err);
            return;
        }
        set_w(c, 1); /* writable = connected (or failed) */
    }
    idle_arm(c);
}

/* Clear one of c's mu-guarded flags (a post's "in flight" mark). */
static void flag_clear(tr_tcp *c, int *flag) {
    pthread_mutex_lock(&c->mu);
    *flag = 0;
    pthread_mutex_unlock(&c->mu);
}

/* Read when started, not paused and not closing (loop). */
static void apply_read(tr_tcp *c) {
    if (!c->on_loop || c->connecting)
        return;
    pthread_mutex_lock(&c->mu);
    int want = c->owner != NULL && !c->paused && !c->closing;
    pthread_mutex_unlock(&c->mu);
    set_r(c, want);
}

static void start_post(tr__worker *w, tr__post *p) {
    (void)w;
    tr_tcp *c = CONN_OF(p, start_post);
    apply_read(c);
    conn_unref(c);
}

static void read_post(tr__worker *w, tr__post *p) {
    (void)w;
    tr_tcp *c = CONN_OF(p, read_post);
    flag_clear(c, &c->read_pending);
    apply_read(c);
    conn_unref(c);
}

static void tmo_post(tr__worker *w, tr__post *p) {
    (void)w;
    tr_tcp *c = CONN_OF(p, tmo_post);
    flag_clear(c, &c->tmo_pending);
    idle_arm(c);
    conn_unref(c);
}

static void kick_post(tr__worker *w, tr__post *p) {
    (void)w;
    tr_tcp *c = CONN_OF(p, kick_post);
    pthread_mutex_lock(&c->mu);
    c->kick_pending = 0;
    int want = c->len > 0 && c->connected;
    pthread_mutex_unlock(&c->mu);
    if (c->on_loop && want)
        set_w(c, 1);
    conn_unref(c);
}

static void close_post(tr__worker *w, tr__post *p) {
    (void)w;
    tr_tcp *c = CONN_OF(p, close_post);
    if (c->on_loop) {
        set_r(c, 0);
        pthread_mutex_lock(&c->mu);
        int pending = c->len > 0 && c->connected;
        uint64_t close_ms = c->close_ms;
        pthread_mutex_unlock(&c->mu);
        if (pending) {
            set_w(c, 1); /* on_write shuts once drained */
            c->lingering = 1;
            if (close_ms != 0)
                tmo_start(c, (double)close_ms / 1000.0);
            else
                tmo_stop(c);
        } else {
            shut(c, 0, 0, 0);
        }
    }
    conn_unref(c); /* this post's */
    conn_unref(c); /* the user's handle */
}

static tr_tcp *conn_new(tr__io *io, int fd) {
    tr_tcp *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->io = io;
    c->fd = fd;
    c->refs = 2; /* the user's and the loop's */
    c->low = DEFAULT_LOW;
    c->high = DEFAULT_HIGH;
    c->close_ms = TR_TCP_CLOSE_TIMEOUT_DEFAULT;
    pthread_mutex_init(&c->mu, NULL);
    c->adopt_post.fn = adopt_post;
    c->start_post.fn = start_post;
    c->kick_post.fn = kick_post;
    c->close_post.fn = close_post;
    c->read_post.fn = read_post;
    c->tmo_post.fn = tmo_post;
    return c;
}

/* --- the user side ------------------------------------------------------------- */

int tr_tcp_start(tr_tcp *c, tr_ref *owner, uint64_t tag) {
    if (c == NULL || owner == NULL)
        return TR_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->owner != NULL || c->closing)
        rc = TR_ESTATE;
    else if (c->dead)
        rc = TR_ECLOSED;
    if (rc == 0) {
        tr_ref_retain(owner);
        c->owner = owner;
        c->tag = tag;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc != 0)
        return rc;
    return conn_post(c, &c->start_post);
}

int tr_tcp_write(tr_tcp *c, const void *data, size_t n) {
    if (c == NULL || (data == NULL && n != 0))
        return TR_EINVAL;
    if (n == 0)
        return 0;
    int rc = 0, kick = 0;
    pthread_mutex_lock(&c->mu);
    if (c->dead || c->closing) {
        rc = TR_ECLOSED;
    } else if (c->full) {
        rc = TR_EFULL;
    } else {
        size_t done = 0;
        if (c->len == 0 && c->connected) {
            ssize_t k = send(c->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (k > 0) {
                done = (size_t)k;
                touch(c);
            }
            /* On an error keep the bytes: the loop's write sees it and
             * reports TR_MSG_TCP_CLOSED. */
        }
        size_t rest = n - done;
        if (rest > 0) {
            if (c->off + c->len + rest > c->cap) {
                if (c->off > 0) {
                    memmove(c->out, c->out + c->off, c->len);
                    c->off = 0;
                }
                size_t cap = c->cap ? c->cap : 4096;
                while (cap < c->len + rest)
                    cap *= 2;
                char *nb = cap != c->cap ? realloc(c->out, cap) : c->out;
                if (nb == NULL) {
                    rc = done > 0 ? TR_EIO : TR_ENOMEM; /* part was sent: broken */
                } else {
                    c->out = nb;
                    c->cap = cap;
                }
            }
            if (rc == 0) {
                memcpy(c->out + c->off + c->len, (const char *)data + done, rest);
                c->len += rest;
                if (!c->kick_pending) {
                    c->kick_pending = 1;
                    kick = 1;
                }
                if (c->len >= c->high) {
                    c->full = 1;
                    tell(c->owner, TR_MSG_TCP_WRITE_FULL, c->tag, 0, 0);
                }
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (kick && conn_post(c, &c->kick_post) != 0)
        flag_clear(c, &c->kick_pending);
    return rc;
}

static int set_paused(tr_tcp *c, int paused) {
    if (c == NULL)
        return TR_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = c->dead || c->closing ? TR_ECLOSED : 0;
    int post = 0;
    if (rc == 0) {
        c->paused = paused;
        post = !c->read_pending;
        c->read_pending = 1;
    }
    pthread_mutex_unlock(&c->mu);
    if (post && conn_post(c, &c->read_post) != 0)
        flag_clear(c, &c->read_pending);
    return rc;
}

int tr_tcp_pause(tr_tcp *c) {
    return set_paused(c, 1);
}

int tr_tcp_resume(tr_tcp *c) {
    return set_paused(c, 0);
}

int tr_tcp_set_watermarks(tr_tcp *c, size_t low, size_t high) {
    if (c == NULL || high == 0 || low > high)
        return TR_EINVAL;
    pthread_mutex_lock(&c->mu);
    c->low = low;
    c->high = high;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

int tr_tcp_set_idle_timeout(tr_tcp *c, uint64_t ms) {
    if (c == NULL || ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = c->dead || c->closing ? TR_ECLOSED : 0;
    int post = 0;
    if (rc == 0) {
        c->idle_ms = ms;
        post = !c->tmo_pending;
        c->tmo_pending = 1;
    }
    pthread_mutex_unlock(&c->mu);
    /* The loop (re)arms the timer; a stopped worker has shut c already. */
    if (post && conn_post(c, &c->tmo_post) != 0)
        flag_clear(c, &c->tmo_pending);
    return rc;
}

int tr_tcp_set_close_timeout(tr_tcp *c, uint64_t ms) {
    if (c == NULL || ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = c->dead || c->closing ? TR_ECLOSED : 0;
    if (rc == 0)
        c->close_ms = ms; /* read by the close post */
    pthread_mutex_unlock(&c->mu);
    return rc;
}

size_t tr_tcp_pending(tr_tcp *c) {
    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    size_t n = c->len;
    pthread_mutex_unlock(&c->mu);
    return n;
}

int tr_tcp_close(tr_tcp *c) {
    if (c == NULL)
        return TR_EINVAL;
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    tr_ref *owner = c->owner; /* no more messages after close */
    c->owner = NULL;
    pthread_mutex_unlock(&c->mu);
    if (owner != NULL)
        tr_ref_release(owner);
    /* The post carries the user's reference; if the worker has stopped, its
     * teardown already shut the socket. */
    if (conn_post(c, &c->close_post) != 0)
        conn_unref(c);
    return 0;
}

static int parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
                      socklen_t *len) {
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        return 0;
    }
    return TR_EINVAL;
}

static void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* What connect and listen start with: host:port parsed, the owner still
 * open, its runtime's io, and a new non-blocking socket. */
typedef struct sock_start {
    struct sockaddr_storage ss;
    socklen_t slen;
    tr__io *io;
    int fd;
} sock_start;

static int sock_open(tr_ref *owner, const char *host, uint16_t port, sock_start *st) {
    if (parse_addr(host, port, &st->ss, &st->slen) != 0)
        return TR_EINVAL;
    if (!tr__io_open(owner))
        return TR_EDEAD;
    st->io = tr__io_get(owner->rt);
    if (st->io == NULL)
        return TR_ENOMEM;
    st->fd = socket(st->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return st->fd < 0 ? TR_ESYS : 0;
}

int tr_tcp_connect(tr_ref *owner, const char *host, uint16_t port, uint64_t tag, tr_tcp **out) {
    if (out != NULL)
        *out = NULL;
    if (owner == NULL || host == NULL || out == NULL || port == 0)
        return TR_EINVAL;
    sock_start st;
    int rc = sock_open(owner, host, port, &st);
    if (rc != 0)
        return rc;
    set_nodelay(st.fd);
    tr_tcp *c = conn_new(st.io, st.fd);
    if (c == NULL) {
        close(st.fd);
        return TR_ENOMEM;
    }
    c->connecting = 1;
    if (connect(st.fd, (struct sockaddr *)&st.ss, st.slen) != 0 && errno != EINPROGRESS)
        c->connect_err = errno; /* reported as a message, like a late failure */
    tr_ref_retain(owner);
    c->owner = owner;
    c->tag = tag;
    c->w = tr__io_pick_worker(st.io);
    /* *out is set first: the owner may hear of the connection (and use
     * *out) before we return. The adopt post carries the loop's reference. */
    *out = c;
    if (tr__io_post(st.io, c->w, &c->adopt_post) != 0) {
        *out = NULL;
        conn_unref(c);
        conn_unref(c);
        return TR_ECLOSED;
    }
    return 0;
}

/* --- listeners ---------------------------------------------------------------------- */

/* The listener's readiness watcher on or off (loop). */
static void lsn_watch(tr_tcp_listener *l, int on) {
    if (on && !l->active) {
        ev_io_start(tr__worker_loop(l->w), &l->ev);
        tr__worker_watchers_add_owner(l->w, +1);
        l->active = 1;
    } else if (!on && l->active) {
        ev_io_stop(tr__worker_loop(l->w), &l->ev);
        tr__worker_watchers_add_owner(l->w, -1);
        l->active = 0;
    }
}

static void lsn_retry_stop(tr_tcp_listener *l) {
    if (l->retrying) {
        ev_timer_stop(tr__worker_loop(l->w), &l->retry);
        tr__worker_watchers_add_owner(l->w, -1);
        l->retrying = 0;
    }
}

static void lsn_shut(tr_tcp_listener *l) {
    if (!l->on_loop)
        return;
    l->on_loop = 0;
    lsn_watch(l, 0);
    lsn_retry_stop(l);
    tr__io_obj_del_owner(&l->obj);
    close(l->fd);
    l->fd = -1;
    lsn_unref(l); /* the loop's */
}

static void free_accepted(void *p) {
    tr_tcp_close(p);
}

/* Out of fds (or memory) with connections pending: the readiness watcher is
 * level-triggered, so it would report the same pending connection at once,
 * forever (a core spent on failing accept4 calls). Instead it is stopped and
 * a timer starts it again after ACCEPT_RETRY_MS; the connections wait in the
 * kernel's backlog meanwhile, and are accepted once fds are free again.
 * (libuv instead closes a reserve fd, accepts and closes the pending
 * connections, and reopens the reserve: the peers learn at once, but every
 * connection that arrives while the process is out of fds is dropped. Here
 * they are served late, not refused; the backlog bounds how many wait.) */
static void lsn_retry_cb(struct ev_loop *loop, ev_timer *ev, int revents) {
    (void)loop;
    (void)revents;
    tr_tcp_listener *l = ev->data;
    l->retrying = 0; /* a one-shot: libev stopped it */
    tr__worker_watchers_add_owner(l->w, -1);
    lsn_watch(l, 1); /* still pending: readiness reports it again at once */
}

static void lsn_back_off(tr_tcp_listener *l) {
    lsn_watch(l, 0);
    if (l->retrying)
        return;
    ev_timer_init(&l->retry, lsn_retry_cb, ACCEPT_RETRY_MS / 1000.0, 0.);
    l->retry.data = l;
    ev_timer_start(tr__worker_loop(l->w), &l->retry);
    tr__worker_watchers_add_owner(l->w, +1);
    l->retrying = 1;
}

static void on_accept(struct ev_loop *loop, ev_io *ev, int revents) {
    (void)loop;
    (void)revents;
    tr_tcp_listener *l = ev->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                lsn_back_off(l);
            return; /* EAGAIN: nothing pending */
        }
        set_nodelay(fd);
        tr_tcp *c = conn_new(l->io, fd);
        if (c == NULL) {
            close(fd); /* out of memory: that peer is dropped */
            lsn_back_off(l);
            return;
        }
        c->connected = 1;
        c->idle_ms = ck_pr_load_64(&l->idle_ms); /* before anyone else sees c */
        c->w = &l->io->rt->workers[l->rr++ % l->io->nworkers];
        if (tr__io_post(l->io, c->w, &c->adopt_post) != 0) {
            conn_unref(c); /* the loop's, never adopted */
            conn_unref(c); /* the user's: closes fd */
            continue;
        }
        tr_msg *m;
        if (tr__msg_new_system(&m, TR_MSG_TCP_ACCEPTED, 0) != 0) {
            tr_tcp_close(c);
            continue;
        }
        m->word = l->tag;
        m->ptr = c;
        m->ptr_free = free_accepted; /* closes it if nobody takes it */
        if (tr__actor_deliver_any(l->owner, m) == TR_EDEAD) {
            lsn_shut(l); /* the owner stopped: stop accepting */
            return;
        }
    }
}

static void lsn_teardown(tr__io_obj *o) {
    lsn_shut(LSN_OF(o, obj));
}

static void lsn_start_post(tr__worker *w, tr__post *p) {
    tr_tcp_listener *l = LSN_OF(p, start_post);
    /* Carries the loop's reference. */
    if (tr__io_closed_owner(l->io, w)) {
        lsn_unref(l);
        return;
    }
    l->on_loop = 1;
    l->obj.teardown = lsn_teardown;
    tr__io_obj_add_owner(l->io, w, &l->obj);
    ev_io_init(&l->ev, on_accept, l->fd, EV_READ);
    l->ev.data = l;
    lsn_watch(l, 1);
}

static void lsn_close_post(tr__worker *w, tr__post *p) {
    (void)w;
    tr_tcp_listener *l = LSN_OF(p, close_post);
    lsn_shut(l);
    lsn_unref(l); /* this post's */
    lsn_unref(l); /* the user's */
}

int tr_tcp_listen(tr_ref *owner, const char *host, uint16_t port, int backlog, uint64_t tag,
                  tr_tcp_listener **out) {
    if (out != NULL)
        *out = NULL;
    if (owner == NULL || host == NULL || out == NULL)
        return TR_EINVAL;
    sock_start st;
    int rc = sock_open(owner, host, port, &st);
    if (rc != 0)
        return rc;
    int one = 1;
    setsockopt(st.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(st.fd, (struct sockaddr *)&st.ss, st.slen) != 0 ||
        listen(st.fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
        int e = errno;
        close(st.fd);
        errno = e;
        return TR_EIO;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    getsockname(st.fd, (struct sockaddr *)&bound, &blen);
    tr_tcp_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        close(st.fd);
        return TR_ENOMEM;
    }
    l->io = st.io;
    l->fd = st.fd;
    l->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                               : ((struct sockaddr_in6 *)&bound)->sin6_port);
    l->refs = 2; /* the user's and the loop's */
    tr_ref_retain(owner);
    l->owner = owner;
    l->tag = tag;
    l->start_post.fn = lsn_start_post;
    l->close_post.fn = lsn_close_post;
    l->w = tr__io_pick_worker(st.io);
    l->rr = l->w->id;
    *out = l; /* before the first connection can be announced */
    if (tr__io_post(st.io, l->w, &l->start_post) != 0) {
        *out = NULL;
        lsn_unref(l);
        lsn_unref(l);
        return TR_ECLOSED;
    }
    return 0;
}

int tr_tcp_listener_port(const tr_tcp_listener *l) {
    return l != NULL ? l->port : TR_EINVAL;
}

int tr_tcp_listener_set_idle_timeout(tr_tcp_listener *l, uint64_t ms) {
    if (l == NULL || ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    /* Read by the accept callback for each new connection: a connection
     * accepted while this store is under way gets the old or the new value. */
    ck_pr_store_64(&l->idle_ms, ms);
    return 0;
}

int tr_tcp_listener_close(tr_tcp_listener *l) {
    if (l == NULL)
        return TR_EINVAL;
    if (lsn_post(l, &l->close_post) != 0)
        lsn_unref(l); /* the worker's teardown already closed it */
    return 0;
}
