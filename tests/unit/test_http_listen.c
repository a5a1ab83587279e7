/* test_http_listen.c — http/http_listen through kp_http_start: connections are shared out
 * evenly between the MHD workers however busy one of them is when they arrive, and the
 * server stops cleanly with connections open. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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

#include "base/util.h"
#include "http/http.h"

/* wrk's connection count in the REST benchmark (scripts/bench.sh). */
#define CONNS 64
/* How long the answered count must stay put before the test calls the busy worker's
 * share "waiting": the other worker answers its share in milliseconds. */
#define QUIET_MS 1000

static pthread_t busy_thread; /* the worker running /block */
static int blocking;          /* atomic: /block runs */
static int released;          /* atomic: /block may return */
static int answered;          /* atomic: /who answers so far */
static int by_busy;           /* atomic: of those, by the busy worker */

static void answer(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp)
{
        (void)opaque;
        if (!strcmp(req->path, "/block")) {
                busy_thread = pthread_self();
                __atomic_store_n(&blocking, 1, __ATOMIC_RELEASE);
                while (!__atomic_load_n(&released, __ATOMIC_ACQUIRE))
                        usleep(1000);
        } else if (__atomic_load_n(&blocking, __ATOMIC_ACQUIRE) &&
                   pthread_equal(pthread_self(), busy_thread)) {
                __atomic_fetch_add(&by_busy, 1, __ATOMIC_RELAXED);
        }
        if (strcmp(req->path, "/block"))
                __atomic_fetch_add(&answered, 1, __ATOMIC_RELEASE);
        resp->status = 200;
        resp->body = strdup("ok");
        resp->body_len = 2;
}

static void send_get(int fd, const char *path)
{
        char req[128];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path);
        assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
}

/* Waits until /who's count stays put for QUIET_MS (or reaches @p all). */
static int answered_settled(int all)
{
        int last = -1;
        int64_t since = kp_time_mono_ms();
        for (;;) {
                int now = __atomic_load_n(&answered, __ATOMIC_ACQUIRE);
                if (now == all)
                        return now;
                if (now != last) {
                        last = now;
                        since = kp_time_mono_ms();
                } else if (kp_time_mono_ms() - since >= QUIET_MS) {
                        return now;
                }
                usleep(10 * 1000);
        }
}

/* One worker is stuck in a handler while CONNS connections arrive. MHD's workers accept
 * for themselves, so the free one took all of them and their clients then queued on it
 * alone (the busy one got none); handed out by the accept thread, each worker gets half,
 * the busy one's half waiting until it is free. */
static void test_connections_are_shared_evenly_even_while_a_worker_is_busy(void **state)
{
        (void)state;
        char err[256];
        kp_http_opts_t opts = {
                .listen = "127.0.0.1:0", .handler = answer, .threads = 2, .cpu_threads = -1};
        kp_http_t *srv = kp_http_start(&opts, err, sizeof(err));
        assert_non_null(srv);
        int p = kp_http_port(srv);
        int blocker = http_connect(p, 30);
        send_get(blocker, "/block");
        while (!__atomic_load_n(&blocking, __ATOMIC_ACQUIRE))
                usleep(1000);
        int fds[CONNS];
        for (int i = 0; i < CONNS; i++) {
                fds[i] = http_connect(p, 30);
                send_get(fds[i], "/who");
        }
        int early = answered_settled(CONNS);
        __atomic_store_n(&released, 1, __ATOMIC_RELEASE);
        assert_int_equal(http_read_status(blocker), 200);
        for (int i = 0; i < CONNS; i++)
                assert_int_equal(http_read_status(fds[i]), 200);
        int busy = __atomic_load_n(&by_busy, __ATOMIC_RELAXED);
        printf("answered by the free worker before the busy one was free: %d of %d; "
               "by the busy one: %d\n",
               early, CONNS, busy);
        /* the blocker counts for the busy worker: it gets one fewer of the rest */
        assert_in_range(busy, CONNS / 2 - 2, CONNS / 2);
        for (int i = 0; i < CONNS; i++)
                close(fds[i]);
        close(blocker);
        kp_http_stop(srv);
}

/* Connections open, some mid-request: stop closes them and returns (the accept thread
 * first, so none arrives while MHD stops). */
static void test_stop_with_connections_open_returns(void **state)
{
        (void)state;
        char err[256];
        __atomic_store_n(&released, 1, __ATOMIC_RELEASE);
        kp_http_opts_t opts = {
                .listen = "127.0.0.1:0", .handler = answer, .threads = 2, .cpu_threads = -1};
        kp_http_t *srv = kp_http_start(&opts, err, sizeof(err));
        assert_non_null(srv);
        int p = kp_http_port(srv);
        int fds[8];
        for (int i = 0; i < 8; i++) {
                fds[i] = http_connect(p, 30);
                if (i % 2) { /* half a request */
                        assert_int_equal(send(fds[i], "GET /who HTTP/1.1\r\n", 19, MSG_NOSIGNAL),
                                         19);
                } else {
                        send_get(fds[i], "/who");
                        assert_int_equal(http_read_status(fds[i]), 200);
                }
        }
        kp_http_stop(srv);
        for (int i = 0; i < 8; i++)
                close(fds[i]);
}

/* A port in use is refused with the reason, before any thread starts. */
static void test_a_busy_port_is_address_in_use(void **state)
{
        (void)state;
        char err[256], listen[64];
        kp_http_opts_t opts = {
                .listen = "127.0.0.1:0", .handler = answer, .threads = 2, .cpu_threads = -1};
        kp_http_t *srv = kp_http_start(&opts, err, sizeof(err));
        assert_non_null(srv);
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", kp_http_port(srv));
        kp_http_opts_t again = opts;
        again.listen = listen;
        assert_null(kp_http_start(&again, err, sizeof(err)));
        assert_non_null(strstr(err, "address in use"));
        kp_http_stop(srv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_connections_are_shared_evenly_even_while_a_worker_is_busy),
                cmocka_unit_test(test_stop_with_connections_open_returns),
                cmocka_unit_test(test_a_busy_port_is_address_in_use),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
