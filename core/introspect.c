/* core/introspect.c - snapshots of a running runtime (troupe/introspect.h).
 *
 * The walk: copy the list of block chunks under pool_lock (a short hold;
 * chunks never move and live until the runtime is freed), then visit every
 * block without a lock. A block whose reference count is above zero is
 * held for the copy by a conditional increment (as tr__sender_retain), so
 * it cannot be recycled into another actor while its fields are read; its
 * alive flag says whether it is an actor still. Why this is consistent:
 *  - no actor twice: an actor lives in one block for its whole life, and
 *    each block is visited once;
 *  - every actor alive from the start of the walk to its end is seen: its
 *    block was in a chunk that existed at the start (the copied list), and
 *    its count and alive flag stay up the whole time;
 *  - each entry's fields are one incarnation's: the held count keeps the
 *    block from being reused, and the id is read under it.
 * Nothing waits for a worker: the owner keeps running while its counters
 * are read, each with a single load (a counter is whole, the set of them is
 * not from one instant). The supervisor tree is built from the tags
 * actors/ sets on the actors it starts (core/metrics.h): core does not know
 * what a supervisor is. */
#define _GNU_SOURCE /* qsort_r */
#include <ck_pr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/futex.h"
#include "core/blocks.h"
#include "core/metrics.h"
#include "core/name.h"
#include "core/runtime.h"
#include "troupe/error.h"
#include "troupe/introspect.h"

/* The snapshot and everything it points to, freed together. */
typedef struct snap_full {
    tr_snapshot pub;
    tr_worker_info *workers;
    tr_actor_info *actors;
    size_t cap;
    tr_sup_node *sups;
    size_t *child_idx;
    uint32_t *hists; /* 2 * TR_HIST_BUCKETS per actor with timing */
    size_t nhists, hists_cap;
} snap_full;

/* A reference to a, only while its count is above zero (see the top). */
static int try_hold(tr_actor *a) {
    uint32_t r = ck_pr_load_32(&a->refs);
    do {
        if (r == 0)
            return 0;
    } while (!ck_pr_cas_32_value(&a->refs, r, r + 1, &r));
    /* Pairs with the release before the count's store in tr_spawn: the
     * fields of the incarnation we now hold are visible. */
    TR__TSAN_ACQUIRE(&a->refs);
    return 1;
}

static int grow_actors(snap_full *s) {
    size_t cap = s->cap ? s->cap * 2 : 64;
    tr_actor_info *n = realloc(s->actors, cap * sizeof(*n));
    if (n == NULL)
        return TR_ENOMEM;
    s->actors = n;
    s->cap = cap;
    return 0;
}

static uint32_t *hist_slot(snap_full *s) {
    if (s->nhists == s->hists_cap) {
        size_t cap = s->hists_cap ? s->hists_cap * 2 : 16;
        uint32_t *n = realloc(s->hists, cap * 2 * TR_HIST_BUCKETS * sizeof(*n));
        if (n == NULL)
            return NULL;
        s->hists = n;
        s->hists_cap = cap;
    }
    return &s->hists[(s->nhists++) * 2 * TR_HIST_BUCKETS];
}

/* Copy the held actor a into o. 0, 1 if it is no longer alive, or
 * TR_ENOMEM (no room for its histograms: the snapshot fails rather than
 * show the actor with none). Histogram copies go to a scratch area
 * (hist_off: index into s->hists, or -1). */
static int copy_actor(snap_full *s, tr_actor *a, tr_actor_info *o, long *hist_off,
                      tr_actor *const *running, unsigned nworkers) {
    if (!ck_pr_load_8(&a->alive))
        return 1;
    memset(o, 0, sizeof(*o));
    o->id = a->id; /* stable while held */
    o->worker = -1;
    o->slot = -1;
    o->strategy = -1;
    o->mailbox_cap = a->mbox.cap == TR__MBOX_CAP_COUNTED ? 0 : a->mbox.cap;
    o->mailbox_exact = a->mbox.cap != 0;
    int64_t len = tr_ref_mailbox_len(a);
    o->mailbox_len = len > 0 ? len : 0;
    o->messages = ck_pr_load_64(&a->activity);
    *hist_off = -1;
    tr__ameta *m = tr__ameta_peek_any(a); /* acquires: pairs with its install */
    if (m != NULL) {
        o->parent_id = ck_pr_load_64(&m->parent_id);
        o->slot = (int)ck_pr_load_32((uint32_t *)&m->slot);
        o->restarts = ck_pr_load_32(&m->restarts);
        o->role = (tr_actor_role)ck_pr_load_32(&m->role);
        o->strategy = (int)ck_pr_load_32((uint32_t *)&m->strategy);
        o->children_restarted = ck_pr_load_64(&m->children_restarted);
        o->dead_letters = ck_pr_load_64(&m->dead_letters);
        o->busy_ns = ck_pr_load_64(&m->busy_ns);
        uint32_t h[2 * TR_HIST_BUCKETS];
        int any = 0;
        for (unsigned i = 0; i < TR_HIST_BUCKETS; i++) {
            h[i] = ck_pr_load_32(&m->handler_hist[i]);
            h[TR_HIST_BUCKETS + i] = ck_pr_load_32(&m->mailbox_hist[i]);
            any |= h[i] != 0 || h[TR_HIST_BUCKETS + i] != 0;
        }
        if (any) {
            uint32_t *slot = hist_slot(s);
            if (slot == NULL)
                return TR_ENOMEM;
            memcpy(slot, h, sizeof(h));
            *hist_off = (long)(s->nhists - 1);
        }
    }
    tr__actor_name(a, o->name, sizeof(o->name)); /* core/name.h: the one format */
    for (unsigned i = 0; i < nworkers; i++)
        if (running[i] == a)
            o->worker = (int)i;
    const tr_msg *t = ck_pr_load_ptr(&a->mbox.tail);
    if (ck_pr_load_8(&a->stop_req) || tr__mbox_refuses(t))
        o->state = TR_ACTOR_STOPPING;
    else if (o->worker >= 0)
        o->state = TR_ACTOR_RUNNING;
    else if (t == TR__MBOX_IDLE)
        o->state = TR_ACTOR_IDLE;
    else
        o->state = o->mailbox_len > 0 ? TR_ACTOR_QUEUED : TR_ACTOR_IDLE;
    return 0;
}

static int by_id(const void *x, const void *y) {
    const tr_actor_info *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id;
}

static void fill_runtime(tr_runtime *rt, tr_runtime_info *o, uint64_t now) {
    tr_runtime_stats st;
    tr_runtime_stats_get(rt, &st);
    o->taken_ns = now;
    uint64_t start = rt->start_ns;
    o->uptime_ns = now > start ? now - start : 0;
    o->metrics = tr_runtime_metrics(rt);
    o->closed = tr_runtime_is_closed(rt);
    o->workers = rt->nworkers;
    o->actors_alive = st.actors_alive;
    o->actors_spawned = st.actors_spawned;
    o->dead_letters = st.dead_letters;
    for (unsigned i = 0; i < TR_DEAD_REASONS; i++)
        o->dead_letters_by[i] = ck_pr_load_64(&rt->dead_by[i]);
    int64_t asks = ck_pr_load_64((uint64_t *)&rt->asks_outstanding);
    o->asks_outstanding = asks > 0 ? (uint64_t)asks : 0;
    o->asks_timed_out = ck_pr_load_64(&rt->asks_timed_out);
    o->global_queue = tr__inject_nonempty_any(&rt->global) ? 1 : 0;
    o->steals = st.steals;
    o->parks = st.parks;
    o->stash_overflows = st.stash_overflows;
    o->loops_helped = st.loops_helped;
}

static void fill_worker(tr__worker *w, tr_worker_info *o, uint64_t now, uint64_t uptime) {
    memset(o, 0, sizeof(*o));
    o->id = w->id;
    o->parked = (int)ck_pr_load_32(&w->parked);
    o->turns = ck_pr_load_64(&w->picks); /* one a turn (core/worker.c) */
    o->steals = ck_pr_load_64(&w->steals);
    o->parks = ck_pr_load_64(&w->parks);
    o->helps = ck_pr_load_64(&w->helps);
    o->spawned = ck_pr_load_64(&w->spawned);
    uint64_t parked = ck_pr_load_64(&w->parked_ns);
    uint64_t since = ck_pr_load_64(&w->park_since);
    if (since != 0 && now > since)
        parked += now - since; /* asleep now: count the sleep so far */
    o->parked_ns = parked < uptime ? parked : uptime;
    o->busy_ns = uptime - o->parked_ns;
    int64_t q = tr__deque_size_any(&w->dq);
    o->run_queue = (q > 0 ? (uint64_t)q : 0) + (ck_pr_load_ptr(&w->lifo) != NULL);
    o->loop_lag_ns = ck_pr_load_64(&w->lag_ns);
    o->loop_lag_max_ns = ck_pr_load_64(&w->lag_max_ns);
}

static int parent_order(const void *x, const void *y, void *ctx) {
    const tr_actor_info *acts = ctx;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    if (acts[i].parent_id != acts[j].parent_id)
        return acts[i].parent_id < acts[j].parent_id ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Supervisors and pool routers with the indices of their children. */
static int build_tree(snap_full *s) {
    size_t n = s->pub.nactors, nsups = 0;
    tr_actor_info *acts = s->actors;
    for (size_t i = 0; i < n; i++)
        nsups += acts[i].role == TR_ROLE_SUPERVISOR || acts[i].role == TR_ROLE_POOL;
    if (nsups == 0)
        return 0;
    s->sups = calloc(nsups, sizeof(*s->sups));
    s->child_idx = malloc((n ? n : 1) * sizeof(size_t));
    if (s->sups == NULL || s->child_idx == NULL)
        return TR_ENOMEM;
    for (size_t i = 0; i < n; i++)
        s->child_idx[i] = i;
    qsort_r(s->child_idx, n, sizeof(size_t), parent_order, acts);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (acts[i].role != TR_ROLE_SUPERVISOR && acts[i].role != TR_ROLE_POOL)
            continue;
        tr_sup_node *sn = &s->sups[k++];
        sn->actor = i;
        /* The run of child_idx whose parent is acts[i]: binary search. */
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (acts[s->child_idx[mid]].parent_id < acts[i].id)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t end = lo;
        while (end < n && acts[s->child_idx[end]].parent_id == acts[i].id)
            end++;
        sn->children = &s->child_idx[lo];
        sn->nchildren = end - lo;
    }
    s->pub.sups = s->sups;
    s->pub.nsups = nsups;
    return 0;
}

static void snap_destroy(snap_full *s) {
    free(s->workers);
    free(s->actors);
    free(s->sups);
    free(s->child_idx);
    free(s->hists);
    free(s);
}

void tr_snapshot_free(tr_snapshot *snap) {
    if (snap != NULL)
        snap_destroy((snap_full *)snap);
}

int tr_snapshot_take(tr_runtime *rt, tr_snapshot **out) {
    if (rt == NULL || out == NULL)
        return TR_EINVAL;
    /* The chunk list's lock may have been held by a parent's thread at the
     * fork, and nothing of the parent's runtime runs here anyway. */
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    snap_full *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return TR_ENOMEM;
    unsigned nw = rt->nworkers;
    s->workers = calloc(nw ? nw : 1, sizeof(*s->workers));
    tr_actor **running = calloc(nw ? nw : 1, sizeof(*running));
    size_t nchunks = 0;
    int nomem = 0;
    void **chunks = tr__blocks_chunks_any(rt, &nchunks, &nomem);
    long *hoff = NULL;
    if (s->workers == NULL || running == NULL || nomem)
        goto nomem;
    uint64_t now = tr__mono_ns();
    fill_runtime(rt, &s->pub.runtime, now);
    for (unsigned i = 0; i < nw; i++) {
        fill_worker(&rt->workers[i], &s->workers[i], now, s->pub.runtime.uptime_ns);
        /* A pointer compared, never followed: the worker's current actor. */
        running[i] = ck_pr_load_ptr(&rt->workers[i].frame.actor);
    }
    size_t n = 0, hcap = 0;
    for (size_t c = 0; c < nchunks; c++) {
        size_t nblocks, stride;
        tr_actor *blocks = tr__blocks_of_chunk(chunks[c], &nblocks, &stride);
        for (size_t b = 0; b < nblocks; b++) {
            tr_actor *a = tr__block_at(blocks, b, stride);
            if (ck_pr_load_32(&a->refs) == 0 || !try_hold(a))
                continue;
            if (n == s->cap && grow_actors(s) != 0) {
                tr_ref_release(a);
                goto nomem;
            }
            if (n == hcap) {
                hcap = s->cap;
                long *h = realloc(hoff, hcap * sizeof(*h));
                if (h == NULL) {
                    tr_ref_release(a);
                    goto nomem;
                }
                hoff = h;
            }
            int gone = copy_actor(s, a, &s->actors[n], &hoff[n], running, nw);
            tr_ref_release(a);
            if (gone < 0)
                goto nomem;
            if (!gone)
                n++;
        }
    }
    /* Histogram pointers once the scratch area stops moving. */
    for (size_t i = 0; i < n; i++) {
        if (hoff[i] >= 0) {
            uint32_t *h = &s->hists[(size_t)hoff[i] * 2 * TR_HIST_BUCKETS];
            s->actors[i].handler_hist = h;
            s->actors[i].mailbox_hist = h + TR_HIST_BUCKETS;
            s->actors[i].handler_p50_ns = tr_hist_quantile(h, 0.5);
            s->actors[i].handler_p99_ns = tr_hist_quantile(h, 0.99);
            s->actors[i].mailbox_p50_ns = tr_hist_quantile(h + TR_HIST_BUCKETS, 0.5);
            s->actors[i].mailbox_p99_ns = tr_hist_quantile(h + TR_HIST_BUCKETS, 0.99);
        }
    }
    /* Sorted after the pointers are set: they point into hists, not actors. */
    if (n > 1)
        qsort(s->actors, n, sizeof(*s->actors), by_id);
    for (size_t i = 0; i < n; i++)
        for (unsigned w = 0; w < nw; w++)
            if (s->actors[i].worker == (int)w)
                s->workers[w].current_id = s->actors[i].id;
    s->pub.nactors = n;
    s->pub.actors = s->actors;
    s->pub.nworkers = nw;
    s->pub.workers = s->workers;
    if (build_tree(s) != 0)
        goto nomem;
    free(hoff);
    free(chunks);
    free(running);
    *out = &s->pub;
    return 0;
nomem:
    free(hoff);
    free(chunks);
    free(running);
    snap_destroy(s);
    return TR_ENOMEM;
}

const tr_actor_info *tr_snapshot_find(const tr_snapshot *snap, uint64_t id) {
    if (snap == NULL)
        return NULL;
    size_t lo = 0, hi = snap->nactors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint64_t m = snap->actors[mid].id;
        if (m == id)
            return &snap->actors[mid];
        if (m < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* --- text ------------------------------------------------------------------- */

typedef struct out {
    char *buf;
    size_t len, used; /* used: bytes the full text needs so far */
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *dst = o->used < o->len ? o->buf + o->used : NULL;
    size_t room = o->used < o->len ? o->len - o->used : 0;
    int k = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->used += (size_t)k;
}

static const char *state_name(tr_actor_state s) {
    switch (s) {
    case TR_ACTOR_IDLE:
        return "idle";
    case TR_ACTOR_QUEUED:
        return "queued";
    case TR_ACTOR_RUNNING:
        return "running";
    case TR_ACTOR_STOPPING:
        return "stopping";
    }
    return "?";
}

static const char *role_name(tr_actor_role r) {
    switch (r) {
    case TR_ROLE_SUPERVISOR:
        return " supervisor";
    case TR_ROLE_POOL:
        return " pool";
    case TR_ROLE_POOL_WORKER:
        return " pool-worker";
    case TR_ROLE_ACTOR:
        break;
    }
    return "";
}

static void put_actor(out *o, const tr_snapshot *s, size_t i, unsigned depth) {
    const tr_actor_info *a = &s->actors[i];
    put(o, "actor %*s#%llu \"%s\"%s parent #%llu %s mailbox %lld", (int)(2 * depth), "",
        (unsigned long long)a->id, a->name, role_name(a->role), (unsigned long long)a->parent_id,
        state_name(a->state), (long long)a->mailbox_len);
    if (a->mailbox_cap != 0)
        put(o, "/%u", a->mailbox_cap);
    put(o, " msgs %llu dead %llu restarts %u", (unsigned long long)a->messages,
        (unsigned long long)a->dead_letters, a->restarts);
    if (a->worker >= 0)
        put(o, " on %d", a->worker);
    if (a->role == TR_ROLE_SUPERVISOR || a->role == TR_ROLE_POOL)
        put(o, " restarted %llu", (unsigned long long)a->children_restarted);
    if (a->handler_hist != NULL)
        put(o, " busy %.3fms handler p50 %lluns p99 %lluns mailbox p50 %lluns p99 %lluns",
            (double)a->busy_ns / 1e6, (unsigned long long)a->handler_p50_ns,
            (unsigned long long)a->handler_p99_ns, (unsigned long long)a->mailbox_p50_ns,
            (unsigned long long)a->mailbox_p99_ns);
    put(o, "\n");
}

/* a's children (entries whose parent is a), depth first, in id order. */
static void put_subtree(out *o, const tr_snapshot *s, size_t i, unsigned depth) {
    put_actor(o, s, i, depth);
    if (depth >= 32)
        return;
    for (size_t k = 0; k < s->nsups; k++) {
        if (s->sups[k].actor != i)
            continue;
        for (size_t c = 0; c < s->sups[k].nchildren; c++)
            put_subtree(o, s, s->sups[k].children[c], depth + 1);
    }
}

static int is_listed_child(const tr_snapshot *s, const tr_actor_info *a) {
    if (a->parent_id == 0)
        return 0;
    const tr_actor_info *p = tr_snapshot_find(s, a->parent_id);
    return p != NULL && (p->role == TR_ROLE_SUPERVISOR || p->role == TR_ROLE_POOL);
}

int tr_snapshot_format(const tr_snapshot *snap, char *buf, size_t len, size_t *needed) {
    if (snap == NULL || (buf == NULL && len > 0))
        return TR_EINVAL;
    out o = {buf, len, 0};
    const tr_runtime_info *r = &snap->runtime;
    put(&o,
        "runtime: workers %u, actors %llu listed, %llu alive, %llu spawned, dead letters %llu "
        "(stopped %llu "
        "shutdown %llu dropped %llu), asks %llu outstanding %llu timed out, metrics %s, uptime "
        "%.3fs%s\n",
        r->workers, (unsigned long long)snap->nactors, (unsigned long long)r->actors_alive,
        (unsigned long long)r->actors_spawned, (unsigned long long)r->dead_letters,
        (unsigned long long)r->dead_letters_by[TR_DEAD_STOPPED],
        (unsigned long long)r->dead_letters_by[TR_DEAD_SHUTDOWN],
        (unsigned long long)r->dead_letters_by[TR_DEAD_DROPPED],
        (unsigned long long)r->asks_outstanding, (unsigned long long)r->asks_timed_out,
        r->metrics == TR_METRICS_TIMING ? "timing" : "basic", (double)r->uptime_ns / 1e9,
        r->closed ? ", closed" : "");
    for (size_t i = 0; i < snap->nworkers; i++) {
        const tr_worker_info *w = &snap->workers[i];
        uint64_t total = w->busy_ns + w->parked_ns;
        put(&o,
            "worker %u: busy %.1f%% turns %llu steals %llu parks %llu runq %llu lag %lluus max "
            "%lluus %s",
            w->id, total ? 100.0 * (double)w->busy_ns / (double)total : 0.0,
            (unsigned long long)w->turns, (unsigned long long)w->steals,
            (unsigned long long)w->parks, (unsigned long long)w->run_queue,
            (unsigned long long)(w->loop_lag_ns / 1000),
            (unsigned long long)(w->loop_lag_max_ns / 1000), w->parked ? "parked" : "awake");
        if (w->current_id != 0)
            put(&o, " running #%llu", (unsigned long long)w->current_id);
        put(&o, "\n");
    }
    for (size_t i = 0; i < snap->nactors; i++)
        if (!is_listed_child(snap, &snap->actors[i]))
            put_subtree(&o, snap, i, 0);
    if (needed != NULL)
        *needed = o.used;
    if (len > 0 && o.used >= len) {
        buf[len - 1] = '\0';
        return TR_E2BIG;
    }
    return len > 0 ? 0 : (o.used == 0 ? 0 : TR_E2BIG);
}
