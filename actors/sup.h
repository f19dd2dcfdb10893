/* actors/sup.h - what the supervisor's files share (see actors/sup.c).
 *
 * sup_api.c turns every call into a tr__sup_req message: an ask (blocking
 * forms: its future; actor forms: tr_request, so the reply comes to the
 * caller's mailbox). The request carries copies of what the caller passed
 * and a tr__sup_result the caller allocated; the supervisor fills the
 * result and hands it over in a TR_MSG_RESULT reply (tr__reply_result), so
 * it never writes into a caller's variables and both forms share the path. */
#ifndef TR_ACTORS_SUP_H
#define TR_ACTORS_SUP_H

#include <stddef.h>

#include "troupe/supervisor.h"

/* 1 if ref is a troupe supervisor (its behaviour is ours), else 0. */
int tr__sup_is(const tr_ref *ref);
/* 1 if the spec can start a child (a way to start, valid enums, significant
 * only when transient or temporary). */
int tr__sup_spec_valid(const tr_child_spec *c);

/* The supervisor actor: spawn arg is a tr__sup_start_arg, state
 * tr__sup_state_size() bytes. */
typedef struct tr__sup_start_arg {
    const tr_sup_config *cfg;
    /* Out: the error of a child that failed to start. The actor then exists
     * (init returned 0) only to stop the children already started, in order,
     * and ends with TR_EXIT_SHUTDOWN. */
    int child_rc;
    int root; /* 1: not started by a supervisor (a drain stops it itself) */
} tr__sup_start_arg;
extern const tr_behavior tr__sup_behavior;
size_t tr__sup_state_size(void);

enum {
    REQ_START_CHILD = 1,
    REQ_START_DYNAMIC,
    REQ_TERMINATE,
    REQ_TERMINATE_REF,
    REQ_RESTART,
    REQ_DELETE,
    REQ_GET_SPEC,
    REQ_WHICH,
    REQ_COUNT,
    REQ_STATS,
    REQ_STOP, /* tr_sup_stop (a plain push), or an ask answered at the end */
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

/* Supervisors a drain stops in order (actors/sup_drain.c): track a
 * supervisor that started (from its init; root as in tr__sup_start_arg),
 * untrack it as it ends (from its terminate). Untracked if out of memory:
 * the drain's close then stops it with everything else. */
void tr__sup_track(tr_runtime *rt, tr_ref *sup, int root);
void tr__sup_untrack(tr_runtime *rt, tr_ref *sup);

/* The request's release: frees what it still owns, then the request. */
void tr__sup_req_release(tr_msg *m);

#endif
