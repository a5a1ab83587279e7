/* http.c — libmicrohttpd daemon: per-request state, body limits, auth, dispatch, counters. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "base/err.h"
#include "http/http_admit.h"
#include "http/http_conns.h"
#include "http/http_listen.h"
#include "http/http_pool.h"
#include "http/url.h"
#include "base/util.h"

enum { M_GET, M_POST, M_PUT, M_DELETE, M_HEAD, M_OTHER, M__CNT };
static const char *const method_names[M__CNT] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OTHER"};
/* Answers are counted by status code, 100 to 599 (one outside is counted as 599). */
enum { STATUS_FIRST = 100, STATUS_END = 600 };

struct kp_http {
        struct MHD_Daemon *daemon;
        kp_http_conns_t *conns;   /* open connections and their deadlines */
        kp_http_listen_t *listen; /* the socket, and the thread giving connections to workers */
        kp_http_opts_t opts;
        char *api_token;
        int port;
        /* requests answered, by method and status; updated with relaxed atomics */
        uint64_t requests[M__CNT][STATUS_END];
        /* Where offloaded handlers run (resp->offload); cpu is NULL when heavy requests
         * run inline (cpu_threads < 0). */
        kp_http_pool_t *cpu, *io;
        /* Orders a pool job's resume after its MHD thread's suspend, and guards the
         * offload fields of req_state_t between the two threads. */
        pthread_mutex_t offload_lock;
};

/* Per-request state: allocated on MHD's first call, freed in the completed callback. */
typedef struct req_state {
        kp_buf_t body;
        kp_http_refusal_t too_large; /* status set: the body passed KP_HTTP_MAX_BODY */
        int answered;                /* a response was queued early (an admission refusal, 401) */
        /* Offload (offload_start), under kp_http.offload_lock: */
        enum { OFFLOAD_NONE, OFFLOAD_PENDING, OFFLOAD_DONE } offload;
        int gone;              /* completed by MHD while PENDING: the job frees the state */
        kp_http_resp_t answer; /* DONE: the job's answer, queued on MHD's next call */
} req_state_t;

static int method_index(const char *m)
{
        for (int i = 0; i < M_OTHER; i++)
                if (!strcmp(m, method_names[i]))
                        return i;
        return M_OTHER;
}

/* Looks @p key up in a query copied by query_copy_one (caseless, the first match, as MHD). */
static const char *query_copy_lookup(const char *q, size_t len, const char *key)
{
        const char *end = q ? q + len : NULL;
        while (q && q < end) {
                const char *k = q, *v = k + strlen(k) + 1;
                q = v + strlen(v) + 1;
                if (!strcasecmp(k, key))
                        return v[0] == '=' ? v + 1 : NULL;
        }
        return NULL;
}

const char *kp_http_query(const kp_http_req_t *req, const char *key)
{
        if (!req->conn)
                return query_copy_lookup(req->query, req->query_len, key);
        return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Queues @p resp (taking its body) and counts it. */
static enum MHD_Result send_resp(kp_http_t *srv, struct MHD_Connection *conn, const char *method,
                                 kp_http_resp_t *resp)
{
        /* kp_buf_free: a large answer's memory is kept for the next one (base/util.c) */
        struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(
                resp->body_len, resp->body, kp_buf_free);
        if (!r) {
                kp_buf_free(resp->body);
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
                /* a copy of the name, of any length: MHD wants it NUL-terminated */
                char *name =
                        colon ? strndup(resp->extra_header, (size_t)(colon - resp->extra_header))
                              : NULL;
                if (name) {
                        const char *v = colon + 1;
                        while (*v == ' ')
                                v++;
                        MHD_add_response_header(r, name, v);
                        free(name);
                }
        }
        if (resp->state_offset[0])
                MHD_add_response_header(r, "Kplane-State-Offset", resp->state_offset);
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "Cache-Control", "no-store");
        kp_http_conns_busy(conn); /* an answer is on its way: the deadline no longer runs */
        enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
        MHD_destroy_response(r);
        int code = resp->status >= STATUS_FIRST && resp->status < STATUS_END ? resp->status
                                                                             : STATUS_END - 1;
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

/* Sends a handler's answer (an empty body when it left none). */
static enum MHD_Result send_answer(kp_http_t *srv, struct MHD_Connection *conn, const char *method,
                                   kp_http_resp_t *resp)
{
        if (!resp->body) {
                resp->body = calloc(1, 1);
                resp->body_len = 0;
        }
        return send_resp(srv, conn, method, resp);
}

static void req_state_free(req_state_t *st)
{
        kp_buf_cleanup(&st->body);
        free(st->answer.body);
        free(st);
}

/*
 * Offload. A handler that sets resp->offload is called again in a pool thread: the MHD
 * thread copies what the request needs (offload_job_new), suspends the connection and
 * queues a job (offload_start); the job calls the handler with req.offloaded = 1, keeps
 * the answer in the request's state and resumes the connection (offload_finish); MHD
 * then calls on_request again, which queues that answer (offload_answer). While the
 * connection is suspended MHD neither reads it nor times it out nor completes it, so the
 * state stays valid for the job; should it complete anyway, on_completed leaves the
 * state to the job (offload_release). kp_http_stop stops the pools before MHD, so no
 * connection is still suspended when MHD stops.
 */
typedef struct offload_job {
        kp_http_t *srv;
        req_state_t *st; /* borrowed: on_completed leaves it to us while PENDING */
        struct MHD_Connection *conn;
        char *method, *path, *content_type; /* copies; content_type may be NULL */
        kp_buf_t query;                     /* the query arguments, as kp_http_req_t.query */
} offload_job_t;

static enum MHD_Result query_copy_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
        kp_buf_t *b = cls;
        (void)kind;
        kp_buf_append(b, key, strlen(key) + 1);
        if (value) {
                kp_buf_append(b, "=", 1);
                kp_buf_append(b, value, strlen(value) + 1);
        } else {
                kp_buf_append(b, "-", 2);
        }
        return MHD_YES;
}

static void offload_job_free(offload_job_t *job)
{
        if (!job)
                return;
        kp_buf_cleanup(&job->query);
        free(job->content_type);
        free(job->path);
        free(job->method);
        free(job);
}

/* @returns a job with copies of what a pool thread needs of @p req, or NULL (no memory).
 * The body is read from @p st, which no MHD call changes while the job is pending. */
static offload_job_t *offload_job_new(kp_http_t *srv, struct MHD_Connection *conn, req_state_t *st,
                                      const kp_http_req_t *req)
{
        offload_job_t *job = calloc(1, sizeof(*job));
        if (!job)
                return NULL;
        job->srv = srv;
        job->st = st;
        job->conn = conn;
        kp_buf_init(&job->query);
        job->method = strdup(req->method);
        job->path = strdup(req->path);
        job->content_type = req->content_type ? strdup(req->content_type) : NULL;
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_copy_one, &job->query);
        if (!job->method || !job->path || (req->content_type && !job->content_type) ||
            job->query.oom) {
                offload_job_free(job);
                return NULL;
        }
        return job;
}

/* A pool's refusal, problem+json like send_problem's. */
static void pool_problem(kp_http_resp_t *resp, const char *detail)
{
        kp_buf_t b;
        kp_buf_init(&b);
        kp_buf_printf(&b,
                      "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
                      "\"detail\":\"%s\"}",
                      detail);
        *resp = (kp_http_resp_t){.status = 503};
        resp->body = kp_buf_steal(&b, &resp->body_len);
        resp->content_type = "application/problem+json";
        resp->extra_header = "Retry-After: " KP_HTTP_POOL_RETRY_AFTER_S;
}

/* Keeps @p resp (taking its body) as the request's answer and resumes its connection;
 * frees the job (and the state, when MHD is done with it). */
static void offload_finish(offload_job_t *job, kp_http_resp_t *resp)
{
        kp_http_t *srv = job->srv;
        req_state_t *st = job->st;
        pthread_mutex_lock(&srv->offload_lock);
        if (st->gone) {
                free(resp->body);
                req_state_free(st);
        } else {
                st->answer = *resp;
                st->offload = OFFLOAD_DONE;
                /* the last touch of the connection and the state by this thread */
                MHD_resume_connection(job->conn);
        }
        pthread_mutex_unlock(&srv->offload_lock);
        resp->body = NULL;
        offload_job_free(job);
}

/* In a pool thread: the handler again, off the MHD threads. */
static void offload_run(void *arg)
{
        offload_job_t *job = arg;
        req_state_t *st = job->st;
        kp_http_req_t req = {
                .method = job->method,
                .path = job->path,
                .body = st->body.len ? st->body.data : NULL,
                .body_len = st->body.len,
                .content_type = job->content_type,
                .offloaded = 1,
                .query = job->query.data,
                .query_len = job->query.len,
        };
        kp_http_resp_t resp = {.status = 500};
        job->srv->opts.handler(job->srv->opts.opaque, &req, &resp);
        offload_finish(job, &resp);
}

/* The pool stopped before the job ran: the server is going away. */
static void offload_cancel(void *arg)
{
        kp_http_resp_t resp;
        pool_problem(&resp, "the server is shutting down");
        offload_finish(arg, &resp);
}

/* Hands the request to the pool @p resp->offload names (dropping the handler's answer)
 * and suspends the connection; the answer comes on MHD's next call. A full queue is a
 * 503 with Retry-After; with no CPU pool the handler runs again here. */
static enum MHD_Result offload_start(kp_http_t *srv, struct MHD_Connection *conn, req_state_t *st,
                                     kp_http_req_t *req, kp_http_resp_t *resp)
{
        kp_http_pool_t *pool = resp->offload == KP_HTTP_OFFLOAD_CPU ? srv->cpu : srv->io;
        free(resp->body);
        *resp = (kp_http_resp_t){.status = 500};
        if (!pool) {
                req->offloaded = 1;
                srv->opts.handler(srv->opts.opaque, req, resp);
                return send_answer(srv, conn, req->method, resp);
        }
        offload_job_t *job = offload_job_new(srv, conn, st, req);
        int err = job ? 0 : KP_ERR_NOMEM;
        if (job) {
                /* suspended before the job can finish: the job's resume waits for this lock */
                pthread_mutex_lock(&srv->offload_lock);
                err = kp_http_pool_submit(pool, offload_run, offload_cancel, job);
                if (!err) {
                        st->offload = OFFLOAD_PENDING;
                        MHD_suspend_connection(conn);
                }
                pthread_mutex_unlock(&srv->offload_lock);
        }
        if (!err)
                return MHD_YES;
        offload_job_free(job);
        pool_problem(resp, err == KP_ERR_NOMEM ? "out of memory queueing the request"
                           : pool == srv->cpu  ? "too many heavy requests are waiting: retry later"
                                               : "too many requests are waiting for clusters: "
                                                 "retry later");
        return send_resp(srv, conn, req->method, resp);
}

/* MHD's call after the job resumed the connection: queues the job's answer. */
static enum MHD_Result offload_answer(kp_http_t *srv, struct MHD_Connection *conn,
                                      const char *method, req_state_t *st)
{
        pthread_mutex_lock(&srv->offload_lock);
        int done = st->offload == OFFLOAD_DONE;
        kp_http_resp_t resp = st->answer;
        if (done) {
                st->answer.body = NULL;
                st->offload = OFFLOAD_NONE;
                st->answered = 1;
        }
        pthread_mutex_unlock(&srv->offload_lock);
        /* not DONE: a spurious call while the job runs (MHD does not make one) */
        return done ? send_answer(srv, conn, method, &resp) : MHD_YES;
}

/* on_completed's part: @returns 1 when a pool job still holds @p st (it frees it). */
static int offload_release(kp_http_t *srv, req_state_t *st)
{
        pthread_mutex_lock(&srv->offload_lock);
        int held = st->offload == OFFLOAD_PENDING;
        if (held)
                st->gone = 1;
        pthread_mutex_unlock(&srv->offload_lock);
        return held;
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
                if (!st->answered && !st->too_large.status &&
                    !kp_http_admit_body_length(st->body.len + *upload_data_size, &st->too_large))
                        kp_buf_append(&st->body, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (st->offload != OFFLOAD_NONE)
                return offload_answer(srv, conn, method, st);
        if (st->answered)
                return MHD_YES;
        if (st->too_large.status)
                return refuse(srv, conn, method, st, &st->too_large);
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
        if (resp.offload != KP_HTTP_INLINE)
                return offload_start(srv, conn, st, &req, &resp);
        return send_answer(srv, conn, method, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
        kp_http_t *srv = cls;
        (void)toe;
        req_state_t *st = *con_cls;
        kp_http_conns_idle(conn); /* the next request on this connection starts its clock */
        if (!st)
                return;
        *con_cls = NULL;
        if (offload_release(srv, st))
                return; /* a pool job still reads it: the job frees it */
        req_state_free(st);
}

/* Parses "host:port" ("[::1]:80" not supported: IPv4 only for now). */
static int parse_listen(const char *listen, struct sockaddr_in *sin, char *errstr,
                        size_t errstr_size)
{
        char host[INET_ADDRSTRLEN]; /* the longest host that can be valid */
        const char *colon = strrchr(listen, ':');
        if (!colon) {
                snprintf(errstr, errstr_size, "listen address \"%s\" is not host:port", listen);
                return -1;
        }
        if ((size_t)(colon - listen) >= sizeof(host)) {
                snprintf(errstr, errstr_size, "listen host \"%.*s\" is not an IPv4 address",
                         (int)(colon - listen), listen);
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

/* Starts the CPU pool (unless opts.cpu_threads < 0) and the I/O pool. */
static int pools_start(kp_http_t *srv, char *errstr, size_t errstr_size)
{
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned cpu_threads = srv->opts.cpu_threads > 0 ? (unsigned)srv->opts.cpu_threads
                               : cpus > KP_HTTP_CPU_THREADS_MAX + 1 ? KP_HTTP_CPU_THREADS_MAX
                               : cpus > 2                           ? (unsigned)cpus - 1
                                                                    : 1;
        if (srv->opts.cpu_threads >= 0) {
                kp_http_pool_opts_t cpu = {
                        .name = "kp-http-cpu",
                        .threads = cpu_threads,
                        .queue_max = srv->opts.cpu_queue ? srv->opts.cpu_queue : KP_HTTP_CPU_QUEUE,
                        .nice = KP_HTTP_CPU_NICE,
                };
                srv->cpu = kp_http_pool_new(&cpu, errstr, errstr_size);
                if (!srv->cpu)
                        return -1;
        }
        kp_http_pool_opts_t io = {
                .name = "kp-http-io",
                .threads = KP_HTTP_IO_THREADS,
                .queue_max = KP_HTTP_IO_QUEUE,
        };
        srv->io = kp_http_pool_new(&io, errstr, errstr_size);
        return srv->io ? 0 : -1;
}

static void pools_destroy(kp_http_t *srv)
{
        kp_http_pool_destroy(srv->cpu);
        kp_http_pool_destroy(srv->io);
        srv->cpu = srv->io = NULL;
}

/* MHD's connection notifications: the deadline table's, and the accept thread's count. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
        kp_http_t *srv = cls;
        if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                const union MHD_ConnectionInfo *ci =
                        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (ci)
                        kp_http_listen_closed(srv->listen, ci->connect_fd);
        }
        kp_http_conns_notify(srv->conns, conn, socket_context, code);
}

/* Stops and frees what kp_http_start started (any part of it may be missing): no new
 * connection first, then the pools (MHD may not stop with a connection suspended: waiting
 * jobs answer 503, running ones finish, each resumes its connection), then MHD, which
 * sends or drops those answers and notifies every close, and the tables its
 * notifications use last. */
static void srv_free(kp_http_t *srv)
{
        kp_http_listen_stop(srv->listen);
        kp_http_pool_stop(srv->cpu);
        kp_http_pool_stop(srv->io);
        if (srv->daemon)
                MHD_stop_daemon(srv->daemon);
        pools_destroy(srv);
        pthread_mutex_destroy(&srv->offload_lock);
        kp_http_listen_destroy(srv->listen);
        kp_http_conns_destroy(srv->conns);
        free(srv->api_token);
        free(srv);
}

/* The workers: opts.threads, or one per CPU within config.h's bounds. */
static unsigned worker_count(const kp_http_opts_t *opts)
{
        if (opts->threads)
                return opts->threads;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        return cpus < KP_HTTP_THREADS_MIN ? KP_HTTP_THREADS_MIN
               : cpus > KP_HTTP_THREADS   ? KP_HTTP_THREADS
                                          : (unsigned)cpus;
}

/* MHD without a socket of its own: srv->listen accepts and hands connections over. */
static struct MHD_Daemon *daemon_start(kp_http_t *srv, unsigned threads)
{
        return MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                        MHD_ALLOW_SUSPEND_RESUME | MHD_USE_NO_LISTEN_SOCKET,
                0, NULL, NULL, on_request, srv, MHD_OPTION_THREAD_POOL_SIZE, threads,
                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)KP_HTTP_CONNECTION_TIMEOUT_S,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned)KP_HTTP_CONNECTION_LIMIT,
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KP_HTTP_CONNECTION_MEMORY_LIMIT,
                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)KP_HTTP_PER_IP_CONNECTION_LIMIT,
                MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
                on_connection, srv, MHD_OPTION_UNESCAPE_CALLBACK, kp_url_unescape, NULL,
                MHD_OPTION_END);
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
        pthread_mutex_init(&srv->offload_lock, NULL);
        if (opts->api_token && opts->api_token[0])
                srv->api_token = strdup(opts->api_token);
        raise_fd_limit();
        unsigned threads = worker_count(opts);
        /* bound first: a busy port fails before any thread starts */
        srv->listen = kp_http_listen_new(&sin, opts->listen, threads, errstr, errstr_size);
        if (!srv->listen)
                goto fail;
        srv->conns =
                kp_http_conns_new((int64_t)KP_HTTP_REQUEST_DEADLINE_S * 1000, errstr, errstr_size);
        if (!srv->conns || pools_start(srv, errstr, errstr_size))
                goto fail;
        srv->daemon = daemon_start(srv, threads);
        if (!srv->daemon) {
                snprintf(errstr, errstr_size, "cannot start libmicrohttpd on %s", opts->listen);
                goto fail;
        }
        if (kp_http_listen_start(srv->listen, srv->daemon, errstr, errstr_size))
                goto fail;
        srv->port = kp_http_listen_port(srv->listen);
        return srv;
fail:
        srv_free(srv);
        return NULL;
}

void kp_http_stop(kp_http_t *srv)
{
        if (srv)
                srv_free(srv);
}

const char *kp_http_header(const kp_http_req_t *req, const char *name)
{
        return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

const char *kp_http_api_token(const kp_http_t *srv)
{
        return srv->api_token;
}

int kp_http_port(const kp_http_t *srv)
{
        return srv->port;
}

/* The pools' gauges and refusals, so a queue that fills shows before clients see 503s. */
static void pools_metrics_write(const kp_http_t *srv, kp_buf_t *out)
{
        kp_http_pool_t *pools[] = {srv->cpu, srv->io};
        const char *names[] = {"cpu", "io"};
        kp_http_pool_stats_t stats[2] = {{0}};
        for (int i = 0; i < 2; i++)
                if (pools[i])
                        kp_http_pool_stats(pools[i], &stats[i]);
        kp_buf_printf(out, "# HELP kplane_http_pool_jobs Requests in an HTTP worker pool, waiting "
                           "or running.\n# TYPE kplane_http_pool_jobs gauge\n");
        for (int i = 0; i < 2; i++)
                kp_buf_printf(out,
                              "kplane_http_pool_jobs{pool=\"%s\",state=\"queued\"} %u\n"
                              "kplane_http_pool_jobs{pool=\"%s\",state=\"running\"} %u\n",
                              names[i], stats[i].queued, names[i], stats[i].running);
        kp_buf_printf(out,
                      "# HELP kplane_http_pool_rejected_total Requests a full HTTP worker pool "
                      "refused (503).\n# TYPE kplane_http_pool_rejected_total counter\n");
        for (int i = 0; i < 2; i++)
                kp_buf_printf(out, "kplane_http_pool_rejected_total{pool=\"%s\"} %llu\n", names[i],
                              (unsigned long long)stats[i].rejected);
}

void kp_http_metrics_write(const kp_http_t *srv, kp_buf_t *out)
{
        kp_buf_printf(out, "# HELP kplane_http_requests_total HTTP requests answered.\n"
                           "# TYPE kplane_http_requests_total counter\n");
        for (int m = 0; m < M__CNT; m++)
                for (int c = STATUS_FIRST; c < STATUS_END; c++) {
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
        pools_metrics_write(srv, out);
}
