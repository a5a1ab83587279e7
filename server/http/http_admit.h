/* http_admit.h — what the front door refuses from a request's headers alone, before a
 * byte of its body is read: broken framing, foreign origins, bodies that are not JSON. */
#ifndef KP_HTTP_ADMIT_H
#define KP_HTTP_ADMIT_H

#include <stdint.h>

struct MHD_Connection;

/* Why a request is refused. The strings are static and need no JSON escaping. */
typedef struct kp_http_refusal {
        int status;
        const char *title;
        const char *detail;
        /* close the connection after the answer: what follows on it cannot be trusted */
        int close;
} kp_http_refusal_t;

/*
 * Checks how the request is framed (RFC 9112 §6.3): one Content-Length of digits only,
 * or Transfer-Encoding "chunked" alone, never both; exactly one Host in HTTP/1.1, at most
 * one otherwise. A request that fails any of these may hide a second request in what we
 * would take for its body, so the refusal closes the connection.
 * @returns 0 when the framing is sound, -1 with @p ref filled.
 */
int kp_http_admit_framing(struct MHD_Connection *conn, const char *version, kp_http_refusal_t *ref);

/*
 * Checks what the request asks for, from its headers: its URL length (414); for a
 * mutating method (POST, PUT, DELETE, PATCH), that it comes from this server's own origin
 * when a browser says where it comes from (Origin, Sec-Fetch-Site: 403) and that its
 * Content-Type, when present or when there is a body, is application/json (415); and
 * its declared body length (413).
 * @returns 0 when admitted, -1 with @p ref filled.
 */
int kp_http_admit_request(struct MHD_Connection *conn, const char *method, const char *url,
                          kp_http_refusal_t *ref);

/* Checks a body's length, declared (Content-Length) or read so far (chunked), against
 * KP_HTTP_MAX_BODY. @returns 0 when within it, -1 with @p ref filled (413, closing: the
 * rest of the body is not read). */
int kp_http_admit_body_length(uint64_t len, kp_http_refusal_t *ref);

#endif /* KP_HTTP_ADMIT_H */
