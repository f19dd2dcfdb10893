/* actors/restarts.h - restart intensity and backoff, shared by supervisors
 * and pools.
 *
 * Keeps the times of the most recent restarts (a ring of intensity + 1
 * entries, read from the injectable clock). A restart that makes more than
 * `intensity` restarts within `period` says "escalate". The backoff delay of
 * the n-th restart within the period is min * 2^(n-1), capped at max, with
 * +/- jitter. Owner only (one actor), no locking. */
#ifndef TR_ACTORS_RESTARTS_H
#define TR_ACTORS_RESTARTS_H

#include <stdbool.h>
#include <stdint.h>

#define TR__RESTARTS_MAX_INTENSITY 1000000u

typedef struct tr__restarts {
    uint32_t intensity; /* UINT32_MAX: unlimited */
    uint64_t period_ms;
    uint64_t (*clock_ms)(void *user);
    void *clock_user;
    uint32_t bmin, bmax;
    double jitter;
    uint64_t rng;
    uint64_t *times; /* ring: the last `cap` restart times */
    uint32_t cap, head, n;
} tr__restarts;

/* TR_EINVAL if intensity is finite and above TR__RESTARTS_MAX_INTENSITY. */
int tr__restarts_init(tr__restarts *r, uint32_t intensity, uint32_t period_ms,
                      uint64_t (*clock_ms)(void *), void *clock_user, uint32_t bmin, uint32_t bmax,
                      double jitter);
void tr__restarts_free(tr__restarts *r);
/* Record one restart now; true if that exceeds the intensity. */
bool tr__restarts_note(tr__restarts *r);
/* Backoff delay in ms for the restart just noted (0 without backoff). */
uint64_t tr__restarts_delay(tr__restarts *r);

#endif
