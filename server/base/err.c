/* err.c — names of kplane's error codes. */
#include "base/err.h"

const char *kp_err_name(int err)
{
        switch (err) {
        case KP_OK: return "ok";
        case KP_ERR_INVALID: return "invalid";
        case KP_ERR_NOT_FOUND: return "not_found";
        case KP_ERR_EXISTS: return "exists";
        case KP_ERR_IN_USE: return "in_use";
        case KP_ERR_CONFLICT: return "conflict";
        case KP_ERR_UNPROCESSABLE: return "unprocessable";
        case KP_ERR_UNAVAILABLE: return "unavailable";
        case KP_ERR_TOO_LARGE: return "too_large";
        case KP_ERR_NOMEM: return "nomem";
        default: return "internal";
        }
}
