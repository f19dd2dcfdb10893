/* core/msg.h - message internals: flags, reply tokens, destruction. */
#ifndef TR_CORE_MSG_H
#define TR_CORE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/platform.h"
#include "troupe/actor.h"
#include "troupe/msg.h"

/* tr_msg.flags */
#define TR__MSG_INLINE 0x1u /* made by tr_msg_new: data follows the header */
#define TR__MSG_ASK 0x2u    /* was sent as a request (reply may be NULL once answered) */
#define TR__MSG_KICK 0x4u   /* wakes an actor to see a stop request; never delivered */
/* A tell from a foreign thread into a deep mailbox: corr holds the address
 * of a block its sender will send TR__MSGCACHE_AHEAD allocations later, for
 * the receiver to prefetch (core/send.c, hint_ahead), which clears it as
 * it delivers the message. A hint only: never read through, and the block
 * may be anywhere by then (freed, sent elsewhere). */
#define TR__MSG_AHEAD 0x8u
#define TR__MSG_QUIET 0x10u  /* does not count as activity (tr_actor.activity) */
#define TR__MSG_LANE 0x20u   /* a lane's kick (core/lane.c); never delivered */
#define TR__MSG_REPLY 0x100u /* an answer to a request (tr_msg_is_reply); reply path only */
/* A broadcast's shared payload (core/group.c): ptr points at the payload,
 * read-only and shared with other messages, size is its length, ptr_free
 * drops this message's reference to it. tr_msg_data returns ptr,
 * tr_msg_take_ptr returns NULL (the pointer is not the receiver's). */
#define TR__MSG_SHARED 0x40u

/* Reply tokens in tr_msg.reply: a tr_future*, or a tr_ref* with bit 0 set
 * (reply to an actor's mailbox, with corr = the asker's tag). Both hold a
 * reference that the token releases when it is used or dropped. */
#define TR__REPLY_ACTOR 0x1u
/* Or a tr__reply_sink* with bit 1 set: a higher layer (io/ ask timeouts)
 * decides what a reply or a failure becomes. */
#define TR__REPLY_SINK 0x2u
/* Or, on a tell, not a token but its sender: the sending actor's block with
 * bit 2 set, and corr = the sender's incarnation id (tr_ref_id). It holds no
 * reference (a send does no atomic read-modify-write for it): blocks are
 * type-stable, so whoever uses it takes a reference only while the block's
 * count is above zero and then checks the id (tr__sender_retain). Every
 * reader of `reply` tells the two apart with tr__msg_token. */
#define TR__REPLY_SENDER 0x4u

/* The reply token in msg->reply, or NULL if it has none (a sender is not
 * one). */
static inline void *tr__msg_token(const tr_msg *msg) {
    void *t = msg->reply;
    return ((uintptr_t)t & TR__REPLY_SENDER) ? NULL : t;
}

/* The receiver's side of TR__MSG_AHEAD, as msg is delivered: start
 * fetching the block msg's sender will probably send AHEAD messages later,
 * both lines (the header, for writing: its pop clears its link; and corr's,
 * which the hint is read from). A prefetch never faults, and message blocks
 * are never unmapped. The flag goes, so no handler (and no later send of
 * the same message, which may give corr a meaning) sees it. */
static inline void tr__msg_prefetch_ahead(tr_msg *msg) {
    const char *p = (const char *)(uintptr_t)msg->corr;
    tr__prefetch_w(p);
    __builtin_prefetch(p + 64, 0);
    msg->flags &= ~TR__MSG_AHEAD;
}

/* The sending actor a tell's reply names (not retained), or NULL. */
static inline tr_ref *tr__msg_sender(const tr_msg *msg) {
    uintptr_t t = (uintptr_t)msg->reply;
    return (t & TR__REPLY_SENDER) ? (tr_ref *)(t & ~(uintptr_t)TR__REPLY_SENDER) : NULL;
}

/* Stamp msg as sent by self (NULL: by no actor, which clears a sender left
 * from an earlier send of the same message). Only on a message with no
 * token. self is the calling worker's current actor (tr__worker_self). */
static inline void tr__msg_stamp(tr_msg *msg, tr_ref *self, uint64_t self_id) {
    if (self != NULL) {
        msg->reply = (void *)((uintptr_t)self | TR__REPLY_SENDER);
        msg->corr = self_id;
    } else
        msg->reply = NULL;
}

/* Fill the header of a runtime-made message (tr_msg_new, the direct sends),
 * with `reply` (NULL, a token, or a tagged sender) written once:
 * no memset call, since this is on every send. Only the first 64 bytes:
 * `corr`, the one field on the block's second cache line, is left alone,
 * so a send writes one line, not two (the second is a miss when the block
 * was freed on another core or sits in a long queue: fanin +16% A/B). The
 * runtime sets corr wherever it means something (replies, notices, the
 * sender's id on a tell sent from an actor: tr__msg_stamp).
 * Field by field: a literal built on the stack and copied stalls on store
 * forwarding. */
_Static_assert(offsetof(tr_msg, corr) == 64, "corr alone on the second line");
static inline void tr__msg_fill_reply(tr_msg *m, uint32_t type, uint32_t size, uint64_t word,
                                      tr_msg_release_fn release, void *reply) {
    m->type = type;
    m->size = size;
    m->word = word;
    m->ptr = NULL;
    m->ptr_free = NULL;
    m->release = release;
    m->next = NULL;
    m->flags = TR__MSG_INLINE;
    m->status = 0;
    m->reply = reply;
}

/* A header in memory the caller owns (no release), of any type, system
 * types included (tr_msg_init refuses those): zeroed, then type and flags.
 * For messages the runtime embeds (a lane's kick) or builds on the stack
 * (a dead letter's view of a one-word slot). */
static inline void tr__msg_init_header(tr_msg *m, uint32_t type, uint32_t flags) {
    memset(m, 0, sizeof(*m));
    m->type = type;
    m->flags = flags;
}

/* The same with no reply token and no sender. */
static inline void tr__msg_fill(tr_msg *m, uint32_t type, uint32_t size, uint64_t word,
                                tr_msg_release_fn release) {
    tr__msg_fill_reply(m, type, size, word, release, NULL);
}

/* Destroy a message whose token (if any) was not answered: the token fails
 * with err (TR_ENOREPLY, TR_EDEAD, TR_ECRASHED...), then ptr_free and
 * release run. */
void tr__msg_destroy(tr_msg *msg, int err);
/* The first half of tr__msg_destroy: the token fails and ptr_free runs, but
 * msg->release does not (the mailbox still holds the message's memory). */
void tr__msg_finish(tr_msg *msg, int err);

/* A user message of `type` holding a copy of size bytes of data, and word
 * (tr_msg_new, then the copy): the conveniences of asks, replies and
 * promises. */
int tr__msg_make(tr_msg **out, uint32_t type, const void *data, size_t size, uint64_t word);

/* A runtime-made system message of `type` with `size` inline bytes. */
int tr__msg_new_system(tr_msg **out, uint32_t type, size_t size);

#endif
