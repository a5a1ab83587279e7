/* groups.c — /api/v1/groups: consumer groups (CRUD) and their running state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "base/err.h"
#include "api/handlers.h"
#include "app/groups.h"
#include "app/sinks.h"
#include "app/status.h"
#include "app/work.h"
#include "planner/planner.h"
#include "api/respond.h"
#include "runtime/runtime.h"
#include "sinks/sink.h"
#include "sinks/sink_dlq.h"
#include "db/store.h"
#include "base/util.h"

/* Checks one entry of "topics": {cluster, topic} or {cluster, pattern}, registered. */
static void group_topic_check(kp_app_t *app, const json_t *t, size_t i, json_t *errors,
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
                kp_field_error(errors, f, "must match " KP_TOPIC_NAME_RULE);
                return;
        }
        if (jp && (!json_is_string(jp) || !json_string_length(jp))) {
                snprintf(f, sizeof(f), "topics[%zu].pattern", i);
                kp_field_error(errors, f, "must be a non-empty string");
                return;
        }
        json_t *doc = NULL;
        int err = jt ? kp_store_topic_get(app->store, cluster, json_string_value(jt), &doc, errstr,
                                          sizeof(errstr))
                     : kp_store_pattern_get(app->store, cluster, json_string_value(jp), &doc,
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

/* kp_sink_validate() starts its message with the field ("sink.path: must be ..."), and
 * kp_sink_errors_validate() with "errors..." (@p top): that becomes the error's field, so
 * clients see which part of the sink is wrong. */
static void sink_field_error(json_t *errors, const char *top, const char *errstr)
{
        const char *colon = strstr(errstr, ": ");
        char field[96];
        if (!strncmp(errstr, top, strlen(top)) && colon &&
            (size_t)(colon - errstr) < sizeof(field) &&
            !memchr(errstr, ' ', (size_t)(colon - errstr))) {
                memcpy(field, errstr, (size_t)(colon - errstr));
                field[colon - errstr] = '\0';
                kp_field_error(errors, field, "%s", colon + 2);
        } else {
                kp_field_error(errors, top, "%s", errstr);
        }
}

/* 1 when @p a and @p b are file sinks of one path: the same task files. */
static int same_file_sink(const json_t *a, const json_t *b)
{
        const char *ta = json_string_value(json_object_get(a, "type"));
        const char *tb = json_string_value(json_object_get(b, "type"));
        const char *pa = json_string_value(json_object_get(a, "path"));
        const char *pb = json_string_value(json_object_get(b, "path"));
        return ta && tb && !strcmp(ta, "file") && !strcmp(tb, "file") && pa && pb &&
               !strcmp(pa, pb);
}

/*
 * The group's "errors" (a replace sends the dead letter's secrets back as "******"): a
 * copy to store, or NULL with a field error in @p errors, or *unregistered set (422, @p why)
 * when a kafka dead letter names an unregistered cluster.
 */
static json_t *group_errors_check(kp_app_t *app, const json_t *body, const json_t *old,
                                  const json_t *sink, json_t *errors, int *unregistered, char *why,
                                  size_t why_size)
{
        char errstr[512];
        json_t *e = json_deep_copy(json_object_get(body, "errors"));
        const json_t *dl;
        if (!e || json_is_null(e)) { /* absent or null: the default */
                json_decref(e);
                return json_pack("{s:s}", "tolerance", "none");
        }
        if (old)
                kp_sink_errors_unredact(e, json_object_get(old, "errors"));
        if (kp_sink_errors_validate(e, errstr, sizeof(errstr))) {
                sink_field_error(errors, "errors", errstr);
        } else if ((dl = kp_sink_errors_dead_letter(e)) && sink && same_file_sink(dl, sink)) {
                kp_field_error(errors, "errors.dead_letter.path",
                               "must differ from sink.path (each writes its own task files)");
        } else if (dl && !*unregistered &&
                   kp_app_sink_check_registered(app, dl, errstr, sizeof(errstr))) {
                *unregistered = 1;
                snprintf(why, why_size, "errors.dead_letter%.400s",
                         strncmp(errstr, "sink", 4) ? errstr : errstr + 4);
        }
        if (json_array_size(errors) || *unregistered) {
                json_decref(e);
                return NULL;
        }
        if (!json_object_get(e, "tolerance"))
                json_object_set_new(e, "tolerance", json_string("none"));
        return e;
}

/*
 * Validates a group body (create when @p path_name is NULL). Defaults are filled in.
 * @returns the doc to store or NULL; *statusp = 400 (errors) or 422 (unregistered).
 */
static json_t *group_doc_from_body(kp_app_t *app, const json_t *body, const char *path_name,
                                   const json_t *old, json_t *errors, int *statusp, char *why,
                                   size_t why_size)
{
        static const char *const fields[] = {"name",     "topics",    "parallelism",
                                             "strategy", "rebalance", "start_offset",
                                             "sink",     "errors",    NULL};
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
                        group_topic_check(app, t, i, errors, &unregistered, why, why_size);
        }
        /* required (API.md gives it no default, openapi.json lists it as required): a
         * group without one stored null where clients read an integer */
        json_t *par = json_object_get(body, "parallelism");
        if (!json_is_integer(par) || json_integer_value(par) < 1 ||
            json_integer_value(par) > KP_PARALLELISM_MAX)
                kp_field_error(errors, "parallelism", "must be 1..%d", KP_PARALLELISM_MAX);
        json_t *strat = json_object_get(body, "strategy");
        kp_field_strategy_check(errors, "strategy", strat, NULL);
        json_t *reb = json_object_get(body, "rebalance");
        if (reb && !json_is_boolean(reb))
                kp_field_error(errors, "rebalance", "must be true or false");
        json_t *so = json_object_get(body, "start_offset");
        if (so && (!json_is_string(so) || (strcmp(json_string_value(so), "earliest") &&
                                           strcmp(json_string_value(so), "latest"))))
                kp_field_error(errors, "start_offset", "must be \"earliest\" or \"latest\"");
        /* a replace may send secrets back as "******": they keep their stored values */
        json_t *sink = json_deep_copy(json_object_get(body, "sink"));
        if (sink && old)
                kp_sink_unredact(sink, json_object_get(old, "sink"));
        if (sink && kp_sink_validate(sink, errstr, sizeof(errstr)))
                sink_field_error(errors, "sink", errstr);
        else if (kp_sink_group_validate(sink, reb && json_is_true(reb), errstr, sizeof(errstr)))
                sink_field_error(errors, "rebalance", errstr);
        else if (sink && !unregistered && kp_app_sink_check_registered(app, sink, why, why_size))
                unregistered = 1;
        json_t *errs =
                group_errors_check(app, body, old, sink, errors, &unregistered, why, why_size);
        if (json_array_size(errors) || unregistered) {
                *statusp = json_array_size(errors) ? 400 : 422;
                json_decref(sink);
                json_decref(errs);
                return NULL;
        }
        char now[32];
        kp_time_iso8601(now, sizeof(now));
        json_t *doc = json_pack("{s:s, s:O, s:o, s:s, s:b, s:s, s:o, s:o, s:s, s:s}", "name", name,
                                "topics", topics, "parallelism", json_incref(par), "strategy",
                                strat ? json_string_value(strat) : "balanced", "rebalance",
                                reb ? json_is_true(reb) : 0, "start_offset",
                                so ? json_string_value(so) : "earliest", "sink",
                                sink ? sink : json_pack("{s:s}", "type", "discard"), "errors", errs,
                                "created_at",
                                old ? json_string_value(json_object_get(old, "created_at")) : now,
                                "updated_at", now);
        return doc;
}

/* The group as the API shows it: its doc plus its running state. */
static json_t *group_view(kp_app_t *app, const json_t *doc)
{
        json_t *v = json_deep_copy(doc);
        const char *name = json_string_value(json_object_get(doc, "name"));
        json_t *sink = kp_sink_redact(json_object_get(doc, "sink")); /* secrets as "******" */
        if (sink)
                json_object_set_new(v, "sink", sink);
        json_t *errs = kp_sink_errors_redact(json_object_get(doc, "errors"));
        json_object_set_new(v, "errors", errs ? errs : json_pack("{s:s}", "tolerance", "none"));
        char why[512] = "";
        int st = app->rt && name ? kp_runtime_group_state(app->rt, name, why, sizeof(why))
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

void kp_h_groups_list(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *arr = NULL;
        (void)req;
        (void)p;
        int err = kp_store_group_list(app->store, &arr, errstr, sizeof(errstr));
        kp_resp_list(resp, err, errstr, arr, group_list_view, app);
}

/* Shared by create and replace. */
static void group_write(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp,
                        const char *path_name)
{
        char errstr[512], why[512] = "";
        json_t *body = NULL, *doc = NULL, *old = NULL;
        json_t *errors = json_array();
        int status, err;
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        if (path_name) {
                err = kp_store_group_get(app->store, path_name, &old, errstr, sizeof(errstr));
                if (err) {
                        if (err == KP_ERR_NOT_FOUND)
                                kp_resp_problem(resp, 404, "no group named %s", path_name);
                        else
                                kp_resp_error(resp, err, errstr);
                        goto out;
                }
        }
        doc = group_doc_from_body(app, body, path_name, old, errors, &status, why, sizeof(why));
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
                err = kp_store_group_update(app->store, name, doc, errstr, sizeof(errstr));
        } else {
                err = kp_store_group_create(app->store, name, doc, errstr, sizeof(errstr));
                if (err == KP_ERR_EXISTS)
                        snprintf(errstr, sizeof(errstr), "group %s already exists", name);
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        if (!path_name)
                snprintf(resp->location, sizeof(resp->location), "/api/v1/groups/%s", name);
        kp_resp_json(resp, path_name ? 200 : 201, group_view(app, doc));
out:
        json_decref(errors);
        json_decref(old);
        json_decref(doc);
        json_decref(body);
}

void kp_h_group_create(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)p;
        group_write(app, req, resp, NULL);
}

void kp_h_group_put(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        group_write(app, req, resp, p[0]);
}

/* Reads group @p name or answers 404. @returns the doc or NULL. */
static json_t *group_or_404(kp_app_t *app, const char *name, kp_http_resp_t *resp)
{
        char errstr[512];
        json_t *doc = NULL;
        int err = kp_store_group_get(app->store, name, &doc, errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND)
                kp_resp_problem(resp, 404, "no group named %s", name);
        else if (err)
                kp_resp_error(resp, err, errstr);
        return err ? NULL : doc;
}

/* 404 unless group @p name exists. @returns 0 when it does. */
static int group_exists(kp_app_t *app, const char *name, kp_http_resp_t *resp)
{
        json_t *doc = group_or_404(app, name, resp);
        json_decref(doc);
        return doc ? 0 : -1;
}

void kp_h_group_get(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)req;
        json_t *doc = group_or_404(app, p[0], resp);
        if (!doc)
                return;
        kp_resp_json(resp, 200, group_view(app, doc));
        json_decref(doc);
}

void kp_h_group_delete(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        (void)req;
        if (group_exists(app, p[0], resp))
                return;
        int st = app->rt ? kp_runtime_group_state(app->rt, p[0], NULL, 0) : KP_GROUP_STOPPED;
        if (st != KP_GROUP_STOPPED && st != KP_GROUP_FAILED) {
                kp_resp_problem(resp, 409, "group %s is %s: stop it first", p[0],
                                kp_group_state_name(st));
                return;
        }
        int err = kp_store_group_delete(app->store, p[0], errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                return;
        }
        resp->status = 204;
}

void kp_h_group_start(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *body = NULL;
        if (kp_req_offload_io(req, resp)) /* a weighted first plan samples rates */
                return;
        if (group_exists(app, p[0], resp))
                return;
        if (req->body_len && kp_req_json(req, resp, 0, &body))
                goto out;
        if (body && json_object_size(body)) {
                kp_resp_problem(resp, 400, "start takes no fields");
                goto out;
        }
        if (!app->rt) {
                kp_resp_problem(resp, 503, "this kplane runs without consumers");
                goto out;
        }
        int err = kp_app_group_start(app, p[0], errstr, sizeof(errstr));
        if (err == KP_ERR_CONFLICT) {
                kp_resp_problem(resp, 409, "group %s is already running", p[0]);
                goto out;
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        json_t *status = kp_runtime_group_status(app->rt, p[0]);
        kp_resp_json(resp, 202, status ? status : json_pack("{s:s}", "group", p[0]));
out:
        json_decref(body);
}

void kp_h_group_stop(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        if (kp_req_offload_io(req, resp)) /* waits for the tasks to drain and commit */
                return;
        if (group_exists(app, p[0], resp))
                return;
        kp_app_group_stop(app, p[0]);
        json_t *status = app->rt ? kp_runtime_group_status(app->rt, p[0]) : NULL;
        kp_resp_json(resp, 202,
                     status ? status : json_pack("{s:s, s:s}", "group", p[0], "state", "stopped"));
}

void kp_h_group_status(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        json_t *doc = group_or_404(app, p[0], resp);
        if (!doc)
                return;
        json_t *status = app->rt ? kp_runtime_group_status(app->rt, p[0]) : NULL;
        if (!status && kp_req_offload_io(req, resp)) /* stopped: reads committed offsets */
                goto out;
        if (!status)
                status = kp_app_group_stopped_status(app, doc, p[0]);
        kp_work_annotate(app, p[0], status); /* each task's instance */
        kp_resp_json(resp, 200, status);
out:
        json_decref(doc);
}
