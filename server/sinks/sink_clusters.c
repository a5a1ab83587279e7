/* sink_clusters.c — how a sink finds a registered cluster by name: the resolver the app installs.
 */
#include "sinks/sink_clusters.h"

#include <stdio.h>

#include "base/err.h"

static kp_sink_cluster_resolve_fn resolver;
static kp_sink_topic_create_fn creator;
static void *resolver_ctx;

void kp_sink_clusters_set(kp_sink_cluster_resolve_fn fn, void *ctx)
{
        resolver = fn;
        resolver_ctx = fn ? ctx : NULL;
}

void *kp_sink_clusters_ctx(void)
{
        return resolver_ctx;
}

int kp_sink_cluster_with(const char *name, kp_sink_cluster_use_fn use, void *arg, char *errstr,
                         size_t errstr_size)
{
        if (!resolver) {
                snprintf(errstr, errstr_size, "sink.cluster: no cluster resolver in this process");
                return KP_ERR_UNAVAILABLE;
        }
        return resolver(resolver_ctx, name, use, arg, errstr, errstr_size);
}

void kp_sink_clusters_set_creator(kp_sink_topic_create_fn fn)
{
        creator = fn;
}

int kp_sink_cluster_topic_create(const char *name, const char *topic, int partitions, char *errstr,
                                 size_t errstr_size)
{
        if (!creator)
                return KP_ERR_NOT_FOUND;
        return creator(resolver_ctx, name, topic, partitions, errstr, errstr_size);
}
