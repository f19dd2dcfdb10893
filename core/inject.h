/* core/inject.h - the runtime's global run queue (injection queue).
 *
 * Actors made runnable off the workers (by foreign threads), actors that used
 * up their batch (fairness) and deque overflow go here. Any thread pushes
 * lock-free; workers take bounded batches in FIFO order. */
#ifndef TR_CORE_INJECT_H
#define TR_CORE_INJECT_H

#include <ck_spinlock.h>
#include <ck_stack.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/atomic.h"

typedef struct tr__inject {
    ck_stack_t inbox TR__ALIGNED;       /* producers: one CAS each */
    ck_spinlock_fas_t lock TR__ALIGNED; /* consumers only */
    ck_stack_entry_t *head;             /* FIFO taken from inbox, under lock */
    ck_stack_entry_t *tail;
    uint32_t len; /* entries in head..tail (atomic loads for has_work) */
} tr__inject;

void tr__inject_init(tr__inject *q);
void tr__inject_push_any(tr__inject *q, ck_stack_entry_t *e);
/* Take up to max entries (FIFO), linked through ->next; returns how many. */
unsigned tr__inject_take_any(tr__inject *q, unsigned max, ck_stack_entry_t **out);
bool tr__inject_nonempty_any(tr__inject *q);

#endif
