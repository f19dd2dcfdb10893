/* core/error.c - names for the TR_E... codes. */
#include "troupe/error.h"

const char *tr_strerror(int code) {
    switch (code) {
    case TR_OK:
        return "TR_OK: success";
    case TR_EINVAL:
        return "TR_EINVAL: invalid argument";
    case TR_ENOMEM:
        return "TR_ENOMEM: out of memory";
    case TR_EDEAD:
        return "TR_EDEAD: actor is dead";
    case TR_EFULL:
        return "TR_EFULL: mailbox is full";
    case TR_ECLOSED:
        return "TR_ECLOSED: runtime or pool is closed";
    case TR_ETIMEDOUT:
        return "TR_ETIMEDOUT: timed out";
    case TR_E2BIG:
        return "TR_E2BIG: payload too large";
    case TR_ENOREPLY:
        return "TR_ENOREPLY: request dropped without a reply";
    case TR_EBUSY:
        return "TR_EBUSY: resource busy";
    case TR_EDEADLK:
        return "TR_EDEADLK: call would block a runtime worker";
    case TR_ESYS:
        return "TR_ESYS: system call failed";
    case TR_ESTATE:
        return "TR_ESTATE: invalid in the current state";
    case TR_ECANCELED:
        return "TR_ECANCELED: operation cancelled";
    case TR_ECRASHED:
        return "TR_ECRASHED: actor crashed handling the request";
    case TR_ENOTFOUND:
        return "TR_ENOTFOUND: no such entry";
    case TR_EIO:
        return "TR_EIO: I/O error";
    case TR_EEXIST:
        return "TR_EEXIST: already exists";
    case TR_EALREADY:
        return "TR_EALREADY: already started";
    case TR_ERESTARTING:
        return "TR_ERESTARTING: child is restarting";
    default:
        return "TR_E?: unknown error code";
    }
}
