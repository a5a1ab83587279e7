/* test_url.c — http/url: percent-decoding marks a request whose path or query held %00, so
 * "/clusters/c1%00junk" cannot pass for "/clusters/c1"; the mark ends with its request. */
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

#include "http/url.h"

/* Answers "nul=<kp_url_had_nul> path=<decoded path> a=<decoded ?a>". */
static enum MHD_Result echo(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
        char body[512];
        (void)cls;
        (void)method;
        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        /* answered on the second call, the request whole: MHD keeps the connection alive */
        static int first;
        if (!*con_cls) {
                *con_cls = &first;
                return MHD_YES;
        }
        const char *a = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "a");
        snprintf(body, sizeof(body), "nul=%d path=%s a=%s", kp_url_had_nul(conn), url, a ? a : "-");
        struct MHD_Response *r =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static struct MHD_Daemon *daemon_running;
static int port;

static int setup(void **state)
{
        (void)state;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        daemon_running = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, echo,
                                          NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                                          MHD_OPTION_UNESCAPE_CALLBACK, kp_url_unescape, NULL,
                                          MHD_OPTION_END);
        if (!daemon_running)
                return -1;
        port = MHD_get_daemon_info(daemon_running, MHD_DAEMON_INFO_BIND_PORT)->port;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        MHD_stop_daemon(daemon_running);
        return 0;
}

static int connect_local(void)
{
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {10, 0};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        return fd;
}

/* Sends GET @p target on @p fd (kept alive) and writes the answer's body into @p out. */
static void get(int fd, const char *target, char *out, size_t size)
{
        char req[512], buf[4096];
        size_t len = 0;
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", target);
        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
        for (;;) {
                ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
                assert_true(n > 0);
                len += (size_t)n;
                buf[len] = '\0';
                char *end = strstr(buf, "\r\n\r\n");
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                if (!end || !cl)
                        continue;
                size_t body = strtoul(cl + 17, NULL, 10);
                if (len >= (size_t)(end - buf) + 4 + body) {
                        snprintf(out, size, "%.*s", (int)body, end + 4);
                        return;
                }
        }
}

static void test_a_nul_in_the_path_marks_the_request(void **state)
{
        (void)state;
        char body[512];
        int fd = connect_local();
        get(fd, "/clusters/c1%00junk", body, sizeof(body));
        /* what a C string makes of it: the handler must not take it for "c1" */
        assert_string_equal(body, "nul=1 path=/clusters/c1 a=-");
        close(fd);
}

static void test_a_nul_in_the_query_marks_the_request(void **state)
{
        (void)state;
        char body[512];
        int fd = connect_local();
        get(fd, "/x?a=b%00c", body, sizeof(body));
        assert_string_equal(body, "nul=1 path=/x a=b");
        close(fd);
}

static void test_other_escapes_decode_unmarked_even_an_escaped_percent_00(void **state)
{
        (void)state;
        char body[512];
        int fd = connect_local();
        get(fd, "/clusters/c%31?a=%41%2500", body, sizeof(body));
        assert_string_equal(body, "nul=0 path=/clusters/c1 a=A%00");
        close(fd);
        assert_int_equal(kp_url_had_nul(NULL), 0);
}

/* The mark lives with its request: the next one on the same connection starts clean. */
static void test_the_mark_ends_with_its_request_on_a_kept_alive_connection(void **state)
{
        (void)state;
        char body[512];
        int fd = connect_local();
        get(fd, "/a%00", body, sizeof(body));
        assert_string_equal(body, "nul=1 path=/a a=-");
        get(fd, "/b", body, sizeof(body));
        assert_string_equal(body, "nul=0 path=/b a=-");
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_nul_in_the_path_marks_the_request),
                cmocka_unit_test(test_a_nul_in_the_query_marks_the_request),
                cmocka_unit_test(test_other_escapes_decode_unmarked_even_an_escaped_percent_00),
                cmocka_unit_test(test_the_mark_ends_with_its_request_on_a_kept_alive_connection),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
