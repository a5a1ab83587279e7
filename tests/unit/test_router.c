/* test_router.c — api/api.c's router: which handler a method and path reach, what the
 * captures hold, 404 / 405 / 414 for the rest, and a %00 in the URL refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "api/api.h"
#include "app/app.h"
#include "base/config.h"
#include "db/store.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct fixture {
        kp_app_t app;
        char dir[64];
        char db[128];
} fixture_t;

static int setup(void **state)
{
        char errstr[512];
        fixture_t *f = calloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/kp-test-router-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->db, sizeof(f->db), "%s/kplane.db", f->dir);
        assert_int_equal(kp_app_init(&f->app), 0);
        f->app.store = kp_store_open(f->db, errstr, sizeof(errstr));
        assert_non_null(f->app.store);
        /* a registered cluster, so that lookups below it get as far as their own names */
        json_t *doc = json_pack("{s:s, s:s, s:b, s:{}, s:s, s:s}", "name", "c1",
                                "bootstrap_servers", "127.0.0.1:1", "embedded", 0, "config",
                                "created_at", "x", "updated_at", "x");
        assert_int_equal(kp_store_cluster_create(f->app.store, "c1", doc, errstr, sizeof(errstr)),
                         0);
        json_decref(doc);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture_t *f = *state;
        char path[160];
        kp_store_close(f->app.store);
        kp_app_cleanup(&f->app);
        static const char *const files[] = {"kplane.db", "kplane.db-wal", "kplane.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
                unlink(path);
        }
        rmdir(f->dir);
        free(f);
        return 0;
}

/* Routes @p method @p path (run as in a pool thread: no offload) into @p resp. */
static void route(fixture_t *f, const char *method, const char *path, kp_http_resp_t *resp)
{
        kp_http_req_t req = {.method = method, .path = path, .offloaded = 1};
        free(resp->body);
        memset(resp, 0, sizeof(*resp));
        kp_api_handle(&f->app, &req, resp);
}

/* @returns 1 when the answer's body holds @p text. */
static int body_has(const kp_http_resp_t *resp, const char *text)
{
        return resp->body && memmem(resp->body, resp->body_len, text, strlen(text)) != NULL;
}

static void test_routes_match_method_and_path(void **state)
{
        fixture_t *f = *state;
        kp_http_resp_t resp = {0};
        route(f, "GET", "/livez", &resp);
        assert_int_equal(resp.status, 200);
        route(f, "HEAD", "/livez", &resp); /* HEAD is GET without the body (MHD drops it) */
        assert_int_equal(resp.status, 200);
        route(f, "GET", "/api/v1/clusters", &resp);
        assert_int_equal(resp.status, 200);
        assert_true(body_has(&resp, "\"c1\""));
        /* a trailing slash names the same resource */
        route(f, "GET", "/api/v1/clusters/", &resp);
        assert_int_equal(resp.status, 200);
        assert_true(body_has(&resp, "\"c1\""));
        free(resp.body);
}

static void test_captures_hold_one_segment_or_the_rest(void **state)
{
        fixture_t *f = *state;
        kp_http_resp_t resp = {0};
        route(f, "GET", "/api/v1/clusters/c1", &resp);
        assert_int_equal(resp.status, 200);
        assert_true(body_has(&resp, "\"name\": \"c1\"") || body_has(&resp, "\"name\":\"c1\""));
        route(f, "GET", "/api/v1/clusters/c2/topics", &resp);
        assert_int_equal(resp.status, 404);
        assert_true(body_has(&resp, "no cluster named c2"));
        /* "**" keeps its slashes: a URL-encoded pattern may hold them */
        route(f, "GET", "/api/v1/clusters/c1/topics/a/b", &resp);
        assert_int_equal(resp.status, 404);
        assert_true(body_has(&resp, "no topic or pattern a/b registered on cluster c1"));
        /* ".../refresh" is cut off the capture by the handler */
        route(f, "POST", "/api/v1/clusters/c1/topics/a/b/refresh", &resp);
        assert_int_equal(resp.status, 404);
        assert_true(body_has(&resp, "no topic or pattern a/b registered on cluster c1"));
        route(f, "GET", "/api/v1/groups/g1/plans/current", &resp);
        assert_int_equal(resp.status, 404);
        assert_true(body_has(&resp, "no group named g1"));
        free(resp.body);
}

static void test_unknown_paths_are_404(void **state)
{
        fixture_t *f = *state;
        kp_http_resp_t resp = {0};
        static const char *const paths[] = {"/api/v2/clusters", "/api/v1/clusters/c1/nope",
                                            "/api/v1//clusters", "/a/b/c",
                                            "/api/v1/groups/g/plans/1/diff/x"};
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
                route(f, "GET", paths[i], &resp);
                assert_int_equal(resp.status, 404);
                assert_null(resp.allow);
        }
        /* more segments than any route has */
        route(f, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r", &resp);
        assert_int_equal(resp.status, 404);
        free(resp.body);
}

static void test_a_known_path_with_another_method_is_405_with_allow(void **state)
{
        fixture_t *f = *state;
        kp_http_resp_t resp = {0};
        route(f, "DELETE", "/livez", &resp);
        assert_int_equal(resp.status, 405);
        assert_string_equal(resp.allow, "GET");
        route(f, "PATCH", "/api/v1/clusters/c1", &resp);
        assert_int_equal(resp.status, 405);
        assert_string_equal(resp.allow, "GET, PUT, DELETE");
        route(f, "GET", "/api/v1/groups/g/start", &resp);
        assert_int_equal(resp.status, 405);
        assert_string_equal(resp.allow, "POST");
        free(resp.body);
}

static void test_a_too_long_path_is_414(void **state)
{
        fixture_t *f = *state;
        kp_http_resp_t resp = {0};
        char *path = malloc(KP_HTTP_MAX_URL + 2);
        path[0] = '/';
        memset(path + 1, 'a', KP_HTTP_MAX_URL);
        path[KP_HTTP_MAX_URL + 1] = '\0';
        route(f, "GET", path, &resp);
        assert_int_equal(resp.status, 414);
        free(path);
        free(resp.body);
}

/* Sends @p request to 127.0.0.1:@p port; @returns the status of the answer, -1 when none. */
static int http_status(int port, const char *request)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        char buf[512];
        int status = -1;
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct timeval tv = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (!connect(fd, (struct sockaddr *)&sin, sizeof(sin)) &&
            write(fd, request, strlen(request)) == (ssize_t)strlen(request)) {
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                if (n > 12) {
                        buf[n] = '\0';
                        status = atoi(buf + 9);
                }
        }
        close(fd);
        return status;
}

static void test_a_nul_in_the_url_is_400_not_a_shorter_name(void **state)
{
        fixture_t *f = *state;
        char errstr[512];
        kp_http_opts_t opts = {.listen = "127.0.0.1:0",
                               .handler = kp_api_handle,
                               .opaque = &f->app,
                               .threads = 2,
                               .cpu_threads = -1};
        kp_http_t *http = kp_http_start(&opts, errstr, sizeof(errstr));
        assert_non_null(http);
        int port = kp_http_port(http);
        assert_int_equal(http_status(port, "GET /api/v1/clusters/c1 HTTP/1.0\r\n\r\n"), 200);
        /* MHD decodes %00 to a NUL: without the router's check this would answer as c1 */
        assert_int_equal(http_status(port, "GET /api/v1/clusters/c1%00junk HTTP/1.0\r\n\r\n"), 400);
        kp_http_stop(http);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_routes_match_method_and_path, setup, teardown),
                cmocka_unit_test_setup_teardown(test_captures_hold_one_segment_or_the_rest, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_unknown_paths_are_404, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_a_known_path_with_another_method_is_405_with_allow, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_too_long_path_is_414, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_nul_in_the_url_is_400_not_a_shorter_name,
                                                setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
