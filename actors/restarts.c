/* actors/restarts.c - restart intensity and backoff (see restarts.h). */
#include "actors/restarts.h"

#include <stdlib.h>

#include "base/clock.h"
#include "troupe/error.h"
#include "troupe/supervisor.h"

#define UNLIMITED_WINDOW 64 /* remembered restarts when intensity is unlimited */
#define BACKOFF_CAP_MS 60000

static uint64_t default_clock(void *user) {
    (void)user;
    return tr__mono_ms();
}

int tr__restarts_init(tr__restarts *r, uint32_t intensity, uint32_t period_ms,
                      uint64_t (*clock_ms)(void *), void *clock_user, uint32_t bmin, uint32_t bmax,
                      double jitter) {
    r->intensity = intensity;
    r->period_ms = period_ms != 0 ? period_ms : 5000;
    r->clock_ms = clock_ms != NULL ? clock_ms : default_clock;
    r->clock_user = clock_user;
    r->bmin = bmin;
    r->bmax = bmax != 0 ? bmax : BACKOFF_CAP_MS;
    if (r->bmax < r->bmin)
        r->bmax = r->bmin;
    r->jitter = jitter < 0 ? 0 : (jitter > 1 ? 1 : jitter);
    r->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)r;
    if (intensity != TR_SUP_UNLIMITED && intensity > TR__RESTARTS_MAX_INTENSITY)
        return TR_EINVAL;
    r->cap = intensity == TR_SUP_UNLIMITED ? UNLIMITED_WINDOW : intensity + 1;
    r->head = r->n = 0;
    r->times = calloc(r->cap, sizeof(uint64_t));
    return r->times != NULL ? 0 : TR_ENOMEM;
}

void tr__restarts_free(tr__restarts *r) {
    free(r->times);
    r->times = NULL;
}

/* Drop remembered restarts older than the period. */
static void expire(tr__restarts *r, uint64_t now) {
    while (r->n > 0) {
        uint32_t oldest = (r->head + r->cap - r->n) % r->cap;
        if (now - r->times[oldest] < r->period_ms)
            break;
        r->n--;
    }
}

bool tr__restarts_note(tr__restarts *r) {
    uint64_t now = r->clock_ms(r->clock_user);
    expire(r, now);
    r->times[r->head] = now;
    r->head = (r->head + 1) % r->cap;
    if (r->n < r->cap)
        r->n++;
    /* The ring holds intensity + 1 times, so it can see one too many. */
    return r->intensity != TR_SUP_UNLIMITED && r->n > r->intensity;
}

uint64_t tr__restarts_delay(tr__restarts *r) {
    if (r->bmin == 0)
        return 0;
    uint32_t k = r->n > 0 ? r->n - 1 : 0;
    uint64_t d = r->bmin;
    while (k-- > 0 && d < r->bmax)
        d *= 2;
    if (d > r->bmax)
        d = r->bmax;
    if (r->jitter > 0) {
        r->rng ^= r->rng << 13;
        r->rng ^= r->rng >> 7;
        r->rng ^= r->rng << 17;
        double u = (double)(r->rng >> 11) / (double)(1ULL << 53); /* [0, 1) */
        double f = 1.0 + r->jitter * (2.0 * u - 1.0);
        d = (uint64_t)((double)d * f);
    }
    return d;
}
