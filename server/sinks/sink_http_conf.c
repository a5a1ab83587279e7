/* sink_http_conf.c — the http sink's document: checked, parsed, shown with its secrets masked. */
#include "base/config.h"
#include "base/err.h"
#include "kafka/client_conf.h"
#include "sinks/sink_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int conf_fail(char *errstr, size_t errstr_size, const char *fmt, const char *field)
{
        snprintf(errstr, errstr_size, fmt, field);
        return KP_ERR_INVALID;
}

/* Refuses members of @p obj not in @p names (NULL-terminated); @p prefix names @p obj. */
static int fields_known(const json_t *obj, const char *const *names, const char *prefix,
                        char *errstr, size_t errstr_size)
{
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)obj, key, v)
        {
                const char *const *n = names;
                while (*n && strcmp(*n, key))
                        n++;
                if (!*n) {
                        snprintf(errstr, errstr_size, "%s.%s: unknown field", prefix, key);
                        return KP_ERR_INVALID;
                }
        }
        return 0;
}

/* Reads integer member @p name of @p obj (NULL obj or absent: @p def) within min..max. */
static int int_field(const json_t *obj, const char *name, const char *field, int64_t min,
                     int64_t max, int64_t def, int64_t *out, char *errstr, size_t errstr_size)
{
        json_t *v = obj ? json_object_get(obj, name) : NULL;
        *out = def;
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
                snprintf(errstr, errstr_size, "%s: must be an integer %lld..%lld", field,
                         (long long)min, (long long)max);
                return KP_ERR_INVALID;
        }
        *out = json_integer_value(v);
        return 0;
}

/* The URL: http(s), a host, no credentials (they go in headers, which stay secret). */
static int url_parse(const char *url, kp_http_conf_t *c, char *errstr, size_t errstr_size)
{
        const char *bad = "sink.url: must be an http:// or https:// URL";
        char *scheme = NULL, *host = NULL, *user = NULL, *path = NULL, *port = NULL;
        CURLU *u = NULL;
        int ret = KP_ERR_INVALID;

        if (!url || !url[0] || strlen(url) > KP_SINK_HTTP_URL_MAX)
                return conf_fail(errstr, errstr_size, "%s", bad);
        for (const char *s = url; *s; s++)
                if ((unsigned char)*s <= 0x20 || *s == 0x7f)
                        return conf_fail(errstr, errstr_size, "%s (no spaces or controls)", bad);
        if (!(u = curl_url()) || curl_url_set(u, CURLUPART_URL, url, 0) ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
            (strcasecmp(scheme, "http") && strcasecmp(scheme, "https")) ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) || !host[0]) {
                conf_fail(errstr, errstr_size, "%s", bad);
                goto out;
        }
        if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER) {
                conf_fail(errstr, errstr_size,
                          "%s: credentials go in sink.headers (kept secret), "
                          "not in the URL",
                          "sink.url");
                goto out;
        }
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        snprintf(c->where, sizeof(c->where), "%s %s://%s%s%s%.80s", c->put ? "PUT" : "POST", scheme,
                 host, port ? ":" : "", port ? port : "", path ? path : "/");
        ret = (c->url = strdup(url)) ? 0 : KP_ERR_NOMEM;
out:
        curl_free(scheme), curl_free(host), curl_free(user), curl_free(path), curl_free(port);
        curl_url_cleanup(u);
        return ret;
}

/* 1 when @p s is an RFC 9110 token (a header name). */
static int header_name_ok(const char *s)
{
        size_t n = strlen(s);
        if (!n || n > KP_SINK_HTTP_HEADER_NAME_MAX)
                return 0;
        for (; *s; s++) {
                unsigned char ch = (unsigned char)*s;
                if (ch >= 0x80 || !(isalnum(ch) || strchr("!#$%&'*+-.^_`|~", ch)))
                        return 0;
        }
        return 1;
}

/* Checks one configured header and appends "Name: value" to c->headers. */
static int header_add(kp_http_conf_t *c, const char *name, const json_t *v, char *errstr,
                      size_t errstr_size)
{
        static const char *const reserved[] = {"content-length", "transfer-encoding", "expect",
                                               "x-kplane-key", NULL};
        const char *val = json_string_value(v);
        size_t len = json_string_length(v);
        struct curl_slist *l;
        char *line;

        if (!header_name_ok(name)) {
                snprintf(errstr, errstr_size, "sink.headers: \"%.64s\" is not a header name", name);
                return KP_ERR_INVALID;
        }
        for (const char *const *r = reserved; *r; r++)
                if (!strcasecmp(name, *r)) {
                        snprintf(errstr, errstr_size, "sink.headers.%s: set by kplane", name);
                        return KP_ERR_INVALID;
                }
        if (!val || len > KP_SINK_HTTP_HEADER_VALUE_MAX || strlen(val) != len ||
            strpbrk(val, "\r\n")) {
                snprintf(errstr, errstr_size,
                         "sink.headers.%s: must be a string of at most %d bytes, one line", name,
                         KP_SINK_HTTP_HEADER_VALUE_MAX);
                return KP_ERR_INVALID;
        }
        if (!strcmp(val, KP_SECRET_MASK)) {
                snprintf(errstr, errstr_size,
                         "sink.headers.%s: \"" KP_SECRET_MASK "\" stands for a stored secret "
                         "and there is none for this URL: give the value",
                         name);
                return KP_ERR_INVALID;
        }
        /* A reference is resolved here, at each check and each start, and only the
         * reference is stored and answered (as cluster secrets are). */
        char resolved[KP_SINK_HTTP_HEADER_VALUE_MAX + 1];
        if (kp_client_conf_env_ref(v)) {
                char field[320];
                int err;
                snprintf(field, sizeof(field), "sink.headers.%s", name);
                snprintf(resolved, sizeof(resolved), "%s", val);
                if ((err = kp_secret_env_resolve(field, resolved, sizeof(resolved), errstr,
                                                 errstr_size)))
                        return err;
                if (strpbrk(resolved, "\r\n")) {
                        snprintf(errstr, errstr_size, "%s: the variable's value must be one line",
                                 field);
                        return KP_ERR_INVALID;
                }
                val = resolved;
                len = strlen(resolved);
        }
        if (!(line = malloc(strlen(name) + len + 3)))
                return KP_ERR_NOMEM;
        /* "Name;" is curl's way to send a header with an empty value */
        sprintf(line, len ? "%s: %s" : "%s;", name, val);
        l = curl_slist_append(c->headers, line);
        free(line);
        if (!l)
                return KP_ERR_NOMEM;
        c->headers = l;
        return 0;
}

/* The configured headers, then Content-Type (unless configured) and an empty Expect (no
 * 100-continue round trip before each body). */
static int headers_parse(const json_t *h, kp_http_conf_t *c, char *errstr, size_t errstr_size)
{
        static const char *const types[] = {"application/x-ndjson", "application/json",
                                            "application/octet-stream"};
        char ct[64];
        const char *key;
        json_t *v;
        int typed = 0, err;

        if (h && (!json_is_object(h) || json_object_size(h) > KP_SINK_HTTP_HEADERS_MAX)) {
                snprintf(errstr, errstr_size,
                         "sink.headers: must be an object of at most %d string values",
                         KP_SINK_HTTP_HEADERS_MAX);
                return KP_ERR_INVALID;
        }
        json_object_foreach((json_t *)h, key, v)
        {
                if ((err = header_add(c, key, v, errstr, errstr_size)))
                        return err;
                typed |= !strcasecmp(key, "content-type");
        }
        snprintf(ct, sizeof(ct), "Content-Type: %s", types[c->format]);
        struct curl_slist *l = typed ? c->headers : curl_slist_append(c->headers, ct);
        if (l)
                c->headers = l;
        if (!l || !(l = curl_slist_append(c->headers, "Expect:")))
                return KP_ERR_NOMEM;
        c->headers = l;
        return 0;
}

static int method_format_parse(const json_t *conf, kp_http_conf_t *c, char *errstr,
                               size_t errstr_size)
{
        json_t *m = json_object_get(conf, "method"), *f = json_object_get(conf, "format");
        const char *fmt = f ? json_string_value(f) : "json_lines";
        if (m && (!json_is_string(m) ||
                  (strcmp(json_string_value(m), "POST") && strcmp(json_string_value(m), "PUT"))))
                return conf_fail(errstr, errstr_size, "%s: must be \"POST\" or \"PUT\"",
                                 "sink.method");
        c->put = m && !strcmp(json_string_value(m), "PUT");
        if (fmt && !strcmp(fmt, "json_lines"))
                c->format = KP_HTTP_JSON_LINES;
        else if (fmt && !strcmp(fmt, "json_array"))
                c->format = KP_HTTP_JSON_ARRAY;
        else if (fmt && !strcmp(fmt, "raw"))
                c->format = KP_HTTP_RAW;
        else
                return conf_fail(errstr, errstr_size,
                                 "%s: must be \"json_lines\", \"json_array\" or \"raw\"",
                                 "sink.format");
        return 0;
}

/* batch, timeout_ms and retry: each in its range. */
static int limits_parse(const json_t *conf, kp_http_conf_t *c, char *errstr, size_t errstr_size)
{
        static const char *const bnames[] = {"max_messages", "max_bytes", "linger_ms", NULL};
        static const char *const rnames[] = {"max_attempts", "initial_backoff_ms", "max_backoff_ms",
                                             NULL};
        json_t *b = json_object_get(conf, "batch"), *r = json_object_get(conf, "retry");
        if ((b && !json_is_object(b)) || (r && !json_is_object(r)))
                return conf_fail(errstr, errstr_size, "%s: must be an object",
                                 b && !json_is_object(b) ? "sink.batch" : "sink.retry");
        if ((b && fields_known(b, bnames, "sink.batch", errstr, errstr_size)) ||
            (r && fields_known(r, rnames, "sink.retry", errstr, errstr_size)) ||
            int_field(b, "max_messages", "sink.batch.max_messages", 1,
                      KP_SINK_HTTP_BATCH_MESSAGES_MAX, KP_SINK_HTTP_BATCH_MESSAGES_DEFAULT,
                      &c->max_messages, errstr, errstr_size) ||
            int_field(b, "max_bytes", "sink.batch.max_bytes", 1, KP_SINK_HTTP_BATCH_BYTES_MAX,
                      KP_SINK_HTTP_BATCH_BYTES_DEFAULT, &c->max_bytes, errstr, errstr_size) ||
            int_field(b, "linger_ms", "sink.batch.linger_ms", 0, KP_SINK_HTTP_LINGER_MS_MAX,
                      KP_SINK_HTTP_LINGER_MS_DEFAULT, &c->linger_ms, errstr, errstr_size) ||
            int_field(conf, "timeout_ms", "sink.timeout_ms", 1, KP_SINK_HTTP_TIMEOUT_MS_MAX,
                      KP_SINK_HTTP_TIMEOUT_MS_DEFAULT, &c->timeout_ms, errstr, errstr_size) ||
            int_field(r, "max_attempts", "sink.retry.max_attempts", 1, KP_SINK_HTTP_ATTEMPTS_MAX,
                      KP_SINK_HTTP_ATTEMPTS_DEFAULT, &c->max_attempts, errstr, errstr_size) ||
            int_field(r, "initial_backoff_ms", "sink.retry.initial_backoff_ms", 1,
                      KP_SINK_HTTP_BACKOFF_MS_MAX, KP_SINK_HTTP_BACKOFF_MS_DEFAULT,
                      &c->initial_backoff_ms, errstr, errstr_size) ||
            int_field(r, "max_backoff_ms", "sink.retry.max_backoff_ms", 1,
                      KP_SINK_HTTP_BACKOFF_MS_MAX, KP_SINK_HTTP_BACKOFF_CAP_MS_DEFAULT,
                      &c->max_backoff_ms, errstr, errstr_size))
                return KP_ERR_INVALID;
        if (c->max_backoff_ms < c->initial_backoff_ms)
                return conf_fail(errstr, errstr_size, "%s: must be at least initial_backoff_ms",
                                 "sink.retry.max_backoff_ms");
        return 0;
}

int kp_http_conf_parse(const json_t *conf, kp_http_conf_t *c, char *errstr, size_t errstr_size)
{
        /* max_in_flight_bytes is every kind's (kp_sink_validate checks it and hands validate
         * the document without it), but the group's open parses the whole document: it
         * refused a group with both as "unknown field" */
        static const char *const names[] = {"type",       "url",    "method",
                                            "headers",    "format", "batch",
                                            "timeout_ms", "retry",  "max_in_flight_bytes",
                                            NULL};
        int err;
        memset(c, 0, sizeof(*c));
        if ((err = fields_known(conf, names, "sink", errstr, errstr_size)) ||
            (err = method_format_parse(conf, c, errstr, errstr_size)) ||
            (err = url_parse(json_string_value(json_object_get(conf, "url")), c, errstr,
                             errstr_size)) ||
            (err = limits_parse(conf, c, errstr, errstr_size)) ||
            (err = headers_parse(json_object_get(conf, "headers"), c, errstr, errstr_size)))
                return err == KP_ERR_NOMEM ? conf_fail(errstr, errstr_size, "%s", "out of memory")
                                           : err;
        return 0;
}

void kp_http_conf_cleanup(kp_http_conf_t *c)
{
        free(c->url);
        curl_slist_free_all(c->headers);
        memset(c, 0, sizeof(*c));
}

json_t *kp_http_conf_redact(const json_t *conf)
{
        json_t *out = json_deep_copy(conf), *h = json_object_get(out, "headers");
        const char *key;
        json_t *v;
        json_object_foreach(h, key, v)
        {
                /* a reference names where the secret is, not the secret: shown as it is */
                if (!kp_client_conf_env_ref(v))
                        json_object_set_new(h, key, json_string(KP_SECRET_MASK));
        }
        return out;
}

void kp_http_conf_unredact(json_t *conf, const json_t *old)
{
        json_t *h = json_object_get(conf, "headers"), *oh = json_object_get(old, "headers");
        const char *key;
        json_t *v, *ov;
        if (!json_equal(json_object_get(conf, "url"), json_object_get(old, "url")))
                return; /* a new place gets no stored secret: the check asks for the value */
        json_object_foreach(h, key, v)
        {
                if (json_is_string(v) && !strcmp(json_string_value(v), KP_SECRET_MASK) &&
                    (ov = json_object_get(oh, key)))
                        json_object_set(h, key, ov);
        }
}
