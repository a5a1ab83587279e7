/* ops.c — operational endpoints: liveness, readiness, Prometheus metrics, embedded files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/assets.h"
#include "api/handlers.h"
#include "app/metrics.h"
#include "api/respond.h"
#include "db/store.h"
#include "base/util.h"

void kp_h_livez(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)app;
        (void)req;
        (void)p;
        kp_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

void kp_h_readyz(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        char errstr[256];
        (void)req;
        (void)p;
        if (kp_store_ping(app->store, errstr, sizeof(errstr))) {
                kp_resp_problem(resp, 503, "database not usable: %s", errstr);
                return;
        }
        kp_resp_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

void kp_h_metrics(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        kp_buf_t b;
        (void)req;
        (void)p;
        kp_buf_init(&b);
        kp_metrics_write(app, &b);
        if (b.oom) {
                kp_buf_cleanup(&b);
                kp_resp_problem(resp, 503, "out of memory");
                return;
        }
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = kp_buf_steal(&b, &resp->body_len);
}

void kp_h_openapi(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)app;
        (void)req;
        (void)p;
        const kp_asset_t *a = kp_asset_find("openapi.json");
        if (!a) {
                kp_resp_problem(resp, 404, "no OpenAPI document built in");
                return;
        }
        kp_resp_raw(resp, 200, "application/json", (const char *)a->data, a->len);
}

void kp_h_asset(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp, char **p)
{
        (void)app;
        const char *name = p[0] ? p[0] : "index.html";
        const kp_asset_t *a = kp_asset_find(name);
        /* openapi.json is served under /api/v1 only */
        if (!a || !strcmp(name, "openapi.json")) {
                kp_resp_problem(resp, 404, "no resource at %s", req->path);
                return;
        }
        kp_resp_raw(resp, 200, a->content_type, (const char *)a->data, a->len);
}
