/* http_forward.h — sends a request on to another kplane instance (a follower to its leader). */
#ifndef KP_HTTP_FORWARD_H
#define KP_HTTP_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

/* The other instance's answer (kp_http_forward_cleanup frees it). */
typedef struct kp_http_forwarded {
        int status;
        char *body; /* malloc'd, NUL-terminated; NULL when empty */
        size_t body_len;
        char content_type[128]; /* "" when absent */
        char location[KP_HTTP_LOCATION_MAX];
        int retry_after;      /* its Retry-After in seconds, 0 when absent */
        int64_t state_offset; /* its Kplane-State-Offset, -1 when absent */
} kp_http_forwarded_t;

/*
 * Sends @p req (method, path, query arguments of an offloaded request, body, content type)
 * to the same path under @p base_url ("http://host:port"), with "Authorization: Bearer
 * @p token" when @p token is not NULL and "Kplane-Forwarded: @p from", and waits up to
 * @p timeout_ms for the answer (at most @p body_max bytes of body). Blocks: call it from a
 * pool thread. @returns 0 with @p out filled, or KP_ERR_UNAVAILABLE with errstr when the
 * other instance did not answer.
 */
int kp_http_forward(const char *base_url, const kp_http_req_t *req, const char *token,
                    const char *from, int timeout_ms, size_t body_max, kp_http_forwarded_t *out,
                    char *errstr, size_t errstr_size);
void kp_http_forward_cleanup(kp_http_forwarded_t *out);

#endif /* KP_HTTP_FORWARD_H */
