/* status.h — the status of a group that is not running, read from its clusters. */
#ifndef KP_APP_STATUS_H
#define KP_APP_STATUS_H

#include <jansson.h>

#include "app/app.h"

/*
 * The status of group doc @p group (named @p name) that is not running, as
 * kafka-consumer-groups --describe shows one: each partition of its topics with the
 * group's committed offset read from its cluster, the high watermark and lag =
 * high_watermark - committed (null where nothing is committed); "task" from the current
 * plan, "position" null (no task reads it). A cluster that does not answer within
 * app->metadata_timeout_ms does not fail the answer: its partitions carry "error" and
 * null offsets, and "clusters" lists it with its "last_error". Costs one short-lived
 * consumer per cluster, KP_STATUS_CLUSTERS_PARALLEL at a time (threads of their own).
 * @returns a new status doc.
 */
json_t *kp_app_group_stopped_status(kp_app_t *app, const json_t *group, const char *name);

#endif /* KP_APP_STATUS_H */
