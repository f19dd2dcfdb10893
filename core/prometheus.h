/* core/prometheus.h - the Prometheus text exposition of a runtime's metrics
 * (tr_metrics_prometheus and the console's `prometheus` request). */
#ifndef TR_CORE_PROMETHEUS_H
#define TR_CORE_PROMETHEUS_H

#include "core/text.h"
#include "troupe/runtime.h"

/* Append rt's metrics to out. 0, or an error (out->err set on a failed
 * append; a failed snapshot returns its code). Any thread. */
int tr__prometheus_render(tr_runtime *rt, tr__text *out);

/* The same from a snapshot already taken. */
struct tr_snapshot;
int tr__prometheus_render_snapshot(const struct tr_snapshot *s, tr__text *out);

#endif
