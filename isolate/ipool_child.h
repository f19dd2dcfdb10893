/* isolate/ipool_child.h - the child side of the isolated pool (isolate/ipool_child.c)
 * and the wire both sides speak.
 *
 * The wire between the router (isolate/ipool.c) and a child
 * (isolate/ipool_child.c): frames of a fixed 24-byte header and `len` bytes
 * of data, both ways, over one SOCK_STREAM socketpair per child. Jobs go
 * down in the order the router wrote them; the child handles them one at a
 * time and answers each, in that order, so a reply needs no id: it answers
 * the oldest job in flight. */
#ifndef TR_ISOLATE_IPOOL_CHILD_H
#define TR_ISOLATE_IPOOL_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "troupe/ipool.h"

typedef struct tr__iframe {
    uint32_t len;  /* bytes of data after the header */
    uint32_t type; /* the job's or the reply's type */
    int32_t code;  /* reply: 0, or the entry's non-zero return (no data) */
    uint32_t attempt; /* job: failed attempts before this one */
    uint64_t word;
} tr__iframe;

_Static_assert(sizeof(tr__iframe) == 24, "the wire header is 24 bytes");

/* A child's progress, in a page of shared memory (a memfd the child finds
 * on fd 4, mapped by both; the parent keeps no fd for it). The child
 * stores start_ms and then started (release) before it runs a job, and done
 * (release) after; the parent reads started (acquire), done, start_ms. So
 * after a death the parent knows which job was running (replies the child
 * had buffered are lost with it), and the watchdog knows since when, without
 * the child making a system call per job. */
typedef struct tr__iprogress {
    uint64_t started;
    uint64_t done;
    uint64_t start_ms; /* CLOCK_MONOTONIC, ms */
} tr__iprogress;

/* The argv[1] that makes tr_ipool_main enter the worker loop:
 * exe TR__IPOOL_FLAG <entry> <fd> <rlimit_as> <rlimit_cpu_s> */
#define TR__IPOOL_FLAG "--troupe-ipool-worker"
/* The fds the child finds its socket and its progress page on. */
#define TR__IPOOL_CHILD_FD 3
#define TR__IPOOL_PROGRESS_FD 4
/* The signal a child takes when a thread of its parent that spawned it
 * ends (PR_SET_PDEATHSIG; ipool_child.c, die_with_parent): a real-time
 * signal, unlikely to be one an entry uses. */
#define TR__IPOOL_PARENT_SIG (SIGRTMAX - 1)

/* Whether name is a registered entry (false for NULL). */
bool tr__ipool_entry_is_known(const char *name);

/* Start a child running entry with its end of a new socketpair: *pid, its
 * pidfd (CLOEXEC, or -1 where pidfd_open is missing), the parent's end of
 * the socket (non-blocking, CLOEXEC) and the shared progress page (zeroed;
 * munmap it with sizeof(tr__iprogress) rounded to a page: TR__IPOOL_PAGE).
 * 0, TR_ESYS (errno kept), TR_ENOMEM. Nothing is left behind on error. */
#define TR__IPOOL_PAGE 4096
int tr__ipool_spawn(const char *exe, const char *entry, uint64_t rlimit_as, uint32_t rlimit_cpu_s,
                    pid_t *pid, int *pidfd, int *sock, tr__iprogress **prog);

#endif
