/* troupe.h - the troupe actor runtime: include this one header.
 *
 * troupe/common.h   TR_EXTERN, the mark of an exported function
 * troupe/error.h    error codes, tr_strerror
 * troupe/msg.h      messages and their ownership
 * troupe/runtime.h  the runtime and its worker threads
 * troupe/actor.h    actors, handles, sending, asking, monitors and links
 * troupe/registry.h names: register, look up, send and ask by name
 * troupe/group.h    process groups and topic publish/subscribe
 * troupe/supervisor.h supervisors and supervision trees
 * troupe/pool.h     supervised worker pools behind one handle
 * troupe/timer.h    delayed and periodic messages, ask and idle timeouts
 * troupe/io.h       file descriptors, TCP and signals as messages
 * troupe/blocking.h the blocking-task pool
 * troupe/ipool.h    process-isolated pools (workers in child processes)
 * troupe/introspect.h metrics levels and the snapshot of actors and workers
 * troupe/console.h  the console endpoint (troupe-top) and Prometheus text
 * troupe/log.h      reports: crash reports, summaries, the log hook */
#ifndef TROUPE_H
#define TROUPE_H

#include "troupe/common.h"
#include "troupe/error.h"
#include "troupe/msg.h"
#include "troupe/runtime.h"
#include "troupe/actor.h"
#include "troupe/registry.h"
#include "troupe/group.h"
#include "troupe/supervisor.h"
#include "troupe/pool.h"
#include "troupe/ipool.h"
#include "troupe/timer.h"
#include "troupe/io.h"
#include "troupe/blocking.h"
#include "troupe/introspect.h"
#include "troupe/console.h"
#include "troupe/log.h"

#endif
