/* core/promise.c - promises: the settling end of a future, held by anyone.
 *
 * A promise is one word in a block of the message cache: the future's token
 * (core/ask.c made the future with two references, the waiter's and this
 * token's). Settling takes the token out with an exchange, so of any number
 * of threads racing to settle, one settles and the rest see NULL
 * (TR_ESTATE); releasing takes it the same way and fails the future with
 * TR_ENOREPLY if it was still there. The future does the rest exactly as for
 * an ask: the outcome CAS, the futex wake-up (deferred to the end of the turn
 * when an actor settles), a reply dropped if the waiter released first. */

#include <ck_pr.h>

#include "base/atomic.h"
#include "core/ask.h"
#include "core/msg.h"
#include "core/msgcache.h"
#include "troupe/error.h"

struct tr_promise {
    /* The future's token until settled, then NULL. Taken with an exchange:
     * acq_rel orders the settler's use after whatever made the promise. */
    tr_future *token;
};

_Static_assert(sizeof(struct tr_promise) <= TR__MSG_BLOCK, "a promise fits a message block");

int tr_promise_new(tr_runtime *rt, tr_promise **p, tr_future **f) {
    if (p != NULL)
        *p = NULL;
    if (f != NULL)
        *f = NULL;
    if (rt == NULL || p == NULL || f == NULL)
        return TR_EINVAL;
    tr_promise *pr = (tr_promise *)(void *)tr__msgcache_alloc();
    if (pr == NULL)
        return TR_ENOMEM;
    tr_future *fu = tr__future_new(rt);
    if (fu == NULL) {
        tr__msgcache_free((tr_msg *)(void *)pr);
        return TR_ENOMEM;
    }
    pr->token = fu;
    *p = pr;
    *f = fu;
    return 0;
}

/* The token, once: NULL if someone settled already. */
static tr_future *take(tr_promise *p) {
    /* The locked xchg is a full barrier: one caller gets the token, and
     * what it read of p before is ordered (the token's future orders the
     * rest through its own state). */
    TR__TSAN_RELEASE(&p->token);
    tr_future *f = ck_pr_fas_ptr(&p->token, NULL);
    TR__TSAN_ACQUIRE(&p->token);
    return f;
}

int tr_promise_reply_msg(tr_promise *p, tr_msg *msg) {
    if (p == NULL || msg == NULL || msg->type >= TR_MSG_SYSTEM || tr__msg_token(msg) != NULL)
        return TR_EINVAL;
    tr_future *f = take(p);
    if (f == NULL)
        return TR_ESTATE;
    msg->next = NULL;
    msg->reply = NULL; /* no sender: the waiter is no actor */
    msg->flags = (msg->flags & ~TR__MSG_ASK) | TR__MSG_REPLY;
    tr__future_settle(f, msg, 0);
    return 0;
}

static int reply_new(tr_promise *p, uint32_t type, const void *data, size_t size, uint64_t word) {
    tr_msg *m;
    int rc = tr__msg_make(&m, type, data, size, word);
    if (rc != 0)
        return rc;
    rc = tr_promise_reply_msg(p, m);
    if (rc != 0)
        m->release(m);
    return rc;
}

int tr_promise_reply(tr_promise *p, uint32_t type, const void *data, size_t size) {
    if (p == NULL || (data == NULL && size != 0))
        return TR_EINVAL;
    return reply_new(p, type, data, size, 0);
}

int tr_promise_reply_word(tr_promise *p, uint32_t type, uint64_t word) {
    if (p == NULL)
        return TR_EINVAL;
    return reply_new(p, type, NULL, 0, word);
}

int tr_promise_fail(tr_promise *p, int code) {
    /* > -4096: far from the future's own states (a settled code is stored
     * as uint32_t). */
    if (p == NULL || code >= 0 || code <= -4096)
        return TR_EINVAL;
    tr_future *f = take(p);
    if (f == NULL)
        return TR_ESTATE;
    tr__future_settle(f, NULL, code);
    return 0;
}

int tr_promise_release(tr_promise *p) {
    if (p == NULL)
        return TR_EINVAL;
    tr_future *f = take(p);
    if (f != NULL)
        tr__future_settle(f, NULL, TR_ENOREPLY);
    tr__msgcache_free((tr_msg *)(void *)p);
    return 0;
}

void tr_promise_free_fn(void *p) {
    if (p != NULL)
        tr_promise_release(p);
}
