/* http_admit.c — what the front door refuses from a request's headers alone, before a
 * byte of its body is read: broken framing, foreign origins, bodies that are not JSON. */
#include "http/http_admit.h"

#include <microhttpd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"

/* The headers that decide framing and origin, counted in one pass (MHD's own lookup
 * only ever sees the first of a repeated header). */
typedef struct header_scan {
        int host_n, cl_n, te_n;
        const char *host; /* the first of each */
        const char *cl;
        const char *te;
} header_scan_t;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
        header_scan_t *hs = cls;
        (void)kind;
        if (!strcasecmp(key, MHD_HTTP_HEADER_HOST)) {
                if (!hs->host_n++)
                        hs->host = value;
        } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
                if (!hs->cl_n++)
                        hs->cl = value;
        } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
                if (!hs->te_n++)
                        hs->te = value;
        }
        return MHD_YES;
}

static int refuse(kp_http_refusal_t *ref, int status, const char *title, const char *detail,
                  int close)
{
        ref->status = status;
        ref->title = title;
        ref->detail = detail;
        ref->close = close;
        return -1;
}

/* Parses a Content-Length value: digits only. @returns 0 with *@p n, -1 when it is not a
 * number (empty, sign, spaces, a list), -2 when it does not fit in 64 bits. */
static int parse_length(const char *v, uint64_t *n)
{
        *n = 0;
        if (!v || !*v)
                return -1;
        for (const char *p = v; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -1;
                unsigned d = (unsigned)(*p - '0');
                if (*n > (UINT64_MAX - d) / 10)
                        return -2;
                *n = *n * 10 + d;
        }
        return 0;
}

int kp_http_admit_framing(struct MHD_Connection *conn, const char *version, kp_http_refusal_t *ref)
{
        header_scan_t hs = {0};
        uint64_t len;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &hs);
        int http11 = !strcmp(version, MHD_HTTP_VERSION_1_1);

        /* Without Transfer-Encoding MHD reads the first Content-Length itself and, when
         * it is not a number of bytes, answers 400 (413 past 64 bits) and closes before we
         * are called (docs/ARCHITECTURE.md, "HTTP errors"). */
        if (hs.cl_n && hs.te_n)
                return refuse(ref, 400, "Bad Request",
                              "Content-Length and Transfer-Encoding together are ambiguous "
                              "framing (RFC 9112 section 6.3)",
                              1);
        if (hs.cl_n > 1 || (hs.cl_n && parse_length(hs.cl, &len)))
                return refuse(ref, 400, "Bad Request",
                              "Content-Length must be one number of bytes (RFC 9112 "
                              "section 6.3)",
                              1);
        if (hs.te_n > 1 || (hs.te_n && !http11))
                return refuse(ref, 400, "Bad Request",
                              "Transfer-Encoding must be one header of HTTP/1.1", 1);
        if (hs.te_n && strcasecmp(hs.te, "chunked"))
                return refuse(ref, 501, "Not Implemented",
                              "the only Transfer-Encoding understood is chunked", 1);
        if (hs.host_n > 1 || (http11 && !hs.host_n))
                return refuse(ref, 400, "Bad Request",
                              "an HTTP/1.1 request needs exactly one Host header", 1);
        return 0;
}

static int is_mutating(const char *method)
{
        return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "DELETE") ||
               !strcmp(method, "PATCH");
}

/* 1 when @p origin ("scheme://host[:port]") is this server as the client reached it:
 * the authority equals the Host header. https is accepted too: behind a reverse proxy
 * that terminates TLS and forwards Host, the page's own origin is https. */
static int same_origin(const char *origin, const char *host)
{
        const char *authority;
        if (!host || !*host)
                return 0;
        if (!strncasecmp(origin, "http://", 7))
                authority = origin + 7;
        else if (!strncasecmp(origin, "https://", 8))
                authority = origin + 8;
        else
                return 0; /* "null" (sandboxed pages, file:) and every other scheme */
        return !strcasecmp(authority, host);
}

/* A browser on another site can send a "simple" POST (text/plain, a form) with no
 * preflight: the browser's own word on where a request comes from refuses it. Clients
 * that are not browsers send neither header and are let through. */
static int cross_origin(struct MHD_Connection *conn)
{
        const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
        const char *site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
        const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
        if (origin && !same_origin(origin, host))
                return 1;
        /* same-site is not same-origin: another port of this host, or a sibling
         * subdomain, is the same site */
        return site && (!strcasecmp(site, "cross-site") || !strcasecmp(site, "same-site"));
}

/* application/json, with optional parameters (charset); nothing else is JSON to us. */
static int is_json_type(const char *ct)
{
        size_t n = strcspn(ct, ";");
        while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
                n--;
        return n == 16 && !strncasecmp(ct, "application/json", 16);
}

int kp_http_admit_request(struct MHD_Connection *conn, const char *method, const char *url,
                          kp_http_refusal_t *ref)
{
        const char *cl =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_TRANSFER_ENCODING);
        uint64_t len = 0;
        if (cl)
                parse_length(cl, &len); /* a number: kp_http_admit_framing checked it */

        if (strlen(url) > KP_HTTP_MAX_URL)
                return refuse(ref, 414, "URI Too Long", "request URL is too long", 0);
        if (is_mutating(method)) {
                const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_TYPE);
                if (cross_origin(conn))
                        return refuse(ref, 403, "Forbidden",
                                      "a request that changes state must come from this "
                                      "server's own origin",
                                      0);
                /* One rule for every mutating request, body or not: a browser on another
                 * site can only send text/plain or a form without asking first */
                if ((ct && !is_json_type(ct)) || (!ct && (len || te)))
                        return refuse(ref, 415, "Unsupported Media Type",
                                      "a request body must be application/json", 0);
        }
        /* Refuse an oversized body by its declared length, before reading it. */
        return kp_http_admit_body_length(len, ref);
}

int kp_http_admit_body_length(uint64_t len, kp_http_refusal_t *ref)
{
        if (len > KP_HTTP_MAX_BODY)
                return refuse(ref, 413, "Payload Too Large",
                              "request body is over the " KP_STR(KP_HTTP_MAX_BODY_MIB) " MiB limit",
                              1);
        return 0;
}
