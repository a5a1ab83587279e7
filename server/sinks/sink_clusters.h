/* sink_clusters.h — how a sink finds a registered cluster by name: the resolver the app installs.
 */
#ifndef KP_SINK_CLUSTERS_H
#define KP_SINK_CLUSTERS_H

#include <stddef.h>

#include "kafka/cluster_ref.h"

/*
 * A sink that writes to a registered cluster (kafka; a kafka dead-letter sink) names it in
 * its document; the sinks room cannot read the store or the embedded registry, so the
 * application layer installs a resolver at start-up (app/app.c) and a sink asks it when
 * its group state opens. The resolved reference is only lent for the duration of @p use:
 * the resolver owns the storage and frees it after, so nothing outlives a call.
 */
typedef int (*kp_sink_cluster_use_fn)(const kp_cluster_ref_t *ref, void *arg, char *errstr,
                                      size_t errstr_size);
/* Resolves cluster @p name and calls @p use with it. @returns use's result, or
 * KP_ERR_NOT_FOUND / KP_ERR_UNAVAILABLE with errstr when it cannot be resolved. */
typedef int (*kp_sink_cluster_resolve_fn)(void *ctx, const char *name, kp_sink_cluster_use_fn use,
                                          void *arg, char *errstr, size_t errstr_size);

/* Installs @p fn with @p ctx (NULL fn: none). Only at start-up and shutdown, before and
 * after any sink opens: it is not synchronised. */
void kp_sink_clusters_set(kp_sink_cluster_resolve_fn fn, void *ctx);
/* @returns the installed context (to uninstall only one's own). */
void *kp_sink_clusters_ctx(void);

/* Calls @p use with registered cluster @p name through the installed resolver. @returns
 * its result, KP_ERR_UNAVAILABLE when no resolver is installed. */
int kp_sink_cluster_with(const char *name, kp_sink_cluster_use_fn use, void *arg, char *errstr,
                         size_t errstr_size);

/*
 * Creates @p topic with @p partitions on registered cluster @p name when the cluster can
 * create it without the Kafka protocol (an embedded cluster: librdkafka's mock has no
 * CreateTopics, so only its owner can make a topic there). @returns 0, KP_ERR_EXISTS, or
 * KP_ERR_NOT_FOUND when @p name is not such a cluster (then CreateTopics is the way).
 */
typedef int (*kp_sink_topic_create_fn)(void *ctx, const char *name, const char *topic,
                                       int partitions, char *errstr, size_t errstr_size);
/* Installs @p fn with the resolver's context (NULL: none); as kp_sink_clusters_set. */
void kp_sink_clusters_set_creator(kp_sink_topic_create_fn fn);
/* Calls the installed creator. @returns its result, KP_ERR_NOT_FOUND without one. */
int kp_sink_cluster_topic_create(const char *name, const char *topic, int partitions, char *errstr,
                                 size_t errstr_size);

#endif /* KP_SINK_CLUSTERS_H */
