/* isolate/ipool.c - the router of a process-isolated pool
 * (include/troupe/ipool.h).
 *
 * The pool handle is this router actor. It owns every slot's child process
 * (pid, pidfd, the parent's end of the socketpair), the bytes waiting to be
 * written to each child, the jobs each child has in flight (a FIFO ring: a
 * child answers in order, so a reply answers the oldest) and the jobs waiting
 * for room, all as plain actor state. The children's sockets and pidfds are
 * watched with io/'s one-shot fd watches (troupe/io.h): readiness arrives as
 * TR_MSG_FD_READY in this mailbox, so every piece of state has one owner and
 * no lock. isolate/ sits above actors/ (restart intensity and backoff, the
 * control requests and stats of troupe/pool.h, the timer thread) and io/.
 *
 * A job: kept (tr_msg_keep), framed into its slot's out buffer, and pushed
 * on the ring; the buffer is written when this actor has handled what its
 * mailbox held (a flush message it sends itself once per batch, reused), so
 * the jobs of a burst go out in one write per child. A reply frame pops the
 * ring's head: the reply message answers the job (tr_reply_msg) and the job
 * is freed. A header announcing more than TR_MSG_MAX_SIZE bytes cannot be
 * a reply: the child is killed and dies like any other (read_in).
 *
 * A death: the pidfd turns readable. The router reaps the child (waitpid),
 * reads what the socket still holds (replies written before the crash are
 * answered), and learns from the child's progress page (isolate/ipool_child.h)
 * which job it was running: that one failed an attempt (routed again up to
 * max_redeliveries times, then dead-lettered with msg->status =
 * TR_IPOOL_DIED_*); the others in the ring are routed again as returned
 * (not an attempt: finished with their replies lost in the child's buffer,
 * or never started). Then both fds are closed and the slot respawned under
 * the pool's intensity and backoff (actors/restarts.h), like a thread
 * pool's worker. The watchdog is a timer message from the actors/ timer
 * thread every job_timeout_ms / 4: the router reads each child's page and
 * SIGKILLs a child whose current job started longer ago than
 * job_timeout_ms; the death then goes as above.
 *
 * Close: queued and in-flight jobs are dead-lettered (status 0), each child
 * is killed and reaped (waitpid blocks only until the kill lands), its
 * watches are dropped and its fds closed, all before terminate returns. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/pool_api.h"
#include "actors/pool_ctrl.h"
#include "actors/restarts.h"
#include "actors/timer_thread.h"
#include "base/atomic.h"
#include "core/actor.h"
#include "core/ask.h"
#include "core/log.h"
#include "core/msg.h"
#include "core/runtime.h"
#include "core/worker.h"
#include "io/fd.h"
#include "isolate/ipool_child.h"
#include "troupe/error.h"
#include "troupe/io.h"
#include "troupe/supervisor.h"

#define TR__I_FLUSH (TR_MSG_SYSTEM + 0x111u) /* the router's own: write out */
#define TR__I_START (TR_MSG_SYSTEM + 0x112u) /* the router's own: watch the children */
#define WD_TAG (1ull << 63)                  /* watchdog timer tag; respawns count up */
#define RETRY_MIN_MS 10
#define ATTEMPTS 0xFFFF /* m->status while we own a job: failed attempts so far */

enum { S_EMPTY = 0, S_RUN, S_DUE };

typedef struct islot {
    int state;
    pid_t pid;
    int pidfd, sock;      /* -1 when none */
    tr_fd_watch_id wsock; /* 0 when not watched */
    tr_fd_watch_id wpid;
    uint32_t gen; /* incarnation: in the watches' tags, so stale events are told */
    unsigned armed; /* events the socket watch waits for now (0: fired, not rearmed) */
    int eof;
    int killed; /* the watchdog sent SIGKILL */
    uint64_t due;
    tr__iprogress *prog; /* shared with the child (isolate/ipool_child.h) */
    uint64_t answered;   /* replies from this child */
    tr_msg **ring;       /* jobs in flight, oldest at head */
    unsigned head, nfl;
    tr_msg *p_head, *p_tail; /* KEY_HASH: jobs for this slot that wait */
    char *out;
    size_t out_off, out_len, out_cap;
    char *in;
    size_t in_len, in_cap;
    uint64_t handled;
} islot;

typedef struct irouter {
    tr_ipool_config cfg; /* entry and exe point into strs */
    char *strs;
    tr_runtime *rt;
    tr_ctx *ctx;
    islot *slots;
    unsigned n, cap, max_fl;
    unsigned rr;
    uint64_t rng;
    tr_msg *q_head, *q_tail;
    tr_msg *flush_msg; /* ours while no flush is pending */
    tr__restarts rs;
    int64_t user_handles; /* as actors/pool.c's (actors/pool_worker.h says why) */
    tr__pool_counts cnt; /* queued: the FIFO's length */
    uint64_t crashes, kills;
    /* Respawn backoff and watchdog timers: slots in this struct, so that
     * arming them allocates nothing (out of memory the watchdog still
     * kills a hung child, a respawn still falls due: timer_thread.h). */
    tr__atimer_slot respawn_timer, wd_timer;
    int timer_armed;
    uint64_t timer_tag, timer_due;
    int closing;
} irouter;

typedef struct irouter_state {
    irouter *r;
} irouter_state;

typedef struct istart {
    irouter *r;
    int64_t user_handles;
} istart;

/* --- queues ------------------------------------------------------------------ */

static void q_push(tr_msg **head, tr_msg **tail, tr_msg *m) {
    m->next = NULL;
    if (*tail != NULL)
        (*tail)->next = m;
    else
        *head = m;
    *tail = m;
}

static tr_msg *q_pop(tr_msg **head, tr_msg **tail) {
    tr_msg *m = *head;
    if (m == NULL)
        return NULL;
    *head = m->next;
    if (*head == NULL)
        *tail = NULL;
    m->next = NULL;
    return m;
}

static void job_dead(irouter *r, tr_msg *m, int how, int why) {
    r->cnt.dead++;
    m->status = how;
    m->next = NULL;
    tr__dead_letter(r->rt, m, why);
}

/* --- writing jobs ------------------------------------------------------------ */

static uint64_t next_rand(irouter *r) {
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    return r->rng;
}

static void want_flush(irouter *r) {
    tr_msg *m = r->flush_msg;
    if (m == NULL)
        return; /* one is on its way */
    r->flush_msg = NULL;
    if (tr__actor_push(tr_self(r->ctx), m) != 0)
        r->flush_msg = m; /* sealed: we are closing, nothing will be written */
}

/* Frame m into slot i's out buffer and put it in flight. 0, or TR_ENOMEM
 * (m untouched). */
static int put(irouter *r, unsigned i, tr_msg *m) {
    islot *s = &r->slots[i];
    size_t len = m->size;
    const void *data = len ? tr_msg_data(m) : NULL;
    if (data == NULL)
        len = 0;
    size_t need = s->out_len + sizeof(tr__iframe) + len;
    if (need > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *o = realloc(s->out, cap);
        if (o == NULL)
            return TR_ENOMEM;
        s->out = o;
        s->out_cap = cap;
    }
    tr__iframe h = {.len = (uint32_t)len,
                    .type = m->type,
                    .attempt = (uint32_t)m->status & ATTEMPTS,
                    .word = m->word};
    memcpy(s->out + s->out_len, &h, sizeof(h));
    if (len)
        memcpy(s->out + s->out_len + sizeof(h), data, len);
    s->out_len = need;
    s->ring[(s->head + s->nfl) % r->max_fl] = m;
    s->nfl++;
    r->cnt.routed++;
    want_flush(r);
    return 0;
}

static int has_room(const irouter *r, const islot *s) {
    return s->state == S_RUN && !s->eof && s->nfl < r->max_fl;
}

static void route(irouter *r, tr_msg *m);

/* Fill slot i from what waits for it: its key queue, then the shared one. */
static void feed(irouter *r, unsigned i) {
    islot *s = &r->slots[i];
    while (has_room(r, s)) {
        tr_msg *m = q_pop(&s->p_head, &s->p_tail);
        int mine = m != NULL;
        if (m == NULL && r->cfg.pool.routing != TR_ROUTE_KEY_HASH)
            m = q_pop(&r->q_head, &r->q_tail);
        if (m == NULL)
            return;
        r->cnt.queued--;
        if (put(r, i, m) != 0) {
            if (mine) { /* back in front */
                m->next = s->p_head;
                s->p_head = m;
                if (s->p_tail == NULL)
                    s->p_tail = m;
            } else {
                m->next = r->q_head;
                r->q_head = m;
                if (r->q_tail == NULL)
                    r->q_tail = m;
            }
            r->cnt.queued++;
            return;
        }
    }
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Send m to a child with room, or make it wait. Owned by us already. */
static void route(irouter *r, tr_msg *m) {
    unsigned n = r->n;
    if (r->cfg.pool.routing == TR_ROUTE_KEY_HASH) {
        unsigned i = (unsigned)(mix(m->word) % n);
        islot *s = &r->slots[i];
        if (s->p_head == NULL && has_room(r, s) && put(r, i, m) == 0)
            return;
        q_push(&s->p_head, &s->p_tail, m);
        r->cnt.queued++; /* counted with the shared queue in stats */
        return;
    }
    if (r->q_head == NULL) {
        int best = -1;
        if (r->cfg.pool.routing == TR_ROUTE_SMALLEST_MAILBOX) {
            for (unsigned k = 0; k < n; k++)
                if (has_room(r, &r->slots[k]) && (best < 0 || r->slots[k].nfl < r->slots[best].nfl))
                    best = (int)k;
        } else if (r->cfg.pool.routing == TR_ROUTE_SHARED_QUEUE) {
            /* The first child with room: a burst fills one child's
             * pipeline before it wakes the next, so only as many children
             * run as the load needs, and each write and read carries a
             * batch (SHARED_QUEUE in troupe/ipool.h). */
            for (unsigned k = 0; k < n && best < 0; k++)
                if (has_room(r, &r->slots[k]))
                    best = (int)k;
        } else {
            unsigned start =
                r->cfg.pool.routing == TR_ROUTE_RANDOM ? (unsigned)(next_rand(r) % n) : r->rr;
            for (unsigned k = 0; k < n && best < 0; k++)
                if (has_room(r, &r->slots[(start + k) % n]))
                    best = (int)((start + k) % n);
            if (best >= 0)
                r->rr = (unsigned)best + 1;
        }
        if (best >= 0 && put(r, (unsigned)best, m) == 0)
            return;
    }
    q_push(&r->q_head, &r->q_tail, m);
    r->cnt.queued++;
}

/* m to slot i's child: written now if it has room and nothing waits for it
 * before m, else in the slot's own queue (fed when it has room, or when it
 * is respawned). */
static void to_slot(irouter *r, unsigned i, tr_msg *m) {
    islot *s = &r->slots[i];
    if (s->p_head == NULL && has_room(r, s) && put(r, i, m) == 0)
        return;
    q_push(&s->p_head, &s->p_tail, m);
    r->cnt.queued++; /* counted with the shared queue in stats */
}

/* BROADCAST, as a thread pool's (troupe/pool.h): every live child gets a
 * copy of a new job (its type, word, inline data and a tell's sender); the
 * original, with its ask reply token, goes to the first live child. A copy
 * waits in its own child's queue, so it reaches that child (or the child's
 * next incarnation); a copy that cannot be made (no memory) is skipped. A
 * copy is a job like any other from here: its crashes count attempts, it is
 * redelivered (to one child) or dead-lettered, and its reply goes to the
 * tell's sender (an ask's only answer is the original's). With no live
 * child the original alone waits, and goes to one child later. */
static void broadcast(irouter *r, tr_msg *m) {
    int first = -1;
    size_t size = (m->flags & TR__MSG_INLINE) ? m->size : 0;
    for (unsigned i = 0; i < r->n; i++) {
        if (r->slots[i].state != S_RUN)
            continue;
        if (first < 0) {
            first = (int)i;
            continue;
        }
        tr_msg *c;
        if (tr__msg_make(&c, m->type, size ? tr_msg_data(m) : NULL, size, m->word) != 0)
            continue;
        if (tr__msg_sender(m) != NULL) { /* a tell's sender, for every copy (no reference) */
            c->reply = m->reply;
            c->corr = m->corr;
        }
        c->status = 0;
        r->cnt.copies++;
        to_slot(r, i, c);
    }
    if (first < 0)
        route(r, m);
    else
        to_slot(r, (unsigned)first, m);
}

/* A job's attempt failed (how: TR_IPOOL_DIED_*): again, or dead. */
static void attempt_failed(irouter *r, tr_msg *m, int how) {
    uint32_t a = ((uint32_t)m->status & ATTEMPTS) + 1;
    if (a > r->cfg.pool.max_redeliveries) {
        job_dead(r, m, how, TR_DEAD_DROPPED);
        return;
    }
    m->status = (int32_t)a;
    r->cnt.redeliveries++;
    route(r, m);
}

/* --- the socket -------------------------------------------------------------- */

static void rearm(irouter *r, islot *s) {
    if (s->wsock == 0 || s->eof)
        return;
    unsigned ev = TR_FD_READ | (s->out_off < s->out_len ? TR_FD_WRITE : 0);
    if (ev == s->armed)
        return;
    if (tr_fd_rearm(r->rt, s->wsock, ev) == 0)
        s->armed = ev;
}

static void write_out(irouter *r, islot *s) {
    while (s->out_off < s->out_len && !s->eof) {
        ssize_t w = send(s->sock, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            s->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        s->eof = 1; /* EPIPE: the child is gone; its pidfd says how */
    }
    if (s->out_off == s->out_len)
        s->out_off = s->out_len = 0;
    rearm(r, s);
}

static void flush_all(irouter *r) {
    for (unsigned i = 0; i < r->n; i++)
        if (r->slots[i].state == S_RUN && r->slots[i].out_off < r->slots[i].out_len)
            write_out(r, &r->slots[i]);
}

/* One reply frame for slot i's oldest job. */
static void answer(irouter *r, unsigned i, const tr__iframe *h, const char *data) {
    islot *s = &r->slots[i];
    if (s->nfl == 0)
        return; /* a child that answers more than it was asked: ignore */
    tr_msg *m = s->ring[s->head];
    s->head = (s->head + 1) % r->max_fl;
    s->nfl--;
    s->answered++;
    if (h->code != 0) {
        attempt_failed(r, m, TR_IPOOL_DIED_FAILED);
        return;
    }
    s->handled++;
    if (tr_msg_wants_reply(m) || tr_msg_sender_id(m) != 0) {
        tr_msg *rep;
        if (tr__msg_make(&rep, h->type < TR_MSG_SYSTEM ? h->type : 0, data, h->len, h->word) ==
            0) {
            if (tr_reply_msg(m, rep) != 0)
                tr_msg_free(rep);
        } else if (tr_msg_wants_reply(m)) {
            tr__reply_fail(m, TR_ENOMEM); /* the asker learns why */
        }
    }
    m->status = 0;
    tr_msg_free(m); /* an ask it could not answer fails with TR_ECANCELED */
}

#define BAD_WIRE 1 /* read_in: what the child sent cannot be a reply */

/* Read what the socket holds; answer every complete reply. 0, or
 * BAD_WIRE when the child sent a header no reply can have (more than
 * TR_MSG_MAX_SIZE bytes of data: a child writing garbage, or a torn frame
 * followed by another's bytes): nothing after it is read, the caller ends
 * the child, and its death settles its jobs as any other's (a torn frame
 * that is merely short waits in `in` and goes with the child). */
static int read_in(irouter *r, unsigned i) {
    islot *s = &r->slots[i];
    for (;;) {
        size_t need = s->in_len + 65536;
        if (s->in_len >= sizeof(tr__iframe)) {
            const tr__iframe *h = (const tr__iframe *)(void *)s->in;
            if (h->len > TR_MSG_MAX_SIZE)
                return BAD_WIRE;
            if (sizeof(tr__iframe) + (size_t)h->len > need)
                need = sizeof(tr__iframe) + (size_t)h->len;
        }
        if (need > s->in_cap) {
            char *b = realloc(s->in, need);
            if (b == NULL)
                return 0; /* try again on the next readiness */
            s->in = b;
            s->in_cap = need;
        }
        ssize_t got = recv(s->sock, s->in + s->in_len, s->in_cap - s->in_len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                s->eof = 1;
            return 0;
        }
        s->in_len += (size_t)got;
        size_t off = 0;
        int rc = 0;
        while (s->in_len - off >= sizeof(tr__iframe)) {
            tr__iframe h;
            memcpy(&h, s->in + off, sizeof(h));
            if (h.len > TR_MSG_MAX_SIZE) {
                rc = BAD_WIRE;
                break;
            }
            if (s->in_len - off < sizeof(h) + (size_t)h.len)
                break;
            answer(r, i, &h, s->in + off + sizeof(h));
            off += sizeof(h) + h.len;
        }
        memmove(s->in, s->in + off, s->in_len - off);
        s->in_len -= off;
        if (rc != 0)
            return rc;
        if ((size_t)got < 65536 && s->in_len < sizeof(tr__iframe))
            return 0; /* drained (a short read): no need to try again */
    }
}

/* --- children ---------------------------------------------------------------- */

static uint64_t tag_of(unsigned i, uint32_t gen, int pid) {
    return ((uint64_t)gen << 32) | ((uint64_t)i << 1) | (uint64_t)pid;
}

static int watch(irouter *r, unsigned i) {
    islot *s = &r->slots[i];
    int rc = tr_fd_watch(tr_self(r->ctx), s->sock, TR_FD_READ, tag_of(i, s->gen, 0), &s->wsock);
    if (rc == 0 && s->pidfd >= 0)
        rc = tr_fd_watch(tr_self(r->ctx), s->pidfd, TR_FD_READ, tag_of(i, s->gen, 1), &s->wpid);
    if (rc != 0)
        return rc;
    s->armed = TR_FD_READ;
    return 0;
}

/* Drop the watches, close the fds, reap if still needed (blocking: the
 * child is killed first, so it waits only for the kill to land). */
static void release_child(irouter *r, islot *s, int reap) {
    /* A watched fd is closed by its watch's loop once the watch is
     * stopped (the loop may be another thread, in the middle of an
     * epoll_ctl on it); an unwatched one here. */
    if (s->sock >= 0 && (s->wsock == 0 || tr__fd_unwatch_close(r->rt, s->wsock) != 0))
        close(s->sock);
    if (reap && s->pid > 0) {
        kill(s->pid, SIGKILL);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    if (s->pidfd >= 0 && (s->wpid == 0 || tr__fd_unwatch_close(r->rt, s->wpid) != 0))
        close(s->pidfd);
    s->wsock = s->wpid = 0;
    if (s->prog != NULL)
        munmap(s->prog, TR__IPOOL_PAGE);
    s->prog = NULL;
    s->answered = 0;
    s->sock = s->pidfd = -1;
    s->pid = 0;
    s->out_off = s->out_len = s->in_len = 0;
    s->armed = 0;
    s->eof = 0;
    s->killed = 0;
    s->gen++;
}

/* Start slot i's child. In init (watch = 0) the watches come with
 * TR__I_START. */
static int spawn_child(irouter *r, unsigned i, int do_watch) {
    islot *s = &r->slots[i];
    if (s->ring == NULL) {
        s->ring = calloc(r->max_fl, sizeof(tr_msg *));
        if (s->ring == NULL)
            return TR_ENOMEM;
    }
    int rc = tr__ipool_spawn(r->cfg.exe, r->cfg.entry, r->cfg.rlimit_as, r->cfg.rlimit_cpu_s,
                             &s->pid, &s->pidfd, &s->sock, &s->prog);
    if (rc != 0) {
        s->pid = 0;
        s->pidfd = s->sock = -1;
        return rc;
    }
    if (do_watch && (rc = watch(r, i)) != 0) {
        release_child(r, s, 1);
        return rc;
    }
    s->state = S_RUN;
    return 0;
}

static void end_self(irouter *r, tr_exit_kind kind, int code, const char *text);

static void arm_respawn(irouter *r) {
    uint64_t due = 0;
    for (unsigned i = 0; i < r->n; i++)
        if (r->slots[i].state == S_DUE && (due == 0 || r->slots[i].due < due))
            due = r->slots[i].due;
    if (due == r->timer_due && (due == 0 || r->timer_armed))
        return;
    tr__atimer_disarm(r->rt, &r->respawn_timer);
    r->timer_armed = 0;
    r->timer_due = due;
    r->timer_tag += 2;
    if (due == 0)
        return;
    uint64_t now = tr__mono_ms();
    /* Fails only without the timer thread (tr_ipool_start made sure of
     * it); retried at the next message then. */
    r->timer_armed = tr__atimer_arm(tr_self(r->ctx), &r->respawn_timer, r->timer_tag,
                                    due > now ? due - now : 0) == 0;
}

/* The restart intensity is spent: report it and end (TR_ECRASHED). */
static void give_up(irouter *r, const char *what) {
    tr__log_text(r->rt, TR_LOG_ERROR, "pool", tr__actor_of(r->ctx),
                 "isolated pool \"%s\" gives up: more than %u %s within %llu ms (its intensity); "
                 "it ends with an error (TR_ECRASHED)",
                 r->cfg.pool.name != NULL ? r->cfg.pool.name : "ipool", r->rs.intensity, what,
                 (unsigned long long)r->rs.period_ms);
    end_self(r, TR_EXIT_ERROR, TR_ECRASHED, "isolated pool restart intensity reached");
}

static void start_due(irouter *r) {
    uint64_t now = tr__mono_ms();
    for (unsigned i = 0; i < r->n && !r->closing; i++) {
        islot *s = &r->slots[i];
        if (s->state != S_DUE || s->due > now)
            continue;
        if (spawn_child(r, i, 1) == 0) {
            feed(r, i);
            if (r->cfg.pool.routing != TR_ROUTE_KEY_HASH)
                for (unsigned k = 0; k < r->n && r->q_head != NULL; k++)
                    feed(r, k);
            continue;
        }
        /* Out of fds, processes or memory: a failed restart counts against
         * the intensity, as a crash does (OTP's supervisors do the same),
         * so a pool that cannot make children gives up (and dead-letters
         * its jobs) instead of retrying every RETRY_MIN_MS forever. */
        r->cnt.restarts++;
        if (tr__restarts_note(&r->rs)) {
            give_up(r, "child restarts or failed starts");
            return;
        }
        uint64_t delay = tr__restarts_delay(&r->rs);
        s->due = now + (delay > RETRY_MIN_MS ? delay : RETRY_MIN_MS);
    }
    if (!r->closing)
        arm_respawn(r);
}

/* Slot i's child is dead (status as from waitpid): settle its jobs,
 * release it, schedule its respawn. */
static void child_died(irouter *r, unsigned i, int status) {
    islot *s = &r->slots[i];
    int how;
    if (WIFSIGNALED(status)) {
        how = s->killed ? TR_IPOOL_DIED_TIMEOUT | WTERMSIG(status)
                        : TR_IPOOL_DIED_SIGNAL | WTERMSIG(status);
        r->crashes++;
    } else {
        how = TR_IPOOL_DIED_EXIT | (WIFEXITED(status) ? WEXITSTATUS(status) : 0);
    }
    (void)read_in(r, i); /* replies it wrote before it died are answered (not after garbage) */
    /* Which job was running: the child counted the jobs it started; the
     * ones before it finished but their replies died with the child. */
    uint64_t started = ck_pr_load_64(&s->prog->started); /* it is dead: no race */
    unsigned crashed = UINT_MAX;
    if (started > s->answered && started - s->answered <= s->nfl)
        crashed = (unsigned)(started - s->answered - 1);
    s->pid = 0; /* reaped */
    release_child(r, s, 0);
    s->state = S_EMPTY;
    tr_msg *fl[s->nfl ? s->nfl : 1];
    unsigned nfl = s->nfl;
    for (unsigned k = 0; k < nfl; k++)
        fl[k] = s->ring[(s->head + k) % r->max_fl];
    s->head = s->nfl = 0;
    if (r->closing) {
        for (unsigned k = 0; k < nfl; k++)
            job_dead(r, fl[k], 0, TR_DEAD_STOPPED);
        return;
    }
    r->cnt.restarts++;
    int escalate = tr__restarts_note(&r->rs);
    s->state = S_DUE;
    s->due = tr__mono_ms() + tr__restarts_delay(&r->rs);
    for (unsigned k = 0; k < nfl; k++) {
        if (k == crashed) {
            attempt_failed(r, fl[k], how);
        } else {
            r->cnt.returned++;
            route(r, fl[k]);
        }
    }
    if (escalate) {
        give_up(r, "child restarts or failed starts");
        return;
    }
    start_due(r);
}

/* Reap slot i's child if it has ended (blocking: when we know it has). */
static void try_reap(irouter *r, unsigned i, int block) {
    islot *s = &r->slots[i];
    int status = 0;
    pid_t p;
    while ((p = waitpid(s->pid, &status, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
    }
    if (p == s->pid)
        child_died(r, i, status);
    else if (p < 0) /* ECHILD: someone else reaped it (SIGCHLD ignored?) */
        child_died(r, i, 0);
    else if (s->wpid != 0)
        tr_fd_rearm(r->rt, s->wpid, TR_FD_READ); /* not yet: wait again */
}

static void on_fd(irouter *r, tr_msg *msg) {
    unsigned i = (unsigned)((msg->word & 0xFFFFFFFFu) >> 1);
    uint32_t gen = (uint32_t)(msg->word >> 32);
    int is_pid = (int)(msg->word & 1);
    if (i >= r->n || r->slots[i].state != S_RUN || r->slots[i].gen != gen)
        return; /* from a child released since */
    islot *s = &r->slots[i];
    if (is_pid) {
        try_reap(r, i, 0);
        return;
    }
    s->armed = 0; /* one-shot: it fired */
    if (((unsigned)msg->status & TR_FD_READ) && read_in(r, i) != 0 && s->state == S_RUN) {
        /* Garbage on the wire: this child cannot be understood any more.
         * Not reaped yet (its pidfd has not fired, or we would not be
         * here), so the pid is still its own; its death does the rest. */
        s->eof = 1;
        kill(s->pid, SIGKILL);
        if (s->pidfd < 0)
            try_reap(r, i, 1);
        return;
    }
    if (s->state != S_RUN)
        return;
    if (s->eof && s->pidfd < 0) { /* no pidfd: EOF is how we learn */
        try_reap(r, i, 1);
        return;
    }
    feed(r, i);
    write_out(r, s);
}

static void watchdog(irouter *r) {
    uint64_t now = tr__mono_ms();
    for (unsigned i = 0; i < r->n; i++) {
        islot *s = &r->slots[i];
        if (s->state != S_RUN || s->killed)
            continue;
        /* Acquire after the load of started: pairs with the child's release
         * before it stores the count (isolate/ipool_child.c), so start_ms
         * below is this job's or a later one's. (Another process: TSan
         * does not see it, and needs no annotation.) */
        uint64_t started = ck_pr_load_64(&s->prog->started);
        ck_pr_fence_acquire();
        uint64_t done = ck_pr_load_64(&s->prog->done);
        uint64_t since = ck_pr_load_64(&s->prog->start_ms);
        if (started != done && now > since && now - since >= r->cfg.job_timeout_ms) {
            s->killed = 1;
            r->kills++;
            kill(s->pid, SIGKILL); /* the pidfd tells the rest */
        }
    }
    uint64_t period = r->cfg.job_timeout_ms / 4 ? r->cfg.job_timeout_ms / 4 : 1;
    (void)tr__atimer_arm(tr_self(r->ctx), &r->wd_timer, WD_TAG, period);
}

/* --- closing ----------------------------------------------------------------- */

static void close_down(irouter *r) {
    if (r->closing)
        return;
    r->closing = 1;
    tr__atimer_disarm(r->rt, &r->respawn_timer);
    tr__atimer_disarm(r->rt, &r->wd_timer);
    r->timer_armed = 0;
    tr_msg *m;
    while ((m = q_pop(&r->q_head, &r->q_tail)) != NULL)
        job_dead(r, m, 0, TR_DEAD_STOPPED);
    r->cnt.queued = 0;
    for (unsigned i = 0; i < r->cap; i++) {
        islot *s = &r->slots[i];
        while ((m = q_pop(&s->p_head, &s->p_tail)) != NULL)
            job_dead(r, m, 0, TR_DEAD_STOPPED);
        for (unsigned k = 0; k < s->nfl; k++)
            job_dead(r, s->ring[(s->head + k) % r->max_fl], 0, TR_DEAD_STOPPED);
        s->head = s->nfl = 0;
        if (s->state == S_RUN)
            release_child(r, s, 1);
        s->state = S_EMPTY;
    }
}

static void end_self(irouter *r, tr_exit_kind kind, int code, const char *text) {
    close_down(r);
    tr__actor_seal_any(tr_self(r->ctx), kind, code, text);
}

/* --- control requests (troupe/pool.h) --------------------------------------- */

/* 0 when added; TR_ESTATE while closing, TR_EFULL at max_workers, or the
 * spawn's error (TR_ESYS, TR_ENOMEM). */
static int ctrl_add(void *arg) {
    irouter *r = arg;
    if (r->closing)
        return TR_ESTATE;
    if (r->n >= r->cap)
        return TR_EFULL;
    unsigned i = r->n;
    islot *s = &r->slots[i];
    s->state = S_EMPTY;
    int rc = spawn_child(r, i, 1);
    if (rc != 0)
        return rc;
    r->n++;
    for (unsigned k = 0; k < r->n && r->q_head != NULL; k++)
        feed(r, k);
    return 0;
}

/* The newest slot goes: its child is killed, its jobs go back to the
 * others (returned: a job it had started may run again). */
static int ctrl_remove(void *arg) {
    irouter *r = arg;
    if (r->closing || r->n == 0)
        return TR_ESTATE;
    unsigned i = r->n - 1;
    islot *s = &r->slots[i];
    if (s->state == S_RUN)
        release_child(r, s, 1);
    s->state = S_EMPTY;
    r->n--;
    if (r->n == 0) {
        for (unsigned k = 0; k < s->nfl; k++)
            job_dead(r, s->ring[(s->head + k) % r->max_fl], 0, TR_DEAD_STOPPED);
        s->head = s->nfl = 0;
        end_self(r, TR_EXIT_NORMAL, 0, NULL);
        return 0;
    }
    unsigned nfl = s->nfl;
    unsigned head = s->head;
    s->head = s->nfl = 0;
    tr_msg *m;
    for (unsigned k = 0; k < nfl; k++) {
        r->cnt.returned++;
        route(r, s->ring[(head + k) % r->max_fl]);
    }
    while ((m = q_pop(&s->p_head, &s->p_tail)) != NULL) {
        r->cnt.queued--;
        route(r, m);
    }
    arm_respawn(r);
    return 0;
}

static tr__pool_stats_res *ctrl_stats(void *arg) {
    irouter *r = arg;
    tr__pool_stats_res *res = tr__pool_stats_res_new(&r->cnt, r->n);
    if (res == NULL)
        return NULL;
    tr_pool_stats *o = &res->st;
    o->stuck = r->kills;
    o->crashes = r->crashes;
    for (unsigned i = 0; i < r->cap; i++) {
        o->handled += r->slots[i].handled;
        if (i < r->n)
            res->handled[i] = r->slots[i].handled;
    }
    return res;
}

/* Control requests, served as a thread pool's router serves them
 * (actors/pool_ctrl.h) with the functions above. */
static void ctrl_close(void *r) {
    end_self(r, TR_EXIT_NORMAL, 0, NULL);
}
static const tr__pool_ctrl_ops ctrl_ops = {ctrl_add, ctrl_remove, ctrl_stats, ctrl_close};

/* --- the behaviour ----------------------------------------------------------- */

static void on_start(irouter *r) {
    for (unsigned i = 0; i < r->n; i++) {
        islot *s = &r->slots[i];
        if (s->state == S_RUN && s->wsock == 0 && watch(r, i) != 0) {
            /* No memory for the watch: this child cannot be heard; respawn. */
            release_child(r, s, 1);
            s->state = S_DUE;
            s->due = tr__mono_ms() + RETRY_MIN_MS;
        }
    }
    if (r->cfg.job_timeout_ms != 0)
        watchdog(r);
    arm_respawn(r);
}

static int irouter_receive(tr_ctx *ctx, void *state, tr_msg *msg) {
    irouter *r = ((irouter_state *)state)->r;
    r->ctx = ctx;
    if (TR__LIKELY(msg->type < TR_MSG_SYSTEM && msg->release != tr__pool_ctrl_release)) {
        tr_msg_keep(ctx, msg);
        msg->status = 0; /* ours from here: failed attempts */
        if (TR__UNLIKELY(r->closing)) {
            job_dead(r, msg, 0, TR_DEAD_STOPPED);
            return 0;
        }
        r->cnt.jobs++;
        if (r->cfg.pool.routing == TR_ROUTE_BROADCAST)
            broadcast(r, msg);
        else
            route(r, msg);
        return 0;
    }
    switch (msg->type) {
    case TR__I_FLUSH:
        tr_msg_keep(ctx, msg);
        r->flush_msg = msg;
        flush_all(r);
        return 0;
    case TR_MSG_FD_READY:
        if (!r->closing)
            on_fd(r, msg);
        return 0;
    case TR__A_TIMER:
        if (r->closing)
            return 0;
        if (msg->word == WD_TAG) {
            watchdog(r);
        } else if (msg->word == r->timer_tag) {
            r->timer_armed = 0;
            r->timer_due = 0;
            start_due(r);
        }
        return 0;
    case TR__I_START:
        if (!r->closing)
            on_start(r);
        return 0;
    default:
        break;
    }
    if (msg->release == tr__pool_ctrl_release)
        tr__pool_ctrl_serve((tr__pool_ctrl *)msg, &ctrl_ops, r, &r->user_handles, r->closing);
    return 0;
}

static void irouter_free(irouter *r) {
    /* Disarmed by close_down; again here, as the slots' memory goes now. */
    tr__atimer_disarm(r->rt, &r->respawn_timer);
    tr__atimer_disarm(r->rt, &r->wd_timer);
    for (unsigned i = 0; i < r->cap; i++) {
        free(r->slots[i].ring);
        free(r->slots[i].out);
        free(r->slots[i].in);
    }
    if (r->flush_msg != NULL)
        tr__msg_destroy(r->flush_msg, TR_EDEAD);
    free(r->slots);
    tr__restarts_free(&r->rs);
    free(r->strs);
    free(r);
}

static void irouter_terminate(tr_ctx *ctx, void *state, const tr_exit *why) {
    (void)why;
    irouter *r = ((irouter_state *)state)->r;
    r->ctx = ctx;
    close_down(r);
    irouter_free(r);
}

static int irouter_init(tr_ctx *ctx, void *state, void *arg) {
    istart *a = arg;
    irouter *r = a->r;
    r->ctx = ctx;
    r->user_handles = a->user_handles;
    r->rng = 0x2545F4914F6CDD1DULL ^ tr_ref_id(tr_self(ctx));
    int rc = 0;
    for (unsigned i = 0; i < r->cfg.pool.workers && rc == 0; i++) {
        rc = spawn_child(r, i, 0);
        if (rc == 0)
            r->n++;
    }
    tr_msg *start = NULL;
    if (rc == 0)
        rc = tr__msg_new_system(&start, TR__I_START, 0);
    if (rc == 0 && (rc = tr__actor_push(tr_self(ctx), start)) != 0)
        tr__msg_destroy(start, TR_EDEAD);
    if (rc == 0) {
        ((irouter_state *)state)->r = r;
        return 0;
    }
    for (unsigned i = 0; i < r->n; i++)
        release_child(r, &r->slots[i], 1);
    return rc; /* tr_ipool_start frees r */
}

static const tr_behavior ipool_router_behavior = {
    .init = irouter_init,
    .receive = irouter_receive,
    .terminate = irouter_terminate,
};

/* --- starting ------------------------------------------------------------------ */

void tr_ipool_config_init(tr_ipool_config *cfg) {
    if (cfg == NULL)
        return;
    memset(cfg, 0, sizeof(*cfg));
    tr_pool_config_init(&cfg->pool);
}

static int config_valid(const tr_ipool_config *c) {
    const tr_pool_config *p = &c->pool;
    if (p->workers == 0 || p->workers > TR_POOL_MAX_WORKERS)
        return 0;
    if (p->max_workers != 0 &&
        (p->max_workers < p->workers || p->max_workers > TR_POOL_MAX_WORKERS))
        return 0;
    if ((unsigned)p->routing > TR_ROUTE_SHARED_QUEUE)
        return 0;
    if (!(p->backoff_jitter >= 0.0 && p->backoff_jitter <= 1.0))
        return 0;
    if (p->intensity != TR_SUP_UNLIMITED && p->intensity > TR__RESTARTS_MAX_INTENSITY)
        return 0;
    if (p->max_redeliveries >= ATTEMPTS || c->max_inflight > 1024)
        return 0;
    if (c->entry == NULL || strlen(c->entry) > 63)
        return 0;
    /* Our own program must know the entry (another one is trusted). */
    return c->exe != NULL || tr__ipool_entry_is_known(c->entry);
}

static int ipool_start(tr_runtime *rt, const tr_ipool_config *cfg, int64_t user_handles,
                       tr_ref **out) {
    if (out != NULL)
        *out = NULL;
    if (rt == NULL || cfg == NULL || out == NULL || !config_valid(cfg))
        return TR_EINVAL;
    /* Respawn backoff and the job watchdog run on the timer thread. */
    int trc = tr__atimer_ready(rt);
    if (trc != 0)
        return trc;
    tr__pool_kind_add(ipool_router_behavior.receive);
    char exe[PATH_MAX];
    if (cfg->exe != NULL) {
        if (strlen(cfg->exe) >= sizeof(exe))
            return TR_EINVAL;
        strcpy(exe, cfg->exe);
    } else {
        ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (k <= 0)
            return TR_ESYS;
        exe[k] = '\0';
    }
    irouter *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return TR_ENOMEM;
    size_t le = strlen(cfg->entry) + 1, lx = strlen(exe) + 1;
    r->cfg = *cfg;
    r->rt = rt;
    r->cap = cfg->pool.max_workers != 0 ? cfg->pool.max_workers
                                        : (cfg->pool.workers > 64 ? cfg->pool.workers : 64);
    r->max_fl = cfg->max_inflight ? cfg->max_inflight : 8;
    r->strs = malloc(le + lx);
    r->slots = calloc(r->cap, sizeof(islot));
    int rc = tr__msg_new_system(&r->flush_msg, TR__I_FLUSH, 0);
    if (r->strs == NULL || r->slots == NULL || rc != 0) {
        rc = TR_ENOMEM;
    } else {
        memcpy(r->strs, cfg->entry, le);
        memcpy(r->strs + le, exe, lx);
        r->cfg.entry = r->strs;
        r->cfg.exe = r->strs + le;
        for (unsigned i = 0; i < r->cap; i++)
            r->slots[i].pidfd = r->slots[i].sock = -1;
        rc = tr__restarts_init(&r->rs, cfg->pool.intensity, cfg->pool.period_ms,
                               cfg->pool.clock_ms, cfg->pool.clock_user, cfg->pool.backoff_min_ms,
                               cfg->pool.backoff_max_ms, cfg->pool.backoff_jitter);
    }
    if (rc == 0) {
        istart a = {r, user_handles};
        tr_spawn_opts o = {
            .state_size = sizeof(irouter_state),
            .arg = &a,
            .mailbox_capacity = TR_MAILBOX_UNBOUNDED,
            .name = cfg->pool.name != NULL ? cfg->pool.name : "ipool",
        };
        rc = tr_spawn(rt, &ipool_router_behavior, &o, out);
        if (rc == 0)
            return 0;
    }
    if (r->slots != NULL)
        for (unsigned i = 0; i < r->cap; i++)
            free(r->slots[i].ring);
    if (r->flush_msg != NULL)
        tr__msg_destroy(r->flush_msg, TR_EDEAD);
    tr__restarts_free(&r->rs);
    free(r->slots);
    free(r->strs);
    free(r);
    return rc;
}

int tr_ipool_start(tr_runtime *rt, const tr_ipool_config *cfg, tr_ref **out) {
    return ipool_start(rt, cfg, 1, out);
}

int tr_ipool_start_as_child(tr_runtime *rt, void *arg, tr_ref **out) {
    return ipool_start(rt, arg, -1, out);
}
