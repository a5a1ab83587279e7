/* sinks.h — the clusters a group's sink writes to: resolved for the sinks, checked at start. */
#ifndef KP_APP_SINKS_H
#define KP_APP_SINKS_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"

/* Installs @p app's cluster resolver for sinks (sinks/sink_clusters.h): a sink's
 * "cluster" is resolved like any registered cluster (kp_app_cluster_resolve). */
void kp_app_sinks_install(kp_app_t *app);
/* Removes it when it is @p app's. */
void kp_app_sinks_uninstall(kp_app_t *app);

/*
 * At group create/replace: a kafka sink's "cluster" must be registered. @returns 0 or
 * KP_ERR_UNPROCESSABLE with errstr "sink.cluster: ...". Other sinks: 0.
 */
int kp_app_sink_check_registered(kp_app_t *app, const json_t *sink, char *errstr,
                                 size_t errstr_size);

/*
 * At start: every target topic a kafka sink @p sink (the group's document's) would write
 * for the sources plan document @p plan reads exists on its cluster (one metadata read of
 * all topics: never one that names a topic, which a mock cluster would create), is a
 * topic name, and is not the source itself. @returns 0, KP_ERR_UNPROCESSABLE with
 * errstr naming the topic, KP_ERR_UNAVAILABLE when the cluster did not answer.
 */
int kp_app_sink_check_targets(kp_app_t *app, const json_t *sink, const json_t *plan, char *errstr,
                              size_t errstr_size);

#endif /* KP_APP_SINKS_H */
