/* groups.c — /api/v1/groups: consumer groups (CRUD) and their running state. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/breaker.h"
#include "base/config.h"
#include "base/err.h"
#include "api/handlers.h"
#include "kafka/kafka.h"
#include "planner/plan_json.h"
#include "planner/planner.h"
#include "api/respond.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"
#include "db/store.h"
#include "base/util.h"

/* Checks one entry of "topics": {cluster, topic} or {cluster, pattern}, registered. */
static void group_topic_check(kp_api_t *api, const json_t *t, size_t i, json_t *errors,
                              int *unregistered, char *why, size_t why_size)
{
        static const char *const fields[] = {"cluster", "topic", "pattern", NULL};
        char f[64], errstr[512];
        snprintf(f, sizeof(f), "topics[%zu]", i);
        if (!json_is_object(t)) {
                kp_field_error(errors, f,
                               "must be {\"cluster\", \"topic\"} or "
                               "{\"cluster\", \"pattern\"}");
                return;
        }
        kp_fields_check(t, fields, f, errors);
        const char *cluster = json_string_value(json_object_get(t, "cluster"));
        json_t *jt = json_object_get(t, "topic"), *jp = json_object_get(t, "pattern");
        if (!kp_name_valid(cluster)) {
                snprintf(f, sizeof(f), "topics[%zu].cluster", i);
                kp_field_error(errors, f, "must be a cluster name");
                return;
        }
        if ((jt && jp) || (!jt && !jp)) {
                snprintf(f, sizeof(f), "topics[%zu].topic", i);
                kp_field_error(errors, f, "give topic or pattern (one of them)");
                return;
        }
        if (jt && !kp_topic_name_valid(json_string_value(jt))) {
                snprintf(f, sizeof(f), "topics[%zu].topic", i);
                kp_field_error(errors, f, "must match ^[A-Za-z0-9._-]{1,249}$");
                return;
        }
        if (jp && (!json_is_string(jp) || !json_string_length(jp))) {
                snprintf(f, sizeof(f), "topics[%zu].pattern", i);
                kp_field_error(errors, f, "must be a non-empty string");
                return;
        }
        json_t *doc = NULL;
        int err = jt ? kp_store_topic_get(api->store, cluster, json_string_value(jt), &doc, errstr,
                                          sizeof(errstr))
                     : kp_store_pattern_get(api->store, cluster, json_string_value(jp), &doc,
                                            errstr, sizeof(errstr));
        json_decref(doc);
        if (err && !*unregistered) {
                *unregistered = 1;
                snprintf(why, why_size,
                         "%s %s is not registered on cluster %s: register it first with "
                         "POST /api/v1/clusters/%s/topics",
                         jt ? "topic" : "pattern",
                         jt ? json_string_value(jt) : json_string_value(jp), cluster, cluster);
        }
}

/* kp_sink_validate() starts its message with the field ("sink.path: must be ..."): that
 * becomes the error's field, so clients see which part of the sink is wrong. */
static void sink_field_error(json_t *errors, const char *errstr)
{
        const char *colon = strstr(errstr, ": ");
        char field[64];
        if (!strncmp(errstr, "sink", 4) && colon && (size_t)(colon - errstr) < sizeof(field) &&
            !memchr(errstr, ' ', (size_t)(colon - errstr))) {
                memcpy(field, errstr, (size_t)(colon - errstr));
                field[colon - errstr] = '\0';
                kp_field_error(errors, field, "%s", colon + 2);
        } else {
                kp_field_error(errors, "sink", "%s", errstr);
        }
}

/*
 * Validates a group body (create when @p path_name is NULL). Defaults are filled in.
 * @returns the doc to store or NULL; *statusp = 400 (errors) or 422 (unregistered).
 */
static json_t *group_doc_from_body(kp_api_t *api, const json_t *body, const char *path_name,
                                   const json_t *old, json_t *errors, int *statusp, char *why,
                                   size_t why_size)
{
        static const char *const fields[] = {"name",      "topics",       "parallelism", "strategy",
                                             "rebalance", "start_offset", "sink",        NULL};
        char errstr[512];
        int unregistered = 0;
        *statusp = 400;
        kp_fields_check(body, fields, "", errors);
        const char *name = kp_name_field(body, path_name, errors);
        json_t *topics = json_object_get(body, "topics");
        if (!json_is_array(topics) || !json_array_size(topics)) {
                kp_field_error(errors, "topics", "must be a non-empty array");
        } else {
                size_t i;
                json_t *t;
                json_array_foreach(topics, i, t)
                        group_topic_check(api, t, i, errors, &unregistered, why, why_size);
        }
        /* required (API.md gives it no default, openapi.json lists it as required): a
         * group without one stored null where clients read an integer */
        json_t *par = json_object_get(body, "parallelism");
        if (!json_is_integer(par) || json_integer_value(par) < 1 ||
            json_integer_value(par) > KP_PARALLELISM_MAX)
                kp_field_error(errors, "parallelism", "must be 1..%d", KP_PARALLELISM_MAX);
        json_t *strat = json_object_get(body, "strategy");
        kp_strategy_t s;
        if (strat && (!json_is_string(strat) || kp_strategy_parse(json_string_value(strat), &s)))
                kp_field_error(errors, "strategy",
                               "must be one of balanced, weighted, flink, range, roundrobin");
        json_t *reb = json_object_get(body, "rebalance");
        if (reb && !json_is_boolean(reb))
                kp_field_error(errors, "rebalance", "must be true or false");
        json_t *so = json_object_get(body, "start_offset");
        if (so && (!json_is_string(so) || (strcmp(json_string_value(so), "earliest") &&
                                           strcmp(json_string_value(so), "latest"))))
                kp_field_error(errors, "start_offset", "must be \"earliest\" or \"latest\"");
        json_t *sink = json_object_get(body, "sink");
        if (sink && kp_sink_validate(sink, errstr, sizeof(errstr)))
                sink_field_error(errors, errstr);
        if (json_array_size(errors))
                return NULL;
        if (unregistered) {
                *statusp = 422;
                return NULL;
        }
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        json_t *doc = json_pack("{s:s, s:O, s:o, s:s, s:b, s:s, s:o, s:s, s:s}", "name", name,
                                "topics", topics, "parallelism", json_incref(par), "strategy",
                                strat ? json_string_value(strat) : "balanced", "rebalance",
                                reb ? json_is_true(reb) : 0, "start_offset",
                                so ? json_string_value(so) : "earliest", "sink",
                                sink ? json_deep_copy(sink) : json_pack("{s:s}", "type", "discard"),
                                "created_at",
                                old ? json_string_value(json_object_get(old, "created_at")) : now,
                                "updated_at", now);
        return doc;
}

/* The group as the API shows it: its doc plus its running state. */
static json_t *group_view(kp_api_t *api, const json_t *doc)
{
        json_t *v = json_deep_copy(doc);
        const char *name = json_string_value(json_object_get(doc, "name"));
        char why[512] = "";
        int st = api->rt && name ? kp_runtime_group_state(api->rt, name, why, sizeof(why))
                                 : KP_GROUP_STOPPED;
        json_object_set_new(v, "state", json_string(kp_group_state_name(st)));
        if (st == KP_GROUP_FAILED && why[0])
                json_object_set_new(v, "error", json_string(why));
        return v;
}

static json_t *group_list_view(void *ctx, const json_t *doc)
{
        return group_view(ctx, doc);
}

void kp_h_groups_list(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *arr = NULL;
        (void)req;
        (void)p;
        int err = kp_store_group_list(api->store, &arr, errstr, sizeof(errstr));
        kp_resp_list(resp, err, errstr, arr, group_list_view, api);
}

/* Shared by create and replace. */
static void group_write(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp,
                        const char *path_name)
{
        char errstr[512], why[512] = "";
        json_t *body = NULL, *doc = NULL, *old = NULL;
        json_t *errors = json_array();
        int status, err;
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        if (path_name) {
                err = kp_store_group_get(api->store, path_name, &old, errstr, sizeof(errstr));
                if (err) {
                        if (err == KP_ERR_NOT_FOUND)
                                kp_resp_problem(resp, 404, "no group named %s", path_name);
                        else
                                kp_resp_error(resp, err, errstr);
                        goto out;
                }
        }
        doc = group_doc_from_body(api, body, path_name, old, errors, &status, why, sizeof(why));
        if (!doc) {
                if (status == 422) {
                        kp_resp_problem(resp, 422, "%s", why);
                } else {
                        kp_resp_problem_errors(resp, 400, errors, "invalid group");
                        errors = NULL;
                }
                goto out;
        }
        const char *name = json_string_value(json_object_get(doc, "name"));
        if (path_name) {
                err = kp_store_group_update(api->store, name, doc, errstr, sizeof(errstr));
        } else {
                err = kp_store_group_create(api->store, name, doc, errstr, sizeof(errstr));
                if (err == KP_ERR_EXISTS)
                        snprintf(errstr, sizeof(errstr), "group %s already exists", name);
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        if (!path_name)
                snprintf(resp->location, sizeof(resp->location), "/api/v1/groups/%s", name);
        kp_resp_json(resp, path_name ? 200 : 201, group_view(api, doc));
out:
        json_decref(errors);
        json_decref(old);
        json_decref(doc);
        json_decref(body);
}

void kp_h_group_create(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)p;
        group_write(api, req, resp, NULL);
}

void kp_h_group_put(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        group_write(api, req, resp, p[0]);
}

/* Reads group @p name or answers 404. @returns the doc or NULL. */
static json_t *group_or_404(kp_api_t *api, const char *name, kp_http_resp_t *resp)
{
        char errstr[512];
        json_t *doc = NULL;
        int err = kp_store_group_get(api->store, name, &doc, errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND)
                kp_resp_problem(resp, 404, "no group named %s", name);
        else if (err)
                kp_resp_error(resp, err, errstr);
        return err ? NULL : doc;
}

/* 404 unless group @p name exists. @returns 0 when it does. */
static int group_exists(kp_api_t *api, const char *name, kp_http_resp_t *resp)
{
        json_t *doc = group_or_404(api, name, resp);
        json_decref(doc);
        return doc ? 0 : -1;
}

void kp_h_group_get(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)req;
        json_t *doc = group_or_404(api, p[0], resp);
        if (!doc)
                return;
        kp_resp_json(resp, 200, group_view(api, doc));
        json_decref(doc);
}

void kp_h_group_delete(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        (void)req;
        if (group_exists(api, p[0], resp))
                return;
        int st = api->rt ? kp_runtime_group_state(api->rt, p[0], NULL, 0) : KP_GROUP_STOPPED;
        if (st != KP_GROUP_STOPPED && st != KP_GROUP_FAILED) {
                kp_resp_problem(resp, 409, "group %s is %s: stop it first", p[0],
                                kp_group_state_name(st));
                return;
        }
        int err = kp_store_group_delete(api->store, p[0], errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                return;
        }
        resp->status = 204;
}

/* The cluster names a plan reads from (for the runtime's client configs). */
static json_t *plan_clusters(const json_t *plan)
{
        json_t *names = json_array(), *seen = json_object();
        size_t i, j;
        json_t *t, *pt;
        json_array_foreach(json_object_get(plan, "tasks"), i, t)
        {
                json_array_foreach(json_object_get(t, "partitions"), j, pt)
                {
                        const char *c = json_string_value(json_object_get(pt, "cluster"));
                        if (c && !json_object_get(seen, c)) {
                                json_object_set_new(seen, c, json_true());
                                json_array_append_new(names, json_string(c));
                        }
                }
        }
        json_decref(seen);
        return names;
}

int kp_api_group_run(kp_api_t *api, const char *name, const json_t *group, const json_t *plan,
                     int apply, char *errstr, size_t errstr_size)
{
        json_t *names = plan_clusters(plan);
        json_t *clusters = kp_api_clusters_for_runtime(api, names, errstr, errstr_size);
        json_decref(names);
        if (!clusters)
                return KP_ERR_UNAVAILABLE;
        int err =
                apply ? kp_runtime_group_apply(api->rt, name, plan, clusters, errstr, errstr_size)
                      : kp_runtime_group_start(api->rt, group, plan, clusters, errstr, errstr_size);
        json_decref(clusters);
        return err;
}

void kp_h_group_start(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *plan = NULL, *body = NULL;
        if (kp_req_offload_io(req, resp)) /* a weighted first plan samples rates */
                return;
        json_t *doc = group_or_404(api, p[0], resp);
        if (!doc)
                return;
        if (req->body_len && kp_req_json(req, resp, 0, &body))
                goto out;
        if (body && json_object_size(body)) {
                kp_resp_problem(resp, 400, "start takes no fields");
                goto out;
        }
        if (!api->rt) {
                kp_resp_problem(resp, 503, "this kplane runs without consumers");
                goto out;
        }
        int err = kp_store_plan_get(api->store, p[0], 0, &plan, errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND)
                err = kp_api_group_replan(api, p[0], NULL, &plan, NULL, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        /* a failed group stays registered until stopped: clear it to start afresh */
        if (kp_runtime_group_state(api->rt, p[0], NULL, 0) == KP_GROUP_FAILED)
                kp_runtime_group_stop(api->rt, p[0], 0, errstr, sizeof(errstr));
        err = kp_api_group_run(api, p[0], doc, plan, 0, errstr, sizeof(errstr));
        if (err == KP_ERR_CONFLICT) {
                kp_resp_problem(resp, 409, "group %s is already running", p[0]);
                goto out;
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        kp_store_group_set_desired(api->store, p[0], 1, errstr, sizeof(errstr));
        json_t *status = kp_runtime_group_status(api->rt, p[0]);
        kp_resp_json(resp, 202, status ? status : json_pack("{s:s}", "group", p[0]));
out:
        json_decref(body);
        json_decref(plan);
        json_decref(doc);
}

void kp_h_group_stop(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        if (kp_req_offload_io(req, resp)) /* waits for the tasks to drain and commit */
                return;
        if (group_exists(api, p[0], resp))
                return;
        kp_store_group_set_desired(api->store, p[0], 0, errstr, sizeof(errstr));
        if (api->rt)
                kp_runtime_group_stop(api->rt, p[0], 0, errstr, sizeof(errstr));
        json_t *status = api->rt ? kp_runtime_group_status(api->rt, p[0]) : NULL;
        kp_resp_json(resp, 202,
                     status ? status : json_pack("{s:s, s:s}", "group", p[0], "state", "stopped"));
}

/* One cluster of a stopped group's status: its partitions' offsets, read by a thread. */
typedef struct status_cluster {
        const char *name;  /* borrowed from the rows */
        const char *group; /* borrowed */
        char *bootstrap;   /* NULL: an embedded cluster that is not running */
        json_t *config;    /* owned reference */
        int timeout_ms;
        kp_kafka_group_offset_t *offs; /* topic strings borrowed from the rows */
        size_t *rows;                  /* offs[i] belongs to row rows[i] */
        size_t cnt, cap;
        char error[640];   /* "" when read */
        int64_t failed_at; /* realtime ms of the failure the breaker remembered, 0: now */
        int skipped;       /* the breaker said it failed lately: not asked */
        pthread_t thread;
        int started;
} status_cluster_t;

static void *status_cluster_read(void *arg)
{
        status_cluster_t *sc = arg;
        char errstr[512];
        if (!sc->bootstrap) {
                snprintf(sc->error, sizeof(sc->error), "embedded cluster %s is not running",
                         sc->name);
                return NULL;
        }
        if (kp_kafka_group_offsets(sc->bootstrap, sc->config, sc->group, sc->offs, sc->cnt,
                                   sc->timeout_ms, errstr, sizeof(errstr)))
                snprintf(sc->error, sizeof(sc->error), "%s", errstr);
        return NULL;
}

/* Adds row @p row (a partition of cluster @p sc) to what @p sc reads. */
static int status_cluster_add(status_cluster_t *sc, const json_t *rowdoc, size_t row)
{
        if (sc->cnt == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 16;
                kp_kafka_group_offset_t *o = realloc(sc->offs, cap * sizeof(*o));
                if (!o)
                        return KP_ERR_NOMEM;
                sc->offs = o;
                size_t *r = realloc(sc->rows, cap * sizeof(*r));
                if (!r)
                        return KP_ERR_NOMEM;
                sc->rows = r;
                sc->cap = cap;
        }
        kp_kafka_group_offset_t *o = &sc->offs[sc->cnt];
        memset(o, 0, sizeof(*o));
        o->committed = o->high_watermark = -1; /* unread until kp_kafka_group_offsets */
        o->topic = json_string_value(json_object_get(rowdoc, "topic"));
        o->partition = (int32_t)json_integer_value(json_object_get(rowdoc, "partition"));
        sc->rows[sc->cnt++] = row;
        return 0;
}

/*
 * The partitions of group @p doc now (its topics and patterns as registered; a
 * registration that is gone is left out), each (cluster, topic) once, in the group's
 * order: new array of {cluster, topic, partition, task (from @p plan, else null),
 * position: null, committed: null, high_watermark: null, lag: null}.
 */
static json_t *status_rows(kp_api_t *api, const json_t *doc, const json_t *plan)
{
        char errstr[512];
        json_t *rows = json_array(), *parts = NULL;
        kp_plan_topic_t *topics = NULL;
        int32_t *owner = NULL; /* the plan's task of each partition, flat order; -1: none */
        int64_t total = 0;
        if (kp_api_group_partitions(api, doc, 1, &parts, errstr, sizeof(errstr)) ||
            !(topics = kp_api_plan_topics(parts, &total)) ||
            kp_plan_previous_owners(plan, topics, json_array_size(parts), &owner))
                goto out; /* out of memory: no rows */
        size_t i = 0;
        for (size_t t = 0; t < json_array_size(parts); t++) {
                for (int32_t part = 0; part < topics[t].partitions; part++, i++) {
                        json_t *task =
                                owner && owner[i] >= 0 ? json_integer(owner[i]) : json_null();
                        json_array_append_new(rows,
                                              json_pack("{s:s, s:s, s:i, s:o, s:n, s:n, s:n, s:n}",
                                                        "cluster", topics[t].cluster, "topic",
                                                        topics[t].topic, "partition", (int)part,
                                                        "task", task, "position", "committed",
                                                        "high_watermark", "lag"));
                }
        }
out:
        free(owner);
        free(topics);
        json_decref(parts);
        return rows;
}

/*
 * Reads the offsets of @p rows (their cluster's committed offsets under group.id
 * @p group, and high watermarks) into them, KP_STATUS_CLUSTERS_PARALLEL clusters at a
 * time, each within api->metadata_timeout_ms. A cluster that does not answer in time
 * leaves its rows' offsets null with an "error"; @returns the new array of clusters
 * [{"cluster", "state", "last_error": null or why, "last_error_at"}] (the running
 * status's shape). *lagp = the sum
 * of known lags.
 */
static json_t *status_read_offsets(kp_api_t *api, const char *group, json_t *rows, json_int_t *lagp)
{
        char errstr[512];
        status_cluster_t *cls = NULL;
        size_t ncls = 0, i, k;
        json_t *row, *out = json_array();
        *lagp = 0;
        cls = calloc(json_array_size(rows) ? json_array_size(rows) : 1, sizeof(*cls));
        if (!cls)
                goto out;
        json_array_foreach(rows, i, row)
        {
                const char *name = json_string_value(json_object_get(row, "cluster"));
                for (k = 0; k < ncls && strcmp(cls[k].name, name); k++)
                        ;
                if (k == ncls) {
                        json_t *cdoc = NULL;
                        cls[k].name = name;
                        cls[k].group = group;
                        cls[k].timeout_ms = api->metadata_timeout_ms;
                        if (kp_store_cluster_get(api->store, name, &cdoc, errstr, sizeof(errstr))) {
                                snprintf(cls[k].error, sizeof(cls[k].error), "cluster %s: %s", name,
                                         errstr);
                        } else {
                                cls[k].bootstrap = kp_api_cluster_bootstrap(api, cdoc);
                                cls[k].config = json_incref(json_object_get(cdoc, "config"));
                        }
                        json_decref(cdoc);
                        ncls++;
                }
                if (status_cluster_add(&cls[k], row, i))
                        snprintf(cls[k].error, sizeof(cls[k].error), "out of memory");
        }
        /* Clusters side by side: an unreachable one costs its timeout once, not once
         * per cluster after it. */
        /* A cluster that failed lately is not asked again until the breaker lets one
         * request try: its rows show that failure at once. */
        for (k = 0; k < ncls; k++) {
                status_cluster_t *sc = &cls[k];
                if (sc->error[0] || !sc->bootstrap ||
                    !kp_breaker_check(api->status_breaker, sc->bootstrap, sc->error,
                                      sizeof(sc->error), &sc->failed_at))
                        continue;
                sc->skipped = 1;
                for (i = 0; i < sc->cnt; i++) {
                        sc->offs[i].committed = -1;
                        sc->offs[i].high_watermark = -1;
                        sc->offs[i].err = 0;
                }
        }
        for (size_t first = 0; first < ncls; first += KP_STATUS_CLUSTERS_PARALLEL) {
                size_t last = first + KP_STATUS_CLUSTERS_PARALLEL;
                if (last > ncls)
                        last = ncls;
                for (k = first; k < last; k++) {
                        if (cls[k].error[0] || cls[k].skipped)
                                continue;
                        cls[k].started =
                                !pthread_create(&cls[k].thread, NULL, status_cluster_read, &cls[k]);
                        if (!cls[k].started)
                                status_cluster_read(&cls[k]);
                }
                for (k = first; k < last; k++)
                        if (cls[k].started)
                                pthread_join(cls[k].thread, NULL);
        }
        for (k = 0; k < ncls; k++)
                if (cls[k].bootstrap && !cls[k].skipped)
                        kp_breaker_report(api->status_breaker, cls[k].bootstrap, cls[k].error);
        for (k = 0; k < ncls; k++) {
                status_cluster_t *sc = &cls[k];
                for (i = 0; i < sc->cnt; i++) {
                        kp_kafka_group_offset_t *o = &sc->offs[i];
                        row = json_array_get(rows, sc->rows[i]);
                        if (sc->error[0] || o->err) {
                                json_object_set_new(
                                        row, "error",
                                        json_string(sc->error[0] ? sc->error
                                                                 : rd_kafka_err2str(o->err)));
                        }
                        if (sc->error[0] && !sc->bootstrap)
                                continue;
                        if (o->committed >= 0)
                                json_object_set_new(row, "committed", json_integer(o->committed));
                        if (o->high_watermark >= 0)
                                json_object_set_new(row, "high_watermark",
                                                    json_integer(o->high_watermark));
                        if (o->committed >= 0 && o->high_watermark >= 0) {
                                int64_t lag = o->high_watermark > o->committed
                                                      ? o->high_watermark - o->committed
                                                      : 0;
                                json_object_set_new(row, "lag", json_integer(lag));
                                *lagp += lag;
                        }
                }
                /* the running status's shape: state, last_error, last_error_at */
                char now[32];
                kp_time_iso8601(now, sizeof(now));
                if (sc->failed_at) {
                        time_t at = (time_t)(sc->failed_at / 1000);
                        struct tm tm;
                        gmtime_r(&at, &tm);
                        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
                }
                json_array_append_new(
                        out,
                        json_pack("{s:s, s:s, s:o, s:o}", "cluster", sc->name, "state",
                                  sc->error[0] ? "error" : "ok", "last_error",
                                  sc->error[0] ? json_string(sc->error) : json_null(),
                                  "last_error_at", sc->error[0] ? json_string(now) : json_null()));
        }
out:
        for (k = 0; cls && k < ncls; k++) {
                free(cls[k].bootstrap);
                json_decref(cls[k].config);
                free(cls[k].offs);
                free(cls[k].rows);
        }
        free(cls);
        return out;
}

/*
 * The status of a group that is not running, as kafka-consumer-groups --describe shows
 * one: each partition of its topics with the group's committed offset read from its
 * cluster, the high watermark and lag = high_watermark - committed (null where nothing
 * is committed); "task" from the current plan, "position" null (no task reads it). A
 * cluster that does not answer within api->metadata_timeout_ms does not fail the
 * answer: its partitions carry "error" and null offsets, and "clusters" lists it with
 * its "last_error". Costs one short-lived consumer per cluster, all at once.
 */
static json_t *stopped_status(kp_api_t *api, const json_t *doc, const char *name)
{
        char errstr[512];
        json_t *plan = NULL;
        json_int_t lag = 0;
        /* no current plan (never planned): no tasks to name */
        kp_store_plan_get(api->store, name, 0, &plan, errstr, sizeof(errstr));
        json_t *rows = status_rows(api, doc, plan);
        json_t *clusters = status_read_offsets(api, name, rows, &lag);
        json_t *version = json_object_get(plan, "version");
        json_t *status = json_pack(
                "{s:s, s:s, s:O, s:[], s:o, s:o, s:{s:i, s:I}}", "group", name, "state", "stopped",
                "plan_version", json_is_integer(version) ? version : json_null(), "tasks",
                "partitions", rows, "clusters", clusters, "totals", "messages", 0, "lag", lag);
        json_decref(plan);
        return status;
}

void kp_h_group_status(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        json_t *doc = group_or_404(api, p[0], resp);
        if (!doc)
                return;
        json_t *status = api->rt ? kp_runtime_group_status(api->rt, p[0]) : NULL;
        if (!status && kp_req_offload_io(req, resp)) /* stopped: reads committed offsets */
                goto out;
        if (!status)
                status = stopped_status(api, doc, p[0]);
        kp_resp_json(resp, 200, status);
out:
        json_decref(doc);
}
