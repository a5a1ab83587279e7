/* api.c — the router: matches method and path to a handler; 404/405 for the rest. */
#include "api/api.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "api/handlers.h"
#include "api/respond.h"
#include "http/url.h"
#include "base/util.h"

enum { GET, POST, PUT, DELETE, METHODS };

typedef struct route {
        /* segments separated by '/'; "*" matches one segment, "**" (last) the rest */
        const char *pattern;
        kp_handler_t *h[METHODS];
        const char *allow;
} route_t;

static const route_t routes[] = {
        {"/livez", {kp_h_livez}, "GET"},
        {"/readyz", {kp_h_readyz}, "GET"},
        {"/metrics", {kp_h_metrics}, "GET"},
        {"/api/v1/openapi.json", {kp_h_openapi}, "GET"},
        {"/api/v1/clusters", {kp_h_clusters_list, kp_h_cluster_create}, "GET, POST"},
        {"/api/v1/clusters/*",
         {kp_h_cluster_get, NULL, kp_h_cluster_put, kp_h_cluster_delete},
         "GET, PUT, DELETE"},
        {"/api/v1/clusters/*/metadata", {kp_h_cluster_metadata}, "GET"},
        {"/api/v1/clusters/*/topics", {kp_h_topics_list, kp_h_topic_create}, "GET, POST"},
        /* a topic name, a URL-encoded pattern, or ".../refresh" (POST) */
        {"/api/v1/clusters/*/topics/**",
         {kp_h_topic_get, kp_h_topic_post, NULL, kp_h_topic_delete},
         "GET, POST, DELETE"},
        {"/api/v1/groups", {kp_h_groups_list, kp_h_group_create}, "GET, POST"},
        {"/api/v1/groups/*",
         {kp_h_group_get, NULL, kp_h_group_put, kp_h_group_delete},
         "GET, PUT, DELETE"},
        {"/api/v1/groups/*/plans", {kp_h_plans_list, kp_h_plan_create}, "GET, POST"},
        {"/api/v1/groups/*/plans/*", {kp_h_plan_get}, "GET"},
        /* beyond API.md: which partitions change owner between two plan versions */
        {"/api/v1/groups/*/plans/*/diff", {kp_h_plan_diff}, "GET"},
        {"/api/v1/groups/*/start", {NULL, kp_h_group_start}, "POST"},
        {"/api/v1/groups/*/stop", {NULL, kp_h_group_stop}, "POST"},
        {"/api/v1/groups/*/status", {kp_h_group_status}, "GET"},
        {"/api/v1/groups/*/history", {kp_h_group_history}, "GET"},
        {"/api/v1/instances", {kp_h_instances}, "GET"},
        {"/api/v1/plan", {NULL, kp_h_whatif}, "POST"},
        {"/api/v1/plan/sweep", {NULL, kp_h_sweep}, "POST"},
        /* beyond API.md: every group and cluster in figures, for the landing page */
        {"/api/v1/overview", {kp_h_overview}, "GET"},
        {"/", {kp_h_asset}, "GET"},
        {"/*", {kp_h_asset}, "GET"},
};

/* Finds the segments of @p path ("/a/b" → "a/b", "b") and their lengths: pointers into
 * it, nothing cut yet. @returns the count, or -1 when there are too many or an empty one. */
static int split_path(char *path, char **segs, size_t *lens)
{
        int n = 0;
        char *s = path;
        if (!strcmp(path, "/"))
                return 0;
        while (s && *s == '/') {
                s++;
                if (n >= KP_ROUTE_SEGS_MAX || *s == '/' || !*s)
                        return -1;
                segs[n] = s;
                s = strchr(s, '/');
                lens[n] = s ? (size_t)(s - segs[n]) : strlen(segs[n]);
                n++;
        }
        return n;
}

/* A route's pattern cut into segments once (route_compile): matching a request against
 * the table is then length and memcmp checks, no string scans (a scan of every pattern
 * per request was a quarter of a GET's own instructions, perf and callgrind). */
typedef struct route_seg {
        const char *s; /* into the pattern */
        size_t len;
        enum { SEG_LIT, SEG_ONE, SEG_REST } kind; /* a word, "*", "**" (last) */
} route_seg_t;

typedef struct route_pat {
        int nseg;
        route_seg_t seg[KP_ROUTE_SEGS_MAX];
} route_pat_t;

static route_pat_t compiled[sizeof(routes) / sizeof(routes[0])];
static pthread_once_t compiled_once = PTHREAD_ONCE_INIT;

static void route_compile_one(const char *pattern, route_pat_t *rp)
{
        const char *p = pattern;
        rp->nseg = 0;
        if (!strcmp(pattern, "/"))
                return;
        while (*p == '/' && rp->nseg < KP_ROUTE_SEGS_MAX) {
                route_seg_t *sg = &rp->seg[rp->nseg++];
                sg->s = p + 1;
                sg->len = strcspn(sg->s, "/");
                sg->kind = sg->len == 2 && !strncmp(sg->s, "**", 2) ? SEG_REST
                           : sg->len == 1 && sg->s[0] == '*'        ? SEG_ONE
                                                                    : SEG_LIT;
                p = sg->s + sg->len;
        }
}

static void route_compile(void)
{
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                route_compile_one(routes[i].pattern, &compiled[i]);
}

/* Matches the segments against a compiled pattern; fills params (pointing into the
 * path). */
static int route_match(const route_pat_t *rp, char **segs, const size_t *lens, int nseg,
                       char **params, int *rest)
{
        int np = 0;
        *rest = 0;
        if (rp->nseg > nseg ||
            (rp->nseg < nseg && !(rp->nseg && rp->seg[rp->nseg - 1].kind == SEG_REST)))
                return 0;
        for (int i = 0; i < rp->nseg; i++) {
                const route_seg_t *sg = &rp->seg[i];
                if (sg->kind == SEG_LIT) {
                        if (sg->len != lens[i] || memcmp(sg->s, segs[i], lens[i]))
                                return 0;
                        continue;
                }
                if (np >= KP_ROUTE_PARAMS_MAX)
                        return 0;
                params[np++] = segs[i];
                if (sg->kind == SEG_REST) {
                        *rest = 1;
                        return 1;
                }
        }
        return 1;
}

static int method_index(const char *m)
{
        if (!strcmp(m, "GET") || !strcmp(m, "HEAD"))
                return GET;
        if (!strcmp(m, "POST"))
                return POST;
        if (!strcmp(m, "PUT"))
                return PUT;
        if (!strcmp(m, "DELETE"))
                return DELETE;
        return -1;
}

void kp_api_handle(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp)
{
        kp_app_t *app = opaque;
        char path[KP_HTTP_MAX_URL + 1];
        char *segs[KP_ROUTE_SEGS_MAX];
        size_t lens[KP_ROUTE_SEGS_MAX];
        /* MHD hands the decoded path over as a C string: a %00 would cut it short and
         * /clusters/c1%00junk would answer as c1. No name kplane serves holds a NUL. */
        if (kp_url_had_nul(req->conn)) {
                kp_resp_problem(resp, 400, "request URL contains a NUL byte (%%00)");
                return;
        }
        /* every name is UTF-8 (JSON), so a path that is not names nothing; said here,
         * without echoing it, rather than as a 404 whose detail cannot be JSON */
        if (!kp_utf8_valid(req->path)) {
                kp_resp_problem(resp, 400, "request path is not valid UTF-8 once decoded");
                return;
        }
        size_t n = strlen(req->path);
        if (n > KP_HTTP_MAX_URL) {
                kp_resp_problem(resp, 414, "request URL is too long");
                return;
        }
        memcpy(path, req->path, n + 1);
        /* a trailing slash names the same resource */
        if (n > 1 && path[n - 1] == '/')
                path[n - 1] = '\0';
        int nseg = split_path(path, segs, lens);
        if (nseg < 0) {
                kp_resp_problem(resp, 404, "no resource at %s", req->path);
                return;
        }
        int m = method_index(req->method);
        pthread_once(&compiled_once, route_compile);
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
                char *params[KP_ROUTE_PARAMS_MAX] = {0};
                int rest;
                if (!route_match(&compiled[i], segs, lens, nseg, params, &rest))
                        continue;
                if (m < 0 || !routes[i].h[m]) {
                        resp->allow = routes[i].allow;
                        kp_resp_problem(resp, 405, "%s is not allowed on %s (allowed: %s)",
                                        req->method, req->path, routes[i].allow);
                        return;
                }
                /* cut the captured segments apart; a "**" capture keeps its slashes */
                for (int k = 0; k < KP_ROUTE_PARAMS_MAX && params[k]; k++) {
                        if (rest && (k + 1 == KP_ROUTE_PARAMS_MAX || !params[k + 1]))
                                break;
                        char *slash = strchr(params[k], '/');
                        if (slash)
                                *slash = '\0';
                }
                if (kp_api_forward(app, routes[i].pattern, req, resp))
                        return;
                routes[i].h[m](app, req, resp, params);
                kp_api_state_offset(app, req, resp);
                return;
        }
        kp_resp_problem(resp, 404, "no resource at %s", req->path);
}
