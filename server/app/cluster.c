/* cluster.c — registered clusters resolved for Kafka clients: the one cluster resolver. */
#include "app/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "db/store.h"
#include "kafka/embedded.h"
#include "kafka/kafka.h"

int kp_app_cluster_from_doc(kp_embedded_t *emb, const json_t *doc, kp_app_cluster_t *c,
                            char *errstr, size_t errstr_size)
{
        const char *name = json_string_value(json_object_get(doc, "name"));
        memset(c, 0, sizeof(*c));
        c->doc = json_incref((json_t *)doc);
        c->ref.name = name;
        c->ref.config = json_object_get(doc, "config");
        if (json_is_object(json_object_get(doc, "embedded"))) {
                /* an embedded cluster's port changes on every start: ask the registry */
                c->bootstrap = name ? kp_embedded_bootstrap(emb, name) : NULL;
        } else {
                const char *bs = json_string_value(json_object_get(doc, "bootstrap_servers"));
                c->bootstrap = bs ? strdup(bs) : NULL;
        }
        c->ref.bootstrap = c->bootstrap;
        if (!c->bootstrap) {
                snprintf(errstr, errstr_size, "embedded cluster %s is not running",
                         name ? name : "?");
                return KP_ERR_UNAVAILABLE;
        }
        return 0;
}

int kp_app_cluster_resolve(kp_store_t *st, kp_embedded_t *emb, const char *name,
                           kp_app_cluster_t *c, char *errstr, size_t errstr_size)
{
        json_t *doc = NULL;
        memset(c, 0, sizeof(*c));
        int err = kp_store_cluster_get(st, name, &doc, errstr, errstr_size);
        if (err)
                return err;
        err = kp_app_cluster_from_doc(emb, doc, c, errstr, errstr_size);
        json_decref(doc);
        return err;
}

void kp_app_cluster_cleanup(kp_app_cluster_t *c)
{
        free(c->bootstrap);
        json_decref(c->doc);
        memset(c, 0, sizeof(*c));
}

json_t *kp_app_clusters_for_runtime(kp_store_t *st, kp_embedded_t *emb, const json_t *names,
                                    char *errstr, size_t errstr_size)
{
        json_t *out = json_object();
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n)
        {
                const char *name = json_string_value(n);
                kp_app_cluster_t c;
                if (!name || json_object_get(out, name))
                        continue;
                if (kp_app_cluster_resolve(st, emb, name, &c, errstr, errstr_size)) {
                        kp_app_cluster_cleanup(&c);
                        json_decref(out);
                        return NULL;
                }
                json_object_set_new(out, name,
                                    json_pack("{s:s, s:O}", "bootstrap_servers", c.ref.bootstrap,
                                              "config", c.ref.config));
                kp_app_cluster_cleanup(&c);
        }
        return out;
}

int kp_app_cluster_metadata(const kp_app_cluster_t *c, const char *topic, int timeout_ms,
                            kp_kafka_metadata_t **mdp, char *errstr, size_t errstr_size)
{
        return kp_kafka_metadata_fetch(c->ref.bootstrap, c->ref.config, topic, timeout_ms, mdp,
                                       errstr, errstr_size);
}

/* The first group (name order) whose Kafka sink writes to cluster @p name, into @p buf;
 * "" when none. */
static int sink_user(kp_store_t *st, const char *name, char *buf, size_t size, char *errstr,
                     size_t errstr_size)
{
        json_t *groups = NULL, *g;
        size_t i;
        int err = kp_store_group_list(st, &groups, errstr, errstr_size);
        buf[0] = '\0';
        json_array_foreach(groups, i, g)
        {
                const json_t *sink = json_object_get(g, "sink");
                const char *type = json_string_value(json_object_get(sink, "type"));
                const char *target = json_string_value(json_object_get(sink, "cluster"));
                if (type && !strcmp(type, "kafka") && target && !strcmp(target, name)) {
                        snprintf(buf, size, "%s", json_string_value(json_object_get(g, "name")));
                        break;
                }
        }
        json_decref(groups);
        return err;
}

int kp_app_cluster_delete(kp_store_t *st, kp_embedded_t *emb, const char *name, char *errstr,
                          size_t errstr_size)
{
        char group[KP_NAME_MAX + 1];
        /* Sink targets are not in the store's group_refs (they mirror doc.topics only), so
         * they are looked up here. A group written between this look and the delete is the
         * same window as a group's create checking its sink cluster before it is stored: such
         * a group fails at its start naming sink.cluster, it loses nothing. */
        int err = sink_user(st, name, group, sizeof(group), errstr, errstr_size);
        if (err)
                return err;
        if (group[0]) {
                snprintf(errstr, errstr_size, "cluster '%s' is the sink target of group '%s'", name,
                         group);
                return KP_ERR_IN_USE;
        }
        if ((err = kp_store_cluster_delete(st, name, errstr, errstr_size)))
                return err;
        kp_embedded_stop(emb, name);
        return 0;
}

int kp_app_cluster_embedded_start(kp_embedded_t *emb, const json_t *doc, char *errstr,
                                  size_t errstr_size)
{
        json_t *spec = json_object_get(doc, "embedded");
        json_t *b = json_object_get(spec, "brokers");
        return kp_embedded_start(emb, json_string_value(json_object_get(doc, "name")),
                                 b ? (int)json_integer_value(b) : 1,
                                 json_object_get(spec, "topics"), NULL, errstr, errstr_size);
}

void kp_app_embedded_restore(kp_store_t *st, kp_embedded_t *emb)
{
        char errstr[512];
        json_t *arr = NULL;
        if (kp_store_cluster_list(st, &arr, errstr, sizeof(errstr)))
                return;
        size_t i;
        json_t *doc;
        json_array_foreach(arr, i, doc)
        {
                if (!json_is_object(json_object_get(doc, "embedded")))
                        continue;
                if (kp_app_cluster_embedded_start(emb, doc, errstr, sizeof(errstr)))
                        fprintf(stderr, "kplane: embedded cluster %s: %s\n",
                                json_string_value(json_object_get(doc, "name")), errstr);
        }
        json_decref(arr);
}
