/* actors/sup.h - what the supervisor's files share (see actors/sup.c). */
#ifndef TR_ACTORS_SUP_H
#define TR_ACTORS_SUP_H

#include <stddef.h>

#include "troupe/supervisor.h"

/* 1 if ref is a troupe supervisor (its behaviour is ours), else 0. */
int tr__sup_is(const tr_ref *ref);
/* 1 if the spec can start a child (a way to start, valid enums). */
int tr__sup_spec_valid(const tr_child_spec *c);

/* The supervisor actor: spawn arg is the tr_sup_config, state
 * tr__sup_state_size() bytes. */
extern const tr_behavior tr__sup_behavior;
size_t tr__sup_state_size(void);

/* Requests from the tr_sup_* calls: asks (REQ_STOP: a plain push) whose
 * message is a tr__sup_req, known to the supervisor by its release. Results
 * are written to the caller's variables, which stay valid because the
 * caller blocks until the reply. */
enum {
    REQ_START_CHILD = 1,
    REQ_START_DYNAMIC,
    REQ_TERMINATE,
    REQ_TERMINATE_REF,
    REQ_RESTART,
    REQ_DELETE,
    REQ_WHICH,
    REQ_COUNT,
    REQ_STATS,
    REQ_STOP,
};

typedef struct tr__sup_req {
    tr_msg msg;
    int op;
    const tr_child_spec *spec;
    void *arg;
    const char *id;
    tr_ref *child;
    tr_ref **out_ref;
    tr_child_info *out_info;
    size_t cap;
    size_t *out_n;
    tr_sup_counts *out_counts;
    tr_sup_stats *out_stats;
} tr__sup_req;

void tr__sup_req_release(tr_msg *m);

#endif
