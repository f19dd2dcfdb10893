/* core/fork.c - what a child process made by fork() gets.
 *
 * fork() copies the calling thread only. A runtime of the parent has its
 * workers in the parent; in the child its memory is a snapshot taken at
 * any instant, with locks held by threads that do not exist there. So in
 * the child every runtime the parent had is marked FORKED, and every public
 * call on it that could wait on one of its locks or threads returns
 * TR_EFORKED first (the state word is the one foreign sends and spawns
 * read anyway: no cost on the hot path). tr_runtime_free releases what
 * core owns (its worker loops' fds, the actor blocks, the runtime) without
 * joining threads; the actor blocks' chunks only if no parent thread held
 * the block pool's lock at the fork (else the chunk list may be torn: it
 * stays mapped), and never the blocks' side blocks (a parent thread may
 * have been freeing one); what the layers above core hang on it (io/, actors/:
 * their own threads and locks) is left as it is.
 *
 * The child may make runtimes of its own: the process-wide state they use
 * must be consistent, so the prepare handler takes the process-wide locks
 * (the runtime list's mutex, the message cache's depot, the lane segment
 * pool) and the parent and child handlers give them back. Those locks are
 * only ever held for a few instructions, never across a call that could
 * fork. The list holds every runtime made and not yet freed; its mutex is
 * taken by tr_runtime_new and tr_runtime_free only.
 *
 * The forking thread may be an actor's (fork from a handler): in the child
 * it is an ordinary thread, so its thread-locals that name a worker, an
 * actor or a panic frame are cleared. */
#include "core/fork.h"

#include <ck_pr.h>
#include <pthread.h>
#include <stdlib.h>

#include "core/blocks.h"
#include "core/msgcache.h"
#include "core/runtime.h"
#include "core/worker.h"
#include "mailbox/spsc.h"

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static tr_runtime *list_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void prepare(void) {
    pthread_mutex_lock(&list_mu);
    tr__msgcache_fork_lock();
    tr__lane_fork_lock();
}

static void parent(void) {
    tr__lane_fork_unlock();
    tr__msgcache_fork_unlock();
    pthread_mutex_unlock(&list_mu);
}

static void child(void) {
    /* We are the only thread: plain stores are enough, but the state is
     * read with ck_pr loads everywhere, so it is written the same way. */
    for (tr_runtime *rt = list_head; rt != NULL; rt = rt->forks) {
        ck_pr_store_32(&rt->state, TR__RT_FORKED);
        /* Spinlocks a parent's thread may have held: tr_runtime_free takes
         * none of them on a forked runtime, but a stray internal path
         * (a handle's last release) must not spin forever either. */
        rt->pool_torn = ck_spinlock_fas_locked(&rt->pool_lock);
        ck_spinlock_fas_unlock(&rt->pool_lock);
        ck_spinlock_fas_unlock(&rt->global.lock);
    }
    tr__tls_worker = NULL;
    tr__tls_self = NULL;
    *tr__panic_slot() = NULL;
    tr__lane_fork_unlock();
    tr__msgcache_fork_unlock();
    pthread_mutex_unlock(&list_mu);
}

static void install(void) {
    /* Fails only with ENOMEM; then a fork child gets what it always got
     * (the parent's runtimes look alive: do not use them). */
    (void)pthread_atfork(prepare, parent, child);
}

void tr__fork_add(tr_runtime *rt) {
    pthread_once(&atfork_once, install);
    pthread_mutex_lock(&list_mu);
    rt->forks = list_head;
    rt->pforks = &list_head;
    if (list_head != NULL)
        list_head->pforks = &rt->forks;
    list_head = rt;
    pthread_mutex_unlock(&list_mu);
}

void tr__fork_remove(tr_runtime *rt) {
    pthread_mutex_lock(&list_mu);
    if (rt->pforks != NULL) {
        *rt->pforks = rt->forks;
        if (rt->forks != NULL)
            rt->forks->pforks = rt->pforks;
        rt->forks = NULL;
        rt->pforks = NULL;
    }
    pthread_mutex_unlock(&list_mu);
}

void tr__fork_free(tr_runtime *rt) {
    tr__fork_remove(rt);
    /* The loops' fds (epoll, eventfd) are this process's copies: close
     * them. No thread to join, no lock to take. */
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tr__worker *w = &rt->workers[i];
        if (w->loop != NULL)
            ev_loop_destroy(w->loop);
        w->loop = NULL;
        tr__deque_destroy(&w->dq);
    }
    tr__blocks_destroy(rt); /* the actor blocks (their states stay: see the top) */
    free(rt->workers);
    free(rt);
}
