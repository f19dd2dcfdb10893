/* troupe/console.h - the console endpoint and the Prometheus text.
 *
 * A runtime can serve a read-only console on a Unix socket, for troupe-top
 * and for scripts. It is opt-in: set tr_runtime_config.console_path, or run
 * the program with the TROUPE_CONSOLE environment variable set to a path
 * (used when console_path is NULL). A runtime with neither pays nothing: no
 * thread, no file descriptor.
 *
 * With one, the runtime makes the socket in tr_runtime_new (mode 0600, owner
 * only) and one thread that serves it; tr_runtime_free removes the socket
 * file. A socket file at the path that nobody answers on (left by a crashed
 * run) is replaced. When the socket cannot be made:
 *   - console_path: tr_runtime_new fails: TR_EINVAL (empty, or longer than a
 *     Unix socket path can be: 107 bytes on Linux), TR_EEXIST (the path
 *     exists and is not a socket: it is left alone), TR_EBUSY (a live
 *     program answers on it), TR_ESYS (the folder is missing or not
 *     writable, or the thread could not be made);
 *   - TROUPE_CONSOLE: the runtime starts without a console and one line on
 *     stderr says why. The variable is set by whoever runs the program, and
 *     a wrong path must not stop a program that works without it. (So with
 *     several runtimes in one process, the first serves the path and the
 *     others warn and run without.)
 *
 * Protocol, version TR_CONSOLE_PROTOCOL: a client connects, writes one
 * request line (a word, ended by "\n"; at most 255 bytes), and reads the
 * reply until the server closes the connection: one request per connection.
 * A reply that starts with "error: " is an error (an unknown request, a
 * request line too long, a reply over 64 MB, out of memory), one line. The
 * requests:
 *   snapshot    the runtime's snapshot as text (one line per worker and per
 *               actor, with names; what `troupe-top --once` prints)
 *   prometheus  the metrics in the Prometheus text format 0.0.4 (below)
 *   version     "troupe-console N\n", N = TR_CONSOLE_PROTOCOL
 *   help        the requests, one a line
 * Later versions add requests and metrics, never change these.
 *
 * Limits: at most 16 connections at a time (one more is told "error:
 * console busy" and closed); a connection has 2 s to send its request and
 * 5 s to read its reply, then it is closed. The console's thread renders
 * replies; workers never wait for it or for a client, and it never waits
 * for them: it answers while every worker is stuck in a handler (those
 * actors show as running). Out of file
 * descriptors, the console leaves new connections in the socket's backlog
 * and tries again every 100 ms (no spinning), says so once per episode (a
 * TR_LOG_WARN record, subsystem "console"), and serves them once fds are
 * back; the runtime is not affected.
 *
 * From a shell: `troupe-top --prometheus PATH`, or with socat
 *   echo prometheus | socat - UNIX-CONNECT:/tmp/troupe.sock
 * (docs/observability.md: troupe-top, the families, a scrape endpoint). */
#ifndef TROUPE_CONSOLE_H
#define TROUPE_CONSOLE_H

#include "troupe/common.h"

#include <stddef.h>

#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The console protocol's version ("troupe-console 1"). */
#define TR_CONSOLE_PROTOCOL 1

/* Write rt's metrics as Prometheus text (exposition format 0.0.4: "# HELP"
 * and "# TYPE" lines, then one `name{labels} value` line per sample, labels
 * such as worker="0" and actor="name#id"; docs/observability.md lists the
 * families) into buf: at most len bytes, NUL included (buf may be NULL when
 * len is 0). *needed (optional) gets the text's full length without the
 * NUL. Returns 0 if it all fit; TR_E2BIG if it was cut (buf then holds a
 * NUL-terminated prefix: call again with more than *needed bytes, a little
 * more for a runtime whose actors come and go); TR_EINVAL for a NULL rt or
 * a NULL buf with len > 0; TR_ENOMEM; TR_EFORKED (rt belongs to the
 * parent process). The metrics come from one snapshot
 * (tr_snapshot_take) taken by the call, so they agree with each other. Any
 * thread, actors included; rt must not be freed meanwhile. */
TR_EXTERN int tr_metrics_prometheus(tr_runtime *rt, char *buf, size_t len, size_t *needed);

#ifdef __cplusplus
}
#endif
#endif
