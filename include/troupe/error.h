/* troupe/error.h - error codes.
 *
 * Every public troupe function returns 0 on success or one of the negative
 * codes below. tr_strerror() names a code; it never returns NULL. */
#ifndef TROUPE_ERROR_H
#define TROUPE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TR_OK = 0,
    TR_EINVAL = -1,       /* an argument is NULL, out of range or malformed */
    TR_ENOMEM = -2,       /* out of memory */
    TR_EDEAD = -3,        /* the actor has stopped (the handle is stale) */
    TR_EFULL = -4,        /* the bounded mailbox is full */
    TR_ECLOSED = -5,      /* the runtime (or pool) is closed */
    TR_ETIMEDOUT = -6,    /* the deadline passed */
    TR_E2BIG = -7,        /* the payload is larger than TR_MSG_MAX_SIZE */
    TR_ENOREPLY = -8,     /* a request was handled and dropped without a reply */
    TR_EBUSY = -9,        /* the object is in use (e.g. a future already waited on) */
    TR_EDEADLK = -10,     /* the call would block a runtime worker (deadlock) */
    TR_ESYS = -11,        /* a system call failed (thread, loop or fd creation) */
    TR_ESTATE = -12,      /* the call is not valid in the object's current state */
    TR_ECANCELED = -13,   /* the operation was cancelled */
    TR_ECRASHED = -14,    /* the actor crashed while handling the request */
    TR_ENOTFOUND = -15,   /* no such entry */
    TR_EIO = -16,         /* an I/O operation failed (see the message's errno) */
    TR_EEXIST = -17,      /* the entry already exists (a name, a child id: "already present") */
    TR_EALREADY = -18,    /* already running ("already started") */
    TR_ERESTARTING = -19, /* the child is being restarted */
};

/* A static, human-readable name for code ("TR_EDEAD: actor is dead"). */
const char *tr_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
