/* topics.c — /api/v1/clusters/{c}/topics: register topics or patterns, refresh counts. */
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "app/discovery.h"
#include "app/plans.h"
#include "base/err.h"
#include "api/handlers.h"
#include "base/pattern.h"
#include "api/respond.h"
#include "db/store.h"
#include "base/util.h"

/* 404 unless cluster @p name exists. @returns 0 when it does. */
static int cluster_exists(kp_app_t *app, const char *name, kp_http_resp_t *resp)
{
        json_t *doc = kp_api_cluster_or_404(app, name, resp);
        json_decref(doc);
        return doc ? 0 : -1;
}

void kp_h_topics_list(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *arr = NULL;
        (void)req;
        if (cluster_exists(app, p[0], resp))
                return;
        int err = kp_store_topic_list(app->store, p[0], &arr, errstr, sizeof(errstr));
        kp_resp_list(resp, err, errstr, arr, NULL, NULL);
}

/* Answers the outcome of a discovery call. */
static void discovery_answer(kp_http_resp_t *resp, int err, const char *errstr, json_t *doc,
                             int created, const char *cluster, const char *key)
{
        if (err == KP_ERR_INVALID) {
                json_t *errors = json_array();
                kp_field_error(errors, "pattern", "%s", errstr);
                kp_resp_problem_errors(resp, 400, errors, "invalid pattern: %s", errstr);
        } else if (err) {
                kp_resp_error(resp, err, errstr);
        } else {
                if (created)
                        snprintf(resp->location, sizeof(resp->location),
                                 "/api/v1/clusters/%s/topics/%s", cluster, key);
                kp_resp_json(resp, created ? 201 : 200, json_incref(doc));
        }
        json_decref(doc);
}

/* 400 naming the field and why, when the pattern engine refuses @p pattern: the same
 * engine discovery matches with, so what registers can be matched in linear time.
 * @returns 1 when refused (answered). */
static int pattern_refused(const char *pattern, kp_http_resp_t *resp)
{
        char why[512];
        kp_pattern_t *pat = kp_pattern_compile(pattern, why, sizeof(why));
        if (pat) {
                kp_pattern_destroy(pat);
                return 0;
        }
        json_t *errors = json_array();
        kp_field_error(errors, "pattern", "%s", why);
        kp_resp_problem_errors(resp, 400, errors, "invalid pattern: %s", why);
        return 1;
}

void kp_h_topic_create(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        static const char *const fields[] = {"name", "pattern", NULL};
        char errstr[512];
        json_t *body = NULL, *doc = NULL;
        json_t *errors = json_array();
        if (kp_req_offload_io(req, resp)) /* reads the partition count from the cluster */
                goto out;
        if (cluster_exists(app, p[0], resp))
                goto out;
        if (kp_req_json(req, resp, 1, &body))
                goto out;
        kp_fields_check(body, fields, "", errors);
        json_t *jn = json_object_get(body, "name"), *jp = json_object_get(body, "pattern");
        const char *name = json_string_value(jn), *pattern = json_string_value(jp);
        if (jn && jp)
                kp_field_error(errors, "name", "give name or pattern, not both");
        else if (!jn && !jp)
                kp_field_error(errors, "name", "is required (or \"pattern\")");
        else if (jn && !kp_topic_name_valid(name))
                kp_field_error(errors, "name", "must match " KP_TOPIC_NAME_RULE);
        else if (jp && (!pattern || !pattern[0] || strlen(pattern) > KP_PATTERN_MAX))
                kp_field_error(errors, "pattern",
                               "must be a POSIX extended regex of 1..%d "
                               "characters",
                               KP_PATTERN_MAX);
        if (json_array_size(errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid topic registration");
                errors = NULL;
                goto out;
        }
        if (pattern && pattern_refused(pattern, resp))
                goto out;
        int err;
        if (name)
                err = kp_discovery_topic(app->store, app->emb, p[0], name, 1,
                                         app->metadata_timeout_ms, &doc, NULL, errstr,
                                         sizeof(errstr));
        else
                err = kp_discovery_pattern(app->store, app->emb, p[0], pattern, 1,
                                           app->metadata_timeout_ms, &doc, NULL, errstr,
                                           sizeof(errstr));
        discovery_answer(resp, err, errstr, doc, 1, p[0], name ? name : pattern);
        doc = NULL;
out:
        json_decref(errors);
        json_decref(body);
}

/* Finds a registration by topic name, else by pattern. */
static int registration_get(kp_app_t *app, const char *cluster, const char *key, json_t **docp,
                            int *is_pattern, char *errstr, size_t errstr_size)
{
        *is_pattern = 0;
        int err = kp_store_topic_get(app->store, cluster, key, docp, errstr, errstr_size);
        if (err != KP_ERR_NOT_FOUND)
                return err;
        *is_pattern = 1;
        err = kp_store_pattern_get(app->store, cluster, key, docp, errstr, errstr_size);
        if (err == KP_ERR_NOT_FOUND)
                snprintf(errstr, errstr_size, "no topic or pattern %s registered on cluster %s",
                         key, cluster);
        return err;
}

/* The registration named in the path, or NULL after answering 404. */
static json_t *registration_or_404(kp_app_t *app, const char *cluster, const char *key,
                                   int *is_pattern, kp_http_resp_t *resp)
{
        char errstr[512];
        json_t *doc = NULL;
        if (cluster_exists(app, cluster, resp))
                return NULL;
        int err = registration_get(app, cluster, key, &doc, is_pattern, errstr, sizeof(errstr));
        if (err)
                kp_resp_error(resp, err, errstr);
        return err ? NULL : doc;
}

void kp_h_topic_get(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        int is_pattern;
        (void)req;
        json_t *doc = registration_or_404(app, p[0], p[1], &is_pattern, resp);
        if (doc)
                kp_resp_json(resp, 200, doc);
}

void kp_h_topic_delete(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        int is_pattern;
        (void)req;
        json_t *doc = registration_or_404(app, p[0], p[1], &is_pattern, resp);
        if (!doc)
                return;
        json_decref(doc);
        int err = is_pattern
                          ? kp_store_pattern_delete(app->store, p[0], p[1], errstr, sizeof(errstr))
                          : kp_store_topic_delete(app->store, p[0], p[1], errstr, sizeof(errstr));
        if (err) {
                kp_resp_error(resp, err, errstr);
                return;
        }
        resp->status = 204;
}

/* POST .../topics/{topic}/refresh: re-read the partition count now. */
void kp_h_topic_post(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        char key[KP_PATTERN_MAX + 16];
        json_t *doc = NULL;
        int is_pattern, changed = 0;
        if (kp_req_offload_io(req, resp))
                return;
        size_t n = strlen(p[1]);
        if (n < 9 || strcmp(p[1] + n - 8, "/refresh") || n - 8 >= sizeof(key)) {
                resp->allow = "GET, DELETE";
                kp_resp_problem(resp, 405, "POST is only allowed on .../topics/{topic}/refresh");
                return;
        }
        memcpy(key, p[1], n - 8);
        key[n - 8] = '\0';
        doc = registration_or_404(app, p[0], key, &is_pattern, resp);
        if (!doc)
                return;
        json_decref(doc);
        doc = NULL;
        int err = is_pattern ? kp_discovery_pattern(app->store, app->emb, p[0], key, 0,
                                                    app->metadata_timeout_ms, &doc, &changed,
                                                    errstr, sizeof(errstr))
                             : kp_discovery_topic(app->store, app->emb, p[0], key, 0,
                                                  app->metadata_timeout_ms, &doc, &changed, errstr,
                                                  sizeof(errstr));
        if (!err && changed)
                kp_app_partitions_changed(app, p[0]);
        discovery_answer(resp, err, errstr, doc, 0, p[0], key);
}
