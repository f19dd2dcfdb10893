/* core/msgcache.h - per-thread caches of small message blocks. */
#ifndef TR_CORE_MSGCACHE_H
#define TR_CORE_MSGCACHE_H

#include <stddef.h>

#include "troupe/msg.h"

/* Every block is this big: header plus TR__MSG_SMALL_DATA inline bytes. */
#define TR__MSG_BLOCK 128
#define TR__MSG_SMALL_DATA (TR__MSG_BLOCK - sizeof(tr_msg))

/* A block for a message with up to TR__MSG_SMALL_DATA inline bytes, from the
 * calling thread's cache (any thread). NULL when out of memory. */
tr_msg *tr__msgcache_alloc(void);
/* Give a block back to the calling thread's cache (any thread). */
void tr__msgcache_free(tr_msg *m);
/* fork (core/fork.c): take the process-wide depot lock before fork, give
 * it back after, in the parent and in the child. */
void tr__msgcache_fork_lock(void);
void tr__msgcache_fork_unlock(void);

#endif
