/* core/prometheus.c - the Prometheus text exposition (format 0.0.4).
 *
 * One metric family at a time: "# HELP name text", "# TYPE name type", then
 * its samples, `name{label="value",...} value`, label values escaped
 * (\\, \", \n). Counters end in _total; times are in seconds. Everything is
 * read from one snapshot, so the families agree with each other. */
#include "core/prometheus.h"

#include <inttypes.h>
#include <string.h>

#include "troupe/console.h"
#include "troupe/error.h"

static void family(tr__text *t, const char *name, const char *type, const char *help) {
    tr__text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u64(tr__text *t, const char *name, uint64_t v) {
    tr__text_printf(t, "%s %" PRIu64 "\n", name, v);
}

static void runtime_families(tr__text *t, const tr_runtime_stats *st) {
    family(t, "troupe_workers", "gauge", "Worker threads.");
    sample_u64(t, "troupe_workers", st->workers);
    family(t, "troupe_actors_alive", "gauge", "Actors alive.");
    sample_u64(t, "troupe_actors_alive", st->actors_alive);
    family(t, "troupe_actors_spawned_total", "counter", "Actors spawned since start.");
    sample_u64(t, "troupe_actors_spawned_total", st->actors_spawned);
    family(t, "troupe_dead_letters_total", "counter", "Messages dead-lettered since start.");
    sample_u64(t, "troupe_dead_letters_total", st->dead_letters);
    family(t, "troupe_steals_total", "counter", "Steal batches workers took from each other.");
    sample_u64(t, "troupe_steals_total", st->steals);
    family(t, "troupe_parks_total", "counter", "Times a worker went to sleep.");
    sample_u64(t, "troupe_parks_total", st->parks);
    family(t, "troupe_stash_overflows_total", "counter", "tr_stash calls refused (full).");
    sample_u64(t, "troupe_stash_overflows_total", st->stash_overflows);
    family(t, "troupe_loops_helped_total", "counter",
           "Times a worker ran the loop of one stuck in a handler.");
    sample_u64(t, "troupe_loops_helped_total", st->loops_helped);
}

int tr__prometheus_render(tr_runtime *rt, tr__text *out) {
    tr_runtime_stats st;
    int rc = tr_runtime_stats_get(rt, &st);
    if (rc != 0)
        return rc;
    runtime_families(out, &st);
    return out->err;
}

int tr_metrics_prometheus(tr_runtime *rt, char *buf, size_t len, size_t *needed) {
    if (rt == NULL || (buf == NULL && len > 0))
        return TR_EINVAL;
    tr__text t = {0};
    int rc = tr__prometheus_render(rt, &t);
    if (rc != 0) {
        tr__text_free(&t);
        return rc;
    }
    if (needed != NULL)
        *needed = t.len + 1;
    if (t.len + 1 > len) {
        if (len > 0)
            buf[0] = '\0';
        tr__text_free(&t);
        return TR_E2BIG;
    }
    memcpy(buf, t.buf ? t.buf : "", t.len + 1);
    tr__text_free(&t);
    return 0;
}
