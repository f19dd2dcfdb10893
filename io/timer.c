/* io/timer.c - timers: delayed and periodic messages, internal timer callbacks.
 *
 * A timer is an ev_timer on one worker's loop (its owner). It is in the
 * runtime's timer table (io->timers, under io->lock) exactly while its state
 * is ARMED; every state change (ARMED -> FIRED by the owner, ARMED ->
 * CANCELLED by anyone) happens under io->lock together with the table
 * removal, so exactly one party wins and tr_timer_cancel can tell whether
 * it came before the firing.
 *
 * Freeing: the owner thread frees a timer, in exactly one place:
 *   - after a one-shot fired (the message is delivered),
 *   - in the cancel post, if tr_timer_cancel posted one (cancel_posted),
 *   - else wherever the owner finds it CANCELLED with no cancel post coming
 *     (the post failed because the worker had stopped): the start post, the
 *     expiry callback, or worker teardown.
 * A foreign start posts start_post under io->lock, and so does a cancel, so
 * the start post always runs before the cancel post (posts run in FIFO). */
#include <ck_pr.h>
#include <stdlib.h>
#include <string.h>

#include "base/platform.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "core/send.h"
#include "io/io.h"
#include "io/timer.h"
#include "troupe/error.h"
#include "troupe/timer.h"

enum { ARMED = 0, FIRED = 1, CANCELLED = 2 };
enum { ONCE = 0, EVERY = 1, FN = 2 };

typedef struct timer {
    tr__io_obj obj;   /* on the owner's list while started */
    tr__io_entry ent; /* in io->timers while ARMED; key = id */
    tr__io *io;
    tr__worker *w;
    ev_timer ev;
    int state;         /* io->lock */
    int cancel_posted; /* io->lock: a cancel post will free it */
    int kind;
    int active; /* owner: ev started and counted in nwatchers */
    double after, repeat;
    tr_ref *to; /* ONCE, EVERY: retained */
    tr_msg *msg;
    uint32_t type;
    uint64_t word;
    tr__timer_fn fn;
    void *arg;
    tr__post start_post, cancel_post;
} timer;

static timer *timer_of_obj(tr__io_obj *o) {
    return tr__container_of(o, timer, obj);
}

/* The end of a timer that did not fire (cancelled or torn down). */
static void finalize_cancelled(timer *t) {
    if (t->kind == FN) {
        t->fn(t->arg, 0);
    } else {
        if (t->msg != NULL)
            tr__msg_destroy(t->msg, TR_ECANCELED);
        tr_ref_release(t->to);
    }
    free(t);
}

static void stop_owner(timer *t) {
    if (t->active) {
        ev_timer_stop(tr__worker_loop(t->w), &t->ev);
        tr__worker_watchers_add_owner(t->w, -1);
        t->active = 0;
    }
    tr__io_obj_del_owner(&t->obj);
}

/* Cancel under io->lock if still armed; returns 1 if we did. */
static int cancel_locked(timer *t) {
    if (t->state != ARMED)
        return 0;
    t->state = CANCELLED;
    tr__io_table_del(&t->io->timers, t->ent.key);
    return 1;
}

static void expired(struct ev_loop *loop, ev_timer *ev, int revents) {
    (void)loop;
    (void)revents;
    timer *t = ev->data;
    tr__io *io = t->io;
    if (t->kind == ONCE || (t->kind == FN && t->repeat == 0)) {
        /* libev stopped the watcher itself. */
        t->active = 0;
        tr__worker_watchers_add_owner(t->w, -1);
        tr__io_obj_del_owner(&t->obj);
        pthread_mutex_lock(&io->lock);
        int won = t->state == ARMED;
        int posted = t->cancel_posted;
        if (won) {
            t->state = FIRED;
            tr__io_table_del(&io->timers, t->ent.key);
        }
        pthread_mutex_unlock(&io->lock);
        if (!won) {
            if (!posted)
                finalize_cancelled(t);
            return;
        }
        if (t->kind == FN) {
            t->fn(t->arg, 1);
        } else {
            tr_msg *m = t->msg;
            t->msg = NULL;
            tr__actor_deliver_any(t->to, m);
            tr_ref_release(t->to);
        }
        free(t);
        return;
    }
    /* Periodic: the watcher stays armed until cancelled. */
    pthread_mutex_lock(&io->lock);
    int armed = t->state == ARMED;
    pthread_mutex_unlock(&io->lock);
    if (!armed)
        return; /* a cancel post or the teardown ends it */
    if (t->kind == FN) {
        t->fn(t->arg, 1);
        return;
    }
    tr_msg *m;
    int rc = tr__msg_new_system(&m, t->type, 0);
    if (rc == 0) {
        m->word = t->word;
        rc = tr__actor_deliver_any(t->to, m);
    }
    if (rc == TR_EDEAD) {
        /* The target stopped: nobody will want further ticks. */
        pthread_mutex_lock(&io->lock);
        int won = cancel_locked(t);
        pthread_mutex_unlock(&io->lock);
        if (won) {
            stop_owner(t);
            finalize_cancelled(t);
        }
    }
}

static void teardown(tr__io_obj *o) {
    timer *t = timer_of_obj(o);
    pthread_mutex_lock(&t->io->lock);
    int won = cancel_locked(t);
    int posted = t->cancel_posted;
    pthread_mutex_unlock(&t->io->lock);
    stop_owner(t);
    if (won || !posted)
        finalize_cancelled(t);
}

static void arm_owner(timer *t) {
    struct ev_loop *loop = tr__worker_loop(t->w);
    /* The loop's cached time may be stale after a long actor turn. */
    ev_now_update(loop);
    ev_timer_init(&t->ev, expired, t->after, t->repeat);
    t->ev.data = t;
    ev_timer_start(loop, &t->ev);
    t->active = 1;
    tr__worker_watchers_add_owner(t->w, +1);
    t->obj.teardown = teardown;
    tr__io_obj_add_owner(t->io, t->w, &t->obj);
}

static void start_post(tr__worker *w, tr__post *p) {
    timer *t = tr__container_of(p, timer, start_post);
    tr__io *io = t->io;
    pthread_mutex_lock(&io->lock);
    int closed = tr__io_closed_owner(io, w);
    int won = closed ? cancel_locked(t) : 0;
    int armed = t->state == ARMED;
    int posted = t->cancel_posted;
    pthread_mutex_unlock(&io->lock);
    if (armed) {
        arm_owner(t);
        return;
    }
    if (won || !posted)
        finalize_cancelled(t);
}

static void cancel_post(tr__worker *w, tr__post *p) {
    (void)w;
    timer *t = tr__container_of(p, timer, cancel_post);
    stop_owner(t);
    finalize_cancelled(t);
}

static timer *timer_alloc(tr__io *io, uint64_t after_ms, uint64_t repeat_ms) {
    timer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->io = io;
    t->after = (double)after_ms / 1000.0;
    t->repeat = (double)repeat_ms / 1000.0;
    t->start_post.fn = start_post;
    t->cancel_post.fn = cancel_post;
    return t;
}

/* Register and start t; on error nothing of t was published (caller frees). */
static int timer_start(timer *t, uint64_t *out) {
    tr__io *io = t->io;
    tr__worker *w = tr__io_pick_worker(io);
    t->w = w;
    /* On w's own thread the timer is armed here, holding w's loop from
     * before it can be found (so no helper runs a cancel post in between);
     * from anywhere else, or while helping another loop, a post arms it. */
    int own = tr__worker_loop_enter_owner(w);
    pthread_mutex_lock(&io->lock);
    t->ent.key = io->next_id++;
    int rc = tr__io_table_put(&io->timers, &t->ent);
    /* *out is set before the timer can fire: its target may read it. */
    if (rc == 0 && out != NULL)
        *out = t->ent.key;
    if (rc == 0 && !own) {
        rc = tr__io_post(io, w, &t->start_post);
        if (rc != 0)
            tr__io_table_del(&io->timers, t->ent.key);
    }
    pthread_mutex_unlock(&io->lock);
    if (rc != 0) {
        if (own)
            tr__worker_loop_leave_owner(w);
        if (out != NULL)
            *out = 0;
        return rc;
    }
    if (own) {
        arm_owner(t);
        tr__worker_loop_leave_owner(w);
    }
    return 0;
}

int tr__timer_start_fn(tr__io *io, uint64_t after_ms, uint64_t repeat_ms, tr__timer_fn fn,
                       void *arg, uint64_t *id) {
    timer *t = timer_alloc(io, after_ms, repeat_ms);
    if (t == NULL)
        return TR_ENOMEM;
    t->kind = FN;
    t->fn = fn;
    t->arg = arg;
    int rc = timer_start(t, id);
    if (rc != 0)
        free(t);
    return rc;
}

int tr__timer_cancel(tr__io *io, uint64_t id) {
    pthread_mutex_lock(&io->lock);
    tr__io_entry *e = tr__io_table_get(&io->timers, id);
    int won = 0;
    if (e != NULL) {
        timer *t = tr__container_of(e, timer, ent);
        won = cancel_locked(t);
        /* Set before posting: the post may run (and free t) at once. If the
         * worker has stopped, its teardown or start post frees t instead. */
        if (won) {
            t->cancel_posted = 1;
            if (tr__io_post(io, t->w, &t->cancel_post) != 0)
                t->cancel_posted = 0;
        }
    }
    pthread_mutex_unlock(&io->lock);
    return won;
}

/* --- public -------------------------------------------------------------- */

static int check_target(tr_ref *to) {
    tr_runtime *rt = to->rt;
    /* Advisory, as in core's sender check: a close racing with us is caught
     * by the worker teardown, which cancels the timer. */
    if (ck_pr_load_32(&rt->state) != TR__RT_RUNNING && tr__worker_of(rt) == NULL)
        return TR_ECLOSED;
    return tr__io_open(to) ? 0 : TR_EDEAD;
}

/* A new, unstarted timer of kind for the actor `to`. */
static int target_timer(tr_ref *to, int kind, uint64_t after_ms, uint64_t repeat_ms, timer **out) {
    int rc = check_target(to);
    if (rc != 0)
        return rc;
    tr__io *io = tr__io_get(to->rt);
    if (io == NULL)
        return TR_ENOMEM;
    timer *t = timer_alloc(io, after_ms, repeat_ms);
    if (t == NULL)
        return TR_ENOMEM;
    t->kind = kind;
    t->to = to;
    *out = t;
    return 0;
}

/* Start a timer from target_timer, with its own reference to its target; on
 * error t is freed and the caller still owns what it put in t (its msg). */
static int target_start(timer *t, tr_timer_id *out) {
    tr_ref_retain(t->to);
    int rc = timer_start(t, out);
    if (rc != 0) {
        tr_ref_release(t->to);
        free(t);
    }
    return rc;
}

int tr_timer_send_after(tr_ref *to, uint64_t delay_ms, tr_msg *msg, tr_timer_id *out) {
    if (to == NULL || msg == NULL || tr__msg_token(msg) != NULL || msg->type >= TR_MSG_SYSTEM ||
        delay_ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    timer *t;
    int rc = target_timer(to, ONCE, delay_ms, 0, &t);
    if (rc != 0)
        return rc;
    tr__send_stamp(to, msg); /* its sender: the actor that set the timer, if any */
    t->msg = msg;
    return target_start(t, out);
}

int tr_timer_tick_every(tr_ref *to, uint64_t first_ms, uint64_t period_ms, uint32_t type,
                        uint64_t word, tr_timer_id *out) {
    if (to == NULL || period_ms == 0 || type >= TR_MSG_SYSTEM || first_ms > UINT32_MAX * 1000ULL ||
        period_ms > UINT32_MAX * 1000ULL)
        return TR_EINVAL;
    /* libev treats after == 0 with a repeat as "repeat from now". */
    timer *t;
    int rc = target_timer(to, EVERY, first_ms, period_ms, &t);
    if (rc != 0)
        return rc;
    t->type = type;
    t->word = word;
    return target_start(t, out);
}

int tr_timer_cancel(tr_runtime *rt, tr_timer_id id) {
    if (rt == NULL)
        return TR_EINVAL;
    if (tr__runtime_forked(rt)) /* its locks may be held (core/fork.c) */
        return TR_EFORKED;
    tr__io *io = tr__runtime_ext_get(rt, TR__EXT_IO);
    if (io == NULL || id == 0)
        return TR_ENOTFOUND;
    return tr__timer_cancel(io, id) ? 0 : TR_ENOTFOUND;
}
