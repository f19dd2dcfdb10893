/* actors/sup.c - supervisors (see include/troupe/supervisor.h).
 *
 * A supervisor is an ordinary actor that monitors each child it starts, so
 * every child's end reaches it as a TR_MSG_DOWN whose origin is the child's
 * handle. Monitors, not links: TR_EXIT_KILLED spreads over links even to an
 * actor that traps exits, and a killed child must not kill its supervisor.
 * Children do not outlive the supervisor because its terminate stops (or
 * kills) every child still running. It also traps exits, so an actor that
 * links to it and crashes makes it shut down in order instead of dying at
 * once, and it takes tr_actor_stop as a message (tr__actor_stop_as_message)
 * so that it too ends only after its children. All state is the actor's
 * own; nothing here is shared.
 *
 * Stopping children takes time (a timeout, then a kill), so it runs as one
 * "operation" at a time: a list of children stopped one by one, newest first,
 * each waited for by its DOWN (or all at once, for a dynamic supervisor's
 * shutdown), then a continuation: reply to a terminate request, restart a
 * group (one_for_all, rest_for_one), or end the supervisor (a stop, intensity
 * reached, auto shutdown, a child that failed during start). While an
 * operation runs, requests and the DOWNs of children outside it are kept
 * (tr_msg_keep) in a FIFO and replayed once it is over; the child array is
 * only resized when no operation runs (operations hold indices into it).
 *
 * One timer at a time (actors/timer_thread.c) wakes the supervisor for the earliest
 * of: the current stop's deadline, a backoff restart falling due. Its
 * message carries a tag; a stale tag (re-armed meanwhile) is ignored. The
 * timer is a slot in this state (tr__atimer_slot): arming it allocates
 * nothing, so out of memory a restart still falls due.
 *
 * Requests are tr__sup_req messages (known by their release function; see
 * actors/sup_api.h): asks from the blocking calls, tr_requests from actors. The
 * answer is a TR_MSG_RESULT reply carrying the request's tr__sup_result. */
#include "troupe/supervisor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/restarts.h"
#include "actors/sup.h"
#include "actors/sup_api.h"
#include "actors/sup_drain.h"
#include "actors/timer_thread.h"
#include "base/clock.h"
#include "core/actor.h"
#include "core/metrics.h"
#include "core/log.h"
#include "core/ask.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

#define WORKER_SHUTDOWN_MS 5000
#define RETRY_MIN_MS 10 /* wait before retrying a child whose start failed */

enum { C_IDLE = 0, C_RUNNING, C_STOPPING, C_DUE };
enum { OP_NONE = 0, OP_TERMINATE, OP_GROUP, OP_SHUTDOWN };
typedef struct child {
    tr_child_spec spec;
    tr_ref *ref;  /* retained while running or stopping */
    uint64_t mon; /* our monitor on ref */
    uint64_t due; /* C_DUE: restart at this monotonic ms */
    uint32_t restarts;
    uint64_t dead;       /* dead letters of its ended incarnations, carried to the next */
    tr__log_storm storm; /* restarts in the current storm window (core/log.h) */
    uint8_t state;
    uint8_t in_op;
    uint8_t remove; /* drop the entry once the operation is over */
} child;

typedef struct supv {
    tr_ctx *ctx;
    tr_runtime *rt;
    const char *name; /* the config's (static), for reports */
    tr_sup_strategy strategy;
    tr_sup_auto_shutdown autos;
    tr_child_spec tmpl; /* TR_SUP_DYNAMIC */
    child *kids;
    size_t n, cap;
    tr__restarts rs;
    tr_sup_stats stats;
    /* The operation. */
    int op;
    int parallel; /* stop the whole list at once (a dynamic supervisor's shutdown) */
    size_t *list; /* indices into kids, in stop order */
    size_t list_n, list_pos;
    size_t par_left;   /* parallel: children of the list still to end */
    uint64_t deadline; /* 0: none */
    int killed;        /* the current child (parallel: all) was killed */
    tr_msg *op_req;    /* the request to answer when the operation ends */
    uint64_t group_delay;
    int group_backoff; /* group_delay is a backoff (counted in stats.delayed) */
    tr_exit_kind exit_kind;
    int exit_code;
    char exit_text[TR__EXIT_TEXT];
    tr_msg *stop_waiters; /* TR__SUP_REQ_STOP asks, answered at the end */
    /* Kept messages to replay after the operation (linked by ->next). */
    tr_msg *def_head, *def_tail;
    /* The timer: a slot in this state, so that arming it needs no memory
     * (a backoff restart falls due out of memory too). */
    tr__atimer_slot timer;
    int timer_armed;
    uint64_t timer_tag, timer_due;
    int ending;    /* the supervisor decided to end; ignore everything */
    int kept;      /* the message being replayed was kept by its handler */
    int replaying; /* op_done's replay loop is running */
} supv;

static int sup_receive(tr_ctx *ctx, void *state, tr_msg *msg);

bool tr__sup_is_supervisor(const tr_ref *ref) {
    return ref != NULL && ref->beh_receive == sup_receive;
}

/* --- children ------------------------------------------------------------ */

bool tr__sup_spec_is_valid(const tr_child_spec *c) {
    if (c == NULL)
        return false;
    if (c->start == NULL && (c->behavior == NULL || c->behavior->receive == NULL) && c->sup == NULL)
        return false;
    if ((unsigned)c->restart > TR_CHILD_TEMPORARY || (unsigned)c->kind > TR_CHILD_SUPERVISOR)
        return false;
    if (c->significant != 0 && (c->significant != 1 || c->restart == TR_CHILD_PERMANENT))
        return false;
    return c->shutdown_ms >= TR_SHUTDOWN_INFINITY;
}

static int64_t shutdown_of_spec(const tr_child_spec *c) {
    if (c->shutdown_ms != TR_SHUTDOWN_DEFAULT)
        return c->shutdown_ms;
    return c->kind == TR_CHILD_SUPERVISOR ? TR_SHUTDOWN_INFINITY : WORKER_SHUTDOWN_MS;
}

static int64_t shutdown_of(const child *c) {
    return shutdown_of_spec(&c->spec);
}

static int spec_start_as(tr_runtime *rt, const tr_child_spec *c, tr_ref **out) {
    if (c->start != NULL)
        return c->start(rt, c->arg, out);
    if (c->behavior != NULL)
        return tr_spawn(rt, c->behavior, &c->opts, out);
    return tr_sup_start(rt, c->sup, out);
}

static int spec_start(supv *s, const tr_child_spec *c, uint32_t restarts, tr_ref **out) {
    *out = NULL;
    /* The child's names in reports (core/log.h): the first tr_spawn on
     * this thread takes them, the child's (a start function's usually is). */
    tr__label l = {s->rt, s->name, c->id, 0, restarts};
    tr__label_next(&l);
    int rc = spec_start_as(s->rt, c, out);
    tr__label_next(NULL); /* not taken: a start function that spawned nothing here */
    return rc;
}

/* Start c and monitor it, as its `restarts`-th restart (0: its first
 * start). 0 (running), TR_SUP_IGNORE (no actor; c stays idle) or the start
 * function's error. */
static int child_start(supv *s, child *c, uint32_t restarts) {
    tr_ref *ref = NULL;
    int rc = spec_start(s, &c->spec, restarts, &ref);
    if (rc == TR_SUP_IGNORE && ref == NULL)
        return TR_SUP_IGNORE;
    if (rc == 0 && ref == NULL)
        rc = TR_EINVAL; /* a start function must produce a handle */
    if (rc != 0) {
        if (ref != NULL) { /* it broke its contract: do not leave an orphan */
            tr_actor_kill(ref);
            tr_ref_release(ref);
        }
        return rc < 0 ? rc : TR_EINVAL;
    }
    /* If it already ended, the DOWN comes at once. */
    rc = tr_monitor(s->ctx, ref, &c->mon);
    if (rc != 0) {
        tr_actor_kill(ref);
        tr_ref_release(ref);
        return rc;
    }
    c->ref = ref;
    c->state = C_RUNNING;
    /* For snapshots (troupe/introspect.h): its parent, id and restarts. */
    tr__ameta_tag_any(ref, tr_ref_id(tr_self(s->ctx)), c->spec.id, -1, c->restarts);
    tr__ameta_carry_dead_letters_any(ref, c->dead); /* as restarts are carried */
    return 0;
}

static void child_gone(child *c) {
    /* Its DOWN came after its leftovers were dead-lettered: the count is
     * final (its predecessors' included). */
    if (c->ref != NULL)
        c->dead = tr__ameta_dead_letters_any(c->ref);
    if (c->ref != NULL)
        tr_ref_release(c->ref);
    c->ref = NULL;
    c->state = C_IDLE;
}

static child *find_ref(supv *s, const tr_ref *ref) {
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i].ref == ref && ref != NULL)
            return &s->kids[i];
    return NULL;
}

static child *find_id(supv *s, const char *id) {
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i].spec.id != NULL && strcmp(s->kids[i].spec.id, id) == 0)
            return &s->kids[i];
    return NULL;
}

static int grow(supv *s) {
    if (s->n < s->cap)
        return 0;
    size_t cap = s->cap ? s->cap * 2 : 8;
    child *k = realloc(s->kids, cap * sizeof(*k));
    if (k == NULL)
        return TR_ENOMEM;
    size_t *l = realloc(s->list, cap * sizeof(*l));
    if (l == NULL) {
        s->kids = k;
        return TR_ENOMEM;
    }
    s->kids = k;
    s->list = l;
    s->cap = cap;
    return 0;
}

/* Drop entries marked for removal (only when no operation runs). */
static void compact(supv *s) {
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->kids[i].remove) {
            child_gone(&s->kids[i]);
            continue;
        }
        s->kids[j++] = s->kids[i];
    }
    s->n = j;
}

/* --- the timer ----------------------------------------------------------- */

static void rearm(supv *s) {
    uint64_t due = 0;
    if (s->op != OP_NONE && s->deadline != 0)
        due = s->deadline;
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i].state == C_DUE && (due == 0 || s->kids[i].due < due))
            due = s->kids[i].due;
    if (due == s->timer_due && (due == 0 || s->timer_armed))
        return;
    tr__atimer_disarm(s->rt, &s->timer);
    s->timer_armed = 0;
    s->timer_due = due;
    s->timer_tag++;
    if (due == 0)
        return;
    uint64_t now = tr__mono_ms();
    /* Fails only without the timer thread, which tr_sup_start made sure
     * of; retried at the next message then. */
    s->timer_armed =
        tr__atimer_arm(tr_self(s->ctx), &s->timer, s->timer_tag, due > now ? due - now : 0) == 0;
}

/* --- operations ---------------------------------------------------------- */

static void op_step(supv *s);
static void handle(supv *s, tr_msg *msg);

/* Answer a request we do not own (the runtime or the replay destroys it):
 * a TR_MSG_RESULT carrying the request's result, if an answer is wanted. */
static void answer(tr_msg *req, int rc) {
    if (req == NULL || !tr_msg_wants_reply(req))
        return;
    tr__sup_req *r = (tr__sup_req *)req;
    tr__sup_result *res = r->res;
    r->res = NULL;
    int err = tr__reply_result(req, rc, res, res != NULL ? tr__sup_result_free : NULL);
    if (err != 0) /* a full bounded mailbox, or no memory: tell the asker so */
        tr__reply_fail(req, err);
}

/* Answer a request we kept, and destroy it. */
static void finish_kept(tr_msg *req, int rc) {
    if (req == NULL)
        return;
    answer(req, rc);
    tr__msg_destroy(req, TR_ENOREPLY);
}

/* Take ownership of msg: it is the message being received, or one being
 * replayed (then it is ours already and tr_msg_keep just says so). */
static void keep(supv *s, tr_msg *msg) {
    tr_msg_keep(s->ctx, msg);
    s->kept = 1;
}

static void defer(supv *s, tr_msg *msg) {
    keep(s, msg);
    msg->next = NULL;
    if (s->def_tail != NULL)
        s->def_tail->next = msg;
    else
        s->def_head = msg;
    s->def_tail = msg;
}

/* A child's DOWN that came while another operation ran waits in the kept
 * FIFO; an operation that now waits for that child takes it from there
 * (else it would wait for a message queued behind its own end). 1 if ref's
 * DOWN was there (it is destroyed: the operation accounts for the end). */
static int take_kept_down(supv *s, const tr_ref *ref) {
    tr_msg *prev = NULL;
    for (tr_msg *m = s->def_head; m != NULL; prev = m, m = m->next) {
        if (m->type != TR_MSG_DOWN || tr_msg_origin(m) != ref)
            continue;
        if (prev != NULL)
            prev->next = m->next;
        else
            s->def_head = m->next;
        if (s->def_tail == m)
            s->def_tail = prev;
        m->next = NULL;
        tr__msg_destroy(m, TR_ENOREPLY);
        return 1;
    }
    return 0;
}

/* Ask c to stop per its shutdown setting; 1 if that was a kill. */
static int send_stop(child *c) {
    c->state = C_STOPPING;
    if (shutdown_of(c) == TR_SHUTDOWN_BRUTAL) {
        tr_actor_kill(c->ref);
        return 1;
    }
    /* A troupe supervisor takes this as a message and stops its own
     * children first. TR_EDEAD: its DOWN is on the way. */
    tr_actor_stop(c->ref);
    return 0;
}

/* Parallel: stop every child of the list at once, one deadline for all. */
static void op_begin_parallel(supv *s) {
    s->par_left = 0;
    for (size_t i = 0; i < s->list_n; i++) {
        child *c = &s->kids[s->list[i]];
        if (c->ref != NULL && take_kept_down(s, c->ref))
            child_gone(c); /* it had ended already */
        if (c->ref == NULL) {
            if (c->state == C_DUE)
                c->state = C_IDLE; /* a pending restart is overtaken */
            continue;
        }
        if (c->state == C_RUNNING)
            send_stop(c);
        s->par_left++;
    }
    int64_t sd = shutdown_of_spec(&s->tmpl);
    if (s->par_left > 0 && sd > 0)
        s->deadline = tr__mono_ms() + (uint64_t)sd;
    if (s->par_left == 0)
        op_step(s);
}

static void op_begin(supv *s, int op, int parallel) {
    s->op = op;
    s->parallel = parallel;
    s->list_pos = 0;
    s->deadline = 0;
    s->killed = 0;
    for (size_t i = 0; i < s->list_n; i++)
        s->kids[s->list[i]].in_op = 1;
    if (parallel)
        op_begin_parallel(s);
    else
        op_step(s);
}

/* List the children from `from` to the end, newest first. */
static void list_from(supv *s, size_t from) {
    s->list_n = 0;
    for (size_t i = s->n; i-- > from;)
        s->list[s->list_n++] = i;
}

static void issue_stop(supv *s, child *c) {
    s->killed = send_stop(c);
    s->deadline = 0;
    int64_t sd = shutdown_of(c);
    if (sd > 0)
        s->deadline = tr__mono_ms() + (uint64_t)sd;
}

static void start_due(supv *s);

/* End the supervisor itself with the shutdown's reason. */
static void end_self(supv *s) {
    tr_ref *self = tr_self(s->ctx);
    switch (s->exit_kind) {
    case TR_EXIT_ERROR:
        tr_actor_exit(self, s->exit_code, s->exit_text);
        break;
    case TR_EXIT_KILLED:
        tr_actor_kill(self);
        break;
    case TR_EXIT_SHUTDOWN: /* not tr_actor_stop: that would come back as a message */
        tr__actor_request_exit(self, TR_EXIT_SHUTDOWN, 0, s->exit_text);
        break;
    default:
        tr_stop(s->ctx);
    }
}

static void op_done(supv *s) {
    int op = s->op;
    s->op = OP_NONE;
    s->parallel = 0;
    s->deadline = 0;
    for (size_t i = 0; i < s->n; i++)
        s->kids[i].in_op = 0;
    if (op == OP_SHUTDOWN) {
        s->ending = 1;
        while (s->stop_waiters != NULL) {
            tr_msg *m = s->stop_waiters;
            s->stop_waiters = m->next;
            m->next = NULL;
            finish_kept(m, 0);
        }
        end_self(s);
        return;
    }
    if (op == OP_TERMINATE) {
        tr_msg *req = s->op_req;
        s->op_req = NULL;
        for (size_t i = 0; i < s->list_n; i++) {
            child *c = &s->kids[s->list[i]];
            if (c->spec.restart == TR_CHILD_TEMPORARY || s->strategy == TR_SUP_DYNAMIC)
                c->remove = 1;
        }
        finish_kept(req, 0);
    } else if (op == OP_GROUP) {
        uint64_t due = tr__mono_ms() + s->group_delay;
        if (s->group_backoff)
            s->stats.delayed++;
        for (size_t i = s->list_n; i-- > 0;) {
            child *c = &s->kids[s->list[i]];
            if (c->spec.restart == TR_CHILD_TEMPORARY) {
                c->remove = 1;
            } else {
                c->state = C_DUE;
                c->due = due;
            }
        }
    }
    compact(s);
    start_due(s);
    /* Replay what waited; any of it may start a new operation. Not nested:
     * an operation that ends inside a replayed message leaves the rest to
     * this loop, so `kept` always speaks of the message replayed here. */
    if (s->replaying)
        return;
    s->replaying = 1;
    while (s->op == OP_NONE && !s->ending && s->def_head != NULL) {
        tr_msg *m = s->def_head;
        s->def_head = m->next;
        if (s->def_head == NULL)
            s->def_tail = NULL;
        m->next = NULL;
        s->kept = 0;
        handle(s, m);
        if (!s->kept)
            tr__msg_destroy(m, TR_ENOREPLY);
    }
    s->replaying = 0;
}

static void op_step(supv *s) {
    if (s->parallel) {
        if (s->par_left == 0)
            op_done(s);
        return;
    }
    while (s->list_pos < s->list_n) {
        child *c = &s->kids[s->list[s->list_pos]];
        if (c->ref != NULL && take_kept_down(s, c->ref))
            child_gone(c); /* it had ended already */
        if (c->ref == NULL) {
            if (c->state == C_DUE)
                c->state = C_IDLE; /* a pending restart is overtaken */
            s->list_pos++;
            continue;
        }
        if (c->state == C_RUNNING) {
            issue_stop(s, c);
        } else if (s->deadline == 0 && !s->killed) {
            /* Stopping under an operation that was replaced (a shutdown took
             * over): give it its deadline again. */
            int64_t sd = shutdown_of(c);
            if (sd == TR_SHUTDOWN_BRUTAL) {
                tr_actor_kill(c->ref);
                s->killed = 1;
            } else if (sd > 0) {
                s->deadline = tr__mono_ms() + (uint64_t)sd;
            }
        }
        return; /* wait for its DOWN */
    }
    op_done(s);
}

/* Stop everything and end with the given reason. */
static void begin_shutdown(supv *s, tr_exit_kind kind, int code, const char *text) {
    if (s->op == OP_SHUTDOWN || s->ending)
        return;
    s->exit_kind = kind;
    s->exit_code = code;
    snprintf(s->exit_text, sizeof(s->exit_text), "%s", text ? text : "shutdown");
    if (s->op_req != NULL) {
        tr_msg *req = s->op_req;
        s->op_req = NULL;
        finish_kept(req, TR_ECANCELED);
    }
    list_from(s, 0);
    /* A child being stopped stays first in line: it is waited for. */
    for (size_t i = 0; i < s->n; i++)
        if (s->kids[i].state == C_DUE)
            s->kids[i].state = C_IDLE;
    s->op = OP_NONE;
    op_begin(s, OP_SHUTDOWN, s->strategy == TR_SUP_DYNAMIC);
}

/* --- restarts ------------------------------------------------------------ */

static void escalate(supv *s) {
    tr__log_text(s->rt, TR_LOG_ERROR, "sup", tr__actor_of(s->ctx),
                 "supervisor \"%s\" gives up: more than %u restarts within %llu ms (its "
                 "intensity); it shuts down its children and exits (shutdown), so its own "
                 "supervisor, if any, decides next",
                 s->name, s->rs.intensity, (unsigned long long)s->rs.period_ms);
    /* OTP: exit(shutdown), so only a permanent parent restarts us. */
    begin_shutdown(s, TR_EXIT_SHUTDOWN, 0, "restart intensity reached");
}

static int group_strategy(const supv *s) {
    return s->strategy == TR_SUP_ONE_FOR_ALL || s->strategy == TR_SUP_REST_FOR_ONE;
}

static void start_due(supv *s) {
    uint64_t now = tr__mono_ms();
    for (size_t i = 0; i < s->n && s->op == OP_NONE && !s->ending; i++) {
        child *c = &s->kids[i];
        if (c->state != C_DUE || c->due > now)
            continue;
        c->state = C_IDLE;
        int rc = child_start(s, c, c->restarts + 1);
        if (rc >= 0) { /* started, or its start said "ignore" */
            c->restarts++;
            s->stats.restarts++;
            tr__ameta_restarted_owner(s->ctx);
            if (c->ref != NULL) /* the count it started with, now that it is known */
                tr__ameta_tag_any(c->ref, tr_ref_id(tr_self(s->ctx)), c->spec.id, -1, c->restarts);
            tr__log_restart(s->rt, &c->storm, "sup", s->name, c->ref, c->restarts);
            continue;
        }
        s->stats.start_failures++;
        if (tr__restarts_note(&s->rs)) {
            escalate(s);
            return;
        }
        uint64_t backoff = tr__restarts_delay(&s->rs);
        uint64_t d = backoff > RETRY_MIN_MS ? backoff : RETRY_MIN_MS;
        if (group_strategy(s)) {
            /* OTP: the group restart failed part-way; stop what it started
             * and restart the whole group (one_for_all: every child;
             * rest_for_one: this child and the later ones). */
            s->group_delay = d;
            s->group_backoff = backoff > 0;
            list_from(s, s->strategy == TR_SUP_ONE_FOR_ALL ? 0 : i);
            op_begin(s, OP_GROUP, 0);
            return;
        }
        c->state = C_DUE;
        c->due = now + d;
    }
}

static int wants_restart(const child *c, const tr_exit *why) {
    switch (c->spec.restart) {
    case TR_CHILD_PERMANENT:
        return 1;
    case TR_CHILD_TRANSIENT:
        return why->kind == TR_EXIT_ERROR || why->kind == TR_EXIT_KILLED;
    default:
        return 0;
    }
}

/* A significant child ended by itself and is not restarted. */
static void significant_ended(supv *s) {
    if (s->autos == TR_SUP_AUTO_ALL_SIGNIFICANT) {
        for (size_t i = 0; i < s->n; i++) {
            const child *k = &s->kids[i];
            if (k->spec.significant && !k->remove && (k->ref != NULL || k->state == C_DUE))
                return; /* one still runs (or will, after its backoff) */
        }
    } else if (s->autos != TR_SUP_AUTO_ANY_SIGNIFICANT) {
        return;
    }
    begin_shutdown(s, TR_EXIT_SHUTDOWN, 0, "auto shutdown");
}

/* An unexpected end of child c (no operation running). */
static void child_died(supv *s, child *c, const tr_exit *why) {
    child_gone(c);
    if (!wants_restart(c, why)) {
        int significant = c->spec.significant;
        if (c->spec.restart == TR_CHILD_TEMPORARY || s->strategy == TR_SUP_DYNAMIC) {
            c->remove = 1;
            compact(s);
        }
        if (significant)
            significant_ended(s);
        return;
    }
    if (tr__restarts_note(&s->rs)) {
        escalate(s);
        return;
    }
    uint64_t delay = tr__restarts_delay(&s->rs);
    size_t idx = (size_t)(c - s->kids);
    if (group_strategy(s)) {
        s->group_delay = delay;
        s->group_backoff = delay > 0;
        list_from(s, s->strategy == TR_SUP_ONE_FOR_ALL ? 0 : idx);
        op_begin(s, OP_GROUP, 0);
        return;
    }
    if (delay > 0)
        s->stats.delayed++;
    c->state = C_DUE;
    c->due = tr__mono_ms() + delay;
    start_due(s);
}

static void on_exit_msg(supv *s, tr_msg *msg) {
    tr_exit why;
    if (tr_exit_of(msg, &why) != 0)
        return;
    child *c = find_ref(s, tr_msg_origin(msg));
    if (c == NULL) {
        /* Not a child: a linked actor (our parent, say) ended. */
        if (msg->type == TR_MSG_EXIT && why.kind != TR_EXIT_NORMAL)
            begin_shutdown(s, why.kind, why.code, why.text);
        return;
    }
    if (c->state == C_STOPPING || (s->op != OP_NONE && c->in_op)) {
        child_gone(c);
        if (s->parallel && s->par_left > 0)
            s->par_left--;
        if (s->op != OP_NONE)
            op_step(s);
        return;
    }
    if (s->op != OP_NONE) {
        defer(s, msg);
        return;
    }
    child_died(s, c, &why);
}

static void on_timer(supv *s, tr_msg *msg) {
    if (msg->word != s->timer_tag)
        return; /* stale */
    s->timer_armed = 0;
    s->timer_due = 0;
    if (s->op != OP_NONE && s->deadline != 0 && tr__mono_ms() >= s->deadline) {
        s->deadline = 0;
        if (s->parallel) { /* the deadline is everyone's */
            for (size_t i = 0; i < s->list_n; i++) {
                child *c = &s->kids[s->list[i]];
                if (c->ref != NULL) {
                    s->stats.kills++;
                    tr_actor_kill(c->ref);
                }
            }
            s->killed = 1;
        } else {
            child *c = &s->kids[s->list[s->list_pos]];
            if (c->ref != NULL && !s->killed) {
                s->killed = 1;
                s->stats.kills++;
                tr_actor_kill(c->ref);
            }
        }
    }
    if (s->op == OP_NONE)
        start_due(s);
}

/* --- requests ------------------------------------------------------------ */

static int fill_info(supv *s, tr__sup_result *res) {
    res->n = 0;
    if (s->n == 0)
        return 0;
    res->info = calloc(s->n, sizeof(*res->info));
    if (res->info == NULL)
        return TR_ENOMEM;
    for (size_t i = 0; i < s->n; i++) {
        child *c = &s->kids[i];
        tr_child_info *o = &res->info[i];
        o->id = c->spec.id;
        o->ref = c->ref;
        if (c->ref != NULL)
            tr_ref_retain(c->ref);
        o->kind = c->spec.kind;
        o->restart = c->spec.restart;
        o->running = c->state == C_RUNNING;
        o->restarts = c->restarts;
        o->restarting = c->state == C_DUE;
    }
    res->n = s->n;
    return 0;
}

static void fill_counts(supv *s, tr_sup_counts *k) {
    memset(k, 0, sizeof(*k));
    for (size_t i = 0; i < s->n; i++) {
        k->active += s->kids[i].state == C_RUNNING;
        if (s->kids[i].spec.kind == TR_CHILD_SUPERVISOR)
            k->supervisors++;
        else
            k->workers++;
    }
    /* OTP: a dynamic supervisor has one spec, the template. */
    k->specs = s->strategy == TR_SUP_DYNAMIC ? 1 : s->n;
}

/* Add a child entry (spec copied) and start it. On success *out (if not
 * NULL) gets a retained handle, or NULL if its start said "ignore". */
static int add_and_start(supv *s, const tr_child_spec *spec, tr_ref **out) {
    int rc = grow(s);
    if (rc != 0)
        return rc;
    child *c = &s->kids[s->n];
    memset(c, 0, sizeof(*c));
    c->spec = *spec;
    rc = child_start(s, c, 0);
    if (rc < 0)
        return rc;
    if (rc == TR_SUP_IGNORE) {
        /* OTP keeps the spec, except of temporary and dynamic children. */
        if (spec->restart != TR_CHILD_TEMPORARY && s->strategy != TR_SUP_DYNAMIC)
            s->n++;
        return 0;
    }
    s->n++;
    if (out != NULL) {
        tr_ref_retain(c->ref);
        *out = c->ref;
    }
    return 0;
}

/* Stop one child through an operation; the request is answered at its end. */
static void terminate_one(supv *s, child *c, tr_msg *req) {
    keep(s, req);
    s->op_req = req;
    s->list[0] = (size_t)(c - s->kids);
    s->list_n = 1;
    op_begin(s, OP_TERMINATE, 0);
}

static int req_start_child(supv *s, tr__sup_req *r) {
    if (s->strategy == TR_SUP_DYNAMIC)
        return TR_EINVAL;
    if (r->spec.significant && s->autos == TR_SUP_AUTO_NEVER)
        return TR_EINVAL;
    child *c = find_id(s, r->spec.id);
    if (c != NULL) /* OTP: already_started / already_present */
        return c->ref != NULL ? TR_EALREADY : TR_EEXIST;
    return add_and_start(s, &r->spec, &r->res->ref);
}

static int req_start_dynamic(supv *s, tr__sup_req *r) {
    if (s->strategy != TR_SUP_DYNAMIC)
        return TR_EINVAL;
    tr_child_spec spec = s->tmpl;
    spec.id = NULL; /* dynamic children have no id */
    if (spec.start != NULL)
        spec.arg = r->arg;
    else
        spec.opts.arg = r->arg;
    return add_and_start(s, &spec, &r->res->ref);
}

/* The stopped child `id` of a static supervisor, for restart and delete:
 * 0 with *out, or TR_EINVAL (dynamic), TR_ENOTFOUND, if_running (it runs)
 * or TR_ERESTARTING (waiting for a restart). */
static int find_stopped(supv *s, const char *id, int if_running, child **out) {
    if (s->strategy == TR_SUP_DYNAMIC)
        return TR_EINVAL;
    child *c = find_id(s, id);
    if (c == NULL)
        return TR_ENOTFOUND;
    if (c->ref != NULL)
        return if_running;
    if (c->state == C_DUE)
        return TR_ERESTARTING;
    *out = c;
    return 0;
}

static int req_restart(supv *s, tr__sup_req *r) {
    child *c;
    int rc = find_stopped(s, r->id, TR_EALREADY, &c);
    if (rc != 0)
        return rc;
    rc = child_start(s, c, c->restarts);
    if (rc == 0) {
        tr_ref_retain(c->ref);
        r->res->ref = c->ref;
    }
    return rc < 0 ? rc : 0;
}

static int req_delete(supv *s, tr__sup_req *r) {
    child *c;
    int rc = find_stopped(s, r->id, TR_EBUSY, &c);
    if (rc != 0)
        return rc;
    c->remove = 1;
    compact(s);
    return 0;
}

/* The request needs an operation (then it is answered at its end and this
 * returns 1), or the answer code in *rc. */
static int req_terminate(supv *s, tr__sup_req *r, int *rc) {
    child *c;
    if (r->op == TR__SUP_REQ_TERMINATE) {
        if (s->strategy == TR_SUP_DYNAMIC) {
            *rc = TR_EINVAL;
            return 0;
        }
        c = find_id(s, r->id);
    } else {
        c = find_ref(s, r->child);
    }
    if (c == NULL) {
        /* By handle: an actor that has ended counts as terminated (its
         * entry went with its DOWN). */
        *rc =
            r->op == TR__SUP_REQ_TERMINATE_REF && tr_ref_is_alive(r->child) == 0 ? 0 : TR_ENOTFOUND;
        return 0;
    }
    terminate_one(s, c, &r->msg);
    return 1;
}

static void on_request(supv *s, tr_msg *msg) {
    tr__sup_req *r = (tr__sup_req *)msg;
    if (s->ending) {
        tr__reply_fail(msg, TR_EDEAD); /* as if it came after our end */
        return;
    }
    if (r->op == TR__SUP_REQ_STOP) {
        if (tr_msg_wants_reply(msg)) {
            keep(s, msg);
            msg->next = s->stop_waiters;
            s->stop_waiters = msg;
        }
        begin_shutdown(s, TR_EXIT_NORMAL, 0, "shutdown");
        return;
    }
    if (r->res == NULL) { /* every other request carries its result */
        answer(msg, TR_EINVAL);
        return;
    }
    if (r->op == TR__SUP_REQ_STATS) {
        r->res->stats = s->stats;
        answer(msg, 0);
        return;
    }
    if (s->op != OP_NONE) {
        defer(s, msg);
        return;
    }
    int rc = 0;
    child *c;
    switch (r->op) {
    case TR__SUP_REQ_START_CHILD:
        rc = req_start_child(s, r);
        break;
    case TR__SUP_REQ_START_DYNAMIC:
        rc = req_start_dynamic(s, r);
        break;
    case TR__SUP_REQ_TERMINATE:
    case TR__SUP_REQ_TERMINATE_REF:
        if (req_terminate(s, r, &rc))
            return;
        break;
    case TR__SUP_REQ_RESTART:
        rc = req_restart(s, r);
        break;
    case TR__SUP_REQ_DELETE:
        rc = req_delete(s, r);
        break;
    case TR__SUP_REQ_GET_SPEC:
        if (s->strategy == TR_SUP_DYNAMIC)
            rc = TR_EINVAL;
        else if ((c = find_id(s, r->id)) == NULL)
            rc = TR_ENOTFOUND;
        else
            r->res->spec = c->spec;
        break;
    case TR__SUP_REQ_WHICH:
        rc = fill_info(s, r->res);
        break;
    case TR__SUP_REQ_COUNT:
        fill_counts(s, &r->res->counts);
        break;
    default:
        rc = TR_EINVAL;
    }
    answer(msg, rc);
}

/* --- the actor ----------------------------------------------------------- */

static void handle(supv *s, tr_msg *msg) {
    if (msg->release == tr__sup_req_release)
        on_request(s, msg);
    else if (s->ending)
        return;
    else if (msg->type == TR_MSG_DOWN || msg->type == TR_MSG_EXIT)
        on_exit_msg(s, msg);
    else if (msg->type == TR__A_TIMER)
        on_timer(s, msg);
    else if (msg->type == TR__MSG_STOP) /* tr_actor_stop */
        begin_shutdown(s, TR_EXIT_SHUTDOWN, 0, "shutdown");
    /* Anything else (results of our own calls, stray user messages) is
     * ignored. */
}

static int sup_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    supv *s = state;
    s->ctx = ctx;
    handle(s, msg);
    if (!s->ending)
        rearm(s);
    else if (s->timer_armed) {
        tr__atimer_disarm(s->rt, &s->timer);
        s->timer_armed = 0;
    }
    return 0;
}

static void free_all(supv *s) {
    tr__atimer_disarm(s->rt, &s->timer);
    s->timer_armed = 0;
    tr_msg *lists[3] = {s->def_head, s->stop_waiters, s->op_req};
    s->def_head = s->def_tail = s->stop_waiters = s->op_req = NULL;
    for (int k = 0; k < 2; k++) {
        while (lists[k] != NULL) {
            tr_msg *m = lists[k];
            lists[k] = m->next;
            m->next = NULL;
            tr__msg_destroy(m, TR_EDEAD);
        }
    }
    if (lists[2] != NULL)
        tr__msg_destroy(lists[2], TR_EDEAD);
    for (size_t i = 0; i < s->n; i++)
        child_gone(&s->kids[i]);
    free(s->kids);
    free(s->list);
    s->kids = NULL;
    s->list = NULL;
    s->n = s->cap = 0;
    tr__restarts_free(&s->rs);
}

static void sup_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    supv *s = state;
    s->ctx = ctx;
    tr__sup_untrack(s->rt, tr_self(ctx));
    /* Forced end (or the orderly one, with nothing left running): ask the
     * children to go, newest first (killed if we were killed or crashed). */
    for (size_t i = s->n; i-- > 0;) {
        child *c = &s->kids[i];
        if (c->ref == NULL)
            continue;
        if (why->kind == TR_EXIT_NORMAL || why->kind == TR_EXIT_SHUTDOWN)
            tr_actor_stop(c->ref);
        else
            tr_actor_kill(c->ref);
    }
    free_all(s);
}

static int sup_init(tr_ctx *ctx, void *state, void *arg) {
    supv *s = state;
    tr__sup_start_arg *sa = arg;
    const tr_sup_config *cfg = sa->cfg;
    s->ctx = ctx;
    s->rt = tr_ctx_runtime(ctx);
    s->name = cfg->name != NULL ? cfg->name : "supervisor";
    s->strategy = cfg->strategy;
    s->autos = cfg->auto_shutdown;
    int rc =
        tr__restarts_init(&s->rs, cfg->intensity, cfg->period_ms, cfg->clock_ms, cfg->clock_user,
                          cfg->backoff_min_ms, cfg->backoff_max_ms, cfg->backoff_jitter);
    if (rc != 0) {
        tr__restarts_free(&s->rs);
        return rc;
    }
    tr_trap_exit(ctx, 1);
    tr__actor_stop_as_message(ctx);
    /* Known to drains from here: every return below but the last is a
     * success, after which terminate (which untracks) runs once. */
    tr__sup_track(s->rt, tr_self(ctx), sa->root);
    tr__ameta_role_owner(ctx, TR_ROLE_SUPERVISOR, (int)cfg->strategy);
    if (cfg->strategy == TR_SUP_DYNAMIC) {
        s->tmpl = cfg->children[0];
        return 0;
    }
    for (size_t i = 0; i < cfg->nchildren; i++) {
        rc = add_and_start(s, &cfg->children[i], NULL);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        return 0;
    size_t running = 0;
    for (size_t i = 0; i < s->n; i++)
        running += s->kids[i].ref != NULL;
    if (running > 0) {
        /* OTP: the children already started are stopped in reverse order,
         * each per its shutdown setting. That takes messages (their DOWNs,
         * a deadline), so this actor lives on to do it and then ends;
         * tr_sup_start reports the failure. */
        sa->child_rc = rc;
        begin_shutdown(s, TR_EXIT_SHUTDOWN, 0, "child start failed");
        rearm(s);
        return 0;
    }
    tr__sup_untrack(s->rt, tr_self(ctx));
    free_all(s);
    return rc;
}

const tr_behavior tr__sup_behavior = {
    .init = sup_init,
    .receive = sup_receive,
    .terminate = sup_terminate,
};

size_t tr__sup_state_size(void) {
    return sizeof(supv);
}
