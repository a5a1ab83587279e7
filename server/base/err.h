/* err.h — kplane's error codes: 0 or a negative kp_err_t, mapped to HTTP by api/. */
#ifndef KP_ERR_H
#define KP_ERR_H

typedef enum kp_err {
        KP_OK = 0,
        KP_ERR_INVALID = -1,       /* bad input: 400 */
        KP_ERR_NOT_FOUND = -2,     /* unknown resource: 404 */
        KP_ERR_EXISTS = -3,        /* name already taken: 409 */
        KP_ERR_IN_USE = -4,        /* referenced by another resource: 409 */
        KP_ERR_CONFLICT = -5,      /* state forbids it (group running): 409 */
        KP_ERR_UNPROCESSABLE = -6, /* well formed but impossible: 422 */
        KP_ERR_UNAVAILABLE = -7,   /* dependency (cluster, db) unavailable: 503 */
        KP_ERR_TOO_LARGE = -8,     /* over a limit: 413 */
        KP_ERR_NOMEM = -9,         /* allocation failed: 500 */
        KP_ERR_INTERNAL = -10      /* a bug or an I/O failure: 500 */
} kp_err_t;

/* @returns a static lower-case name of @p err ("not_found"). */
const char *kp_err_name(int err);

#endif /* KP_ERR_H */
