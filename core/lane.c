/* core/lane.c - foreign threads' lanes into actors.
 *
 * A thread the runtime did not create (a network library's callback, a GUI
 * thread) that sends LANE_AFTER messages in a row to an actor spawned with
 * tr_spawn_opts.lanes gets a lane into it (mailbox/spsc.c): its later sends to that actor skip the
 * shared mailbox and, for one-word sends, the message block too. A bounded mailbox's count covers
 * its lanes: a put reserves room first, and the actor gives it back as it takes the messages. The
 * lane is announced by its kick message, pushed through the ordinary mailbox, and the actor reads
 * the lane only after popping it: the thread's earlier messages, in the mailbox, come first. From
 * then on every send of the thread to that actor takes the lane, so per-sender order holds.
 *
 * A thread keeps at most TABLE lanes. To make room it lets go of a lane the
 * actor has drained (taken every message of) or closed, never of one with messages in it:
 * its next sends to that actor go through the mailbox, after everything in
 * the lane. A thread that exits lets go of all its lanes. The actor frees a
 * let-go lane once it is empty, when it parks it or sweeps its list.
 *
 * On the actor's side (owner only) the attached lanes form a list; those
 * that may hold messages are active and read in turn with the mailbox, one
 * message from each in rotation. A one-word slot becomes a message block
 * from the worker's own cache (the block just freed: hot). While a lane is
 * active the actor stays scheduled; when it ends, its lanes are closed and
 * their messages dead-lettered with the mailbox's. */
#include "core/lane.h"

#include <ck_pr.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/msg.h"
#include "core/msgcache.h"
#include "core/runtime.h"
#include "core/worker.h"
#include "mailbox/spsc.h"
#include "troupe/error.h"

#define LANE_AFTER 8  /* sends in a row to one actor before it gets a lane */
#define TABLE 4       /* lanes a thread keeps */
#define JUDGE 64      /* puts between two looks at how often the lane needed a kick */
#define KICKY 16      /* more kicks than this per JUDGE puts: the lane does not pay */
#define COOL_MIN 1024 /* sends in a row before a retired lane's actor gets another */
#define COOL_MAX (1u << 20)

typedef struct entry {
    tr_actor *to; /* compared only, with its id: never dereferenced */
    uint64_t id;
    tr__lane *lane;
    uint32_t puts, kicks; /* since the last look */
    uint32_t retire;      /* let go of it once drained */
} entry;

typedef struct table {
    entry e[TABLE];
    tr_actor *last; /* the target of the current run of sends */
    uint64_t last_id;
    uint32_t run;   /* sends in a row to it */
    tr_actor *cool; /* the last actor whose lane was retired */
    uint64_t cool_id;
    uint32_t cool_need; /* the run it needs for a new lane */
} table;

static __thread table *tls_table __attribute__((tls_model("initial-exec")));
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void drop_entry(entry *e) {
    tr__lane_detach_spsc(e->lane);
    *e = (entry){0};
}

static void thread_exit(void *arg) {
    table *t = arg;
    for (unsigned i = 0; i < TABLE; i++)
        if (t->e[i].lane != NULL)
            drop_entry(&t->e[i]);
    tls_table = NULL;
    free(t);
}

static void make_key(void) {
    pthread_key_create(&exit_key, thread_exit);
}

static table *my_table(void) {
    table *t = tls_table;
    if (TR__LIKELY(t != NULL))
        return t;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return NULL;
    pthread_once(&exit_once, make_key);
    pthread_setspecific(exit_key, t);
    tls_table = t;
    return t;
}

/* A table entry to reuse: a free one, or one whose lane is drained or
 * closed (letting go of it loses no order). NULL if every lane is busy. */
static entry *free_entry(table *t) {
    for (unsigned i = 0; i < TABLE; i++)
        if (t->e[i].lane == NULL)
            return &t->e[i];
    /* Not the state: WAITING shows for a moment while the owner, parking,
     * has yet to find a late put (tr__lane_drained_spsc). */
    for (unsigned i = 0; i < TABLE; i++)
        if (tr__lane_drained_spsc(t->e[i].lane)) {
            drop_entry(&t->e[i]);
            return &t->e[i];
        }
    return NULL;
}

/* Push l's kick into `to`'s mailbox, scheduling `to` if it was idle. The
 * kick takes no room in a bounded mailbox (the owner discounts it). */
static int push_kick(tr_actor *to, tr__lane *l) {
    return tr__schedule_if_woke(to, tr__mbox_push_uncounted_mpsc(&to->mbox, &l->kick));
}

/* Announce l to `to` through its mailbox (the kick holds a reference). */
static int announce(tr_actor *to, tr__lane *l) {
    tr__msg_init_header(&l->kick, TR_MSG_SYSTEM, TR__MSG_LANE | TR__MSG_QUIET);
    return push_kick(to, l);
}

/* t's entry for the actor incarnation (to, id), or NULL. */
static entry *find_in(table *t, tr_actor *to, uint64_t id) {
    for (unsigned i = 0; i < TABLE; i++)
        if (t->e[i].to == to && t->e[i].id == id && t->e[i].lane != NULL)
            return &t->e[i];
    return NULL;
}

/* A lane that mostly finds its actor waiting for it (request/reply traffic,
 * a few messages in flight) costs more than the mailbox: a kick per put.
 * Once drained, let go of it, and ask for a longer run of sends before this
 * actor gets another (doubling up to COOL_MAX each time). */
static void retire(table *t, entry *e, tr_actor *to, uint64_t id) {
    bool again = t->cool == to && t->cool_id == id;
    uint32_t need = again ? t->cool_need * 2 : COOL_MIN;
    t->cool = to;
    t->cool_id = id;
    t->cool_need = need < COOL_MAX ? need : COOL_MAX;
    t->last = to;
    t->last_id = id;
    t->run = 0;
    drop_entry(e);
}

/* This thread's table entry for `to`, made now if the thread has sent
 * enough in a row to it; NULL to use the mailbox. */
static entry *lane_for(tr_actor *to) {
    table *t = my_table();
    if (t == NULL)
        return NULL;
    uint64_t id = to->id;
    entry *e = find_in(t, to, id);
    if (e != NULL) {
        /* Only once the owner took all of it. The state was not enough: the
         * owner's park shows WAITING before it looks again and finds our
         * last puts, and a send through the mailbox then overtook them (an
         * ask answered before the words sent ahead of it). */
        if (e->retire && tr__lane_drained_spsc(e->lane)) {
            retire(t, e, to, id); /* drained: the mailbox keeps the order */
            return NULL;
        }
        return e;
    }
    if (t->last != to || t->last_id != id) {
        t->last = to;
        t->last_id = id;
        t->run = 0;
    }
    uint32_t need = (t->cool == to && t->cool_id == id) ? t->cool_need : LANE_AFTER;
    if (++t->run < need)
        return NULL;
    if ((e = free_entry(t)) == NULL)
        return NULL;
    tr__lane *l = tr__lane_new();
    if (l == NULL)
        return NULL;
    if (announce(to, l) != 0) {           /* the actor is gone: nobody will read it */
        for (int ref = 0; ref < 3; ref++) /* the producer's, owner's and kick's */
            tr__lane_release_any(l);
        return NULL; /* the mailbox send that follows reports TR_EDEAD */
    }
    *e = (entry){.to = to, .id = id, .lane = l};
    return e;
}

/* Count a put that went through: judge the lane every JUDGE puts. */
static void judge(entry *e, int rc) {
    e->kicks += rc == TR__LANE_KICK;
    if (++e->puts < JUDGE)
        return;
    if (e->kicks > KICKY)
        e->retire = 1;
    e->puts = e->kicks = 0;
}

/* The lane of `to` in this thread's table, or NULL. */
static entry *find(tr_actor *to) {
    table *t = tls_table;
    return t != NULL ? find_in(t, to, to->id) : NULL;
}

/* After a put: push the kick if the put asked for it, map the result. */
static int finish_put(tr_actor *to, tr__lane *l, int rc) {
    if (rc == TR__LANE_KICK) {
        /* A failed push means the actor is ending: its close takes the
         * message from the lane and dead-letters it, so the send stands. */
        if (push_kick(to, l) != 0)
            tr__lane_release_any(l); /* the kick's reference */
        return 0;
    }
    if (rc == TR__LANE_REFUSED) {
        /* The lane's actor has ended and closed it. Let go of it and use the
         * mailbox, which says TR_EDEAD if `to` is that actor, and delivers
         * if `to` is a later actor that happens to match the entry (same
         * block, same id in a later runtime). */
        entry *e = find(to);
        if (e != NULL)
            drop_entry(e);
        return TR__LANE_NONE;
    }
    return rc; /* 0 or TR_ENOMEM */
}

/* Put one message into e's lane for `to`, its room reserved first. */
static int put(tr_actor *to, entry *e, uint32_t kind, uint32_t type, uint64_t word) {
    /* The room in a bounded mailbox, as a push reserves it; the owner gives
     * it back as it takes the message (core/actor.c). */
    int rc = tr__mbox_reserve_any(&to->mbox, 1);
    if (rc != 0)
        return rc;
    tr__lane *l = e->lane;
    rc = tr__lane_put_spsc(l, kind, type, word);
    if (rc == TR__LANE_REFUSED || rc < 0)
        tr__mbox_unreserve_any(&to->mbox, 1);
    else
        judge(e, rc);
    return finish_put(to, l, rc);
}

int tr__lane_send_word(tr_actor *to, uint32_t type, uint64_t word) {
    entry *e = lane_for(to);
    if (e == NULL)
        return TR__LANE_NONE;
    return put(to, e, TR__LANE_WORD, type, word);
}

int tr__lane_send_msg(tr_actor *to, tr_msg *msg) {
    entry *e = lane_for(to);
    if (e == NULL)
        return TR__LANE_NONE;
    return put(to, e, TR__LANE_PTR, 0, (uint64_t)(uintptr_t)msg);
}

int tr__lane_send_batch(tr_actor *to, tr_msg *const *msgs, uint32_t n) {
    entry *e = find(to);
    if (e == NULL)
        return TR__LANE_NONE;
    int rc = tr__mbox_reserve_any(&to->mbox, n); /* all or nothing, as a chain push */
    if (rc != 0)
        return rc;
    tr__lane *l = e->lane;
    for (uint32_t i = 0; i < n; i++) {
        msgs[i]->next = NULL;
        rc = tr__lane_put_spsc(l, TR__LANE_PTR, 0, (uint64_t)(uintptr_t)msgs[i]);
        if (rc == TR__LANE_OK || rc == TR__LANE_KICK) {
            finish_put(to, l, rc);
            continue;
        }
        tr__mbox_unreserve_any(&to->mbox, n - i);
        if (i == 0) /* nothing sent: the caller keeps them all */
            return rc == TR__LANE_REFUSED ? finish_put(to, l, rc) : rc;
        /* The actor ended (or memory ran out) halfway: the batch was
         * accepted, so the rest is dead-lettered, as the close does with
         * what it found in the lane. */
        for (uint32_t j = i; j < n; j++)
            tr__dead_letter_at(to->rt, msgs[j],
                               rc == TR__LANE_REFUSED ? TR_DEAD_STOPPED : TR_DEAD_DROPPED, to);
        if (rc == TR__LANE_REFUSED)
            finish_put(to, l, rc); /* lets go of the closed lane */
        return 0;
    }
    return 0;
}

int tr__lane_push_any(tr_actor *to, tr_msg *msg) {
    if (tr__lane_candidate(to)) {
        entry *e = find(to);
        if (e != NULL) {
            int rc = put(to, e, TR__LANE_PTR, 0, (uint64_t)(uintptr_t)msg);
            if (rc != TR__LANE_NONE)
                return rc;
        }
    }
    return tr__actor_push(to, msg);
}

/* --- the receiving actor ------------------------------------------------- */

static void unlink_lane(tr_actor *a, tr__lane *l) {
    for (tr__lane **p = &a->ext->lanes; *p != NULL; p = &(*p)->anext)
        if (*p == l) {
            *p = l->anext;
            break;
        }
    if (a->ext->lane_cur == l)
        a->ext->lane_cur = l->anext;
    if (l->active)
        a->lanes_active--;
    l->attached = 0;
    l->active = 0;
    l->dropped = 1;          /* a kick still queued holds its own reference */
    tr__lane_release_any(l); /* the owner's reference */
}

/* Drop parked lanes whose producer has gone. */
static void sweep(tr_actor *a) {
    for (tr__lane *l = a->ext->lanes, *next; l != NULL; l = next) {
        next = l->anext;
        if (!l->active && tr__lane_done_owner(l))
            unlink_lane(a, l);
    }
}

void tr__lane_kick_owner(tr_actor *a, tr_msg *kick) {
    tr__lane *l = tr__lane_of_kick(kick);
    tr__lane_kicked_owner(l);
    if (l->dropped) { /* queued before we dropped the lane, which was empty */
        tr__lane_release_any(l);
        return;
    }
    if (!l->attached) {
        sweep(a); /* a new producer: a good time to drop those that left */
        l->attached = 1;
        l->anext = a->ext->lanes;
        a->ext->lanes = l;
    }
    if (!l->active) {
        l->active = 1;
        a->lanes_active++;
    }
    tr__lane_release_any(l); /* the kick's reference */
}

/* A word entry dead-lettered through a header on the stack (no block
 * needed): at close (collect_one, TR_DEAD_STOPPED) and when one taken from a
 * lane has no block to be delivered in (take, TR_DEAD_DROPPED), so the lane
 * moves on. Before, the entry stayed and the
 * owner retried at once, forever while memory was out: a worker spinning
 * and everything behind the entry (asks included) stuck. */
static void dead_word(tr_runtime *rt, uint32_t type, uint64_t word, int why) {
    tr_msg tmp;
    tr__msg_init_header(&tmp, type, 0);
    tmp.word = word;
    tr__dead_letter(rt, &tmp, why);
}

/* One message from l, or NULL (then l may have been parked or freed). */
static tr_msg *take(tr_actor *a, tr__lane *l) {
    for (;;) {
        tr_msg *m = tr__msgcache_alloc(); /* before the take: NULL is handled below */
        uint32_t type;
        uint64_t word;
        uint32_t kind = tr__lane_take_owner(l, &type, &word);
        if (kind != TR__LANE_EMPTY) /* a bounded mailbox's room, given back per turn */
            ck_pr_store_32(&a->mbox.taken, a->mbox.taken + 1); /* any reads (depth) */
        if (kind == TR__LANE_WORD) {
            if (TR__LIKELY(m != NULL)) {
                tr__msg_fill(m, type, 0, word, tr__msgcache_free);
                return m;
            }
            dead_word(a->rt, type, word, TR_DEAD_DROPPED);
            continue;
        }
        if (m != NULL)
            tr__msgcache_free(m);
        if (kind == TR__LANE_PTR)
            return (tr_msg *)(uintptr_t)word;
        if (tr__lane_park_owner(l)) {
            l->active = 0;
            a->lanes_active--;
            if (tr__lane_done_owner(l))
                unlink_lane(a, l);
        }
        return NULL;
    }
}

tr_msg *tr__lane_next_owner(tr_actor *a) {
    /* In rotation: from the lane after the last one read. */
    for (unsigned tries = 0; a->lanes_active != 0 && tries < 2; tries++) {
        tr__lane *l = a->ext->lane_cur != NULL ? a->ext->lane_cur : a->ext->lanes;
        while (l != NULL) {
            tr__lane *next = l->anext;
            if (l->active) {
                tr_msg *m = take(a, l);
                if (m != NULL) {
                    a->ext->lane_cur = next;
                    return m;
                }
            }
            l = next;
        }
        a->ext->lane_cur = NULL; /* wrap around once */
    }
    return NULL;
}

typedef struct collect {
    tr_msg *first, **tail;
    tr_runtime *rt;
} collect;

static void collect_one(void *arg, uint32_t kind, uint32_t type, uint64_t word) {
    collect *c = arg;
    tr_msg *m;
    if (kind == TR__LANE_PTR) {
        m = (tr_msg *)(uintptr_t)word;
    } else if ((m = tr__msgcache_alloc()) != NULL) {
        tr__msg_fill(m, type, 0, word, tr__msgcache_free);
    } else { /* out of memory: still counted and shown to the hook */
        dead_word(c->rt, type, word, TR_DEAD_STOPPED);
        return;
    }
    m->next = NULL;
    *c->tail = m;
    c->tail = &m->next;
}

tr_msg *tr__lane_close_all_owner(tr_actor *a, tr_msg *left) {
    collect c = {.first = NULL, .tail = &c.first, .rt = a->rt};
    /* Kicks among the leftovers announce lanes (perhaps not yet attached). */
    for (tr_msg *m = left, *next; m != NULL; m = next) {
        next = m->next;
        if (m->flags & TR__MSG_LANE) {
            tr__lane_kick_owner(a, m);
            continue;
        }
        m->next = NULL;
        *c.tail = m;
        c.tail = &m->next;
    }
    /* Only an actor spawned with lanes has them (in its side block, made at
     * spawn); kicks, above, come only for those. Any other actor's side
     * block may have been made a moment ago by another thread (a
     * tr_monitor of it makes one for its watch ids): read the pointer
     * with tr__actor_ext_peek's acquire, pairing with that thread's CAS,
     * not as a plain load (a data race TSan reported when a watcher
     * monitored the actor as it crashed). */
    tr__actor_ext *x;
    while ((x = tr__actor_ext_peek(a)) != NULL && x->lanes != NULL) {
        tr__lane *l = x->lanes;
        tr__lane_close_owner(l, collect_one, &c);
        unlink_lane(a, l);
    }
    return c.first;
}
