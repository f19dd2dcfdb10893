/* core/console.h - the console endpoint: a Unix socket served by one thread
 * per runtime that asked for it (include/troupe/console.h has the protocol). */
#ifndef TR_CORE_CONSOLE_H
#define TR_CORE_CONSOLE_H

#include "troupe/runtime.h"

typedef struct tr__console tr__console;

/* Start serving rt's console if rt->cfg.console_path or, when that is NULL,
 * the TROUPE_CONSOLE environment variable names a path. Called by
 * tr_runtime_new once its workers run. *out is NULL when there is no console
 * (nothing asked for one, or TROUPE_CONSOLE could not be served: a warning
 * went to stderr). Errors (a configured path only): TR_EINVAL (empty or
 * longer than a Unix socket path can be), TR_EEXIST (the path exists and is
 * not a socket), TR_EBUSY (a live program serves it), TR_ESYS (socket,
 * bind, listen or the thread failed: e.g. the folder is not writable),
 * TR_ENOMEM. */
int tr__console_start(tr_runtime *rt, tr__console **out);

/* Stop the thread, close every connection, remove the socket file (if it
 * is still ours) and free c. NULL is a no-op. Not from the console thread. */
void tr__console_stop(tr__console *c);

#endif
