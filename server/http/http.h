/* http.h — the HTTP front door: a libmicrohttpd daemon that hands whole requests to api/. */
#ifndef KP_HTTP_H
#define KP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

struct MHD_Connection;

/* A request as the API layer sees it: complete, body included. All borrowed, valid
 * for the duration of the handler call. */
typedef struct kp_http_req {
        const char *method;
        const char *path; /* URL path without the query string */
        const char *body; /* NULL when empty; NUL-terminated */
        size_t body_len;
        const char *content_type;    /* NULL when absent */
        struct MHD_Connection *conn; /* NULL in a pool thread: use kp_http_query */
        /* 1 when this call runs in one of the HTTP layer's worker pools (see offload). */
        int offloaded;
        /* In a pool thread, the query arguments copied off the suspended connection:
         * "key\0" then "=value\0" or "-\0" (no value) per argument. */
        const char *query;
        size_t query_len;
} kp_http_req_t;

/* What a handler may ask instead of answering: to be called again, with the same
 * request, off the MHD threads, so that no connection waits behind it. */
typedef enum kp_http_offload {
        KP_HTTP_INLINE = 0,      /* answered here (the default) */
        KP_HTTP_OFFLOAD_IO = 1,  /* may block on a cluster or a sleep: the I/O pool */
        KP_HTTP_OFFLOAD_CPU = 2, /* heavy computation: the bounded, low-priority CPU pool */
} kp_http_offload_t;

/* The answer a handler fills in. body is malloc'd and owned by the response. */
typedef struct kp_http_resp {
        int status;
        char *body;
        size_t body_len;
        const char *content_type;            /* static string */
        char location[KP_HTTP_LOCATION_MAX]; /* "" when none */
        const char *allow;                   /* static; sets Allow (405) */
        const char *extra_header;            /* static "Name: value" or NULL */
        /* several instances: the state log offset this answer's writes are applied to
         * (Kplane-State-Offset), "" when none */
        char state_offset[24];
        /* Set (leaving the rest untouched) to be called again in a pool; ignored when
         * req->offloaded is already 1. */
        kp_http_offload_t offload;
} kp_http_resp_t;

/* @returns the request header @p name of @p req, or NULL (borrowed; always NULL in a pool
 * thread: read it before offloading). */
const char *kp_http_header(const kp_http_req_t *req, const char *name);
/* @returns the query argument @p key of @p req, or NULL (borrowed). */
const char *kp_http_query(const kp_http_req_t *req, const char *key);

typedef void(kp_http_handler_t)(void *opaque, const kp_http_req_t *req, kp_http_resp_t *resp);

typedef struct kp_http_opts {
        const char *listen;    /* "host:port", port 0 picks a free one */
        const char *api_token; /* NULL or "" disables auth */
        kp_http_handler_t *handler;
        void *opaque;     /* handed to handler */
        unsigned threads; /* worker threads, 0 = one per CPU within config.h's bounds */
        /* CPU pool threads (0: config.h's default; < 0: none, heavy requests run on the
         * MHD threads) and its queue (0: KP_HTTP_CPU_QUEUE). */
        int cpu_threads;
        unsigned cpu_queue;
} kp_http_opts_t;

typedef struct kp_http kp_http_t;

/* Starts serving. @returns a new server (stop with kp_http_stop) or NULL with errstr. */
kp_http_t *kp_http_start(const kp_http_opts_t *opts, char *errstr, size_t errstr_size);
/* Stops accepting, finishes requests in flight, frees. NULL does nothing. */
void kp_http_stop(kp_http_t *srv);
/* @returns the API token requests must carry (borrowed), or NULL when none is needed. */
const char *kp_http_api_token(const kp_http_t *srv);
/* @returns the port actually bound. */
int kp_http_port(const kp_http_t *srv);
/* Writes kplane_http_requests_total{method,code} and the pools' gauges in Prometheus
 * text format. */
struct kp_buf;
void kp_http_metrics_write(const kp_http_t *srv, struct kp_buf *out);

#endif /* KP_HTTP_H */
