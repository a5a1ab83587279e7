/* bench_http_receiver.c — the HTTP sink benchmark's target: takes any POST, counts its records
 * (lines), answers 200 with an empty body; nothing else. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * Usage: bench_http_receiver
 * Prints "http://127.0.0.1:PORT" on its first line, then serves until SIGTERM/SIGINT:
 *   POST (any path)  counts the body's '\n' (json_lines: one per record) → 200, empty body
 *   GET /count       "records=<n> requests=<n> bytes=<n> first_ns=<t> last_ns=<t>"
 *                    (CLOCK_REALTIME; first: the first request's first bytes, last: the end of
 *                    the latest complete request)
 *   POST /reset      zeroes the counts (between two senders)
 * One polling thread (epoll): counting is a memchr per body chunk, so one thread keeps up
 * with any sender on this machine and leaves the cores to the senders.
 */

static atomic_llong records, requests, bytes_in, first_ns, last_ns;
static volatile sig_atomic_t stop;

static long long now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef struct req {
        long long lines, len;
} req_t;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body)
{
        struct MHD_Response *r =
                MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result count_answer(struct MHD_Connection *c)
{
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "records=%lld requests=%lld bytes=%lld first_ns=%lld last_ns=%lld\n",
                 atomic_load(&records), atomic_load(&requests), atomic_load(&bytes_in),
                 atomic_load(&first_ns), atomic_load(&last_ns));
        return answer(c, MHD_HTTP_OK, buf);
}

static void count_chunk(req_t *q, const char *data, size_t len)
{
        const char *p = data, *end = data + len;
        long long zero = 0;
        if (!atomic_load(&first_ns))
                atomic_compare_exchange_strong(&first_ns, &zero, now_ns());
        while ((p = memchr(p, '\n', (size_t)(end - p)))) {
                q->lines++;
                p++;
        }
        q->len += (long long)len;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
        (void)cls, (void)version;
        req_t *q = *con_cls;
        if (!strcmp(method, "GET"))
                return !strcmp(url, "/count") ? count_answer(c) : answer(c, MHD_HTTP_NOT_FOUND, "");
        if (!q) {
                if (!(q = calloc(1, sizeof(*q))))
                        return MHD_NO;
                *con_cls = q;
                return MHD_YES;
        }
        if (*data_size) {
                count_chunk(q, data, *data_size);
                *data_size = 0;
                return MHD_YES;
        }
        if (!strcmp(url, "/reset")) {
                atomic_store(&records, 0), atomic_store(&requests, 0), atomic_store(&bytes_in, 0);
                atomic_store(&first_ns, 0), atomic_store(&last_ns, 0);
        } else {
                atomic_fetch_add(&records, q->lines);
                atomic_fetch_add(&bytes_in, q->len);
                atomic_fetch_add(&requests, 1);
                atomic_store(&last_ns, now_ns());
        }
        return answer(c, MHD_HTTP_OK, "");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        (void)cls, (void)c, (void)toe;
        free(*con_cls);
        *con_cls = NULL;
}

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

int main(void)
{
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct MHD_Daemon *d = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
        const union MHD_DaemonInfo *info;
        if (!d || !(info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT))) {
                fprintf(stderr, "bench_http_receiver: could not listen\n");
                return 1;
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        printf("http://127.0.0.1:%u\n", (unsigned)info->port);
        fflush(stdout);
        while (!stop)
                pause();
        MHD_stop_daemon(d);
        return 0;
}
