/* respond.h — building answers (JSON, problem+json) and reading JSON bodies, for handlers. */
#ifndef KP_RESPOND_H
#define KP_RESPOND_H

#include <jansson.h>

#include "http/http.h"
#include "base/util.h"
#include "planner/planner.h"

/* Answers @p status with @p doc serialised (takes ownership of @p doc). */
void kp_resp_json(kp_http_resp_t *resp, int status, json_t *doc);
/* Answers @p status with a copy of @p body. */
void kp_resp_raw(kp_http_resp_t *resp, int status, const char *content_type, const char *body,
                 size_t len);
/* Answers @p status with the text in @p b, taking its memory (@p b is reset). */
void kp_resp_take(kp_http_resp_t *resp, int status, const char *content_type, kp_buf_t *b);
/* Answers an RFC 9457 problem: title from @p status, detail from the format. */
void kp_resp_problem(kp_http_resp_t *resp, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Same with an "errors" array (takes ownership of @p errors). */
void kp_resp_problem_errors(kp_http_resp_t *resp, int status, json_t *errors, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Answers the HTTP status of kp_err_t @p err with @p errstr as the detail. */
void kp_resp_error(kp_http_resp_t *resp, int err, const char *errstr);
/* @returns the HTTP status for kp_err_t @p err. */
int kp_resp_status_of(int err);

/* What a list shows of one stored doc (new reference), or NULL for the doc itself. */
typedef json_t *(kp_resp_view_t)(void *ctx, const json_t *doc);

/* Answers a list read from the store: {"items": [...]} with each doc through @p view
 * (NULL: as stored), or the problem of @p err. Takes ownership of @p arr. */
void kp_resp_list(kp_http_resp_t *resp, int err, const char *errstr, json_t *arr,
                  kp_resp_view_t *view, void *ctx);

/*
 * Parses the request body as a JSON object. On failure answers (400 malformed / not an
 * object / empty when @p required) and returns -1; a body that is not application/json
 * never gets here (415 at the door, server/http/http_admit.c). An absent body
 * with !required gives *bodyp = NULL and 0. *bodyp is owned by the caller.
 */
int kp_req_json(const kp_http_req_t *req, kp_http_resp_t *resp, int required, json_t **bodyp);

/*
 * For a handler that may wait on a cluster, a sleep or a group's stop: asks (on the
 * first call) to be called again in the HTTP layer's I/O pool, so no MHD thread waits.
 * @returns 1 when it asked (the handler returns without answering), 0 to go on.
 */
int kp_req_offload_io(const kp_http_req_t *req, kp_http_resp_t *resp);

/* Appends {"field": field, "message": ...} to @p errors. */
void kp_field_error(json_t *errors, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Appends an error naming @p field when @p v (non-NULL) is not a strategy name, listing
 * the strategy table's names; stores the strategy in *@p sp when it is one. */
void kp_field_strategy_check(json_t *errors, const char *field, const json_t *v, kp_strategy_t *sp);
/* Appends an error for every key of @p obj not in @p allowed (NULL-terminated);
 * @p prefix names the object ("" at top level, "topics[0]" inside). @returns count. */
int kp_fields_check(const json_t *obj, const char *const *allowed, const char *prefix,
                    json_t *errors);

/* The "name" of a create (@p path_name NULL: required, valid) or replace body (optional,
 * must equal @p path_name) of a named resource. Errors go to @p errors.
 * @returns the name to use (borrowed from @p body or @p path_name; may be NULL). */
const char *kp_name_field(const json_t *body, const char *path_name, json_t *errors);

#endif /* KP_RESPOND_H */
