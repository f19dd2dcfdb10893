/* core/send.c - the public send calls.
 *
 * All of them end in tr__actor_push: one fetch-and-add (mailbox bound) and
 * one CAS on the receiver's mailbox head; scheduling happens only on the
 * empty -> non-empty edge. Nothing here allocates except the message itself
 * in the copying conveniences. On any error the caller still owns what it
 * passed in (the message, or the pointer of tr_send_ptr).
 *
 * A send from inside an actor's callback stamps the message with its sender
 * (core/msg.h, TR__REPLY_SENDER): the thread-local current actor and its id
 * (tr__worker_self), two plain stores, no reference taken, nothing shared
 * written. A foreign thread pays one thread-local load to learn that it is
 * not an actor. tr_forward does not stamp: the message keeps its original
 * sender. */
#include <ck_pr.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "core/futex.h"
#include "core/lane.h"
#include "core/msg.h"
#include "core/msgcache.h"
#include "core/runtime.h"
#include "core/send.h"
#include "troupe/error.h"

/* Foreign threads may not send into a draining or closed runtime; its actors
 * may (a drain lets them finish their work; a close is stopping them anyway,
 * and their terminate may still talk). */
static inline int sender_ok(tr_actor *to) {
    tr_runtime *rt = to->rt;
    uint32_t st = ck_pr_load_32(&rt->state);
    if (TR__LIKELY(st == TR__RT_RUNNING))
        return 0;
    if (tr__worker_of(rt) != NULL) /* draining or closing: actors go on */
        return 0;
    return st == TR__RT_FORKED ? TR_EFORKED : TR_ECLOSED;
}

/* A user message about to be sent as a tell from this thread: it carries
 * the calling actor (or no sender from a foreign thread), and is neither a
 * reply nor, unless it holds a token, a request. False for an ask (left as
 * it is). */
static inline bool stamp_as(tr_msg *msg, tr_actor *self, uint64_t id) {
    if (tr__msg_token(msg) != NULL) /* an ask: the token names the asker */
        return false;
    msg->flags &= ~(TR__MSG_REPLY | TR__MSG_ASK | TR__MSG_AHEAD);
    tr__msg_stamp(msg, self, id);
    return true;
}

/* A prefetch hint on a tell from a foreign thread (no sender, so corr
 * means nothing: troupe/msg.h) into a mailbox holding at least TR__SEND_AHEAD_DEPTH
 * messages: corr names the block this thread will send AHEAD allocations
 * later (core/msgcache.h), and the receiver fetches it as it takes this
 * one (TR__MSG_AHEAD, core/actor.c). The receiver of a linked mailbox
 * learns where message k+1 is only from message k's link, one cross-core
 * miss at a time; once the blocks' order is shuffled (senders that
 * interleave: their blocks come back mixed in the magazines) the hardware
 * prefetcher no longer finds them, and fanin_bounded fell from 30-37 M to
 * 8-14 M msgs/s in half the runs. The hint fetches each sender's stream
 * AHEAD messages early instead. Only into a deep mailbox: in a short one
 * the receiver is right behind the sender, the hinted block is not written
 * yet, and the prefetch would take its line from under the sender (fanin_
 * bounded with any depth: 24-26 M; 256: 27-29 M). Counted mailboxes only
 * (bounded, or metrics on): the depth is read from the count that the push
 * is about to write anyway. Every send that takes a tr_msg gets it (so
 * tr_send, tr_send_ptr and tr_send_wait); a timer's message, stamped now
 * and sent later (tr__send_stamp), does not, nor does the one-word send: its
 * actor path is the runtime's hottest code, and each way of fitting the
 * hint into it moved pingpong or forkjoin by 3-10% for the same
 * instructions (code layout: docs/performance.md, "Fan-in, fifth pass"). */
/* Sets corr and returns true if msg is to carry the hint (the caller sets
 * the flag). */
static inline bool hint_ahead(tr_actor *to, tr_msg *msg) {
    if (tr__mbox_reserved_hint_any(&to->mbox) < TR__SEND_AHEAD_DEPTH)
        return false;
    void *p = tr__msgcache_ahead();
    if (p == NULL)
        return false;
    msg->corr = (uint64_t)(uintptr_t)p;
    return true;
}

static inline void stamp(tr_actor *to, tr_msg *msg) {
    uint64_t id = 0;
    tr_actor *self = tr__worker_self(to->rt, &id);
    stamp_as(msg, self, id);
}

void tr__send_stamp(tr_ref *to, tr_msg *msg) {
    stamp(to, msg);
}

/* Send a checked user message as it is (stamped or not). */
static int send_checked(tr_ref *to, tr_msg *msg) {
    int rc = sender_ok(to);
    if (rc != 0)
        return rc;
    msg->next = NULL;
    if (TR__UNLIKELY(tr__lane_candidate(to)) && (rc = tr__lane_send_msg(to, msg)) != TR__LANE_NONE)
        return rc;
    return tr__actor_push(to, msg);
}

int tr_send_msg(tr_ref *to, tr_msg *msg) {
    if (to == NULL || msg == NULL || msg->type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    uint64_t id = 0;
    tr_actor *self = tr__worker_self(to->rt, &id);
    if (stamp_as(msg, self, id) && self == NULL && hint_ahead(to, msg))
        msg->flags |= TR__MSG_AHEAD;
    return send_checked(to, msg);
}

static int new_msg(tr_ref *to, uint32_t type, size_t size, tr_msg **out) {
    if (to == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    return tr_msg_new(out, type, size);
}

/* Send a message we just made; on error it was never the caller's. */
static int send_new(tr_ref *to, tr_msg *m) {
    int rc = tr_send_msg(to, m);
    if (rc != 0) {
        m->ptr = NULL;
        m->release(m);
    }
    return rc;
}

int tr_send(tr_ref *to, uint32_t type, const void *data, size_t size) {
    if (data == NULL && size != 0)
        return TR_EINVAL;
    tr_msg *m;
    int rc = new_msg(to, type, size, &m);
    if (rc != 0)
        return rc;
    if (size != 0)
        memcpy(tr_msg_data(m), data, size);
    return send_new(to, m);
}

/* The one-word send is what request/reply and token-passing actors use most:
 * it validates once and takes its block straight from the thread's cache. */
int tr_send_word(tr_ref *to, uint32_t type, uint64_t word) {
    if (to == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    int rc = sender_ok(to);
    if (rc != 0)
        return rc;
    /* From a foreign thread with a lane into `to`: inline, no block (and no
     * header to carry a sender: an init running on a foreign thread, the
     * one actor there, takes the mailbox). */
    if (TR__UNLIKELY(tr__lane_candidate(to)) && tr__tls_self == NULL &&
        (rc = tr__lane_send_word(to, type, word)) != TR__LANE_NONE)
        return rc;
    tr_msg *m = tr__msgcache_alloc();
    if (m == NULL)
        return TR_ENOMEM;
    /* The sender after the call: nothing of it lives across, so no extra
     * register is saved on the way in. `reply` is written once, by the
     * fill, stamped or NULL (not NULL and then the stamp over it). */
    uint64_t id;
    tr_actor *self = tr__worker_self(to->rt, &id);
    void *reply = NULL;
    if (self != NULL) { /* from an actor: the sender (core/msg.h, tr__msg_stamp) */
        reply = (void *)((uintptr_t)self | TR__REPLY_SENDER);
        m->corr = id;
    }
    tr__msg_fill_reply(m, type, 0, word, tr__msgcache_free, reply);
    rc = tr__actor_push(to, m);
    if (rc != 0)
        tr__msgcache_free(m);
    return rc;
}

int tr_send_ptr(tr_ref *to, uint32_t type, void *ptr, tr_free_fn ptr_free) {
    tr_msg *m;
    int rc = new_msg(to, type, 0, &m);
    if (rc != 0)
        return rc;
    m->ptr = ptr;
    m->ptr_free = ptr_free;
    return send_new(to, m);
}

int tr_send_batch(tr_ref *to, tr_msg *const *msgs, size_t n) {
    if (to == NULL || msgs == NULL || n == 0 || n > UINT32_MAX)
        return TR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (msgs[i] == NULL || msgs[i]->type >= TR_MSG_SYSTEM)
            return TR_EINVAL;
    int rc = sender_ok(to);
    if (rc != 0)
        return rc;
    uint64_t id = 0;
    tr_actor *self = tr__worker_self(to->rt, &id); /* once for the batch */
    for (size_t i = 0; i < n; i++)
        stamp_as(msgs[i], self, id);
    if (TR__UNLIKELY(tr__lane_candidate(to)) &&
        (rc = tr__lane_send_batch(to, msgs, (uint32_t)n)) != TR__LANE_NONE)
        return rc;
    /* Link in send order, as the mailbox queue wants it. */
    for (size_t i = 0; i + 1 < n; i++)
        msgs[i]->next = msgs[i + 1];
    rc = tr__schedule_if_woke(
        to, tr__mbox_push_chain_mpsc(&to->mbox, msgs[0], msgs[n - 1], (uint32_t)n));
    if (rc != 0)
        for (size_t i = 0; i < n; i++)
            msgs[i]->next = NULL;
    return rc;
}

/* One sender at a time (per runtime) waits for room awake, the others
 * sleep. A sleep and the wake-up that ends it cost two system calls and two
 * context switches, ~50 us on a loaded virtual machine, in which the
 * receiver empties its whole mailbox and goes idle: with every sender asleep
 * (fanin_bounded, capacity 1,024) the receiver idled between bursts (5.9 M
 * msgs/s). One awake sender refills the mailbox as room comes back, so the
 * receiver never runs dry; more than one would take the receiver's own CPU
 * on a busy machine (every sender spinning: 3.4 M). It pauses, yields every
 * WAIT_YIELD_EVERY rounds (the receiver may need this core), reads the room
 * with a plain load and tries the send only when there is some, for at most
 * WAIT_AWAKE_NS, then sleeps as the others. Returns the send's result, or
 * TR_EFULL when the caller must sleep (someone else is the awake one, the
 * time ran out, or the deadline passed). */
#define WAIT_AWAKE_NS 2000000u /* 2 ms: longer than any turn of a live receiver */
#define WAIT_YIELD_EVERY 64u
static int wait_room_awake(tr_ref *to, tr_msg *msg, const struct timespec *dl) {
    tr_runtime *rt = to->rt;
    /* Who is the awake one: a plain flag, no ordering (the send orders). */
    if (ck_pr_load_32(&rt->space_spinner) != 0 || !ck_pr_cas_32(&rt->space_spinner, 0, 1))
        return TR_EFULL;
    uint64_t until = tr__mono_ns() + WAIT_AWAKE_NS;
    if (dl != NULL) {
        uint64_t d = (uint64_t)dl->tv_sec * 1000000000u + (uint64_t)dl->tv_nsec;
        until = d < until ? d : until;
    }
    const tr__mbox *mb = &to->mbox;
    int rc = TR_EFULL;
    for (unsigned i = 1;; i++) {
        ck_pr_stall();
        /* A hint: the push reserves room atomically and may still fail. */
        if (ck_pr_load_32(&mb->count) < mb->cap || tr__mbox_closed_any(mb)) {
            if ((rc = tr_send_msg(to, msg)) != TR_EFULL)
                break;
        }
        if (i % WAIT_YIELD_EVERY == 0) {
            if (tr__mono_ns() >= until)
                break;
            sched_yield();
        }
    }
    ck_pr_store_32(&rt->space_spinner, 0);
    return rc;
}

/* The wait, once the first try found no room: out of line, so the call
 * that finds room (every message but one per give-back in fanin_bounded)
 * saves no registers for it. */
static __attribute__((noinline)) int send_wait_slow(tr_ref *to, tr_msg *msg, int64_t timeout_ms) {
    tr_runtime *rt = to->rt;
    int rc;
    struct timespec dl;
    if (timeout_ms > 0)
        tr__deadline_after(&dl, timeout_ms);
    if ((rc = wait_room_awake(to, msg, timeout_ms > 0 ? &dl : NULL)) != TR_EFULL)
        return rc;
    /* Count ourselves (a locked increment: a full barrier) before the
     * retry: an owner that frees room after it sees us and wakes us; one
     * that freed it before we counted did so before our push below. */
    ck_pr_inc_32(&rt->space_waiters);
    for (;;) {
        uint32_t seq = ck_pr_load_32(&rt->space_seq);
        rc = tr_send_msg(to, msg); /* without the mutex: senders do not queue on it */
        if (rc != TR_EFULL)
            break;
        /* Sleep unless a wake came since we read seq (the kernel compares
         * it atomically with going to sleep); the waker moves seq on before
         * it wakes. Absolute CLOCK_MONOTONIC deadline, or none. */
        if (tr__futex_wait(&rt->space_seq, seq, timeout_ms > 0 ? &dl : NULL) == TR_ETIMEDOUT) {
            rc = tr_send_msg(to, msg);
            if (rc == TR_EFULL)
                rc = TR_ETIMEDOUT;
            break;
        }
    }
    ck_pr_dec_32(&rt->space_waiters);
    return rc;
}

int tr_send_wait(tr_ref *to, tr_msg *msg, int64_t timeout_ms) {
    if (to == NULL || msg == NULL)
        return TR_EINVAL;
    if (tr__tls_worker != NULL) /* a worker of any runtime (tr__worker_current) */
        return TR_EDEADLK;
    int rc = tr_send_msg(to, msg);
    if (TR__LIKELY(rc != TR_EFULL) || timeout_ms == 0)
        return rc;
    return send_wait_slow(to, msg, timeout_ms);
}

int tr_forward(tr_ctx *ctx, tr_ref *to, tr_msg *msg) {
    if (ctx == NULL || to == NULL || msg == NULL || msg->type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    tr_actor *self = tr__actor_of(ctx);
    /* The sender is one of self's runtime (sends stamp only within one):
     * into another runtime it goes no further, as a cross-runtime send
     * carries none (that runtime may outlive ours). */
    if (TR__UNLIKELY(to->rt != self->rt) && tr__msg_sender(msg) != NULL)
        msg->reply = NULL;
    int current = self->cur == msg;
    if (current) { /* the receiver may free it once pushed */
        tr__mbox_detach_owner(&self->mbox, msg);
        self->cur = NULL;
    }
    int rc = send_checked(to, msg); /* unstamped: the original sender stays */
    if (rc != 0 && current)
        self->cur = msg; /* still ours: destroyed after receive as usual */
    return rc;
}
