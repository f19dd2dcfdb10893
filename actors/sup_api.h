/* actors/sup_api.h - the requests a supervisor answers (actors/sup_api.c
 * makes them, actors/sup.c answers).
 *
 * sup_api.c turns every call into a tr__sup_req message: an ask (blocking
 * forms: its future; actor forms: tr_request, so the reply comes to the
 * caller's mailbox). The request carries copies of what the caller passed
 * and a tr__sup_result the caller allocated; the supervisor fills the
 * result and hands it over in a TR_MSG_RESULT reply (tr__reply_result), so
 * it never writes into a caller's variables and both forms share the path. */
#ifndef TR_ACTORS_SUP_API_H
#define TR_ACTORS_SUP_API_H

#include <stddef.h>

#include "troupe/supervisor.h"

enum {
    TR__SUP_REQ_START_CHILD = 1,
    TR__SUP_REQ_START_DYNAMIC,
    TR__SUP_REQ_TERMINATE,
    TR__SUP_REQ_TERMINATE_REF,
    TR__SUP_REQ_RESTART,
    TR__SUP_REQ_DELETE,
    TR__SUP_REQ_GET_SPEC,
    TR__SUP_REQ_WHICH,
    TR__SUP_REQ_COUNT,
    TR__SUP_REQ_STATS,
    TR__SUP_REQ_STOP, /* tr_sup_stop (a plain push), or an ask answered at the end */
};

/* A call's result: the ptr of its TR_MSG_RESULT reply, freed with
 * tr__sup_result_free (which releases the handles it still owns). */
typedef struct tr__sup_result {
    int op;
    int taken;           /* tr_sup_result_ref handed out ref */
    tr_ref *ref;         /* START_*, RESTART: owned, or NULL */
    tr_child_info *info; /* WHICH: n entries, handles owned */
    size_t n;
    tr_sup_counts counts; /* COUNT */
    tr_sup_stats stats;   /* STATS */
    tr_child_spec spec;   /* GET_SPEC */
} tr__sup_result;

void tr__sup_result_free(void *p);

typedef struct tr__sup_req {
    tr_msg msg;
    int op;
    tr_child_spec spec;  /* START_CHILD: a copy */
    void *arg;           /* START_DYNAMIC */
    char *id;            /* TERMINATE, RESTART, DELETE, GET_SPEC: an owned copy */
    tr_ref *child;       /* TERMINATE_REF: retained */
    tr__sup_result *res; /* owned until the supervisor hands it to the reply */
} tr__sup_req;

/* The request's release: frees what it still owns, then the request. */
void tr__sup_req_release(tr_msg *m);

#endif
