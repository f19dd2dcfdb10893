/* core/link.c - monitors and links.
 *
 * Each actor keeps a list of watchers (monitors on it, links to it) under its
 * spinlock. Every entry holds a reference to the watching actor. When the
 * actor ends, its owner closes the list (watch_closed = 1, under the lock)
 * and delivers: a TR_MSG_DOWN to each monitor, and for each link either an
 * exit request (abnormal end, not trapping) or a TR_MSG_EXIT (trapping). A
 * monitor or link set on an actor whose list is closed acts at once, so no
 * watcher ever misses an end. The final reason is written before the list is
 * closed, so it can be read under the lock by late watchers.
 *
 * Each entry is made with its notice (the DOWN or EXIT message it may send):
 * an actor that ends while memory is out still tells every watcher, and a
 * supervisor still learns that its child died. Out of memory is an error of
 * tr_monitor or tr_link (TR_ENOMEM), never a lost notice. */
#include <ck_pr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/lock.h"
#include "core/link.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

enum { WATCH_MONITOR = 1, WATCH_LINK = 2 };

struct tr__watch {
    tr__watch *next;
    int kind;
    tr_actor *who; /* retained */
    uint64_t id;
    tr_msg *notice; /* for who, made with the entry; NULL once sent */
};

typedef struct exit_rec {
    int kind;
    int code;
    char text[TR__EXIT_TEXT];
} exit_rec;

static void release_ref(void *p) {
    tr_ref_release(p);
}

/* A notice, made ahead of need (its type is set when it is sent). */
static tr_msg *new_notice(void) {
    tr_msg *m;
    return tr__msg_new_system(&m, TR_MSG_DOWN, sizeof(exit_rec)) == 0 ? m : NULL;
}

/* An entry and its notice are freed together. */
static void free_entry(tr__watch *e) {
    if (e->notice != NULL)
        tr__msg_destroy(e->notice, TR_EDEAD);
    tr_ref_release(e->who);
    free(e);
}

/* Send m, a notice made ahead, as the DOWN/EXIT message about `origin` for
 * `to`; dropped if `to` is gone. */
static void deliver(tr_actor *to, uint32_t type, tr_actor *origin, const tr_exit *why,
                    uint64_t corr, tr_msg *m) {
    m->type = type;
    exit_rec *r = tr_msg_data(m);
    r->kind = why->kind;
    r->code = why->code;
    snprintf(r->text, sizeof(r->text), "%s", why->text ? why->text : "");
    tr_ref_retain(origin);
    m->ptr = origin;
    m->ptr_free = release_ref;
    m->word = origin->id;
    m->status = why->kind;
    m->corr = corr;
    if (tr__actor_push_notice(to, m) != 0) /* only TR_EDEAD: never lost to a bound */
        tr__msg_destroy(m, TR_EDEAD);
}

int tr_exit_of(const tr_msg *msg, tr_exit *out) {
    if (msg == NULL || out == NULL || (msg->type != TR_MSG_DOWN && msg->type != TR_MSG_EXIT))
        return TR_EINVAL;
    const exit_rec *r = tr_msg_data(msg);
    out->kind = (tr_exit_kind)r->kind;
    out->code = r->code;
    out->text = r->text;
    return 0;
}

tr_ref *tr_msg_origin(const tr_msg *msg) {
    if (msg == NULL || (msg->type != TR_MSG_DOWN && msg->type != TR_MSG_EXIT))
        return NULL;
    return msg->ptr;
}

/* Add an entry to a's list. Returns 1 if added, 0 if a has already ended
 * (then *why is its reason, and *late the notice made for the entry, the
 * caller's to send or free), 2 if it is a link and a's list already links
 * it to who (a link is there or not, as Erlang's: never two), or
 * TR_ENOMEM. */
static int add_watch(tr_actor *a, int kind, tr_actor *who, uint64_t *id, tr_exit *why, char *text,
                     size_t n, tr_msg **late) {
    tr__actor_ext *x = tr__actor_ext_any(a); /* its watch ids */
    tr__watch *e = x != NULL ? malloc(sizeof(*e)) : NULL;
    tr_msg *notice = e != NULL ? new_notice() : NULL;
    if (notice == NULL) {
        free(e);
        return TR_ENOMEM;
    }
    tr__spin_lock(&a->lock);
    if (a->watch_closed) {
        *why = tr__actor_final_reason(a); /* written before the list closed */
        snprintf(text, n, "%s", why->text);
        why->text = text;
        tr__spin_unlock(&a->lock);
        free(e);
        *late = notice;
        return 0;
    }
    if (kind == WATCH_LINK) {
        /* Under a's lock, so two actors linking to each other at once
         * still leave one entry on each side. */
        for (const tr__watch *w = x->watchers; w != NULL; w = w->next) {
            if (w->kind == WATCH_LINK && w->who == who) {
                tr__spin_unlock(&a->lock);
                free(e);
                tr__msg_destroy(notice, TR_EDEAD);
                return 2;
            }
        }
    }
    tr_ref_retain(who);
    e->kind = kind;
    e->who = who;
    e->notice = notice;
    /* Plain: under a->lock while the list is open. Once it is closed only
     * the locked faa in tr_monitor moves it (outside the lock), so the two
     * never race. */
    e->id = x->next_watch_id++;
    if (id != NULL)
        *id = e->id;
    e->next = x->watchers;
    x->watchers = e;
    tr__spin_unlock(&a->lock);
    return 1;
}

/* Remove the first entry of a matching (kind, who, id or any id); returns
 * 1 if one was removed. */
static int remove_watch(tr_actor *a, int kind, tr_actor *who, uint64_t id, int any_id) {
    tr__watch *found = NULL;
    tr__spin_lock(&a->lock);
    /* Under the lock, as the entries are added: an entry added before it
     * was taken is found. None: no entry was ever added. */
    tr__actor_ext *x = tr__actor_ext_peek(a);
    tr__watch **pp = x != NULL ? &x->watchers : NULL;
    for (; pp != NULL && *pp != NULL; pp = &(*pp)->next) {
        tr__watch *e = *pp;
        if (e->kind == kind && e->who == who && (any_id || e->id == id)) {
            *pp = e->next;
            found = e;
            break;
        }
    }
    tr__spin_unlock(&a->lock);
    if (found == NULL)
        return 0;
    free_entry(found);
    return 1;
}

int tr_monitor(tr_ctx *ctx, tr_ref *target, uint64_t *monitor_id) {
    if (ctx == NULL || target == NULL)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    if (target == self)
        return TR_EINVAL;
    uint64_t id = 0;
    tr_exit why;
    char text[TR__EXIT_TEXT];
    tr_msg *late = NULL;
    int rc = add_watch(target, WATCH_MONITOR, self, &id, &why, text, sizeof(text), &late);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        /* add_watch made the side block. Locked: other late monitors race. */
        id = ck_pr_faa_64(&tr__actor_ext_peek(target)->next_watch_id, 1);
        deliver(self, TR_MSG_DOWN, target, &why, id, late);
    }
    if (monitor_id != NULL)
        *monitor_id = id;
    return 0;
}

int tr_demonitor(tr_ctx *ctx, tr_ref *target, uint64_t monitor_id) {
    if (ctx == NULL || target == NULL)
        return TR_EINVAL;
    return remove_watch(target, WATCH_MONITOR, tr__actor_of(ctx), monitor_id, 0) ? 0 : TR_ENOTFOUND;
}

/* A linked actor `from` ended with why: tell `to`, with the notice made
 * for it (sent or freed here). */
static void link_signal(tr_actor *to, tr_actor *from, const tr_exit *why, tr_msg *notice) {
    /* TR_EXIT_KILLED is untrappable (troupe/actor.h): it always spreads. */
    if (why->kind != TR_EXIT_KILLED && ck_pr_load_8(&to->trap_exit)) {
        deliver(to, TR_MSG_EXIT, from, why, 0, notice);
        return;
    }
    tr__msg_destroy(notice, TR_EDEAD);
    if (why->kind == TR_EXIT_NORMAL)
        return;
    tr__actor_request_exit(to, why->kind, why->code, why->text);
}

int tr_link(tr_ctx *ctx, tr_ref *target) {
    if (ctx == NULL || target == NULL)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    if (target == self)
        return TR_EINVAL;
    tr_exit why;
    char text[TR__EXIT_TEXT];
    tr_msg *late = NULL;
    /* Our own list first: we are running, so it cannot be closed. */
    int rc = add_watch(self, WATCH_LINK, target, NULL, &why, text, sizeof(text), &late);
    if (rc <= 0) {
        if (late != NULL)
            tr__msg_destroy(late, TR_EDEAD);
        return rc < 0 ? rc : TR_ESTATE;
    }
    if (rc == 2) /* linked already (by us or by it): nothing changes */
        return 0;
    rc = add_watch(target, WATCH_LINK, self, NULL, &why, text, sizeof(text), &late);
    if (rc < 0) {
        remove_watch(self, WATCH_LINK, target, 0, 1);
        return rc;
    }
    if (rc == 0) { /* target already ended: the link acts at once */
        remove_watch(self, WATCH_LINK, target, 0, 1);
        link_signal(self, target, &why, late); /* late: made for self */
    }
    return 0;
}

int tr_unlink(tr_ctx *ctx, tr_ref *target) {
    if (ctx == NULL || target == NULL)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    int a = remove_watch(self, WATCH_LINK, target, 0, 1);
    int b = remove_watch(target, WATCH_LINK, self, 0, 1);
    return (a || b) ? 0 : TR_ENOTFOUND;
}

int tr_trap_exit(tr_ctx *ctx, int on) {
    if (ctx == NULL)
        return TR_EINVAL;
    /* Relaxed: a flag read by link_signal on any thread; publishes nothing
     * else (a signal racing the change may see either value). */
    ck_pr_store_8(&tr__actor_of(ctx)->trap_exit, on ? 1 : 0);
    return 0;
}

/* Detach a's watcher list (under a->lock, or once no thread can reach
 * it). NULL if none: an actor nobody watched may have no side block. */
static tr__watch *detach_watchers(tr_actor *a) {
    tr__actor_ext *x = tr__actor_ext_peek(a);
    if (x == NULL)
        return NULL;
    tr__watch *list = x->watchers;
    x->watchers = NULL;
    return list;
}

/* Take a's whole watcher list. With close, the list is closed too: late
 * monitors and links act at once, with the reason already written. */
static tr__watch *take_watchers(tr_actor *a, int close) {
    tr__spin_lock(&a->lock);
    if (close)
        a->watch_closed = 1;
    tr__watch *list = detach_watchers(a);
    tr__spin_unlock(&a->lock);
    return list;
}

/* Close a's watcher list and tell each monitor `why`. A link whose half on
 * the other side is still there is signalled if signal_links, else (it
 * never took effect) that half is dropped quietly. */
static void close_watchers(tr_actor *a, const tr_exit *why, int signal_links) {
    tr__watch *list = take_watchers(a, 1);
    while (list != NULL) {
        tr__watch *e = list;
        list = e->next;
        if (e->kind == WATCH_MONITOR) {
            deliver(e->who, TR_MSG_DOWN, a, why, e->id, e->notice);
            e->notice = NULL;
        } else if (remove_watch(e->who, WATCH_LINK, a, 0, 1) && signal_links) {
            /* Only if its half was still there: an unlink that got in first
             * (and returned 0) promises no signal from this link. */
            link_signal(e->who, a, why, e->notice);
            e->notice = NULL;
        }
        free_entry(e);
    }
}

void tr__actor_notify_watchers(tr_actor *a, const tr_exit *why) {
    close_watchers(a, why, 1);
}

void tr__actor_undo_watchers(tr_actor *a, const tr_exit *why) {
    close_watchers(a, why, 0);
}

void tr__actor_drop_watchers(tr_actor *a) {
    /* Called once the last reference is gone: every watcher entry that
     * names a holds a reference to it, so no other thread can reach a's
     * list any more and it needs no lock (tr_ref_release's last decrement
     * acquired every earlier holder's changes). */
    tr__watch *list = detach_watchers(a);
    while (list != NULL) {
        tr__watch *e = list;
        list = e->next;
        free_entry(e);
    }
}
