/* plan_json.c — plans <-> JSON: what-if and sweep requests, plan documents, previous owners. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <inttypes.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "planner/plan_json.h"
#include "base/util.h"

#define DEFAULT_CLUSTER "default"
/* "balanced, weighted, ...": the valid names, from the strategy table, for an error. */
#define STRATEGY_NAMES() kp_strategy_names(", ", (char[256]){0}, 256)

/* Appends {"field": @p field, "message": ...} to @p errors. */
__attribute__((format(printf, 3, 4))) static void field_err(json_t *errors, const char *field,
                                                            const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

/* Every key of @p obj must be in @p allowed (NULL-terminated); others are reported as
 * "<prefix><key>": "unknown field". */
static void check_fields(const json_t *obj, const char *const *allowed, const char *prefix,
                         json_t *errors)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)obj, key, v)
        {
                size_t i;
                for (i = 0; allowed[i] && strcmp(allowed[i], key); i++)
                        ;
                if (!allowed[i]) {
                        char f[600];
                        snprintf(f, sizeof(f), "%s%s", prefix, key);
                        field_err(errors, f, "unknown field");
                }
        }
}

/* Topics sorted by (cluster, topic) for duplicate checks and look-ups. */
typedef struct tkey {
        const char *cluster;
        const char *topic;
        size_t idx;
} tkey_t;

static int tkey_cmp(const void *a, const void *b)
{
        const tkey_t *x = a, *y = b;
        int c = strcmp(x->cluster, y->cluster);
        if (!c)
                c = strcmp(x->topic, y->topic);
        if (!c)
                c = (x->idx > y->idx) - (x->idx < y->idx);
        return c;
}

/* @returns a new sorted index of @p topics (free()), or NULL when out of memory. */
static tkey_t *tindex_new(const kp_plan_topic_t *topics, size_t n)
{
        tkey_t *k = malloc((n ? n : 1) * sizeof(*k));
        if (!k)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                k[i].cluster = topics[i].cluster ? topics[i].cluster : DEFAULT_CLUSTER;
                k[i].topic = topics[i].topic ? topics[i].topic : "";
                k[i].idx = i;
        }
        qsort(k, n, sizeof(*k), tkey_cmp);
        return k;
}

/* @returns the index of (cluster, topic) in the topics array, or -1. O(log K). */
static long tindex_find(const tkey_t *k, size_t n, const char *cluster, const char *topic)
{
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(k[mid].cluster, cluster);
                if (!c)
                        c = strcmp(k[mid].topic, topic);
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < n && !strcmp(k[lo].cluster, cluster) && !strcmp(k[lo].topic, topic))
                return (long)k[lo].idx;
        return -1;
}

void kp_plan_request_cleanup(kp_plan_request_t *req)
{
        if (!req)
                return;
        for (size_t i = 0; req->topics && i < req->input.topic_cnt; i++) {
                free((char *)req->topics[i].cluster);
                free((char *)req->topics[i].topic);
        }
        free(req->topics);
        free(req->weights);
        memset(req, 0, sizeof(*req));
}

/* Parses "topics" into req->topics / req->input.topic_cnt. @returns 0, or
 * KP_ERR_NOMEM; validation problems only go to @p errors. */
static int parse_topics(const json_t *arr, kp_plan_request_t *req, json_t *errors)
{
        static const char *const fields[] = {"cluster", "topic", "partitions", NULL};
        const size_t n = json_array_size(arr);
        size_t before = json_array_size(errors);
        int64_t total = 0;
        char f[64];
        if (!json_is_array(arr) || !n) {
                field_err(errors, "topics", "must be a non-empty array");
                return 0;
        }
        if (!(req->topics = calloc(n, sizeof(*req->topics))))
                return KP_ERR_NOMEM;
        req->input.topic_cnt = n;
        for (size_t i = 0; i < n; i++) {
                const json_t *e = json_array_get(arr, i);
                kp_plan_topic_t *t = &req->topics[i];
                if (!json_is_object(e)) {
                        snprintf(f, sizeof(f), "topics[%zu]", i);
                        field_err(errors, f, "must be an object {cluster, topic, partitions}");
                        continue;
                }
                snprintf(f, sizeof(f), "topics[%zu].", i);
                check_fields(e, fields, f, errors);
                const json_t *jc = json_object_get(e, "cluster");
                const json_t *jt = json_object_get(e, "topic");
                const json_t *jp = json_object_get(e, "partitions");
                if (jc && (!json_is_string(jc) || !kp_name_valid(json_string_value(jc)))) {
                        snprintf(f, sizeof(f), "topics[%zu].cluster", i);
                        field_err(errors, f,
                                  "must be a cluster name "
                                  "(" KP_NAME_RULE ")");
                }
                if (!json_is_string(jt) || !kp_topic_name_valid(json_string_value(jt))) {
                        snprintf(f, sizeof(f), "topics[%zu].topic", i);
                        field_err(errors, f, "must be a topic name (" KP_TOPIC_NAME_RULE ")");
                }
                if (!json_is_integer(jp) || json_integer_value(jp) < 1 ||
                    json_integer_value(jp) > KP_PARTITIONS_PER_TOPIC_MAX) {
                        snprintf(f, sizeof(f), "topics[%zu].partitions", i);
                        field_err(errors, f, "must be 1..%d", KP_PARTITIONS_PER_TOPIC_MAX);
                } else {
                        t->partitions = (int32_t)json_integer_value(jp);
                        total += t->partitions;
                }
                t->cluster = strdup(json_is_string(jc) ? json_string_value(jc) : DEFAULT_CLUSTER);
                t->topic = strdup(json_is_string(jt) ? json_string_value(jt) : "");
                if (!t->cluster || !t->topic)
                        return KP_ERR_NOMEM;
        }
        if (total > KP_PLAN_PARTITIONS_MAX)
                field_err(errors, "topics", "more than %d partitions in all",
                          KP_PLAN_PARTITIONS_MAX);
        if (json_array_size(errors) > before)
                return 0;
        tkey_t *k = tindex_new(req->topics, n);
        if (!k)
                return KP_ERR_NOMEM;
        for (size_t i = 1; i < n; i++) {
                if (!strcmp(k[i].cluster, k[i - 1].cluster) &&
                    !strcmp(k[i].topic, k[i - 1].topic)) {
                        snprintf(f, sizeof(f), "topics[%zu]", k[i].idx);
                        field_err(errors, f, "duplicate of topics[%zu]", k[i - 1].idx);
                }
        }
        free(k);
        return 0;
}

/* The topic weights[@p i] names (an index into req->topics), or -1 with the error
 * appended. */
static long weight_topic(const json_t *e, size_t i, const tkey_t *k, const kp_plan_request_t *req,
                         json_t *errors)
{
        const json_t *jc = json_object_get(e, "cluster");
        const json_t *jt = json_object_get(e, "topic");
        char f[64];
        long t = -1;
        if (jc && !json_is_string(jc)) {
                snprintf(f, sizeof(f), "weights[%zu].cluster", i);
                field_err(errors, f, "must be a string");
        } else if (!json_is_string(jt)) {
                snprintf(f, sizeof(f), "weights[%zu].topic", i);
                field_err(errors, f, "must be a string");
        } else {
                t = tindex_find(k, req->input.topic_cnt,
                                jc ? json_string_value(jc) : DEFAULT_CLUSTER,
                                json_string_value(jt));
                if (t < 0) {
                        snprintf(f, sizeof(f), "weights[%zu].topic", i);
                        field_err(errors, f, "is not one of topics");
                }
        }
        return t;
}

/* Validates weights[@p i] and stores its weight at its flat index (@p offset: each
 * topic's first); every problem is appended to @p errors. */
static void weight_entry(const json_t *e, size_t i, const tkey_t *k, const size_t *offset,
                         kp_plan_request_t *req, json_t *errors)
{
        static const char *const fields[] = {"cluster", "topic", "partition", "weight", NULL};
        char f[64];
        if (!json_is_object(e)) {
                snprintf(f, sizeof(f), "weights[%zu]", i);
                field_err(errors, f, "must be an object {cluster, topic, partition, weight}");
                return;
        }
        snprintf(f, sizeof(f), "weights[%zu].", i);
        check_fields(e, fields, f, errors);
        const json_t *jp = json_object_get(e, "partition");
        const json_t *jw = json_object_get(e, "weight");
        long t = weight_topic(e, i, k, req, errors);
        if (t >= 0 && (!json_is_integer(jp) || json_integer_value(jp) < 0 ||
                       json_integer_value(jp) >= req->topics[t].partitions)) {
                snprintf(f, sizeof(f), "weights[%zu].partition", i);
                field_err(errors, f, "must be 0..%d", (int)req->topics[t].partitions - 1);
                t = -1;
        }
        if (!json_is_number(jw) || !isfinite(json_number_value(jw)) || json_number_value(jw) < 0 ||
            json_number_value(jw) > KP_WEIGHT_MAX) {
                snprintf(f, sizeof(f), "weights[%zu].weight", i);
                field_err(errors, f, "must be a number >= 0 and at most %g", KP_WEIGHT_MAX);
                t = -1;
        }
        if (t < 0)
                return;
        double *w = &req->weights[offset[t] + (size_t)json_integer_value(jp)];
        if (!isnan(*w)) {
                snprintf(f, sizeof(f), "weights[%zu]", i);
                field_err(errors, f, "partition %d of %s/%s is weighted twice",
                          (int)json_integer_value(jp), req->topics[t].cluster,
                          req->topics[t].topic);
                return;
        }
        *w = json_number_value(jw);
}

/* Parses "weights" (topics already valid) into req->weights in flat order. */
static int parse_weights(const json_t *arr, kp_plan_request_t *req, json_t *errors)
{
        const size_t K = req->input.topic_cnt;
        size_t P = 0, *offset = NULL;
        tkey_t *k = NULL;
        int err = KP_ERR_NOMEM;
        if (!json_is_array(arr)) {
                field_err(errors, "weights", "must be an array");
                return 0;
        }
        if (!json_array_size(arr))
                return 0;
        offset = malloc((K + 1) * sizeof(*offset));
        k = tindex_new(req->topics, K);
        if (!offset || !k)
                goto out;
        for (size_t t = 0; t < K; t++) {
                offset[t] = P;
                P += (size_t)req->topics[t].partitions;
        }
        if (!(req->weights = malloc(P * sizeof(*req->weights))))
                goto out;
        /* NaN marks "not listed yet": a second entry for a partition is refused, not
         * silently preferred; unlisted ones weigh 1 at the end */
        for (size_t i = 0; i < P; i++)
                req->weights[i] = NAN;
        for (size_t i = 0; i < json_array_size(arr); i++)
                weight_entry(json_array_get(arr, i), i, k, offset, req, errors);
        for (size_t i = 0; i < P; i++)
                if (isnan(req->weights[i]))
                        req->weights[i] = 1.0;
        err = 0;
out:
        free(k);
        free(offset);
        return err;
}

/* The fields both requests share: topics, weights, rebalance. */
static int parse_common(const json_t *body, kp_plan_request_t *req, json_t *errors)
{
        size_t before = json_array_size(errors);
        int err = parse_topics(json_object_get(body, "topics"), req, errors);
        if (err)
                return err;
        const json_t *rb = json_object_get(body, "rebalance");
        if (rb && !json_is_boolean(rb))
                field_err(errors, "rebalance", "must be true or false");
        req->input.rebalance = json_is_true(rb);
        const json_t *w = json_object_get(body, "weights");
        if (w && json_array_size(errors) == before)
                err = parse_weights(w, req, errors);
        req->input.topics = req->topics;
        req->input.weights = req->weights;
        return err;
}

int kp_plan_request_parse(const json_t *body, kp_plan_request_t *req, json_t *errors)
{
        static const char *const fields[] = {"topics",  "parallelism", "strategy",
                                             "weights", "rebalance",   NULL};
        size_t before = json_array_size(errors);
        int err;
        memset(req, 0, sizeof(*req));
        if (!json_is_object(body)) {
                field_err(errors, "", "the body must be a JSON object");
                return KP_ERR_INVALID;
        }
        check_fields(body, fields, "", errors);
        if ((err = parse_common(body, req, errors)))
                goto out;
        const json_t *jp = json_object_get(body, "parallelism");
        if (!json_is_integer(jp) || json_integer_value(jp) < 1 ||
            json_integer_value(jp) > KP_PARALLELISM_MAX)
                field_err(errors, "parallelism", "must be 1..%d", KP_PARALLELISM_MAX);
        else
                req->input.parallelism = (int32_t)json_integer_value(jp);
        const json_t *js = json_object_get(body, "strategy");
        req->input.strategy = KP_STRATEGY_BALANCED;
        if (js &&
            (!json_is_string(js) || kp_strategy_parse(json_string_value(js), &req->input.strategy)))
                field_err(errors, "strategy", "must be one of %s", STRATEGY_NAMES());
        if (json_array_size(errors) > before)
                err = KP_ERR_INVALID;
out:
        if (err)
                kp_plan_request_cleanup(req);
        return err;
}

void kp_sweep_request_cleanup(kp_sweep_request_t *req)
{
        if (!req)
                return;
        kp_plan_request_cleanup(&req->base);
        memset(req, 0, sizeof(*req));
}

int kp_sweep_request_parse(const json_t *body, kp_sweep_request_t *req, json_t *errors)
{
        static const char *const fields[] = {"topics",  "parallelism", "strategies",
                                             "weights", "rebalance",   NULL};
        static const char *const pfields[] = {"from", "to", NULL};
        size_t before = json_array_size(errors);
        int err;
        memset(req, 0, sizeof(*req));
        if (!json_is_object(body)) {
                field_err(errors, "", "the body must be a JSON object");
                return KP_ERR_INVALID;
        }
        check_fields(body, fields, "", errors);
        if ((err = parse_common(body, &req->base, errors)))
                goto out;
        const json_t *jp = json_object_get(body, "parallelism");
        if (!json_is_object(jp)) {
                field_err(errors, "parallelism", "must be an object {\"from\", \"to\"}");
        } else {
                check_fields(jp, pfields, "parallelism.", errors);
                const json_t *jf = json_object_get(jp, "from"), *jt = json_object_get(jp, "to");
                if (!json_is_integer(jf) || json_integer_value(jf) < 1 ||
                    json_integer_value(jf) > KP_PARALLELISM_MAX)
                        field_err(errors, "parallelism.from", "must be 1..%d", KP_PARALLELISM_MAX);
                else if (!json_is_integer(jt) || json_integer_value(jt) < json_integer_value(jf) ||
                         json_integer_value(jt) > KP_PARALLELISM_MAX)
                        field_err(errors, "parallelism.to", "must be from..%d", KP_PARALLELISM_MAX);
                else if (json_integer_value(jt) - json_integer_value(jf) + 1 > KP_SWEEP_STEPS_MAX)
                        field_err(errors, "parallelism.to", "at most %d steps from \"from\"",
                                  KP_SWEEP_STEPS_MAX);
                else {
                        req->from = (int32_t)json_integer_value(jf);
                        req->to = (int32_t)json_integer_value(jt);
                }
        }
        const json_t *js = json_object_get(body, "strategies");
        if (!js) {
                for (int s = 0; s < KP_STRATEGY__CNT; s++)
                        req->strategies[req->strategy_cnt++] = (kp_strategy_t)s;
        } else if (!json_is_array(js) || !json_array_size(js) ||
                   json_array_size(js) > KP_STRATEGY__CNT) {
                field_err(errors, "strategies",
                          "must be a non-empty array of distinct "
                          "strategies (%s)",
                          STRATEGY_NAMES());
        } else {
                for (size_t i = 0; i < json_array_size(js); i++) {
                        kp_strategy_t s;
                        char f[64];
                        snprintf(f, sizeof(f), "strategies[%zu]", i);
                        if (kp_strategy_parse(json_string_value(json_array_get(js, i)), &s)) {
                                field_err(errors, f, "must be one of %s", STRATEGY_NAMES());
                                continue;
                        }
                        size_t x;
                        for (x = 0; x < req->strategy_cnt && req->strategies[x] != s; x++)
                                ;
                        if (x < req->strategy_cnt)
                                field_err(errors, f, "duplicate strategy");
                        else
                                req->strategies[req->strategy_cnt++] = s;
                }
        }
        if (json_array_size(errors) > before)
                err = KP_ERR_INVALID;
out:
        if (err) {
                kp_sweep_request_cleanup(req);
                return err;
        }
        req->input = req->base.input;
        req->input.parallelism = req->from;
        req->input.strategy = req->strategies[0];
        req->input.skip_recommendations = 1;
        return 0;
}

/* @returns the partitions of @p in, all topics. */
static int64_t input_partitions(const kp_plan_input_t *in)
{
        int64_t P = 0;
        for (size_t t = 0; t < in->topic_cnt; t++)
                P += in->topics[t].partitions;
        return P;
}

int64_t kp_plan_request_work(const kp_plan_request_t *req)
{
        return input_partitions(&req->input) + req->input.parallelism;
}

int64_t kp_sweep_request_work(const kp_sweep_request_t *req)
{
        const int64_t P = input_partitions(&req->input), steps = req->to - req->from + 1;
        /* sum of (P + t) for t = from..to: the planner's and analysis' arrays per step */
        const int64_t per_strategy = steps * P + steps * ((int64_t)req->from + req->to) / 2;
        int64_t work = 0;
        for (size_t k = 0; k < req->strategy_cnt; k++)
                work += per_strategy *
                        (kp_strategy_desc(req->strategies[k])->flags & KP_STRATEGY_F_WEIGHTS
                                 ? KP_SWEEP_WEIGHTED_COST
                                 : 1);
        return work;
}

/* The partitions-in-all limit both requests share. */
static int partitions_check(const kp_plan_input_t *in, char *errstr, size_t errstr_size)
{
        const int64_t P = input_partitions(in);
        if (P <= KP_WHATIF_PARTITIONS_MAX)
                return 0;
        snprintf(errstr, errstr_size,
                 "%lld partitions in all: over the limit of %d partitions per what-if or sweep",
                 (long long)P, KP_WHATIF_PARTITIONS_MAX);
        return KP_ERR_UNPROCESSABLE;
}

int kp_plan_request_check_work(const kp_plan_request_t *req, char *errstr, size_t errstr_size)
{
        return partitions_check(&req->input, errstr, errstr_size);
}

int kp_sweep_request_check_work(const kp_sweep_request_t *req, char *errstr, size_t errstr_size)
{
        int err = partitions_check(&req->input, errstr, errstr_size);
        if (err)
                return err;
        const int64_t work = kp_sweep_request_work(req);
        if (work <= KP_SWEEP_WORK_MAX)
                return 0;
        snprintf(errstr, errstr_size,
                 "parallelism %d..%d x %zu strategies over %lld partitions is %lld "
                 "partition-steps: over the limit of %lld per sweep; narrow the range",
                 (int)req->from, (int)req->to, req->strategy_cnt,
                 (long long)input_partitions(&req->input), (long long)work,
                 (long long)KP_SWEEP_WORK_MAX);
        return KP_ERR_UNPROCESSABLE;
}

json_t *kp_plan_analysis_to_json(const kp_plan_analysis_t *a)
{
        json_t *recs = json_array();
        for (size_t i = 0; recs && i < a->recommendation_cnt; i++)
                json_array_append_new(recs, json_string(a->recommendations[i]));
        if (!recs)
                return NULL;
        return json_pack("{s:s, s:I, s:i, s:i, s:I, s:I, s:f, s:f, s:f, s:o, s:o}", "case",
                         kp_plan_case_name(a->plan_case), "partitions", (json_int_t)a->partitions,
                         "tasks", (int)a->tasks, "idle_tasks", (int)a->idle_tasks,
                         "min_partitions_per_task", (json_int_t)a->min_partitions_per_task,
                         "max_partitions_per_task", (json_int_t)a->max_partitions_per_task, "skew",
                         round(a->skew * 1e6) / 1e6, "max_load", round(a->max_load * 1e6) / 1e6,
                         "mean_load", round(a->mean_load * 1e6) / 1e6, "moved_from_previous",
                         a->moved_from_previous < 0 ? json_null()
                                                    : json_integer(a->moved_from_previous),
                         "recommendations", recs);
}

int kp_plan_by_task(const kp_plan_t *plan, size_t **startp, size_t **bytp)
{
        const size_t P = plan->partition_cnt;
        const int32_t T = plan->parallelism;
        size_t *start = calloc((size_t)T + 1, sizeof(*start));
        size_t *byt = malloc((P ? P : 1) * sizeof(*byt));
        if (!start || !byt) {
                free(start);
                free(byt);
                return KP_ERR_NOMEM;
        }
        for (size_t i = 0; i < P; i++)
                start[plan->owner[i] + 1]++;
        for (int32_t j = 0; j < T; j++)
                start[j + 1] += start[j];
        for (size_t i = 0; i < P; i++)
                byt[start[plan->owner[i]]++] = i;
        for (int32_t j = T; j > 0; j--)
                start[j] = start[j - 1];
        start[0] = 0;
        *startp = start;
        *bytp = byt;
        return 0;
}

json_t *kp_plan_to_json(const kp_plan_t *plan, const kp_plan_topic_t *topics, size_t topic_cnt)
{
        const size_t P = plan->partition_cnt;
        const int32_t T = plan->parallelism;
        size_t *start = NULL, *byt = NULL;
        int32_t *tof = malloc((P ? P : 1) * sizeof(*tof));
        int32_t *pof = malloc((P ? P : 1) * sizeof(*pof));
        json_t **cl = calloc(topic_cnt ? topic_cnt : 1, sizeof(*cl));
        json_t **tp = calloc(topic_cnt ? topic_cnt : 1, sizeof(*tp));
        json_t *tasks = json_array(), *out = NULL;
        int fail = !tof || !pof || !cl || !tp || !tasks || kp_plan_by_task(plan, &start, &byt);
        size_t i = 0;
        if (fail)
                goto out;
        /* topic and partition of each flat index; names shared by reference */
        for (size_t t = 0; t < topic_cnt; t++) {
                cl[t] = json_string(topics[t].cluster ? topics[t].cluster : DEFAULT_CLUSTER);
                tp[t] = json_string(topics[t].topic);
                if (!cl[t] || !tp[t])
                        fail = 1;
                for (int32_t p = 0; p < topics[t].partitions && i < P; p++, i++) {
                        tof[i] = (int32_t)t;
                        pof[i] = p;
                }
        }
        if (fail || i != P)
                goto out;
        for (int32_t j = 0; j < T && !fail; j++) {
                json_t *parts = json_array(), *task = json_object();
                if (!parts || !task) {
                        json_decref(parts);
                        json_decref(task);
                        fail = 1;
                        break;
                }
                for (size_t x = start[j]; x < start[j + 1]; x++) {
                        size_t fi = byt[x];
                        json_t *p = json_object();
                        if (!p || json_object_set(p, "cluster", cl[tof[fi]]) ||
                            json_object_set(p, "topic", tp[tof[fi]]) ||
                            json_object_set_new(p, "partition", json_integer(pof[fi])) ||
                            json_array_append_new(parts, p)) {
                                fail = 1;
                                break;
                        }
                }
                if (json_object_set_new(task, "task", json_integer(j)) ||
                    json_object_set_new(task, "partitions", parts) ||
                    json_array_append_new(tasks, task))
                        fail = 1;
        }
        if (fail)
                goto out;
        json_t *an = kp_plan_analysis_to_json(&plan->analysis);
        if (!an)
                goto out;
        out = json_pack("{s:i, s:s, s:O, s:o}", "parallelism", (int)T, "strategy",
                        kp_strategy_name(plan->strategy), "tasks", tasks, "analysis", an);
out:
        for (size_t t = 0; cl && tp && t < topic_cnt; t++) {
                json_decref(cl[t]);
                json_decref(tp[t]);
        }
        json_decref(tasks);
        free(tp);
        free(cl);
        free(pof);
        free(tof);
        free(byt);
        free(start);
        return out;
}

/* Appends the decimal digits of @p v (>= 0). */
static char *put_uint(char *d, uint64_t v)
{
        char tmp[24];
        int n = 0;
        do {
                tmp[n++] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        while (n)
                *d++ = tmp[--n];
        return d;
}

/* Appends @p s as a JSON string exactly as jansson's json_dumps writes it without flags:
 * '"' and '\\' escaped, \b \f \n \r \t by name, other bytes below 0x20 as \u00XX
 * (upper-case hex), everything else (UTF-8 included) as it is. Building a json_string
 * and dumping it cost a what-if answer more than its plan. */
static void put_json_string(kp_buf_t *b, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
        const size_t len = strlen(s);
        size_t i = 0, run = 0;
        kp_buf_append(b, "\"", 1);
        while (i < len) {
                /* eight bytes at a time past those that need nothing (the recommendations
                 * are sentences): a byte below 0x20, or equal to '"' or '\\' (bit tricks
                 * that tell whether any byte is, exactly) sends the word to the byte loop */
                if (len - i >= 8) {
                        uint64_t w, q, e;
                        memcpy(&w, s + i, 8);
                        q = w ^ (ones * '"');
                        e = w ^ (ones * '\\');
                        if (!((w - ones * 0x20) & ~w & high) && !((q - ones) & ~q & high) &&
                            !((e - ones) & ~e & high)) {
                                i += 8;
                                continue;
                        }
                }
                unsigned char c = (unsigned char)s[i];
                char esc[6] = {'\\', 0, '0', '0', 0, 0};
                size_t n = 2;
                if (c >= 0x20 && c != '"' && c != '\\') {
                        i++;
                        continue;
                }
                kp_buf_append(b, s + run, i - run);
                run = ++i;
                switch (c) {
                case '"': esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '\b': esc[1] = 'b'; break;
                case '\f': esc[1] = 'f'; break;
                case '\n': esc[1] = 'n'; break;
                case '\r': esc[1] = 'r'; break;
                case '\t': esc[1] = 't'; break;
                default:
                        esc[1] = 'u';
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        n = 6;
                }
                kp_buf_append(b, esc, n);
        }
        kp_buf_append(b, s + run, len - run);
        kp_buf_append(b, "\"", 1);
}

/* Appends @p v in decimal, as "%" PRId64 would (without snprintf: the analysis writes
 * a few per answer, and the what-if answers tens of thousands a second). */
static void put_i64(kp_buf_t *b, int64_t v)
{
        char buf[24], *p = buf + sizeof(buf);
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do
                *--p = (char)('0' + u % 10);
        while (u /= 10);
        if (v < 0)
                *--p = '-';
        kp_buf_append(b, p, (size_t)(buf + sizeof(buf) - p));
}

/* Appends @p v as jansson writes a real: "%.17g", ".0" added when that reads as an
 * integer, the exponent without '+' or leading zeros. */
static void put_json_real(kp_buf_t *b, double v)
{
        /* a whole number below 1e15 (skew 1, whole loads): "%.17g" prints its digits */
        if (v >= 0 && v < 1e15 && v == floor(v) && !signbit(v)) {
                put_i64(b, (int64_t)v);
                kp_buf_append(b, ".0", 2);
                return;
        }
        char buf[40];
        int n = snprintf(buf, sizeof(buf) - 3, "%.17g", v);
        char *e;
        if (n < 0 || n >= (int)sizeof(buf) - 3) {
                b->oom = 1;
                return;
        }
        if (!strchr(buf, '.') && !strchr(buf, 'e')) {
                memcpy(buf + n, ".0", 3);
                n += 2;
        }
        if ((e = strchr(buf, 'e'))) {
                char *start = e + 1, *end = start + 1;
                if (*start == '-')
                        start++;
                while (*end == '0')
                        end++;
                if (end != start) {
                        memmove(start, end, (size_t)(n - (end - buf)) + 1);
                        n -= (int)(end - start);
                }
        }
        kp_buf_append(b, buf, (size_t)n);
}

int kp_plan_analysis_write(kp_buf_t *b, const kp_plan_analysis_t *a)
{
        kp_buf_append(b, "{\"case\":", 8);
        put_json_string(b, kp_plan_case_name(a->plan_case));
        kp_buf_append(b, ",\"partitions\":", 14);
        put_i64(b, a->partitions);
        kp_buf_append(b, ",\"tasks\":", 9);
        put_i64(b, a->tasks);
        kp_buf_append(b, ",\"idle_tasks\":", 14);
        put_i64(b, a->idle_tasks);
        kp_buf_append(b, ",\"min_partitions_per_task\":", 27);
        put_i64(b, a->min_partitions_per_task);
        kp_buf_append(b, ",\"max_partitions_per_task\":", 27);
        put_i64(b, a->max_partitions_per_task);
        kp_buf_append(b, ",\"skew\":", 8);
        put_json_real(b, round(a->skew * 1e6) / 1e6);
        kp_buf_append(b, ",\"max_load\":", 12);
        put_json_real(b, round(a->max_load * 1e6) / 1e6);
        kp_buf_append(b, ",\"mean_load\":", 13);
        put_json_real(b, round(a->mean_load * 1e6) / 1e6);
        if (a->moved_from_previous < 0)
                kp_buf_append(b, ",\"moved_from_previous\":null", 27);
        else {
                kp_buf_append(b, ",\"moved_from_previous\":", 23);
                put_i64(b, a->moved_from_previous);
        }
        kp_buf_append(b, ",\"recommendations\":[", 20);
        for (size_t i = 0; i < a->recommendation_cnt; i++) {
                if (i)
                        kp_buf_append(b, ",", 1);
                put_json_string(b, a->recommendations[i]);
        }
        kp_buf_append(b, "]}", 2);
        return b->oom ? KP_ERR_NOMEM : 0;
}

/* Each partition entry's text up to its number, once per topic (its escaping depends only
 * on the topic): what plan_json_write's entries are made of. */
typedef struct entry_heads {
        int32_t *tof;   /* topic of a flat index */
        size_t *tstart; /* flat index of each topic's p0; [topic_cnt] = P */
        size_t *poff;   /* topic t's head: text.data[poff[t] .. poff[t + 1]) */
        kp_buf_t text;
} entry_heads_t;

/*
 * Fills @p h for @p topics ("{"cluster":C,"topic":T,"partition":" per topic) and *needp:
 * the bytes every task (<= 40) and entry (its head, <= 10 digits, "},") of a plan over
 * them at @p T can take. @returns 0 or KP_ERR_NOMEM (or KP_ERR_INTERNAL when the topics
 * do not add up to @p P).
 */
static int entry_heads_build(entry_heads_t *h, const kp_plan_topic_t *topics, size_t topic_cnt,
                             size_t P, int32_t T, size_t *needp)
{
        h->tof = malloc((P ? P : 1) * sizeof(*h->tof));
        h->tstart = malloc((topic_cnt + 1) * sizeof(*h->tstart));
        h->poff = malloc((topic_cnt + 1) * sizeof(*h->poff));
        if (!h->tof || !h->tstart || !h->poff)
                return KP_ERR_NOMEM;
        size_t flat = 0, need = (size_t)T * 40;
        kp_buf_t *hb = &h->text;
        for (size_t t = 0; t < topic_cnt; t++) {
                h->tstart[t] = flat;
                for (int32_t p = 0; p < topics[t].partitions && flat < P; p++)
                        h->tof[flat++] = (int32_t)t;
                h->poff[t] = hb->len;
                kp_buf_append(hb, "{\"cluster\":", 11);
                put_json_string(hb, topics[t].cluster ? topics[t].cluster : DEFAULT_CLUSTER);
                kp_buf_append(hb, ",\"topic\":", 9);
                put_json_string(hb, topics[t].topic);
                kp_buf_append(hb, ",\"partition\":", 13);
                need += (hb->len - h->poff[t] + 12) * (size_t)topics[t].partitions;
        }
        h->tstart[topic_cnt] = flat;
        h->poff[topic_cnt] = hb->len;
        *needp = need;
        if (hb->oom)
                return KP_ERR_NOMEM;
        return flat == P ? 0 : KP_ERR_INTERNAL;
}

static void entry_heads_cleanup(entry_heads_t *h)
{
        kp_buf_cleanup(&h->text);
        free(h->poff);
        free(h->tstart);
        free(h->tof);
}

/* Writes the tasks array's members at @p d (room reserved by the caller) with plain stores:
 * task j's partitions are byt[start[j] .. start[j + 1]). @returns the end. */
static char *tasks_put(char *d, int32_t T, const size_t *start, const size_t *byt,
                       const entry_heads_t *h)
{
        for (int32_t j = 0; j < T; j++) {
                if (j)
                        *d++ = ',';
                memcpy(d, "{\"task\":", 8);
                d = put_uint(d + 8, (uint64_t)j);
                memcpy(d, ",\"partitions\":[", 15);
                d += 15;
                for (size_t x = start[j]; x < start[j + 1]; x++) {
                        size_t fi = byt[x], t = (size_t)h->tof[fi];
                        if (x != start[j])
                                *d++ = ',';
                        memcpy(d, h->text.data + h->poff[t], h->poff[t + 1] - h->poff[t]);
                        d += h->poff[t + 1] - h->poff[t];
                        d = put_uint(d, (uint64_t)(fi - h->tstart[t]));
                        *d++ = '}';
                }
                memcpy(d, "]}", 2);
                d += 2;
        }
        return d;
}

int kp_plan_json_write(kp_buf_t *b, const kp_plan_t *plan, const kp_plan_topic_t *topics,
                       size_t topic_cnt)
{
        const int32_t T = plan->parallelism;
        size_t *start = NULL, *byt = NULL, need = 0;
        entry_heads_t h;
        int err = KP_ERR_NOMEM;
        memset(&h, 0, sizeof(h));
        kp_buf_init(&h.text);
        if (kp_plan_by_task(plan, &start, &byt) ||
            entry_heads_build(&h, topics, topic_cnt, plan->partition_cnt, T, &need))
                goto out;
        kp_buf_printf(b, "{\"parallelism\":%d,\"strategy\":", (int)T);
        put_json_string(b, kp_strategy_name(plan->strategy));
        kp_buf_append(b, ",\"tasks\":[", 10);
        /* one reservation for every task and entry, so as much as the answer needs */
        if (kp_buf_reserve(b, need))
                goto out;
        b->len = (size_t)(tasks_put(b->data + b->len, T, start, byt, &h) - b->data);
        b->data[b->len] = '\0';
        kp_buf_append(b, "],\"analysis\":", 13);
        kp_plan_analysis_write(b, &plan->analysis);
        kp_buf_append(b, "}", 1);
        err = b->oom ? KP_ERR_NOMEM : 0;
out:
        entry_heads_cleanup(&h);
        free(byt);
        free(start);
        return err;
}

int kp_plan_previous_owners(const json_t *plan_doc, const kp_plan_topic_t *topics, size_t topic_cnt,
                            int32_t **ownerp)
{
        const json_t *tasks = json_object_get(plan_doc, "tasks");
        size_t P = 0, *offset = NULL;
        int32_t *owner = NULL;
        tkey_t *k = NULL;
        int err = KP_ERR_NOMEM;
        *ownerp = NULL;
        if (!json_is_array(tasks))
                return 0;
        offset = malloc((topic_cnt + 1) * sizeof(*offset));
        k = tindex_new(topics, topic_cnt);
        if (!offset || !k)
                goto out;
        for (size_t t = 0; t < topic_cnt; t++) {
                offset[t] = P;
                P += (size_t)topics[t].partitions;
        }
        if (!(owner = malloc((P ? P : 1) * sizeof(*owner))))
                goto out;
        for (size_t i = 0; i < P; i++)
                owner[i] = -1;
        size_t ti, pi;
        const json_t *task, *part;
        json_array_foreach(tasks, ti, task)
        {
                const json_t *jt = json_object_get(task, "task");
                if (!json_is_integer(jt) || json_integer_value(jt) < 0 ||
                    json_integer_value(jt) > INT32_MAX)
                        continue;
                int32_t tid = (int32_t)json_integer_value(jt);
                json_array_foreach(json_object_get(task, "partitions"), pi, part)
                {
                        const char *c = json_string_value(json_object_get(part, "cluster"));
                        const char *t = json_string_value(json_object_get(part, "topic"));
                        const json_t *jp = json_object_get(part, "partition");
                        if (!t || !json_is_integer(jp))
                                continue;
                        long x = tindex_find(k, topic_cnt, c ? c : DEFAULT_CLUSTER, t);
                        json_int_t p = json_integer_value(jp);
                        if (x >= 0 && p >= 0 && p < topics[x].partitions)
                                owner[offset[x] + (size_t)p] = tid;
                }
        }
        *ownerp = owner;
        owner = NULL;
        err = 0;
out:
        free(owner);
        free(k);
        free(offset);
        return err;
}
