/* clusters.c — /api/v1/clusters: register Kafka clusters (or embedded ones), read metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/client_conf.h"
#include "base/config.h"
#include "app/cluster.h"
#include "coord/coord.h"
#include "kafka/embedded.h"
#include "base/err.h"
#include "api/handlers.h"
#include "kafka/kafka.h"
#include "api/respond.h"
#include "db/store.h"
#include "base/util.h"

/* @returns a copy of @p config with secret values masked (API.md); an `${env:...}`
 * reference is shown as it is: it names the secret, it is not one. */
static json_t *config_masked(const json_t *config)
{
        json_t *out = json_object();
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)config, key, v)
        {
                json_object_set_new(out, key,
                                    kp_client_conf_secret(key) && !kp_client_conf_env_ref(v)
                                            ? json_string(KP_SECRET_MASK)
                                            : json_deep_copy(v));
        }
        return out;
}

/*
 * @returns 1 when a replace of @p old by (@p bs, @p config) points the cluster's clients
 * at another address or changes how they authenticate or whom they trust: then a stored
 * secret must not ride along ("******"), or a PUT could send it to a host of its choosing.
 * A security property sent back as "******" counts as unchanged.
 */
static int cluster_rebinds(const json_t *old, const json_t *bs, const json_t *config)
{
        const json_t *old_bs = json_object_get(old, "bootstrap_servers");
        const json_t *oldcfg = json_object_get(old, "config");
        const char *key;
        json_t *v, *nv;

        if (!json_equal(old_bs ? (json_t *)old_bs : json_null(), bs ? (json_t *)bs : json_null()))
                return 1;
        json_object_foreach((json_t *)oldcfg, key, v)
        {
                if (!kp_client_conf_security(key))
                        continue;
                nv = json_object_get(config, key);
                if (!nv ||
                    (!json_equal(nv, v) &&
                     !(json_is_string(nv) && !strcmp(json_string_value(nv), KP_SECRET_MASK))))
                        return 1;
        }
        json_object_foreach((json_t *)config, key, v)
        {
                if (kp_client_conf_security(key) && !json_object_get(oldcfg, key))
                        return 1;
        }
        return 0;
}

/* The cluster as the API shows it: live address, masked secrets. */
static json_t *cluster_view(kp_app_t *app, const json_t *doc)
{
        char ignored[256];
        kp_app_cluster_t c;
        kp_app_cluster_from_doc(app->emb, doc, &c, ignored, sizeof(ignored));
        const char *bs = c.ref.bootstrap; /* NULL: an embedded cluster that is not running */
        json_t *emb = json_object_get(doc, "embedded");
        json_t *v =
                json_pack("{s:O, s:o, s:O, s:o, s:O, s:O}", "name", json_object_get(doc, "name"),
                          "bootstrap_servers", bs ? json_string(bs) : json_null(), "embedded",
                          json_is_object(emb) ? emb : json_false(), "config",
                          config_masked(json_object_get(doc, "config")), "created_at",
                          json_object_get(doc, "created_at"), "updated_at",
                          json_object_get(doc, "updated_at"));
        kp_app_cluster_cleanup(&c);
        return v;
}

/* Validates an "embedded" spec, appending field errors. */
static void embedded_check(const json_t *emb, json_t *errors)
{
        static const char *const fields[] = {"brokers", "topics", NULL};
        static const char *const tfields[] = {"name", "partitions", NULL};
        if (!json_is_object(emb)) {
                kp_field_error(errors, "embedded", "must be an object");
                return;
        }
        kp_fields_check(emb, fields, "embedded", errors);
        json_t *b = json_object_get(emb, "brokers");
        if (b && (!json_is_integer(b) || json_integer_value(b) < 1 ||
                  json_integer_value(b) > KP_EMBEDDED_BROKERS_MAX))
                kp_field_error(errors, "embedded.brokers", "must be an integer 1..%d",
                               KP_EMBEDDED_BROKERS_MAX);
        json_t *topics = json_object_get(emb, "topics");
        if (topics && !json_is_array(topics)) {
                kp_field_error(errors, "embedded.topics", "must be an array");
                return;
        }
        size_t i;
        json_t *t;
        json_array_foreach(topics, i, t)
        {
                char f[64];
                snprintf(f, sizeof(f), "embedded.topics[%zu]", i);
                if (!json_is_object(t)) {
                        kp_field_error(errors, f, "must be an object");
                        continue;
                }
                kp_fields_check(t, tfields, f, errors);
                const char *name = json_string_value(json_object_get(t, "name"));
                if (!kp_topic_name_valid(name)) {
                        snprintf(f, sizeof(f), "embedded.topics[%zu].name", i);
                        kp_field_error(errors, f, "must match " KP_TOPIC_NAME_RULE);
                }
                json_t *p = json_object_get(t, "partitions");
                if (!json_is_integer(p) || json_integer_value(p) < 1 ||
                    json_integer_value(p) > KP_EMBEDDED_PARTITIONS_MAX) {
                        snprintf(f, sizeof(f), "embedded.topics[%zu].partitions", i);
                        kp_field_error(errors, f, "must be an integer 1..%d",
                                       KP_EMBEDDED_PARTITIONS_MAX);
                }
        }
}

/* Field error for what kp_kafka_config_validate refused: errstr starts with the field,
 * "config.<property>: ..." for one property, "config: ..." for a combination rd_kafka_new
 * refuses. */
static void config_field_error(json_t *errors, const char *errstr)
{
        char f[300];
        const char *colon = strchr(errstr, ':');
        if (colon && !strncmp(errstr, "config", 6) && (size_t)(colon - errstr) < sizeof(f))
                snprintf(f, sizeof(f), "%.*s", (int)(colon - errstr), errstr);
        else
                snprintf(f, sizeof(f), "config");
        kp_field_error(errors, f, "%s", errstr);
}

/*
 * The "config" of a cluster body (@p config, may be NULL) as it is to be stored: with
 * @p old (replace), "******" values keep the stored secret unless the cluster's address
 * (@p bs, NULL for an embedded one) or security settings change. Field problems go to
 * @p errors. @returns a new object (empty when no config).
 */
static json_t *cluster_config_from_body(const json_t *config, const json_t *old, const json_t *bs,
                                        json_t *errors)
{
        char errstr[512];
        json_t *cfg = json_object();
        if (config && !json_is_object(config)) {
                kp_field_error(errors, "config", "must be an object of librdkafka properties");
                return cfg;
        }
        if (!config)
                return cfg;
        const char *key;
        json_t *v;
        json_t *oldcfg = old ? json_object_get(old, "config") : NULL;
        int rebinds = old && cluster_rebinds(old, bs, config);
        size_t nerr = json_array_size(errors);
        json_object_foreach((json_t *)config, key, v)
        {
                /* a masked value sent back unchanged keeps the stored secret, as long as
                 * it goes where it went before */
                if (json_is_string(v) && !strcmp(json_string_value(v), KP_SECRET_MASK) &&
                    json_object_get(oldcfg, key)) {
                        if (rebinds) {
                                char f[300];
                                snprintf(f, sizeof(f), "config.%s", key);
                                kp_field_error(errors, f,
                                               "the address or the security settings change: "
                                               "give this secret again (the stored one is not "
                                               "sent elsewhere)");
                                continue;
                        }
                        v = json_object_get(oldcfg, key);
                }
                json_object_set(cfg, key, v);
        }
        if (json_array_size(errors) == nerr &&
            kp_kafka_config_validate(cfg, errstr, sizeof(errstr)))
                config_field_error(errors, errstr);
        return cfg;
}

/*
 * Validates a cluster body for create (@p path_name NULL) or replace. Field problems go
 * to @p errors. With @p old (replace), "******" config values keep the stored secret.
 * @returns the doc to store (new reference) or NULL when @p errors got entries.
 */
static json_t *cluster_doc_from_body(const json_t *body, const char *path_name, const json_t *old,
                                     json_t *errors)
{
        static const char *const fields[] = {"name", "bootstrap_servers", "config", "embedded",
                                             NULL};
        kp_fields_check(body, fields, "", errors);
        const char *name = kp_name_field(body, path_name, errors);
        json_t *bs = json_object_get(body, "bootstrap_servers");
        json_t *emb = json_object_get(body, "embedded");
        if (emb && json_is_false(emb))
                emb = NULL;
        if (bs && emb)
                kp_field_error(errors, "bootstrap_servers",
                               "give bootstrap_servers or embedded, not both");
        else if (!bs && !emb)
                kp_field_error(errors, "bootstrap_servers",
                               "is required (or \"embedded\" for an in-process cluster)");
        else if (bs &&
                 (!json_is_string(bs) || !json_string_length(bs) || json_string_length(bs) > 4096))
                kp_field_error(errors, "bootstrap_servers",
                               "must be a non-empty string host:port[,host:port...]");
        if (emb)
                embedded_check(emb, errors);

        json_t *cfg = cluster_config_from_body(json_object_get(body, "config"), old,
                                               emb ? NULL : bs, errors);
        if (json_array_size(errors)) {
                json_decref(cfg);
                return NULL;
        }
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        json_t *doc = json_pack("{s:s, s:o, s:O, s:o, s:s, s:s}", "name", name, "bootstrap_servers",
                                bs ? json_deep_copy(bs) : json_null(), "embedded",
                                emb ? emb : json_false(), "config", cfg, "created_at",
                                old ? json_string_value(json_object_get(old, "created_at")) : now,
                                "updated_at", now);
        return doc;
}

/* The answer to a failed kp_app_cluster_embedded_start(): a spec the mock refuses (a topic given
 * twice) is the client's 400, on create and replace alike; a budget over its limit a 422. */
static int embedded_start_status(int err)
{
        return err == KP_ERR_INVALID ? 400 : err == KP_ERR_UNPROCESSABLE ? 422 : 503;
}

static json_t *cluster_list_view(void *ctx, const json_t *doc)
{
        return cluster_view(ctx, doc);
}

void kp_h_clusters_list(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *arr = NULL;
        (void)req;
        (void)p;
        int err = kp_store_cluster_list(app->store, &arr, errstr, sizeof(errstr));
        kp_resp_list(resp, err, errstr, arr, cluster_list_view, app);
}

json_t *kp_api_cluster_or_404(kp_app_t *app, const char *name, kp_http_resp_t *resp)
{
        char errstr[512];
        json_t *doc = NULL;
        int err = kp_store_cluster_get(app->store, name, &doc, errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND)
                kp_resp_problem(resp, 404, "no cluster named %s", name);
        else if (err)
                kp_resp_error(resp, err, errstr);
        return err ? NULL : doc;
}

/* Several instances: an embedded cluster lives in one process, where the others cannot
 * reach it, so registering one is a 422. @returns 1 when @p doc was refused so. */
static int embedded_refused(kp_app_t *app, const json_t *doc, kp_http_resp_t *resp)
{
        kp_coord_t *coord = __atomic_load_n(&app->coord, __ATOMIC_ACQUIRE);
        if (!json_is_object(json_object_get(doc, "embedded")) || !kp_coord_shared(coord))
                return 0;
        kp_resp_problem(resp, 422,
                        "embedded: an embedded cluster lives in one process and the service's "
                        "other instances (KPLANE_COORDINATION) could not reach it; register a "
                        "Kafka cluster by its bootstrap_servers");
        return 1;
}

void kp_h_cluster_create(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL, *doc = NULL, *existing = NULL;
        json_t *errors = json_array();
        (void)p;
        if (kp_req_offload_io(req, resp)) /* an embedded cluster's topics take a while */
                goto out;
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        doc = cluster_doc_from_body(body, NULL, NULL, errors);
        if (!doc) {
                kp_resp_problem_errors(resp, 400, errors, "invalid cluster");
                errors = NULL;
                goto out;
        }
        if (embedded_refused(app, doc, resp))
                goto out;
        const char *name = json_string_value(json_object_get(doc, "name"));
        if (!kp_store_cluster_get(app->store, name, &existing, errstr, sizeof(errstr))) {
                kp_resp_problem(resp, 409, "cluster %s already exists", name);
                goto out;
        }
        int embedded = json_is_object(json_object_get(doc, "embedded"));
        if (embedded) {
                int err = kp_app_cluster_embedded_start(app->emb, doc, errstr, sizeof(errstr));
                if (err) {
                        kp_resp_problem(resp, embedded_start_status(err),
                                        "cannot start embedded cluster %s: %s", name, errstr);
                        goto out;
                }
        }
        int err = kp_store_cluster_create(app->store, name, doc, errstr, sizeof(errstr));
        if (err) {
                if (embedded && err != KP_ERR_EXISTS)
                        kp_embedded_stop(app->emb, name);
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        snprintf(resp->location, sizeof(resp->location), "/api/v1/clusters/%s", name);
        kp_resp_json(resp, 201, cluster_view(app, doc));
out:
        json_decref(errors);
        json_decref(existing);
        json_decref(doc);
        json_decref(body);
}

void kp_h_cluster_get(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)req;
        json_t *doc = kp_api_cluster_or_404(app, p[0], resp);
        if (!doc)
                return;
        kp_resp_json(resp, 200, cluster_view(app, doc));
        json_decref(doc);
}

void kp_h_cluster_put(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL, *doc = NULL, *old = NULL;
        json_t *errors = json_array();
        if (kp_req_offload_io(req, resp)) /* may start or stop an embedded cluster */
                goto out;
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        old = kp_api_cluster_or_404(app, p[0], resp);
        if (!old)
                goto out;
        doc = cluster_doc_from_body(body, p[0], old, errors);
        if (!doc) {
                kp_resp_problem_errors(resp, 400, errors, "invalid cluster");
                errors = NULL;
                goto out;
        }
        if (embedded_refused(app, doc, resp))
                goto out;
        json_t *old_emb = json_object_get(old, "embedded");
        json_t *new_emb = json_object_get(doc, "embedded");
        int restart = json_is_object(new_emb) &&
                      (!json_is_object(old_emb) || !json_equal(old_emb, new_emb));
        int serr =
                restart ? kp_app_cluster_embedded_start(app->emb, doc, errstr, sizeof(errstr)) : 0;
        if (serr) {
                kp_resp_problem(resp, embedded_start_status(serr),
                                "cannot start embedded cluster %s: %s", p[0], errstr);
                goto out;
        }
        if (json_is_object(old_emb) && !json_is_object(new_emb))
                kp_embedded_stop(app->emb, p[0]);
        int err = kp_store_cluster_update(app->store, p[0], doc, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        kp_resp_json(resp, 200, cluster_view(app, doc));
out:
        json_decref(errors);
        json_decref(old);
        json_decref(doc);
        json_decref(body);
}

void kp_h_cluster_delete(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        if (kp_req_offload_io(req, resp)) /* may stop an embedded cluster (~1 s) */
                return;
        int err = kp_app_cluster_delete(app->store, app->emb, p[0], errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND) {
                kp_resp_problem(resp, 404, "no cluster named %s", p[0]);
                return;
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                return;
        }
        resp->status = 204;
}

void kp_h_cluster_metadata(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *doc = NULL;
        kp_kafka_metadata_t *md = NULL;
        kp_app_cluster_t c = {0};
        if (kp_req_offload_io(req, resp))
                goto out;
        doc = kp_api_cluster_or_404(app, p[0], resp);
        if (!doc)
                goto out;
        if (kp_app_cluster_from_doc(app->emb, doc, &c, errstr, sizeof(errstr))) {
                kp_resp_problem(resp, 503, "embedded cluster %s is not running", p[0]);
                goto out;
        }
        int err = kp_app_cluster_metadata(&c, NULL, app->metadata_timeout_ms, &md, errstr,
                                          sizeof(errstr));
        if (err) {
                kp_resp_problem(resp, err == KP_ERR_UNAVAILABLE ? 503 : kp_resp_status_of(err),
                                "cluster %s: %s", p[0], errstr);
                goto out;
        }
        json_t *brokers = json_array(), *topics = json_array();
        for (size_t i = 0; i < md->broker_cnt; i++)
                json_array_append_new(brokers,
                                      json_pack("{s:i, s:s, s:i}", "id", md->brokers[i].id, "host",
                                                md->brokers[i].host, "port", md->brokers[i].port));
        for (size_t i = 0; i < md->topic_cnt; i++)
                json_array_append_new(topics, json_pack("{s:s, s:i}", "name", md->topics[i].name,
                                                        "partitions", md->topics[i].partitions));
        kp_resp_json(resp, 200,
                     json_pack("{s:s, s:s, s:o, s:o}", "cluster", p[0], "bootstrap_servers",
                               c.ref.bootstrap, "brokers", brokers, "topics", topics));
out:
        kp_kafka_metadata_destroy(md);
        kp_app_cluster_cleanup(&c);
        json_decref(doc);
}
