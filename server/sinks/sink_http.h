/* sink_http.h — internal: the http sink's parsed document, shared by its files. */
#ifndef KP_SINK_HTTP_H
#define KP_SINK_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kp_http_format {
        KP_HTTP_JSON_LINES = 0, /* one JSON object per line (the file sink's shape) */
        KP_HTTP_JSON_ARRAY = 1, /* the same objects in one array */
        KP_HTTP_RAW = 2,        /* one request per record: its value, its key in X-Kplane-Key */
} kp_http_format_t;

/* A sink document, checked and parsed. Header values are secrets: never in a message. */
typedef struct kp_http_conf {
        char *url;                  /* owned */
        char where[160];            /* "POST scheme://host/path" for messages: no query */
        int put;                    /* method PUT, else POST */
        kp_http_format_t format;    /* default json_lines */
        struct curl_slist *headers; /* configured ones, Content-Type, "Expect:"; owned */
        int64_t max_messages, max_bytes, linger_ms, timeout_ms;
        int64_t max_attempts, initial_backoff_ms, max_backoff_ms;
} kp_http_conf_t;

/* Checks @p conf (the whole sink document) and fills @p c (kp_http_conf_cleanup after,
 * even on failure). @returns 0 or KP_ERR_INVALID with errstr "sink.<field>: ...". */
int kp_http_conf_parse(const json_t *conf, kp_http_conf_t *c, char *errstr, size_t errstr_size);
void kp_http_conf_cleanup(kp_http_conf_t *c);
/* @returns a copy of @p conf with every header value shown as "******". */
json_t *kp_http_conf_redact(const json_t *conf);
/* Puts back into @p conf the stored value (from @p old) of every header sent as "******",
 * when the URL is the same (a secret is not sent to a new place). */
void kp_http_conf_unredact(json_t *conf, const json_t *old);

#endif /* KP_SINK_HTTP_H */
