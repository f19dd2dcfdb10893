/* core/drain.h - the graceful shutdown's record in the runtime (core/drain.c). */
#ifndef TR_CORE_DRAIN_H
#define TR_CORE_DRAIN_H

#include <pthread.h>
#include <stdint.h>

#include "troupe/runtime.h"

/* tr__drain.phase, a futex word. */
enum {
    TR__DRAIN_NONE = 0, /* no drain (or a failed start, undone) */
    TR__DRAIN_RUN = 1,  /* one drain owns the record and runs */
    TR__DRAIN_DONE = 2, /* stats are final */
};

typedef struct tr__drain {
    uint32_t phase;    /* see above: 0 -> 1 by one CAS (the one drainer) */
    uint32_t go;       /* async: 1 once `thread` is stored (futex word) */
    int threaded;      /* async: `thread` is ours to join (written before go) */
    int deadline_ms;   /* written by the drainer before it starts */
    uint64_t start_ns; /* likewise */
    uint64_t handled0; /* the counts when foreign work was refused (likewise) */
    uint64_t dead0;
    pthread_t thread;
    tr_drain_stats stats; /* written by the drainer before phase DONE (release) */
} tr__drain;

struct tr_runtime;

/* In tr_runtime_join, after the workers exited: wait for a drain that still
 * runs (it is about to finish: the workers exit only after its close) and
 * join its thread. Under join_mu, once. */
void tr__drain_join(struct tr_runtime *rt);

#endif
