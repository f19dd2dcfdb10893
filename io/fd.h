/* io/fd.h - what io/fd.c's fd watches offer the tree beyond troupe/io.h. */
#ifndef TR_IO_FD_H
#define TR_IO_FD_H

#include <stdint.h>

#include "troupe/actor.h"

/* tr_fd_unwatch, and the watch's owner closes fd once its ev_io is stopped
 * (io/fd.c): for a caller that must close the fd right after unwatching
 * (the process-isolated pool's sockets and pidfds), without racing the
 * owner loop's epoll_ctl on a number the kernel may already have reused.
 * TR_ENOTFOUND (nothing is closed: the caller still owns fd), TR_EINVAL. */
int tr__fd_unwatch_close(tr_runtime *rt, uint64_t id);

#endif
