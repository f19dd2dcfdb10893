/* core/log.c - reports: levels, the hook, crash reports, rate-limited
 * summaries, and the names every report gives an actor.
 *
 * The level is one word per runtime (tr__log.level), resolved at
 * tr_runtime_new from tr_runtime_config.log_level and TROUPE_LOG (which
 * wins) and changed at run time by tr_runtime_set_log_level (which wins
 * over both). Every reporter loads it first: when it says no, nothing is
 * formatted, locked or counted.
 *
 * The hook lives in two slots; `cur` says which is live. A caller counts
 * itself into active[cur] and checks that cur did not move meanwhile (else
 * it retries on the other slot), then calls. tr_runtime_set_logger fills the
 * spare slot once its last callers have left, flips cur, and waits for the
 * old slot's callers to leave: when it returns the old hook runs nowhere.
 *
 * Floods: crashes, restarts and dead letters each have a window per
 * runtime, opened by the first event and one second long. The first
 * burst[kind] events of a window are reported in full; the others are
 * counted by actor (the TR__LOG_TOP most frequent kept by name) and
 * reported as one summary line when the window closes: by a one-shot libev
 * timer on a worker's loop, armed by the first summarised event (directly
 * on a worker, by a post elsewhere), or by the next event after the window,
 * or by tr_runtime_free. At TR_LOG_DEBUG everything is reported in full.
 *
 * Nothing here allocates: records are formatted into stack buffers, since a
 * report may be about memory that ran out. */
#include "core/log.h"

#include <ck_pr.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/lock.h"
#include "core/blocks.h"
#include "core/futex.h"
#include "core/metrics.h"
#include "core/runtime.h"
#include "troupe/error.h"

#define WINDOW_NS 1000000000ull
#define TEXT_MAX 512

/* Events of each kind reported in full per window, below TR_LOG_DEBUG. */
static const unsigned burst[TR__LIM_COUNT] = {3, 10, 0, 5};
static const char *const kind_noun[TR__LIM_COUNT] = {"crashes", "restarts", "dead letters",
                                                     "reports"};
static const char *const kind_subsys[TR__LIM_COUNT] = {"actor", "sup", "deadletter", "runtime"};

/* --- levels ---------------------------------------------------------------- */

const char *tr_log_level_name(tr_log_level level) {
    switch (level) {
    case TR_LOG_DEFAULT:
        return "default";
    case TR_LOG_OFF:
        return "off";
    case TR_LOG_ERROR:
        return "error";
    case TR_LOG_WARN:
        return "warn";
    case TR_LOG_INFO:
        return "info";
    case TR_LOG_DEBUG:
        return "debug";
    }
    return "?";
}

/* TROUPE_LOG's value: a level, TR_LOG_DEFAULT if unset or empty, -1 if not
 * understood. */
static int parse_level(const char *s) {
    static const struct {
        const char *name;
        tr_log_level lv;
    } names[] = {{"off", TR_LOG_OFF},     {"none", TR_LOG_OFF},     {"error", TR_LOG_ERROR},
                 {"warn", TR_LOG_WARN},   {"warning", TR_LOG_WARN}, {"info", TR_LOG_INFO},
                 {"debug", TR_LOG_DEBUG}, {"0", TR_LOG_OFF}};
    if (s == NULL || *s == '\0')
        return TR_LOG_DEFAULT;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].lv;
    return -1;
}

static int valid_setting(int lv) {
    return lv >= TR_LOG_DEFAULT && lv <= TR_LOG_DEBUG;
}

/* The level a runtime falls back to without a run-time setting. */
static uint32_t resolved(const tr__log *l) {
    if (l->env_level != TR_LOG_DEFAULT)
        return (uint32_t)l->env_level;
    if (l->cfg_level != TR_LOG_DEFAULT)
        return (uint32_t)l->cfg_level;
    return TR_LOG_WARN;
}

int tr__log_on(const tr_runtime *rt, tr_log_level lv) {
    /* Relaxed: a level change reaches each thread soon enough; it orders
     * nothing. */
    return (uint32_t)lv <= ck_pr_load_32(&((tr_runtime *)rt)->log.level);
}

int tr_runtime_set_log_level(tr_runtime *rt, tr_log_level level) {
    if (rt == NULL || !valid_setting((int)level))
        return TR_EINVAL;
    if (tr__runtime_forked(rt)) /* as every call on a parent's runtime */
        return TR_EFORKED;
    uint32_t lv = level == TR_LOG_DEFAULT ? resolved(&rt->log) : (uint32_t)level;
    ck_pr_store_32(&rt->log.level, lv); /* relaxed: see tr__log_on */
    return 0;
}

tr_log_level tr_runtime_log_level(const tr_runtime *rt) {
    if (rt == NULL)
        return TR_LOG_OFF;
    return (tr_log_level)ck_pr_load_32(&((tr_runtime *)rt)->log.level);
}

/* --- the hook -------------------------------------------------------------- */

/* Depth of hook calls on this thread: tr_runtime_set_logger from inside one
 * would wait for itself. */
static __thread unsigned tls_in_hook;

static void call_hook(tr_runtime *rt, const tr_log_record *rec) {
    tr__log *l = &rt->log;
    uint32_t i;
    for (;;) {
        i = ck_pr_load_32(&l->cur);
        /* Locked increment, a full barrier: the setter that flips cur away
         * from i after our re-check below waits for us (its load of
         * active[i] comes after its store of cur). */
        ck_pr_inc_32(&l->active[i]);
        if (ck_pr_load_32(&l->cur) == i)
            break;
        ck_pr_dec_32(&l->active[i]); /* flipped meanwhile: use the new slot */
    }
    TR__TSAN_ACQUIRE(&l->hooks[i]); /* pairs with the setter's release */
    tr__log_hook h = l->hooks[i];
    tls_in_hook++;
    h.fn(h.ud, rec);
    tls_in_hook--;
    /* Our last use of the slot, before the locked decrement the setter
     * waits on. */
    TR__TSAN_RELEASE(&l->active[i]);
    ck_pr_dec_32(&l->active[i]);
}

static void wait_idle(uint32_t *active) {
    while (ck_pr_load_32(active) != 0)
        sched_yield();        /* a hook returns quickly (its contract) */
    TR__TSAN_ACQUIRE(active); /* the callers' last uses, before our writes */
}

int tr_runtime_set_logger(tr_runtime *rt, tr_log_fn fn, void *user_data) {
    if (rt == NULL)
        return TR_EINVAL;
    if (tls_in_hook != 0)
        return TR_EDEADLK;
    /* A hook the parent's threads were running at the fork never returns
     * here: wait_idle would wait forever (and set_mu may be held). */
    if (tr__runtime_forked(rt))
        return TR_EFORKED;
    tr__log *l = &rt->log;
    pthread_mutex_lock(&l->set_mu);
    uint32_t old = l->cur, spare = old ^ 1;
    /* Callers that saw `spare` live, two switches ago, are gone before we
     * write it (new callers find cur == old). */
    wait_idle(&l->active[spare]);
    l->hooks[spare].fn = fn != NULL ? fn : tr_log_stderr;
    l->hooks[spare].ud = fn != NULL ? user_data : NULL;
    TR__TSAN_RELEASE(&l->hooks[spare]);
    /* fas: the store and a full barrier, so our load of active[old] below
     * comes after it (pairs with the callers' increment then re-check). */
    ck_pr_fas_32(&l->cur, spare);
    wait_idle(&l->active[old]);
    pthread_mutex_unlock(&l->set_mu);
    return 0;
}

/* --- records and the default reporter --------------------------------------- */

static uint64_t real_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *level_tag(tr_log_level lv) {
    switch (lv) {
    case TR_LOG_ERROR:
        return "ERROR";
    case TR_LOG_WARN:
        return "WARN";
    case TR_LOG_INFO:
        return "INFO";
    case TR_LOG_DEBUG:
        return "DEBUG";
    default:
        return "?";
    }
}

int tr_log_format(const tr_log_record *rec, char *buf, size_t len) {
    if (rec == NULL || (buf == NULL && len > 0))
        return TR_EINVAL;
    time_t sec = (time_t)(rec->time_ns / 1000000000ull);
    unsigned ms = (unsigned)(rec->time_ns % 1000000000ull / 1000000ull);
    struct tm tm;
    if (gmtime_r(&sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    char who[TR__LOG_NAME + 32] = "";
    if (rec->actor_id != 0)
        snprintf(who, sizeof(who), " %s#%llu", rec->actor_name != NULL ? rec->actor_name : "",
                 (unsigned long long)rec->actor_id);
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ %-5s %s%s: %s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ms, level_tag(rec->level), rec->subsystem != NULL ? rec->subsystem : "troupe",
                     who, rec->text != NULL ? rec->text : "");
    return n < 0 ? TR_EINVAL : n;
}

void tr_log_stderr(void *user_data, const tr_log_record *rec) {
    (void)user_data;
    char line[TEXT_MAX + 160];
    int n = tr_log_format(rec, line, sizeof(line) - 1);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) - 2 ? (size_t)n : sizeof(line) - 2;
    line[len++] = '\n';
    /* One write: a line is never split by another thread's. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

/* Fill in the time and the actor, then hand rec to the hook. */
static void emit(tr_runtime *rt, tr_log_record *rec, const tr_actor *a) {
    char name[TR__LOG_NAME];
    rec->time_ns = real_ns();
    if (a != NULL) {
        rec->actor_id = a->id;
        rec->actor_name = tr__actor_name(a, name, sizeof(name)) > 0 ? name : NULL;
    }
    call_hook(rt, rec);
}

static void vtext(tr_runtime *rt, tr_log_level lv, const char *subsystem, const tr_actor *a,
                  const char *fmt, va_list ap) {
    char text[TEXT_MAX];
    vsnprintf(text, sizeof(text), fmt, ap);
    tr_log_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.level = lv;
    rec.subsystem = subsystem;
    rec.text = text;
    emit(rt, &rec, a);
}

void tr__log_text(tr_runtime *rt, tr_log_level lv, const char *subsystem, const tr_actor *a,
                  const char *fmt, ...) {
    if (!tr__log_on(rt, lv))
        return;
    va_list ap;
    va_start(ap, fmt);
    vtext(rt, lv, subsystem, a, fmt, ap);
    va_end(ap);
}

/* --- names ------------------------------------------------------------------ */

static __thread tr__label tls_label;

void tr__label_next(const tr__label *l) {
    if (l != NULL)
        tls_label = *l;
    else
        tls_label.rt = NULL;
}

/* A labelled spawn (a supervisor's or a pool's child) keeps its label in
 * the side blocks (the block's new: none yet); out of memory it goes
 * unlabelled (reports then show its spawn name). Out of line: the test in
 * tr__label_take stays a load and a compare. */
static __attribute__((noinline)) void label_apply(tr_actor *a) {
    tr__actor_ext *e = tls_label.child != NULL ? tr__actor_ext_any(a) : NULL;
    if (e != NULL)
        e->name = tls_label.child; /* before the handle is published */
    tr__ameta *m = tr__ameta_get_any(a);
    if (m != NULL) {
        ck_pr_store_ptr(&m->by, (void *)tls_label.parent);
        ck_pr_store_32(&m->by_slot, tls_label.slot);
        ck_pr_store_32(&m->by_restarts, tls_label.restarts);
    }
    tls_label.rt = NULL; /* once: the child's own spawns are not labelled */
}

void tr__label_take(tr_actor *a) {
    if (TR__LIKELY(tls_label.rt != a->rt)) /* one thread-local load for most spawns */
        return;
    label_apply(a);
}

/* --- windows: rate limits and summaries ------------------------------------ */

static void arm_timer(tr__worker *w, tr_runtime *rt, double after_s);

/* Flush when the earliest open window with summarised events closes. Called
 * by whoever set `armed`, outside the lock. */
static void request_flush(tr_runtime *rt) {
    tr__worker *w = tr__worker_of(rt);
    if (w != NULL && tr__worker_loop_enter_owner(w)) {
        arm_timer(w, rt, 1.0);
        tr__worker_loop_leave_owner(w);
        return;
    }
    tr__worker_post_any(w != NULL ? w : &rt->workers[0], &rt->log.post);
}

static void top_add(tr__log_win *win, int by_name, uint64_t id, int why, const char *name) {
    for (unsigned i = 0; i < win->ntop; i++) {
        tr__log_top *t = &win->top[i];
        if (by_name ? strcmp(t->name, name) == 0 : (t->id == id && t->why == why)) {
            t->n++;
            return;
        }
    }
    if (win->ntop == TR__LOG_TOP) {
        win->other++;
        return;
    }
    tr__log_top *t = &win->top[win->ntop++];
    t->id = id;
    t->why = why;
    t->n = 1;
    snprintf(t->name, sizeof(t->name), "%s", name);
}

static void summary(tr_runtime *rt, unsigned kind, const tr__log_win *win, uint64_t now);

/* Count one event of `kind` at level lv about the actor named `name` (id,
 * why: dead letters' key). 1: report it in full now; 0: summarised. */
static int note_event(tr_runtime *rt, unsigned kind, tr_log_level lv, uint64_t id, int why,
                      const char *name) {
    if (ck_pr_load_32(&rt->log.level) >= TR_LOG_DEBUG)
        return 1; /* debug: everything in full */
    tr__log *l = &rt->log;
    uint64_t now = tr__mono_ns();
    tr__log_win closed;
    closed.start_ns = 0;
    int full, arm = 0;
    tr__spin_lock(&l->lock);
    tr__log_win *win = &l->win[kind];
    if (win->start_ns != 0 && now - win->start_ns >= WINDOW_NS) {
        if (win->events > win->shown)
            closed = *win; /* summarised events: report them below */
        win->start_ns = 0;
    }
    if (win->start_ns == 0) {
        memset(win, 0, sizeof(*win));
        win->start_ns = now;
    }
    win->events++;
    full = win->shown < burst[kind];
    if (full) {
        win->shown++;
    } else {
        top_add(win, kind != TR__LIM_DEAD, id, why, name);
        if (win->worst == 0 || (int)lv < win->worst)
            win->worst = (int)lv;
        if (!l->armed && !l->final) {
            l->armed = 1;
            arm = 1;
        }
    }
    tr__spin_unlock(&l->lock);
    if (closed.start_ns != 0)
        summary(rt, kind, &closed, now);
    if (arm)
        request_flush(rt);
    return full;
}

static const char *why_text(int why) {
    switch (why) {
    case TR_DEAD_STOPPED:
        return "stopped";
    case TR_DEAD_SHUTDOWN:
        return "shutdown";
    case TR_DEAD_DROPPED:
        return "dropped";
    default:
        return "?";
    }
}

static void summary(tr_runtime *rt, unsigned kind, const tr__log_win *win, uint64_t now) {
    uint64_t n = win->events - win->shown;
    tr_log_level lv = win->worst != 0 ? (tr_log_level)win->worst : TR_LOG_WARN;
    if (n == 0 || !tr__log_on(rt, lv))
        return;
    char text[TEXT_MAX];
    size_t len = 0;
    double secs = (double)(now - win->start_ns) / 1e9;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (len < sizeof(text)) {                                                                  \
            int k_ = snprintf(text + len, sizeof(text) - len, __VA_ARGS__);                        \
            len += k_ > 0 ? (size_t)k_ : 0;                                                        \
        }                                                                                          \
    } while (0)
    if (win->shown > 0)
        ADD("%llu more %s in the last %.1f s (%llu reported in full), top:", (unsigned long long)n,
            kind_noun[kind], secs, (unsigned long long)win->shown);
    else
        ADD("%llu %s in the last %.1f s, top %s:", (unsigned long long)n, kind_noun[kind], secs,
            kind == TR__LIM_DEAD ? "targets" : "actors");
    /* The most frequent first (a handful: selection order). */
    int used[TR__LOG_TOP] = {0};
    for (unsigned k = 0; k < win->ntop; k++) {
        unsigned best = 0;
        int found = 0;
        for (unsigned i = 0; i < win->ntop; i++)
            if (!used[i] && (!found || win->top[i].n > win->top[best].n)) {
                best = i;
                found = 1;
            }
        used[best] = 1;
        const tr__log_top *t = &win->top[best];
        if (kind == TR__LIM_DEAD) {
            if (t->id != 0)
                ADD("%s %s#%llu (%s) x %llu", k ? "," : "", t->name, (unsigned long long)t->id,
                    why_text(t->why), (unsigned long long)t->n);
            else
                ADD("%s (no actor) (%s) x %llu", k ? "," : "", why_text(t->why),
                    (unsigned long long)t->n);
        } else {
            ADD("%s %s x %llu", k ? "," : "", t->name[0] ? t->name : "(unnamed)",
                (unsigned long long)t->n);
        }
    }
    if (win->other > 0)
        ADD(", others x %llu", (unsigned long long)win->other);
    if (kind != TR__LIM_DEAD)
        ADD(" (TROUPE_LOG=debug reports each)");
#undef ADD
    tr_log_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.level = lv;
    rec.subsystem = kind_subsys[kind];
    rec.text = text;
    emit(rt, &rec, NULL);
}

/* Report the windows that are over (all of them if `all`). Returns the
 * nanoseconds until the next open window with summarised events closes,
 * 0 if there is none, and clears `armed` then. */
static uint64_t flush_due(tr_runtime *rt, int all) {
    tr__log *l = &rt->log;
    tr__log_win due[TR__LIM_COUNT];
    uint64_t now = tr__mono_ns(), next = 0;
    tr__spin_lock(&l->lock);
    for (unsigned k = 0; k < TR__LIM_COUNT; k++) {
        tr__log_win *win = &l->win[k];
        due[k].start_ns = 0;
        if (win->start_ns == 0)
            continue;
        uint64_t end = win->start_ns + WINDOW_NS;
        if (all || now >= end) {
            if (win->events > win->shown)
                due[k] = *win;
            win->start_ns = 0;
        } else if (win->events > win->shown) {
            uint64_t left = end - now;
            if (next == 0 || left < next)
                next = left;
        }
    }
    if (next == 0)
        l->armed = 0;
    tr__spin_unlock(&l->lock);
    for (unsigned k = 0; k < TR__LIM_COUNT; k++)
        if (due[k].start_ns != 0)
            summary(rt, k, &due[k], now);
    return next;
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)loop;
    (void)revents;
    tr_runtime *rt = t->data;
    tr__worker *w = rt->log.timer_w;
    tr__worker_watchers_add_owner(w, -1);
    uint64_t next = flush_due(rt, 0);
    if (next != 0) /* still armed: a window opened since */
        arm_timer(w, rt, (double)next / 1e9 + 0.001);
}

/* Under w's loop (its owner's turn, a loop callback or a post). */
static void arm_timer(tr__worker *w, tr_runtime *rt, double after_s) {
    tr__log *l = &rt->log;
    l->timer_w = w;
    l->timer.data = rt;
    ev_now_update(tr__worker_loop(w));
    ev_timer_set(&l->timer, after_s, 0.);
    ev_timer_start(tr__worker_loop(w), &l->timer);
    tr__worker_watchers_add_owner(w, 1);
}

static void arm_post(tr__worker *w, tr__post *p) {
    tr_runtime *rt = w->rt;
    (void)p;
    arm_timer(w, rt, 1.0);
}

void tr__log_event(tr_runtime *rt, tr_log_level lv, const char *subsystem, const tr_actor *a,
                   const char *fmt, ...) {
    if (!tr__log_on(rt, lv))
        return;
    char name[TR__LOG_NAME] = "";
    if (a != NULL)
        tr__actor_name(a, name, sizeof(name));
    if (!note_event(rt, TR__LIM_EVENT, lv, 0, 0, name))
        return;
    va_list ap;
    va_start(ap, fmt);
    vtext(rt, lv, subsystem, a, fmt, ap);
    va_end(ap);
}

/* --- crash reports ---------------------------------------------------------- */

static const char *code_name(int code, char *buf, size_t len) {
    const char *s = tr_strerror(code);
    const char *colon = strchr(s, ':');
    if (code >= 0 || strncmp(s, "TR_E?", 5) == 0 || colon == NULL)
        return "";
    snprintf(buf, len, " (%.*s)", (int)(colon - s), s);
    return buf;
}

void tr__log_crash(tr_actor *a, const char *phase, int code, const char *text, const tr_msg *m) {
    tr_runtime *rt = a->rt;
    int is_exit = strcmp(phase, "exit") == 0;
    tr_log_level lv = is_exit ? TR_LOG_INFO : TR_LOG_ERROR;
    if (!tr__log_on(rt, lv))
        return;
    char name[TR__LOG_NAME];
    tr__actor_name(a, name, sizeof(name));
    if (!note_event(rt, TR__LIM_CRASH, lv, a->id, 0, name))
        return;
    char cn[48], what[TEXT_MAX / 2], ctx[TR__LOG_NAME + 64] = "", on[48] = "";
    const char *cname = code_name(code, cn, sizeof(cn));
    if (strcmp(phase, "receive") == 0)
        snprintf(what, sizeof(what), "crashed: its handler returned %d%s", code, cname);
    else if (strcmp(phase, "panic") == 0)
        snprintf(what, sizeof(what), "crashed: tr_panic(%d%s, \"%s\")", code, cname,
                 text != NULL ? text : "");
    else if (strcmp(phase, "init") == 0)
        snprintf(what, sizeof(what), "crashed in init: %s%s%s code %d%s",
                 text != NULL ? "tr_panic \"" : "", text != NULL ? text : "returned",
                 text != NULL ? "\"," : "", code, cname);
    else if (strcmp(phase, "terminate") == 0)
        snprintf(what, sizeof(what), "crashed in terminate: tr_panic(%d%s, \"%s\")", code, cname,
                 text != NULL ? text : "");
    else
        snprintf(what, sizeof(what), "exited with error %d%s \"%s\" (a link or tr_actor_exit)",
                 code, cname, text != NULL ? text : "");
    if (m != NULL)
        snprintf(on, sizeof(on), " while handling message type %u", m->type);
    const tr__ameta *lab = tr__ameta_peek_any(a); /* its label (tr__label_take) */
    if (lab != NULL && lab->by != NULL)
        snprintf(ctx, sizeof(ctx), "; %s \"%s\", restarts %u", lab->by_slot ? "pool" : "supervisor",
                 lab->by, lab->by_restarts);
    char line[TEXT_MAX];
    snprintf(line, sizeof(line), "%s%s%s", what, on, ctx);
    tr_log_record rec;
    memset(&rec, 0, sizeof(rec));
    rec.level = lv;
    rec.subsystem = "actor";
    rec.text = line;
    rec.crash = 1;
    rec.phase = phase;
    rec.exit_code = code;
    rec.exit_text = text != NULL ? text : "error";
    rec.has_msg_type = m != NULL;
    rec.msg_type = m != NULL ? m->type : 0;
    rec.supervisor = lab != NULL ? lab->by : NULL;
    rec.restarts = lab != NULL ? lab->by_restarts : 0;
    emit(rt, &rec, a);
}

/* --- dead letters ------------------------------------------------------------ */

/* The message the dead_letter hook is being called for on this thread, and
 * its target (tr_dead_letter_target). */
static __thread const tr_msg *tls_dl_msg;
static __thread const tr_actor *tls_dl_target;

tr_ref *tr_dead_letter_target(const tr_msg *msg) {
    if (msg == NULL || msg != tls_dl_msg)
        return NULL;
    return (tr_ref *)tls_dl_target;
}

void tr__log_dead_letter(tr_runtime *rt, const tr_msg *msg, int why, const tr_actor *target) {
    if (rt->cfg.dead_letter != NULL) {
        const tr_msg *pm = tls_dl_msg;
        const tr_actor *pt = tls_dl_target;
        tls_dl_msg = msg;
        tls_dl_target = target;
        rt->cfg.dead_letter(rt->cfg.user_data, msg, why);
        tls_dl_msg = pm; /* a hook that dead-letters in turn nests */
        tls_dl_target = pt;
    }
    /* Dead letters at shutdown are expected: info; any other: warn. */
    tr_log_level lv = why == TR_DEAD_SHUTDOWN ? TR_LOG_INFO : TR_LOG_WARN;
    if (!tr__log_on(rt, lv))
        return;
    char name[TR__LOG_NAME] = "";
    if (target != NULL)
        tr__actor_name(target, name, sizeof(name));
    uint64_t id = target != NULL ? target->id : 0;
    if (!note_event(rt, TR__LIM_DEAD, lv, id, why, name))
        return;
    /* In full (TR_LOG_DEBUG): one record per dead letter. */
    tr__log_text(rt, lv, "deadletter", target, "dead letter (%s): message type %u", why_text(why),
                 msg->type);
}

/* --- restarts ----------------------------------------------------------------- */

void tr__log_restart(tr_runtime *rt, tr__log_storm *st, const char *subsystem, const char *who_name,
                     const tr_actor *child, uint32_t restarts) {
    if (!tr__log_on(rt, TR_LOG_WARN))
        return;
    uint64_t now = tr__mono_ns() / 1000000u;
    if (st->n == 0 || now - st->start_ms >= TR__STORM_MS) {
        st->start_ms = now;
        st->n = 0;
    }
    char name[TR__LOG_NAME] = "";
    if (child != NULL)
        tr__actor_name(child, name, sizeof(name));
    if (++st->n == TR__STORM_N + 1)
        tr__log_text(rt, TR_LOG_WARN, subsystem, child,
                     "restart storm: %s \"%s\" made %u restarts within %.0f s (the last: %s)",
                     subsystem, who_name, st->n, (double)TR__STORM_MS / 1000.0,
                     name[0] ? name : "unnamed");
    if (!tr__log_on(rt, TR_LOG_INFO))
        return;
    if (!note_event(rt, TR__LIM_RESTART, TR_LOG_INFO, 0, 0, name))
        return;
    tr__log_text(rt, TR_LOG_INFO, subsystem, child, "restarted by %s \"%s\" (restart %u)",
                 subsystem, who_name, restarts);
}

/* --- life cycle ----------------------------------------------------------------- */

void tr__log_init(tr_runtime *rt) {
    tr__log *l = &rt->log;
    const char *env = getenv("TROUPE_LOG");
    int e = parse_level(env);
    l->env_level = e < 0 ? TR_LOG_DEFAULT : e;
    l->cfg_level = valid_setting(rt->cfg.log_level) ? rt->cfg.log_level : TR_LOG_DEFAULT;
    l->level = resolved(l);
    l->cur = 0;
    l->hooks[0].fn = rt->cfg.log_fn != NULL ? rt->cfg.log_fn : tr_log_stderr;
    l->hooks[0].ud = rt->cfg.log_fn != NULL ? rt->cfg.log_user_data : NULL;
    l->hooks[1] = l->hooks[0];
    pthread_mutex_init(&l->set_mu, NULL);
    l->lock = (ck_spinlock_fas_t)CK_SPINLOCK_FAS_INITIALIZER;
    ev_init(&l->timer, timer_cb);
    l->post.fn = arm_post;
    if (e < 0)
        tr__log_text(rt, TR_LOG_ERROR, "runtime", /* a configuration error */
                     NULL,
                     "TROUPE_LOG=%.32s is not a level (off, error, warn, info, debug): "
                     "using %s",
                     env, tr_log_level_name((tr_log_level)l->level));
}

void tr__log_stop(tr_runtime *rt) {
    tr__spin_lock(&rt->log.lock);
    rt->log.final = 1; /* the loops are gone: nothing may be armed on them */
    tr__spin_unlock(&rt->log.lock);
}

/* Handles held at tr_runtime_free: counted, the first few named. */
typedef struct held {
    unsigned blocks, named;
    uint64_t refs;
    size_t len;
    char text[TEXT_MAX / 2];
} held;

static void held_one(tr_actor *a, void *arg) {
    held *h = arg;
    uint32_t refs = ck_pr_load_32(&a->refs);
    if (refs == 0)
        return;
    h->blocks++;
    h->refs += refs;
    if (h->named < 8 && h->len < sizeof(h->text)) {
        char name[TR__LOG_NAME];
        tr__actor_name(a, name, sizeof(name));
        int k = snprintf(h->text + h->len, sizeof(h->text) - h->len, "%s %s#%llu",
                         h->named ? "," : "", name, (unsigned long long)a->id);
        h->len += k > 0 ? (size_t)k : 0;
        h->named++;
    }
}

void tr__log_final(tr_runtime *rt) {
    flush_due(rt, 1);
    if (tr__log_on(rt, TR_LOG_WARN)) {
        held h;
        memset(&h, 0, sizeof(h));
        tr__blocks_each_block(rt, held_one, &h);
        if (h.blocks > 0)
            tr__log_text(rt, TR_LOG_WARN, "runtime", NULL,
                         "tr_runtime_free: %u actor handle%s still held (%llu reference%s):%s%s; "
                         "release every handle before tr_runtime_free",
                         h.blocks, h.blocks == 1 ? "" : "s", (unsigned long long)h.refs,
                         h.refs == 1 ? "" : "s", h.text, h.blocks > h.named ? ", ..." : "");
    }
    pthread_mutex_destroy(&rt->log.set_mu);
}
