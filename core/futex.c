/* core/futex.c - futex(2) wait and wake (see core/futex.h). */
#include "core/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "troupe/error.h"

int tr__futex_wait(uint32_t *word, uint32_t val, const struct timespec *deadline) {
    /* FUTEX_WAIT_BITSET takes an absolute deadline (plain FUTEX_WAIT a
     * relative one), on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME. */
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, deadline, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    return rc != 0 && errno == ETIMEDOUT ? TR_ETIMEDOUT : 0;
}

void tr__futex_wake(uint32_t *word, int n) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
