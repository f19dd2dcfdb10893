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

void tr__deadline_after(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

uint64_t tr__mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
