/* core/deque.h - a fixed-size work-stealing deque of pointers.
 *
 * Chase and Lev, "Dynamic circular work-stealing deque" (SPAA 2005), in the
 * fixed-array form with the fences of Le, Pop, Cohen and Zappa Nardelli,
 * "Correct and efficient work-stealing for weak memory models" (PPoPP 2013).
 * The owner pushes and pops at the bottom (newest first: depth-first, warm
 * caches); thieves steal from the top (oldest first: the biggest pieces of
 * work). _owner functions: only the owning worker; _any: any thread. */
#ifndef TR_CORE_DEQUE_H
#define TR_CORE_DEQUE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/atomic.h"

typedef struct tr__deque {
    uint64_t top TR__ALIGNED;    /* thieves CAS it forward */
    uint64_t bottom TR__ALIGNED; /* written by the owner only */
    void **buf;
    uint64_t mask;
} tr__deque;

/* size: a power of two. Returns 0 or TR_ENOMEM. */
int tr__deque_init(tr__deque *d, uint64_t size);
void tr__deque_destroy(tr__deque *d);

/* False if full (the caller puts p elsewhere). */
bool tr__deque_push_owner(tr__deque *d, void *p);
/* The newest entry, or NULL if empty. */
void *tr__deque_pop_owner(tr__deque *d);
/* The oldest entry, or NULL if empty or another thief won the race. */
void *tr__deque_steal_any(tr__deque *d);
/* The oldest entry without taking it: a racy snapshot that may already be
 * taken (callers only read type-stable fields through it), or NULL. */
void *tr__deque_peek_top_any(const tr__deque *d);
/* Entries now (a snapshot). */
uint64_t tr__deque_size_any(const tr__deque *d);

#endif
