/* history.c — GET /api/v1/groups/{name}/history: a running group's lag over the last minutes,
 * from the runtime's rings (no cluster contacted). */
#include <stdio.h>
#include <stdlib.h>

#include "base/config.h"
#include "base/err.h"
#include "api/handlers.h"
#include "api/respond.h"
#include "runtime/runtime.h"
#include "db/store.h"

/* Reads query parameter @p key as an integer in [@p lo, @p hi]; absent: @p dflt.
 * @returns 0, or -1 after adding a field error to @p errors. */
static int query_int(const kp_http_req_t *req, const char *key, long long lo, long long hi,
                     long long dflt, long long *out, json_t *errors, const char *why)
{
        const char *q = kp_http_query(req, key);
        char *end;
        *out = dflt;
        if (!q)
                return 0;
        long long v = strtoll(q, &end, 10);
        if (!*q || *end || v < lo || v > hi) {
                kp_field_error(errors, key, "%s", why);
                return -1;
        }
        *out = v;
        return 0;
}

/* An empty history: what a group that is not running answers. */
static void history_empty(json_t *doc)
{
        json_object_set_new(doc, "state", json_string("stopped"));
        json_object_set_new(doc, "interval_ms", json_integer(KP_RUNTIME_RATE_INTERVAL_MS));
        json_object_set_new(doc, "capacity", json_integer(0));
        json_object_set_new(doc, "partition_interval_ms",
                            json_integer(KP_RUNTIME_RATE_INTERVAL_MS * KP_HISTORY_PART_EVERY));
        json_object_set_new(doc, "partition_capacity", json_integer(0));
        json_object_set_new(doc, "samples",
                            json_pack("{s:[], s:[], s:[]}", "t", "lag", "messages_per_s"));
        json_object_set_new(doc, "partition_t", json_array());
        json_object_set_new(doc, "partitions", json_array());
}

void kp_h_group_history(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[512];
        json_t *stored = NULL, *doc = NULL, *errors = json_array();
        long long since, top;
        int err = kp_store_group_get(app->store, p[0], &stored, errstr, sizeof(errstr));
        if (err == KP_ERR_NOT_FOUND) {
                kp_resp_problem(resp, 404, "no group named %s", p[0]);
                goto out;
        }
        if (err) {
                kp_resp_error(resp, err, errstr);
                goto out;
        }
        if (!errors) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        query_int(req, "since", 0, (long long)1 << 53, 0, &since, errors,
                  "must be a time in unix milliseconds >= 0");
        query_int(req, "top", 0, KP_HISTORY_TOP_MAX, KP_HISTORY_TOP_DEFAULT, &top, errors,
                  "must be a number of partitions from 0 to KP_HISTORY_TOP_MAX (100)");
        if (json_array_size(errors)) {
                kp_resp_problem_errors(resp, 400, errors, "invalid query");
                errors = NULL; /* owned by the answer now */
                goto out;
        }
        doc = json_pack("{s:s}", "group", p[0]);
        if (!doc) {
                kp_resp_problem(resp, 500, "out of memory");
                goto out;
        }
        if (!app->rt || kp_runtime_group_history(app->rt, p[0], since, (int)top, doc))
                history_empty(doc);
        kp_resp_json(resp, 200, doc);
        doc = NULL;
out:
        json_decref(doc);
        json_decref(errors);
        json_decref(stored);
}
