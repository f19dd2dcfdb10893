/* actors/blocking.c - the blocking-task pool.
 *
 * One mutex guards the task queue and the thread counts; idle threads wait
 * on a condvar with a keep-alive deadline and exit when it passes with no
 * work. A submit wakes one idle thread, and makes a new (detached) thread
 * only when queued tasks outnumber idle threads and fewer than max_threads
 * are alive, so the number of live threads never exceeds max_threads.
 * Shutdown (runtime free) sets `closing`: threads drain the queue, then exit;
 * the freer waits on exit_cv until none is left. The pool is made on first
 * use and lives in the runtime's TR__EXT_BLOCKING slot; it needs nothing of
 * io/ (results are delivered as messages or settle futures). */
#include <ck_pr.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "core/ask.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "troupe/blocking.h"
#include "troupe/error.h"

typedef struct task {
    struct task *next;
    tr_blocking_fn fn;
    void *arg;
    tr_free_fn result_free;
    tr_ref *to;     /* retained, or NULL for a future */
    tr_future *fut; /* the token's reference */
    uint32_t type;
    uint64_t word;
} task;

typedef struct tr__blocking tr__blocking;
struct tr__blocking {
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* tasks queued or closing */
    pthread_cond_t exit_cv; /* a thread exited */
    task *head, *tail;
    unsigned queued, threads, idle, peak, max;
    uint64_t keepalive_ms, completed, created;
    int closing;
};

static void finish(task *t, int rc, void *result) {
    if (t->to != NULL) {
        tr_msg *m;
        if (tr__msg_new_system(&m, t->type, 0) != 0) {
            if (result != NULL && t->result_free != NULL)
                t->result_free(result);
        } else {
            m->word = t->word;
            m->status = rc;
            m->ptr = result;
            m->ptr_free = t->result_free;
            tr__actor_deliver_any(t->to, m);
        }
        tr_ref_release(t->to);
    } else {
        tr_msg req, *m;
        memset(&req, 0, sizeof(req));
        req.reply = t->fut;
        req.flags = TR__MSG_ASK;
        if (tr__msg_new_system(&m, 0, 0) != 0) {
            if (result != NULL && t->result_free != NULL)
                t->result_free(result);
            tr__reply_fail(&req, TR_ENOMEM);
        } else {
            m->status = rc;
            m->ptr = result;
            m->ptr_free = t->result_free;
            tr_reply_msg(&req, m); /* settles the future; never fails */
        }
    }
    free(t);
}

static void *pool_thread(void *arg) {
    tr__blocking *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->head == NULL) {
            if (p->closing || p->threads > p->max)
                break;
            struct timespec dl;
            tr__deadline_after(&dl,
                               p->keepalive_ms > INT64_MAX ? INT64_MAX : (int64_t)p->keepalive_ms);
            p->idle++;
            int w = 0;
            while (p->head == NULL && !p->closing && w != ETIMEDOUT)
                w = pthread_cond_timedwait(&p->work_cv, &p->mu, &dl);
            p->idle--;
            if (p->head == NULL && w == ETIMEDOUT)
                break;
            continue;
        }
        task *t = p->head;
        p->head = t->next;
        if (p->head == NULL)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->mu);
        void *result = NULL;
        int rc = t->fn(t->arg, &result);
        pthread_mutex_lock(&p->mu);
        p->completed++; /* counted before the result is seen */
        pthread_mutex_unlock(&p->mu);
        finish(t, rc, result);
        pthread_mutex_lock(&p->mu);
    }
    p->threads--;
    pthread_cond_broadcast(&p->exit_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_destroy(tr__blocking *p) {
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->exit_cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void pool_free(tr_runtime *rt, void *data);
static int pool_busy(tr_runtime *rt, void *data);

/* rt's pool, made on first use (NULL out of memory). */
static tr__blocking *pool_of(tr_runtime *rt) {
    tr__blocking *p = tr__runtime_ext_get(rt, TR__EXT_BLOCKING);
    if (p != NULL)
        return p;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    tr__cond_init_mono(&p->work_cv);
    pthread_cond_init(&p->exit_cv, NULL);
    p->max = TR_BLOCKING_DEFAULT_THREADS;
    p->keepalive_ms = TR_BLOCKING_DEFAULT_KEEPALIVE_MS;
    tr__ext ext = {.data = p, .worker_stop = NULL, .runtime_free = pool_free, .busy = pool_busy};
    if (tr__runtime_ext_set(rt, TR__EXT_BLOCKING, &ext) != 0) {
        pool_destroy(p); /* lost the race (no thread started): use the winner's */
        return tr__runtime_ext_get(rt, TR__EXT_BLOCKING);
    }
    return p;
}

static int submit(tr__blocking *p, task *t) {
    pthread_mutex_lock(&p->mu);
    if (p->closing) {
        pthread_mutex_unlock(&p->mu);
        return TR_ECLOSED;
    }
    t->next = NULL;
    if (p->tail != NULL)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->queued++;
    int rc = 0;
    if (p->queued > p->idle && p->threads < p->max) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        p->threads++;
        if (pthread_create(&th, &attr, pool_thread, p) != 0) {
            p->threads--;
            if (p->threads == 0) {
                /* Nobody would ever run it: take it back. */
                p->tail = NULL;
                for (task **pp = &p->head; *pp != NULL; pp = &(*pp)->next) {
                    if (*pp == t) {
                        *pp = NULL;
                        break;
                    }
                    p->tail = *pp;
                }
                p->queued--;
                rc = TR_ESYS;
            }
        } else {
            p->created++;
            if (p->threads > p->peak)
                p->peak = p->threads;
        }
        pthread_attr_destroy(&attr);
    }
    if (rc == 0)
        pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Advisory, as in core's sender check: new work is refused from outside once
 * the runtime closes (its actors may still hand work over while stopping). A
 * close racing with us is caught by the pool's own `closing` flag. */
static int open_check(tr_runtime *rt) {
    if (tr__runtime_forked(rt)) /* the pool's threads and lock are the parent's */
        return TR_EFORKED;
    if (ck_pr_load_32(&rt->state) != TR__RT_RUNNING && tr__worker_of(rt) == NULL)
        return TR_ECLOSED;
    return 0;
}

/* rt's pool for new work: TR_ECLOSED or TR_EFORKED (open_check), TR_ENOMEM,
 * or 0. */
static int open_pool(tr_runtime *rt, tr__blocking **out) {
    int rc = open_check(rt);
    if (rc != 0)
        return rc;
    *out = pool_of(rt);
    return *out != NULL ? 0 : TR_ENOMEM;
}

int tr_blocking_configure(tr_runtime *rt, unsigned max_threads, uint64_t keepalive_ms) {
    if (rt == NULL || max_threads > 1024)
        return TR_EINVAL;
    tr__blocking *p;
    int rc = open_pool(rt, &p);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&p->mu);
    p->max = max_threads != 0 ? max_threads : TR_BLOCKING_DEFAULT_THREADS;
    p->keepalive_ms = keepalive_ms != 0 ? keepalive_ms : TR_BLOCKING_DEFAULT_KEEPALIVE_MS;
    pthread_cond_broadcast(&p->work_cv); /* surplus idle threads re-check */
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int tr_blocking_run(tr_ref *to, uint32_t type, uint64_t word, tr_blocking_fn fn, void *arg,
                    tr_free_fn result_free) {
    if (to == NULL || fn == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    int rc = open_check(to->rt);
    if (rc != 0)
        return rc;
    if (tr__mbox_closed_any(&to->mbox))
        return TR_EDEAD;
    tr__blocking *p = pool_of(to->rt);
    if (p == NULL)
        return TR_ENOMEM;
    task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return TR_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->result_free = result_free;
    t->to = to;
    t->type = type;
    t->word = word;
    tr_ref_retain(to);
    rc = submit(p, t);
    if (rc != 0) {
        tr_ref_release(to);
        free(t);
    }
    return rc;
}

int tr_blocking_ask(tr_runtime *rt, tr_blocking_fn fn, void *arg, tr_free_fn result_free,
                    tr_future **out) {
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || fn == NULL || out == NULL)
        return TR_EINVAL;
    tr__blocking *p;
    int rc = open_pool(rt, &p);
    if (rc != 0)
        return rc;
    task *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return TR_ENOMEM;
    tr_future *f = tr__future_new(rt);
    if (f == NULL) {
        free(t);
        return TR_ENOMEM;
    }
    t->fn = fn;
    t->arg = arg;
    t->result_free = result_free;
    t->fut = f;
    rc = submit(p, t);
    if (rc != 0) {
        tr_msg req;
        memset(&req, 0, sizeof(req));
        req.reply = f;
        tr__reply_fail(&req, TR_ECANCELED); /* drops the token's reference */
        tr_future_release(f);
        free(t);
        return rc;
    }
    *out = f;
    return 0;
}

int tr_blocking_stats_get(tr_runtime *rt, tr_blocking_stats *out) {
    if (rt == NULL || out == NULL)
        return TR_EINVAL;
    memset(out, 0, sizeof(*out));
    if (tr__runtime_forked(rt)) /* p->mu may be held by a parent's thread */
        return TR_EFORKED;
    tr__blocking *p = pool_of(rt);
    if (p == NULL)
        return TR_ENOMEM;
    pthread_mutex_lock(&p->mu);
    out->threads = p->threads;
    out->peak = p->peak;
    out->max_threads = p->max;
    out->queued = p->queued;
    out->completed = p->completed;
    out->created = p->created;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

/* The slot's busy (core/drain.c): 1 while a task is queued or running (its
 * result not yet delivered), so a drain waits for it. Any thread. */
static int pool_busy(tr_runtime *rt, void *data) {
    (void)rt;
    tr__blocking *p = data;
    pthread_mutex_lock(&p->mu);
    /* A thread is idle only once it delivered its last result. */
    int busy = p->queued > 0 || p->threads > p->idle;
    pthread_mutex_unlock(&p->mu);
    return busy;
}

/* The slot's runtime_free: once, after the workers have exited. */
static void pool_free(tr_runtime *rt, void *data) {
    (void)rt;
    tr__blocking *p = data;
    pthread_mutex_lock(&p->mu);
    p->closing = 1;
    pthread_cond_broadcast(&p->work_cv);
    /* Queued tasks still run; if no thread is left to run them, run here. */
    while (p->threads > 0)
        pthread_cond_wait(&p->exit_cv, &p->mu);
    task *left = p->head;
    p->head = p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (left != NULL) {
        task *next = left->next;
        void *result = NULL;
        int rc = left->fn(left->arg, &result);
        finish(left, rc, result);
        left = next;
    }
    pool_destroy(p);
}
