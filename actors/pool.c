/* actors/pool.c - the pool's router actor (see include/troupe/pool.h).
 *
 * The pool handle is the router. It owns all routing state (slots, the job
 * queue, counters) as plain actor state, and supervises the workers: it
 * monitors each one (monitors, not links, as in actors/sup.c), respawns a
 * dead one in its slot under the pool's intensity and backoff, and stops
 * them all in its terminate. Hot path: a job arrives in the router's mailbox
 * and moves on with tr_forward to a worker's mailbox: one push, no
 * allocation, no lock. Jobs with no live worker to go to (all restarting, a
 * key's slot restarting, the shared queue) wait in a FIFO linked through
 * msg->next and are routed again when a worker (re)starts or idles.
 *
 * Crashed and returned jobs come back from actors/pool_worker.c with their
 * bookkeeping in the (runtime-private) status field: bits 0-15 count
 * crashes, TR__POOL_CRASHED / TR__POOL_RETURNED say why it came back. User
 * messages arrive with status 0. A job that crashed more than
 * max_redeliveries times is dead-lettered here.
 *
 * Shared queue: each worker has one ready token (a system message). It sends
 * the token to the router when it starts; the router keeps the token of an
 * idle worker, and sends it back right behind the next job for that worker;
 * the worker bounces it to the router as soon as it sees it, which is right
 * after the job (its mailbox is FIFO). So a token in the router = an idle
 * worker, at the cost of one extra push per job and no allocation.
 *
 * Out of memory: a worker's end is normally learned from its DOWN, which
 * needs memory; a send that finds the worker's mailbox closed marks its slot
 * S_GONE and the slot dies at the end of that message all the same (a DOWN
 * that comes later no longer matches it). A respawn whose retry timer cannot
 * be armed leaves the jobs waiting for it with no one to move them: they
 * are dead-lettered (starved), and each later message tries the timer
 * again (retry). Both are rare, so the job path tests them in one branch.
 *
 * Control requests (actors/pool_api.c) are served by tr__pool_ctrl_serve
 * with this router's add/remove/stats. The pool closes itself when the
 * user releases the last pool handle (user_handles); the shared tr__pool,
 * which the workers use after the router has ended, is dropped by the
 * router's terminate and freed by its last holder (actors/pool_worker.h
 * says why these are two counts). */
#include <ck_pr.h>
#include <stdlib.h>
#include <string.h>

#include "actors/pool.h"
#include "actors/pool_api.h"
#include "actors/pool_ctrl.h"
#include "actors/pool_worker.h"
#include "actors/restarts.h"
#include "actors/timer_thread.h"
#include "base/clock.h"
#include "core/actor.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

#define RETRY_MIN_MS 10

/* S_GONE: a send found the worker's mailbox closed; it is treated as dead
 * at the end of the message (its DOWN may be on the way, or lost for want
 * of memory; either way it is ignored once the slot is reaped). */
enum { S_EMPTY = 0, S_RUN, S_DUE, S_GONE };

typedef struct rslot {
    tr_ref *ref; /* retained */
    uint64_t id;
    uint64_t mon; /* our monitor on ref */
    uint64_t due;
    tr_msg *token; /* shared queue: held while the worker is idle */
    int state;
    uint32_t restarts; /* times this slot's worker was replaced (snapshots) */
    uint64_t dead;     /* dead letters of its ended workers, carried to the next */
} rslot;

typedef struct router {
    tr__pool *p;
    tr_ctx *ctx;
    rslot *slots;
    unsigned n; /* active slots: [0, n) */
    tr_ref **drain;
    size_t ndrain, capdrain;
    unsigned rr;
    uint64_t rng;
    unsigned nidle;
    tr_msg *q_head, *q_tail;
    tr__restarts rs;
    tr__log_storm storm;  /* worker restarts in the current storm window (core/log.h) */
    int64_t user_handles; /* see actors/pool_worker.h: why not the tr_ref count */
    tr__pool_counts cnt;  /* queued: the FIFO's length */
    uint64_t timer_id, timer_tag, timer_due;
    uint64_t wd_timer;
    int closing;
    /* Work after a job (rare, so the job path tests one word): */
    int gone;  /* some slot is S_GONE: reap it */
    int retry; /* a respawn is due but its timer could not be armed */
} router;

typedef struct router_state {
    router *r;
} router_state;

static int router_receive(tr_ctx *ctx, void *state, tr_msg *msg);

static void wd_publish(tr__pool *p, unsigned i, tr_ref *ref) {
    if (p->cfg.watchdog_ms == 0)
        return;
    if (ref != NULL)
        tr_ref_retain(ref);
    pthread_mutex_lock(&p->wd_mu);
    tr_ref *old = p->slots[i].ref;
    p->slots[i].ref = ref;
    pthread_mutex_unlock(&p->wd_mu);
    if (old != NULL)
        tr_ref_release(old);
}

static const char *pool_name(const tr__pool *p) {
    return p->cfg.name != NULL ? p->cfg.name : "pool";
}

static int spawn_worker(router *r, unsigned i) {
    tr__pool *p = r->p;
    tr__pool_warg a = {p, i};
    tr_spawn_opts o = p->cfg.opts;
    o.state_size = tr__pool_wstate_size(p);
    o.arg = &a;
    /* Unbounded mailboxes keep no length; smallest-mailbox routing needs
     * one, so its workers get a bound they can never reach. */
    o.mailbox_capacity =
        p->cfg.routing == TR_ROUTE_SMALLEST_MAILBOX ? (1u << 30) : TR_MAILBOX_UNBOUNDED;
    if (o.name == NULL)
        o.name = "pool worker";
    /* Reports name it "pool-name[slot]" (core/log.h). */
    tr__label l = {p->rt, pool_name(p), NULL, i + 1, (uint32_t)r->cnt.restarts};
    tr__label_next(&l);
    tr_ref *ref;
    int rc = tr_spawn(p->rt, &tr__pool_worker_behavior, &o, &ref);
    tr__label_next(NULL);
    if (rc != 0)
        return rc;
    uint64_t mon = 0;
    rc = tr_monitor(r->ctx, ref, &mon); /* not a link: see actors/sup.c */
    if (rc != 0) {
        /* Out of memory, likely: a kill's wake-up message may not be had
         * either, and an idle worker that is never woken never ends. The
         * seal wakes it without allocating. */
        tr__actor_seal_any(ref, TR_EXIT_KILLED, 0, "killed");
        tr_ref_release(ref);
        return rc;
    }
    r->slots[i].ref = ref;
    r->slots[i].id = tr_ref_id(ref);
    r->slots[i].mon = mon;
    r->slots[i].state = S_RUN;
    /* For snapshots (troupe/introspect.h): "name/slot" under the router. */
    tr__ameta_tag_any(ref, tr_ref_id(tr_self(r->ctx)), p->cfg.name != NULL ? p->cfg.name : "pool",
                      (int)i, r->slots[i].restarts);
    tr__ameta_carry_dead_letters_any(ref, r->slots[i].dead); /* as restarts are carried */
    wd_publish(p, i, ref);
    return 0;
}

/* The queue of jobs waiting at the router (linked through ->next). */
static void enqueue(router *r, tr_msg *m) {
    tr_msg_keep(r->ctx, m); /* TR_ESTATE when it is ours already */
    m->next = NULL;
    if (r->q_tail != NULL)
        r->q_tail->next = m;
    else
        r->q_head = m;
    r->q_tail = m;
    r->cnt.queued++;
}

static tr_msg *dequeue(router *r) {
    tr_msg *m = r->q_head;
    if (m == NULL)
        return NULL;
    r->q_head = m->next;
    if (r->q_head == NULL)
        r->q_tail = NULL;
    m->next = NULL;
    r->cnt.queued--;
    return m;
}

static inline int send_to(router *r, unsigned i, tr_msg *m) {
    if (r->slots[i].state != S_RUN)
        return TR_EDEAD;
    int rc = tr_forward(r->ctx, r->slots[i].ref, m);
    if (TR__LIKELY(rc == 0))
        r->cnt.routed++;
    else if (rc == TR_EDEAD) {
        r->slots[i].state = S_GONE;
        r->gone = 1;
    }
    return rc;
}

static inline uint64_t next_rand(router *r) {
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Shared queue: give job m to an idle worker. 0, or TR_EBUSY if none. */
static int dispatch_idle(router *r, tr_msg *m) {
    if (r->nidle == 0)
        return TR_EBUSY;
    for (unsigned k = 0; k < r->n; k++) {
        unsigned i = (r->rr + k) % r->n;
        rslot *s = &r->slots[i];
        if (s->token == NULL)
            continue;
        tr_msg *tok = s->token;
        s->token = NULL;
        r->nidle--;
        if (send_to(r, i, m) != 0) {
            tr__msg_destroy(tok, TR_EDEAD); /* it died: its EXIT is on the way */
            continue;
        }
        r->rr = i + 1;
        tok->next = NULL;
        if (tr__actor_push(s->ref, tok) != 0)
            tr__msg_destroy(tok, TR_EDEAD);
        return 0;
    }
    return TR_EBUSY;
}

static void broadcast(router *r, tr_msg *m) {
    int first = -1;
    for (unsigned i = 0; i < r->n; i++) {
        if (r->slots[i].state != S_RUN)
            continue;
        if (first < 0) {
            first = (int)i;
            continue;
        }
        tr_msg *c;
        size_t size = (m->flags & TR__MSG_INLINE) ? m->size : 0;
        if (tr__msg_make(&c, m->type, tr_msg_data(m), size, m->word) != 0)
            continue;
        if (tr__msg_sender(m) != NULL) { /* a tell's sender, for every copy */
            c->reply = m->reply;
            c->corr = m->corr;
        }
        if (send_to(r, i, c) != 0)
            tr_msg_free(c);
        else
            r->cnt.copies++;
    }
    if (first < 0 || send_to(r, (unsigned)first, m) != 0)
        enqueue(r, m);
}

/* Route one job (the message being received, or one we own). */
static void route(router *r, tr_msg *m, int again) {
    unsigned n = r->n;
    if (n == 0) {
        enqueue(r, m);
        return;
    }
    switch (r->p->cfg.routing) {
    case TR_ROUTE_SHARED_QUEUE:
        if (r->cnt.queued == 0 && dispatch_idle(r, m) == 0)
            return;
        break;
    case TR_ROUTE_KEY_HASH:
        if (send_to(r, (unsigned)(mix64(m->word) % n), m) == 0)
            return;
        break;
    case TR_ROUTE_SMALLEST_MAILBOX: {
        int best = -1;
        int64_t best_len = INT64_MAX;
        for (unsigned k = 0; k < n; k++) {
            unsigned i = (r->rr + k) % n; /* ties go round robin */
            if (r->slots[i].state != S_RUN)
                continue;
            int64_t len = tr_ref_mailbox_len(r->slots[i].ref);
            if (len >= 0 && len < best_len) {
                best_len = len;
                best = (int)i;
            }
        }
        r->rr++;
        if (best >= 0 && send_to(r, (unsigned)best, m) == 0)
            return;
        break;
    }
    case TR_ROUTE_BROADCAST:
        if (!again) {
            broadcast(r, m);
            return;
        }
        /* a returned copy goes to one worker */
        __attribute__((fallthrough));
    case TR_ROUTE_RANDOM:
    case TR_ROUTE_ROUND_ROBIN:
    default: {
        unsigned start =
            r->p->cfg.routing == TR_ROUTE_RANDOM ? (unsigned)(next_rand(r) % n) : r->rr++;
        for (unsigned k = 0; k < n; k++)
            if (send_to(r, (start + k) % n, m) == 0)
                return;
        break;
    }
    }
    enqueue(r, m); /* no live worker for it now; flushed on the next (re)start */
}

/* Route what waits in the queue again (after a worker (re)started). */
static void flush(router *r) {
    if (r->p->cfg.routing == TR_ROUTE_SHARED_QUEUE) {
        while (r->q_head != NULL && r->nidle > 0) {
            tr_msg *m = dequeue(r);
            if (dispatch_idle(r, m) != 0) {
                /* put it back in front */
                m->next = r->q_head;
                r->q_head = m;
                if (r->q_tail == NULL)
                    r->q_tail = m;
                r->cnt.queued++;
                break;
            }
        }
        return;
    }
    tr_msg *list = r->q_head;
    uint64_t n = r->cnt.queued;
    r->q_head = r->q_tail = NULL;
    r->cnt.queued = 0;
    while (n-- > 0 && list != NULL) {
        tr_msg *m = list;
        list = m->next;
        m->next = NULL;
        route(r, m, 1);
    }
}

static void on_job(router *r, tr_msg *m) {
    int again = 0;
    if (TR__UNLIKELY(m->status != 0)) {
        again = 1;
        if (m->status & TR__POOL_CRASHED) {
            m->status &= ~TR__POOL_CRASHED;
            if ((uint32_t)(m->status & TR__POOL_ATTEMPTS) > r->p->cfg.max_redeliveries) {
                r->cnt.dead++;
                tr__log_event(r->p->rt, TR_LOG_WARN, "pool", tr__actor_of(r->ctx),
                              "pool \"%s\" dead-letters a job (message type %u): it crashed "
                              "%u workers, more than max_redeliveries (%u)",
                              pool_name(r->p), m->type, (unsigned)(m->status & TR__POOL_ATTEMPTS),
                              r->p->cfg.max_redeliveries);
                tr_msg_keep(r->ctx, m);
                tr__pool_job_dead(r->p, m, TR_DEAD_DROPPED);
                return;
            }
            r->cnt.redeliveries++;
        } else if (m->status & TR__POOL_RETURNED) {
            m->status &= ~TR__POOL_RETURNED;
            r->cnt.returned++;
        }
    } else {
        r->cnt.jobs++;
    }
    route(r, m, again);
}

/* --- router timer, restarts, closing ------------------------------------- */

static int has_live(const router *r) {
    for (unsigned i = 0; i < r->n; i++)
        if (r->slots[i].state == S_RUN)
            return 1;
    return 0;
}

/* The retry timer could not be armed (out of memory): the next message
 * arms it again, but the jobs waiting here for a respawn might wait for
 * ever, and their askers with them. Dead-letter them now (asks fail with
 * TR_EDEAD): only the shared queue with a live worker still moves. */
static void starved(router *r) {
    if (r->p->cfg.routing == TR_ROUTE_SHARED_QUEUE && has_live(r))
        return;
    tr_msg *m;
    while ((m = dequeue(r)) != NULL) {
        r->cnt.dead++;
        tr__pool_job_dead(r->p, m, TR_DEAD_DROPPED);
    }
}

static void router_rearm(router *r) {
    r->retry = 0;
    uint64_t due = 0;
    for (unsigned i = 0; i < r->n; i++)
        if (r->slots[i].state == S_DUE && (due == 0 || r->slots[i].due < due))
            due = r->slots[i].due;
    if (due == r->timer_due && (due == 0 || r->timer_id != 0))
        return;
    tr__atimer_cancel(r->p->rt, r->timer_id);
    r->timer_id = 0;
    r->timer_due = due;
    r->timer_tag++;
    if (due == 0)
        return;
    uint64_t now = tr__mono_ms();
    r->timer_id = tr__atimer_send(tr_self(r->ctx), r->timer_tag, due > now ? due - now : 0);
    if (r->timer_id == 0) {
        r->retry = 1;
        starved(r);
    }
}

static void drop_token(router *r, rslot *s) {
    if (s->token != NULL) {
        tr__msg_destroy(s->token, TR_EDEAD);
        s->token = NULL;
        r->nidle--;
    }
}

/* Everything waiting is dead-lettered, the workers are asked to stop. */
static void close_down(router *r) {
    if (r->closing)
        return;
    r->closing = 1;
    tr_msg *m;
    while ((m = dequeue(r)) != NULL) {
        r->cnt.dead++;
        tr__pool_job_dead(r->p, m, TR_DEAD_STOPPED);
    }
    for (unsigned i = 0; i < r->n; i++) {
        rslot *s = &r->slots[i];
        drop_token(r, s);
        if (s->ref != NULL)
            tr_actor_stop(s->ref);
        s->state = S_EMPTY;
    }
    for (size_t i = 0; i < r->ndrain; i++)
        tr_actor_stop(r->drain[i]);
    tr__atimer_cancel(r->p->rt, r->timer_id);
    r->timer_id = 0;
}

/* The router ends itself: everything waiting is dead-lettered, and its
 * mailbox is sealed now, so sends to the pool fail with TR_EDEAD from here
 * on, not only once this turn is over. */
static void end_self(router *r, tr_exit_kind kind, int code, const char *text) {
    close_down(r);
    tr__actor_seal_any(tr_self(r->ctx), kind, code, text);
}

static void start_due(router *r) {
    uint64_t now = tr__mono_ms();
    int started = 0;
    for (unsigned i = 0; i < r->n && !r->closing; i++) {
        rslot *s = &r->slots[i];
        if (s->state != S_DUE || s->due > now)
            continue;
        s->state = S_EMPTY;
        if (spawn_worker(r, i) == 0) {
            started = 1;
            tr__log_restart(r->p->rt, &r->storm, "pool", pool_name(r->p), s->ref,
                            (uint32_t)r->cnt.restarts);
            continue;
        }
        s->state = S_DUE;
        s->due = now + RETRY_MIN_MS;
    }
    if (started)
        flush(r);
}

static void slot_died(router *r, unsigned i) {
    rslot *s = &r->slots[i];
    s->dead = tr__ameta_dead_letters_any(s->ref); /* final: its DOWN came after them */
    tr_ref_release(s->ref);
    s->ref = NULL;
    s->id = 0;
    s->state = S_EMPTY;
    drop_token(r, s);
    wd_publish(r->p, i, NULL);
    if (r->closing)
        return;
    r->cnt.restarts++;
    s->restarts++;
    tr__ameta_restarted_owner(r->ctx);
    if (tr__restarts_note(&r->rs)) {
        tr__log_text(r->p->rt, TR_LOG_ERROR, "pool", tr__actor_of(r->ctx),
                     "pool \"%s\" gives up: more than %u worker restarts within %llu ms (its "
                     "intensity); it ends with an error (TR_ECRASHED)",
                     pool_name(r->p), r->rs.intensity, (unsigned long long)r->rs.period_ms);
        end_self(r, TR_EXIT_ERROR, TR_ECRASHED, "pool restart intensity reached");
        return;
    }
    s->state = S_DUE;
    s->due = tr__mono_ms() + tr__restarts_delay(&r->rs);
    start_due(r);
}

/* Workers found dead by a send (S_GONE) die here, outside route(): their
 * respawn routes the queue again. Then the respawn timer is armed (again,
 * if that failed for want of memory: each message tries). */
static void after_job(router *r) {
    r->gone = 0;
    for (unsigned i = 0; i < r->n && !r->closing; i++)
        if (r->slots[i].state == S_GONE)
            slot_died(r, i);
    if (!r->closing)
        router_rearm(r);
}

static void on_exit_msg(router *r, tr_msg *msg) {
    tr_ref *origin = tr_msg_origin(msg);
    for (unsigned i = 0; i < r->n; i++) {
        if (r->slots[i].ref == origin && origin != NULL) {
            slot_died(r, i);
            return;
        }
    }
    for (size_t i = 0; i < r->ndrain; i++) {
        if (r->drain[i] == origin) {
            tr_ref_release(origin);
            r->drain[i] = r->drain[--r->ndrain];
            return;
        }
    }
    /* A linked actor ended. */
    tr_exit why;
    if (msg->type == TR_MSG_EXIT && tr_exit_of(msg, &why) == 0 && why.kind != TR_EXIT_NORMAL &&
        !r->closing) {
        if (why.kind == TR_EXIT_ERROR)
            end_self(r, TR_EXIT_ERROR, why.code, why.text);
        else
            end_self(r, TR_EXIT_NORMAL, 0, NULL);
    }
}

static void on_token(router *r, tr_msg *tok) {
    tr_msg_keep(r->ctx, tok);
    unsigned i = (unsigned)tok->corr;
    if (r->closing || i >= r->n || r->slots[i].state != S_RUN || r->slots[i].id != tok->word ||
        r->slots[i].token != NULL) {
        tr__msg_destroy(tok, TR_EDEAD);
        return;
    }
    r->slots[i].token = tok;
    r->nidle++;
    flush(r);
}

/* 0 when added; TR_ESTATE while closing, TR_EFULL at max_workers, or the
 * spawn's error. */
static int ctrl_add(void *arg) {
    router *r = arg;
    tr__pool *p = r->p;
    if (r->closing)
        return TR_ESTATE;
    if (r->n >= p->cap)
        return TR_EFULL;
    unsigned i = r->n;
    memset(&r->slots[i], 0, sizeof(r->slots[i]));
    int rc = spawn_worker(r, i);
    if (rc != 0)
        return rc < 0 ? rc : TR_ENOMEM;
    r->n++;
    flush(r);
    return 0;
}

/* 0 when removed; TR_ESTATE while closing (or with no worker left). */
static int ctrl_remove(void *arg) {
    router *r = arg;
    if (r->closing || r->n == 0)
        return TR_ESTATE;
    unsigned i = r->n - 1;
    rslot *s = &r->slots[i];
    drop_token(r, s);
    wd_publish(r->p, i, NULL);
    if (s->ref != NULL) {
        if (r->ndrain == r->capdrain) {
            size_t cap = r->capdrain ? r->capdrain * 2 : 4;
            tr_ref **d = realloc(r->drain, cap * sizeof(*d));
            if (d == NULL)
                return TR_ENOMEM;
            r->drain = d;
            r->capdrain = cap;
        }
        r->drain[r->ndrain++] = s->ref;
        tr_actor_stop(s->ref); /* its queued jobs come back to us */
    }
    memset(s, 0, sizeof(*s));
    r->n--;
    if (r->n == 0)
        end_self(r, TR_EXIT_NORMAL, 0, NULL);
    return 0;
}

/* A stats result for the caller (malloc'd: it travels in the reply's ptr),
 * or NULL when out of memory. */
static tr__pool_stats_res *ctrl_stats(void *arg) {
    router *r = arg;
    tr__pool *p = r->p;
    tr__pool_stats_res *res = tr__pool_stats_res_new(&r->cnt, r->n);
    if (res == NULL)
        return NULL;
    tr_pool_stats *o = &res->st;
    /* Counters bumped by workers and the watchdog: plain loads, no order. */
    o->dead_lettered += ck_pr_load_64(&p->dead);
    o->stuck = ck_pr_load_64(&p->stuck);
    for (unsigned i = 0; i < p->cap; i++) {
        uint64_t h = ck_pr_load_64(&p->slots[i].handled);
        o->handled += h;
        if (i < r->n)
            res->handled[i] = h;
    }
    return res;
}

/* Control requests (actors/pool_ctrl.h serves them with these and the
 * functions above): the last pool handle going ends the router. */
static void ctrl_close(void *r) {
    end_self(r, TR_EXIT_NORMAL, 0, NULL);
}
static const tr__pool_ctrl_ops ctrl_ops = {ctrl_add, ctrl_remove, ctrl_stats, ctrl_close};

static int router_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    router *r = ((router_state *)state)->r;
    r->ctx = ctx;
    if (TR__LIKELY(msg->type < TR_MSG_SYSTEM && msg->release != tr__pool_ctrl_release)) {
        if (TR__UNLIKELY(r->closing)) {
            r->cnt.dead++;
            tr_msg_keep(ctx, msg);
            tr__pool_job_dead(r->p, msg, TR_DEAD_STOPPED);
            return 0;
        }
        on_job(r, msg);
        if (TR__UNLIKELY(r->gone | r->retry))
            after_job(r);
        return 0;
    }
    if (msg->release == tr__pool_ctrl_release) {
        tr__pool_ctrl_serve((tr__pool_ctrl *)msg, &ctrl_ops, r, &r->user_handles, r->closing);
    } else if (msg->type == TR__A_TOKEN) {
        on_token(r, msg); /* a job may go out behind it: as after a job */
        if (TR__UNLIKELY(r->gone | r->retry))
            after_job(r);
        return 0;
    } else if (msg->type == TR_MSG_DOWN || msg->type == TR_MSG_EXIT) {
        on_exit_msg(r, msg);
    } else if (msg->type == TR__A_TIMER) {
        if (msg->word == r->timer_tag) {
            r->timer_id = 0;
            r->timer_due = 0;
            start_due(r);
        }
    }
    if (r->gone)
        after_job(r);
    else if (!r->closing)
        router_rearm(r);
    return 0;
}

static void router_free(router *r) {
    tr__atimer_cancel(r->p->rt, r->timer_id);
    tr__atimer_cancel(r->p->rt, r->wd_timer); /* waits for a running scan */
    for (unsigned i = 0; i < r->p->cap; i++) {
        rslot *s = &r->slots[i];
        drop_token(r, s);
        if (s->ref != NULL)
            tr_ref_release(s->ref);
        s->ref = NULL;
    }
    for (size_t i = 0; i < r->ndrain; i++)
        tr_ref_release(r->drain[i]);
    free(r->drain);
    free(r->slots);
    tr__restarts_free(&r->rs);
    free(r);
}

static void router_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)why;
    router *r = ((router_state *)state)->r;
    r->ctx = ctx;
    close_down(r);
    tr__pool *p = r->p;
    router_free(r);
    tr__pool_drop(p); /* the router's hold (pool_start drops it if init fails) */
}

static int router_init(tr_ctx *ctx, void *state, void *arg) {
    tr__pool_rarg *a = arg;
    tr__pool *p = a->p;
    router *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return TR_ENOMEM;
    r->slots = calloc(p->cap, sizeof(rslot));
    int rc = r->slots == NULL ? TR_ENOMEM : 0;
    if (rc == 0)
        rc = tr__restarts_init(&r->rs, p->cfg.intensity, p->cfg.period_ms, p->cfg.clock_ms,
                               p->cfg.clock_user, p->cfg.backoff_min_ms, p->cfg.backoff_max_ms,
                               p->cfg.backoff_jitter);
    if (rc != 0) {
        tr__restarts_free(&r->rs);
        free(r->slots);
        free(r);
        return rc;
    }
    ((router_state *)state)->r = r;
    r->p = p;
    r->ctx = ctx;
    r->user_handles = a->user_handles;
    r->rng = 0x2545F4914F6CDD1DULL ^ tr_ref_id(tr_self(ctx));
    tr_trap_exit(ctx, 1);
    tr__ameta_role_owner(ctx, TR_ROLE_POOL, -1);
    /* The pool object outlives us while workers still hold it. */
    tr_ref_retain(tr_self(ctx));
    p->router = tr_self(ctx);
    for (unsigned i = 0; i < p->cfg.workers; i++) {
        rc = spawn_worker(r, i);
        if (rc != 0)
            break;
        r->n++;
    }
    if (rc == 0 && p->cfg.watchdog_ms != 0) {
        uint64_t period = p->cfg.watchdog_ms / 2 ? p->cfg.watchdog_ms / 2 : 1;
        r->wd_timer = tr__atimer_every(p->rt, period, tr__pool_watchdog, p);
        if (r->wd_timer == 0)
            rc = TR_ENOMEM;
    }
    if (rc == 0)
        return 0;
    /* Undo (terminate does not run after a failed init). The workers hold
     * pool references; they drop them as they end. */
    for (unsigned i = 0; i < r->n; i++) {
        /* The core frees our block after a failed init whatever references
         * monitors hold: drop them first. */
        tr_demonitor(ctx, r->slots[i].ref, r->slots[i].mon);
        tr_actor_kill(r->slots[i].ref);
    }
    r->closing = 1;
    /* The core frees our block after a failed init whatever its count:
     * take back our self-reference and forget the router. */
    p->router = NULL;
    tr_ref_release(tr_self(ctx));
    router_free(r);
    return rc;
}

const tr_behavior tr__pool_router_behavior = {
    .init = router_init,
    .receive = router_receive,
    .terminate = router_terminate,
};
