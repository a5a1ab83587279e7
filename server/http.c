/* http.c — libmicrohttpd daemon: per-request state, body limits, auth, dispatch, counters. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "http_admit.h"
#include "http_conns.h"
#include "url.h"
#include "util.h"

enum { M_GET, M_POST, M_PUT, M_DELETE, M_HEAD, M_OTHER, M__CNT };
static const char *const method_names[M__CNT] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OTHER"};

struct kp_http {
        struct MHD_Daemon *daemon;
        kp_http_conns_t *conns; /* open connections and their deadlines */
        kp_http_opts_t opts;
        char *api_token;
        int port;
        /* requests answered, by method and status; updated with relaxed atomics */
        uint64_t requests[M__CNT][600];
};

/* Per-request state: allocated on MHD's first call, freed in the completed callback. */
typedef struct req_state {
        kp_buf_t body;
        int too_large; /* the body passed KP_HTTP_MAX_BODY while streaming in */
        int answered;  /* a response was queued early (an admission refusal, 401) */
} req_state_t;

static int method_index(const char *m)
{
        for (int i = 0; i < M_OTHER; i++)
                if (!strcmp(m, method_names[i]))
                        return i;
        return M_OTHER;
}

const char *kp_http_query(const kp_http_req_t *req, const char *key)
{
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Queues @p resp (taking its body) and counts it. */
static enum MHD_Result send_resp(kp_http_t *srv, struct MHD_Connection *conn, const char *method,
                                 kp_http_resp_t *resp)
{
        struct MHD_Response *r =
                MHD_create_response_from_buffer(resp->body_len, resp->body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(resp->body);
                return MHD_NO;
        }
        resp->body = NULL;
        if (resp->content_type)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
        if (resp->location[0])
                MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
        if (resp->allow)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
        if (resp->extra_header) {
                const char *colon = strchr(resp->extra_header, ':');
                if (colon) {
                        char name[128];
                        size_t n = (size_t)(colon - resp->extra_header);
                        if (n < sizeof(name)) {
                                memcpy(name, resp->extra_header, n);
                                name[n] = '\0';
                                const char *v = colon + 1;
                                while (*v == ' ')
                                        v++;
                                MHD_add_response_header(r, name, v);
                        }
                }
        }
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        kp_http_conns_busy(conn); /* an answer is on its way: the deadline no longer runs */
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
        MHD_destroy_response(r);
        int code = resp->status >= 100 && resp->status < 600 ? resp->status : 599;
        __atomic_fetch_add(&srv->requests[method_index(method)][code], 1, __ATOMIC_RELAXED);
        return ret;
}

/* A problem+json answer built here, for refusals made before the API layer runs. */
static enum MHD_Result send_problem(kp_http_t *srv, struct MHD_Connection *conn, const char *method,
                                    int status, const char *title, const char *detail,
                                    const char *extra_header)
{
        kp_http_resp_t resp = {0};
        kp_buf_t b;
        kp_buf_init(&b);
        /* title and detail are fixed strings of ours: no JSON escaping needed */
        kp_buf_printf(&b,
                      "{\"type\":\"about:blank\",\"title\":\"%s\",\"status\":%d,"
                      "\"detail\":\"%s\"}",
                      title, status, detail);
        resp.status = status;
        resp.body = kp_buf_steal(&b, &resp.body_len);
        resp.content_type = "application/problem+json";
        resp.extra_header = extra_header;
        return send_resp(srv, conn, method, &resp);
}

/* Answers an admission refusal (kp_http_admit_*) as problem+json. */
static enum MHD_Result refuse(kp_http_t *srv, struct MHD_Connection *conn, const char *method,
                              req_state_t *st, const kp_http_refusal_t *ref)
{
        st->answered = 1;
        return send_problem(srv, conn, method, ref->status, ref->title, ref->detail,
                            ref->close ? "Connection: close" : NULL);
}

/* Constant-time comparison, so the token cannot be guessed byte by byte from timing. */
static int token_equal(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned char diff = (unsigned char)(la != lb);
        for (size_t i = 0; i < la; i++)
                diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
        return diff == 0;
}

static int authorized(kp_http_t *srv, struct MHD_Connection *conn, const char *url)
{
        if (!srv->api_token || strncmp(url, "/api/v1", 7) != 0)
                return 1;
        const char *h =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
                return 0;
        return token_equal(h + 7, srv->api_token);
}

/* The first call, headers complete: whatever must not reach a handler is refused here,
 * before a byte of the body is read. Framing comes first: a request whose framing is
 * ambiguous may hide another in its body, and is answered (and closed) before anything. */
static enum MHD_Result admit(kp_http_t *srv, struct MHD_Connection *conn, const char *url,
                             const char *method, const char *version, req_state_t *st)
{
        kp_http_refusal_t ref;
        if (kp_http_admit_framing(conn, version, &ref))
                return refuse(srv, conn, method, st, &ref);
        if (!authorized(srv, conn, url)) {
                st->answered = 1;
                return send_problem(srv, conn, method, 401, "Unauthorized",
                                    "missing or wrong bearer token",
                                    "WWW-Authenticate: Bearer realm=\"kplane\"");
        }
        if (kp_http_admit_request(conn, method, url, &ref))
                return refuse(srv, conn, method, st, &ref);
        return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        kp_http_t *srv = cls;
        req_state_t *st = *con_cls;

        if (!st) {
                st = calloc(1, sizeof(*st));
                if (!st)
                        return MHD_NO;
                kp_buf_init(&st->body);
                *con_cls = st;
                return admit(srv, conn, url, method, version, st);
        }
        /* The request is whole: the time its handler takes is not the client's. */
        if (!*upload_data_size)
                kp_http_conns_busy(conn);

        if (*upload_data_size) {
                /* Chunked bodies carry no length: cut them off at the same limit. */
                if (!st->answered && !st->too_large) {
                        if (st->body.len + *upload_data_size > KP_HTTP_MAX_BODY)
                                st->too_large = 1;
                        else
                                kp_buf_append(&st->body, upload_data, *upload_data_size);
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (st->answered)
                return MHD_YES;
        if (st->too_large)
                return send_problem(srv, conn, method, 413, "Payload Too Large",
                                    "request body is over the 1 MiB limit", "Connection: close");
        if (st->body.oom)
                return send_problem(srv, conn, method, 503, "Service Unavailable",
                                    "out of memory reading the request body", NULL);

        kp_http_req_t req = {
                .method = method,
                .path = url,
                .body = st->body.len ? st->body.data : NULL,
                .body_len = st->body.len,
                .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                            MHD_HTTP_HEADER_CONTENT_TYPE),
                .conn = conn,
        };
        kp_http_resp_t resp = {.status = 500};
        srv->opts.handler(srv->opts.opaque, &req, &resp);
        if (!resp.body) {
                resp.body = calloc(1, 1);
                resp.body_len = 0;
        }
        return send_resp(srv, conn, method, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        (void)cls;
        (void)toe;
        req_state_t *st = *con_cls;
        kp_http_conns_idle(conn); /* the next request on this connection starts its clock */
        if (!st)
                return;
        kp_buf_cleanup(&st->body);
        free(st);
        *con_cls = NULL;
}

/* Parses "host:port" ("[::1]:80" not supported: IPv4 only for now). */
static int parse_listen(const char *listen, struct sockaddr_in *sin, char *errstr,
                        size_t errstr_size)
{
        char host[256];
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
                snprintf(errstr, errstr_size, "listen address \"%s\" is not host:port", listen);
                return -1;
        }
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535 || colon[1] == '\0') {
                snprintf(errstr, errstr_size, "listen port in \"%s\" is not 0..65535", listen);
                return -1;
        }
        memset(sin, 0, sizeof(*sin));
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        if (!host[0] || !strcmp(host, "*"))
                sin->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (!strcmp(host, "localhost"))
                sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
                snprintf(errstr, errstr_size, "listen host \"%s\" is not an IPv4 address", host);
                return -1;
        }
        return 0;
}

/* Every connection is a file descriptor: a soft limit of 1,024 (a common default) would
 * be spent before KP_HTTP_CONNECTION_LIMIT connections are, and accept() fail for
 * everyone. Raise the soft limit to the hard one, which needs no privilege. */
static void raise_fd_limit(void)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl))
                return;
        rlim_t want = rl.rlim_max == RLIM_INFINITY ? (rlim_t)KP_HTTP_NOFILE_MAX : rl.rlim_max;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
                rl.rlim_cur = want;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < KP_HTTP_NOFILE_MIN)
                fprintf(stderr,
                        "kplane: only %llu file descriptors (ulimit -n): fewer than %d "
                        "connections can be served\n",
                        (unsigned long long)rl.rlim_cur, KP_HTTP_CONNECTION_LIMIT);
}

/* Why MHD could not listen on @p sin: MHD does not say, so try the bind ourselves (with
 * the SO_REUSEADDR MHD uses) and report its errno. */
static void listen_error(const struct sockaddr_in *sin, const char *listen, char *errstr,
                         size_t errstr_size)
{
        int one = 1, err = 0;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                err = errno;
        else {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, (const struct sockaddr *)sin, sizeof(*sin)))
                        err = errno;
                close(fd);
        }
        if (err == EADDRINUSE)
                snprintf(errstr, errstr_size,
                         "cannot listen on %s: address in use (is another kplane serving on "
                         "this port?)",
                         listen);
        else
                snprintf(errstr, errstr_size, "cannot listen on %s: %s", listen,
                         err ? strerror(err) : "libmicrohttpd could not start");
}

kp_http_t *kp_http_start(const kp_http_opts_t *opts, char *errstr, size_t errstr_size)
{
        struct sockaddr_in sin;
        if (parse_listen(opts->listen, &sin, errstr, errstr_size))
                return NULL;
        kp_http_t *srv = calloc(1, sizeof(*srv));
        if (!srv) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        srv->opts = *opts;
        if (opts->api_token && opts->api_token[0])
                srv->api_token = strdup(opts->api_token);
        raise_fd_limit();
        srv->conns =
                kp_http_conns_new((int64_t)KP_HTTP_REQUEST_DEADLINE_S * 1000, errstr, errstr_size);
        if (!srv->conns) {
                free(srv->api_token);
                free(srv);
                return NULL;
        }
        unsigned threads = opts->threads;
        if (!threads) {
                long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                threads = cpus < KP_HTTP_THREADS_MIN ? KP_HTTP_THREADS_MIN
                          : cpus > KP_HTTP_THREADS   ? KP_HTTP_THREADS
                                                     : (unsigned)cpus;
        }
        srv->daemon = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned)KP_HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
                (unsigned)KP_HTTP_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                (size_t)KP_HTTP_CONNECTION_MEMORY_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                (unsigned)KP_HTTP_PER_IP_CONNECTION_LIMIT, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, kp_http_conns_notify, srv->conns,
                MHD_OPTION_UNESCAPE_CALLBACK, kp_url_unescape, NULL, MHD_OPTION_END);
        /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it sets SO_REUSEPORT, and a second kplane
         * on the port would start silently and take half the requests. MHD's default
         * SO_REUSEADDR still lets a restart bind while old connections sit in TIME_WAIT. */
        if (!srv->daemon) {
                listen_error(&sin, opts->listen, errstr, errstr_size);
                kp_http_conns_destroy(srv->conns);
                free(srv->api_token);
                free(srv);
                return NULL;
        }
        const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
        srv->port = info ? info->port : ntohs(sin.sin_port);
        return srv;
}

void kp_http_stop(kp_http_t *srv)
{
        if (!srv)
                return;
        MHD_stop_daemon(srv->daemon);
        kp_http_conns_destroy(srv->conns); /* after MHD: its CLOSED notifications use it */
        free(srv->api_token);
        free(srv);
}

int kp_http_port(const kp_http_t *srv)
{
        return srv->port;
}

void kp_http_metrics_write(const kp_http_t *srv, kp_buf_t *out)
{
        kp_buf_printf(out, "# HELP kplane_http_requests_total HTTP requests answered.\n"
                           "# TYPE kplane_http_requests_total counter\n");
        for (int m = 0; m < M__CNT; m++)
                for (int c = 100; c < 600; c++) {
                        uint64_t n = __atomic_load_n(&srv->requests[m][c], __ATOMIC_RELAXED);
                        if (n)
                                kp_buf_printf(out,
                                              "kplane_http_requests_total{method=\"%s\","
                                              "code=\"%d\"} %llu\n",
                                              method_names[m], c, (unsigned long long)n);
                }
        kp_buf_printf(out,
                      "# HELP kplane_http_deadline_closed_total Connections closed because "
                      "their request passed its deadline.\n"
                      "# TYPE kplane_http_deadline_closed_total counter\n"
                      "kplane_http_deadline_closed_total %llu\n",
                      (unsigned long long)kp_http_conns_reaped(srv->conns));
}
