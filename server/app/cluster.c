/* cluster.c — registered clusters resolved for Kafka clients: the one cluster resolver. */
#include "app/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
