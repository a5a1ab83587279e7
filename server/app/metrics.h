/* metrics.h — the Prometheus text exposition of /metrics, gathered from every module. */
#ifndef KP_METRICS_H
#define KP_METRICS_H

#include "app/app.h"
#include "base/util.h"

/* Appends every kplane metric (HTTP counters, plan gauges, group and task metrics) to
 * @p out in Prometheus text format 0.0.4. Cost: one store read per group. */
void kp_metrics_write(kp_app_t *app, kp_buf_t *out);

#endif /* KP_METRICS_H */
