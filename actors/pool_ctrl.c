/* actors/pool_ctrl.c - the control requests' dispatch, shared by the pool
 * routers (see actors/pool_ctrl.h).
 *
 * One switch over the request's op, then one way to answer: a request with
 * no one waiting (retain, release, an _async call whose caller asked for no
 * reply) drops its result; otherwise the result travels in a TR_MSG_RESULT.
 * A result that cannot be delivered (no memory for the reply, the asker's
 * bounded mailbox full) still settles the call: it fails with that error,
 * never TR_ENOREPLY. */
#include "actors/pool_ctrl.h"

#include "core/ask.h"
#include "troupe/error.h"

void tr__pool_ctrl_serve(tr__pool_ctrl *c, const tr__pool_ctrl_ops *ops, void *router,
                         int64_t *user_handles, int closing) {
    int rc = 0;
    void *res = NULL;
    tr_free_fn res_free = NULL;
    switch (c->op) {
    case TR__POOL_ADD:
        rc = ops->add(router);
        break;
    case TR__POOL_REMOVE:
        rc = ops->remove(router);
        break;
    case TR__POOL_STATS:
        res = ops->stats(router);
        if (res != NULL)
            res_free = tr__pool_stats_res_free;
        else
            rc = TR_ENOMEM;
        break;
    case TR__POOL_RETAIN:
        if (*user_handles >= 0) /* < 0: started under a supervisor, not counted */
            (*user_handles)++;
        break;
    case TR__POOL_RELEASE:
        if (*user_handles >= 0 && --*user_handles <= 0 && !closing)
            ops->close(router);
        break;
    default:
        rc = TR_EINVAL;
        break;
    }
    if (!tr_msg_wants_reply(&c->msg)) {
        if (res_free != NULL)
            res_free(res);
        return;
    }
    /* ptr_free(res) runs there on error. */
    int err = tr__reply_result(&c->msg, rc, res, res_free);
    if (err != 0)
        tr__reply_fail(&c->msg, err);
}
