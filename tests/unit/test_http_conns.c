/* test_http_conns.c — http/http_conns and the connection limits: a request past its deadline is
 * shut down however slowly its bytes drip, a running handler's time is not the client's, and
 * one client address holds at most KP_HTTP_PER_IP_CONNECTION_LIMIT connections. */
#include <arpa/inet.h>
#include <errno.h>
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

#include "http_fixtures.h"
#include <microhttpd.h>

#include "base/config.h"
#include "base/util.h"
#include "http/http.h"
#include "http/http_conns.h"

/* Short enough for a quick test, long against a loaded box's scheduling. */
#define DEADLINE_MS 1000
/* How long a slow handler runs: well past the deadline. */
#define SLOW_HANDLER_MS (5 * DEADLINE_MS / 2)

static kp_http_conns_t *conns;
static struct MHD_Daemon *daemon_running;
static int port;

/* Answers on the request's second call, as http.c does: its clock stopped (busy) while it
 * works, and, for /slow, works longer than the deadline. */
static enum MHD_Result slow_or_fast(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
        static int seen;
        (void)cls;
        (void)method;
        (void)version;
        (void)upload_data;
        if (!*con_cls) {
                *con_cls = &seen;
                return MHD_YES;
        }
        if (*upload_data_size) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        kp_http_conns_busy(conn);
        if (!strcmp(url, "/slow"))
                usleep(SLOW_HANDLER_MS * 1000);
        struct MHD_Response *r =
                MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
        (void)cls;
        (void)con_cls;
        (void)toe;
        kp_http_conns_idle(conn);
}

static int setup(void **state)
{
        char err[256];
        (void)state;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        conns = kp_http_conns_new(DEADLINE_MS, err, sizeof(err));
        if (!conns)
                return -1;
        /* MHD's own inactivity timeout far away: only the deadline closes anything here */
        daemon_running = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, slow_or_fast, NULL,
                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned)600, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                MHD_OPTION_NOTIFY_CONNECTION, kp_http_conns_notify, conns, MHD_OPTION_END);
        if (!daemon_running)
                return -1;
        port = MHD_get_daemon_info(daemon_running, MHD_DAEMON_INFO_BIND_PORT)->port;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        MHD_stop_daemon(daemon_running);
        kp_http_conns_destroy(conns); /* after MHD, whose CLOSED notifications use it */
        return 0;
}

static void send_text(int fd, const char *s)
{
        assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads until the peer closes (returns 1) or @p ms pass with it open (0). */
static int closed_within(int fd, int ms)
{
        char buf[4096];
        int64_t until = kp_time_mono_ms() + ms;
        struct timeval tv = {0, 50 * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        while (kp_time_mono_ms() < until) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
                        return 1;
        }
        return 0;
}

/* @returns the reaper's count once it reaches @p want (the client may see its connection
 * end a moment before the reaper counts it), or what it is after 10 s. */
static uint64_t reaped_reaching(uint64_t want)
{
        for (int i = 0; i < 1000 && kp_http_conns_reaped(conns) < want; i++)
                usleep(10 * 1000);
        return kp_http_conns_reaped(conns);
}

static void test_a_silent_connection_is_shut_down_after_its_deadline(void **state)
{
        (void)state;
        uint64_t before = kp_http_conns_reaped(conns);
        int64_t t0 = kp_time_mono_ms();
        int fd = http_connect(port, 20);
        assert_true(closed_within(fd, 20000));
        assert_true(kp_time_mono_ms() - t0 >= DEADLINE_MS - 1);
        assert_int_equal(reaped_reaching(before + 1), before + 1);
        close(fd);
}

/* Every byte resets MHD's inactivity timeout; the deadline is absolute. */
static void test_a_request_dripping_bytes_is_shut_down_all_the_same(void **state)
{
        (void)state;
        uint64_t before = kp_http_conns_reaped(conns);
        int fd = http_connect(port, 20);
        send_text(fd, "GET /fast HTTP/1.1\r\nHost: h\r\n");
        int closed = 0;
        for (int i = 0; i < 200 && !closed; i++) {
                if (send(fd, "X", 1, MSG_NOSIGNAL) != 1)
                        break;
                closed = closed_within(fd, DEADLINE_MS / 8);
        }
        assert_true(closed || closed_within(fd, 20000));
        assert_int_equal(reaped_reaching(before + 1), before + 1);
        close(fd);
}

/* A handler running past the deadline is not the client's delay: its answer arrives; the
 * clock starts again when the answer is done, so the idle keep-alive connection is then
 * closed after the deadline. */
static void test_a_slow_handler_is_not_reaped_and_the_idle_connection_after_it_is(void **state)
{
        (void)state;
        uint64_t before = kp_http_conns_reaped(conns);
        int fd = http_connect(port, 20);
        send_text(fd, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_int_equal(http_read_status(fd), 200);
        assert_int_equal(kp_http_conns_reaped(conns), before);
        /* kept alive: a second request on it is answered */
        send_text(fd, "GET /fast HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_int_equal(http_read_status(fd), 200);
        assert_true(closed_within(fd, 20000));
        assert_int_equal(reaped_reaching(before + 1), before + 1);
        close(fd);
}

static void answer_ok(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp)
{
        (void)opaque;
        (void)req;
        resp->status = 200;
        resp->body = strdup("ok");
        resp->body_len = 2;
}

/* kp_http_start's daemon: one address holds at most KP_HTTP_PER_IP_CONNECTION_LIMIT
 * connections; the next is closed at once, and a slot freed is taken again. */
static void test_one_address_holds_at_most_the_per_ip_limit(void **state)
{
        (void)state;
        char err[256];
        kp_http_opts_t opts = {
                .listen = "127.0.0.1:0", .handler = answer_ok, .threads = 2, .cpu_threads = -1};
        kp_http_t *srv = kp_http_start(&opts, err, sizeof(err));
        assert_non_null(srv);
        int p = kp_http_port(srv);
        int fds[KP_HTTP_PER_IP_CONNECTION_LIMIT];
        for (int i = 0; i < KP_HTTP_PER_IP_CONNECTION_LIMIT; i++)
                fds[i] = http_connect(p, 20);
        /* each of them is served, so MHD holds them all before the next one comes (its
         * threads accept side by side: a connection still in the backlog may lose its
         * slot to a later one) */
        for (int i = 0; i < KP_HTTP_PER_IP_CONNECTION_LIMIT; i++)
                send_text(fds[i], "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        for (int i = 0; i < KP_HTTP_PER_IP_CONNECTION_LIMIT; i++)
                assert_int_equal(http_read_status(fds[i]), 200);
        /* one more: the kernel accepts it, MHD closes it unanswered */
        int extra = http_connect(p, 20);
        assert_true(closed_within(extra, 5000));
        close(extra);
        /* a slot given back is usable again (MHD notices the close asynchronously) */
        close(fds[1]);
        int served = 0;
        for (int i = 0; i < 100 && !served; i++) {
                int fd = http_connect(p, 20);
                static const char req[] = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
                send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
                served = http_read_status(fd) == 200;
                close(fd);
                if (!served)
                        usleep(50 * 1000);
        }
        assert_true(served);
        for (int i = 0; i < KP_HTTP_PER_IP_CONNECTION_LIMIT; i++)
                if (i != 1)
                        close(fds[i]);
        kp_http_stop(srv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_silent_connection_is_shut_down_after_its_deadline),
                cmocka_unit_test(test_a_request_dripping_bytes_is_shut_down_all_the_same),
                cmocka_unit_test(
                        test_a_slow_handler_is_not_reaped_and_the_idle_connection_after_it_is),
                cmocka_unit_test(test_one_address_holds_at_most_the_per_ip_limit),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
