/* troupe/io.h - file descriptors, TCP and signals as actor messages.
 *
 * I/O readiness and data arrive as messages in an actor's mailbox; nothing
 * here blocks. Every object lives on one worker's libev loop (the caller's
 * worker, or one picked round robin from a foreign thread); calls from any
 * other thread are handed to that loop, so every function here may be called
 * from any thread. Errors arrive as messages too; no I/O error crashes an
 * actor or the runtime. At runtime shutdown every watcher is stopped, every
 * socket closed, and undelivered messages are destroyed: nothing leaks.
 *
 * Message types (msg->type) and their fields:
 *   TR_MSG_FD_READY       word = tag, status = TR_FD_READ|TR_FD_WRITE bits
 *   TR_MSG_TCP_ACCEPTED   word = listener tag, ptr = the new tr_tcp* (take it
 *                         with tr_msg_take_ptr; if not taken it is closed)
 *   TR_MSG_TCP_CONNECTED  word = tag, status 0, TR_EIO (see tr_io_errno) or
 *                         TR_ETIMEDOUT (the idle timeout passed while connecting)
 *   TR_MSG_TCP_DATA       word = tag, inline data (tr_msg_data, msg->size)
 *   TR_MSG_TCP_CLOSED     word = tag, status 0 (peer closed), TR_EIO or
 *                         TR_ETIMEDOUT (idle timeout, tr_tcp_set_idle_timeout)
 *   TR_MSG_TCP_WRITE_FULL word = tag: the send buffer passed its high mark
 *   TR_MSG_TCP_WRITE_READY word = tag: it drained below its low mark */
#ifndef TROUPE_IO_H
#define TROUPE_IO_H

#include "troupe/common.h"

#include <stddef.h>
#include <stdint.h>

#include "troupe/actor.h"
#include "troupe/msg.h"
#include "troupe/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TR_MSG_FD_READY (TR_MSG_SYSTEM + 17)
#define TR_MSG_TCP_ACCEPTED (TR_MSG_SYSTEM + 18)
#define TR_MSG_TCP_CONNECTED (TR_MSG_SYSTEM + 19)
#define TR_MSG_TCP_DATA (TR_MSG_SYSTEM + 20)
#define TR_MSG_TCP_CLOSED (TR_MSG_SYSTEM + 21)
#define TR_MSG_TCP_WRITE_FULL (TR_MSG_SYSTEM + 22)
#define TR_MSG_TCP_WRITE_READY (TR_MSG_SYSTEM + 23)

/* The errno behind a TR_EIO status of an io message (0 if none). */
TR_EXTERN int tr_io_errno(const tr_msg *msg);

/* --- raw file descriptors ---------------------------------------------- */

#define TR_FD_READ 0x1u
#define TR_FD_WRITE 0x2u

typedef uint64_t tr_fd_watch_id;

/* Watch fd (non-blocking, owned by the caller) for the events in `events`.
 * Readiness is one-shot: when fd is ready, `to` gets TR_MSG_FD_READY once
 * and the watch pauses until tr_fd_rearm. The caller must tr_fd_unwatch
 * before closing fd. */
TR_EXTERN int tr_fd_watch(tr_ref *to, int fd, unsigned events, uint64_t tag, tr_fd_watch_id *out);
/* Resume a paused watch, for `events` (may differ from before). */
TR_EXTERN int tr_fd_rearm(tr_runtime *rt, tr_fd_watch_id id, unsigned events);
/* Stop watching. Returns 0, or TR_ENOTFOUND. Once it returns no new
 * TR_MSG_FD_READY is produced (one may already be queued). */
TR_EXTERN int tr_fd_unwatch(tr_runtime *rt, tr_fd_watch_id id);

/* --- TCP ------------------------------------------------------------------ */

typedef struct tr_tcp tr_tcp;                   /* a connection */
typedef struct tr_tcp_listener tr_tcp_listener; /* a listening socket */

/* Listen on host (a numeric IPv4/IPv6 address, e.g. "127.0.0.1") and port
 * (0: an ephemeral port, see tr_tcp_listener_port). Each accepted connection
 * reaches `owner` as TR_MSG_TCP_ACCEPTED. Bind errors are returned here
 * (TR_EIO; errno is kept); out of fds, TR_ESYS. The caller owns *out
 * (tr_tcp_listener_close).
 * Out of fds (or memory) while connections are pending, the listener does
 * not spin: it stops watching for 50 ms at a time, the connections wait in
 * the kernel's backlog, and accepting resumes by itself once fds are free. */
TR_EXTERN int tr_tcp_listen(tr_ref *owner, const char *host, uint16_t port, int backlog,
                            uint64_t tag, tr_tcp_listener **out);
TR_EXTERN int tr_tcp_listener_port(const tr_tcp_listener *l);
/* Give every connection this listener accepts from now on an idle timeout
 * of ms (as tr_tcp_set_idle_timeout; 0: none, the default). Any thread.
 * Returns 0 or TR_EINVAL (l NULL, ms above 2^32 seconds). */
TR_EXTERN int tr_tcp_listener_set_idle_timeout(tr_tcp_listener *l, uint64_t ms);
/* Stop accepting and free the listener (the handle is gone after). */
TR_EXTERN int tr_tcp_listener_close(tr_tcp_listener *l);

/* Connect to host:port (numeric address); `owner` gets TR_MSG_TCP_CONNECTED
 * and, on success, data as for an accepted connection. The caller owns *out
 * (tr_tcp_close, also after a failed connect). Out of fds: TR_ESYS, and
 * nothing was made. */
TR_EXTERN int tr_tcp_connect(tr_ref *owner, const char *host, uint16_t port, uint64_t tag,
                             tr_tcp **out);

/* Hand an accepted connection to its owner (any actor) and start reading:
 * data arrive as TR_MSG_TCP_DATA with word = tag. Call once. Data for an
 * owner whose bounded mailbox is full is dead-lettered: an owner that falls
 * behind should pause reading instead. */
TR_EXTERN int tr_tcp_start(tr_tcp *c, tr_ref *owner, uint64_t tag);

/* Read flow control: stop reading from the socket (the peer's writes then
 * block in its kernel buffers) until tr_tcp_resume. A few TR_MSG_TCP_DATA
 * may still arrive after tr_tcp_pause returns (already read). A paused
 * connection does not notice the peer closing until resumed. */
TR_EXTERN int tr_tcp_pause(tr_tcp *c);
TR_EXTERN int tr_tcp_resume(tr_tcp *c);

/* Send bytes (copied). Written at once when the socket takes them, else
 * buffered and written by the loop. When the buffer reaches the high mark
 * (default 256 KiB) the owner gets TR_MSG_TCP_WRITE_FULL and further writes
 * fail with TR_EFULL until TR_MSG_TCP_WRITE_READY (buffer at or below the
 * low mark, default 64 KiB). TR_ECLOSED after close or a connection error. */
TR_EXTERN int tr_tcp_write(tr_tcp *c, const void *data, size_t n);
TR_EXTERN int tr_tcp_set_watermarks(tr_tcp *c, size_t low, size_t high);
/* Idle timeout: when no byte has been read from or written to the peer for
 * ms milliseconds, the connection is shut and the owner gets
 * TR_MSG_TCP_CLOSED with status TR_ETIMEDOUT (TR_MSG_TCP_CONNECTED with
 * TR_ETIMEDOUT if it was still connecting: a connect timeout). The clock
 * starts when the connection reaches its loop and restarts with every byte
 * either way; setting a new value keeps the time already idle. 0 turns it
 * off (the default, unless the listener gave one). Any thread. Returns 0,
 * TR_EINVAL, or TR_ECLOSED after close or once the connection is shut. */
TR_EXTERN int tr_tcp_set_idle_timeout(tr_tcp *c, uint64_t ms);
/* Close timeout: after tr_tcp_close, output still buffered (a peer that does
 * not read) gets ms milliseconds to drain; then it is dropped and the
 * connection reset (SO_LINGER 0), and the fd is free. 0: no limit. The
 * default is TR_TCP_CLOSE_TIMEOUT_DEFAULT. Any thread, before tr_tcp_close.
 * Returns 0, TR_EINVAL, or TR_ECLOSED after close or once shut. */
#define TR_TCP_CLOSE_TIMEOUT_DEFAULT 30000
TR_EXTERN int tr_tcp_set_close_timeout(tr_tcp *c, uint64_t ms);
/* Bytes buffered and not yet written. */
TR_EXTERN size_t tr_tcp_pending(tr_tcp *c);

/* Close: buffered output is still written (then the socket closes; at most
 * for the close timeout), no more messages come, and the handle is gone
 * after this call. */
TR_EXTERN int tr_tcp_close(tr_tcp *c);

/* Signals: tr_runtime_drain_on_signals and tr_runtime_close_on_signals are
 * declared in troupe/runtime.h (implemented in io/signal.c, on worker 0's
 * libev loop). */

#ifdef __cplusplus
}
#endif
#endif
