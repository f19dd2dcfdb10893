/* actors/timer_thread.c - the timer thread of actors/ (see timer_thread.h for why a thread).
 *
 * State is one mutex-protected list sorted by deadline; the thread sleeps on
 * a condvar until the first deadline (or a new, earlier one). A due entry is
 * unlinked under the mutex and acted on outside it: a message timer pushes
 * its message and drops its target reference; a periodic entry runs its
 * function with `running` set, and is re-inserted afterwards unless it was
 * cancelled meanwhile (cancel then waits for the run to end, so the caller
 * may free fn's argument as soon as cancel returns). The service lives in the
 * runtime's TR__EXT_ACTORS slot; its runtime_free hook stops and joins the
 * thread and drops what is still armed. Everything here is pthread mutex and
 * condvar, which TSan understands natively.
 *
 * Slots (tr__atimer_slot) are message timers in their owners' memory, on a
 * second sorted list: arming one allocates nothing, and a fire that cannot
 * make its message (out of memory) puts the slot back TR__ATIMER_RETRY_MS
 * later, so an owner waiting for its timer (a supervisor's backoff
 * restart) is woken once memory is back, even if nothing else ever sends
 * it a message. */
#include "actors/timer_thread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "core/actor.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/error.h"

typedef struct entry {
    struct entry *next;
    uint64_t id;
    uint64_t due;
    uint64_t period; /* 0: message timer */
    tr_ref *target;  /* message timer: retained */
    uint64_t tag;
    void (*fn)(void *arg);
    void *arg;
    int cancelled; /* periodic, while running */
} entry;

typedef struct svc {
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* the thread waits for deadlines here */
    pthread_cond_t done; /* cancel waits for a running function here */
    pthread_t thread;
    int stop;
    int started; /* the thread was created */
    entry *list;
    entry *running;
    tr__atimer_slot *slots;  /* sorted by due */
    tr__atimer_slot *firing; /* a slot whose message is being made and pushed */
    uint64_t next_id;
    tr_runtime *rt;
} svc;

static __thread svc *tls_on_timer_thread;

static void insert_locked(svc *s, entry *e) {
    entry **pp = &s->list;
    while (*pp != NULL && (*pp)->due <= e->due)
        pp = &(*pp)->next;
    e->next = *pp;
    *pp = e;
    if (s->list == e)
        pthread_cond_signal(&s->cv);
}

static void slot_insert_locked(svc *s, tr__atimer_slot *k) {
    tr__atimer_slot **pp = &s->slots;
    while (*pp != NULL && (*pp)->due <= k->due)
        pp = &(*pp)->next;
    k->next = *pp;
    *pp = k;
    k->linked = 1;
    if (s->slots == k)
        pthread_cond_signal(&s->cv);
}

static void slot_unlink_locked(svc *s, tr__atimer_slot *k) {
    for (tr__atimer_slot **pp = &s->slots; *pp != NULL; pp = &(*pp)->next)
        if (*pp == k) {
            *pp = k->next;
            break;
        }
    k->next = NULL;
    k->linked = 0;
}

/* The first slot is due: make and push its message outside the lock (the
 * owner's disarm waits for that), or, out of memory, put it back for a
 * retry unless it was re-armed or disarmed meanwhile. */
static void fire_slot_locked(svc *s) {
    tr__atimer_slot *k = s->slots;
    s->slots = k->next;
    k->next = NULL;
    k->linked = 0;
    uint32_t gen = k->gen;
    tr_ref *target = k->target;
    uint64_t tag = k->tag;
    s->firing = k;
    pthread_mutex_unlock(&s->mu);
    tr_msg *m;
    int made = tr__msg_new_system(&m, TR__A_TIMER, 0) == 0;
    if (made) {
        m->word = tag;
        if (tr__actor_push(target, m) != 0)
            tr__msg_destroy(m, TR_EDEAD);
    }
    pthread_mutex_lock(&s->mu);
    s->firing = NULL;
    if (!made && k->gen == gen && !k->linked) {
        k->due = tr__mono_ms() + TR__ATIMER_RETRY_MS;
        slot_insert_locked(s, k);
    }
    pthread_cond_broadcast(&s->done);
}

static void fire_message(entry *e) {
    tr_msg *m;
    if (tr__msg_new_system(&m, TR__A_TIMER, 0) == 0) {
        m->word = e->tag;
        if (tr__actor_push(e->target, m) != 0)
            tr__msg_destroy(m, TR_EDEAD);
    }
    tr_ref_release(e->target);
    free(e);
}

static void *timer_main(void *arg) {
    svc *s = arg;
    tls_on_timer_thread = s;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        entry *e = s->list;
        tr__atimer_slot *k = s->slots;
        if (e == NULL && k == NULL) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        uint64_t now = tr__mono_ms();
        bool slot_first = k != NULL && (e == NULL || k->due <= e->due);
        uint64_t due = slot_first ? k->due : e->due;
        if (due > now) {
            struct timespec ts;
            tr__deadline_after(&ts, (int64_t)(due - now));
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            continue;
        }
        if (slot_first) {
            fire_slot_locked(s);
            continue;
        }
        s->list = e->next;
        if (e->period == 0) {
            pthread_mutex_unlock(&s->mu);
            fire_message(e);
            pthread_mutex_lock(&s->mu);
            continue;
        }
        s->running = e;
        pthread_mutex_unlock(&s->mu);
        e->fn(e->arg);
        pthread_mutex_lock(&s->mu);
        s->running = NULL;
        if (e->cancelled) {
            free(e);
            pthread_cond_broadcast(&s->done);
        } else {
            e->due = tr__mono_ms() + e->period;
            insert_locked(s, e);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void svc_free(tr_runtime *rt, void *data) {
    (void)rt;
    svc *s = data;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->started)
        pthread_join(s->thread, NULL);
    while (s->list != NULL) {
        entry *e = s->list;
        s->list = e->next;
        if (e->target != NULL)
            tr_ref_release(e->target);
        free(e);
    }
    s->slots = NULL; /* the owners' memory: every owner disarmed at its end */
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->done);
    free(s);
}

/* Start s's thread if it is not running (a first attempt that failed, out
 * of threads, is retried at every use: the service heals once threads can
 * be made again). 1 if it runs. */
static int svc_start(svc *s) {
    pthread_mutex_lock(&s->mu);
    if (!s->started && !s->stop)
        s->started = pthread_create(&s->thread, NULL, timer_main, s) == 0;
    int ok = s->started;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* The runtime's timer service, made on first use; *err says why not. */
static svc *svc_get(tr_runtime *rt, int *err) {
    svc *s = tr__runtime_ext_get(rt, TR__EXT_ACTORS);
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            *err = TR_ENOMEM;
            return NULL;
        }
        s->rt = rt;
        pthread_mutex_init(&s->mu, NULL);
        tr__cond_init_mono(&s->cv);
        pthread_cond_init(&s->done, NULL);
        tr__ext ext = {.data = s, .worker_stop = NULL, .runtime_free = svc_free};
        /* Publish first, start the thread second: a loser of the race frees
         * an unstarted service. */
        if (tr__runtime_ext_set(rt, TR__EXT_ACTORS, &ext) != 0) {
            pthread_mutex_destroy(&s->mu);
            pthread_cond_destroy(&s->cv);
            pthread_cond_destroy(&s->done);
            free(s);
            s = tr__runtime_ext_get(rt, TR__EXT_ACTORS);
        }
    }
    /* No thread, no timer: an entry armed now would never fire (a backoff
     * restart waiting for ever, a shutdown timeout never killing). */
    if (!svc_start(s)) {
        *err = TR_ESYS;
        return NULL;
    }
    return s;
}

int tr__atimer_ready(tr_runtime *rt) {
    if (tr__runtime_forked(rt)) /* the parent's runtime: no thread for it here */
        return TR_EFORKED;
    int err = 0;
    return svc_get(rt, &err) != NULL ? 0 : err;
}

static uint64_t arm(svc *s, entry *e, uint64_t delay_ms) {
    pthread_mutex_lock(&s->mu);
    e->id = ++s->next_id;
    e->due = tr__mono_ms() + delay_ms;
    insert_locked(s, e);
    uint64_t id = e->id;
    pthread_mutex_unlock(&s->mu);
    return id;
}

uint64_t tr__atimer_send(tr_ref *target, uint64_t tag, uint64_t delay_ms) {
    int err;
    svc *s = svc_get(target->rt, &err);
    entry *e = s != NULL ? calloc(1, sizeof(*e)) : NULL;
    if (e == NULL)
        return 0;
    tr_ref_retain(target);
    e->target = target;
    e->tag = tag;
    return arm(s, e, delay_ms);
}

uint64_t tr__atimer_every(tr_runtime *rt, uint64_t period_ms, void (*fn)(void *arg), void *arg) {
    int err;
    svc *s = svc_get(rt, &err);
    entry *e = s != NULL ? calloc(1, sizeof(*e)) : NULL;
    if (e == NULL)
        return 0;
    e->period = period_ms > 0 ? period_ms : 1;
    e->fn = fn;
    e->arg = arg;
    return arm(s, e, e->period);
}

int tr__atimer_arm(tr_ref *target, tr__atimer_slot *slot, uint64_t tag, uint64_t delay_ms) {
    int err = 0;
    svc *s = svc_get(target->rt, &err);
    if (s == NULL)
        return err;
    pthread_mutex_lock(&s->mu);
    if (slot->linked)
        slot_unlink_locked(s, slot);
    slot->gen++;
    slot->target = target;
    slot->tag = tag;
    slot->due = tr__mono_ms() + delay_ms;
    slot_insert_locked(s, slot);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void tr__atimer_disarm(tr_runtime *rt, tr__atimer_slot *slot) {
    svc *s = tr__runtime_ext_get(rt, TR__EXT_ACTORS);
    if (s == NULL)
        return; /* never armed: arming made the service */
    pthread_mutex_lock(&s->mu);
    if (slot->linked)
        slot_unlink_locked(s, slot);
    slot->gen++;
    if (tls_on_timer_thread != s)
        while (s->firing == slot)
            pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void tr__atimer_cancel(tr_runtime *rt, uint64_t id) {
    if (id == 0)
        return;
    svc *s = tr__runtime_ext_get(rt, TR__EXT_ACTORS);
    if (s == NULL)
        return;
    entry *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (entry **pp = &s->list; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    if (found == NULL && s->running != NULL && s->running->id == id) {
        s->running->cancelled = 1;
        if (tls_on_timer_thread != s)
            while (s->running != NULL && s->running->id == id)
                pthread_cond_wait(&s->done, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    if (found != NULL) {
        if (found->target != NULL)
            tr_ref_release(found->target);
        free(found);
    }
}
