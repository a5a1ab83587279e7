/* test_http_admit.c — http/http_admit: what the front door refuses from headers alone (framing,
 * Host, cross-origin writes, non-JSON bodies, 413/414/415), behind a real libmicrohttpd daemon. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "base/config.h"
#include "http/http_admit.h"

/* A daemon whose every request is judged on its first call, as http.c does: refused with
 * the refusal's status and "detail" as the body (and Connection: close when it says so),
 * or 200 "admitted". No body is ever read. */
static enum MHD_Result judge(void *cls, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, const char *upload_data,
                             size_t *upload_data_size, void **con_cls)
{
        kp_http_refusal_t ref = {200, "OK", "admitted", 0};
        (void)cls;
        (void)upload_data;
        (void)upload_data_size;
        (void)con_cls;
        /* ref gets the first refusal, or stays "admitted" */
        if (!kp_http_admit_framing(conn, version, &ref))
                kp_http_admit_request(conn, method, url, &ref);
        struct MHD_Response *r = MHD_create_response_from_buffer(
                strlen(ref.detail), (void *)ref.detail, MHD_RESPMEM_MUST_COPY);
        if (ref.close)
                MHD_add_response_header(r, "Connection", "close");
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)ref.status, r);
        MHD_destroy_response(r);
        return ret;
}

static struct MHD_Daemon *daemon_start(int *port)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, judge, NULL, MHD_OPTION_SOCK_ADDR,
                (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t)KP_HTTP_CONNECTION_MEMORY_LIMIT, MHD_OPTION_END);
        assert_non_null(d);
        *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
        return d;
}

/* An answer: its status, its body, and whether the server closed the connection. */
typedef struct answer {
        int status;
        char body[512];
        int closes;
} answer_t;

/* Sends @p req on a fresh connection and reads one response (headers, then Content-Length
 * bytes of body), at most 10 s. */
static answer_t exchange(int port, const char *req)
{
        answer_t a = {0};
        char buf[8192];
        size_t len = 0;
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {10, 0};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        char *end = NULL;
        while (!end || len < (size_t)(end - buf) + 4 + strlen(a.body)) {
                ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
                if (n <= 0)
                        break;
                len += (size_t)n;
                buf[len] = '\0';
                end = strstr(buf, "\r\n\r\n");
                if (!end)
                        continue;
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
                if (len >= (size_t)(end - buf) + 4 + body) {
                        snprintf(a.body, sizeof(a.body), "%.*s", (int)body, end + 4);
                        break;
                }
        }
        assert_non_null(end);
        assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &a.status), 1);
        *end = '\0';
        a.closes = strcasestr(buf, "\r\nConnection: close") != NULL;
        close(fd);
        return a;
}

static void test_ambiguous_framing_is_refused_and_the_connection_closed(void **state)
{
        int port = *(int *)*state;
        answer_t a;
        a = exchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                           "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(a.body, "together are ambiguous"));
        assert_true(a.closes);
        a = exchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
                           "Content-Length: 2\r\n\r\n{}");
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(a.body, "Content-Length must be one number"));
        assert_true(a.closes);
        a = exchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(a.body, "Transfer-Encoding must be one header of HTTP/1.1"));
        a = exchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_int_equal(a.status, 501);
        assert_true(a.closes);
        a = exchange(port, "GET /x HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n");
        assert_int_equal(a.status, 400);
        assert_non_null(strstr(a.body, "exactly one Host"));
        assert_true(a.closes);
}

static void test_sound_framing_is_admitted_http10_without_host_too(void **state)
{
        int port = *(int *)*state;
        answer_t a = exchange(port, "GET /x HTTP/1.0\r\n\r\n");
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "admitted");
        a = exchange(port, "GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        assert_int_equal(a.status, 200);
        a = exchange(port, "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n");
        assert_int_equal(a.status, 200);
}

static void test_urls_over_kp_http_max_url_are_414(void **state)
{
        int port = *(int *)*state;
        char req[KP_HTTP_MAX_URL + 128];
        snprintf(req, sizeof(req), "GET /%0*d HTTP/1.1\r\nHost: h\r\n\r\n", KP_HTTP_MAX_URL - 1, 0);
        assert_int_equal(exchange(port, req).status, 200); /* exactly KP_HTTP_MAX_URL */
        snprintf(req, sizeof(req), "GET /%0*d HTTP/1.1\r\nHost: h\r\n\r\n", KP_HTTP_MAX_URL, 0);
        answer_t a = exchange(port, req);
        assert_int_equal(a.status, 414);
        assert_string_equal(a.body, "request URL is too long");
}

/* A write from another origin (a browser says so) is 403; reads and other clients are not. */
static void test_cross_origin_writes_are_refused_reads_and_other_clients_are_not(void **state)
{
        int port = *(int *)*state;
        const char *head =
                "POST /x HTTP/1.1\r\nHost: kp:8080\r\nContent-Type: application/json\r\n";
        char req[512];
        const char *refused[] = {"Origin: http://evil.example\r\n", "Origin: null\r\n",
                                 "Origin: http://kp:9090\r\n", "Sec-Fetch-Site: cross-site\r\n",
                                 "Sec-Fetch-Site: same-site\r\n"};
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                snprintf(req, sizeof(req), "%s%s\r\n", head, refused[i]);
                answer_t a = exchange(port, req);
                assert_int_equal(a.status, 403);
                assert_non_null(strstr(a.body, "own origin"));
        }
        const char *admitted[] = {"Origin: http://kp:8080\r\n", "Origin: https://KP:8080\r\n",
                                  "Sec-Fetch-Site: same-origin\r\n", ""};
        for (size_t i = 0; i < sizeof(admitted) / sizeof(admitted[0]); i++) {
                snprintf(req, sizeof(req), "%s%s\r\n", head, admitted[i]);
                assert_int_equal(exchange(port, req).status, 200);
        }
        assert_int_equal(exchange(port, "GET /x HTTP/1.1\r\nHost: kp:8080\r\n"
                                        "Origin: http://evil.example\r\n\r\n")
                                 .status,
                         200);
        assert_int_equal(exchange(port, "DELETE /x HTTP/1.1\r\nHost: kp:8080\r\n"
                                        "Sec-Fetch-Site: cross-site\r\n\r\n")
                                 .status,
                         403);
}

static void test_a_write_body_must_be_json_415(void **state)
{
        int port = *(int *)*state;
        const char *refused[] = {
                "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\r\n",
                "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/jsonx\r\n\r\n",
                "PATCH /x HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data\r\n\r\n",
                "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
                "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        };
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
                answer_t a = exchange(port, refused[i]);
                assert_int_equal(a.status, 415);
                assert_non_null(strstr(a.body, "application/json"));
        }
        const char *admitted[] = {
                "POST /x HTTP/1.1\r\nHost: h\r\n\r\n", /* no body, no type */
                "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json; charset=utf-8\r\n"
                "\r\n",
                "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: Application/JSON \r\n\r\n",
                "GET /x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\r\n", /* a read */
        };
        for (size_t i = 0; i < sizeof(admitted) / sizeof(admitted[0]); i++)
                assert_int_equal(exchange(port, admitted[i]).status, 200);
}

static void test_a_declared_body_over_the_limit_is_413_before_it_is_read(void **state)
{
        int port = *(int *)*state;
        char req[256];
        snprintf(req, sizeof(req),
                 "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n",
                 KP_HTTP_MAX_BODY + 1);
        answer_t a = exchange(port, req);
        assert_int_equal(a.status, 413);
        assert_string_equal(a.body, "request body is over the 1 MiB limit");
        assert_true(a.closes);
        snprintf(req, sizeof(req),
                 "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n\r\n",
                 KP_HTTP_MAX_BODY);
        assert_int_equal(exchange(port, req).status, 200);
}

/* The same rule for a chunked body counted as it arrives (http.c's caller). */
static void test_body_length_refusal_names_the_limit_it_follows(void **state)
{
        (void)state;
        kp_http_refusal_t ref = {0};
        assert_int_equal(kp_http_admit_body_length(0, &ref), 0);
        assert_int_equal(kp_http_admit_body_length(KP_HTTP_MAX_BODY, &ref), 0);
        assert_int_equal(ref.status, 0); /* untouched when admitted */
        assert_int_equal(kp_http_admit_body_length((uint64_t)KP_HTTP_MAX_BODY + 1, &ref), -1);
        assert_int_equal(ref.status, 413);
        assert_true(ref.close);
        char want[64];
        snprintf(want, sizeof(want), "over the %d MiB limit", KP_HTTP_MAX_BODY / (1024 * 1024));
        assert_non_null(strstr(ref.detail, want));
        assert_int_equal(kp_http_admit_body_length(UINT64_MAX, &ref), -1);
}

static struct MHD_Daemon *daemon_running;

static int setup(void **state)
{
        static int port;
        daemon_running = daemon_start(&port);
        *state = &port;
        return daemon_running ? 0 : -1;
}

static int teardown(void **state)
{
        (void)state;
        MHD_stop_daemon(daemon_running);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ambiguous_framing_is_refused_and_the_connection_closed),
                cmocka_unit_test(test_sound_framing_is_admitted_http10_without_host_too),
                cmocka_unit_test(test_urls_over_kp_http_max_url_are_414),
                cmocka_unit_test(
                        test_cross_origin_writes_are_refused_reads_and_other_clients_are_not),
                cmocka_unit_test(test_a_write_body_must_be_json_415),
                cmocka_unit_test(test_a_declared_body_over_the_limit_is_413_before_it_is_read),
                cmocka_unit_test(test_body_length_refusal_names_the_limit_it_follows),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
