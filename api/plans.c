/* plans.c — plan versions of groups, what-if plans and parallelism sweeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "base/err.h"
#include "app/discovery.h"
#include "api/handlers.h"
#include "kafka/kafka.h"
#include "planner/plan_json.h"
#include "planner/planner.h"
#include "api/respond.h"
#include "runtime/runtime.h"
#include "db/store.h"
#include "base/util.h"

kp_plan_topic_t *kp_api_plan_topics(const json_t *arr, int64_t *totalp)
{
        size_t n = json_array_size(arr);
        kp_plan_topic_t *topics = calloc(n ? n : 1, sizeof(*topics));
        *totalp = 0;
        for (size_t i = 0; topics && i < n; i++) {
                json_t *e = json_array_get(arr, i);
                topics[i].cluster = json_string_value(json_object_get(e, "cluster"));
                topics[i].topic = json_string_value(json_object_get(e, "topic"));
                topics[i].partitions =
                        (int32_t)json_integer_value(json_object_get(e, "partitions"));
                *totalp += topics[i].partitions;
        }
        return topics;
}

int kp_api_group_partitions(kp_api_t *api, const json_t *group, int lenient, json_t **outp,
                            char *errstr, size_t errstr_size)
{
        json_t *out = json_array(), *seen = json_object();
        size_t i, j;
        json_t *t;
        int err = 0;
        json_array_foreach(json_object_get(group, "topics"), i, t)
        {
                const char *cluster = json_string_value(json_object_get(t, "cluster"));
                const char *topic = json_string_value(json_object_get(t, "topic"));
                const char *pattern = json_string_value(json_object_get(t, "pattern"));
                json_t *doc = NULL, *list;
                if (topic) {
                        err = kp_store_topic_get(api->store, cluster, topic, &doc, errstr,
                                                 errstr_size);
                        list = json_pack("[{s:s, s:O}]", "name", topic, "partitions",
                                         json_object_get(doc, "partitions"));
                } else {
                        err = kp_store_pattern_get(api->store, cluster, pattern, &doc, errstr,
                                                   errstr_size);
                        list = json_incref(json_object_get(doc, "topics"));
                }
                json_decref(doc);
                if (err && lenient) {
                        json_decref(list);
                        err = 0;
                        continue;
                }
                if (err) {
                        json_decref(list);
                        snprintf(errstr, errstr_size, "%s %s of cluster %s is not registered",
                                 topic ? "topic" : "pattern", topic ? topic : pattern, cluster);
                        err = KP_ERR_UNPROCESSABLE;
                        goto out;
                }
                json_t *e;
                json_array_foreach(list, j, e)
                {
                        const char *name = json_string_value(json_object_get(e, "name"));
                        json_int_t parts = json_integer_value(json_object_get(e, "partitions"));
                        char key[KP_NAME_MAX + KP_TOPIC_NAME_MAX + 4];
                        if (!name || parts < 1)
                                continue;
                        snprintf(key, sizeof(key), "%s/%s", cluster, name);
                        if (json_object_get(seen, key))
                                continue;
                        json_object_set_new(seen, key, json_true());
                        json_array_append_new(out, json_pack("{s:s, s:s, s:I}", "cluster", cluster,
                                                             "topic", name, "partitions", parts));
                }
                json_decref(list);
        }
        if (!json_array_size(out) && !lenient) {
                snprintf(errstr, errstr_size,
                         "the group's topics have no partitions (a "
                         "pattern that matches nothing?)");
                err = KP_ERR_UNPROCESSABLE;
        }
out:
        json_decref(seen);
        if (err)
                json_decref(out);
        else
                *outp = out;
        return err;
}

/* Weights in flat order from an array of {cluster, topic, partition, weight}; NULL
 * when @p list is empty. Unknown partitions are ignored; missing ones weigh @p dflt. */
static double *weights_flat(const json_t *list, const kp_plan_topic_t *topics, size_t n,
                            double dflt)
{
        size_t total = 0;
        if (!json_array_size(list))
                return NULL;
        for (size_t i = 0; i < n; i++)
                total += (size_t)topics[i].partitions;
        double *w = malloc(total * sizeof(*w));
        if (!w)
                return NULL;
        for (size_t i = 0; i < total; i++)
                w[i] = dflt;
        size_t k;
        json_t *e;
        json_array_foreach(list, k, e)
        {
                const char *c = json_string_value(json_object_get(e, "cluster"));
                const char *t = json_string_value(json_object_get(e, "topic"));
                json_int_t p = json_integer_value(json_object_get(e, "partition"));
                size_t off = 0;
                for (size_t i = 0; i < n; off += (size_t)topics[i].partitions, i++) {
                        if (c && t && !strcmp(topics[i].cluster, c) &&
                            !strcmp(topics[i].topic, t) && p >= 0 && p < topics[i].partitions) {
                                w[off + (size_t)p] =
                                        json_number_value(json_object_get(e, "weight"));
                                break;
                        }
                }
        }
        return w;
}

/* One cluster's partitions of a plan, for end-offset readings. */
typedef struct sample {
        const char *cluster;
        char *bootstrap;
        json_t *config;
        rd_kafka_topic_partition_list_t *first, *second;
} sample_t;

/*
 * Measures messages/s per partition of @p topics from two end-offset readings
 * KP_WEIGHT_SAMPLE_MS apart: what the weighted strategy balances when the group is not
 * running. Costs two ListOffsets rounds per cluster and the wait. *weightsp = flat
 * weights, or NULL when nothing moved (or a cluster did not answer: counts are then
 * balanced instead).
 */
static void sample_rates(kp_api_t *api, const kp_plan_topic_t *topics, size_t n, double **weightsp)
{
        char errstr[512];
        size_t total = 0, ns = 0;
        sample_t *s = calloc(n, sizeof(*s));
        double *w = NULL;
        int ok = 1;
        *weightsp = NULL;
        for (size_t i = 0; i < n; i++)
                total += (size_t)topics[i].partitions;
        if (!s || !total || total > KP_WEIGHT_SAMPLE_PARTITIONS_MAX)
                goto out;
        for (size_t i = 0, off = 0; i < n; off += (size_t)topics[i].partitions, i++) {
                size_t k;
                for (k = 0; k < ns && strcmp(s[k].cluster, topics[i].cluster); k++)
                        ;
                if (k == ns) {
                        json_t *doc = NULL;
                        if (kp_store_cluster_get(api->store, topics[i].cluster, &doc, errstr,
                                                 sizeof(errstr))) {
                                ok = 0;
                                goto out;
                        }
                        s[k].cluster = topics[i].cluster;
                        s[k].bootstrap = kp_discovery_bootstrap(api->emb, doc);
                        s[k].config = json_incref(json_object_get(doc, "config"));
                        s[k].first = rd_kafka_topic_partition_list_new(16);
                        json_decref(doc);
                        ns++;
                        if (!s[k].bootstrap) {
                                ok = 0;
                                goto out;
                        }
                }
                for (int32_t p = 0; p < topics[i].partitions; p++)
                        rd_kafka_topic_partition_list_add(s[k].first, topics[i].topic, p)->opaque =
                                (void *)(uintptr_t)(off + (size_t)p);
        }
        for (size_t k = 0; k < ns && ok; k++) {
                s[k].second = rd_kafka_topic_partition_list_copy(s[k].first);
                ok = !kp_kafka_end_offsets(s[k].bootstrap, s[k].config, s[k].first,
                                           api->metadata_timeout_ms, errstr, sizeof(errstr));
        }
        if (!ok)
                goto out;
        int64_t t0 = kp_time_mono_ms();
        struct timespec ts = {KP_WEIGHT_SAMPLE_MS / 1000, (KP_WEIGHT_SAMPLE_MS % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        for (size_t k = 0; k < ns && ok; k++)
                ok = !kp_kafka_end_offsets(s[k].bootstrap, s[k].config, s[k].second,
                                           api->metadata_timeout_ms, errstr, sizeof(errstr));
        double secs = (double)(kp_time_mono_ms() - t0) / 1000.0;
        w = calloc(total, sizeof(*w));
        if (!ok || !w || secs <= 0)
                goto out;
        double sum = 0;
        for (size_t k = 0; k < ns; k++)
                for (int e = 0; e < s[k].first->cnt; e++) {
                        rd_kafka_topic_partition_t *a = &s[k].first->elems[e],
                                                   *b = &s[k].second->elems[e];
                        size_t flat = (size_t)(uintptr_t)a->opaque;
                        if (a->offset >= 0 && b->offset >= a->offset && flat < total) {
                                w[flat] = (double)(b->offset - a->offset) / secs;
                                sum += w[flat];
                        }
                }
        if (sum > 0) {
                /* a partition that was quiet in the sample still weighs a little */
                for (size_t i = 0; i < total; i++)
                        if (w[i] <= 0)
                                w[i] = 0.001;
                *weightsp = w;
                w = NULL;
        }
out:
        free(w);
        for (size_t k = 0; k < ns; k++) {
                free(s[k].bootstrap);
                json_decref(s[k].config);
                if (s[k].first)
                        rd_kafka_topic_partition_list_destroy(s[k].first);
                if (s[k].second)
                        rd_kafka_topic_partition_list_destroy(s[k].second);
        }
        free(s);
}

int kp_api_group_replan(kp_api_t *api, const char *group, const json_t *opts, json_t **planp,
                        json_t **errorsp, char *errstr, size_t errstr_size)
{
        json_t *doc = NULL, *parts = NULL, *prev = NULL, *rates = NULL, *pj = NULL;
        kp_plan_topic_t *topics = NULL;
        int32_t *prev_owner = NULL;
        double *weights = NULL;
        kp_plan_t *plan = NULL;
        int err;
        (void)errorsp;
        err = kp_store_group_get(api->store, group, &doc, errstr, errstr_size);
        if (err) {
                if (err == KP_ERR_NOT_FOUND)
                        snprintf(errstr, errstr_size, "no group named %s", group);
                goto out;
        }
        err = kp_api_group_partitions(api, doc, 0, &parts, errstr, errstr_size);
        if (err)
                goto out;
        size_t n = json_array_size(parts);
        int64_t total = 0;
        topics = kp_api_plan_topics(parts, &total);
        if (!topics) {
                err = KP_ERR_NOMEM;
                goto out;
        }
        /* parallelism: asked for, else the group's, else one task per partition */
        json_t *jp = json_object_get(opts, "parallelism");
        if (!json_is_integer(jp))
                jp = json_object_get(doc, "parallelism");
        int32_t par = json_is_integer(jp)
                              ? (int32_t)json_integer_value(jp)
                              : (int32_t)(total < KP_PARALLELISM_MAX ? total : KP_PARALLELISM_MAX);
        json_t *js = json_object_get(opts, "strategy");
        if (!json_is_string(js))
                js = json_object_get(doc, "strategy");
        kp_strategy_t strategy = KP_STRATEGY_BALANCED;
        if (json_is_string(js))
                kp_strategy_parse(json_string_value(js), &strategy);

        if (!kp_store_plan_get(api->store, group, 0, &prev, errstr, errstr_size)) {
                if (kp_plan_previous_owners(prev, topics, n, &prev_owner)) {
                        err = KP_ERR_NOMEM;
                        goto out;
                }
        }
        json_t *jw = json_object_get(opts, "weights");
        if (strategy == KP_STRATEGY_WEIGHTED && !json_array_size(jw) && api->rt &&
            !kp_runtime_group_rates(api->rt, group, &rates))
                jw = rates; /* measured messages/s of the running group */
        /* a partition never measured weighs a little, so it still gets spread */
        weights = weights_flat(jw, topics, n, 0.001);
        if (strategy == KP_STRATEGY_WEIGHTED && !weights)
                sample_rates(api, topics, n, &weights); /* not running: sample the log ends */

        kp_plan_input_t in = {.topics = topics,
                              .topic_cnt = n,
                              .parallelism = par,
                              .strategy = strategy,
                              .weights = weights,
                              .previous_owner = prev_owner,
                              .rebalance = json_is_true(json_object_get(doc, "rebalance"))};
        plan = kp_planner_plan(&in, errstr, errstr_size);
        if (!plan) {
                err = KP_ERR_UNPROCESSABLE;
                goto out;
        }
        pj = kp_plan_to_json(plan, topics, n);
        if (!pj) {
                err = KP_ERR_NOMEM;
                goto out;
        }
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        /* key order of the answer: group, version (set by the store), parallelism, ... */
        json_t *full = json_pack("{s:s, s:O, s:O, s:s, s:O, s:O}", "group", group, "parallelism",
                                 json_object_get(pj, "parallelism"), "strategy",
                                 json_object_get(pj, "strategy"), "created_at", now, "tasks",
                                 json_object_get(pj, "tasks"), "analysis",
                                 json_object_get(pj, "analysis"));
        if (!full) {
                err = KP_ERR_NOMEM;
                goto out;
        }
        int version = 0;
        err = kp_store_plan_add(api->store, group, full, &version, errstr, errstr_size);
        json_decref(full);
        /* answer what is stored: "version" sits after "group" there */
        if (!err)
                err = kp_store_plan_get(api->store, group, version, planp, errstr, errstr_size);
out:
        kp_plan_destroy(plan);
        free(weights);
        free(prev_owner);
        free(topics);
        json_decref(pj);
        json_decref(rates);
        json_decref(prev);
        json_decref(parts);
        json_decref(doc);
        return err;
}

void kp_h_plans_list(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *arr = NULL, *doc = NULL;
        (void)req;
        int err = kp_store_group_get(api->store, p[0], &doc, errstr, sizeof(errstr));
        json_decref(doc);
        if (!err)
                err = kp_store_plan_list(api->store, p[0], &arr, errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND) {
                kp_resp_problem(resp, 404, "no group named %s", p[0]);
                return;
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                return;
        }
        /* each summary names its group, like the plan it summarises */
        size_t i;
        json_t *it;
        json_array_foreach(arr, i, it)
        {
                json_t *full = json_pack("{s:s}", "group", p[0]);
                if (full && !json_object_update(full, it))
                        json_array_set_new(arr, i, full);
                else
                        json_decref(full);
        }
        kp_resp_json(resp, 200, json_pack("{s:o}", "items", arr));
}

void kp_h_plan_create(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        static const char *const fields[] = {"parallelism", "strategy", "apply", "weights", NULL};
        char errstr[512];
        json_t *body = NULL, *doc = NULL, *plan = NULL;
        json_t *errors = json_array();
        kp_strategy_t s;
        /* weighted without weights samples rates (a sleep); apply waits for the runtime */
        if (kp_req_offload_io(req, resp))
                goto out;
        if (kp_req_json(req, resp, 0, &body))
                goto out;
        int err = kp_store_group_get(api->store, p[0], &doc, errstr, sizeof(errstr));
        if (err) {
                if (err == KP_ERR_NOT_FOUND)
                        kp_resp_problem(resp, 404, "no group named %s", p[0]);
                else
                        kp_resp_error(resp, err, errstr);
                goto out;
        }
        if (body) {
                kp_fields_check(body, fields, "", errors);
                json_t *par = json_object_get(body, "parallelism");
                if (par && (!json_is_integer(par) || json_integer_value(par) < 1 ||
                            json_integer_value(par) > KP_PARALLELISM_MAX))
                        kp_field_error(errors, "parallelism", "must be 1..%d", KP_PARALLELISM_MAX);
                json_t *st = json_object_get(body, "strategy");
                if (st && (!json_is_string(st) || kp_strategy_parse(json_string_value(st), &s)))
                        kp_field_error(errors, "strategy",
                                       "must be one of balanced, weighted, "
                                       "flink, range, roundrobin");
                json_t *ap = json_object_get(body, "apply");
                if (ap && !json_is_boolean(ap))
                        kp_field_error(errors, "apply", "must be true or false");
                json_t *w = json_object_get(body, "weights");
                size_t i;
                json_t *e;
                if (w && !json_is_array(w))
                        kp_field_error(errors, "weights", "must be an array");
                json_t *seen = json_object();
                json_array_foreach(w, i, e)
                {
                        char f[64], key[KP_NAME_MAX + KP_TOPIC_NAME_MAX + 32];
                        snprintf(f, sizeof(f), "weights[%zu]", i);
                        double wv = json_number_value(json_object_get(e, "weight"));
                        if (!json_is_object(e) || !json_is_string(json_object_get(e, "cluster")) ||
                            !json_is_string(json_object_get(e, "topic")) ||
                            !json_is_integer(json_object_get(e, "partition")) ||
                            !json_is_number(json_object_get(e, "weight")) || !(wv >= 0) ||
                            wv > KP_WEIGHT_MAX) {
                                kp_field_error(errors, f,
                                               "must be {cluster, topic, partition, "
                                               "weight 0..%g}",
                                               KP_WEIGHT_MAX);
                                continue;
                        }
                        /* a partition weighted twice is a mistake, not a choice of the last */
                        snprintf(key, sizeof(key), "%s/%s/%lld",
                                 json_string_value(json_object_get(e, "cluster")),
                                 json_string_value(json_object_get(e, "topic")),
                                 (long long)json_integer_value(json_object_get(e, "partition")));
                        if (json_object_get(seen, key))
                                kp_field_error(errors, f, "partition %s is weighted twice", key);
                        else
                                json_object_set_new(seen, key, json_true());
                }
                json_decref(seen);
        }
        if (json_array_size(errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid plan request");
                errors = NULL;
                goto out;
        }
        err = kp_api_group_replan(api, p[0], body, &plan, NULL, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        if (json_is_true(json_object_get(body, "apply")) && api->rt) {
                int st = kp_runtime_group_state(api->rt, p[0], NULL, 0);
                if (st == KP_GROUP_RUNNING || st == KP_GROUP_STARTING) {
                        err = kp_api_group_run(api, p[0], doc, plan, 1, errstr, sizeof(errstr));
                        if (err) {
                                kp_resp_problem(
                                        resp, kp_resp_status_of(err),
                                        "plan version %d stored but not applied: %s",
                                        (int)json_integer_value(json_object_get(plan, "version")),
                                        errstr);
                                goto out;
                        }
                }
        }
        snprintf(resp->location, sizeof(resp->location), "/api/v1/groups/%s/plans/%d", p[0],
                 (int)json_integer_value(json_object_get(plan, "version")));
        kp_resp_json(resp, 201, json_incref(plan));
out:
        json_decref(errors);
        json_decref(plan);
        json_decref(doc);
        json_decref(body);
}

void kp_h_plan_get(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        char *text = NULL;
        size_t len = 0;
        int version = 0;
        (void)req;
        if (strcmp(p[1], "current")) {
                char *end;
                long v = strtol(p[1], &end, 10);
                if (*end || v < 1 || v > 1000000000) {
                        kp_resp_problem(resp, 404,
                                        "plan version must be a number >= 1 or "
                                        "\"current\"");
                        return;
                }
                version = (int)v;
        }
        int err = kp_store_plan_get_text(api->store, p[0], version, &text, &len, errstr,
                                         sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND) {
                json_t *doc = NULL;
                if (kp_store_group_get(api->store, p[0], &doc, errstr, sizeof(errstr)))
                        kp_resp_problem(resp, 404, "no group named %s", p[0]);
                else
                        kp_resp_problem(resp, 404, "group %s has no plan %s", p[0], p[1]);
                json_decref(doc);
                return;
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                return;
        }
        /* the stored text is the answer: no parse, no copy */
        resp->status = 200;
        resp->content_type = "application/json";
        resp->body = text;
        resp->body_len = len;
}

/*
 * A request of more than KP_PLAN_OFFLOAD_WORK partition-steps asks to be called again in
 * the HTTP layer's CPU pool, so no MHD thread (and no GET queued behind it) waits for the
 * planner. @returns 1 when it asked (the handler returns without answering).
 */
static int offload_heavy(const kp_http_req_t *req, kp_http_resp_t *resp, int64_t work)
{
        if (req->offloaded || work <= KP_PLAN_OFFLOAD_WORK)
                return 0;
        resp->offload = KP_HTTP_OFFLOAD_CPU;
        return 1;
}

void kp_h_whatif(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL;
        json_t *errors = json_array();
        kp_plan_request_t pr;
        kp_plan_t *plan = NULL;
        int parsed = 0;
        (void)api;
        (void)p;
        memset(&pr, 0, sizeof(pr));
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        if (kp_plan_request_parse(body, &pr, errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid plan request");
                errors = NULL;
                goto out;
        }
        parsed = 1;
        if (kp_plan_request_check_work(&pr, errstr, sizeof(errstr))) {
                kp_resp_problem(resp, 422, "%s", errstr);
                goto out;
        }
        if (offload_heavy(req, resp, kp_plan_request_work(&pr)))
                goto out;
        plan = kp_planner_plan(&pr.input, errstr, sizeof(errstr));
        if (!plan) {
                kp_resp_problem(resp, 422, "%s", errstr);
                goto out;
        }
        /* written straight to text: a jansson tree of a 10k-partition plan costs more
         * than the plan (docs/BENCHMARKS.md) */
        kp_buf_t b;
        kp_buf_init(&b);
        if (kp_plan_json_write(&b, plan, pr.input.topics, pr.input.topic_cnt)) {
                kp_buf_cleanup(&b);
                kp_resp_problem(resp, 500, "could not serialise the answer");
                goto out;
        }
        kp_resp_take(resp, 200, "application/json", &b);
out:
        kp_plan_destroy(plan);
        if (parsed)
                kp_plan_request_cleanup(&pr);
        json_decref(errors);
        json_decref(body);
}

void kp_h_sweep(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL, *items = NULL;
        json_t *errors = json_array();
        kp_sweep_request_t sr;
        int parsed = 0;
        (void)api;
        (void)p;
        memset(&sr, 0, sizeof(sr));
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        if (kp_sweep_request_parse(body, &sr, errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid sweep request");
                errors = NULL;
                goto out;
        }
        parsed = 1;
        if (kp_sweep_request_check_work(&sr, errstr, sizeof(errstr))) {
                kp_resp_problem(resp, 422, "%s", errstr);
                goto out;
        }
        if (offload_heavy(req, resp, kp_sweep_request_work(&sr)))
                goto out;
        items = json_array();
        for (int32_t t = sr.from; t <= sr.to; t++) {
                for (size_t k = 0; k < sr.strategy_cnt; k++) {
                        kp_plan_input_t in = sr.input;
                        in.parallelism = t;
                        in.strategy = sr.strategies[k];
                        kp_plan_t *plan = kp_planner_plan(&in, errstr, sizeof(errstr));
                        if (!plan) {
                                kp_resp_problem(resp, 422, "parallelism %d: %s", (int)t, errstr);
                                goto out;
                        }
                        json_array_append_new(items,
                                              json_pack("{s:i, s:s, s:o}", "parallelism", (int)t,
                                                        "strategy", kp_strategy_name(in.strategy),
                                                        "analysis",
                                                        kp_plan_analysis_to_json(&plan->analysis)));
                        kp_plan_destroy(plan);
                }
        }
        kp_resp_json(resp, 200, json_pack("{s:O}", "items", items));
out:
        json_decref(items);
        if (parsed)
                kp_sweep_request_cleanup(&sr);
        json_decref(errors);
        json_decref(body);
}

int kp_api_group_resume(kp_api_t *api, const char *name, char *errstr, size_t errstr_size)
{
        json_t *doc = NULL, *plan = NULL;
        int err = kp_store_group_get(api->store, name, &doc, errstr, errstr_size);
        if (err)
                return err;
        err = kp_store_plan_get(api->store, name, 0, &plan, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND)
                err = kp_api_group_replan(api, name, NULL, &plan, NULL, errstr, errstr_size);
        if (!err)
                err = kp_api_group_run(api, name, doc, plan, 0, errstr, errstr_size);
        json_decref(plan);
        json_decref(doc);
        return err;
}

void kp_api_partitions_changed(void *opaque, const char *cluster)
{
        kp_api_t *api = opaque;
        char errstr[512];
        json_t *groups = NULL;
        if (kp_store_group_list(api->store, &groups, errstr, sizeof(errstr)))
                return;
        size_t i, j;
        json_t *g, *t;
        json_array_foreach(groups, i, g)
        {
                int uses = 0;
                json_array_foreach(json_object_get(g, "topics"), j, t)
                {
                        const char *c = json_string_value(json_object_get(t, "cluster"));
                        if (c && !strcmp(c, cluster))
                                uses = 1;
                }
                const char *name = json_string_value(json_object_get(g, "name"));
                json_t *cur = NULL, *plan = NULL;
                if (!uses || kp_store_plan_get(api->store, name, 0, &cur, errstr, sizeof(errstr)))
                        continue;
                /* same parallelism and strategy as the plan in force, sticky */
                json_t *opts =
                        json_pack("{s:O, s:O}", "parallelism", json_object_get(cur, "parallelism"),
                                  "strategy", json_object_get(cur, "strategy"));
                if (!kp_api_group_replan(api, name, opts, &plan, NULL, errstr, sizeof(errstr))) {
                        fprintf(stderr,
                                "kplane: partitions of cluster %s changed: group %s "
                                "re-planned as version %d\n",
                                cluster, name,
                                (int)json_integer_value(json_object_get(plan, "version")));
                        int st = api->rt ? kp_runtime_group_state(api->rt, name, NULL, 0)
                                         : KP_GROUP_STOPPED;
                        if ((st == KP_GROUP_RUNNING || st == KP_GROUP_STARTING) &&
                            kp_api_group_run(api, name, g, plan, 1, errstr, sizeof(errstr)))
                                fprintf(stderr, "kplane: group %s: cannot apply: %s\n", name,
                                        errstr);
                }
                json_decref(opts);
                json_decref(plan);
                json_decref(cur);
        }
        json_decref(groups);
}

/* Adds the (cluster, topic) pairs of plan @p doc not yet in @p seen to @p topics, with
 * partitions = highest partition listed + 1 (grown when a later doc lists more). */
static int diff_topics(const json_t *doc, json_t *seen, json_t *topics)
{
        size_t i, j;
        const json_t *task, *part;
        json_array_foreach(json_object_get(doc, "tasks"), i, task)
        {
                json_array_foreach(json_object_get(task, "partitions"), j, part)
                {
                        const char *c = json_string_value(json_object_get(part, "cluster"));
                        const char *t = json_string_value(json_object_get(part, "topic"));
                        json_int_t p = json_integer_value(json_object_get(part, "partition"));
                        char key[KP_NAME_MAX + KP_TOPIC_NAME_MAX + 4];
                        if (!c || !t || p < 0 || p >= KP_PARTITIONS_PER_TOPIC_MAX)
                                continue;
                        snprintf(key, sizeof(key), "%s/%s", c, t);
                        json_t *e = json_object_get(seen, key);
                        if (!e) {
                                e = json_pack("{s:s, s:s, s:I}", "cluster", c, "topic", t,
                                              "partitions", (json_int_t)0);
                                if (!e || json_object_set(seen, key, e) ||
                                    json_array_append_new(topics, e))
                                        return KP_ERR_NOMEM;
                        }
                        if (p + 1 > json_integer_value(json_object_get(e, "partitions")))
                                json_object_set_new(e, "partitions", json_integer(p + 1));
                }
        }
        return 0;
}

/* GET /groups/{g}/plans/{v}/diff?from=u: what changes between two plan versions. */
void kp_h_plan_diff(kp_api_t *api, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *to = NULL, *from = NULL, *seen = json_object(), *tl = json_array();
        json_t *moves = json_array(), *out = NULL;
        kp_plan_topic_t *topics = NULL;
        int32_t *old_owner = NULL, *new_owner = NULL;
        int version = 0, from_version = 0, err;
        if (strcmp(p[1], "current")) {
                char *end;
                long v = strtol(p[1], &end, 10);
                if (*end || v < 1 || v > 1000000000) {
                        kp_resp_problem(resp, 404,
                                        "plan version must be a number >= 1 or \"current\"");
                        goto out;
                }
                version = (int)v;
        }
        const char *fq = kp_http_query(req, "from");
        if (fq) {
                char *end;
                long v = strtol(fq, &end, 10);
                if (!*fq || *end || v < 1 || v > 1000000000) {
                        json_t *errors = json_array();
                        kp_field_error(errors, "from", "must be a plan version >= 1");
                        kp_resp_problem_errors(resp, 400, errors, "invalid query");
                        goto out;
                }
                from_version = (int)v;
        }
        if (!seen || !tl || !moves) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        err = kp_store_plan_get(api->store, p[0], version, &to, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        version = (int)json_integer_value(json_object_get(to, "version"));
        if (!from_version)
                from_version = version - 1;
        if (from_version < 1) {
                kp_resp_problem(resp, 404,
                                "plan %d of group %s is the first: there is no earlier plan "
                                "to compare with",
                                version, p[0]);
                goto out;
        }
        err = kp_store_plan_get(api->store, p[0], from_version, &from, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        /* both plans' partitions in one flat order: the newer plan's topics first */
        if (diff_topics(to, seen, tl) || diff_topics(from, seen, tl)) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        size_t K = json_array_size(tl);
        int64_t P = 0;
        topics = kp_api_plan_topics(tl, &P);
        if (!topics) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        if (kp_plan_previous_owners(from, topics, K, &old_owner) ||
            kp_plan_previous_owners(to, topics, K, &new_owner) ||
            (P && (!old_owner || !new_owner))) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        json_int_t moved = 0, added = 0, removed = 0, kept = 0;
        size_t i = 0;
        for (size_t t = 0; t < K; t++) {
                for (int32_t x = 0; x < topics[t].partitions; x++, i++) {
                        int32_t a = old_owner[i], b = new_owner[i];
                        if (a == b) {
                                kept += a >= 0;
                                continue;
                        }
                        if (a < 0)
                                added++;
                        else if (b < 0)
                                removed++;
                        else
                                moved++;
                        json_array_append_new(
                                moves,
                                json_pack("{s:s, s:s, s:i, s:o, s:o}", "cluster", topics[t].cluster,
                                          "topic", topics[t].topic, "partition", (int)x,
                                          "from_task", a < 0 ? json_null() : json_integer(a),
                                          "to_task", b < 0 ? json_null() : json_integer(b)));
                }
        }
        out = json_pack("{s:s, s:i, s:i, s:O, s:O, s:I, s:I, s:I, s:I, s:O}", "group", p[0], "from",
                        from_version, "to", version, "from_parallelism",
                        json_object_get(from, "parallelism"), "to_parallelism",
                        json_object_get(to, "parallelism"), "moved", moved, "added", added,
                        "removed", removed, "unchanged", kept, "moves", moves);
        kp_resp_json(resp, 200, out);
out:
        free(new_owner);
        free(old_owner);
        free(topics);
        json_decref(moves);
        json_decref(tl);
        json_decref(seen);
        json_decref(from);
        json_decref(to);
}
