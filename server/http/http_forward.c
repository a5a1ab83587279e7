/* http_forward.c — sends a request on to another kplane instance with libcurl. */
#include "http/http_forward.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/util.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What the callbacks fill. */
struct fwd_io {
        kp_http_forwarded_t *out;
        kp_buf_t body;
        size_t body_max;
        int too_large;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
        struct fwd_io *io = arg;
        size_t len = size * n;
        if (io->body.len + len > io->body_max) {
                io->too_large = 1;
                return 0; /* stops the transfer */
        }
        kp_buf_append(&io->body, data, len);
        return io->body.oom ? 0 : len;
}

/* Copies the value of header line @p line (@p len bytes) named @p name into @p dst. */
static int header_value(const char *line, size_t len, const char *name, char *dst, size_t size)
{
        size_t nlen = strlen(name);
        if (len <= nlen || strncasecmp(line, name, nlen) || line[nlen] != ':')
                return 0;
        const char *v = line + nlen + 1;
        const char *end = line + len;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
                end--;
        snprintf(dst, size, "%.*s", (int)(end - v), v);
        return 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
        struct fwd_io *io = arg;
        size_t len = size * n;
        char v[32];
        header_value(line, len, "Content-Type", io->out->content_type,
                     sizeof(io->out->content_type));
        header_value(line, len, "Location", io->out->location, sizeof(io->out->location));
        if (header_value(line, len, "Retry-After", v, sizeof(v)))
                io->out->retry_after = atoi(v);
        if (header_value(line, len, "Kplane-State-Offset", v, sizeof(v)))
                io->out->state_offset = strtoll(v, NULL, 10);
        return len;
}

/* Appends @p s URL-encoded (each '/'-separated part, the slashes kept) to @p b. */
static int append_escaped(CURL *e, kp_buf_t *b, const char *s, int keep_slash)
{
        while (*s) {
                size_t n = keep_slash ? strcspn(s, "/") : strlen(s);
                char *esc = n ? curl_easy_escape(e, s, (int)n) : NULL;
                if (n && !esc)
                        return -1;
                if (esc)
                        kp_buf_append(b, esc, strlen(esc));
                curl_free(esc);
                s += n;
                if (*s == '/') {
                        kp_buf_append(b, "/", 1);
                        s++;
                }
        }
        return b->oom ? -1 : 0;
}

/* The target URL: @p base, the path, the query arguments copied off the request. */
static int target_url(CURL *e, const char *base, const kp_http_req_t *req, kp_buf_t *b)
{
        size_t blen = strlen(base);
        while (blen && base[blen - 1] == '/')
                blen--;
        kp_buf_append(b, base, blen);
        if (append_escaped(e, b, req->path, 1))
                return -1;
        const char *q = req->query, *end = req->query ? req->query + req->query_len : NULL;
        for (int first = 1; q && q < end; first = 0) {
                const char *val = q + strlen(q) + 1; /* "=value" or "-" */
                kp_buf_append(b, first ? "?" : "&", 1);
                if (append_escaped(e, b, q, 0))
                        return -1;
                if (val < end && val[0] == '=') {
                        kp_buf_append(b, "=", 1);
                        if (append_escaped(e, b, val + 1, 0))
                                return -1;
                }
                q = val < end ? val + strlen(val) + 1 : end;
        }
        return b->oom || !b->len ? -1 : 0;
}

/* The request headers (a curl list, curl_slist_free_all it), or NULL out of memory. */
static struct curl_slist *forward_headers(const kp_http_req_t *req, const char *token,
                                          const char *from)
{
        char line[KP_HTTP_LOCATION_MAX + 64];
        struct curl_slist *h = curl_slist_append(NULL, "Expect:"), *t;
        snprintf(line, sizeof(line), "Kplane-Forwarded: %s", from ? from : "1");
        if (h && (t = curl_slist_append(h, line)))
                h = t;
        if (h && req->content_type) {
                snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
                if ((t = curl_slist_append(h, line)))
                        h = t;
        }
        if (h && token) {
                size_t n = strlen(token) + 32;
                char *auth = malloc(n);
                if (auth) {
                        snprintf(auth, n, "Authorization: Bearer %s", token);
                        if ((t = curl_slist_append(h, auth)))
                                h = t;
                        free(auth);
                }
        }
        return h;
}

int kp_http_forward(const char *base_url, const kp_http_req_t *req, const char *token,
                    const char *from, int timeout_ms, size_t body_max, kp_http_forwarded_t *out,
                    char *errstr, size_t errstr_size)
{
        struct fwd_io io = {.out = out, .body_max = body_max};
        kp_buf_t url;
        struct curl_slist *headers = NULL;
        CURLcode rc = CURLE_OUT_OF_MEMORY;
        long status = 0;
        CURL *e;

        memset(out, 0, sizeof(*out));
        out->state_offset = -1;
        kp_buf_init(&io.body);
        kp_buf_init(&url);
        pthread_once(&curl_once, curl_init_once);
        if (!(e = curl_easy_init()) || target_url(e, base_url, req, &url) ||
            !(headers = forward_headers(req, token, from)))
                goto out;
        curl_easy_setopt(e, CURLOPT_URL, url.data);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        if (req->body_len) { /* else no body at all: an empty one would need a type */
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &io);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &io);
        rc = curl_easy_perform(e);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
out:
        if (rc == CURLE_OK && status >= 100) {
                out->status = (int)status;
                out->body = kp_buf_steal(&io.body, &out->body_len);
        } else {
                snprintf(errstr, errstr_size, "%s",
                         io.too_large ? "its answer is too large"
                         : e          ? curl_easy_strerror(rc)
                                      : "out of memory");
        }
        kp_buf_cleanup(&io.body);
        kp_buf_cleanup(&url);
        curl_slist_free_all(headers);
        if (e)
                curl_easy_cleanup(e);
        return out->status ? 0 : KP_ERR_UNAVAILABLE;
}

void kp_http_forward_cleanup(kp_http_forwarded_t *out)
{
        free(out->body);
        out->body = NULL;
}
