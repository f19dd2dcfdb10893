/* core/prometheus.c - the Prometheus text exposition (format 0.0.4).
 *
 * One metric family at a time: "# HELP name text", "# TYPE name type", then
 * its samples, `name{label="value",...} value`, label values escaped
 * (\\, \", \n). Counters end in _total; times are in seconds. Everything is
 * read from one snapshot (troupe/introspect.h), so the families agree with
 * each other. Workers are labelled worker="N"; actors actor="name#id" (the
 * snapshot's best name, or the role when it has none, then the id, so two
 * actors never share a label), and troupe_actor_info carries each actor's
 * id, name, parent (the parent's actor label), role and state, from which a
 * reader such as troupe-top draws the supervision tree. Timing families
 * (busy seconds, handler and mailbox quantiles, loop lag) appear only when
 * the runtime gathers them (TR_METRICS_TIMING). */
#include "core/prometheus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "troupe/console.h"
#include "troupe/error.h"
#include "troupe/introspect.h"

static void family(tr__text *t, const char *name, const char *type, const char *help) {
    tr__text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void u64_line(tr__text *t, const char *name, uint64_t v) {
    tr__text_printf(t, "%s %" PRIu64 "\n", name, v);
}

static double secs(uint64_t ns) {
    return (double)ns / 1e9;
}

static const char *role_name(tr_actor_role r) {
    switch (r) {
    case TR_ROLE_SUPERVISOR:
        return "supervisor";
    case TR_ROLE_POOL:
        return "pool";
    case TR_ROLE_POOL_WORKER:
        return "pool_worker";
    default:
        return "actor";
    }
}

static const char *state_name(tr_actor_state s) {
    switch (s) {
    case TR_ACTOR_QUEUED:
        return "queued";
    case TR_ACTOR_RUNNING:
        return "running";
    case TR_ACTOR_STOPPING:
        return "stopping";
    default:
        return "idle";
    }
}

/* actor="name#id", the label that identifies an actor in every family. */
static void actor_label(tr__text *t, const tr_actor_info *a) {
    tr__text_append(t, "actor=\"", 7);
    tr__text_label(t, a->name[0] != '\0' ? a->name : role_name(a->role));
    tr__text_printf(t, "#%" PRIu64 "\"", a->id);
}

static void runtime_families(tr__text *t, const tr_runtime_info *r) {
    static const char *reasons[TR_DEAD_REASONS] = {"other", "stopped", "shutdown", "dropped"};
    family(t, "troupe_uptime_seconds", "gauge", "Seconds since the runtime started.");
    tr__text_printf(t, "troupe_uptime_seconds %.3f\n", secs(r->uptime_ns));
    family(t, "troupe_metrics_level", "gauge", "Metrics level: 1 basic, 2 timing.");
    u64_line(t, "troupe_metrics_level", (uint64_t)r->metrics);
    family(t, "troupe_workers", "gauge", "Worker threads.");
    u64_line(t, "troupe_workers", r->workers);
    family(t, "troupe_actors_alive", "gauge", "Actors alive.");
    u64_line(t, "troupe_actors_alive", r->actors_alive);
    family(t, "troupe_actors_spawned_total", "counter", "Actors spawned since start.");
    u64_line(t, "troupe_actors_spawned_total", r->actors_spawned);
    family(t, "troupe_dead_letters_total", "counter", "Messages dead-lettered, by reason.");
    for (int i = 0; i < TR_DEAD_REASONS; i++)
        tr__text_printf(t, "troupe_dead_letters_total{reason=\"%s\"} %" PRIu64 "\n", reasons[i],
                        r->dead_letters_by[i]);
    family(t, "troupe_asks_outstanding", "gauge", "Asks whose future is not settled yet.");
    u64_line(t, "troupe_asks_outstanding", r->asks_outstanding);
    family(t, "troupe_asks_timed_out_total", "counter", "Future waits that timed out.");
    u64_line(t, "troupe_asks_timed_out_total", r->asks_timed_out);
    family(t, "troupe_global_queue", "gauge", "Actors waiting in the global run queue.");
    u64_line(t, "troupe_global_queue", r->global_queue);
    family(t, "troupe_stash_overflows_total", "counter", "tr_stash calls refused (full).");
    u64_line(t, "troupe_stash_overflows_total", r->stash_overflows);
}

/* A worker family: one sample per worker, the value from get(). */
typedef double (*worker_get)(const tr_worker_info *w);

static void worker_family(tr__text *t, const tr_snapshot *s, const char *name, const char *type,
                          const char *help, worker_get get, const char *fmt) {
    family(t, name, type, help);
    for (size_t i = 0; i < s->nworkers; i++) {
        tr__text_printf(t, "%s{worker=\"%u\"} ", name, s->workers[i].id);
        tr__text_printf(t, fmt, get(&s->workers[i]));
        tr__text_append(t, "\n", 1);
    }
}

#define WGET(field, expr)                                                                          \
    static double w_##field(const tr_worker_info *w) {                                             \
        return (double)(expr);                                                                     \
    }
WGET(turns, w->turns)
WGET(steals, w->steals)
WGET(parks, w->parks)
WGET(helps, w->helps)
WGET(busy, secs(w->busy_ns))
WGET(parked_s, secs(w->parked_ns))
WGET(queue, w->run_queue)
WGET(parked, w->parked)
WGET(lag, secs(w->loop_lag_ns))
WGET(lag_max, secs(w->loop_lag_max_ns))

static void worker_families(tr__text *t, const tr_snapshot *s) {
    worker_family(t, s, "troupe_worker_turns_total", "counter", "Actor turns run.", w_turns,
                  "%.0f");
    worker_family(t, s, "troupe_worker_steals_total", "counter",
                  "Steal batches taken from other workers.", w_steals, "%.0f");
    worker_family(t, s, "troupe_worker_parks_total", "counter", "Times the worker went to sleep.",
                  w_parks, "%.0f");
    worker_family(t, s, "troupe_worker_helps_total", "counter",
                  "Loops of stuck workers this one ran.", w_helps, "%.0f");
    worker_family(t, s, "troupe_worker_busy_seconds_total", "counter",
                  "Seconds awake (not parked) since start.", w_busy, "%.6f");
    worker_family(t, s, "troupe_worker_parked_seconds_total", "counter",
                  "Seconds asleep since start.", w_parked_s, "%.6f");
    worker_family(t, s, "troupe_worker_run_queue", "gauge", "Actors waiting in its local queue.",
                  w_queue, "%.0f");
    worker_family(t, s, "troupe_worker_parked", "gauge", "1 if the worker is asleep now.", w_parked,
                  "%.0f");
    if (s->runtime.metrics >= TR_METRICS_TIMING) {
        worker_family(t, s, "troupe_worker_loop_lag_seconds", "gauge",
                      "Latest gap between two polls of its event loop while busy.", w_lag, "%.9f");
        worker_family(t, s, "troupe_worker_loop_lag_max_seconds", "gauge",
                      "Longest gap between two polls of its event loop while busy.", w_lag_max,
                      "%.9f");
    }
}

static void actor_info(tr__text *t, const tr_snapshot *s, char **labels) {
    family(t, "troupe_actor_info", "gauge",
           "Each actor (value 1): id, name, parent actor, role, state, exact depth or not.");
    for (size_t i = 0; i < s->nactors; i++) {
        const tr_actor_info *a = &s->actors[i];
        tr__text_printf(t, "troupe_actor_info{%s,id=\"%" PRIu64 "\",name=\"", labels[i], a->id);
        tr__text_label(t, a->name);
        tr__text_append(t, "\",parent=\"", 10);
        const tr_actor_info *p = a->parent_id ? tr_snapshot_find(s, a->parent_id) : NULL;
        if (p != NULL) {
            tr__text_label(t, p->name[0] != '\0' ? p->name : role_name(p->role));
            tr__text_printf(t, "#%" PRIu64, p->id);
        }
        tr__text_printf(t, "\",role=\"%s\",state=\"%s\",mailbox_exact=\"%d\"} 1\n",
                        role_name(a->role), state_name(a->state), a->mailbox_exact ? 1 : 0);
    }
}

typedef double (*actor_get)(const tr_actor_info *a);

static void actor_family(tr__text *t, const tr_snapshot *s, char **labels, const char *name,
                         const char *type, const char *help, actor_get get, const char *fmt) {
    family(t, name, type, help);
    for (size_t i = 0; i < s->nactors; i++) {
        tr__text_printf(t, "%s{%s} ", name, labels[i]);
        tr__text_printf(t, fmt, get(&s->actors[i]));
        tr__text_append(t, "\n", 1);
    }
}

#define AGET(field, expr)                                                                          \
    static double a_##field(const tr_actor_info *a) {                                              \
        return (double)(expr);                                                                     \
    }
AGET(messages, a->messages)
AGET(depth, a->mailbox_len > 0 ? a->mailbox_len : 0)
AGET(restarts, a->restarts)
AGET(dead_letters, a->dead_letters)
AGET(children_restarted, a->children_restarted)
AGET(busy, secs(a->busy_ns))

/* Quantile gauges from the snapshot's histograms: handler time or time in
 * the mailbox. */
static void quantiles(tr__text *t, const tr_snapshot *s, char **labels, int mailbox) {
    const char *name = mailbox ? "troupe_actor_mailbox_seconds" : "troupe_actor_handler_seconds";
    family(t, name, "gauge",
           mailbox ? "Time from send to receive, quantiles." : "Handler time, quantiles.");
    for (size_t i = 0; i < s->nactors; i++) {
        const tr_actor_info *a = &s->actors[i];
        uint64_t p50 = mailbox ? a->mailbox_p50_ns : a->handler_p50_ns;
        uint64_t p99 = mailbox ? a->mailbox_p99_ns : a->handler_p99_ns;
        tr__text_printf(t, "%s{%s,quantile=\"0.5\"} %.9f\n", name, labels[i], secs(p50));
        tr__text_printf(t, "%s{%s,quantile=\"0.99\"} %.9f\n", name, labels[i], secs(p99));
    }
}

static void actor_families(tr__text *t, const tr_snapshot *s, char **labels) {
    actor_info(t, s, labels);
    actor_family(t, s, labels, "troupe_actor_messages_total", "counter", "Messages handled.",
                 a_messages, "%.0f");
    actor_family(t, s, labels, "troupe_actor_mailbox_depth", "gauge",
                 "Messages queued now (0 or 1 for empty or not unless mailbox_exact).", a_depth,
                 "%.0f");
    actor_family(t, s, labels, "troupe_actor_dead_letters_total", "counter",
                 "Dead letters whose target was this actor (earlier incarnations included).",
                 a_dead_letters, "%.0f");
    actor_family(t, s, labels, "troupe_actor_restarts_total", "counter",
                 "Restarts of its supervisor child or pool slot before this incarnation.",
                 a_restarts, "%.0f");
    actor_family(t, s, labels, "troupe_actor_children_restarted_total", "counter",
                 "Children a supervisor or pool restarted.", a_children_restarted, "%.0f");
    if (s->runtime.metrics < TR_METRICS_TIMING)
        return;
    actor_family(t, s, labels, "troupe_actor_busy_seconds_total", "counter",
                 "Seconds spent in its callbacks.", a_busy, "%.9f");
    quantiles(t, s, labels, 0);
    quantiles(t, s, labels, 1);
}

int tr__prometheus_render_snapshot(const tr_snapshot *s, tr__text *out) {
    char **labels = calloc(s->nactors ? s->nactors : 1, sizeof(char *));
    if (labels == NULL)
        return out->err = TR_ENOMEM;
    tr__text l = {0};
    for (size_t i = 0; i < s->nactors && l.err == 0; i++) {
        l.len = 0;
        actor_label(&l, &s->actors[i]);
        if (l.err == 0 && (labels[i] = strdup(l.buf)) == NULL)
            l.err = TR_ENOMEM;
    }
    int rc = l.err;
    tr__text_free(&l);
    if (rc == 0) {
        runtime_families(out, &s->runtime);
        worker_families(out, s);
        actor_families(out, s, labels);
        rc = out->err;
    }
    for (size_t i = 0; i < s->nactors; i++)
        free(labels[i]);
    free(labels);
    return rc != 0 && out->err == 0 ? (out->err = rc) : rc;
}

int tr__prometheus_render(tr_runtime *rt, tr__text *out) {
    tr_snapshot *s;
    int rc = tr_snapshot_take(rt, &s);
    if (rc != 0)
        return rc;
    rc = tr__prometheus_render_snapshot(s, out);
    tr_snapshot_free(s);
    return rc;
}

int tr_metrics_prometheus(tr_runtime *rt, char *buf, size_t len, size_t *needed) {
    if (rt == NULL || (buf == NULL && len > 0))
        return TR_EINVAL;
    tr__text t = {0};
    int rc = tr__prometheus_render(rt, &t);
    if (rc != 0) {
        tr__text_free(&t);
        return rc;
    }
    size_t full = t.len;
    if (needed != NULL)
        *needed = full;
    size_t n = 0;
    if (len > 0) { /* as much as fits, NUL-terminated */
        n = full < len ? full : len - 1;
        if (n > 0)
            memcpy(buf, t.buf, n);
        buf[n] = '\0';
    }
    tr__text_free(&t);
    return n == full ? 0 : TR_E2BIG;
}
