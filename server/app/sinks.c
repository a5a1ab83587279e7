/* sinks.c — the clusters a group's sink writes to: resolved for the sinks, checked at start. */
#include "app/sinks.h"

#include <stdio.h>
#include <string.h>

#include "app/cluster.h"
#include "base/config.h"
#include "base/err.h"
#include "db/store.h"
#include "kafka/embedded.h"
#include "kafka/kafka.h"
#include "sinks/sink_clusters.h"
#include "sinks/sink_kafka.h"

/* kp_sink_cluster_resolve_fn over the store and the embedded registry. */
static int sinks_resolve(void *ctx, const char *name, kp_sink_cluster_use_fn use, void *arg,
                         char *errstr, size_t errstr_size)
{
        kp_app_t *app = ctx;
        kp_app_cluster_t c;
        int err = kp_app_cluster_resolve(app->store, app->emb, name, &c, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND)
                snprintf(errstr, errstr_size, "sink.cluster: no cluster named %s", name);
        if (!err)
                err = use(&c.ref, arg, errstr, errstr_size);
        kp_app_cluster_cleanup(&c);
        return err;
}

/* kp_sink_topic_create_fn: a topic on an embedded cluster, made in its mock (which has no
 * CreateTopics); KP_ERR_NOT_FOUND for any other cluster. */
static int sinks_topic_create(void *ctx, const char *name, const char *topic, int partitions,
                              char *errstr, size_t errstr_size)
{
        kp_app_t *app = ctx;
        return app->emb ? kp_embedded_topic_create(app->emb, name, topic, partitions, errstr,
                                                   errstr_size)
                        : KP_ERR_NOT_FOUND;
}

void kp_app_sinks_install(kp_app_t *app)
{
        kp_sink_clusters_set(sinks_resolve, app);
        kp_sink_clusters_set_creator(sinks_topic_create);
}

void kp_app_sinks_uninstall(kp_app_t *app)
{
        if (kp_sink_clusters_ctx() == app) {
                kp_sink_clusters_set(NULL, NULL);
                kp_sink_clusters_set_creator(NULL);
        }
}

static int sink_is_kafka(const json_t *sink)
{
        const char *type = json_string_value(json_object_get(sink, "type"));
        return type && !strcmp(type, "kafka");
}

int kp_app_sink_check_registered(kp_app_t *app, const json_t *sink, char *errstr,
                                 size_t errstr_size)
{
        const char *name = json_string_value(json_object_get(sink, "cluster"));
        json_t *doc = NULL;
        if (!sink_is_kafka(sink) || !name)
                return 0;
        int err = kp_store_cluster_get(app->store, name, &doc, errstr, errstr_size);
        json_decref(doc);
        if (err == KP_ERR_NOT_FOUND) {
                snprintf(errstr, errstr_size,
                         "sink.cluster: no cluster named %s: register it first with "
                         "POST /api/v1/clusters",
                         name);
                return KP_ERR_UNPROCESSABLE;
        }
        return err;
}

/* Checks the target of one source @p cluster / @p topic against metadata @p md of the
 * sink's cluster @p target. */
static int sink_check_one(const json_t *sink, const char *target, const kp_kafka_metadata_t *md,
                          const char *cluster, const char *topic, char *errstr, size_t errstr_size)
{
        const char *tmpl = json_string_value(json_object_get(sink, "topic"));
        char name[KP_SINK_KAFKA_TOPIC_MAX + 1];
        if (kp_sink_kafka_topic(tmpl, cluster, topic, name, sizeof(name)))
                snprintf(errstr, errstr_size,
                         "sink.topic: %s gives no topic name for source %s/%s (at most %d of "
                         "[A-Za-z0-9._-])",
                         tmpl, cluster, topic, KP_SINK_KAFKA_TOPIC_MAX);
        else if (!strcmp(target, cluster) && !strcmp(name, topic))
                snprintf(errstr, errstr_size,
                         "sink.topic: source %s/%s would be copied into itself", cluster, topic);
        else if (kp_kafka_metadata_partitions(md, name) < 0)
                snprintf(errstr, errstr_size,
                         "sink.topic: target topic %s does not exist on cluster %s (for source "
                         "%s/%s): create it first",
                         name, target, cluster, topic);
        else
                return 0;
        return KP_ERR_UNPROCESSABLE;
}

/* Checks the target of every source topic of @p plan (each once). */
static int sink_check_plan(const json_t *sink, const char *target, const kp_kafka_metadata_t *md,
                           const json_t *plan, char *errstr, size_t errstr_size)
{
        json_t *seen = json_object(), *t, *pt;
        size_t i, j;
        int err = 0;
        char key[2 * KP_SINK_KAFKA_TOPIC_MAX + 2];
        json_array_foreach(json_object_get(plan, "tasks"), i, t)
        {
                json_array_foreach(json_object_get(t, "partitions"), j, pt)
                {
                        const char *c = json_string_value(json_object_get(pt, "cluster"));
                        const char *tp = json_string_value(json_object_get(pt, "topic"));
                        if (err || !c || !tp)
                                continue;
                        snprintf(key, sizeof(key), "%s/%s", c, tp);
                        if (json_object_get(seen, key))
                                continue;
                        json_object_set_new(seen, key, json_true());
                        err = sink_check_one(sink, target, md, c, tp, errstr, errstr_size);
                }
        }
        json_decref(seen);
        return err;
}

int kp_app_sink_check_targets(kp_app_t *app, const json_t *sink, const json_t *plan, char *errstr,
                              size_t errstr_size)
{
        const char *target = json_string_value(json_object_get(sink, "cluster"));
        kp_app_cluster_t c;
        kp_kafka_metadata_t *md = NULL;
        if (!sink_is_kafka(sink) || !target)
                return 0;
        int err = kp_app_cluster_resolve(app->store, app->emb, target, &c, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND) {
                snprintf(errstr, errstr_size, "sink.cluster: no cluster named %s", target);
                err = KP_ERR_UNPROCESSABLE;
        }
        if (!err)
                err = kp_app_cluster_metadata(&c, NULL, app->metadata_timeout_ms, &md, errstr,
                                              errstr_size);
        if (!err)
                err = sink_check_plan(sink, target, md, plan, errstr, errstr_size);
        kp_kafka_metadata_destroy(md);
        kp_app_cluster_cleanup(&c);
        return err;
}
