/* test_http_forward.c — a request sent on to another instance: what arrives, what comes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http.h"
#include "http/http_forward.h"

/* The "leader": answers with what it received, a Location, a Retry-After and a state
 * offset, as kplane's handlers do. */
static void echo(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp)
{
        (void)opaque;
        json_t *doc = json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "method", req->method, "path",
                                req->path, "body", req->body, "type", req->content_type,
                                "forwarded", kp_http_header(req, "Kplane-Forwarded"));
        resp->body = json_dumps(doc, JSON_COMPACT);
        resp->body_len = strlen(resp->body);
        json_decref(doc);
        resp->status = 201;
        resp->content_type = "application/json";
        snprintf(resp->location, sizeof(resp->location), "/api/v1/groups/g%%20x");
        resp->extra_header = "Retry-After: 1";
        snprintf(resp->state_offset, sizeof(resp->state_offset), "42");
}

static kp_http_t *start(const char *token, char *url, size_t size)
{
        char err[256];
        kp_http_opts_t opts = {.listen = "127.0.0.1:0",
                               .api_token = token,
                               .handler = echo,
                               .threads = 2,
                               .cpu_threads = -1};
        kp_http_t *srv = kp_http_start(&opts, err, sizeof(err));
        assert_non_null(srv);
        snprintf(url, size, "http://127.0.0.1:%d/", kp_http_port(srv));
        return srv;
}

static json_t *echoed(const kp_http_forwarded_t *f)
{
        json_t *doc = json_loadb(f->body, f->body_len, 0, NULL);
        assert_non_null(doc);
        return doc;
}

/* A POST with a body arrives whole, with its type, the token and who forwarded it; the
 * answer's status, body, type, Location, Retry-After and state offset come back. */
static void test_a_write_and_its_answer_go_through(void **state)
{
        (void)state;
        char url[64], err[256];
        kp_http_t *srv = start("s3cret", url, sizeof(url));
        const char body[] = "{\"parallelism\":2}";
        kp_http_req_t req = {.method = "POST",
                             .path = "/api/v1/groups/g x/plans",
                             .body = body,
                             .body_len = strlen(body),
                             .content_type = "application/json"};
        kp_http_forwarded_t f;
        assert_int_equal(
                kp_http_forward(url, &req, "s3cret", "kp-2", 5000, 1 << 20, &f, err, sizeof(err)),
                0);
        assert_int_equal(f.status, 201);
        json_t *doc = echoed(&f);
        assert_string_equal(json_string_value(json_object_get(doc, "method")), "POST");
        assert_string_equal(json_string_value(json_object_get(doc, "path")),
                            "/api/v1/groups/g x/plans");
        assert_string_equal(json_string_value(json_object_get(doc, "body")), body);
        assert_string_equal(json_string_value(json_object_get(doc, "type")), "application/json");
        assert_string_equal(json_string_value(json_object_get(doc, "forwarded")), "kp-2");
        assert_string_equal(f.content_type, "application/json");
        assert_string_equal(f.location, "/api/v1/groups/g%20x");
        assert_int_equal(f.retry_after, 1);
        assert_int_equal(f.state_offset, 42);
        json_decref(doc);
        kp_http_forward_cleanup(&f);
        /* without the token the other instance refuses it, as it would the client */
        assert_int_equal(
                kp_http_forward(url, &req, NULL, "kp-2", 5000, 1 << 20, &f, err, sizeof(err)), 0);
        assert_int_equal(f.status, 401);
        kp_http_forward_cleanup(&f);
        kp_http_stop(srv);
}

/* A DELETE (or a POST like start) without a body goes without one: an empty body with no
 * type would be refused (415). */
static void test_a_request_without_a_body_goes_without_one(void **state)
{
        (void)state;
        char url[64], err[256];
        kp_http_t *srv = start(NULL, url, sizeof(url));
        const char *methods[] = {"DELETE", "POST"};
        for (int i = 0; i < 2; i++) {
                kp_http_req_t req = {.method = methods[i], .path = "/api/v1/groups/g"};
                kp_http_forwarded_t f;
                assert_int_equal(kp_http_forward(url, &req, NULL, "kp-2", 5000, 1 << 20, &f, err,
                                                 sizeof(err)),
                                 0);
                assert_int_equal(f.status, 201);
                json_t *doc = echoed(&f);
                assert_string_equal(json_string_value(json_object_get(doc, "method")), methods[i]);
                assert_true(json_is_null(json_object_get(doc, "body")));
                json_decref(doc);
                kp_http_forward_cleanup(&f);
        }
        kp_http_stop(srv);
}

/* Nobody listening, or an answer over the limit: KP_ERR_UNAVAILABLE with a reason. */
static void test_no_answer_is_unavailable(void **state)
{
        (void)state;
        char url[64], err[256] = "";
        kp_http_req_t req = {.method = "POST", .path = "/api/v1/clusters"};
        kp_http_forwarded_t f;
        kp_http_t *srv = start(NULL, url, sizeof(url));
        assert_int_equal(kp_http_forward(url, &req, NULL, "kp-2", 5000, 8, &f, err, sizeof(err)),
                         KP_ERR_UNAVAILABLE);
        assert_string_equal(err, "its answer is too large");
        kp_http_stop(srv);
        assert_int_equal(
                kp_http_forward(url, &req, NULL, "kp-2", 2000, 1 << 20, &f, err, sizeof(err)),
                KP_ERR_UNAVAILABLE);
        assert_true(err[0]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_write_and_its_answer_go_through),
                cmocka_unit_test(test_a_request_without_a_body_goes_without_one),
                cmocka_unit_test(test_no_answer_is_unavailable),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
