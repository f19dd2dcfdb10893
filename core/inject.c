/* core/inject.c - the global run queue.
 *
 * Producers push onto a ck_stack with one CAS (lock-free, any thread). A
 * consumer takes the spinlock that only consumers use, refills the FIFO from
 * the stack with one swap (reversing it, so the order is first come, first
 * served), and cuts at most `max` entries off the front. Bounded takes keep a
 * burst of injected actors spread over the workers instead of piling them
 * into one worker's deque. Consumers come here once per `global_interval`
 * turns or when idle, never per message. */
#include "core/inject.h"

#include "base/lock.h"

#include <ck_pr.h>
#include <stddef.h>

void tr__inject_init(tr__inject *q) {
    ck_stack_init(&q->inbox);
    q->lock = (ck_spinlock_fas_t)CK_SPINLOCK_FAS_INITIALIZER;
    q->head = q->tail = NULL;
    q->len = 0;
}

void tr__inject_push_any(tr__inject *q, ck_stack_entry_t *e) {
    /* Publishes the entry (and the actor around it); pairs with the acquire
     * after the batch pop in refill. */
    tr__stack_push_upmc(&q->inbox, e);
}

/* Under the lock: move the inbox, reversed, to the back of the FIFO. */
static void refill(tr__inject *q) {
    ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&q->inbox);
    TR__TSAN_ACQUIRE(&q->inbox);
    ck_stack_entry_t *first = NULL, *last = NULL;
    uint32_t n = 0;
    while (e != NULL) {
        ck_stack_entry_t *next = e->next;
        e->next = first;
        if (first == NULL)
            last = e;
        first = e;
        e = next;
        n++;
    }
    if (first == NULL)
        return;
    if (q->tail != NULL)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    ck_pr_store_32(&q->len, q->len + n);
}

unsigned tr__inject_take_any(tr__inject *q, unsigned max, ck_stack_entry_t **out) {
    *out = NULL;
    if (max == 0 || !tr__inject_nonempty_any(q))
        return 0;
    tr__spin_lock(&q->lock);
    if (q->head == NULL)
        refill(q);
    ck_stack_entry_t *first = q->head, *last = NULL;
    unsigned n = 0;
    for (ck_stack_entry_t *e = first; e != NULL && n < max; e = e->next) {
        last = e;
        n++;
    }
    if (n > 0) {
        q->head = last->next;
        if (q->head == NULL)
            q->tail = NULL;
        last->next = NULL;
        ck_pr_store_32(&q->len, q->len - n);
    }
    tr__spin_unlock(&q->lock);
    *out = first;
    return n;
}

bool tr__inject_nonempty_any(tr__inject *q) {
    return CK_STACK_FIRST(&q->inbox) != NULL || ck_pr_load_32(&q->len) != 0;
}
