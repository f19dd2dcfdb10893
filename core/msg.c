/* core/msg.c - making and destroying messages.
 *
 * tr_msg_new puts the header and the inline data in one block: from the
 * calling thread's message cache (core/msgcache.c) when it fits in
 * TR__MSG_BLOCK bytes, from malloc otherwise. A message
 * is destroyed exactly once, by whoever owns it last: the runtime after
 * receive (or on the dead-letter path), or the caller with tr_msg_free. The
 * destroy order is fixed: the reply token fails (if unanswered), then
 * ptr_free(ptr), then release(msg); except that an actor's request whose
 * failure notice cannot be allocated is itself made into the notice (after
 * ptr_free), so the asker still learns (not one the mailbox still holds
 * as its link: that one goes through tr__msg_finish, and its notice may be
 * lost). */
#include "core/msg.h"

#include "base/atomic.h"
#include "core/msgcache.h"

#include <stdlib.h>
#include <string.h>

#include "core/ask.h"
#include "troupe/error.h"

static void release_big(tr_msg *msg) {
    free(msg);
}

int tr_msg_init(tr_msg *msg, uint32_t type, tr_msg_release_fn release) {
    if (msg == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    memset(msg, 0, sizeof(*msg));
    msg->type = type;
    msg->release = release;
    return 0;
}

static int msg_alloc(tr_msg **out, uint32_t type, size_t size) {
    if (size > TR_MSG_MAX_SIZE)
        return TR_E2BIG;
    tr_msg *m;
    tr_msg_release_fn release;
    if (TR__LIKELY(size <= TR__MSG_SMALL_DATA)) {
        m = tr__msgcache_alloc();
        release = tr__msgcache_free;
    } else {
        m = malloc(sizeof(tr_msg) + size);
        release = release_big;
    }
    if (m == NULL)
        return TR_ENOMEM;
    tr__msg_fill(m, type, (uint32_t)size, 0, release);
    *out = m;
    return 0;
}

int tr_msg_new(tr_msg **out, uint32_t type, size_t size) {
    if (out == NULL || type >= TR_MSG_SYSTEM)
        return TR_EINVAL;
    return msg_alloc(out, type, size);
}

int tr__msg_make(tr_msg **out, uint32_t type, const void *data, size_t size, uint64_t word) {
    int rc = tr_msg_new(out, type, size);
    if (rc != 0)
        return rc;
    if (size != 0)
        memcpy(tr_msg_data(*out), data, size);
    (*out)->word = word;
    return 0;
}

int tr__msg_new_system(tr_msg **out, uint32_t type, size_t size) {
    return msg_alloc(out, type, size);
}

void *tr_msg_data(const tr_msg *msg) {
    if (msg == NULL || !(msg->flags & TR__MSG_INLINE) || msg->size == 0)
        return NULL;
    if (TR__UNLIKELY(msg->flags & TR__MSG_SHARED))
        return msg->ptr; /* a broadcast's shared payload (core/group.c) */
    return (void *)(msg + 1);
}

void *tr_msg_take_ptr(tr_msg *msg) {
    if (msg == NULL || (msg->flags & TR__MSG_SHARED))
        return NULL;
    void *p = msg->ptr;
    msg->ptr = NULL;
    msg->ptr_free = NULL;
    return p;
}

void tr__msg_finish(tr_msg *msg, int err) {
    /* A sender is no token and is left as it is: every send restamps or
     * clears it (core/send.c), every check for a token skips it. */
    if (tr__msg_token(msg) != NULL)
        tr__reply_fail(msg, err);
    if (msg->ptr != NULL && msg->ptr_free != NULL)
        msg->ptr_free(msg->ptr);
    msg->ptr = NULL;
}

void tr__msg_destroy(tr_msg *msg, int err) {
    if (TR__UNLIKELY(tr__msg_token(msg) != NULL)) {
        /* An actor's request whose failure notice cannot be allocated: its
         * own block (ours: from the cache or malloc) becomes the notice. */
        if ((msg->release == tr__msgcache_free || msg->release == release_big) &&
            tr__reply_fail_try(msg, err) == TR_ENOMEM) {
            if (msg->ptr != NULL && msg->ptr_free != NULL)
                msg->ptr_free(msg->ptr);
            msg->ptr = NULL;
            tr__reply_fail_in_place(msg, err);
            return;
        }
    }
    tr__msg_finish(msg, err);
    if (msg->release != NULL)
        msg->release(msg);
}

void tr_msg_free(tr_msg *msg) {
    if (msg != NULL)
        tr__msg_destroy(msg, TR_ECANCELED);
}
