/* respond.c — building answers (JSON, problem+json) and reading JSON bodies, for handlers. */
#include "api/respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/err.h"
#include "base/util.h"

static const char *status_title(int status)
{
        switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 503: return "Service Unavailable";
        default: return "Internal Server Error";
        }
}

static const char *status_type(int status)
{
        switch (status) {
        case 400: return "urn:kplane:problem:invalid-request";
        case 401: return "urn:kplane:problem:unauthorized";
        case 404: return "urn:kplane:problem:not-found";
        case 405: return "urn:kplane:problem:method-not-allowed";
        case 409: return "urn:kplane:problem:conflict";
        case 413: return "urn:kplane:problem:too-large";
        case 415: return "urn:kplane:problem:unsupported-media-type";
        case 422: return "urn:kplane:problem:unprocessable";
        case 503: return "urn:kplane:problem:unavailable";
        default: return "urn:kplane:problem:internal";
        }
}

void kp_resp_raw(kp_http_resp_t *resp, int status, const char *content_type, const char *body,
                 size_t len)
{
        free(resp->body);
        resp->body = malloc(len + 1);
        if (!resp->body) {
                resp->status = 503;
                resp->body_len = 0;
                return;
        }
        memcpy(resp->body, body, len);
        resp->body[len] = '\0';
        resp->body_len = len;
        resp->status = status;
        resp->content_type = content_type;
}

void kp_resp_take(kp_http_resp_t *resp, int status, const char *content_type, kp_buf_t *b)
{
        free(resp->body);
        resp->body = kp_buf_steal(b, &resp->body_len);
        resp->status = status;
        resp->content_type = content_type;
}

void kp_resp_json(kp_http_resp_t *resp, int status, json_t *doc)
{
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text) {
                kp_resp_problem(resp, 500, "could not serialise the answer");
                return;
        }
        free(resp->body);
        resp->body = text;
        resp->body_len = strlen(text);
        resp->status = status;
        resp->content_type = "application/json";
}

static void problem_v(kp_http_resp_t *resp, int status, json_t *errors, const char *fmt, va_list ap)
{
        char detail[1024];
        vsnprintf(detail, sizeof(detail), fmt, ap);
        /* a detail may echo a name from the path or the query: jansson refuses a string
         * that is not UTF-8, and the answer was an empty body */
        kp_utf8_scrub(detail);
        json_t *doc = json_pack("{s:s, s:s, s:i, s:s}", "type", status_type(status), "title",
                                status_title(status), "status", status, "detail", detail);
        if (doc && errors)
                json_object_set_new(doc, "errors", errors);
        else
                json_decref(errors);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        free(resp->body);
        resp->body = text;
        resp->body_len = text ? strlen(text) : 0;
        resp->status = status;
        resp->content_type = "application/problem+json";
}

void kp_resp_problem(kp_http_resp_t *resp, int status, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        problem_v(resp, status, NULL, fmt, ap);
        va_end(ap);
}

void kp_resp_problem_errors(kp_http_resp_t *resp, int status, json_t *errors, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        problem_v(resp, status, errors, fmt, ap);
        va_end(ap);
}

int kp_resp_status_of(int err)
{
        switch (err) {
        case KP_ERR_INVALID: return 400;
        case KP_ERR_NOT_FOUND: return 404;
        case KP_ERR_EXISTS:
        case KP_ERR_IN_USE:
        case KP_ERR_CONFLICT: return 409;
        case KP_ERR_UNPROCESSABLE: return 422;
        case KP_ERR_UNAVAILABLE: return 503;
        case KP_ERR_TOO_LARGE: return 413;
        default: return 500;
        }
}

void kp_resp_error(kp_http_resp_t *resp, int err, const char *errstr)
{
        kp_resp_problem(resp, kp_resp_status_of(err), "%s",
                        errstr && errstr[0] ? errstr : kp_err_name(err));
}

void kp_resp_list(kp_http_resp_t *resp, int err, const char *errstr, json_t *arr,
                  kp_resp_view_t *view, void *ctx)
{
        if (err) {
                json_decref(arr);
                kp_resp_error(resp, err, errstr);
                return;
        }
        json_t *items = arr;
        if (view) {
                size_t i;
                json_t *doc;
                items = json_array();
                json_array_foreach(arr, i, doc) json_array_append_new(items, view(ctx, doc));
                json_decref(arr);
        }
        kp_resp_json(resp, 200, json_pack("{s:o}", "items", items));
}

int kp_req_json(const kp_http_req_t *req, kp_http_resp_t *resp, int required, json_t **bodyp)
{
        json_error_t jerr;
        *bodyp = NULL;
        if (!req->body_len) {
                if (!required)
                        return 0;
                kp_resp_problem(resp, 400, "a JSON object body is required");
                return -1;
        }
        /* The media type was checked at the door (server/http/http_admit.c): a mutating
         * request with a body, or with any Content-Type, is application/json by now. */
        json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!body) {
                kp_resp_problem(resp, 400, "malformed JSON at line %d, column %d: %s", jerr.line,
                                jerr.column, jerr.text);
                return -1;
        }
        if (!json_is_object(body)) {
                json_decref(body);
                kp_resp_problem(resp, 400, "request body must be a JSON object");
                return -1;
        }
        *bodyp = body;
        return 0;
}

int kp_req_offload_io(const kp_http_req_t *req, kp_http_resp_t *resp)
{
        if (req->offloaded)
                return 0;
        resp->offload = KP_HTTP_OFFLOAD_IO;
        return 1;
}

void kp_field_error(json_t *errors, const char *field, const char *fmt, ...)
{
        char msg[512], f[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(f, sizeof(f), "%s", field);
        kp_utf8_scrub(msg);
        kp_utf8_scrub(f);
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", f, "message", msg));
}

void kp_field_strategy_check(json_t *errors, const char *field, const json_t *v, kp_strategy_t *sp)
{
        kp_strategy_t s;
        char names[256];
        if (!v)
                return;
        if (json_is_string(v) && !kp_strategy_parse(json_string_value(v), &s)) {
                if (sp)
                        *sp = s;
                return;
        }
        kp_field_error(errors, field, "must be one of %s",
                       kp_strategy_names(", ", names, sizeof(names)));
}

int kp_fields_check(const json_t *obj, const char *const *allowed, const char *prefix,
                    json_t *errors)
{
        const char *key;
        json_t *v;
        int n = 0;
        json_object_foreach((json_t *)obj, key, v)
        {
                int ok = 0;
                for (const char *const *a = allowed; *a; a++)
                        if (!strcmp(*a, key))
                                ok = 1;
                if (!ok) {
                        char field[512];
                        snprintf(field, sizeof(field), "%s%s%s", prefix, prefix[0] ? "." : "", key);
                        kp_field_error(errors, field, "unknown field");
                        n++;
                }
        }
        return n;
}

const char *kp_name_field(const json_t *body, const char *path_name, json_t *errors)
{
        json_t *jname = json_object_get(body, "name");
        const char *name = json_string_value(jname);
        if (path_name) {
                if (jname && (!name || strcmp(name, path_name)))
                        kp_field_error(errors, "name", "must equal the name in the path (%s)",
                                       path_name);
                return path_name;
        }
        if (!jname)
                kp_field_error(errors, "name", "is required");
        else if (!kp_name_valid(name))
                kp_field_error(errors, "name", "must match " KP_NAME_RULE);
        return name;
}
