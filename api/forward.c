/* forward.c — several instances: a follower sends each write on to the leader (issue 15). */
#include <stdio.h>
#include <string.h>

#include "api/handlers.h"
#include "api/respond.h"
#include "base/config.h"
#include "coord/coord.h"
#include "http/http_forward.h"

/*
 * Only the leader writes the state log (server/coord/coord_state.c). Any instance answers
 * any request: a follower forwards a write (POST, PUT, DELETE on a state resource; what-if
 * plans are computations and stay here) to the leader's advertised URL, passes its answer
 * back, and first waits until its own database applied the log up to the offset the leader
 * reported (Kplane-State-Offset), so the client reads its write here too. A forwarded
 * request is never forwarded again: an instance that no longer leads answers 503, and the
 * client retries (Retry-After) once the group named the new leader.
 */

/* 1 when a request of @p method on route @p pattern changes the shared state. */
static int is_write(const char *method, const char *pattern)
{
        if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
                return 0;
        return strcmp(pattern, "/api/v1/plan") && strcmp(pattern, "/api/v1/plan/sweep");
}

static void unavailable(kp_http_resp_t *resp, const char *fmt, const char *arg)
{
        kp_resp_problem(resp, 503, fmt, arg);
        resp->extra_header = "Retry-After: " KP_COORD_FORWARD_RETRY_AFTER_S;
}

/* A static content type for the leader's (the answer's type must outlive the request). */
static const char *content_type_of(const char *ct)
{
        if (strstr(ct, "problem+json"))
                return "application/problem+json";
        if (strstr(ct, "json"))
                return "application/json";
        return ct[0] ? "text/plain; charset=utf-8" : NULL;
}

/* Sends the request to the leader at @p url and answers with what it said. */
static void forward(kp_app_t *app, kp_coord_t *c, const char *url, const kp_http_req_t *req,
                    kp_http_resp_t *resp)
{
        kp_http_t *http = __atomic_load_n(&app->http, __ATOMIC_ACQUIRE);
        kp_http_forwarded_t f;
        char errstr[512];
        if (kp_http_forward(url, req, http ? kp_http_api_token(http) : NULL,
                            kp_coord_instance_id(c), KP_COORD_FORWARD_TIMEOUT_MS,
                            KP_COORD_FORWARD_BODY_MAX, &f, errstr, sizeof(errstr))) {
                char detail[KP_COORD_URL_MAX + 600];
                snprintf(detail, sizeof(detail), "the leader at %s did not answer: %s", url,
                         errstr);
                unavailable(resp, "%s", detail);
                return;
        }
        /* read-your-writes: past the leader's offset, this database holds the write (a
         * timeout still passes the leader's answer on: the write was made) */
        if (f.state_offset >= 0)
                kp_coord_state_wait(c, f.state_offset, KP_COORD_STATE_TIMEOUT_MS);
        resp->status = f.status;
        resp->body = f.body;
        resp->body_len = f.body_len;
        f.body = NULL;
        resp->content_type = content_type_of(f.content_type);
        snprintf(resp->location, sizeof(resp->location), "%s", f.location);
        if (f.retry_after > 0)
                resp->extra_header = "Retry-After: " KP_COORD_FORWARD_RETRY_AFTER_S;
        kp_http_forward_cleanup(&f);
}

int kp_api_forward(kp_app_t *app, const char *pattern, const kp_http_req_t *req,
                   kp_http_resp_t *resp)
{
        kp_coord_t *c = __atomic_load_n(&app->coord, __ATOMIC_ACQUIRE);
        char url[KP_COORD_URL_MAX + 2];
        if (!c || !is_write(req->method, pattern))
                return 0;
        int target = kp_coord_write_target(c, url, sizeof(url));
        if (!req->offloaded && kp_coord_state_next(c) >= 0) {
                if (target != 1 && kp_http_header(req, "Kplane-Forwarded")) {
                        unavailable(resp, "%s", "this instance no longer leads the service: retry");
                        return 1;
                }
                /* a write waits on Kafka (the leader's transaction) or on the leader (a
                 * forward): never on an MHD thread, which serves other connections */
                resp->offload = KP_HTTP_OFFLOAD_IO;
                return 1;
        }
        if (target == 1)
                return 0; /* this instance writes */
        if (target < 0)
                unavailable(resp, "%s", "no leader of the service is known yet: retry");
        else
                forward(app, c, url, req, resp);
        return 1;
}

void kp_api_state_offset(kp_app_t *app, const kp_http_req_t *req, kp_http_resp_t *resp)
{
        kp_coord_t *c = __atomic_load_n(&app->coord, __ATOMIC_ACQUIRE);
        int64_t next = c ? kp_coord_state_next(c) : -1;
        if (next >= 0 && strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
                snprintf(resp->state_offset, sizeof(resp->state_offset), "%lld", (long long)next);
}
