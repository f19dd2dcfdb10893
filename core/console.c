/* core/console.c - the console endpoint: a Unix socket, served by one thread.
 *
 * A runtime serves its console when tr_runtime_config.console_path or the
 * TROUPE_CONSOLE environment variable names a path; otherwise this file
 * costs it nothing (no thread, no fd: one NULL pointer in the runtime). The
 * protocol (include/troupe/console.h): a client connects, writes one request
 * line, reads the reply until the server closes the connection.
 *
 * One thread per console, in poll(2) over the listening socket, a wake-up
 * pipe and at most MAX_CLIENTS connections, every fd non-blocking. It never
 * runs on, waits for or signals a worker: a reply is rendered on this thread
 * from a snapshot (whose walk is the only thing workers could notice), so a
 * slow or hostile client costs at most a slot and a few KB, never a worker's
 * time. Each connection has a deadline (REQUEST_MS to send its request line,
 * REPLY_MS to take its reply) and the request line is at most REQUEST_MAX
 * bytes: past either, the connection is closed. Replies are capped at
 * REPLY_MAX bytes.
 *
 * Why its own thread and not a worker's libev loop: a worker's loop runs
 * actors, and rendering a snapshot of a large runtime takes milliseconds
 * that would delay them; and io/, which owns the loops' watchers, sits above
 * core, while tr_runtime_new (core) must start the console. The thread is
 * made only for a runtime that asked for a console.
 *
 * The socket file: a file already at the path that is a socket nobody
 * answers on (a crashed run's) is replaced; one a live program answers on
 * is TR_EBUSY; anything else there is TR_EEXIST and is left alone. At stop
 * the file is removed only if it is still the one we bound (same device and
 * inode), so a later program's socket at the same path survives us. */
#define _GNU_SOURCE /* accept4, pipe2, pthread_setname_np */
#include "core/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/prometheus.h"
#include "core/runtime.h"
#include "core/text.h"
#include "troupe/console.h"
#include "troupe/error.h"
#include "troupe/introspect.h"

#define MAX_CLIENTS 16
#define REQUEST_MAX 256 /* bytes of a request line, newline included */
#define REQUEST_MS 2000
#define REPLY_MS 5000
#define REPLY_MAX (64u << 20)
/* Out of fds (or kernel memory) for accept: the pending connection stays in
 * the backlog, so the listening socket stays readable, and polling it would
 * spin. It is left out of the poll this long, then tried again. */
#define ACCEPT_RETRY_MS 100

typedef struct client {
    int fd; /* -1: free slot */
    int writing;
    int64_t deadline_ms;
    size_t inlen;
    char in[REQUEST_MAX];
    tr__text out;
    size_t outpos;
} client;

struct tr__console {
    tr_runtime *rt;
    pthread_t thread;
    int listen_fd;
    int wake[2]; /* wake[1] written once by tr__console_stop */
    dev_t dev;   /* the socket file we bound, to remove only ours */
    ino_t ino;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    client clients[MAX_CLIENTS];
    int64_t accept_after_ms; /* accept failed for want of fds: not before then */
    int accept_failing;      /* reported once per run of failures */
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- requests ---------------------------------------------------------- */

static void req_version(tr_runtime *rt, tr__text *out) {
    (void)rt;
    tr__text_printf(out, "troupe-console %d\n", TR_CONSOLE_PROTOCOL);
}

static void req_help(tr_runtime *rt, tr__text *out);

static void req_prometheus(tr_runtime *rt, tr__text *out) {
    int rc = tr__prometheus_render(rt, out);
    if (rc != 0 && out->err == 0) {
        out->len = 0;
        tr__text_printf(out, "error: %s\n", tr_strerror(rc));
    }
}

static void req_snapshot(tr_runtime *rt, tr__text *out) {
    tr_snapshot *snap;
    int rc = tr_snapshot_take(rt, &snap);
    if (rc != 0) {
        tr__text_printf(out, "error: %s\n", tr_strerror(rc));
        return;
    }
    /* Format into the reply's own buffer: ask the length, make room, write. */
    size_t need = 0;
    tr_snapshot_format(snap, NULL, 0, &need);
    if (out->err == 0 && need > 0) {
        size_t at = out->len;
        tr__text_reserve(out, need);
        if (out->err == 0 && tr_snapshot_format(snap, out->buf + at, need + 1, NULL) == 0)
            out->len = at + need;
    }
    tr_snapshot_free(snap);
}

static const struct request {
    const char *name;
    void (*fn)(tr_runtime *rt, tr__text *out);
    const char *what;
} requests[] = {
    {"snapshot", req_snapshot, "the runtime's snapshot: a line per worker and per actor"},
    {"prometheus", req_prometheus, "the metrics in Prometheus text format 0.0.4"},
    {"version", req_version, "the protocol version: troupe-console N"},
    {"help", req_help, "this list"},
};

static void req_help(tr_runtime *rt, tr__text *out) {
    (void)rt;
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
        tr__text_printf(out, "%-12s %s\n", requests[i].name, requests[i].what);
}

/* Render the reply to line (NUL-terminated, without its newline). */
static void answer(tr__console *c, client *cl, char *line) {
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
        line[--n] = '\0';
    while (*line == ' ' || *line == '\t')
        line++;
    cl->out.max = REPLY_MAX;
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        if (strcmp(line, requests[i].name) == 0) {
            requests[i].fn(c->rt, &cl->out);
            break;
        }
        if (i + 1 == sizeof(requests) / sizeof(requests[0]))
            tr__text_printf(&cl->out, "error: unknown request (try help)\n");
    }
    if (cl->out.err != 0) { /* too large, or no memory: say so instead */
        int err = cl->out.err;
        tr__text_free(&cl->out);
        cl->out.max = REPLY_MAX;
        tr__text_printf(&cl->out, "error: %s\n", tr_strerror(err));
    }
    cl->writing = 1;
    cl->outpos = 0;
    cl->deadline_ms = now_ms() + REPLY_MS;
}

/* ---- connections ------------------------------------------------------- */

static void drop(client *cl) {
    close(cl->fd);
    cl->fd = -1;
    tr__text_free(&cl->out);
}

static void on_accept(tr__console *c) {
    for (;;) {
        int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The connection waits in the backlog; so do we, a while. */
                c->accept_after_ms = now_ms() + ACCEPT_RETRY_MS;
                if (!c->accept_failing) {
                    c->accept_failing = 1;
                    tr__log_text(c->rt, TR_LOG_WARN, "console", NULL,
                                 "cannot accept a console connection (%s): retrying every %d ms",
                                 errno == EMFILE   ? "EMFILE: no fd left"
                                 : errno == ENFILE ? "ENFILE: the system has no fd left"
                                                   : "no kernel memory",
                                 ACCEPT_RETRY_MS);
                }
            }
            return; /* EAGAIN: nothing pending */
        }
        c->accept_failing = 0;
        client *cl = NULL;
        for (int i = 0; i < MAX_CLIENTS && cl == NULL; i++)
            if (c->clients[i].fd < 0)
                cl = &c->clients[i];
        if (cl == NULL) { /* full: tell it, best effort, and hang up */
            static const char busy[] = "error: console busy, try again\n";
            char req[REQUEST_MAX];
            /* Take what it sent: closing with unread input would reset the
             * connection, and the client could lose the answer. */
            (void)recv(fd, req, sizeof(req), MSG_DONTWAIT);
            (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            close(fd);
            continue;
        }
        cl->fd = fd;
        cl->writing = 0;
        cl->inlen = 0;
        cl->outpos = 0;
        cl->deadline_ms = now_ms() + REQUEST_MS;
    }
}

static void on_readable(tr__console *c, client *cl) {
    for (;;) {
        ssize_t n = recv(cl->fd, cl->in + cl->inlen, REQUEST_MAX - cl->inlen, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) { /* gone before its request was complete */
            drop(cl);
            return;
        }
        char *nl = memchr(cl->in + cl->inlen, '\n', (size_t)n);
        cl->inlen += (size_t)n;
        if (nl != NULL) {
            *nl = '\0';
            answer(c, cl, cl->in);
            return;
        }
        if (cl->inlen == REQUEST_MAX) { /* no newline in REQUEST_MAX bytes */
            cl->out.max = REPLY_MAX;
            tr__text_printf(&cl->out, "error: request line too long\n");
            cl->writing = 1;
            cl->deadline_ms = now_ms() + REPLY_MS;
            return;
        }
    }
}

static void on_writable(client *cl) {
    while (cl->outpos < cl->out.len) {
        ssize_t n = send(cl->fd, cl->out.buf + cl->outpos, cl->out.len - cl->outpos,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) { /* the client hung up mid-reply */
            drop(cl);
            return;
        }
        cl->outpos += (size_t)n;
    }
    /* All sent: closing is the end of the reply. Take what the client sent
     * past its request line first (a little, without waiting): closing
     * with unread input would reset the connection, and the client could
     * lose the end of its reply. */
    char junk[REQUEST_MAX];
    for (int i = 0; i < 16 && recv(cl->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
        ;
    drop(cl);
}

static void *console_main(void *arg) {
    tr__console *c = arg;
    pthread_setname_np(pthread_self(), "troupe-console"); /* for top -H, gdb */
    struct pollfd pfd[2 + MAX_CLIENTS];
    client *who[2 + MAX_CLIENTS];
    for (;;) {
        int64_t now = now_ms();
        int timeout = -1;
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = c->wake[0], .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
        if (now < c->accept_after_ms) { /* backing off: poll ignores a negative fd */
            pfd[1].fd = -1;
            timeout = (int)(c->accept_after_ms - now);
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client *cl = &c->clients[i];
            if (cl->fd < 0)
                continue;
            if (now >= cl->deadline_ms) { /* too slow: hang up */
                drop(cl);
                continue;
            }
            int64_t left = cl->deadline_ms - now;
            if (timeout < 0 || left < timeout)
                timeout = (int)left;
            who[n] = cl;
            pfd[n++] = (struct pollfd){.fd = cl->fd, .events = cl->writing ? POLLOUT : POLLIN};
        }
        int r = poll(pfd, n, timeout);
        if (r < 0)
            continue; /* EINTR (signals are blocked here, but be safe) */
        if (pfd[0].revents != 0)
            break; /* stop */
        for (nfds_t i = 2; i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (who[i]->writing)
                on_writable(who[i]);
            else
                on_readable(c, who[i]);
        }
        if (pfd[1].revents != 0)
            on_accept(c);
    }
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (c->clients[i].fd >= 0)
            drop(&c->clients[i]);
    return NULL;
}

/* ---- start and stop ---------------------------------------------------- */

/* Is someone answering on the socket at path? 1 yes, 0 no (stale), <0 error. */
static int socket_alive(const struct sockaddr_un *addr) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TR_ESYS;
    int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    int err = errno;
    close(fd);
    if (rc == 0)
        return 1;
    return err == ECONNREFUSED ? 0 : TR_ESYS;
}

static int bind_socket(tr__console *c, const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(addr.sun_path))
        return TR_EINVAL;
    memcpy(addr.sun_path, path, len + 1);
    memcpy(c->path, path, len + 1);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return TR_EEXIST; /* not ours to remove */
        int alive = socket_alive(&addr);
        if (alive < 0)
            return alive;
        if (alive)
            return TR_EBUSY;
        if (unlink(path) != 0 && errno != ENOENT)
            return TR_ESYS;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TR_ESYS;
    /* Owner only: on Linux the socket file takes the mode of the socket's
     * inode (less the umask) when bound; chmod after bind for the rest. */
    (void)fchmod(fd, 0600);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int rc = errno == EADDRINUSE ? TR_EBUSY : TR_ESYS; /* a racing server */
        close(fd);
        return rc;
    }
    (void)chmod(path, 0600);
    if (listen(fd, MAX_CLIENTS) != 0 || lstat(path, &st) != 0) {
        close(fd);
        unlink(path);
        return TR_ESYS;
    }
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->listen_fd = fd;
    return 0;
}

static void remove_ours(tr__console *c) {
    struct stat st;
    if (lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
        unlink(c->path);
}

static int start_thread(tr__console *c) {
    /* The thread takes no signals: they stay with the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&c->thread, NULL, console_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : TR_ESYS;
}

static int console_open(tr_runtime *rt, const char *path, tr__console **out) {
    tr__console *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return TR_ENOMEM;
    c->rt = rt;
    c->listen_fd = c->wake[0] = c->wake[1] = -1;
    for (int i = 0; i < MAX_CLIENTS; i++)
        c->clients[i].fd = -1;
    int rc = bind_socket(c, path);
    if (rc == 0 && pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        rc = TR_ESYS;
    if (rc == 0)
        rc = start_thread(c);
    if (rc != 0) {
        if (c->listen_fd >= 0) {
            close(c->listen_fd);
            remove_ours(c);
        }
        if (c->wake[0] >= 0) {
            close(c->wake[0]);
            close(c->wake[1]);
        }
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int tr__console_start(tr_runtime *rt, tr__console **out) {
    *out = NULL;
    const char *path = rt->cfg.console_path;
    if (path != NULL)
        return console_open(rt, path, out);
    path = getenv("TROUPE_CONSOLE");
    if (path == NULL || path[0] == '\0')
        return 0;
    /* Set by whoever runs the program, not by the program: a path that
     * cannot be served must not stop a program that works without it. */
    int rc = console_open(rt, path, out);
    if (rc != 0)
        fprintf(stderr, "troupe: console: cannot serve TROUPE_CONSOLE=%s (%s); no console\n", path,
                tr_strerror(rc));
    return 0;
}

void tr__console_stop(tr__console *c) {
    if (c == NULL)
        return;
    char b = 1;
    while (write(c->wake[1], &b, 1) < 0 && errno == EINTR)
        ;
    pthread_join(c->thread, NULL);
    close(c->listen_fd);
    remove_ours(c);
    close(c->wake[0]);
    close(c->wake[1]);
    free(c);
}
