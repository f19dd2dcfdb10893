/* actors/call.c - synchronous calls on a running actor (see call.h).
 *
 * Shared by the supervisor and pool APIs: one ask, one unbounded wait on its
 * future; the reply is the result. */
#include "actors/call.h"

#include <stdint.h>

#include "core/worker.h"
#include "troupe/error.h"

int tr__call_may_block(void) {
    return tr__worker_current() != NULL ? TR_EDEADLK : 0;
}

int tr__call_reply(tr_ref *to, tr_msg *req, tr_msg **reply) {
    *reply = NULL;
    tr_future *f;
    int rc = tr_ask_msg(to, req, &f);
    if (rc != 0) {
        req->release(req); /* a failed ask leaves req with us */
        return rc;
    }
    rc = tr_future_wait(f, -1, reply);
    tr_future_release(f);
    return rc;
}
