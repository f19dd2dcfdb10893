/* core/msgcache.h - per-thread caches of small message blocks. */
#ifndef TR_CORE_MSGCACHE_H
#define TR_CORE_MSGCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "troupe/msg.h"

/* Every block is this big: header plus TR__MSG_SMALL_DATA inline bytes. */
#define TR__MSG_BLOCK 128
#define TR__MSG_SMALL_DATA (TR__MSG_BLOCK - sizeof(tr_msg))

/* A block for a message with up to TR__MSG_SMALL_DATA inline bytes, from the
 * calling thread's cache (any thread). NULL when out of memory. */
tr_msg *tr__msgcache_alloc(void);
/* How far ahead the cache works: an allocation prefetches the block it
 * will hand out this many allocations later, and tr__msgcache_ahead names
 * that block. */
#define TR__MSGCACHE_AHEAD 16
/* The block the calling thread's cache will hand out TR__MSGCACHE_AHEAD
 * allocations from now, or NULL (fewer cached, or no cache yet): what a
 * foreign sender will most likely send next-but-AHEAD, as a prefetch hint
 * for its receiver (TR__MSG_AHEAD, core/msg.h). Never written or freed
 * through: by the time anyone looks, it may be anywhere. */
void *tr__msgcache_ahead(void);
/* Give a block back to the calling thread's cache (any thread). */
void tr__msgcache_free(tr_msg *m);
/* Blocks carved so far (any thread; a relaxed read). Blocks live as long as
 * the process, so this is the pool's size: what fan-in from foreign threads
 * grows when messages are made faster than they are handled (see refill in
 * msgcache.c). For tests and diagnostics. */
uint64_t tr__msgcache_pool_blocks(void);
/* Tests: the refill's wait bounds (how long without a magazine back, how
 * long in all, in ns; 0 = the default, 1 ms and 10 ms), so a test can
 * give a preempted receiver time. Process-wide; set while no thread
 * allocates. */
void tr__msgcache_set_wait_bounds(uint64_t stall_ns, uint64_t max_ns);
/* fork (core/fork.c): take the process-wide depot lock before fork, give
 * it back after, in the parent and in the child. */
void tr__msgcache_fork_lock(void);
void tr__msgcache_fork_unlock(void);

#endif
