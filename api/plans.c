/* plans.c — plan versions of groups, what-if plans and parallelism sweeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "api/handlers.h"
#include "app/plans.h"
#include "planner/plan_json.h"
#include "planner/planner.h"
#include "api/respond.h"
#include "db/store.h"
#include "base/util.h"

/* @returns a new array (free()) of @p arr's {"cluster", "topic", "partitions"} entries as
 * plan topics, names borrowed from @p arr, or NULL when out of memory; *totalp = their
 * partitions in all. */
static kp_plan_topic_t *plan_topics(const json_t *arr, int64_t *totalp)
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

void kp_h_plans_list(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *arr = NULL, *doc = NULL;
        (void)req;
        int err = kp_store_group_get(app->store, p[0], &doc, errstr, sizeof(errstr));
        json_decref(doc);
        if (!err)
                err = kp_store_plan_list(app->store, p[0], &arr, errstr, sizeof(errstr));
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

/* Checks "weights" of a plan request: an array of {cluster, topic, partition, weight},
 * each partition once. */
static void weights_check(const json_t *w, json_t *errors)
{
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
                                       "must be {cluster, topic, partition, weight 0..%g}",
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

/* Checks a plan request's body (may be NULL: all defaults). */
static void plan_body_check(const json_t *body, json_t *errors)
{
        static const char *const fields[] = {"parallelism", "strategy", "apply", "weights", NULL};
        if (!body)
                return;
        kp_fields_check(body, fields, "", errors);
        json_t *par = json_object_get(body, "parallelism");
        if (par && (!json_is_integer(par) || json_integer_value(par) < 1 ||
                    json_integer_value(par) > KP_PARALLELISM_MAX))
                kp_field_error(errors, "parallelism", "must be 1..%d", KP_PARALLELISM_MAX);
        json_t *st = json_object_get(body, "strategy");
        kp_field_strategy_check(errors, "strategy", st, NULL);
        json_t *ap = json_object_get(body, "apply");
        if (ap && !json_is_boolean(ap))
                kp_field_error(errors, "apply", "must be true or false");
        weights_check(json_object_get(body, "weights"), errors);
}

void kp_h_plan_create(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL, *doc = NULL, *plan = NULL;
        json_t *errors = json_array();
        int apply_err = 0;
        /* weighted without weights samples rates (a sleep); apply waits for the runtime */
        if (kp_req_offload_io(req, resp))
                goto out;
        if (kp_req_json(req, resp, 0, &body))
                goto out;
        int err = kp_store_group_get(app->store, p[0], &doc, errstr, sizeof(errstr));
        if (err) {
                if (err == KP_ERR_NOT_FOUND)
                        kp_resp_problem(resp, 404, "no group named %s", p[0]);
                else
                        kp_resp_error(resp, err, errstr);
                goto out;
        }
        plan_body_check(body, errors);
        if (json_array_size(errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid plan request");
                errors = NULL;
                goto out;
        }
        err = kp_app_group_plan(app, p[0], body, json_is_true(json_object_get(body, "apply")),
                                &plan, &apply_err, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        int version = (int)json_integer_value(json_object_get(plan, "version"));
        if (apply_err) {
                kp_resp_problem(resp, kp_resp_status_of(apply_err),
                                "plan version %d stored but not applied: %s", version, errstr);
                goto out;
        }
        snprintf(resp->location, sizeof(resp->location), "/api/v1/groups/%s/plans/%d", p[0],
                 version);
        kp_resp_json(resp, 201, json_incref(plan));
out:
        json_decref(errors);
        json_decref(plan);
        json_decref(doc);
        json_decref(body);
}

void kp_h_plan_get(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
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
        int err = kp_store_plan_get_text(app->store, p[0], version, &text, &len, errstr,
                                         sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND) {
                json_t *doc = NULL;
                if (kp_store_group_get(app->store, p[0], &doc, errstr, sizeof(errstr)))
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

void kp_h_whatif(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL;
        json_t *errors = NULL; /* the general parser's: the plain form needs none */
        kp_plan_request_t pr;
        kp_plan_t *plan = NULL;
        int parsed = 0;
        (void)app;
        (void)p;
        memset(&pr, 0, sizeof(pr));
        /* the plain form without a jansson tree (what wrk and the page send); anything
         * else, and every refusal, through the general parser */
        if (!kp_plan_request_parse_plain(req->body, req->body_len, &pr))
                goto parsed;
        errors = json_array();
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        if (kp_plan_request_parse(body, &pr, errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid plan request");
                errors = NULL;
                goto out;
        }
parsed:
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

void kp_h_sweep(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL, *items = NULL;
        json_t *errors = json_array();
        kp_sweep_request_t sr;
        int parsed = 0;
        (void)app;
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

/* The version a path names: a number >= 1, or "current" (0). @returns -1 when neither. */
static int path_version(const char *seg)
{
        char *end;
        if (!strcmp(seg, "current"))
                return 0;
        long v = strtol(seg, &end, 10);
        return *end || v < 1 || v > 1000000000 ? -1 : (int)v;
}

/* ?from=u of a diff: *fromp = u, 0 when absent. @returns -1 after answering 400. */
static int diff_from_query(const kp_http_req_t *req, kp_http_resp_t *resp, int *fromp)
{
        const char *fq = kp_http_query(req, "from");
        char *end;
        *fromp = 0;
        if (!fq)
                return 0;
        long v = strtol(fq, &end, 10);
        if (!*fq || *end || v < 1 || v > 1000000000) {
                json_t *errors = json_array();
                kp_field_error(errors, "from", "must be a plan version >= 1");
                kp_resp_problem_errors(resp, 400, errors, "invalid query");
                return -1;
        }
        *fromp = (int)v;
        return 0;
}

/* Counts of a diff: partitions that moved, appeared, went, stayed. */
typedef struct diff_counts {
        json_int_t moved, added, removed, kept;
} diff_counts_t;

/*
 * The partitions whose owner differs between plan docs @p from and @p to, as a new array
 * of {cluster, topic, partition, from_task, to_task} (null: not in that plan); @p c
 * counts them. @returns NULL when out of memory.
 */
static json_t *diff_moves(const json_t *from, const json_t *to, diff_counts_t *c)
{
        json_t *seen = json_object(), *tl = json_array(), *moves = json_array();
        kp_plan_topic_t *topics = NULL;
        int32_t *old_owner = NULL, *new_owner = NULL;
        int64_t P = 0;
        int ok = seen && tl && moves &&
                 /* both plans' partitions in one flat order: the newer plan's topics first */
                 !diff_topics(to, seen, tl) && !diff_topics(from, seen, tl) &&
                 (topics = plan_topics(tl, &P)) &&
                 !kp_plan_previous_owners(from, topics, json_array_size(tl), &old_owner) &&
                 !kp_plan_previous_owners(to, topics, json_array_size(tl), &new_owner) &&
                 (!P || (old_owner && new_owner));
        memset(c, 0, sizeof(*c));
        for (size_t t = 0, i = 0; ok && t < json_array_size(tl); t++) {
                for (int32_t x = 0; x < topics[t].partitions; x++, i++) {
                        int32_t a = old_owner[i], b = new_owner[i];
                        if (a == b) {
                                c->kept += a >= 0;
                                continue;
                        }
                        if (a < 0)
                                c->added++;
                        else if (b < 0)
                                c->removed++;
                        else
                                c->moved++;
                        json_array_append_new(
                                moves,
                                json_pack("{s:s, s:s, s:i, s:o, s:o}", "cluster", topics[t].cluster,
                                          "topic", topics[t].topic, "partition", (int)x,
                                          "from_task", a < 0 ? json_null() : json_integer(a),
                                          "to_task", b < 0 ? json_null() : json_integer(b)));
                }
        }
        free(new_owner);
        free(old_owner);
        free(topics);
        json_decref(tl);
        json_decref(seen);
        if (!ok) {
                json_decref(moves);
                return NULL;
        }
        return moves;
}

/* GET /groups/{g}/plans/{v}/diff?from=u: what changes between two plan versions. */
void kp_h_plan_diff(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *to = NULL, *from = NULL, *moves = NULL;
        int from_version, version = path_version(p[1]), err;
        diff_counts_t c;
        if (version < 0) {
                kp_resp_problem(resp, 404, "plan version must be a number >= 1 or \"current\"");
                return;
        }
        if (diff_from_query(req, resp, &from_version))
                return;
        err = kp_store_plan_get(app->store, p[0], version, &to, errstr, sizeof(errstr));
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
        err = kp_store_plan_get(app->store, p[0], from_version, &from, errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        moves = diff_moves(from, to, &c);
        if (!moves) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        kp_resp_json(resp, 200,
                     json_pack("{s:s, s:i, s:i, s:O, s:O, s:I, s:I, s:I, s:I, s:O}", "group", p[0],
                               "from", from_version, "to", version, "from_parallelism",
                               json_object_get(from, "parallelism"), "to_parallelism",
                               json_object_get(to, "parallelism"), "moved", c.moved, "added",
                               c.added, "removed", c.removed, "unchanged", c.kept, "moves", moves));
out:
        json_decref(moves);
        json_decref(from);
        json_decref(to);
}
